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
//! YᵀY + λI and its inverse are prepared once per model ([`FoldInSystem`]); the
//! sum runs over at most [`MAX_FOLD_IN_ITEMS`] items, and the system is solved
//! exactly (Woodbury or Cholesky, whichever is cheaper).
//!
//! [`FoldInSystem`] needs only the item factors, λ and α, not a whole bundle, so
//! the trainer folds shoppers in with this same code while it tunes.

use crate::bundle::Model;
use crate::linalg::{self, RidgeGram};
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
    interactions_by(profile, config, now, |id| model.item_row(id))
}

/// [`interactions`] with any id → row map (the trainer's, while it tunes
/// factors that are not in a bundle yet).
pub fn interactions_by(
    profile: &Profile,
    config: &ProfileConfig,
    now: i64,
    row_of: impl Fn(&str) -> Option<u32>,
) -> Vec<(u32, f64)> {
    let found: Vec<(u32, f64)> = profile
        .weights_at(now, config)
        .filter(|(signal, weight)| !signal.disliked && *weight > 0.0)
        .filter_map(|(signal, weight)| row_of(&signal.id).map(|row| (row, weight)))
        .collect();
    heaviest_first(found)
}

/// The largest weight a host may name for one item ([`interactions_from_weights`]).
pub const MAX_ITEM_WEIGHT: f64 = 10_000.0;

/// Interactions from a list of (item id, weight), as a host receives them (the
/// edge's minimised profile): the same order and cap as a profile's
/// [`interactions`], whatever order the list came in. Ids the bundle does not
/// know are skipped and counted. Refuses a weight outside (0,
/// [`MAX_ITEM_WEIGHT`]] or not finite, and an id named twice (one item has one
/// weight; which one to keep would be a guess).
pub fn interactions_from_weights<'a>(
    model: &Model,
    weights: impl IntoIterator<Item = (&'a str, f64)>,
) -> Result<WeightedInteractions, Error> {
    let mut found: Vec<(u32, f64)> = Vec::new();
    let mut unknown: Vec<&str> = Vec::new();
    for (id, weight) in weights {
        if !(weight.is_finite() && weight > 0.0 && weight <= MAX_ITEM_WEIGHT) {
            return Err(Error::InvalidParameter {
                name: "items.weight",
                reason: "must be a number in (0, 10000]",
            });
        }
        let duplicate = match model.item_row(id) {
            Some(row) if found.iter().any(|(seen, _)| *seen == row) => true,
            Some(row) => {
                found.push((row, weight));
                false
            }
            None if unknown.contains(&id) => true,
            None => {
                unknown.push(id);
                false
            }
        };
        if duplicate {
            return Err(Error::InvalidParameter {
                name: "items.id",
                reason: "an item is named twice",
            });
        }
    }
    Ok(WeightedInteractions {
        interactions: heaviest_first(found),
        unknown_items: unknown.len(),
    })
}

/// What [`interactions_from_weights`] makes of a weight list.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedInteractions {
    /// (item row, weight), heaviest first (ties by row), at most
    /// [`MAX_FOLD_IN_ITEMS`].
    pub interactions: Vec<(u32, f64)>,
    /// How many distinct ids the bundle does not know.
    pub unknown_items: usize,
}

/// The one order of interactions every caller folds in and ranks with:
/// heaviest first, ties by row, the first [`MAX_FOLD_IN_ITEMS`] kept.
fn heaviest_first(mut found: Vec<(u32, f64)>) -> Vec<(u32, f64)> {
    crate::order::sort_by(&mut found, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    found.truncate(MAX_FOLD_IN_ITEMS);
    found
}

/// Solves for the shopper vector from (item row, weight) interactions with
/// the model's item factors. Returns `None` when there is nothing to fold in.
/// Rows must be below the model's item count and weights finite and
/// non-negative. See [`FoldInSystem::fold_in`].
pub fn fold_in(model: &Model, interactions: &[(u32, f64)]) -> Result<Option<Vec<f32>>, Error> {
    SystemRef::of_model(model).fold_in(&model.item_factors, interactions)
}

/// Everything the fold-in needs besides the item factors and the
/// interactions: d, α, YᵀY + λI and its inverse. The trainer builds one per
/// candidate model; a bundle's [`Model`] holds the same matrices as plain
/// data (prepared by its loader from the shipped Gram matrix), which
/// [`fold_in`] solves with directly.
#[derive(Debug, Clone)]
pub struct FoldInSystem {
    alpha: f64,
    /// YᵀY + λI and its inverse. Factorised once when built, which proves it
    /// positive definite.
    ridge: RidgeGram,
}

/// A fold-in system borrowed from a [`FoldInSystem`] or a [`Model`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct SystemRef<'a> {
    ridge: &'a RidgeGram,
    alpha: f64,
}

impl<'a> SystemRef<'a> {
    /// The system of a bundle: its prepared Gram matrix and its α.
    pub(crate) fn of_model(model: &'a Model) -> SystemRef<'a> {
        SystemRef {
            ridge: &model.fold_in_gram,
            alpha: model.manifest.ranking.alpha,
        }
    }

    /// [`FoldInSystem::fold_in`] with this system.
    fn fold_in(
        self,
        item_factors: &[f32],
        interactions: &[(u32, f64)],
    ) -> Result<Option<Vec<f32>>, Error> {
        if interactions.is_empty() {
            return Ok(None);
        }
        let dim = self.ridge.dim;
        let n_items = item_factors.len() / dim.max(1);
        let mut factors: Vec<&[f32]> = Vec::with_capacity(interactions.len());
        for (position, &(row, weight)) in interactions.iter().enumerate() {
            if !(weight >= 0.0 && weight.is_finite()) {
                return Err(Error::NonFinite {
                    what: "fold-in weight",
                    index: position,
                });
            }
            let start = row as usize * dim;
            factors.push(
                item_factors
                    .get(start..start + dim)
                    .filter(|_| (row as usize) < n_items)
                    .ok_or(Error::InvalidReference {
                        what: "fold-in item row".into(),
                        index: row as u64,
                        limit: n_items as u64,
                    })?,
            );
        }
        let solved = solve(self, interactions, &factors);
        let u = solved.ok_or(Error::InvalidParameter {
            name: "fold-in",
            reason: "the system is not positive definite (weights too large)",
        })?;
        match u.iter().position(|x| !x.is_finite()) {
            Some(index) => Err(Error::NonFinite {
                what: "shopper vector",
                index,
            }),
            None => Ok(Some(u)),
        }
    }
}

impl FoldInSystem {
    /// Prepares the fold-in for factors whose Gram matrix is `gram` (YᵀY,
    /// d × d row-major, symmetric), with regularisation `lambda` (> 0) and
    /// confidence scale `alpha` (≥ 0). Refuses a `gram` for which YᵀY + λI is
    /// not positive definite, naming the first bad pivot.
    pub fn new(gram: &[f32], dim: usize, lambda: f64, alpha: f64) -> Result<FoldInSystem, Error> {
        if gram.len() != dim * dim {
            return Err(Error::DimensionMismatch {
                what: "Gram matrix (d × d)",
                expected: dim * dim,
                found: gram.len(),
            });
        }
        if !(lambda > 0.0 && lambda.is_finite() && alpha >= 0.0 && alpha.is_finite()) {
            return Err(Error::InvalidParameter {
                name: "fold-in",
                reason: "λ must be positive and α non-negative, both finite",
            });
        }
        Ok(FoldInSystem {
            alpha,
            ridge: RidgeGram::new(gram, dim, lambda)?,
        })
    }

    /// The factor dimension d.
    pub fn dim(&self) -> usize {
        self.ridge.dim
    }

    /// Solves for the shopper vector from (item row, weight) interactions
    /// against `item_factors` (n × d, row-major). Returns `None` when there is
    /// nothing to fold in.
    ///
    /// Two exact methods, chosen by their multiply-add count: with few
    /// interactions, the Woodbury identity on the precomputed (YᵀY + λI)⁻¹
    /// (a handful of matrix-vector products and an m × m solve); otherwise the
    /// direct d × d Cholesky solve. Both are checked against a dense reference
    /// solve in the property tests.
    pub fn fold_in(
        &self,
        item_factors: &[f32],
        interactions: &[(u32, f64)],
    ) -> Result<Option<Vec<f32>>, Error> {
        let system = SystemRef {
            ridge: &self.ridge,
            alpha: self.alpha,
        };
        system.fold_in(item_factors, interactions)
    }
}

/// Picks the cheaper method. On x86-64 CPUs with AVX2 the same code is also
/// compiled with AVX2 and chosen at run time; nothing is fused or reordered,
/// so the result is bit-identical to the portable build.
pub(crate) fn solve(
    system: SystemRef<'_>,
    interactions: &[(u32, f64)],
    factors: &[&[f32]],
) -> Option<Vec<f32>> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { solve_avx2(system, interactions, factors) };
        }
    }
    solve_portable(system, interactions, factors)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn solve_avx2(
    system: SystemRef<'_>,
    interactions: &[(u32, f64)],
    factors: &[&[f32]],
) -> Option<Vec<f32>> {
    solve_portable(system, interactions, factors)
}

#[inline(always)]
pub(crate) fn solve_portable(
    system: SystemRef<'_>,
    interactions: &[(u32, f64)],
    factors: &[&[f32]],
) -> Option<Vec<f32>> {
    if woodbury_is_cheaper(interactions.len(), system.ridge.dim) {
        solve_woodbury(system, interactions, factors)
    } else {
        solve_direct(system, interactions, factors)
    }
}

/// Compares multiply-add counts: direct m·d²/2 + d³/6 + d², Woodbury
/// (m + 1)·d² + m²·d/2 + m³/6.
fn woodbury_is_cheaper(m: usize, d: usize) -> bool {
    let direct = m * d * d / 2 + d * d * d / 6 + d * d;
    let woodbury = (m + 1) * d * d + m * m * d / 2 + m * m * m / 6;
    woodbury < direct
}

#[inline(always)]
/// The direct method: build A = YᵀY + λI + Σ (c−1)·y·yᵀ and solve A·u = Σ c·y.
pub(crate) fn solve_direct(
    system: SystemRef<'_>,
    interactions: &[(u32, f64)],
    factors: &[&[f32]],
) -> Option<Vec<f32>> {
    let dim = system.ridge.dim;
    let alpha = system.alpha;
    let mut a = system.ridge.gram_ridge.clone();
    let mut b = vec![0.0f64; dim];
    let mut y = vec![0.0f64; dim];
    for (&(_, weight), row) in interactions.iter().zip(factors) {
        for (yi, f) in y.iter_mut().zip(row.iter()) {
            *yi = *f as f64;
        }
        let extra = alpha * weight;
        let confidence = 1.0 + extra;
        for (bi, yi) in b.iter_mut().zip(&y) {
            *bi += confidence * yi;
        }
        // Only the lower triangle is read by the factorisation.
        for i in 0..dim {
            linalg::axpy(&mut a[i * dim..i * dim + i + 1], extra * y[i], &y[..=i]);
        }
    }
    linalg::cholesky_in_place(&mut a, dim).ok()?;
    linalg::cholesky_solve(&a, dim, &mut b);
    Some(b.iter().map(|x| *x as f32).collect())
}

#[inline(always)]
/// The Woodbury method. With B = YᵀY + λI, V = [√(α·w_j)·y_j] (d × m) and
/// b = Σ c_j·y_j: u = z − W·S⁻¹·Vᵀz, where z = B⁻¹b, W = B⁻¹V and
/// S = I + VᵀW (m × m, symmetric positive definite).
pub(crate) fn solve_woodbury(
    system: SystemRef<'_>,
    interactions: &[(u32, f64)],
    factors: &[&[f32]],
) -> Option<Vec<f32>> {
    let dim = system.ridge.dim;
    let m = interactions.len();
    let alpha = system.alpha;
    let inverse = &system.ridge.inverse;
    let mut v = vec![0.0f64; m * dim];
    let mut b = vec![0.0f64; dim];
    for (j, (&(_, weight), row)) in interactions.iter().zip(factors).enumerate() {
        let root = (alpha * weight).sqrt();
        let confidence = 1.0 + alpha * weight;
        for ((vi, bi), f) in v[j * dim..(j + 1) * dim]
            .iter_mut()
            .zip(b.iter_mut())
            .zip(row.iter())
        {
            *vi = root * *f as f64;
            *bi += confidence * *f as f64;
        }
    }
    let mut z = vec![0.0f64; dim];
    linalg::symmetric_matvec(inverse, dim, &b, &mut z);
    let mut w = vec![0.0f64; m * dim];
    for j in 0..m {
        let (v_j, w_j) = (&v[j * dim..(j + 1) * dim], &mut w[j * dim..(j + 1) * dim]);
        linalg::symmetric_matvec(inverse, dim, v_j, w_j);
    }
    let mut s = vec![0.0f64; m * m];
    let mut t = vec![0.0f64; m];
    for i in 0..m {
        let v_i = &v[i * dim..(i + 1) * dim];
        for j in 0..=i {
            let w_j = &w[j * dim..(j + 1) * dim];
            s[i * m + j] = linalg::dot(v_i, w_j) + if i == j { 1.0 } else { 0.0 };
        }
        t[i] = linalg::dot(v_i, &z);
    }
    linalg::cholesky_in_place(&mut s, m).ok()?;
    linalg::cholesky_solve(&s, m, &mut t);
    for (j, t_j) in t.iter().enumerate() {
        // z − t·w is z + (−t)·w, bit for bit.
        linalg::axpy(&mut z, -t_j, &w[j * dim..(j + 1) * dim]);
    }
    Some(z.iter().map(|x| *x as f32).collect())
}

/// The shards a device with `profile` fetches from a head: the bundle's
/// [`Model::shards_for_vector`] of the vector folded in from the profile's
/// items the head knows (none when it knows none of them). Here and not in
/// `bundle`, which never imports `ranking`.
pub fn shards_for_profile(model: &Model, profile: &Profile, now: i64) -> Result<Vec<usize>, Error> {
    let interactions = interactions(model, profile, model.profile_config(), now);
    match fold_in(model, &interactions)? {
        Some(user) => model.shards_for_vector(&user),
        None => Ok(Vec::new()),
    }
}

/// The shard files a device with `profile` should fetch now: the shards
/// [`shards_for_profile`] wants that are not loaded yet, in table order.
pub fn shards_to_fetch(
    model: &Model,
    profile: &Profile,
    now: i64,
) -> Result<Vec<crate::bundle::ShardFile>, Error> {
    let loaded = model.loaded_shards();
    shards_for_profile(model, profile, now)?
        .into_iter()
        .filter(|index| !loaded.contains(index))
        .map(|index| model.shard_file(index))
        .collect()
}
