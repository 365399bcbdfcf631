// The snippet's API, declared once: the methods of a started `Cove`.
//
// `HOST_METHODS` are answered by the engine's host (`CoveCore` in core.mjs),
// on the page or in the Web Worker: cove.mjs gives `Cove` a method forwarding
// each one (and writes out only those that do more, e.g. `track` refreshing
// the slots), and worker.mjs answers exactly these messages. Each takes at
// most one argument (an options object, an id or a text), which is forwarded.
// `PAGE_METHODS` are the page's own (they touch the DOM).
//
// Adding a method to the host is adding it here and to CoveCore;
// tests/e2e/snippet-api.test.mjs then fails until cove.d.mts (the types
// storefront developers read) declares it, and whenever the demo shop
// (web-demo) or the privacy panel calls a method not listed. The lists are
// marked pure so that a bundle that does not use one drops it.
export const HOST_METHODS = /* @__PURE__ */ Object.freeze([
  "track",
  "recommend",
  "segments",
  "explain",
  "profile",
  "sentiment",
  "sentimentClasses",
  "review",
  "grantConsent",
  "privacy",
  "campaign",
  "campaignResponse",
  "recommendationsShown",
  "recommendationClick",
  "rescue",
  "shards",
  "flushReports",
  "forget",
]);

export const PAGE_METHODS = /* @__PURE__ */ Object.freeze(["refreshSlots"]);
