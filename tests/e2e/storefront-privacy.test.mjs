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
import { startWorker, launchChromium, screenshotsDir } from "./support.mjs";
import { freshStateDir } from "../../edge-worker/dev/wrangler.mjs";
import { seriousViolations } from "./axe.mjs";

let worker;
let browser;
const screenshots = screenshotsDir();

before(async () => {
  worker = await startWorker({ persistTo: freshStateDir("storefront-privacy"), logName: "storefront-privacy-test" });
  browser = await launchChromium();
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

// Issue 20: the offer goes to the riskiest carts only (`cove-train
// --rescue-share`, 20% of the held-out carts by default), not to every cart.
// The demo's clock is set by hand (Playwright's `clock.setFixedTime`; the
// engine runs on the page and reads `Date.now()`), so that the seconds a
// shopper spends on a page are those of a person, not of a test runner:
// the risk model reads a zero-second product page as a bounce.
const WEDNESDAY = Date.parse("2024-03-13T10:00:00Z");

async function at(page, seconds) {
  await page.clock.setFixedTime(WEDNESDAY + seconds * 1000);
}

/** The demo's home page at the clock's second 0. */
async function openShopAtClock() {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await at(page, 0);
  await page.goto(`${worker.url}/#/`);
  await page.waitForSelector('#shop[data-state="ready"]', { timeout: 30_000 });
  const hasRescue = await page.evaluate(() => typeof window.cove?.rescue === "function");
  return { context, page, errors, hasRescue };
}

async function visitProduct(page, id, seconds) {
  await at(page, seconds);
  await page.goto(`${worker.url}/#/product/${encodeURIComponent(id)}`);
  await page.waitForSelector(`[data-add-to-cart="${id}"]`);
}

async function addToCart(page, id, seconds) {
  await at(page, seconds);
  await page.click(`[data-add-to-cart="${id}"]`);
  await page.waitForFunction(async (item) => (await window.cove.profile()).profile.cart.some((line) => line.id === item), id);
}

async function openCart(page, seconds) {
  await at(page, seconds);
  await page.goto(`${worker.url}/#/cart`);
  await page.waitForSelector('[data-page="cart"] li');
  // The page asked the engine once; its answer for the same cart and time.
  await page.waitForTimeout(300);
  return page.evaluate(() => window.cove.rescue());
}

test("issue 20: one £2.95 item added after a minute on its page gets no rescue offer", async (t) => {
  const { context, page, errors, hasRescue } = await openShopAtClock();
  if (!hasRescue) {
    t.skip("the snippet has no Cove.rescue() yet");
    await context.close();
    return;
  }
  const catalogue = await page.evaluate(async () => {
    const pointer = await (await fetch("/v1/bundles/default.json")).json();
    return (await fetch(pointer.catalogue)).json();
  });
  const cheap = catalogue.find((item) => item.price === 2.95 && item.in_stock);
  assert.ok(cheap, "the catalogue has an item at £2.95");
  await visitProduct(page, cheap.id, 5);
  await addToCart(page, cheap.id, 65);
  const decision = await openCart(page, 70);
  t.diagnostic(`one £2.95 add: risk ${decision.risk.toFixed(4)}, threshold ${decision.threshold}`);
  assert.equal(decision.outcome.kind, "below_threshold", JSON.stringify(decision));
  assert.ok(decision.risk < decision.threshold, JSON.stringify(decision));
  assert.equal(await page.locator('[data-rescue="offer"]').count(), 0);
  assert.equal(await page.locator('[data-page="cart"][data-rescue]').count(), 0, "not even held out");
  assert.deepEqual(errors, []);
  await context.close();
});

test("issue 20: a returning shopper's long, hesitant session can get the rescue offer", async (t) => {
  const { context, page, errors, hasRescue } = await openShopAtClock();
  if (!hasRescue) {
    t.skip("the snippet has no Cove.rescue() yet");
    await context.close();
    return;
  }
  const ids = await page.$$eval(".grid article a", (links) =>
    links.map((a) => decodeURIComponent(a.getAttribute("href").split("/").pop())));
  assert.ok(ids.length >= 12, `${ids.length} products on the home page`);
  // Yesterday's visit: one product looked at, nothing bought.
  await visitProduct(page, ids[0], 10);
  // Today, a day later: twelve products flicked through, four seconds
  // each, three put in the cart and the cart opened twice in between.
  let now = 24 * 3600;
  for (const [position, id] of ids.slice(0, 12).entries()) {
    await visitProduct(page, id, (now += 4));
    if (position % 4 === 3) await addToCart(page, id, (now += 1));
    if (position === 5) await openCart(page, (now += 2));
  }
  const decision = await openCart(page, (now += 2));
  t.diagnostic(`long session: risk ${decision.risk.toFixed(4)}, threshold ${decision.threshold}, ${decision.outcome.kind}`);
  assert.ok(decision.risk >= decision.threshold, JSON.stringify(decision));
  // Eligible: the offer, or the holdout that measures it (a random share).
  assert.ok(["offer", "holdout"].includes(decision.outcome.kind), JSON.stringify(decision));
  const shown = await page.locator('[data-rescue="offer"]').count();
  assert.equal(shown > 0, decision.outcome.kind === "offer", JSON.stringify(decision));
  if (shown) await page.screenshot({ path: join(screenshots, "demo-rescue-offer.png") });
  assert.deepEqual(errors, []);
  await context.close();
});
