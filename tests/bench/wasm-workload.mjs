// The wasm harnesses' shopper, the same one the native benches build
// (engine/benches/storefront.rs): n product views of items[(i·37) mod n], an
// hour before NOW, then requests at NOW.

/** The benches' clock (unix seconds). */
export const NOW = 1_700_000_000;

/**
 * Loads a bundle into a fresh engine (`CoveEngine` of the build measured) and
 * tracks n views; `items` is the bundle's catalogue.
 */
export function engineWithViews(CoveEngine, manifest, tensors, items, n) {
  const engine = new CoveEngine();
  engine.loadBundle(manifest, tensors);
  for (let i = 0; i < n; i++) {
    const meta = items[(i * 37) % items.length];
    engine.track(JSON.stringify({ at: NOW - 3600 + i, kind: { type: "view", item: meta.id, price: meta.price } }));
  }
  return engine;
}
