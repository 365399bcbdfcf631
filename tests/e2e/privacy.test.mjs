// The privacy audit, in headless Chromium against workerd: every request the
// demo shop makes during a scripted shopping session is recorded, and the test
// fails if anything but the allowed report fields leaves the page — no item id
// in clear, no profile, no event, no cookie, no referrer. Also: with consent
// required no report leaves before consent, and a sent envelope is counted in
// the shop's aggregates exactly once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, launchChromium } from "./support.mjs";
import { freshStateDir } from "../../edge-worker/dev/wrangler.mjs";
import { postEnvelopes } from "../load/report-load.mjs";

let worker;
let browser;
let registry;
let catalogueIds;

before(async () => {
  worker = await startWorker({ persistTo: freshStateDir("privacy"), logName: "privacy-test" });
  browser = await launchChromium();
  registry = await (await fetch(`${worker.url}/v1/config?shop=demo`)).json();
  const pointer = await (await fetch(`${worker.url}/v1/bundles/default.json`)).json();
  const catalogue = await (await fetch(`${worker.url}${pointer.catalogue}`)).json();
  catalogueIds = catalogue.map((item) => item.id);
  // Counts are published from k envelopes on: other devices' reports first,
  // so this test can see its own shopper's envelope counted once.
  await postEnvelopes(worker.url, registry.k_anonymity);
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

/** Records every request a page makes: method, URL, headers and body. */
function recordRequests(page, requests = []) {
  page.on("request", (request) =>
    requests.push({
      method: request.method(),
      url: new URL(request.url()),
      headers: request.headers(),
      body: request.postDataBuffer(),
    }),
  );
  return requests;
}

const STATIC_PATHS = [
  /^\/$/,
  /^\/index\.html$/,
  /^\/demo\.(js|css)$/,
  /^\/favicon\.svg$/,
  /^\/cove\.m?js$/,
  /^\/cove\/[a-z]+\.mjs$/,
  /^\/pkg\/[a-z-]+\/[a-z_]+(_bg)?\.(js|wasm)$/,
  /^\/v1\/bundles\/(default|sentiment)\.json$/,
  /^\/v1\/bundles\/cove-[0-9a-z-]+\/(manifest\.json|tensors\.safetensors|catalogue\.json)$/,
];

/** Checks one report envelope field by field; returns it parsed. */
function checkEnvelope(body) {
  assert.equal(body.length, 1024, "an envelope is exactly 1,024 bytes");
  const text = body.toString("utf8");
  assert.match(text, /^\{.*\} *$/s, "JSON padded with spaces only");
  const envelope = JSON.parse(text);
  assert.deepEqual(Object.keys(envelope).sort(), ["day", "nonce", "reports", "v"]);
  assert.equal(envelope.v, 1);
  assert.equal(envelope.day, Math.floor(Date.now() / 86_400_000));
  assert.match(envelope.nonce, /^[0-9a-f]{32}$/);
  const metrics = new Map(registry.metrics.map((metric) => [metric.name, metric]));
  for (const report of envelope.reports) {
    assert.deepEqual(Object.keys(report).sort(), ["cell", "metric"]);
    assert.ok(metrics.has(report.metric), `unknown metric ${report.metric}`);
    assert.ok(Number.isInteger(report.cell) && report.cell >= 0, `cell ${report.cell}`);
  }
  return { envelope, text };
}

/** Fails on anything that is not a known static file, the registry, or a valid report. */
function audit(requests, visitedIds) {
  const reports = [];
  for (const { method, url, headers, body } of requests) {
    const where = `${method} ${url.pathname}${url.search}`;
    assert.equal(url.origin, worker.url, `${where}: only the shop's own origin`);
    assert.equal(headers.cookie, undefined, `${where}: no cookie`);
    for (const id of visitedIds) {
      assert.ok(!decodeURIComponent(url.href).includes(id), `${where}: item ${id} in clear in the URL`);
    }
    if (method === "GET" && STATIC_PATHS.some((pattern) => pattern.test(url.pathname)) && url.search === "") continue;
    if (method === "GET" && url.pathname === "/v1/config" && url.search === "?shop=demo") continue;
    if (method === "POST" && url.pathname === "/v1/reports" && url.search === "?shop=demo") {
      assert.ok(!headers.referer, `${where}: no referrer (${headers.referer})`);
      const { envelope, text } = checkEnvelope(body);
      for (const id of visitedIds) assert.ok(!text.includes(id), `item ${id} in clear in a report`);
      reports.push(envelope);
      continue;
    }
    assert.fail(`unexpected request: ${where}`);
  }
  return reports;
}

/** Polls `cove.privacy()` until the last report is set; returns the status. */
async function waitForReport(page, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const privacy = await page.evaluate(() => window.cove.privacy());
    if (privacy.lastReport) return privacy;
    if (Date.now() > deadline) assert.fail(`no report sent within ${timeoutMs} ms: ${JSON.stringify(privacy)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function aggregates() {
  const response = await fetch(`${worker.url}/v1/aggregates?shop=demo`, {
    headers: { Origin: worker.url, authorization: `Bearer ${worker.dashboardToken}` },
  });
  assert.equal(response.status, 200);
  return response.json();
}

test("a shopping session on the demo shop sends nothing but randomised reports", async () => {
  const before = await aggregates();
  const context = await browser.newContext();
  const page = await context.newPage();
  const requests = recordRequests(page);
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(`${worker.url}/`);
  await page.waitForSelector('#shop[data-state="ready"]', { timeout: 30_000 });
  await page.waitForSelector('[data-cove-slot="home"][data-cove-state="ready"] article');

  // Browse, add to the cart, search, buy: the session's events stay on the device.
  const hrefs = await page.$$eval(".grid article a", (links) => links.map((a) => a.getAttribute("href")));
  const visited = [];
  for (const href of hrefs.slice(0, 3)) {
    await page.goto(`${worker.url}/${href}`);
    await page.waitForSelector('[data-page="product"] [data-cove-slot="similar"][data-cove-state="ready"] article');
    visited.push(decodeURIComponent(href.split("/").pop()));
  }
  await page.click("[data-add-to-cart]");
  await page.evaluate(async (item) => {
    await window.cove.track({ type: "search", query: "red retrospot" });
    await window.cove.track({ type: "purchase", lines: [{ item, quantity: 1, price: 2.5 }] });
  }, visited[2]);

  // The envelope goes on its own timer, a random 1–5 s after the first
  // activity for the demo shop; wait for it.
  const privacy = await waitForReport(page, 20_000);
  assert.equal(privacy.enabled, true);
  assert.equal(privacy.dailyEpsilon, registry.daily_epsilon);
  assert.ok(privacy.spentToday > 0 && privacy.spentToday <= registry.daily_epsilon, JSON.stringify(privacy));

  const reports = audit(requests, visited);
  assert.equal(reports.length, 1, "one envelope a day");
  // The shopper sees exactly the bytes that left.
  const sentBody = requests.find((r) => r.method === "POST").body.toString("utf8");
  assert.equal(privacy.lastReport.bytes, sentBody);
  // And when it left: the time the edge took it (unix seconds), for the privacy panel.
  const secondsAgo = Date.now() / 1000 - privacy.lastReport.sentAt;
  assert.ok(secondsAgo >= -5 && secondsAgo < 60, `sentAt ${privacy.lastReport.sentAt}`);

  // A second flush the same day sends nothing more.
  await page.evaluate(() => window.cove.flushReports());
  assert.equal(requests.filter((r) => r.method === "POST").length, 1);

  const after = await aggregates();
  assert.equal(after.envelopes, before.envelopes + 1, "counted exactly once");
  assert.deepEqual(errors, []);
  await context.close();
});

test("with consent required, no report leaves the device before consent", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const requests = recordRequests(page);
  await page.route(`${worker.url}/fixture/consent.html`, (route) =>
    route.fulfill({ contentType: "text/html", body: "<!doctype html><title>consent</title><p>consent fixture</p>" }),
  );
  await page.goto(`${worker.url}/fixture/consent.html`);
  const posts = () => requests.filter((r) => r.method === "POST").length;
  await page.evaluate(async () => {
    const { Cove } = await import("/cove.mjs");
    const pointer = await (await fetch("/v1/bundles/default.json")).json();
    window.cove = await Cove.start({ bundle: pointer.manifest, consent: "required", shop: "demo", slots: false });
    const item = (await (await fetch(pointer.catalogue)).json())[0];
    await window.cove.track({ type: "view", item: item.id, price: item.price });
  });
  // Long past the demo shop's largest delay (5 s), still nothing is sent.
  await new Promise((resolve) => setTimeout(resolve, 6_500));
  await page.evaluate(() => window.cove.flushReports());
  assert.equal(posts(), 0, "no report before consent");
  const privacy = await page.evaluate(() => window.cove.privacy());
  assert.equal(privacy.spentToday, 0, "no ε spent before consent");

  await page.evaluate(() => window.cove.grantConsent());
  await waitForReport(page, 10_000);
  assert.equal(posts(), 1);
  await context.close();
});

test("the reporter's module is fetched after the start, and only for a shop with a registry", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const requests = recordRequests(page);
  const warnings = [];
  page.on("console", (message) => message.type() === "warning" && warnings.push(message.text()));
  await page.route(`${worker.url}/fixture/reporter.html`, (route) =>
    route.fulfill({ contentType: "text/html", body: "<!doctype html><title>reporter</title><p>reporter fixture</p>" }),
  );
  await page.goto(`${worker.url}/fixture/reporter.html`);
  const reporterFetches = () => requests.filter((r) => r.url.pathname.startsWith("/pkg/reporting/")).map((r) => r.url.pathname);
  const startOnly = async (shop) =>
    page.evaluate(async (shop) => {
      const { Cove } = await import("/cove.mjs");
      const pointer = await (await fetch("/v1/bundles/default.json")).json();
      window.cove = await Cove.start({ bundle: pointer.manifest, shop, slots: false });
      return (await window.cove.recommend({ k: 3 })).length;
    }, shop);

  // A shop the edge does not know: reports are off, and the module never comes.
  assert.equal(await startOnly("nope"), 3);
  const off = await page.evaluate(() => window.cove.privacy());
  assert.equal(off.enabled, false);
  assert.deepEqual(reporterFetches(), []);
  assert.ok(warnings.some((text) => text.includes("privacy reports are off")), warnings.join("\n"));

  // The demo shop (one Cove per page: a page of its own): recommendations
  // are there at once, the module follows.
  const before = requests.length;
  const second = await context.newPage();
  recordRequests(second, requests);
  await second.goto(`${worker.url}/fixture/reporter.html`);
  const startOnlyOn = (tab, shop) =>
    tab.evaluate(async (shop) => {
      const { Cove } = await import("/cove.mjs");
      const pointer = await (await fetch("/v1/bundles/default.json")).json();
      window.cove = await Cove.start({ bundle: pointer.manifest, shop, slots: false });
      return (await window.cove.recommend({ k: 3 })).length;
    }, shop);
  assert.equal(await startOnlyOn(second, "demo"), 3);
  const on = await second.evaluate(() => window.cove.privacy());
  assert.equal(on.enabled, true);
  assert.equal(on.dailyEpsilon, registry.daily_epsilon);
  assert.deepEqual(reporterFetches().sort(), ["/pkg/reporting/cove_reporting.js", "/pkg/reporting/cove_reporting_bg.wasm"]);
  const order = requests.slice(before).map((r) => r.url.pathname);
  assert.ok(
    order.indexOf("/v1/config") < order.indexOf("/pkg/reporting/cove_reporting_bg.wasm"),
    `the registry is read before the module is fetched: ${order.join(", ")}`,
  );
  await context.close();
});

test("a reporter module that does not load turns reports off and loses nothing else", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  const warnings = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => message.type() === "warning" && warnings.push(message.text()));
  await page.route(`${worker.url}/fixture/broken-reporter.html`, (route) =>
    route.fulfill({ contentType: "text/html", body: "<!doctype html><title>broken reporter</title><p>fixture</p>" }),
  );
  // Not a wasm module: the first bytes are not "\0asm".
  await page.route(`${worker.url}/pkg/reporting/cove_reporting_bg.wasm`, (route) =>
    route.fulfill({ contentType: "application/wasm", body: Buffer.from("this is not wasm") }),
  );
  await page.goto(`${worker.url}/fixture/broken-reporter.html`);
  const result = await page.evaluate(async () => {
    const { Cove } = await import("/cove.mjs");
    const pointer = await (await fetch("/v1/bundles/default.json")).json();
    const item = (await (await fetch(pointer.catalogue)).json())[0];
    window.cove = await Cove.start({ bundle: pointer.manifest, shop: "demo", slots: false });
    await window.cove.track({ type: "view", item: item.id, price: item.price });
    return {
      recommended: (await window.cove.recommend({ k: 4 })).length,
      privacy: await window.cove.privacy(),
      campaign: await window.cove.campaign("rescue-cart"),
      flushed: await window.cove.flushReports(),
      events: (await window.cove.profile()).events.length,
    };
  });
  assert.equal(result.recommended, 4);
  assert.equal(result.privacy.enabled, false);
  assert.deepEqual(result.campaign, { variant: 1, reporting: false });
  assert.equal(result.flushed.lastReport, null);
  assert.equal(result.events, 1);
  assert.ok(warnings.some((text) => text.includes("the reporter module did not load")), warnings.join("\n"));
  assert.deepEqual(errors, []);
  await context.close();
});

test("the registry is public, cacheable and refuses unknown shops", async () => {
  const response = await fetch(`${worker.url}/v1/config?shop=demo`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("cache-control"), /max-age=\d+/);
  const body = await response.json();
  assert.equal(body.shop, "demo");
  assert.ok(body.metrics.some((metric) => metric.name === "item.interest"));
  // Domains come from the bundle: the whole catalogue plus "none yet".
  const interest = body.metrics.find((metric) => metric.name === "item.interest");
  assert.equal(interest.mechanism.domain, catalogueIds.length + 1);
  const unknown = await fetch(`${worker.url}/v1/config?shop=nope`);
  assert.equal(unknown.status, 404);
  assert.equal((await unknown.json()).code, "not_found");
});

test("a review form's text stays on the device; only a randomised sentiment cell is reported", async () => {
  const pointer = await (await fetch(`${worker.url}/v1/bundles/sentiment.json`)).json();
  const item = catalogueIds[7];
  const text = "Terrible quality, it fell apart after one wash and the seams ripped";
  const context = await browser.newContext();
  const page = await context.newPage();
  const requests = recordRequests(page);
  await page.route(`${worker.url}/fixture/review.html`, (route) =>
    route.fulfill({
      contentType: "text/html",
      body: `<!doctype html><title>review</title>
        <form data-cove-review="${item}" action="#" onsubmit="return false">
          <select name="stars"><option value="1" selected>1</option><option value="5">5</option></select>
          <input name="title" value="Disappointed">
          <textarea name="text">${text}</textarea>
          <button type="submit">Send</button>
        </form>`,
    }),
  );
  await page.goto(`${worker.url}/fixture/review.html`);
  await page.evaluate(async (sentiment) => {
    const { Cove } = await import("/cove.mjs");
    const main = await (await fetch("/v1/bundles/default.json")).json();
    window.cove = await Cove.start({ bundle: main.manifest, sentiment, shop: "demo" });
  }, pointer.three_class.manifest);
  await page.click("button[type=submit]");
  const privacy = await waitForReport(page, 15_000);
  const { envelope, text: sent } = checkEnvelope(Buffer.from(privacy.lastReport.bytes));
  assert.ok(
    envelope.reports.some((report) => report.metric === "review.sentiment"),
    `the review is reported: ${sent.trim()}`,
  );
  for (const { url, body } of requests) {
    const leaked = [text, "Disappointed", "fell apart", item].filter(
      (secret) => decodeURIComponent(url.href).includes(secret) || (body && body.toString("utf8").includes(secret)),
    );
    assert.deepEqual(leaked, [], `${url.pathname} carries the review in clear`);
  }
  // The rating went into the on-device profile, not the text.
  const profile = await page.evaluate(() => window.cove.profile());
  assert.ok(profile.events.some((event) => event.kind.type === "rating" && event.kind.item === item));
  assert.ok(!JSON.stringify(profile).includes("fell apart"), "the review text is not stored");
  await context.close();
});
