//! Campaign reports: whether a device was in a campaign's audience, in which
//! variant (variant 0 is the holdout, not shown the campaign), in which
//! lifecycle segment, and whether it responded — one cell of a k-ary
//! randomised-response metric over `variants × segments × 2`.
//!
//! The device encodes its true cell with [`encode`] and randomises it like any
//! other [`MetricSpec`] (`privacy::report`). The edge counts cells in a
//! [`Tally`], and [`decode`] turns the tally into what a marketer asks: per
//! variant and segment, and per variant pooled over segments, how many devices
//! were exposed, how many responded, the response rate, and the uplift of each
//! variant against the holdout — each with a 95% interval. The estimators and
//! their variance are written up in `docs/privacy.md` ("Campaigns").

use serde::{Deserialize, Serialize};

use super::estimate::{estimate, Z_95};
use super::{grr, Mechanism, MetricSpec, Tally};
use crate::json::{self, deserialize_through, Fields, JsonError, Value};
use crate::Error;

/// The kind of campaign, as the dashboard groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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

deserialize_through!(CampaignSpec, CampaignSpec::read);

/// The JSON names of the campaign kinds, in the order of [`CampaignKind`].
const CAMPAIGN_KINDS: [&str; 4] = ["mass", "targeted", "interactive", "triggered"];

impl CampaignKind {
    /// Every kind, in the order of [`CAMPAIGN_KINDS`].
    const ALL: [CampaignKind; 4] = [
        CampaignKind::Mass,
        CampaignKind::Targeted,
        CampaignKind::Interactive,
        CampaignKind::Triggered,
    ];
}

/// The prefix of a campaign's metric name (`campaign.<id>`).
pub const METRIC_PREFIX: &str = "campaign.";

/// The campaign id of a campaign metric's name, if it is one.
pub fn id_of_metric(name: &str) -> Option<&str> {
    name.strip_prefix(METRIC_PREFIX).filter(|id| !id.is_empty())
}

impl CampaignSpec {
    /// Reads a campaign (`{"id", "kind", "variants", "epsilon"}`); it is not
    /// validated here.
    pub fn read(value: Value) -> Result<CampaignSpec, JsonError> {
        let mut fields = Fields::new(value)?;
        let spec = CampaignSpec {
            id: fields.string("id")?,
            kind: fields.take("kind", |value| {
                json::one_of(value, &CAMPAIGN_KINDS).map(|index| CampaignKind::ALL[index])
            })?,
            variants: fields.u32("variants")?,
            epsilon: fields.f64("epsilon")?,
        };
        fields.finish()?;
        Ok(spec)
    }

    /// The name of the campaign's metric, `campaign.<id>`.
    pub fn metric_name(&self) -> String {
        format!("{METRIC_PREFIX}{}", self.id)
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

/// An estimated quantity with its standard error and 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The estimate.
    pub estimate: f64,
    /// Its standard error (delta method, plug-in; see `docs/privacy.md`).
    pub std_error: f64,
    /// The lower end of the 95% interval.
    pub low: f64,
    /// The upper end of the 95% interval.
    pub high: f64,
}

impl Interval {
    fn new(estimate: f64, std_error: f64) -> Self {
        Interval {
            estimate,
            std_error,
            low: estimate - Z_95 * std_error,
            high: estimate + Z_95 * std_error,
        }
    }

    /// The estimate and both ends kept inside `[low, high]`, where the true
    /// value lies by its nature (a count in `[0, n]`, a rate in `[0, 1]`):
    /// the interval still holds the truth whenever it held it before, and a
    /// marketer never reads a negative count or a rate above 100%. The
    /// standard error stays the estimator's.
    fn within(self, low: f64, high: f64) -> Self {
        Interval {
            estimate: self.estimate.clamp(low, high),
            std_error: self.std_error,
            low: self.low.clamp(low, high),
            high: self.high.clamp(low, high),
        }
    }
}

/// What the reports say about one variant, in one segment or pooled.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The segment, or `None` for the pool of all segments.
    pub segment: Option<u32>,
    /// The number of devices exposed (for the holdout: eligible but not shown).
    pub exposed: Interval,
    /// The number of those that responded.
    pub responded: Interval,
    /// The response rate `responded / exposed`; `None` when the estimated
    /// exposure is not positive.
    pub rate: Option<Interval>,
    /// The rate minus the holdout's rate in the same segment (or pool);
    /// `None` for the holdout itself, or when either rate is missing.
    pub uplift: Option<Interval>,
    /// The probability that this variant's true rate beats the holdout's
    /// (normal approximation of the uplift's estimate); `None` with `uplift`.
    #[serde(default)]
    pub prob_beats_holdout: Option<f64>,
}

/// What the reports say about one variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantOutcome {
    /// The variant (0 is the holdout).
    pub variant: u32,
    /// All segments pooled.
    pub pooled: Outcome,
    /// One outcome per segment, in segment order.
    pub segments: Vec<Outcome>,
}

/// A campaign's decoded reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignOutcome {
    /// The number of reports counted.
    pub n_reports: u64,
    /// One entry per variant, holdout first.
    pub variants: Vec<VariantOutcome>,
}

/// The cell-level noise model of one tally: what [`linear_std_error`] needs.
struct Noise {
    n: f64,
    q: f64,
    gap: f64,
    /// Plug-in true counts (estimates clamped to `[0, n]`), for the variance only.
    plug_in: Vec<f64>,
}

impl Noise {
    /// The standard error of `Σ g_u n̂_u` for sparse weights `(cell, g_u)`.
    ///
    /// The counts' covariance under randomised response is
    /// `diag(n q + δ(1−δ) N) − n q² 11ᵀ − q δ (1Nᵀ + N1ᵀ)` (δ = p − q, N the
    /// true counts), divided by δ² for the estimates; `N` is the plug-in.
    fn linear_std_error(&self, weights: &[(usize, f64)]) -> f64 {
        let Noise { n, q, gap, .. } = *self;
        let mut squares = 0.0;
        let mut sum = 0.0;
        let mut against_counts = 0.0;
        for &(cell, g) in weights {
            let count = self.plug_in[cell];
            squares += g * g * (n * q + gap * (1.0 - gap) * count);
            sum += g;
            against_counts += g * count;
        }
        let variance = squares - n * q * q * sum * sum - 2.0 * q * gap * sum * against_counts;
        variance.max(0.0).sqrt() / gap
    }
}

/// The cells `(not responded, responded)` of `variant` in each of `segments`.
fn cells(n_segments: u32, variant: u32, segments: &[u32]) -> (Vec<usize>, Vec<usize>) {
    let base = |segment: u32| ((variant * n_segments + segment) * 2) as usize;
    (
        segments.iter().map(|&s| base(s)).collect(),
        segments.iter().map(|&s| base(s) + 1).collect(),
    )
}

/// A rate `B / (A + B)` and its gradient over the cells, at the estimates.
struct Ratio {
    rate: f64,
    gradient: Vec<(usize, f64)>,
}

fn outcome_parts(
    noise: &Noise,
    counts: &[f64],
    (silent, responded): &(Vec<usize>, Vec<usize>),
) -> (Interval, Interval, Option<Ratio>) {
    let a: f64 = silent.iter().map(|&c| counts[c]).sum();
    let b: f64 = responded.iter().map(|&c| counts[c]).sum();
    let all: Vec<(usize, f64)> = silent.iter().chain(responded).map(|&c| (c, 1.0)).collect();
    let only_responded: Vec<(usize, f64)> = responded.iter().map(|&c| (c, 1.0)).collect();
    let exposed = Interval::new(a + b, noise.linear_std_error(&all));
    let responded_interval = Interval::new(b, noise.linear_std_error(&only_responded));
    let ratio = (a + b > 0.0).then(|| {
        let e2 = (a + b) * (a + b);
        let gradient = silent
            .iter()
            .map(|&c| (c, -b / e2))
            .chain(responded.iter().map(|&c| (c, a / e2)))
            .collect();
        Ratio {
            rate: b / (a + b),
            gradient,
        }
    });
    (exposed, responded_interval, ratio)
}

fn outcome(
    noise: &Noise,
    counts: &[f64],
    segment: Option<u32>,
    own: &(Vec<usize>, Vec<usize>),
    holdout: Option<&(Vec<usize>, Vec<usize>)>,
) -> Outcome {
    let (exposed, responded, ratio) = outcome_parts(noise, counts, own);
    let rate = ratio
        .as_ref()
        .map(|r| Interval::new(r.rate, noise.linear_std_error(&r.gradient)));
    let uplift = holdout.and_then(|holdout_cells| {
        let (_, _, base) = outcome_parts(noise, counts, holdout_cells);
        let (own, base) = (ratio.as_ref()?, base?);
        let gradient: Vec<(usize, f64)> = own
            .gradient
            .iter()
            .copied()
            .chain(base.gradient.iter().map(|&(c, g)| (c, -g)))
            .collect();
        Some(Interval::new(
            own.rate - base.rate,
            noise.linear_std_error(&gradient),
        ))
    });
    let prob_beats_holdout = uplift.map(|u| {
        if u.std_error > 0.0 {
            crate::aggregation::release::normal_cdf(u.estimate / u.std_error)
        } else {
            0.5
        }
    });
    let n = noise.n;
    Outcome {
        segment,
        exposed: exposed.within(0.0, n),
        responded: responded.within(0.0, n),
        rate: rate.map(|r| r.within(0.0, 1.0)),
        uplift: uplift.map(|u| u.within(-1.0, 1.0)),
        prob_beats_holdout,
    }
}

/// Under local DP, how many reporting devices a variant's pooled response
/// rate needs to be known within `± half_width` (95%), with the audience split
/// evenly between variants: the noise of every one of the campaign's
/// `variants × segments × 2` cells adds up in each rate, so the answer grows
/// with the square of `1/half_width` and of the number of variants. What the
/// dashboard shows beside a local-DP campaign.
pub fn devices_for_half_width(spec: &CampaignSpec, n_segments: u32, half_width: f64) -> u64 {
    devices_for(spec.variants, n_segments, spec.epsilon, half_width)
}

/// Under local DP, how many reporting devices the pooled rate of a
/// [`decode_local_rates`] histogram (conversion, recommendation
/// click-through) needs to be known within `± half_width` (95%): a
/// campaign's answer for a single group.
pub fn devices_for_rate_half_width(n_segments: u32, epsilon: f64, half_width: f64) -> u64 {
    devices_for(1, n_segments, epsilon, half_width)
}

fn devices_for(variants: u32, n_segments: u32, epsilon: f64, half_width: f64) -> u64 {
    let domain = variants * n_segments.max(1) * 2;
    let (p, q) = grr::probabilities(domain, epsilon);
    let gap = p - q;
    let cell_variance = (p * (1.0 - p)).max(q * (1.0 - q));
    let per_device =
        Z_95 * f64::from(variants) * (2.0 * f64::from(n_segments.max(1)) * cell_variance).sqrt()
            / (gap * half_width);
    (per_device * per_device).ceil().min(u64::MAX as f64) as u64
}

/// The estimated cell counts of a randomised-response tally and their noise
/// model.
fn noise_of(domain: u32, epsilon: f64, tally: &Tally) -> Result<(Noise, Vec<f64>), Error> {
    let mechanism = Mechanism::Grr { domain };
    let estimates = estimate(mechanism, epsilon, tally)?;
    let counts: Vec<f64> = estimates.iter().map(|e| e.count).collect();
    let n = tally.n_reports as f64;
    let (p, q) = grr::probabilities(domain, epsilon);
    let noise = Noise {
        n,
        q,
        gap: p - q,
        plug_in: counts.iter().map(|c| c.clamp(0.0, n)).collect(),
    };
    Ok((noise, counts))
}

/// Decodes a randomised (local-DP) histogram of `segment · 2 + yes` cells
/// (how a shop with one aggregator collects conversion and recommendation
/// click-through) into the pooled rate, then one per segment, as a
/// campaign's variant is decoded by [`decode`]: `exposed` is the devices
/// that reported, `responded` those that bought (clicked), each with the
/// interval its randomisation gives.
///
/// Errors when `n_segments` is 0 or the tally does not have `n_segments × 2`
/// cells.
pub fn decode_local_rates(
    n_segments: u32,
    epsilon: f64,
    tally: &Tally,
) -> Result<Vec<Outcome>, Error> {
    if n_segments == 0 {
        return Err(Error::InvalidParameter {
            name: "n_segments",
            reason: "must be at least 1",
        });
    }
    let (noise, counts) = noise_of(n_segments * 2, epsilon, tally)?;
    let all_segments: Vec<u32> = (0..n_segments).collect();
    Ok(std::iter::once(outcome(
        &noise,
        &counts,
        None,
        &cells(n_segments, 0, &all_segments),
        None,
    ))
    .chain(all_segments.iter().map(|&segment| {
        outcome(
            &noise,
            &counts,
            Some(segment),
            &cells(n_segments, 0, &[segment]),
            None,
        )
    }))
    .collect())
}

/// Decodes a campaign's tally (of `spec.metric(n_segments)`) at the edge.
///
/// Errors when the tally does not fit the campaign's metric.
pub fn decode(
    spec: &CampaignSpec,
    n_segments: u32,
    tally: &Tally,
) -> Result<CampaignOutcome, Error> {
    spec.validate()?;
    if n_segments == 0 {
        return Err(Error::InvalidParameter {
            name: "n_segments",
            reason: "must be at least 1",
        });
    }
    let metric = spec.metric(n_segments);
    let Mechanism::Grr { domain } = metric.mechanism else {
        unreachable!("a campaign metric is randomised response");
    };
    let (noise, counts) = noise_of(domain, metric.epsilon, tally)?;
    let all_segments: Vec<u32> = (0..n_segments).collect();
    let holdout_pooled = cells(n_segments, 0, &all_segments);
    let variants = (0..spec.variants)
        .map(|variant| {
            let is_holdout = variant == 0;
            let pooled_cells = cells(n_segments, variant, &all_segments);
            let pooled = outcome(
                &noise,
                &counts,
                None,
                &pooled_cells,
                (!is_holdout).then_some(&holdout_pooled),
            );
            let segments = all_segments
                .iter()
                .map(|&segment| {
                    let holdout = cells(n_segments, 0, &[segment]);
                    outcome(
                        &noise,
                        &counts,
                        Some(segment),
                        &cells(n_segments, variant, &[segment]),
                        (!is_holdout).then_some(&holdout),
                    )
                })
                .collect();
            VariantOutcome {
                variant,
                pooled,
                segments,
            }
        })
        .collect();
    Ok(CampaignOutcome {
        n_reports: tally.n_reports,
        variants,
    })
}

#[cfg(test)]
mod tests {
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    fn spec(variants: u32, epsilon: f64) -> CampaignSpec {
        CampaignSpec {
            id: "rescue-cart".into(),
            kind: CampaignKind::Triggered,
            variants,
            epsilon,
        }
    }

    #[test]
    fn the_metric_is_named_after_the_campaign_and_covers_every_cell() {
        let campaign = spec(3, 1.0);
        assert_eq!(campaign.metric_name(), "campaign.rescue-cart");
        let metric = campaign.metric(6);
        assert_eq!(metric.mechanism, Mechanism::Grr { domain: 36 });
        assert_eq!(metric.epsilon, 1.0);
        metric.validate().unwrap();
        assert_eq!(encode(&campaign, 6, 0, 0, false).unwrap(), 0);
        assert_eq!(encode(&campaign, 6, 0, 0, true).unwrap(), 1);
        assert_eq!(encode(&campaign, 6, 1, 2, true).unwrap(), 17);
        assert_eq!(encode(&campaign, 6, 2, 5, true).unwrap(), 35);
    }

    #[test]
    fn bad_specs_and_cells_are_refused() {
        let mut bad = spec(2, 1.0);
        for id in ["", "Upper", "has space", "dot.ted", &"x".repeat(41)] {
            bad.id = id.into();
            assert!(bad.validate().is_err(), "id {id:?}");
        }
        for variants in [0, 1, 17] {
            assert!(spec(variants, 1.0).validate().is_err(), "{variants}");
        }
        for epsilon in [0.0, -1.0, f64::NAN, f64::INFINITY, 9.0] {
            assert!(spec(2, epsilon).validate().is_err(), "{epsilon}");
        }
        let campaign = spec(2, 1.0);
        assert!(encode(&campaign, 6, 2, 0, false).is_err());
        assert!(encode(&campaign, 6, 0, 6, false).is_err());
        assert!(encode(&campaign, 0, 0, 0, false).is_err());
        let json = r#"{"id":"a","kind":"mass","variants":2,"epsilon":1,"extra":1}"#;
        assert!(serde_json::from_str::<CampaignSpec>(json).is_err());
        let json = r#"{"id":"a","kind":"weekly","variants":2,"epsilon":1}"#;
        assert!(serde_json::from_str::<CampaignSpec>(json).is_err());
        let json = r#"{"id":"a","kind":"interactive","variants":2,"epsilon":1}"#;
        let parsed: CampaignSpec = serde_json::from_str(json).unwrap();
        assert_eq!(parsed.kind, CampaignKind::Interactive);
    }

    #[test]
    fn a_tally_that_does_not_fit_is_refused() {
        let campaign = spec(2, 1.0);
        let tally = Tally::new(Mechanism::Grr { domain: 12 });
        assert!(decode(&campaign, 6, &tally).is_err());
        assert!(decode(&campaign, 0, &tally).is_err());
        let mut uneven = Tally::new(campaign.metric(3).mechanism);
        uneven.counts[0] = 5;
        assert!(decode(&campaign, 3, &uneven).is_err());
    }

    #[test]
    fn an_empty_tally_has_no_rates() {
        let campaign = spec(2, 1.0);
        let tally = Tally::new(campaign.metric(3).mechanism);
        let outcome = decode(&campaign, 3, &tally).unwrap();
        assert_eq!(outcome.variants.len(), 2);
        assert!(outcome.variants[1].pooled.rate.is_none());
        assert!(outcome.variants[1].pooled.uplift.is_none());
        assert_eq!(outcome.variants[0].segments.len(), 3);
    }

    /// True rates per (variant, segment), and devices per (variant, segment).
    struct Truth {
        rates: Vec<Vec<f64>>,
        devices: Vec<Vec<u32>>,
    }

    fn collect(campaign: &CampaignSpec, truth: &Truth, rng: &mut ChaCha20Rng) -> Tally {
        let n_segments = truth.rates[0].len() as u32;
        let metric = campaign.metric(n_segments);
        let mut tally = Tally::new(metric.mechanism);
        for (variant, rates) in truth.rates.iter().enumerate() {
            for (segment, &rate) in rates.iter().enumerate() {
                let devices = truth.devices[variant][segment];
                let responders = (f64::from(devices) * rate).round() as u32;
                for device in 0..devices {
                    let cell = encode(
                        campaign,
                        n_segments,
                        variant as u32,
                        segment as u32,
                        device < responders,
                    )
                    .unwrap();
                    let report = super::super::report::randomise(&metric, cell, rng).unwrap();
                    tally.add(report.cell).unwrap();
                }
            }
        }
        tally
    }

    fn pooled_rate(truth: &Truth, variant: usize) -> f64 {
        let devices: f64 = truth.devices[variant].iter().map(|&d| f64::from(d)).sum();
        let responders: f64 = truth.devices[variant]
            .iter()
            .zip(&truth.rates[variant])
            .map(|(&d, &r)| (f64::from(d) * r).round())
            .sum();
        responders / devices
    }

    #[test]
    fn rate_and_uplift_intervals_cover_the_truth_and_match_the_spread() {
        // Two variants over three segments, with the variant better in every
        // segment; ε = 2, 12,000 devices, 30 seeded collections.
        let campaign = spec(2, 2.0);
        let truth = Truth {
            rates: vec![vec![0.10, 0.25, 0.40], vec![0.20, 0.30, 0.55]],
            devices: vec![vec![3000, 2000, 1000], vec![2500, 2000, 1500]],
        };
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let rounds = 30;
        let (mut checked, mut covered) = (0, 0);
        let mut pooled_rates = Vec::new();
        let mut stated = Vec::new();
        for _ in 0..rounds {
            let tally = collect(&campaign, &truth, &mut rng);
            let outcome = decode(&campaign, 3, &tally).unwrap();
            for (variant, decoded) in outcome.variants.iter().enumerate() {
                for (segment, cell) in decoded.segments.iter().enumerate() {
                    let rate = cell.rate.unwrap();
                    let true_rate = truth.rates[variant][segment];
                    checked += 1;
                    covered += usize::from(rate.low <= true_rate && true_rate <= rate.high);
                    if variant == 1 {
                        let uplift = cell.uplift.unwrap();
                        let true_uplift = true_rate - truth.rates[0][segment];
                        checked += 1;
                        covered +=
                            usize::from(uplift.low <= true_uplift && true_uplift <= uplift.high);
                    }
                }
                let pooled = decoded.pooled.rate.unwrap();
                let true_rate = pooled_rate(&truth, variant);
                checked += 1;
                covered += usize::from(pooled.low <= true_rate && true_rate <= pooled.high);
            }
            let pooled = outcome.variants[1].pooled.rate.unwrap();
            pooled_rates.push(pooled.estimate);
            stated.push(pooled.std_error);
        }
        let coverage = covered as f64 / checked as f64;
        assert!(coverage >= 0.92, "coverage {coverage} over {checked}");
        // The stated standard error matches the spread of repeated estimates.
        let mean = pooled_rates.iter().sum::<f64>() / rounds as f64;
        let spread = (pooled_rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>()
            / (rounds - 1) as f64)
            .sqrt();
        let stated = stated.iter().sum::<f64>() / rounds as f64;
        assert!(
            (0.7..1.4).contains(&(spread / stated)),
            "spread {spread} vs stated {stated}"
        );
        assert!((mean - pooled_rate(&truth, 1)).abs() < 3.0 * stated / (rounds as f64).sqrt());
    }

    #[test]
    fn local_rates_cover_the_truth_and_the_stated_devices_give_the_stated_width() {
        // A one-aggregator shop's conversion: cells `segment · 2 + bought`,
        // randomised as a campaign of one group is; three segments, ε = 3 so
        // that ±5 points needs few enough devices for a test (2,542).
        let epsilon = 3.0;
        let group = spec(1, epsilon);
        let half_width = 0.05;
        let n = devices_for_rate_half_width(3, epsilon, half_width);
        assert_eq!(n, 2_542);
        assert_eq!(
            n,
            devices_for(1, 3, epsilon, half_width),
            "a rate is a campaign of one group"
        );
        let per_segment = (n / 3) as u32 + 1;
        let truth = Truth {
            rates: vec![vec![0.10, 0.25, 0.40]],
            devices: vec![vec![per_segment; 3]],
        };
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let (mut checked, mut covered) = (0, 0);
        for _ in 0..20 {
            let tally = collect(&group, &truth, &mut rng);
            let rates = decode_local_rates(3, epsilon, &tally).unwrap();
            assert_eq!(rates.len(), 4, "the pooled rate, then one per segment");
            assert_eq!(rates[0].segment, None);
            assert_eq!(rates[2].segment, Some(1));
            let pooled = rates[0].rate.unwrap();
            assert!(
                pooled.high - pooled.estimate <= half_width * 1.02,
                "the devices the dashboard names give ±{half_width}: {pooled:?} at {n}"
            );
            checked += 1;
            covered += usize::from(pooled.low <= 0.25 && 0.25 <= pooled.high);
            for (segment, cell) in rates[1..].iter().enumerate() {
                let rate = cell.rate.unwrap();
                let true_rate = truth.rates[0][segment];
                checked += 1;
                covered += usize::from(rate.low <= true_rate && true_rate <= rate.high);
            }
        }
        assert!(
            covered as f64 >= 0.9 * checked as f64,
            "{covered} of {checked}"
        );
        // At a shop's scale and the demo shop's ε = 0.25 the noise is far
        // larger than the rates: they and the counts still read in range.
        let noisy = Truth {
            rates: vec![vec![0.02, 0.05, 0.30]],
            devices: vec![vec![400, 300, 200]],
        };
        for seed in 0..20 {
            let tally = collect(
                &spec(1, 0.25),
                &noisy,
                &mut ChaCha20Rng::seed_from_u64(seed),
            );
            for cell in decode_local_rates(3, 0.25, &tally).unwrap() {
                // No rate when a segment's estimated size is not positive.
                if let Some(rate) = cell.rate {
                    assert!(0.0 <= rate.low && rate.low <= rate.estimate, "{rate:?}");
                    assert!(rate.estimate <= rate.high && rate.high <= 1.0, "{rate:?}");
                }
                for count in [cell.exposed, cell.responded] {
                    assert!(0.0 <= count.low && count.high <= 900.0, "{count:?}");
                }
            }
        }
        // Bad input: no segments, or a tally of another size.
        let tally = Tally::new(Mechanism::Grr { domain: 6 });
        assert!(decode_local_rates(0, epsilon, &tally).is_err());
        assert!(decode_local_rates(4, epsilon, &tally).is_err());
    }

    #[test]
    fn with_little_noise_the_decoded_counts_are_the_true_ones() {
        // ε = 8 over 8 cells: almost every report is its true cell.
        let campaign = spec(2, 8.0);
        let truth = Truth {
            rates: vec![vec![0.2, 0.5], vec![0.4, 0.1]],
            devices: vec![vec![1000, 500], vec![800, 2000]],
        };
        let tally = collect(&campaign, &truth, &mut ChaCha20Rng::seed_from_u64(1));
        let outcome = decode(&campaign, 2, &tally).unwrap();
        let cell = &outcome.variants[1].segments[1];
        assert!((cell.exposed.estimate - 2000.0).abs() < 20.0);
        assert!((cell.responded.estimate - 200.0).abs() < 20.0);
        assert!((cell.rate.unwrap().estimate - 0.1).abs() < 0.01);
        assert!((cell.uplift.unwrap().estimate - (0.1 - 0.5)).abs() < 0.02);
        let pooled = &outcome.variants[0].pooled;
        assert!((pooled.rate.unwrap().estimate - 450.0 / 1500.0).abs() < 0.01);
        assert!(outcome.variants[0].pooled.uplift.is_none());
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        /// `encode` maps every (variant, segment, responded) to a distinct
        /// cell of the metric's domain.
        #[test]
        fn encoding_is_a_bijection_onto_the_domain(variants in 2u32..6, n_segments in 1u32..8) {
            let campaign = spec(variants, 1.0);
            let domain = campaign.metric(n_segments).mechanism.domain();
            let mut seen = vec![false; domain as usize];
            for variant in 0..variants {
                for segment in 0..n_segments {
                    for responded in [false, true] {
                        let cell = encode(&campaign, n_segments, variant, segment, responded).unwrap();
                        proptest::prop_assert!(cell < domain);
                        proptest::prop_assert!(!seen[cell as usize]);
                        seen[cell as usize] = true;
                    }
                }
            }
            proptest::prop_assert!(seen.iter().all(|&s| s));
        }

        /// Any consistent tally decodes to finite figures with ordered intervals.
        #[test]
        fn any_tally_decodes_to_finite_intervals(
            counts in proptest::collection::vec(0u64..5000, 12),
            epsilon in 0.1f64..6.0,
        ) {
            let campaign = spec(2, epsilon);
            let tally = Tally { n_reports: counts.iter().sum(), counts };
            let outcome = decode(&campaign, 3, &tally).unwrap();
            for variant in &outcome.variants {
                for cell in variant.segments.iter().chain([&variant.pooled]) {
                    for interval in [Some(cell.exposed), Some(cell.responded), cell.rate, cell.uplift]
                        .into_iter()
                        .flatten()
                    {
                        proptest::prop_assert!(interval.estimate.is_finite());
                        proptest::prop_assert!(interval.std_error >= 0.0);
                        proptest::prop_assert!(interval.low <= interval.estimate && interval.estimate <= interval.high);
                    }
                }
            }
        }
    }
}
