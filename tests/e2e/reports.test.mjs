// Privacy report ingest and aggregates under workerd: strict validation of
// every envelope (a table of malformed inputs), exactly-once counting with
// replay detection, CORS per shop origin, k-anonymity on publication, and
// aggregates that survive a restart of the dev server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startWorker } from "./support.mjs";
import { freshStateDir } from "../../edge-worker/dev/wrangler.mjs";

const ENVELOPE_BYTES = 1024;
const today = () => Math.floor(Date.now() / 86_400_000);
const nonce = () => randomBytes(16).toString("hex");

/** An envelope as the device sends it: JSON padded with spaces to 1024 bytes. */
export function envelope(reports, overrides = {}) {
  const json = JSON.stringify({ v: 1, day: today(), nonce: nonce(), reports, ...overrides });
  return json.padEnd(ENVELOPE_BYTES, " ");
}

let worker;
const persistTo = freshStateDir("reports");

let lifecycleDomain;

before(async () => {
  worker = await startWorker({ persistTo, logName: "reports-test" });
  const registry = await (await fetch(`${worker.url}/v1/config?shop=demo`)).json();
  lifecycleDomain = registry.metrics.find((metric) => metric.name === "segment.lifecycle").mechanism.domain;
});

after(async () => {
  await worker?.stop();
});

async function post(body, { shop = "demo", type = "application/json", headers = {} } = {}) {
  const response = await fetch(`${worker.url}/v1/reports?shop=${shop}`, {
    method: "POST",
    headers: { "content-type": type, ...headers },
    body,
  });
  const json = await response.json();
  return { status: response.status, body: json, headers: response.headers };
}

async function aggregates(shop = "demo") {
  const response = await fetch(`${worker.url}/v1/aggregates?shop=${shop}`);
  assert.equal(response.status, 200);
  return response.json();
}

const metric = (aggregate, name) => aggregate.metrics.find((m) => m.name === name);

test("a valid envelope is counted once; its replay is refused", async () => {
  const body = envelope([{ metric: "segment.lifecycle", cell: 2 }, { metric: "item.interest", cell: 77 }]);
  const first = await post(body);
  assert.equal(first.status, 202, JSON.stringify(first.body));
  assert.equal(first.body.accepted, 2);
  const replay = await post(body);
  assert.equal(replay.status, 409);
  assert.equal(replay.body.code, "duplicate_report");
  const agg = await aggregates();
  assert.equal(agg.envelopes, 1);
  assert.equal(metric(agg, "segment.lifecycle").n_reports, 1);
  assert.equal(metric(agg, "item.interest").n_reports, 1);
});

test("malformed envelopes get a JSON 4xx and count nothing", async () => {
  const before = await aggregates();
  const big = "x".repeat(10_000);
  const cases = [
    ["not JSON", "{oops".padEnd(ENVELOPE_BYTES, " "), 400, "invalid_report"],
    ["too short", JSON.stringify({ v: 1 }), 400, "invalid_report"],
    ["too long", big, 413, "payload_too_large"],
    ["wrong version", envelope([{ metric: "segment.lifecycle", cell: 1 }], { v: 2 }), 400, "invalid_report"],
    ["unknown field", envelope([{ metric: "segment.lifecycle", cell: 1 }], { user: "alice" }), 400, "invalid_report"],
    ["wrong type", envelope([{ metric: "segment.lifecycle", cell: "1" }]), 400, "invalid_report"],
    ["unknown metric", envelope([{ metric: "favourite.colour", cell: 1 }]), 422, "invalid_report"],
    ["cell out of range", envelope([{ metric: "segment.lifecycle", cell: lifecycleDomain }]), 422, "invalid_report"],
    ["negative cell", envelope([{ metric: "segment.lifecycle", cell: -1 }]), 400, "invalid_report"],
    ["metric twice", envelope([{ metric: "segment.lifecycle", cell: 1 }, { metric: "segment.lifecycle", cell: 2 }]), 422, "invalid_report"],
    ["no reports", envelope([]), 422, "invalid_report"],
    ["future day", envelope([{ metric: "segment.lifecycle", cell: 1 }], { day: today() + 1 }), 422, "invalid_report"],
    ["stale day", envelope([{ metric: "segment.lifecycle", cell: 1 }], { day: today() - 3 }), 422, "invalid_report"],
    ["bad nonce", envelope([{ metric: "segment.lifecycle", cell: 1 }], { nonce: "XYZ" }), 422, "invalid_report"],
  ];
  for (const [name, body, status, code] of cases) {
    const result = await post(body);
    assert.equal(result.status, status, `${name}: ${JSON.stringify(result.body)}`);
    assert.equal(result.body.code, code, name);
    assert.equal(typeof result.body.message, "string", name);
  }
  const wrongType = await post(envelope([{ metric: "segment.lifecycle", cell: 1 }]), { type: "text/plain" });
  assert.equal(wrongType.status, 415);
  const unknownShop = await post(envelope([{ metric: "segment.lifecycle", cell: 1 }]), { shop: "nope" });
  assert.equal(unknownShop.status, 404);
  assert.equal(unknownShop.body.code, "not_found");
  const wrongMethod = await fetch(`${worker.url}/v1/reports?shop=demo`, { method: "PUT" });
  assert.equal(wrongMethod.status, 405);
  assert.equal((await wrongMethod.json()).code, "method_not_allowed");
  const after = await aggregates();
  assert.deepEqual(after, before);
});

test("CORS: a listed shop origin may report, another origin may not", async () => {
  const listed = "http://localhost:8787";
  const ok = await post(envelope([{ metric: "segment.price_tier", cell: 0 }]), { headers: { origin: listed } });
  assert.equal(ok.status, 202);
  assert.equal(ok.headers.get("access-control-allow-origin"), listed);
  const evil = await post(envelope([{ metric: "segment.price_tier", cell: 0 }]), {
    headers: { origin: "https://evil.example" },
  });
  assert.equal(evil.status, 403);
  assert.equal(evil.body.code, "forbidden_origin");
  const preflight = await fetch(`${worker.url}/v1/reports?shop=demo`, {
    method: "OPTIONS",
    headers: { origin: listed, "access-control-request-method": "POST" },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), listed);
});

test("k-anonymity: nothing is published below k reports, estimates above it", async () => {
  let agg = await aggregates();
  const k = agg.k_anonymity;
  const lifecycle = metric(agg, "segment.lifecycle");
  assert.equal(lifecycle.published, false);
  assert.deepEqual(lifecycle.values, []);
  // Reports without noise (all cell 4) make the estimate of value 4 large.
  for (let i = 0; i < k; i++) {
    const result = await post(envelope([{ metric: "segment.lifecycle", cell: 4 }]));
    assert.equal(result.status, 202);
  }
  agg = await aggregates();
  const published = metric(agg, "segment.lifecycle");
  assert.equal(published.published, true);
  assert.equal(published.n_reports, k + 1);
  const four = published.values.find((v) => v.value === 4);
  assert.ok(four && four.count > k && four.low < four.count && four.count < four.high, JSON.stringify(four));
  assert.ok(published.suppressed_values >= 1);
});

test("aggregates persist across a restart of the dev server", async () => {
  const beforeRestart = await aggregates();
  await worker.stop();
  worker = await startWorker({ persistTo, logName: "reports-test-restarted" });
  const afterRestart = await aggregates();
  assert.deepEqual(afterRestart, beforeRestart);
});
