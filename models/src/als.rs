//! Implicit-feedback alternating least squares (Hu, Koren & Volinsky, "Collaborative
//! Filtering for Implicit Feedback Datasets", ICDM 2008), with each least-squares
//! step solved approximately by a few conjugate-gradient steps warm-started from
//! the previous factors (Takács, Pilászy & Tikk, RecSys 2011).
//!
//! Every observed pair (u, i) with strength x gets preference p = 1 and
//! confidence c = 1 + α·ln(1 + x/ε) ([`Confidence`]); unobserved pairs have
//! p = 0 and c = 1. The loss is
//! Σ c_ui (p_ui − x_uᵀ y_i)² + λ (Σ‖x_u‖² + Σ‖y_i‖²).
//!
//! With the other side fixed, each row's optimum solves
//! (YᵀY + Yᵀ(C_u − I)Y + λI) x_u = Yᵀ C_u p_u. The Gram matrix YᵀY is computed
//! once per half-step (with nalgebra), so each row costs O(d² + n_u·d) per CG step.
//! The same equation with the final Y is how the device folds a shopper in
//! ([`crate::foldin`]).
//!
//! Runs are deterministic: factors start from a seeded SplitMix64 stream, and
//! rows are split across threads in fixed contiguous blocks, each row solved
//! independently, so the thread count does not change the result.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::interactions::Interactions;
use crate::random::SplitMix64;

/// How an interaction strength x becomes a confidence: c = b + α·ln(1 + x/ε).
///
/// Hu, Koren & Volinsky use b = 1 (an observed pair never weighs less than an
/// unobserved one). b = 0 is what the `implicit` library computes when its input
/// is ln(1 + x) (it takes the matrix value as the confidence): a single purchase
/// then weighs less than a repeated one by more. The base is tuned with the rest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Confidence {
    /// b ≥ 0: the confidence of a pair of strength 0.
    pub base: f32,
    /// α > 0: how much more an observed pair weighs than an unobserved one.
    pub alpha: f32,
    /// ε > 0: the strength scale at which the log starts to bend.
    pub epsilon: f32,
}

impl Confidence {
    /// The confidence of an observed pair of strength `strength` (≥ 0).
    pub fn of(&self, strength: f32) -> f32 {
        self.base + self.alpha * (1.0 + strength / self.epsilon).ln()
    }
}

/// ALS hyperparameters as given; [`AlsParams::validate`] checks them once.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlsParams {
    /// Latent dimension d.
    pub factors: usize,
    /// L2 regularization λ.
    pub regularization: f32,
    /// The confidence mapping.
    pub confidence: Confidence,
    /// Full alternations (users then items).
    pub iterations: usize,
    /// Conjugate-gradient steps per row and half-step.
    pub cg_steps: usize,
    /// Seed of the initial factors.
    pub seed: u64,
    /// Worker threads (results do not depend on it).
    pub threads: usize,
}

impl Default for AlsParams {
    fn default() -> Self {
        AlsParams {
            factors: 64,
            regularization: 1.0,
            confidence: Confidence {
                base: 1.0,
                alpha: 10.0,
                epsilon: 1.0,
            },
            iterations: 15,
            cg_steps: 3,
            seed: 42,
            threads: 2,
        }
    }
}

/// A parameter that [`AlsParams::validate`] refused, with the value.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidAlsParam {
    /// The parameter's name.
    pub name: &'static str,
    /// The refused value, printed.
    pub value: String,
    /// The allowed range.
    pub expected: &'static str,
}

impl fmt::Display for InvalidAlsParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ALS parameter {} = {} is invalid: expected {}",
            self.name, self.value, self.expected
        )
    }
}

impl std::error::Error for InvalidAlsParam {}

/// Parameters that passed validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidAlsParams(AlsParams);

impl ValidAlsParams {
    /// The checked parameters.
    pub fn get(&self) -> &AlsParams {
        &self.0
    }
}

impl AlsParams {
    /// Checks every parameter once, before any work.
    pub fn validate(self) -> Result<ValidAlsParams, InvalidAlsParam> {
        let refuse = |name, value: String, expected| {
            Err(InvalidAlsParam {
                name,
                value,
                expected,
            })
        };
        if !(1..=1024).contains(&self.factors) {
            return refuse("factors", self.factors.to_string(), "1..=1024");
        }
        if !(self.regularization.is_finite() && self.regularization > 0.0) {
            return refuse(
                "regularization",
                self.regularization.to_string(),
                "finite and > 0",
            );
        }
        if !(self.confidence.alpha.is_finite() && self.confidence.alpha > 0.0) {
            return refuse("alpha", self.confidence.alpha.to_string(), "finite and > 0");
        }
        if !(self.confidence.base.is_finite() && self.confidence.base >= 0.0) {
            return refuse(
                "confidence base",
                self.confidence.base.to_string(),
                "finite and >= 0",
            );
        }
        if !(self.confidence.epsilon.is_finite() && self.confidence.epsilon > 0.0) {
            return refuse(
                "epsilon",
                self.confidence.epsilon.to_string(),
                "finite and > 0",
            );
        }
        if self.iterations == 0 {
            return refuse("iterations", "0".into(), ">= 1");
        }
        if self.cg_steps == 0 {
            return refuse("cg_steps", "0".into(), ">= 1");
        }
        if self.threads == 0 {
            return refuse("threads", "0".into(), ">= 1");
        }
        Ok(ValidAlsParams(self))
    }
}

/// Trained factors. Both matrices are row-major: row r is `[r*d, (r+1)*d)`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlsModel {
    /// Latent dimension d.
    pub dim: usize,
    /// n_users × d.
    pub user_factors: Vec<f32>,
    /// n_items × d.
    pub item_factors: Vec<f32>,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The Gram matrix FᵀF (d × d, row-major) of a row-major n × d matrix F.
///
/// F row-major is Fᵀ column-major, so nalgebra sees a d × n matrix without a copy
/// and multiplies it by its transpose.
pub fn gram(factors: &[f32], dim: usize) -> Vec<f32> {
    let n_rows = factors.len() / dim;
    let f_t = nalgebra::DMatrixView::<f32>::from_slice(factors, dim, n_rows);
    let g = f_t * f_t.transpose();
    // Symmetric, so column-major equals row-major.
    g.as_slice().to_vec()
}

/// The ALS normal-equation operator of one row: v ↦ (G + λI)v + Σ_j (c_j − 1)(y_jᵀv) y_j.
struct RowOperator<'a> {
    gram: &'a [f32],
    regularization: f32,
    other: &'a [f32],
    cols: &'a [u32],
    confidences: &'a [f32],
    dim: usize,
}

impl RowOperator<'_> {
    fn apply(&self, v: &[f32], out: &mut [f32]) {
        let d = self.dim;
        for (row, out_r) in out.iter_mut().enumerate() {
            *out_r = dot(&self.gram[row * d..(row + 1) * d], v) + self.regularization * v[row];
        }
        for (&col, &c) in self.cols.iter().zip(self.confidences) {
            let y = &self.other[col as usize * d..(col as usize + 1) * d];
            let weight = (c - 1.0) * dot(y, v);
            for (o, yk) in out.iter_mut().zip(y) {
                *o += weight * yk;
            }
        }
    }
}

/// Runs `cg_steps` conjugate-gradient steps on one row's normal equations,
/// starting from (and overwriting) `x`.
fn solve_row_cg(op: &RowOperator, x: &mut [f32], cg_steps: usize, scratch: &mut CgScratch) {
    let d = op.dim;
    let CgScratch { r, p, ap } = scratch;
    // r = b − A x, with b = Σ_j c_j y_j.
    op.apply(x, ap);
    for k in 0..d {
        r[k] = -ap[k];
    }
    for (&col, &c) in op.cols.iter().zip(op.confidences) {
        let y = &op.other[col as usize * d..(col as usize + 1) * d];
        for (rk, yk) in r.iter_mut().zip(y) {
            *rk += c * yk;
        }
    }
    p.copy_from_slice(r);
    let mut rs_old = dot(r, r);
    for _ in 0..cg_steps {
        if rs_old < 1e-20 {
            break;
        }
        op.apply(p, ap);
        let p_ap = dot(p, ap);
        if p_ap <= 0.0 {
            break;
        }
        let step = rs_old / p_ap;
        for k in 0..d {
            x[k] += step * p[k];
            r[k] -= step * ap[k];
        }
        let rs_new = dot(r, r);
        let beta = rs_new / rs_old;
        for k in 0..d {
            p[k] = r[k] + beta * p[k];
        }
        rs_old = rs_new;
    }
}

struct CgScratch {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
}

impl CgScratch {
    fn new(dim: usize) -> Self {
        CgScratch {
            r: vec![0.0; dim],
            p: vec![0.0; dim],
            ap: vec![0.0; dim],
        }
    }
}

/// One half-step: recomputes every row of `solve` against the fixed `other`.
fn half_step<'m>(
    solve: &mut [f32],
    other: &[f32],
    rows: &(dyn Fn(usize) -> (&'m [u32], &'m [f32]) + Sync),
    params: &AlsParams,
) {
    let d = params.factors;
    let g = gram(other, d);
    let n_rows = solve.len() / d;
    let rows_per_thread = n_rows.div_ceil(params.threads).max(1);
    std::thread::scope(|scope| {
        for (block_idx, block) in solve.chunks_mut(rows_per_thread * d).enumerate() {
            let g = &g;
            scope.spawn(move || {
                let mut scratch = CgScratch::new(d);
                let mut confidences = Vec::new();
                for (offset, x) in block.chunks_exact_mut(d).enumerate() {
                    let row = block_idx * rows_per_thread + offset;
                    let (cols, strengths) = rows(row);
                    confidences.clear();
                    confidences.extend(strengths.iter().map(|&s| params.confidence.of(s)));
                    let op = RowOperator {
                        gram: g,
                        regularization: params.regularization,
                        other,
                        cols,
                        confidences: &confidences,
                        dim: d,
                    };
                    solve_row_cg(&op, x, params.cg_steps, &mut scratch);
                }
            });
        }
    });
}

/// Trains ALS. `on_iteration(i)` is called after each full alternation.
pub fn train(
    interactions: &Interactions,
    params: &ValidAlsParams,
    mut on_iteration: impl FnMut(usize),
) -> AlsModel {
    let params = params.get();
    let d = params.factors;
    let mut rng = SplitMix64::new(params.seed);
    let scale = 0.1 / (d as f32).sqrt();
    let mut init = |n: usize| -> Vec<f32> { (0..n * d).map(|_| rng.next_f32() * scale).collect() };
    let mut user_factors = init(interactions.n_users());
    let mut item_factors = init(interactions.n_items());
    for iteration in 0..params.iterations {
        half_step(
            &mut user_factors,
            &item_factors,
            &|u| interactions.user_row(u),
            params,
        );
        half_step(
            &mut item_factors,
            &user_factors,
            &|i| interactions.item_column(i),
            params,
        );
        on_iteration(iteration + 1);
    }
    AlsModel {
        dim: d,
        user_factors,
        item_factors,
    }
}

/// The full weighted loss Σ_observed-and-not c(p − xᵀy)² + λ(‖X‖² + ‖Y‖²).
/// Costs O(n_users · n_items · d): for tests and small diagnostics only.
pub fn loss(interactions: &Interactions, model: &AlsModel, params: &AlsParams) -> f64 {
    let d = model.dim;
    let mut total = 0.0f64;
    for user in 0..interactions.n_users() {
        let x = &model.user_factors[user * d..(user + 1) * d];
        let (items, strengths) = interactions.user_row(user);
        let mut next = 0;
        for item in 0..interactions.n_items() {
            let y = &model.item_factors[item * d..(item + 1) * d];
            let predicted = dot(x, y) as f64;
            let (p, c) = if next < items.len() && items[next] as usize == item {
                let c = params.confidence.of(strengths[next]) as f64;
                next += 1;
                (1.0, c)
            } else {
                (0.0, 1.0)
            };
            total += c * (p - predicted).powi(2);
        }
    }
    let norm2 = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>();
    total + params.regularization as f64 * (norm2(&model.user_factors) + norm2(&model.item_factors))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three planted taste groups of 8 items each; every user buys a random
    /// half of their group's items and, rarely, one stray item.
    fn planted(seed: u64) -> (Interactions, Vec<usize>, Vec<(u32, u32)>) {
        let n_groups = 3;
        let items_per_group = 8;
        let n_users = 240;
        let mut rng = SplitMix64::new(seed);
        let mut triples = Vec::new();
        let mut held_out = Vec::new();
        let mut user_group = Vec::new();
        for user in 0..n_users {
            let group = user % n_groups;
            user_group.push(group);
            let mut held = false;
            for k in 0..items_per_group {
                let item = (group * items_per_group + k) as u32;
                if rng.next_f32() < 0.5 {
                    triples.push((user as u32, item, 1.0 + (rng.next_u64() % 3) as f32));
                } else if !held {
                    held_out.push((user as u32, item));
                    held = true;
                }
            }
            if rng.next_f32() < 0.2 {
                let stray = (rng.next_u64() % (n_groups * items_per_group) as u64) as u32;
                triples.push((user as u32, stray, 1.0));
            }
        }
        let m = Interactions::from_triples(n_users, n_groups * items_per_group, &triples);
        (m, user_group, held_out)
    }

    fn params(threads: usize) -> ValidAlsParams {
        AlsParams {
            factors: 4,
            regularization: 1.0,
            confidence: Confidence {
                base: 1.0,
                alpha: 2.0,
                epsilon: 1.0,
            },
            iterations: 10,
            threads,
            ..AlsParams::default()
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn recovers_planted_groups() {
        let (m, user_group, held_out) = planted(7);
        let model = train(&m, &params(2), |_| {});
        let d = model.dim;
        // Every held-out item (in the user's group, not bought) must outscore
        // the items of every group the user never bought from.
        let mut violations = 0;
        let mut comparisons = 0;
        for &(user, held_item) in &held_out {
            let x = &model.user_factors[user as usize * d..(user as usize + 1) * d];
            let held_score = dot(x, &model.item_factors[held_item as usize * d..][..d]);
            let (bought, _) = m.user_row(user as usize);
            let touched = |group: usize| bought.iter().any(|&b| b as usize / 8 == group);
            for item in 0..m.n_items() {
                if item / 8 != user_group[user as usize] && !touched(item / 8) {
                    comparisons += 1;
                    let score = dot(x, &model.item_factors[item * d..][..d]);
                    if score >= held_score {
                        violations += 1;
                    }
                }
            }
        }
        // A random scorer would fail half of these comparisons.
        assert!(
            violations * 100 <= comparisons * 2,
            "{violations} of {comparisons} out-of-group items outscored a held-out in-group item"
        );
    }

    #[test]
    fn loss_decreases_and_threads_do_not_change_results() {
        let (m, _, _) = planted(11);
        let one_iteration = AlsParams {
            iterations: 1,
            ..*params(1).get()
        }
        .validate()
        .unwrap();
        let early = train(&m, &one_iteration, |_| {});
        let late = train(&m, &params(1), |_| {});
        let p = params(1);
        assert!(loss(&m, &late, p.get()) < loss(&m, &early, p.get()));
        assert_eq!(late, train(&m, &params(3), |_| {}));
    }

    #[test]
    fn invalid_params_are_refused_with_their_value() {
        let err = AlsParams {
            regularization: -1.0,
            ..AlsParams::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!((err.name, err.value.as_str()), ("regularization", "-1"));
        assert!(AlsParams {
            factors: 0,
            ..AlsParams::default()
        }
        .validate()
        .is_err());
    }

    #[test]
    fn gram_matches_a_direct_sum() {
        let f = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(gram(&f, 2), vec![35.0, 44.0, 44.0, 56.0]);
    }
}
