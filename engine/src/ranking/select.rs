//! Selection: the pins, and the best eligible items under the request's
//! per-category cap, through a bounded heap ([`select_top_k`]) that never
//! sorts every candidate. Ties go to the lower item row.

use crate::bundle::Model;
use crate::score::{select_top_k, ScoredItem};

use super::request::{CheckedRequest, RequestIds};

/// The request's pins of eligible items, by position (then row), each item
/// once; a pinned item is made ineligible so the selection does not count
/// it again. Looks up the pinned items' ids.
pub(super) fn pins(
    request: CheckedRequest<'_>,
    eligible: &mut [bool],
    ids: &mut RequestIds<'_>,
) -> Vec<(usize, u32)> {
    let mut pins: Vec<(usize, u32)> = Vec::new();
    for pin in &request.pins {
        if let Some(row) = ids.row(&pin.item) {
            if eligible[row as usize] && !pins.iter().any(|(_, r)| *r == row) {
                pins.push((pin.position, row));
            }
        }
    }
    for (_, row) in &pins {
        eligible[*row as usize] = false;
    }
    crate::order::sort_by_key(&mut pins, |(position, row)| (*position, *row));
    pins
}

/// The `n` best eligible items by `scores`, best first, at most `cap` per
/// category when there is a cap.
pub(super) fn choose(
    model: &Model,
    scores: &[f32],
    eligible: &[bool],
    n: usize,
    cap: Option<usize>,
) -> Vec<ScoredItem> {
    let scan = |budget: usize| -> Vec<ScoredItem> {
        let scored = scores
            .iter()
            .zip(eligible)
            .enumerate()
            .filter(|(_, (_, eligible))| **eligible)
            .map(|(row, (score, _))| ScoredItem {
                index: row as u32,
                score: *score,
            });
        select_top_k(scored, budget)
    };
    match cap {
        None => scan(n),
        Some(cap) => {
            // A shortlist four times the slot usually fills it under the
            // caps; when it does not, rank everything (still deterministic).
            let budget = n.saturating_mul(4).max(n + 16);
            let shortlist = scan(budget);
            let capped = apply_caps(model, &shortlist, cap, n);
            if capped.len() < n && shortlist.len() == budget {
                apply_caps(model, &scan(model.n_items()), cap, n)
            } else {
                capped
            }
        }
    }
}

/// Walks a best-first list and keeps at most `cap` items per category.
fn apply_caps(model: &Model, ranked: &[ScoredItem], cap: usize, k: usize) -> Vec<ScoredItem> {
    let mut per_category = vec![0usize; model.categories.len()];
    let mut kept = Vec::with_capacity(k);
    for item in ranked {
        if kept.len() == k {
            break;
        }
        let count = &mut per_category[model.item_category[item.index as usize] as usize];
        if *count < cap {
            *count += 1;
            kept.push(*item);
        }
    }
    kept
}
