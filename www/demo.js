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
  // The bundle pointer names the model to use now; the snippet follows it,
  // and the demo's pages read the catalogue published beside the bundle.
  // `?bundle=sharded` opens the shop as a large catalogue is published: a
  // head bundle within a download budget, and shards by taste. It is
  // a shop of its own at the edge (`demo-sharded` in shops.json, whose
  // `bundle` names that pointer), so its privacy reports are the head's.
  const sharded = params.get("bundle") === "sharded";
  const pointer = sharded ? "/v1/bundles/sharded.json" : "/v1/bundles/default.json";
  const [cove, catalogue] = await Promise.all([
    Cove.start({
      bundle: pointer,
      // The review sentiment bundle (three classes), loaded after the first render.
      sentiment: "/v1/bundles/sentiment.json",
      country,
      itemUrl: "#/product/{id}",
      shop: sharded ? "demo-sharded" : "demo",
    }),
    fetch(pointer)
      .then((response) => response.json())
      .then((published) => fetch(published.catalogue))
      .then((response) => response.json()),
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
