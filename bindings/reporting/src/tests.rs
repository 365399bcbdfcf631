//! The privacy reporter's bindings (`CoveReporter`), in headless Chromium
//! through wasm-bindgen-test: a device builds its privacy envelope within the
//! budget from the model's digest and the profile's bytes (what the
//! storefront's module hands it), with the browser's
//! `crypto.getRandomValues` as its randomness. Runs only
//! for wasm32 (`cargo xtask test`, the wasm suite), as unit tests, so the
//! crate needs no rlib.

use cove_engine::bundle::Model;
use cove_engine::events::Event;
use cove_engine::privacy::campaign::{CampaignKind, CampaignSpec};
use cove_engine::privacy::digest::ModelDigest;
use cove_engine::privacy::registry::{MetricRequest, Registry, ReportSchedule};
use cove_engine::profile::Profile;
use cove_engine::testing::{synthetic_bundle, SyntheticSpec};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

use crate::CoveReporter;

wasm_bindgen_test_configure!(run_in_browser);

const NOW: f64 = 1_728_000_000.0;

/// A property of a JavaScript object (an answer, or a thrown error's `code`).
fn get(value: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(value, &JsValue::from_str(key)).unwrap()
}

fn code_of(error: &JsValue) -> Option<String> {
    get(error, "code").as_string()
}

#[wasm_bindgen_test]
fn a_device_builds_one_padded_envelope_within_its_budget() {
    let bundle = synthetic_bundle(&SyntheticSpec::default());
    let model = Model::from_bytes(&bundle.manifest, &bundle.tensors).unwrap();
    let mut engine = CoveReporter::new();
    // No registry before a model: it is checked against the model id.
    let error = engine.set_registry("{}").unwrap_err();
    assert_eq!(code_of(&error).as_deref(), Some("invalid_parameter"));
    // The model's digest, as the storefront's module hands it over: a
    // truncated one is refused with its code and no model is loaded.
    let digest = ModelDigest::encode(&model);
    let error = engine.load_model(&digest[..digest.len() - 1]).unwrap_err();
    assert_eq!(code_of(&error).as_deref(), Some("model_digest_corrupt"));
    let error = engine.record_review("item-3", "negative").unwrap_err();
    assert_eq!(code_of(&error).as_deref(), Some("no_model"));
    assert_eq!(engine.load_model(&digest).unwrap(), bundle.model_id);
    let event = format!(
        r#"{{"at": {}, "kind": {{"type": "view", "item": "item-3", "price": 4.0}}}}"#,
        NOW as i64 - 60
    );
    // The shopper's profile as the storefront's module keeps it.
    let config = model.profile_config();
    let mut profile = Profile::new();
    profile
        .apply(
            &Event::from_json(event.as_bytes(), &config.event_limits()).unwrap(),
            config,
        )
        .unwrap();
    let requests: Vec<MetricRequest> = [("segment.lifecycle", 0.25), ("item.interest", 0.5)]
        .into_iter()
        .map(|(name, epsilon)| MetricRequest {
            name: name.into(),
            epsilon,
            cap: None,
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

    let profile = profile.to_bytes();
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
