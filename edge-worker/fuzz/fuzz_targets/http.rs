//! The edge worker's HTTP layer (`cove_edge::offline::answer`: the request
//! checks, body limits and every route's handler, storage aside) on arbitrary
//! requests: whatever comes in, the answer is JSON with a status this API
//! uses, and nothing panics.
//!
//! Input layout: the first byte picks the method (or a made-up one), then up
//! to `\n` the path and query, then header lines `name: value` up to an empty
//! line, then the body. Inputs that are not UTF-8 in the head are still
//! requests: the head is read lossily.
#![no_main]

use std::sync::OnceLock;

use cove_edge::http::{token_digest, Incoming, Settings};
use cove_engine::bundle::Model;
use cove_engine::testing::{synthetic_bundle, SyntheticSpec};
use libfuzzer_sys::fuzz_target;

const METHODS: [&str; 6] = ["GET", "POST", "OPTIONS", "PUT", "DELETE", "HEAD"];
const STATUSES: [u16; 17] = [
    200, 201, 202, 204, 400, 401, 403, 404, 405, 408, 409, 413, 415, 421, 422, 429, 503,
];

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let built = synthetic_bundle(&SyntheticSpec::default());
        Model::from_bytes(&built.manifest, &built.tensors).expect("the synthetic bundle loads")
    })
}

fn settings() -> Settings {
    Settings {
        public_origins: vec!["http://127.0.0.1:8787".into()],
        dashboard_tokens: vec![(
            "demo".into(),
            token_digest("a-dashboard-token-of-32-chars-00"),
        )],
        admin_token: Some(token_digest("an-admin-token-of-at-least-32-chars")),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let method = METHODS.get(selector as usize % 8).map_or("BREW", |m| m);
    let head_end = rest
        .windows(2)
        .position(|w| w == b"\n\n")
        .map_or(rest.len(), |i| i + 2);
    let (head, body) = rest.split_at(head_end);
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split('\n');
    let path = lines.next().unwrap_or_default();
    let headers = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_string()))
        .collect();
    let incoming = Incoming {
        method: method.to_string(),
        url: format!("http://127.0.0.1:8787/{}", path.trim_start_matches('/')),
        headers,
    };
    let answer = cove_edge::offline::answer(&incoming, body, model(), &settings(), 1_765_000_000);
    assert!(
        STATUSES.contains(&answer.status),
        "status {}",
        answer.status
    );
    if answer.status != 204 {
        let value: serde_json::Value = serde_json::from_str(&answer.body).expect("a JSON body");
        if answer.status >= 400 {
            assert!(value["code"].is_string() && value["message"].is_string());
        }
    }
});
