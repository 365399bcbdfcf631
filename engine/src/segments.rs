//! Segments: which marketing groups a shopper falls in, from the bundle's
//! definitions (never one shop's constants), each with a short
//! machine-readable reason.

use serde::{Deserialize, Serialize};

use crate::bundle::{LifecycleMap, Model, PriceTiers};
use crate::features::{price_affinity, RfmFeatures};
use crate::json::fixed_text;
use crate::profile::{Profile, ProfileConfig};

/// One segment assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// The segment's name, from the bundle.
    pub name: String,
    /// Why: `key=value` pairs separated by `;` (for example
    /// `"rule=0;r=4;f=3;m=2"`).
    pub reason: String,
}

/// The purchase propensity: the probability of an order, by the bundle's model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Propensity {
    /// The probability, in [0, 1].
    pub probability: f64,
    /// Whether it reaches the bundle's threshold.
    pub likely: bool,
}

/// All segments of one shopper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segments {
    /// Lifecycle (RFM) segment.
    pub lifecycle: Segment,
    /// Purchase propensity.
    pub propensity: Propensity,
    /// Price tier, once the shopper has chosen priced items.
    pub price_tier: Option<Segment>,
    /// Taste cluster, once the shopper interacted with items the bundle knows.
    pub taste_cluster: Option<Segment>,
    /// Loyalty tier, if the shopper meets the lowest tier's minimums.
    pub loyalty_tier: Option<Segment>,
    /// The RFM figures the lifecycle and propensity used.
    pub rfm: RfmFeatures,
}

/// Classifies a shopper at `now` (unix seconds).
pub fn classify(model: &Model, profile: &Profile, config: &ProfileConfig, now: i64) -> Segments {
    let definitions = &model.manifest().segments;
    let rfm = RfmFeatures::from_profile(profile, now);
    let probability = model.propensity().probability(&rfm.to_vector());
    Segments {
        lifecycle: lifecycle(&definitions.lifecycle, &rfm),
        propensity: Propensity {
            probability,
            likely: probability >= definitions.propensity_threshold,
        },
        price_tier: price_tier(&definitions.price_tiers, profile),
        taste_cluster: taste_cluster(model, profile, config, now),
        loyalty_tier: loyalty_tier(model, profile),
        rfm,
    }
}

/// Scores a value against ascending cuts: 1 + the number of cuts it reaches.
fn score_up(value: f64, cuts: &[f64]) -> u8 {
    1 + cuts.iter().filter(|c| value >= **c).count().min(254) as u8
}

/// Recency scores higher for fewer days: 1 + the number of cuts not exceeded.
fn score_recency(days: f64, cuts: &[f64]) -> u8 {
    1 + cuts.iter().filter(|c| days <= **c).count().min(254) as u8
}

/// The lifecycle (RFM) segment of these figures under `map`: what
/// [`classify`] reports, and what the privacy reports count.
pub fn lifecycle(map: &LifecycleMap, rfm: &RfmFeatures) -> Segment {
    if !rfm.has_purchased {
        return Segment {
            name: map.no_purchase_segment.clone(),
            reason: "no_purchase".into(),
        };
    }
    let r = score_recency(rfm.recency_days, &map.recency_cuts_days);
    let f = score_up(rfm.frequency, &map.frequency_cuts);
    let m = score_up(rfm.monetary, &map.monetary_cuts);
    let within = |range: [u8; 2], score: u8| range[0] <= score && score <= range[1];
    for (position, rule) in map.rules.iter().enumerate() {
        if within(rule.r, r) && within(rule.f, f) && within(rule.m, m) {
            return Segment {
                name: rule.segment.clone(),
                reason: format!("rule={position};r={r};f={f};m={m}"),
            };
        }
    }
    Segment {
        name: map.fallback_segment.clone(),
        reason: format!("no_rule;r={r};f={f};m={m}"),
    }
}

/// The price tier of the prices the shopper chose, once they chose priced
/// items: what [`classify`] reports, and what the privacy reports count.
pub fn price_tier(tiers: &PriceTiers, profile: &Profile) -> Option<Segment> {
    let price = price_affinity(profile)?;
    let position = tiers.cuts.iter().filter(|c| price >= **c).count();
    let name = tiers.labels.get(position)?.clone();
    Some(Segment {
        name,
        reason: format!("typical_price={};tier={position}", fixed_text(price, 2)),
    })
}

/// The nearest taste centroid (by cosine) to the weighted mean of the factors
/// of the items the shopper interacted with.
fn taste_cluster(
    model: &Model,
    profile: &Profile,
    config: &ProfileConfig,
    now: i64,
) -> Option<Segment> {
    let labels = &model.manifest().segments.taste_clusters;
    if labels.is_empty() {
        return None;
    }
    let dim = model.dim();
    let mut mean = vec![0.0f32; dim];
    let mut total = 0.0f64;
    for (signal, weight) in profile.weights_at(now, config) {
        if signal.disliked || weight <= 0.0 {
            continue;
        }
        let Some(factors) = model
            .item_row(&signal.id)
            .and_then(|row| model.item_factors(row))
        else {
            continue;
        };
        for (m, y) in mean.iter_mut().zip(factors) {
            *m += (weight as f32) * y;
        }
        total += weight;
    }
    if total <= 0.0 {
        return None;
    }
    let mut best: Option<(usize, f32)> = None;
    for (position, cosine) in model.taste_cosines(&mean)?.into_iter().enumerate() {
        // Strictly greater: ties keep the lower cluster index.
        if best.is_none_or(|(_, b)| cosine > b) {
            best = Some((position, cosine));
        }
    }
    let (position, cosine) = best?;
    Some(Segment {
        name: labels.get(position)?.clone(),
        reason: format!("cluster={position};cosine={}", fixed_text(cosine.into(), 3)),
    })
}

fn loyalty_tier(model: &Model, profile: &Profile) -> Option<Segment> {
    let tiers = &model.manifest().segments.loyalty_tiers;
    // The highest qualifying tier in the bundle's order wins.
    let (position, tier) = tiers
        .iter()
        .enumerate()
        .rev()
        .find(|(_, t)| profile.orders >= t.min_orders && profile.spend >= t.min_spend)?;
    Some(Segment {
        name: tier.name.clone(),
        reason: format!(
            "tier={position};orders={};spend={}",
            profile.orders,
            fixed_text(profile.spend, 2)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfm_scores_follow_the_cuts() {
        let cuts = [30.0, 90.0, 180.0];
        let check = |days: f64, want: u8| assert_eq!(score_recency(days, &cuts), want, "{days}");
        check(0.0, 4);
        check(30.0, 4);
        check(31.0, 3);
        check(100.0, 2);
        check(400.0, 1);
        let cuts = [2.0, 5.0];
        let check = |value: f64, want: u8| assert_eq!(score_up(value, &cuts), want, "{value}");
        check(1.0, 1);
        check(2.0, 2);
        check(5.0, 3);
        check(f64::NAN, 1);
    }
}
