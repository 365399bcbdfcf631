// The shopper's transparency panel: "what this shop knows about you", in
// plain words, built only from the public API of a started `Cove`
// (`profile()`, `segments()`, `explain(item)`, `privacy()`, `forget()`).
//
//   import { Cove } from "/cove.mjs";
//   import { mountPrivacyPanel, definePrivacyPanel } from "/cove/panel.mjs";
//   const cove = await Cove.start({ bundle, shop: "my-shop" });
//   mountPrivacyPanel(document.getElementById("privacy"), cove, { locale: "en-GB" });
//   // or: definePrivacyPanel(cove); then <cove-privacy-panel></cove-privacy-panel> anywhere
//
// It says what the engine has noticed (the strongest items of the profile, by
// their titles, and the segments as sentences), where that is kept, what this
// browser has sent and when, and how much of the day's privacy budget is used;
// a button forgets it all after a confirmation. The raw data (segment reasons,
// ids, the model id, the last report's exact bytes, the profile's JSON) stays
// one click away behind a closed "Details" disclosure.
//
// Every word comes from `PANEL_STRINGS` (English), which `options.strings`
// overrides key by key; dates, times, numbers, prices and lists go through
// `Intl` with `options.locale`. The DOM is built with createElement and
// textContent only (no HTML parsing), so the panel works on pages that
// require Trusted Types. Nothing here registers itself on import.

/**
 * Every string the panel shows. `{name}` is replaced by a value; a string
 * given as `{ one, other, … }` is chosen by `Intl.PluralRules` on `{count}`.
 */
export const PANEL_STRINGS = Object.freeze({
  title: "What this shop knows about you",
  intro:
    "This shop personalises what you see with an engine that runs in your browser. Here is everything it has on you, and how to erase it.",
  loading: "Loading what this shop knows about you…",
  loadFailed: "This panel could not read what the shop knows about you: {message}",

  noticedHeading: "What it has noticed",
  noticedNothing: "Nothing yet: the shop has not noticed anything about you in this browser.",
  lookedAt: "You've looked at {items}, so we show you more like those.",
  lookedAtIn: "You've looked at {items}, mostly from the “{category}” range, so we show you more like those.",
  inCart: "Your cart holds {items}.",
  bought: "You've bought {items} here, so we may suggest things that go with them.",
  moreItems: { one: "{count} other item", other: "{count} other items" },
  searched: "You searched for {queries}.",
  orders: {
    one: "You've placed {count} order here, {amount} in total.",
    other: "You've placed {count} orders here, {amount} in total.",
  },
  lifecycleNoOrder: "You haven't ordered here yet, so you count as a new visitor.",
  "lifecycle.new": "You ordered here for the first time recently, so you count as a new customer.",
  "lifecycle.active": "You've ordered here recently, so you count as an active customer.",
  "lifecycle.loyal": "You order here often, so you count as a loyal customer.",
  "lifecycle.champion": "You order here often, recently and generously, so you count among the shop's best customers.",
  "lifecycle.at-risk": "You used to order here often, but not lately.",
  "lifecycle.lapsed": "You haven't ordered here for a while.",
  lifecycleOther: "The shop counts you among its “{name}” customers.",
  "priceTier.budget": "You mostly look at lower-priced items (around {price}).",
  "priceTier.mid": "You mostly look at mid-priced items (around {price}).",
  "priceTier.premium": "You tend to look at higher-priced items (around {price}).",
  priceTierOther: "Your usual price range is “{name}”.",
  taste: "Your taste looks closest to the shop's “{name}” range.",
  propensity: "It guesses there is a {percent} chance that you order soon.",
  loyalty: {
    one: "With {count} order you are a “{name}” customer here.",
    other: "With {count} orders you are a “{name}” customer here.",
  },

  keptHeading: "Where it's kept",
  keptBrowser:
    "Kept only in this browser, on this device. It isn't sent to the shop, and you can erase it below.",
  keptMemory: "Kept only in this page's memory: it is gone when you close this tab.",
  keptNowhere: "Nothing is kept in this browser.",

  sentHeading: "What this browser has sent",
  sentNothingEver: "This browser sends the shop nothing about you.",
  sentNothingYet: "Nothing has been sent yet.",
  sentPending: "Nothing has been sent yet; one report is ready and will be sent soon.",
  sentReport: "{when} this browser sent the shop one anonymous, randomised report. It was about:",
  sentReportNoContents: "{when} this browser sent the shop one anonymous, randomised report.",
  sentReportShared: "{when} this browser sent the shop one anonymous report. It was about:",
  sentToday: "Today at {time}",
  sentYesterday: "Yesterday at {time}",
  sentOn: "On {date} at {time}",
  sentDayToday: "Today",
  sentDayYesterday: "Yesterday",
  sentDayOn: "On {date}",
  "metric.lifecycle_segment": "what kind of customer you are (new, regular, and so on)",
  "metric.price_tier": "your usual price range",
  "metric.item_interest": "one product you were interested in",
  "metric.review_sentiment": "whether a review you wrote was positive or negative",
  "metric.conversion": "whether you bought something",
  "metric.revenue": "how much you spent (large amounts count as a fixed maximum)",
  "metric.recommendation_click_through": "whether you clicked one of the shop's suggestions",
  "metric.recommendation_revenue": "how much you spent on suggested products you clicked",
  "metric.campaign": "whether you were shown one of the shop's offers, and took it up",
  metricOther: "one other count for the shop's statistics",
  sentScrambled:
    "Each answer was scrambled in this browser before it left, so the shop can only count totals over many shoppers, never read yours. The report carries no name, address, cookie or identifier.",
  sentShared:
    "Each answer was split in this browser into two halves, one for the shop and one for an independent helper, so that neither can read it; together they only ever add up totals over many shoppers, with a little random noise. The report carries no name, address, cookie or identifier.",
  sentSharedSome:
    "Some answers were split in this browser into two halves, one for the shop and one for an independent helper, so that neither can read them; the others were scrambled in this browser before they left. The shop only ever sees totals over many shoppers, with a little random noise. The report carries no name, address, cookie or identifier.",
  budgetNone: "Privacy budget: none of today's allowance is used.",
  budgetSome: "Privacy budget: {percent} of today's allowance is used.",
  budgetAll: "Privacy budget: all of today's allowance is used, so nothing more will be sent until tomorrow.",
  budgetExplained: "The allowance caps how much the day's reports could ever reveal about you.",

  forgetHeading: "Erase it",
  forgetButton: "Forget everything about me",
  forgetPrompt:
    "Erase everything this shop's engine knows about you in this browser: what you looked at, your cart and your orders? This cannot be undone.",
  forgetConfirm: "Yes, forget everything",
  forgetCancel: "Cancel",
  forgetCancelled: "Nothing was erased.",
  forgetWorking: "Erasing…",
  forgetDone: "Done: everything this shop knew about you in this browser has been erased.",
  forgetFailed: "It could not all be erased: {message}",

  details: "Details",
  detailsSegments: "Segments and the engine's reasons",
  detailsItems: "Items in the profile (id: weight)",
  detailsStorage: "Storage: {storage}; consent: {consent}; model: {model}",
  detailsBudget: "Privacy budget: ε {spent} spent of {daily} today ({remaining} left); next report at the earliest {next}",
  detailsReport: "The last report, exactly as sent ({bytes} bytes, day {day}):",
  detailsNoReport: "No report has been sent.",
  detailsProfile: "The profile as the engine keeps it:",
  none: "none",
});

const HOST_CLASS = "cove-privacy-panel";
const DEFAULT_TAG = "cove-privacy-panel";
// How many items of the profile are asked about (titles, categories): explain()
// ranks the catalogue once per call, so only the strongest few.
const EXPLAINED_ITEMS = 8;

/** The panel's words: the defaults with `overrides` on top. */
function stringsWith(overrides = {}) {
  return { ...PANEL_STRINGS, ...overrides };
}

/**
 * Fills `{name}` placeholders of `template` from `values`; a template given as
 * plural forms is chosen first by `values.count`.
 */
function fill(template, values, plurals) {
  let text = template;
  if (text && typeof text === "object") {
    const category = plurals.select(values.count ?? 0);
    text = text[category] ?? text.other ?? "";
  }
  return String(text).replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/** Locale-aware formatting of the panel's values. */
class Words {
  constructor(options) {
    const locale = options.locale ?? (typeof document !== "undefined" ? document.documentElement.lang || undefined : undefined);
    this.strings = stringsWith(options.strings);
    this.plurals = new Intl.PluralRules(locale);
    this.list = new Intl.ListFormat(locale, { style: "long", type: "conjunction" });
    this.integer = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
    this.decimal = new Intl.NumberFormat(locale, { maximumFractionDigits: 2 });
    this.percent = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 0 });
    this.money = new Intl.NumberFormat(locale, { style: "currency", currency: options.currency ?? "GBP" });
    const zone = options.timeZone ? { timeZone: options.timeZone } : {};
    this.time = new Intl.DateTimeFormat(locale, { hour: "numeric", minute: "2-digit", ...zone });
    this.date = new Intl.DateTimeFormat(locale, { dateStyle: "long", ...zone });
    this.calendar = new Intl.DateTimeFormat("en-US", { year: "numeric", month: "numeric", day: "numeric", ...zone });
    this.dateTime = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", ...zone });
  }

  /** The string `key`, with `values` filled in. */
  say(key, values = {}) {
    return fill(this.strings[key] ?? PANEL_STRINGS[key] ?? key, values, this.plurals);
  }

  /** "A, B, C and 2 other items": at most `shown` titles, the rest (and `unnamed` more) counted. */
  items(titles, shown, unnamed = 0) {
    const listed = titles.slice(0, shown);
    const rest = titles.length - listed.length + unnamed;
    if (rest > 0) listed.push(this.say("moreItems", { count: rest }));
    return this.list.format(listed);
  }

  /**
   * When something happened, in words: "Today at 14:02", "Yesterday at 9:15",
   * "On 3 December 2026 at 18:40" (in the shopper's time zone).
   */
  when(unixSeconds, now) {
    const at = new Date(unixSeconds * 1000);
    const time = this.time.format(at);
    const days = this.daysBetween(at, now);
    if (days === 0) return this.say("sentToday", { time });
    if (days === 1) return this.say("sentYesterday", { time });
    return this.say("sentOn", { date: this.date.format(at), time });
  }

  /** The same for a report that says only its day (UTC days since 1970). */
  whenDay(day, now) {
    // Noon UTC falls on that calendar day in every time zone within ±12 h.
    const at = new Date((day * 86400 + 43200) * 1000);
    const days = this.daysBetween(at, now);
    if (days === 0) return this.say("sentDayToday");
    if (days === 1) return this.say("sentDayYesterday");
    return this.say("sentDayOn", { date: this.date.format(at) });
  }

  /** Calendar days from `earlier` to `later` in the panel's time zone. */
  daysBetween(earlier, later) {
    const dayNumber = (date) => {
      const part = (type) => Number(this.calendar.formatToParts(date).find((p) => p.type === type)?.value);
      return Date.UTC(part("year"), part("month") - 1, part("day")) / 86400000;
    };
    return Math.round(dayNumber(later) - dayNumber(earlier));
  }
}

/** An element `tag` with `attributes` and, if given, text (never parsed as HTML). */
function node(tag, attributes = {}, text) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

/** A heading of `level` (clamped to h1–h6). */
function heading(level, text, id) {
  const tag = `h${Math.min(6, Math.max(1, level))}`;
  return node(tag, id ? { id } : {}, text);
}

let panelCount = 0;

/** What the panel knows after one round of calls to the snippet. */
async function gather(cove) {
  const [view, segments, privacy] = await Promise.all([
    cove.profile(),
    cove.segments(),
    cove.privacy().catch(() => null),
  ]);
  const profile = view.profile ?? {};
  const signals = (profile.items ?? [])
    .filter((signal) => !signal.disliked)
    .sort((a, b) => b.weight - a.weight || (b.at ?? 0) - (a.at ?? 0));
  const cartIds = new Set((profile.cart ?? []).map((line) => line.id));
  // The titles and categories the engine knows, for the strongest items and
  // everything in the cart; an item it does not know keeps its id and no title.
  const asked = [...new Set([...signals.slice(0, EXPLAINED_ITEMS).map((s) => s.id), ...cartIds])];
  const explained = new Map(
    await Promise.all(
      asked.map(async (id) => [id, await cove.explain(id).then((answer) => answer?.item ?? null, () => null)]),
    ),
  );
  return { view, profile, signals, cartIds, explained, segments, privacy };
}

/** The sentences of "What it has noticed". */
function noticed(words, data, options) {
  const { profile, signals, cartIds, explained, segments } = data;
  const shown = options.maxItems ?? 3;
  const lines = [];
  const titleOf = (id) => explained.get(id)?.title;
  const titled = (ids) => ids.map(titleOf).filter(Boolean);

  const bought = signals.filter((s) => s.purchased).map((s) => s.id);
  const cart = [...cartIds];
  const looked = signals.filter((s) => !s.purchased && !cartIds.has(s.id) && explained.has(s.id)).map((s) => s.id);
  // Items beyond those asked about are counted, never named.
  const unexplained = signals.filter((s) => !s.purchased && !cartIds.has(s.id) && !explained.has(s.id)).length;

  const lookedTitles = titled(looked);
  if (lookedTitles.length > 0) {
    const counts = new Map();
    for (const id of looked) {
      const category = explained.get(id)?.category;
      if (category) counts.set(category, (counts.get(category) ?? 0) + 1);
    }
    const [category, count] = [...counts].sort((a, b) => b[1] - a[1])[0] ?? [];
    const items = words.items(lookedTitles, shown, unexplained);
    lines.push(
      category && count >= 2 && count * 2 > looked.length
        ? words.say("lookedAtIn", { items, category })
        : words.say("lookedAt", { items }),
    );
  }
  const cartTitles = titled(cart);
  if (cartTitles.length > 0) lines.push(words.say("inCart", { items: words.items(cartTitles, shown) }));
  const boughtTitles = titled(bought);
  if (boughtTitles.length > 0) lines.push(words.say("bought", { items: words.items(boughtTitles, shown) }));
  const queries = profile.queries ?? [];
  if (queries.length > 0) {
    lines.push(words.say("searched", { queries: words.list.format(queries.slice(-shown).map((q) => `“${q}”`)) }));
  }
  if ((profile.orders ?? 0) > 0) {
    lines.push(words.say("orders", { count: profile.orders, amount: words.money.format(profile.spend ?? 0) }));
  }
  if (lines.length === 0) return lines;

  // The segments, as sentences about the shopper.
  const lifecycle = segments?.lifecycle;
  if (lifecycle) {
    const key = `lifecycle.${lifecycle.name}`;
    if (lifecycle.reason === "no_purchase") lines.push(words.say("lifecycleNoOrder"));
    else if (key in words.strings) lines.push(words.say(key));
    else lines.push(words.say("lifecycleOther", { name: lifecycle.name }));
  }
  const tier = segments?.price_tier;
  if (tier) {
    const typical = /typical_price=([0-9.]+)/.exec(tier.reason ?? "")?.[1];
    const key = `priceTier.${tier.name}`;
    if (typical !== undefined && key in words.strings) {
      lines.push(words.say(key, { price: words.money.format(Number(typical)) }));
    } else {
      lines.push(words.say("priceTierOther", { name: tier.name }));
    }
  }
  // A taste cluster is a "range" only when the shop shows its name as the
  // category of an item the shopper met: a cluster whose title words describe
  // too few of its items has no label (the trainer names it "cluster k"),
  // and is not put to the shopper as a range.
  const taste = segments?.taste_cluster?.name;
  const ranges = new Set([...explained.values()].map((item) => item?.category).filter(Boolean));
  if (taste && ranges.has(taste)) lines.push(words.say("taste", { name: taste }));
  if (segments?.loyalty_tier) {
    lines.push(words.say("loyalty", { count: profile.orders ?? 0, name: segments.loyalty_tier.name }));
  }
  const probability = segments?.propensity?.probability;
  if (Number.isFinite(probability)) lines.push(words.say("propensity", { percent: words.percent.format(probability) }));
  return lines;
}

/** The plain words for each metric the last report carried (the engine
 * resolved their kinds), secret-shared ones first. */
function reportContents(words, contents) {
  return (contents ?? []).map(({ kind }) => {
    const key = `metric.${kind}`;
    return kind && key in words.strings ? words.say(key) : words.say("metricOther");
  });
}

/** The sentences of "What this browser has sent": `[paragraph or list…]`. */
function sentBlocks(words, privacy, now) {
  const blocks = [];
  if (!privacy || !privacy.enabled) {
    blocks.push(node("p", { "data-panel": "sent" }, words.say("sentNothingEver")));
    return blocks;
  }
  const last = privacy.lastReport;
  if (last) {
    const when = Number.isFinite(last.sentAt) ? words.when(last.sentAt, now) : words.whenDay(last.day, now);
    const shared = (last.contents ?? []).filter((m) => m.secretShared);
    const local = (last.contents ?? []).filter((m) => !m.secretShared);
    const contents = reportContents(words, last.contents);
    const sentKey = !contents.length ? "sentReportNoContents" : shared.length ? "sentReportShared" : "sentReport";
    blocks.push(node("p", { "data-panel": "sent" }, words.say(sentKey, { when })));
    if (contents.length) {
      const list = node("ul", { "data-panel": "report-contents" });
      for (const line of contents) list.append(node("li", {}, line));
      blocks.push(list);
    }
    blocks.push(node("p", {}, words.say(!shared.length ? "sentScrambled" : local.length ? "sentSharedSome" : "sentShared")));
  } else {
    blocks.push(node("p", { "data-panel": "sent" }, words.say(privacy.pending ? "sentPending" : "sentNothingYet")));
  }
  const daily = privacy.dailyEpsilon;
  if (daily > 0) {
    const used = Math.min(1, Math.max(0, privacy.spentToday / daily));
    const key = used <= 0 ? "budgetNone" : used >= 0.999 ? "budgetAll" : "budgetSome";
    blocks.push(node("p", { "data-panel": "budget" }, `${words.say(key, { percent: words.percent.format(used) })} ${words.say("budgetExplained")}`));
  }
  return blocks;
}

/** The closed "Details" disclosure: the engine's own words and the exact data. */
function detailsBlock(words, data) {
  const { view, profile, segments, privacy } = data;
  const details = node("details", { "data-panel": "details" });
  details.append(node("summary", {}, words.say("details")));

  details.append(node("p", {}, words.say("detailsSegments")));
  const table = node("dl");
  for (const [name, segment] of Object.entries(segments ?? {})) {
    if (segment === null || segment === undefined) continue;
    const value = "reason" in segment ? `${segment.name} (${segment.reason})` : JSON.stringify(segment);
    table.append(node("dt", {}, name), node("dd", {}, value));
  }
  details.append(table);

  details.append(node("p", {}, words.say("detailsItems")));
  const items = node("ul");
  for (const signal of data.signals) {
    const flags = [signal.purchased ? "purchased" : "", data.cartIds.has(signal.id) ? "in cart" : ""].filter(Boolean);
    items.append(node("li", {}, `${signal.id}: ${words.decimal.format(signal.weight)}${flags.length ? ` (${flags.join(", ")})` : ""}`));
  }
  details.append(items);

  details.append(
    node(
      "p",
      {},
      words.say("detailsStorage", { storage: view.storage, consent: String(view.consent), model: view.modelId }),
    ),
  );
  if (privacy?.enabled) {
    details.append(
      node(
        "p",
        {},
        words.say("detailsBudget", {
          spent: words.decimal.format(privacy.spentToday),
          daily: words.decimal.format(privacy.dailyEpsilon),
          remaining: words.decimal.format(privacy.remainingToday),
          next: privacy.nextReportAt ? words.dateTime.format(new Date(privacy.nextReportAt * 1000)) : words.say("none"),
        }),
      ),
    );
  }
  if (privacy?.lastReport) {
    details.append(
      node("p", {}, words.say("detailsReport", { bytes: privacy.lastReport.bytes.length, day: privacy.lastReport.day })),
      node("pre", { "data-panel": "last-report", tabindex: "0" }, privacy.lastReport.bytes.trimEnd()),
    );
  } else {
    details.append(node("p", {}, words.say("detailsNoReport")));
  }
  details.append(
    node("p", {}, words.say("detailsProfile")),
    node("pre", { "data-panel": "profile-json", tabindex: "0" }, JSON.stringify(profile, null, 2)),
  );
  return details;
}

/**
 * Mounts the panel into `element` and fills it from `cove`. Returns a
 * controller: `ready` (the first rendering), `refresh()` (read the snippet
 * again, e.g. after a report was sent) and `unmount()`.
 *
 * Options: `strings` (overrides of PANEL_STRINGS, key by key), `locale`
 * (BCP 47, for Intl; default the page's `lang`), `timeZone`, `currency`
 * (ISO 4217, default "GBP"), `headingLevel` (of the panel's title, default 2;
 * its sections are one level below), `maxItems` (titles named per sentence,
 * default 3), `onForget` (called after the shopper confirmed and `forget()`
 * resolved).
 */
export function mountPrivacyPanel(element, cove, options = {}) {
  if (!element || typeof element.append !== "function") throw new TypeError("mountPrivacyPanel needs an element to mount into");
  if (!cove || typeof cove.profile !== "function") throw new TypeError("mountPrivacyPanel needs a started Cove");
  const words = new Words(options);
  const level = options.headingLevel ?? 2;
  const id = `cove-privacy-panel-${++panelCount}`;
  const root = node("section", { class: HOST_CLASS, "aria-labelledby": `${id}-title`, "aria-busy": "true", "data-state": "loading" });
  root.append(node("p", {}, words.say("loading")));
  element.replaceChildren(root);
  let generation = 0;
  let mounted = true;

  // `status` is the forget flow's outcome, kept across the re-rendering; `focus` says where focus goes after it.
  async function render({ status, focus } = {}) {
    const mine = ++generation;
    let data;
    try {
      data = await gather(cove);
    } catch (error) {
      if (mine !== generation || !mounted) return;
      root.replaceChildren(
        heading(level, words.say("title"), `${id}-title`),
        node("p", { role: "alert" }, words.say("loadFailed", { message: error?.message ?? String(error) })),
      );
      root.dataset.state = "error";
      root.removeAttribute("aria-busy");
      return;
    }
    if (mine !== generation || !mounted) return;
    const now = new Date();
    const sub = level + 1;
    const children = [heading(level, words.say("title"), `${id}-title`), node("p", {}, words.say("intro"))];

    const seen = noticed(words, data, options);
    children.push(heading(sub, words.say("noticedHeading")));
    if (seen.length === 0) {
      children.push(node("p", { "data-panel": "noticed-nothing" }, words.say("noticedNothing")));
    } else {
      const list = node("ul", { "data-panel": "noticed" });
      for (const line of seen) list.append(node("li", {}, line));
      children.push(list);
    }

    children.push(heading(sub, words.say("keptHeading")));
    const storage = data.view.storage;
    const kept = storage === "indexeddb" || storage === "localstorage" ? "keptBrowser" : storage === "memory" ? "keptMemory" : "keptNowhere";
    children.push(node("p", { "data-panel": "kept" }, words.say(kept)));

    children.push(heading(sub, words.say("sentHeading")), ...sentBlocks(words, data.privacy, now));

    children.push(heading(sub, words.say("forgetHeading")), forgetBlock(status));
    children.push(detailsBlock(words, data));

    root.replaceChildren(...children);
    root.dataset.state = "ready";
    root.removeAttribute("aria-busy");
    if (focus === "status") root.querySelector("[data-panel=forget-status]")?.focus();
  }

  // The forget button, its confirmation step and a live status line.
  function forgetBlock(status) {
    const block = node("div", { "data-panel": "forget" });
    const live = node("p", { role: "status", "data-panel": "forget-status", tabindex: "-1" }, status ?? "");
    const start = node("button", { type: "button", "data-panel": "forget-button" }, words.say("forgetButton"));
    const confirm = node("div", { role: "group", "aria-labelledby": `${id}-prompt`, "data-panel": "forget-confirm", hidden: "" });
    const prompt = node("p", { id: `${id}-prompt` }, words.say("forgetPrompt"));
    const yes = node("button", { type: "button", "data-panel": "forget-confirm-button" }, words.say("forgetConfirm"));
    const cancel = node("button", { type: "button", "data-panel": "forget-cancel-button" }, words.say("forgetCancel"));
    confirm.append(prompt, yes, cancel);
    start.addEventListener("click", () => {
      start.hidden = true;
      confirm.hidden = false;
      live.textContent = "";
      // The safe choice has the focus; the group's label (the question) is read with it.
      cancel.focus();
    });
    cancel.addEventListener("click", () => {
      confirm.hidden = true;
      start.hidden = false;
      live.textContent = words.say("forgetCancelled");
      start.focus();
    });
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      cancel.disabled = true;
      live.textContent = words.say("forgetWorking");
      try {
        await cove.forget();
      } catch (error) {
        await render({ status: words.say("forgetFailed", { message: error?.message ?? String(error) }), focus: "status" });
        return;
      }
      await render({ status: words.say("forgetDone"), focus: "status" });
      options.onForget?.();
    });
    block.append(start, confirm, live);
    return block;
  }

  const ready = render();
  return {
    ready,
    refresh: () => render(),
    unmount() {
      mounted = false;
      generation++;
      root.remove();
    },
  };
}

/**
 * Registers the `<cove-privacy-panel>` element (or `options.tagName`), which
 * mounts the panel for `cove` with `options` when it is connected; its
 * `refresh()` reads the snippet again. Returns the element's class. Calling
 * it again for the same name returns the class already registered.
 */
export function definePrivacyPanel(cove, options = {}) {
  const tagName = options.tagName ?? DEFAULT_TAG;
  const existing = customElements.get(tagName);
  if (existing) return existing;
  class CovePrivacyPanel extends HTMLElement {
    connectedCallback() {
      this.panel?.unmount();
      this.panel = mountPrivacyPanel(this, cove, options);
    }
    disconnectedCallback() {
      this.panel?.unmount();
      this.panel = null;
    }
    /** Reads the snippet again and re-renders. */
    refresh() {
      return this.panel?.refresh() ?? Promise.resolve();
    }
    /** The first rendering after the element was connected. */
    get ready() {
      return this.panel?.ready ?? Promise.resolve();
    }
  }
  customElements.define(tagName, CovePrivacyPanel);
  return CovePrivacyPanel;
}
