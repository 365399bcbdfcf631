//! `cove-train score`: the binary's output equals the engine's own answer for
//! the same bundle and events (the native side of the native-vs-Chromium
//! parity test), and bad inputs fail clearly.

mod common;

use common::s;
use cove_engine::profile::Profile;
use cove_engine::ranking::{self, RankRequest};
use cove_engine::testing::{synthetic_bundle, synthetic_events, SyntheticSpec};

fn temp_dir(name: &str) -> std::path::PathBuf {
    common::temp_dir(&format!("cove-score-{name}"))
}

fn score(args: &[&str]) -> (i32, String, String) {
    common::cove_train(&[&["score"], args].concat())
}

#[test]
fn score_prints_the_engines_segments_and_ranking() {
    let dir = temp_dir("ok");
    let bundle = synthetic_bundle(&SyntheticSpec::default());
    cove_models::export::publish(&bundle, &dir).unwrap();
    let events = synthetic_events(40, 200, 1_700_000_000, 3);
    let events_path = dir.join("events.json");
    std::fs::write(&events_path, serde_json::to_string(&events).unwrap()).unwrap();

    let (code, stdout, stderr) = score(&[
        "--bundle",
        s(&dir),
        "--events",
        s(&events_path),
        "--k",
        "5",
        "--country",
        "GB",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let got: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["model_id", "ranking", "segments"]);

    // The same computation in process.
    let model = cove_engine::bundle::Model::from_bytes(&bundle.manifest, &bundle.tensors).unwrap();
    let config = model.profile_config().clone();
    let mut profile = Profile::new();
    for event in &events {
        profile.apply(event, &config).unwrap();
    }
    let now = profile.latest_at.unwrap();
    let want_segments = cove_engine::segments::classify(&model, &profile, &config, now);
    let request = RankRequest {
        k: 5,
        now,
        country: Some("GB".into()),
        ..RankRequest::default()
    };
    let want_ranking = ranking::recommend(&model, &profile, &config, &request).unwrap();
    assert_eq!(got["model_id"], bundle.model_id);
    // Both sides through JSON text and the same parser: it reads a 17-digit
    // float to within a unit in the last place (no `float_roundtrip`), the
    // same way for the CLI's output and for the expected value.
    let as_printed = |value: serde_json::Value| -> serde_json::Value {
        serde_json::from_str(&value.to_string()).unwrap()
    };
    assert_eq!(
        got["segments"],
        as_printed(serde_json::to_value(&want_segments).unwrap())
    );
    assert_eq!(
        got["ranking"],
        as_printed(serde_json::to_value(&want_ranking).unwrap())
    );
    assert_eq!(got["ranking"]["items"].as_array().unwrap().len(), 5);

    // --now and a manifest path work too; an empty history is a cold start.
    let empty = dir.join("empty.json");
    std::fs::write(&empty, "[]").unwrap();
    let manifest = dir.join(&bundle.model_id).join("manifest.json");
    let (code, stdout, _) = score(&[
        "--bundle",
        s(&manifest),
        "--events",
        s(&empty),
        "--now",
        "1700000000",
    ]);
    assert_eq!(code, 0);
    let got: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(got["ranking"]["personalised"], false);
    assert_eq!(got["segments"]["lifecycle"]["name"], "new");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_inputs_fail_clearly() {
    let dir = temp_dir("bad");
    let bundle = synthetic_bundle(&SyntheticSpec::default());
    cove_models::export::publish(&bundle, &dir).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let good = r#"{"at": 1700000000, "kind": {"type": "view", "item": "item-3", "price": 4.5}}"#;
    // A refused event is skipped and named; the output is still printed; exit 1.
    let mixed = write(
        "mixed.json",
        &format!(
            r#"[{good}, {{"at": 1700000100, "kind": {{"type": "rating", "item": "item-3", "stars": 9}}}},
               {{"at": 5, "kind": {{"type": "teleport"}}}}]"#
        ),
    );
    let (code, stdout, stderr) = score(&["--bundle", s(&dir), "--events", s(&mixed)]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("event 1 refused") && stderr.contains("event 2 refused"),
        "{stderr}"
    );
    let got: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(got["ranking"]["personalised"], true);

    let not_array = write("object.json", good);
    let (code, _, stderr) = score(&["--bundle", s(&dir), "--events", s(&not_array)]);
    assert_ne!(code, 0);
    assert!(stderr.contains("not a JSON array"), "{stderr}");

    let events = write("events.json", &format!("[{good}]"));
    let (code, _, stderr) = score(&["--bundle", s(&dir), "--events", s(&events), "--k", "0"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("ranking failed"), "{stderr}");

    let (code, _, stderr) = score(&["--bundle", s(&dir), "--events", s(&events), "--now=-1"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("is not a unix time"), "{stderr}");

    let (code, _, stderr) = score(&["--bundle", s(&dir.join("nope")), "--events", s(&events)]);
    assert_ne!(code, 0);
    assert!(stderr.contains("reading"), "{stderr}");

    // A truncated tensor file is refused by the engine's loader.
    let tensors = dir.join(&bundle.model_id).join("tensors.safetensors");
    let bytes = std::fs::read(&tensors).unwrap();
    std::fs::write(&tensors, &bytes[..bytes.len() / 2]).unwrap();
    let (code, _, stderr) = score(&["--bundle", s(&dir), "--events", s(&events)]);
    assert_ne!(code, 0);
    assert!(stderr.contains("not a valid bundle"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
