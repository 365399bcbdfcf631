//! Scoring candidate item vectors against a shopper vector and selecting the top k.
//!
//! Candidates are a row-major `n_items × dim` matrix of `f32`. The score of an item
//! is the dot product of its row with the shopper vector. Selection keeps a bounded
//! min-heap of the best k seen so far, so ranking n candidates costs O(n log k),
//! never a full sort. Ties are broken by the lower item index, so the answer does
//! not depend on how the platform orders equal floats.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::Error;

/// One ranked candidate: its row in the candidate matrix and its score.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoredItem {
    /// The candidate's row index in the matrix it was scored from.
    pub index: u32,
    /// The dot product of the candidate's vector with the shopper vector.
    pub score: f32,
}

impl ScoredItem {
    /// The ranking order: higher score first, then lower index first.
    /// Scores are finite (checked on input), so `total_cmp` equals `<`.
    fn rank_cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.index.cmp(&other.index))
    }
}

/// Heap entry ordered so that the *worst* kept item sits on top of the max-heap.
#[derive(PartialEq)]
struct WorstFirst(ScoredItem);

impl Eq for WorstFirst {}

impl PartialOrd for WorstFirst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for WorstFirst {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.rank_cmp(&other.0)
    }
}

/// Dot product with four independent accumulators. The summation order is fixed
/// by this code, not by the compiler, so native and wasm32 builds give
/// bit-identical results.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; 4];
    let a_chunks = a.chunks_exact(4);
    let b_chunks = b.chunks_exact(4);
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (x, y) in a_chunks.zip(b_chunks) {
        acc[0] += x[0] * y[0];
        acc[1] += x[1] * y[1];
        acc[2] += x[2] * y[2];
        acc[3] += x[3] * y[3];
    }
    let mut tail = 0.0f32;
    for (x, y) in a_rest.iter().zip(b_rest) {
        tail += x * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Integer dot product of two int8 vectors (the shorter length), exact in i32
/// for lengths up to 2^17. Integer addition is associative, so the compiler
/// may vectorise the sum without changing the result.
#[inline(always)]
pub fn dot_i8_scalar(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| *x as i16 as i32 * *y as i16 as i32)
        .sum()
}

/// [`dot_i8_scalar`] with WebAssembly SIMD128: sixteen int8 pairs per step,
/// widened to int16 and summed pairwise into four int32 lanes by
/// `i32x4.dot_i16x8_s`. The sum is exact, so the result equals the scalar one.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
pub fn dot_i8_simd128(a: &[i8], b: &[i8]) -> i32 {
    use core::arch::wasm32::{
        i16x8_extend_high_i8x16, i16x8_extend_low_i8x16, i32x4_add, i32x4_dot_i16x8,
        i32x4_extract_lane, i32x4_splat, v128, v128_load,
    };
    // Plain index loops: the wasm build is optimised for size, which leaves
    // iterator adapters out of line in a hot loop.
    let n = a.len().min(b.len());
    let blocks = n / 16;
    let mut acc = i32x4_splat(0);
    for block in 0..blocks {
        let offset = block * 16;
        // SAFETY: offset + 16 <= n, so both 16-byte reads stay inside `a` and
        // `b`; `v128_load` has no alignment requirement.
        let (x, y) = unsafe {
            (
                v128_load(a.as_ptr().add(offset) as *const v128),
                v128_load(b.as_ptr().add(offset) as *const v128),
            )
        };
        let low = i32x4_dot_i16x8(i16x8_extend_low_i8x16(x), i16x8_extend_low_i8x16(y));
        let high = i32x4_dot_i16x8(i16x8_extend_high_i8x16(x), i16x8_extend_high_i8x16(y));
        acc = i32x4_add(acc, i32x4_add(low, high));
    }
    let mut sum = i32x4_extract_lane::<0>(acc)
        + i32x4_extract_lane::<1>(acc)
        + i32x4_extract_lane::<2>(acc)
        + i32x4_extract_lane::<3>(acc);
    for i in blocks * 16..n {
        sum += a[i] as i32 * b[i] as i32;
    }
    sum
}

/// Quantises a vector to int8 with one scale max|x| / 127.
pub fn quantise(x: &[f32]) -> (Vec<i8>, f32) {
    let max = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if !(max > 0.0 && max.is_finite()) {
        return (vec![0; x.len()], 1.0);
    }
    let scale = max / 127.0;
    let q = x
        .iter()
        .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (q, scale)
}

/// Integer dot product of two int8 vectors, exact in i32 for d ≤ 2^17.
/// Integer addition is associative, so the compiler may reorder (vectorise)
/// the sum without changing the result on any platform.
///
/// The browser's build (wasm32 with SIMD128) sums sixteen products per step
/// with `i32x4.dot_i16x8_s` (`dot_i8_simd128`); the sum is
/// exact either way, so the result is identical.
#[inline(always)]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        dot_i8_simd128(a, b)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        dot_i8_scalar(a, b)
    }
}

/// Selects the k best of an iterator of scored items, best first.
pub fn select_top_k(items: impl IntoIterator<Item = ScoredItem>, k: usize) -> Vec<ScoredItem> {
    if k == 0 {
        return Vec::new();
    }
    let items = items.into_iter();
    // The heap never holds more than k items nor more than there are: a huge
    // k from a caller must not reserve memory for items that do not exist.
    let bound = items.size_hint().1.unwrap_or(usize::MAX).min(k);
    let mut heap: BinaryHeap<WorstFirst> = BinaryHeap::with_capacity(bound.saturating_add(1));
    for item in items {
        if heap.len() < k {
            heap.push(WorstFirst(item));
        } else if let Some(worst) = heap.peek() {
            // Fast rejection: a strictly lower score can never rank better
            // (for non-NaN scores, `<` agrees with `total_cmp`; NaN and
            // signed zeros fall through to the full comparison).
            if item.score < worst.0.score {
                continue;
            }
            if item.rank_cmp(&worst.0) == Ordering::Less {
                heap.pop();
                heap.push(WorstFirst(item));
            }
        }
    }
    // `into_sorted_vec` is ascending by `Ord`, which is best first here.
    heap.into_sorted_vec().into_iter().map(|w| w.0).collect()
}

/// Scores every row of `items` (row-major, `dim` columns) against `user` and
/// returns the `k` best, best first.
///
/// Errors when `user` is not `dim` long, when `items` is not a whole number of
/// rows, or when any input value is not finite.
pub fn top_k(user: &[f32], items: &[f32], dim: usize, k: usize) -> Result<Vec<ScoredItem>, Error> {
    if dim == 0 {
        return Err(Error::InvalidParameter {
            name: "dim",
            reason: "must be at least 1",
        });
    }
    if user.len() != dim {
        return Err(Error::DimensionMismatch {
            what: "user vector",
            expected: dim,
            found: user.len(),
        });
    }
    if items.len() % dim != 0 {
        return Err(Error::DimensionMismatch {
            what: "item matrix (a multiple of dim)",
            expected: items.len() / dim * dim + dim,
            found: items.len(),
        });
    }
    if items.len() / dim > u32::MAX as usize {
        return Err(Error::InvalidParameter {
            name: "items",
            reason: "more than 2^32 - 1 candidates",
        });
    }
    check_finite("user vector", user)?;
    check_finite("item matrix", items)?;
    let scored = items
        .chunks_exact(dim)
        .enumerate()
        .map(|(row_idx, row)| ScoredItem {
            index: row_idx as u32,
            score: dot(user, row),
        });
    Ok(select_top_k(scored, k))
}

fn check_finite(what: &'static str, values: &[f32]) -> Result<(), Error> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(Error::NonFinite { what, index }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_sort(user: &[f32], items: &[f32], dim: usize, k: usize) -> Vec<ScoredItem> {
        let mut all: Vec<ScoredItem> = items
            .chunks_exact(dim)
            .enumerate()
            .map(|(i, row)| ScoredItem {
                index: i as u32,
                score: dot(user, row),
            })
            .collect();
        all.sort_by(|a, b| a.rank_cmp(b));
        all.truncate(k);
        all
    }

    #[test]
    fn a_huge_k_reserves_nothing_and_returns_every_item() {
        // Issue 21 (S2): k ≥ 2^28 used to overflow `BinaryHeap::with_capacity`.
        let items = [1.0, 0.0, 3.0, 0.0, 2.0, 0.0];
        for k in [268_435_455, usize::MAX - 1, usize::MAX] {
            let got = top_k(&[1.0, 0.0], &items, 2, k).unwrap();
            assert_eq!(got.iter().map(|s| s.index).collect::<Vec<_>>(), [1, 2, 0]);
        }
    }

    #[test]
    fn ties_break_on_lower_index() {
        let items = [1.0, 0.0, 1.0, 0.0, 2.0, 0.0];
        let got = top_k(&[1.0, 0.0], &items, 2, 3).unwrap();
        let indices: Vec<u32> = got.iter().map(|s| s.index).collect();
        assert_eq!(indices, vec![2, 0, 1]);
    }

    #[test]
    fn matches_full_sort_on_a_seeded_matrix() {
        // A small xorshift generator keeps the test seeded without a dependency.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let dim = 7;
        let items: Vec<f32> = (0..dim * 500).map(|_| next()).collect();
        let user: Vec<f32> = (0..dim).map(|_| next()).collect();
        for k in [0, 1, 5, 20, 499, 500, 600] {
            assert_eq!(
                top_k(&user, &items, dim, k).unwrap(),
                full_sort(&user, &items, dim, k)
            );
        }
    }

    #[test]
    fn bad_inputs_get_typed_errors() {
        let check = |user: &[f32], items: &[f32], dim: usize, code: &str| {
            let err = top_k(user, items, dim, 3).unwrap_err();
            assert_eq!(err.code(), code, "{err}");
        };
        check(&[1.0], &[1.0], 0, "invalid_parameter");
        check(&[1.0, 2.0], &[1.0, 2.0], 1, "dimension_mismatch");
        check(&[1.0, 2.0], &[1.0, 2.0, 3.0], 2, "dimension_mismatch");
        check(&[f32::NAN, 2.0], &[1.0, 2.0], 2, "non_finite");
        check(&[1.0, 2.0], &[1.0, f32::INFINITY], 2, "non_finite");
    }

    #[test]
    fn dot_i8_is_exact() {
        let check = |a: &[i8], b: &[i8], want: i32| assert_eq!(dot_i8(a, b), want);
        check(&[127; 64], &[127; 64], 64 * 127 * 127);
        check(&[-127; 64], &[127; 64], -64 * 127 * 127);
        check(&[1, 2, 3], &[4, -5, 6], 12);
        check(&[], &[], 0);
    }
}
