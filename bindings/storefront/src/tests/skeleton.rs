//! The walking skeleton's shared answer in headless Chromium: the engine's
//! own checks (`engine/tests/skeleton.rs`, compiled again here for wasm32,
//! where the int8 dot product takes its SIMD128 path), and the same fixture
//! answered through the storefront's JavaScript binding (`topK`), whose
//! errors carry a `code`. Runs only for wasm32 (`cargo xtask test`, the wasm
//! suite); the engine has no wasm-bindgen dependency to run them itself.

#[path = "../../../../engine/tests/skeleton.rs"]
mod engine_skeleton;

use cove_engine::score::ScoredItem;
use engine_skeleton::{check, fixture};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

#[wasm_bindgen_test]
fn js_binding_returns_the_shared_fixture_answer() {
    let fixture = fixture();
    let flat: Vec<f32> = fixture.items.concat();
    let value = crate::top_k(&fixture.user, &flat, fixture.dim, fixture.k).unwrap();
    let got: Vec<ScoredItem> = serde_wasm_bindgen::from_value(value).unwrap();
    check(&fixture, &got);
}

#[wasm_bindgen_test]
fn js_binding_throws_an_error_with_a_code() {
    let err = crate::top_k(&[1.0, f32::NAN], &[1.0, 2.0], 2, 1).unwrap_err();
    let code = js_sys::Reflect::get(&err, &JsValue::from_str("code")).unwrap();
    assert_eq!(code.as_string().as_deref(), Some("non_finite"));
}
