// What a storefront's cold start pays in the engine's wasm, in V8, on the
// published default bundle: compiling the module (`WebAssembly.compile`) and
// `loadBundle` (manifest parse and validation, tensor sha256, model id,
// dequantisation, the fold-in system), each the median of 15 rounds (the
// module is compiled afresh every round; `loadBundle` runs on one instance,
// whose engine is freed between rounds, as wasm-bindgen initialises once).
// `loadBundle` is timed twice a round: hashing the tensor file in wasm, and
// with the digest the host computed (what the browser's loader passes, since
// Subresource Integrity or Web Crypto has already checked the bytes); a build
// whose `loadBundle` takes two arguments ignores the digest.
//
// Several builds can be measured side by side in one run, interleaved round by
// round so machine load falls on each alike: pass each build's directory
// (holding `cove_engine.js` and `cove_engine_bg.wasm`); the default is
// www/pkg/engine.
//
// COVE_BUNDLE=<model id> measures another published bundle than the default.
// `DIR=<model id>` gives one build its own bundle: an engine of another
// schema refuses the other's bundles (schema 2 kept the items in the manifest,
// schema 3 keeps them in the tensor file), so old and new are compared each on
// the default bundle of its own schema.
//
// Prints JSON: { "<dir>": { "compileMsMedian", "loadBundleMsMedian",
// "loadBundleHostDigestMsMedian", "wasmBytes" }, ... }.
// Run: node tests/bench/load-wasm.mjs [DIR[=MODEL_ID] ...]   (after cargo xtask build)
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROUNDS = 15;
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const bundles = join(root, "www", "v1", "bundles");
const pointer = process.env.COVE_BUNDLE
  ? { model_id: process.env.COVE_BUNDLE }
  : JSON.parse(readFileSync(join(bundles, "default.json"), "utf8"));
function readBundle(modelId) {
  const manifest = readFileSync(join(bundles, modelId, "manifest.json"));
  const tensors = readFileSync(join(bundles, modelId, "tensors.safetensors"));
  const tensorsSha256 = createHash("sha256").update(tensors).digest("hex");
  return { modelId, manifest, tensors, tensorsSha256 };
}

const args = process.argv.length > 2 ? process.argv.slice(2) : [join(root, "www", "pkg", "engine")];
const builds = [];
for (const arg of args) {
  const [dir, modelId = pointer.model_id] = arg.split("=");
  const glue = await import(pathToFileURL(join(resolve(dir), "cove_engine.js")).href);
  const bytes = readFileSync(join(dir, "cove_engine_bg.wasm"));
  builds.push({ dir, glue, bytes, bundle: readBundle(modelId), compile: [], load: [], hostDigest: [] });
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
for (let round = 0; round < ROUNDS; round++) {
  for (const build of builds) {
    let started = performance.now();
    const module = await WebAssembly.compile(build.bytes);
    build.compile.push(performance.now() - started);
    build.glue.initSync({ module });
    const { manifest, tensors, tensorsSha256 } = build.bundle;
    for (const [times, digest] of [[build.load, undefined], [build.hostDigest, tensorsSha256]]) {
      const engine = new build.glue.CoveEngine();
      started = performance.now();
      const modelId = engine.loadBundle(manifest, tensors, digest);
      times.push(performance.now() - started);
      if (modelId !== build.bundle.modelId) throw new Error(`${build.dir} loaded ${modelId}`);
      engine.free();
    }
  }
}
const result = {};
for (const build of builds) {
  result[build.dir] = {
    compileMsMedian: Number(median(build.compile).toFixed(2)),
    loadBundleMsMedian: Number(median(build.load).toFixed(2)),
    loadBundleHostDigestMsMedian: Number(median(build.hostDigest).toFixed(2)),
    wasmBytes: build.bytes.length,
    bundle: build.bundle.modelId,
  };
}
console.log(JSON.stringify(result));
