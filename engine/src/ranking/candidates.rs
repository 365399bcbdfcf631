//! Candidates: the sparse terms of the blend. Every item that is a neighbour
//! of a seed (the shopper's heaviest items, or the session's or the context's
//! items), trending in the request's country, boosted by id, or bought before
//! gets one contribution per source ([`Extra`]), merged to one per row
//! through a slot per item rather than a sort ([`merge_extras`]).
//!
//! Seeds are named by their rank in item-id order, so a tie between two
//! seeds (the lower one wins) breaks the same way whatever the catalogue's
//! row order.

use crate::bundle::{BlendWeights, Model, RankingParams};
use crate::profile::Profile;

use super::request::{CheckedRequest, RequestIds};
use super::{Slot, NEIGHBOR_SEEDS};

/// The sparse contributions and the seeds they came from.
pub(super) struct Candidates {
    /// The contributions, one per row.
    pub(super) extras: MergedExtras,
    /// Every seed's row, in item-id order: a seed is named by its index here.
    pub(super) seed_rows: Vec<u32>,
    /// The session's (or the context's) seeds and their strengths.
    pub(super) session_seeds: Vec<(u32, f32)>,
    /// The trending list used (a country, or `"*"`).
    pub(super) trending_country: String,
}

impl Candidates {
    /// The id of the seed of rank `rank` (empty if there is none).
    pub(super) fn seed_id(&self, model: &Model, rank: u32) -> String {
        self.seed_rows
            .get(rank as usize)
            .and_then(|row| model.item(*row))
            .map(|m| m.id.clone())
            .unwrap_or_default()
    }
}

/// Sparse per-item contributions (one row's, after [`merge_extras`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Extra {
    pub(super) row: u32,
    pub(super) neighbor: f32,
    pub(super) neighbor_of: u32,
    /// Σ over session (or context) seeds of strength × similarity.
    pub(super) session: f32,
    /// The seed whose single contribution to `session` is the largest, by
    /// its rank in item-id order (`seed_rows`).
    pub(super) session_of: u32,
    /// That contribution.
    pub(super) session_best: f32,
    pub(super) trending: f32,
    pub(super) repeat: f32,
    pub(super) boost: f32,
}

/// Gathers every sparse contribution: neighbours of the history's and the
/// session's (or context's) seeds, trending, item boosts and "buy again".
/// Looks up the context item's and the boosted items' ids, in that order.
pub(super) fn gather(
    model: &Model,
    params: &RankingParams,
    profile: &Profile,
    request: CheckedRequest<'_>,
    blend: &BlendWeights,
    interactions: &[(u32, f64)],
    ids: &mut RequestIds<'_>,
) -> Candidates {
    let mut extras: Vec<Extra> = Vec::new();
    let mut add = |row: u32, f: &dyn Fn(&mut Extra)| {
        let mut extra = Extra {
            row,
            neighbor: 0.0,
            neighbor_of: u32::MAX,
            session: 0.0,
            session_of: u32::MAX,
            session_best: 0.0,
            trending: 0.0,
            repeat: 0.0,
            boost: 0.0,
        };
        f(&mut extra);
        extras.push(extra);
    };
    // History seeds: the shopper's heaviest interactions, whatever order the
    // caller lists them in (ties to the lower row), each scaled by its weight
    // relative to the heaviest; an item's best seed counts.
    let mut heaviest_first: Vec<(u32, f64)> = interactions.to_vec();
    crate::order::sort_by(&mut heaviest_first, |a, b| {
        b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
    });
    let heaviest = heaviest_first.first().map_or(0.0, |(_, w)| *w);
    // Session or context seeds: their neighbours' similarities add up, so an
    // item related to several things the shopper is looking at ranks above
    // one related to a single one.
    let decay = params.session_weights().session_decay;
    let session_seeds = session_or_context_seeds(model, profile, request, decay, ids);
    let mut seed_rows: Vec<u32> = heaviest_first
        .iter()
        .take(NEIGHBOR_SEEDS)
        .map(|(row, _)| *row)
        .chain(session_seeds.iter().map(|(row, _)| *row))
        .collect();
    let id_of = |row: u32| model.item(row).map_or("", |m| m.id.as_str());
    crate::order::sort_by(&mut seed_rows, |a, b| {
        id_of(*a).cmp(id_of(*b)).then(a.cmp(b))
    });
    seed_rows.dedup();
    let seed_rank = |row: u32| {
        seed_rows
            .iter()
            .position(|r| *r == row)
            .map_or(u32::MAX, |rank| rank as u32)
    };
    for (seed, weight) in heaviest_first.iter().take(NEIGHBOR_SEEDS) {
        if heaviest > 0.0 {
            let strength = (*weight / heaviest) as f32;
            let rank = seed_rank(*seed);
            for (row, similarity) in model.neighbors(*seed) {
                let value = similarity * strength;
                add(row, &|e| {
                    e.neighbor = value;
                    e.neighbor_of = rank;
                });
            }
        }
    }
    for (seed, strength) in &session_seeds {
        let rank = seed_rank(*seed);
        for (row, similarity) in model.neighbors(*seed) {
            let value = similarity * strength;
            add(row, &|e| {
                e.session = value;
                e.session_of = rank;
                e.session_best = value;
            });
        }
    }
    let (trending_country, trending) = model.trending(request.country.as_deref());
    let trending_country = trending_country.to_string();
    let top_trend = trending.iter().fold(0.0f32, |m, (_, s)| m.max(*s));
    if top_trend > 0.0 {
        for (row, score) in &trending {
            let value = score / top_trend;
            add(*row, &|e| e.trending = value);
        }
    }
    for boost in &request.boost_items {
        if let Some(row) = ids.row(&boost.key) {
            let amount = boost.amount;
            add(row, &|e| e.boost = amount);
        }
    }
    if !request.exclude_purchased && blend.weight_repeat > 0.0 {
        let mut bought: Vec<u32> = profile
            .items
            .iter()
            .filter(|signal| signal.purchased && !signal.disliked)
            .filter_map(|signal| model.item_row(&signal.id))
            .collect();
        crate::order::sort_by(&mut bought, u32::cmp);
        for (row, weight) in interactions {
            if bought.binary_search(row).is_ok() {
                let value = weight.ln_1p() as f32;
                add(*row, &|e| e.repeat = value);
            }
        }
    }
    Candidates {
        extras: merge_extras(extras, model.n_items()),
        seed_rows,
        session_seeds,
        trending_country,
    }
}

/// The seeds whose neighbours' similarities add up: the live session's items
/// in a "for you" slot, the item on screen on an item page, the cart's items
/// (in row order) in a basket slot, each at strength 1 but the session's.
fn session_or_context_seeds(
    model: &Model,
    profile: &Profile,
    request: CheckedRequest<'_>,
    decay: f32,
    ids: &mut RequestIds<'_>,
) -> Vec<(u32, f32)> {
    match request.slot_kind() {
        Slot::ForYou => session_seeds(model, profile, request.now, decay),
        Slot::ItemPage => request
            .context_item
            .as_deref()
            .and_then(|id| ids.row(id))
            .map(|row| vec![(row, 1.0)])
            .unwrap_or_default(),
        Slot::Basket => {
            let mut rows: Vec<u32> = profile
                .cart
                .iter()
                .filter_map(|line| model.item_row(&line.id))
                .collect();
            crate::order::sort_by(&mut rows, u32::cmp);
            rows.dedup();
            rows.into_iter().map(|row| (row, 1.0)).collect()
        }
    }
}

/// The current session's items as neighbour seeds, most recent first, the
/// i-th with strength `decay`ⁱ: the items the shopper touched since the
/// session began, while it lasts (its last event within the profile's
/// session gap of `now`). None when the session is over.
fn session_seeds(model: &Model, profile: &Profile, now: i64, decay: f32) -> Vec<(u32, f32)> {
    let gap = model.profile_config().params().session_gap_secs;
    let live = profile
        .latest_at
        .is_some_and(|latest| now.saturating_sub(latest) <= gap);
    if !live {
        return Vec::new();
    }
    let started = profile.session.started_at;
    let mut recent: Vec<(i64, u32)> = profile
        .items
        .iter()
        .filter(|signal| signal.at >= started && !signal.disliked)
        .filter_map(|signal| model.item_row(&signal.id).map(|row| (signal.at, row)))
        .collect();
    crate::order::sort_by(&mut recent, |a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut strength = 1.0f32;
    recent
        .into_iter()
        .take(NEIGHBOR_SEEDS)
        .map(|(_, row)| {
            let seed = (row, strength);
            strength *= decay;
            seed
        })
        .collect()
}

impl Extra {
    /// Folds another contribution of the same row into this one: the
    /// strongest neighbour wins (ties to the lower seed row), the larger
    /// trending and repeat terms are kept, boosts add up.
    fn absorb(&mut self, e: &Extra) {
        if e.neighbor > self.neighbor
            || (e.neighbor == self.neighbor && e.neighbor_of < self.neighbor_of)
        {
            self.neighbor = e.neighbor;
            self.neighbor_of = e.neighbor_of;
        }
        self.session += e.session;
        if e.session_best > self.session_best
            || (e.session_best == self.session_best && e.session_of < self.session_of)
        {
            self.session_best = e.session_best;
            self.session_of = e.session_of;
        }
        self.trending = self.trending.max(e.trending);
        self.repeat = self.repeat.max(e.repeat);
        self.boost += e.boost;
    }
}

/// The contributions merged to one per row, and where each row's is.
pub(super) struct MergedExtras {
    /// One entry per row, in the order the rows first contributed.
    pub(super) entries: Vec<Extra>,
    /// For every item row, its entry's index in `entries`, or `u32::MAX`.
    slot_of: Vec<u32>,
}

impl MergedExtras {
    pub(super) fn of(&self, row: u32) -> Option<&Extra> {
        let slot = *self.slot_of.get(row as usize)?;
        self.entries.get(slot as usize)
    }
}

/// Merges the contributions of one row ([`Extra::absorb`], in the order
/// given). A row's entries are merged in their order in `extras`, exactly as
/// a stable sort by row followed by a merge of neighbours would, without
/// sorting: a slot per item row (`n_items` of them) finds a row's entry.
fn merge_extras(extras: Vec<Extra>, n_items: usize) -> MergedExtras {
    let mut slot_of = vec![u32::MAX; n_items];
    let mut entries: Vec<Extra> = Vec::with_capacity(extras.len());
    for e in extras {
        let slot = &mut slot_of[e.row as usize];
        match entries.get_mut(*slot as usize) {
            Some(merged) => merged.absorb(&e),
            None => {
                *slot = entries.len() as u32;
                entries.push(e);
            }
        }
    }
    MergedExtras { entries, slot_of }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;

    /// The merge as it was: a stable sort by row, then neighbouring entries
    /// of one row folded in order (with the same `Extra::absorb`).
    fn merge_by_sorting(mut extras: Vec<Extra>) -> Vec<Extra> {
        extras.sort_by_key(|e| e.row);
        let mut merged: Vec<Extra> = Vec::new();
        for e in extras {
            match merged.last_mut() {
                Some(last) if last.row == e.row => last.absorb(&e),
                _ => merged.push(e),
            }
        }
        merged
    }

    #[test]
    fn merging_without_a_sort_gives_every_row_the_same_bits() {
        let mut rng = Rng::new(17);
        for case in 0..200 {
            let n_items = 1 + rng.below(40) as usize;
            let n = rng.below(120) as usize;
            let pick = |rng: &mut Rng| if rng.below(3) == 0 { 0.0 } else { rng.unit() };
            let extras: Vec<Extra> = (0..n)
                .map(|_| Extra {
                    row: rng.below(n_items as u64) as u32,
                    // Few distinct values, so ties between neighbours happen.
                    neighbor: (rng.below(4) as f32) / 4.0,
                    neighbor_of: rng.below(5) as u32,
                    session: (rng.below(4) as f32) / 4.0,
                    session_of: rng.below(5) as u32,
                    session_best: (rng.below(4) as f32) / 4.0,
                    trending: pick(&mut rng),
                    repeat: pick(&mut rng),
                    boost: pick(&mut rng) * 1e3 - 500.0,
                })
                .collect();
            let expected = merge_by_sorting(extras.clone());
            let merged = merge_extras(extras, n_items);
            assert_eq!(merged.entries.len(), expected.len(), "case {case}");
            for want in &expected {
                let got = merged.of(want.row).expect("every row that contributed");
                let bits = |e: &Extra| {
                    (
                        e.row,
                        e.neighbor.to_bits(),
                        e.neighbor_of,
                        e.trending.to_bits(),
                        e.repeat.to_bits(),
                        e.boost.to_bits(),
                    )
                };
                assert_eq!(bits(got), bits(want), "case {case}");
            }
            for row in 0..n_items as u32 {
                assert_eq!(
                    merged.of(row).is_some(),
                    expected.iter().any(|e| e.row == row)
                );
            }
        }
    }
}
