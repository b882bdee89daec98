// The dashboard in the production's time zone, seen from a browser set to another zone.
// Started by tests/tests/dashboard_time_zone.rs with a relay whose clock is stopped at an
// instant where the production's date and the UTC date differ.
import { say, check, launch, run } from "./lib.mjs";

const BASE = process.env.DASH_BASE;
const CODE = process.env.DASH_CODE;
const DAY = process.env.DASH_DAY; // today in the production's zone
const UTC_DAY = process.env.DASH_UTC_DAY; // the UTC date of the same instant
const ZONE = process.env.DASH_ZONE;
const CLOCK = process.env.DASH_CLOCK; // the stopped clock, as the relay formats it
const LATE = process.env.DASH_LATE_NEEDED; // a needed-by already past, HH:MM local
const LATER = process.env.DASH_LATER_NEEDED; // a needed-by still ahead, HH:MM local

async function main() {
  // The browser lives in Tokyo: nothing on the page may come from its zone.
  const ctx = await launch(undefined, { timezoneId: "Asia/Tokyo" });
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(10000);
    await page.goto(`${BASE}/dashboard`);
    await page.fill("input[name=code]", CODE);
    await page.fill("input[name=name]", "Casey Coordinator");
    await Promise.all([page.waitForURL(/\/dashboard\/board/), page.click("button[type=submit]")]);

    // The board opens on today in the production's zone, not the UTC date.
    const h1 = await page.textContent("h1");
    check(h1.includes(`board for ${DAY}`) && !h1.includes(UTC_DAY), `board heading: ${h1}`);
    check((await page.textContent("#zone")).includes(ZONE), "the zone is not named on the board");
    check(await page.inputValue("form.day input[name=day]") === DAY, "the day picker is not on today");
    const label = await page.textContent("#new-run label:has(input[name=needed_by])");
    check(label.includes(`Needed by (${ZONE})`), `needed-by label: ${label}`);
    await page.waitForSelector("#live-status.ok");
    check(await page.textContent("#live-status") === `live · updated ${CLOCK}`,
      `live indicator: ${await page.textContent("#live-status")} (clock ${CLOCK})`);
    say({ step: "board" });

    // Needed-by times are typed and shown on the production's clock; late means late there.
    for (const [title, needed] of [["Batteries for sound", LATE], ["Call sheets to base camp", LATER]]) {
      await page.click("details.new summary");
      await page.fill("#new-run input[name=title]", title);
      await page.fill("#new-run input[name=requested_by]", "Sound");
      await page.fill("#new-run input[name=needed_by]", needed);
      await Promise.all([page.waitForURL(new RegExp(`board\\?day=${DAY}`)), page.click("#new-run button[type=submit]")]);
    }
    const card = (title) => page.locator("[data-run-id]", { has: page.locator(`h3:text-is("${title}")`) });
    const late = card("Batteries for sound");
    const later = card("Call sheets to base camp");
    check((await late.locator("dd").nth(2).textContent()) === LATE, "needed-by not shown as typed");
    check(await late.locator(".late-flag").count() === 1, `a run needed by ${LATE} is not late at ${CLOCK}`);
    check(await later.locator(".late-flag").count() === 0, `a run needed by ${LATER} is late at ${CLOCK}`);

    // History: each event at its time on the production's clock (the relay's, stopped).
    await later.locator("details.history summary").click();
    const created = await later.locator("details.history li").first().textContent();
    check(created.startsWith(CLOCK.slice(0, 5)), `history says "${created}", not the relay's ${CLOCK}`);
    check((await later.locator("dd").nth(1).textContent()) === "just now", "the new run's age");
    say({ step: "runs", late: LATE, later: LATER });
  } finally {
    await ctx.close();
  }
}

run(main);
