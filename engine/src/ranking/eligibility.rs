//! Eligibility: the business rules that decide which items may be ranked at
//! all, as one flag per item row. Scores never change eligibility, and
//! nothing here reads a score.

use crate::bundle::Model;
use crate::profile::Profile;

use super::request::{CheckedRequest, RequestIds};

/// The items a request may show: in stock, shipped to the request's country,
/// not in an excluded category, not excluded by id, and (as the request
/// says) not bought, not in the cart and never disliked. Looks up the
/// excluded items' ids.
pub(super) fn eligible(
    model: &Model,
    profile: &Profile,
    request: CheckedRequest<'_>,
    ids: &mut RequestIds<'_>,
) -> Vec<bool> {
    let mut eligible = model.in_stock.clone();
    // An item limited to some countries is shown only when the request names
    // one of them; without a country it cannot be known to ship.
    for (row, countries) in &model.country_limits {
        let ships = request
            .country
            .as_ref()
            .is_some_and(|country| countries.contains(country));
        eligible[*row as usize] &= ships;
    }
    if !request.exclude_categories.is_empty() {
        let excluded: Vec<bool> = model
            .categories
            .iter()
            .map(|c| request.exclude_categories.contains(c))
            .collect();
        for (flag, category) in eligible.iter_mut().zip(&model.item_category) {
            *flag &= !excluded[*category as usize];
        }
    }
    for id in &request.exclude_items {
        if let Some(row) = ids.row(id) {
            eligible[row as usize] = false;
        }
    }
    if request.exclude_in_cart {
        for line in &profile.cart {
            if let Some(row) = model.item_row(&line.id) {
                eligible[row as usize] = false;
            }
        }
    }
    for signal in &profile.items {
        if signal.disliked || (request.exclude_purchased && signal.purchased) {
            if let Some(row) = model.item_row(&signal.id) {
                eligible[row as usize] = false;
            }
        }
    }
    eligible
}

/// A "for you" slot does not show again what the shopper only looked at in
/// this session: it shows where those items lead (the item on screen has a
/// slot of its own). Bought and carted items follow the request's
/// `exclude_purchased` and `exclude_in_cart` instead.
pub(super) fn hide_session_items(
    model: &Model,
    profile: &Profile,
    session_seeds: &[(u32, f32)],
    eligible: &mut [bool],
) {
    let kept_by_request = |row: u32| {
        let Some(id) = model.item(row).map(|m| m.id.as_str()) else {
            return false;
        };
        profile.cart.iter().any(|line| line.id == id)
            || profile
                .items
                .iter()
                .any(|signal| signal.id == id && signal.purchased)
    };
    for (seed, _) in session_seeds {
        if !kept_by_request(*seed) {
            eligible[*seed as usize] = false;
        }
    }
}
