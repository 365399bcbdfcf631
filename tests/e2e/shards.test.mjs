// Issue 24: a large catalogue's device download. The demo shop opened with
// `?bundle=sharded` is the default model published as a shop whose bundle is
// over its download budget publishes it (`cargo xtask build` trains it with a
// 250 KB budget): a head of the items that matter now, and shards of the rest
// by taste. A shopper's device starts on the head, fetches the shards whose
// items' direction is nearest to what they viewed (the engine's policy,
// checked against the head's table digests), and its slots use them; a
// product page of an item outside the head fetches that item's shard (the
// head's item index names it). A shard
// that 404s or fails its hash leaves the head ranking, is reported by
// `cove.shards()`, and is tried again after a back-off.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startWorker, launchChromium, publishedHead, screenshotsDir } from "./support.mjs";
import { freshStateDir } from "../../edge-worker/dev/wrangler.mjs";

// Children's things, a theme of the demo's sessions (demo-sessions.test.mjs):
// four bestsellers, all in the head. (The shards change little of the "for
// you" slot on this shop: its head holds what most tastes come back to. A
// product page of a shard's item is where they show.)
const VIEWED = ["22367", "23256", "22380", "23292"];
const SHARD_FILE = /\/shard-(\d+)\.safetensors$/;
// The code that follows shards, which no first paint carries (issue 25).
const SHARD_CODE = /\/cove\/shards\.mjs$|\/pkg\/engine-shards\//;

let worker;
let browser;
let published;

before(async () => {
  worker = await startWorker({ persistTo: freshStateDir("shards"), logName: "shards-test" });
  browser = await launchChromium();
  published = await publishedHead(worker.url);
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

/** A page of the demo shop on the sharded bundle, its shard requests and a clock the test can move. */
async function openShop(context) {
  const page = await context.newPage();
  const log = { errors: [], shardRequests: [], shardCode: [] };
  page.on("pageerror", (error) => log.errors.push(String(error)));
  page.on("request", (request) => {
    const path = new URL(request.url()).pathname;
    const match = SHARD_FILE.exec(path);
    if (match) log.shardRequests.push(Number(match[1]));
    if (SHARD_CODE.test(path)) log.shardCode.push(path);
  });
  // The back-off of a failed shard is read from Date.now: the test moves it on.
  await page.addInitScript(() => {
    const realNow = Date.now.bind(Date);
    let skew = 0;
    Date.now = () => realNow() + skew;
    window.advanceClock = (ms) => {
      skew += ms;
    };
  });
  await page.goto(`${worker.url}/?bundle=sharded`);
  await page.waitForSelector('#shop[data-state="ready"]', { timeout: 30_000 });
  return { page, log };
}

/** Views the theme's products, one product page after another, as a shopper does. */
async function viewProducts(page) {
  for (const id of VIEWED) {
    await page.goto(`${worker.url}/?bundle=sharded#/product/${encodeURIComponent(id)}`);
    await page.waitForSelector(`[data-page="product"] [data-cove-slot="similar"][data-cove-state="ready"] article`, { timeout: 30_000 });
  }
}

/** A product page's "You may also like" cards (id, reason kind, reason), read in one step. */
async function similarSlot(page, item) {
  await page.goto(`${worker.url}/?bundle=sharded#/product/${encodeURIComponent(item)}`);
  const handle = await page.waitForFunction(
    (item) => {
      const slot = `[data-page="product"] [data-cove-slot="similar"][data-cove-context-item="${item}"][data-cove-state="ready"] article`;
      const cards = [...document.querySelectorAll(slot)];
      return cards.length > 0
        ? cards.map((card) => ({ id: card.dataset.coveItem, kind: card.dataset.coveReason, reason: card.querySelector('[data-cove-field="reason"]')?.textContent }))
        : null;
    },
    item,
    { timeout: 30_000 },
  );
  return handle.jsonValue();
}

/** The ids on the home page's "for you" slot once it is filled, read in one step. */
async function homeSlot(page) {
  const handle = await page.waitForFunction(
    () => {
      const cards = [...document.querySelectorAll('[data-page="home"] [data-cove-slot="home"][data-cove-state="ready"] article')];
      return cards.length > 0 ? cards.map((card) => card.dataset.coveItem) : null;
    },
    null,
    { timeout: 30_000 },
  );
  return handle.jsonValue();
}

test("a shopper on a large shop's head gets the shards of their taste, once, and the slots use them", async () => {
  const { head, shardOf, table, nItems } = published;
  for (const id of VIEWED) assert.ok(head.has(id), `${id} is in the head (a bestseller)`);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page, log } = await openShop(context);

  // A newcomer: the head serves, nothing else is fetched.
  const first = await page.evaluate(() => window.cove.shards());
  assert.equal(first.total, table.length);
  assert.deepEqual(first.loaded, [], "an empty profile wants no shard");
  assert.deepEqual(log.shardRequests, []);
  const newcomer = await homeSlot(page);
  assert.ok(newcomer.length > 0 && newcomer.every((id) => head.has(id)), "the newcomer's list is the head's");
  // The storefront's engine ranks the head: the page has not fetched the
  // code that follows shards (the first paint of every other shop).
  assert.deepEqual(log.shardCode, [], "a newcomer's page loads no shard code");

  await viewProducts(page);
  assert.ok(
    log.shardCode.some((path) => path.endsWith("/cove/shards.mjs")) && log.shardCode.some((path) => path.endsWith("_bg.wasm")),
    `a taste loads the large-catalogue engine: ${log.shardCode}`,
  );
  const status = await page.evaluate(() => window.cove.shards());
  assert.deepEqual(status.failed, []);
  // The head's `shards_per_visit` nearest shards for each state of the
  // taste the fetches saw (one per event at most: how many the fetches see
  // depends on timing).
  const perVisit = published.shardsPerVisit;
  assert.ok(perVisit >= 1 && perVisit < table.length, `a device fetches ${perVisit} of ${table.length} shards`);
  assert.ok(status.loaded.length >= 1 && status.loaded.length <= perVisit * VIEWED.length, `the shards nearest the taste: ${status.loaded}`);
  assert.deepEqual([...log.shardRequests].sort(), [...status.loaded].sort(), `each loaded shard was fetched once, and no other: ${JSON.stringify({ requests: log.shardRequests, status })}`);

  // Home again: the "for you" slot ranks over the head and the loaded shards.
  await page.goto(`${worker.url}/?bundle=sharded#/`);
  const fromShards = await page
    .waitForFunction(
      (loaded) => {
        const cards = [...document.querySelectorAll('[data-page="home"] [data-cove-slot="home"][data-cove-state="ready"] article')];
        return cards.length > 0 ? cards.map((card) => card.dataset.coveItem) : null;
      },
      status.loaded,
      { timeout: 30_000 },
    )
    .then((handle) => handle.jsonValue());
  await page.screenshot({ path: join(screenshotsDir(), "shards-for-you.png"), fullPage: true });
  assert.ok(fromShards.every((id) => head.has(id) || status.loaded.includes(shardOf.get(id))), "only items the device holds");
  const fetched = status.loaded.reduce((sum, index) => sum + table[index].file.byte_len, 0);
  console.log(
    `shards: ${status.loaded.length} of ${table.length} loaded (${fetched} B of shard files; ${head.size} of ${nItems} items in the head)`,
  );

  // A product of a loaded shard: "You may also like" is what is bought with it.
  const product = published.itemsOf[status.loaded[0]][0];
  const similar = await similarSlot(page, product);
  await page.screenshot({ path: join(screenshotsDir(), "shards-item-page.png"), fullPage: true });
  assert.ok(similar.length > 0 && similar.every((card) => card.kind === "similar"), `${product}: ${JSON.stringify(similar)}`);

  // A product of a shard the taste did not want (a shopper arriving from a
  // search engine, say): the head's item index names its shard, the device
  // fetches it, and the slot is rendered again with what goes with it.
  // Settled first: the last page's events may have started a fetch for the taste.
  await page.evaluate(() => window.cove.shards());
  const holding = (await page.evaluate(() => window.cove.shards())).loaded;
  const other = table.findLastIndex((_, index) => !holding.includes(index));
  const outside = published.itemsOf[other][0];
  const before = log.shardRequests.length;
  await page.goto(`${worker.url}/?bundle=sharded#/product/${encodeURIComponent(outside)}`);
  await page.waitForFunction(
    (item) => {
      const slot = `[data-page="product"] [data-cove-slot="similar"][data-cove-context-item="${item}"][data-cove-state="ready"] article`;
      const cards = [...document.querySelectorAll(slot)];
      return cards.length > 0 && cards.every((card) => card.dataset.coveReason === "similar");
    },
    outside,
    { timeout: 30_000 },
  );
  assert.deepEqual(log.shardRequests.slice(before), [other], `the item's shard, and only it, was fetched (${JSON.stringify({ holding, other, requests: log.shardRequests })})`);
  const held = (await page.evaluate(() => window.cove.shards())).loaded;
  assert.ok(held.includes(other));

  // The next visit: the profile wants the same shards, from the Cache API.
  log.shardRequests.length = 0;
  await page.reload();
  await page.waitForSelector('#shop[data-state="ready"]', { timeout: 30_000 });
  const again = await page.evaluate(() => window.cove.shards());
  assert.ok(again.loaded.length >= 1 && again.loaded.every((index) => held.includes(index)), `a returning shopper has their shards again: ${again.loaded} of ${held}`);
  assert.deepEqual(log.shardRequests, [], "from the cache: no shard crosses the network again");

  // Forgetting drops the shards too: which ones a device holds says what its
  // taste was. (On the home page: a product page fetches its item's shard.)
  await page.goto(`${worker.url}/?bundle=sharded#/`);
  await homeSlot(page);
  await page.evaluate(() => window.cove.forget());
  const forgotten = await page.evaluate(() => window.cove.shards());
  assert.deepEqual(forgotten.loaded, [], "after forget() the head alone ranks");
  assert.equal(forgotten.total, table.length);
  assert.deepEqual(log.errors, []);
  await context.close();
});

test("a shard that 404s or fails its hash leaves the head ranking, says so, and is tried again later", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  let serve = "404";
  await context.route(SHARD_FILE, async (route) => {
    if (serve === "404") return route.fulfill({ status: 404, body: "not here" });
    const response = await route.fetch();
    const body = Buffer.from(await response.body());
    if (serve === "altered") body[body.length - 1] ^= 0xff;
    return route.fulfill({ response, body });
  });
  const { page, log } = await openShop(context);
  await viewProducts(page);

  const missing = await page.evaluate(() => window.cove.shards());
  assert.deepEqual(missing.loaded, []);
  assert.ok(missing.failed.length >= 1, "the wanted shards failed");
  for (const failure of missing.failed) {
    assert.equal(failure.code, "bundle_fetch", failure.message);
    assert.match(failure.message, /HTTP 404/);
  }
  await page.goto(`${worker.url}/?bundle=sharded#/`);
  const headOnly = await homeSlot(page);
  assert.ok(headOnly.length > 0 && headOnly.every((id) => published.head.has(id)), "the head still ranks");
  // Without its shard, a product outside the head gets the shop's bestsellers.
  const outside = published.itemsOf[missing.failed[0].index][0];
  const filler = await similarSlot(page, outside);
  assert.ok(filler.length > 0 && filler.every((card) => card.kind === "filler"), JSON.stringify(filler));

  // Within the back-off nothing is fetched again.
  const requestsBefore = log.shardRequests.length;
  const waiting = await page.evaluate(() => window.cove.shards());
  assert.equal(log.shardRequests.length, requestsBefore, "no retry before the back-off ends");
  assert.equal(waiting.failed.length, missing.failed.length);

  // After it, the shard is tried again; altered bytes are refused by their hash.
  serve = "altered";
  await page.evaluate(() => window.advanceClock(11_000));
  const altered = await page.evaluate(() => window.cove.shards());
  assert.ok(log.shardRequests.length > requestsBefore, "tried again after the back-off");
  assert.deepEqual(altered.loaded, []);
  for (const failure of altered.failed) {
    assert.equal(failure.code, "bundle_integrity", failure.message);
    assert.ok(failure.retryAt - missing.failed[0].retryAt > 11_000, "the back-off doubled");
  }

  // Served right, the next try after the (doubled) back-off loads them.
  serve = "right";
  await page.evaluate(() => window.advanceClock(21_000));
  const healed = await page.evaluate(() => window.cove.shards());
  assert.deepEqual(healed.failed, []);
  assert.ok(healed.loaded.length >= 1, "loaded once served right");
  assert.deepEqual(log.errors, []);
  await context.close();
});

test("a large-catalogue engine that does not load leaves the head ranking, says so, and loads on a later event", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  let refuse = true;
  await context.route(/\/pkg\/engine-shards\/[^/]*\.wasm$/, (route) => (refuse ? route.fulfill({ status: 404, body: "not here" }) : route.continue()));
  const { page, log } = await openShop(context);
  await viewProducts(page);

  const refused = await page.evaluate(() => window.cove.shards());
  assert.equal(refused.engineError?.code, "wasm_load", JSON.stringify(refused));
  assert.equal(refused.total, published.table.length);
  assert.deepEqual(refused.loaded, []);
  assert.deepEqual(log.shardRequests, [], "no shard is fetched without the engine that adds it");
  await page.goto(`${worker.url}/?bundle=sharded#/`);
  const headOnly = await homeSlot(page);
  assert.ok(headOnly.length > 0 && headOnly.every((id) => published.head.has(id)), "the head still ranks");

  // Served again: the shopper's next event loads it, and the shards follow.
  refuse = false;
  const loaded = await page.evaluate(async (item) => {
    await window.cove.track({ type: "view", item });
    return window.cove.shards();
  }, VIEWED[0]);
  assert.equal(loaded.engineError, undefined, JSON.stringify(loaded));
  assert.ok(loaded.loaded.length >= 1, JSON.stringify(loaded));
  assert.deepEqual(log.errors, []);
  await context.close();
});

test("in a Web Worker too: the large-catalogue engine loads there and fetches the shopper's shards", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.route(`${worker.url}/shop/worker.html`, (route) =>
    route.fulfill({
      contentType: "text/html",
      body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head><body>
<script type="module">
import { Cove } from "/cove.mjs";
window.cove = await Cove.start({ bundle: "/v1/bundles/sharded.json", worker: true, slots: false, country: "GB" });
</script></body></html>`,
    }),
  );
  await page.goto(`${worker.url}/shop/worker.html`);
  await page.waitForFunction(() => window.cove, null, { timeout: 30_000 });
  const status = await page.evaluate(async (viewed) => {
    for (const item of viewed) await window.cove.track({ type: "view", item });
    return window.cove.shards();
  }, VIEWED);
  assert.equal(status.total, published.table.length);
  assert.ok(status.loaded.length >= 1, JSON.stringify(status));
  assert.deepEqual(status.failed, []);
  const ranked = await page.evaluate(() => window.cove.recommend({ k: 8 }));
  assert.equal(ranked.length, 8);
  assert.deepEqual(errors, []);
  await context.close();
});
