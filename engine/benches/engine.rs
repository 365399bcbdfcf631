//! Criterion benchmarks of the engine's hot paths, on synthetic bundles.
//!
//! Run with:
//! `cargo bench -p cove-engine --features test-fixtures --bench engine`
//! Medians are in `target/criterion/<group>/<name>/new/estimates.json`;
//! BENCHMARKS.md (section "Engine") records them.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

use cove_engine::bundle::Model;
use cove_engine::events::{Event, EventKind, PageKind};
use cove_engine::profile::{Profile, ProfileConfig};
use cove_engine::ranking::{self, foldin, RankRequest};
use cove_engine::testing::{synthetic_bundle, synthetic_events, Rng, SyntheticSpec};

const T0: i64 = 1_700_000_000;

fn model(n_items: usize, dim: usize) -> Model {
    let built = synthetic_bundle(&SyntheticSpec {
        n_items,
        dim,
        n_neighbors: 20,
        n_trending: 50,
        n_categories: 20,
        seed: 1,
    });
    Model::from_bytes(&built.manifest, &built.tensors).expect("synthetic bundle loads")
}

/// A shopper vector of the scale a fold-in gives.
fn shopper(dim: usize) -> Vec<f32> {
    let mut rng = Rng::new(5);
    (0..dim).map(|_| rng.unit() - 0.5).collect()
}

fn rank(c: &mut Criterion) {
    let mut group = c.benchmark_group("rank_top20");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for dim in [32, 64] {
        for n_items in [1_000, 10_000, 100_000] {
            let model = model(n_items, dim);
            let user = shopper(dim);
            let profile = Profile::new();
            let interactions = [(1u32, 1.0f64), (2, 0.5)];
            for int8 in [false, true] {
                let request = RankRequest {
                    k: 20,
                    now: T0,
                    int8,
                    ..RankRequest::default()
                };
                let name = format!("{}_d{dim}", if int8 { "int8" } else { "f32" });
                group.bench_with_input(BenchmarkId::new(name, n_items), &request, |b, request| {
                    b.iter(|| {
                        ranking::rank_with_vector(
                            &model,
                            &profile,
                            black_box(request),
                            Some(&user),
                            &interactions,
                        )
                    })
                });
            }
        }
    }
    group.finish();
}

fn fold_in(c: &mut Criterion) {
    let mut group = c.benchmark_group("fold_in");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(2));
    for dim in [32, 64] {
        let model = model(5_000, dim);
        for n_interactions in [8usize, 32, 64] {
            let interactions: Vec<(u32, f64)> = (0..n_interactions)
                .map(|i| ((i * 37) as u32, 1.0 + (i % 5) as f64))
                .collect();
            group.bench_with_input(
                BenchmarkId::new(format!("d{dim}"), n_interactions),
                &interactions,
                |b, interactions| b.iter(|| foldin::fold_in(&model, black_box(interactions))),
            );
        }
    }
    group.finish();
}

fn event_update(c: &mut Criterion) {
    let config = ProfileConfig::default();
    let mut profile = Profile::new();
    for event in synthetic_events(2_000, 500, T0, 9) {
        let _ = profile.apply(&event, &config);
    }
    let latest = profile.latest_at.unwrap_or(T0);
    let event = Event {
        at: latest + 10,
        kind: EventKind::View {
            page: PageKind::Product,
            item: Some("item-123".into()),
            price: Some(12.5),
        },
    };
    let mut group = c.benchmark_group("event_update");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(2));
    group.bench_function(format!("view_{}_items", profile.items.len()), |b| {
        b.iter_batched_ref(
            || profile.clone(),
            |p| p.apply(black_box(&event), &config),
            criterion::BatchSize::SmallInput,
        )
    });
    let bytes = profile.to_bytes();
    group.bench_function("profile_decode_binary", |b| {
        b.iter(|| Profile::from_bytes(black_box(&bytes), &config))
    });
    group.finish();
}

fn bundle_load(c: &mut Criterion) {
    let mut group = c.benchmark_group("bundle_load");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    for (n_items, dim) in [(1_000, 32), (10_000, 64)] {
        let built = synthetic_bundle(&SyntheticSpec {
            n_items,
            dim,
            n_neighbors: 20,
            n_trending: 50,
            n_categories: 20,
            seed: 1,
        });
        eprintln!(
            "bundle {n_items}x{dim}: manifest {} bytes, tensors {} bytes",
            built.manifest.len(),
            built.tensors.len()
        );
        group.bench_function(format!("{n_items}x{dim}"), |b| {
            b.iter(|| Model::from_bytes(black_box(&built.manifest), black_box(&built.tensors)))
        });
    }
    group.finish();
}

criterion_group!(benches, rank, fold_in, event_update, bundle_load);
criterion_main!(benches);
