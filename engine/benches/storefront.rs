//! The snippet's hot call, natively, on the published default bundle: a
//! profile built from `n` product views, then `ranking::recommend` for k = 8.
//! `tests/bench/engine-wasm.mjs` runs the same calls on the engine's wasm build
//! (the one the browser loads) in V8; `cargo xtask bench` runs both and prints
//! the ratio.
//!
//! Run alone: `cargo bench -p cove-engine --features test-fixtures --bench storefront` (after
//! `cargo xtask build`, which publishes the default bundle).

use std::path::PathBuf;

use cove_engine::bundle::Model;
use cove_engine::events::Event;
use cove_engine::profile::{Profile, ProfileConfig};
use cove_engine::ranking::{self, RankRequest};
use cove_engine::testing::published_default_bundle;
use criterion::{criterion_group, criterion_main, Criterion};

/// The profile sizes measured, shared with the wasm harness.
pub const PROFILE_SIZES: [usize; 4] = [0, 5, 20, 64];

/// The time of every event and request (unix seconds).
const NOW: i64 = 1_700_000_000;

fn default_model() -> Option<Model> {
    published_default_bundle(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../www/v1/bundles"))
}

/// The i-th view event of the benchmark profile (the wasm harness builds the same).
fn view(model: &Model, i: usize) -> Event {
    let row = (i * 37 % model.n_items()) as u32;
    let meta = model.item(row).expect("row below n_items");
    let json = serde_json::json!({
        "at": NOW - 3600 + i as i64,
        "kind": { "type": "view", "item": meta.id, "price": meta.price },
    });
    Event::from_json(json.to_string().as_bytes(), &ProfileConfig::default()).expect("a valid view")
}

fn bench(c: &mut Criterion) {
    let Some(model) = default_model() else {
        eprintln!("no published default bundle in www/v1/bundles: run `cargo xtask build` first");
        return;
    };
    let config = ProfileConfig::default();
    let mut group = c.benchmark_group("storefront_recommend");
    for n_views in PROFILE_SIZES {
        let mut profile = Profile::new();
        for i in 0..n_views {
            profile
                .apply(&view(&model, i), &config)
                .expect("views apply");
        }
        let request = RankRequest {
            k: 8,
            now: NOW,
            country: Some("GB".into()),
            ..RankRequest::default()
        };
        group.bench_function(format!("views_{n_views}"), |b| {
            b.iter(|| {
                ranking::recommend(&model, &profile, &config, &request).map(|r| r.items.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
