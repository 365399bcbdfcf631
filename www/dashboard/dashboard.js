// The marketer's dashboard: everything on this page comes from
// `GET /v1/aggregates` (noisy, locally private reports, estimated without bias
// at the edge), plus the published bundle's names only: segment names from its
// manifest, item titles from the catalogue published beside it.
//
// Charts are hand-made SVG from plain JS: bars with 95% interval whiskers are
// all the page draws, which takes ~60 lines; a chart library would add tens of
// kilobytes and a dependency to keep for that, and most draw on <canvas>,
// which is opaque to screen readers. Each chart carries a text alternative.
import { simpsonReversals } from "/dashboard/simpson.mjs";

const SVG = "http://www.w3.org/2000/svg";
const INTEREST = "item.interest";
const KIND_LABELS = {
  mass: "Mass",
  targeted: "Targeted",
  interactive: "Interactive",
  triggered: "Event-triggered",
};

const main = document.getElementById("dashboard");
const form = document.getElementById("controls");
// The shop's dashboard token: `cargo xtask demo` prints a link with it in the
// fragment (which the browser never sends); it is moved to this tab's session
// storage at once and sent only as the Authorization header of the one read.
const TOKEN_KEY = "cove.dashboard.token";
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get("token")) {
  sessionStorage.setItem(TOKEN_KEY, fragment.get("token"));
  history.replaceState(null, "", location.pathname + location.search);
}
form.addEventListener("submit", () => {
  const typed = form.querySelector("#token").value.trim();
  if (typed) sessionStorage.setItem(TOKEN_KEY, typed);
});
const params = new URLSearchParams(location.search);
const shop = params.get("shop") ?? "demo";
const day = params.get("day");
form.shop.value = shop;
if (day) form.day.value = day;

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

const number = (x, digits = 0) =>
  x.toLocaleString("en-GB", { minimumFractionDigits: digits, maximumFractionDigits: digits });
// Counts below k are not published (null): the page says so instead of a number.
const count = (x) => (x === null || x === undefined ? "fewer than k" : number(x));
const percent = (x) => `${(x * 100).toFixed(1)}%`;
const points = (x) => `${x >= 0 ? "+" : "−"}${Math.abs(x * 100).toFixed(1)} pts`;
// A category's name; the trainer leaves items its taste labels do not
// describe without one (the empty name).
const categoryName = (names, index) => {
  const name = names[index];
  if (name === undefined) return `category ${index}`;
  return name === "" ? "no category" : name;
};
const interval = (i, format) => `${format(i.estimate)} [${format(i.low)}, ${format(i.high)}]`;

/**
 * A horizontal bar chart with 95% interval whiskers.
 * @param {string} title
 * @param {Array<{label: string, estimate?: number, low?: number, high?: number, suppressed?: boolean, holdout?: boolean}>} rows
 * @param {(x: number) => string} format
 */
function barChart(title, rows, format) {
  const labelWidth = 190;
  const plotWidth = 300;
  const rowHeight = 24;
  const shown = rows.filter((r) => !r.suppressed);
  const low = Math.min(0, ...shown.map((r) => r.low));
  const high = Math.max(1e-9, ...shown.map((r) => r.high));
  const x = (v) => labelWidth + ((v - low) / (high - low)) * plotWidth;
  const height = rows.length * rowHeight + 24;
  const svg = svgElement("svg", {
    viewBox: `0 0 ${labelWidth + plotWidth + 110} ${height}`,
    width: "100%",
    role: "img",
    "aria-label": `${title}: ${rows
      .map((r) => (r.suppressed ? `${r.label} suppressed` : `${r.label} ${format(r.estimate)} (95% interval ${format(r.low)} to ${format(r.high)})`))
      .join("; ")}`,
  });
  rows.forEach((row, i) => {
    const y = i * rowHeight + 4;
    const label = svgElement("text", { x: labelWidth - 6, y: y + 15, "text-anchor": "end" });
    label.textContent = row.label;
    svg.append(label);
    if (row.suppressed) {
      const text = svgElement("text", { x: x(0) + 4, y: y + 15, class: "suppressed" });
      text.textContent = "suppressed (below k)";
      svg.append(text);
      return;
    }
    const from = x(Math.min(0, row.estimate));
    const to = x(Math.max(0, row.estimate));
    svg.append(svgElement("rect", { x: from, y: y + 3, width: Math.max(1, to - from), height: rowHeight - 10, class: row.holdout ? "bar holdout" : "bar" }));
    svg.append(svgElement("line", { x1: x(row.low), x2: x(row.high), y1: y + 8, y2: y + 8, class: "whisker" }));
    for (const end of [row.low, row.high]) {
      svg.append(svgElement("line", { x1: x(end), x2: x(end), y1: y + 3, y2: y + 13, class: "whisker" }));
    }
    const value = svgElement("text", { x: labelWidth + plotWidth + 8, y: y + 15 });
    value.textContent = format(row.estimate);
    svg.append(value);
  });
  const axisY = rows.length * rowHeight + 6;
  svg.append(svgElement("line", { x1: x(0), x2: x(0), y1: 0, y2: axisY, class: "zero" }));
  for (const tick of [low, high]) {
    const text = svgElement("text", { x: x(tick), y: axisY + 14, "text-anchor": "middle" });
    text.textContent = format(tick);
    svg.append(text);
  }
  return element("figure", {}, element("figcaption", {}, title), svg);
}

/** The lifecycle segment names in metric order (the engine's order: rules' segments, then no-purchase, then fallback). */
function lifecycleNames(bundle) {
  const map = bundle?.segments?.lifecycle;
  if (!map) return null;
  const names = [];
  for (const name of [...map.rules.map((r) => r.segment), map.no_purchase_segment, map.fallback_segment]) {
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

function segmentSection(aggregates, bundle) {
  const section = element("section", { "aria-labelledby": "segments-heading" }, element("h2", { id: "segments-heading" }, "Segment sizes"));
  const names = {
    "segment.lifecycle": lifecycleNames(bundle),
    "segment.price_tier": bundle ? [...bundle.segments.price_tiers.labels, "no price tier yet"] : null,
  };
  const charts = element("div", { class: "charts" });
  for (const metric of aggregates.metrics.filter((m) => m.name.startsWith("segment."))) {
    const label = (v) => names[metric.name]?.[v] ?? `value ${v}`;
    const byValue = new Map(metric.values.map((v) => [v.value, v]));
    const rows = Array.from({ length: metric.mechanism.domain }, (_, v) => {
      const e = byValue.get(v);
      return e ? { label: label(v), estimate: e.count, low: e.low, high: e.high } : { label: label(v), suppressed: true };
    });
    const title = `${metric.name} — ${count(metric.n_reports)} reports, ε = ${metric.epsilon}`;
    charts.append(metric.published ? barChart(title, rows, (x) => number(x)) : element("p", { class: "suppressed" }, `${title}: fewer than k = ${aggregates.k_anonymity} reports, nothing published.`));
  }
  section.append(charts);
  return section;
}

function trendingSection(aggregates, bundle) {
  const section = element("section", { "aria-labelledby": "trending-heading" }, element("h2", { id: "trending-heading" }, "Trending items by country"));
  section.append(element("p", { class: "hint" },
    "Each device reports the item it is most interested in (Hadamard response over the catalogue). The country is not in the report: " +
    "the edge counts each report a second time under the country its request came from (which the shop's CDN sees anyway), so a country costs no ε."));
  const overall = aggregates.metrics.find((m) => m.name === INTEREST);
  const lists = [
    ...(overall ? [{ country: "all countries", n_reports: overall.n_reports, published: overall.published, values: overall.values, suppressed_values: overall.suppressed_values }] : []),
    ...(aggregates.trending_by_country ?? []),
  ];
  if (!lists.length || !bundle) {
    section.append(element("p", { class: "suppressed" }, "No item-interest reports or no bundle: nothing to show."));
    return section;
  }
  const select = element("select", { id: "trending-country" });
  lists.forEach((list, i) => select.append(element("option", { value: String(i) }, `${list.country} (${count(list.n_reports)} reports)`)));
  const holder = element("div");
  const render = () => {
    const list = lists[Number(select.value)];
    const rows = list.values
      .filter((v) => v.value < bundle.items.length)
      .sort((a, b) => b.count - a.count)
      .slice(0, 10)
      .map((v) => ({ label: bundle.items[v.value].title.slice(0, 28), estimate: v.count, low: v.low, high: v.high }));
    holder.replaceChildren(
      rows.length
        ? barChart(`Top items, ${list.country} — ${count(list.n_reports)} reports`, rows, (x) => number(x))
        : element("p", { class: "suppressed" }, `Nothing in ${list.country} reaches k = ${aggregates.k_anonymity} (${number(list.suppressed_values)} values suppressed).`),
    );
  };
  select.addEventListener("change", render);
  section.append(element("label", {}, "Country ", select), holder);
  render();
  return section;
}

function stratifiedTable(campaign, segmentName, caption) {
  const table = element("table", {}, element("caption", {}, caption));
  const head = element("tr", {}, element("th", { scope: "col" }, "Segment"));
  for (const result of campaign.results) {
    head.append(element("th", { scope: "col" }, result.variant === 0 ? "Holdout: rate [95% interval] (exposed)" : `Variant ${result.variant}: rate [95% interval] (exposed)`));
  }
  table.append(element("thead", {}, head));
  const body = element("tbody");
  const rows = [
    ...campaign.results[0].segments.map((_, index) => [segmentName(index), (r) => r.segments[index]]),
    ["All segments (pooled)", (r) => r.pooled],
  ];
  for (const [name, cellOf] of rows) {
    const tr = element("tr", {}, element("th", { scope: "row" }, name));
    for (const result of campaign.results) {
      const cell = cellOf(result);
      tr.append(
        cell.suppressed || !cell.rate
          ? element("td", { class: "suppressed" }, "suppressed")
          : element("td", {}, `${interval(cell.rate, percent)} (${number(cell.exposed.estimate)})`),
      );
    }
    body.append(tr);
  }
  table.append(body);
  return table;
}

function campaignBlock(campaign, segmentName) {
  const block = element("article", { class: "campaign", "data-campaign": campaign.id },
    element("h3", {}, campaign.id, element("span", { class: "kind" }, KIND_LABELS[campaign.kind] ?? campaign.kind)),
    element("p", { class: "hint" }, `${count(campaign.n_reports)} reports, ε = ${campaign.epsilon} each; ${campaign.variants - 1} variant(s) against a holdout (variant 0, not shown the campaign).`));
  if (!campaign.published) {
    block.append(element("p", { class: "suppressed" }, "Fewer reports than the k-anonymity threshold: suppressed."));
    return block;
  }
  const rows = campaign.results.map((r) => {
    const label = r.variant === 0 ? "holdout" : `variant ${r.variant}`;
    return r.pooled.suppressed || !r.pooled.rate
      ? { label, suppressed: true }
      : { label, holdout: r.variant === 0, ...r.pooled.rate };
  });
  block.append(barChart("Response rate, all segments", rows, percent));
  const uplifts = campaign.results.filter((r) => r.variant > 0).map((r) =>
    r.pooled.uplift ? { label: `variant ${r.variant} − holdout`, ...r.pooled.uplift } : { label: `variant ${r.variant} − holdout`, suppressed: true });
  block.append(barChart("Uplift against the holdout (points)", uplifts, points));

  const reversals = simpsonReversals(campaign);
  if (reversals.length) {
    const warning = element("div", { class: "warning", role: "alert", "data-simpson": "warning" }, element("h4", {}, "Simpson's paradox: the pooled comparison reverses inside the segments"));
    for (const r of reversals) {
      const inside = r.segments.map((s) => `${segmentName(s.segment)} ${points(s.difference)}`).join(", ");
      warning.append(element("p", {},
        `Variant ${r.b} vs ${r.a === 0 ? "the holdout" : `variant ${r.a}`}: ${points(r.pooled)} pooled, but ${inside} inside every segment. ` +
        "The variants reached different segment mixes; trust the stratified table, not the pooled rate." +
        (r.conclusive ? "" : " (Some of these differences are within the noise.)")));
    }
    warning.append(stratifiedTable(campaign, segmentName, `${campaign.id}: response rate by segment and variant`));
    block.append(warning);
  } else {
    block.append(element("p", { class: "ok", "data-simpson": "none" }, "Simpson's-paradox check: no variant comparison reverses inside the segments."));
    const details = element("details", {}, element("summary", {}, "Rates by segment"), stratifiedTable(campaign, segmentName, `${campaign.id}: response rate by segment and variant`));
    block.append(details);
  }
  return block;
}

function campaignSection(aggregates, bundle) {
  const section = element("section", { "aria-labelledby": "campaigns-heading" }, element("h2", { id: "campaigns-heading" }, "Campaigns and rescue offers"));
  const names = lifecycleNames(bundle);
  const segmentName = (index) => names?.[index] ?? `segment ${index}`;
  const campaigns = aggregates.campaigns ?? [];
  if (!campaigns.length) section.append(element("p", {}, "This shop runs no campaigns."));
  for (const kind of Object.keys(KIND_LABELS)) {
    const ofKind = campaigns.filter((c) => c.kind === kind);
    if (!ofKind.length) continue;
    section.append(element("h3", {}, `${KIND_LABELS[kind]} campaigns`));
    for (const campaign of ofKind) section.append(campaignBlock(campaign, segmentName));
  }
  return section;
}

/**
 * Review sentiment per segment and per category (negative share with 95%
 * intervals), and a warning for a segment markedly unhappier than the rest,
 * naming the categories that drive it. Groups below k are left out by the edge.
 */
function sentimentSection(aggregates) {
  const sentiment = aggregates.sentiment;
  const section = element("section", { "aria-labelledby": "sentiment-heading", "data-section": "sentiment" },
    element("h2", { id: "sentiment-heading" }, "Review sentiment"));
  if (!sentiment) {
    section.append(element("p", {}, "This shop does not collect review sentiment."));
    return section;
  }
  const title = `review.sentiment — ${count(sentiment.n_reports)} reviews reported`;
  if (!sentiment.published) {
    section.append(element("p", { class: "suppressed" }, `${title}: fewer than k = ${aggregates.k_anonymity} reports, nothing published.`));
    return section;
  }
  for (const flag of sentiment.flagged) {
    const drivers = flag.drivers.map((c) => categoryName(sentiment.category_names, c)).join("; ");
    section.append(element("div", { class: "warning", role: "alert", "data-sentiment-flag": sentiment.segment_names[flag.segment] ?? String(flag.segment) },
      element("strong", {}, `Unhappy segment: ${sentiment.segment_names[flag.segment] ?? flag.segment}. `),
      `${percent(flag.sentiment.negative_share)} of its reviews are negative [${percent(flag.sentiment.low)}, ${percent(flag.sentiment.high)}] against ${percent(flag.others.negative_share)} [${percent(flag.others.low)}, ${percent(flag.others.high)}] for everyone else; driven by: ${drivers || "no single category"}.`));
  }
  const rows = (groups, names, nameOf = (list, index) => list[index] ?? `#${index}`) =>
    groups.map((g) => ({ label: nameOf(names, g.index), estimate: g.negative_share, low: g.low, high: g.high }));
  const charts = element("div", { class: "charts" });
  charts.append(
    barChart(`Negative share by segment — ${title}`, rows(sentiment.segments, sentiment.segment_names), percent),
    barChart("Negative share by category", rows(sentiment.categories, sentiment.category_names, categoryName), percent),
  );
  section.append(charts);
  if (sentiment.suppressed_groups > 0) {
    section.append(element("p", { class: "suppressed" }, `${sentiment.suppressed_groups} segments or categories have fewer than k = ${aggregates.k_anonymity} estimated reviews and are not shown.`));
  }
  return section;
}

// The names the page shows: the manifest's segment definitions and the
// catalogue's items, by row.
async function loadBundleNames() {
  try {
    const pointer = await (await fetch("/v1/bundles/default.json")).json();
    const [manifest, items] = await Promise.all(
      [pointer.manifest, pointer.catalogue].map(async (url) => (await fetch(url)).json()),
    );
    return { segments: manifest.segments, items };
  } catch {
    return null;
  }
}

async function load() {
  const query = new URLSearchParams({ shop });
  if (day) query.set("day", day);
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    main.dataset.state = "needs-token";
    main.textContent = "Enter the shop's dashboard token above (cargo xtask demo prints a link that carries it).";
    return;
  }
  const headers = { authorization: `Bearer ${token}` };
  const [response, bundle] = await Promise.all([fetch(`/v1/aggregates?${query}`, { headers }), loadBundleNames()]);
  const aggregates = await response.json();
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    main.dataset.state = "needs-token";
    main.textContent = "That dashboard token was refused for this shop. Enter the current one above.";
    return;
  }
  if (!response.ok) throw new Error(aggregates.message ?? `HTTP ${response.status}`);
  const summary = element("section", { class: "summary", "aria-label": "Summary" },
    element("div", {}, element("strong", {}, count(aggregates.envelopes)), "envelopes counted"),
    element("div", {}, element("strong", {}, `day ${aggregates.day}`), new Date(aggregates.day * 86_400_000).toISOString().slice(0, 10)),
    element("div", {}, element("strong", {}, `k = ${aggregates.k_anonymity}`), "k-anonymity threshold"));
  main.replaceChildren(summary, segmentSection(aggregates, bundle), trendingSection(aggregates, bundle), campaignSection(aggregates, bundle), sentimentSection(aggregates));
  main.dataset.state = "ready";
}

load().catch((error) => {
  main.dataset.state = "error";
  main.textContent = `The aggregates could not be loaded: ${error?.message ?? error}`;
  console.error(error);
});
