// The marketer's dashboard: everything on this page comes from
// `GET /v1/aggregates` (one call per day shown: each metric with its kind, a
// segment metric with its values' names, the lifecycle segments' names in the
// engine's order), plus the item titles of the catalogue published beside the
// bundle. Every name is shown in words (a campaign's id
// as words, its kind, "Holdout (not shown the campaign)"), never as the
// metric's id.
//
// Charts are hand-made SVG from plain JS: bars and dots with 95% range
// whiskers are all the page draws; a chart library would add tens of
// kilobytes and a dependency to keep for that, and most draw on <canvas>,
// which is opaque to screen readers. Each chart carries a text alternative,
// and every figure is also in a table or a sentence.
import { SIMPSON_ADVICE, SIMPSON_NOISE, simpsonCheck, simpsonSentence } from "./simpson.mjs";
import { campaignsCsv } from "./csv.mjs";
import {
  HOLDOUT, campaignName, capitalize, currencyOf, dateOfDay, dayOfDate, groupName, kindWords, longDate, money, moneyText,
  percent, probabilityWords, rangeWords, rateRange, rateText, shareRange, shareText, shortDate, shown, tooWide, upliftText, verdict, whole,
} from "./words.mjs";

const SVG = "http://www.w3.org/2000/svg";
/** How many days back the edge serves (`READABLE_DAYS` in edge-worker/src/http.rs). */
const READABLE_DAYS = 92;
/** The longest trend the page asks for: one request per day. */
const MAX_TREND_DAYS = 31;
/** Days asked for at the same time when a trend is read. */
const PARALLEL_READS = 3;

const main = document.getElementById("dashboard");
const form = document.getElementById("controls");
// The shop's dashboard token: `cargo xtask demo` prints a link with it in the
// fragment (which the browser never sends); it is moved to this tab's session
// storage at once and sent only as the Authorization header of the reads.
const TOKEN_KEY = "cove.dashboard.token";
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get("token")) {
  sessionStorage.setItem(TOKEN_KEY, fragment.get("token"));
  history.replaceState(null, "", location.pathname + location.search);
}

const today = Math.floor(Date.now() / 86_400_000);
/** The currency money is shown in (`?currency=EUR`; pounds by default, as the demo shop's). */
const currency = currencyOf(location.search);
const params = new URLSearchParams(location.search);
const shop = params.get("shop") || "demo";
// The day: a calendar date (`date=YYYY-MM-DD`), or the API's day number
// (`day=N`, days since 1970-01-01, as links from the tools carry); none means
// the edge's today.
const chosenDay = dayOfDate(params.get("date")) ?? (/^\d{1,10}$/.test(params.get("day") ?? "") ? Number(params.get("day")) : null);
const fromDay = dayOfDate(params.get("from"));
form.shop.value = shop;
for (const input of [form.date, form.from]) {
  input.min = dateOfDay(today - READABLE_DAYS);
  input.max = dateOfDay(today);
}
if (chosenDay !== null) form.date.value = dateOfDay(chosenDay);
if (fromDay !== null) form.from.value = dateOfDay(fromDay);
form.addEventListener("submit", (event) => {
  event.preventDefault();
  const typed = form.querySelector("#token").value.trim();
  if (typed) sessionStorage.setItem(TOKEN_KEY, typed);
  const query = new URLSearchParams({ shop: form.shop.value.trim() || "demo" });
  if (form.date.value) query.set("date", form.date.value);
  if (form.from.value) query.set("from", form.from.value);
  if (`?${query}` === location.search) location.reload();
  else location.search = query.toString();
});

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function svgElement(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

function svgText(x, y, text, attributes = {}) {
  const node = svgElement("text", { x, y, ...attributes });
  node.textContent = text;
  return node;
}

/** A table that scrolls sideways inside its own box when the screen is narrow. */
function scrollBox(table, label) {
  return element("div", { class: "table-box", role: "region", "aria-label": label, tabindex: "0" }, table);
}

const clamp = (x, low, high) => Math.min(high, Math.max(low, x));
/** At most `length` characters, with an ellipsis when cut. */
const shorten = (text, length) => (text.length > length ? `${text.slice(0, length - 1).trimEnd()}…` : text);
const CHART_WIDTH = 360;

/**
 * Horizontal bars with 95% range whiskers. Each row is its label, its value
 * under it, then its bar, so the chart reads at any width.
 * @param {string} title
 * @param {Array<{label: string, value: string, estimate?: number, low?: number, high?: number, hidden?: boolean, holdout?: boolean, vague?: boolean}>} rows
 *   (`vague`: a range too wide to say anything, drawn without a bar)
 * @param {{domain?: [number, number], axis: (x: number) => string}} options
 */
function barChart(title, rows, { domain, axis }) {
  const rowHeight = 50;
  const visible = rows.filter((r) => !r.hidden);
  const [low, high] = domain ?? [Math.min(0, ...visible.map((r) => r.low)), Math.max(1e-9, ...visible.map((r) => r.high))];
  const x = (v) => 1 + ((clamp(v, low, high) - low) / (high - low || 1)) * (CHART_WIDTH - 2);
  const height = rows.length * rowHeight + 14;
  const svg = svgElement("svg", {
    viewBox: `0 0 ${CHART_WIDTH} ${height}`,
    role: "img",
    "aria-label": `${title}: ${rows.map((r) => `${r.label}: ${r.value}`).join("; ")}`,
  });
  rows.forEach((row, i) => {
    const y = i * rowHeight;
    svg.append(svgText(0, y + 13, row.label, { class: "bar-label" }));
    svg.append(svgText(0, y + 27, row.value, { class: row.hidden ? "hidden-value" : "bar-value" }));
    if (row.hidden) return;
    if (!row.vague) {
      const from = x(Math.max(low, Math.min(0, row.estimate)));
      const to = x(Math.max(0, row.estimate));
      svg.append(svgElement("rect", { x: from, y: y + 32, width: Math.max(1, to - from), height: 11, class: row.holdout ? "bar holdout" : "bar" }));
    }
    svg.append(svgElement("line", { x1: x(row.low), x2: x(row.high), y1: y + 37.5, y2: y + 37.5, class: "whisker" }));
    for (const end of [row.low, row.high]) svg.append(svgElement("line", { x1: x(end), x2: x(end), y1: y + 33, y2: y + 42, class: "whisker" }));
  });
  const axisY = rows.length * rowHeight + 8;
  if (low < 0) svg.append(svgElement("line", { x1: x(0), x2: x(0), y1: 30, y2: axisY - 8, class: "zero" }));
  svg.append(svgText(0, axisY, axis(low), { class: "axis-label" }));
  svg.append(svgText(CHART_WIDTH, axisY, axis(high), { class: "axis-label", "text-anchor": "end" }));
  return element("figure", { class: "chart" }, element("figcaption", {}, title), svg);
}

/** Everything the sections share about one shop-day. */
function contextOf(aggregates, items) {
  const names = aggregates.lifecycle_segments ?? [];
  const segmentName = (index) => names[index] ?? `segment ${index + 1}`;
  return { k: aggregates.k_anonymity, segmentName, items };
}

const hiddenWords = (k) => `hidden (fewer than ${k} shoppers)`;

/** The rate chart's rows: one per group, pooled over segments. */
function rateRows(campaign, k) {
  return campaign.results.map((r) => {
    const label = groupName(r.variant);
    if (!shown(r.pooled) || !r.pooled.rate) return { label, value: hiddenWords(k), hidden: true };
    const { low, high } = rateRange(r.pooled.rate);
    return { label, value: rateText(r.pooled.rate), estimate: clamp(r.pooled.rate.estimate, 0, 1), low, high, holdout: r.variant === 0, vague: tooWide(r.pooled.rate) };
  });
}

/** The groups of a campaign, pooled: reach, rate, difference and chance, one row each (stacked on a narrow screen). */
function groupsTable(campaign, k) {
  const columns = ["Group", "Shoppers reached", "Response rate (95% range)", "Difference from the holdout, in points (95% range)", "Chance to beat the holdout"];
  const table = element("table", { class: "stack" }, element("caption", {}, "All shoppers"));
  table.append(element("thead", {}, element("tr", {}, ...columns.map((c) => element("th", { scope: "col" }, c)))));
  const body = element("tbody");
  for (const result of campaign.results) {
    const cell = result.pooled;
    const row = element("tr", { "data-group": String(result.variant) }, element("th", { scope: "row" }, groupName(result.variant)));
    if (!shown(cell)) {
      row.append(element("td", { colspan: String(columns.length - 1), class: "hidden-value" }, hiddenWords(k)));
      body.append(row);
      continue;
    }
    const values = [
      whole(cell.exposed.estimate),
      cell.rate ? rateText(cell.rate) : "no rate",
      result.variant === 0 ? "—" : cell.uplift ? upliftText(cell.uplift) : "not available",
      result.variant === 0 ? "—" : typeof cell.prob_beats_holdout === "number" ? probabilityWords(cell.prob_beats_holdout) : "not available",
    ];
    values.forEach((value, i) => row.append(element("td", value === "—" ? { "data-label": columns[i + 1], class: "not-applicable" } : { "data-label": columns[i + 1] }, value)));
    body.append(row);
  }
  table.append(body);
  return table;
}

/** Response rate by segment (rows) and group (columns), with the shoppers reached. */
function segmentTable(campaign, ctx, caption) {
  const table = element("table", { class: "stack" }, element("caption", {}, caption));
  const head = element("tr", {}, element("th", { scope: "col" }, "Segment"));
  for (const result of campaign.results) head.append(element("th", { scope: "col" }, groupName(result.variant)));
  table.append(element("thead", {}, head));
  const body = element("tbody");
  const rows = [
    ...campaign.results[0].segments.map((cell, index) => [capitalize(ctx.segmentName(cell.segment ?? index)), (r) => r.segments[index]]),
    ["All shoppers", (r) => r.pooled],
  ];
  for (const [name, cellOf] of rows) {
    const tr = element("tr", {}, element("th", { scope: "row" }, name));
    for (const result of campaign.results) {
      const cell = cellOf(result);
      const label = groupName(result.variant);
      tr.append(
        !shown(cell) || !cell.rate
          ? element("td", { class: "hidden-value", "data-label": label }, "hidden")
          : element("td", { "data-label": label }, rateText(cell.rate), element("br"), element("small", {}, `${whole(cell.exposed.estimate)} reached`)),
      );
    }
    body.append(tr);
  }
  table.append(body);
  const note = element("p", { class: "hint" }, `Response rate (95% range) and shoppers reached. "Hidden": fewer than ${ctx.k} shoppers in that group.`);
  return element("div", {}, scrollBox(table, caption), note);
}

function variantsInWords(campaign) {
  const variants = campaign.results.filter((r) => r.variant > 0).map((r) => `Variant ${r.variant}`);
  if (variants.length <= 1) return `${variants[0] ?? "No variant"} is`;
  return `${variants.slice(0, -1).join(", ")} and ${variants[variants.length - 1]} are`;
}

function campaignBlock(campaign, ctx) {
  const block = element("article", { class: "campaign", "data-campaign": campaign.id },
    element("h3", {}, campaignName(campaign.id), " ", element("span", { class: "kind" }, kindWords(campaign.kind))));
  if (!campaign.published) {
    block.append(element("p", { class: "hidden-value" }, campaign.release?.status === "not_yet"
      ? `Not released yet: ${campaign.release.reason ?? "the day's reports are still being added up"}.`
      : `Fewer than ${ctx.k} shoppers in this campaign's audience reported: nothing can be shown without putting their privacy at risk.`));
    return block;
  }
  block.append(element("p", { class: "hint" },
    `${whole(campaign.n_reports)} shoppers in this campaign's audience reported. ${variantsInWords(campaign)} compared with the holdout: ` +
    "shoppers who were eligible but not shown the campaign, so the difference is what the campaign itself did."));

  const { reversals, checkedPairs } = simpsonCheck(campaign);
  if (reversals.length) {
    const warning = element("div", { class: "warning", role: "alert", "data-simpson": "warning" },
      element("h4", {}, "Careful: the overall rates point the wrong way"));
    for (const reversal of reversals) warning.append(element("p", { class: "reversal" }, simpsonSentence(reversal, ctx.segmentName)));
    warning.append(element("p", {}, SIMPSON_ADVICE));
    if (reversals.some((r) => !r.conclusive)) warning.append(element("p", {}, SIMPSON_NOISE));
    warning.append(segmentTable(campaign, ctx, `${campaignName(campaign.id)}: response rate by segment`));
    block.append(warning);
  }

  const verdicts = element("ul", { class: "verdicts" });
  const holdout = campaign.results[0];
  for (const result of campaign.results.filter((r) => r.variant > 0)) {
    verdicts.append(element("li", { "data-verdict": String(result.variant) }, verdict(result.pooled, holdout.pooled, result.variant, ctx.k)));
  }
  block.append(verdicts, groupsTable(campaign, ctx.k));
  if (campaign.devices_for_one_point) {
    block.append(element("p", { class: "hint", "data-precision": "local" },
      `These reports are blurred on each shopper's device (this shop has no second aggregator), so a response rate needs about ` +
      `${whole(campaign.devices_for_one_point)} shoppers per group to be known within ±1 point.`));
  }
  const rows = rateRows(campaign, ctx.k);
  const top = Math.max(0.01, ...rows.filter((r) => !r.hidden).map((r) => r.high));
  block.append(barChart("Response rate, all shoppers (bars: estimate; lines: 95% range)", rows, { domain: [0, top], axis: percent }));
  if (!reversals.length) {
    block.append(checkedPairs
      ? element("p", { class: "ok", "data-simpson": "none" },
        "Checked where there are enough shoppers: the comparison between the groups points the same way inside the segments as overall.")
      : element("p", { class: "hint", "data-simpson": "unchecked" },
        "Not enough shoppers in each segment yet to check that the comparison between the groups holds inside the segments."));
    block.append(element("details", {}, element("summary", {}, "Response rate by segment"),
      segmentTable(campaign, ctx, `${campaignName(campaign.id)}: response rate by segment`)));
  }
  return block;
}

function campaignSection(aggregates, ctx) {
  const section = element("section", { "aria-labelledby": "campaigns-heading", "data-section": "campaigns" },
    element("h2", { id: "campaigns-heading" }, "Campaigns"));
  const campaigns = aggregates.campaigns ?? [];
  if (!campaigns.length) section.append(element("p", {}, "This shop runs no campaigns."));
  for (const campaign of campaigns) section.append(campaignBlock(campaign, ctx));
  return section;
}

/** The visit metrics' kinds (engine: `privacy::MetricKind::is_visit`). */
const VISIT_KINDS = ["conversion", "revenue", "recommendation_click_through", "recommendation_revenue"];

/** With one aggregator, the visit rate that is blurred on each device (it names the shoppers ±1 point needs); else undefined. */
function blurredVisitRate(visits) {
  return [visits.conversion, visits.click_through].find((metric) => metric?.devices_for_one_point);
}

/** Why a visit figure is missing, in words. */
function visitMissing(metric, k) {
  if (!metric) return "not collected by this shop.";
  if (metric.release?.status === "not_yet") return `not released yet (${metric.release.reason ?? "the day's reports are still being added up"}).`;
  return `fewer than ${k} shoppers reported, nothing can be shown yet.`;
}

/** A rate (conversion or click-through) by segment: a bar chart with the pooled rate first. */
function visitRateChart(metric, ctx, title, rateWords) {
  const cells = [["All shoppers", metric.pooled], ...metric.segments.map((cell, i) => [capitalize(ctx.segmentName(cell.segment ?? i)), cell])];
  const rows = cells.map(([label, cell]) => {
    if (!shown(cell) || !cell.rate) return { label, value: hiddenWords(ctx.k), hidden: true };
    const { low, high } = rateRange(cell.rate);
    return { label, value: `${shareText(cell.rate)} of ${whole(cell.exposed.estimate)} ${rateWords}`, estimate: clamp(cell.rate.estimate, 0, 1), low, high, vague: tooWide(cell.rate) };
  });
  const top = Math.max(0.01, ...rows.filter((r) => !r.hidden).map((r) => r.high));
  return barChart(title, rows, { domain: [0, top], axis: percent });
}

/**
 * Conversion, revenue per visitor, the recommendations' click-through and
 * the revenue they brought, for the day: each a figure with its 95% range in
 * a sentence, the rates also by segment.
 */
function visitsSection(aggregates, ctx) {
  const visits = aggregates.visits;
  const section = element("section", { "aria-labelledby": "visits-heading", "data-section": "visits" },
    element("h2", { id: "visits-heading" }, "Sales and recommendations"));
  if (!visits) {
    section.append(element("p", { class: "hint", "data-visits": "local" },
      "Conversion, revenue and the recommendations' results are shown with the shop's second aggregator. This shop has one: " +
      "revenue is not collected, and conversion and click-through are only blurred on each device, too much to show as rates."));
    return section;
  }
  const { conversion, revenue, click_through: clicks, recommendation_revenue: fromRecs } = visits;
  // One aggregator: the rates are blurred on each device, the revenues not collected.
  const local = blurredVisitRate(visits);
  const notWithOne = "not collected: a shop with one aggregator does not collect money figures (they need the second aggregator).";
  const list = element("ul", { class: "figures" });
  const figure = (name, key, text) => list.append(element("li", { "data-visit": key }, element("strong", {}, `${name}: `), text));
  const pooled = (metric) => (metric?.published && shown(metric.pooled) && metric.pooled.rate ? metric.pooled : null);
  const converted = pooled(conversion);
  figure("Conversion rate", "conversion", converted
    ? `${shareText(converted.rate)} of the ${whole(converted.exposed.estimate)} shoppers who reported bought something.`
    : visitMissing(conversion, ctx.k));
  figure("Revenue per visitor", "revenue", revenue?.published
    ? `${moneyText(revenue.per_device, currency)} per shopper who reported, ${money(revenue.total.estimate, currency)} in all (95% range ${money(revenue.total.low, currency)}–${money(revenue.total.high, currency)}).`
    : local ? notWithOne : visitMissing(revenue, ctx.k));
  const clicked = pooled(clicks);
  figure("Recommendation click-through", "click-through", clicked
    ? `${shareText(clicked.rate)} of the ${whole(clicked.exposed.estimate)} shoppers shown suggestions clicked one.`
    : visitMissing(clicks, ctx.k));
  let attributed = local ? notWithOne : visitMissing(fromRecs, ctx.k);
  if (fromRecs?.published) {
    attributed = `${moneyText(fromRecs.per_device, currency)} per shopper, ${money(fromRecs.total.estimate, currency)} in all, spent on suggested products the shopper had clicked that day`;
    const share = revenue?.published ? shareRange(fromRecs.per_device, revenue.per_device) : null;
    attributed += share ? ` (${percent(share.estimate)} of revenue; somewhere between ${percent(share.low)} and ${percent(share.high)}).` : ".";
  }
  figure("Revenue from recommendations", "recommendation-revenue", attributed);
  section.append(list);
  if (local) {
    section.append(element("p", { class: "hint", "data-precision": "local" },
      "These rates are blurred on each shopper's device (this shop has no second aggregator), so a rate needs about " +
      `${whole(local.devices_for_one_point)} shoppers reporting to be known within ±1 point; the 95% ranges above say how far off today's may be.`));
  }
  const cap = revenue?.cap ?? fromRecs?.cap;
  if (cap) {
    section.append(element("p", { class: "hint", "data-visits": "cap" },
      `Each shopper's spending counts for at most ${money(cap, currency)} a day (more counts as ${money(cap, currency)}), so that no single order can be read from the totals; ` +
      "revenue per visitor is therefore a little low on days with very large orders."));
  }
  const charts = element("div", { class: "charts" });
  if (converted) charts.append(visitRateChart(conversion, ctx, "Conversion rate by segment (bars: estimate; lines: 95% range)", "shoppers"));
  if (clicked) charts.append(visitRateChart(clicks, ctx, "Recommendation click-through by segment", "shown suggestions"));
  if (charts.childElementCount) section.append(charts);
  return section;
}

/** What each kind of metric is called on this page (engine: `privacy::MetricKind`). */
const METRIC_TITLES = {
  lifecycle_segment: "Shoppers by lifecycle segment",
  price_tier: "Shoppers by price tier",
  item_interest: "Products of interest",
  review_sentiment: "Review sentiment",
  conversion: "Conversion",
  revenue: "Revenue",
  recommendation_click_through: "Recommendation click-through",
  recommendation_revenue: "Revenue from recommendations",
};
const SEGMENT_KINDS = ["lifecycle_segment", "price_tier"];

function segmentSection(aggregates, ctx) {
  const section = element("section", { "aria-labelledby": "segments-heading", "data-section": "segments" },
    element("h2", { id: "segments-heading" }, "Your shoppers"));
  const charts = element("div", { class: "charts" });
  for (const metric of aggregates.metrics.filter((m) => SEGMENT_KINDS.includes(m.kind))) {
    const title = METRIC_TITLES[metric.kind];
    if (!metric.published) {
      charts.append(element("p", { class: "hidden-value" }, metric.release?.status === "not_yet"
        ? `${title}: not released yet (${metric.release.reason ?? "the day's reports are still being added up"}).`
        : `${title}: fewer than ${ctx.k} shoppers reported, nothing can be shown yet.`));
      continue;
    }
    const label = (v) => capitalize(metric.labels?.[v] ?? `group ${v + 1}`);
    const byValue = new Map(metric.values.map((v) => [v.value, v]));
    const rows = Array.from({ length: metric.mechanism.domain }, (_, v) => {
      const e = byValue.get(v);
      return e
        ? { label: label(v), value: `about ${whole(e.count)} (${whole(e.low)}–${whole(e.high)})`, estimate: Math.max(0, e.count), low: Math.max(0, e.low), high: Math.max(0, e.high) }
        : { label: label(v), value: hiddenWords(ctx.k), hidden: true };
    });
    charts.append(barChart(`${title} (${whole(metric.n_reports)} reported)`, rows, { axis: whole }));
  }
  section.append(charts);
  return section;
}

const regionNames = typeof Intl.DisplayNames === "function" ? new Intl.DisplayNames(["en"], { type: "region" }) : null;
/** A country code in words: "GB" → "United Kingdom". */
function countryName(code) {
  try {
    return regionNames?.of(code) ?? code;
  } catch {
    return code;
  }
}

function trendingSection(aggregates, ctx) {
  const section = element("section", { "aria-labelledby": "trending-heading", "data-section": "trending" },
    element("h2", { id: "trending-heading" }, "What shoppers are most interested in"));
  section.append(element("p", { class: "hint" },
    "Each shopper's browser reports the one product it is most interested in, blurred for privacy; the country is where the report came from."));
  const overall = aggregates.metrics.find((m) => m.kind === "item_interest");
  // A head bundle's reports name its own products, then "none yet", then
  // "outside the head" (the engine's registry::item_interest_domain).
  if (overall && overall.mechanism.domain > aggregates.report_items + 1) {
    section.append(element("p", { class: "hint" },
      `This shop's catalogue is published as a head of ${whole(aggregates.report_items)} products and shards: shoppers' browsers name a product of the head, and count any other product together, as "outside the head".`));
  }
  const lists = [
    ...(overall?.published ? [{ country: "All countries", n_reports: overall.n_reports, values: overall.values, suppressed_values: overall.suppressed_values }] : []),
    ...(aggregates.trending_by_country ?? []).map((list) => ({ ...list, country: countryName(list.country) })),
  ];
  if (!lists.length || !ctx.items) {
    section.append(element("p", { class: "hidden-value" }, `Fewer than ${ctx.k} shoppers reported what interests them: nothing can be shown yet.`));
    return section;
  }
  const select = element("select", { id: "trending-country" });
  lists.forEach((list, i) => select.append(element("option", { value: String(i) }, `${list.country} (${whole(list.n_reports)} shoppers)`)));
  const holder = element("div");
  const render = () => {
    const list = lists[Number(select.value)];
    const rows = list.values
      .filter((v) => v.value < ctx.items.length)
      .sort((a, b) => b.count - a.count)
      .slice(0, 10)
      .map((v) => ({
        label: shorten(ctx.items[v.value].title, 32),
        value: `about ${whole(v.count)}`,
        estimate: Math.max(0, v.count), low: Math.max(0, v.low), high: Math.max(0, v.high),
      }));
    holder.replaceChildren(
      rows.length
        ? barChart(`Products shoppers are most interested in, ${list.country === "All countries" ? "all countries" : list.country}`, rows, { axis: whole })
        : element("p", { class: "hidden-value" }, `No product reaches ${ctx.k} interested shoppers in ${list.country} yet.`),
    );
  };
  select.addEventListener("change", render);
  section.append(element("label", {}, "Where shoppers are ", select), holder);
  render();
  return section;
}

/** A category's name; the trainer leaves items its taste labels do not describe without one (the empty name). */
function categoryName(names, index) {
  const name = names[index];
  if (name === undefined) return `category ${index + 1}`;
  return name === "" ? "no category" : name;
}

/**
 * Review sentiment per segment and per category (negative share with 95%
 * ranges), and a warning for a segment markedly unhappier than the rest,
 * naming the categories that drive it. Groups below k are left out by the edge.
 */
function sentimentSection(aggregates, ctx) {
  const sentiment = aggregates.sentiment;
  const section = element("section", { "aria-labelledby": "sentiment-heading", "data-section": "sentiment" },
    element("h2", { id: "sentiment-heading" }, "What reviews say"));
  if (!sentiment) {
    section.append(element("p", {}, "This shop does not collect review sentiment."));
    return section;
  }
  if (!sentiment.published) {
    section.append(element("p", { class: "hidden-value" }, `Fewer than ${ctx.k} reviews reported: nothing can be shown yet.`));
    return section;
  }
  section.append(element("p", { class: "hint" },
    `${whole(sentiment.n_reports)} reviews, each read on the shopper's own device: only whether it was negative, neutral or positive was reported, never its text.`));
  for (const flag of sentiment.flagged) {
    const drivers = flag.drivers.map((c) => categoryName(sentiment.category_names, c)).join("; ");
    const name = sentiment.segment_names[flag.segment] ?? `segment ${flag.segment + 1}`;
    section.append(element("div", { class: "warning", role: "alert", "data-sentiment-flag": name },
      element("strong", {}, `Unhappy segment: ${name} shoppers. `),
      `${percent(flag.sentiment.negative_share)} of their reviews are negative (95% range ${percent(flag.sentiment.low)}–${percent(flag.sentiment.high)}), ` +
      `against ${percent(flag.others.negative_share)} (${percent(flag.others.low)}–${percent(flag.others.high)}) for everyone else; ` +
      `driven by: ${drivers || "no single category"}.`));
  }
  const rows = (groups, nameOf) => groups.map((g) => {
    const { low, high } = rateRange(g);
    return { label: nameOf(g.index), value: `${percent(g.negative_share)} (${percent(low).slice(0, -1)}–${percent(high)})`, estimate: clamp(g.negative_share, 0, 1), low, high };
  });
  const charts = element("div", { class: "charts" });
  const top = (groups) => Math.max(0.01, ...groups.map((g) => clamp(g.high, 0, 1)));
  charts.append(
    barChart("Share of negative reviews by segment", rows(sentiment.segments, (i) => capitalize(sentiment.segment_names[i] ?? `segment ${i + 1}`)),
      { domain: [0, top(sentiment.segments)], axis: percent }),
    barChart("Share of negative reviews by product category", rows(sentiment.categories, (i) => categoryName(sentiment.category_names, i)),
      { domain: [0, top(sentiment.categories)], axis: percent }),
  );
  section.append(charts);
  if (sentiment.suppressed_groups > 0) {
    section.append(element("p", { class: "hidden-value" },
      `${sentiment.suppressed_groups} segments or categories have fewer than ${ctx.k} reviews and are not shown.`));
  }
  return section;
}

/** How the numbers are made, for the curious: the privacy figures stay here, out of the way. */
function aboutSection(aggregates) {
  const list = element("ul");
  for (const metric of aggregates.metrics) {
    const what = METRIC_TITLES[metric.kind] ?? capitalize(metric.name.replaceAll(/[._]/g, " "));
    list.append(element("li", {}, `${what}: ${metric.n_reports === null ? `fewer than ${aggregates.k_anonymity}` : whole(metric.n_reports)} reports, privacy cost ε = ${metric.epsilon} each.`));
  }
  for (const campaign of aggregates.campaigns ?? []) {
    list.append(element("li", {}, `${campaignName(campaign.id)}: ${campaign.n_reports === null ? `fewer than ${aggregates.k_anonymity}` : whole(campaign.n_reports)} reports, privacy cost ε = ${campaign.epsilon} each.`));
  }
  return element("details", { class: "about" },
    element("summary", {}, "How these numbers are made"),
    element("p", {}, (aggregates.aggregation === "secret_shared"
      ? "No shopper's data leaves their device in readable form. Each browser splits its daily report into two halves, one for the shop and one for an independent helper; " +
        "neither half alone says anything, and the two only ever add up totals, with a little random noise, once a day has ended. Each total comes with a 95% range that says how far off it may be. "
      : "No shopper's data leaves their device. Each browser sends the shop at most one report a day, blurred so that no single report says anything for sure about its shopper; " +
        "the shop only ever sees totals, estimated from many reports, with a 95% range that says how far off they may be. ") +
      `Any group of fewer than ${aggregates.k_anonymity} shoppers is hidden. The privacy cost (ε) is how much each report may tell about its shopper: smaller is more private.`),
    list);
}

/** The trend over a range of days: one line per day and group, each day read on its own. */
function trendSection(days, ctx, note, download) {
  const first = days[0].day;
  const last = days[days.length - 1].day;
  const section = element("section", { "aria-labelledby": "trend-heading", "data-section": "trend" },
    element("h2", { id: "trend-heading" }, `Day by day, ${rangeWords(first, last)}`));
  if (note) section.append(element("p", { class: "hint", "data-trend-note": "" }, note));
  section.append(element("p", { class: "hint" },
    "Each day's figures stand on their own: the reports of different days are published separately and are not added together here."), download);
  const reported = element("table", { class: "stack" }, element("caption", {}, "Shoppers who reported"),
    element("thead", {}, element("tr", {}, element("th", { scope: "col" }, "Day"), element("th", { scope: "col" }, "Shoppers who reported"))));
  const reportedBody = element("tbody");
  for (const { day, aggregates, failed } of days) {
    reportedBody.append(element("tr", {}, element("th", { scope: "row" }, longDate(day)),
      element("td", { "data-label": "Shoppers who reported" }, failed ? "could not be read" : aggregates?.envelopes ? whole(aggregates.envelopes) : `none, or fewer than ${ctx.k}`)));
  }
  reported.append(reportedBody);
  section.append(scrollBox(reported, "Shoppers who reported, by day"));

  if (days.some(({ aggregates }) => aggregates?.visits)) section.append(visitsTrendTable(days, ctx));

  const ids = [];
  for (const { aggregates } of days) for (const c of aggregates?.campaigns ?? []) if (!ids.includes(c.id)) ids.push(c.id);
  for (const id of ids) {
    const perDay = days.map(({ day, aggregates }) => ({ day, campaign: aggregates?.campaigns?.find((c) => c.id === id) }));
    const variants = Math.max(...perDay.map((d) => d.campaign?.results?.length ?? 0));
    const block = element("article", { class: "campaign", "data-trend-campaign": id }, element("h3", {}, campaignName(id)));
    block.append(trendChart(perDay, variants));
    const table = element("table", { class: "stack" }, element("caption", {}, `${campaignName(id)}: response rate by day (95% range)`));
    const head = element("tr", {}, element("th", { scope: "col" }, "Day"));
    for (let v = 0; v < variants; v += 1) head.append(element("th", { scope: "col" }, groupName(v)));
    table.append(element("thead", {}, head));
    const body = element("tbody");
    for (const { day, campaign } of perDay) {
      const tr = element("tr", {}, element("th", { scope: "row" }, shortDate(day)));
      for (let v = 0; v < variants; v += 1) {
        const cell = campaign?.results?.[v]?.pooled;
        if (!shown(cell) || !cell.rate) {
          tr.append(element("td", { class: "hidden-value", "data-label": groupName(v) }, "hidden"));
          continue;
        }
        const td = element("td", { "data-label": groupName(v) }, rateText(cell.rate));
        if (v > 0 && typeof cell.prob_beats_holdout === "number") {
          td.append(element("br"), element("small", {}, `beats the holdout: ${probabilityWords(cell.prob_beats_holdout)}`));
        }
        tr.append(td);
      }
      body.append(tr);
    }
    table.append(body);
    block.append(scrollBox(table, `${campaignName(id)}: response rate by day`));
    section.append(block);
  }
  return section;
}

/** Conversion, revenue per visitor, click-through and revenue from recommendations, one row a day. */
function visitsTrendTable(days, ctx) {
  const columns = ["Conversion rate", "Revenue per visitor", "Recommendation click-through", "Revenue from recommendations, per visitor"];
  const table = element("table", { class: "stack", "data-trend-visits": "" }, element("caption", {}, "Sales and recommendations by day (95% range)"),
    element("thead", {}, element("tr", {}, element("th", { scope: "col" }, "Day"), ...columns.map((c) => element("th", { scope: "col" }, c)))));
  const body = element("tbody");
  const rate = (metric) => (metric?.published && shown(metric.pooled) && metric.pooled.rate ? rateText(metric.pooled.rate) : "hidden");
  const amount = (metric, visits) => {
    if (metric?.published) return moneyText(metric.per_device, currency);
    // One aggregator: the money figures are not collected at all.
    return !metric && blurredVisitRate(visits) ? "not collected (one aggregator)" : "hidden";
  };
  for (const { day, aggregates, failed } of days) {
    const visits = aggregates?.visits;
    const values = failed || !visits
      ? columns.map(() => (failed ? "could not be read" : "hidden"))
      : [rate(visits.conversion), amount(visits.revenue, visits), rate(visits.click_through), amount(visits.recommendation_revenue, visits)];
    body.append(element("tr", {}, element("th", { scope: "row" }, shortDate(day)),
      ...values.map((value, i) => element("td", value === "hidden" ? { "data-label": columns[i], class: "hidden-value" } : { "data-label": columns[i] },
        value === "hidden" ? `hidden (fewer than ${ctx.k} shoppers, or not released)` : value))));
  }
  table.append(body);
  return scrollBox(table, "Sales and recommendations by day");
}

/** Dots with 95% range whiskers: each group's response rate on each day. */
function trendChart(perDay, variants) {
  const width = CHART_WIDTH;
  const height = 180;
  const [left, right, top, bottom] = [34, 8, 8, 136];
  const cells = perDay.flatMap(({ campaign }) => (campaign?.results ?? []).map((r) => r.pooled).filter((c) => shown(c) && c.rate && !tooWide(c.rate)));
  const high = Math.max(0.01, ...cells.map((c) => rateRange(c.rate).high));
  const x = (i) => left + ((i + 0.5) / perDay.length) * (width - left - right);
  const y = (v) => bottom - (clamp(v, 0, high) / high) * (bottom - top);
  const svg = svgElement("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": "Response rate of each group by day, with 95% ranges; days whose range is too wide to say anything are left out. The table below has every figure.",
  });
  svg.append(svgElement("line", { x1: left, x2: width - right, y1: bottom, y2: bottom, class: "axis" }));
  svg.append(svgText(left - 4, bottom + 4, "0%", { "text-anchor": "end", class: "axis-label" }));
  svg.append(svgText(left - 4, top + 8, percent(high), { "text-anchor": "end", class: "axis-label" }));
  svg.append(svgText(x(0), bottom + 16, shortDate(perDay[0].day), { "text-anchor": "start", class: "axis-label" }));
  if (perDay.length > 1) svg.append(svgText(x(perDay.length - 1), bottom + 16, shortDate(perDay[perDay.length - 1].day), { "text-anchor": "end", class: "axis-label" }));
  const step = Math.min(6, (width - left - right) / perDay.length / (variants + 1));
  perDay.forEach(({ campaign }, i) => {
    (campaign?.results ?? []).forEach((result, v) => {
      const cell = result.pooled;
      if (!shown(cell) || !cell.rate || tooWide(cell.rate)) return;
      const cx = x(i) + (v - (variants - 1) / 2) * step;
      const { low, high: top95 } = rateRange(cell.rate);
      svg.append(svgElement("line", { x1: cx, x2: cx, y1: y(low), y2: y(top95), class: `series-${Math.min(v, 3)} whisker-line` }));
      svg.append(svgElement("circle", { cx, cy: y(cell.rate.estimate), r: 2.5, class: `series-${Math.min(v, 3)}` }));
    });
  });
  svg.append(svgText(left, height - 4, "Each dot a day's rate; its line the 95% range.", { class: "axis-label" }));
  const legend = element("ul", { class: "legend" });
  for (let v = 0; v < variants; v += 1) {
    legend.append(element("li", {}, element("span", { class: `swatch series-${Math.min(v, 3)}`, "aria-hidden": "true" }), v === 0 ? HOLDOUT : groupName(v)));
  }
  return element("figure", { class: "chart" }, element("figcaption", {}, "Response rate by day"), svg, legend);
}

/** The CSV download of the campaigns' figures of every day shown. */
function downloadButton(days, ctx) {
  const button = element("button", { type: "button", id: "download-csv" }, "Download the figures (CSV)");
  button.addEventListener("click", () => {
    const text = campaignsCsv(days.filter((d) => d.aggregates && !d.failed), ctx.segmentName);
    const link = element("a", {
      href: URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" })),
      download: `campaigns-${shop.replaceAll(/[^A-Za-z0-9_-]/g, "-")}-${dateOfDay(days[0].day)}${days.length > 1 ? `-to-${dateOfDay(days[days.length - 1].day)}` : ""}.csv`,
    });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  });
  return button;
}

/** Whether a day holds nothing the page could show (no reports, or fewer than k). */
/** How many shoppers reported on the day: envelopes, or the secret-shared
 * reports of the metric every reporting device sends (whichever is larger). */
const shoppersReported = (aggregates) =>
  Math.max(aggregates.envelopes ?? 0, ...aggregates.metrics.map((m) => (m.release ? m.n_reports ?? 0 : 0)));
const isEmpty = (aggregates) => !shoppersReported(aggregates);

function emptyState(aggregates) {
  const campaigns = (aggregates.campaigns ?? []).map((c) => `${campaignName(c.id)} (${kindWords(c.kind)})`);
  return element("section", { class: "empty", "data-empty": "true", "aria-labelledby": "empty-heading" },
    element("h2", { id: "empty-heading" }, `No reports yet for ${longDate(aggregates.day)}`),
    element("p", {}, "Reports arrive after shoppers visit (each browser sends at most one a day), so a day is complete only the day after. " +
      (aggregates.aggregation === "secret_shared"
        ? "This shop's reports are added up by two independent parties, who release a day's totals only once the day has ended. "
        : "") +
      `A day is shown once at least ${aggregates.k_anonymity} shoppers have reported. Pick another day above.`),
    element("p", {}, "To see sample data, run ", element("code", {}, "cargo xtask simulate"),
      ": simulated shoppers then report to the local worker, and their day's figures appear here."),
    ...(campaigns.length ? [element("p", {}, `This shop measures ${campaigns.length === 1 ? "one campaign" : `${campaigns.length} campaigns`}: ${campaigns.join(", ")}.`)] : []));
}

// The items the shop's reports name by row (the titles of the products of
// interest): the catalogue beside the bundle the shop's pages load, cut to
// the rows its reports name (a head bundle's own items; every other product
// is one value, "outside the head", after "none yet").
async function loadCatalogue(aggregates) {
  try {
    const pointer = await (await fetch(aggregates.bundle ?? "/v1/bundles/default.json")).json();
    const catalogue = await (await fetch(pointer.catalogue)).json();
    if (!Array.isArray(catalogue)) return null;
    return Number.isInteger(aggregates.report_items) ? catalogue.slice(0, aggregates.report_items) : catalogue;
  } catch {
    return null;
  }
}

class TokenRefused extends Error {}

/** One day's aggregates (`day` null: the edge's today). */
async function readDay(day, token) {
  const query = new URLSearchParams({ shop });
  if (day !== null) query.set("day", String(day));
  const response = await fetch(`/v1/aggregates?${query}`, { headers: { authorization: `Bearer ${token}` } });
  if (response.status === 401) throw new TokenRefused();
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.message ?? `HTTP ${response.status}`);
  return answer;
}

/** The days `from`..`to` (inclusive), a few at a time; a day that cannot be read is `failed`. */
async function readDays(from, to, token, known) {
  const days = [];
  for (let day = from; day <= to; day += 1) days.push({ day, aggregates: day === known.day ? known : null });
  const queue = days.filter((d) => !d.aggregates);
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      try {
        next.aggregates = await readDay(next.day, token);
      } catch (error) {
        if (error instanceof TokenRefused) throw error;
        next.failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL_READS }, worker));
  return days;
}

async function load() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    main.dataset.state = "needs-token";
    main.textContent = "Enter the shop's dashboard token above (cargo xtask demo prints a link that carries it).";
    return;
  }
  let aggregates;
  let items;
  try {
    aggregates = await readDay(chosenDay, token);
  } catch (error) {
    if (!(error instanceof TokenRefused)) throw error;
    sessionStorage.removeItem(TOKEN_KEY);
    main.dataset.state = "needs-token";
    main.textContent = "That dashboard token was refused for this shop. Enter the current one above.";
    return;
  }
  // With two aggregators a day is released once it has ended: without a
  // chosen day, the latest day there can be numbers for is yesterday.
  if (chosenDay === null && aggregates.aggregation === "secret_shared") {
    aggregates = await readDay(aggregates.day - 1, token);
  }
  if (chosenDay === null) form.date.value = dateOfDay(aggregates.day);
  items = await loadCatalogue(aggregates);
  const ctx = contextOf(aggregates, items);
  // The trend: from the start date to the day, at most MAX_TREND_DAYS days
  // and none older than the edge keeps; a start on or after the day is no
  // range at all, and the page says so.
  const earliest = Math.max(aggregates.day - MAX_TREND_DAYS + 1, today - READABLE_DAYS);
  const from = fromDay !== null && fromDay < aggregates.day ? Math.max(fromDay, earliest) : null;
  const days = from !== null ? await readDays(from, aggregates.day, token, aggregates) : [{ day: aggregates.day, aggregates }];
  let trendNote = null;
  if (from !== null && from > fromDay) {
    trendNote = `The trend starts on ${longDate(from)}: at most ${MAX_TREND_DAYS} days are shown, and none older than ${READABLE_DAYS} days.`;
  }

  const sections = [];
  const heading = element("h2", { id: "day-heading" }, longDate(aggregates.day));
  if (fromDay !== null && fromDay >= aggregates.day) {
    sections.push(element("p", { class: "hint", "data-trend-note": "" },
      `The trend's start date is not before ${longDate(aggregates.day)}, so only that day is shown.`));
  }
  // One download of every day shown: with the trend when there is one, else
  // with the day's summary.
  const download = downloadButton(days, ctx);
  if (days.length > 1) sections.push(trendSection(days, ctx, trendNote, download));
  if (isEmpty(aggregates)) {
    sections.push(emptyState(aggregates));
  } else {
    const summary = element("section", { class: "summary", "aria-labelledby": "day-heading" }, heading,
      element("p", {}, element("strong", {}, whole(shoppersReported(aggregates))), " shoppers reported this day. ",
        `Groups of fewer than ${aggregates.k_anonymity} shoppers are hidden.`));
    if (days.length === 1) summary.append(download);
    // Sales and recommendations: for a shop that collects them (two
    // aggregators), or one that asks for them with one (it is told why there is nothing).
    const visits = aggregates.visits || aggregates.metrics.some((m) => VISIT_KINDS.includes(m.kind)) ? [visitsSection(aggregates, ctx)] : [];
    sections.push(summary, ...visits, campaignSection(aggregates, ctx), segmentSection(aggregates, ctx),
      trendingSection(aggregates, ctx), sentimentSection(aggregates, ctx), aboutSection(aggregates));
  }
  main.replaceChildren(...sections);
  main.dataset.state = isEmpty(aggregates) ? "empty" : "ready";
}

load().catch((error) => {
  main.dataset.state = "error";
  main.textContent = `The reports could not be loaded: ${error?.message ?? error}`;
  console.error(error);
});
