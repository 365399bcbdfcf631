//! The storefront's engine in the browser: [`CoveEngine`], what the snippet
//! (`www/cove/core.mjs`) drives — one model, one profile, and the calls of
//! the JavaScript API — as the wasm module `www/pkg/engine/cove_engine_bg.wasm`,
//! loaded on every page.
//!
//! # Key decisions
//!
//! - **Thin.** Each export turns its arguments into the engine's types, calls
//!   `cove-engine` once and converts the answer or the error through
//!   `cove-bindings`; nothing is computed here that the engine, the edge and
//!   the trainer do not compute the same way.
//! - **Only the storefront's exports.** Privacy reports are the reporter's
//!   module (`cove-reporting`), fetched after the first render only by shops
//!   with reports on, and review sentiment is `cove-sentiment`'s: this crate
//!   links neither, so the first paint carries neither.
#![deny(missing_docs)]

mod engine;

pub use engine::*;

#[cfg(all(test, target_arch = "wasm32"))]
mod tests;
