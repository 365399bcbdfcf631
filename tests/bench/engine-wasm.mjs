// The snippet's hot call on the engine's wasm build (www/pkg/engine, the module
// the browser loads) in V8, on the published default bundle: a profile built
// from n product views, then recommend for k = 8 — the same calls as the native
// criterion bench `engine/benches/storefront.rs`.
//
// Also the 10k ranking on the synthetic bundle the native bench writes to
// target/bench/synthetic-10k (10,000 items, d = 64, int8): 8 views, then
// recommend for k = 20 (key "ranking_10k").
//
// Prints JSON: { "views_<n>": median nanoseconds per recommend call (batches of
// 50), "p99_views_<n>": the 99th percentile of 2,000 calls timed one by one, ... }.
// Run: node tests/bench/engine-wasm.mjs   (or `cargo xtask bench` for both sides)
import { existsSync, readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { initSync, CoveEngine } from "../../www/pkg/engine/cove_engine.js";
import { NOW, engineWithViews } from "./wasm-workload.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const bundles = join(root, "www", "v1", "bundles");
const pointer = JSON.parse(readFileSync(join(bundles, "default.json"), "utf8"));
const manifestBytes = readFileSync(join(bundles, pointer.model_id, "manifest.json"));
const tensorBytes = readFileSync(join(bundles, pointer.model_id, "tensors.safetensors"));
const items = JSON.parse(readFileSync(join(bundles, pointer.model_id, "catalogue.json"), "utf8"));

initSync({ module: readFileSync(join(root, "www", "pkg", "engine", "cove_engine_bg.wasm")) });


/** The median of 30 rounds of 50 calls of `call`, in nanoseconds per call, after a warm-up. */
function medianNanoseconds(call) {
  for (let i = 0; i < 200; i++) call(); // warm-up: tier-up in V8
  const samples = [];
  for (let round = 0; round < 30; round++) {
    const calls = 50;
    const started = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) call();
    samples.push(Number(process.hrtime.bigint() - started) / calls);
  }
  samples.sort((a, b) => a - b);
  return Math.round(samples[Math.floor(samples.length / 2)]);
}

/** The 99th percentile of 2,000 calls timed one by one, in nanoseconds. */
function p99Nanoseconds(call) {
  const single = [];
  for (let i = 0; i < 2000; i++) {
    const started = process.hrtime.bigint();
    call();
    single.push(Number(process.hrtime.bigint() - started));
  }
  single.sort((a, b) => a - b);
  return single[Math.floor(single.length * 0.99)];
}

const PROFILE_SIZES = [0, 5, 20, 64];
const request = JSON.stringify({ k: 8, now: NOW, country: "GB" });
const results = {};
for (const n of PROFILE_SIZES) {
  const engine = engineWithViews(CoveEngine, manifestBytes, tensorBytes, items, n);
  results[`views_${n}`] = medianNanoseconds(() => engine.recommend(request));
  results[`p99_views_${n}`] = p99Nanoseconds(() => engine.recommend(request));
  engine.free();
}

const tenK = join(root, "target", "bench", "synthetic-10k");
if (existsSync(join(tenK, "catalogue.json"))) {
  const manifest = readFileSync(join(tenK, "manifest.json"));
  const tensors = readFileSync(join(tenK, "tensors.safetensors"));
  const tenKItems = JSON.parse(readFileSync(join(tenK, "catalogue.json"), "utf8"));
  const engine = engineWithViews(CoveEngine, manifest, tensors, tenKItems, 8);
  const tenKRequest = JSON.stringify({ k: 20, now: NOW, country: "GB" });
  results.ranking_10k = medianNanoseconds(() => engine.recommend(tenKRequest));
  engine.free();
}
console.log(JSON.stringify(results));
