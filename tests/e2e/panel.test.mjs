// The shopper's privacy panel (www/cove/panel.mjs) in headless Chromium: on the
// demo shop's "what this shop knows" page after a shopper looked at tea items,
// it says so in plain words, keeps every engine word behind a closed Details,
// tells when the report left, and forgets only after a confirmation; on a shop
// page that requires Trusted Types the custom element renders, with a string
// overridden; axe-core finds nothing serious or critical.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startWorker, launchChromium, screenshotsDir } from "./support.mjs";
import { freshStateDir } from "../../edge-worker/dev/wrangler.mjs";
import { seriousViolations } from "./axe.mjs";

let worker;
let browser;
let bundle;
const screenshots = screenshotsDir();

// Words of the engine and its storage that a shopper must not meet outside Details.
const ENGINE_WORDS = ["no_purchase", "cluster=", "cosine", "indexeddb", "typical_price", "day 2", "{"];
// "Today at 14:02" (or "Yesterday at …" when the test runs across midnight).
const SENT = /(Today|Yesterday) at \d{1,2}:\d{2} this browser sent the shop one anonymous, randomised report\./;

before(async () => {
  worker = await startWorker({ persistTo: freshStateDir("panel"), logName: "panel-test" });
  browser = await launchChromium();
  bundle = await (await fetch(`${worker.url}/v1/bundles/default.json`)).json();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

/** Tea items of the bundle's catalogue: teapots, teacups and tea sets. */
async function teaItems() {
  const catalogue = await (await fetch(`${worker.url}${bundle.catalogue}`)).json();
  const tea = catalogue.filter((item) => item.in_stock && /\bTEA ?(SET|CUP|POT)/.test(item.title));
  assert.ok(tea.length >= 4, "the catalogue has tea items");
  return tea.slice(0, 4);
}

async function openDemo(context, hash) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  await page.goto(`${worker.url}/${hash}`);
  await page.waitForSelector('#shop[data-state="ready"]', { timeout: 30_000 });
  return { page, errors };
}

/** Goes to the demo's panel page and waits until the panel has rendered. */
async function openPanel(page) {
  await page.goto(`${worker.url}/#/`);
  await page.waitForSelector('[data-page="home"]');
  await page.goto(`${worker.url}/#/knows`);
  const panel = page.locator('[data-page="knows"] .cove-privacy-panel[data-state="ready"]');
  await panel.waitFor();
  return panel;
}

/** What a shopper reads: the rendered text, which leaves out a closed <details>. */
async function visibleText(panel) {
  assert.equal(await panel.locator('[data-panel="details"]').evaluate((details) => details.open), false);
  return panel.innerText();
}

test("the demo's panel says in plain words what the shop noticed, what was sent and when, and forgets on confirmation", async () => {
  const tea = await teaItems();
  const context = await browser.newContext({ viewport: { width: 1100, height: 1000 } });
  const { page, errors } = await openDemo(context, "#/knows");

  // A newcomer: nothing noticed, nothing sent.
  let panel = page.locator('[data-page="knows"] .cove-privacy-panel[data-state="ready"]');
  await panel.waitFor();
  let text = await visibleText(panel);
  assert.match(text, /Nothing yet: the shop has not noticed anything about you/);
  assert.match(text, /Nothing has been sent yet\./);
  assert.match(text, /Kept only in this browser/);

  // Four tea items viewed: the panel names them, by their titles.
  for (const item of tea) {
    await page.goto(`${worker.url}/#/product/${encodeURIComponent(item.id)}`);
    await page.waitForSelector('[data-page="product"] [data-cove-slot="similar"][data-cove-state="ready"]');
  }
  panel = await openPanel(page);
  text = await visibleText(panel);
  const noticed = await panel.locator('[data-panel="noticed"]').innerText();
  assert.match(noticed, /You've looked at .+ and 1 other item(, mostly from the “.+” range)?, so we show you more like those\./);
  const named = tea.filter((item) => noticed.includes(item.title));
  assert.equal(named.length, 3, `three of the tea titles are named: ${noticed}`);
  assert.match(noticed, /You haven't ordered here yet, so you count as a new visitor\./);
  assert.match(noticed, /You (mostly|tend to) look at .+ items \(around £\d+\.\d\d\)\./);
  for (const word of ENGINE_WORDS) assert.ok(!text.includes(word), `"${word}" is visible outside Details:\n${text}`);
  // The engine's own words are all still there, one click away.
  await panel.locator('[data-panel="details"] summary').click();
  const details = await panel.locator('[data-panel="details"]').innerText();
  for (const word of ["no_purchase", "cosine=", "indexeddb", "typical_price=", bundle.manifest.split("/")[3]]) {
    assert.ok(details.includes(word), `Details show "${word}"`);
  }
  for (const item of tea) assert.ok(details.includes(item.id), `Details list ${item.id}`);
  await panel.locator('[data-panel="details"] summary').click();

  // The day's report is sent (the demo shop's delay is 1–5 s): the panel says when, in words.
  await page.waitForTimeout(5500);
  const privacy = await page.evaluate(() => window.cove.flushReports());
  assert.ok(privacy.lastReport?.sentAt, JSON.stringify(privacy));
  panel = await openPanel(page);
  text = await visibleText(panel);
  assert.match(text, SENT);
  const time = new Intl.DateTimeFormat("en-GB", { hour: "numeric", minute: "2-digit" }).format(new Date(privacy.lastReport.sentAt * 1000));
  assert.ok(text.includes(`at ${time} this browser sent`), `the time ${time} in:\n${text}`);
  assert.match(await panel.locator('[data-panel="report-contents"]').innerText(), /one product you were interested in/);
  // The demo shop's daily allowance (2.5) holds this envelope's three local
  // reports (ε 1 together) with room to spare.
  const used = Math.round((100 * privacy.spentToday) / privacy.dailyEpsilon);
  assert.ok(privacy.spentToday > 0 && privacy.spentToday <= privacy.dailyEpsilon, JSON.stringify(privacy));
  assert.match(text, used >= 100
    ? /Privacy budget: all of today's allowance is used, so nothing more will be sent until tomorrow\./
    : new RegExp(`Privacy budget: ${used}% of today's allowance is used\\.`));
  for (const word of ENGINE_WORDS) assert.ok(!text.includes(word), `"${word}" is visible outside Details:\n${text}`);
  await page.screenshot({ path: join(screenshots, "demo-privacy-panel.png"), fullPage: true });
  assert.deepEqual(await seriousViolations(page), []);

  // Forget, then Cancel: everything is kept, and focus goes back to the button.
  const before = (await page.evaluate(() => window.cove.profile())).profile.items.length;
  assert.equal(before, tea.length);
  await panel.locator('[data-panel="forget-button"]').click();
  const confirm = panel.locator('[data-panel="forget-confirm"]');
  assert.ok(await confirm.isVisible());
  assert.match(await confirm.innerText(), /This cannot be undone\./);
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.panel), "forget-cancel-button");
  assert.deepEqual(await seriousViolations(page), [], "with the confirmation open");
  await panel.locator('[data-panel="forget-cancel-button"]').click();
  assert.ok(!(await confirm.isVisible()));
  assert.equal(await panel.locator('[data-panel="forget-status"]').innerText(), "Nothing was erased.");
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.panel), "forget-button");
  assert.equal((await page.evaluate(() => window.cove.profile())).profile.items.length, before);

  // Forget, then Confirm: the profile is empty and the panel says it is done.
  await panel.locator('[data-panel="forget-button"]').click();
  await panel.locator('[data-panel="forget-confirm-button"]').click();
  await panel.locator('[data-panel="noticed-nothing"]').waitFor();
  assert.equal((await page.evaluate(() => window.cove.profile())).profile.items.length, 0);
  const status = panel.locator('[data-panel="forget-status"]');
  assert.equal(
    await status.innerText(),
    "Done: everything this shop knew about you in this browser has been erased.",
  );
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.panel), "forget-status");
  assert.equal(await status.getAttribute("role"), "status");
  assert.deepEqual(errors, []);
  await context.close();
});

// A shop page under a strict CSP that requires Trusted Types for every DOM
// sink: the snippet and the panel's custom element, with two strings overridden.
const TRUSTED_TYPES_CSP =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; require-trusted-types-for 'script'";
const SHOP_PAGE = `<!doctype html>
<html lang="en-GB">
<head><meta charset="utf-8"><title>A shop's privacy page</title><link rel="icon" href="/favicon.svg" type="image/svg+xml"></head>
<body><main><h1>A shop</h1><cove-privacy-panel></cove-privacy-panel></main>
<script type="module" src="/fixture/panel-page.mjs"></script></body>
</html>`;
const shopScript = (manifest) => `
import { Cove } from "/cove.mjs";
import { definePrivacyPanel } from "/cove/panel.mjs";
const cove = await Cove.start({ bundle: ${JSON.stringify(manifest)}, shop: "demo", slots: false });
window.cove = cove;
definePrivacyPanel(cove, {
  locale: "en-GB",
  strings: {
    title: "Your data at this shop",
    moreItems: { one: "one more thing", other: "{count} more things" },
  },
});
document.body.dataset.started = "yes";
`;

test("the custom element works on a page requiring Trusted Types, with strings overridden", async () => {
  const tea = await teaItems();
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  await page.route(`${worker.url}/fixture/panel.html`, (route) =>
    route.fulfill({ contentType: "text/html", headers: { "Content-Security-Policy": TRUSTED_TYPES_CSP }, body: SHOP_PAGE }),
  );
  await page.route(`${worker.url}/fixture/panel-page.mjs`, (route) =>
    route.fulfill({ contentType: "text/javascript", body: shopScript(bundle.manifest) }),
  );
  await page.goto(`${worker.url}/fixture/panel.html`);
  await page.waitForSelector('body[data-started="yes"]', { timeout: 30_000 });
  const panel = page.locator('cove-privacy-panel .cove-privacy-panel[data-state="ready"]');
  await panel.waitFor();
  // The override replaces the English default; the rest stays English.
  assert.equal(await panel.locator("h2").first().innerText(), "Your data at this shop");
  assert.match(await panel.innerText(), /Nothing yet: the shop has not noticed anything about you/);

  for (const item of tea) {
    await page.evaluate((event) => window.cove.track(event), { type: "view", item: item.id, price: item.price });
  }
  await page.evaluate(() => document.querySelector("cove-privacy-panel").refresh());
  const noticed = await panel.locator('[data-panel="noticed"]').innerText();
  assert.match(noticed, /You've looked at .+ and one more thing(, mostly from the “.+” range)?, so we show you more like those\./);
  const text = await visibleText(panel);
  for (const word of ENGINE_WORDS) assert.ok(!text.includes(word), `"${word}" is visible outside Details:\n${text}`);
  assert.deepEqual(await seriousViolations(page), []);
  assert.deepEqual(errors, []);
  // And the policy was enforced all along: an HTML sink without a Trusted Type throws.
  assert.equal(
    await page.evaluate(() => {
      try {
        document.createElement("div").innerHTML = "<b>x</b>";
        return "allowed";
      } catch (error) {
        return error.name;
      }
    }),
    "TypeError",
  );
  await context.close();
});
