// The snippet's browser figures in headless Chromium (playwright-core), on the
// published default bundle, served from 127.0.0.1 with HTTP caching:
//
// - cold start: from the snippet's <script> tag to the first rendered slot,
//   on repeat visits (the bundle in the Cache API, the scripts and wasm in
//   the HTTP cache); the median of the reloads;
// - `cove.recommend({ k: 8 })` over the whole catalogue through the public
//   API, after 5 views: median per call;
// - the peer, side by side in one page: onnxruntime-web (npm, wasm backend,
//   one thread) running the same item factors as a MatMul + TopK graph that
//   tests/bench/make_onnx.py writes at bench time (Python `onnx` in the pinned
//   venv target/bench/onnx-venv), against Cove's `topK` binding on the same
//   matrix and Cove's whole `recommend`; and the transfer sizes (gzip -9).
//
// Prints one JSON object. Run: node tests/bench/browser.mjs (after
// `cargo xtask build`), or `cargo xtask bench`, which also sets up the venv.
import { execFileSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join, normalize } from "node:path";
import { gzipSync } from "node:zlib";
import { launchChromium } from "../e2e/support.mjs";
import { coldStartFiles, nextColdStart, reloadColdStart } from "./cold-page.mjs";
import { serveStatic } from "./static-server.mjs";
import { workspaceRoot as root } from "../../edge-worker/dev/wrangler.mjs";

const RELOADS = 15;
const K = 8;
// The published site (www/ with its JavaScript minified, `cargo xtask build`),
// or another built site given as COVE_SITE, to compare builds side by side.
const www = process.env.COVE_SITE ?? join(root, "target", "site");
const ortDist = join(root, "node_modules", "onnxruntime-web", "dist");
const benchDir = join(root, "tests", "bench");
const onnxPath = join(root, "target", "bench", "peer.onnx");
const pointer = JSON.parse(readFileSync(join(www, "v1", "bundles", "default.json"), "utf8"));

// The peer's model, from the bundle's own tensors.
const python = process.env.COVE_ONNX_PYTHON ?? join(root, "target", "bench", "onnx-venv", "bin", "python");
const peerShape = JSON.parse(
  execFileSync(python, [join(benchDir, "make_onnx.py"), join(www, pointer.tensors), onnxPath, String(K)], { encoding: "utf8" }),
);

function fileFor(pathname) {
  if (pathname.startsWith("/ort/")) return join(ortDist, normalize(pathname.slice(5)));
  if (pathname === "/bench/peer-page.mjs") return join(benchDir, "peer-page.mjs");
  if (pathname === "/bench/peer.onnx") return onnxPath;
  return join(www, normalize(pathname));
}

const { server, origin } = await serveStatic({
  inline: { ...coldStartFiles(pointer.manifest), "/bench/peer.html": ["<!doctype html><title>peer</title>", ".html"] },
  fileFor,
  headers: {
    "cache-control": "public, max-age=3600",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-embedder-policy": "require-corp",
  },
});

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const gz = (path) => gzipSync(readFileSync(path), { level: 9 }).length;

const browser = await launchChromium();
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("pageerror", (error) => console.error("page error:", String(error)));
  // First visit fills the caches; the reloads are the measured repeat visits.
  const first = nextColdStart(page);
  await page.goto(`${origin}/bench/cold.html`);
  await first;
  const coldMs = [];
  for (let i = 0; i < RELOADS; i++) coldMs.push(await reloadColdStart(page));

  const recommendNs = await page.evaluate(async (k) => {
    const cove = window.cove;
    const items = (await cove.recommend({ k: 50 })).map((item) => item.id);
    for (const item of items.slice(0, 5)) await cove.track({ type: "view", item, price: 1 });
    const call = () => cove.recommend({ k });
    for (let i = 0; i < 50; i++) await call();
    const samples = [];
    for (let round = 0; round < 25; round++) {
      const started = performance.now();
      for (let i = 0; i < 20; i++) await call();
      samples.push(((performance.now() - started) * 1e6) / 20);
    }
    samples.sort((a, b) => a - b);
    return Math.round(samples[Math.floor(samples.length / 2)]);
  }, K);

  const peerPage = await context.newPage();
  peerPage.on("pageerror", (error) => console.error("peer page error:", String(error)));
  await peerPage.goto(`${origin}/bench/peer.html`);
  const peer = await peerPage.evaluate(
    async (args) => (await import("/bench/peer-page.mjs")).run(args),
    { manifestUrl: pointer.manifest, tensorsUrl: pointer.tensors, catalogueUrl: pointer.catalogue, onnxUrl: "/bench/peer.onnx", k: K },
  );

  const snippetFiles = JSON.parse(readFileSync(join(benchDir, "snippet-files.json"), "utf8"));
  const coveFiles = ["pkg/engine/cove_engine_bg.wasm", ...snippetFiles.javascript];
  const coveGz = coveFiles.reduce((sum, file) => sum + gz(join(www, file)), 0);
  const ortFiles = ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"];
  const ortGz = ortFiles.reduce((sum, file) => sum + gz(join(ortDist, file)), 0);

  console.log(
    JSON.stringify({
      coldStartMsMedian: Number(median(coldMs).toFixed(2)),
      coldStartMs: coldMs.map((ms) => Number(ms.toFixed(2))),
      recommendK8NsMedian: recommendNs,
      peer: { ...peerShape, ...peer },
      sizesGzip: { cove: coveGz, onnxruntimeWeb: ortGz, ratio: Number((ortGz / coveGz).toFixed(1)) },
      onnxModelBytes: statSync(onnxPath).size,
    }),
  );
} finally {
  await browser.close();
  server.close();
}
