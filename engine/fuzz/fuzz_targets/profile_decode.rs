//! Fuzzes profile decoding (binary and JSON) and event decoding, then drives
//! any profile that decodes through an event, re-encoding, and a ranking on a
//! small synthetic bundle: whatever decodes must be safe to use.
#![no_main]

use std::sync::OnceLock;

use cove_engine::bundle::Model;
use cove_engine::events::Event;
use cove_engine::profile::{Profile, ProfileConfig};
use cove_engine::ranking::{self, RankRequest};
use cove_engine::testing::{synthetic_bundle, SyntheticSpec};
use libfuzzer_sys::fuzz_target;

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let built = synthetic_bundle(&SyntheticSpec::default());
        Model::from_bytes(&built.manifest, &built.tensors).expect("fixture loads")
    })
}

fn exercise(mut profile: Profile, config: &ProfileConfig, event: Option<&Event>) {
    if let Some(event) = event {
        let _ = profile.apply(event, config);
    }
    let bytes = profile.to_bytes();
    assert!(bytes.len() <= config.params().max_bytes);
    let again = Profile::from_bytes(&bytes, config).expect("a profile re-decodes");
    assert_eq!(again, profile);
    let json = profile.to_json();
    assert_eq!(Profile::from_json(&json, config).expect("json re-decodes"), profile);
    let now = profile.latest_at.unwrap_or(0);
    let request = RankRequest { k: 5, now, ..RankRequest::default() };
    let _ = ranking::recommend(model(), &profile, config, &request);
    let _ = cove_engine::segments::classify(model(), &profile, config, now);
}

fuzz_target!(|data: &[u8]| {
    let config = ProfileConfig::default();
    let event = Event::from_json(data, &config.event_limits()).ok();
    // Binary profiles, with the magic and version supplied half the time so
    // the fuzzer reaches the fields (the CRC still has to match).
    if let Ok(profile) = Profile::from_bytes(data, &config) {
        exercise(profile, &config, event.as_ref());
    }
    let mut framed = b"CVPF\x01".to_vec();
    framed.extend_from_slice(data);
    let crc_body = framed.clone();
    let crc = crc32(&crc_body);
    framed.extend_from_slice(&crc.to_le_bytes());
    if let Ok(profile) = Profile::from_bytes(&framed, &config) {
        exercise(profile, &config, event.as_ref());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(profile) = Profile::from_json(text, &config) {
            exercise(profile, &config, event.as_ref());
        }
    }
    if let Some(event) = &event {
        exercise(Profile::new(), &config, Some(event));
    }
});

/// CRC-32 (IEEE), as the profile codec computes it, so the fuzzer's framed
/// inputs pass the checksum and reach the field decoder.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= *byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
