//! Scoring with trained factors the way the device does: fold the shopper's
//! history in ([`crate::foldin`]) and rank with the engine's `top_k`.

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
}

impl BlendRanker {
    /// Every item's score for a history.
    pub fn scores(&self, history: &[(u32, f32)]) -> Vec<f32> {
        let x = self.factors.user_vector(history);
        let d = self.factors.dim;
        let mut scores: Vec<f32> = self
            .factors
            .item_factors
            .chunks_exact(d)
            .zip(&self.prior)
            .map(|(y, p)| cove_engine::score::dot(&x, y) + self.prior_weight * p)
            .collect();
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
        crate::eval::rank_scores(&self.scores(&user.history), exclude, k)
    }
}
