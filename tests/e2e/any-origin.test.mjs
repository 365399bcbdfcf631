// Cove on a storefront that is not the worker's origin, as a shop's developer
// adds it: the script tag pointing at the worker from another origin (page
// and Web Worker modes), and the npm package `cove-storefront` built into a
// tiny storefront by Vite and by esbuild (both from the npm registry, as
// the workspace installs them), each run in Chromium against the worker on
// another origin. Also checks what `npm pack` puts in the package.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startWorker, launchChromium } from "./support.mjs";
import { freshStateDir, workspaceRoot } from "../../edge-worker/dev/wrangler.mjs";
import { serveStatic } from "../bench/static-server.mjs";

const tarball = (() => {
  const version = readFileSync(join(workspaceRoot, "Cargo.toml"), "utf8").match(/^version = "([^"]+)"/m)[1];
  return join(workspaceRoot, "target", "npm", `cove-storefront-${version}.tgz`);
})();

let worker;
let browser;
let work;
const servers = [];

before(async () => {
  worker = await startWorker({ persistTo: freshStateDir("any-origin"), logName: "any-origin-test" });
  browser = await launchChromium();
  work = mkdtempSync(join(tmpdir(), "cove-any-origin-"));
});

after(async () => {
  await browser?.close();
  await worker?.stop();
  for (const server of servers) server.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Serves `dir` (and `inline` pages) on a new 127.0.0.1 port: another origin than the worker's. */
async function serveDir(dir, inline = {}) {
  const { server, origin } = await serveStatic({
    // Chromium asks every origin for a favicon.
    inline: { "/favicon.ico": ['<svg xmlns="http://www.w3.org/2000/svg"/>', ".svg"], ...inline },
    fileFor: (path) => join(dir, decodeURIComponent(path === "/" ? "/index.html" : path)),
  });
  servers.push(server);
  assert.notEqual(origin, worker.url);
  return origin;
}

const SLOT = `<div data-cove-slot="home" data-cove-k="8"><template><article><span data-cove-field="title"></span>
<em data-cove-field="reason"></em></article></template><p>Our bestsellers</p></div>`;

/** Opens `url`, waits for `window.outcome` (set by the page) and returns it with the slot's items. */
async function run(url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  await page.goto(url);
  await page.waitForFunction(() => window.outcome !== undefined, null, { timeout: 60_000 });
  const outcome = await page.evaluate(() => window.outcome);
  await page.waitForSelector('[data-cove-slot="home"][data-cove-state="ready"] article', { timeout: 30_000 }).catch(() => {});
  const slot = await page.$$eval('[data-cove-slot="home"] article', (cards) => cards.map((card) => card.dataset.coveItem));
  await context.close();
  return { outcome, slot, errors };
}

/** The answer every storefront must give: the engine's first 8 for GB, from the pointer's starter list. */
async function expectedItems() {
  const pointer = await (await fetch(`${worker.url}/v1/bundles/default.json`)).json();
  return pointer.starter.lists.GB.slice(0, 8).map((entry) => entry.item);
}

test("the script tag on another origin loads the snippet, its wasm and the bundle from the worker", async () => {
  const expected = await expectedItems();
  for (const mode of ["page", "worker"]) {
    const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head><body>${SLOT}
<script>document.addEventListener("cove:ready", async (event) => { window.outcome = { ok: true, items: (await event.detail.cove.recommend({ k: 8 })).map((item) => item.id) }; });
document.addEventListener("cove:error", (event) => { window.outcome = { ok: false, code: event.detail.code, message: event.detail.message }; });</script>
<script src="${worker.url}/cove.js" data-bundle="${worker.url}/v1/bundles/default.json" data-country="GB"${mode === "worker" ? ' data-worker="true"' : ""}></script>
</body></html>`;
    const origin = await serveDir(work, { "/shop.html": [page, ".html"] });
    const { outcome, slot, errors } = await run(`${origin}/shop.html`);
    assert.deepEqual(outcome, { ok: true, items: expected }, `${mode}: ${JSON.stringify(outcome)}`);
    assert.deepEqual(slot, expected, mode);
    assert.deepEqual(errors, [], mode);
  }
});

test("a bundle URL that names no file is told as HTTP 404 on another origin, not as a network error", async () => {
  const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head><body>${SLOT}
<script>document.addEventListener("cove:error", (event) => { window.outcome = { code: event.detail.code, message: event.detail.message }; });</script>
<script src="${worker.url}/cove.js" data-bundle="${worker.url}/v1/bundles/missing.json" data-country="GB"></script>
</body></html>`;
  const origin = await serveDir(work, { "/missing.html": [page, ".html"] });
  const context = await browser.newContext();
  const tab = await context.newPage();
  await tab.goto(`${origin}/missing.html`);
  await tab.waitForFunction(() => window.outcome !== undefined, null, { timeout: 30_000 });
  const outcome = await tab.evaluate(() => window.outcome);
  assert.equal(outcome.code, "bundle_fetch");
  assert.match(outcome.message, /HTTP 404/);
  assert.equal(await tab.locator("[data-cove-slot]").getAttribute("data-cove-state"), "error");
  assert.match(await tab.locator("[data-cove-slot]").innerText(), /Our bestsellers/);
  await context.close();
});

test("npm pack: the package holds the modules, the types, the four wasm modules, and nothing else", () => {
  const listed = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).trim().split("\n").sort();
  const expected = [
    "LICENSE",
    "README.md",
    "package.json",
    "cove.js",
    "cove.mjs",
    "cove.d.mts",
    "cove/api.mjs",
    "cove/bundle.mjs",
    "cove/core.mjs",
    "cove/errors.mjs",
    "cove/reports.mjs",
    "cove/shards.mjs",
    "cove/slots.mjs",
    "cove/storage.mjs",
    "cove/worker.mjs",
    "pkg/engine/cove_engine.js",
    "pkg/engine/cove_engine_bg.wasm",
    "pkg/engine-shards/cove_engine_shards.js",
    "pkg/engine-shards/cove_engine_shards_bg.wasm",
    "pkg/sentiment/cove_sentiment.js",
    "pkg/sentiment/cove_sentiment_bg.wasm",
    "pkg/reporting/cove_reporting.js",
    "pkg/reporting/cove_reporting_bg.wasm",
  ];
  const optional = ["cove/panel.mjs", "cove/panel.d.mts"];
  const required = listed.filter((file) => !optional.includes(`${file.replace(/^package\//, "")}`));
  assert.deepEqual(required.map((file) => file.replace(/^package\//, "")).sort(), expected.sort());
  // Packed (gzipped tar) it stays under 400 KB: four wasm modules (the
  // storefront's engine, the large-catalogue engine, sentiment, reports) and their glue.
  const size = statSync(tarball).size;
  assert.ok(size < 400 * 1024, `the package is ${size} bytes packed`);
  const manifest = JSON.parse(execFileSync("tar", ["-xzOf", tarball, "package/package.json"], { encoding: "utf8" }));
  assert.equal(manifest.name, "cove-storefront");
  assert.equal(manifest.type, "module");
  assert.deepEqual(manifest.exports["."], { types: "./cove.d.mts", default: "./cove.mjs" });
});

/** A tiny storefront app using the package, installed from the packed tarball. */
function makeApp(name) {
  const app = join(work, name);
  const installed = join(app, "node_modules", "cove-storefront");
  mkdirSync(installed, { recursive: true });
  execFileSync("tar", ["-xzf", tarball, "-C", installed, "--strip-components=1"]);
  writeFileSync(
    join(app, "main.js"),
    `import { Cove } from "cove-storefront";
const params = new URLSearchParams(location.search);
Cove.start({
  bundle: params.get("bundle"),
  country: "GB",
  worker: params.get("worker") === "1",
  assets: params.get("assets") ?? undefined,
}).then(
  async (cove) => { window.outcome = { ok: true, items: (await cove.recommend({ k: 8 })).map((item) => item.id) }; },
  (error) => { window.outcome = { ok: false, name: error.name, code: error.code, message: error.message }; },
);
`,
  );
  writeFileSync(
    join(app, "index.html"),
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head><body>${SLOT}
<script type="module" src="./main.js"></script></body></html>`,
  );
  return app;
}

async function checkApp(origin, query = "") {
  const expected = await expectedItems();
  for (const workerMode of ["0", "1"]) {
    const url = `${origin}/index.html?bundle=${encodeURIComponent(`${worker.url}/v1/bundles/default.json`)}&worker=${workerMode}${query}`;
    const { outcome, slot, errors } = await run(url);
    assert.deepEqual(outcome, { ok: true, items: expected }, `worker=${workerMode}: ${JSON.stringify(outcome)}`);
    assert.deepEqual(slot, expected, `worker=${workerMode}`);
    assert.deepEqual(errors, [], `worker=${workerMode}`);
  }
}

test("a Vite build of a storefront using the package runs, worker mode included", async () => {
  const app = makeApp("vite-app");
  const { build } = await import("vite");
  await build({
    root: app,
    base: "./",
    logLevel: "warn",
    // The engine's worker imports its lazy modules with import(): ES module workers.
    worker: { format: "es" },
    build: { outDir: join(app, "dist"), emptyOutDir: true },
  });
  // The wasm files and the worker were emitted as files, not inlined.
  const emitted = execFileSync("find", [join(app, "dist"), "-type", "f"], { encoding: "utf8" });
  assert.match(emitted, /cove_engine_bg-[^/]*\.wasm/);
  assert.match(emitted, /worker-[^/]*\.js/);
  await checkApp(await serveDir(join(app, "dist")));
});

test("an esbuild build of a storefront using the package runs, with the package's files as `assets`", async () => {
  const app = makeApp("esbuild-app");
  const esbuild = await import("esbuild");
  const dist = join(app, "dist");
  await esbuild.build({
    entryPoints: [join(app, "main.js")],
    bundle: true,
    format: "esm",
    splitting: true,
    outdir: dist,
    logLevel: "warning",
  });
  // esbuild does not emit `new URL(…, import.meta.url)` files: the shop serves the package's.
  for (const folder of ["cove", "pkg"]) {
    cpSync(join(app, "node_modules", "cove-storefront", folder), join(dist, "cove-assets", folder), { recursive: true });
  }
  cpSync(join(app, "index.html"), join(dist, "index.html"));
  await checkApp(await serveDir(dist), `&assets=${encodeURIComponent("/cove-assets/")}`);
});
