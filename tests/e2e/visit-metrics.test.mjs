// The visit metrics from a shopper's click to the dashboard, in headless
// Chromium against the demo shop with both aggregators (the shop's edge as
// leader, a helper with its own storage and keys, each under workerd): the
// shopper sees the "Picked for you" slot, clicks a suggestion, buys it, and
// the device's next report carries conversion, revenue, the
// recommendations' click-through and the revenue they brought as DAP
// reports (Prio3 shares sealed to the two aggregators), which the leader
// accepts. One device is below the demo shop's k (50), so the day's release
// is refused by the helper's minimum batch size and the dashboard rightly
// shows no figure: the test asserts that, and asserts what the device
// counted (its stored reporting state) before and after the report. The
// click is the slot's own (`captureEvents`), not a call of the API: if it
// stops reaching the reporter, the click-through and the attributed revenue
// stay at nothing and the test fails.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { launchChromium, screenshotsDir } from "./support.mjs";
import { freshStateDir, startAggregators } from "../../edge-worker/dev/wrangler.mjs";

let leader;
let browser;

before(async () => {
  leader = await startAggregators({ persistTo: freshStateDir("visit-metrics"), logName: "visit-metrics-test" });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await leader?.stop();
});

/** The reporter's state as the device stores it (IndexedDB `cove`, record `reporting`). */
async function storedReporting(page) {
  const text = await page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open("cove");
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const request = open.result.transaction("records").objectStore("records").get("reporting");
          request.onsuccess = () => {
            open.result.close();
            resolve(request.result);
          };
          request.onerror = () => reject(request.error);
        };
      }),
  );
  assert.equal(typeof text, "string", "the reporting state is stored");
  return JSON.parse(text);
}

/** The stored reporting state once `predicate` holds for it (within 10 s): the reporter saves after each change. */
async function storedReportingWhen(page, predicate, what) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const state = await storedReporting(page);
    if (predicate(state)) return state;
    assert.ok(Date.now() < deadline, `${what}: ${JSON.stringify(state.visit)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A DAP (draft 09) `Report` as the device uploads it: the report's metadata,
 * its public share and the two HPKE ciphertexts, each read to its end.
 */
function decodeReport(base64url) {
  const bytes = Buffer.from(base64url, "base64url");
  let at = 0;
  const take = (n) => {
    assert.ok(at + n <= bytes.length, "the report is cut short");
    const part = bytes.subarray(at, at + n);
    at += n;
    return part;
  };
  const u16 = () => take(2).readUInt16BE(0);
  const u32 = () => take(4).readUInt32BE(0);
  const ciphertext = () => ({ configId: take(1)[0], encapsulatedKey: take(u16()), payload: take(u32()) });
  const report = {
    id: take(16),
    time: Number(take(8).readBigUInt64BE(0)),
    publicShare: take(u32()),
    leader: ciphertext(),
    helper: ciphertext(),
  };
  assert.equal(at, bytes.length, "nothing follows the report");
  return report;
}

test("a click in the 'for you' slot and the order it leads to reach the device's report; one device stays hidden on the dashboard", async () => {
  // Two minutes before the end of the UTC day at the latest, so the visit
  // and its report are on one day.
  const start = Math.min(Date.now(), (Math.floor(Date.now() / 86_400_000) + 1) * 86_400_000 - 120_000);
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`pageerror: ${error}`));
  page.on("console", (message) => ["error", "warning"].includes(message.type()) && problems.push(`console: ${message.text()}`));
  try {
    // The page's clock stands still (its timers run), so the day's report
    // leaves when the test moves the clock on, after the order, not when
    // the shop's random delay (1–5 s) happens to end mid-visit.
    await page.clock.setFixedTime(start);
    await page.goto(`${leader.url}/#/`);
    await page.waitForSelector('#shop[data-state="ready"]', { timeout: 30_000 });
    const config = await (await fetch(`${leader.url}/v1/config?shop=demo`)).json();
    assert.ok(config.aggregators, "the demo shop's reports are secret-shared (two aggregators)");

    // The slot the shopper sees, and what it showed, counted by the reporter.
    const slot = '[data-page="home"] [data-cove-slot="home"][data-cove-state="ready"]';
    await page.waitForSelector(`${slot} article`, { timeout: 30_000 });
    assert.equal(await page.locator('[data-page="home"] h2', { hasText: "Picked for you" }).count(), 1);
    const shown = await page.$$eval(`${slot} article`, (cards) => cards.map((card) => card.dataset.coveItem));
    assert.ok(shown.length > 0);
    await page.waitForFunction(async () => (await window.cove.privacy()).enabled, null, { timeout: 30_000 });
    let state = await storedReporting(page);
    const before = state.visit;
    assert.equal(before.recs_shown, true, JSON.stringify(before));
    assert.ok(shown.every((item) => before.shown.includes(item)), JSON.stringify(before.shown));
    assert.equal(before.rec_clicked, false);
    assert.deepEqual(before.clicked, []);

    // The shopper clicks the first suggestion (the card's link: the slot's
    // own click capture reports it), adds it to the cart and orders it.
    const item = shown[0];
    await page.click(`${slot} article[data-cove-item="${item}"] a`);
    await page.waitForSelector(`[data-add-to-cart="${item}"]`, { timeout: 30_000 });
    state = await storedReportingWhen(page, (stored) => stored.visit.clicked.includes(item), "the slot's click reached the reporter");
    assert.equal(state.visit.rec_clicked, true, "the slot's click reached the reporter");
    assert.deepEqual(state.visit.clicked, [item]);

    await page.click(`[data-add-to-cart="${item}"]`);
    await page.waitForFunction(() => document.getElementById("cart-count").textContent === "1");
    await page.goto(`${leader.url}/#/cart`);
    await page.waitForSelector('[data-page="cart"] li');
    await page.click("#checkout");
    await page.waitForSelector('#shop > .page[data-page="order"]', { timeout: 30_000 });

    // The device counted the order, all of it on the clicked suggestion
    // (the reporter saves its state after each activity).
    state = await storedReportingWhen(page, (stored) => stored.visit.purchased, "the order was counted");
    assert.ok(state.visit.revenue > 0, JSON.stringify(state.visit));
    assert.equal(state.visit.attributed, state.visit.revenue, "the order went to the clicked suggestion");
    assert.equal(state.visit.rec_clicked, true);
    assert.equal(state.last_report_day, null, "no report has left yet");

    // The day's report is due after the shop's random delay (at most 5 s
    // for the demo shop): a minute on, the device sends it.
    await page.clock.setFixedTime(start + 60_000);
    await page.evaluate(() => window.cove.flushReports());
    const privacy = await page.evaluate(() => window.cove.privacy());
    assert.ok(privacy.lastReport?.sentAt, `the leader took the report: ${JSON.stringify(privacy)}`);
    const body = JSON.parse(privacy.lastReport.bytes);
    const day = Math.floor(start / 86_400_000);
    assert.equal(body.v, 2);
    assert.equal(body.day, day);
    const dap = new Map(body.dap.map((entry) => [entry.metric, entry]));
    for (const metric of ["visit.conversion", "visit.revenue", "rec.click_through", "rec.revenue"]) {
      const entry = dap.get(metric);
      assert.ok(entry, `${metric} is in the report: ${[...dap.keys()].join(", ")}`);
      assert.match(entry.task, /^[A-Za-z0-9_-]{43}$/, `${metric}'s task id`);
      const report = decodeReport(entry.report);
      assert.equal(report.time, day * 86_400, `${metric} is dated the day's first second`);
      // X25519 encapsulated keys; the payloads are the sealed shares (never
      // the value in the clear: the leader's share alone is uniform noise).
      assert.equal(report.leader.encapsulatedKey.length, 32);
      assert.equal(report.helper.encapsulatedKey.length, 32);
      assert.ok(report.leader.payload.length > 16 && report.helper.payload.length > 16);
    }
    assert.equal(new Set(body.dap.map((entry) => entry.task)).size, body.dap.length, "one task per metric");

    // What the report was built from: the counters are consumed by it; the
    // day's clicked list stays (a later order still counts for the click).
    state = await storedReporting(page);
    assert.equal(state.last_report_day, day);
    assert.deepEqual(state.visit.clicked, [item]);
    assert.equal(state.visit.rec_clicked, false, "the click was spent on this report");
    assert.equal(state.visit.attributed, 0);
    assert.ok(privacy.spentToday > 0);

    // The aggregators: the leader took the upload; one device is below the
    // shop's k, so nothing of the day is released, not even a count.
    const aggregates = await (
      await fetch(`${leader.url}/v1/aggregates?shop=demo&day=${day}`, {
        headers: { authorization: `Bearer ${leader.dashboardToken}` },
      })
    ).json();
    assert.equal(aggregates.aggregation, "secret_shared");
    const clicks = aggregates.visits.click_through;
    assert.equal(clicks.published, false, JSON.stringify(clicks));
    assert.equal(clicks.n_reports, null);
    assert.equal(clicks.pooled, null);
    assert.notEqual(clicks.release.status, "released", JSON.stringify(clicks.release));
    assert.equal(aggregates.visits.recommendation_revenue.published, false);
    assert.ok(aggregates.k_anonymity > 1);

    // The dashboard for that day shows its empty state, which says why (the
    // shop's k), and no figure: no "Sales and recommendations" section.
    const dashboard = await context.newPage();
    await dashboard.goto(`${leader.url}/dashboard/?shop=demo&day=${day}#token=${leader.dashboardToken}`);
    await dashboard.waitForSelector('#dashboard[data-state="empty"]', { timeout: 30_000 });
    const empty = await dashboard.locator('[data-empty="true"]').innerText();
    assert.match(empty, /^No reports yet for /);
    assert.ok(empty.includes(`A day is shown once at least ${aggregates.k_anonymity} shoppers have reported.`), empty);
    assert.equal(await dashboard.locator('[data-section="visits"]').count(), 0);
    assert.doesNotMatch(await dashboard.locator("#dashboard").innerText(), /click-through/i);
    await dashboard.screenshot({ path: join(screenshotsDir(), "dashboard-one-device.png"), fullPage: true });

    // The shopper's "what this shop knows" page says what left, in words,
    // from the kinds the engine resolved: the secret-shared reports first.
    const contents = privacy.lastReport.contents;
    assert.deepEqual(
      contents.filter((m) => m.secretShared).map((m) => m.kind),
      body.dap.map((entry) => ({ "visit.conversion": "conversion", "visit.revenue": "revenue", "rec.click_through": "recommendation_click_through", "rec.revenue": "recommendation_revenue", "segment.lifecycle": "lifecycle_segment", "segment.price_tier": "price_tier" })[entry.metric] ?? entry.metric.replace(/^campaign\..*/, "campaign")),
    );
    assert.ok(contents.every((m) => m.kind !== null), JSON.stringify(contents));
    await page.goto(`${leader.url}/#/knows`);
    const panel = page.locator('[data-page="knows"] .cove-privacy-panel[data-state="ready"]');
    await panel.waitFor();
    const listed = await panel.locator('[data-panel="report-contents"]').innerText();
    for (const words of [/whether you bought something/, /whether you clicked one of the shop's suggestions/, /how much you spent on suggested products you clicked/, /whether you were shown one of the shop's offers/]) {
      assert.match(listed, words);
    }
    assert.doesNotMatch(listed, /one other count/, listed);
    await panel.screenshot({ path: join(screenshotsDir(), "panel-secret-shared.png") });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
