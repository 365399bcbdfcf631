// The engine's host: loads the wasm engine and the bundle, keeps the profile
// in on-device storage, and answers the API's calls. It runs on the page or
// inside a Web Worker (worker.mjs) and touches no DOM, so both modes share it.
import init, { CoveEngine } from "../pkg/engine/cove_engine.js";
import { loadResolved, fileBeside, resolveBundle, pruneBundles, BUNDLE_CACHE } from "./bundle.mjs";
import { MemoryStore, openPersistentStore, readRecord, forgetEverything } from "./storage.mjs";
import { CoveError, coveError, asCoveError } from "./errors.mjs";

export { CoveError, coveError };

const PROFILE_KEY = "profile";
const EVENTS_KEY = "events";
// The event log keeps the latest events only; the profile holds their effect.
const MAX_LOGGED_EVENTS = 500;
const nowSeconds = () => Math.floor(Date.now() / 1000);
// A promise whose rejection is handled later: marked handled now, so an early
// failure (e.g. of the bundle) does not also report it as unhandled.
const settled = (promise) => (promise.catch(() => {}), promise);
// A task later: after the first render, which must not wait for what follows.
const afterFirstRender = () => new Promise((resolve) => setTimeout(resolve, 0));

/** The moments a slot can serve (the engine's `Slot`). */
const SLOT_KINDS = ["for_you", "item_page", "basket"];

/** What `privacy()` says when reports are off. */
const REPORTS_OFF = Object.freeze({ enabled: false, dailyEpsilon: 0, spentToday: 0, remainingToday: 0, nextReportAt: null, pending: false, lastReport: null });

/**
 * The stored profile's read (its raw value, or undefined), from an opening
 * store: the entry module asks it before the first render, and hands the
 * same read to `create` (`host.profile`), which checks it.
 */
export function readStoredProfile(store) {
  return store.then((opened) => opened.get(PROFILE_KEY));
}

/** The persistent store as the shop's consent allows (memory until consent). */
export function openStore(options) {
  return options.consent === "required" ? Promise.resolve(new MemoryStore()) : openPersistentStore();
}

export class CoveCore {
  /**
   * @param {object} options the options of `Cove.start` (bundle, bundleIntegrity,
   *   sentiment, sentimentIntegrity, consent, country, sentimentWasm, shop, api,
   *   reportingWasm), with the URL of the engine's wasm (`wasm`) filled in by
   *   the entry module, which knows where it sits (this module may be bundled
   *   into it, so it cannot resolve it itself)
   * @param {object} host what the entry module provides: `modules` (functions
   *   importing the sentiment and reporter wasm modules' glue and the
   *   snippet's modules that no first paint carries, `reports.mjs` and
   *   `shards.mjs`, written as literal `import()`s in the entry so bundlers
   *   split them off), and optionally the
   *   bundle already resolved (`resolved`, a `resolveBundle` promise), the
   *   store already opened (`store`) and its profile already read
   *   (`profile`, a `readStoredProfile` promise)
   */
  static async create(options, host = {}) {
    if (!options?.bundle) throw coveError("invalid_options", "Cove.start needs { bundle: URL of the bundle pointer or manifest }");
    const modules = host.modules ?? {};
    // The store, the engine's module and the bundle are fetched side by side:
    // none needs another, and a cold start waits only for the slowest.
    const store = host.store ?? openStore(options);
    // The profile and the event log are read meanwhile too; they are checked
    // (and reset when unreadable) once the engine has the bundle.
    const reads = store.then((opened) => ({
      profile: settled(host.profile ?? opened.get(PROFILE_KEY)),
      events: settled(opened.get(EVENTS_KEY)),
    }));
    const resolved = host.resolved ?? resolveBundle(options.bundle, options.bundleIntegrity);
    // A head bundle of a large catalogue ranks on this engine too, from the
    // first paint; its shards are followed later (shards.mjs).
    const wasm = options.wasm;
    const [main, { shards }] = await Promise.all([
      resolved.then(loadResolved),
      resolved,
      init({ module_or_path: wasm }).catch((error) => {
        throw asCoveError(error, "wasm_load", `the engine's wasm (${wasm}) did not load`);
      }),
    ]);
    const core = new CoveCore(options);
    core.modules = modules;
    core.shardTotal = shards ?? 0;
    try {
      // The tensors' digest was checked by Subresource Integrity or Web Crypto.
      core.modelId = core.engine.loadBundle(main.manifest, main.tensors, main.tensorsSha256);
    } catch (error) {
      throw asCoveError(error, "bundle_invalid", "the engine refused the bundle");
    }
    core.bundle = main;
    const bundles = [main];
    if (options.sentiment) {
      // Its own wasm module and bundle, fetched after the first render (only
      // review forms need them); sentiment() and review() wait for them.
      core.sentimentLoading = settled(afterFirstRender().then(() => core.loadSentiment(modules.sentiment)));
      core.sentimentLoading.then(
        (bundle) => bundles.push(bundle),
        (error) => console.warn("cove: sentiment scoring is off:", error?.message ?? error),
      );
    }
    core.store = await store;
    // A returning shopper's taste may want shards of a large catalogue: they
    // are fetched after the first render, which the head serves. (An empty
    // profile wants none: a newcomer's first event starts them.)
    if ((await core.restore(await reads)) && shards) afterFirstRender().then(() => core.fetchShards());
    if (options.shop) {
      // Reports start a task later, after the first render: their module
      // (reports.mjs, no part of the first paint), the registry's fetch and
      // the reporter's wasm are off the start's path. Every call that reports
      // waits for `reporting` (it never rejects), and finds `reporter` set.
      core.reporting = afterFirstRender()
        .then(() => modules.reporter())
        .then(({ Reporter }) => {
          core.reporter = new Reporter(core, {
            shop: options.shop,
            api: options.api,
            module: modules.reporting,
            wasm: options.reportingWasm,
            readRecord,
          });
          return core.reporter.start();
        })
        .catch((error) => console.warn("cove: privacy reports are off:", error?.message ?? error));
    }
    // Older bundles leave the Cache API after the first render and after the
    // sentiment bundle is in, so the start never waits for it; forget() waits for it.
    core.pruning = afterFirstRender()
      .then(() => core.sentimentLoading?.catch(() => {}))
      .then(() => pruneBundles(bundles.flatMap((bundle) => bundle.urls)))
      .catch((error) => console.warn("cove: could not prune older bundles from the cache:", error));
    return core;
  }

  /** Loads the sentiment module and bundle (`importModule` imports the module's glue). */
  async loadSentiment(importModule) {
    if (!importModule) throw coveError("invalid_options", "no sentiment module to import");
    const [module, resolved] = await Promise.all([
      importModule().catch((error) => {
        throw asCoveError(error, "wasm_load", "the sentiment module did not load");
      }),
      resolveBundle(this.options.sentiment, this.options.sentimentIntegrity),
    ]);
    const bundle = await loadResolved(resolved);
    await module.default(this.options.sentimentWasm ? { module_or_path: this.options.sentimentWasm } : undefined).catch((error) => {
      throw asCoveError(error, "wasm_load", "the sentiment wasm did not load");
    });
    try {
      this.sentimentScorer = new module.SentimentScorer(bundle.manifest, bundle.tensors);
    } catch (error) {
      throw asCoveError(error, "bundle_invalid", "the sentiment bundle was refused");
    }
    this.sentimentModelId = this.sentimentScorer.modelId();
    return bundle;
  }

  /** The sentiment scorer, once loaded (rejects when `sentiment` was not given or failed to load). */
  async sentimentReady() {
    if (!this.sentimentLoading) throw coveError("no_sentiment_model", "Cove.start was given no { sentiment: URL of a sentiment bundle }");
    await this.sentimentLoading;
    return this.sentimentScorer;
  }

  constructor(options) {
    this.options = options;
    this.engine = new CoveEngine();
    this.consentGranted = options.consent !== "required";
    // Settles once privacy reports are started (or found off); see create().
    this.reporting = Promise.resolve();
    // A head bundle's shards: how many its pointer lists (0 for any other
    // bundle), the fetch under way (one at a time), their follower
    // (shards.mjs, once imported), and why it last failed to load.
    this.shardTotal = 0;
    this.shardLoading = Promise.resolve();
    this.shardFollower = null;
    this.shardEngineError = undefined;
    // The latest events as tracked (bounded), kept on the device beside the profile.
    this.events = [];
  }

  /** Restores the stored profile and event log from their reads (`store.get`), started earlier. */
  async restore(reads) {
    const [bytes, events] = await Promise.all([
      readRecord(
        this.store,
        PROFILE_KEY,
        (value) => {
          if (!(value instanceof Uint8Array)) throw new Error("not a profile");
          // Throws a typed error (corrupt, old version) and keeps the empty profile.
          this.engine.restoreProfile(value);
        },
        reads.profile,
      ),
      readRecord(
        this.store,
        EVENTS_KEY,
        (value) => {
          if (!Array.isArray(value) || !value.every((event) => event && typeof event.kind?.type === "string")) {
            throw new Error("not an event log");
          }
        },
        reads.events,
      ),
    ]);
    this.events = events ?? [];
    return bytes !== undefined;
  }

  async save() {
    await this.saveRecord(PROFILE_KEY, this.engine.profileBytes());
    await this.saveRecord(EVENTS_KEY, this.events);
  }

  /** Stores one named record (after forget() the store is opened again only now). */
  async saveRecord(key, value) {
    this.store ??= this.consentGranted ? await openPersistentStore() : new MemoryStore();
    await this.store.set(key, value);
  }

  /** Where the profile is kept: "indexeddb", "localstorage", "memory", or "none" after forget(). */
  storageKind() {
    return this.store?.kind ?? "none";
  }

  /** The shopper (or the shop's consent banner) agreed: start persisting. */
  async grantConsent() {
    if (this.consentGranted) return this.storageKind();
    this.consentGranted = true;
    this.store = await openPersistentStore();
    await this.save();
    await this.reporting;
    if (this.reporter?.enabled) {
      await this.reporter.save();
      this.reporter.schedule();
    }
    return this.store.kind;
  }

  /** Records one shop event, e.g. `{ type: "view", item: "85123A", price: 2.55 }`. */
  async track(event) {
    if (!event || typeof event.type !== "string") throw coveError("invalid_event", "an event needs a string `type`");
    const { at, ...kind } = event;
    const logged = { at: at ?? nowSeconds(), kind };
    this.engine.track(JSON.stringify(logged));
    // The event may move the shopper's taste towards a shard not yet here,
    // or name an item outside the head (a product page of the rest of a
    // large catalogue): its shard is fetched too.
    if (this.shardTotal) this.fetchShards(kind.item);
    this.events.push(logged);
    if (this.events.length > MAX_LOGGED_EVENTS) this.events.splice(0, this.events.length - MAX_LOGGED_EVENTS);
    await this.save();
    await this.reporting;
    // A purchase counts for the visit metrics (revenue, and what went to
    // items clicked in a Cove slot): the engine's reporter keeps the figure.
    if (kind.type === "purchase") this.reporter?.recordPurchase(kind.lines, logged.at);
    await this.reporter?.activity();
  }

  /** A slot showed these items (ids): counted for the recommendations' click-through. */
  async recommendationsShown(items) {
    if (!Array.isArray(items)) throw coveError("invalid_request", "recommendationsShown takes a list of item ids");
    await this.reporting;
    return (await this.reporter?.recommendationsShown(items)) ?? false;
  }

  /** The shopper clicked an item a slot showed today. */
  async recommendationClick(item) {
    if (typeof item !== "string" || item === "") throw coveError("invalid_request", "recommendationClick takes an item id");
    await this.reporting;
    return (await this.reporter?.recommendationClick(item)) ?? false;
  }

  /**
   * Ranks items for a slot: `{ slot, k, kind, context: { item, country, exclude, maxPerCategory } }`.
   * `kind` is the moment the slot serves: "for_you", "item_page" (needs `context.item`) or
   * "basket" (the cart is the context); by default "item_page" with a context item, else "for_you".
   * A "similar" reason carries the title of the item it came from (`toTitle`), and
   * `fromContext` when that is the slot's context item.
   */
  async recommend(request = {}) {
    const context = request.context ?? {};
    const kind = request.kind ?? (context.item ? "item_page" : "for_you");
    if (!SLOT_KINDS.includes(kind)) {
      throw coveError("invalid_request", `slot kind "${kind}" is not one of ${SLOT_KINDS.join(", ")}`);
    }
    const rankRequest = {
      k: request.k ?? 8,
      now: nowSeconds(),
      slot: kind,
      country: context.country ?? this.options.country ?? null,
      context_item: context.item ?? null,
      exclude_items: context.exclude ?? [],
      max_per_category: context.maxPerCategory ?? null,
    };
    // A context item outside the head and the loaded shards: its shard is
    // fetched for the next render.
    if (this.shardTotal && context.item && !this.engine.item(context.item)) this.fetchShards(context.item);
    const ranking = this.engine.recommend(JSON.stringify(rankRequest));
    return ranking.items.map((entry) => {
      const reason = { ...entry.reason };
      if (reason.kind === "similar" && reason.to) {
        reason.toTitle = this.engine.item(reason.to)?.title;
        reason.fromContext = reason.to === context.item || kind === "basket";
      }
      return { ...this.engine.item(entry.item), score: entry.score, reason };
    });
  }

  /**
   * Starts fetching the shards of a large catalogue that the shopper's taste
   * wants now and the device does not have (the engine decides which), and
   * with `item` (an item id the shopper is looking at) the shard that holds
   * it. Fetches run one round at a time; a shard that fails leaves the head
   * (and the shards already in) ranking, and is tried again after a back-off.
   * Only for a head bundle; never rejects.
   */
  fetchShards(item) {
    // After the reporter has started: it reads the model as the bundle
    // gave it (the head), whatever shards come later.
    this.shardLoading = this.shardLoading
      .then(() => this.reporting)
      .then(() => (this.shardFollower ??= this.followShards()))
      .then((follower) => follower.loadWanted(item))
      .catch((error) => console.warn("cove: shards not loaded:", error?.message ?? error));
    return this.shardLoading;
  }

  /**
   * The shards' follower (shards.mjs), which makes the large-catalogue engine
   * this host's engine. When it does not load, the head keeps ranking,
   * `shards()` says why (`engineError`), and it is tried again on the next event.
   */
  followShards() {
    return this.modules
      .shardFollower()
      .then((follower) => follower.attach(this, { fileBeside, asCoveError }))
      .then(
        (follower) => ((this.shardEngineError = undefined), follower),
        (error) => {
          const { code, message } = asCoveError(error, "wasm_load", "the shards' module did not load");
          this.shardEngineError = { code, message };
          this.shardFollower = null;
          throw error;
        },
      );
  }

  /**
   * The catalogue's shards on this device, once the fetch under way is done:
   * `{ total, loaded, added, failed: [{ index, code, message, retryAt }] }`.
   * `total` is 0 for a bundle of the whole catalogue; `loaded` lists the shard
   * indices in the engine; `added` counts the shards added this visit (the
   * page renders its slots again when it grows); `retryAt` is in ms since
   * the epoch. Only the shards the taste wants now are listed as failed.
   */
  async shards() {
    // Once followed, the wanted shards are fetched first.
    if (this.shardFollower) await this.fetchShards();
    else await this.shardLoading;
    const status = (await this.shardFollower)?.status() ?? { total: this.shardTotal, loaded: [], added: 0, failed: [] };
    return this.shardEngineError ? { ...status, engineError: this.shardEngineError } : status;
  }

  /** The shopper's segments, each with its reason. */
  async segments() {
    return this.engine.segments(nowSeconds());
  }

  /** Why an item would be shown, and what the profile holds about it. */
  async explain(item) {
    return this.engine.explain(item, nowSeconds());
  }

  /**
   * The sentiment of a text the shopper wrote, scored on the device with the
   * sentiment bundle: `{ class, class_index, score, probabilities, n_tokens, truncated }`.
   */
  async sentiment(text) {
    return (await this.sentimentReady()).sentiment(text);
  }

  /** The sentiment model's class labels, most negative first (empty without one). */
  async sentimentClasses() {
    if (!this.sentimentLoading) return [];
    return (await this.sentimentReady()).classes();
  }

  /** The on-device profile, as JSON-ready data. */
  async profile() {
    return {
      storage: this.storageKind(),
      consent: this.consentGranted,
      modelId: this.modelId,
      profile: JSON.parse(this.engine.profileJson()),
      events: this.events.slice(),
    };
  }

  /**
   * What the shopper may see about privacy reports: the daily ε limit, ε spent
   * and left today, when the next envelope goes, and the exact bytes of the last one.
   */
  async privacy() {
    await this.reporting;
    return this.reporter?.status() ?? { ...REPORTS_OFF };
  }

  /** Puts the shopper in a campaign's audience: `{ variant }`, 0 is the holdout (do not show it). */
  async campaign(id) {
    await this.reporting;
    return this.reporter ? this.reporter.campaign(id) : { variant: 1, reporting: false };
  }

  /** Records that the shopper responded to a campaign shown today. */
  async campaignResponse(id) {
    await this.reporting;
    return this.reporter ? this.reporter.campaignResponse(id) : false;
  }

  /**
   * The cart-abandonment risk and what to do about it: `{ risk, threshold,
   * outcome: { kind: "offer" | "holdout" | …, action } }`. When the shop runs the
   * "rescue-cart" campaign, an eligible shopper joins its audience and the
   * campaign's variant decides between the offer and the holdout, so the
   * offer's effect is measured; otherwise the bundle's rescue policy decides.
   */
  async rescue() {
    const now = nowSeconds();
    const seed = crypto.getRandomValues(new Uint32Array(1))[0];
    const decision = this.engine.rescue(now, seed);
    // The engine names the campaign whose audience an eligible shopper joins.
    const audience = decision.audience;
    if (!audience) return decision;
    await this.reporting;
    if (!this.reporter?.runs(audience)) return decision;
    const { variant } = await this.reporter.campaign(audience);
    return this.engine.rescue(now, seed, variant);
  }

  /**
   * A review the shopper submitted through the shop's form: the stars (if any)
   * become a rating event; the sentiment of the title and text is computed here,
   * on the device, and only its class goes into the next privacy report, as a
   * randomised cell over category × segment × class. The text is not stored.
   */
  async review({ item, stars, title = "", text = "" } = {}) {
    if (typeof item !== "string" || item === "") throw coveError("invalid_event", "a review needs an `item`");
    if (stars !== undefined) await this.track({ type: "rating", item, stars });
    if (!this.sentimentLoading) return { sentiment: null, reported: false };
    const scorer = await this.sentimentReady();
    const sentiment = scorer.sentiment([title, text].filter(Boolean).join(". "));
    await this.reporting;
    const reported = (await this.reporter?.review(item, sentiment.class)) ?? false;
    return { sentiment, reported };
  }

  /** Sends a due privacy report now (it is otherwise sent on a timer). */
  async flushReports() {
    await this.reporting;
    await this.reporter?.send();
    return this.privacy();
  }

  /**
   * Forgets everything: the profile, every store, and the cached bundle. A
   * head bundle's shards go too (which ones the device held says what the
   * shopper's taste was): the engine goes back to the head alone.
   */
  async forget() {
    this.engine.forget();
    await this.shardLoading;
    (await this.shardFollower)?.forget();
    await this.reporting;
    this.reporter?.forget();
    this.events = [];
    await this.store?.clear();
    this.store?.close?.();
    this.store = null;
    await this.pruning;
    await forgetEverything(BUNDLE_CACHE);
  }
}
