//! Cart-abandonment risk and the rescue decision.
//!
//! The bundle's purchase-intent model (trained on the UCI Online Shoppers
//! sessions) gives the probability p that the current session ends in a
//! purchase, from [`SessionFeatures`]. For a shopper with a non-empty cart the
//! abandonment risk is 1 − p. The shop's [`crate::bundle::RescuePolicy`] then picks the action
//! for the shopper's lifecycle segment, and a seed the caller supplies
//! (for example one drawn once per cart and stored with it) assigns the
//! shopper to the treatment or to the holdout, deterministically, so the
//! effect of the offer can be measured against the holdout later.
//!
//! When the shop runs the rescue as a campaign ([`RESCUE_CAMPAIGN`]), an
//! eligible shopper (offer or holdout) joins that campaign's audience
//! ([`RescueDecision::audience`]) and the campaign's variant decides instead
//! ([`RescueDecision::in_campaign`]): the one rule the snippet and the
//! simulator both apply.

use serde::Serialize;

use crate::bundle::{Model, RescueAction};
use crate::features::{SessionContext, SessionFeatures};
use crate::profile::Profile;

/// The risk and the decision for one shopper.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RescueDecision {
    /// The abandonment risk 1 − P(purchase), in [0, 1]; 0 with an empty cart.
    pub risk: f64,
    /// The threshold that applied.
    pub threshold: f64,
    /// What to do.
    pub outcome: RescueOutcome,
    /// The campaign whose audience an eligible shopper joins, if the shop
    /// runs it ([`RESCUE_CAMPAIGN`]); absent when nothing is to be decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<&'static str>,
    /// The campaign and variant that decided the outcome, once assigned
    /// ([`RescueDecision::in_campaign`]).
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub assignment: Option<CampaignAssignment>,
}

/// The campaign id the rescue offer is measured under.
pub const RESCUE_CAMPAIGN: &str = "rescue-cart";

/// The rescue campaign's variant that decided an outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignAssignment {
    /// The campaign's id.
    pub campaign: &'static str,
    /// The shopper's variant: 0 is the holdout.
    pub variant: u32,
}

impl RescueDecision {
    fn new(risk: f64, threshold: f64, outcome: RescueOutcome) -> RescueDecision {
        let eligible = matches!(
            outcome,
            RescueOutcome::Offer { .. } | RescueOutcome::Holdout { .. }
        );
        RescueDecision {
            risk,
            threshold,
            outcome,
            audience: eligible.then_some(RESCUE_CAMPAIGN),
            assignment: None,
        }
    }

    /// The decision once the rescue campaign assigned the shopper `variant`:
    /// variant 0 is the holdout, any other the offer. A shopper outside the
    /// audience (nothing to rescue) keeps the decision unchanged.
    pub fn in_campaign(self, variant: u32) -> RescueDecision {
        let action = match self.outcome {
            RescueOutcome::Offer { action } | RescueOutcome::Holdout { action } => action,
            _ => return self,
        };
        let outcome = if variant > 0 {
            RescueOutcome::Offer { action }
        } else {
            RescueOutcome::Holdout { action }
        };
        RescueDecision {
            outcome,
            assignment: Some(CampaignAssignment {
                campaign: RESCUE_CAMPAIGN,
                variant,
            }),
            ..self
        }
    }
}

/// What the rescue decision is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RescueOutcome {
    /// The cart is empty: nothing to rescue.
    EmptyCart,
    /// The risk is below the threshold.
    BelowThreshold,
    /// The policy has no action (or "nothing") for this segment.
    NoAction,
    /// Offer this action.
    Offer {
        /// The action.
        action: RescueAction,
    },
    /// Eligible, but held out: show nothing and record `action` as the one
    /// withheld.
    Holdout {
        /// The action that would have been offered.
        action: RescueAction,
    },
}

/// The abandonment risk of the current session: 1 − P(purchase) by the
/// bundle's purchase-intent model.
pub fn risk(model: &Model, features: &SessionFeatures) -> f64 {
    1.0 - model.purchase_intent().probability(&features.to_vector())
}

/// Decides the rescue for `profile`, whose lifecycle segment is
/// `lifecycle_segment`, with the caller's `seed`.
pub fn decide(
    model: &Model,
    profile: &Profile,
    lifecycle_segment: &str,
    seed: u64,
) -> RescueDecision {
    let policy = &model.manifest().rescue;
    let context = SessionContext::from_profile(profile, profile.latest_at.unwrap_or(0));
    let rule = policy
        .actions
        .iter()
        .find(|r| r.segment == lifecycle_segment || r.segment == "*");
    let threshold = rule.and_then(|r| r.threshold).unwrap_or(policy.threshold);
    if context.cart_lines == 0 {
        return RescueDecision::new(0.0, threshold, RescueOutcome::EmptyCart);
    }
    let risk = risk(model, &SessionFeatures::from_profile(profile));
    let outcome = if risk < threshold {
        RescueOutcome::BelowThreshold
    } else {
        match rule.map(|r| &r.action) {
            None | Some(RescueAction::Nothing) => RescueOutcome::NoAction,
            Some(action) => {
                if unit_interval(seed) < policy.holdout_share {
                    RescueOutcome::Holdout {
                        action: action.clone(),
                    }
                } else {
                    RescueOutcome::Offer {
                        action: action.clone(),
                    }
                }
            }
        }
    };
    RescueDecision::new(risk, threshold, outcome)
}

/// Maps a seed to [0, 1) through SplitMix64's finaliser, so that nearby seeds
/// (0, 1, 2, ...) still land uniformly.
pub fn unit_interval(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_spread_evenly_over_the_unit_interval() {
        let n = 100_000u64;
        let below = (0..n).filter(|s| unit_interval(*s) < 0.1).count() as f64;
        // Binomial(100000, 0.1): sd ≈ 95, so ±600 is over six sd.
        assert!((below - 10_000.0).abs() < 600.0, "{below}");
        assert!((0..n).all(|s| (0.0..1.0).contains(&unit_interval(s))));
        assert_eq!(unit_interval(42), unit_interval(42));
    }
}
