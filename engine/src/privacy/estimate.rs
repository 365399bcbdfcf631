//! Unbiased estimates of how many devices hold each value, with 95% intervals.
//!
//! The intervals use the largest variance any true count could have (see
//! [`super::grr`] and [`super::hadamard`] for the variances), so they are
//! conservative: they cover the true count at least 95% of the time, up to the
//! normal approximation, whatever the distribution of true values.

use serde::{Deserialize, Serialize};

use super::{grr, hadamard, Mechanism, Tally};
use crate::Error;

/// The two-sided 95% normal quantile.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// The estimated number of devices holding one value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The value (segment index, item index, outcome cell…).
    pub value: u32,
    /// The unbiased estimate of the number of reports whose true value is `value`.
    /// It may be negative or above the number of reports: clamping would bias it.
    pub count: f64,
    /// The standard error used for the interval (an upper bound).
    pub std_error: f64,
    /// The lower end of the 95% interval.
    pub low: f64,
    /// The upper end of the 95% interval.
    pub high: f64,
}

impl Estimate {
    fn new(value: u32, count: f64, std_error: f64) -> Self {
        Estimate {
            value,
            count,
            std_error,
            low: count - Z_95 * std_error,
            high: count + Z_95 * std_error,
        }
    }
}

/// Estimates the count of every value of a metric from its tally.
///
/// Errors when the tally does not fit the mechanism (wrong number of cells, or
/// counts that do not add up to the number of reports).
pub fn estimate(mechanism: Mechanism, epsilon: f64, tally: &Tally) -> Result<Vec<Estimate>, Error> {
    let n_cells = mechanism.n_cells() as usize;
    if tally.counts.len() != n_cells {
        return Err(Error::DimensionMismatch {
            what: "tally cells",
            expected: n_cells,
            found: tally.counts.len(),
        });
    }
    let total: u64 = tally.counts.iter().sum();
    if total != tally.n_reports {
        return Err(Error::InvalidParameter {
            name: "tally",
            reason: "the cell counts do not add up to the number of reports",
        });
    }
    let n = tally.n_reports as f64;
    Ok(match mechanism {
        Mechanism::Prio3 { .. } | Mechanism::Prio3Sum { .. } => {
            return Err(Error::InvalidParameter {
                name: "mechanism",
                reason:
                    "a secret-shared metric is estimated from its release (aggregation::release)",
            })
        }
        Mechanism::Grr { domain } => {
            let (p, q) = grr::probabilities(domain, epsilon);
            let gap = p - q;
            let max_cell_variance = (p * (1.0 - p)).max(q * (1.0 - q));
            let std_error = (n * max_cell_variance).sqrt() / gap;
            tally
                .counts
                .iter()
                .enumerate()
                .map(|(value, &count)| {
                    Estimate::new(value as u32, (count as f64 - n * q) / gap, std_error)
                })
                .collect()
        }
        Mechanism::Hadamard { domain } => {
            let gap = 2.0 * hadamard::keep_probability(epsilon) - 1.0;
            let mut signed: Vec<f64> = tally
                .counts
                .chunks_exact(2)
                .map(|pair| pair[0] as f64 - pair[1] as f64)
                .collect();
            hadamard::walsh_hadamard_transform(&mut signed);
            let std_error = n.sqrt() / gap;
            (0..domain)
                .map(|value| Estimate::new(value, signed[value as usize + 1] / gap, std_error))
                .collect()
        }
    })
}
