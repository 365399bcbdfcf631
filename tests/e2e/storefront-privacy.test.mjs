// The demo shop's rescue offer and privacy panel in headless Chromium, with
// axe-core on every demo page. The rescue offer is checked against the
// engine's own decision on the same device: the offer shows exactly when
// `Cove.rescue()` calls for one and `Cove.campaign("rescue-cart")` gives a
// variant other than the holdout; accepting it records the campaign's
// response. Needs the snippet's campaign API (`Cove.campaign`,
// `campaignResponse`, `privacy`, `rescue`); without it these tests are skipped
// and say so.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { startWorker, launchChromium } from "./support.mjs";
import { freshStateDir, workspaceRoot } from "../../edge-worker/dev/wrangler.mjs";
import { seriousViolations } from "./axe.mjs";

let worker;
let browser;
const screenshots = process.env.COVE_SCREENSHOTS === "docs"
  ? join(workspaceRoot, "docs")
  : join(workspaceRoot, "tests", "output");

before(async () => {
  worker = await startWorker({ persistTo: freshStateDir("storefront-privacy"), logName: "storefront-privacy-test" });
  browser = await launchChromium();
  mkdirSync(screenshots, { recursive: true });
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

async function openShop(hash = "#/") {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(`${worker.url}/${hash}`);
  await page.waitForSelector('#shop[data-state="ready"]', { timeout: 30_000 });
  const hasCampaignApi = await page.evaluate(() =>
    ["rescue", "campaign", "campaignResponse", "privacy"].every((m) => typeof window.cove?.[m] === "function"));
  return { context, page, errors, hasCampaignApi };
}

test("every demo page passes axe-core without serious or critical violations", async () => {
  const { context, page, errors } = await openShop();
  const catalogue = await page.$$eval(".grid article a", (links) => links.map((a) => a.getAttribute("href")));
  for (const hash of ["#/", catalogue[0], "#/cart", "#/knows"]) {
    await page.goto(`${worker.url}/${hash}`);
    await page.waitForSelector("[data-page]");
    await page.waitForTimeout(300);
    assert.deepEqual(await seriousViolations(page), [], `page ${hash}`);
  }
  assert.deepEqual(errors, []);
  await context.close();
});

test("the rescue offer follows the engine's decision and its acceptance is recorded", async (t) => {
  const { context, page, errors, hasCampaignApi } = await openShop();
  if (!hasCampaignApi) {
    t.skip("the snippet has no campaign API yet (Cove.campaign/campaignResponse/privacy/rescue)");
    await context.close();
    return;
  }
  const catalogue = await page.$$eval(".grid article a", (links) => links.map((a) => a.getAttribute("href")));
  for (const href of catalogue.slice(0, 3)) {
    await page.goto(`${worker.url}/${href}`);
    await page.waitForSelector("[data-add-to-cart]");
    await page.click("[data-add-to-cart]");
  }
  await page.goto(`${worker.url}/#/cart`);
  await page.waitForSelector('[data-page="cart"] li');
  await page.waitForTimeout(500);
  // The same device asked again: the variant is sticky, so the answer is the
  // one the page got (unless the risk moved across the threshold meanwhile).
  const expected = await page.evaluate(async () => window.cove.rescue());
  const shown = await page.locator('[data-rescue="offer"]').count();
  const calledFor = expected.outcome.kind === "offer" && expected.outcome.action.kind !== "nothing";
  assert.equal(shown > 0, calledFor, JSON.stringify(expected));
  if (calledFor) assert.equal(expected.campaign, "rescue-cart");
  if (shown) {
    await page.screenshot({ path: join(screenshots, "demo-rescue-offer.png") });
    const before = await page.evaluate(() => window.cove.privacy());
    await page.click("#accept-offer");
    await page.waitForSelector('[data-rescue="accepted"]');
    // Sticky: the device keeps its variant.
    assert.equal((await page.evaluate(() => window.cove.campaign("rescue-cart"))).variant, expected.variant);
    // The response is recorded with the exposure: the next envelope carries the
    // campaign report (a randomised cell of campaign.rescue-cart).
    const sent = await page.evaluate(() => window.cove.flushReports());
    if (sent.lastReport) assert.match(sent.lastReport.bytes, /"metric":"campaign\.rescue-cart"/);
    assert.ok(before.dailyEpsilon > 0);
  }
  assert.deepEqual(errors, []);
  await context.close();
});

test("the privacy panel's Details show the ε spent today and the last report's exact bytes", async (t) => {
  const { context, page, errors, hasCampaignApi } = await openShop("#/");
  if (!hasCampaignApi) {
    t.skip("the snippet has no Cove.privacy() yet");
    await context.close();
    return;
  }
  // Some activity schedules the day's report after the shop's random delay
  // (1–5 s for the demo shop); then it is sent.
  const href = await page.$eval(".grid article a", (a) => a.getAttribute("href"));
  await page.goto(`${worker.url}/${href}`);
  await page.waitForSelector("[data-add-to-cart]");
  await page.waitForTimeout(6000);
  await page.evaluate(() => window.cove.flushReports());
  await page.goto(`${worker.url}/#/knows`);
  await page.waitForSelector('.cove-privacy-panel[data-state="ready"] [data-panel="budget"]');
  const privacy = await page.evaluate(() => window.cove.privacy());
  assert.ok(privacy.lastReport, "a report was sent");
  assert.ok(privacy.spentToday > 0);
  // In words outside Details (tests/e2e/panel.test.mjs checks them); the figures inside.
  await page.click('[data-panel="details"] summary');
  const figures = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 2 });
  const details = await page.locator('[data-panel="details"]').innerText();
  assert.ok(
    details.includes(`ε ${figures.format(privacy.spentToday)} spent of ${figures.format(privacy.dailyEpsilon)} today`),
    details,
  );
  const shown = await page.locator('[data-panel="last-report"]').textContent();
  assert.equal(shown, privacy.lastReport.bytes.trimEnd());
  assert.equal(privacy.lastReport.bytes.length, 1024);
  await page.locator('[data-panel="last-report"]').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(screenshots, "demo-knows-privacy.png") });
  assert.deepEqual(errors, []);
  await context.close();
});
