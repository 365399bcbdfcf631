// The simulator (`cove-simulate`, which `cargo xtask simulate` runs) against
// a real worker under workerd: simulated shoppers drawn from the real data go
// through the real engine and report; the decoded aggregates (campaign rates
// and uplift, exposure, segment sizes) must cover the simulated truth within
// their stated 95% intervals, and the simulation must hold its designed
// Simpson's paradox. Seeded, so every run sends the same envelopes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startWorker, launchChromium, screenshotsDir } from "./support.mjs";
import { freshStateDir, workspaceRoot } from "../../edge-worker/dev/wrangler.mjs";

const DEVICES = Number(process.env.COVE_SIMULATE_DEVICES ?? 4000);
const SEED = 20261123;
// `cargo xtask build` builds it with the workspace, in the dev profile that
// `cargo xtask simulate` runs it in (so running it here compiles nothing).
const simulator = join(workspaceRoot, "target", "debug", "cove-simulate");

let worker;
let truth;
let aggregates;

before(async () => {
  const state = freshStateDir("simulate");
  worker = await startWorker({ persistTo: state, logName: "simulate-test" });
  const truthPath = join(state, "truth.json");
  assert.ok(existsSync(simulator), `${simulator} is missing: run cargo xtask build first`);
  const run = spawnSync(
    simulator,
    ["--url", worker.url, "--devices", String(DEVICES), "--seed", String(SEED), "--truth", truthPath],
    { cwd: workspaceRoot, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 600_000 },
  );
  assert.equal(run.status, 0, `simulate failed:\n${run.stdout}\n${run.stderr}`);
  console.log(run.stdout.trim().split("\n").slice(-3).join("\n"));
  truth = JSON.parse(readFileSync(truthPath, "utf8"));
  aggregates = await (
    await fetch(`${worker.url}/v1/aggregates?shop=demo&day=${truth.day}`, {
      headers: { authorization: `Bearer ${worker.dashboardToken}` },
    })
  ).json();
});

after(async () => {
  await worker?.stop();
});

const covers = (interval, value) => interval.low <= value && value <= interval.high;

test("every simulated envelope was accepted and counted", () => {
  assert.ok(truth.envelopes >= DEVICES * 0.95, `${truth.envelopes} of ${DEVICES}`);
  assert.equal(aggregates.envelopes, truth.envelopes);
});

test("campaign rates, uplift and exposure cover the simulated truth within their intervals", () => {
  let checked = 0;
  let covered = 0;
  const misses = [];
  const check = (what, interval, value) => {
    if (!interval || !Number.isFinite(value)) return;
    checked += 1;
    if (covers(interval, value)) covered += 1;
    else misses.push(`${what}: ${value.toFixed(4)} outside [${interval.low.toFixed(4)}, ${interval.high.toFixed(4)}]`);
  };
  for (const simulated of truth.campaigns) {
    const decoded = aggregates.campaigns.find((c) => c.id === simulated.id);
    assert.ok(decoded, `campaign ${simulated.id} is in the aggregates`);
    const rateOf = (cells) => {
      const exposed = cells.reduce((n, c) => n + c.exposed, 0);
      const responded = cells.reduce((n, c) => n + c.responded, 0);
      return { exposed, responded, rate: exposed > 0 ? responded / exposed : NaN };
    };
    const holdoutPooled = rateOf(simulated.cells[0]);
    decoded.results.forEach((result) => {
      const cells = simulated.cells[result.variant];
      const pooled = rateOf(cells);
      const where = `${simulated.id} v${result.variant}`;
      if (!result.pooled.suppressed) {
        check(`${where} pooled exposed`, result.pooled.exposed, pooled.exposed);
        check(`${where} pooled responded`, result.pooled.responded, pooled.responded);
        check(`${where} pooled rate`, result.pooled.rate, pooled.rate);
        check(`${where} pooled uplift`, result.pooled.uplift, pooled.rate - holdoutPooled.rate);
      }
      result.segments.forEach((cell, s) => {
        if (cell.suppressed) return;
        const own = rateOf([cells[s]]);
        const base = rateOf([simulated.cells[0][s]]);
        check(`${where} s${s} exposed`, cell.exposed, own.exposed);
        check(`${where} s${s} rate`, cell.rate, own.rate);
        check(`${where} s${s} uplift`, cell.uplift, own.rate - base.rate);
      });
    });
  }
  const coverage = covered / checked;
  console.log(`campaign intervals: ${covered}/${checked} cover the truth (${(coverage * 100).toFixed(1)}%)`);
  assert.ok(checked >= 20, `only ${checked} published intervals to check`);
  assert.ok(coverage >= 0.9, `coverage ${coverage}; misses:\n${misses.join("\n")}`);
});

test("segment sizes cover the simulated truth", () => {
  let checked = 0;
  const misses = [];
  for (const [name, counts] of Object.entries(truth.segments)) {
    const metric = aggregates.metrics.find((m) => m.name === name);
    for (const estimate of metric.values) {
      checked += 1;
      const value = counts[estimate.value];
      if (!covers(estimate, value)) misses.push(`${name}[${estimate.value}]: ${value} outside [${estimate.low.toFixed(0)}, ${estimate.high.toFixed(0)}]`);
    }
  }
  assert.ok(checked >= 4, `only ${checked} segment estimates published`);
  // 95% intervals: with about ten of them one miss is ordinary (p ≈ 0.4), two
  // or more would be a sign of a biased estimate or a wrong interval.
  assert.ok(misses.length <= Math.max(1, Math.floor(0.1 * checked)), `${misses.length} of ${checked} miss:\n${misses.join("\n")}`);
});

test("the simulated targeted campaign holds the designed Simpson's paradox", () => {
  const design = truth.simpson;
  assert.ok(design, "the simulation names its Simpson campaign");
  const campaign = truth.campaigns.find((c) => c.id === design.campaign);
  const [a, b] = design.variants;
  const rate = (cells) => cells.reduce((n, c) => n + c.responded, 0) / cells.reduce((n, c) => n + c.exposed, 0);
  // By design every segment favours variant b...
  campaign.designed_rates[a].forEach((ra, s) => assert.ok(campaign.designed_rates[b][s] > ra, `segment ${s}`));
  // ...and variant a reached mostly the high-response segments, so pooled over
  // the designed rates and the realised exposure, variant a looks better.
  const expected = (variant) => {
    const cells = campaign.cells[variant];
    const exposed = cells.reduce((n, c) => n + c.exposed, 0);
    return cells.reduce((n, c, s) => n + c.exposed * campaign.designed_rates[variant][s], 0) / exposed;
  };
  assert.ok(expected(a) > expected(b), `pooled design ${expected(a)} vs ${expected(b)}`);
  assert.ok(Number.isFinite(rate(campaign.cells[a])));
});

test("every simulated review report is counted; published segment sentiment covers the truth", () => {
  const byClass = truth.reviews.by_segment;
  const reported = byClass.flat().reduce((a, b) => a + b, 0);
  assert.ok(reported > 0, "the simulation wrote reviews");
  const sentiment = aggregates.sentiment;
  assert.ok(sentiment, "the aggregates have a sentiment section");
  // Report counts are exact (only the cells are randomised).
  assert.equal(sentiment.n_reports, reported);
  assert.equal(sentiment.published, reported >= aggregates.k_anonymity);
  const misses = [];
  for (const group of sentiment.segments) {
    const [negative, neutral, positive] = byClass[group.index];
    const share = negative / (negative + neutral + positive);
    if (!(group.low <= share && share <= group.high)) misses.push(`${sentiment.segment_names[group.index]}: ${share.toFixed(3)} outside [${group.low.toFixed(3)}, ${group.high.toFixed(3)}]`);
  }
  // 95% intervals over at most six segments: one miss is ordinary.
  assert.ok(misses.length <= 1, misses.join("\n"));
});

// One aggregator: conversion and click-through are randomised on each device
// (local DP) and decoded at the edge into rates with the intervals their
// randomisation gives, and the number of shoppers a rate would need to be
// known within ±1 point; the money figures are not collected. The simulator
// is seeded, so each run sends the same reports: the intervals either cover
// the devices' own rates or not, every run alike.
test("with one aggregator, conversion and click-through are blurred rates that say how many shoppers ±1 point needs", () => {
  const visits = aggregates.visits;
  assert.ok(visits, "a one-aggregator shop's aggregates have the visit rates");
  assert.equal(visits.revenue, null, "revenue is not collected with one aggregator");
  assert.equal(visits.recommendation_revenue, null);
  for (const [key, of, with_] of [["conversion", "devices", "bought"], ["click_through", "shown", "clicked"]]) {
    const metric = visits[key];
    assert.equal(metric.release.status, "local", key);
    assert.ok(metric.published, `${key} has at least k reports: ${metric.n_reports}`);
    assert.ok(Number.isInteger(metric.devices_for_one_point) && metric.devices_for_one_point > DEVICES,
      `${key}: ${metric.devices_for_one_point} shoppers for ±1 point`);
    const cells = truth.visits[key];
    const n = cells.reduce((sum, c) => sum + c[of], 0);
    const x = cells.reduce((sum, c) => sum + c[with_], 0);
    assert.ok(Math.abs(metric.pooled.exposed.estimate - n) <= 5 * metric.pooled.exposed.std_error + 1e-9,
      `${key}: ${metric.pooled.exposed.estimate} reporting vs ${n}`);
    const rate = metric.pooled.rate;
    console.log(`${key} (one aggregator, ${n} devices): ${(100 * rate.estimate).toFixed(1)}% [${(100 * rate.low).toFixed(1)}, ${(100 * rate.high).toFixed(1)}] ` +
      `vs true ${(100 * x / n).toFixed(1)}%; ±1 point needs ${metric.devices_for_one_point} shoppers`);
    // Rates and counts read in range, however large the noise.
    assert.ok(rate.low >= 0 && rate.low <= rate.estimate && rate.estimate <= rate.high && rate.high <= 1, JSON.stringify(rate));
    // The estimate is linear in the randomised counts (its denominator, the
    // reports, is exact), so it is close to normal: within 4 of its standard
    // errors of the devices' own rate (a miss about 1 in 16,000), clamping
    // into [0, 1] only bringing it nearer. Whether the 95% interval holds it
    // is printed: one seeded run is one draw.
    assert.ok(Math.abs(rate.estimate - x / n) <= 4 * rate.std_error, `${key}: ${JSON.stringify(rate)} vs ${x / n}`);
    console.log(`  the 95% interval ${covers(rate, x / n) ? "holds" : "misses"} it`);
  }
});

test("the dashboard shows the simulated campaigns from the aggregates", async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
    await page.goto(`${worker.url}/dashboard/?shop=demo&day=${truth.day}#token=${worker.dashboardToken}`);
    await page.waitForSelector('#dashboard[data-state="ready"]', { timeout: 30_000 });
    // The rescue campaign is published, with a pooled rate and its 95% range
    // for each group (shown within 0–100%; a range too wide to say anything
    // reads "not enough data yet").
    const rescue = page.locator('[data-campaign="rescue-cart"]');
    assert.match(await rescue.locator("svg").first().getAttribute("aria-label"),
      /Holdout \(not shown the campaign\): (\d+(\.\d)?% |not enough data yet )\(\d+(\.\d)?–\d+(\.\d)?%\); Variant 1: (\d+(\.\d)?% |not enough data yet )\(/);
    const screenshots = screenshotsDir();
    await rescue.screenshot({ path: join(screenshots, "dashboard-rescue-simulated.png") });
    // The visit rates, blurred on each device, say how many shoppers ±1 point needs.
    const visits = page.locator('[data-section="visits"]');
    const needed = aggregates.visits.conversion.devices_for_one_point.toLocaleString("en-GB");
    assert.match(await visits.locator('[data-precision="local"]').textContent(), new RegExp(`about ${needed} shoppers reporting to be known within ±1 point`));
    assert.match(await visits.locator('[data-visit="revenue"]').textContent(), /not collected: a shop with one aggregator/);
    assert.match(await visits.locator('[data-visit="conversion"]').textContent(), /Conversion rate: .*(of the [\d,]+ shoppers who reported bought something|not enough data)/);
    await visits.screenshot({ path: join(screenshots, "dashboard-visits-one-aggregator.png") });
  } finally {
    await browser.close();
  }
});
