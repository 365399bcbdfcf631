//! Cove's engine: everything the browser, the edge worker and the trainer compute
//! about a shopper goes through this crate, so the three cannot drift apart.
//!
//! The core is pure Rust: it does no IO, reads no clock and draws no randomness it
//! is not given. Callers pass time, seeds and bytes in; the engine hands typed
//! results and typed errors ([`Error`]) back.
//!
//! Main pieces:
//!
//! - [`privacy`]: local differential privacy — randomised response and
//!   Hadamard response on the device, unbiased estimators with 95% intervals at
//!   the edge, the per-device daily ε budget and the report envelope.
//! - [`score`]: dot-product scoring of candidate item vectors against a shopper
//!   vector, with top-k selection that never sorts every candidate and breaks ties
//!   deterministically (lower item index first).
//!
//! # Feature flags
//!
//! - `js` (off by default): the wasm-bindgen API for JavaScript, in the `js`
//!   module. It is the only place that knows about `JsValue`; it converts the
//!   engine's errors into JavaScript exceptions in one spot.
#![deny(missing_docs)]

mod error;
pub mod privacy;
pub mod score;

#[cfg(feature = "js")]
pub mod js;

pub use error::Error;
