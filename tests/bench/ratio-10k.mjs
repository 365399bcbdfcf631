// The 10k ranking's wasm ÷ native time ratio, side by side in one run: the
// native criterion bench binary in its side-by-side mode (COVE_SIDE_BY_SIDE=1,
// engine/benches/storefront.rs) and the engine's wasm build (www/pkg/engine,
// built with SIMD128, the module the browser loads) in V8 time the same call
// in alternating rounds, so a load spike on the shared machine falls on one
// round of each rather than on a whole side. The same call: the synthetic
// bundle of 10,000 items (d = 64, int8) the native side writes to
// target/bench/synthetic-10k, a profile of 8 views, recommend k = 20 (the wasm
// side through the JavaScript API, request as JSON text, ranking back as a JS
// object).
//
// A round is the median of 15 batches of 50 calls, on each side; the sides
// take turns going first. Prints JSON: the median and quartiles of the
// per-round ratios, and each side's median round, in nanoseconds per call.
// Run: node tests/bench/ratio-10k.mjs [ROUNDS] [ENGINE_DIR]   (after `cargo xtask
// build`; ENGINE_DIR holds another build's cove_engine.js and
// cove_engine_bg.wasm, default www/pkg/engine)
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { NOW, engineWithViews } from "./wasm-workload.mjs";

const ROUNDS = Number(process.argv[2] ?? 21);
const CALLS = 50; // per batch, as the native side (ROUND_CALLS)
const BATCHES = 15; // per round (ROUND_BATCHES)
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const engineDir = resolve(process.argv[3] ?? join(root, "www", "pkg", "engine"));
const { initSync, CoveEngine } = await import(pathToFileURL(join(engineDir, "cove_engine.js")).href);

const native = spawn(
  process.env.CARGO ?? "cargo",
  ["bench", "--quiet", "--package", "cove-engine", "--features", "test-fixtures", "--bench", "storefront"],
  { cwd: root, env: { ...process.env, COVE_SIDE_BY_SIDE: "1" }, stdio: ["pipe", "pipe", "inherit"] },
);
const lines = createInterface({ input: native.stdout })[Symbol.asyncIterator]();
const nextLine = async () => {
  const { value, done } = await lines.next();
  if (done) throw new Error("the native side-by-side bench exited");
  return value;
};
const ready = await nextLine();
if (ready !== "ready") throw new Error(`the native bench said ${JSON.stringify(ready)}, not "ready"`);

// The native side has written the bundle by now.
const tenK = join(root, "target", "bench", "synthetic-10k");
initSync({ module: readFileSync(join(engineDir, "cove_engine_bg.wasm")) });
const engine = engineWithViews(
  CoveEngine,
  readFileSync(join(tenK, "manifest.json")),
  readFileSync(join(tenK, "tensors.safetensors")),
  JSON.parse(readFileSync(join(tenK, "catalogue.json"), "utf8")),
  8,
);
const request = JSON.stringify({ k: 20, now: NOW, country: "GB" });
const call = () => engine.recommend(request);
for (let i = 0; i < 200; i++) call(); // warm-up: tier-up in V8

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const quantile = (values, q) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) * q)];
function wasmRound() {
  const samples = [];
  for (let batch = 0; batch < BATCHES; batch++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) call();
    samples.push(Number(process.hrtime.bigint() - started) / CALLS);
  }
  return median(samples);
}
async function nativeRound() {
  native.stdin.write("round\n");
  return Number(await nextLine());
}

const rounds = [];
for (let round = 0; round < ROUNDS; round++) {
  let nativeNs;
  let wasmNs;
  if (round % 2 === 0) {
    nativeNs = await nativeRound();
    wasmNs = wasmRound();
  } else {
    wasmNs = wasmRound();
    nativeNs = await nativeRound();
  }
  rounds.push({ nativeNs, wasmNs, ratio: wasmNs / nativeNs });
}
native.stdin.end();
engine.free();

const ratios = rounds.map((r) => r.ratio);
console.log(
  JSON.stringify({
    engine: engineDir,
    rounds: ROUNDS,
    ratioMedian: Number(median(ratios).toFixed(3)),
    ratioP25: Number(quantile(ratios, 0.25).toFixed(3)),
    ratioP75: Number(quantile(ratios, 0.75).toFixed(3)),
    nativeNsMedian: Math.round(median(rounds.map((r) => r.nativeNs))),
    wasmNsMedian: Math.round(median(rounds.map((r) => r.wasmNs))),
  }),
);
