//! Campaign reports: whether a device was in a campaign's audience, in which
//! variant (variant 0 is the holdout, not shown the campaign), in which
//! lifecycle segment, and whether it responded — one cell of a k-ary
//! randomised-response metric over `variants × segments × 2`.

use serde::{Deserialize, Serialize};

use super::{Mechanism, MetricSpec};
use crate::Error;

/// The kind of campaign, as the dashboard groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignKind {
    /// Sent to everyone.
    Mass,
    /// Sent to a chosen segment.
    Targeted,
    /// Answers the shopper's own action (a quiz, a chat).
    Interactive,
    /// Fired by an event, such as a cart about to be abandoned.
    Triggered,
}

/// One campaign a shop runs, and the ε each of its reports spends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    /// A short stable id, `[a-z0-9-]{1,40}`.
    pub id: String,
    /// The kind of campaign.
    pub kind: CampaignKind,
    /// The number of variants, at least 2; variant 0 is the holdout.
    pub variants: u32,
    /// The privacy loss of one report.
    pub epsilon: f64,
}

impl CampaignSpec {
    /// The name of the campaign's metric, `campaign.<id>`.
    pub fn metric_name(&self) -> String {
        format!("campaign.{}", self.id)
    }

    /// The campaign's metric: randomised response over every
    /// `(variant, segment, responded)` cell.
    pub fn metric(&self, n_segments: u32) -> MetricSpec {
        MetricSpec {
            name: self.metric_name(),
            mechanism: Mechanism::Grr {
                domain: self.variants.saturating_mul(n_segments).saturating_mul(2),
            },
            epsilon: self.epsilon,
        }
    }

    /// Checks the spec once, when it is configured.
    pub fn validate(&self) -> Result<(), Error> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 40
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(Error::InvalidParameter {
                name: "campaign.id",
                reason: "must be 1 to 40 characters of [a-z0-9-]",
            });
        }
        if !(2..=16).contains(&self.variants) {
            return Err(Error::InvalidParameter {
                name: "campaign.variants",
                reason: "must be between 2 and 16 (variant 0 is the holdout)",
            });
        }
        self.metric(2).validate()
    }
}

/// The true cell of one device's campaign report.
pub fn encode(
    spec: &CampaignSpec,
    n_segments: u32,
    variant: u32,
    segment: u32,
    responded: bool,
) -> Result<u32, Error> {
    if variant >= spec.variants || segment >= n_segments {
        return Err(Error::InvalidParameter {
            name: "campaign cell",
            reason: "the variant or segment is outside the campaign's domain",
        });
    }
    Ok((variant * n_segments + segment) * 2 + u32::from(responded))
}
