//! Measures the approximate "similar" index against the exact lists on
//! seeded item factors with a taste structure
//! (`cove_models::synthetic::clustered_factors`), at each catalogue size
//! given (default 20,000, 100,000 and 200,000 items):
//!
//! ```text
//! cargo run --release -p cove-models --example similar_index -- 20000 100000 200000
//! ```
//!
//! It prints the index's shape, its wall time on two threads, and its
//! recall@20 against the exact lists of 2,000 sampled items.

use std::time::Instant;

use cove_models::neighbours::{sampled_recall, similar_by_index, SimilarIndex};

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("catalogue sizes are whole numbers"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![20_000, 100_000, 200_000]
    } else {
        sizes
    };
    let (dim, k, threads) = (64, 20, 2);
    for n_items in sizes {
        let noise: f32 = std::env::var("NOISE").map_or(1.0, |v| v.parse().unwrap());
        let factors = cove_models::synthetic::clustered_factors(n_items, dim, noise, 3);
        let mut index = SimilarIndex::for_catalogue(n_items);
        if let Ok(cells) = std::env::var("PROBED_CELLS") {
            let cells: usize = cells.parse().expect("PROBED_CELLS is a whole number");
            index.candidates = cells * n_items.div_ceil(index.cells);
        }
        let start = Instant::now();
        let lists = similar_by_index(&factors, dim, k, threads, &index, 11);
        let seconds = start.elapsed().as_secs_f64();
        let recall = sampled_recall(&factors, dim, &lists, k, 2_000, 5);
        println!(
            "{n_items} items: {} cells, {} candidates an item; {seconds:.1} s; recall@{k} {recall:.4}",
            index.cells, index.candidates
        );
    }
}
