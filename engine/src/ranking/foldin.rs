//! Folding the shopper into the model: solving for the shopper's factor vector
//! from their interactions, as one half-step of implicit-feedback ALS.
//!
//! With item factors Y (the bundle's), regularisation λ and confidence
//! c_j = 1 + α·w_j for an item the shopper interacted with weight w_j, the
//! shopper vector u solves
//!
//! ```text
//! (YᵀY + λI + Σ_j (c_j − 1)·y_j·y_jᵀ) · u = Σ_j c_j·y_j
//! ```
//!
//! (Hu, Koren & Volinsky 2008, with preference 1 for every interacted item).
//! YᵀY + λI comes precomputed with the bundle; the sum runs over at most
//! [`MAX_FOLD_IN_ITEMS`] items, and the d × d system is solved by Cholesky.

use crate::bundle::Model;
use crate::linalg;
use crate::profile::{Profile, ProfileConfig};
use crate::Error;

/// The most interactions folded in: the heaviest ones by decayed weight. It
/// bounds the fold-in's work at MAX·d²/2 + d³/6 multiply-adds.
pub const MAX_FOLD_IN_ITEMS: usize = 64;

/// The interactions a profile contributes at `now`: (item row, decayed
/// weight) for items the bundle knows and the shopper did not dislike, the
/// heaviest [`MAX_FOLD_IN_ITEMS`] first (ties by row).
pub fn interactions(
    model: &Model,
    profile: &Profile,
    config: &ProfileConfig,
    now: i64,
) -> Vec<(u32, f64)> {
    let mut found: Vec<(u32, f64)> = profile
        .weights_at(now, config)
        .filter(|(signal, weight)| !signal.disliked && *weight > 0.0)
        .filter_map(|(signal, weight)| model.item_row(&signal.id).map(|row| (row, weight)))
        .collect();
    found.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    found.truncate(MAX_FOLD_IN_ITEMS);
    found
}

/// Solves for the shopper vector from (item row, weight) interactions.
/// Returns `None` when there is nothing to fold in. Rows must be below the
/// model's item count and weights finite and non-negative.
pub fn fold_in(model: &Model, interactions: &[(u32, f64)]) -> Result<Option<Vec<f32>>, Error> {
    if interactions.is_empty() {
        return Ok(None);
    }
    let dim = model.dim();
    let alpha = model.manifest().ranking.alpha;
    let mut a = model.gram_ridge.clone();
    let mut b = vec![0.0f64; dim];
    let mut y = vec![0.0f64; dim];
    for (position, &(row, weight)) in interactions.iter().enumerate() {
        if !(weight >= 0.0 && weight.is_finite()) {
            return Err(Error::NonFinite {
                what: "fold-in weight",
                index: position,
            });
        }
        let factors = model.item_factors(row).ok_or(Error::InvalidReference {
            what: "fold-in item row".into(),
            index: row as u64,
            limit: model.n_items() as u64,
        })?;
        for (yi, f) in y.iter_mut().zip(factors) {
            *yi = *f as f64;
        }
        let extra = alpha * weight;
        let confidence = 1.0 + extra;
        for (bi, yi) in b.iter_mut().zip(&y) {
            *bi += confidence * yi;
        }
        // Only the lower triangle is read by the factorisation.
        for i in 0..dim {
            let scaled = extra * y[i];
            let a_row = &mut a[i * dim..i * dim + i + 1];
            for (aij, yj) in a_row.iter_mut().zip(&y[..=i]) {
                *aij += scaled * yj;
            }
        }
    }
    linalg::cholesky_in_place(&mut a, dim).map_err(|_| Error::InvalidParameter {
        name: "fold-in",
        reason: "the system is not positive definite (weights too large)",
    })?;
    linalg::cholesky_solve(&a, dim, &mut b);
    let u: Vec<f32> = b.iter().map(|x| *x as f32).collect();
    if u.iter().any(|x| !x.is_finite()) {
        return Err(Error::NonFinite {
            what: "shopper vector",
            index: u.iter().position(|x| !x.is_finite()).unwrap_or(0),
        });
    }
    Ok(Some(u))
}
