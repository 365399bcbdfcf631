// The snippet's cold start for several built sites side by side, in one
// headless Chromium: each site is served from its own 127.0.0.1 port and
// opened in its own tab, and the tabs' reloads alternate (the order reversed
// every round), so machine load falls on every site alike. A cold start is
// the time from the snippet's <script> tag to the first rendered slot on a
// repeat visit (scripts and wasm in the HTTP cache, the bundle in the Cache
// API), on the page tests/bench/browser.mjs measures (cold-page.mjs).
//
// Prints one JSON object: for each site, the median and quartiles of its
// cold starts in milliseconds.
// Run: node tests/bench/cold-start-ab.mjs [--rounds N] SITE_DIR...
//   e.g. a site from an older commit (its `target/site`, copied) against
//   this one's: node tests/bench/cold-start-ab.mjs /tmp/site-old target/site
import { readFileSync } from "node:fs";
import { join, normalize, resolve } from "node:path";
import { launchChromium } from "../e2e/support.mjs";
import { coldStartFiles, nextColdStart, reloadColdStart } from "./cold-page.mjs";
import { serveStatic } from "./static-server.mjs";

const args = process.argv.slice(2);
const roundsAt = args.indexOf("--rounds");
const ROUNDS = roundsAt >= 0 ? Number(args.splice(roundsAt, 2)[1]) : 30;
const sites = args.map((dir) => resolve(dir));
if (sites.length === 0 || !(ROUNDS > 0)) {
  console.error("usage: node tests/bench/cold-start-ab.mjs [--rounds N] SITE_DIR...");
  process.exit(2);
}

/** Serves one built site with the cold-start page. */
function serve(www) {
  const pointer = JSON.parse(readFileSync(join(www, "v1", "bundles", "default.json"), "utf8"));
  return serveStatic({
    inline: coldStartFiles(pointer.manifest),
    fileFor: (pathname) => {
      const file = join(www, normalize(pathname));
      return file.startsWith(www) ? file : null;
    },
    headers: { "cache-control": "public, max-age=3600" },
  });
}

const servers = await Promise.all(sites.map(serve));
const browser = await launchChromium();
try {
  const context = await browser.newContext();
  const tabs = [];
  for (const [i, { origin }] of servers.entries()) {
    const page = await context.newPage();
    page.on("pageerror", (error) => console.error(`${sites[i]}: page error:`, String(error)));
    // The first visit fills the caches; the reloads are the measured repeat visits.
    const first = nextColdStart(page);
    await page.goto(`${origin}/bench/cold.html`);
    await first;
    tabs.push({ site: sites[i], page, ms: [] });
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const tab of round % 2 === 0 ? tabs : [...tabs].reverse()) {
      await tab.page.bringToFront();
      tab.ms.push(await reloadColdStart(tab.page));
    }
  }
  const quantile = (values, q) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) * q)];
  const result = { rounds: ROUNDS };
  for (const tab of tabs) {
    result[tab.site] = {
      coldStartMsMedian: Number(quantile(tab.ms, 0.5).toFixed(1)),
      p25: Number(quantile(tab.ms, 0.25).toFixed(1)),
      p75: Number(quantile(tab.ms, 0.75).toFixed(1)),
    };
  }
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
  for (const { server } of servers) server.close();
}
