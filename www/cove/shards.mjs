// Following a large catalogue's shards (issue 24): imported by the engine's
// host (core.mjs) only for a head bundle, and only once the shopper's taste
// may want a shard (a stored profile, an event, a product page of an item
// outside the head), so no other shop's first paint carries this code
// (issue 25). It imports no module of the snippet's: the entry module imports
// it as a file of its own, and the host hands it what it needs of the
// bundle's fetching (`files`), so nothing is loaded twice.
//
// The head ranks on the storefront's engine from the first paint. Here the
// large-catalogue engine (`pkg/engine-shards/`, the same `CoveEngine` with
// the shard methods) takes over: it loads the same head and the shopper's
// profile, and replaces the host's engine in one step. The engine decides
// which shards the taste wants; this module fetches them, adds them, and
// keeps each failed shard's back-off.

// A shard that failed (HTTP error, network, integrity) is tried again no
// sooner than this, then twice as late after each failure, up to the maximum.
const SHARD_RETRY_MS = 10_000;
const SHARD_RETRY_MAX_MS = 10 * 60_000;
const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * The large-catalogue engine for `core`'s head, with the shopper's profile
 * as it is now, made the host's engine.
 * @param {object} core the engine's host (`CoveCore`); its `options.shardsWasm`
 *   is the engine's wasm when not beside its glue
 * @param {object} files `{ fileBeside, asCoveError }` from the host's modules
 */
export async function attach(core, files) {
  const wasm = core.options.shardsWasm;
  // A literal `import()`, so bundlers split the glue off; it finds its wasm beside it.
  const glue = await import("../pkg/engine-shards/cove_engine_shards.js").catch((error) => {
    throw files.asCoveError(error, "wasm_load", "the large-catalogue engine's module did not load");
  });
  await glue.default(wasm ? { module_or_path: wasm } : undefined).catch((error) => {
    throw files.asCoveError(error, "wasm_load", `the large-catalogue engine's wasm (${wasm ?? "beside its glue"}) did not load`);
  });
  const engine = new glue.CoveEngine();
  const { manifest, tensors, tensorsSha256 } = core.bundle;
  engine.loadBundle(manifest, tensors, tensorsSha256);
  // No await from here on: no event reaches the old engine after its profile was read.
  engine.restoreProfile(core.engine.profileBytes());
  const previous = core.engine;
  core.engine = engine;
  previous.free();
  return new ShardFollower(core, files, engine);
}

class ShardFollower {
  constructor(core, files, engine) {
    this.core = core;
    this.files = files;
    this.engine = engine;
    // How many shards were added this visit, and each failed shard's error and next try.
    this.added = 0;
    this.failures = new Map();
  }

  /**
   * Fetches and adds the shards the shopper's taste wants now and the device
   * does not have; with `item`, the shard that holds it too when the head's
   * item index names one. A shard that fails is tried again after a back-off.
   */
  async loadWanted(item) {
    const { engine, core, files } = this;
    const now = Date.now();
    const wanted = engine.shardsToFetch(nowSeconds());
    const indexFile = typeof item === "string" ? engine.itemIndexFile(item) : undefined;
    if (indexFile) {
      // A failed look-up leaves the item to the head; it is looked up again
      // on the item's next event. The index file is not in the manifest's
      // digests: a wrong answer can only name another shard, which is
      // checked against the head's table when fetched.
      const index = await files
        .fileBeside(core.bundle, indexFile)
        .then((bytes) => JSON.parse(new TextDecoder().decode(bytes))?.[item])
        .catch((error) => {
          console.warn(`cove: the item index ${indexFile} did not load:`, error?.message ?? error);
        });
      if (Number.isInteger(index) && index >= 0 && !wanted.some((shard) => shard.index === index) && !engine.shardStatus().loaded.includes(index)) {
        try {
          wanted.push(engine.shardFile(index));
        } catch (error) {
          console.warn(`cove: the item index ${indexFile} names no shard of this head:`, error?.message ?? error);
        }
      }
    }
    const due = wanted.filter((shard) => !(this.failures.get(shard.index)?.retryAt > now));
    // Fetched side by side (checked against the sha256 of the head's table),
    // added one by one as the engine's table says.
    const fetched = await Promise.allSettled(due.map((shard) => files.fileBeside(core.bundle, shard.file, shard.sha256)));
    fetched.forEach((outcome, i) => {
      const shard = due[i];
      try {
        if (outcome.status === "rejected") throw outcome.reason;
        engine.addShard(shard.index, outcome.value, shard.sha256);
        this.failures.delete(shard.index);
        this.added += 1;
      } catch (error) {
        const failure = files.asCoveError(error, "bundle_invalid", `shard ${shard.index} was refused`);
        const delay = Math.min(2 * (this.failures.get(shard.index)?.delay ?? SHARD_RETRY_MS / 2), SHARD_RETRY_MAX_MS);
        this.failures.set(shard.index, { code: failure.code, message: failure.message, delay, retryAt: now + delay });
        console.warn(`cove: shard ${shard.index} not loaded (tried again in ${delay / 1000} s):`, failure.message);
      }
    });
  }

  /** `CoveCore.shards()`: the engine's `{ total, loaded }`, the shards added this visit and those failed that the taste still wants. */
  status() {
    const { engine } = this;
    // Failures of shards the shopper's taste no longer wants are kept for
    // their back-off, and not reported.
    const wanted = new Set(engine.shardsToFetch(nowSeconds()).map((shard) => shard.index));
    const failed = [...this.failures].filter(([index]) => wanted.has(index));
    return {
      ...engine.shardStatus(),
      added: this.added,
      failed: failed.map(([index, { code, message, retryAt }]) => ({ index, code, message, retryAt })),
    };
  }

  /** After `forget()`: the head alone again (which shards a device held says what its taste was). */
  forget() {
    const { engine, core } = this;
    if (engine.shardStatus().loaded.length) {
      engine.loadBundle(core.bundle.manifest, core.bundle.tensors, core.bundle.tensorsSha256);
      this.failures.clear();
    }
  }
}
