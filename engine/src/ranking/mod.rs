//! Ranking the catalogue for one slot.
//!
//! The score of an eligible item blends three sources with the bundle's
//! weights, plus any boosts the request gives:
//!
//! ```text
//! score = w_personal·(u·y) + w_neighbors·neighbour + w_trending·trending
//!       + w_repeat·repeat + boost
//! ```
//!
//! - personal: the shopper vector u, folded in from the profile
//!   ([`foldin`]), against the item factors, in f32 or int8;
//! - neighbour: the best similarity to the item on screen (`context_item`, at
//!   full strength) or to the shopper's heaviest items (scaled by their weight
//!   relative to the heaviest);
//! - trending: the item's score in the trending list of the shopper's country
//!   (or `"*"`), divided by the list's top score;
//! - repeat ("buy again"): ln(1 + decayed weight) of an item the shopper
//!   bought, among the interactions that were folded in; it counts only when
//!   the request keeps bought items (`exclude_purchased: false`).
//!
//! A request that keeps bought items (a "for you" slot) uses the bundle's
//! `keep_purchased` weights when it has them, and every other request the
//! top-level ones ([`RankingParams::blend`]): a slot of new items only and a
//! slot where buying again is likely want different balances.
//!
//! A shopper with no known history (cold start) has no personal term, so the
//! ranking comes from the item on screen and what is trending where they are.
//!
//! Business rules: out-of-stock items, items not shipped to the request's
//! country (or, without a country, any item limited to some countries), excluded items and categories, and (by default) items the shopper
//! bought, have in the cart or disliked are never ranked; pins place items at fixed positions;
//! `max_per_category` caps items per category (diversity). Ties break on the
//! lower item row, so the answer never depends on candidate order. Each item
//! carries the [`Reason`] whose term contributed most.
//!
//! Selection keeps a bounded heap ([`crate::score::select_top_k`]) and never
//! sorts every candidate.
//!
//! # The pipeline
//!
//! One function, `rank`, behind the three entries ([`recommend`],
//! [`rank_with_vector`], [`rank_with_params`]), reads as the steps it takes,
//! each in a module of its own: the request is checked once, by its entry
//! ([`RankRequest`], module `request`);
//! eligibility applies the business rules (`eligibility`); the sparse
//! candidates are gathered from the seeds, trending, boosts and "buy again"
//! (`candidates`); every item is scored by the blend (`blend`, over the
//! dense kernels in `kernels`); the pins and the best items under the caps
//! are selected (`select`); each item gets its [`Reason`] (`reasons`).

pub mod foldin;
pub mod starter;

mod blend;
mod candidates;
mod eligibility;
mod kernels;
mod reasons;
mod request;
mod select;

use serde::{Deserialize, Serialize};

use crate::bundle::{Model, RankingParams};
use crate::profile::{Profile, ProfileConfig};
use crate::Error;

use blend::Scoring;
use request::{CheckedRequest, RequestIds};

pub use reasons::Reason;
pub use request::{Boost, Pin, RankRequest, Slot, MAX_K};

/// How many of the shopper's heaviest items seed neighbour candidates.
pub const NEIGHBOR_SEEDS: usize = 8;

/// One recommended item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The item's row in the bundle.
    pub row: u32,
    /// The item id.
    pub item: String,
    /// The blended score (pins keep the score they would have had).
    pub score: f32,
    /// Why it is here.
    pub reason: Reason,
}

/// The answer to a [`RankRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    /// The items, best first.
    pub items: Vec<Recommendation>,
    /// Whether a shopper vector was folded in (false: cold start).
    pub personalised: bool,
    /// Ids in the request that the bundle does not know (they were ignored).
    pub unknown_ids: Vec<String>,
}

/// Ranks the catalogue for `profile` under `request`.
pub fn recommend(
    model: &Model,
    profile: &Profile,
    config: &ProfileConfig,
    request: &RankRequest,
) -> Result<Ranking, Error> {
    let request = request.check()?;
    let interactions = foldin::interactions(model, profile, config, request.now);
    let user = foldin::fold_in(model, &interactions)?;
    let params = &model.manifest().ranking;
    rank(
        model,
        params,
        profile,
        request,
        user.as_deref(),
        &interactions,
    )
}

/// Ranks with a given shopper vector (or none, for cold start) and the
/// interactions it came from (which seed the neighbour candidates and the
/// "buy again" term), with the bundle's ranking parameters.
pub fn rank_with_vector(
    model: &Model,
    profile: &Profile,
    request: &RankRequest,
    user: Option<&[f32]>,
    interactions: &[(u32, f64)],
) -> Result<Ranking, Error> {
    let params = &model.manifest().ranking;
    rank_with_params(model, params, profile, request, user, interactions)
}

/// [`rank_with_vector`] with blend weights other than the bundle's (the
/// trainer searches them with this, the one ranking implementation). Only the
/// weights of `params` are read (the `weight_*` fields, or `keep_purchased`
/// for a request that keeps bought items, see [`RankingParams::blend`]); they
/// must be finite and non-negative.
pub fn rank_with_params(
    model: &Model,
    params: &RankingParams,
    profile: &Profile,
    request: &RankRequest,
    user: Option<&[f32]>,
    interactions: &[(u32, f64)],
) -> Result<Ranking, Error> {
    rank(model, params, profile, request.check()?, user, interactions)
}

/// The ranking pipeline, for a request checked once by its caller.
fn rank(
    model: &Model,
    params: &RankingParams,
    profile: &Profile,
    request: CheckedRequest<'_>,
    user: Option<&[f32]>,
    interactions: &[(u32, f64)],
) -> Result<Ranking, Error> {
    let blend = request::check_inputs(model, params, request, user, interactions)?;
    let mut ids = RequestIds::new(model);
    let mut eligible = eligibility::eligible(model, profile, request, &mut ids);
    let candidates = candidates::gather(
        model,
        params,
        profile,
        request,
        &blend,
        interactions,
        &mut ids,
    );
    if request.slot_kind() == Slot::ForYou {
        eligibility::hide_session_items(model, profile, &candidates.session_seeds, &mut eligible);
    }
    let scoring = Scoring::new(model, params, request, &blend, user, candidates);
    let scores = scoring.scores();
    let pins = select::pins(request, &mut eligible, &mut ids);
    let n_ranked = request.k.saturating_sub(pins.len());
    let cap = request.max_per_category;
    // A context slot: the context's neighbours first, then the blend fills
    // what they cannot.
    let mut context_chosen = Vec::new();
    if scoring.is_context_slot {
        let (context_scores, context_eligible) = scoring.context_scores(&eligible);
        context_chosen = select::choose(model, &context_scores, &context_eligible, n_ranked, cap);
        for item in &context_chosen {
            eligible[item.index as usize] = false;
        }
    }
    let n_blended = n_ranked.saturating_sub(context_chosen.len());
    let chosen = select::choose(model, &scores, &eligible, n_blended, cap);
    let items = reasons::assemble(&scoring, &scores, &context_chosen, &chosen, pins, request.k);
    Ok(Ranking {
        items,
        personalised: user.is_some(),
        unknown_ids: ids.unknown,
    })
}
