//! The dense kernels of the ranking: every item's personal term (u·y) in one
//! pass, in f32 or int8, compiled twice on x86-64 (AVX2 chosen at run time)
//! with bit-identical results. The scalar kernels they call ([`dot`],
//! [`dot_i8`], [`quantise`]) are in [`crate::score`].

use crate::bundle::Model;
use crate::score::{dot, dot_i8, quantise};

/// The personal term, in f32 or int8.
pub(super) enum Personal<'a> {
    None,
    F32 {
        user: &'a [f32],
        factors: &'a [f32],
        dim: usize,
    },
    Int8 {
        user: Vec<i8>,
        user_scale: f32,
        factors: &'a [i8],
        scales: &'a [f32],
        dim: usize,
    },
}

impl<'a> Personal<'a> {
    pub(super) fn new(model: &'a Model, user: Option<&'a [f32]>, int8: bool) -> Personal<'a> {
        let dim = model.dim();
        match user {
            None => Personal::None,
            Some(user) if !int8 => Personal::F32 {
                user,
                factors: &model.item_factors,
                dim,
            },
            Some(user) => {
                let (user_q, user_scale) = quantise(user);
                Personal::Int8 {
                    user: user_q,
                    user_scale,
                    factors: &model.item_factors_i8,
                    scales: &model.item_scales,
                    dim,
                }
            }
        }
    }

    /// Writes `weight ·` the personal term of every item into `out`.
    ///
    /// On x86-64 CPUs with AVX2 the same code is compiled a second time with
    /// AVX2 enabled and chosen at run time. The arithmetic is the same
    /// (integer sums are exact; the f32 sums keep their order and are never
    /// fused), so both builds give bit-identical scores.
    pub(super) fn score_all(&self, weight: f32, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2, checked just above.
                unsafe { self.score_all_avx2(weight, out) };
                return;
            }
        }
        self.score_all_portable(weight, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn score_all_avx2(&self, weight: f32, out: &mut [f32]) {
        self.score_all_portable(weight, out);
    }

    #[inline(always)]
    fn score_all_portable(&self, weight: f32, out: &mut [f32]) {
        match self {
            Personal::None => {}
            Personal::F32 { user, factors, dim } => {
                // Four rows at a time: four independent dependency chains,
                // each summed exactly as `dot` sums, so the results are
                // bit-identical to `dot` while the CPU overlaps the chains.
                let block = 4 * dim;
                let mut out_blocks = out.chunks_exact_mut(4);
                let mut row_blocks = factors.chunks_exact(block);
                for (out4, rows) in (&mut out_blocks).zip(&mut row_blocks) {
                    let (r0, rest) = rows.split_at(*dim);
                    let (r1, rest) = rest.split_at(*dim);
                    let (r2, r3) = rest.split_at(*dim);
                    let scores = dot4(user, [r0, r1, r2, r3]);
                    for (o, s) in out4.iter_mut().zip(scores) {
                        *o = weight * s;
                    }
                }
                let rest = row_blocks.remainder().chunks_exact(*dim);
                for (o, row) in out_blocks.into_remainder().iter_mut().zip(rest) {
                    *o = weight * dot(user, row);
                }
            }
            Personal::Int8 {
                user,
                user_scale,
                factors,
                scales,
                dim,
            } => {
                // An index loop: the size-optimised wasm build leaves
                // iterator adapters out of line in this hot loop.
                let rows = out.len().min(scales.len()).min(factors.len() / dim);
                for row in 0..rows {
                    let factors = &factors[row * dim..row * dim + dim];
                    out[row] = weight * (dot_i8(user, factors) as f32 * user_scale * scales[row]);
                }
            }
        }
    }

    #[inline]
    pub(super) fn score(&self, row: usize) -> f32 {
        match self {
            Personal::None => 0.0,
            Personal::F32 { user, factors, dim } => dot(user, &factors[row * dim..row * dim + dim]),
            Personal::Int8 {
                user,
                user_scale,
                factors,
                scales,
                dim,
            } => {
                let q = dot_i8(user, &factors[row * dim..row * dim + dim]);
                q as f32 * user_scale * scales[row]
            }
        }
    }
}

/// Four dot products of `user` with four rows, each summed in exactly the
/// order of [`dot`] (four accumulators, then the tail).
#[inline(always)]
fn dot4(user: &[f32], rows: [&[f32]; 4]) -> [f32; 4] {
    let mut acc = [[0.0f32; 4]; 4];
    let n_full = user.len() / 4 * 4;
    let mut i = 0;
    while i < n_full {
        let u = &user[i..i + 4];
        for (acc_row, row) in acc.iter_mut().zip(&rows) {
            let y = &row[i..i + 4];
            acc_row[0] += u[0] * y[0];
            acc_row[1] += u[1] * y[1];
            acc_row[2] += u[2] * y[2];
            acc_row[3] += u[3] * y[3];
        }
        i += 4;
    }
    let mut out = [0.0f32; 4];
    for ((o, acc_row), row) in out.iter_mut().zip(&acc).zip(&rows) {
        let mut tail = 0.0f32;
        for (x, y) in user[n_full..].iter().zip(&row[n_full..]) {
            tail += x * y;
        }
        *o = (acc_row[0] + acc_row[1]) + (acc_row[2] + acc_row[3]) + tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;

    #[test]
    fn dot4_is_bit_identical_to_dot() {
        let mut rng = Rng::new(11);
        for dim in [1, 3, 4, 7, 32, 33, 64] {
            let mut vector = || (0..dim).map(|_| rng.unit() - 0.5).collect::<Vec<f32>>();
            let user = vector();
            let rows = [vector(), vector(), vector(), vector()];
            let got = dot4(&user, [&rows[0], &rows[1], &rows[2], &rows[3]]);
            for (g, row) in got.iter().zip(&rows) {
                assert_eq!(g.to_bits(), dot(&user, row).to_bits(), "dim {dim}");
            }
        }
    }

    #[test]
    fn dispatched_and_portable_scores_are_bit_identical() {
        use crate::testing::{synthetic_bundle, SyntheticSpec};
        let built = synthetic_bundle(&SyntheticSpec {
            n_items: 301,
            dim: 37,
            ..SyntheticSpec::default()
        });
        let model = Model::from_bytes(&built.manifest, &built.tensors).unwrap();
        let mut rng = Rng::new(3);
        let user: Vec<f32> = (0..37).map(|_| rng.unit() - 0.5).collect();
        for int8 in [false, true] {
            let personal = Personal::new(&model, Some(&user), int8);
            let mut dispatched = vec![0.0f32; 301];
            let mut portable = vec![0.0f32; 301];
            personal.score_all(0.7, &mut dispatched);
            personal.score_all_portable(0.7, &mut portable);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&dispatched), bits(&portable), "int8 = {int8}");
            for (row, score) in portable.iter().enumerate() {
                assert_eq!(score.to_bits(), (0.7 * personal.score(row)).to_bits());
            }
        }
    }
}
