// Personal call-sheet links in chromium (driven by tests/tests/crew_link.rs): the
// coordinator's acknowledgements page on a laptop, two crew phones (390×844) each opening
// their own link. Opened and confirmed reach the acknowledgements page live; a confirm
// tapped offline is kept and reaches it once the phone is back online; a revoked link is
// refused on the phone.
import { launch, run, say, expectCmd, check, signIn } from "./lib.mjs";

const BASE = process.env.DASH_BASE;
const CODE = process.env.DASH_CODE;
const DAY = process.env.DASH_DAY;
const PHONE = { width: 390, height: 844 };

async function rowState(page, member) {
  return page.getAttribute(`#acks-table tr[data-member="${member}"]`, "data-state");
}

async function waitRow(page, member, state) {
  await page.waitForSelector(`#acks-table tr[data-member="${member}"][data-state="${state}"]`, { timeout: 15000 });
}

async function fitsThePhone(page, what) {
  const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(over <= 1, `${what} is ${over}px wider than the phone`);
}

run(async () => {
  const office = await launch();
  const phoneA = await launch(PHONE, { isMobile: true, hasTouch: true });
  const phoneB = await launch(PHONE, { isMobile: true, hasTouch: true });
  try {
    const dash = office.pages()[0] || await office.newPage();
    dash.setDefaultTimeout(10000);
    await signIn(dash, BASE, CODE);

    const { a, b } = await expectCmd("members");
    // The acknowledgements page links each member's call-sheet link page: a QR code and
    // the link to copy.
    await dash.goto(`${BASE}/dashboard/acks?day=${DAY}`);
    await Promise.all([dash.waitForURL(/crew-link/), dash.click(`#acks-table tr[data-member="${a}"] td.link a`)]);
    check(await dash.isVisible("#crew-qr svg"), "a QR code of the link");
    const linkA = await dash.inputValue("#crew-link");
    check(/\/crew\/#k=[0-9a-f]{64}$/.test(linkA), `a link with its key in the fragment: ${linkA}`);
    await dash.goto(`${BASE}/dashboard/crew-link?member=${b}`);
    const linkB = await dash.inputValue("#crew-link");
    check(linkB !== linkA, "each member has their own link");
    say({ step: "links", a: linkA, b: linkB });

    await dash.goto(`${BASE}/dashboard/acks?day=${DAY}`);
    await dash.waitForSelector("#live-status.ok");
    check(await rowState(dash, a) === "none" || await rowState(dash, a) === "received", "A has not opened it yet");

    // --- A opens the link: their call time first, "opened" reaches the office live ---------
    const pa = phoneA.pages()[0] || await phoneA.newPage();
    pa.setDefaultTimeout(10000);
    await pa.goto(linkA);
    await pa.waitForSelector("#call-time");
    const callText = (await pa.textContent("#call-time")).trim();
    check(/^\d\d:\d\d$/.test(callText), `the call time: ${callText}`);
    const firstHeading = await pa.evaluate(() => {
      const call = document.querySelector("#call-time").getBoundingClientRect().top;
      const where = document.querySelector("section.where, section.weather").getBoundingClientRect().top;
      return call < where;
    });
    check(firstHeading, "the call time comes before the location and weather");
    check(!pa.url().includes("#k="), "the key leaves the address bar");
    await fitsThePhone(pa, "the crew page");
    // Installable: chromium finds nothing missing (manifest, icons, service worker).
    await pa.evaluate(() => navigator.serviceWorker.ready);
    const cdp = await phoneA.newCDPSession(pa);
    const { installabilityErrors } = await cdp.send("Page.getInstallabilityErrors");
    check(installabilityErrors.length === 0, `not installable: ${JSON.stringify(installabilityErrors)}`);
    await waitRow(dash, a, "opened");
    say({ step: "a_opened", call: callText });

    // A confirms: the office sees it live.
    await pa.click("#confirm");
    await pa.waitForSelector("#confirm-state:has-text('You confirmed revision')");
    await waitRow(dash, a, "confirmed");
    say({ step: "a_confirmed" });

    // --- a new revision: A's page says the sheet changed under their confirmation --------
    await dash.goto(`${BASE}/dashboard/callsheet?day=${DAY}`);
    await dash.fill("#sheet [name=general_call]", "05:15");
    await Promise.all([dash.waitForNavigation(), dash.click("#sheet button[name=review]")]);
    await Promise.all([dash.waitForURL(/published=2/), dash.click("#publish button[type=submit]")]);
    await pa.reload();
    await pa.waitForSelector("#newer");
    check((await pa.textContent("#newer")).includes("after you confirmed revision 1"), "the sheet changed under A's confirmation");
    check((await pa.textContent("#newer-revision")).includes("Revision 2 replaces revision 1"), "the page says which revision is new");
    check((await pa.textContent("#call-time")).trim() === "05:15", "the new call time");
    check(await pa.isEnabled("#confirm"), "A can confirm revision 2");
    await pa.click("#confirm");
    await pa.waitForSelector("#confirm-state:has-text('You confirmed revision 2')");
    await dash.goto(`${BASE}/dashboard/acks?day=${DAY}`);
    await dash.waitForSelector("#live-status.ok");
    await waitRow(dash, a, "confirmed");
    say({ step: "a_confirmed_again" });

    // --- B: opens online once, then confirms with no signal ------------------------------
    const pb = phoneB.pages()[0] || await phoneB.newPage();
    pb.setDefaultTimeout(10000);
    await pb.goto(linkB);
    await pb.waitForSelector("#call-time");
    await waitRow(dash, b, "opened");
    // The service worker has the page's files once it controls the page.
    await pb.evaluate(() => navigator.serviceWorker.ready);
    await pb.reload();
    await pb.waitForFunction(() => !!navigator.serviceWorker.controller);
    await pb.waitForSelector("#call-time");
    await phoneB.setOffline(true);
    await pb.reload();
    await pb.waitForSelector("#call-time");
    check((await pb.textContent("#status")).includes("No signal"), "the saved sheet, said to be saved");
    await pb.click("#confirm");
    await pb.waitForSelector("#confirm-state:has-text('sent as soon as you have signal')");
    // Nothing reached the office while offline.
    await dash.waitForTimeout(1500);
    check(await rowState(dash, b) === "opened", "the office still sees B as opened only");
    say({ step: "b_confirmed_offline" });
    await phoneB.setOffline(false);
    await pb.evaluate(() => window.dispatchEvent(new Event("online")));
    await waitRow(dash, b, "confirmed");
    await pb.waitForSelector("#confirm-state:has-text('You confirmed revision')");
    say({ step: "b_confirmed" });

    // --- B is revoked: the link stops working on the phone --------------------------------
    await expectCmd("revoked");
    await pb.reload();
    await pb.waitForSelector("#status.error");
    const refusal = await pb.textContent("#status");
    check(refusal.includes("does not work any more"), `refused: ${refusal}`);
    check(await pb.isHidden("#call-time"), "the revoked member's sheet is gone from the phone");
    say({ step: "b_refused" });
  } finally {
    await Promise.all([office.close(), phoneA.close(), phoneB.close()]);
  }
});
