// The coordinator dashboard on a phone-sized screen (390×844), and a task's notes and
// checklist worked from it. Started by tests/tests/dashboard_phone.rs, which owns the
// relay and a Rust device; same line protocol as dashboard.mjs (see lib.mjs).
import { join } from "node:path";
import { say, expectCmd, check, launch, run } from "./lib.mjs";

const BASE = process.env.DASH_BASE;
const CODE = process.env.DASH_CODE;
const DAY = process.env.DASH_DAY;
const PHONE = { width: 390, height: 844 };
// When set, a full-page screenshot of each page checked goes in this directory.
const SHOTS = process.env.DASH_PHONE_SHOTS;
// When set, the README's phone screenshots go in this directory.
const README_SHOTS = process.env.DASH_README_SHOTS;

// Every dashboard page a phone must show without sideways scrolling. `signedOut` pages
// are checked before signing in too. Add a page here and every check below covers it.
const PAGES = [
  { name: "sign-in", path: "/dashboard/signin", signedOut: true },
  { name: "board", path: `/dashboard/board?day=${DAY}` },
  { name: "call sheet", path: `/dashboard/callsheet?day=${DAY}` },
  { name: "acknowledgements", path: `/dashboard/acks?day=${DAY}` },
  { name: "print", path: `/dashboard/print?day=${DAY}` },
  { name: "petty cash", path: `/dashboard/petty-cash?day=${DAY}` },
  { name: "gear", path: `/dashboard/gear?day=${DAY}` },
  { name: "background", path: `/dashboard/background?day=${DAY}` },
  { name: "timesheets", path: `/dashboard/timesheets?day=${DAY}` },
  { name: "report", path: `/dashboard/report?day=${DAY}` },
  { name: "settings", path: "/dashboard/settings" },
  { name: "sign-in key", path: "/dashboard/signin-key" },
];

/** How far the page is wider than the screen, with what sticks out when it is. */
async function overflow(page) {
  return page.evaluate(() => {
    const de = document.documentElement;
    const extra = de.scrollWidth - window.innerWidth;
    if (extra <= 0) return null;
    const wide = Array.from(document.querySelectorAll("body *"))
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
      .slice(0, 5)
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}${e.className ? "." + String(e.className).replace(/\s+/g, ".") : ""} (right ${Math.round(e.getBoundingClientRect().right)})`);
    return { scrollWidth: de.scrollWidth, innerWidth: window.innerWidth, wide };
  });
}

async function fitsThePhone(page, what) {
  if (SHOTS) await page.screenshot({ path: join(SHOTS, `phone-${what.replace(/[^a-z0-9]+/gi, "-")}.png`), fullPage: true });
  const o = await overflow(page);
  check(o === null, `${what} scrolls sideways at ${PHONE.width}px: ${JSON.stringify(o)}`);
}

async function visit(page, p) {
  const resp = await page.goto(`${BASE}${p.path}`);
  check(resp.ok(), `${p.name}: HTTP ${resp.status()}`);
  // The page has laid out with the dashboard's stylesheet, and every live panel has had the
  // refresh it asks for when its event stream opens: measure what the coordinator sees.
  await page.waitForFunction(() => document.readyState === "complete"
    && getComputedStyle(document.body).margin === "0px"
    && document.querySelectorAll("[data-live]:not([data-refreshed])").length === 0);
}

/** `fn` over every element `sel` matches, found and measured in one step in the page.
 *  `page.$$eval` takes two (find, then evaluate): a live panel refreshed in between leaves
 *  `fn` measuring detached elements, with no box and no style. */
async function measureAll(page, sel, fn) {
  return page.evaluate(`(${fn})(Array.from(document.querySelectorAll(${JSON.stringify(sel)})))`);
}

/** Clicks a form's button and waits for the page it lands on; returns that response (after
 *  a redirect, the page redirected to). */
async function submit(page, sel) {
  const [resp] = await Promise.all([page.waitForNavigation(), page.click(sel)]);
  check(resp, `no page after clicking ${sel}`);
  return resp;
}

async function main() {
  const ctx = await launch(PHONE);
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(10000);

    // --- signed out ----------------------------------------------------------------------
    for (const p of PAGES.filter((p) => p.signedOut)) {
      await visit(page, p);
      await fitsThePhone(page, `${p.name} (signed out)`);
    }
    await page.goto(`${BASE}/dashboard/signin`);
    await page.fill("input[name=code]", CODE);
    await page.fill("input[name=name]", "Casey Coordinator");
    await Promise.all([page.waitForURL(/\/dashboard\/board/), page.click("button[type=submit]")]);
    say({ step: "signed_in" });

    // A PA's phone sends where it is going; the board shows it before the pages are checked.
    const pres = await expectCmd("presence_sent");
    await page.goto(`${BASE}/dashboard/board?day=${DAY}`);
    await page.waitForSelector(`#presence tr[data-member="${pres.member}"]`);

    // A published revision with wide tables (scenes, cast), so the print page has them.
    await page.goto(`${BASE}/dashboard/callsheet?day=${DAY}`);
    await page.fill("#sheet textarea[name=scenes]",
      "12 | INT | Rosie's all-night diner, back booth by the jukebox | N | Mara tells Theo the truck is gone and the money with it | 1, 2 | 2 4/8 | Stage 4\n" +
      "14 | EXT | Parking lot behind the diner | N | Theo searches the lot | 2 | 1 | Stage 4 backlot");
    await page.fill("#sheet textarea[name=cast]",
      "1 | Mara | Alexandra Whitfield-Montgomery | W | 16:30 | 17:00 | 18:30 | needs a driver from the hotel\n" +
      "2 | Theo | Jonathan Castellanos | W | 16:45 | 17:15 | 18:30 | ");
    // Published through the review of what changed, as a coordinator publishes.
    check((await submit(page, "#sheet button[name=review]")).ok(), "reviewing the call sheet draft");
    await fitsThePhone(page, "publish review");
    await page.fill("#publish [name=summary]", "Scenes and cast added");
    check((await submit(page, "#publish button[type=submit]")).ok(), "publishing revision 2");

    // --- every page at phone size ----------------------------------------------------------
    const checked = [];
    for (const p of PAGES) {
      await visit(page, p);
      await fitsThePhone(page, p.name);
      checked.push(p.name);
    }
    // Every run's page, from the board's links.
    await visit(page, PAGES.find((p) => p.name === "board"));
    const runLinks = await page.$$eval("[data-run-id] a[href*='/dashboard/runs/']", (as) => as.map((a) => a.getAttribute("href")));
    check(runLinks.length >= 4, `the board links ${runLinks.length} run pages`);
    for (const href of runLinks) {
      await visit(page, { name: `run ${href}`, path: href });
      await fitsThePhone(page, `run page ${href}`);
    }
    checked.push("every run's page");
    // The print page's wide tables scroll inside themselves, never the page.
    await visit(page, PAGES.find((p) => p.name === "print"));
    check(await page.isVisible(".sheet td:has-text('Alexandra Whitfield-Montgomery')"), "revision 2's cast on the print page");
    // A new sign-in key shows a long key and link: they wrap too.
    await page.goto(`${BASE}/dashboard/signin-key`);
    await submit(page, "main form button[type=submit]");
    await page.waitForSelector("#signin-key");
    await fitsThePhone(page, "sign-in key (new key shown)");

    // The board: its columns one under another, each with its heading and count.
    await visit(page, PAGES.find((p) => p.name === "board"));
    const cols = await measureAll(page, "#runs .column", (els) => els.map((e) => {
      const r = e.getBoundingClientRect();
      return { label: e.getAttribute("data-column"), left: r.left, top: r.top, bottom: r.bottom, right: r.right,
        height: r.height, runs: e.querySelectorAll("[data-run-id]").length,
        count: e.querySelector("h2 .count") && e.querySelector("h2 .count").textContent.trim() };
    }));
    check(cols.length === 7, `the board shows ${cols.length} columns`);
    check(cols.some((c) => c.runs > 0), "no run on the board");
    cols.forEach((c, i) => {
      check(Math.abs(c.left - cols[0].left) < 1, `column ${c.label} starts at x=${c.left}, not under the first (x=${cols[0].left})`);
      check(c.right <= PHONE.width, `column ${c.label} ends at x=${c.right}, past the screen`);
      check(c.count === String(c.runs), `column ${c.label} counts ${c.count} for ${c.runs} runs`);
      if (i > 0) check(c.top >= cols[i - 1].bottom - 0.5, `column ${c.label} (top ${c.top}) is not below ${cols[i - 1].label} (bottom ${cols[i - 1].bottom})`);
      if (c.runs === 0) check(c.height < 48, `empty column ${c.label} is ${c.height}px tall, not collapsed to its heading`);
    });
    const [presRow] = await measureAll(page, `#presence tr[data-member="${pres.member}"]`, (trs) => trs.map((tr) => {
      const r = tr.getBoundingClientRect();
      return { left: r.left, right: r.right, eta: tr.querySelector("td.eta").textContent };
    }));
    check(presRow, "the PA on the move is not in the presence table");
    check(presRow.left >= 0 && presRow.right <= PHONE.width && /in \d+ min/.test(presRow.eta), `the PA on the move at phone size: ${JSON.stringify(presRow)}`);
    say({ step: "board_stacked", columns: cols.map((c) => c.label) });

    // The acknowledgements: every member's "On revision" on the screen.
    await visit(page, PAGES.find((p) => p.name === "acknowledgements"));
    const revs = await measureAll(page, "#acks-table tr[data-member]", (rows) => rows.map((tr) => {
      const td = tr.querySelector("td.revision");
      const r = td.getBoundingClientRect();
      return { member: tr.getAttribute("data-member"), text: td.textContent.trim(),
        label: getComputedStyle(td, "::before").content, left: r.left, right: r.right, top: r.top,
        visible: td.checkVisibility() && r.width > 0 && r.height > 0 };
    }));
    check(revs.length > 0, "no member on the acknowledgements page");
    for (const r of revs) {
      check(r.visible && r.left >= 0 && r.right <= PHONE.width, `"On revision" for ${r.member} is off the screen: ${JSON.stringify(r)}`);
      check(r.label.includes("On revision"), `"On revision" for ${r.member} has no heading: ${r.label}`);
      check(r.text.length > 0, `"On revision" for ${r.member} is empty`);
    }
    if (README_SHOTS) await page.screenshot({ path: join(README_SHOTS, "dashboard-acknowledgements-phone.png") });
    say({ step: "acks_cards", members: revs.length, pages: checked });

    // --- a task, from the phone -------------------------------------------------------------
    await visit(page, PAGES.find((p) => p.name === "board"));
    await page.click("details.new:has(#new-task) summary");
    await page.fill("#new-task input[name=title]", "Lunch order for 40");
    await page.selectOption("#new-task select[name=category]", "food_order");
    await page.fill("#new-task textarea[name=checklist]", "count vegetarians\ncall caterer");
    await page.fill("#new-task textarea[name=notes]", "Caterer is Rita's");
    check((await submit(page, "#new-task button[type=submit]")).ok(), "creating the task");
    const row = await page.waitForSelector("#tasks tr[data-task-id]:has(a:text('Lunch order for 40'))");
    const taskId = await row.getAttribute("data-task-id");
    const rowSel = `#tasks tr[data-task-id="${taskId}"]`;
    check((await page.textContent(`${rowSel} .checklist-count`)).trim() === "0/2 done", "the new task's checklist count");
    check((await page.textContent(`${rowSel} .notes-excerpt`)).includes("Caterer is Rita's"), "the task's notes on the board");
    await fitsThePhone(page, "board with a task");

    // A refused status change from the board's row: block without a reason. It comes back
    // as the task's page with "Blocked…" still chosen and the error by the reason field.
    await page.selectOption(`${rowSel} select[name=action]`, "block");
    const refusedResp = await submit(page, `${rowSel} form.task-status button[type=submit]`);
    check(refusedResp.status() === 400, `block without a reason answered ${refusedResp.status()}`);
    check(await page.isVisible("form.task-status #error"), "no summary at the top of the refused form");
    check(await page.$eval("form.task-status select[name=action]", (s) => s.value) === "block", "the refused status form lost the chosen action");
    const byReason = await page.textContent("form.task-status .field-error[data-field=reason]");
    check(/reason for blocking the task is required/i.test(byReason), `the error by the reason field: ${byReason}`);
    check(await page.evaluate(() => document.activeElement && document.activeElement.name) === "reason", "the refused form does not focus the reason field");
    await fitsThePhone(page, "refused status form");

    // A refused notes edit (longer than a task's notes may be) keeps what was typed.
    const tooLong = "Vegetarian count first. ".repeat(220);
    await page.fill("#task-notes textarea[name=notes]", tooLong);
    const notesResp = await submit(page, "#task-notes button[type=submit]");
    check(notesResp.status() === 400, `too-long notes answered ${notesResp.status()}`);
    check(await page.isVisible("#task-notes .field-error[data-field=notes]"), "no error by the notes field");
    check(await page.inputValue("#task-notes textarea[name=notes]") === tooLong, "the refused notes form lost what was typed");
    check(await page.$("form.task-status .field-error") === null, "another form shows the notes' error");

    // Notes shown and edited.
    await page.goto(`${BASE}/dashboard/tasks/${taskId}?day=${DAY}`);
    check(await page.inputValue("#task-notes textarea[name=notes]") === "Caterer is Rita's", "the stored notes on the task's page");
    const notes = "Caterer is Rita's — 12 vegetarian, 2 vegan";
    await page.fill("#task-notes textarea[name=notes]", notes);
    check((await submit(page, "#task-notes button[type=submit]")).ok(), "saving the notes");
    check(await page.inputValue("#task-notes textarea[name=notes]") === notes, "the saved notes on the task's page");

    // The checklist: tick, untick, tick again; add an item and remove it.
    const items = await page.$$eval("ul.checklist li[data-entry-id]", (lis) => lis.map((li) => ({ id: li.getAttribute("data-entry-id"), text: li.textContent })));
    check(items.length === 2, `the checklist shows ${items.length} items`);
    const first = `ul.checklist li[data-entry-id="${items[0].id}"]`;
    const count = () => page.textContent("#checklist .checklist-count").then((t) => t.trim());
    const tick = async (want) => {
      check((await submit(page, `${first} form.tick button`)).ok(), "ticking");
      check(await page.$eval(first, (li) => li.classList.contains("done")) === want, `the item is ${want ? "not " : ""}ticked`);
    };
    await tick(true);
    check(await count() === "1/2 done", `after ticking: ${await count()}`);
    await tick(false);
    check(await count() === "0/2 done", `after unticking: ${await count()}`);
    await tick(true);
    check(await count() === "1/2 done", `after ticking again: ${await count()}`);
    await page.fill("#checklist-add input[name=text]", "confirm delivery time");
    check((await submit(page, "#checklist-add button[type=submit]")).ok(), "adding an item");
    check(await page.isVisible("ul.checklist li:has-text('confirm delivery time')"), "the added item");
    check(await count() === "1/3 done", `after adding: ${await count()}`);
    await fitsThePhone(page, "the task's page");
    check((await submit(page, "ul.checklist li:has-text('confirm delivery time') form.remove button")).ok(), "removing an item");
    check(!(await page.textContent("#checklist")).includes("confirm delivery time"), "the removed item is still shown");
    check(await count() === "1/2 done", `after removing: ${await count()}`);

    // The board shows it: the count, the notes.
    await visit(page, PAGES.find((p) => p.name === "board"));
    await page.waitForSelector("#live-status.ok");
    check((await page.textContent(`${rowSel} .checklist-count`)).trim() === "1/2 done", "the board's count after ticking");
    check((await page.textContent(`${rowSel} .notes-excerpt`)).includes("12 vegetarian"), "the board's notes after editing");
    await page.evaluate(() => { window.__noReload = "still here"; });
    say({ step: "task_edited", task: taskId, notes, ticked: items[0].id, other: items[1].id });

    // A device ticks the other item: the board's count follows, live.
    await expectCmd("device_ticked");
    await page.waitForFunction((sel) => {
      const c = document.querySelector(sel);
      return c && c.textContent.trim() === "2/2 done";
    }, `${rowSel} .checklist-count`);
    check(await page.evaluate(() => window.__noReload) === "still here", "the board page was reloaded");
    await fitsThePhone(page, "board after a live refresh");
    if (README_SHOTS) await page.screenshot({ path: join(README_SHOTS, "dashboard-board-phone.png") });
    say({ step: "live_count" });
  } finally {
    await ctx.close();
  }
}

run(main);
