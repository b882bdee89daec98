// The coordinator's browser on the day's background page while a PA's phone checks people
// in at holding: the group's count changes live (over the dashboard's SSE, no reload), a
// person added and checked in from the page shows who checked them in. Started by
// tests/tests/background.rs, which owns the relay and the phone; protocol as in lib.mjs.
import { say, expectCmd, check, launch, run, signIn, openLive, withoutReload } from "./lib.mjs";

const BASE = process.env.DASH_BASE;
const CODE = process.env.DASH_CODE;
const DAY = process.env.DASH_DAY;
const GROUP = process.env.DASH_GROUP;

/** The group's line in the counts: how many are in, and the line as shown. */
function count(page) {
  return page.evaluate((g) => {
    const li = Array.prototype.find.call(document.querySelectorAll("ul.bg-tally li"),
      (l) => l.getAttribute("data-group-id") === g);
    return li ? { in: Number(li.getAttribute("data-in")), text: li.textContent.trim() } : null;
  }, GROUP);
}

async function main() {
  const ctx = await launch();
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(15000);
    await signIn(page, BASE, CODE);
    // The live stream is up before the phone does anything.
    await openLive(page, `${BASE}/dashboard/background?day=${DAY}`);
    const first = await count(page);
    check(first, "the sheet's group is counted");
    say({ step: "opened", ...first });

    // Someone arrives at the office's desk: added from the page.
    await page.click("details.new summary");
    await page.fill("#bg-add input[name=name]", "Ana Ruiz");
    await page.selectOption("#bg-add select[name=group]", GROUP);
    await page.fill("#bg-add input[name=wardrobe]", "own coat, no logos");
    await Promise.all([page.waitForURL(/\/dashboard\/background\?day=/), page.click("#bg-add button[type=submit]")]);
    const rows = await page.locator("table.bg-roster tbody tr").count();
    say({ step: "added", rows });

    // The phone checks two people in; the count follows without a reload.
    await expectCmd("phone_checked_in");
    await withoutReload(page, () => page.waitForFunction((g) => {
      const li = Array.prototype.find.call(document.querySelectorAll("ul.bg-tally li"),
        (l) => l.getAttribute("data-group-id") === g);
      return li && li.getAttribute("data-in") === "2";
    }, GROUP, { timeout: 20000 }));
    say({ step: "live", ...(await count(page)) });

    // Ana checked in from the page: the roster says when and by whom.
    await Promise.all([
      page.waitForURL(/\/dashboard\/background\?day=/),
      page.click('button[aria-label="Check in Ana Ruiz"]'),
    ]);
    const ana = page.locator("table.bg-roster tbody tr", { hasText: "Ana Ruiz" });
    say({
      step: "checked_in",
      ...(await count(page)),
      status: await ana.getAttribute("data-status"),
      checkedIn: (await ana.locator("td.checked-in").textContent()).trim(),
      wardrobe: await ana.locator("input[name=wardrobe]").inputValue(),
    });
  } finally {
    await ctx.close();
  }
}

run(main);
