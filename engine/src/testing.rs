//! Deterministic synthetic bundles and event streams for tests and benchmarks
//! (feature `test-fixtures`). The real default model comes from the trainer;
//! these exist so that every crate can test against a valid bundle without
//! files or network.

use crate::bundle::{
    BuiltBundle, BundleBuilder, ItemMeta, LifecycleMap, LifecycleRule, LogisticModel, LoyaltyTier,
    PriceTiers, RankingParams, RescueAction, RescuePolicy, RescueRule, SegmentDefinitions,
    TrainingSummary,
};
use crate::events::{Event, EventKind, PageKind, PurchaseLine};
use crate::features::{RfmFeatures, SessionFeatures};

/// A small seeded generator (xorshift64*), so fixtures need no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value, zero included).
    pub fn new(seed: u64) -> Rng {
        Rng((seed ^ 0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The shape of a synthetic bundle.
#[derive(Debug, Clone)]
pub struct SyntheticSpec {
    /// Items.
    pub n_items: usize,
    /// Factor dimension.
    pub dim: usize,
    /// Neighbours per item.
    pub n_neighbors: usize,
    /// Items per trending list.
    pub n_trending: usize,
    /// Distinct categories.
    pub n_categories: usize,
    /// The generator's seed.
    pub seed: u64,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            n_items: 200,
            dim: 8,
            n_neighbors: 5,
            n_trending: 10,
            n_categories: 6,
            seed: 7,
        }
    }
}

/// Segment definitions with three RFM scores per axis and a small map.
pub fn segment_definitions() -> SegmentDefinitions {
    let rule = |segment: &str, r: [u8; 2], f: [u8; 2], m: [u8; 2]| LifecycleRule {
        segment: segment.into(),
        r,
        f,
        m,
    };
    SegmentDefinitions {
        lifecycle: LifecycleMap {
            recency_cuts_days: vec![30.0, 120.0],
            frequency_cuts: vec![2.0, 5.0],
            monetary_cuts: vec![100.0, 1000.0],
            rules: vec![
                rule("champion", [3, 3], [3, 3], [2, 3]),
                rule("loyal", [2, 3], [2, 3], [1, 3]),
                rule("active", [3, 3], [1, 1], [1, 3]),
                rule("at_risk", [2, 2], [1, 1], [1, 3]),
                rule("lapsed", [1, 1], [1, 3], [1, 3]),
            ],
            no_purchase_segment: "new".into(),
            fallback_segment: "other".into(),
        },
        propensity_threshold: 0.5,
        price_tiers: PriceTiers {
            cuts: vec![10.0, 50.0],
            labels: vec!["budget".into(), "mid".into(), "premium".into()],
        },
        taste_clusters: vec!["a".into(), "b".into(), "c".into(), "d".into()],
        loyalty_tiers: vec![
            LoyaltyTier {
                name: "bronze".into(),
                min_orders: 1,
                min_spend: 0.0,
            },
            LoyaltyTier {
                name: "silver".into(),
                min_orders: 3,
                min_spend: 200.0,
            },
            LoyaltyTier {
                name: "gold".into(),
                min_orders: 10,
                min_spend: 1000.0,
            },
        ],
    }
}

/// A rescue policy: discounts for at-risk shoppers, reminders otherwise,
/// a 20 % holdout.
pub fn rescue_policy() -> RescuePolicy {
    RescuePolicy {
        threshold: 0.5,
        holdout_share: 0.2,
        actions: vec![
            RescueRule {
                segment: "at_risk".into(),
                action: RescueAction::Discount { percent: 10.0 },
                threshold: Some(0.4),
            },
            RescueRule {
                segment: "champion".into(),
                action: RescueAction::Nothing,
                threshold: None,
            },
            RescueRule {
                segment: "*".into(),
                action: RescueAction::Reminder,
                threshold: None,
            },
        ],
    }
}

/// Ranking parameters typical of implicit ALS.
pub fn ranking_params() -> RankingParams {
    RankingParams {
        lambda: 0.1,
        alpha: 10.0,
        weight_personal: 1.0,
        weight_neighbors: 0.5,
        weight_trending: 0.2,
        weight_repeat: 0.3,
        keep_purchased: None,
        profile_half_life_days: None,
        session: None,
    }
}

/// A builder filled with a synthetic catalogue.
pub fn synthetic_builder(spec: &SyntheticSpec) -> BundleBuilder {
    let mut rng = Rng::new(spec.seed);
    let mut builder = BundleBuilder::new(
        spec.dim,
        spec.n_neighbors,
        spec.n_trending,
        ranking_params(),
        segment_definitions(),
        rescue_policy(),
    );
    builder.training(TrainingSummary {
        source: "synthetic".into(),
        n_users: 1000,
        n_items: spec.n_items as u64,
        n_interactions: 10 * spec.n_items as u64,
        first_day: 19_000,
        last_day: 19_365,
    });
    builder.metric("recall_at_20", 0.1);
    let spread = 1.0 / (spec.dim as f32).sqrt();
    let n_categories = spec.n_categories.max(1);
    let mut factors = vec![0.0f32; spec.dim];
    for i in 0..spec.n_items {
        for f in factors.iter_mut() {
            *f = (rng.unit() - 0.5) * 2.0 * spread;
        }
        let meta = ItemMeta {
            id: format!("item-{i}"),
            title: format!("Item {i}"),
            price: 1.0 + ((i * 37) % 120) as f64,
            category: format!("cat-{}", i % n_categories),
            in_stock: i % 17 != 16,
            countries: if i % 50 == 49 {
                Some(vec!["GB".into()])
            } else {
                None
            },
        };
        // Adding a row of the right length cannot fail.
        let _ = builder.add_item(meta, &factors);
    }
    let n = spec.n_items as u32;
    for i in 0..n {
        let list: Vec<(u32, f32)> = (1..=spec.n_neighbors as u32)
            .filter(|step| *step < n)
            .map(|step| ((i + step * 7) % n, 1.0 / (1.0 + step as f32)))
            .filter(|(j, _)| *j != i)
            .collect();
        let _ = builder.neighbors(i, &list);
    }
    for (position, country) in ["*", "GB", "DE"].iter().enumerate() {
        let list: Vec<(u32, f32)> = (0..spec.n_trending as u32)
            .map(|r| {
                (
                    (r * 13 + position as u32 * 5) % n.max(1),
                    (spec.n_trending as u32 - r) as f32,
                )
            })
            .collect();
        builder.trending(country, &list);
    }
    let centroids: Vec<f32> = (0..4 * spec.dim).map(|_| rng.unit() - 0.5).collect();
    builder.taste_centroids(&centroids);
    let logistic = |n_inputs: usize, rng: &mut Rng| LogisticModel {
        mean: (0..n_inputs).map(|_| rng.unit()).collect(),
        scale: (0..n_inputs).map(|_| 0.5 + rng.unit()).collect(),
        coef: (0..n_inputs).map(|_| rng.unit() - 0.5).collect(),
        intercept: -0.5,
    };
    builder.propensity(logistic(RfmFeatures::NAMES.len(), &mut rng));
    builder.purchase_intent(logistic(SessionFeatures::NAMES.len(), &mut rng));
    builder
}

/// A synthetic bundle. Panics only if the engine's own writer and loader
/// disagree, which is a bug the tests must surface.
pub fn synthetic_bundle(spec: &SyntheticSpec) -> BuiltBundle {
    synthetic_builder(spec)
        .build()
        .expect("the synthetic bundle must load")
}

/// A plausible stream of `n` events over `n_items` items, starting at
/// `start` (unix seconds), one to a few minutes apart.
pub fn synthetic_events(n: usize, n_items: usize, start: i64, seed: u64) -> Vec<Event> {
    let mut rng = Rng::new(seed);
    let mut at = start;
    let n_items = n_items.max(1) as u64;
    (0..n)
        .map(|_| {
            at += 30 + rng.below(300) as i64;
            if rng.below(20) == 0 {
                at += 3 * 86_400;
            }
            let item = format!("item-{}", rng.below(n_items));
            let price = 1.0 + rng.below(120) as f64;
            let kind = match rng.below(20) {
                0..=10 => EventKind::View {
                    page: PageKind::Product,
                    item: Some(item),
                    price: Some(price),
                },
                11 => EventKind::View {
                    page: PageKind::Administrative,
                    item: None,
                    price: None,
                },
                12 => EventKind::View {
                    page: PageKind::Informational,
                    item: None,
                    price: None,
                },
                13..=14 => EventKind::AddToCart {
                    item,
                    quantity: 1 + rng.below(3) as u32,
                    price,
                },
                15 => EventKind::RemoveFromCart { item, quantity: 1 },
                16 => EventKind::Purchase {
                    lines: vec![PurchaseLine {
                        item,
                        quantity: 1,
                        price,
                    }],
                },
                17 => EventKind::Search {
                    query: format!("query {}", rng.below(100)),
                },
                _ => EventKind::Rating {
                    item,
                    stars: 1 + rng.below(5) as u8,
                    text: None,
                },
            };
            Event { at, kind }
        })
        .collect()
}

/// The published default bundle (`www/v1/bundles/default.json` and the files it
/// names, below `bundles_dir`), loaded and validated; `None` when it has not
/// been published (run `cargo xtask build`). For benchmarks and examples that
/// measure the real catalogue; the engine itself never reads files.
pub fn published_default_bundle(bundles_dir: &std::path::Path) -> Option<crate::bundle::Model> {
    use crate::bundle::layout;
    let pointer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundles_dir.join(layout::DEFAULT_POINTER)).ok()?)
            .ok()?;
    let model_dir = bundles_dir.join(pointer["model_id"].as_str()?);
    let manifest = std::fs::read(model_dir.join(layout::MANIFEST_FILE)).ok()?;
    let tensors = std::fs::read(model_dir.join(layout::TENSORS_FILE)).ok()?;
    crate::bundle::Model::from_bytes(&manifest, &tensors).ok()
}

/// `n_devices` true values over `0..domain`, distributed as Zipf(`exponent`)
/// with deterministic counts (largest remainder), for privacy simulations.
pub fn zipf_values(domain: u32, exponent: f64, n_devices: usize) -> Vec<u32> {
    let raw: Vec<f64> = (0..domain)
        .map(|r| 1.0 / f64::from(r + 1).powf(exponent))
        .collect();
    let total: f64 = raw.iter().sum();
    let mut values = Vec::with_capacity(n_devices);
    let mut remainders = Vec::with_capacity(raw.len());
    for (value, weight) in raw.iter().enumerate() {
        let exact = weight / total * n_devices as f64;
        values.extend(std::iter::repeat_n(value as u32, exact.floor() as usize));
        remainders.push((exact.fract(), value as u32));
    }
    remainders.sort_by(|a, b| b.0.total_cmp(&a.0));
    let missing = n_devices.saturating_sub(values.len());
    values.extend(remainders.into_iter().take(missing).map(|(_, value)| value));
    values
}

/// What repeated simulated collections of one metric showed: how often the
/// 95% intervals covered the truth, the mean absolute error, and the largest
/// gap between an estimate's mean over the rounds and the truth, in standard
/// errors of that mean (an unbiased estimator keeps it small).
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionOutcome {
    /// Intervals that held the true count.
    pub covered: usize,
    /// Intervals checked (values × rounds).
    pub checked: usize,
    /// Mean |estimate − truth| over every value and round.
    pub mean_error: f64,
    /// The largest |mean estimate − truth| over values, in standard errors of the mean.
    pub worst_bias_in_se: f64,
}

impl CollectionOutcome {
    /// The share of intervals that covered the truth.
    pub fn coverage(&self) -> f64 {
        self.covered as f64 / self.checked.max(1) as f64
    }
}

/// Simulates `rounds` independent collections of `spec` from devices holding
/// `true_values` (one per device): each device randomises its value with the
/// engine's own mechanism (seeded ChaCha20), the edge tallies and estimates.
pub fn simulate_collection(
    spec: &crate::privacy::MetricSpec,
    true_values: &[u32],
    rounds: usize,
    seed: u64,
) -> CollectionOutcome {
    use crate::privacy::{estimate::estimate, report, Tally};
    use rand_chacha::rand_core::SeedableRng;

    let domain = spec.mechanism.domain() as usize;
    let mut truth = vec![0f64; domain];
    for &value in true_values {
        truth[value as usize] += 1.0;
    }
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let (mut covered, mut checked) = (0, 0);
    let mut sum_estimates = vec![0f64; domain];
    let (mut abs_error, mut std_error) = (0.0, 0.0);
    for _ in 0..rounds {
        let mut tally = Tally::new(spec.mechanism);
        for &value in true_values {
            let report =
                report::randomise(spec, value, &mut rng).expect("values are in the domain");
            tally.add(report.cell).expect("cells are in the tally");
        }
        for e in estimate(spec.mechanism, spec.epsilon, &tally).expect("the tally fits") {
            let t = truth[e.value as usize];
            checked += 1;
            covered += usize::from(e.low <= t && t <= e.high);
            sum_estimates[e.value as usize] += e.count;
            abs_error += (e.count - t).abs();
            std_error = e.std_error;
        }
    }
    // The mean of `rounds` estimates has standard error ≤ se/√rounds.
    let worst_bias_in_se = sum_estimates
        .iter()
        .zip(&truth)
        .map(|(sum, t)| ((sum / rounds as f64) - t).abs() / (std_error / (rounds as f64).sqrt()))
        .fold(0.0, f64::max);
    CollectionOutcome {
        covered,
        checked,
        mean_error: abs_error / checked.max(1) as f64,
        worst_bias_in_se,
    }
}
