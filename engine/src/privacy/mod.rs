//! Local differential privacy: what a device may tell the shop, and how the edge
//! turns many such reports into unbiased estimates.
//!
//! Every signal that leaves a device is randomised on the device first, by one
//! of two mechanisms, each ε-locally-differentially-private for one report:
//!
//! - [`grr`] — generalised (k-ary) randomised response, for small domains such
//!   as a segment or a campaign outcome cell;
//! - [`hadamard`] — Hadamard response, for large domains such as "which item of
//!   the catalogue interests you": one report is a row index and one bit, and
//!   the edge keeps only two counters per Hadamard row.
//!
//! Both aggregate into plain counters (a [`Tally`]) so the edge never needs a raw
//! report after counting it, and both estimators are unbiased with a stated
//! variance; [`estimate`] gives estimates with 95% confidence intervals.
//! [`budget`] keeps each device inside its per-day ε budget, and [`report`]
//! defines the envelope that goes over the wire and its validation.
//!
//! Randomness is the caller's: every randomising function takes a generator
//! bounded by `CryptoRng`, so predictable noise cannot be passed in by accident.
//! Mechanisms, estimators and their proofs are written up in `docs/privacy.md`.

pub mod budget;
pub mod campaign;
pub mod device;
pub mod digest;
pub mod estimate;
pub mod grr;
pub mod hadamard;
pub mod registry;
pub mod report;
pub mod sentiment_report;
pub mod visit;

mod sample;

pub use estimate::Estimate;

use serde::{Deserialize, Serialize};

use crate::json::{self, Fields, JsonError, Value};

/// How a metric's values are randomised on the device.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mechanism {
    /// k-ary randomised response over `domain` values.
    Grr {
        /// The number of possible true values.
        domain: u32,
    },
    /// Hadamard response over `domain` values.
    Hadamard {
        /// The number of possible true values.
        domain: u32,
    },
    /// Not randomised on the device: a Prio3 histogram over `domain` values,
    /// secret-shared between two aggregators and released with central noise
    /// (`crate::aggregation`).
    Prio3 {
        /// The number of possible true values (the histogram's cells).
        domain: u32,
    },
    /// Not randomised on the device: a Prio3 vector of `domain` sums of
    /// money, each device's value clipped at `cap` (the shop's currency) and
    /// encoded in `bits` (units of `cap / (2^bits − 1)`), secret-shared and
    /// released with central noise scaled to the cap (`privacy::visit`).
    Prio3Sum {
        /// The number of sums.
        domain: u32,
        /// Bits per summand.
        bits: u32,
        /// The most one device's value counts for.
        cap: f64,
    },
}

impl Mechanism {
    /// The number of counters a [`Tally`] of this mechanism keeps: one per value
    /// for randomised response, two per Hadamard row for Hadamard response.
    pub fn n_cells(self) -> u32 {
        match self {
            Mechanism::Grr { domain } => domain,
            Mechanism::Hadamard { domain } => 2 * hadamard::order(domain),
            Mechanism::Prio3 { domain } | Mechanism::Prio3Sum { domain, .. } => domain,
        }
    }

    /// The number of possible true values.
    pub fn domain(self) -> u32 {
        match self {
            Mechanism::Grr { domain }
            | Mechanism::Hadamard { domain }
            | Mechanism::Prio3 { domain }
            | Mechanism::Prio3Sum { domain, .. } => domain,
        }
    }
}

json::deserialize_through!(MetricSpec, MetricSpec::read);

/// One metric a shop collects: its name, mechanism and the ε each report spends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSpec {
    /// A short stable name, `[a-z0-9_.:-]{1,64}`.
    pub name: String,
    /// How values are randomised.
    pub mechanism: Mechanism,
    /// The privacy loss of one report of this metric.
    pub epsilon: f64,
}

/// What a metric measures: its name resolved once ([`MetricKind::of`]), so
/// that the device, the edge, the simulator and the dashboard (which reads
/// the kind the edge publishes) never match metric names themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// The shopper's lifecycle segment (`segment.lifecycle`).
    LifecycleSegment,
    /// The shopper's price tier, or none yet (`segment.price_tier`).
    PriceTier,
    /// The catalogue item the shopper is most interested in (`item.interest`).
    ItemInterest,
    /// A review's category × segment × sentiment class (`review.sentiment`).
    ReviewSentiment,
    /// Whether the visit ended in an order, per segment (`visit.conversion`).
    Conversion,
    /// The day's revenue (`visit.revenue`).
    Revenue,
    /// Whether a shown recommendation was clicked, per segment (`rec.click_through`).
    RecommendationClickThrough,
    /// Revenue from items clicked in a Cove slot (`rec.revenue`).
    RecommendationRevenue,
    /// A campaign's exposure and response (`campaign.<id>`).
    Campaign,
}

impl MetricKind {
    /// The kind of a metric name; `None` for a name Cove does not define.
    pub fn of(name: &str) -> Option<MetricKind> {
        Some(match name {
            registry::SEGMENT_LIFECYCLE => MetricKind::LifecycleSegment,
            registry::SEGMENT_PRICE_TIER => MetricKind::PriceTier,
            registry::ITEM_INTEREST => MetricKind::ItemInterest,
            registry::REVIEW_SENTIMENT => MetricKind::ReviewSentiment,
            visit::CONVERSION => MetricKind::Conversion,
            visit::REVENUE => MetricKind::Revenue,
            visit::REC_CLICK_THROUGH => MetricKind::RecommendationClickThrough,
            visit::REC_REVENUE => MetricKind::RecommendationRevenue,
            _ if campaign::id_of_metric(name).is_some() => MetricKind::Campaign,
            _ => return None,
        })
    }

    /// Whether the metric counts shoppers by a segment (lifecycle or price tier).
    pub fn is_segment(self) -> bool {
        matches!(self, MetricKind::LifecycleSegment | MetricKind::PriceTier)
    }

    /// Whether the metric is one of the visit metrics (`privacy::visit`).
    pub fn is_visit(self) -> bool {
        matches!(
            self,
            MetricKind::Conversion
                | MetricKind::Revenue
                | MetricKind::RecommendationClickThrough
                | MetricKind::RecommendationRevenue
        )
    }

    /// Whether the metric is a sum of money (clipped at a cap).
    pub fn is_revenue(self) -> bool {
        matches!(
            self,
            MetricKind::Revenue | MetricKind::RecommendationRevenue
        )
    }
}

/// The largest domain a metric may have (the catalogue bound of a bundle).
pub const MAX_DOMAIN: u32 = 1 << 20;

/// The smallest and largest ε a single report may spend.
pub const EPSILON_RANGE: (f64, f64) = (0.01, 8.0);

impl Mechanism {
    /// Reads a mechanism (`{"kind": "grr" | "hadamard" | "prio3", "domain": …}`,
    /// or `{"kind": "prio3_sum", "domain": …, "bits": …, "cap": …}`).
    pub fn read(value: Value) -> Result<Mechanism, JsonError> {
        let mut fields = Fields::new(value)?;
        let kind = fields.take("kind", |value| {
            json::one_of(value, &["grr", "hadamard", "prio3", "prio3_sum"])
        })?;
        let domain = fields.u32("domain")?;
        let mechanism = match kind {
            0 => Mechanism::Grr { domain },
            1 => Mechanism::Hadamard { domain },
            2 => Mechanism::Prio3 { domain },
            _ => Mechanism::Prio3Sum {
                domain,
                bits: fields.u32("bits")?,
                cap: fields.f64("cap")?,
            },
        };
        fields.finish()?;
        Ok(mechanism)
    }

    /// Whether values are secret-shared rather than randomised on the device.
    pub fn is_secret_shared(self) -> bool {
        matches!(self, Mechanism::Prio3 { .. } | Mechanism::Prio3Sum { .. })
    }
}
json::deserialize_through!(Mechanism, Mechanism::read);

impl MetricSpec {
    /// What the metric measures (`None` for a name Cove does not define).
    pub fn kind(&self) -> Option<MetricKind> {
        MetricKind::of(&self.name)
    }

    /// Reads a metric (`{"name", "mechanism", "epsilon"}`); it is not
    /// validated here ([`MetricSpec::validate`] does that).
    pub fn read(value: Value) -> Result<MetricSpec, JsonError> {
        let mut fields = Fields::new(value)?;
        let spec = MetricSpec {
            name: fields.string("name")?,
            mechanism: fields.take("mechanism", Mechanism::read)?,
            epsilon: fields.f64("epsilon")?,
        };
        fields.finish()?;
        Ok(spec)
    }

    /// Checks the spec once, when it is configured: name, domain and ε.
    pub fn validate(&self) -> Result<(), crate::Error> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b));
        if !name_ok {
            return Err(crate::Error::InvalidParameter {
                name: "metric.name",
                reason: "must be 1 to 64 characters of [a-z0-9_.:-]",
            });
        }
        let domain = self.mechanism.domain();
        if self.mechanism.is_secret_shared()
            && domain > crate::aggregation::task::MAX_HISTOGRAM_LENGTH
        {
            return Err(crate::Error::InvalidParameter {
                name: "metric.domain",
                reason: "a secret-shared metric has at most 4,096 values",
            });
        }
        if let Mechanism::Prio3Sum { bits, cap, .. } = self.mechanism {
            if !crate::aggregation::task::is_valid_sum(bits, cap) || domain > 16 {
                return Err(crate::Error::InvalidParameter {
                    name: "metric.mechanism",
                    reason:
                        "a sum has 2 to 16 values of 1 to 32 bits and a cap above 0, at most 10^12",
                });
            }
        }
        if !(2..=MAX_DOMAIN).contains(&domain) {
            return Err(crate::Error::InvalidParameter {
                name: "metric.domain",
                reason: "must be between 2 and 2^20",
            });
        }
        if !(EPSILON_RANGE.0..=EPSILON_RANGE.1).contains(&self.epsilon) {
            return Err(crate::Error::InvalidParameter {
                name: "metric.epsilon",
                reason: "must be a number between 0.01 and 8",
            });
        }
        Ok(())
    }
}

/// The counters the edge keeps for one metric: the number of reports and one
/// count per cell. Adding reports is all the edge ever does with them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// The number of reports counted.
    pub n_reports: u64,
    /// One counter per cell; its length is the mechanism's `n_cells`.
    pub counts: Vec<u64>,
}

impl Tally {
    /// An empty tally for `mechanism`.
    pub fn new(mechanism: Mechanism) -> Self {
        Tally {
            n_reports: 0,
            counts: vec![0; mechanism.n_cells() as usize],
        }
    }

    /// Counts one report's cell. Errors (and counts nothing) when the cell is
    /// outside the tally.
    pub fn add(&mut self, cell: u32) -> Result<(), crate::Error> {
        let n_cells = self.counts.len();
        let slot = self
            .counts
            .get_mut(cell as usize)
            .ok_or(crate::Error::DimensionMismatch {
                what: "report cell (must be below the metric's number of cells)",
                expected: n_cells,
                found: cell as usize,
            })?;
        *slot += 1;
        self.n_reports += 1;
        Ok(())
    }
}
