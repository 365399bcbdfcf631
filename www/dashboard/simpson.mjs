// Simpson's-paradox check over one campaign's published aggregates: a
// comparison between two variants that points one way over all shoppers and
// the other way inside the segments, because the two variants reached
// different mixes of segments. Pure functions, no DOM, so the page and the
// tests share them.
//
// Why not "every segment's sign is reversed", as a textbook example reads:
// on real data most segment cells of a campaign targeted by segment are
// hidden (below k: a variant sent mostly to new shoppers reaches few of the
// others), and small segments are noisy, so a check that needs every segment
// never fires (issue 23: never shown in runs of 2,000 and 20,000 devices).
// This one compares the pooled difference with the segment-adjusted one
// (each comparable segment's difference weighted by the shoppers both
// variants reached in it, the usual stratified comparison) and asks that the
// variants' segment mixes really differ (by at least `MIN_MIX_DIFFERENCE`,
// and more than chance: `MIX_TEST_LEVEL`) and that most comparable segments
// agree with the adjusted direction. A segment is comparable when both rates
// are published and neither range is wider than `MAX_COMPARABLE_WIDTH`.
// That is wider than what the table under the warning shows as a number
// (`tooWide`): a segment compared here whose rate the table calls "not
// enough data yet" is named with its estimates and "not enough data yet to
// be sure", so the warning never claims more than the table shows.

import { percent, tooWide } from "./words.mjs";

/** The published rate of a cell, or null when it is hidden or has none. */
export function rateOf(cell) {
  return cell && !cell.suppressed && cell.rate ? cell.rate : null;
}

/**
 * How different two segment mixes must be (total variation distance between
 * the shares of each variant's shoppers per segment, the hidden segments
 * together as one) before a reversal is put down to the mix. Variants
 * assigned at random reach the same mix up to sampling noise (a few points);
 * a campaign targeted by segment, the case where the paradox appears,
 * differs by tens of points.
 */
export const MIN_MIX_DIFFERENCE = 0.1;

/**
 * The chi-square test of "both variants reached the same segment mix" must
 * reject it at this level before a reversal is put down to the mix. Two
 * variants assigned at random to a few hundred shoppers each can differ by
 * more than `MIN_MIX_DIFFERENCE` by chance (issue 23: a campaign assigned at
 * random warned in the Monte Carlo of 5,000-device runs), while a campaign
 * targeted by segment is rejected at any level (chi-square in the hundreds).
 */
export const MIX_TEST_LEVEL = 0.001;

/** Chi-square's upper 0.1% points for 1–10 degrees of freedom. */
const CHI_SQUARE_999 = [10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124, 27.877, 29.588];

/** The upper `MIX_TEST_LEVEL` point of chi-square with `df` degrees of freedom (Wilson–Hilferty beyond the table). */
function chiSquareCritical(df) {
  if (df <= CHI_SQUARE_999.length) return CHI_SQUARE_999[df - 1];
  const z = 3.090232306167813;
  const k = 2 / (9 * df);
  return df * (1 - k + z * Math.sqrt(k)) ** 3;
}

/**
 * Pearson's chi-square statistic of a 2 × groups table of counts (the
 * shoppers each variant reached in each group), and its degrees of freedom;
 * groups that neither variant reached are left out.
 */
export function mixChiSquare(countsA, countsB) {
  const totalA = countsA.reduce((a, b) => a + b, 0);
  const totalB = countsB.reduce((a, b) => a + b, 0);
  const total = totalA + totalB;
  let statistic = 0;
  let groups = 0;
  countsA.forEach((a, i) => {
    const column = a + countsB[i];
    if (column <= 0 || total <= 0) return;
    groups += 1;
    const expectedA = (totalA * column) / total;
    const expectedB = (totalB * column) / total;
    if (expectedA > 0) statistic += (a - expectedA) ** 2 / expectedA;
    if (expectedB > 0) statistic += (countsB[i] - expectedB) ** 2 / expectedB;
  });
  return { statistic, df: groups - 1 };
}

const Z_95 = 1.959963984540054;

/**
 * The widest 95% range (high − low) of a rate the check compares. A rate
 * that may lie anywhere in a band wider than 20 points says nothing about
 * campaigns whose rates differ by a point or two (per-device noise gave
 * ranges of hundreds of points). Narrower but still wide ranges are compared
 * on their estimates, and the warning then says it may be noise.
 */
export const MAX_COMPARABLE_WIDTH = 0.2;

/** A rate that can be compared: published, with a range no wider than `MAX_COMPARABLE_WIDTH`. */
function comparableRate(cell) {
  const rate = rateOf(cell);
  return rate && rate.high - rate.low <= MAX_COMPARABLE_WIDTH ? rate : null;
}

/**
 * The check of one campaign: every pair of variants whose overall comparison
 * reverses inside the segments, and how many pairs could be checked at all
 * (both pooled rates and at least one segment comparable).
 *
 * For variants a < b: `pooled` is rate(b) − rate(a) over all shoppers;
 * `adjusted` is the average of the comparable segments' differences, weighted
 * by the shoppers both reached in each. A reversal is when the two have
 * opposite signs, most comparable segments point the adjusted way, and the
 * variants' segment mixes differ by at least `MIN_MIX_DIFFERENCE` and more than
 * chance would make them (`MIX_TEST_LEVEL`). `better`
 * is the variant that does better inside the segments (it looks worse
 * overall); `drivers` are the segments whose mix explains the overall
 * figure, each with whether `better` reached more (or fewer) of its shoppers
 * and whether they respond less than average. `segmentsInAll` is the number
 * of segments, `segments` the comparable ones. A warning is raised whatever
 * the noise; `conclusive` says whether both the pooled and the adjusted
 * difference are clear of zero at 95%.
 *
 * @param {object} campaign one entry of `aggregates.campaigns`
 */
export function simpsonCheck(campaign) {
  const results = campaign.results ?? [];
  const reversals = [];
  let checkedPairs = 0;
  for (let ia = 0; ia < results.length; ia += 1) {
    for (let ib = ia + 1; ib < results.length; ib += 1) {
      const outcome = compare(results[ia], results[ib]);
      if (outcome.checked) checkedPairs += 1;
      if (outcome.reversal) reversals.push(outcome.reversal);
    }
  }
  return { reversals, checkedPairs, pairs: (results.length * (results.length - 1)) / 2 };
}

/**
 * Every pair of variants whose overall comparison reverses inside the segments
 * (see `simpsonCheck`).
 * @returns {Array<{a: number, b: number, better: number, worse: number, pooled: number, adjusted: number,
 *   segments: Array<{segment: number, difference: number, rateA: number, rateB: number, settled: boolean}>, segmentsInAll: number, agreeing: number,
 *   drivers: Array<{segment: number, more: boolean, respondsLess: boolean}>, mixDifference: number, conclusive: boolean}>}
 */
export function simpsonReversals(campaign) {
  return simpsonCheck(campaign).reversals;
}

function compare(a, b) {
  const pa = comparableRate(a.pooled);
  const pb = comparableRate(b.pooled);
  const totalA = Math.max(0, a.pooled?.exposed?.estimate ?? 0);
  const totalB = Math.max(0, b.pooled?.exposed?.estimate ?? 0);
  if (!pa || !pb || totalA <= 0 || totalB <= 0) return { checked: false };
  const segments = [];
  const segmentsInAll = (a.segments ?? []).length;
  (a.segments ?? []).forEach((cellA, index) => {
    const cellB = b.segments?.[index];
    const ra = comparableRate(cellA);
    const rb = comparableRate(cellB);
    if (!ra || !rb) return;
    const exposedA = Math.max(0, cellA.exposed?.estimate ?? 0);
    const exposedB = Math.max(0, cellB.exposed?.estimate ?? 0);
    if (exposedA + exposedB <= 0) return;
    segments.push({
      segment: cellA.segment ?? index,
      difference: rb.estimate - ra.estimate,
      rateA: ra.estimate,
      rateB: rb.estimate,
      settled: !tooWide(ra) && !tooWide(rb),
      stdError: Math.hypot(ra.std_error ?? 0, rb.std_error ?? 0),
      exposedA,
      exposedB,
      rate: (exposedA * ra.estimate + exposedB * rb.estimate) / (exposedA + exposedB),
    });
  });
  if (!segments.length) return { checked: false };
  const pooled = pb.estimate - pa.estimate;
  const weight = (s) => s.exposedA + s.exposedB;
  const totalWeight = segments.reduce((sum, s) => sum + weight(s), 0);
  const adjusted = segments.reduce((sum, s) => sum + weight(s) * s.difference, 0) / totalWeight;
  const adjustedError = Math.sqrt(segments.reduce((sum, s) => sum + (weight(s) * s.stdError) ** 2, 0)) / totalWeight;
  if (pooled === 0 || adjusted === 0 || Math.sign(adjusted) === Math.sign(pooled)) return { checked: true };
  const agreeing = segments.filter((s) => Math.sign(s.difference) === Math.sign(adjusted)).length;
  if (2 * agreeing <= segments.length) return { checked: true };
  // Shares of each variant's shoppers (its pooled reach), the hidden
  // segments together as the rest.
  const shareA = (s) => Math.min(1, s.exposedA / totalA);
  const shareB = (s) => Math.min(1, s.exposedB / totalB);
  const restA = Math.max(0, 1 - segments.reduce((sum, s) => sum + shareA(s), 0));
  const restB = Math.max(0, 1 - segments.reduce((sum, s) => sum + shareB(s), 0));
  const mixDifference = (segments.reduce((sum, s) => sum + Math.abs(shareB(s) - shareA(s)), 0) + Math.abs(restB - restA)) / 2;
  if (mixDifference < MIN_MIX_DIFFERENCE) return { checked: true };
  // ...and by more than chance: the comparable segments and the rest, as
  // counts of shoppers.
  const hiddenA = Math.max(0, totalA - segments.reduce((sum, s) => sum + s.exposedA, 0));
  const hiddenB = Math.max(0, totalB - segments.reduce((sum, s) => sum + s.exposedB, 0));
  const mix = mixChiSquare([...segments.map((s) => s.exposedA), hiddenA], [...segments.map((s) => s.exposedB), hiddenB]);
  if (mix.df < 1 || mix.statistic < chiSquareCritical(mix.df)) return { checked: true };

  // The variant that does better inside the segments, and the segments whose
  // mix makes it look worse overall: each segment's part in the overall
  // difference that is due to the mix alone is (its share in b − its share
  // in a) × (its rate − the average rate over both variants); the largest
  // parts pointing the pooled way are named, enough of them to cover most of
  // that effect.
  const betterIsB = adjusted > 0;
  const respondedA = Math.max(0, a.pooled.responded?.estimate ?? pa.estimate * totalA);
  const respondedB = Math.max(0, b.pooled.responded?.estimate ?? pb.estimate * totalB);
  const average = (respondedA + respondedB) / (totalA + totalB);
  const parts = segments.map((s) => ({ s, part: (shareB(s) - shareA(s)) * (s.rate - average) }));
  const pointing = parts.filter((p) => Math.sign(p.part) === Math.sign(pooled)).sort((x, y) => Math.abs(y.part) - Math.abs(x.part));
  const mixEffect = pointing.reduce((sum, p) => sum + Math.abs(p.part), 0);
  const drivers = [];
  let covered = 0;
  for (const { s, part } of pointing) {
    if (drivers.length >= 2 || (drivers.length > 0 && covered >= 0.6 * mixEffect)) break;
    covered += Math.abs(part);
    const betterShare = betterIsB ? shareB(s) : shareA(s);
    const worseShare = betterIsB ? shareA(s) : shareB(s);
    drivers.push({ segment: s.segment, more: betterShare > worseShare, respondsLess: s.rate < average });
  }
  const pooledClear = Math.abs(pooled) > Z_95 * Math.hypot(pa.std_error ?? 0, pb.std_error ?? 0);
  const adjustedClear = Math.abs(adjusted) > Z_95 * adjustedError;
  return {
    checked: true,
    reversal: {
      a: a.variant,
      b: b.variant,
      better: betterIsB ? b.variant : a.variant,
      worse: betterIsB ? a.variant : b.variant,
      pooled,
      adjusted,
      segments: segments.map(({ segment, difference, rateA, rateB, settled }) => ({ segment, difference, rateA, rateB, settled })),
      segmentsInAll,
      agreeing,
      drivers,
      mixDifference,
      conclusive: pooledClear && adjustedClear,
    },
  };
}

/** "Variant 2", or "The holdout" for variant 0 (`capital` for a sentence's start). */
export function variantName(variant, capital = true) {
  if (variant === 0) return capital ? "The holdout" : "the holdout";
  return `Variant ${variant}`;
}

/** "a", "a and b", "a, b and c". */
function list(words) {
  if (words.length <= 1) return words.join("");
  return `${words.slice(0, -1).join(", ")} and ${words[words.length - 1]}`;
}

/** What to do instead, said once under the warning's sentences. */
export const SIMPSON_ADVICE = "The overall rates compare different kinds of shoppers, so do not pick a winner from them: " +
  "compare the groups segment by segment (the table below).";

/** Said when some reversal is not clear of the noise. */
export const SIMPSON_NOISE = "Some of these differences are still within the noise, so take this as a reason to look closer, not as a verdict.";

/**
 * One reversal in plain words, e.g. "Variant 2 looks worse than Variant 1
 * overall only because it reached more new shoppers, who respond less;
 * inside every segment it did better."
 *
 * @param {ReturnType<typeof simpsonReversals>[number]} reversal
 * @param {(segment: number) => string} segmentName the segment's name ("new")
 * @returns {string}
 */
export function simpsonSentence(reversal, segmentName) {
  const better = variantName(reversal.better);
  const worse = variantName(reversal.worse, false);
  const groups = [
    { more: true, less: true, say: "more", of: "who respond less" },
    { more: false, less: false, say: "fewer", of: "who respond more" },
    { more: true, less: false, say: "more", of: "who respond more" },
    { more: false, less: true, say: "fewer", of: "who respond less" },
  ];
  const reasons = [];
  for (const group of groups) {
    const names = reversal.drivers.filter((d) => d.more === group.more && d.respondsLess === group.less).map((d) => segmentName(d.segment));
    if (names.length) reasons.push(`${group.say} ${list(names)} shoppers, ${group.of}`);
  }
  const because = reasons.length ? ` only because it reached ${list(reasons)}` : " only because it reached a different mix of shoppers";
  const compared = reversal.segments.length;
  const opening = `${better} looks worse than ${worse} overall${because}`;
  const unsettled = reversal.segments.filter((s) => s.settled === false);
  if (unsettled.length && compared === 1) {
    // The table shows one of these rates as "not enough data yet": say the
    // estimates, and that they do not settle it.
    const [s] = reversal.segments;
    const [own, other] = reversal.better === reversal.b ? [s.rateB, s.rateA] : [s.rateA, s.rateB];
    return `${opening}; among ${segmentName(s.segment)} shoppers, the one segment with figures for both, ` +
      `its estimate is higher (${percent(own)} against ${percent(other)}), though there is not enough data yet to be sure.`;
  }
  if (unsettled.length) {
    const where = reversal.agreeing === compared
      ? "inside every segment with figures for both"
      : `inside ${reversal.agreeing} of the ${compared} segments with figures for both`;
    return `${opening}; ${where} its estimate is higher, though for ${list(unsettled.map((s) => segmentName(s.segment)))} ` +
      "shoppers there is not enough data yet to be sure.";
  }
  let inside;
  if (compared === reversal.segmentsInAll && reversal.agreeing === compared) inside = "inside every segment";
  else if (compared === 1) inside = `inside the one segment with enough shoppers to compare (${segmentName(reversal.segments[0].segment)})`;
  else if (reversal.agreeing === compared) inside = "inside every segment with enough shoppers to compare";
  else inside = `inside ${reversal.agreeing} of the ${compared} segments with enough shoppers to compare`;
  return `${opening}; ${inside} it did better.`;
}
