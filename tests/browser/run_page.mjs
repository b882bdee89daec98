// Drives Debian's chromium through the run page and petty cash of a running relay.
// Started by tests/tests/run_page.rs, which owns the relay and the PA's Rust device.
// Protocol as in lib.mjs: steps out ({"step": ...}), commands in ({"cmd": ...}).
import { say, expectCmd, check, launch, run } from "./lib.mjs";

const BASE = process.env.DASH_BASE;
const CODE = process.env.DASH_CODE;
const DAY = process.env.DASH_DAY;
const TITLE = process.env.DASH_RUN_TITLE;
// Set RUN_PAGE_SHOTS to a directory to keep screenshots of the pages it checks.
const SHOTS = process.env.RUN_PAGE_SHOTS;
const shot = async (page, name) => { if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true }); };

/** Submits the form holding `button` and waits for the page it lands on; its response. */
async function submit(page, button) {
  const [resp] = await Promise.all([page.waitForNavigation(), page.click(button)]);
  return resp;
}

/** Neither the page nor anything on it scrolls sideways. */
async function noSideScroll(page, what) {
  const [w, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(w <= inner, `${what} scrolls sideways at ${inner}px: ${w}px wide`);
}

/** Reloads `page` until `cond` holds in it (the run page has no live view). */
async function reloadUntil(page, cond, arg, what) {
  const until = Date.now() + 15000;
  for (;;) {
    if (await page.evaluate(cond, arg)) return;
    check(Date.now() < until, `timed out waiting for ${what}`);
    await page.waitForTimeout(200);
    await page.reload();
  }
}

async function main() {
  const ctx = await launch();
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(10000);

    await page.goto(`${BASE}/dashboard/signin`);
    await page.fill("input[name=code]", CODE);
    await page.fill("input[name=name]", "Casey Coordinator");
    await Promise.all([page.waitForURL(/\/dashboard\/board/), page.click("button[type=submit]")]);
    await page.goto(`${BASE}/dashboard/board?day=${DAY}`);

    // --- open a run from the board -----------------------------------------------------
    const card = page.locator("[data-run-id]", { has: page.locator("h3", { hasText: TITLE }) });
    const runId = await card.getAttribute("data-run-id");
    await Promise.all([page.waitForURL(/\/dashboard\/runs\//), card.locator("a.run-link").click()]);
    check((await page.textContent("#run-title")).trim() === TITLE, "the run page shows the run");
    check(page.url().includes(`day=${DAY}`), `the run page keeps the day: ${page.url()}`);
    await shot(page, "run-page-before");
    say({ step: "opened", run: runId });

    // --- edit its fields -----------------------------------------------------------------
    const newTitle = `${TITLE} (x24)`;
    await page.fill("#edit-run [name=title]", newTitle);
    await page.selectOption("#edit-run [name=priority]", "urgent");
    await page.fill("#edit-run [name=needed_by]", "15:30");
    await page.fill("#edit-run [name=department]", "Sound dept");
    await page.fill("#edit-run [name=requested_by]", "Sound mixer");
    await page.selectOption("#edit-run [name=vehicle]", "production");
    let resp = await submit(page, "#edit-run button[type=submit]");
    check(resp.status() === 200, `details saved: ${resp.status()}`);
    check((await page.textContent("#run-title")).trim() === newTitle, "the new title shows");
    check(await page.inputValue("#edit-run [name=needed_by]") === "15:30", "needed-by shows in the production's zone");
    check(await page.inputValue("#edit-run [name=vehicle]") === "production", "vehicle saved");
    check(/URGENT/.test(await page.textContent("#run-meta")), "priority saved");

    // --- a stop with a contact -----------------------------------------------------------
    await page.fill("#add-stop [name=label]", "Gear rental back door");
    await page.fill("#add-stop [name=address]", "12 Dock St, bay 3");
    await page.fill("#add-stop [name=contact_name]", "Rita Ortiz");
    await page.fill("#add-stop [name=contact_phone]", "+1 555 0142");
    await submit(page, "#add-stop button[type=submit]");
    const stop = page.locator("li.stop", { has: page.locator("input[name=label][value='Gear rental back door']") });
    check(await stop.locator("[name=contact_name]").inputValue() === "Rita Ortiz", "the stop's contact shows");
    check(await stop.locator("[name=contact_phone]").inputValue() === "+1 555 0142", "the stop's phone shows");

    // --- an item, ticked off -----------------------------------------------------------
    await page.fill("#add-item [name=description]", "AA batteries");
    await page.fill("#add-item [name=quantity]", "24");
    await submit(page, "#add-item button[type=submit]");
    const item = page.locator("li.item", { hasText: "AA batteries" });
    check(await item.getAttribute("data-checked") === "false", "a new item is not ticked");
    check(/24 × AA batteries/.test(await item.textContent()), "quantity and description show");
    await submit(page, "li.item:has-text('AA batteries') button.tick-off");
    check(await page.locator("li.item", { hasText: "AA batteries" }).getAttribute("data-checked") === "true", "the item is ticked off");

    // --- a food order with a dietary note --------------------------------------------
    await page.fill("#add-food [name=person]", "Ana (boom op)");
    await page.fill("#add-food [name=order]", "Flat white");
    await page.fill("#add-food [name=dietary_notes]", "oat milk, no dairy");
    await submit(page, "#add-food button[type=submit]");
    const food = await page.textContent("li.food-order");
    check(/Ana \(boom op\)/.test(food) && /Flat white/.test(food) && /oat milk, no dairy/.test(food), `food order shows: ${food}`);
    await page.click("li.food-order details.edit summary");
    await page.fill("li.food-order .food-edit [name=order]", "Oat flat white, large");
    await submit(page, "li.food-order .food-edit button[type=submit]");
    check((await page.textContent("li.food-order .order")).trim() === "Oat flat white, large", "the food order is edited");

    // --- petty cash, a comment, mileage ---------------------------------------------
    await page.fill("#money-form [name=envelope]", "ENV-12");
    await page.fill("#money-form [name=advanced]", "100");
    await submit(page, "#money-form button[type=submit]");
    check((await page.textContent("#advanced")).trim() === "100.00", "the advance shows as currency");
    await page.fill("#add-comment [name=comment]", "Back door only after 3pm");
    await submit(page, "#add-comment button[type=submit]");
    check(/Back door only after 3pm/.test(await page.textContent("#comments")), "the comment shows");
    await page.fill("#mileage-form [name=mileage]", "12.4");
    await submit(page, "#mileage-form button[type=submit]");
    check(await page.inputValue("#mileage-form [name=mileage]") === "12.4", "mileage saved");

    // --- a refused form keeps what was typed, the error by its field ---------------
    await page.fill("#add-receipt [name=vendor]", "Hardware Hut");
    await page.fill("#add-receipt [name=total]", "12.50");
    await page.fill("#add-receipt [name=tax]", "20");
    await page.fill("#add-receipt [name=account_code]", "2150");
    resp = await submit(page, "#add-receipt button[type=submit]");
    check(resp.status() === 400, `a tax above the total is refused: ${resp.status()}`);
    const byTax = await page.textContent("#add-receipt .field-error[data-field=tax]");
    check(/more than the total 12\.50/.test(byTax), `the error sits by the tax field: ${byTax}`);
    check(/more than the total/.test(await page.textContent("#add-receipt #error")), "the form's summary says it");
    for (const [name, want] of [["vendor", "Hardware Hut"], ["total", "12.50"], ["tax", "20"], ["account_code", "2150"]]) {
      const got = await page.inputValue(`#add-receipt [name=${name}]`);
      check(got === want, `the refused receipt keeps ${name}: ${got}`);
    }
    check(await page.locator(".field-error").count() === 1, "only the refused form shows an error");
    check(await page.inputValue("#add-item [name=description]") === "", "other forms stay as stored");
    check(await page.locator("li.receipt").count() === 0, "nothing was written");
    await shot(page, "run-page-refused");

    // --- a PA's receipt from their phone --------------------------------------------
    say({ step: "edited", run: runId });
    await expectCmd("receipt_written");
    await page.goto(`${BASE}/dashboard/runs/${runId}?day=${DAY}`);
    await reloadUntil(page, () => !!document.querySelector("li.receipt") && !!document.querySelector(".received-by"), null, "the PA's receipt and proof of delivery");
    const receipt = await page.textContent("li.receipt");
    check(/Gas & Go/.test(receipt) && /42\.50/.test(receipt) && /Pat/.test(receipt), `the PA's receipt shows: ${receipt}`);
    check((await page.textContent("#spent")).trim() === "42.50", "spent adds the receipt");
    check((await page.textContent("#difference")).trim() === "57.50", "difference = advanced - spent - returned");
    check((await page.textContent(".received-by")).trim() === "Rita Ortiz", "proof of delivery shows");
    const history = await page.$$eval("#history li.event", (els) => els.map((e) => e.getAttribute("data-kind")));
    check(history[0] === "created" && history.includes("assigned"), `the whole status history: ${history}`);

    await page.click("nav a:has-text('Petty cash')");
    await page.waitForURL(/petty-cash\?day=/);
    const env = page.locator("article.envelope[data-envelope='ENV-12']");
    check((await env.locator(".advanced").textContent()).trim() === "100.00", "petty cash: advanced");
    check((await env.locator(".spent").textContent()).trim() === "42.50", "petty cash: spent");
    check((await env.locator(".difference").textContent()).trim() === "57.50", "petty cash: difference");
    check(/Gas & Go/.test(await env.locator("tr.receipt").textContent()), "petty cash lists the receipt");
    check(/Pat/.test(await page.textContent(".pa-cash h2")), "petty cash is per PA");
    await shot(page, "petty-cash");
    const csv = await page.request.get(`${BASE}/dashboard/petty-cash.csv?day=${DAY}`);
    check(csv.status() === 200 && /text\/csv/.test(csv.headers()["content-type"]), `the CSV: ${csv.status()}`);
    say({ step: "petty_cash", csv: await csv.text() });

    // --- unassign ---------------------------------------------------------------------
    await page.goto(`${BASE}/dashboard/runs/${runId}?day=${DAY}`);
    await page.selectOption("#assign [name=assignee]", "");
    await submit(page, "#assign button[type=submit]");
    check(await page.getAttribute("#run-meta", "data-status") === "requested", "an unassigned run is requested again");
    check(/unassigned/.test(await page.textContent("#assignment .assignee")), "nobody has it");
    const kinds = await page.$$eval("#history li.event", (els) => els.map((e) => e.getAttribute("data-kind")));
    check(kinds[kinds.length - 1] === "unassigned", `the history says so: ${kinds}`);
    await page.goto(`${BASE}/dashboard/board?day=${DAY}`);
    await page.waitForSelector(`.column[data-column="Requested"] [data-run-id="${runId}"][data-status="requested"]`);
    say({ step: "unassigned", run: runId });

    // --- phone-sized -----------------------------------------------------------------
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${BASE}/dashboard/runs/${runId}?day=${DAY}`);
    await noSideScroll(page, "the run page");
    await shot(page, "run-page-phone");
    await page.goto(`${BASE}/dashboard/petty-cash?day=${DAY}`);
    await noSideScroll(page, "petty cash");
    await shot(page, "petty-cash-phone");
    say({ step: "phone_sized" });
  } finally {
    await ctx.close();
  }
}

run(main);
