// Native vs Chromium parity on the default bundle: the same events give the
// same segments and the same ranked items from the engine compiled natively
// (`cove-train score`) and compiled to wasm in the browser (the snippet's
// engine). Order must be identical; scores may differ by at most 1e-5
// relative (both builds fix the summation order, so they are expected equal).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startWorker, launchChromium, builtTrainer } from "./support.mjs";
import { freshStateDir, workspaceRoot } from "../../edge-worker/dev/wrangler.mjs";

const NOW = 1_765_000_000;
const TOLERANCE = 1e-5;
let worker;
let browser;
let pointer;
let items;

before(async () => {
  worker = await startWorker({ persistTo: freshStateDir("parity"), logName: "parity-test" });
  browser = await launchChromium();
  pointer = await (await fetch(`${worker.url}/v1/bundles/default.json`)).json();
  items = await (await fetch(`${worker.url}${pointer.catalogue}`)).json();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

/** A shopping history over the catalogue: views, a cart, an order, a search. */
function history(seed) {
  const pick = (i) => items[(seed * 131 + i * 37) % items.length];
  const events = [];
  let at = NOW - 40 * 86_400;
  for (let i = 0; i < 6; i++) events.push({ at: (at += 600), kind: { type: "view", item: pick(i).id, price: pick(i).price } });
  events.push({ at: (at += 60), kind: { type: "add_to_cart", item: pick(1).id, quantity: 2, price: pick(1).price } });
  events.push({ at: (at += 60), kind: { type: "purchase", lines: [{ item: pick(1).id, quantity: 2, price: pick(1).price }] } });
  at = NOW - 3 * 86_400;
  for (let i = 6; i < 10; i++) events.push({ at: (at += 300), kind: { type: "view", item: pick(i).id, price: pick(i).price } });
  events.push({ at: (at += 30), kind: { type: "search", query: "heart" } });
  events.push({ at: (at += 30), kind: { type: "add_to_cart", item: pick(8).id, quantity: 1, price: pick(8).price } });
  return events;
}

function native(events) {
  const binary = builtTrainer();
  assert.ok(existsSync(binary), `${binary} is built by cargo xtask build`);
  const file = join(freshStateDir("parity-events"), "events.json");
  writeFileSync(file, JSON.stringify(events));
  const out = execFileSync(binary, [
    "score",
    "--bundle", join(workspaceRoot, "www", "v1", "bundles", pointer.model_id),
    "--events", file,
    "--now", String(NOW),
    "--k", "20",
    "--country", "GB",
  ]);
  return JSON.parse(out.toString("utf8"));
}

async function inBrowser(page, events) {
  return page.evaluate(
    async ({ pointer, events, now }) => {
      const engine = await import("/pkg/engine/cove_engine.js");
      await engine.default();
      const bytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());
      const cove = new engine.CoveEngine();
      cove.loadBundle(await bytes(pointer.manifest), await bytes(pointer.tensors));
      for (const event of events) cove.track(JSON.stringify(event));
      return {
        segments: cove.segments(now),
        ranking: cove.recommend(JSON.stringify({ k: 20, now, country: "GB" })),
      };
    },
    { pointer, events, now: NOW },
  );
}

test("the same events give the same segments and ranking natively and in Chromium", async () => {
  const page = await browser.newPage();
  await page.goto(`${worker.url}/favicon.svg`);
  for (const seed of [1, 2, 3]) {
    const events = history(seed);
    const nativeAnswer = native(events);
    const browserAnswer = await inBrowser(page, events);
    assert.deepEqual(
      browserAnswer.ranking.items.map((i) => i.item),
      nativeAnswer.ranking.items.map((i) => i.item),
      `ranking order, seed ${seed}`,
    );
    browserAnswer.ranking.items.forEach((item, i) => {
      const want = nativeAnswer.ranking.items[i].score;
      assert.ok(Math.abs(item.score - want) <= TOLERANCE * Math.max(1, Math.abs(want)), `score ${item.score} vs ${want}`);
      assert.deepEqual(item.reason, nativeAnswer.ranking.items[i].reason);
    });
    const names = (s) => [s.lifecycle?.name, s.price_tier?.name, s.taste_cluster?.name, s.loyalty_tier?.name];
    assert.deepEqual(names(browserAnswer.segments), names(nativeAnswer.segments), `segments, seed ${seed}`);
    assert.ok(Math.abs(browserAnswer.segments.propensity.probability - nativeAnswer.segments.propensity.probability) <= 1e-9);
  }
  await page.close();
});

/** The native answer of `/v1/recommend` for `body` (the worker's own code, compiled natively). */
function nativeRecommend(body, now) {
  const binary = join(workspaceRoot, "target", "debug", "examples", "recommend_once");
  assert.ok(existsSync(binary), `${binary} is built by cargo xtask build`);
  const out = execFileSync(binary, [join(workspaceRoot, "www", "v1", "bundles"), String(now)], { input: body });
  return JSON.parse(out.toString("utf8"));
}

/** A seeded shuffle (xorshift), so a failure names its order. */
function shuffled(list, seed) {
  const out = [...list];
  let state = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

test("/v1/recommend gives one answer in workerd and natively, whatever the order of the items", async () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const profile = [];
    for (let i = 0; profile.length < 12; i++) {
      const item = items[(seed * 211 + i * 53) % items.length];
      if (!profile.some((p) => p.id === item.id)) profile.push({ id: item.id, weight: 1 + ((seed + i) % 5) * 0.75 });
    }
    const answers = [];
    for (const order of [profile, shuffled(profile, seed), shuffled(profile, seed * 7919), [...profile].reverse()]) {
      const body = JSON.stringify({ k: 10, country: "GB", items: order });
      const response = await fetch(`${worker.url}/v1/recommend?shop=demo`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      assert.equal(response.status, 200, await response.clone().text());
      answers.push({ body, answer: await response.json() });
    }
    for (const { answer } of answers.slice(1)) {
      assert.deepEqual(answer, answers[0].answer, `seed ${seed}: a shuffled profile changed the answer`);
    }
    const native = nativeRecommend(answers[1].body, Math.floor(Date.now() / 1000));
    assert.deepEqual(native.items.map((i) => i.id), answers[0].answer.items.map((i) => i.id), `seed ${seed}: native order`);
    native.items.forEach((item, i) => {
      const want = answers[0].answer.items[i].score;
      assert.ok(Math.abs(item.score - want) <= TOLERANCE * Math.max(1, Math.abs(want)), `score ${item.score} vs ${want}`);
    });
  }
});
