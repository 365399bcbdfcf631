//! Segments fitted on the data: taste clusters over item factors, price tiers,
//! lifecycle (RFM) cut points and a purchase-propensity classifier with
//! temporal labels.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use smartcore::cluster::kmeans::{KMeans, KMeansParameters};
use smartcore::linalg::basic::matrix::DenseMatrix;

use crate::classify::{ClassifierQuality, LinearClassifier};
use crate::data::Transactions;
use crate::dates::{format_day, MINUTES_PER_DAY};

/// One taste cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TasteCluster {
    /// The most characteristic words of its items' titles.
    pub label: Vec<String>,
    /// Items in the cluster.
    pub size: usize,
    /// The mean of its members' unit-length factor vectors.
    pub centroid: Vec<f32>,
}

/// Taste clusters and each item's cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TasteClusters {
    /// The clusters.
    pub clusters: Vec<TasteCluster>,
    /// Item index → cluster index.
    pub item_cluster: Vec<u32>,
}

/// Words too common in product titles to label anything.
const STOP_WORDS: &[&str] = &[
    "SET", "OF", "THE", "AND", "WITH", "IN", "FOR", "A", "TO", "SMALL", "LARGE", "MINI", "BOX",
    "PACK", "DESIGN", "ASSORTED", "COLOUR", "COLOURS",
];

/// k-means (smartcore, seeded) over unit-length item factors, so clusters follow
/// the direction of taste and not an item's popularity (the norm). Each
/// cluster is labelled with the three title words whose share in the cluster
/// most exceeds their share overall (count × ln lift, words seen ≥ 3 times in it).
pub fn taste_clusters(
    item_factors: &[f32],
    dim: usize,
    titles: &[String],
    k: usize,
    seed: u64,
) -> anyhow::Result<TasteClusters> {
    let rows: Vec<Vec<f64>> = item_factors
        .chunks_exact(dim)
        .map(|row| {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            row.iter().map(|v| (*v / norm) as f64).collect()
        })
        .collect();
    let matrix = DenseMatrix::from_2d_vec(&rows)?;
    let params = KMeansParameters {
        seed: Some(seed),
        ..KMeansParameters::default()
    }
    .with_k(k)
    .with_max_iter(100);
    let model: KMeans<f64, usize, DenseMatrix<f64>, Vec<usize>> =
        KMeans::fit(&matrix, params).map_err(|e| anyhow::anyhow!("k-means failed: {e}"))?;
    let assignment: Vec<usize> = model
        .predict(&matrix)
        .map_err(|e| anyhow::anyhow!("k-means prediction failed: {e}"))?;

    let words_of = |title: &str| -> HashSet<String> {
        title
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() >= 3 && w.chars().all(|c| c.is_alphabetic()))
            .map(|w| w.to_uppercase())
            .filter(|w| !STOP_WORDS.contains(&w.as_str()))
            .collect()
    };
    let mut overall: HashMap<String, usize> = HashMap::new();
    let mut per_cluster: Vec<HashMap<String, usize>> = vec![HashMap::new(); k];
    let mut sizes = vec![0usize; k];
    let mut centroids = vec![vec![0.0f64; dim]; k];
    for (item, &cluster) in assignment.iter().enumerate() {
        sizes[cluster] += 1;
        for (c, v) in centroids[cluster].iter_mut().zip(&rows[item]) {
            *c += v;
        }
        for word in words_of(&titles[item]) {
            *overall.entry(word.clone()).or_default() += 1;
            *per_cluster[cluster].entry(word).or_default() += 1;
        }
    }
    let n_items = assignment.len() as f64;
    let clusters = (0..k)
        .map(|cluster| {
            let size = sizes[cluster].max(1) as f64;
            let mut scored: Vec<(f64, &String)> = per_cluster[cluster]
                .iter()
                .filter(|(_, &n)| n >= 3)
                .map(|(word, &n)| {
                    let lift = (n as f64 / size) / (overall[word] as f64 / n_items);
                    (n as f64 * lift.ln(), word)
                })
                .filter(|(score, _)| *score > 0.0)
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
            TasteCluster {
                label: scored.iter().take(3).map(|(_, w)| (*w).clone()).collect(),
                size: sizes[cluster],
                centroid: centroids[cluster]
                    .iter()
                    .map(|c| (c / size) as f32)
                    .collect(),
            }
        })
        .collect();
    Ok(TasteClusters {
        clusters,
        item_cluster: assignment.into_iter().map(|c| c as u32).collect(),
    })
}

/// Price tiers: a shopper's tier comes from the unit prices they chose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceTiers {
    /// Unit prices below this are "budget" (the 1/3 quantile of kept lines).
    pub budget_below: f32,
    /// Unit prices at or above this are "premium" (the 2/3 quantile).
    pub premium_from: f32,
    /// Lines the quantiles were computed over.
    pub n_lines: usize,
}

/// The q-quantile of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

/// Tertile cut points of unit prices over all kept purchase lines.
pub fn price_tiers(data: &Transactions) -> PriceTiers {
    let mut prices: Vec<f64> = data.purchases.iter().map(|p| p.unit_price as f64).collect();
    prices.sort_by(f64::total_cmp);
    PriceTiers {
        budget_below: quantile(&prices, 1.0 / 3.0) as f32,
        premium_from: quantile(&prices, 2.0 / 3.0) as f32,
        n_lines: prices.len(),
    }
}

/// Per customer: recency (days), frequency (invoices), monetary (revenue),
/// tenure (days since first purchase), distinct items, as of a cut-off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rfm {
    /// Days from the last purchase to the cut-off.
    pub recency_days: f64,
    /// Distinct invoices.
    pub frequency: f64,
    /// Sum of quantity × unit price.
    pub monetary: f64,
    /// Days from the first purchase to the cut-off.
    pub tenure_days: f64,
    /// Distinct items bought.
    pub distinct_items: f64,
}

/// RFM figures of every customer with a purchase before `cutoff_minute`.
pub fn rfm_at(data: &Transactions, cutoff_minute: i64) -> HashMap<u32, Rfm> {
    let mut first_last: HashMap<u32, (i64, i64, f64)> = HashMap::new();
    let mut invoices: HashSet<(u32, u32)> = HashSet::new();
    let mut items: HashSet<(u32, u32)> = HashSet::new();
    for p in data.purchases.iter().filter(|p| p.minute < cutoff_minute) {
        let entry = first_last
            .entry(p.customer_idx)
            .or_insert((p.minute, p.minute, 0.0));
        entry.0 = entry.0.min(p.minute);
        entry.1 = entry.1.max(p.minute);
        entry.2 += p.quantity as f64 * p.unit_price as f64;
        invoices.insert((p.customer_idx, p.invoice_idx));
        items.insert((p.customer_idx, p.item_idx));
    }
    let mut n_invoices: HashMap<u32, f64> = HashMap::new();
    for (c, _) in invoices {
        *n_invoices.entry(c).or_default() += 1.0;
    }
    let mut n_items: HashMap<u32, f64> = HashMap::new();
    for (c, _) in items {
        *n_items.entry(c).or_default() += 1.0;
    }
    let day = MINUTES_PER_DAY as f64;
    first_last
        .into_iter()
        .map(|(c, (first, last, revenue))| {
            (
                c,
                Rfm {
                    recency_days: (cutoff_minute - last) as f64 / day,
                    frequency: n_invoices[&c],
                    monetary: revenue,
                    tenure_days: (cutoff_minute - first) as f64 / day,
                    distinct_items: n_items[&c],
                },
            )
        })
        .collect()
}

/// Lifecycle segments, from quintile scores 1–5 of recency (5 = most recent),
/// frequency and monetary value. Rules, checked in order:
/// champion (R ≥ 4, F ≥ 4, M ≥ 4); loyal (F ≥ 4, R ≥ 3); new (one invoice,
/// R ≥ 4); active (R ≥ 3); at-risk (R = 2, F ≥ 3); lapsed (everyone else).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lifecycle {
    /// Recency cut points in days (ascending): score 5 if ≤ the first, … 1 if above the last.
    pub recency_days_cuts: [f64; 4],
    /// Frequency cut points (invoices, ascending): score 1 if ≤ the first, … 5 if above the last.
    pub frequency_cuts: [f64; 4],
    /// Monetary cut points (ascending), as frequency.
    pub monetary_cuts: [f64; 4],
    /// Customers per segment at the end of the data.
    pub segment_sizes: Vec<(String, usize)>,
}

fn cuts(mut values: Vec<f64>) -> [f64; 4] {
    values.sort_by(f64::total_cmp);
    [0.2, 0.4, 0.6, 0.8].map(|q| quantile(&values, q))
}

fn score_ascending(value: f64, cuts: &[f64; 4]) -> u8 {
    1 + cuts.iter().filter(|&&c| value > c).count() as u8
}

impl Lifecycle {
    /// The segment of one customer.
    pub fn segment(&self, rfm: &Rfm) -> &'static str {
        let r = 6 - score_ascending(rfm.recency_days, &self.recency_days_cuts);
        let f = score_ascending(rfm.frequency, &self.frequency_cuts);
        let m = score_ascending(rfm.monetary, &self.monetary_cuts);
        if r >= 4 && f >= 4 && m >= 4 {
            "champion"
        } else if f >= 4 && r >= 3 {
            "loyal"
        } else if rfm.frequency <= 1.0 && r >= 4 {
            "new"
        } else if r >= 3 {
            "active"
        } else if r == 2 && f >= 3 {
            "at-risk"
        } else {
            "lapsed"
        }
    }
}

/// Fits lifecycle cut points on every customer as of the end of the data.
pub fn lifecycle(data: &Transactions) -> Lifecycle {
    let end = data.purchases.iter().map(|p| p.minute).max().unwrap_or(0) + 1;
    let rfm = rfm_at(data, end);
    let mut model = Lifecycle {
        recency_days_cuts: cuts(rfm.values().map(|r| r.recency_days).collect()),
        frequency_cuts: cuts(rfm.values().map(|r| r.frequency).collect()),
        monetary_cuts: cuts(rfm.values().map(|r| r.monetary).collect()),
        segment_sizes: Vec::new(),
    };
    let mut sizes: HashMap<&'static str, usize> = HashMap::new();
    for r in rfm.values() {
        *sizes.entry(model.segment(r)).or_default() += 1;
    }
    model.segment_sizes = ["champion", "loyal", "new", "active", "at-risk", "lapsed"]
        .iter()
        .map(|s| (s.to_string(), sizes.get(s).copied().unwrap_or(0)))
        .collect();
    model
}

/// The propensity features, in order.
pub const PROPENSITY_FEATURES: [&str; 6] = [
    "ln(1 + recency_days)",
    "ln(frequency)",
    "ln(1 + monetary)",
    "ln(1 + tenure_days)",
    "ln(distinct_items)",
    "frequency / (1 + tenure_days / 30)",
];

fn propensity_row(r: &Rfm) -> Vec<f64> {
    vec![
        r.recency_days.ln_1p(),
        r.frequency.ln(),
        r.monetary.max(0.0).ln_1p(),
        r.tenure_days.ln_1p(),
        r.distinct_items.ln(),
        r.frequency / (1.0 + r.tenure_days / 30.0),
    ]
}

/// The purchase-propensity model and its temporal evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Propensity {
    /// The label: bought again within this many days after the cut-off.
    pub horizon_days: i64,
    /// Cut-off of the training rows (features before it, labels in the horizon after).
    pub train_cutoff: String,
    /// Cut-off of the evaluation rows (one horizon later).
    pub test_cutoff: String,
    /// The classifier (fitted on the training cut-off).
    pub classifier: LinearClassifier,
    /// Quality on the later cut-off.
    pub test_quality: ClassifierQuality,
    /// A one-feature baseline on the same rows: more recent ranks higher.
    pub recency_only_test_quality: ClassifierQuality,
    /// Customers in the training rows.
    pub n_train: usize,
    /// The same model refitted on the engine's own vectoriser
    /// (`cove_engine::features::RfmFeatures::to_vector`, 4 inputs): the one the
    /// bundle ships, since the device can only compute those inputs.
    pub engine_classifier: LinearClassifier,
    /// Its quality on the later cut-off.
    pub engine_test_quality: ClassifierQuality,
}

/// The engine's propensity inputs for one customer, in
/// `cove_engine::features::RfmFeatures::NAMES` order.
pub fn engine_propensity_row(r: &Rfm) -> Vec<f64> {
    let features = cove_engine::features::RfmFeatures {
        recency_days: r.recency_days,
        frequency: r.frequency,
        monetary: r.monetary,
        tenure_days: r.tenure_days,
        has_purchased: true,
    };
    features.to_vector().iter().map(|v| *v as f64).collect()
}

fn propensity_rows(
    data: &Transactions,
    cutoff: i64,
    horizon: i64,
) -> (Vec<Vec<f64>>, Vec<u32>, Vec<Rfm>) {
    let rfm = rfm_at(data, cutoff);
    let buyers: HashSet<u32> = data
        .purchases
        .iter()
        .filter(|p| p.minute >= cutoff && p.minute < cutoff + horizon)
        .map(|p| p.customer_idx)
        .collect();
    let mut customers: Vec<(&u32, &Rfm)> = rfm.iter().collect();
    customers.sort_unstable_by_key(|(c, _)| **c);
    let x = customers.iter().map(|(_, r)| propensity_row(r)).collect();
    let y = customers
        .iter()
        .map(|(c, _)| u32::from(buyers.contains(c)))
        .collect();
    (x, y, customers.iter().map(|(_, r)| **r).collect())
}

/// Fits the propensity classifier at `last day − 2·horizon` (labels: bought in
/// the next `horizon_days`) and evaluates it at `last day − horizon`, whose
/// labels lie entirely after every training label.
pub fn propensity(data: &Transactions, horizon_days: i64) -> anyhow::Result<Propensity> {
    let last = data.purchases.iter().map(|p| p.minute).max().unwrap_or(0);
    let end_day = last.div_euclid(MINUTES_PER_DAY) + 1;
    let test_day = end_day - horizon_days;
    let train_day = test_day - horizon_days;
    let horizon = horizon_days * MINUTES_PER_DAY;
    let first_day = data
        .purchases
        .iter()
        .map(|p| p.minute)
        .min()
        .unwrap_or(0)
        .div_euclid(MINUTES_PER_DAY);
    anyhow::ensure!(
        train_day > first_day,
        "the data spans {} days, fewer than two label horizons of {horizon_days} days plus history",
        end_day - first_day
    );
    let (x_train, y_train, _) = propensity_rows(data, train_day * MINUTES_PER_DAY, horizon);
    let (x_test, y_test, rfm_test) = propensity_rows(data, test_day * MINUTES_PER_DAY, horizon);
    for (what, labels) in [("training", &y_train), ("evaluation", &y_test)] {
        let n_positive = labels.iter().filter(|&&l| l == 1).count();
        anyhow::ensure!(
            n_positive > 0 && n_positive < labels.len(),
            "the {what} cut-off has only one class ({n_positive} of {} customers bought again)",
            labels.len()
        );
    }
    let classifier = LinearClassifier::fit(&PROPENSITY_FEATURES, &x_train, &y_train, 1.0)?;
    let scores: Vec<f64> = x_test
        .iter()
        .map(|row| classifier.probability(row))
        .collect();
    let recency_scores: Vec<f64> = rfm_test.iter().map(|r| -r.recency_days).collect();
    let (_, _, rfm_train) = propensity_rows(data, train_day * MINUTES_PER_DAY, horizon);
    let engine_train: Vec<Vec<f64>> = rfm_train.iter().map(engine_propensity_row).collect();
    let engine_classifier = LinearClassifier::fit(
        &cove_engine::features::RfmFeatures::NAMES,
        &engine_train,
        &y_train,
        1.0,
    )?;
    let engine_scores: Vec<f64> = rfm_test
        .iter()
        .map(|r| engine_classifier.probability(&engine_propensity_row(r)))
        .collect();
    Ok(Propensity {
        horizon_days,
        train_cutoff: format_day(train_day),
        test_cutoff: format_day(test_day),
        test_quality: ClassifierQuality::of(&scores, &y_test),
        recency_only_test_quality: ClassifierQuality::of(&recency_scores, &y_test),
        n_train: y_train.len(),
        classifier,
        engine_test_quality: ClassifierQuality::of(&engine_scores, &y_test),
        engine_classifier,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_scores() {
        let sorted: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quantile(&sorted, 0.2), 2.0);
        assert_eq!(quantile(&sorted, 1.0 / 3.0), 4.0);
        let c = [2.0, 4.0, 6.0, 8.0];
        assert_eq!(score_ascending(1.0, &c), 1);
        assert_eq!(score_ascending(2.0, &c), 1);
        assert_eq!(score_ascending(9.0, &c), 5);
    }

    #[test]
    fn lifecycle_rules() {
        let model = Lifecycle {
            recency_days_cuts: [10.0, 30.0, 60.0, 120.0],
            frequency_cuts: [1.0, 2.0, 4.0, 8.0],
            monetary_cuts: [100.0, 200.0, 400.0, 800.0],
            segment_sizes: Vec::new(),
        };
        let rfm = |recency_days, frequency, monetary| Rfm {
            recency_days,
            frequency,
            monetary,
            tenure_days: 100.0,
            distinct_items: 5.0,
        };
        for (r, want) in [
            (rfm(5.0, 9.0, 900.0), "champion"),
            (rfm(50.0, 9.0, 50.0), "loyal"),
            (rfm(5.0, 1.0, 50.0), "new"),
            (rfm(50.0, 2.0, 50.0), "active"),
            (rfm(100.0, 3.0, 50.0), "at-risk"),
            (rfm(300.0, 9.0, 900.0), "lapsed"),
        ] {
            assert_eq!(model.segment(&r), want, "{r:?}");
        }
    }

    #[test]
    fn taste_clusters_follow_planted_directions() {
        // Two directions, 10 items each, with slight noise; titles name them.
        let mut factors = Vec::new();
        let mut titles = Vec::new();
        let mut rng = crate::als::SplitMix64::new(1);
        for item in 0..20 {
            let noise = rng.next_f32() * 0.1;
            if item < 10 {
                factors.extend([1.0, noise, 0.0]);
                titles.push(format!("RED HEART MUG {item}"));
            } else {
                factors.extend([0.0, noise, 1.0]);
                titles.push(format!("BLUE STAR TIN {item}"));
            }
        }
        let got = taste_clusters(&factors, 3, &titles, 2, 7).unwrap();
        assert!(got.item_cluster[..10]
            .iter()
            .all(|&c| c == got.item_cluster[0]));
        assert!(got.item_cluster[10..]
            .iter()
            .all(|&c| c == got.item_cluster[10]));
        assert_ne!(got.item_cluster[0], got.item_cluster[10]);
        let red = &got.clusters[got.item_cluster[0] as usize];
        assert!(red.label.contains(&"HEART".to_string()), "{:?}", red.label);
    }
}
