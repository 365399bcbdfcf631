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
//!
//! With `COVE_SIDE_BY_SIDE=1` the binary skips criterion and times the 10k
//! ranking in rounds on request instead (one line in on stdin, one median out
//! on stdout), so `tests/bench/ratio-10k.mjs` can alternate native and wasm
//! rounds in one run: on a shared machine the load then falls on both alike.

use std::path::PathBuf;

use cove_engine::bundle::Model;
use cove_engine::events::Event;
use cove_engine::profile::{Profile, ProfileConfig};
use cove_engine::ranking::{self, RankRequest};
use cove_engine::testing::{published_default_bundle, synthetic_bundle, SyntheticSpec};
use criterion::{criterion_group, Criterion};

/// The profile sizes measured, shared with the wasm harness.
pub const PROFILE_SIZES: [usize; 4] = [0, 5, 20, 64];

/// The time of every event and request (unix seconds).
const NOW: i64 = 1_700_000_000;

fn default_model() -> Option<Model> {
    published_default_bundle(&cove_engine::bundle::layout::site_dir(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../www"),
    ))
}

/// The i-th view event of the benchmark profile (the wasm harness builds the same).
fn view(model: &Model, i: usize) -> Event {
    let row = (i * 37 % model.n_items()) as u32;
    let meta = model.item(row).expect("row below n_items");
    let json = serde_json::json!({
        "at": NOW - 3600 + i as i64,
        "kind": { "type": "view", "item": meta.id, "price": meta.price },
    });
    Event::from_json(
        json.to_string().as_bytes(),
        &ProfileConfig::default().event_limits(),
    )
    .expect("a valid view")
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
    use cove_engine::bundle::layout;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench/synthetic-10k");
    std::fs::create_dir_all(&dir).expect("creating target/bench/synthetic-10k");
    std::fs::write(dir.join(layout::MANIFEST_FILE), manifest).expect("writing the manifest");
    std::fs::write(dir.join(layout::TENSORS_FILE), tensors).expect("writing the tensors");
    let catalogue = serde_json::to_vec(model.items()).expect("serializing the catalogue");
    std::fs::write(dir.join(layout::CATALOGUE_FILE), catalogue).expect("writing the catalogue");
}

/// The 10k ranking's model (its bundle written for the wasm harness), the
/// profile of `TEN_K_VIEWS` views, the configuration and the request.
fn ten_k_workload() -> (Model, Profile, ProfileConfig, RankRequest) {
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
    (model, profile, config, request)
}

fn bench_ten_k(c: &mut Criterion) {
    let (model, profile, config, request) = ten_k_workload();
    let mut group = c.benchmark_group("ranking_10k");
    group.bench_function("recommend_k20", |b| {
        b.iter(|| ranking::recommend(&model, &profile, &config, &request).map(|r| r.items.len()))
    });
    group.finish();
}

/// Calls per timed batch and batches per round in the side-by-side mode (the
/// wasm harness times the same).
const ROUND_CALLS: usize = 50;
const ROUND_BATCHES: usize = 15;

/// The side-by-side mode: after a warm-up prints "ready", then answers each
/// line on stdin with one round's median nanoseconds per call.
fn serve_rounds() {
    use std::io::{BufRead, Write};
    let (model, profile, config, request) = ten_k_workload();
    let call = || {
        let ranked = ranking::recommend(&model, &profile, &config, std::hint::black_box(&request));
        std::hint::black_box(ranked.map(|r| r.items.len())).expect("the 10k ranking ranks");
    };
    for _ in 0..200 {
        call();
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").expect("writing to stdout");
    out.flush().expect("flushing stdout");
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
        let mut samples: Vec<f64> = (0..ROUND_BATCHES)
            .map(|_| {
                let started = std::time::Instant::now();
                for _ in 0..ROUND_CALLS {
                    call();
                }
                started.elapsed().as_nanos() as f64 / ROUND_CALLS as f64
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        writeln!(out, "{}", samples[samples.len() / 2].round()).expect("writing to stdout");
        out.flush().expect("flushing stdout");
    }
}

criterion_group!(benches, bench, bench_ten_k);

fn main() {
    if std::env::var_os("COVE_SIDE_BY_SIDE").is_some() {
        serve_rounds();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
