//! Reasons: why each item is in the answer, and the answer assembled in
//! order (the context's neighbours, the blend's choice, the pins).
//!
//! An item's reason is the term that contributed most to its score; a tie
//! goes to "buy again", then the session's (or context's) neighbours, then
//! the personal term, then the history's neighbours, then trending. Every
//! [`Reason::Similar`] names the item it came from.

use serde::{Deserialize, Serialize};

use crate::score::ScoredItem;

use super::blend::Scoring;
use super::Recommendation;

/// Why an item was recommended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// It matches the shopper's taste (the personal term dominated).
    Personal,
    /// It is similar to, or bought with, an item the shopper looked at.
    Similar {
        /// That item's id.
        to: String,
    },
    /// It is trending in the shopper's country (or everywhere: `"*"`).
    Trending {
        /// The list used.
        country: String,
    },
    /// It fills a slot with a context (an item page, the cart) that the
    /// context's neighbours could not fill: trending in the shopper's
    /// country, not related to the context.
    Filler {
        /// The trending list used.
        country: String,
    },
    /// The shopper bought it before (the "buy again" term dominated).
    BuyAgain,
    /// The request pinned it.
    Pinned,
    /// A boost placed it (no model term was positive).
    Boosted,
    /// Nothing else ranked it; it fills the slot in catalogue order.
    Fallback,
}

impl Scoring<'_> {
    /// Why the blend ranked `row`.
    fn reason_of(&self, row: u32) -> Reason {
        let weights = &self.weights;
        let personal_term = weights.personal * self.personal.score(row as usize);
        let extra = self.extra_of(row);
        let neighbor_term = extra.map_or(0.0, |e| weights.neighbors * e.neighbor);
        let session_term = extra.map_or(0.0, |e| weights.session * e.session);
        let trending_term = extra.map_or(0.0, |e| weights.trending * e.trending);
        let repeat_term = extra.map_or(0.0, |e| weights.repeat * e.repeat);
        let boost_term = extra.map_or(0.0, |e| e.boost) + self.category_boost_of(row as usize);
        let best = personal_term
            .max(neighbor_term)
            .max(session_term)
            .max(trending_term)
            .max(repeat_term);
        let trending_country = &self.candidates.trending_country;
        if best > 0.0 {
            if repeat_term == best {
                Reason::BuyAgain
            } else if session_term == best {
                Reason::Similar {
                    to: self.seed_id(extra.map_or(u32::MAX, |e| e.session_of)),
                }
            } else if personal_term == best {
                Reason::Personal
            } else if neighbor_term == best {
                Reason::Similar {
                    to: self.seed_id(extra.map_or(u32::MAX, |e| e.neighbor_of)),
                }
            } else if self.is_context_slot {
                Reason::Filler {
                    country: trending_country.clone(),
                }
            } else {
                Reason::Trending {
                    country: trending_country.clone(),
                }
            }
        } else if boost_term > 0.0 {
            Reason::Boosted
        } else {
            Reason::Fallback
        }
    }

    /// The id of the seed of rank `rank`.
    fn seed_id(&self, rank: u32) -> String {
        self.candidates.seed_id(self.model, rank)
    }

    fn recommendation(&self, row: u32, score: f32, reason: Reason) -> Recommendation {
        Recommendation {
            row,
            item: self
                .model
                .item(row)
                .map(|m| m.id.clone())
                .unwrap_or_default(),
            score,
            reason,
        }
    }
}

/// The answer's items, at most `k`: the context's neighbours chosen first
/// (each similar to its strongest seed), then the blend's choice with its
/// reasons, with each pin inserted at its position (past the end: last) and
/// its blended score from `scores`.
pub(super) fn assemble(
    scoring: &Scoring<'_>,
    scores: &[f32],
    context_chosen: &[ScoredItem],
    chosen: &[ScoredItem],
    pins: Vec<(usize, u32)>,
    k: usize,
) -> Vec<Recommendation> {
    let mut items: Vec<Recommendation> = context_chosen
        .iter()
        .map(|s| {
            let seed = scoring.extra_of(s.index).map_or(u32::MAX, |e| e.session_of);
            let to = scoring.seed_id(seed);
            scoring.recommendation(s.index, s.score, Reason::Similar { to })
        })
        .collect();
    items.extend(
        chosen
            .iter()
            .map(|s| scoring.recommendation(s.index, s.score, scoring.reason_of(s.index))),
    );
    for (position, row) in pins {
        let score = scores[row as usize];
        let at = position.min(items.len());
        items.insert(at, scoring.recommendation(row, score, Reason::Pinned));
    }
    items.truncate(k);
    items
}
