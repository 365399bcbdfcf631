//! Cove's engine: everything the browser, the edge worker and the trainer compute
//! about a shopper goes through this crate, so the three cannot drift apart.
//!
//! The core is pure Rust: it does no IO, reads no clock and draws no randomness it
//! is not given. Callers pass time (unix seconds), seeds and bytes in; the engine
//! hands typed results and typed errors ([`Error`], each with a stable
//! [`Error::code`]) back, and never panics on any input.
//!
//! # Main pieces
//!
//! - [`bundle`]: the model bundle, the contract with the trainer. A JSON
//!   [`bundle::Manifest`] plus a safetensors file; [`bundle::BundleBuilder`]
//!   writes both (the trainer uses it, so the format has one implementation) and
//!   [`bundle::Model::from_bytes`] validates everything before use.
//!   [`bundle::Engine`] keeps the previous model when a new one fails to load.
//! - [`events`] and [`profile`]: shopper events in, a bounded, time-decayed,
//!   versioned on-device [`profile::Profile`] out.
//! - [`features`]: RFM, price and category affinities and the
//!   [`features::SessionFeatures`] of the purchase-intent model, with fixed
//!   vectorisers the trainer imports.
//!   [`feature_names`] holds their input names, which the bundle checks.
//! - [`segments`]: lifecycle, propensity, price tier, taste cluster and loyalty,
//!   from the bundle's definitions, each with a reason.
//! - [`ranking`]: the shopper vector folded in on the device (implicit ALS,
//!   Cholesky on d × d), candidates blended from personal, neighbour and
//!   trending scores, business rules, a reason per item.
//! - [`abandonment`]: the cart-abandonment risk and the shop's rescue decision
//!   with a seeded holdout.
//! - [`privacy`]: local differential privacy — randomised response and
//!   Hadamard response on the device, unbiased estimators with 95% intervals at
//!   the edge, the per-device daily ε budget and the report envelope.
//! - [`sentiment`]: on-device review sentiment — the one text featurizer
//!   (hashed word and character n-grams) shared with the trainer, and a
//!   linear model from a separate sentiment bundle.
//! - [`score`]: dot-product scoring and top-k selection that never sorts every
//!   candidate and breaks ties deterministically (lower item index first).
//!
//! # Key decisions
//!
//! - **Bytes in, never paths or JS values.** The loader takes `&[u8]`. The
//!   crate has no browser API and no wasm-bindgen dependency: the browser's
//!   three modules are thin crates of their own over it (`bindings/`:
//!   `cove-storefront`, `cove-reporting`, `cove-sentiment`), the only Rust
//!   that sees `JsValue`.
//! - **Validate once, at the boundary.** Bundles, profiles, events and
//!   parameters are checked when they enter; past that, invariants hold by
//!   construction (for example every neighbour index is below the item count).
//! - **Modules in layers.** No module imports one that imports it back (a
//!   test in `xtask/src/tidy.rs` checks): the bundle holds plain data that
//!   ranking folds in with, the classifiers' input names are a module of
//!   their own, and events are validated with their own limits.
//! - **Deterministic across platforms.** Summation orders are fixed in code,
//!   ties break on the lower index, the int8 path is exact integer arithmetic,
//!   and the rescue holdout comes from the caller's seed.
//! - **Fast without platform-specific results.** Ranking scores every item in
//!   one dense pass (int8 by default), and the hot loops are compiled a second
//!   time with AVX2 on x86-64 and picked at run time (one of the two uses of
//!   `unsafe` in the crate: calling a `#[target_feature]` function after
//!   checking the CPU).
//!   No operation is fused or reordered, so both builds give the same bits.
//!   The browser's build is compiled with WebAssembly SIMD128 and its int8
//!   dot product uses it explicitly (`score::dot_i8_simd128`, exact integers;
//!   its in-bounds unaligned vector loads are the other use of `unsafe`).
//! - **Few dependencies.** serde_json's serializer for JSON output (inputs
//!   are parsed by the engine's own `json::parser` and read by hand through
//!   `json::Fields`, not serde derives, which cost the browser's module most
//!   of its size; serde_json's parser is used only by the crates around the
//!   engine), safetensors (without
//!   `std`) to write tensor files (the engine reads them itself,
//!   `bundle::tensor_file`), sha2 for checksums, and in the wasm modules
//!   talc as the allocator (smaller and faster than the standard library's
//!   dlmalloc; `cove-bindings` links it). The Cholesky solve, the profile's
//!   binary codec and its CRC-32 are a few dozen lines each and hand-written.
//!
//! # Feature flags
//!
//! - `test-fixtures` (off by default): the `testing` module, a deterministic
//!   synthetic bundle and event generator for tests and benchmarks.
#![deny(missing_docs)]

pub mod abandonment;
pub mod aggregation;
pub mod bundle;
mod error;
pub mod events;
pub mod feature_names;
pub mod features;
pub mod json;
mod linalg;
mod order;
pub mod privacy;
pub mod profile;
pub mod ranking;
pub mod score;
pub mod segments;
pub mod sentiment;

#[cfg(any(test, feature = "test-fixtures"))]
pub mod testing;

#[cfg(test)]
mod tests;

pub use error::Error;

/// The engine's version (the crate's), which the browser's module reports
/// for diagnostics.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
