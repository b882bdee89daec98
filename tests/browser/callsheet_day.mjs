// A coordinator's call sheet day in chromium. Started by tests/tests/callsheet_day.rs,
// which owns the relay and a crew member's phone. Protocol as in lib.mjs: one JSON step
// a line out, commands in.
import { join } from "node:path";
import { say, expectCmd, check, launch, run } from "./lib.mjs";

const BASE = process.env.DASH_BASE;
const CODE = process.env.DASH_CODE;
const DAY = process.env.DASH_DAY;
const DAY2 = process.env.DASH_DAY2;
const DAY3 = process.env.DASH_DAY3;
const SHOTS = process.env.DASH_SCREENSHOTS;

async function main() {
  const ctx = await launch();
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(10000);
    const fill = async (name, value) => page.fill(`#sheet [name=${name}]`, value);
    const value = async (sel) => page.inputValue(sel);
    const submit = async (sel) => {
      const [resp] = await Promise.all([page.waitForNavigation(), page.click(sel)]);
      return resp.status();
    };
    const review = () => submit("#sheet button[name=review]");
    const sheetPage = async (day, extra = "") => page.goto(`${BASE}/dashboard/callsheet?day=${day}${extra}`);

    await page.goto(`${BASE}/dashboard/signin`);
    await page.fill("input[name=code]", CODE);
    await page.fill("input[name=name]", "Casey Coordinator");
    await Promise.all([page.waitForURL(/\/dashboard\/board/), page.click("button[type=submit]")]);
    say({ step: "signed_in" });

    // --- an unsaved change goes out through the review ---------------------------------
    await sheetPage(DAY);
    check(await page.$("#publish") === null, "the draft page still has a publish form of its own");
    await fill("general_call", "06:00");
    await fill("scenes", "12 | INT | Warehouse office | N | Kai finds the missing tape | 1, 2 | 1 3/8 | Harbor Warehouse");
    await fill("locations", "Harbor Warehouse | 12 Dock St | Lot B | Basecamp at Pier 3 | Gate code 4411");
    await fill("hospital_name", "St. Mary's Hospital");
    await fill("hospital_address", "450 Stanyan St");
    await fill("hospital_phone", "555-0199");
    await fill("crew_calls", "Camera | DP | Ana Lens | -30\nGrip | Key grip | Lu Grip | 06:15");
    check(await review() === 200, "review refused");
    check(page.url().includes("/dashboard/callsheet/review"), `not on the review: ${page.url()}`);
    const changes = await page.$$eval("#diff [data-section] li", (els) => els.map((e) => e.closest("[data-section]").dataset.section + ": " + e.textContent));
    const has = (text) => changes.some((c) => c.includes(text));
    check(has("Times: General crew call: 07:00 → 06:00"), `general call not in the diff: ${changes.join(" | ")}`);
    check(has("Scenes: Scene 12 added"), `scene not in the diff: ${changes.join(" | ")}`);
    check(has("Crew calls: Camera DP Ana Lens added: call 05:30 (-30)"), `crew call not in the diff: ${changes.join(" | ")}`);
    check(has("Locations: Nearest hospital added"), `hospital not in the diff: ${changes.join(" | ")}`);
    const summary = await value("#publish [name=summary]");
    check(summary.includes("General crew call: 07:00 → 06:00") && summary.includes("Scene 12 added"), `summary not prefilled: ${summary}`);
    const button = await page.textContent("#publish button[type=submit]");
    check(/Publish revision 2/.test(button), `button: ${button}`);
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "callsheet-review.png"), fullPage: true });
    say({ step: "reviewed", summary });
    await Promise.all([page.waitForURL(/published=2/), page.click("#publish button[type=submit]")]);
    check(/Published revision 2/.test(await page.textContent("[role=status]")), "no published notice");
    say({ step: "published", revision: 2 });
    await expectCmd("continue");

    // --- nothing changed: refused, and the form comes back as it was --------------------
    await sheetPage(DAY);
    check(await review() === 409, "an unchanged sheet was not refused");
    check(/Nothing changed since Revision 2/.test(await page.textContent("#error")), "refusal does not say nothing changed");
    check(await value("#sheet [name=general_call]") === "06:00", "the refused form lost general call");
    say({ step: "unchanged_refused" });

    // --- a publish without a summary: the review comes back with the error by it ---------
    await fill("estimated_wrap", "20:00");
    check(await review() === 200, "second review refused");
    await page.fill("#publish [name=summary]", "");
    check(await submit("#publish button[type=submit]") === 400, "a publish without a summary was not refused");
    check(await page.$("#publish .field-error[data-field=summary]") !== null, "no error by the summary");
    check(await page.inputValue("#publish input[name=estimated_wrap]") === "20:00", "the reviewed form was not carried");
    await page.fill("#publish [name=summary]", "Wrap moves to 20:00");
    await Promise.all([page.waitForURL(/published=3/), page.click("#publish button[type=submit]")]);
    say({ step: "summary_refused" });

    // --- a refused draft keeps everything typed ---------------------------------------
    await fill("scenes", "12 | SPACE | Office | N | x | 1 | 1 | ");
    await fill("director", "Someone Typed");
    check(await submit("#sheet button[name=save]") === 400, "a bad scene was not refused");
    check(/Scenes, line 1/.test(await page.textContent("#sheet .field-error[data-field=scenes]")), "no error by the scenes");
    check((await value("#sheet [name=scenes]")).includes("SPACE"), "typed scenes lost");
    check(await value("#sheet [name=director]") === "Someone Typed", "typed director lost");
    await sheetPage(DAY);
    check(await value("#sheet [name=director]") === "Dana Director", "the refused save changed the draft");
    say({ step: "bad_form_kept" });

    // --- the next day starts from the published day ------------------------------------
    await sheetPage(DAY2);
    check(await page.getAttribute("#start-from", "data-from") === DAY, "the next day does not start from the published day");
    check(await value("#sheet [name=director]") === "Dana Director", "director not carried");
    check(await value("#sheet [name=general_call]") === "06:00", "general call not carried");
    check(await value("#sheet [name=day_number]") === "2", "day number not moved on");
    check((await value("#sheet [name=crew_calls]")).includes("Camera | DP | Ana Lens | -30"), "crew calls not carried");
    check(await value("#sheet [name=hospital_name]") === "St. Mary's Hospital", "hospital not carried");
    check(await value("#sheet [name=scenes]") === "", "scenes carried");
    check(await value("#sheet [name=cast]") === "", "cast carried");
    say({ step: "next_day_carried" });

    // --- production settings ---------------------------------------------------------
    await Promise.all([page.waitForURL(/\/dashboard\/settings/), page.click("header.top nav a[href='/dashboard/settings']")]);
    const set = async (name, v) => page.fill(`#settings [name=${name}]`, v);
    await set("walkie_channels", "1 | Production\nten | Locations");
    await set("locations", "Harbor Warehouse | 12 Dock St | Lot C by the gate | Basecamp at Pier 4 | ");
    await set("hospital_name", "General Hospital");
    await set("hospital_address", "1 Main St");
    await set("hospital_phone", "555-0111");
    check(await submit("#settings button[type=submit]") === 400, "bad walkie channel not refused");
    check(/Walkie channels, line 2/.test(await page.textContent("#settings .field-error[data-field=walkie_channels]")), "no error by the walkie channels");
    check(await page.inputValue("#settings [name=hospital_name]") === "General Hospital", "typed hospital lost");
    check((await page.inputValue("#settings [name=locations]")).includes("Basecamp at Pier 4"), "typed locations lost");
    await set("walkie_channels", "1 | Production\n4 | Locations");
    await Promise.all([page.waitForURL(/saved=1/), page.click("#settings button[type=submit]")]);
    check((await page.inputValue("#settings [name=walkie_channels]")) === "1 | Production\n4 | Locations", "walkies not stored");
    say({ step: "settings_saved" });

    await sheetPage(DAY3);
    check(await page.getAttribute("#start-from", "data-from") === DAY, "day 3 does not start from the latest published day");
    check((await value("#sheet [name=walkie_channels]")).includes("4 | Locations"), "walkies not fed from the settings");
    check((await value("#sheet [name=locations]")).includes("Harbor Warehouse | 12 Dock St | Lot C by the gate | Basecamp at Pier 4"), "location not refreshed from the settings");
    check(await value("#sheet [name=hospital_name]") === "General Hospital", "hospital not fed from the settings");
    // Starting from the settings alone: nothing of the published day.
    await Promise.all([page.waitForNavigation(), page.selectOption("#start select[name=from]", "settings").then(() => page.click("#start button[type=submit]"))]);
    check(await page.getAttribute("#start-from", "data-from") === "", "not started from the settings");
    check(await value("#sheet [name=director]") === "", "the settings-only start carried the director");
    check(await value("#sheet [name=hospital_name]") === "General Hospital", "the settings-only start lacks the hospital");
    await Promise.all([page.waitForURL(/saved=1/), page.click("#sheet button[name=save]")]);
    check(await page.$("#start") === null, "a saved draft still offers a start");
    say({ step: "settings_fed" });

    // --- phone-sized ---------------------------------------------------------------
    await page.setViewportSize({ width: 390, height: 844 });
    const noSideScroll = async (what) => {
      const [sw, iw] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      check(sw <= iw, `${what} scrolls sideways at 390 px: ${sw} > ${iw}`);
    };
    await sheetPage(DAY);
    await noSideScroll("the call sheet");
    await sheetPage(DAY2);
    await noSideScroll("a new day's call sheet");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "callsheet-new-day-phone.png") });
    await fill("general_call", "05:45");
    check(await review() === 200, "phone review refused");
    await noSideScroll("the review");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "callsheet-review-phone.png"), fullPage: true });
    await page.goto(`${BASE}/dashboard/settings`);
    await noSideScroll("the settings");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "settings-phone.png") });
    say({ step: "phone_sized" });
  } finally {
    await ctx.close();
  }
}

run(main);
