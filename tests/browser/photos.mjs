// The coordinator's browser on a run whose receipt photo a PA took offline: the run page
// shows the thumbnail (a real decoded image), clicking it opens the full photo, and petty
// cash shows it too. Started by tests/tests/attachment_device.rs, which owns the relay and
// the PA's device; protocol as in lib.mjs.
import { say, expectCmd, check, launch, run, signIn } from "./lib.mjs";

const BASE = process.env.DASH_BASE;
const CODE = process.env.DASH_CODE;
const DAY = process.env.DASH_DAY;
const RUN = process.env.DASH_RUN_ID;
const HASH = process.env.DASH_PHOTO;

/** The thumbnail's image once the browser has decoded it, reloading while it uploads. */
async function thumbnail(page) {
  const until = Date.now() + 20000;
  for (;;) {
    const size = await page.evaluate((hash) => {
      const img = document.querySelector(`a.photo[data-photo="${hash}"] img.thumb`);
      return img && img.complete ? [img.naturalWidth, img.naturalHeight] : null;
    }, HASH);
    if (size && size[0] > 0) return size;
    check(Date.now() < until, "the thumbnail never appeared");
    await page.waitForTimeout(250);
    await page.reload();
  }
}

async function main() {
  const ctx = await launch();
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(10000);
    await signIn(page, BASE, CODE);
    await page.goto(`${BASE}/dashboard/runs/${RUN}?day=${DAY}`);
    say({ step: "run_page", pending: await page.locator(`span.photo.pending[data-photo="${HASH}"]`).count() });

    await expectCmd("uploaded");
    const [w, h] = await thumbnail(page);
    check(Math.max(w, h) === 320, `a 320 px thumbnail: ${w}×${h}`);
    const [popup] = await Promise.all([
      ctx.waitForEvent("page"),
      page.click(`a.photo[data-photo="${HASH}"]`),
    ]);
    await popup.waitForLoadState();
    const full = await popup.evaluate(() => {
      const img = document.querySelector("img");
      return img ? [img.naturalWidth, img.naturalHeight] : null;
    });
    check(full && full[0] > 320, `the full photo opens on click: ${JSON.stringify(full)}`);
    say({ step: "thumbnail", width: w, height: h, full });

    await page.goto(`${BASE}/dashboard/petty-cash?day=${DAY}`);
    const inCash = await page.locator(`a.photo[data-photo="${HASH}"] img.thumb`).count();
    say({ step: "petty_cash", thumbnails: inCash });
  } finally {
    await ctx.close();
  }
}

run(main);
