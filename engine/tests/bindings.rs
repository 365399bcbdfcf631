//! The JavaScript bindings (`CoveEngine`), in headless Chromium through
//! wasm-bindgen-test: a bundle loads, events change the ranking, the profile
//! round-trips through its bytes, a corrupt one is refused with a code, and
//! (`CoveReporter`, feature `js-reporting`) a device builds its privacy
//! envelope within the budget from the storefront module's profile. Runs only
//! for wasm32 with the `js` feature (`cargo xtask test`, the wasm suite, with
//! `js,js-reporting`).
#![cfg(all(target_arch = "wasm32", feature = "js"))]

use cove_engine::bundle::Model;
use cove_engine::js::CoveEngine;
#[cfg(feature = "js-reporting")]
use cove_engine::js::CoveReporter;
#[cfg(feature = "js-reporting")]
use cove_engine::privacy::campaign::{CampaignKind, CampaignSpec};
#[cfg(feature = "js-reporting")]
use cove_engine::privacy::registry::{MetricRequest, Registry, ReportSchedule};
use cove_engine::testing::{synthetic_bundle, SyntheticSpec};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

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

fn loaded() -> (CoveEngine, Model) {
    let bundle = synthetic_bundle(&SyntheticSpec::default());
    let mut engine = CoveEngine::new();
    let model_id = engine
        .load_bundle(&bundle.manifest, &bundle.tensors, None)
        .unwrap();
    assert_eq!(model_id, bundle.model_id);
    let model = Model::from_bytes(&bundle.manifest, &bundle.tensors).unwrap();
    (engine, model)
}

#[wasm_bindgen_test]
fn events_change_the_ranking_and_the_profile_round_trips() {
    let (mut engine, _) = loaded();
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

#[cfg(feature = "js-reporting")]
#[wasm_bindgen_test]
fn a_device_builds_one_padded_envelope_within_its_budget() {
    let (mut storefront, model) = loaded();
    let bundle = synthetic_bundle(&SyntheticSpec::default());
    let mut engine = CoveReporter::new();
    // No registry before a model: it is checked against the model id.
    let error = engine.set_registry("{}").unwrap_err();
    assert_eq!(code_of(&error).as_deref(), Some("invalid_parameter"));
    assert_eq!(
        engine
            .load_bundle(&bundle.manifest, &bundle.tensors, None)
            .unwrap(),
        bundle.model_id
    );
    let event = format!(
        r#"{{"at": {}, "kind": {{"type": "view", "item": "item-3", "price": 4.0}}}}"#,
        NOW as i64 - 60
    );
    storefront.track(&event).unwrap();
    let requests: Vec<MetricRequest> = [("segment.lifecycle", 0.25), ("item.interest", 0.5)]
        .into_iter()
        .map(|(name, epsilon)| MetricRequest {
            name: name.into(),
            epsilon,
        })
        .collect();
    let campaign = CampaignSpec {
        id: "rescue-cart".into(),
        kind: CampaignKind::Triggered,
        variants: 2,
        epsilon: 0.5,
    };
    let schedule = ReportSchedule {
        interval_hours: 24,
        delay_seconds: [0, 0],
    };
    let registry =
        Registry::resolve("demo", &model, &requests, &[campaign], 1.0, 50, schedule).unwrap();
    let error = engine.set_registry("{}").unwrap_err();
    assert_eq!(code_of(&error).as_deref(), Some("invalid_parameter"));
    engine
        .set_registry(&serde_json::to_string(&registry).unwrap())
        .unwrap();

    // Randomness comes from the browser's crypto.getRandomValues.
    let variant = engine.campaign("rescue-cart", NOW).unwrap();
    assert!(variant < 2);
    assert!(engine.campaign_response("rescue-cart"));
    assert!(engine.campaign("nope", NOW).is_err());

    // A corrupt profile is refused before anything is spent.
    let spent_before = get(&engine.privacy(NOW).unwrap(), "spent_today").as_f64();
    let error = engine.prepare_report(NOW, b"not a profile").unwrap_err();
    assert!(code_of(&error).is_some());
    let spent_after = get(&engine.privacy(NOW).unwrap(), "spent_today").as_f64();
    assert_eq!(spent_after, spent_before);
    assert_eq!(
        get(&engine.privacy(NOW).unwrap(), "pending").as_bool(),
        Some(false)
    );

    let profile = storefront.profile_bytes();
    let body = engine.prepare_report(NOW, &profile).unwrap().unwrap();
    assert_eq!(body.len(), 1024);
    assert!(body.starts_with(r#"{"v":1,"#));
    engine.report_sent(NOW + 1.0);
    assert_eq!(engine.prepare_report(NOW + 60.0, &profile).unwrap(), None);

    let status = engine.privacy(NOW).unwrap();
    assert_eq!(get(&status, "daily_epsilon").as_f64(), Some(1.0));
    let spent = get(&status, "spent_today").as_f64().unwrap();
    assert!(spent > 0.0 && spent <= 1.0, "{spent}");
    let last = get(&status, "last_report");
    assert_eq!(
        get(&last, "body").as_string().as_deref(),
        Some(body.as_str())
    );
    assert_eq!(get(&last, "sent_at").as_f64(), Some(NOW + 1.0));

    let error = engine.restore_reporting("garbage").unwrap_err();
    assert_eq!(code_of(&error).as_deref(), Some("reporting_state_corrupt"));
    let saved = engine.reporting_state();
    engine.forget();
    engine.restore_reporting(&saved).unwrap();
}
