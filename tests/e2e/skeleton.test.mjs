// The walking skeleton end to end: the engine's top-k answers the shared
// fixture inside workerd (POST /v1/score) and inside Chromium (the engine's JS
// bindings called from a page script), with bad inputs answered by JSON 4xx
// errors. The demo shop's pages are tested in demo.test.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, skeletonFixture, checkSkeletonAnswer, launchChromium } from "./support.mjs";
import { freshStateDir } from "../../edge-worker/dev/wrangler.mjs";

let worker;
let browser;

before(async () => {
  worker = await startWorker({ persistTo: freshStateDir("skeleton"), logName: "skeleton-test" });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

const scoreBody = () =>
  JSON.stringify({
    dim: skeletonFixture.dim,
    k: skeletonFixture.k,
    user: skeletonFixture.user,
    items: skeletonFixture.items,
  });

test("the worker ranks the fixture with the engine under workerd", async () => {
  const response = await fetch(`${worker.url}/v1/score`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: scoreBody(),
  });
  assert.equal(response.status, 200);
  const body = await response.json();
  checkSkeletonAnswer(body.items);
});

test("the worker answers bad input with a JSON 4xx", async () => {
  const cases = [
    { name: "bad JSON", body: "{not json", type: "application/json", status: 400, code: "bad_request" },
    { name: "wrong content type", body: scoreBody(), type: "text/plain", status: 415, code: "unsupported_media_type" },
    {
      name: "ragged rows",
      body: JSON.stringify({ dim: 2, k: 1, user: [1, 2], items: [[1, 2], [3]] }),
      type: "application/json",
      status: 422,
      code: "dimension_mismatch",
    },
    {
      name: "wrong user length",
      body: JSON.stringify({ dim: 3, k: 1, user: [1, 2], items: [[1, 2, 3]] }),
      type: "application/json",
      status: 422,
      code: "dimension_mismatch",
    },
    {
      name: "huge body",
      body: JSON.stringify({ pad: "x".repeat(300 * 1024) }),
      type: "application/json",
      status: 413,
      code: "payload_too_large",
    },
  ];
  for (const c of cases) {
    const response = await fetch(`${worker.url}/v1/score`, {
      method: "POST",
      headers: { "content-type": c.type },
      body: c.body,
    });
    assert.equal(response.status, c.status, c.name);
    const body = await response.json();
    assert.equal(body.code, c.code, c.name);
    assert.equal(typeof body.message, "string", c.name);
  }
  const missing = await fetch(`${worker.url}/v1/nothing-here`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).code, "not_found");
});

test("the engine's JS bindings answer the fixture in Chromium", async () => {
  const page = await browser.newPage();
  await page.goto(`${worker.url}/`);
  const ranked = await page.evaluate(async (fixture) => {
    const engine = await import("/pkg/engine/cove_engine.js");
    await engine.default();
    return engine.topK(
      new Float32Array(fixture.user),
      new Float32Array(fixture.items.flat()),
      fixture.dim,
      fixture.k,
    );
  }, skeletonFixture);
  checkSkeletonAnswer(ranked);
  const error = await page.evaluate(async () => {
    const engine = await import("/pkg/engine/cove_engine.js");
    await engine.default();
    try {
      engine.topK(new Float32Array([1, NaN]), new Float32Array([1, 2]), 2, 1);
      return null;
    } catch (e) {
      return { code: e.code, message: e.message };
    }
  });
  assert.equal(error?.code, "non_finite");
  await page.close();
});
