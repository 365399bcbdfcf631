// The storefront snippet in headless Chromium, on the published default
// bundle: one script tag under a strict CSP renders the slots, events change
// them, the profile survives a reload, forget() empties every store, a corrupt
// store or cached bundle recovers, the Web Worker mode answers the same, a repeat visit starts
// offline, and no request leaves the page but the snippet's own files and the
// bundle.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startWorker, launchChromium } from "./support.mjs";
import { freshStateDir, workspaceRoot } from "../../edge-worker/dev/wrangler.mjs";

const fixture = readFileSync(join(workspaceRoot, "tests", "fixtures", "storefront.html"), "utf8");
let worker;
let browser;
let bundle;

before(async () => {
  worker = await startWorker({ persistTo: freshStateDir("snippet"), logName: "snippet-test" });
  browser = await launchChromium();
  bundle = await (await fetch(`${worker.url}/v1/bundles/default.json`)).json();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

/** The bundle's catalogue, to pick items the page can act on. */
async function catalogue() {
  return (await fetch(`${worker.url}${bundle.catalogue}`)).json();
}

/**
 * Serves the fixture storefront to `page` at /fixture/storefront.html (by
 * intercepting that one URL), for `item`, with `extra` attributes on the
 * snippet's tag, and the snippet loaded from `snippet`.
 */
function routeStorefront(page, { item, extra = "", snippet = "/cove.js" }) {
  return page.route(`${worker.url}/fixture/storefront.html`, (route) =>
    route.fulfill({
      contentType: "text/html",
      body: fixture
        .replace('src="/cove.js"', `src="${snippet}"`)
        .replace("{{BUNDLE}}", bundle.manifest)
        .replace("{{ITEM}}", item?.id ?? "")
        .replace("{{PRICE}}", String(item?.price ?? 0))
        .replace("{{EXTRA}}", extra),
    }),
  );
}

/**
 * Opens the fixture storefront in `context` at /fixture/storefront.html (served by
 * intercepting that one URL; everything else the page loads comes from the worker).
 */
async function openStorefront(context, { item, extra = "", offline = false } = {}) {
  const page = await context.newPage();
  const log = { requests: [], errors: [], warnings: [] };
  page.on("request", (request) => log.requests.push(new URL(request.url()).pathname));
  page.on("pageerror", (error) => log.errors.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") log.errors.push(message.text());
    if (message.type() === "warning") log.warnings.push(message.text());
  });
  await routeStorefront(page, { item, extra });
  if (offline) await page.route(`${worker.url}/v1/bundles/**`, (route) => route.abort("internetdisconnected"));
  await page.goto(`${worker.url}/fixture/storefront.html`);
  await page.waitForFunction(() => window.cove !== undefined || document.querySelector('[data-cove-state="error"]'), null, {
    timeout: 30_000,
  });
  return { page, log };
}

const slotItems = (page) =>
  page.$$eval('[data-cove-slot="home"] article', (cards) => cards.map((card) => card.dataset.coveItem));

test("one script tag renders the slot, and an add to cart changes it", async () => {
  const items = await catalogue();
  const item = items.find((i) => i.in_stock) ?? items[0];
  const context = await browser.newContext();
  const { page, log } = await openStorefront(context, { item });
  await page.waitForSelector('[data-cove-slot="home"][data-cove-state="ready"] article');
  const first = await slotItems(page);
  assert.equal(first.length, 8);
  const titles = await page.$$eval('[data-cove-field="title"]', (els) => els.map((e) => e.textContent));
  assert.ok(titles.every((t) => t.length > 0));
  await page.click("#add");
  await page.waitForFunction((before) => {
    const now = [...document.querySelectorAll('[data-cove-slot="home"] article')].map((c) => c.dataset.coveItem);
    return now.join() !== before.join();
  }, first);
  const profile = await page.evaluate(() => window.cove.profile());
  assert.ok(profile.profile.cart.some((line) => line.id === item.id));
  assert.equal(profile.storage, "indexeddb");
  assert.deepEqual(log.errors, []);
  await context.close();
});

test("an IndexedDB open that never answers falls back to localStorage within seconds", async () => {
  // Safari has shipped an `indexedDB.open` whose request never fires: the
  // snippet must not wait for it forever.
  const items = await catalogue();
  const context = await browser.newContext();
  await context.addInitScript(() => {
    // A request whose events never fire.
    IDBFactory.prototype.open = function () {
      return {};
    };
  });
  const started = Date.now();
  const { page, log } = await openStorefront(context, { item: items[2] });
  await page.waitForSelector('[data-cove-slot="home"][data-cove-state="ready"] article', { timeout: 30_000 });
  const profile = await page.evaluate(() => window.cove.profile());
  assert.equal(profile.storage, "localstorage");
  assert.ok(Date.now() - started < 20_000);
  assert.ok(log.warnings.some((text) => text.includes("did not open within")), log.warnings.join("\n"));
  await context.close();
});

test("the profile survives a reload, and forget() empties every store", async () => {
  const items = await catalogue();
  const context = await browser.newContext();
  const { page } = await openStorefront(context, { item: items[3] });
  await page.evaluate((id) => window.cove.track({ type: "view", item: id, price: 1.0 }), items[5].id);
  await page.reload();
  await page.waitForFunction(() => window.cove !== undefined);
  const kept = await page.evaluate(() => window.cove.profile());
  assert.ok(kept.profile.items.some((signal) => signal.id === items[5].id));
  // The bounded event log is kept beside the profile, as tracked.
  assert.ok(kept.events.some((event) => event.kind.type === "view" && event.kind.item === items[5].id));
  await page.evaluate(() => localStorage.setItem("cove:v1:probe-from-test", "x"));
  await page.evaluate(() => window.cove.forget());
  const left = await page.evaluate(async () => ({
    databases: (await indexedDB.databases()).map((d) => d.name),
    caches: await caches.keys(),
    local: Object.keys(localStorage).filter((k) => k.startsWith("cove:")),
    profile: (await window.cove.profile()).profile.items.length,
    events: (await window.cove.profile()).events.length,
  }));
  assert.deepEqual(left, { databases: [], caches: [], local: [], profile: 0, events: 0 });
  await context.close();
});

test("a corrupt stored profile is reset with a warning and the page still works", async () => {
  const items = await catalogue();
  const context = await browser.newContext();
  const { page } = await openStorefront(context, { item: items[1] });
  await page.evaluate(async () => {
    const db = await new Promise((resolve, reject) => {
      const request = indexedDB.open("cove", 1);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    await new Promise((resolve, reject) => {
      const tx = db.transaction("records", "readwrite");
      tx.objectStore("records").put(new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]), "profile");
      tx.objectStore("records").put({ not: "an event log" }, "events");
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
    });
    db.close();
  });
  const warnings = [];
  page.on("console", (message) => message.type() === "warning" && warnings.push(message.text()));
  await page.reload();
  await page.waitForSelector('[data-cove-slot="home"][data-cove-state="ready"] article');
  assert.ok(warnings.some((w) => w.includes("stored profile was unreadable")), warnings.join("\n"));
  assert.ok(warnings.some((w) => w.includes("stored events was unreadable")), warnings.join("\n"));
  const profile = await page.evaluate(() => window.cove.profile());
  assert.equal(profile.profile.items.length, 0);
  assert.equal(profile.events.length, 0);
  await context.close();
});

test("a tampered cached bundle is dropped with a warning and fetched again", async () => {
  const items = await catalogue();
  const context = await browser.newContext();
  const { page } = await openStorefront(context, { item: items[3] });
  await page.waitForSelector('[data-cove-slot="home"][data-cove-state="ready"] article');
  const first = await slotItems(page);
  // Flip one byte of the cached tensor file: the Cache API copy no longer
  // matches the sha256 its manifest states.
  const tensorsUrl = new URL(bundle.tensors, worker.url).href;
  await page.evaluate(async (url) => {
    const cache = await caches.open("cove-bundles-v1");
    const bytes = new Uint8Array(await (await cache.match(url)).arrayBuffer());
    bytes[bytes.length - 1] ^= 0xff;
    await cache.put(url, new Response(bytes));
  }, tensorsUrl);
  const warnings = [];
  page.on("console", (message) => message.type() === "warning" && warnings.push(message.text()));
  await page.reload();
  await page.waitForSelector('[data-cove-slot="home"][data-cove-state="ready"] article');
  assert.ok(warnings.some((w) => w.includes("failed its integrity check")), warnings.join("\n"));
  assert.deepEqual(await slotItems(page), first);
  // The copy fetched again replaced the tampered one.
  const cachedSha256 = await page.evaluate(async (url) => {
    const bytes = await (await (await caches.open("cove-bundles-v1")).match(url)).arrayBuffer();
    return [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
  }, tensorsUrl);
  const manifest = await (await fetch(`${worker.url}${bundle.manifest}`)).json();
  assert.equal(cachedSha256, manifest.tensors.sha256);
  await context.close();
});

test("the Web Worker mode answers like the page, and a repeat visit starts offline", async () => {
  const items = await catalogue();
  const context = await browser.newContext();
  const { page } = await openStorefront(context, { item: items[2] });
  const events = items.slice(10, 14).map((i) => ({ type: "view", item: i.id, price: i.price }));
  const onPage = await page.evaluate(async (events) => {
    for (const event of events) await window.cove.track(event);
    return (await window.cove.recommend({ k: 10 })).map((i) => i.id);
  }, events);
  const inWorker = await page.evaluate(async (bundleUrl) => {
    const inWorker = await window.Cove.start({ bundle: bundleUrl, worker: true, slots: false, country: "GB" });
    return (await inWorker.recommend({ k: 10 })).map((i) => i.id);
  }, bundle.manifest);
  // The worker opened the same IndexedDB profile the page saved.
  assert.deepEqual(inWorker, onPage);
  await page.close();
  const { page: offlinePage, log } = await openStorefront(context, { item: items[2], offline: true });
  await offlinePage.waitForSelector('[data-cove-slot="home"][data-cove-state="ready"] article');
  assert.deepEqual(log.errors.filter((e) => !e.includes("net::ERR_INTERNET_DISCONNECTED")), []);
  await context.close();
});

test("the snippet served from a sub-path finds its wasm, worker and sentiment module beside it", async () => {
  // A shop may serve the snippet's files from anywhere, e.g. /static/cove/:
  // every file the snippet loads must resolve from its own URL (the published
  // cove.mjs is a bundle, so only its URL says where it sits).
  const items = await catalogue();
  const sentiment = (await (await fetch(`${worker.url}/v1/bundles/sentiment.json`)).json()).three_class;
  const context = await browser.newContext();
  const page = await context.newPage();
  const prefixed = [];
  await page.route(`${worker.url}/static/cove/**`, async (route) => {
    const url = new URL(route.request().url());
    prefixed.push(url.pathname);
    const response = await route.fetch({ url: `${worker.url}${url.pathname.slice("/static/cove".length)}` });
    await route.fulfill({ response });
  });
  await routeStorefront(page, { item: items[5], extra: `data-sentiment="${sentiment.manifest}"`, snippet: "/static/cove/cove.js" });
  await page.goto(`${worker.url}/fixture/storefront.html`);
  await page.waitForSelector('[data-cove-slot="home"][data-cove-state="ready"] article');
  const onPage = await page.evaluate(async () => ({
    sentiment: (await window.cove.sentiment("I love it, it is wonderful")).class,
    items: (await window.cove.recommend({ k: 5 })).map((item) => item.id),
  }));
  // One Cove per page: the worker mode gets a page of its own.
  const workerPage = await context.newPage();
  await workerPage.route(`${worker.url}/static/cove/**`, async (route) => {
    const url = new URL(route.request().url());
    prefixed.push(url.pathname);
    const response = await route.fetch({ url: `${worker.url}${url.pathname.slice("/static/cove".length)}` });
    await route.fulfill({ response });
  });
  await routeStorefront(workerPage, { item: items[5], extra: 'data-worker="true"', snippet: "/static/cove/cove.js" });
  await workerPage.goto(`${worker.url}/fixture/storefront.html`);
  await workerPage.waitForSelector('[data-cove-slot="home"][data-cove-state="ready"] article');
  const inWorker = await workerPage.evaluate(async () => (await window.cove.recommend({ k: 5 })).map((item) => item.id));
  const answers = { sentiment: onPage.sentiment, onPage: onPage.items, inWorker };
  for (const file of ["/static/cove/cove.mjs", "/static/cove/pkg/engine/cove_engine_bg.wasm", "/static/cove/cove/worker.mjs", "/static/cove/pkg/sentiment/cove_sentiment.js", "/static/cove/pkg/sentiment/cove_sentiment_bg.wasm"]) {
    assert.ok(prefixed.includes(file), `${file} was not loaded from the sub-path: ${prefixed.join(", ")}`);
  }
  await context.close();
});

test("no request leaves the page but the snippet's files and the bundle", async () => {
  const items = await catalogue();
  const context = await browser.newContext();
  const { page, log } = await openStorefront(context, { item: items[4] });
  await page.waitForSelector('[data-cove-slot="home"][data-cove-state="ready"] article');
  await page.click("#add");
  await page.evaluate((id) => window.cove.track({ type: "search", query: "red mug" }), items[4].id);
  await page.waitForTimeout(200);
  const allowed = [
    /^\/fixture\/storefront\.html$/,
    /^\/favicon\.svg$/,
    /^\/cove\.m?js$/,
    /^\/cove\/[a-z]+\.mjs$/,
    /^\/pkg\/engine\/cove_engine(_bg\.wasm|\.js)$/,
    /^\/v1\/bundles\/[A-Za-z0-9-]+\/(manifest\.json|tensors\.safetensors)$/,
  ];
  const unexpected = log.requests.filter((path) => !allowed.some((pattern) => pattern.test(path)));
  assert.deepEqual(unexpected, []);
  await context.close();
});

test("with consent required nothing is stored until it is granted", async () => {
  const items = await catalogue();
  const context = await browser.newContext();
  const { page } = await openStorefront(context, { item: items[6], extra: 'data-consent="required"' });
  await page.waitForSelector('[data-cove-slot="home"][data-cove-state="ready"] article');
  await page.click("#add");
  const before = await page.evaluate(async () => ({
    databases: (await indexedDB.databases()).map((d) => d.name),
    local: Object.keys(localStorage).filter((k) => k.startsWith("cove:")),
    storage: (await window.cove.profile()).storage,
  }));
  assert.deepEqual(before, { databases: [], local: [], storage: "memory" });
  assert.equal(await page.evaluate(() => window.cove.grantConsent()), "indexeddb");
  const after = await page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
  assert.deepEqual(after, ["cove"]);
  await context.close();
});

test("the loader reads the tensors' digest from the manifest", async () => {
  const { tensorDigest } = await import("../../www/cove/bundle.mjs");
  const bytes = new Uint8Array(await (await fetch(`${worker.url}${bundle.manifest}`)).arrayBuffer());
  const manifest = JSON.parse(new TextDecoder().decode(bytes));
  const expected = manifest.tensors.sha256;
  const encode = (value, space) => new TextEncoder().encode(JSON.stringify(value, null, space));
  // The published (pretty) manifest and its compact form.
  assert.equal(tensorDigest(bytes), expected);
  assert.equal(tensorDigest(encode(manifest)), expected);
  // Another "sha256" key, and a string that spells one, are not the tensors'.
  const twice = { extra: { sha256: "0".repeat(64) }, ...manifest };
  assert.equal(tensorDigest(encode(twice, 1)), expected);
  const quoted = structuredClone(manifest);
  quoted.training.source = `"sha256": "${"1".repeat(64)}"`;
  assert.equal(tensorDigest(encode(quoted)), expected);
  // No digest at all, and not JSON.
  const { tensors, ...untensored } = manifest;
  assert.equal(tensorDigest(encode(untensored)), "");
  assert.throws(() => tensorDigest(new TextEncoder().encode("{not json")), { code: "bundle_format", name: "CoveError" });
});
