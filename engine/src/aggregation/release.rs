//! From a released, noisy histogram to what a marketer reads: counts that are
//! never negative, rates inside [0, 1], and 95% intervals from the actual noise
//! and the sampling.
//!
//! A released cell is the true count plus one draw of the helper's discrete
//! Laplace noise of scale `t = 2/ε` (variance `2e^{-1/t}/(1−e^{-1/t})²`), the
//! draws independent across cells and days. Counts are reported as they are
//! measured (the devices that reported), so their intervals carry the noise
//! only. Rates are estimates of a response *probability*, so their intervals
//! carry the sampling as well: Wilson's score interval for a rate and
//! Newcombe's hybrid score interval for a difference of rates (both hold their 95% at a few
//! hundred devices and rates of a few percent, where the plain normal interval
//! does not), each widened by the noise's variance through the delta method.
//! Tested over 400 seeded campaigns in `tests` (coverage 93–97%).

use serde::{Deserialize, Serialize};

use crate::privacy::campaign::{CampaignOutcome, CampaignSpec, Interval, Outcome, VariantOutcome};
use crate::privacy::estimate::{Estimate, Z_95};
use crate::Error;

/// The sensitivity of a one-hot histogram under replacement of one report.
pub const HISTOGRAM_SENSITIVITY: f64 = 2.0;

/// The variance of one cell's discrete-Laplace noise at `epsilon`.
pub fn noise_variance(epsilon: f64) -> f64 {
    let scale = HISTOGRAM_SENSITIVITY / epsilon;
    let a = (-1.0 / scale).exp();
    2.0 * a / ((1.0 - a) * (1.0 - a))
}

/// A released histogram (one day, or the sum of several days' releases).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Released {
    /// Reports in the batch (exact: the aggregators count them).
    pub n_reports: u64,
    /// Each cell's true count plus noise.
    pub counts: Vec<i64>,
    /// The noise variance of each cell (a sum of days adds their variances).
    pub noise_variance: f64,
}

impl Released {
    /// One day's release of a task with `epsilon`.
    pub fn new(n_reports: u64, counts: Vec<i64>, epsilon: f64) -> Released {
        Released {
            n_reports,
            counts,
            noise_variance: noise_variance(epsilon),
        }
    }

    /// The sum of several releases of the same task (a date range).
    pub fn sum<'a>(releases: impl IntoIterator<Item = &'a Released>) -> Option<Released> {
        let mut releases = releases.into_iter();
        let mut total = releases.next()?.clone();
        for release in releases {
            if release.counts.len() != total.counts.len() {
                return None;
            }
            total.n_reports += release.n_reports;
            for (sum, count) in total.counts.iter_mut().zip(&release.counts) {
                *sum += count;
            }
            total.noise_variance += release.noise_variance;
        }
        Some(total)
    }

    fn cell(&self, index: usize) -> f64 {
        self.counts.get(index).map_or(0.0, |&c| c as f64)
    }
}

/// Each cell's count, clamped at zero, with its noise-only interval.
pub fn histogram_estimates(release: &Released) -> Vec<Estimate> {
    let std_error = release.noise_variance.sqrt();
    release
        .counts
        .iter()
        .enumerate()
        .map(|(value, &count)| {
            let count = count as f64;
            Estimate {
                value: value as u32,
                count: count.max(0.0),
                std_error,
                low: (count - Z_95 * std_error).max(0.0),
                high: (count + Z_95 * std_error).max(0.0),
            }
        })
        .collect()
}

/// The standard normal distribution function.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
}

/// Sums of cells: the devices that did not respond and those that did.
struct Arm {
    silent: f64,
    responded: f64,
    /// How many cells each sum adds (their noise variances add).
    cells: f64,
}

impl Arm {
    fn of(release: &Released, n_segments: u32, variant: u32, segments: &[u32]) -> Arm {
        let mut arm = Arm {
            silent: 0.0,
            responded: 0.0,
            cells: segments.len() as f64,
        };
        for &segment in segments {
            let base = ((variant * n_segments + segment) * 2) as usize;
            arm.silent += release.cell(base);
            arm.responded += release.cell(base + 1);
        }
        arm
    }

    fn exposed(&self) -> f64 {
        (self.silent + self.responded).max(0.0)
    }

    /// Responses clamped into `[0, exposed]`.
    fn responses(&self) -> f64 {
        self.responded.clamp(0.0, self.exposed())
    }

    /// The noise's variance of `responded − p · exposed`, over `exposed²`:
    /// what the noise adds to the variance of a rate near `p`.
    fn rate_noise_variance(&self, p: f64, variance: f64) -> f64 {
        let n = self.exposed().max(1.0);
        variance * self.cells * ((1.0 - p).powi(2) + p * p) / (n * n)
    }
}

/// Wilson's interval for `x` of `n`, widened by the noise's variance; clamped.
fn rate_interval(arm: &Arm, variance: f64) -> Option<Interval> {
    let n = arm.exposed();
    if n < 1.0 {
        return None;
    }
    let x = arm.responses();
    let p = x / n;
    let z2 = Z_95 * Z_95;
    let center = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let wilson_half = Z_95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let half = (wilson_half * wilson_half + z2 * arm.rate_noise_variance(p, variance)).sqrt();
    Some(Interval {
        estimate: p,
        std_error: half / Z_95,
        low: (center - half).max(0.0),
        high: (center + half).min(1.0),
    })
}

/// Newcombe's hybrid score interval for a variant's rate minus the
/// holdout's, built from the two (noise-widened) Wilson intervals; with the
/// probability that the variant's true rate is the higher one.
fn uplift_interval(own: &Arm, holdout: &Arm, variance: f64) -> Option<(Interval, f64)> {
    let (mine, base) = (
        rate_interval(own, variance)?,
        rate_interval(holdout, variance)?,
    );
    let estimate = mine.estimate - base.estimate;
    let below = ((mine.estimate - mine.low).powi(2) + (base.high - base.estimate).powi(2)).sqrt();
    let above = ((mine.high - mine.estimate).powi(2) + (base.estimate - base.low).powi(2)).sqrt();
    let std_error = (below + above) / (2.0 * Z_95);
    let interval = Interval {
        estimate,
        std_error,
        low: (estimate - below).max(-1.0),
        high: (estimate + above).min(1.0),
    };
    let beats = if std_error > 0.0 {
        normal_cdf(estimate / std_error)
    } else {
        0.5
    };
    Some((interval, beats))
}

fn count_interval(value: f64, cells: f64, variance: f64) -> Interval {
    let std_error = (cells * variance).sqrt();
    Interval {
        estimate: value.max(0.0),
        std_error,
        low: (value - Z_95 * std_error).max(0.0),
        high: (value + Z_95 * std_error).max(0.0),
    }
}

fn outcome(
    release: &Released,
    n_segments: u32,
    variant: u32,
    segments: &[u32],
    segment: Option<u32>,
) -> Outcome {
    let variance = release.noise_variance;
    let own = Arm::of(release, n_segments, variant, segments);
    let uplift = (variant > 0)
        .then(|| uplift_interval(&own, &Arm::of(release, n_segments, 0, segments), variance))
        .flatten();
    Outcome {
        segment,
        exposed: count_interval(own.silent + own.responded, 2.0 * own.cells, variance),
        responded: count_interval(own.responded, own.cells, variance),
        rate: rate_interval(&own, variance),
        uplift: uplift.map(|(interval, _)| interval),
        prob_beats_holdout: uplift.map(|(_, beats)| beats),
    }
}

/// A campaign's released histogram (of `spec.metric(n_segments)`'s cells) as
/// exposure, responses, rates and uplift per variant, pooled and per segment.
pub fn decode_campaign(
    spec: &CampaignSpec,
    n_segments: u32,
    release: &Released,
) -> Result<CampaignOutcome, Error> {
    spec.validate()?;
    let expected = (spec.variants * n_segments * 2) as usize;
    if n_segments == 0 || release.counts.len() != expected {
        return Err(Error::DimensionMismatch {
            what: "campaign release cells (variants × segments × 2)",
            expected,
            found: release.counts.len(),
        });
    }
    let all: Vec<u32> = (0..n_segments).collect();
    let variants = (0..spec.variants)
        .map(|variant| VariantOutcome {
            variant,
            pooled: outcome(release, n_segments, variant, &all, None),
            segments: all
                .iter()
                .map(|&segment| outcome(release, n_segments, variant, &[segment], Some(segment)))
                .collect(),
        })
        .collect();
    Ok(CampaignOutcome {
        n_reports: release.n_reports,
        variants,
    })
}

#[cfg(test)]
mod tests;
