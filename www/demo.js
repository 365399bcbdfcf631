// Starts the demo shop: the storefront snippet with the published default
// bundle, then the shop's pages (a Rust module, web-demo/) on top of it.
import { Cove } from "/cove.mjs";
import init, { start } from "/pkg/web-demo/cove_web_demo.js";

const main = document.getElementById("shop");
const countrySelect = document.getElementById("country");
const params = new URLSearchParams(location.search);
// ISO 3166-1 codes, as the engine's requests and the bundle's trending lists use.
const country = params.get("country") ?? "GB";
countrySelect.value = country;
countrySelect.addEventListener("change", () => {
  params.set("country", countrySelect.value);
  location.search = params.toString();
});

try {
  const pointer = await (await fetch("/v1/bundles/default.json")).json();
  // The review sentiment bundle (three classes), when the build published one.
  const sentiment = await fetch("/v1/bundles/sentiment.json")
    .then((response) => (response.ok ? response.json() : null))
    .catch(() => null);
  // The shop's product list: the catalogue the trainer published beside the
  // bundle (the engine reads the same items from the bundle's tensor file).
  const [cove, catalogue] = await Promise.all([
    Cove.start({
      bundle: pointer.manifest,
      sentiment: sentiment?.three_class?.manifest,
      country,
      itemUrl: "#/product/{id}",
      shop: "demo",
    }),
    fetch(pointer.catalogue).then((response) => response.json()),
    init(),
  ]);
  window.cove = cove;
  await start(cove, catalogue);
  main.dataset.state = "ready";
} catch (error) {
  main.dataset.state = "error";
  main.textContent = `The shop could not start: ${error?.message ?? error}`;
  console.error(error);
}
