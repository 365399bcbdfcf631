// The demo shop (web-demo, in Rust, over the snippet and the default bundle)
// in headless Chromium: every page renders under the page's CSP, a shopping
// path changes the recommendations, and "what this shop knows" (the snippet's
// privacy panel) shows the on-device profile and forgets it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, launchChromium } from "./support.mjs";
import { freshStateDir } from "../../edge-worker/dev/wrangler.mjs";

let worker;
let browser;

before(async () => {
  worker = await startWorker({ persistTo: freshStateDir("demo"), logName: "demo-test" });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

async function openShop() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  page.on("response", (response) => response.status() >= 400 && errors.push(`${response.status()} ${response.url()}`));
  await page.goto(`${worker.url}/`);
  await page.waitForSelector('#shop[data-state="ready"]', { timeout: 30_000 });
  return { context, page, errors };
}

const slotItems = (page, slot) =>
  page.$$eval(`[data-cove-slot="${slot}"] article`, (cards) => cards.map((card) => card.dataset.coveItem));

test("a shopping path through the demo shop changes what it recommends", async () => {
  const { context, page, errors } = await openShop();
  await page.waitForSelector('[data-cove-slot="home"][data-cove-state="ready"] article');
  const coldStart = await slotItems(page, "home");
  assert.equal(coldStart.length, 8);
  const catalogue = await page.$$eval(".grid article a", (links) => links.map((a) => a.getAttribute("href")));
  assert.ok(catalogue.length >= 8);

  // Visit two products and add one to the cart.
  for (const href of catalogue.slice(3, 5)) {
    await page.goto(`${worker.url}/${href}`);
    await page.waitForSelector('[data-page="product"] [data-cove-slot="similar"][data-cove-state="ready"] article');
  }
  await page.click("[data-add-to-cart]");
  await page.goto(`${worker.url}/#/cart`);
  await page.waitForSelector('[data-page="cart"] li');
  assert.equal(await page.$$eval('[data-page="cart"] li', (rows) => rows.length), 1);

  await page.goto(`${worker.url}/#/`);
  await page.waitForSelector('[data-page="home"] [data-cove-slot="home"][data-cove-state="ready"] article');
  const personalised = await slotItems(page, "home");
  assert.notDeepEqual(personalised, coldStart);

  // "What this shop knows" is the snippet's privacy panel: it names what was
  // looked at, and forgets it after a confirmation (tests/e2e/panel.test.mjs
  // checks its words).
  await page.goto(`${worker.url}/#/knows`);
  const panel = page.locator('[data-page="knows"] .cove-privacy-panel[data-state="ready"]');
  await panel.waitFor();
  const noticed = await panel.locator('[data-panel="noticed"]').innerText();
  assert.match(noticed, /You've looked at .+, so we show you more like those\./);
  assert.match(noticed, /Your cart holds .+\./);
  const signals = await panel.locator('[data-panel="details"] li').count();
  assert.ok(signals >= 2, `signals ${signals}`);
  await panel.locator('[data-panel="forget-button"]').click();
  await panel.locator('[data-panel="forget-confirm-button"]').click();
  await page.waitForSelector('[data-page="knows"] [data-panel="noticed-nothing"]');
  await page.goto(`${worker.url}/#/knows`);
  await page.waitForSelector('[data-page="knows"] .cove-privacy-panel[data-state="ready"] [data-panel="noticed-nothing"]');
  assert.equal((await page.evaluate(() => window.cove.profile())).profile.items.length, 0);
  assert.deepEqual(errors, []);
  await context.close();
});
