//! Features: the numbers the segment classifiers and the purchase-intent
//! model read. One implementation, used on the device (from a [`Profile`]) and
//! by the trainer (from its historical data), so the two cannot drift apart.
//!
//! Each feature group has a struct with public fields (the trainer fills them
//! from its data), a fixed input order (`NAMES`) and one vectoriser
//! (`to_vector`), whose transform is part of the contract: the bundle's
//! classifiers were fitted on exactly those vectors, and the loader refuses a
//! bundle whose input names differ from `NAMES` (the names are in
//! [`crate::feature_names`], which the bundle reads without importing this
//! module).

use serde::{Deserialize, Serialize};

use crate::bundle::Model;
use crate::events::PageKind;
use crate::feature_names;
use crate::profile::{Profile, ProfileConfig};

const SECONDS_PER_DAY: f64 = 86_400.0;

/// Recency, frequency and monetary figures of a shopper at a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RfmFeatures {
    /// Days since the latest order; for a shopper who never ordered, days
    /// since first seen.
    pub recency_days: f64,
    /// Number of orders.
    pub frequency: f64,
    /// Total spend over all orders (sum of quantity × unit price).
    pub monetary: f64,
    /// Days since the first order; for a shopper who never ordered, days since
    /// first seen.
    pub tenure_days: f64,
    /// Whether the shopper ever ordered.
    pub has_purchased: bool,
}

impl RfmFeatures {
    /// The propensity model's inputs, in vector order.
    pub const NAMES: [&'static str; 4] = feature_names::PROPENSITY_INPUTS;

    /// The figures of `profile` at `now` (unix seconds).
    pub fn from_profile(profile: &Profile, now: i64) -> RfmFeatures {
        let days_since = |t: Option<i64>| {
            t.map_or(0.0, |t| {
                (now.saturating_sub(t) as f64 / SECONDS_PER_DAY).max(0.0)
            })
        };
        let has_purchased = profile.orders > 0 && profile.last_purchase_at.is_some();
        let (recency_from, tenure_from) = if has_purchased {
            (profile.last_purchase_at, profile.first_purchase_at)
        } else {
            (profile.first_seen_at, profile.first_seen_at)
        };
        RfmFeatures {
            recency_days: days_since(recency_from),
            frequency: profile.orders as f64,
            monetary: profile.spend,
            tenure_days: days_since(tenure_from),
            has_purchased,
        }
    }

    /// The model input: `ln(1 + max(0, x))` of each figure, in [`Self::NAMES`] order.
    pub fn to_vector(&self) -> [f32; 4] {
        [
            log1p(self.recency_days),
            log1p(self.frequency),
            log1p(self.monetary),
            log1p(self.tenure_days),
        ]
    }
}

/// The session figures the purchase-intent model reads. Each matches a
/// column of the UCI Online Shoppers Purchasing Intention data set that the
/// device can compute from its own events:
///
/// | field | UCI column | on the device |
/// | --- | --- | --- |
/// | `administrative` | Administrative | views of [`PageKind::Administrative`] pages this session |
/// | `administrative_duration` | Administrative_Duration | seconds on them, between consecutive page views |
/// | `informational` | Informational | views of [`PageKind::Informational`] pages |
/// | `informational_duration` | Informational_Duration | seconds on them |
/// | `product_related` | ProductRelated | views of [`PageKind::Product`] pages |
/// | `product_related_duration` | ProductRelated_Duration | seconds on them |
/// | `returning_visitor` | VisitorType = Returning_Visitor | an earlier session exists |
/// | `weekend` | Weekend | the session started on a Saturday or Sunday (UTC) |
///
/// As in the data set, the time on the latest page is not counted until the
/// next page view (analytics cannot see it either). BounceRates, ExitRates and
/// PageValues are averages over all visitors of a page, which one device cannot
/// know; SpecialDay, Month, OperatingSystems, Browser, Region and TrafficType
/// are left out as well, so the trainer must fit the model without them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionFeatures {
    /// Administrative page views.
    pub administrative: f64,
    /// Seconds on administrative pages.
    pub administrative_duration: f64,
    /// Informational page views.
    pub informational: f64,
    /// Seconds on informational pages.
    pub informational_duration: f64,
    /// Product page views.
    pub product_related: f64,
    /// Seconds on product pages.
    pub product_related_duration: f64,
    /// Whether the shopper had an earlier session.
    pub returning_visitor: bool,
    /// Whether the session started at a weekend.
    pub weekend: bool,
}

impl SessionFeatures {
    /// The purchase-intent model's inputs, in vector order.
    pub const NAMES: [&'static str; 8] = feature_names::PURCHASE_INTENT_INPUTS;

    /// The current session's figures from a profile.
    pub fn from_profile(profile: &Profile) -> SessionFeatures {
        let session = &profile.session;
        let admin = PageKind::Administrative.index();
        let info = PageKind::Informational.index();
        let product = PageKind::Product.index();
        SessionFeatures {
            administrative: session.pages[admin] as f64,
            administrative_duration: session.durations[admin],
            informational: session.pages[info] as f64,
            informational_duration: session.durations[info],
            product_related: session.pages[product] as f64,
            product_related_duration: session.durations[product],
            returning_visitor: profile.sessions > 1,
            weekend: profile.sessions > 0 && is_weekend(session.started_at),
        }
    }

    /// The model input in [`Self::NAMES`] order: `ln(1 + max(0, x))` of the
    /// counts and durations (the data set's −1 durations become 0), and 0 or 1
    /// for the flags.
    pub fn to_vector(&self) -> [f32; 8] {
        [
            log1p(self.administrative),
            log1p(self.administrative_duration),
            log1p(self.informational),
            log1p(self.informational_duration),
            log1p(self.product_related),
            log1p(self.product_related_duration),
            self.returning_visitor as u8 as f32,
            self.weekend as u8 as f32,
        ]
    }
}

/// Device-only session figures that the UCI data cannot provide, for rules and
/// the rescue decision rather than the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionContext {
    /// Cart value (sum of quantity × unit price).
    pub cart_value: f64,
    /// Number of cart lines.
    pub cart_lines: usize,
    /// Seconds since the latest event.
    pub idle_secs: i64,
    /// Earlier sessions that ended with a full cart and no purchase (exits).
    pub abandoned_carts: u32,
}

impl SessionContext {
    /// The figures of `profile` at `now`.
    pub fn from_profile(profile: &Profile, now: i64) -> SessionContext {
        SessionContext {
            cart_value: profile.cart_value(),
            cart_lines: profile.cart.len(),
            idle_secs: profile
                .latest_at
                .map_or(0, |t| now.saturating_sub(t).max(0)),
            abandoned_carts: profile.abandoned_carts,
        }
    }
}

/// The shopper's typical price: the decayed, weighted geometric mean of
/// `1 + price` over priced interactions, minus one. `None` before any priced
/// interaction.
pub fn price_affinity(profile: &Profile) -> Option<f64> {
    if profile.price_weight <= 1e-12 {
        return None;
    }
    Some((profile.price_log_sum / profile.price_weight).exp() - 1.0)
}

/// Category affinities at `now`: the decayed interaction weight per category of
/// the items the bundle knows, normalised to sum to one, largest first (ties
/// by name). Items the bundle does not know are skipped.
pub fn category_affinity(
    model: &Model,
    profile: &Profile,
    config: &ProfileConfig,
    now: i64,
) -> Vec<(String, f64)> {
    let mut per_category = vec![0.0f64; model.categories.len()];
    for (signal, weight) in profile.weights_at(now, config) {
        if let Some(row) = model.item_row(&signal.id) {
            if let Some(slot) = per_category.get_mut(model.item_category[row as usize] as usize) {
                *slot += weight;
            }
        }
    }
    let total: f64 = per_category.iter().sum();
    if total <= 0.0 {
        return Vec::new();
    }
    let mut affinities: Vec<(String, f64)> = per_category
        .iter()
        .enumerate()
        .filter(|(_, w)| **w > 0.0)
        .map(|(i, w)| (model.categories[i].clone(), w / total))
        .collect();
    crate::order::sort_by(&mut affinities, |a, b| {
        b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0))
    });
    affinities
}

fn log1p(x: f64) -> f32 {
    if x.is_finite() {
        x.max(0.0).ln_1p() as f32
    } else {
        0.0
    }
}

/// Whether a unix time falls on a Saturday or Sunday (UTC). Day 0 (1970-01-01)
/// was a Thursday.
fn is_weekend(unix_secs: i64) -> bool {
    let day = unix_secs.div_euclid(86_400);
    let weekday = (day + 3).rem_euclid(7); // 0 = Monday
    weekday >= 5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekend_follows_the_calendar() {
        // 2024-06-01 was a Saturday, 2024-06-03 a Monday, 1970-01-04 a Sunday.
        let check = |t: i64, want: bool| assert_eq!(is_weekend(t), want, "{t}");
        check(1_717_200_000, true);
        check(1_717_372_800, false);
        check(3 * 86_400, true);
        check(0, false);
    }

    #[test]
    fn vectors_follow_the_documented_transform() {
        let session = SessionFeatures {
            administrative: 3.0,
            administrative_duration: -1.0,
            product_related: f64::NAN,
            returning_visitor: true,
            ..SessionFeatures::default()
        };
        let v = session.to_vector();
        assert_eq!(v[0], (4.0f64).ln() as f32);
        assert_eq!(v[1], 0.0);
        assert_eq!(v[4], 0.0);
        assert_eq!(v[6], 1.0);
        assert_eq!(v[7], 0.0);
        assert_eq!(v.len(), SessionFeatures::NAMES.len());
    }
}
