//! The snippet's hot call, natively, on the published default bundle: a
//! profile built from `n` product views, then `ranking::recommend` for k = 8.
//! `tests/bench/engine-wasm.mjs` runs the same calls on the engine's wasm build
//! (the one the browser loads) in V8; `cargo xtask bench` runs both and prints
//! the ratio.
//!
//!
//! Also the 10k ranking: a synthetic bundle of 10,000 items (d = 64, int8,
//! the engine bench's shape) written to `target/bench/synthetic-10k/` so the
//! wasm harness loads the same bytes, a profile of 8 views, recommend k = 20.
//!
//! Run alone: `cargo bench -p cove-engine --features test-fixtures --bench storefront` (after
//! `cargo xtask build`, which publishes the default bundle).

use std::path::PathBuf;

use cove_engine::bundle::Model;
use cove_engine::events::Event;
use cove_engine::profile::{Profile, ProfileConfig};
use cove_engine::ranking::{self, RankRequest};
use cove_engine::testing::{published_default_bundle, synthetic_bundle, SyntheticSpec};
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

/// The 10k ranking's profile size and k, shared with the wasm harness.
const TEN_K_VIEWS: usize = 8;
const TEN_K_K: usize = 20;

/// Writes the 10k synthetic bundle, and its catalogue as the trainer
/// publishes one, where the wasm harness reads them.
fn write_ten_k_bundle(manifest: &[u8], tensors: &[u8], model: &Model) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench/synthetic-10k");
    std::fs::create_dir_all(&dir).expect("creating target/bench/synthetic-10k");
    std::fs::write(dir.join("manifest.json"), manifest).expect("writing the manifest");
    std::fs::write(dir.join("tensors.safetensors"), tensors).expect("writing the tensors");
    let catalogue = serde_json::to_vec(model.items()).expect("serializing the catalogue");
    std::fs::write(dir.join("catalogue.json"), catalogue).expect("writing the catalogue");
}

fn bench_ten_k(c: &mut Criterion) {
    let built = synthetic_bundle(&SyntheticSpec {
        n_items: 10_000,
        dim: 64,
        n_neighbors: 20,
        n_trending: 50,
        n_categories: 20,
        seed: 1,
    });
    let model = Model::from_bytes(&built.manifest, &built.tensors).expect("synthetic bundle loads");
    write_ten_k_bundle(&built.manifest, &built.tensors, &model);
    let config = ProfileConfig::default();
    let mut profile = Profile::new();
    for i in 0..TEN_K_VIEWS {
        profile
            .apply(&view(&model, i), &config)
            .expect("views apply");
    }
    let request = RankRequest {
        k: TEN_K_K,
        now: NOW,
        country: Some("GB".into()),
        ..RankRequest::default()
    };
    let mut group = c.benchmark_group("ranking_10k");
    group.bench_function("recommend_k20", |b| {
        b.iter(|| ranking::recommend(&model, &profile, &config, &request).map(|r| r.items.len()))
    });
    group.finish();
}

criterion_group!(benches, bench, bench_ten_k);
criterion_main!(benches);
