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
//!
//! A day's visit metrics (`privacy::visit`) are read the same way: a
//! conversion or click-through histogram is a one-variant campaign
//! ([`decode_rates`]); a revenue sum vector `[Σx, Σx²/cap]` gives the mean per
//! device with an interval from the sample variance it carries and the noise
//! scaled to the cap ([`decode_revenue`]).

use serde::{Deserialize, Serialize};

use super::task::Task;
use crate::privacy::campaign::{CampaignOutcome, CampaignSpec, Interval, Outcome, VariantOutcome};
use crate::privacy::estimate::{Estimate, Z_95};
use crate::Error;

/// The sensitivity of a one-hot histogram under replacement of one report.
pub const HISTOGRAM_SENSITIVITY: f64 = 2.0;

/// The variance of one cell's discrete-Laplace noise at `epsilon` for a
/// histogram (sensitivity 2).
pub fn noise_variance(epsilon: f64) -> f64 {
    noise_variance_at(HISTOGRAM_SENSITIVITY, epsilon)
}

/// The variance of one cell's discrete-Laplace noise of scale
/// `sensitivity / epsilon`: `2a / (1 − a)²` with `a = e^{−ε/sensitivity}`
/// (`expm1`, so a scale of 10⁵ units loses no digits).
pub fn noise_variance_at(sensitivity: f64, epsilon: f64) -> f64 {
    let x = epsilon / sensitivity;
    let one_minus_a = -libm::expm1(-x);
    2.0 * (1.0 - one_minus_a) / (one_minus_a * one_minus_a)
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

    /// One day's release of `task`, its noise scaled to the task's
    /// sensitivity.
    pub fn of_task(task: &Task, n_reports: u64, counts: Vec<i64>) -> Released {
        Released {
            n_reports,
            counts,
            noise_variance: noise_variance_at(task.sensitivity(), task.epsilon),
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

/// A binary outcome per lifecycle segment (cells `segment · 2 + outcome`,
/// as `privacy::visit` encodes conversion and click-through): the rate with
/// its interval pooled over the segments, then per segment. The rate's
/// denominator is the devices that reported; its numerator, those with the
/// outcome.
pub fn decode_rates(n_segments: u32, release: &Released) -> Result<Vec<Outcome>, Error> {
    let expected = (n_segments * 2) as usize;
    if n_segments == 0 || release.counts.len() != expected {
        return Err(Error::DimensionMismatch {
            what: "rate release cells (segments × 2)",
            expected,
            found: release.counts.len(),
        });
    }
    let all: Vec<u32> = (0..n_segments).collect();
    Ok(std::iter::once(outcome(release, n_segments, 0, &all, None))
        .chain(
            all.iter()
                .map(|&segment| outcome(release, n_segments, 0, &[segment], Some(segment))),
        )
        .collect())
}

/// Money per device, from a released `[Σx, Σx²/cap]` in units of
/// `cap / (2^bits − 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RevenueOutcome {
    /// Reports in the batch (exact).
    pub n_reports: u64,
    /// The cap every device's value was clipped at, in the shop's currency.
    pub cap: f64,
    /// The total over the devices that reported (noise-only interval: it is
    /// what they measured, as counts are).
    pub total: Interval,
    /// The mean per reporting device, an estimate of the mean per device-day
    /// of the population: its interval carries the sampling (the sample
    /// variance the release carries, kept within what a value in `[0, cap]`
    /// allows) and the noise.
    pub per_device: Interval,
}

/// Reads a released revenue sum vector (see [`RevenueOutcome`]). Errors on a
/// release of another shape, a cap that is not positive or bits out of range.
pub fn decode_revenue(release: &Released, bits: u32, cap: f64) -> Result<RevenueOutcome, Error> {
    if release.counts.len() != 2 {
        return Err(Error::DimensionMismatch {
            what: "revenue release sums ([Σx, Σx²/cap])",
            expected: 2,
            found: release.counts.len(),
        });
    }
    if !super::task::is_valid_sum(bits, cap) {
        return Err(Error::InvalidParameter {
            name: "revenue cap",
            reason: "must be positive and at most 10^12, with 1 to 32 bits",
        });
    }
    let unit = cap / ((1u64 << bits) - 1) as f64;
    let noise_sd = release.noise_variance.sqrt() * unit;
    let sum = release.counts[0] as f64 * unit;
    let total = count_interval(sum, 1.0, release.noise_variance * unit * unit);
    let n = release.n_reports as f64;
    let per_device = if release.n_reports == 0 {
        Interval {
            estimate: 0.0,
            std_error: f64::INFINITY,
            low: 0.0,
            high: cap,
        }
    } else {
        let mean = (sum / n).clamp(0.0, cap);
        // Σx² = cap · Σ(x²/cap); the sample variance, at most what a value
        // in [0, cap] with this mean can have (Bhatia–Davis), at least 0.
        let squares = release.counts[1] as f64 * unit * cap;
        let bessel = if n > 1.0 { n / (n - 1.0) } else { 1.0 };
        let variance = ((squares / n - mean * mean) * bessel).clamp(0.0, mean * (cap - mean));
        let std_error = (variance / n + (noise_sd / n).powi(2)).sqrt();
        Interval {
            estimate: mean,
            std_error,
            low: (mean - Z_95 * std_error).max(0.0),
            high: (mean + Z_95 * std_error).min(cap),
        }
    };
    Ok(RevenueOutcome {
        n_reports: release.n_reports,
        cap,
        total,
        per_device,
    })
}

#[cfg(test)]
mod tests;
