// Fetching the model bundle: a JSON manifest and its tensor file, at
// content-addressed URLs (immutable), checked with Subresource Integrity, and
// kept in the Cache API so a repeat visit starts without the network.

export const BUNDLE_CACHE = "cove-bundles-v1";
export const TENSORS_FILE = "tensors.safetensors";

function hexToBase64(hex) {
  let binary = "";
  for (let i = 0; i < hex.length; i += 2) binary += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  return btoa(binary);
}

async function sha256Base64(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  let binary = "";
  for (const byte of digest) binary += String.fromCharCode(byte);
  return btoa(binary);
}

async function openCache() {
  try {
    return typeof caches === "undefined" ? null : await caches.open(BUNDLE_CACHE);
  } catch {
    return null; // Opaque origins and some private modes refuse the Cache API.
  }
}

/** The cached copy of `url` (its bytes), or null. */
async function readCached(cache, url) {
  const cached = await cache?.match(url);
  return cached ? new Uint8Array(await cached.arrayBuffer()) : null;
}

/**
 * Fetches one immutable file, from the cache when present. `integrity` is an
 * SRI string ("sha256-…"); a cached copy is checked against it too, and a
 * copy that fails the check is dropped and fetched again. `cachedRead` is the
 * cache read (`readCached`) when it was started earlier.
 */
async function fetchImmutable(cache, url, integrity, cachedRead = readCached(cache, url)) {
  const cached = await cachedRead;
  if (cached) {
    if (!integrity || `sha256-${await sha256Base64(cached)}` === integrity) return cached;
    console.warn(`cove: the cached copy of ${url} failed its integrity check; fetching it again`);
    await cache.delete(url);
  }
  const response = await fetch(url, { integrity, credentials: "omit", cache: "default" });
  if (!response.ok) throw Object.assign(new Error(`fetching ${url}: HTTP ${response.status}`), { code: "bundle_fetch" });
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (cache) {
    await cache.put(url, new Response(bytes, { headers: { "content-type": response.headers.get("content-type") ?? "" } }));
  }
  return bytes;
}

/**
 * Loads a bundle: `manifestUrl` (content-addressed) and an optional SRI
 * `integrity` for the manifest. The tensor file sits beside the manifest; the
 * manifest gives its sha256, which becomes its SRI. Both cached copies are
 * read side by side (the tensors' is checked once the manifest is in).
 * Unless `prune` is false, older bundles are pruned from the cache once this
 * one is in (see `pruneBundles` for keeping several bundles, like the
 * sentiment bundle).
 * @returns {Promise<{manifest: Uint8Array, tensors: Uint8Array, urls: string[], tensorsSha256: string}>}
 */
export async function loadBundle(manifestUrl, integrity, { prune = true } = {}) {
  const cache = await openCache();
  const absolute = new URL(manifestUrl, globalThis.location?.href).href;
  // The tensors sit beside the manifest: /v1/bundles/<id>/tensors.safetensors.
  const tensorsUrl = new URL(TENSORS_FILE, absolute).href;
  // Handled here: a failed read surfaces when fetchImmutable awaits it.
  const cachedTensors = readCached(cache, tensorsUrl);
  cachedTensors.catch(() => {});
  const manifest = await fetchImmutable(cache, absolute, integrity);
  const digest = tensorDigest(manifest);
  if (!/^[0-9a-f]{64}$/.test(digest)) {
    throw Object.assign(new Error("the bundle manifest has no tensor sha256"), { code: "bundle_manifest" });
  }
  const tensors = await fetchImmutable(cache, tensorsUrl, `sha256-${hexToBase64(digest)}`, cachedTensors);
  const urls = [absolute, tensorsUrl];
  if (prune) await pruneBundles(urls);
  // The digest the tensors were checked against, for the engine (it need not
  // hash them again; it compares this with the manifest it parses itself).
  return { manifest, tensors, urls, tensorsSha256: digest };
}

/**
 * The tensor file's sha256 as the manifest states it (`tensors.sha256`), or
 * "" when it has none. The manifest is a few KB (the items are in the tensor
 * file since schema 3), so parsing it here costs tens of microseconds. The
 * engine parses the manifest itself and refuses a digest that is not the
 * manifest's.
 */
export function tensorDigest(manifestBytes) {
  try {
    const digest = JSON.parse(new TextDecoder().decode(manifestBytes)).tensors?.sha256;
    return typeof digest === "string" ? digest : "";
  } catch {
    throw Object.assign(new Error("the bundle manifest is not JSON"), { code: "bundle_manifest" });
  }
}

/** Drops every cached file but those at `keepUrls` (absolute URLs). */
export async function pruneBundles(keepUrls) {
  const cache = await openCache();
  if (!cache) return;
  for (const request of await cache.keys()) {
    if (!keepUrls.includes(request.url)) await cache.delete(request);
  }
}
