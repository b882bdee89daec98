// Publishing a revision with email to the crew, in chromium (driven by
// tests/tests/crew_mail.rs): the review form offers the email, checked; publishing says
// how many emails were queued.
import { launch, run, say, check, signIn } from "./lib.mjs";

const BASE = process.env.DASH_BASE;
const CODE = process.env.DASH_CODE;
const DAY = process.env.DASH_DAY;

run(async () => {
  const ctx = await launch();
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(10000);
    await signIn(page, BASE, CODE);

    await page.goto(`${BASE}/dashboard/callsheet?day=${DAY}`);
    await page.fill("#sheet [name=general_call]", "05:45");
    await Promise.all([page.waitForNavigation(), page.click("#sheet button[name=review]")]);
    check(await page.isChecked("#email-crew"), "the review offers email to the crew, checked");
    await Promise.all([page.waitForURL(/published=2/), page.click("#publish button[type=submit]")]);
    const notice = await page.textContent("#emailed");
    say({ step: "published", notice });
  } finally {
    await ctx.close();
  }
});
