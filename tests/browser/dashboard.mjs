// Drives Debian's chromium through the coordinator dashboard of a running relay.
// Started by tests/tests/dashboard_browser.rs, which owns the relay and the Rust devices.
// Protocol: this script prints one JSON object per line on stdout ({"step": ...}) and
// reads commands the same way on stdin ({"cmd": ...}); the Rust side drives the devices
// between steps. Any failure prints {"step":"fail","error":...} and exits non-zero.
import { createServer } from "node:http";
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { say, next, expectCmd, check, launch, run } from "./lib.mjs";

const BASE = process.env.DASH_BASE;
const CODE = process.env.DASH_CODE;
const OUT = process.env.DASH_OUT;
const SHOTS = process.env.DASH_SCREENSHOTS;
const DAY = process.env.DASH_DAY;

async function main() {
  const ctx = await launch();
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(10000);

    // --- sign in ---------------------------------------------------------------------
    await page.goto(`${BASE}/dashboard`);
    check(page.url().endsWith("/dashboard/signin"), `not sent to sign-in: ${page.url()}`);
    await page.fill("input[name=code]", "not-a-code");
    await page.click("button[type=submit]");
    const refused = await page.textContent("#error");
    check(/unknown invite code/i.test(refused), `bad code not refused clearly: ${refused}`);
    await page.fill("input[name=code]", CODE);
    await page.fill("input[name=name]", "Casey Coordinator");
    await Promise.all([page.waitForURL(/\/dashboard\/board/), page.click("button[type=submit]")]);
    const cookies = await ctx.cookies(`${BASE}/dashboard/board`);
    const session = cookies.find((c) => c.name === "setlink_session");
    check(session && session.httpOnly && session.sameSite === "Strict", `session cookie flags: ${JSON.stringify(session)}`);
    check(await page.evaluate(() => !document.cookie.includes("setlink_session")), "session cookie readable from JS");
    say({ step: "signed_in" });

    // --- the board ---------------------------------------------------------------------
    await page.waitForSelector("#live-status.ok");
    const runs = await page.$$eval("[data-run-id]", (els) => els.map((e) => ({
      id: e.getAttribute("data-run-id"), status: e.getAttribute("data-status"),
      title: e.querySelector("h3").textContent })));
    check(runs.length >= 4, `board shows ${runs.length} runs`);
    await page.evaluate(() => { window.__noReload = "still here"; });
    // Open one run's history; live refreshes must keep it open.
    await page.click(`[data-run-id="${runs[0].id}"] details.history summary`);
    say({ step: "board", runs });

    // A device changes a run: the board shows it without a reload.
    for (;;) {
      const m = await next();
      if (m.cmd === "done_watching") break;
      check(m.cmd === "watch_run", `unexpected ${JSON.stringify(m)}`);
      const sel = `[data-run-id="${m.run}"][data-status="${m.status}"]`;
      const seen = page.waitForSelector(sel, { timeout: 5000 });
      say({ step: "armed" });
      await seen.catch(async (e) => {
        const now = await page.getAttribute(`[data-run-id="${m.run}"]`, "data-status").catch(() => "missing");
        const live = await page.textContent("#live-status").catch(() => "?");
        throw new Error(`run ${m.run} never showed "${m.status}" (board shows "${now}", live: ${live}): ${e.message}`);
      });
      if (m.conflict) {
        const note = await page.textContent(`[data-run-id="${m.run}"] .conflict`);
        check(note.includes(m.conflict) && note.includes("lost to"), `conflict not surfaced: ${note}`);
        check(await page.isVisible("#conflicts"), "no conflicts section on the board");
      }
      say({ step: "seen", run: m.run, status: m.status, at: Date.now() });
    }
    // Presence from the PA's phone.
    const pres = await expectCmd("watch_presence");
    await page.waitForSelector(`#presence tr[data-member="${pres.member}"]`, { timeout: 5000 });
    await page.waitForSelector("[data-run-id] .late-flag");
    const eta = await page.textContent(`#presence tr[data-member="${pres.member}"] td.eta`);
    check(/in \d+ min/.test(eta), `presence ETA shown as ${eta}`);
    check(await page.evaluate(() => window.__noReload) === "still here", "the board page was reloaded");
    check(await page.$eval(`[data-run-id="${runs[0].id}"] details.history`, (d) => d.open), "a live refresh closed the open history");
    // The live indicator shows the clock the page shows: the relay's, in the production's
    // zone (never the browser's own zone or format).
    const liveText = await page.textContent("#live-status");
    const clock = await page.getAttribute("#updated", "data-updated");
    check(liveText === `live · updated ${clock}` && /^\d\d:\d\d \S+$/.test(clock) && !clock.includes("UTC"),
      `live indicator "${liveText}" vs the page's clock "${clock}"`);
    say({ step: "presence_seen", eta });
    // Show the conflicted run's history in the screenshot: both sides of the conflict.
    for (const h of await page.$$("[data-run-id]:has(.conflict) details.history summary")) await h.click();
    if (SHOTS) {
      mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: join(SHOTS, "dashboard-board.png"), fullPage: true });
    }

    // --- coordinator actions from the board ----------------------------------------------
    const target = runs.find((r) => r.status === "requested");
    check(target, "a requested run to act on");
    // Invalid form value: a needed-by time that is not a time.
    const before = (await page.$$("[data-run-id]")).length;
    await page.click("details.new summary");
    await page.fill("#new-run input[name=title]", "Walkies to base camp");
    await page.fill("#new-run input[name=requested_by]", "Sound");
    await page.fill("#new-run input[name=needed_by]", "25:99");
    const [bad] = await Promise.all([page.waitForNavigation(), page.click("#new-run button[type=submit]")]);
    check(bad.status() === 400, `invalid needed-by answered ${bad.status()}`);
    const badText = await page.textContent("#error");
    check(/Needed by: `25:99` is not a time/.test(badText) && /nothing was changed/.test(badText), badText);
    // The same page again, with everything typed kept and the error next to its field.
    check(await page.inputValue("#new-run input[name=title]") === "Walkies to base camp", "the title typed was lost");
    check(await page.inputValue("#new-run input[name=needed_by]") === "25:99", "the needed-by typed was lost");
    check(await page.inputValue("#new-run input[name=requested_by]") === "Sound", "requested-by typed was lost");
    const byField = await page.textContent("#new-run .field-error[data-field=needed_by]");
    check(/is not a time/.test(byField), `no error next to the needed-by field: ${byField}`);
    await page.goto(`${BASE}/dashboard/board?day=${DAY}`);
    check((await page.$$("[data-run-id]")).length === before, "a run was created from an invalid form");
    // A valid run, assigned at creation.
    await page.click("details.new summary");
    await page.fill("#new-run input[name=title]", "Walkies to base camp");
    await page.fill("#new-run input[name=requested_by]", "Sound");
    await page.fill("#new-run input[name=needed_by]", "23:59");
    await page.selectOption("#new-run select[name=priority]", "urgent");
    await Promise.all([page.waitForURL(/board/), page.click("#new-run button[type=submit]")]);
    await page.waitForSelector("[data-run-id] h3:text('Walkies to base camp')");
    // Cancel one, then reopen it.
    await Promise.all([page.waitForURL(/board/), page.click(`[data-run-id="${target.id}"] .btn-cancel`)]);
    await page.waitForSelector(`[data-run-id="${target.id}"][data-status="cancelled"]`);
    await Promise.all([page.waitForURL(/board/), page.click(`[data-run-id="${target.id}"] .btn-reopen`)]);
    await page.waitForSelector(`[data-run-id="${target.id}"][data-status="requested"]`);
    // A task.
    await page.click("details.new:nth-of-type(2) summary");
    await page.fill("#new-task input[name=title]", "Order lunch for 40");
    await page.selectOption("#new-task select[name=category]", "food_order");
    await page.fill("#new-task textarea[name=checklist]", "count vegetarians\ncall caterer");
    await Promise.all([page.waitForURL(/board/), page.click("#new-task button[type=submit]")]);
    await page.waitForSelector("#tasks td.task-title:has-text('Order lunch for 40')");
    say({ step: "actions_done", cancelled_and_reopened: target.id });

    // Forged cross-site post: another origin serves a form that posts to the dashboard,
    // even with a CSRF token copied from the page.
    const csrf = await page.getAttribute("input[name=_csrf]", "value");
    const evil = createServer((req, res) => {
      res.setHeader("content-type", "text/html");
      res.end(`<!doctype html><form id=f method=post action="${BASE}/dashboard/runs/${target.id}/status">
        <input name=_csrf value="${csrf}"><input name=day value="${DAY}"><input name=action value=cancel></form>
        <script>document.getElementById('f').submit()</script>`);
    });
    await new Promise((r) => evil.listen(0, "127.0.0.1", r));
    const evilUrl = `http://localhost:${evil.address().port}/`;
    const forged = await ctx.newPage();
    const [forgedResp] = await Promise.all([
      forged.waitForResponse((r) => r.url().includes("/status")),
      forged.goto(evilUrl),
    ]);
    const forgedBody = await forgedResp.text();
    check(forgedResp.status() === 401 || forgedResp.status() === 403, `forged post answered ${forgedResp.status()}`);
    check(/nothing was changed|not signed in/i.test(forgedBody), `forged post message: ${forgedBody.slice(0, 300)}`);
    await forged.close();
    evil.close();
    await page.goto(`${BASE}/dashboard/board?day=${DAY}`);
    check(await page.getAttribute(`[data-run-id="${target.id}"]`, "data-status") === "requested", "the forged post changed the run");
    say({ step: "forged_refused", status: forgedResp.status() });

    // --- call sheet: draft, publish, revise ---------------------------------------------
    await page.goto(`${BASE}/dashboard/callsheet?day=${DAY}`);
    const fill = async (name, value) => page.fill(`#sheet [name=${name}]`, value);
    await fill("day_number", "3");
    await fill("total_days", "20");
    await fill("call_sheet_number", "3");
    await fill("director", "Dana Director");
    await fill("producers", "Pia Producer, Max Money");
    await fill("upm", "Uma Manager");
    await fill("ads", "Al First, Bea Second");
    await fill("production_office_phone", "555-0100");
    await fill("general_call", "07:00");
    await fill("shooting_call", "08:00");
    await fill("estimated_wrap", "19:00");
    await fill("meals", "Breakfast | 06:30\nLunch | 13:00");
    await fill("weather_high", "64");
    await fill("weather_low", "48");
    await fill("weather_conditions", "Overcast");
    await fill("rain_chance", "30");
    await fill("sunrise", "06:52");
    await fill("sunset", "16:41");
    await fill("weather_cover_set", "INT. Diner");
    await fill("locations", "Harbor Warehouse | 12 Dock St | Lot B off Pier Rd | Basecamp at Pier 3 | Gate code 4411");
    await fill("hospital_name", "St. Mary's Hospital");
    await fill("hospital_address", "450 Stanyan St");
    await fill("hospital_phone", "555-0199");
    await fill("scenes", "12 | INT | Warehouse office | N | Kai finds the missing tape | 1, 2 | 1 3/8 | Harbor Warehouse\n14 | EXT | Loading dock | N | Chase to the pier | 1, 3 | 2 4/8 | Harbor Warehouse");
    await fill("cast", "1 | Kai | Sam Lee | SW | 05:30 | 06:00 | 08:00 | \n2 | Rosa | Ana Cruz | W | 06:00 | 06:30 | 08:30 | bring wardrobe");
    await fill("background", "12 | Dock workers | 07:00 | Holding tent | ");
    await fill("crew_calls", "Production | UPM | Uma Manager | -60\nCamera | DP | Ana Lens | -30\nCamera | 2nd AC | Cam Crew | -15\nGrip | Key grip | Lu Grip | 06:15\nSound | Mixer | Sol Sound | +0");
    await fill("department_notes", "Props | Working tape recorder for sc 12");
    await fill("advance_schedule", "2099-01-02 | Day 4: pier exteriors | 15, 16");
    await fill("walkie_channels", "1 | Production\n2 | Camera");
    await fill("safety_notes", "Haze in use on stage\nWet surfaces on the dock");
    await Promise.all([page.waitForURL(/saved=1/), page.click("#sheet button[type=submit]")]);
    // An invalid edit is refused with the line, and changes nothing: the same form comes
    // back (400) with everything typed kept and the error by the scenes field.
    await fill("scenes", "12 | SPACE | Office | N | x | 1 | 1 | ");
    await fill("director", "Dana Director (typed)");
    const [badSheet] = await Promise.all([page.waitForNavigation(), page.click("#sheet button[name=save]")]);
    check(badSheet.status() === 400, `bad scene answered ${badSheet.status()}`);
    check(/Scenes, line 1/.test(await page.textContent("#error")), "bad scene message names the line");
    check(/Scenes, line 1/.test(await page.textContent("#sheet .field-error[data-field=scenes]")), "the error is not by the scenes field");
    check((await page.inputValue("#sheet [name=scenes]")).includes("SPACE"), "the refused form lost the typed scenes");
    check(await page.inputValue("#sheet [name=director]") === "Dana Director (typed)", "the refused form lost the typed director");
    await page.goto(`${BASE}/dashboard/callsheet?day=${DAY}`);
    check((await page.inputValue("#sheet [name=scenes]")).includes("Kai finds the missing tape"), "the bad edit changed the draft");
    check(await page.inputValue("#sheet [name=director]") === "Dana Director", "the bad edit changed the director");
    // Publishing starts from the draft form: it is saved, what changed is shown, then it
    // is published. The next revision's number is on the button (the demo may have
    // published some).
    const review = async () => Promise.all([page.waitForURL(/\/dashboard\/callsheet\/review/), page.click("#sheet button[name=review]")]);
    await review();
    const first = Number((await page.textContent("#publish button")).match(/(\d+)/)[1]);
    await page.fill("#publish [name=summary]", "Full day: scenes, cast, crew calls");
    await Promise.all([page.waitForURL(new RegExp(`published=${first}`)), page.click("#publish button[type=submit]")]);
    say({ step: "published", revision: first });
    await expectCmd("continue");
    // The next revision: general call moves, every offset crew call moves with it.
    const second = first + 1;
    await fill("general_call", "06:30");
    await review();
    await page.fill("#publish [name=summary]", "General call moved to 06:30");
    await Promise.all([page.waitForURL(new RegExp(`published=${second}`)), page.click("#publish button[type=submit]")]);
    say({ step: "published", revision: second });

    // --- acknowledgements --------------------------------------------------------------
    await page.goto(`${BASE}/dashboard/acks?day=${DAY}`);
    await page.waitForSelector("#live-status.ok");
    const ack = await expectCmd("watch_ack");
    const ackSel = `#acks tr[data-member="${ack.member}"][data-state="confirmed"]`;
    const ackSeen = page.waitForSelector(ackSel, { timeout: 5000 });
    say({ step: "armed" });
    await ackSeen;
    say({ step: "seen", at: Date.now() });
    const paRow = await page.textContent(`#acks tr[data-member="${ack.older}"]`);
    check(paRow.includes(`${first} — older revision`), `the member on revision ${first} is not flagged: ${paRow}`);
    check(await page.$eval(`#acks tr[data-member="${ack.older}"]`, (e) => e.classList.contains("stale")), "older-revision row not highlighted");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "dashboard-acknowledgements.png"), fullPage: true });
    say({ step: "acks_checked" });

    // --- print ---------------------------------------------------------------------------
    await page.goto(`${BASE}/dashboard/print?day=${DAY}&rev=${second}`);
    const head = await page.textContent(".sheet-head");
    check(head.includes(`Revision ${second} (`) && /Crew call 06:30/.test(head), `print header: ${head}`);
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "callsheet-print.png"), fullPage: true });
    const pdf = await page.request.get(`${BASE}/dashboard/print.pdf?day=${DAY}&rev=${second}`);
    check(pdf.status() === 200 && pdf.headers()["content-type"] === "application/pdf", `pdf: ${pdf.status()}`);
    const pdfPath = join(OUT, "callsheet.pdf");
    writeFileSync(pdfPath, await pdf.body());
    say({ step: "pdf", path: pdfPath });
    await expectCmd("finish");

    // --- a sign-in key, then signing in again with the sign-in link ----------------------
    await page.goto(`${BASE}/dashboard/signin-key`);
    await page.click("form[action='/dashboard/signin-key'] button[type=submit]");
    await page.waitForSelector("#signin-link");
    const link = await page.getAttribute("#signin-link", "href");
    check(link && link.startsWith("/dashboard/signin#key="), `sign-in link: ${link}`);
    await Promise.all([page.waitForURL(/\/dashboard\/signin$/), page.click("form.signout button[type=submit]")]);
    await page.goto(`${BASE}${link}`);
    await page.waitForFunction(() => document.getElementById("signin-code").value.length > 0);
    check(!page.url().includes("key="), `the key stayed in the address bar: ${page.url()}`);
    await Promise.all([page.waitForURL(/\/dashboard\/board/), page.click("button[type=submit]")]);
    check(!(await page.$("#signin-key-banner")), "a member with a key is still asked to make one");
    say({ step: "signed_in_with_key" });
  } finally {
    await ctx.close();
  }
}

run(main);
