// Cove's storefront snippet, as an ES module:
//
//   import { Cove } from "/cove.mjs";            // or from the npm package "cove-storefront"
//   const cove = await Cove.start({ bundle: "/v1/bundles/default.json" });
//   await cove.track({ type: "view", item: "85123A", price: 2.55 });
//   const items = await cove.recommend({ slot: "home", k: 8 });
//   const { class: feeling, score } = await cove.sentiment("Love it!"); // with { sentiment: URL }
//
// Everything runs on the device. Slots (`<div data-cove-slot="home" data-cove-k="8">`)
// are filled from the shop's own `<template>` and refreshed after events;
// events are also captured from declarative attributes (`data-cove-view`,
// `data-cove-add-to-cart`, `data-cove-remove-from-cart`, `form[data-cove-search]`).
// With `{ worker: true }` the engine runs in a Web Worker, behind the same API.
import { CoveCore, openStore, readStoredProfile } from "./cove/core.mjs";
import { resolveBundle } from "./cove/bundle.mjs";
import { CoveError, coveError, asCoveError } from "./cove/errors.mjs";
import { renderSlots, markSlots, captureEvents, starterRecommend } from "./cove/slots.mjs";
import { HOST_METHODS } from "./cove/api.mjs";

export { CoveError };

/** Calls into a CoveCore that lives in a Web Worker. */
class RemoteCore {
  constructor(worker) {
    this.worker = worker;
    this.nextId = 1;
    this.pending = new Map();
    this.failure = null;
    worker.onmessage = ({ data }) => {
      const call = this.pending.get(data?.id);
      if (!call) return;
      this.pending.delete(data.id);
      if (data.error) call.reject(new CoveError(data.error.code, data.error.message));
      else call.resolve(data.result);
    };
    // A worker whose script did not load (wrong URL, CSP, a `data:` URL that
    // cannot import) or that crashed: every pending and later call rejects.
    worker.onerror = (event) => {
      event.preventDefault?.();
      this.fail(
        coveError(
          "worker_failed",
          `Cove's Web Worker failed: ${event.message || "its script did not load (blocked by the page's CSP, a wrong URL, or a bundler that inlined it)"}; ` +
            "start Cove without { worker: true } to run the engine on the page",
        ),
      );
    };
    worker.onmessageerror = () => this.fail(coveError("worker_failed", "a message from Cove's Web Worker could not be read"));
  }
  fail(error) {
    this.failure ??= error;
    for (const call of this.pending.values()) call.reject(this.failure);
    this.pending.clear();
    this.worker.terminate();
  }
  call(method, ...args) {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, method, args });
    });
  }
}

// Where the snippet's other files sit. Written as `new URL("…", import.meta.url)`
// so that bundlers (Vite, webpack, Rollup, Parcel) find and emit them; the
// published site keeps them beside this module. A shop whose bundler does not
// (esbuild) serves the package's files somewhere and passes that as `assets`.
const ASSET_PATHS = {
  wasm: "pkg/engine/cove_engine_bg.wasm",
  shardsWasm: "pkg/engine-shards/cove_engine_shards_bg.wasm",
  sentimentWasm: "pkg/sentiment/cove_sentiment_bg.wasm",
  reportingWasm: "pkg/reporting/cove_reporting_bg.wasm",
  worker: "cove/worker.mjs",
};
function assetUrls(assets) {
  if (assets) {
    const base = new URL(assets, globalThis.location?.href);
    return Object.fromEntries(Object.entries(ASSET_PATHS).map(([name, path]) => [name, new URL(path, base).href]));
  }
  return {
    wasm: new URL("./pkg/engine/cove_engine_bg.wasm", import.meta.url).href,
    sentimentWasm: new URL("./pkg/sentiment/cove_sentiment_bg.wasm", import.meta.url).href,
    reportingWasm: new URL("./pkg/reporting/cove_reporting_bg.wasm", import.meta.url).href,
  };
}

// The lazily loaded modules' glue: literal `import()`s, so bundlers split
// them into chunks of their own, fetched only when used.
const MODULES = {
  reporter: () => import("./cove/reports.mjs"),
  shardFollower: () => import("./cove/shards.mjs"),
  sentiment: () => import("./pkg/sentiment/cove_sentiment.js"),
  reporting: () => import("./pkg/reporting/cove_reporting.js"),
};

/** Starts the engine's Web Worker. */
function startWorker(assets) {
  // A module worker must be same-origin with the page: from another origin
  // (a CDN, the worker's host) a same-origin blob module imports it instead.
  const crossOrigin = (url) => typeof location !== "undefined" && new URL(url, location.href).origin !== location.origin;
  if (assets) {
    const url = new URL(ASSET_PATHS.worker, new URL(assets, globalThis.location?.href)).href;
    return crossOrigin(url) ? blobWorker(url) : new Worker(url, { type: "module" });
  }
  if (crossOrigin(import.meta.url)) return blobWorker(new URL(ASSET_PATHS.worker, import.meta.url).href);
  return new Worker(new URL("./cove/worker.mjs", import.meta.url), { type: "module" });
}

function blobWorker(url) {
  const source = new Blob([`import ${JSON.stringify(url)};`], { type: "text/javascript" });
  return new Worker(URL.createObjectURL(source), { type: "module" });
}

const REFRESHING_EVENTS = new Set(["view", "add_to_cart", "remove_from_cart", "purchase", "search", "rating"]);
// One Cove per page, even when the snippet is loaded twice (two copies of
// this module share the global).
const RUNNING = Symbol.for("cove.running");
// How long the first render waits to learn whether the shopper has a stored
// profile; past it, the slots wait for the engine.
const PROFILE_PROBE_MS = 300;

/** Whether a profile is stored, from its read (true, "returning", when unknown within the probe's time). */
async function storedProfile(profileRead) {
  const probe = profileRead.then((value) => value !== undefined);
  const timeout = new Promise((resolve) => setTimeout(() => resolve(true), PROFILE_PROBE_MS));
  return Promise.race([probe.catch(() => true), timeout]);
}

async function startCove(options) {
  const page = options.slots !== false && typeof document !== "undefined";
  if (page) markSlots(document, "loading");
  const assets = assetUrls(options.assets);
  const resolved = resolveBundle(options.bundle, options.bundleIntegrity);
  resolved.catch(() => {});
  let backend;
  let firstRender = Promise.resolve();
  if (options.worker) {
    let worker;
    try {
      worker = startWorker(options.assets);
    } catch (error) {
      throw asCoveError(error, "worker_failed", "Cove's Web Worker could not be created");
    }
    backend = new RemoteCore(worker);
    if (page) {
      // The worker opens its own connection to the same store.
      const store = options.consent === "required" ? Promise.resolve(null) : openStore(options);
      const profile = readStoredProfile(store.then((opened) => opened ?? { get: async () => undefined }));
      firstRender = renderStarter(resolved, profile, options);
      store.then((opened) => firstRender.finally(() => opened?.close?.())).catch(() => {});
    }
    const { worker: _ignored, assets: _assets, ...workerOptions } = options;
    const absolute = (url) => url && new URL(url, location.href).href;
    // The worker resolves the pointer again (from the HTTP cache), so it
    // knows every URL of the bundle it keeps in the Cache API.
    await resolved;
    await backend.call("start", {
      ...workerOptions,
      bundle: absolute(options.bundle),
      sentiment: absolute(options.sentiment),
      wasm: absolute(options.wasm) ?? assets.wasm,
      shardsWasm: absolute(options.shardsWasm ?? assets.shardsWasm),
      sentimentWasm: absolute(options.sentimentWasm) ?? assets.sentimentWasm,
      reportingWasm: absolute(options.reportingWasm) ?? assets.reportingWasm,
    });
  } else {
    const store = openStore(options);
    // Read once: the first render asks whether it exists, the engine restores it.
    const profile = readStoredProfile(store);
    profile.catch(() => {});
    // On the page, the engine's loading (wasm compile, bundle parse) would
    // compete with the first render for the main thread: it starts once the
    // starter list is shown, or once the store says this is a returning
    // shopper (at most PROFILE_PROBE_MS later).
    if (page) await (firstRender = renderStarter(resolved, profile, options));
    const core = await CoveCore.create(
      {
        ...options,
        wasm: options.wasm ?? assets.wasm,
        shardsWasm: options.shardsWasm ?? assets.shardsWasm,
        sentimentWasm: options.sentimentWasm ?? assets.sentimentWasm,
        reportingWasm: options.reportingWasm ?? assets.reportingWasm,
      },
      { modules: MODULES, resolved, store, profile },
    );
    backend = { call: async (method, ...args) => core[method](...args) };
  }
  await firstRender;
  const cove = new Cove(backend, options);
  // Resolved by now (the engine's host has the bundle): a head bundle's
  // shards are followed; any other bundle has none to wait for.
  cove.sharded = (await resolved).shards > 0;
  if (page) {
    cove.stopCapturing = captureEvents(
      document,
      (event) => cove.track(event),
      (review) => cove.review(review),
      (item) => cove.recommendationClick(item),
    );
    await cove.refreshSlots();
    followShards(cove);
  }
  return cove;
}

/**
 * A first visit's first render, before the engine has loaded: the "for you"
 * slots get the bundle pointer's starter list (the engine's own ranking for
 * an empty profile, computed when the bundle was published), when the
 * shopper has no stored profile. Every other slot waits for the engine.
 */
async function renderStarter(resolved, profileRead, options) {
  try {
    const [{ starter }, returning] = await Promise.all([resolved, storedProfile(profileRead)]);
    if (!starter || returning) return;
    await renderSlots(document, starterRecommend(starter, options.country), options, "starter");
  } catch {
    // The engine's start reports what failed.
  }
}

/**
 * Renders the slots again once a shard of a large catalogue arrives: the
 * host fetches the shards the shopper's taste wants, after the start and
 * after events. Not awaited: the slots already show the head's ranking.
 */
function followShards(cove) {
  if (!cove.sharded) return;
  cove
    .shards()
    .then((status) => {
      if (status.added <= cove.shardsShown) return;
      cove.shardsShown = status.added;
      return cove.refreshSlots();
    })
    .catch((error) => console.warn("cove: shards:", error?.message ?? error));
}

export class Cove {
  /**
   * Starts Cove, once per page: a second call with the same bundle gets the
   * same Cove; with another bundle it rejects (`already_started`). Options:
   * `bundle` (URL of the bundle pointer, e.g. "/v1/bundles/default.json", or of
   * a manifest; required), `bundleIntegrity` (SRI of the manifest), `sentiment`
   * and `sentimentIntegrity` (a sentiment bundle, for `sentiment()`; loaded
   * after the first render), `consent` ("required" keeps everything in memory
   * until `grantConsent()`), `country`, `worker` (run the engine in a Web
   * Worker), `currency` (for prices in slots), `itemUrl` (e.g. "/product/{id}"),
   * `shop` (the shop's id at the edge: turns on privacy reports; their wasm
   * module is fetched after the first render), `api` (the edge's base URL,
   * default "/v1"), `assets` (where the package's files are served, for
   * bundlers that do not emit `new URL(…, import.meta.url)` files), `wasm`,
   * `shardsWasm`, `sentimentWasm`, `reportingWasm` (single files elsewhere), `slots` (render
   * slots and capture declarative events; default true on a page).
   *
   * Rejects with a `CoveError` on any failure; on a page it also marks the
   * slots `data-cove-state="error"` (they keep the shop's fallback content)
   * and dispatches `cove:error` on `document`. `cove:ready` follows a start.
   */
  static start(options = {}) {
    const running = globalThis[RUNNING];
    if (running) {
      if (running.bundle === options.bundle) return running.promise;
      return Promise.reject(
        coveError("already_started", `Cove is already running on this page with the bundle ${running.bundle}; call Cove.start once`),
      );
    }
    const page = options.slots !== false && typeof document !== "undefined";
    const promise = startCove(options).then(
      (cove) => {
        if (page) document.dispatchEvent(new CustomEvent("cove:ready", { detail: { Cove, cove } }));
        return cove;
      },
      (error) => {
        const failure = asCoveError(error, "start_failed", "Cove could not start");
        if (globalThis[RUNNING]?.promise === promise) delete globalThis[RUNNING];
        if (page) {
          markSlots(document, "error");
          document.dispatchEvent(new CustomEvent("cove:error", { detail: { error: failure, code: failure.code, message: failure.message } }));
        }
        throw failure;
      },
    );
    globalThis[RUNNING] = { bundle: options.bundle, promise };
    return promise;
  }

  constructor(backend, options) {
    this.backend = backend;
    this.options = options;
    // Whether the bundle is a head with shards (set by the start), and the
    // shards added when the slots were last rendered for one.
    this.sharded = false;
    this.shardsShown = 0;
  }

  /** Records one shop event and refreshes the slots it may change. */
  async track(event) {
    await this.backend.call("track", event);
    if (REFRESHING_EVENTS.has(event.type) && this.options.slots !== false && typeof document !== "undefined") {
      await this.refreshSlots();
      followShards(this);
    }
  }

  /** Forgets everything stored on this device, then re-renders the slots. */
  async forget() {
    await this.backend.call("forget");
    if (this.options.slots !== false && typeof document !== "undefined") await this.refreshSlots();
  }

  /** Renders every `[data-cove-slot]` on the page. */
  refreshSlots() {
    return renderSlots(document, (request) => this.recommend(request), this.options, "ready", (items) =>
      this.recommendationsShown(items).catch((error) =>
        console.warn("cove: shown recommendations not recorded:", error?.message ?? error)));
  }
}

// The rest of the API (cove/api.mjs) is the host's answer as it is: documented
// in cove.d.mts, forwarded to the engine's host on the page or in the worker.
for (const method of HOST_METHODS) {
  Cove.prototype[method] ??= function (argument) {
    return this.backend.call(method, argument);
  };
}

export default Cove;
