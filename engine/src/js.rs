//! The JavaScript API, a thin layer over the engine (feature `js`).
//!
//! This module is the only place in the engine that knows about `JsValue`.
//! Engine errors become JavaScript `Error` objects with a `code` property, in
//! [`to_js_error`], and nowhere else.

use wasm_bindgen::prelude::*;

use crate::score;
use crate::Error;

/// Converts an engine error into a JavaScript `Error` carrying `code`.
fn to_js_error(error: Error) -> JsValue {
    let js_error = js_sys::Error::new(&error.to_string());
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&js_error, &"code".into(), &error.code().into());
    js_error.into()
}

/// Scores each row of `items` (row-major, `dim` columns) against `user` and
/// returns the `k` best as `[{ index, score }]`, best first.
#[wasm_bindgen(js_name = topK)]
pub fn top_k(user: &[f32], items: &[f32], dim: usize, k: usize) -> Result<JsValue, JsValue> {
    let ranked = score::top_k(user, items, dim, k).map_err(to_js_error)?;
    serde_wasm_bindgen::to_value(&ranked)
        .map_err(|e| JsValue::from(js_sys::Error::new(&e.to_string())))
}

/// The engine's version, for diagnostics.
#[wasm_bindgen(js_name = engineVersion)]
pub fn engine_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
