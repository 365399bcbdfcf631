// axe-core (npm) in a Playwright page: the accessibility check of the demo
// pages and the dashboard.
import { join } from "node:path";
import { workspaceRoot } from "../../edge-worker/dev/wrangler.mjs";

/** Runs axe-core on the page and returns its serious and critical violations, one line each. */
export async function seriousViolations(page) {
  await page.addScriptTag({ path: join(workspaceRoot, "node_modules", "axe-core", "axe.min.js") });
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
}
