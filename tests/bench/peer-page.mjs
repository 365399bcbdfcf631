// Runs in the bench page (tests/bench/browser.mjs): Cove's engine and
// onnxruntime-web side by side in one page, on the same item factors.
import * as ort from "/ort/ort.wasm.min.mjs";
import init, { CoveEngine, topK } from "/pkg/engine/cove_engine.js";

const NOW = 1_700_000_000;

/** Median nanoseconds per call of an async `call`, rounds of `calls` calls after a warm-up. */
async function medianNanoseconds(call, { rounds = 25, calls = 20, warmup = 50 } = {}) {
  for (let i = 0; i < warmup; i++) await call();
  const samples = [];
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    for (let i = 0; i < calls; i++) await call();
    samples.push(((performance.now() - started) * 1e6) / calls);
  }
  samples.sort((a, b) => a - b);
  return Math.round(samples[Math.floor(samples.length / 2)]);
}

/** The f32 item factors of a safetensors file (or the int8 ones times their scales). */
function itemFactors(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const headerLen = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  const data = bytes.subarray(8 + headerLen);
  const slice = (name) => data.slice(...header[name].data_offsets).buffer;
  if (header.item_factors) return { factors: new Float32Array(slice("item_factors")), shape: header.item_factors.shape };
  const q = new Int8Array(slice("item_factors_i8"));
  const scales = new Float32Array(slice("item_scales"));
  const [n, d] = header.item_factors_i8.shape;
  const factors = new Float32Array(n * d);
  for (let i = 0; i < n * d; i++) factors[i] = q[i] * scales[Math.floor(i / d)];
  return { factors, shape: [n, d] };
}

export async function run({ manifestUrl, tensorsUrl, catalogueUrl, onnxUrl, k }) {
  const [manifest, tensors] = await Promise.all(
    [manifestUrl, tensorsUrl].map(async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer())),
  );
  await init();
  const { factors, shape } = itemFactors(tensors);
  const [n, d] = shape;
  // A deterministic shopper vector: the mean of five items' factors.
  const user = new Float32Array(d);
  for (const row of [3, 141, 592, 653, 589].map((r) => r % n)) {
    for (let j = 0; j < d; j++) user[j] += factors[row * d + j] / 5;
  }

  ort.env.wasm.wasmPaths = "/ort/";
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(onnxUrl, { executionProviders: ["wasm"] });
  const feeds = { user: new ort.Tensor("float32", user, [1, d]) };
  const peer = await session.run(feeds);
  const peerTop = Array.from(peer.indices.data, Number);
  const coveTop = topK(user, factors, d, k).map((entry) => entry.index);

  // The part of a cold start spent validating and loading the bundle in wasm,
  // as the snippet loads it: with the tensors' digest, which SRI or Web Crypto
  // has already checked (computed here once, outside the timing).
  const digest = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", tensors)), (byte) =>
    byte.toString(16).padStart(2, "0"),
  ).join("");
  const loadMs = [];
  for (let i = 0; i < 5; i++) {
    const fresh = new CoveEngine();
    const started = performance.now();
    fresh.loadBundle(manifest, tensors, digest);
    loadMs.push(performance.now() - started);
    fresh.free();
  }
  loadMs.sort((a, b) => a - b);

  const engine = new CoveEngine();
  engine.loadBundle(manifest, tensors);
  // The catalogue beside the bundle (schema 3), or, for a site built before
  // it (compared side by side with COVE_SITE), the manifest's items.
  const items = catalogueUrl
    ? await (await fetch(catalogueUrl)).json()
    : JSON.parse(new TextDecoder().decode(manifest)).items;
  for (let i = 0; i < 5; i++) {
    const meta = items[(i * 37) % items.length];
    engine.track(JSON.stringify({ at: NOW - 3600 + i, kind: { type: "view", item: meta.id, price: meta.price } }));
  }
  const request = JSON.stringify({ k, now: NOW, country: "GB" });

  return {
    n,
    d,
    k,
    sameTopK: JSON.stringify(peerTop) === JSON.stringify(coveTop),
    peerTop,
    coveTop,
    crossOriginIsolated: globalThis.crossOriginIsolated,
    coveLoadBundleMsMedian: Number(loadMs[2].toFixed(2)),
    ortRunNs: await medianNanoseconds(() => session.run(feeds)),
    coveTopKNs: await medianNanoseconds(() => topK(user, factors, d, k)),
    coveRecommendNs: await medianNanoseconds(() => engine.recommend(request)),
  };
}
