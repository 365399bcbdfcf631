// Shared helpers of the end-to-end tests: the skeleton fixture, its check, and
// a headless Chromium launched from Debian's package through playwright-core.
import { mkdirSync, readFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { workspaceRoot } from "../../edge-worker/dev/wrangler.mjs";

export { startWorker } from "../../edge-worker/dev/wrangler.mjs";

/**
 * The trainer `cargo xtask build` built: its dev build of the workspace
 * (`cargo xtask test` names it in COVE_TRAINER). Not a release build: none is
 * made on a fresh clone.
 */
export function builtTrainer() {
  return process.env.COVE_TRAINER ?? join(workspaceRoot, "target", "debug", "cove-train");
}

/** Where screenshots go: docs/ with COVE_SCREENSHOTS=docs, else tests/output (created). */
export function screenshotsDir() {
  const dir = process.env.COVE_SCREENSHOTS === "docs"
    ? join(workspaceRoot, "docs")
    : join(workspaceRoot, "tests", "output");
  mkdirSync(dir, { recursive: true });
  return dir;
}

export const skeletonFixture = JSON.parse(
  readFileSync(join(workspaceRoot, "tests", "fixtures", "skeleton_topk.json"), "utf8"),
);

/** Asserts that `ranked` ([{index, score}]) is the fixture's expected answer. */
export function checkSkeletonAnswer(ranked) {
  const expected = skeletonFixture.expected;
  assert.deepEqual(ranked.map((r) => r.index), expected.map((r) => r.index));
  ranked.forEach((r, i) => {
    assert.ok(
      Math.abs(r.score - expected[i].score) <= skeletonFixture.tolerance,
      `score ${r.score} vs ${expected[i].score} at rank ${i}`,
    );
  });
}

/**
 * Headless Chromium with the flags this machine needs (no network beyond
 * loopback). playwright-core gives it a fresh, empty profile of its own.
 */
export async function launchChromium() {
  return chromium.launch({
    executablePath: process.env.COVE_CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * One raw request to 127.0.0.1:`port` (node:http, so odd paths and headers
 * reach the worker exactly as written). `body` is a Buffer/string, or a
 * function that writes to the request stream (chunked).
 * @returns {Promise<{status: number, headers: object, text: string}>}
 */
export function rawRequest(port, method, path, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    // A server may answer (413) and close before the whole body is sent; the
    // answer counts, the reset of the rest of the upload does not.
    let answer = null;
    const finish = () => resolve({ ...answer, text: Buffer.concat(answer.chunks).toString("utf8") });
    const req = http.request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      answer = { status: res.statusCode, headers: res.headers, chunks: [] };
      res.on("data", (c) => answer.chunks.push(c));
      res.on("end", finish);
      res.on("error", finish);
    });
    req.on("error", (error) => {
      if (!answer) reject(new Error(`${method} ${path}: ${error.message} before any answer`));
    });
    if (typeof body === "function") body(req, resolve);
    else {
      if (body !== undefined) req.write(body);
      req.end();
    }
  });
}

/**
 * The sharded bundle (`/v1/bundles/sharded.json`) as the worker at `base`
 * serves it: its pointer, its manifest's shard table and fetch policy (how
 * many shards a device fetches at most), how many items the head holds, which catalogue items are in the head and in each shard (the
 * catalogue lists the head's items, then each shard's in table order), and
 * the catalogue's size.
 */
export async function publishedHead(base) {
  const get = async (path) => {
    const response = await fetch(`${base}${path}`);
    assert.equal(response.status, 200, path);
    return response.json();
  };
  const pointer = await get("/v1/bundles/sharded.json");
  const manifest = await get(pointer.manifest);
  const catalogue = await get(pointer.catalogue);
  const table = manifest.shards;
  assert.ok(Array.isArray(table) && table.length > 1, "the sharded bundle has a shard table");
  const headItems = table[0].first_item;
  const itemsOf = table.map((entry) => catalogue.slice(entry.first_item, entry.first_item + entry.n_items).map((item) => item.id));
  const shardOf = new Map();
  itemsOf.forEach((items, index) => items.forEach((id) => shardOf.set(id, index)));
  return {
    pointer,
    table,
    shardsPerVisit: manifest.shards_per_visit,
    headItems,
    itemsOf,
    head: new Set(catalogue.slice(0, headItems).map((item) => item.id)),
    shardOf,
    nItems: catalogue.length,
  };
}
