// What every browser script shares: the line protocol with its Rust driver (one JSON
// object a line: steps out on stdout, commands in on stdin) and Debian's chromium.
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

export const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const lines = createInterface({ input: process.stdin });
const queue = [];
let waiting = null;
lines.on("line", (l) => {
  const msg = JSON.parse(l);
  if (waiting) { const w = waiting; waiting = null; w(msg); } else queue.push(msg);
});
export const next = () => queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => { waiting = r; });
export async function expectCmd(name) {
  const m = await next();
  if (m.cmd !== name) throw new Error(`expected command ${name}, got ${JSON.stringify(m)}`);
  return m;
}
export function check(cond, what) { if (!cond) throw new Error(what); }

/** A fresh chromium profile; `viewport` defaults to a laptop screen; `options` are more
 * playwright context options (`timezoneId`, `locale`, ...). */
export async function launch(viewport = { width: 1500, height: 1000 }, options = {}) {
  const profile = mkdtempSync(join(tmpdir(), "setlink-chromium-"));
  return chromium.launchPersistentContext(profile, {
    ...options,
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** Runs `main`, then reports done, or the failure, on the protocol and exits. */
export function run(main) {
  main().then(() => { say({ step: "done" }); process.exit(0); },
    (e) => { say({ step: "fail", error: String(e && e.stack || e) }); process.exit(1); });
}

/** Signs in to the dashboard with `code` and waits for the board. */
export async function signIn(page, base, code, name = "Casey Coordinator") {
  await page.goto(`${base}/dashboard/signin`);
  await page.fill("input[name=code]", code);
  await page.fill("input[name=name]", name);
  await Promise.all([page.waitForURL(/\/dashboard\/board/), page.click("button[type=submit]")]);
}

/** Opens a dashboard page with live panels and waits until its event stream is up. */
export async function openLive(page, url) {
  await page.goto(url);
  await page.waitForSelector("#live-status.ok");
}

/** Runs `wait` (which waits for a live panel to change) and fails if the page was
 * reloaded meanwhile instead of refreshed in place. */
export async function withoutReload(page, wait) {
  await page.evaluate(() => { window.__stillHere = true; });
  await wait();
  check(await page.evaluate(() => window.__stillHere === true),
    "the page was reloaded instead of refreshed live");
}
