// axe-core (npm) in a Playwright page: the accessibility check of the demo
// pages and the dashboard.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { workspaceRoot } from "../../edge-worker/dev/wrangler.mjs";

const axeSource = readFileSync(join(workspaceRoot, "node_modules", "axe-core", "axe.min.js"), "utf8");

/** Runs axe-core on the page and returns its serious and critical violations, one line each. */
export async function seriousViolations(page) {
  // Evaluated through the DevTools protocol, which the pages' CSP (script-src
  // 'self') does not govern, so the pages are checked under their real policy.
  await page.evaluate(axeSource);
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
}
