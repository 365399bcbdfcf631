// The dashboard's words: names, numbers, dates and the sentences that say
// what a campaign's figures mean. Pure functions, no DOM, so the page, the CSV
// export and the tests share them.

/** Campaign kinds (the shop's configuration) in words. */
export const KIND_WORDS = {
  mass: "mass mailing",
  targeted: "targeted",
  interactive: "interactive",
  triggered: "triggered by the shopper",
};

/** Variant 0 of every campaign. */
export const HOLDOUT = "Holdout (not shown the campaign)";

/** A variant's name in tables and the CSV. */
export function groupName(variant) {
  return variant === 0 ? HOLDOUT : `Variant ${variant}`;
}

/** The first letter in capitals. */
export function capitalize(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

/** A campaign's id in words: "spring-newsletter" → "Spring newsletter". */
export function campaignName(id) {
  return capitalize(String(id).split(/[-_.\s]+/).filter(Boolean).join(" "));
}

/** A campaign kind in words (an unknown kind as it is). */
export function kindWords(kind) {
  return KIND_WORDS[kind] ?? String(kind);
}

const clamp = (x, low, high) => Math.min(high, Math.max(low, x));

/** One decimal, without a trailing ".0". */
function oneDecimal(x) {
  const text = x.toFixed(1);
  return text.endsWith(".0") ? text.slice(0, -2) : text;
}

/** A share as a percentage: 0.0382 → "3.8%" (rates are shown within 0–100%). */
export function percent(x) {
  return `${oneDecimal(clamp(x, 0, 1) * 100)}%`;
}

/** A signed difference in percentage points: 0.0102 → "+1", −0.008 → "−0.8". */
export function signedPoints(x) {
  const value = oneDecimal(Math.abs(clamp(x, -1, 1)) * 100);
  if (value === "0") return "0";
  return `${x > 0 ? "+" : "−"}${value}`;
}

/** An unsigned difference with its unit: "1 point", "0.8 points". */
export function pointsWords(x) {
  const value = oneDecimal(Math.abs(clamp(x, -1, 1)) * 100);
  return `${value} ${value === "1" ? "point" : "points"}`;
}

/** A whole number: 18000 → "18,000" (estimates below zero read as zero). */
export function whole(x) {
  return Math.max(0, Math.round(x)).toLocaleString("en-GB");
}

/** A probability in words: "97%", "more than 99%", "less than 1%". */
export function probabilityWords(p) {
  if (p >= 0.995) return "more than 99%";
  if (p <= 0.005) return "less than 1%";
  return `${Math.round(p * 100)}%`;
}

/** Whether a cell has published figures (it reached k shoppers). */
export function shown(cell) {
  return Boolean(cell && !cell.suppressed && cell.exposed);
}

/** A rate's 95% range within 0–100%. */
export function rateRange(rate) {
  return { low: clamp(rate.low, 0, 1), high: clamp(rate.high, 0, 1) };
}

/**
 * Whether a rate's 95% range is too wide to say anything: wider than 20
 * points, or a half-width above both 1 point and the estimate itself (a 2%
 * rate "somewhere between 0% and 5%" does not tell a good campaign from a
 * bad one).
 */
export function tooWide(rate) {
  const { low, high } = rateRange(rate);
  const width = high - low;
  return width > 0.2 || width / 2 > Math.max(0.01, clamp(rate.estimate, 0, 1));
}

/** "3.8% (3.4–4.2%)", or "not enough data yet (0–40%)". */
export function rateText(rate) {
  const { low, high } = rateRange(rate);
  const range = `${percent(low).slice(0, -1)}–${percent(high)}`;
  return tooWide(rate) ? `not enough data yet (${range})` : `${percent(rate.estimate)} (${range})`;
}

/**
 * A shop-wide rate (conversion, click-through) in words: as [`rateText`],
 * except that a range that ends at 5% or below says what it does tell,
 * "under 3.3% (0–3.3%)" or "under 5% (0.1–5%)": a segment of hundreds of
 * shoppers that bought almost nothing is not a segment without data.
 * (Campaign arms keep [`rateText`]: there a range of 0–5% cannot tell a
 * good variant from a bad one.)
 */
export function shareText(rate) {
  const { low, high } = rateRange(rate);
  if (tooWide(rate) && high <= 0.05) {
    return `under ${percent(high)} (${percent(low).slice(0, -1)}–${percent(high)})`;
  }
  return rateText(rate);
}

/** "+1 (+0.5 to +1.6)", or "can't tell yet (−0.8 to +1.6)" when the range holds zero. */
export function upliftText(uplift) {
  const range = `${signedPoints(uplift.low)} to ${signedPoints(uplift.high)}`;
  return uplift.low <= 0 && uplift.high >= 0 ? `can't tell yet (${range})` : `${signedPoints(uplift.estimate)} (${range})`;
}

/**
 * What one variant's figures say against the holdout, in one sentence:
 * "Variant 1 beats the holdout with 97% probability: 3.8% of the shoppers it
 * reached responded, against 2.8% in the holdout, 1 point more (95% range:
 * +0.5 to +1.6 points)." Ranges too wide to say anything say so.
 *
 * @param {object} cell the variant's cell (pooled or one segment)
 * @param {object} base the holdout's cell in the same place
 * @param {number} variant
 * @param {number} k the k-anonymity threshold
 */
export function verdict(cell, base, variant, k) {
  const name = groupName(variant);
  if (!shown(cell) || !cell.rate) return `${name} has reached fewer than ${k} shoppers in these reports: too few to show anything yet.`;
  if (!shown(base) || !base.rate) return `The holdout has fewer than ${k} shoppers in these reports, so there is nothing to compare ${name} with yet.`;
  const own = rateRange(cell.rate);
  const holdout = rateRange(base.rate);
  if (tooWide(cell.rate) || tooWide(base.rate)) {
    return `Not enough data yet for ${name}: its response rate is somewhere between ${percent(own.low)} and ${percent(own.high)}, ` +
      `the holdout's between ${percent(holdout.low)} and ${percent(holdout.high)}.`;
  }
  const uplift = cell.uplift;
  const figures = `${percent(cell.rate.estimate)} of the shoppers it reached responded, against ${percent(base.rate.estimate)} in the holdout`;
  let difference;
  if (!uplift) {
    difference = "";
  } else if (uplift.low <= 0 && uplift.high >= 0) {
    difference = `; not enough data yet to tell whether it does better or worse: the difference is somewhere between ` +
      `${signedPoints(uplift.low)} and ${signedPoints(uplift.high)} points`;
  } else {
    difference = `, ${pointsWords(uplift.estimate)} ${uplift.estimate > 0 ? "more" : "fewer"} ` +
      `(95% range: ${signedPoints(uplift.low)} to ${signedPoints(uplift.high)} points)`;
  }
  const p = cell.prob_beats_holdout;
  const opening = typeof p === "number" ? `${name} beats the holdout with ${probabilityWords(p)} probability: ` : `${name}: `;
  return `${opening}${figures}${difference}.`;
}

/** The UTC day number (days since 1970-01-01) of a "YYYY-MM-DD" date, or null. */
export function dayOfDate(text) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text ?? "");
  if (!match) return null;
  const time = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  return Number.isFinite(time) ? Math.floor(time / 86_400_000) : null;
}

/** The "YYYY-MM-DD" date of a day number. */
export function dateOfDay(day) {
  return new Date(day * 86_400_000).toISOString().slice(0, 10);
}

/** A day in words: "Tuesday 18 November 2025". */
export function longDate(day) {
  return new Date(day * 86_400_000).toLocaleDateString("en-GB", {
    timeZone: "UTC", weekday: "long", day: "numeric", month: "long", year: "numeric",
  });
}

/** A range of days in words: "29 November – 3 December 2026". */
export function rangeWords(first, last) {
  const format = new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", day: "numeric", month: "long", year: "numeric" });
  const [from, to] = [new Date(first * 86_400_000), new Date(last * 86_400_000)];
  return typeof format.formatRange === "function" ? format.formatRange(from, to) : `${format.format(from)} – ${format.format(to)}`;
}

/** A day in few words: "18 Nov". */
export function shortDate(day) {
  return new Date(day * 86_400_000).toLocaleDateString("en-GB", { timeZone: "UTC", day: "numeric", month: "short" });
}

/** The shop's currency for money on the page: `?currency=EUR`, else pounds (the demo data's). */
export function currencyOf(search) {
  const code = new URLSearchParams(search).get("currency");
  return /^[A-Z]{3}$/.test(code ?? "") ? code : "GBP";
}

const moneyFormats = new Map();
/** An amount of money: 4.1 → "£4.10" (amounts below zero read as zero). */
export function money(x, currency = "GBP") {
  let format = moneyFormats.get(currency);
  if (!format) {
    format = new Intl.NumberFormat("en-GB", { style: "currency", currency, minimumFractionDigits: 2, maximumFractionDigits: 2 });
    moneyFormats.set(currency, format);
  }
  return format.format(Math.max(0, x));
}

/** "£4.10 (£3.62–£4.58)": an amount with its 95% range. */
export function moneyText(interval, currency = "GBP") {
  return `${money(interval.estimate, currency)} (${money(interval.low, currency)}–${money(interval.high, currency)})`;
}

/**
 * A part of a whole, both with 95% ranges, as a range of shares: the lowest
 * part over the highest whole to the highest part over the lowest whole
 * (wider than the share's own 95% range, never narrower). `null` when the
 * whole may be zero.
 */
export function shareRange(part, whole) {
  if (!(whole.low > 0)) return null;
  return {
    estimate: clamp(part.estimate / whole.estimate, 0, 1),
    low: clamp(part.low / whole.high, 0, 1),
    high: clamp(part.high / whole.low, 0, 1),
  };
}
