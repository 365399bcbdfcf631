//! Scoring with trained factors the way the device does: fold the shopper's
//! history in ([`crate::foldin`]) and rank with the engine's `top_k`.

use std::collections::HashMap;

use crate::eval::{EvalUser, Ranker};
use crate::foldin::FoldIn;

/// Ranks items by the dot product of folded-in user vectors with item factors.
pub struct FactorRanker {
    /// A label for the report.
    pub label: String,
    /// Row-major n_items × `dim`.
    pub item_factors: Vec<f32>,
    /// YᵀY, row-major `dim` × `dim`.
    pub gram: Vec<f32>,
    /// Latent dimension.
    pub dim: usize,
    /// λ and the confidence mapping used in training.
    pub fold_in: FoldIn,
}

impl FactorRanker {
    /// The folded-in user vector of a history.
    pub fn user_vector(&self, history: &[(u32, f32)]) -> Vec<f32> {
        self.fold_in
            .user_vector(history, &self.item_factors, &self.gram, self.dim)
    }
}

impl Ranker for FactorRanker {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn top_k(&self, user: &EvalUser, exclude: &[u32], k: usize) -> Vec<u32> {
        let x = self.user_vector(&user.history);
        // Ask the engine for enough items to survive the exclusions.
        let ranked = cove_engine::score::top_k(&x, &self.item_factors, self.dim, k + exclude.len())
            .expect("factors are finite and shaped by construction");
        ranked
            .into_iter()
            .map(|s| s.index)
            .filter(|item| exclude.binary_search(item).is_err())
            .take(k)
            .collect()
    }
}

/// The factor score plus two on-device terms, tuned on validation:
/// `repeat_weight · ln(1 + strength)` for items in the shopper's own history
/// ("buy again"), and `prior_weight · prior[i]` (a per-item prior such as
/// recent popularity, shipped as trending).
pub struct BlendRanker {
    /// The factor model.
    pub factors: FactorRanker,
    /// Weight of the shopper's own history.
    pub repeat_weight: f32,
    /// Per-item prior, one value per item.
    pub prior: Vec<f32>,
    /// Weight of the prior.
    pub prior_weight: f32,
    /// Per item, its "bought together" list (the bundle ships the top few).
    pub co_purchase: Vec<Vec<crate::neighbours::Neighbour>>,
    /// Weight of Σ over the history of each owned item's bought-together scores.
    pub co_purchase_weight: f32,
    /// Factor scores per evaluated user (keyed by train row), filled by
    /// [`BlendRanker::cache_users`] so a weight search folds each user in once.
    pub factor_score_cache: HashMap<u32, Vec<f32>>,
}

impl BlendRanker {
    /// Sets the weights of the three on-device terms.
    pub fn set_weights(&mut self, repeat: f32, prior: f32, co_purchase: f32) {
        self.repeat_weight = repeat;
        self.prior_weight = prior;
        self.co_purchase_weight = co_purchase;
    }

    fn factor_scores(&self, history: &[(u32, f32)]) -> Vec<f32> {
        let x = self.factors.user_vector(history);
        self.factors
            .item_factors
            .chunks_exact(self.factors.dim)
            .map(|y| cove_engine::score::dot(&x, y))
            .collect()
    }

    /// Folds every user in once and keeps their factor scores, on `threads`
    /// threads. Scores do not depend on the blend weights, so a search over
    /// weights reuses them.
    pub fn cache_users(&mut self, users: &[EvalUser], threads: usize) {
        let chunk = users.len().div_ceil(threads.max(1)).max(1);
        let this = &*self;
        let parts: Vec<Vec<(u32, Vec<f32>)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = users
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|u| (u.train_row, this.factor_scores(&u.history)))
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("fold-in thread panicked"))
                .collect()
        });
        self.factor_score_cache = parts.into_iter().flatten().collect();
    }

    /// Every item's score for a history: factor score plus the blend terms.
    pub fn scores(&self, history: &[(u32, f32)]) -> Vec<f32> {
        self.blend(self.factor_scores(history), history)
    }

    fn blend(&self, mut scores: Vec<f32>, history: &[(u32, f32)]) -> Vec<f32> {
        for (s, p) in scores.iter_mut().zip(&self.prior) {
            *s += self.prior_weight * p;
        }
        for &(item, strength) in history {
            scores[item as usize] += self.repeat_weight * (1.0 + strength).ln();
            if self.co_purchase_weight != 0.0 {
                for n in &self.co_purchase[item as usize] {
                    scores[n.item as usize] += self.co_purchase_weight * n.score;
                }
            }
        }
        scores
    }
}

impl Ranker for BlendRanker {
    fn name(&self) -> String {
        format!("{} + buy-again + prior", self.factors.label)
    }

    fn top_k(&self, user: &EvalUser, exclude: &[u32], k: usize) -> Vec<u32> {
        let scores = match self.factor_score_cache.get(&user.train_row) {
            Some(cached) => self.blend(cached.clone(), &user.history),
            None => self.scores(&user.history),
        };
        crate::eval::rank_scores(&scores, exclude, k)
    }
}
