// First slot on the networks shoppers have: a storefront page (a slot, the
// snippet's script tag with a sentiment bundle, as a shop with reviews has it)
// in Chromium, side by side with the snippet of an earlier commit (default
// 31bb730, before the starter lists and the lazy sentiment), same wasm and
// same bundles, alternating runs.
//
//   node tests/bench/first-slot.mjs [--runs 5] [--before 31bb730] [--no-hints]
//
// Protocol, per run and build:
// - first visit: a fresh browser context (empty caches and storage), viewport
//   390 × 844, Chrome DevTools' "Slow 4G" (562.5 ms latency, 1.44 Mb/s down,
//   675 kb/s up) and 4× CPU throttling through CDP; time from navigation start
//   to the first item in the slot; bytes: the transfer size (gzip, as the
//   server sends it) of every response completed before that moment
//   (Resource Timing), page included;
// - repeat visit: the same context after one product view, no throttling
//   (desktop), reloaded: time to the first item in the slot;
// - personalised answer: on the loaded page (the sentiment model loaded
//   too; first under 4× CPU, then desktop), `track(view)` then
//   `recommend({ k: 8 })`, timed in the page.
// Both builds are served by one local server with gzip; the page gives both
// the same hints (`modulepreload` of the snippet; the newer build also
// preloads the bundle pointer, which the older one cannot take).
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { launchChromium } from "../e2e/support.mjs";
import { workspaceRoot } from "../../edge-worker/dev/wrangler.mjs";
import { serveStatic } from "./static-server.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : fallback;
};
const runs = Number(option("runs", 5));
const beforeCommit = option("before", "31bb730");
// Without the page's hints (`modulepreload`, `preload`): a shop that pasted the tag alone.
const hints = !args.includes("--no-hints");
const site = join(workspaceRoot, "target", "site");
const esbuild = join(workspaceRoot, "node_modules", ".bin", "esbuild");

// The earlier snippet: its sources from git, bundled as its site build did.
const beforeDir = join(workspaceRoot, "target", "bench-first-slot", "before");
rmSync(beforeDir, { recursive: true, force: true });
const sources = join(workspaceRoot, "target", "bench-first-slot", "before-src");
rmSync(sources, { recursive: true, force: true });
for (const file of ["cove.js", "cove.mjs", "cove/core.mjs", "cove/bundle.mjs", "cove/storage.mjs", "cove/slots.mjs", "cove/reports.mjs", "cove/worker.mjs"]) {
  mkdirSync(join(sources, file, ".."), { recursive: true });
  writeFileSync(join(sources, file), execFileSync("git", ["-C", workspaceRoot, "show", `${beforeCommit}:www/${file}`]));
}
mkdirSync(join(sources, "pkg"), { recursive: true });
execFileSync("ln", ["-sfn", join(site, "pkg", "engine"), join(sources, "pkg", "engine")]);
execFileSync(esbuild, [join(sources, "cove.mjs"), "--bundle", "--format=esm", "--minify", "--log-level=warning", `--outfile=${join(beforeDir, "cove.mjs")}`]);
execFileSync(esbuild, [join(sources, "cove.js"), "--minify", "--log-level=warning", `--outfile=${join(beforeDir, "cove.js")}`]);

const pointer = JSON.parse(execFileSync("cat", [join(site, "v1", "bundles", "default.json")], { encoding: "utf8" }));
const sentimentPointer = JSON.parse(execFileSync("cat", [join(site, "v1", "bundles", "sentiment.json")], { encoding: "utf8" }));

const mark = `new MutationObserver(function (_, observer) {
  if (document.querySelector('[data-cove-slot="home"] article')) {
    observer.disconnect();
    var at = performance.now();
    var bytes = performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource"))
      .filter(function (entry) { return entry.responseEnd > 0 && entry.responseEnd <= at; })
      .reduce(function (sum, entry) { return sum + entry.transferSize; }, 0);
    console.debug("first-slot " + at + " " + bytes);
    console.debug("timeline " + JSON.stringify(performance.getEntriesByType("resource").map(function (e) { return [e.name.replace(location.origin, ""), Math.round(e.startTime), Math.round(e.responseStart), Math.round(e.responseEnd)]; })) + " nav " + Math.round(performance.getEntriesByType("navigation")[0].responseEnd) + " dcl " + Math.round(performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd));
  }
}).observe(document.documentElement, { subtree: true, childList: true });`;

// The mark is inline: a script file in the head would cost the page a round trip.
function page(build) {
  const bundle = build === "after" ? "/v1/bundles/default.json" : pointer.manifest;
  const sentiment = build === "after" ? "/v1/bundles/sentiment.json" : sentimentPointer.three_class.manifest;
  const preload = build === "after" && hints ? '<link rel="preload" as="fetch" href="/v1/bundles/default.json" crossorigin>' : "";
  const modulePreload = hints ? `<link rel="modulepreload" href="/${build}/cove.mjs">` : "";
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>A shop</title>${modulePreload}${preload}
<script>${mark}</script></head><body><h1>A shop</h1>
<div data-cove-slot="home" data-cove-k="8"><template><article><a data-cove-href><span data-cove-field="title"></span></a>
<span data-cove-field="price"></span> <small data-cove-field="reason"></small></article></template></div>
<script src="/${build}/cove.js" data-bundle="${bundle}" data-sentiment="${sentiment}" data-country="GB"></script>
</body></html>`;
}

const { server, origin } = await serveStatic({
  gzip: true,
  inline: {
    "/before.html": [page("before"), ".html"],
    "/after.html": [page("after"), ".html"],
    "/favicon.ico": ['<svg xmlns="http://www.w3.org/2000/svg"/>', ".svg"],
  },
  fileFor: (path) => {
    if (path.startsWith("/before/pkg/")) return join(site, path.slice("/before".length));
    if (path.startsWith("/before/")) return join(beforeDir, path.slice("/before/".length));
    if (path.startsWith("/after/")) return join(site, path.slice("/after/".length));
    if (path.startsWith("/v1/bundles/")) return join(site, path);
    return null;
  },
});

const browser = await launchChromium();
const SLOW_4G = { offline: false, latency: 562.5, downloadThroughput: (1.6 * 1e6 * 0.9) / 8, uploadThroughput: (750 * 1e3 * 0.9) / 8 };

function firstSlot(tab) {
  if (process.env.COVE_BENCH_TRACE) tab.on("console", (message) => message.text().startsWith("timeline") && console.error(message.text()));
  if (process.env.COVE_BENCH_TRACE) tab.on("console", (message) => message.text().startsWith("timeline") && console.error(message.text()));
  return tab
    .waitForEvent("console", { predicate: (message) => message.text().startsWith("first-slot "), timeout: 60_000 })
    .then((message) => {
      const [, ms, bytes] = message.text().split(" ");
      return { ms: Number(ms), bytes: Number(bytes) };
    });
}

async function measure(build) {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const tab = await context.newPage();
  const cdp = await context.newCDPSession(tab);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", SLOW_4G);
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: 4 });
  let next = firstSlot(tab);
  await tab.goto(`${origin}/${build}.html`);
  const cold = await next;
  await tab.waitForFunction(() => window.cove !== undefined, null, { timeout: 120_000 });
  // "Once loaded": the sentiment model too, which the newer snippet loads after the start.
  await tab.evaluate(() => window.cove.sentimentClasses());
  const slowAnswer = await personalisedAnswer(tab);
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: 1 });
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  const answer = await personalisedAnswer(tab);
  await tab.waitForTimeout(500);
  next = firstSlot(tab);
  await tab.reload();
  const repeat = await next;
  await context.close();
  return { cold, repeat: repeat.ms, answer, slowAnswer };
}

/** `track` one product view, then `recommend` 8: milliseconds, in the page. */
async function personalisedAnswer(tab) {
  return tab.evaluate(async (item) => {
    const start = performance.now();
    await window.cove.track({ type: "view", item, price: 2.5 });
    await window.cove.recommend({ k: 8 });
    return performance.now() - start;
  }, pointer.starter.lists.GB[3].item);
}

const results = { before: [], after: [] };
for (let run = 0; run < runs; run++) {
  for (const build of run % 2 ? ["after", "before"] : ["before", "after"]) {
    const result = await measure(build);
    results[build].push(result);
    console.error(`run ${run + 1} ${build}: first slot ${result.cold.ms.toFixed(0)} ms, ${result.cold.bytes} B; repeat ${result.repeat.toFixed(0)} ms; answer ${result.answer.toFixed(1)} ms (4× CPU ${result.slowAnswer.toFixed(1)} ms)`);
  }
}
await browser.close();
server.close();

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const row = (name, pick, unit, digits = 0) => {
  const before = median(results.before.map(pick));
  const after = median(results.after.map(pick));
  return `| ${name} | ${before.toFixed(digits)} ${unit} | ${after.toFixed(digits)} ${unit} | ${(after / before).toFixed(2)} |`;
};
const commit = execFileSync("git", ["-C", workspaceRoot, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
console.log(`\nFirst slot${hints ? "" : ", pages without preload hints"}, medians of ${runs} runs each (before = ${beforeCommit}, after = ${commit} + working tree)\n`);
console.log("| measure | before | after | after / before |");
console.log("|---|---|---|---|");
console.log(row("first visit, slow 4G + 4× CPU, 390×844: first slot", (r) => r.cold.ms, "ms"));
console.log(row("  transferred before it (gzip)", (r) => r.cold.bytes / 1024, "KB", 1));
console.log(row("repeat visit, desktop: first slot", (r) => r.repeat, "ms"));
console.log(row("track + recommend once loaded, desktop", (r) => r.answer, "ms", 1));
console.log(row("track + recommend once loaded, 4× CPU", (r) => r.slowAnswer, "ms", 1));
