//! The report envelope: what a device sends, and how the edge checks it.
//!
//! An envelope carries only randomised cells: `{"v":1,"day":20415,"nonce":"…",
//! "reports":[{"metric":"segment.lifecycle","cell":3}]}`. No identifier, no time
//! finer than a day, no item id in clear. The nonce is fresh randomness per
//! envelope (it lets the edge drop a replayed envelope and links nothing). On the
//! wire every envelope is padded with JSON whitespace to exactly
//! [`ENVELOPE_BYTES`], so its size says nothing about its content.

use rand_core::{CryptoRng, Rng};
use serde::{Deserialize, Serialize};

use super::budget::EpsilonBudget;
use super::{grr, hadamard, Mechanism, MetricSpec};
use crate::Error;

/// The envelope schema version this engine writes and accepts.
pub const SCHEMA_VERSION: u32 = 1;

/// The most reports one envelope may carry.
pub const MAX_REPORTS: usize = 16;

/// The exact size of an envelope on the wire, in bytes.
pub const ENVELOPE_BYTES: usize = 1024;

/// One envelope of reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The schema version ([`SCHEMA_VERSION`]).
    pub v: u32,
    /// The day the values were observed (days since 1970-01-01).
    pub day: u32,
    /// 32 lowercase hex digits: the day in 8 ([`nonce_prefix`]), then fresh
    /// randomness.
    pub nonce: String,
    /// The randomised reports, at most one per metric.
    pub reports: Vec<Report>,
}

/// One randomised report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// The metric's name.
    pub metric: String,
    /// The randomised cell (see the metric's mechanism).
    pub cell: u32,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidReport {
        field,
        reason: reason.into(),
    }
}

impl Envelope {
    /// The envelope as JSON padded with spaces to exactly [`ENVELOPE_BYTES`].
    pub fn to_padded_json(&self) -> Result<String, Error> {
        // Numbers and strings always serialize; serde_json's error text would
        // bring its messages into the browser's module for nothing.
        let mut json = serde_json::to_string(self)
            .map_err(|_| invalid("envelope", "could not be written as JSON"))?;
        if json.len() > ENVELOPE_BYTES {
            return Err(invalid(
                "envelope",
                format!("{} bytes is over {ENVELOPE_BYTES}", json.len()),
            ));
        }
        json.extend(std::iter::repeat_n(' ', ENVELOPE_BYTES - json.len()));
        Ok(json)
    }

    /// Parses an envelope from the wire. Refuses anything but exactly
    /// [`ENVELOPE_BYTES`] of JSON with the schema's fields.
    pub fn parse(bytes: &[u8]) -> Result<Envelope, Error> {
        if bytes.len() != ENVELOPE_BYTES {
            return Err(invalid(
                "envelope",
                format!(
                    "must be exactly {ENVELOPE_BYTES} bytes, found {}",
                    bytes.len()
                ),
            ));
        }
        // The reason names the kind of mistake and where, never the text
        // sent (an answer must not echo what a client submitted).
        let envelope: Envelope = serde_json::from_slice(bytes).map_err(|e| {
            let kind = match e.classify() {
                serde_json::error::Category::Data => {
                    "does not follow the schema (a wrong type, an unknown or a missing field)"
                }
                _ => "is not JSON",
            };
            invalid(
                "envelope",
                format!("{kind} at line {} column {}", e.line(), e.column()),
            )
        })?;
        if envelope.v != SCHEMA_VERSION {
            return Err(invalid(
                "v",
                format!("schema version {} is not {SCHEMA_VERSION}", envelope.v),
            ));
        }
        Ok(envelope)
    }

    /// Checks an envelope against the shop's metrics at the edge: the day is
    /// `today` or the day before, the nonce is well formed, every metric is
    /// known and reported at most once, every cell is in range, and the
    /// envelope spends at most `max_epsilon`.
    pub fn validate(
        &self,
        metrics: &[MetricSpec],
        today: u32,
        max_epsilon: f64,
    ) -> Result<(), Error> {
        if self.day > today || self.day + 1 < today {
            return Err(invalid(
                "day",
                format!("must be today ({today}) or yesterday"),
            ));
        }
        if self.nonce.len() != 32
            || !self
                .nonce
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(invalid("nonce", "must be 32 lowercase hex digits"));
        }
        if !self.nonce.starts_with(&nonce_prefix(self.day)) {
            return Err(invalid(
                "nonce",
                "must begin with the envelope's day in 8 hex digits",
            ));
        }
        if self.reports.is_empty() || self.reports.len() > MAX_REPORTS {
            return Err(invalid(
                "reports",
                format!("must hold 1 to {MAX_REPORTS} reports"),
            ));
        }
        let mut epsilon_total = 0.0;
        for (index, report) in self.reports.iter().enumerate() {
            let spec = metrics
                .iter()
                .find(|spec| spec.name == report.metric)
                .ok_or_else(|| invalid("reports.metric", "a metric the shop does not collect"))?;
            if self.reports[..index]
                .iter()
                .any(|earlier| earlier.metric == report.metric)
            {
                return Err(invalid(
                    "reports.metric",
                    format!("metric '{}' reported twice", spec.name),
                ));
            }
            if report.cell >= spec.mechanism.n_cells() {
                return Err(invalid(
                    "reports.cell",
                    format!(
                        "cell {} of '{}' is not below {}",
                        report.cell,
                        spec.name,
                        spec.mechanism.n_cells()
                    ),
                ));
            }
            epsilon_total += spec.epsilon;
        }
        if epsilon_total > max_epsilon + 1e-9 {
            return Err(invalid(
                "reports",
                format!("the envelope spends ε = {epsilon_total}, over the limit {max_epsilon}"),
            ));
        }
        Ok(())
    }
}

fn truncate(text: &str) -> &str {
    let end = text.char_indices().nth(64).map_or(text.len(), |(i, _)| i);
    // `get`, not indexing: `end` is a character boundary, and indexing would
    // link core's slicing panic and its Debug formatting into the wasm.
    text.get(..end).unwrap_or(text)
}

/// Randomises one true value of a metric into a report, on the device.
pub fn randomise<R: Rng + CryptoRng>(
    spec: &MetricSpec,
    value: u32,
    rng: &mut R,
) -> Result<Report, Error> {
    let domain = spec.mechanism.domain();
    if value >= domain {
        return Err(Error::DimensionMismatch {
            what: "metric value (must be below the metric's domain)",
            expected: domain as usize,
            found: value as usize,
        });
    }
    let cell = match spec.mechanism {
        Mechanism::Grr { domain } => grr::randomise(value, domain, spec.epsilon, rng),
        Mechanism::Hadamard { domain } => hadamard::randomise(value, domain, spec.epsilon, rng),
        Mechanism::Prio3 { .. } | Mechanism::Prio3Sum { .. } => {
            return Err(invalid(
                "reports.metric",
                format!(
                    "'{}' is secret-shared, not randomised",
                    truncate(&spec.name)
                ),
            ))
        }
    };
    Ok(Report {
        metric: spec.name.clone(),
        cell,
    })
}

/// What building an envelope did: the envelope (when anything was reported)
/// and the metrics left out because the day's budget had run out.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The envelope to send, if any report fit in the budget.
    pub envelope: Option<Envelope>,
    /// Metrics not reported today for lack of budget.
    pub skipped: Vec<String>,
}

/// Builds the day's envelope on the device from true `(metric, value)` pairs,
/// spending each metric's ε from `budget` and skipping what does not fit.
/// Nothing is spent when an input is invalid.
pub fn build_envelope<R: Rng + CryptoRng>(
    metrics: &[MetricSpec],
    values: &[(&str, u32)],
    budget: &mut EpsilonBudget,
    day: u32,
    rng: &mut R,
) -> Result<Batch, Error> {
    if values.len() > MAX_REPORTS {
        return Err(invalid(
            "reports",
            format!("at most {MAX_REPORTS} values per envelope"),
        ));
    }
    let mut planned: Vec<(&MetricSpec, u32)> = Vec::with_capacity(values.len());
    for &(name, value) in values {
        let spec = metrics
            .iter()
            .find(|spec| spec.name == name)
            .ok_or_else(|| {
                invalid(
                    "reports.metric",
                    format!("unknown metric '{}'", truncate(name)),
                )
            })?;
        if planned.iter().any(|(earlier, _)| earlier.name == name) {
            return Err(invalid(
                "reports.metric",
                format!("metric '{name}' given twice"),
            ));
        }
        if value >= spec.mechanism.domain() {
            return Err(invalid(
                "reports.value",
                format!("value {value} of '{name}' is out of range"),
            ));
        }
        planned.push((spec, value));
    }
    let mut reports = Vec::new();
    let mut skipped = Vec::new();
    for (spec, value) in planned {
        if budget.try_spend(day, spec.epsilon).is_err() {
            skipped.push(spec.name.clone());
            continue;
        }
        reports.push(randomise(spec, value, rng)?);
    }
    let envelope = (!reports.is_empty()).then(|| Envelope {
        v: SCHEMA_VERSION,
        day,
        nonce: nonce(day, rng),
        reports,
    });
    Ok(Batch { envelope, skipped })
}

/// A fresh nonce for an envelope of `day`: the day in 8 hex digits, then 96
/// random bits. The day in the nonce binds it to one shop-day store, so the
/// same nonce re-dated to another day is refused instead of counted twice.
fn nonce<R: Rng + CryptoRng>(day: u32, rng: &mut R) -> String {
    let mut bytes = [0u8; 12];
    rng.fill_bytes(&mut bytes);
    let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    nonce_prefix(day) + &random
}

/// The first 8 hex digits of every nonce of `day`.
pub fn nonce_prefix(day: u32) -> String {
    format!("{day:08x}")
}
