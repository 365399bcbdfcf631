// Issue 24: privacy reports on a shop that publishes a head bundle and
// shards (the demo's `?bundle=sharded`, the shop `demo-sharded` at the edge,
// whose configuration names the pointer `sharded`). With both aggregators
// under workerd (the shop's edge as leader, a helper with its own storage and
// keys): the edge resolves the shop's registry against the head its pages
// load, so a shopper's device, holding the head and whichever shards its
// visits fetched, sends the day's report; the leader takes it, the leader and
// the helper both prepare its secret-shared reports (the proofs check: the
// leader's batch counts a report only after the helper's answer), and a
// replay is refused. Its item of most interest is a product outside the head,
// which the report counts as "outside the head", whatever shards it holds.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { launchChromium, publishedHead } from "./support.mjs";
import { freshStateDir, startAggregators } from "../../edge-worker/dev/wrangler.mjs";

const SHOP = "demo-sharded";
// A bestseller of the head (demo-sessions.test.mjs's children's theme).
const HEAD_ITEM = "22367";

let leader;
let browser;
let published;

before(async () => {
  leader = await startAggregators({ persistTo: freshStateDir("shard-reports"), logName: "shard-reports-test" });
  browser = await launchChromium();
  published = await publishedHead(leader.url);
});

after(async () => {
  await browser?.close();
  await leader?.stop();
});

async function get(path, headers = {}) {
  const response = await fetch(`${leader.url}${path}`, { headers });
  const json = await response.json();
  assert.equal(response.status, 200, `${path}: ${JSON.stringify(json)}`);
  return json;
}

const mechanism = (registry, name) => registry.metrics.find((metric) => metric.name === name)?.mechanism;

test("the sharded shop's registry is the head's: its items, then none yet and outside the head", async () => {
  const registry = await get(`/v1/config?shop=${SHOP}`);
  assert.equal(registry.model_id, published.pointer.model_id, "the registry is for the head the pages load");
  assert.ok(registry.aggregators, "its reports are secret-shared (two aggregators)");
  assert.deepEqual(mechanism(registry, "item.interest"), { kind: "hadamard", domain: published.headItems + 2 });
  assert.ok(published.headItems < published.nItems);
  // The whole-bundle demo shop is as it was: its model, every item and "none yet".
  const whole = await get("/v1/config?shop=demo");
  const defaultPointer = await get("/v1/bundles/default.json");
  assert.equal(whole.model_id, defaultPointer.model_id);
  assert.equal(mechanism(whole, "item.interest").domain, published.nItems + 1);
});

test("a shopper on the head sends the day's report, both aggregators accept it, and a replay is refused", async () => {
  // The page's clock is yesterday noon: a day the aggregators may collect.
  const day = Math.floor(Date.now() / 86_400_000) - 1;
  const start = day * 86_400_000 + 12 * 3_600_000;
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`pageerror: ${error}`));
  page.on("console", (message) => ["error", "warning"].includes(message.type()) && problems.push(`console: ${message.text()}`));
  try {
    await page.clock.setFixedTime(start);
    await page.goto(`${leader.url}/?bundle=sharded#/`);
    await page.waitForSelector('#shop[data-state="ready"]', { timeout: 30_000 });
    await page.waitForFunction(async () => (await window.cove.privacy()).enabled, null, { timeout: 30_000 });
    // A head product, then one outside the head, viewed three times (its
    // shard comes for its product page): the shopper's item of most interest.
    const outside = published.itemsOf.map((items) => items[0]).find((id) => !published.head.has(id));
    assert.ok(published.head.has(HEAD_ITEM) && outside);
    const open = async (item) => {
      await page.goto(`${leader.url}/?bundle=sharded#/product/${encodeURIComponent(item)}`);
      await page.waitForSelector(`[data-page="product"] [data-cove-slot="similar"][data-cove-context-item="${item}"][data-cove-state="ready"]`, { timeout: 30_000 });
    };
    await open(HEAD_ITEM);
    for (let i = 0; i < 3; i += 1) await open(outside);
    // A review of that product: its category is "outside the head".
    const review = await page.evaluate(
      (item) => window.cove.review({ item, stars: 1, title: "Broken", text: "It arrived broken and nobody answered my emails." }),
      outside,
    );
    assert.equal(review.reported, true, JSON.stringify(review));

    await page.clock.setFixedTime(start + 60_000);
    const privacy = await page.evaluate(() => window.cove.flushReports());
    assert.ok(privacy.lastReport?.sentAt, `the leader took the report: ${JSON.stringify(privacy)}`);
    const body = JSON.parse(privacy.lastReport.bytes);
    assert.equal(body.v, 2);
    assert.equal(body.day, day);
    const envelope = JSON.parse(body.envelope);
    const randomised = envelope.reports.map((report) => report.metric);
    for (const metric of ["item.interest", "review.sentiment"]) assert.ok(randomised.includes(metric), `${metric} in ${randomised}`);
    const shared = body.dap.map((entry) => entry.metric);
    for (const metric of ["segment.lifecycle", "segment.price_tier", "visit.conversion", "rec.click_through"]) {
      assert.ok(shared.includes(metric), `${metric} in ${shared}`);
    }

    // The same bytes again: counted once already.
    const replay = await fetch(`${leader.url}/v1/reports?shop=${SHOP}`, {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": `10.9.${randomBytes(1)[0]}.${randomBytes(1)[0]}` },
      body: privacy.lastReport.bytes,
    });
    assert.equal(replay.status, 409, await replay.text());

    // The day's collection: the leader's batch of every secret-shared metric
    // holds the one report, which it adds only once the helper has prepared
    // it and the proof checked; one device is below k, so nothing is released.
    const aggregates = await get(`/v1/aggregates?shop=${SHOP}&day=${day}`, { authorization: `Bearer ${leader.dashboardToken}` });
    assert.equal(aggregates.aggregation, "secret_shared");
    assert.equal(aggregates.bundle, "/v1/bundles/sharded.json");
    assert.equal(aggregates.report_items, published.headItems);
    for (const name of shared) {
      const metric = aggregates.metrics.find((m) => m.name === name);
      assert.equal(metric.release.status, "below_k", `${name}: ${JSON.stringify(metric.release)}`);
      assert.match(metric.release.reason, /^1 reports, fewer than k/, name);
    }
    assert.equal(aggregates.sentiment.category_names.at(-1), "outside the head");
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("a page on the head whose shop's registry is for another model keeps reports off and sends nothing", async () => {
  // What every `?bundle=sharded` page did before the shop named its pointer:
  // the head's digest against the whole-bundle shop's registry (the model id
  // of default.json). The reporter refuses it, says so, and nothing leaves.
  const context = await browser.newContext();
  const page = await context.newPage();
  const warnings = [];
  const posts = [];
  page.on("console", (message) => message.type() === "warning" && warnings.push(message.text()));
  page.on("request", (request) => request.method() === "POST" && posts.push(request.url()));
  await page.route(`${leader.url}/shop/head.html`, (route) =>
    route.fulfill({
      contentType: "text/html",
      body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head><body>
<script type="module">
import { Cove } from "/cove.mjs";
window.coveReady = Cove.start({ bundle: "/v1/bundles/sharded.json", shop: "demo", country: "GB" }).then((cove) => (window.cove = cove));
</script></body></html>`,
    }),
  );
  try {
    await page.goto(`${leader.url}/shop/head.html`);
    await page.waitForFunction(() => window.coveReady, null, { timeout: 30_000 });
    await page.evaluate(() => window.coveReady);
    await page.evaluate(() => window.cove.track({ type: "view", item: "22367", price: 2.1 }));
    const deadline = Date.now() + 20_000;
    while (!warnings.some((text) => text.includes("privacy reports are off")) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(
      warnings.some((text) => /privacy reports are off: no usable metric registry: .*another model/.test(text)),
      warnings.join("\n"),
    );
    const privacy = await page.evaluate(() => window.cove.flushReports());
    assert.equal(privacy.enabled, false);
    assert.equal(privacy.lastReport, null);
    assert.deepEqual(posts, [], "no report left the page");
  } finally {
    await context.close();
  }
});
