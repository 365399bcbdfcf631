// Shared helpers of the end-to-end tests: the skeleton fixture, its check, and
// a headless Chromium launched from Debian's package through playwright-core.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { workspaceRoot } from "../../edge-worker/dev/wrangler.mjs";

export { startWorker } from "../../edge-worker/dev/wrangler.mjs";

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
