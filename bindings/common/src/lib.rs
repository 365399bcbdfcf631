//! What Cove's three browser modules share (`cove-storefront`,
//! `cove-reporting`, `cove-sentiment`): the one conversion of the engine's
//! errors into JavaScript exceptions ([`to_js_error`]), of its answers into
//! plain JavaScript objects ([`to_js`]), the loading of the main bundle
//! ([`load_bundle`]) and the modules' allocator.
//!
//! # Key decisions
//!
//! - **No `#[wasm_bindgen]` export here, ever.** Every export of a crate a
//!   cdylib links is exported by that cdylib, and the three modules are built
//!   by one cargo invocation: an export here would ship in all three. This
//!   crate only converts; the exports are the module crates' own.
//! - **The engine stays pure.** `cove-engine` knows no `JsValue`; this crate
//!   and the three module crates are the only Rust code of the browser's
//!   modules that does.
//! - **talc as the allocator** instead of the standard library's dlmalloc:
//!   fewer bytes and faster allocation in wasm (the bundle loader allocates
//!   every string of a manifest; `tests/bench/load-wasm.mjs`). A module gets
//!   it by linking this crate, which each of the three does.
#![deny(missing_docs)]

use std::sync::Arc;

use cove_engine::bundle::{Engine, Model, TensorCheck};
use cove_engine::Error;
use wasm_bindgen::JsValue;

/// The browser modules' allocator (see the crate's documentation).
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// Loads the main bundle into `engine` (the storefront's and the reporter's
/// modules both do). `tensors_sha256`, when given, is the hex SHA-256 the host
/// computed over `tensors` (Subresource Integrity or Web Crypto); it must
/// equal the manifest's digest, and the engine does not hash the tensors
/// again. On error the previous model stays.
pub fn load_bundle(
    engine: &mut Engine,
    manifest: &[u8],
    tensors: &[u8],
    tensors_sha256: Option<String>,
) -> Result<Arc<Model>, JsValue> {
    engine
        .load_checked(manifest, tensors, host_check(&tensors_sha256))
        .map_err(to_js_error)
}

/// How the engine checks a file the host fetched: against the hex SHA-256
/// the host computed (Subresource Integrity or Web Crypto), or by hashing it
/// itself when the host gave none.
pub fn host_check(sha256: &Option<String>) -> TensorCheck<'_> {
    match sha256 {
        Some(hex) => TensorCheck::HostDigest(hex),
        None => TensorCheck::Hash,
    }
}

/// Converts an engine error into a JavaScript `Error` carrying `code`.
pub fn to_js_error(error: Error) -> JsValue {
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
pub fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
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
