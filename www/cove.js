// Cove's storefront snippet for a plain <script> tag:
//
//   <script src="/cove.js" data-bundle="/v1/bundles/default.json"
//           data-country="GB" data-consent="required" data-shop="demo"
//           data-sentiment="/v1/bundles/sentiment.json"></script>
//
// It loads the ES module beside it, starts Cove with the tag's data attributes
// when `data-bundle` is given, and exposes `window.Cove` and, once started,
// `window.cove`, announcing each with a `cove:ready` event on `document`; a
// failure is a `cove:error` event (detail: `{ code, message, error }`), and
// the slots keep the shop's fallback content, marked `data-cove-state="error"`.
(function () {
  var script = document.currentScript;
  var base = script ? script.src : location.href;
  var data = script ? script.dataset : {};
  function failed(error) {
    console.error("cove: could not start:", error);
  }
  // The module could not be loaded at all: nothing else will say so.
  function unloaded(error) {
    failed(error);
    var slots = document.querySelectorAll("[data-cove-slot]");
    for (var i = 0; i < slots.length; i++) slots[i].setAttribute("data-cove-state", "error");
    var message = "the snippet's module did not load (" + String((error && error.message) || error) + ")";
    document.dispatchEvent(new CustomEvent("cove:error", { detail: { code: "module_load", message: message, error: error } }));
  }
  // Set before listeners of `cove:ready` run.
  document.addEventListener("cove:ready", function (event) {
    if (event.detail && event.detail.cove) window.cove = event.detail.cove;
  });
  // A page without `<link rel="preload">` hints for the bundle pointer gets
  // one now: it is fetched beside the module instead of after it (the
  // snippet's own fetch then reuses it), a round trip less before the first slot.
  if (data.bundle && !/\/manifest\.json$/.test(data.bundle) &&
      !document.querySelector('link[rel="preload"][href="' + data.bundle + '"]')) {
    var hint = document.createElement("link");
    hint.rel = "preload";
    hint.as = "fetch";
    hint.crossOrigin = "anonymous";
    hint.href = data.bundle;
    document.head.appendChild(hint);
  }
  import(new URL("cove.mjs", base).href).then(function (module) {
    window.Cove = module.Cove;
    if (!data.bundle) {
      document.dispatchEvent(new CustomEvent("cove:ready", { detail: { Cove: module.Cove } }));
      return;
    }
    // Cove.start dispatches `cove:ready` or `cove:error` itself.
    return module.Cove.start({
      bundle: data.bundle,
      bundleIntegrity: data.bundleIntegrity,
      sentiment: data.sentiment,
      sentimentIntegrity: data.sentimentIntegrity,
      consent: data.consent,
      country: data.country,
      currency: data.currency,
      itemUrl: data.itemUrl,
      worker: data.worker === "true",
      shop: data.shop,
      api: data.api,
    }).catch(failed);
  }, unloaded);
})();
