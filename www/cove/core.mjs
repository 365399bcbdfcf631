// The engine's host: loads the wasm engine and the bundle, keeps the profile
// in on-device storage, and answers the API's calls. It runs on the page or
// inside a Web Worker (worker.mjs) and touches no DOM, so both modes share it.
import init, { CoveEngine } from "../pkg/engine/cove_engine.js";
import { loadBundle, pruneBundles, BUNDLE_CACHE } from "./bundle.mjs";
import { MemoryStore, openPersistentStore, readRecord, forgetEverything } from "./storage.mjs";

const PROFILE_KEY = "profile";
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A Cove error: a JavaScript Error with a stable `code`. */
export function coveError(code, message) {
  return Object.assign(new Error(message), { code });
}

export class CoveCore {
  /**
   * @param {object} options the options of `Cove.start` (bundle, bundleIntegrity,
   *   sentiment, sentimentIntegrity, consent, country, wasm)
   */
  static async create(options) {
    if (!options?.bundle) throw coveError("invalid_options", "Cove.start needs { bundle: URL of the bundle manifest }");
    await init(options.wasm ? { module_or_path: options.wasm } : undefined);
    const core = new CoveCore(options);
    const main = await loadBundle(options.bundle, options.bundleIntegrity, { prune: false });
    core.modelId = core.engine.loadBundle(main.manifest, main.tensors);
    const keep = [...main.urls];
    if (options.sentiment) {
      const sentiment = await loadBundle(options.sentiment, options.sentimentIntegrity, { prune: false });
      core.sentimentModelId = core.engine.loadSentimentBundle(sentiment.manifest, sentiment.tensors);
      keep.push(...sentiment.urls);
    }
    await pruneBundles(keep);
    core.store = options.consent === "required" ? new MemoryStore() : await openPersistentStore();
    await core.restore();
    return core;
  }

  constructor(options) {
    this.options = options;
    this.engine = new CoveEngine();
    this.consentGranted = options.consent !== "required";
  }

  async restore() {
    const bytes = await readRecord(this.store, PROFILE_KEY, (value) => {
      if (!(value instanceof Uint8Array)) throw new Error("not a profile");
      // Throws a typed error (corrupt, old version) and keeps the empty profile.
      this.engine.restoreProfile(value);
    });
    return bytes !== undefined;
  }

  async save() {
    // After forget() nothing is stored until there is something to store.
    this.store ??= this.consentGranted ? await openPersistentStore() : new MemoryStore();
    await this.store.set(PROFILE_KEY, this.engine.profileBytes());
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
    return this.store.kind;
  }

  /** Records one shop event, e.g. `{ type: "view", item: "85123A", price: 2.55 }`. */
  async track(event) {
    if (!event || typeof event.type !== "string") throw coveError("invalid_event", "an event needs a string `type`");
    const { at, ...kind } = event;
    this.engine.track(JSON.stringify({ at: at ?? nowSeconds(), kind }));
    await this.save();
  }

  /** Ranks items for a slot: `{ slot, k, context: { item, country, exclude, maxPerCategory } }`. */
  async recommend(request = {}) {
    const context = request.context ?? {};
    const rankRequest = {
      k: request.k ?? 8,
      now: nowSeconds(),
      country: context.country ?? this.options.country ?? null,
      context_item: context.item ?? null,
      exclude_items: context.exclude ?? [],
      max_per_category: context.maxPerCategory ?? null,
    };
    const ranking = this.engine.recommend(JSON.stringify(rankRequest));
    return ranking.items.map((entry) => ({ ...this.engine.item(entry.item), score: entry.score, reason: entry.reason }));
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
    if (!this.sentimentModelId) throw coveError("no_sentiment_model", "Cove.start was given no { sentiment: URL of a sentiment bundle manifest }");
    return this.engine.sentiment(text);
  }

  /** The sentiment model's class labels, most negative first (empty without one). */
  async sentimentClasses() {
    return this.engine.sentimentClasses();
  }

  /** The on-device profile, as JSON-ready data. */
  async profile() {
    return {
      storage: this.storageKind(),
      consent: this.consentGranted,
      modelId: this.modelId,
      profile: JSON.parse(this.engine.profileJson()),
    };
  }

  /** Forgets everything: the profile, every store, and the cached bundle. */
  async forget() {
    this.engine.forget();
    await this.store?.clear();
    this.store?.close?.();
    this.store = null;
    await forgetEverything(BUNDLE_CACHE);
  }
}
