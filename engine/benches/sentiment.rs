//! `sentiment()` natively on the published three-class sentiment bundle: a
//! typical review (about 60 words) and a text of the featurizer's whole
//! 4,096-character window. `tests/bench/sentiment-wasm.mjs` runs the same
//! calls on the engine's wasm build in V8, through the JS API.
//!
//! Run: `cargo bench -p cove-engine --bench sentiment` (after `cargo xtask
//! build`, which publishes the sentiment bundles).

use std::path::PathBuf;

use cove_engine::sentiment::SentimentModel;
use criterion::{criterion_group, criterion_main, Criterion};

/// The texts measured, shared with the wasm harness (which has the same two).
const REVIEW: &str = "Love this dress! The fabric is soft and the colour is even prettier \
than in the photos. I usually wear a medium and it fits true to size, although the waist \
runs a little small. The length hits just below the knee on me (5'6\"). Only complaint: \
the zipper feels cheap and snagged twice. Still, for the price it is a great summer dress \
and I have already had lots of compliments.";

fn long_text() -> String {
    REVIEW
        .repeat(4096 / REVIEW.len() + 1)
        .chars()
        .take(4096)
        .collect()
}

fn published_model() -> Option<SentimentModel> {
    use cove_engine::bundle::layout;
    let dir = layout::site_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../www"));
    let pointer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(layout::SENTIMENT_POINTER)).ok()?).ok()?;
    let id = pointer["three_class"]["model_id"].as_str()?;
    let manifest = std::fs::read(dir.join(id).join(layout::MANIFEST_FILE)).ok()?;
    let tensors = std::fs::read(dir.join(id).join(layout::TENSORS_FILE)).ok()?;
    SentimentModel::from_bytes(&manifest, &tensors).ok()
}

fn bench(c: &mut Criterion) {
    let Some(model) = published_model() else {
        eprintln!("no published sentiment bundle in www/v1/bundles: run `cargo xtask build` first");
        return;
    };
    let long = long_text();
    let mut group = c.benchmark_group("sentiment");
    group.bench_function("review", |b| {
        b.iter(|| model.sentiment(REVIEW).map(|s| s.class_index))
    });
    group.bench_function("text_4096", |b| {
        b.iter(|| model.sentiment(&long).map(|s| s.class_index))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
