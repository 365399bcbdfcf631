//! The blend: each term's weight for one request, and the two score passes,
//! every item's blended score and, in a context slot, the context's
//! neighbours' own scores.

use crate::bundle::{BlendWeights, Model, RankingParams, SessionWeights};

use super::candidates::{Candidates, Extra};
use super::kernels::Personal;
use super::request::CheckedRequest;
use super::Slot;

/// The weight of each term of the blend for one request.
#[derive(Debug, Clone, Copy)]
pub(super) struct Weights {
    /// Zero without a shopper vector (cold start).
    pub(super) personal: f32,
    pub(super) neighbors: f32,
    /// Zero in a context slot, where the session's (the context's)
    /// neighbours rank first in a pass of their own.
    pub(super) session: f32,
    pub(super) trending: f32,
    pub(super) repeat: f32,
}

/// Everything an item's score is made of, for one request.
pub(super) struct Scoring<'a> {
    pub(super) model: &'a Model,
    /// The personal term, in f32 or int8.
    pub(super) personal: Personal<'a>,
    pub(super) weights: Weights,
    /// The bundle's session weights (a context slot's small terms).
    pub(super) session_weights: SessionWeights,
    /// Per category (in `model.categories` order), the request's summed boost.
    pub(super) category_boost: Vec<f32>,
    pub(super) candidates: Candidates,
    /// An item page or the cart: the context's neighbours rank first.
    pub(super) is_context_slot: bool,
}

impl<'a> Scoring<'a> {
    /// The terms of `request` with the blend weights `blend` (the slot's,
    /// [`RankingParams::blend`]) and the shopper vector `user`, if any.
    pub(super) fn new(
        model: &'a Model,
        params: &RankingParams,
        request: CheckedRequest<'_>,
        blend: &BlendWeights,
        user: Option<&'a [f32]>,
        candidates: Candidates,
    ) -> Scoring<'a> {
        let mut category_boost = vec![0.0f32; model.categories.len()];
        for boost in &request.boost_categories {
            if let Ok(position) = model.categories.binary_search(&boost.key) {
                category_boost[position] += boost.amount;
            }
        }
        let session_weights = params.session_weights();
        // In a "for you" slot the session's neighbours are one more term of
        // the blend; in a context slot they rank first, in a pass of their own.
        let is_context_slot = request.slot_kind() != Slot::ForYou;
        let weights = Weights {
            personal: if user.is_some() {
                blend.weight_personal
            } else {
                0.0
            },
            neighbors: blend.weight_neighbors,
            session: if is_context_slot {
                0.0
            } else {
                session_weights.weight_session
            },
            trending: blend.weight_trending,
            repeat: blend.weight_repeat,
        };
        Scoring {
            model,
            personal: Personal::new(model, user, request.int8),
            weights,
            session_weights,
            category_boost,
            candidates,
            is_context_slot,
        }
    }

    /// The request's boost of the category of `row`.
    pub(super) fn category_boost_of(&self, row: usize) -> f32 {
        self.category_boost[self.model.item_category[row] as usize]
    }

    /// Every item's blended score. A dense pass first, every item's personal
    /// term and category boost, in one tight loop per kind so the compiler
    /// can vectorise it; then the sparse terms.
    pub(super) fn scores(&self) -> Vec<f32> {
        let weights = &self.weights;
        let mut scores = vec![0.0f32; self.model.n_items()];
        self.personal.score_all(weights.personal, &mut scores);
        if self.category_boost.iter().any(|b| *b != 0.0) {
            for (score, category) in scores.iter_mut().zip(&self.model.item_category) {
                *score += self.category_boost[*category as usize];
            }
        }
        for e in &self.candidates.extras.entries {
            scores[e.row as usize] += weights.neighbors * e.neighbor
                + weights.session * e.session
                + weights.trending * e.trending
                + weights.repeat * e.repeat
                + e.boost;
        }
        scores
    }

    /// A context slot's own pass: the context's eligible neighbours by their
    /// summed similarity, with the bundle's small trending and personal terms
    /// to order near ties. Returns the scores and which items are in it.
    pub(super) fn context_scores(&self, eligible: &[bool]) -> (Vec<f32>, Vec<bool>) {
        let n_items = self.model.n_items();
        let mut context_scores = vec![0.0f32; n_items];
        let mut context_eligible = vec![false; n_items];
        for e in &self.candidates.extras.entries {
            if e.session > 0.0 && eligible[e.row as usize] {
                let row = e.row as usize;
                context_eligible[row] = true;
                context_scores[row] = e.session
                    + self.session_weights.context_trending * e.trending
                    + self.session_weights.context_personal * self.personal.score(row)
                    + e.boost
                    + self.category_boost_of(row);
            }
        }
        (context_scores, context_eligible)
    }

    /// The sparse contributions of `row`, if it has any.
    pub(super) fn extra_of(&self, row: u32) -> Option<&Extra> {
        self.candidates.extras.of(row)
    }
}
