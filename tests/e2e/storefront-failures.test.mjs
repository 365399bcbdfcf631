// What a storefront developer and a shopper see when something goes wrong:
// every failure of the snippet's start is a typed CoveError, a `cove:error`
// event, and slots that keep the shop's fallback content; the bundle may be
// named by its pointer; a first visit's slot is filled from the pointer's
// starter list before the engine loads. Headless Chromium against the worker.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, launchChromium } from "./support.mjs";
import { freshStateDir } from "../../edge-worker/dev/wrangler.mjs";

let worker;
let browser;
let pointer;

before(async () => {
  worker = await startWorker({ persistTo: freshStateDir("storefront-failures"), logName: "storefront-failures-test" });
  browser = await launchChromium();
  pointer = await (await fetch(`${worker.url}/v1/bundles/default.json`)).json();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

const FALLBACK = "Our bestsellers are on the shelves below.";

/**
 * A storefront page at /shop/page.html on the worker's origin (served by
 * intercepting that URL), with `tags` (the snippet's script tags), a slot
 * holding the shop's fallback content (and its own template unless
 * `template` is false), and `csp`.
 */
async function openPage(context, { tags, csp, template = true, routes = [] }) {
  const page = await context.newPage();
  const log = { errors: [], warnings: [], events: [] };
  page.on("pageerror", (error) => log.errors.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") log.errors.push(message.text());
    if (message.type() === "warning") log.warnings.push(message.text());
  });
  for (const [pattern, handler] of routes) await page.route(pattern, handler);
  const slotTemplate = template
    ? '<template><article><a data-cove-href><span data-cove-field="title"></span></a> <em data-cove-field="reason"></em></article></template>'
    : "";
  await page.route(`${worker.url}/shop/page.html`, (route) =>
    route.fulfill({
      contentType: "text/html",
      headers: csp ? { "content-security-policy": csp } : {},
      body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head><body>
<div data-cove-slot="home" data-cove-k="8">${slotTemplate}<p class="fallback">${FALLBACK}</p></div>
<script src="/shop/events.js"></script>
${tags}
</body></html>`,
    }),
  );
  // Records the snippet's events before it loads (a plain script, allowed by the CSPs used here).
  await page.route(`${worker.url}/shop/events.js`, (route) =>
    route.fulfill({
      contentType: "text/javascript",
      body: `window.coveEvents = [];
for (const name of ["cove:ready", "cove:error"]) document.addEventListener(name, (event) =>
  window.coveEvents.push({ name, code: event.detail?.code ?? null, message: event.detail?.message ?? null }));`,
    }),
  );
  await page.goto(`${worker.url}/shop/page.html`);
  return { page, log };
}

const tag = (bundle, extra = "") => `<script src="/cove.js" data-bundle="${bundle}" data-country="GB" ${extra}></script>`;

/** Waits for the snippet's outcome: the events dispatched so far, once one is. */
async function outcome(page) {
  await page.waitForFunction(() => window.coveEvents.length > 0, null, { timeout: 30_000 });
  return page.evaluate(() => ({
    events: window.coveEvents,
    state: document.querySelector("[data-cove-slot]").dataset.coveState,
    text: document.querySelector("[data-cove-slot]").textContent.trim(),
  }));
}

async function expectFailure(options, code, { state = "error" } = {}) {
  const context = await browser.newContext();
  const { page, log } = await openPage(context, options);
  const seen = await outcome(page);
  assert.deepEqual(seen.events.map((event) => [event.name, event.code]), [["cove:error", code]], JSON.stringify(seen.events));
  assert.equal(seen.state, state);
  if (state === "error") assert.ok(seen.text.includes(FALLBACK), `the slot lost the shop's fallback: ${seen.text}`);
  // A slot filled from the starter list keeps its items: the model's real list for a first visit.
  else assert.equal(await page.locator('[data-cove-slot="home"] article').count(), 8);
  // The failure is told once, on the console, and is not an uncaught error.
  assert.ok(log.errors.some((line) => line.includes("cove: could not start")), log.errors.join("\n"));
  assert.ok(!log.errors.some((line) => line.includes("Uncaught")), log.errors.join("\n"));
  await context.close();
  return seen.events[0].message;
}

test("the pointer file is a valid bundle URL, and its manifest's integrity is checked", async () => {
  const context = await browser.newContext();
  const { page, log } = await openPage(context, { tags: tag("/v1/bundles/default.json") });
  const seen = await outcome(page);
  assert.deepEqual(seen.events.map((event) => event.name), ["cove:ready"]);
  assert.equal(seen.state, "ready");
  assert.equal(await page.locator('[data-cove-slot="home"] article').count(), 8);
  assert.deepEqual(log.errors, []);
  await context.close();
});

test("a bundle URL that 404s: bundle_fetch, with the status", async () => {
  const message = await expectFailure({ tags: tag("/v1/bundles/nothing-here.json") }, "bundle_fetch");
  assert.match(message, /HTTP 404/);
});

test("a bundle URL that returns HTML: bundle_format, saying what to give instead", async () => {
  const message = await expectFailure({ tags: tag("/index.html") }, "bundle_format");
  assert.match(message, /not JSON.*text\/html.*default\.json/);
});

test("a tensor file whose hash does not match: bundle_integrity", async () => {
  const routes = [
    [
      `${worker.url}/v1/bundles/*/tensors.safetensors`,
      async (route) => {
        const response = await route.fetch();
        const bytes = Buffer.from(await response.body());
        bytes[bytes.length - 1] ^= 0xff;
        await route.fulfill({ response, body: bytes });
      },
    ],
  ];
  const message = await expectFailure({ tags: tag(pointer.manifest), routes }, "bundle_integrity");
  assert.match(message, /does not match its integrity hash/);
});

test("a pointer whose manifest integrity does not match: bundle_integrity", async () => {
  const routes = [
    [
      `${worker.url}/v1/bundles/default.json`,
      async (route) => {
        const body = JSON.parse(await (await route.fetch()).text());
        body.manifest_integrity = `sha256-${Buffer.alloc(32).toString("base64")}`;
        await route.fulfill({ contentType: "application/json", body: JSON.stringify(body) });
      },
    ],
  ];
  await expectFailure({ tags: tag("/v1/bundles/default.json"), routes }, "bundle_integrity", { state: "starter" });
});

test("the engine's wasm served as HTML: wasm_load; served as text/plain it still starts", async () => {
  const asHtml = [[`${worker.url}/pkg/engine/*.wasm`, (route) => route.fulfill({ contentType: "text/html", body: "<h1>Not found</h1>" })]];
  await expectFailure({ tags: tag(pointer.manifest), routes: asHtml }, "wasm_load");

  const asText = [
    [
      `${worker.url}/pkg/engine/*.wasm`,
      async (route) => route.fulfill({ response: await route.fetch(), headers: { "content-type": "text/plain" } }),
    ],
  ];
  const context = await browser.newContext();
  const { page } = await openPage(context, { tags: tag(pointer.manifest), routes: asText });
  assert.deepEqual((await outcome(page)).events.map((event) => event.name), ["cove:ready"]);
  await context.close();
});

test("a Web Worker blocked by the page's CSP: worker_failed, not a start that never settles", async () => {
  const csp = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'none'";
  const message = await expectFailure({ tags: tag(pointer.manifest, 'data-worker="true"'), csp }, "worker_failed");
  assert.match(message, /without \{ worker: true \}/);
});

test("storage blocked entirely: the engine runs with memory only, and says so", async () => {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    Object.defineProperty(window, "indexedDB", { get: () => undefined });
    Object.defineProperty(window, "localStorage", {
      get: () => {
        throw new DOMException("blocked", "SecurityError");
      },
    });
  });
  const { page, log } = await openPage(context, { tags: tag(pointer.manifest) });
  assert.deepEqual((await outcome(page)).events.map((event) => event.name), ["cove:ready"]);
  assert.equal(await page.evaluate(async () => (await window.cove.profile()).storage), "memory");
  assert.ok(log.warnings.some((line) => line.includes("in memory only")), log.warnings.join("\n"));
  await context.close();
});

test("the snippet loaded twice, and Cove.start called twice: one Cove, events counted once", async () => {
  const item = pointer.starter.lists.GB[0].item;
  const context = await browser.newContext();
  const { page } = await openPage(context, {
    tags: `<span data-cove-view="${item}"></span>${tag(pointer.manifest)}${tag(pointer.manifest)}`,
  });
  await outcome(page);
  const seen = await page.evaluate(async (bundle) => {
    const again = await window.Cove.start({ bundle, country: "GB" });
    const other = await window.Cove.start({ bundle: "/v1/bundles/other.json" }).catch((error) => ({ code: error.code, name: error.name }));
    const profile = await window.cove.profile();
    return {
      same: again === window.cove,
      other,
      views: profile.events.filter((event) => event.kind.type === "view").length,
      ready: window.coveEvents.filter((event) => event.name === "cove:ready").length,
    };
  }, pointer.manifest);
  assert.deepEqual(seen, { same: true, other: { code: "already_started", name: "CoveError" }, views: 1, ready: 1 });
  await context.close();
});

test("a slot without its own template renders under Trusted Types", async () => {
  const csp = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; require-trusted-types-for 'script'";
  const context = await browser.newContext();
  const { page, log } = await openPage(context, { tags: tag(pointer.manifest), csp, template: false });
  assert.deepEqual((await outcome(page)).events.map((event) => event.name), ["cove:ready"]);
  assert.equal(await page.locator('[data-cove-slot="home"] article.cove-item').count(), 8);
  assert.deepEqual(log.errors, []);
  await context.close();
});

test("a first visit's slot is filled from the pointer before the engine loads, and the engine agrees", async () => {
  // The engine's wasm is held back until the slot has been seen filled.
  let release;
  const held = new Promise((resolve) => (release = resolve));
  const routes = [
    [
      `${worker.url}/pkg/engine/*.wasm`,
      async (route) => {
        await held;
        await route.continue();
      },
    ],
  ];
  const context = await browser.newContext();
  const { page } = await openPage(context, { tags: tag("/v1/bundles/default.json"), routes });
  await page.waitForSelector('[data-cove-slot="home"][data-cove-state="starter"] article', { timeout: 15_000 });
  const early = await page.$$eval('[data-cove-slot="home"] article', (cards) => cards.map((card) => card.dataset.coveItem));
  assert.equal(await page.evaluate(() => window.cove), undefined, "the engine had already started");
  assert.deepEqual(early, pointer.starter.lists.GB.slice(0, 8).map((entry) => entry.item));
  release();
  await outcome(page);
  const engine = await page.evaluate(async () => (await window.cove.recommend({ k: 8 })).map((item) => item.id));
  assert.deepEqual(engine, early);

  // A returning shopper (a stored profile) is not shown the first visit's list.
  await page.evaluate(async (item) => window.cove.track({ type: "view", item }), early[0]);
  let releaseAgain;
  const heldAgain = new Promise((resolve) => (releaseAgain = resolve));
  const holdWasm = async (route) => {
    await heldAgain;
    await route.continue();
  };
  await page.close();
  const { page: returning } = await openPage(context, {
    tags: tag("/v1/bundles/default.json"),
    routes: [[`${worker.url}/pkg/engine/*.wasm`, holdWasm]],
  });
  await returning.waitForTimeout(1500);
  assert.equal(await returning.locator('[data-cove-slot="home"]').getAttribute("data-cove-state"), "loading");
  releaseAgain();
  assert.deepEqual((await outcome(returning)).events.map((event) => event.name), ["cove:ready"]);
  await context.close();
});
