// Cove's storefront snippet, as an ES module:
//
//   import { Cove } from "/cove.mjs";
//   const cove = await Cove.start({ bundle: "/v1/bundles/<id>/manifest.json" });
//   await cove.track({ type: "view", item: "85123A", price: 2.55 });
//   const items = await cove.recommend({ slot: "home", k: 8 });
//   const { class: feeling, score } = await cove.sentiment("Love it!"); // with { sentiment: URL }
//
// Everything runs on the device. Slots (`<div data-cove-slot="home" data-cove-k="8">`)
// are filled from the shop's own `<template>` and refreshed after events;
// events are also captured from declarative attributes (`data-cove-view`,
// `data-cove-add-to-cart`, `data-cove-remove-from-cart`, `form[data-cove-search]`).
// With `{ worker: true }` the engine runs in a Web Worker, behind the same API.
import { CoveCore } from "./cove/core.mjs";
import { renderSlots, captureEvents } from "./cove/slots.mjs";

/** Calls into a CoveCore that lives in a Web Worker. */
class RemoteCore {
  constructor(worker) {
    this.worker = worker;
    this.nextId = 1;
    this.pending = new Map();
    worker.onmessage = ({ data }) => {
      const call = this.pending.get(data.id);
      if (!call) return;
      this.pending.delete(data.id);
      if (data.error) call.reject(Object.assign(new Error(data.error.message), { code: data.error.code }));
      else call.resolve(data.result);
    };
  }
  call(method, ...args) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, method, args });
    });
  }
}

// Where the snippet's other files sit, relative to this module (the published
// site bundles this module's imports into it, so only this module's URL is
// known to be where it was written).
const ASSETS = {
  wasm: new URL("./pkg/engine/cove_engine_bg.wasm", import.meta.url).href,
  sentimentModule: new URL("./pkg/sentiment/cove_sentiment.js", import.meta.url).href,
  reportingModule: new URL("./pkg/reporting/cove_reporting.js", import.meta.url).href,
  worker: new URL("./cove/worker.mjs", import.meta.url),
};

const REFRESHING_EVENTS = new Set(["view", "add_to_cart", "remove_from_cart", "purchase", "search", "rating"]);

export class Cove {
  /**
   * Starts Cove. Options: `bundle` (manifest URL, required), `bundleIntegrity`
   * (SRI of the manifest), `sentiment` and `sentimentIntegrity` (a sentiment
   * bundle's manifest, for `sentiment()`), `consent` ("required" keeps everything in memory
   * until `grantConsent()`), `country`, `worker` (run the engine in a Web
   * Worker), `currency` (for prices in slots), `itemUrl` (e.g. "/product/{id}"),
   * `shop` (the shop's id at the edge: turns on privacy reports; their wasm module
   * is fetched after the first render), `reportingWasm`, `api` (the
   * edge's base URL, default "/v1"),
   * `slots` (render slots and capture declarative events; default true on a page).
   */
  static async start(options = {}) {
    let backend;
    if (options.worker) {
      const worker = new Worker(ASSETS.worker, { type: "module" });
      backend = new RemoteCore(worker);
      const { worker: _ignored, ...workerOptions } = options;
      const absolute = (url) => url && new URL(url, location.href).href;
      await backend.call("start", {
        ...workerOptions,
        bundle: absolute(options.bundle),
        sentiment: absolute(options.sentiment),
        wasm: absolute(options.wasm) ?? ASSETS.wasm,
        sentimentWasm: absolute(options.sentimentWasm),
        sentimentModule: ASSETS.sentimentModule,
        reportingWasm: absolute(options.reportingWasm),
        reportingModule: ASSETS.reportingModule,
      });
    } else {
      const core = await CoveCore.create({
        ...options,
        wasm: options.wasm ?? ASSETS.wasm,
        sentimentModule: ASSETS.sentimentModule,
        reportingModule: ASSETS.reportingModule,
      });
      backend = { call: (method, ...args) => core[method](...args) };
    }
    const cove = new Cove(backend, options);
    if (options.slots !== false && typeof document !== "undefined") {
      cove.stopCapturing = captureEvents(
        document,
        (event) => cove.track(event),
        (review) => cove.review(review),
      );
      await cove.refreshSlots();
    }
    return cove;
  }

  constructor(backend, options) {
    this.backend = backend;
    this.options = options;
  }

  /** Records one shop event and refreshes the slots it may change. */
  async track(event) {
    await this.backend.call("track", event);
    if (REFRESHING_EVENTS.has(event.type) && this.options.slots !== false && typeof document !== "undefined") {
      await this.refreshSlots();
    }
  }

  /** Ranked items for a slot: `[{ id, title, price, category, score, reason }]`. */
  recommend(request) {
    return this.backend.call("recommend", request);
  }

  /** The shopper's segments, each with a machine-readable reason. */
  segments() {
    return this.backend.call("segments");
  }

  /** Why an item would be shown, and what the profile holds about it. */
  explain(item) {
    return this.backend.call("explain", item);
  }

  /**
   * The sentiment of a text the shopper wrote, computed on the device (nothing
   * leaves it): `{ class, class_index, score, probabilities, n_tokens, truncated }`.
   * Needs the `sentiment` start option; empty text is a `empty_text` error.
   */
  sentiment(text) {
    return this.backend.call("sentiment", text);
  }

  /** The sentiment model's class labels, most negative first. */
  sentimentClasses() {
    return this.backend.call("sentimentClasses");
  }

  /** What this shop knows about the shopper: the on-device profile. */
  profile() {
    return this.backend.call("profile");
  }

  /**
   * Privacy reports as the shopper may see them: `{ enabled, dailyEpsilon,
   * spentToday, remainingToday, nextReportAt, pending, lastReport: { day, bytes } }`.
   */
  privacy() {
    return this.backend.call("privacy");
  }

  /** Puts the shopper in a campaign's audience: `{ variant }`; variant 0 is the holdout (do not show it). */
  campaign(id) {
    return this.backend.call("campaign", id);
  }

  /** Records that the shopper responded to a campaign shown today. */
  campaignResponse(id) {
    return this.backend.call("campaignResponse", id);
  }

  /**
   * The cart-abandonment risk and the rescue decision: `{ risk, threshold,
   * outcome: { kind, action }, campaign?, variant? }`; show the offer when
   * `outcome.kind === "offer"`, and call `campaignResponse(campaign)` when it is taken.
   */
  rescue() {
    return this.backend.call("rescue");
  }

  /**
   * A review submitted through the shop's form: `{ item, stars?, title?, text? }`.
   * The sentiment is computed on the device; only a randomised class per
   * category × segment is reported. Resolves to `{ sentiment, reported }`.
   */
  review(review) {
    return this.backend.call("review", review);
  }

  /** Sends a due privacy report now instead of on its timer; resolves to `privacy()`. */
  flushReports() {
    return this.backend.call("flushReports");
  }

  /** Starts persisting the profile (when the shop required consent). */
  grantConsent() {
    return this.backend.call("grantConsent");
  }

  /** Forgets everything stored on this device, then re-renders the slots. */
  async forget() {
    await this.backend.call("forget");
    if (this.options.slots !== false && typeof document !== "undefined") await this.refreshSlots();
  }

  /** Renders every `[data-cove-slot]` on the page. */
  refreshSlots() {
    return renderSlots(document, (request) => this.recommend(request), this.options);
  }
}

export default Cove;
