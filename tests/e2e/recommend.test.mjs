// POST /v1/recommend under workerd: a minimised profile is scored with the
// default bundle and forgotten; bad inputs get a JSON 4xx.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./support.mjs";
import { freshStateDir } from "../../edge-worker/dev/wrangler.mjs";

let worker;
let items;

before(async () => {
  worker = await startWorker({ persistTo: freshStateDir("recommend"), logName: "recommend-test" });
  const pointer = await (await fetch(`${worker.url}/v1/bundles/default.json`)).json();
  items = await (await fetch(`${worker.url}${pointer.catalogue}`)).json();
});

after(async () => {
  await worker?.stop();
});

const post = (body, type = "application/json", headers = {}) =>
  fetch(`${worker.url}/v1/recommend?shop=demo`, { method: "POST", headers: { "content-type": type, ...headers }, body });

test("a minimised profile gets ranked items with reasons", async () => {
  const profile = items.slice(0, 3).map((item, i) => ({ id: item.id, weight: 3 - i }));
  const response = await post(JSON.stringify({ k: 8, country: "GB", items: profile }));
  assert.equal(response.status, 200);
  const body = await response.json();
  assert.equal(body.personalised, true);
  assert.equal(body.items.length, 8);
  for (const item of body.items) {
    assert.equal(typeof item.title, "string");
    assert.ok(Number.isFinite(item.score));
    assert.equal(typeof item.reason.kind, "string");
  }
  const cold = await (await post(JSON.stringify({ k: 5 }))).json();
  assert.equal(cold.personalised, false);
  assert.equal(cold.items.length, 5);
});

test("bad recommend requests get a JSON 4xx", async () => {
  const id = items[0].id;
  const cases = [
    ["bad JSON", "{", 400, "bad_request"],
    ["unknown field", JSON.stringify({ k: 5, user: "alice" }), 400, "bad_request"],
    ["k zero", JSON.stringify({ k: 0 }), 422, "invalid_parameter"],
    ["k too big", JSON.stringify({ k: 51 }), 422, "invalid_parameter"],
    ["NaN-like weight", JSON.stringify({ k: 5, items: [{ id, weight: -1 }] }), 422, "invalid_parameter"],
    ["too many items", JSON.stringify({ k: 5, items: Array.from({ length: 65 }, () => ({ id, weight: 1 })) }), 422, "invalid_parameter"],
    ["an item twice", JSON.stringify({ k: 5, items: [{ id, weight: 1 }, { id, weight: 2 }] }), 422, "invalid_parameter"],
    ["huge k", JSON.stringify({ k: 268435455 }), 422, "invalid_parameter"],
    ["k beyond u64", JSON.stringify({ k: 1e30 }), 400, "bad_request"],
    ["huge body", JSON.stringify({ k: 5, pad: "x".repeat(20_000) }), 413, "payload_too_large"],
  ];
  for (const [name, body, status, code] of cases) {
    const response = await post(body);
    assert.equal(response.status, status, name);
    assert.equal((await response.json()).code, code, name);
  }
  const wrongType = await post(JSON.stringify({ k: 5 }), "text/plain");
  assert.equal(wrongType.status, 415);
  const wrongMethod = await fetch(`${worker.url}/v1/recommend?shop=demo`);
  assert.equal(wrongMethod.status, 405);
});

test("a listed shop origin reads the answer (CORS on the response, not only the preflight)", async () => {
  const origin = "http://localhost:8787";
  const preflight = await fetch(`${worker.url}/v1/recommend?shop=demo`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
  });
  assert.equal(preflight.status, 204);
  const response = await post(JSON.stringify({ k: 3 }), "application/json", { origin });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("access-control-allow-origin"), origin);
  assert.match(response.headers.get("vary"), /Origin/);
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  const evil = await post(JSON.stringify({ k: 3 }), "application/json", { origin: "https://evil.example" });
  assert.equal(evil.status, 403);
  assert.equal(evil.headers.get("access-control-allow-origin"), null);
});

test("bundles are immutable static assets; their pointers are not; an unknown bundle is a JSON 404", async () => {
  const pointerResponse = await fetch(`${worker.url}/v1/bundles/default.json`);
  // The pointer changes with every published model: never cached for a year.
  assert.doesNotMatch(pointerResponse.headers.get("cache-control") ?? "", /immutable|31536000/);
  assert.match(pointerResponse.headers.get("cache-control") ?? "", /max-age=300/);
  const pointer = await pointerResponse.json();
  const sentimentPointer = await fetch(`${worker.url}/v1/bundles/sentiment.json`);
  assert.doesNotMatch(sentimentPointer.headers.get("cache-control") ?? "", /immutable/);
  const manifest = await fetch(`${worker.url}${pointer.manifest}`);
  assert.equal(manifest.status, 200);
  assert.match(manifest.headers.get("cache-control"), /immutable/);
  assert.ok(manifest.headers.get("etag"));
  const tensors = await fetch(`${worker.url}${pointer.tensors}`);
  assert.match(tensors.headers.get("cache-control"), /immutable/);
  const hidden = await fetch(`${worker.url}/v1/bundles/.fingerprint`);
  assert.equal(hidden.status, 404, "build state is not published");
  const missing = await fetch(`${worker.url}/v1/bundles/cove-0000/manifest.json`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).code, "not_found");
});
