//! Item neighbour lists and trending lists: the non-personal slots ("similar",
//! "bought together", "trending in your country").

use std::collections::HashMap;

use serde::Serialize;

use crate::data::Transactions;
use crate::dates::MINUTES_PER_DAY;

/// One neighbour of an item.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Neighbour {
    /// The neighbour's item index.
    pub item: u32,
    /// Its score (meaning depends on the list).
    pub score: f32,
}

/// "Similar": for each item, the `k` items whose factor vectors have the
/// highest cosine with its own, best first, itself left out; ties break by
/// the lower index, as the engine's `top_k` breaks them.
///
/// Up to [`EXACT_SIMILAR_MAX_ITEMS`] items the lists are exact
/// ([`similar_exact`], every pair of items); above it they come from an
/// approximate index ([`similar_by_index`], each item compared only with the
/// items of its nearest k-means cells), since the exact lists grow with the
/// square of the catalogue. Either way the lists do not depend on `threads`,
/// and `seed` seeds the index's k-means.
pub fn similar_by_factors(
    item_factors: &[f32],
    dim: usize,
    k: usize,
    threads: usize,
    seed: u64,
) -> Vec<Vec<Neighbour>> {
    let n_items = item_factors.len() / dim.max(1);
    if n_items <= EXACT_SIMILAR_MAX_ITEMS {
        similar_exact(item_factors, dim, k, threads)
    } else {
        similar_by_index(
            item_factors,
            dim,
            k,
            threads,
            &SimilarIndex::for_catalogue(n_items),
            seed,
        )
    }
}

/// The most items whose "similar" lists are exact. Every shop measured up
/// to the 1M-row, 50k-item benchmark stays exact, the default and the
/// sharded models' Online Retail (3,660 items) among them, so their bundles
/// do not change; at 50,000 items the exact lists take about 20 s a pass on
/// two cores, and they grow with the square of the catalogue (774 s for two
/// passes at 194k items, ~5 h projected at 1M).
pub const EXACT_SIMILAR_MAX_ITEMS: usize = 50_000;

/// The rows of `item_factors` scaled to unit length, checked finite.
fn finite_unit_rows(item_factors: &[f32], dim: usize) -> Vec<f32> {
    let normalised = unit_rows(item_factors, dim);
    assert!(
        normalised.iter().all(|v| v.is_finite()),
        "normalised factors are finite"
    );
    normalised
}

/// How far a matrix product's cosine of two unit vectors of `dim` can be
/// from the engine's `dot` (each sum within d·u of the true cosine,
/// u = 2⁻²⁴; the margin is twice their sum).
fn product_margin(dim: usize) -> f32 {
    4.0 * dim as f32 * f32::EPSILON
}

/// The score above which a row's candidates are scored again with the
/// engine's `dot`: the product's (k + 1)-th best less `margin`, so that any
/// item of the row's true top k + 1 is among them; every candidate when there
/// are no more than k + 1. `kth` is scratch space.
fn rescoring_floor(
    approx: impl ExactSizeIterator<Item = f32>,
    k: usize,
    margin: f32,
    kth: &mut Vec<f32>,
) -> f32 {
    if approx.len() <= k + 1 {
        return f32::NEG_INFINITY;
    }
    kth.clear();
    kth.extend(approx);
    kth.select_nth_unstable_by(k, |x, y| y.total_cmp(x));
    kth[k] - margin
}

/// [`similar_by_factors`] exactly: for each item, the `k` items of the whole
/// catalogue whose factor vectors have the highest cosine with its own, best
/// first, itself left out. Ranked with the engine's `top_k`, so ties break as
/// on the device.
///
/// Quadratic in time (every pair of items), linear in memory (a block's
/// scores, [`SIMILAR_BLOCK`] × n_items, per thread). The items are split
/// among `threads` threads; each list is what the engine's `top_k` gives for
/// its row (its dot product and its selection), so the lists do not depend
/// on the thread count; a matrix product finds the few items worth scoring
/// with the engine's `dot` (see the margin below).
pub fn similar_exact(
    item_factors: &[f32],
    dim: usize,
    k: usize,
    threads: usize,
) -> Vec<Vec<Neighbour>> {
    let normalised = finite_unit_rows(item_factors, dim);
    let n_items = normalised.len() / dim.max(1);
    // Two passes per block of rows, exact. First every score of the block
    // by one matrix product (fast, but summed in another order than the
    // engine's `dot`, so off by at most `margin`: for unit vectors each of
    // the two sums is within d·u of the true cosine, u = 2⁻²⁴, and the
    // margin is twice their sum). Any item of a row's true top k + 1 scores
    // at least the product's (k + 1)-th best less the margin, so only the
    // items above that floor are scored again with the engine's `dot` and
    // selected as `top_k` selects: the lists are those of `top_k` over the
    // whole catalogue.
    let margin = product_margin(dim);
    // The catalogue as an n_items × d matrix, column-major (a transposed copy).
    let catalogue = nalgebra::DMatrixView::from_slice(&normalised, dim, n_items).transpose();
    let block_lists = |first: usize, last: usize, kth: &mut Vec<f32>| -> Vec<Vec<Neighbour>> {
        let n_block = last - first;
        let block = &normalised[first * dim..last * dim];
        // n_items × n_block, column-major: column b is row b's scores.
        let approx = &catalogue * nalgebra::DMatrixView::from_slice(block, dim, n_block);
        (0..n_block)
            .map(|b| {
                let item = first + b;
                let row = &block[b * dim..(b + 1) * dim];
                let approx = &approx.as_slice()[b * n_items..(b + 1) * n_items];
                let floor = rescoring_floor(approx.iter().copied(), k, margin, kth);
                let scored = approx
                    .iter()
                    .enumerate()
                    .filter(|(_, &score)| score >= floor)
                    .map(|(other, _)| cove_engine::score::ScoredItem {
                        index: other as u32,
                        score: cove_engine::score::dot(
                            row,
                            &normalised[other * dim..(other + 1) * dim],
                        ),
                    });
                without_itself(cove_engine::score::select_top_k(scored, k + 1), item, k)
            })
            .collect()
    };
    let chunk = n_items.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n_items)
            .step_by(chunk)
            .map(|first| {
                let block_lists = &block_lists;
                scope.spawn(move || {
                    let end = (first + chunk).min(n_items);
                    let mut kth = Vec::new();
                    let mut lists = Vec::with_capacity(end - first);
                    for start in (first..end).step_by(SIMILAR_BLOCK) {
                        lists.extend(block_lists(
                            start,
                            (start + SIMILAR_BLOCK).min(end),
                            &mut kth,
                        ));
                    }
                    lists
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a neighbours thread panicked"))
            .collect()
    })
}

/// The shape of the approximate "similar" index of [`similar_by_index`]: an
/// inverted file (IVF) of k-means cells over the unit factor vectors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimilarIndex {
    /// The k-means cells the catalogue is split into.
    pub cells: usize,
    /// The items an item is compared with at least: its nearest cells (by
    /// the cosine of their centroids) are probed, nearest first, until they
    /// hold this many items, or [`MAX_PROBED_CELLS`] cells.
    pub candidates: usize,
    /// The items the cells' k-means is fitted on (a seeded sample).
    pub fit_sample: usize,
}

impl SimilarIndex {
    /// √n cells (1,000 at a million items), fitted on
    /// [`FIT_ITEMS_PER_CELL`] items a cell, and [`PROBED_CELLS`] cells' worth
    /// of candidates an item: the work is n × 32√n dot products instead of
    /// n², a 30th at a million items.
    pub fn for_catalogue(n_items: usize) -> Self {
        let cells = ((n_items as f64).sqrt().round() as usize).max(2);
        SimilarIndex {
            cells,
            candidates: PROBED_CELLS * n_items.div_ceil(cells),
            fit_sample: FIT_ITEMS_PER_CELL * cells,
        }
    }
}

/// The candidates of an item, in mean cells. On seeded factors with a taste
/// structure ([`crate::synthetic::clustered_factors`], noise 1.5) 32 cells
/// recall 99% of the exact top 20 at 20,000 and 100,000 items, where 16
/// recall 98% and 93%, and 4 recall 68% and 63% (BENCHMARKS.md).
pub const PROBED_CELLS: usize = 32;

/// Cells an item probes at most, however small its nearest cells are.
pub const MAX_PROBED_CELLS: usize = 2 * PROBED_CELLS;

/// Sample items per cell the cells' k-means is fitted on: enough to place
/// a cell, far fewer than the catalogue.
pub const FIT_ITEMS_PER_CELL: usize = 64;

/// Lloyd iterations of the cells' k-means at most: the index needs cells
/// of similar directions, not converged ones.
const INDEX_KMEANS_ITERATIONS: usize = 10;

/// "Similar" lists from an inverted-file index: each item's list is the
/// engine's `top_k` (its `dot` and its tie rule, as in [`similar_exact`])
/// over the items of its nearest cells only, so it is exact within those
/// candidates and misses a true neighbour only when that neighbour lies in
/// a cell the item did not probe.
///
/// The cells are spherical k-means over a seeded sample of the unit factor
/// vectors ([`cell_centroids`]); every item joins the cell of highest
/// centroid cosine. Items are then taken cell by cell in blocks of
/// [`SIMILAR_BLOCK`]; a block's items are scored
/// against each cell they probe by one matrix product, and the few items
/// within the margin of a row's (k + 1)-th best are scored again with the
/// engine's `dot`, as in [`similar_exact`]. Blocks have fixed boundaries
/// whatever the thread count, so the lists do not depend on `threads`.
pub fn similar_by_index(
    item_factors: &[f32],
    dim: usize,
    k: usize,
    threads: usize,
    index: &SimilarIndex,
    seed: u64,
) -> Vec<Vec<Neighbour>> {
    let normalised = finite_unit_rows(item_factors, dim);
    let n_items = normalised.len() / dim.max(1);
    if n_items <= k + 1 || dim == 0 {
        return similar_exact(item_factors, dim, k, threads);
    }
    let centroids = cell_centroids(&normalised, dim, index, seed, threads);
    let n_cells = centroids.len() / dim;
    let cell_of = nearest_cells(&normalised, &centroids, dim, threads);
    // The centroids as an n_cells × d matrix (a transposed copy).
    let cells = nalgebra::DMatrixView::from_slice(&centroids, dim, n_cells).transpose();
    // The items in cell order (by index within a cell), their rows copied
    // in that order so a cell is one contiguous block.
    let mut offsets = vec![0usize; n_cells + 1];
    for &cell in &cell_of {
        offsets[cell as usize + 1] += 1;
    }
    for cell in 0..n_cells {
        offsets[cell + 1] += offsets[cell];
    }
    let mut next = offsets.clone();
    let mut order = vec![0u32; n_items];
    for (item, &cell) in cell_of.iter().enumerate() {
        order[next[cell as usize]] = item as u32;
        next[cell as usize] += 1;
    }
    let sorted: Vec<f32> = order
        .iter()
        .flat_map(|&item| &normalised[item as usize * dim..(item as usize + 1) * dim])
        .copied()
        .collect();
    drop(normalised);
    let margin = product_margin(dim);
    let by_position = in_blocks(n_items, threads, |first, last| {
        let queries = &sorted[first * dim..last * dim];
        let n_block = last - first;
        let cell_scores = &cells * nalgebra::DMatrixView::from_slice(queries, dim, n_block);
        // The cells each query probes, and per cell the queries probing it.
        let mut probing: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for (b, column) in cell_scores.column_iter().enumerate() {
            let nearer = |x: &usize, y: &usize| column[*y].total_cmp(&column[*x]).then(x.cmp(y));
            let mut ranked: Vec<usize> = (0..n_cells).collect();
            let n_ranked = MAX_PROBED_CELLS.min(n_cells);
            if n_ranked < n_cells {
                ranked.select_nth_unstable_by(n_ranked - 1, nearer);
                ranked.truncate(n_ranked);
            }
            ranked.sort_unstable_by(nearer);
            let mut covered = 0;
            for cell in ranked {
                if covered >= index.candidates {
                    break;
                }
                probing.entry(cell).or_default().push(b);
                covered += offsets[cell + 1] - offsets[cell];
            }
        }
        // Every query's candidates (position, approximate cosine).
        let mut candidates: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_block];
        let mut gathered: Vec<f32> = Vec::new();
        for (&cell, probers) in &probing {
            let (lo, hi) = (offsets[cell], offsets[cell + 1]);
            if lo == hi {
                continue;
            }
            // The probing queries as a |probers| × d matrix, column-major.
            let n_probers = probers.len();
            gathered.clear();
            gathered.resize(n_probers * dim, 0.0);
            for (q, &b) in probers.iter().enumerate() {
                for (j, &v) in queries[b * dim..(b + 1) * dim].iter().enumerate() {
                    gathered[j * n_probers + q] = v;
                }
            }
            // |probers| × (hi − lo), column-major: column i is the cell's
            // i-th item's scores.
            let approx = nalgebra::DMatrixView::from_slice(&gathered, n_probers, dim)
                * nalgebra::DMatrixView::from_slice(&sorted[lo * dim..hi * dim], dim, hi - lo);
            let approx = approx.as_slice();
            for (q, &b) in probers.iter().enumerate() {
                candidates[b]
                    .extend((0..hi - lo).map(|i| ((lo + i) as u32, approx[i * n_probers + q])));
            }
        }
        let mut kth: Vec<f32> = Vec::new();
        candidates
            .into_iter()
            .enumerate()
            .map(|(b, candidates)| {
                let row = &queries[b * dim..(b + 1) * dim];
                let floor = rescoring_floor(candidates.iter().map(|c| c.1), k, margin, &mut kth);
                let scored = candidates
                    .iter()
                    .filter(|c| c.1 >= floor)
                    .map(|&(position, _)| {
                        let position = position as usize;
                        cove_engine::score::ScoredItem {
                            index: order[position],
                            score: cove_engine::score::dot(
                                row,
                                &sorted[position * dim..(position + 1) * dim],
                            ),
                        }
                    });
                let item = order[first + b] as usize;
                without_itself(cove_engine::score::select_top_k(scored, k + 1), item, k)
            })
            .collect::<Vec<_>>()
    });
    let mut lists = vec![Vec::new(); n_items];
    for (position, list) in by_position.into_iter().enumerate() {
        lists[order[position] as usize] = list;
    }
    lists
}

/// The unit centroids (row-major, n_cells × `dim`) of the index's cells:
/// spherical k-means over a seeded sample of the unit rows. It starts from
/// `index.cells` distinct sampled rows, then [`INDEX_KMEANS_ITERATIONS`]
/// times joins each sampled row to the centroid of highest cosine (one
/// matrix product per block of rows, [`nearest_cells`], the rule the index
/// assigns items by) and moves each centroid to its members' mean, scaled
/// to unit length; a cell left empty keeps its centroid, and one empty at
/// the end is left out.
///
/// Not the taste clusters' k-means (smartcore's, [`crate::segments::fit_kmeans`]):
/// its distance loops and its BBD tree, which prunes little in 64
/// dimensions, took 63 s to place 316 cells on a 10,000-item sample
/// (100,000 items), and would take ~10 min for a million items' 1,000 cells;
/// these matrix products take a few seconds.
fn cell_centroids(
    normalised: &[f32],
    dim: usize,
    index: &SimilarIndex,
    seed: u64,
    threads: usize,
) -> Vec<f32> {
    let n_items = normalised.len() / dim;
    let sample: Vec<f32> = crate::random::seeded_sample(n_items, index.fit_sample, seed)
        .into_iter()
        .flat_map(|item| &normalised[item * dim..(item + 1) * dim])
        .copied()
        .collect();
    let n_sample = sample.len() / dim;
    let n_cells = index.cells.clamp(1, n_sample.max(1));
    let mut centroids: Vec<f32> =
        crate::random::seeded_sample(n_sample, n_cells, seed.wrapping_add(1))
            .into_iter()
            .flat_map(|row| &sample[row * dim..(row + 1) * dim])
            .copied()
            .collect();
    let mut sizes = vec![0usize; n_cells];
    for _ in 0..INDEX_KMEANS_ITERATIONS {
        let cells = nearest_cells(&sample, &centroids, dim, threads);
        let mut sums = vec![0.0f64; n_cells * dim];
        sizes.iter_mut().for_each(|s| *s = 0);
        for (row, &cell) in sample.chunks_exact(dim).zip(&cells) {
            sizes[cell as usize] += 1;
            let sum = &mut sums[cell as usize * dim..(cell as usize + 1) * dim];
            for (s, v) in sum.iter_mut().zip(row) {
                *s += *v as f64;
            }
        }
        for (cell, sum) in sums.chunks_exact(dim).enumerate() {
            let norm = sum.iter().map(|v| v * v).sum::<f64>().sqrt();
            if sizes[cell] > 0 && norm > 1e-12 {
                for (c, v) in centroids[cell * dim..(cell + 1) * dim].iter_mut().zip(sum) {
                    *c = (v / norm) as f32;
                }
            }
        }
    }
    centroids
        .chunks_exact(dim)
        .zip(&sizes)
        .filter(|(_, &size)| size > 0)
        .flat_map(|(centroid, _)| centroid)
        .copied()
        .collect()
}

/// Each of `unit_rows`' (row-major, `dim` wide, unit length) direction
/// group: spherical k-means into at most `n_groups` groups, by the index's
/// own k-means ([`cell_centroids`], fitted on a seeded sample of
/// [`FIT_ITEMS_PER_CELL`] rows a group), every row then joining the group of
/// highest centroid cosine. Groups are numbered densely from 0; a group no
/// row joins is left out, so there may be fewer than `n_groups`.
pub(crate) fn direction_groups(
    unit_rows: &[f32],
    dim: usize,
    n_groups: usize,
    seed: u64,
    threads: usize,
) -> Vec<u32> {
    let n_rows = unit_rows.len() / dim;
    let plan = SimilarIndex {
        cells: n_groups.max(1),
        candidates: 0,
        fit_sample: FIT_ITEMS_PER_CELL * n_groups.max(1),
    };
    let centroids = cell_centroids(unit_rows, dim, &plan, seed, threads);
    let cells = nearest_cells(unit_rows, &centroids, dim, threads);
    let mut dense = vec![u32::MAX; centroids.len() / dim.max(1)];
    let mut next = 0;
    let groups = cells
        .iter()
        .map(|&cell| {
            let slot = &mut dense[cell as usize];
            if *slot == u32::MAX {
                *slot = next;
                next += 1;
            }
            *slot
        })
        .collect();
    debug_assert_eq!(cells.len(), n_rows);
    groups
}

/// Each of `rows` (unit, row-major, `dim` wide)'s cell: the centroid of
/// highest cosine, ties to the lower cell, by one matrix product per block
/// of [`SIMILAR_BLOCK`] rows (fixed blocks: the same cells on any number of
/// threads).
fn nearest_cells(rows: &[f32], centroids: &[f32], dim: usize, threads: usize) -> Vec<u32> {
    let n_cells = centroids.len() / dim;
    let cells = nalgebra::DMatrixView::from_slice(centroids, dim, n_cells).transpose();
    in_blocks(rows.len() / dim, threads, |first, last| {
        let block = &rows[first * dim..last * dim];
        let scores = &cells * nalgebra::DMatrixView::from_slice(block, dim, last - first);
        scores
            .column_iter()
            .map(|column| {
                let mut best = 0;
                for (cell, score) in column.iter().enumerate() {
                    if *score > column[best] {
                        best = cell;
                    }
                }
                best as u32
            })
            .collect()
    })
}

/// The recall of `lists` against the exact lists ([`similar_exact`]'s) on a
/// seeded sample of `n_sample` items: the share of their exact neighbours
/// that `lists` hold. The exact lists of a sample cost n_sample × n dot
/// products, so even a million-item catalogue's recall is measured in
/// seconds.
pub fn sampled_recall(
    item_factors: &[f32],
    dim: usize,
    lists: &[Vec<Neighbour>],
    k: usize,
    n_sample: usize,
    seed: u64,
) -> f64 {
    let normalised = unit_rows(item_factors, dim);
    let n_items = normalised.len() / dim.max(1);
    let (mut found, mut wanted) = (0usize, 0usize);
    for item in crate::random::seeded_sample(n_items, n_sample, seed) {
        let row = &normalised[item * dim..(item + 1) * dim];
        let best = cove_engine::score::top_k(row, &normalised, dim, k + 1)
            .expect("finite unit rows of one dimension");
        let exact = without_itself(best, item, k);
        wanted += exact.len();
        found += exact
            .iter()
            .filter(|n| lists[item].iter().any(|m| m.item == n.item))
            .count();
    }
    found as f64 / wanted.max(1) as f64
}

/// `work` over the blocks of [`SIMILAR_BLOCK`] of `0..n` (fixed boundaries,
/// whatever the thread count), block `b` on thread `b mod threads`, and
/// its results in block order.
fn in_blocks<T: Send>(
    n: usize,
    threads: usize,
    work: impl Fn(usize, usize) -> Vec<T> + Sync,
) -> Vec<T> {
    let threads = threads.max(1);
    let n_blocks = n.div_ceil(SIMILAR_BLOCK);
    let mut done: Vec<(usize, Vec<T>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let work = &work;
                scope.spawn(move || {
                    (thread..n_blocks)
                        .step_by(threads)
                        .map(|block| {
                            let first = block * SIMILAR_BLOCK;
                            (block, work(first, (first + SIMILAR_BLOCK).min(n)))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a neighbours thread panicked"))
            .collect()
    });
    done.sort_unstable_by_key(|(block, _)| *block);
    done.into_iter().flat_map(|(_, results)| results).collect()
}

/// Each row of a row-major n × `dim` matrix divided by its length.
pub(crate) fn unit_rows(factors: &[f32], dim: usize) -> Vec<f32> {
    factors
        .chunks_exact(dim)
        .flat_map(|row| {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            row.iter().map(move |v| v / norm)
        })
        .collect()
}

/// The `k` best of a row's `k + 1` best, the row's own item left out.
fn without_itself(
    best: Vec<cove_engine::score::ScoredItem>,
    item: usize,
    k: usize,
) -> Vec<Neighbour> {
    best.into_iter()
        .filter(|s| s.index as usize != item)
        .take(k)
        .map(|s| Neighbour {
            item: s.index,
            score: s.score,
        })
        .collect()
}

/// Rows of [`similar_by_factors`] scored by one matrix product: a block's
/// scores are 64 × n_items floats (13 MB at 50,000 items) per thread.
const SIMILAR_BLOCK: usize = 64;

/// How the bundle's one neighbour list per item is made from the three
/// source lists: each source is scaled by its own best score (a factor cosine
/// is ~0.8 where a basket cosine is ~0.2), times its weight here, and an item
/// on several lists gets the sum. Chosen on validation by
/// `engine_eval::search_session` (tasks C, D and E); written in
/// `models/default-params.toml`'s `[neighbours]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighbourMix {
    /// Baskets that vote for an item's list ([`session_votes`]), most recent first.
    pub recent_baskets: usize,
    /// Weight of [`session_votes`].
    pub votes: f32,
    /// Weight of [`bought_together`] (the shrunk basket cosine).
    pub basket_cosine: f32,
    /// Weight of [`similar_by_factors`] (the factor cosine).
    pub factor_cosine: f32,
}

impl Default for NeighbourMix {
    /// The starting point before a search: recent baskets' votes with a
    /// quarter of the basket cosine.
    fn default() -> Self {
        NeighbourMix {
            recent_baskets: 100,
            votes: 1.0,
            basket_cosine: 0.25,
            factor_cosine: 0.0,
        }
    }
}

impl NeighbourMix {
    /// Checks that the weights are finite, ≥ 0, not all 0, and that some
    /// baskets vote when votes count.
    pub fn validate(&self) -> anyhow::Result<()> {
        let weights = [
            ("votes", self.votes),
            ("basket_cosine", self.basket_cosine),
            ("factor_cosine", self.factor_cosine),
        ];
        for (name, w) in weights {
            anyhow::ensure!(
                w.is_finite() && w >= 0.0,
                "neighbours.{name} must be a finite weight ≥ 0, not {w}"
            );
        }
        anyhow::ensure!(
            weights.iter().any(|(_, w)| *w > 0.0),
            "neighbours: at least one of votes, basket_cosine and factor_cosine must be above 0"
        );
        anyhow::ensure!(
            self.votes == 0.0 || self.recent_baskets > 0,
            "neighbours.recent_baskets must be at least 1 when votes count"
        );
        Ok(())
    }
}

/// Minimum number of shared baskets for a "bought together" pair.
pub const MIN_SHARED_BASKETS: u32 = 3;

/// Shrinkage of the basket cosine toward zero for pairs seen in few baskets.
pub const SHRINKAGE: f32 = 10.0;

/// "Bought together": items that share invoices (baskets), scored by the basket
/// cosine n_ab / √(n_a·n_b), shrunk by n_ab / (n_ab + [`SHRINKAGE`]) so a pair
/// seen in three baskets cannot beat one seen in three hundred by luck, and
/// kept only with at least [`MIN_SHARED_BASKETS`] shared baskets. Unlike lift,
/// the cosine does not reward pairs of rare items for being rare.
pub fn bought_together(data: &Transactions, k: usize) -> Vec<Vec<Neighbour>> {
    bought_together_from(
        data.items.len(),
        data.purchases.iter().map(|p| (p.invoice_idx, p.item_idx)),
        k,
    )
}

/// [`bought_together`] over `(invoice, item)` lines, items below `n_items`.
///
/// One item's row at a time (issue 24): the baskets holding it count its
/// shared baskets with every other item, so memory grows with the lines
/// and the kept lists, not with the pairs of items that ever met (a map of
/// every pair grew toward the square of the catalogue).
pub fn bought_together_from(
    n_items: usize,
    lines: impl Iterator<Item = (u32, u32)>,
    k: usize,
) -> Vec<Vec<Neighbour>> {
    let mut baskets: HashMap<u32, Vec<u32>> = HashMap::new();
    for (invoice, item) in lines {
        baskets.entry(invoice).or_default().push(item);
    }
    let baskets: Vec<Vec<u32>> = baskets
        .into_values()
        .map(|mut items| {
            items.sort_unstable();
            items.dedup();
            items
        })
        .collect();
    // Per item, the baskets holding it; its basket count is their number.
    let mut holding: Vec<Vec<u32>> = vec![Vec::new(); n_items];
    for (b, items) in baskets.iter().enumerate() {
        for &item in items {
            holding[item as usize].push(b as u32);
        }
    }
    let mut shared = vec![0u32; n_items];
    let mut touched: Vec<u32> = Vec::new();
    holding
        .iter()
        .enumerate()
        .map(|(a, holding_a)| {
            for &b in holding_a {
                for &other in &baskets[b as usize] {
                    if other as usize != a {
                        if shared[other as usize] == 0 {
                            touched.push(other);
                        }
                        shared[other as usize] += 1;
                    }
                }
            }
            let n_a = holding_a.len() as f32;
            let mut list: Vec<Neighbour> = touched
                .drain(..)
                .filter_map(|other| {
                    let n_ab = std::mem::take(&mut shared[other as usize]);
                    if n_ab < MIN_SHARED_BASKETS {
                        return None;
                    }
                    let n_b = holding[other as usize].len() as f32;
                    // IEEE products commute exactly, so this is the pair
                    // count's figure whichever of the two items is first.
                    let product = n_a * n_b;
                    let cosine = n_ab as f32 / product.sqrt();
                    let score = cosine * n_ab as f32 / (n_ab as f32 + SHRINKAGE);
                    Some(Neighbour { item: other, score })
                })
                .collect();
            list.sort_unstable_by(|x, y| y.score.total_cmp(&x.score).then(x.item.cmp(&y.item)));
            list.truncate(k);
            list
        })
        .collect()
}

/// "Bought in the same baskets", voted by recent baskets: the item-page case
/// of V-SKNN (Ludewig & Jannach 2018) computed ahead of time. For each item,
/// the `recent_baskets` most recent baskets (invoices, by time, ties by the
/// later invoice) that hold it each vote for their other items with weight
/// 1/√(basket size) — the cosine between a one-item session and that basket —
/// and an item's score is the sum of its votes. Recent baskets, not all of
/// them, so a list follows what is bought with the item now. The `k` best
/// are kept (ties by the lower item index).
pub fn session_votes(data: &Transactions, recent_baskets: usize, k: usize) -> Vec<Vec<Neighbour>> {
    session_votes_from(
        data.items.len(),
        data.purchases
            .iter()
            .map(|p| (p.invoice_idx, p.minute, p.item_idx)),
        recent_baskets,
        k,
    )
}

/// [`session_votes`] over `(invoice, minute, item)` lines, items below `n_items`.
pub fn session_votes_from(
    n_items: usize,
    lines: impl Iterator<Item = (u32, i64, u32)>,
    recent_baskets: usize,
    k: usize,
) -> Vec<Vec<Neighbour>> {
    // Baskets in time order, each a sorted set of items.
    let mut baskets: HashMap<u32, (i64, Vec<u32>)> = HashMap::new();
    for (invoice, minute, item) in lines {
        let entry = baskets.entry(invoice).or_insert((minute, Vec::new()));
        entry.0 = entry.0.min(minute);
        entry.1.push(item);
    }
    let mut ordered: Vec<(i64, u32, Vec<u32>)> = baskets
        .into_iter()
        .map(|(invoice, (minute, mut items))| {
            items.sort_unstable();
            items.dedup();
            (minute, invoice, items)
        })
        .collect();
    ordered.sort_unstable_by_key(|(minute, invoice, _)| (*minute, *invoice));
    // Per item, the baskets holding it, oldest first.
    let mut holding: Vec<Vec<u32>> = vec![Vec::new(); n_items];
    for (b, (_, _, items)) in ordered.iter().enumerate() {
        for &item in items {
            holding[item as usize].push(b as u32);
        }
    }
    let mut votes = vec![0.0f32; n_items];
    let mut touched: Vec<u32> = Vec::new();
    holding
        .iter()
        .enumerate()
        .map(|(item, baskets)| {
            let recent = &baskets[baskets.len().saturating_sub(recent_baskets)..];
            for &b in recent {
                let items = &ordered[b as usize].2;
                let weight = 1.0 / (items.len() as f32).sqrt();
                for &other in items {
                    if other as usize != item {
                        if votes[other as usize] == 0.0 {
                            touched.push(other);
                        }
                        votes[other as usize] += weight;
                    }
                }
            }
            let mut list: Vec<Neighbour> = touched
                .drain(..)
                .map(|other| Neighbour {
                    item: other,
                    score: std::mem::take(&mut votes[other as usize]),
                })
                .collect();
            list.sort_unstable_by(|x, y| y.score.total_cmp(&x.score).then(x.item.cmp(&y.item)));
            list.truncate(k);
            list
        })
        .collect()
}

/// Trending items of one country (or of the whole shop).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trending {
    /// The country name, or `*` for the whole shop.
    pub country: String,
    /// Distinct buyers in the window, over all items.
    pub buyers_in_window: u32,
    /// Items, best first: score = distinct buyers in the window.
    pub items: Vec<Neighbour>,
}

/// Countries with fewer distinct buyers than this in the window get no list of
/// their own; the device falls back to the whole shop's.
pub const MIN_COUNTRY_BUYERS: u32 = 5;

/// Trending per country over the last `window_days` of the data (ending at the
/// last purchase): items ranked by distinct buyers in the window, ties by the
/// lower item index. The first list is the whole shop's (`*`).
pub fn trending_by_country(data: &Transactions, window_days: i64, k: usize) -> Vec<Trending> {
    let Some(last) = data.purchases.iter().map(|p| p.minute).max() else {
        return Vec::new();
    };
    let since = last - window_days * MINUTES_PER_DAY;
    let mut triples: Vec<(u32, u32, u32)> = data
        .purchases
        .iter()
        .filter(|p| p.minute > since)
        .map(|p| (p.country_idx, p.item_idx, p.customer_idx))
        .collect();
    triples.sort_unstable();
    triples.dedup();
    let all_country = u32::MAX;
    let mut by_country: HashMap<u32, HashMap<u32, u32>> = HashMap::new();
    let mut buyers: HashMap<u32, std::collections::HashSet<u32>> = HashMap::new();
    let mut shop_pairs: Vec<(u32, u32)> = Vec::new();
    for &(country, item, customer) in &triples {
        *by_country
            .entry(country)
            .or_default()
            .entry(item)
            .or_default() += 1;
        buyers.entry(country).or_default().insert(customer);
        buyers.entry(all_country).or_default().insert(customer);
        shop_pairs.push((item, customer));
    }
    shop_pairs.sort_unstable();
    shop_pairs.dedup();
    let shop = by_country.entry(all_country).or_default();
    for (item, _) in shop_pairs {
        *shop.entry(item).or_default() += 1;
    }
    let mut countries: Vec<u32> = by_country.keys().copied().collect();
    countries.sort_unstable_by_key(|&c| (c != all_country, c));
    countries
        .into_iter()
        .filter_map(|country| {
            let n_buyers = buyers.get(&country).map_or(0, |b| b.len() as u32);
            if country != all_country && n_buyers < MIN_COUNTRY_BUYERS {
                return None;
            }
            let mut items: Vec<Neighbour> = by_country[&country]
                .iter()
                .map(|(&item, &n)| Neighbour {
                    item,
                    score: n as f32,
                })
                .collect();
            items.sort_unstable_by(|x, y| y.score.total_cmp(&x.score).then(x.item.cmp(&y.item)));
            items.truncate(k);
            Some(Trending {
                country: if country == all_country {
                    "*".into()
                } else {
                    data.countries[country as usize].clone()
                },
                buyers_in_window: n_buyers,
                items,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{CleaningRules, ColumnMap};

    fn transactions(rows: &str) -> Transactions {
        let text = format!(
            "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n{rows}"
        );
        crate::data::read_transactions(
            text.as_bytes(),
            &ColumnMap::default(),
            &CleaningRules::default(),
            |_| {},
        )
        .unwrap()
    }

    #[test]
    fn bought_together_needs_shared_baskets_and_prefers_frequent_pairs() {
        let mut rows = String::new();
        // A1 and B2 share 4 baskets; A1 and C3 share 2 (below the minimum).
        for invoice in 0..4 {
            rows.push_str(&format!("{invoice},A1,a,1,2011-01-01 10:00,1,1,UK\n"));
            rows.push_str(&format!("{invoice},B2,b,1,2011-01-01 10:00,1,1,UK\n"));
        }
        for invoice in 4..6 {
            rows.push_str(&format!("{invoice},A1,a,1,2011-01-01 10:00,1,1,UK\n"));
            rows.push_str(&format!("{invoice},C3,c,1,2011-01-01 10:00,1,1,UK\n"));
        }
        let data = transactions(&rows);
        let lists = bought_together(&data, 5);
        assert_eq!(lists[0].len(), 1);
        assert_eq!(lists[0][0].item, 1);
        // cosine 4/√(6·4), shrunk by 4/14.
        let want = 4.0 / (24f32).sqrt() * 4.0 / 14.0;
        assert!((lists[0][0].score - want).abs() < 1e-6);
        assert!(lists[2].is_empty());
    }

    /// The pair-map "bought together" that the per-item rows replaced
    /// (issue 24), as the reference.
    fn bought_together_by_pair_map(
        n_items: usize,
        lines: &[(u32, u32)],
        k: usize,
    ) -> Vec<Vec<Neighbour>> {
        let mut baskets: HashMap<u32, Vec<u32>> = HashMap::new();
        for &(invoice, item) in lines {
            baskets.entry(invoice).or_default().push(item);
        }
        let mut basket_count = vec![0u32; n_items];
        let mut pair_count: HashMap<(u32, u32), u32> = HashMap::new();
        for (_, mut items) in baskets {
            items.sort_unstable();
            items.dedup();
            for (pos, &a) in items.iter().enumerate() {
                basket_count[a as usize] += 1;
                for &b in &items[pos + 1..] {
                    *pair_count.entry((a, b)).or_default() += 1;
                }
            }
        }
        let mut lists: Vec<Vec<Neighbour>> = vec![Vec::new(); n_items];
        for (&(a, b), &n_ab) in &pair_count {
            if n_ab < MIN_SHARED_BASKETS {
                continue;
            }
            let cosine = n_ab as f32
                / ((basket_count[a as usize] as f32) * (basket_count[b as usize] as f32)).sqrt();
            let score = cosine * n_ab as f32 / (n_ab as f32 + SHRINKAGE);
            lists[a as usize].push(Neighbour { item: b, score });
            lists[b as usize].push(Neighbour { item: a, score });
        }
        for list in &mut lists {
            list.sort_unstable_by(|x, y| y.score.total_cmp(&x.score).then(x.item.cmp(&y.item)));
            list.truncate(k);
        }
        lists
    }

    /// Issue 24: the per-item rows give the pair map's lists exactly.
    #[test]
    fn issue_24_bought_together_by_rows_equals_the_pair_map() {
        let data = crate::pipeline::tests::synthetic_shop();
        let lines: Vec<(u32, u32)> = data
            .purchases
            .iter()
            .map(|p| (p.invoice_idx, p.item_idx))
            .collect();
        for k in [3, 20] {
            let want = bought_together_by_pair_map(data.items.len(), &lines, k);
            assert!(want.iter().filter(|l| l.len() == k).count() > 10);
            assert_eq!(bought_together(&data, k), want, "k = {k}");
        }
    }

    #[test]
    fn session_votes_come_from_the_most_recent_baskets_weighted_by_size() {
        // Item 0 is in three baskets over time: {0,1} (oldest), {0,2,3}, {0,2}.
        let lines = [
            (10, 100, 0),
            (10, 100, 1),
            (11, 200, 0),
            (11, 200, 2),
            (11, 200, 3),
            (12, 300, 2),
            (12, 300, 0),
        ];
        let all = session_votes_from(4, lines.into_iter(), 10, 5);
        // 2: 1/√3 + 1/√2; 1: 1/√2; 3: 1/√3.
        assert_eq!(all[0].iter().map(|n| n.item).collect::<Vec<_>>(), [2, 1, 3]);
        let want = 1.0 / 3f32.sqrt() + 1.0 / 2f32.sqrt();
        assert!((all[0][0].score - want).abs() < 1e-6);
        // Only the two most recent baskets of item 0 vote: item 1 drops out.
        let recent = session_votes_from(4, lines.into_iter(), 2, 5);
        assert_eq!(recent[0].iter().map(|n| n.item).collect::<Vec<_>>(), [2, 3]);
        // Cut to k, and never an item itself.
        let short = session_votes_from(4, lines.into_iter(), 10, 1);
        assert_eq!(short[0].len(), 1);
        assert!(all
            .iter()
            .enumerate()
            .all(|(i, l)| l.iter().all(|n| n.item as usize != i)));
    }

    #[test]
    fn similar_items_are_the_closest_directions() {
        let factors = [1.0, 0.0, 0.9, 0.1, 0.0, 1.0, -1.0, 0.0];
        let lists = similar_by_factors(&factors, 2, 2, 1, 7);
        assert_eq!(lists, similar_by_factors(&factors, 2, 2, 3, 7));
        assert_eq!(lists[0][0].item, 1);
        assert_eq!(lists[3][0].item, 2);
        assert!(lists
            .iter()
            .enumerate()
            .all(|(i, l)| l.iter().all(|n| n.item as usize != i)));
    }

    /// Issue 24: the blocked, threaded lists are the engine's `top_k` of
    /// each item's row, exactly, over more items than a block.
    #[test]
    fn issue_24_similar_items_equal_the_engines_top_k() {
        let mut rng = crate::random::SplitMix64::new(5);
        // Rounded values make exact ties, which break by the lower index;
        // the others are as close as the product's rounding.
        for (n_items, dim, k, rounded) in [
            (3 * SIMILAR_BLOCK + 7, 6, 4, true),
            (2 * SIMILAR_BLOCK + 3, 64, 20, false),
        ] {
            check_similar_items(&mut rng, n_items, dim, k, rounded);
        }
    }

    fn check_similar_items(
        rng: &mut crate::random::SplitMix64,
        n_items: usize,
        dim: usize,
        k: usize,
        rounded: bool,
    ) {
        let factors: Vec<f32> = (0..n_items * dim)
            .map(|_| {
                let v = rng.next_f32() * 4.0 - 2.0;
                if rounded {
                    v.round()
                } else {
                    v
                }
            })
            .collect();
        let normalised = unit_rows(&factors, dim);
        let want: Vec<Vec<Neighbour>> = normalised
            .chunks_exact(dim)
            .enumerate()
            .map(|(item, row)| {
                let best = cove_engine::score::top_k(row, &normalised, dim, k + 1).unwrap();
                without_itself(best, item, k)
            })
            .collect();
        for threads in [1, 2, 3] {
            assert_eq!(similar_by_factors(&factors, dim, k, threads, 7), want);
        }
    }

    /// Issue 24: above the threshold the lists come from the index; on a
    /// catalogue with a taste structure they hold nearly all the exact
    /// neighbours, the same whatever the thread count, and exact scores.
    #[test]
    fn issue_24_similar_by_index_recalls_the_exact_lists() {
        let (n_items, dim, k) = (20_000, 64, 20);
        let factors = crate::synthetic::clustered_factors(n_items, dim, 1.5, 3);
        let index = SimilarIndex::for_catalogue(n_items);
        let lists = similar_by_index(&factors, dim, k, 2, &index, 11);
        let recall = sampled_recall(&factors, dim, &lists, k, 1_000, 5);
        assert!(recall >= 0.95, "recall@{k} {recall:.4} below 0.95");
        assert!(lists.iter().all(|l| l.len() == k));
        let normalised = unit_rows(&factors, dim);
        for (item, list) in lists.iter().enumerate().step_by(997) {
            for n in list {
                assert_ne!(n.item as usize, item);
                let want = cove_engine::score::dot(
                    &normalised[item * dim..(item + 1) * dim],
                    &normalised[n.item as usize * dim..(n.item as usize + 1) * dim],
                );
                assert_eq!(n.score, want);
            }
        }
        let small = &factors[..3_000 * dim];
        let small_index = SimilarIndex::for_catalogue(3_000);
        let one = similar_by_index(small, dim, k, 1, &small_index, 11);
        assert_eq!(one, similar_by_index(small, dim, k, 3, &small_index, 11));
    }

    #[test]
    fn trending_counts_distinct_recent_buyers_per_country() {
        let mut rows = String::new();
        for customer in 0..6 {
            rows.push_str(&format!(
                "1{customer},A1,a,1,2011-03-01 10:00,1,{customer},France\n"
            ));
            rows.push_str(&format!(
                "2{customer},A1,a,1,2011-03-01 10:00,1,{customer},France\n"
            ));
        }
        rows.push_str("30,B2,b,1,2011-03-01 10:00,1,1,France\n");
        rows.push_str("31,B2,b,1,2011-03-01 10:00,1,99,Spain\n");
        // Too old for a 30-day window.
        rows.push_str("32,C3,c,1,2010-01-01 10:00,1,1,France\n");
        let data = transactions(&rows);
        let lists = trending_by_country(&data, 30, 10);
        assert_eq!(lists[0].country, "*");
        assert_eq!(
            lists[0].items[0],
            Neighbour {
                item: 0,
                score: 6.0
            }
        );
        assert_eq!(
            lists[0].items[1],
            Neighbour {
                item: 1,
                score: 2.0
            }
        );
        // Spain has one buyer: no list of its own.
        assert_eq!(lists.len(), 2);
        assert_eq!(lists[1].country, "France");
        assert_eq!(lists[1].items.len(), 2);
    }
}
