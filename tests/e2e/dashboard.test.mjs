// The marketer's dashboard in headless Chromium, served by the real worker:
// it renders from the worker's own aggregates; on a fixture with a known
// Simpson's paradox (tests/fixtures/aggregates-simpson.json) it raises the
// warning and shows the stratified table, and on one without
// (aggregates-no-simpson.json) it stays quiet; suppressed cells read as
// suppressed; and axe-core finds no serious or critical accessibility
// violation. Screenshots go to tests/output (or to docs/ with
// COVE_SCREENSHOTS=docs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startWorker, launchChromium, screenshotsDir } from "./support.mjs";
import { seriousViolations } from "./axe.mjs";
import { freshStateDir, workspaceRoot } from "../../edge-worker/dev/wrangler.mjs";

let worker;
let browser;
const fixture = (name) => readFileSync(join(workspaceRoot, "tests", "fixtures", name), "utf8");
const screenshots = screenshotsDir();

before(async () => {
  worker = await startWorker({ persistTo: freshStateDir("dashboard"), logName: "dashboard-test" });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

/**
 * Opens the dashboard with the demo shop's token, as `cargo xtask demo`'s link
 * does; with `aggregates`, the worker's answer is replaced by that fixture.
 */
async function openDashboard(browser, url, aggregates) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  if (aggregates) {
    await page.route("**/v1/aggregates?*", (route) =>
      route.fulfill({ status: 200, contentType: "application/json", body: aggregates }));
  }
  await page.goto(`${url}/dashboard/#token=${worker.dashboardToken}`);
  await page.waitForSelector('#dashboard[data-state="ready"]', { timeout: 30_000 });
  // The token left the address bar at once (it stays in this tab only).
  assert.equal(new URL(page.url()).hash, "");
  return { context, page, errors };
}

test("without the shop's token the dashboard asks for it and shows nothing", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const reads = [];
  page.on("request", (request) => request.url().includes("/v1/aggregates") && reads.push(request));
  await page.goto(`${worker.url}/dashboard/`);
  await page.waitForSelector('#dashboard[data-state="needs-token"]');
  assert.equal(reads.length, 0, "no read without a token");
  // (A fragment change alone does not reload the page: a fresh page.)
  const second = await context.newPage();
  await second.goto(`${worker.url}/dashboard/#token=not-the-token-of-this-shop-000000`);
  await second.waitForSelector('#dashboard[data-state="needs-token"]');
  assert.match(await second.textContent("#dashboard"), /refused/);
  // The dashboard page itself may not be framed by another site.
  const response = await page.goto(`${worker.url}/dashboard/`);
  assert.match(response.headers()["content-security-policy"], /frame-ancestors 'none'/);
  assert.equal(response.headers()["x-content-type-options"], "nosniff");
  await context.close();
});

test("the dashboard renders from the worker's own aggregates", async () => {
  const { context, page, errors } = await openDashboard(browser, worker.url);
  const headings = await page.$$eval("h2", (hs) => hs.map((h) => h.textContent));
  assert.deepEqual(headings, ["Segment sizes", "Trending items by country", "Campaigns and rescue offers", "Review sentiment"]);
  // A fresh worker has no reports: every campaign is suppressed, none warns.
  const campaigns = await page.$$eval("[data-campaign]", (els) => els.map((e) => e.dataset.campaign));
  assert.deepEqual(campaigns.sort(), ["gift-quiz", "rescue-cart", "spring-newsletter", "win-back"]);
  assert.equal(await page.locator("[data-campaign] .suppressed").count(), 4);
  assert.equal(await page.locator('[data-simpson="warning"]').count(), 0);
  // No review reported yet: the sentiment section says so and draws nothing.
  assert.equal(await page.locator('[data-section="sentiment"] .suppressed').count(), 1);
  assert.equal(await page.locator("[data-sentiment-flag]").count(), 0);
  assert.deepEqual(errors, []);
  await context.close();
});

test("the Simpson's-paradox fixture raises the warning with the stratified table", async () => {
  const { context, page, errors } = await openDashboard(browser, worker.url, fixture("aggregates-simpson.json"));
  const warning = page.locator('[data-campaign="win-back"] [data-simpson="warning"]');
  assert.equal(await warning.count(), 1);
  const text = await warning.textContent();
  assert.match(text, /Variant 2 vs variant 1: −0\.8 pts pooled/);
  // The stratified table: one row per segment plus the pool, one column per variant.
  const rows = await warning.locator("tbody tr").count();
  assert.equal(rows, 7);
  assert.equal(await warning.locator("thead th").count(), 4);
  assert.equal(await warning.locator("tbody td.suppressed").count(), 6);
  // The rescue campaign in the same fixture has no reversal.
  assert.equal(await page.locator('[data-campaign="rescue-cart"] [data-simpson="none"]').count(), 1);
  // The same fixture has an unhappy segment in its review sentiment.
  const flag = page.locator('[data-section="sentiment"] [data-sentiment-flag="at-risk"]');
  assert.equal(await flag.count(), 1);
  assert.match(await flag.textContent(), /41\.0% of its reviews are negative .* driven by: .+; .+\./);
  assert.equal(await page.locator('[data-section="sentiment"] svg').count(), 2);
  assert.deepEqual(await seriousViolations(page), []);
  await page.screenshot({ path: join(screenshots, "dashboard-simpson.png"), fullPage: false });
  await warning.scrollIntoViewIfNeeded();
  await warning.screenshot({ path: join(screenshots, "dashboard-simpson-warning.png") });
  assert.deepEqual(errors, []);
  await context.close();
});

test("a fixture without a reversal stays quiet", async () => {
  const { context, page, errors } = await openDashboard(browser, worker.url, fixture("aggregates-no-simpson.json"));
  assert.equal(await page.locator('[data-simpson="warning"]').count(), 0);
  assert.equal(await page.locator("[data-sentiment-flag]").count(), 0);
  assert.equal(await page.locator('[data-section="sentiment"] svg').count(), 2);
  assert.equal(await page.locator('[data-simpson="none"]').count(), 2);
  assert.equal(await page.locator("[data-sentiment-flag]").count(), 0);
  assert.equal(await page.locator('[data-section="sentiment"] svg').count(), 2);
  // Rates are shown with their intervals; the segment chart marks suppressed values.
  assert.match(await page.locator('[data-campaign="rescue-cart"] svg').first().getAttribute("aria-label"), /holdout 2\d\.\d% \(95% interval/);
  assert.match(await page.locator("#segments-heading + .charts svg").first().getAttribute("aria-label"), /lapsed suppressed/);
  assert.deepEqual(await seriousViolations(page), []);
  assert.deepEqual(errors, []);
  await context.close();
});
