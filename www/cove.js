// Cove's storefront snippet for a plain <script> tag:
//
//   <script src="/cove.js" data-bundle="/v1/bundles/<id>/manifest.json"
//           data-country="GB" data-consent="required" data-shop="demo"></script>
//
// It loads the ES module beside it, starts Cove with the tag's data attributes
// when `data-bundle` is given, and exposes `window.Cove` and, once started,
// `window.cove`, announcing each with a `cove:ready` event on `document`.
(function () {
  var script = document.currentScript;
  var base = script ? script.src : location.href;
  import(new URL("cove.mjs", base).href).then(function (module) {
    window.Cove = module.Cove;
    var data = script ? script.dataset : {};
    if (!data.bundle) {
      document.dispatchEvent(new CustomEvent("cove:ready", { detail: { Cove: module.Cove } }));
      return;
    }
    return module.Cove.start({
      bundle: data.bundle,
      bundleIntegrity: data.bundleIntegrity,
      consent: data.consent,
      country: data.country,
      currency: data.currency,
      itemUrl: data.itemUrl,
      worker: data.worker === "true",
      shop: data.shop,
      api: data.api,
    }).then(function (cove) {
      window.cove = cove;
      document.dispatchEvent(new CustomEvent("cove:ready", { detail: { Cove: module.Cove, cove: cove } }));
    });
  }).catch(function (error) {
    console.error("cove: could not start:", error);
    document.dispatchEvent(new CustomEvent("cove:error", { detail: { code: error && error.code, message: String(error && error.message || error) } }));
  });
})();
