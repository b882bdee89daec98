// The coordinator's browser on the day's timesheets page while a PA submits from the
// phone: the PA's row appears live (over the dashboard's SSE, no reload) with the hours,
// and approving it from that row shows it approved. Started by tests/tests/timesheets.rs,
// which owns the relay and the phone; protocol as in lib.mjs.
import { say, expectCmd, launch, run, signIn, openLive, withoutReload } from "./lib.mjs";

const BASE = process.env.DASH_BASE;
const CODE = process.env.DASH_CODE;
const DAY = process.env.DASH_DAY;
const MEMBER = process.env.DASH_MEMBER;

/** The member's row as shown, or null when there is none. */
function row(page) {
  return page.evaluate((m) => {
    const tr = document.querySelector(`tr.timesheet[data-member="${m}"]`);
    if (!tr) return null;
    return {
      status: tr.getAttribute("data-status"),
      hours: tr.querySelector("td.hours").textContent.trim(),
    };
  }, MEMBER);
}

/** Whether the member is listed as not submitted. */
function missing(page) {
  return page.evaluate((m) =>
    document.querySelector(`section.not-submitted li[data-member="${m}"]`) !== null, MEMBER);
}

async function main() {
  const ctx = await launch();
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(15000);
    await signIn(page, BASE, CODE);
    // The live stream is up before the phone submits.
    await openLive(page, `${BASE}/dashboard/timesheets?day=${DAY}`);
    say({ step: "opened", row: await row(page), missing: await missing(page) });

    // The phone submits; the row appears without a reload.
    await expectCmd("phone_submitted");
    await withoutReload(page, () => page.waitForFunction(
      (m) => document.querySelector(`tr.timesheet[data-member="${m}"]`) !== null,
      MEMBER, { timeout: 20000 }));
    say({ step: "live", row: await row(page), missing: await missing(page) });

    // Approved from the row.
    await Promise.all([
      page.waitForURL(/\/dashboard\/timesheets\?day=/),
      page.click(`tr.timesheet[data-member="${MEMBER}"] form.approve button[type=submit]`),
    ]);
    say({ step: "approved", row: await row(page) });
  } finally {
    await ctx.close();
  }
}

run(main);
