//! CPU time of `POST /v1/recommend`'s scoring (`cove_edge::recommend::recommend`:
//! fold-in, ranking, answer) on the published default bundle, natively. The
//! same code runs as wasm in workerd; `tests/load/recommend-wasm.mjs` times the
//! engine's wasm build on the same bundle for the native-vs-wasm ratio.
//!
//! Run: `cargo bench -p cove-edge --bench recommend` (after `cargo xtask build`,
//! which publishes the default bundle).

use std::path::PathBuf;

use cove_edge::recommend::{recommend, RecommendRequest, WeightedItem};
use cove_engine::bundle::Model;
use cove_engine::testing::published_default_bundle;
use criterion::{criterion_group, criterion_main, Criterion};

fn default_model() -> Option<Model> {
    published_default_bundle(&cove_engine::bundle::layout::site_dir(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../www"),
    ))
}

fn bench(c: &mut Criterion) {
    let Some(model) = default_model() else {
        eprintln!("no published default bundle in www/v1/bundles: run `cargo xtask build` first");
        return;
    };
    eprintln!(
        "default bundle: {} items, d = {}",
        model.n_items(),
        model.dim()
    );
    let mut group = c.benchmark_group(format!(
        "recommend_{}_items_d{}",
        model.n_items(),
        model.dim()
    ));
    for n_profile_items in [0usize, 5, 20, 64] {
        let request = RecommendRequest {
            k: 8,
            country: Some("GB".into()),
            context_item: None,
            items: (0..n_profile_items)
                .filter_map(|i| model.item((i * 37 % model.n_items()) as u32))
                .map(|meta| WeightedItem {
                    id: meta.id.clone(),
                    weight: 1.0 + (meta.price % 3.0),
                })
                .collect(),
            exclude: Vec::new(),
        };
        group.bench_function(format!("profile_{n_profile_items}"), |b| {
            b.iter(|| {
                recommend(&model, &request, 1_700_000_000)
                    .map(|answer| answer.items.len())
                    .unwrap_or(0)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
