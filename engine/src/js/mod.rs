//! The JavaScript API, a thin layer over the engine (features `js`,
//! `js-reporting` and `js-sentiment`).
//!
//! This module is the only place in the engine that knows about `JsValue`.
//! Engine errors become JavaScript `Error` objects with a `code` property, in
//! [`to_js_error`], and nowhere else. Structured values cross as plain
//! JavaScript objects ([`to_js`]: JSON text parsed by `JSON.parse`);
//! requests and events come in as JSON text, so their validation is the
//! engine's own and identical natively.
//!
//! Three wasm modules are built from it, so a page pays only for what it uses:
//! `storefront` (feature `js`) is the snippet's engine, on every page;
//! `reporting` (feature `js-reporting`) builds the privacy reports and is
//! fetched after the first render, only by shops that turn reports on;
//! `sentiment` (feature `js-sentiment`) scores review texts and is fetched
//! only by pages that score reviews. Each is its own cdylib build, and the
//! link step keeps only the code its exports reach.

use wasm_bindgen::prelude::*;

#[cfg(any(feature = "js", feature = "js-reporting"))]
use std::sync::Arc;

#[cfg(any(feature = "js", feature = "js-reporting"))]
use crate::bundle::{Engine, Model, TensorCheck};
use crate::Error;

/// The wasm modules' allocator: talc instead of the standard library's
/// dlmalloc, for fewer bytes and faster allocation (the bundle loader
/// allocates every string of a manifest). Not in the crate's own unit-test
/// build, which links a second copy of the crate (its dev-dependency on
/// itself) that brings the allocator.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics"), not(test)))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(feature = "js-reporting")]
mod host_rng;
#[cfg(feature = "js-reporting")]
pub mod reporting;
#[cfg(feature = "js-sentiment")]
pub mod sentiment;
#[cfg(feature = "js")]
pub mod storefront;

#[cfg(feature = "js-reporting")]
pub use reporting::CoveReporter;
#[cfg(feature = "js-sentiment")]
pub use sentiment::SentimentScorer;
#[cfg(feature = "js")]
pub use storefront::{engine_version, top_k, CoveEngine};

/// Loads the main bundle into `engine` (the storefront's and the reporter's
/// modules both do). `tensors_sha256`, when given, is the hex SHA-256 the host
/// computed over `tensors` (Subresource Integrity or Web Crypto); it must
/// equal the manifest's digest, and the engine does not hash the tensors
/// again. On error the previous model stays.
#[cfg(any(feature = "js", feature = "js-reporting"))]
fn load_bundle(
    engine: &mut Engine,
    manifest: &[u8],
    tensors: &[u8],
    tensors_sha256: Option<String>,
) -> Result<Arc<Model>, JsValue> {
    let check = match &tensors_sha256 {
        Some(hex) => TensorCheck::HostDigest(hex),
        None => TensorCheck::Hash,
    };
    engine
        .load_checked(manifest, tensors, check)
        .map_err(to_js_error)
}

/// Converts an engine error into a JavaScript `Error` carrying `code`.
fn to_js_error(error: Error) -> JsValue {
    let js_error = js_sys::Error::new(&error.to_string());
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&js_error, &"code".into(), &error.code().into());
    js_error.into()
}

/// A value as a plain JavaScript object: serialized to JSON text by the
/// engine's one serializer and parsed by the browser's `JSON.parse`. A
/// serializer that builds JavaScript objects directly (serde-wasm-bindgen)
/// would compile every result type a second time; this costs one parse of a
/// few hundred bytes per call.
fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    // The engine's answers (numbers, strings, lists, string-keyed objects)
    // always serialize; serde_json's error text would bring its messages into
    // the module for a case that does not happen.
    let text = serde_json::to_string(value).map_err(|_| {
        JsValue::from(js_sys::Error::new(
            "the engine could not write its answer as JSON",
        ))
    })?;
    js_sys::JSON::parse(&text)
}
