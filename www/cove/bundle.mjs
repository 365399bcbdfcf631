// Fetching the model bundle: a JSON manifest and its tensor file, at
// content-addressed URLs (immutable), checked with Subresource Integrity, and
// kept in the Cache API so a repeat visit starts without the network. The
// shop may name the bundle by its pointer file instead (`/v1/bundles/default.json`,
// which changes when a new model is published): it is fetched through the
// HTTP cache and names the manifest, the manifest's SRI and the starter lists.
import { CoveError } from "./errors.mjs";

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
  const response = await fetchOk(url, { credentials: "omit", cache: "default" });
  const bytes = new Uint8Array(await response.arrayBuffer());
  // Checked here rather than by fetch's `integrity` option, so a mismatch is
  // told apart from a network failure.
  if (integrity && `sha256-${await sha256Base64(bytes)}` !== integrity) {
    throw new CoveError(
      "bundle_integrity",
      `${url} does not match its integrity hash ${integrity}: it was changed or damaged on the way; publish the bundle again or fix the hash`,
      { url },
    );
  }
  if (cache) {
    await cache.put(url, new Response(bytes, { headers: { "content-type": response.headers.get("content-type") ?? "" } }));
  }
  return bytes;
}

/** `fetch`, with a CoveError (`bundle_fetch`) for a network failure or an HTTP error. */
async function fetchOk(url, init) {
  let response;
  try {
    response = await fetch(url, init);
  } catch (cause) {
    throw new CoveError(
      "bundle_fetch",
      `fetching ${url} failed (network error, or a cross-origin file served without CORS): ${cause?.message ?? cause}`,
      { cause, url },
    );
  }
  if (!response.ok) {
    throw new CoveError("bundle_fetch", `fetching ${url}: HTTP ${response.status}`, { status: response.status, url });
  }
  return response;
}

/** Parses JSON bytes, or fails with `bundle_format` naming what came instead. */
function parseJson(bytes, url, contentType) {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new CoveError(
      "bundle_format",
      `${url} is not JSON (content type ${contentType || "unknown"}): is the bundle URL right? ` +
        "It should name a bundle pointer (/v1/bundles/default.json) or a manifest (/v1/bundles/<id>/manifest.json)",
      { url },
    );
  }
}

/**
 * Fetches a pointer (or a manifest under another name) through the HTTP
 * cache, keeping a copy in the Cache API: offline, the last copy is used.
 */
async function fetchPointer(url) {
  // The cache opens beside the fetch: a first visit's first render waits for the pointer only.
  const opening = openCache();
  try {
    // Same credentials mode as `<link rel="preload" as="fetch" crossorigin>`, so a page's preload is reused.
    const response = await fetchOk(url, { credentials: "same-origin" });
    const bytes = new Uint8Array(await response.arrayBuffer());
    const contentType = response.headers.get("content-type") ?? "";
    opening
      .then((cache) => cache?.put(url, new Response(bytes, { headers: { "content-type": contentType } })))
      .catch(() => {});
    return { bytes, contentType };
  } catch (error) {
    const cached = error.status === undefined ? await readCached(await opening, url).catch(() => null) : null;
    if (!cached) throw error;
    console.warn(`cove: ${url} could not be fetched; using the copy from the last visit`);
    return { bytes: cached, contentType: "application/json" };
  }
}

/**
 * What a shop's `bundle` option names, resolved: `{ manifestUrl, integrity,
 * starter, manifestBytes }`. A URL ending in `/manifest.json` is a
 * content-addressed manifest (nothing is fetched here). Anything else is
 * fetched through the HTTP cache: a pointer (`{ manifest, manifest_integrity,
 * starter }`, paths relative to the pointer's URL) is followed; a manifest
 * under another name is used as it is.
 */
export async function resolveBundle(url, integrity) {
  const absolute = new URL(url, globalThis.location?.href).href;
  if (new URL(absolute).pathname.endsWith("/manifest.json")) return { manifestUrl: absolute, integrity, starter: null };
  const { bytes, contentType } = await fetchPointer(absolute);
  let value = parseJson(bytes, absolute, contentType);
  // The sentiment pointer names two models; the reports use the three classes.
  if (typeof value?.three_class?.manifest === "string") value = value.three_class;
  if (typeof value?.manifest === "string") {
    return {
      pointerUrl: absolute,
      manifestUrl: new URL(value.manifest, absolute).href,
      integrity: integrity ?? (typeof value.manifest_integrity === "string" ? value.manifest_integrity : undefined),
      starter: value.starter && typeof value.starter === "object" ? value.starter : null,
      // A head bundle of a large catalogue: how many shards it has (0 for any other bundle).
      shards: Array.isArray(value.shards) ? value.shards.length : 0,
    };
  }
  if (value?.schema_version !== undefined) return { manifestUrl: absolute, integrity, starter: null, manifestBytes: bytes, pointerUrl: absolute };
  throw new CoveError(
    "bundle_format",
    `${absolute} is JSON but neither a bundle pointer (no "manifest") nor a manifest (no "schema_version")`,
    { url: absolute },
  );
}

/** Loads what `resolveBundle` resolved; its `urls` include the pointer's (kept in the cache too). */
export async function loadResolved(resolved) {
  const { manifestUrl, integrity, manifestBytes, pointerUrl } = resolved;
  const bundle = await loadBundle(manifestUrl, integrity, { prune: false, manifestBytes });
  if (pointerUrl && !bundle.urls.includes(pointerUrl)) bundle.urls.push(pointerUrl);
  return bundle;
}

/**
 * Loads a bundle: `manifestUrl` (content-addressed) and an optional SRI
 * `integrity` for the manifest (or `manifestBytes`, already fetched). The tensor file sits beside the manifest; the
 * manifest gives its sha256, which becomes its SRI. Both cached copies are
 * read side by side (the tensors' is checked once the manifest is in).
 * Unless `prune` is false, older bundles are pruned from the cache once this
 * one is in (see `pruneBundles` for keeping several bundles, like the
 * sentiment bundle).
 * @returns {Promise<{manifest: Uint8Array, tensors: Uint8Array, urls: string[], tensorsSha256: string, manifestUrl: string}>}
 */
export async function loadBundle(manifestUrl, integrity, { prune = true, manifestBytes } = {}) {
  const cache = await openCache();
  const absolute = new URL(manifestUrl, globalThis.location?.href).href;
  // The tensors sit beside the manifest: /v1/bundles/<id>/tensors.safetensors.
  const tensorsUrl = new URL(TENSORS_FILE, absolute).href;
  // Handled here: a failed read surfaces when fetchImmutable awaits it.
  const cachedTensors = readCached(cache, tensorsUrl);
  cachedTensors.catch(() => {});
  const manifest = manifestBytes ?? (await fetchImmutable(cache, absolute, integrity));
  const digest = tensorDigest(manifest, absolute);
  if (!/^[0-9a-f]{64}$/.test(digest)) {
    throw new CoveError(
      "bundle_format",
      `${absolute} is not a Cove bundle manifest (it states no tensor sha256); ` +
        "the bundle option should name a manifest (/v1/bundles/<id>/manifest.json) or a pointer (/v1/bundles/default.json)",
      { url: absolute },
    );
  }
  const tensors = await fetchImmutable(cache, tensorsUrl, `sha256-${hexToBase64(digest)}`, cachedTensors);
  // The bundle's folder is kept whole: a head's shards, fetched later, sit in it.
  const urls = [absolute, tensorsUrl, new URL("./", absolute).href];
  if (prune) await pruneBundles(urls);
  // The digest the tensors were checked against, for the engine (it need not
  // hash them again; it compares this with the manifest it parses itself).
  return { manifest, tensors, urls, tensorsSha256: digest, manifestUrl: absolute };
}

/**
 * An immutable file beside a loaded bundle's manifest (a head's shard or item
 * index file), from the Cache API when present: with `sha256` (hex), checked
 * against it (a cached copy too). Fails with `bundle_fetch` (network, HTTP
 * error) or `bundle_integrity` (altered or truncated on the way).
 * @returns {Promise<Uint8Array>} the file's bytes
 */
export async function fileBeside(bundle, file, sha256) {
  return fetchImmutable(await openCache(), new URL(file, bundle.manifestUrl).href, sha256 && `sha256-${hexToBase64(sha256)}`);
}

/**
 * The tensor file's sha256 as the manifest states it (`tensors.sha256`), or
 * "" when it has none. The manifest is a few KB (the items are in the tensor
 * file since schema 3), so parsing it here costs tens of microseconds. The
 * engine parses the manifest itself and refuses a digest that is not the
 * manifest's.
 */
export function tensorDigest(manifestBytes, url = "the bundle manifest") {
  const digest = parseJson(manifestBytes, url).tensors?.sha256;
  return typeof digest === "string" ? digest : "";
}

/**
 * Drops every cached file but those at `keepUrls` (absolute URLs; one
 * ending in "/" keeps everything in that folder).
 */
export async function pruneBundles(keepUrls) {
  const cache = await openCache();
  if (!cache) return;
  const kept = (url) => keepUrls.some((keep) => (keep.endsWith("/") ? url.startsWith(keep) : url === keep));
  for (const request of await cache.keys()) {
    if (!kept(request.url)) await cache.delete(request);
  }
}
