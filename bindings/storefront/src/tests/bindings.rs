//! The storefront's bindings (`CoveEngine`), in headless Chromium through
//! wasm-bindgen-test: a bundle loads, events change the ranking, the profile
//! round-trips through its bytes, and a corrupt one is refused with a code.
//! Runs only for wasm32 (`cargo xtask test`, the wasm suite).

use cove_engine::testing::{synthetic_bundle, SyntheticSpec};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

use crate::CoveEngine;

const NOW: f64 = 1_728_000_000.0;

fn code_of(error: &JsValue) -> Option<String> {
    js_sys::Reflect::get(error, &JsValue::from_str("code"))
        .ok()?
        .as_string()
}

fn get(value: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(value, &JsValue::from_str(key)).unwrap()
}

fn ranked_ids(engine: &CoveEngine) -> Vec<String> {
    let request = format!(r#"{{"k": 8, "now": {}}}"#, NOW as i64);
    let ranking = engine.recommend(&request).unwrap();
    let items = js_sys::Array::from(&get(&ranking, "items"));
    items
        .iter()
        .map(|entry| get(&entry, "item").as_string().unwrap())
        .collect()
}

fn loaded() -> CoveEngine {
    let bundle = synthetic_bundle(&SyntheticSpec::default());
    let mut engine = CoveEngine::new();
    let model_id = engine
        .load_bundle(&bundle.manifest, &bundle.tensors, None)
        .unwrap();
    assert_eq!(model_id, bundle.model_id);
    engine
}

#[wasm_bindgen_test]
fn events_change_the_ranking_and_the_profile_round_trips() {
    let mut engine = loaded();
    let cold = ranked_ids(&engine);
    assert_eq!(cold.len(), 8);
    for item in ["item-3", "item-4", "item-5"] {
        let event = format!(
            r#"{{"at": {}, "kind": {{"type": "view", "item": "{item}", "price": 4.0}}}}"#,
            NOW as i64 - 60
        );
        engine.track(&event).unwrap();
    }
    let warm = ranked_ids(&engine);
    assert_ne!(warm, cold);

    let bytes = engine.profile_bytes();
    let mut restored = CoveEngine::new();
    let bundle = synthetic_bundle(&SyntheticSpec::default());
    // The loader's path: the digest Web Crypto or SRI computed stands in for
    // hashing the tensors in wasm; a digest that is not the manifest's is
    // refused and the previous model stays.
    let digest = cove_engine::bundle::sha256_hex(&bundle.tensors);
    let wrong = "0".repeat(64);
    let error = restored
        .load_bundle(&bundle.manifest, &bundle.tensors, Some(wrong))
        .unwrap_err();
    assert_eq!(code_of(&error).as_deref(), Some("bundle_checksum"));
    restored
        .load_bundle(&bundle.manifest, &bundle.tensors, Some(digest))
        .unwrap();
    restored.restore_profile(&bytes).unwrap();
    assert_eq!(ranked_ids(&restored), warm);

    let error = restored
        .restore_profile(&[0xde, 0xad, 0xbe, 0xef])
        .unwrap_err();
    assert_eq!(code_of(&error).as_deref(), Some("profile_corrupt"));
    // The refused bytes changed nothing.
    assert_eq!(ranked_ids(&restored), warm);

    let error = engine.track("{not json").unwrap_err();
    assert!(code_of(&error).is_some());
}
