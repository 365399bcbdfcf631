// docs/add-cove-to-your-shop.md, followed end to end: the commands of its
// marked blocks (`<!-- guide:… -->`) are run as written, with its placeholder
// paths and addresses replaced by this run's (a temporary folder, the local
// worker, a storefront on another local origin); the worker block's
// `wrangler dev --assets` is what the test harness starts (with its own ports,
// state folder and secrets). The shop's export is a
// four-month slice of the Online Retail data with its columns renamed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { startWorker, launchChromium } from "./support.mjs";
import { freshStateDir, workspaceRoot } from "../../edge-worker/dev/wrangler.mjs";
import { serveStatic } from "../bench/static-server.mjs";

const guide = readFileSync(join(workspaceRoot, "docs", "add-cove-to-your-shop.md"), "utf8");
let work;
let worker;
let browser;
let storefront;

/** The code block after `<!-- guide:NAME -->`. */
function block(name) {
  const marker = guide.indexOf(`<!-- guide:${name} -->`);
  assert.ok(marker >= 0, `the guide has no ${name} block`);
  const match = guide.slice(marker).match(/```[a-z]*\n([\s\S]*?)```/);
  return match[1];
}

/** Runs a shell block from the guide with `replacements` applied, in the workspace. */
function runBlock(name, replacements, env = {}) {
  let script = block(name).replace(/\\\n\s*/g, " ");
  for (const [from, to] of replacements) script = script.split(from).join(to);
  return execFileSync("bash", ["-euo", "pipefail", "-c", script], {
    cwd: workspaceRoot,
    encoding: "utf8",
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** The guide's way to run the trainer. */
const GUIDE_TRAINER = "cargo run --release -p cove-models --bin cove-train --";

/**
 * `cargo xtask test` has built the workspace's dev trainer already and names
 * it in COVE_TRAINER; the guide's release build of the same source would
 * compile every dependency a second time (150 s of a cold run) for a model
 * whose bytes do not depend on the profile. So the test runs the guide's
 * train command with that binary in place of its `cargo run` prefix, after
 * checking that the prefix names a package and binary this workspace has.
 * Run alone (no COVE_TRAINER), the test runs the guide's command as written.
 */
function trainerOfThisBuild() {
  assert.ok(block("train").startsWith(`${GUIDE_TRAINER} train`), "the guide's train block starts with its cargo run line");
  const trainer = process.env.COVE_TRAINER;
  if (!trainer) return [];
  const metadata = JSON.parse(
    execFileSync(process.env.CARGO ?? "cargo", ["metadata", "--no-deps", "--format-version", "1"], { cwd: workspaceRoot, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }),
  );
  const models = metadata.packages.find((p) => p.name === "cove-models");
  assert.ok(models, "the workspace has the package cove-models the guide runs");
  assert.ok(
    models.targets.some((t) => t.name === "cove-train" && t.kind.includes("bin")),
    "cove-models has the binary cove-train the guide runs",
  );
  assert.ok(existsSync(trainer), `COVE_TRAINER names no file: ${trainer}`);
  return [[GUIDE_TRAINER, JSON.stringify(trainer)]];
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "cove-guide-"));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
  storefront?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

test("a shop follows the guide: publish, train on its own export, run the worker, register, paste the tag", { timeout: 15 * 60_000 }, async () => {
  // 1. The shop's export: other column names, September to December 2011.
  const rows = gunzipSync(readFileSync(join(workspaceRoot, "data", "online-retail", "online_retail.csv.gz")))
    .toString("utf8")
    .split("\n");
  const kept = rows.slice(1).filter((row) => /,2011-(09|10|11|12)-/.test(row));
  writeFileSync(join(work, "my-orders.csv"), ["order_id,sku,title,qty,ordered_at,unit_price,customer,country", ...kept].join("\n"));
  const paths = [
    ["my-orders.csv", join(work, "my-orders.csv")],
    ["target/my-model", join(work, "my-model")],
    ["my-site", join(work, "my-site")],
  ];

  // 2. and 3. The snippet, then the shop's own bundle beside it.
  runBlock("publish", paths);
  assert.ok(existsSync(join(work, "my-site", "cove.js")));
  assert.ok(!existsSync(join(work, "my-site", "v1", "bundles")), "the demo's bundles were copied");
  const trained = runBlock("train", [...paths, ...trainerOfThisBuild()]);
  assert.match(trained, /tuned on other data/);
  const pointer = JSON.parse(readFileSync(join(work, "my-site", "v1", "bundles", "default.json"), "utf8"));
  const demoPointer = JSON.parse(readFileSync(join(workspaceRoot, "target", "site", "v1", "bundles", "default.json"), "utf8"));
  assert.notEqual(pointer.model_id, demoPointer.model_id);
  assert.ok(readFileSync(join(work, "my-model", "report.md"), "utf8").length > 0);

  // 4. The worker, serving the shop's site.
  worker = await startWorker({ persistTo: freshStateDir("guide"), logName: "guide-test", assets: join(work, "my-site") });
  const served = await (await fetch(`${worker.url}/v1/bundles/default.json`)).json();
  assert.equal(served.model_id, pointer.model_id);

  // The storefront, on its own origin (its page is written once the tag is known).
  const pages = { "/favicon.ico": ['<svg xmlns="http://www.w3.org/2000/svg"/>', ".svg"] };
  const started = await serveStatic({ inline: pages, fileFor: () => null });
  storefront = started.server;
  const shopOrigin = started.origin;

  // 5. The shop and its origin, registered through the CLI.
  const shopFile = JSON.parse(readFileSync(join(workspaceRoot, "edge-worker", "shops.json"), "utf8")).shops[0];
  writeFileSync(join(work, "my-shop.json"), JSON.stringify({ ...shopFile, id: "my-shop", origins: [] }, null, 2));
  runBlock(
    "register",
    [
      ["<the ADMIN_TOKEN secret>", worker.adminToken],
      ["my-shop.json", join(work, "my-shop.json")],
      ["https://cove.example.com", worker.url],
      ["https://www.my-shop.example", shopOrigin],
    ],
  );

  // 6. The tag, as the guide gives it, on a product page of the shop.
  const item = pointer.starter.lists.GB[2].item;
  const guideHtml = (block("tag") + guide.slice(guide.indexOf("<!-- guide:tag -->")).match(/```html\n[\s\S]*?```[\s\S]*?```html\n([\s\S]*?)```/)[1])
    .split("https://cove.example.com")
    .join(worker.url);
  pages["/product.html"] = [`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>My shop</title></head><body>
<h1 data-cove-view="${item}">A product</h1>${guideHtml}</body></html>`, ".html"];
  const context = await browser.newContext();
  const page = await context.newPage();
  const console = [];
  page.on("console", (message) => console.push(`${message.type()}: ${message.text()}`));
  await page.goto(`${shopOrigin}/product.html`);
  await page.waitForSelector('[data-cove-slot="home"][data-cove-state="ready"] article', { timeout: 60_000 });
  // A slot can be filled before the start resolves: `window.cove` comes with
  // `cove:ready`, as the guide says.
  await page.waitForFunction(() => window.cove !== undefined, null, { timeout: 60_000 });
  // The shop's schedule holds the first envelope back a few seconds; then it is sent.
  const result = await page.evaluate(async () => {
    let privacy = await window.cove.privacy();
    for (let tries = 0; tries < 40 && privacy.lastReport === null; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      privacy = await window.cove.flushReports();
    }
    return { modelId: (await window.cove.profile()).modelId, enabled: privacy.enabled, sent: privacy.lastReport !== null };
  });
  assert.deepEqual(result, { modelId: pointer.model_id, enabled: true, sent: true }, console.join("\n"));
  assert.deepEqual(console.filter((line) => line.startsWith("error")), []);
  await context.close();
});
