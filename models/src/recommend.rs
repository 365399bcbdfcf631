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
