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
    /// The words that name the cluster, most distinctive first; empty when no
    /// words describe enough of its items ([`label_cluster`]'s rule).
    pub label: Vec<String>,
    /// The cluster's most distinctive title words (at most
    /// [`LABEL_MAX_WORDS`]), whether or not they became its label.
    pub candidate: Vec<String>,
    /// The share of the cluster's items whose title holds one of
    /// `candidate`.
    pub coverage: f64,
    /// The share whose title holds a word of `label` (0 without a label):
    /// the items shown with the label as their category.
    pub label_coverage: f64,
    /// Items in the cluster.
    pub size: usize,
    /// The mean of its members' unit-length factor vectors.
    pub centroid: Vec<f32>,
    /// Up to three of its items' titles, in catalogue order, for the report.
    pub examples: Vec<String>,
}

/// Taste clusters and each item's cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TasteClusters {
    /// The clusters.
    pub clusters: Vec<TasteCluster>,
    /// Item index → cluster index.
    pub item_cluster: Vec<u32>,
    /// Item index → whether its own title holds a word of its cluster's
    /// label (always false in a cluster without a label). Only such an item
    /// is shown with the label as its category.
    pub item_fits_label: Vec<bool>,
}

/// Words too common in product titles to label anything.
const STOP_WORDS: &[&str] = &[
    "SET", "OF", "THE", "AND", "WITH", "IN", "FOR", "A", "TO", "SMALL", "LARGE", "MINI", "BOX",
    "PACK", "DESIGN", "ASSORTED", "COLOUR", "COLOURS",
];

/// The strength of the prior in the log-odds of a word, in items: the word's
/// catalogue-wide rate counts as this many pseudo-items in each side, so a
/// word seen in two items of a small cluster is not distinctive by chance.
pub const LABEL_PRIOR_ITEMS: f64 = 10.0;
/// The z-score of the smoothed log-odds ratio (cluster against the rest of
/// the catalogue) from which a word is distinctive to a cluster: 3.29 is the
/// two-sided 0.1% point of the normal, strict because a cluster tests
/// hundreds of words.
pub const LABEL_MIN_Z: f64 = 3.29;
/// Words in a label at most.
pub const LABEL_MAX_WORDS: usize = 3;
/// The least share of a cluster's items whose title must hold a label word
/// for the cluster to be labelled: a majority, so that the label says
/// something true of most of what it names.
pub const LABEL_MIN_COVERAGE: f64 = 0.5;

/// The title words a label is made of: runs of letters (any script) of at
/// least three characters, upper-cased, stop words left out, each once.
pub fn title_words(title: &str) -> HashSet<String> {
    title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3 && w.chars().all(|c| c.is_alphabetic()))
        .map(|w| w.to_uppercase())
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect()
}

/// The z-score of the log-odds ratio of a word between a cluster and the
/// rest of the catalogue, with an informative prior (Monroe, Colaresi &
/// Quinn 2008, "Fightin' Words", on item counts): `in_cluster` of
/// `cluster_size` items hold it, `overall` of `n_items` do.
fn log_odds_z(in_cluster: usize, cluster_size: usize, overall: usize, n_items: usize) -> f64 {
    let share = overall as f64 / n_items.max(1) as f64;
    let (prior_with, prior_without) =
        (LABEL_PRIOR_ITEMS * share, LABEL_PRIOR_ITEMS * (1.0 - share));
    let with_in = in_cluster as f64 + prior_with;
    let without_in = (cluster_size - in_cluster) as f64 + prior_without;
    let rest = n_items - cluster_size;
    let with_out = (overall - in_cluster) as f64 + prior_with;
    let without_out = (rest - (overall - in_cluster)) as f64 + prior_without;
    let delta = (with_in / without_in).ln() - (with_out / without_out).ln();
    let variance = 1.0 / with_in + 1.0 / without_in + 1.0 / with_out + 1.0 / without_out;
    delta / variance.sqrt()
}

/// A cluster's candidate words and their coverage, and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterLabel {
    /// The label (empty: none).
    pub label: Vec<String>,
    /// The candidate words.
    pub candidate: Vec<String>,
    /// The share of the cluster's items whose title holds a candidate word.
    pub coverage: f64,
    /// The share whose title holds a label word (0 without a label).
    pub label_coverage: f64,
}

/// Labels one cluster from its members' title words (`members`, one set per
/// item) against `overall` (in how many of the `n_items` catalogue items each
/// word appears). The rule:
///
/// 1. a word is *distinctive* when its log-odds z-score ([`log_odds_z`],
///    prior [`LABEL_PRIOR_ITEMS`] items) is at least [`LABEL_MIN_Z`];
/// 2. the candidate words are the distinctive ones in order of z (ties by the
///    word), each kept only if its title covers an item the words before it
///    did not, at most [`LABEL_MAX_WORDS`];
/// 3. the label is the shortest run of candidates, from the first, whose
///    titles cover at least [`LABEL_MIN_COVERAGE`] of the cluster's items;
///    when all the candidates together cover less, the cluster has no label.
///
/// Nothing in it depends on one shop: the numbers are a significance level,
/// a smoothing strength and "a majority of the items".
pub fn label_cluster(
    members: &[&HashSet<String>],
    overall: &HashMap<String, usize>,
    n_items: usize,
) -> ClusterLabel {
    let size = members.len();
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for words in members {
        for word in words.iter() {
            *counts.entry(word).or_default() += 1;
        }
    }
    let mut distinctive: Vec<(f64, &String)> = counts
        .iter()
        .map(|(word, &n)| (log_odds_z(n, size, overall[*word], n_items), *word))
        .filter(|(z, _)| *z >= LABEL_MIN_Z)
        .collect();
    distinctive.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let mut covered = vec![false; size];
    let mut n_covered = 0usize;
    let mut candidate = Vec::new();
    let mut label_words = None;
    let majority = |n: usize| n as f64 >= LABEL_MIN_COVERAGE * size as f64 && n > 0;
    for (_, word) in distinctive {
        if candidate.len() == LABEL_MAX_WORDS {
            break;
        }
        let before = n_covered;
        for (flag, words) in covered.iter_mut().zip(members) {
            if !*flag && words.contains(word) {
                *flag = true;
                n_covered += 1;
            }
        }
        if n_covered > before {
            candidate.push(word.clone());
            if label_words.is_none() && majority(n_covered) {
                label_words = Some(candidate.len());
            }
        }
    }
    ClusterLabel {
        label: candidate[..label_words.unwrap_or(0)].to_vec(),
        coverage: n_covered as f64 / size.max(1) as f64,
        label_coverage: label_words.map_or(0.0, |n| {
            members
                .iter()
                .filter(|words| candidate[..n].iter().any(|w| words.contains(w)))
                .count() as f64
                / size.max(1) as f64
        }),
        candidate,
    }
}

/// The taste clusters' k-means: smartcore's (k-means++ start seeded with
/// `seed`, then Lloyd iterations until the distortion stops falling or
/// `max_iter`).
// smartcore's matrix is built from a `&Vec` of rows.
#[allow(clippy::ptr_arg)]
pub(crate) fn fit_kmeans(
    rows: &Vec<Vec<f64>>,
    k: usize,
    seed: u64,
    max_iter: usize,
) -> anyhow::Result<FittedKMeans> {
    let matrix = DenseMatrix::from_2d_vec(rows)?;
    let params = KMeansParameters {
        seed: Some(seed),
        ..KMeansParameters::default()
    }
    .with_k(k)
    .with_max_iter(max_iter);
    KMeans::fit(&matrix, params).map_err(|e| anyhow::anyhow!("k-means failed: {e}"))
}

/// A k-means fitted by [`fit_kmeans`].
pub(crate) type FittedKMeans = KMeans<f64, usize, DenseMatrix<f64>, Vec<usize>>;

/// The nearest centroid of each of `rows` under `model`.
#[allow(clippy::ptr_arg)]
pub(crate) fn nearest_centroids(
    model: &FittedKMeans,
    rows: &Vec<Vec<f64>>,
) -> anyhow::Result<Vec<usize>> {
    let matrix = DenseMatrix::from_2d_vec(rows)?;
    model
        .predict(&matrix)
        .map_err(|e| anyhow::anyhow!("k-means prediction failed: {e}"))
}

/// Catalogues of at most this many items fit their taste clusters on every
/// item; a larger one fits them on a seeded sample of this many items and
/// assigns every item to the nearest centroid (issue 24). k-means costs
/// items × clusters × iterations (137 s a pass at 194k items), and 50,000
/// items place 12 centroids as well as a million do. Every shop up to the
/// 50k-item benchmark, the default model among them, fits on all its items
/// as before.
pub const TASTE_FIT_MAX_ITEMS: usize = 50_000;

/// Items whose nearest centroid is found at once in a large catalogue: the
/// rows are copied as f64 a chunk at a time, not all together.
const ASSIGN_CHUNK: usize = 50_000;

/// k-means (smartcore, seeded) over unit-length item factors, so clusters follow
/// the direction of taste and not an item's popularity (the norm). Fitted on
/// every item, or on a seeded sample of [`TASTE_FIT_MAX_ITEMS`] of them in a
/// larger catalogue. Each
/// cluster is labelled by [`label_cluster`]: from title words distinctive to
/// it, and only when they describe most of its items; else it has no label.
pub fn taste_clusters(
    item_factors: &[f32],
    dim: usize,
    titles: &[String],
    k: usize,
    seed: u64,
) -> anyhow::Result<TasteClusters> {
    taste_clusters_fitted_on(item_factors, dim, titles, k, seed, TASTE_FIT_MAX_ITEMS)
}

/// [`taste_clusters`], fitted on a seeded sample of `fit_max_items` items
/// when the catalogue has more.
fn taste_clusters_fitted_on(
    item_factors: &[f32],
    dim: usize,
    titles: &[String],
    k: usize,
    seed: u64,
    fit_max_items: usize,
) -> anyhow::Result<TasteClusters> {
    let unit_row = |item: usize| -> Vec<f64> {
        let row = &item_factors[item * dim..(item + 1) * dim];
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter().map(|v| (*v / norm) as f64).collect()
    };
    let n_items = item_factors.len() / dim.max(1);
    let assignment: Vec<usize> = if n_items <= fit_max_items {
        let rows: Vec<Vec<f64>> = (0..n_items).map(unit_row).collect();
        let model = fit_kmeans(&rows, k, seed, 100)?;
        nearest_centroids(&model, &rows)?
    } else {
        let sample: Vec<Vec<f64>> = crate::random::seeded_sample(n_items, fit_max_items, seed)
            .into_iter()
            .map(unit_row)
            .collect();
        let model = fit_kmeans(&sample, k, seed, 100)?;
        let mut assignment = Vec::with_capacity(n_items);
        for first in (0..n_items).step_by(ASSIGN_CHUNK) {
            let rows: Vec<Vec<f64>> = (first..(first + ASSIGN_CHUNK).min(n_items))
                .map(unit_row)
                .collect();
            assignment.extend(nearest_centroids(&model, &rows)?);
        }
        assignment
    };

    let item_words: Vec<HashSet<String>> = titles.iter().map(|t| title_words(t)).collect();
    let mut overall: HashMap<String, usize> = HashMap::new();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); k];
    let mut centroids = vec![vec![0.0f64; dim]; k];
    for (item, &cluster) in assignment.iter().enumerate() {
        members[cluster].push(item);
        for (c, v) in centroids[cluster].iter_mut().zip(unit_row(item)) {
            *c += v;
        }
        for word in &item_words[item] {
            *overall.entry(word.clone()).or_default() += 1;
        }
    }
    let n_items = assignment.len();
    let clusters: Vec<TasteCluster> = (0..k)
        .map(|cluster| {
            let words: Vec<&HashSet<String>> =
                members[cluster].iter().map(|&i| &item_words[i]).collect();
            let labelled = label_cluster(&words, &overall, n_items);
            let size = members[cluster].len();
            TasteCluster {
                label: labelled.label,
                candidate: labelled.candidate,
                coverage: labelled.coverage,
                label_coverage: labelled.label_coverage,
                size,
                centroid: centroids[cluster]
                    .iter()
                    .map(|c| (c / size.max(1) as f64) as f32)
                    .collect(),
                examples: members[cluster]
                    .iter()
                    .take(3)
                    .map(|&i| titles[i].clone())
                    .collect(),
            }
        })
        .collect();
    let item_fits_label = assignment
        .iter()
        .zip(&item_words)
        .map(|(&cluster, words)| clusters[cluster].label.iter().any(|w| words.contains(w)))
        .collect();
    Ok(TasteClusters {
        clusters,
        item_cluster: assignment.into_iter().map(|c| c as u32).collect(),
        item_fits_label,
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

    /// A synthetic catalogue: `per_cluster` items along each of three planted
    /// factor directions, titled by `title(cluster, item, rng)`.
    fn planted(
        per_cluster: usize,
        mut title: impl FnMut(usize, usize, &mut crate::random::SplitMix64) -> String,
    ) -> (Vec<f32>, Vec<String>) {
        let mut rng = crate::random::SplitMix64::new(1);
        let (mut factors, mut titles) = (Vec::new(), Vec::new());
        for cluster in 0..3 {
            for item in 0..per_cluster {
                let mut row = [
                    rng.next_f32() * 0.1,
                    rng.next_f32() * 0.1,
                    rng.next_f32() * 0.1,
                ];
                row[cluster] = 1.0;
                factors.extend(row);
                titles.push(title(cluster, item, &mut rng));
            }
        }
        (factors, titles)
    }

    /// Words shared by every cluster alike, for titles that say nothing of
    /// the cluster.
    const NOISE: [&str; 12] = [
        "RED", "BLUE", "GREEN", "WOOD", "METAL", "PAPER", "VINTAGE", "RETRO", "HOME", "GIFT",
        "PARTY", "STAR",
    ];

    fn noise(rng: &mut crate::random::SplitMix64) -> &'static str {
        NOISE[(rng.next_f32() * NOISE.len() as f32) as usize % NOISE.len()]
    }

    #[test]
    fn a_coherent_cluster_gets_its_word() {
        // Cluster 0's items are all mugs; every item is a THING, and the
        // other words are drawn alike in every cluster.
        let (factors, titles) = planted(30, |cluster, item, rng| {
            let (a, b) = (noise(rng), noise(rng));
            if cluster == 0 {
                format!("{a} MUG THING {item}")
            } else {
                format!("{a} {b} THING {item}")
            }
        });
        let got = taste_clusters(&factors, 3, &titles, 3, 7).unwrap();
        for cluster in 0..3 {
            let ids = &got.item_cluster[cluster * 30..(cluster + 1) * 30];
            assert!(ids.iter().all(|&c| c == ids[0]), "cluster {cluster} split");
        }
        let mugs = &got.clusters[got.item_cluster[0] as usize];
        assert_eq!(mugs.label, ["MUG"], "{mugs:?}");
        assert_eq!(mugs.label_coverage, 1.0);
        assert!(got.item_fits_label[..30].iter().all(|f| *f));
        // THING is in every item: distinctive to no cluster; the noise words
        // are not either, so the other clusters have no label.
        for cluster in [30, 60] {
            let other = &got.clusters[got.item_cluster[cluster] as usize];
            assert!(other.label.is_empty(), "{other:?}");
        }
        assert!(got.item_fits_label[30..].iter().all(|f| !*f));
    }

    /// Issue 24: a catalogue above the bound fits its clusters on a seeded
    /// sample and assigns every item; the planted tastes come out whole.
    #[test]
    fn issue_24_a_large_catalogue_fits_taste_clusters_on_a_sample() {
        let (factors, titles) = planted(100, |_, item, _| format!("THING {item}"));
        let got = taste_clusters_fitted_on(&factors, 3, &titles, 3, 7, 60).unwrap();
        assert_eq!(got.item_cluster.len(), 300);
        for cluster in 0..3 {
            let ids = &got.item_cluster[cluster * 100..(cluster + 1) * 100];
            assert!(ids.iter().all(|&c| c == ids[0]), "cluster {cluster} split");
        }
        assert_eq!(got.clusters.iter().map(|c| c.size).sum::<usize>(), 300);
        assert_eq!(
            got,
            taste_clusters_fitted_on(&factors, 3, &titles, 3, 7, 60).unwrap()
        );
    }

    /// Issue 20: a cluster whose distinctive words each name only a few of
    /// its items ("VINTAGE, JUMBO, KNOB" on a teacup) gets no label.
    #[test]
    fn issue_20_an_incoherent_cluster_gets_no_label() {
        // In cluster 0, a fifth of the items are teapots, a fifth lanterns:
        // both words are distinctive (nowhere else), together they cover 40%.
        let (factors, titles) = planted(100, |cluster, item, rng| {
            let (a, b) = (noise(rng), noise(rng));
            match (cluster, item % 5) {
                (0, 0) => format!("{a} TEAPOT {item}"),
                (0, 1) => format!("{a} LANTERN {item}"),
                _ => format!("{a} {b} {item}"),
            }
        });
        let got = taste_clusters(&factors, 3, &titles, 3, 7).unwrap();
        let mixed = &got.clusters[got.item_cluster[0] as usize];
        assert_eq!(mixed.size, 100);
        assert_eq!(mixed.candidate.len(), 2, "{mixed:?}");
        assert!(mixed.candidate.contains(&"TEAPOT".to_string()));
        assert!((mixed.coverage - 0.4).abs() < 1e-12, "{mixed:?}");
        assert!(mixed.label.is_empty(), "{mixed:?}");
        assert_eq!(mixed.label_coverage, 0.0);
        assert!(got.item_fits_label.iter().all(|f| !*f));
        // Random words alike in every cluster label nothing either.
        assert!(
            got.clusters.iter().all(|c| c.label.is_empty()),
            "{:?}",
            got.clusters
        );
    }

    #[test]
    fn a_label_is_the_fewest_distinctive_words_that_cover_a_majority() {
        // 60 items hold TEAPOT, 30 CUP, 30 neither; the rest of the
        // catalogue holds none of them.
        let sets: Vec<HashSet<String>> = (0..120)
            .map(|i| {
                let word = match i % 4 {
                    0 | 1 => "TEAPOT",
                    2 => "CUP",
                    _ => "PLAIN",
                };
                HashSet::from([word.to_string()])
            })
            .collect();
        let members: Vec<&HashSet<String>> = sets.iter().collect();
        let overall = HashMap::from([
            ("TEAPOT".to_string(), 60),
            ("CUP".to_string(), 30),
            ("PLAIN".to_string(), 400),
        ]);
        let got = label_cluster(&members, &overall, 1000);
        assert_eq!(got.candidate, ["TEAPOT", "CUP"]);
        assert_eq!(got.label, ["TEAPOT"], "half the items are a majority");
        assert!((got.label_coverage - 0.5).abs() < 1e-12);
        assert!((got.coverage - 0.75).abs() < 1e-12);
    }
}
