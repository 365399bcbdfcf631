//! Decoding the `review.sentiment` metric at the edge: how each lifecycle
//! segment and each category feels, and which segment is markedly unhappier
//! than the rest.
//!
//! A review report's true cell is `(category · n_segments + segment) · 3 +
//! class` (class 0 negative, 1 neutral, 2 positive; see
//! [`super::registry::review_cell`]). The metric's unbiased per-cell estimates
//! ([`super::estimate::estimate`]) are summed into groups: a group's review
//! count `T = A + B` (A negative, B neutral or positive) and its negative share
//! `R = A / T`. Hadamard estimates of different cells are nearly uncorrelated
//! (the rows are orthogonal; the multinomial covariance left is of order
//! `n·f_v·f_w`), so a sum's variance is taken as the sum of the cells' variance
//! bounds, and `Var(R) ≈ (B²·Var(A) + A²·Var(B)) / T⁴` (delta method). Shares
//! are not clamped: clamping would bias them.
//!
//! A segment is **flagged** when the lower end of its share's 95% interval is
//! above the upper end of the share of every other review pooled; the
//! categories that drive it are its categories with the most estimated
//! negative reviews.

use serde::{Deserialize, Serialize};

use super::estimate::{estimate, Z_95};
use super::{Mechanism, Tally};
use crate::Error;

/// The classes of a review report.
const CLASSES: usize = super::registry::SENTIMENT_CLASSES as usize;

/// How many driving categories a flag names.
const MAX_DRIVERS: usize = 3;

/// The sentiment of one group of reviews (a segment, a category, or all).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroupSentiment {
    /// The segment or category index (0 for the overall group).
    pub index: u32,
    /// The estimated number of reviews.
    pub reviews: f64,
    /// The estimated number of negative reviews.
    pub negative: f64,
    /// The negative share, `negative / reviews` (NaN when no review is estimated).
    pub negative_share: f64,
    /// The lower end of the share's 95% interval.
    pub low: f64,
    /// The upper end of the share's 95% interval.
    pub high: f64,
}

/// A segment whose reviews are markedly more negative than everyone else's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlaggedSegment {
    /// The segment's index.
    pub segment: u32,
    /// Its negative share with its interval.
    pub sentiment: GroupSentiment,
    /// Every other review, pooled.
    pub others: GroupSentiment,
    /// The categories with the most estimated negative reviews in the segment.
    pub drivers: Vec<u32>,
}

/// Everything the dashboard shows about review sentiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentimentOutcome {
    /// All reviews.
    pub overall: GroupSentiment,
    /// Per lifecycle segment.
    pub segments: Vec<GroupSentiment>,
    /// Per category.
    pub categories: Vec<GroupSentiment>,
    /// Segments markedly worse than the rest.
    pub flagged: Vec<FlaggedSegment>,
}

/// Sums of negative and non-negative estimates with their variances.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    negative: f64,
    other: f64,
    negative_variance: f64,
    other_variance: f64,
}

impl Sums {
    fn add(&mut self, class: usize, count: f64, variance: f64) {
        if class == 0 {
            self.negative += count;
            self.negative_variance += variance;
        } else {
            self.other += count;
            self.other_variance += variance;
        }
    }

    fn minus(self, part: Sums) -> Sums {
        Sums {
            negative: self.negative - part.negative,
            other: self.other - part.other,
            negative_variance: self.negative_variance - part.negative_variance,
            other_variance: self.other_variance - part.other_variance,
        }
    }

    fn sentiment(self, index: u32) -> GroupSentiment {
        let total = self.negative + self.other;
        let share = self.negative / total;
        let variance = (self.other.powi(2) * self.negative_variance
            + self.negative.powi(2) * self.other_variance)
            / total.powi(4);
        let half_width = Z_95 * variance.max(0.0).sqrt();
        GroupSentiment {
            index,
            reviews: total,
            negative: self.negative,
            negative_share: share,
            low: share - half_width,
            high: share + half_width,
        }
    }
}

/// Decodes a `review.sentiment` tally over `n_categories × n_segments × 3`.
pub fn decode(
    mechanism: Mechanism,
    epsilon: f64,
    n_categories: u32,
    n_segments: u32,
    tally: &Tally,
) -> Result<SentimentOutcome, Error> {
    let (n_categories, n_segments) = (n_categories as usize, n_segments as usize);
    if mechanism.domain() as usize != n_categories * n_segments * CLASSES {
        return Err(Error::DimensionMismatch {
            what: "review sentiment domain (categories × segments × 3)",
            expected: n_categories * n_segments * CLASSES,
            found: mechanism.domain() as usize,
        });
    }
    let mut overall = Sums::default();
    let mut segments = vec![Sums::default(); n_segments];
    let mut categories = vec![Sums::default(); n_categories];
    let mut cells = vec![Sums::default(); n_categories * n_segments];
    for e in estimate(mechanism, epsilon, tally)? {
        let value = e.value as usize;
        let (group, class) = (value / CLASSES, value % CLASSES);
        let (category, segment) = (group / n_segments, group % n_segments);
        let variance = e.std_error.powi(2);
        overall.add(class, e.count, variance);
        segments[segment].add(class, e.count, variance);
        categories[category].add(class, e.count, variance);
        cells[group].add(class, e.count, variance);
    }
    let flagged = segments
        .iter()
        .enumerate()
        .filter_map(|(segment, sums)| {
            let sentiment = sums.sentiment(segment as u32);
            let others = overall.minus(*sums).sentiment(0);
            // NaN shares (no review estimated) never flag.
            let markedly_worse = sentiment.low > others.high;
            if !markedly_worse {
                return None;
            }
            let mut drivers: Vec<(u32, f64)> = (0..n_categories)
                .map(|category| {
                    let negative = cells[category * n_segments + segment].negative;
                    (category as u32, negative)
                })
                .filter(|(_, negative)| *negative > 0.0)
                .collect();
            crate::order::sort_by(&mut drivers, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            drivers.truncate(MAX_DRIVERS);
            Some(FlaggedSegment {
                segment: segment as u32,
                sentiment,
                others,
                drivers: drivers.into_iter().map(|(category, _)| category).collect(),
            })
        })
        .collect();
    Ok(SentimentOutcome {
        overall: overall.sentiment(0),
        segments: segments
            .iter()
            .enumerate()
            .map(|(index, sums)| sums.sentiment(index as u32))
            .collect(),
        categories: categories
            .iter()
            .enumerate()
            .map(|(index, sums)| sums.sentiment(index as u32))
            .collect(),
        flagged,
    })
}

#[cfg(test)]
mod tests {
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::privacy::{report, MetricSpec};

    const CATEGORIES: u32 = 4;
    const SEGMENTS: u32 = 3;

    fn spec() -> MetricSpec {
        MetricSpec {
            name: "review.sentiment".into(),
            mechanism: Mechanism::Hadamard {
                domain: CATEGORIES * SEGMENTS * 3,
            },
            epsilon: 1.0,
        }
    }

    /// Devices whose reviews are negative with `p_negative(category, segment)`.
    fn collect(n: usize, seed: u64, p_negative: impl Fn(u32, u32) -> f64) -> Tally {
        let spec = spec();
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut tally = Tally::new(spec.mechanism);
        for device in 0..n as u32 {
            let category = device % CATEGORIES;
            let segment = (device / CATEGORIES) % SEGMENTS;
            // A fixed pattern, not a random one: the truth is known exactly.
            let negative = f64::from(device % 100) < p_negative(category, segment) * 100.0;
            let class = if negative { 0 } else { 2 };
            let cell = (category * SEGMENTS + segment) * 3 + class;
            let report = report::randomise(&spec, cell, &mut rng).unwrap();
            tally.add(report.cell).unwrap();
        }
        tally
    }

    #[test]
    fn an_unhappy_segment_is_flagged_with_the_category_that_drives_it() {
        // Segment 2 is unhappy with category 1 only.
        let tally = collect(200_000, 1, |category, segment| {
            if segment == 2 && category == 1 {
                0.9
            } else {
                0.1
            }
        });
        let spec = spec();
        let outcome = decode(spec.mechanism, spec.epsilon, CATEGORIES, SEGMENTS, &tally).unwrap();
        assert_eq!(outcome.flagged.len(), 1, "{outcome:#?}");
        let flag = &outcome.flagged[0];
        assert_eq!(flag.segment, 2);
        assert_eq!(flag.drivers[0], 1);
        assert!(flag.sentiment.negative_share > flag.others.negative_share);
        // The overall review count is the number of devices, up to the noise of
        // 36 summed Hadamard estimates (one standard error is ~3% here).
        assert!(
            (outcome.overall.reviews - 200_000.0).abs() < 24_000.0,
            "{:?}",
            outcome.overall
        );
    }

    #[test]
    fn no_flag_when_every_segment_feels_alike() {
        let tally = collect(200_000, 2, |_, _| 0.2);
        let spec = spec();
        let outcome = decode(spec.mechanism, spec.epsilon, CATEGORIES, SEGMENTS, &tally).unwrap();
        assert!(outcome.flagged.is_empty(), "{:?}", outcome.flagged);
        for segment in &outcome.segments {
            assert!(segment.low <= 0.2 && 0.2 <= segment.high, "{segment:?}");
        }
    }

    #[test]
    fn a_tally_of_another_shape_is_refused() {
        let spec = spec();
        let tally = Tally::new(spec.mechanism);
        let error = decode(spec.mechanism, 1.0, CATEGORIES + 1, SEGMENTS, &tally).unwrap_err();
        assert_eq!(error.code(), "dimension_mismatch");
    }
}
