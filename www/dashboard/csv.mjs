// The CSV export of what the dashboard shows about campaigns: one row per
// day, campaign, group (holdout or variant), segment (or all shoppers) and
// measure, with the estimate and its 95% range; then each day's visit
// figures (conversion, revenue, recommendations), whose campaign and group
// are empty. Pure functions, no DOM.
import { campaignName, dateOfDay, groupName, kindWords, shown } from "./words.mjs";

export const CSV_COLUMNS = ["date", "campaign", "campaign_kind", "group", "segment", "measure", "estimate", "low", "high", "note"];

/**
 * A text field as CSV: quoted when it holds a comma, quote or line break, and
 * led by an apostrophe when a spreadsheet would read it as a formula.
 */
function textField(value) {
  let text = String(value ?? "");
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** A number rounded to `digits` decimals, or empty. */
function numberField(value, digits) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "";
  return String(Number(value.toFixed(digits)));
}

const clamp = (x, low, high) => Math.min(high, Math.max(low, x));

/** The measures of one cell: [measure, estimate, low, high] in the units their names state. */
function measures(cell, variant) {
  const rows = [
    ["shoppers reached", cell.exposed, (x) => numberField(Math.max(0, x), 0)],
    ["shoppers who responded", cell.responded, (x) => numberField(Math.max(0, x), 0)],
    ["response rate (%)", cell.rate, (x) => numberField(clamp(x, 0, 1) * 100, 2)],
  ];
  if (variant > 0) rows.push(["difference from holdout (percentage points)", cell.uplift, (x) => numberField(clamp(x, -1, 1) * 100, 2)]);
  return rows.map(([measure, interval, format]) =>
    interval ? [measure, format(interval.estimate), format(interval.low), format(interval.high), ""] : [measure, "", "", "", "not available"]);
}

/**
 * The CSV text of the campaigns of one or more days.
 *
 * @param {Array<{day: number, aggregates: object}>} days in the order shown
 * @param {(segment: number) => string} segmentName
 * @returns {string} RFC 4180 text (CRLF line ends), header first
 */
export function campaignsCsv(days, segmentName) {
  const lines = [CSV_COLUMNS.join(",")];
  for (const { day, aggregates } of days) {
    const k = aggregates.k_anonymity;
    for (const campaign of aggregates.campaigns ?? []) {
      for (const result of campaign.results ?? []) {
        const places = [
          ["all shoppers", result.pooled],
          ...(result.segments ?? []).map((cell, index) => [segmentName(cell.segment ?? index), cell]),
        ];
        for (const [segment, cell] of places) {
          const lead = [dateOfDay(day), campaignName(campaign.id), kindWords(campaign.kind), groupName(result.variant), segment].map(textField);
          if (!shown(cell)) {
            lines.push([...lead, "", "", "", "", textField(`hidden: fewer than ${k} shoppers`)].join(","));
            continue;
          }
          for (const [measure, estimate, low, high, note] of measures(cell, result.variant)) {
            lines.push([...lead, textField(measure), estimate, low, high, textField(note)].join(","));
          }
          if (result.variant > 0 && typeof cell.prob_beats_holdout === "number") {
            lines.push([...lead, textField("probability to beat the holdout (%)"), numberField(cell.prob_beats_holdout * 100, 1), "", "", ""].join(","));
          }
        }
      }
    }
    lines.push(...visitLines(day, aggregates, segmentName));
  }
  return lines.join("\r\n") + "\r\n";
}

/** A rate blurred on each device (one aggregator) says so, with the shoppers ±1 point needs. */
function localNote(metric) {
  return metric.devices_for_one_point
    ? textField(`blurred on each device (one aggregator): about ${metric.devices_for_one_point} shoppers for ±1 point`)
    : "";
}

/** The day's visit figures (conversion, revenue, recommendations), campaign and group left empty. */
function visitLines(day, aggregates, segmentName) {
  const visits = aggregates.visits;
  if (!visits) return [];
  const k = aggregates.k_anonymity;
  const lead = (segment) => [dateOfDay(day), "", "", "", segment].map(textField);
  const percentOf = (x) => numberField(clamp(x, 0, 1) * 100, 2);
  const lines = [];
  for (const [metric, measure] of [[visits.conversion, "conversion rate (%)"], [visits.click_through, "recommendation click-through (%)"]]) {
    if (!metric) continue;
    const places = [["all shoppers", metric.pooled], ...(metric.segments ?? []).map((cell, index) => [segmentName(cell.segment ?? index), cell])];
    for (const [segment, cell] of places) {
      lines.push(metric.published && shown(cell) && cell.rate
        ? [...lead(segment), textField(measure), percentOf(cell.rate.estimate), percentOf(cell.rate.low), percentOf(cell.rate.high), localNote(metric)].join(",")
        : [...lead(segment), textField(measure), "", "", "", textField(`hidden: fewer than ${k} shoppers, or not released`)].join(","));
    }
  }
  for (const [metric, measure] of [[visits.revenue, "revenue per visitor"], [visits.recommendation_revenue, "revenue from recommendations per visitor"]]) {
    if (!metric) continue;
    const note = `in the shop's currency; each shopper's day counts at most ${numberField(metric.cap, 2)}`;
    const money = (x) => numberField(Math.max(0, x), 2);
    lines.push(metric.published
      ? [...lead("all shoppers"), textField(measure), money(metric.per_device.estimate), money(metric.per_device.low), money(metric.per_device.high), textField(note)].join(",")
      : [...lead("all shoppers"), textField(measure), "", "", "", textField(`hidden: fewer than ${k} shoppers, or not released`)].join(","));
  }
  return lines;
}
