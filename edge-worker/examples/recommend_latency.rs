//! Per-call latency of `/v1/recommend`'s scoring (fold-in, ranking, answer)
//! natively, on the published default bundle: p50, p99 and max over many
//! minimised profiles of 0 to 64 items, each call timed on its own.
//!
//! Run: `cargo run --release -p cove-edge --example recommend_latency`
//! (after `cargo xtask build`, which publishes the default bundle).

use std::path::PathBuf;
use std::time::Instant;

use cove_edge::recommend::{recommend, RecommendRequest, WeightedItem};
use cove_engine::testing::published_default_bundle;

const CALLS: usize = 20_000;

fn main() {
    let bundles = cove_engine::bundle::layout::site_dir(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../www"),
    );
    let model = published_default_bundle(&bundles)
        .expect("no published default bundle: run `cargo xtask build` first");

    // A fixed pseudo-random sequence of profiles (xorshift), so runs compare.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut nanos = Vec::with_capacity(CALLS);
    let mut returned = 0usize;
    for _ in 0..CALLS {
        let n_items = (next() % 65) as usize;
        let mut items = Vec::with_capacity(n_items);
        for _ in 0..n_items {
            let row = (next() % model.n_items() as u64) as u32;
            let weight = 1.0 + (next() % 8) as f64;
            // One weight per item: the route refuses an id named twice.
            let seen = |id: &str| items.iter().any(|item: &WeightedItem| item.id == id);
            if let Some(meta) = model.item(row).filter(|meta| !seen(&meta.id)) {
                items.push(WeightedItem {
                    id: meta.id.clone(),
                    weight,
                });
            }
        }
        let request = RecommendRequest {
            k: 8,
            country: Some("GB".into()),
            context_item: None,
            items,
            exclude: Vec::new(),
        };
        let started = Instant::now();
        let answer = recommend(&model, &request, 1_765_000_000).expect("a valid request");
        nanos.push(started.elapsed().as_nanos() as u64);
        returned += answer.items.len();
    }
    nanos.sort_unstable();
    let at =
        |q: f64| nanos[((nanos.len() as f64 * q) as usize).min(nanos.len() - 1)] as f64 / 1000.0;
    println!(
        "{} items, d = {}: {CALLS} calls of 0-64 profile items, k = 8 ({returned} items returned)",
        model.n_items(),
        model.dim()
    );
    println!(
        "p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
