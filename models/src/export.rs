//! The bundle export: maps a [`TrainedModel`] onto the engine's one bundle
//! format through `cove_engine::bundle::BundleBuilder`, and publishes it as the
//! three files the edge worker and the snippet read.
//!
//! Key decisions (each documented in models/README.md, "Bundle"):
//!
//! - One neighbour list per item (the engine has one): the union of recent
//!   baskets' votes, "bought together" (shrunk basket cosine) and "similar"
//!   (factor cosine), mixed by `config.neighbour_mix` (chosen on validation),
//!   best score first, cut to [`N_NEIGHBOURS`].
//! - Trending: the whole shop's list (`*`) is the trainer's recent-popularity
//!   prior ln(1 + distinct buyers in the window), its top [`N_TRENDING`]; the
//!   per-country lists carry ln(1 + buyers) too. The engine divides a list by
//!   its top score, so `weight_trending` = the discover prior × that top score,
//!   which makes the engine's term equal the trainer's prior on the `*` list.
//! - The engine's confidence is linear (c = 1 + α·w, w = the profile's decayed
//!   event weight) where the trainer's is logarithmic (c = b + α·ln(1 + x)); α
//!   is a scale (chosen through the engine on validation) times the α that
//!   gives one fresh purchase line the trainer's confidence.
//! - The blend weights (neighbours, trending, "buy again") are the ones
//!   [`crate::engine_eval`] chose through the engine on validation.
//! - Item factors are stored as int8 with per-row scales only (the engine's
//!   bundle schema 2).
//! - The classifiers shipped are the refits on the engine's vectorisers
//!   (`engine_classifier`), never the trainer's wider feature sets; the
//!   purchase-intent one with its Platt scaling folded in
//!   (`calibrated_classifier`), and the rescue threshold set from the share
//!   of carts to be offered (`crate::calibration`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use cove_engine::bundle::{
    layout, BuiltBundle, BundleBuilder, ItemMeta, LifecycleMap, LifecycleRule, LogisticModel,
    LoyaltyTier, PriceTiers, RankingParams, RescueAction, RescuePolicy, RescueRule,
    SegmentDefinitions, TrainingSummary,
};
use cove_engine::profile::ProfileParams;
use serde::Serialize;

use crate::classify::LinearClassifier;
use crate::pipeline::TrainedModel;

/// Neighbours kept per item.
pub const N_NEIGHBOURS: usize = 20;
/// Items kept in the `*` trending list by default (the length is chosen on
/// validation: `EngineWeights::n_trending`).
pub const N_TRENDING: usize = 1000;
/// Share of eligible carts held out from rescue offers, to measure them.
pub const RESCUE_HOLDOUT: f64 = 0.2;

/// How the trainer's parameters were mapped, for the report and the card.
#[derive(Debug, Clone, Serialize)]
pub struct ExportNotes {
    /// The ranking parameters shipped.
    pub lambda: f64,
    /// Engine α (linear confidence per unit of profile weight).
    pub alpha: f64,
    /// Weight of the personal term.
    pub weight_personal: f32,
    /// Weight of the neighbour term.
    pub weight_neighbors: f32,
    /// Weight of the trending term.
    pub weight_trending: f32,
    /// The "buy again" weight.
    pub weight_repeat: f32,
    /// Whether every lifecycle rule maps exactly onto the engine's score map.
    pub lifecycle_exact: bool,
    /// Lifecycle rules that could not be expressed and were left out.
    pub lifecycle_rules_dropped: Vec<String>,
    /// Notes, one sentence each.
    pub notes: Vec<String>,
}

/// Builds the bundle of `model`, with `extra_metrics` recorded beside the
/// trainer's own figures (for example the engine-path evaluation).
pub fn build_bundle(
    model: &TrainedModel,
    extra_metrics: &[(String, f64)],
) -> anyhow::Result<(BuiltBundle, ExportNotes)> {
    let (builder, notes) = builder(model, extra_metrics)?;
    let bundle = builder
        .build()
        .map_err(|e| anyhow::anyhow!("the engine refused the bundle: {e}"))?;
    Ok((bundle, notes))
}

/// The filled builder (before `build`), and the mapping notes.
pub fn builder(
    model: &TrainedModel,
    extra_metrics: &[(String, f64)],
) -> anyhow::Result<(BundleBuilder, ExportNotes)> {
    let dim = model.dim;
    let mut notes = Vec::new();

    // Trending lists: the `*` list is the trainer's prior.
    let mut star: Vec<(u32, f32)> = model
        .recent_popularity
        .iter()
        .enumerate()
        .filter(|(_, v)| **v > 0.0)
        .map(|(i, v)| (i as u32, round_score(*v)))
        .collect();
    star.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    star.truncate(model.config.engine.n_trending);

    // Ranking parameters, chosen through the engine on validation.
    let confidence = model.config.als.confidence;
    let profile = ProfileParams::default();
    let weights = model.config.engine;
    // The fold-in's λ and α: the ones the factors were fit with.
    let (lambda, alpha) = match &model.origin {
        crate::pipeline::FactorOrigin::Als(_) => (
            model.config.als.regularization as f64,
            crate::engine_scorer::engine_alpha(&confidence, weights.alpha_scale),
        ),
        crate::pipeline::FactorOrigin::Imported(imported) => {
            (imported.fold_in.lambda, imported.fold_in.alpha)
        }
    };
    let ranking = RankingParams {
        lambda,
        alpha,
        weight_personal: 1.0,
        weight_neighbors: weights.weight_neighbors,
        weight_trending: weights.weight_trending,
        weight_repeat: weights.weight_repeat,
        keep_purchased: weights.keep_purchased,
        profile_half_life_days: weights.profile_half_life_days,
        session: weights.session,
    };
    match &model.origin {
        crate::pipeline::FactorOrigin::Als(_) => notes.push(format!(
            "confidence: trainer c = {} + {}·ln(1 + x/{}) per (shopper, item) strength x; engine c = 1 + α·w on the \
             profile's decayed weight w (a purchase line adds {}); α = {} × (c(1) − 1)/{} = {:.4}: the factor {} was \
             chosen through the engine on validation, 1 giving one fresh purchase line the trainer's confidence",
            confidence.base,
            confidence.alpha,
            confidence.epsilon,
            profile.weight_purchase,
            weights.alpha_scale,
            profile.weight_purchase,
            alpha,
            weights.alpha_scale
        )),
        crate::pipeline::FactorOrigin::Imported(imported) => {
            notes.extend(imported.fold_in.notes.iter().cloned());
        }
    }
    match &model.origin {
        crate::pipeline::FactorOrigin::Als(_) => {
            notes.push(format!(
                "decay: trainer half-life {:?} days (ALS strengths); the device's profile decays with a half-life of {} days \
                 (`ranking.profile_half_life_days`, {}; the engine's default is {} days), which hosts take from the bundle",
                model.half_life_days,
                weights.profile_half_life_days.unwrap_or(profile.half_life_days),
                if weights.profile_half_life_days.is_some() { "chosen through the engine on validation" } else { "absent: the default" },
                profile.half_life_days
            ));
            notes.push(format!(
                "weights: neighbours {}, trending {} (the `*` list is ln(1 + buyers in the last {} days), top {} items), \
                 buy again {}; chosen through the engine (fold-in, rank_with_params) on validation",
                weights.weight_neighbors,
                weights.weight_trending,
                model.config.trending_window_days,
                weights.n_trending,
                weights.weight_repeat
            ));
            if let Some(kept) = weights.keep_purchased {
                notes.push(format!(
                    "weights of requests that keep bought items (`keep_purchased`, the \"for you\" slot of task A): personal {}, \
                     neighbours {}, trending {}, buy again {}; chosen through the engine on validation by task A",
                    kept.weight_personal, kept.weight_neighbors, kept.weight_trending, kept.weight_repeat
                ));
            }
        }
        crate::pipeline::FactorOrigin::Imported(imported) => notes.push(format!(
            "weights: neighbours {}, trending {} (the `*` list is ln(1 + buyers in the last {} days), top {} items), \
             buy again {}, \"for you\" slot {:?}, device profile half-life {} days: {}; not chosen for these \
             factors (imported factors are not evaluated by Cove)",
            weights.weight_neighbors,
            weights.weight_trending,
            model.config.trending_window_days,
            weights.n_trending,
            weights.weight_repeat,
            weights.keep_purchased,
            weights.profile_half_life_days.unwrap_or(profile.half_life_days),
            imported.weights_from
        )),
    }
    notes.push(
        "trending countries: the data's country names are shipped as ISO 3166-1 alpha-2 codes (United Kingdom → GB, \
         EIRE → IE, …), which the engine's requests carry; names without a code (Channel Islands, European \
         Community, Unspecified) keep their name"
            .into(),
    );
    // Segments.
    let (lifecycle, lifecycle_exact, dropped) = lifecycle_map(model);
    if !lifecycle_exact {
        notes.push(
            "lifecycle: the 'new' rule (one order) is approximated by the lowest frequency score"
                .into(),
        );
    }
    let labels = cluster_labels(model);
    let lc = &model.lifecycle;
    let loyalty_tiers = vec![
        LoyaltyTier {
            name: "member".into(),
            min_orders: 1,
            min_spend: 0.0,
        },
        LoyaltyTier {
            name: "silver".into(),
            min_orders: lc.frequency_cuts[2].floor() as u32 + 1,
            min_spend: lc.monetary_cuts[2].max(0.0),
        },
        LoyaltyTier {
            name: "gold".into(),
            min_orders: lc.frequency_cuts[3].floor() as u32 + 1,
            min_spend: lc.monetary_cuts[3].max(0.0),
        },
    ];
    let segments = SegmentDefinitions {
        lifecycle,
        propensity_threshold: 0.5,
        price_tiers: PriceTiers {
            cuts: vec![
                round4(model.price_tiers.budget_below as f64),
                round4(model.price_tiers.premium_from as f64),
            ],
            labels: vec!["budget".into(), "mid".into(), "premium".into()],
        },
        taste_clusters: labels.clone(),
        loyalty_tiers,
    };

    // Rescue: offer to the riskiest carts only, `--rescue-share` of them on
    // the held-out sessions (`intent::RiskCalibration`). Without a sessions
    // file the risk model is neutral (0.5 for every cart) and the threshold
    // is above it: no offers.
    let threshold = model
        .intent
        .as_ref()
        .map_or(0.85, |i| i.calibration.rescue_threshold);
    if let Some(i) = &model.intent {
        let c = &i.calibration;
        notes.push(format!(
            "rescue: offered when the calibrated abandonment risk is at least {:.4}, the threshold \
             above which at most {:.0}% of the validation part's carts lie (sessions with a product \
             page); on the test part {:.1}% of {} carts are offered",
            c.rescue_threshold,
            100.0 * c.rescue_share,
            100.0 * c.test_offer_share,
            c.test_carts
        ));
    }
    let rescue = RescuePolicy {
        threshold,
        holdout_share: RESCUE_HOLDOUT,
        actions: vec![
            rule("champion", RescueAction::Reminder),
            rule("loyal", RescueAction::Reminder),
            rule("new", RescueAction::FreeShipping),
            rule("at-risk", RescueAction::Discount { percent: 10.0 }),
            rule("lapsed", RescueAction::Discount { percent: 10.0 }),
            rule("*", RescueAction::Reminder),
        ],
    };

    let mut builder = BundleBuilder::new(
        dim,
        N_NEIGHBOURS,
        weights.n_trending.max(model.config.trending_k),
        ranking.clone(),
        segments,
        rescue,
    );
    let first_day = crate::dates::parse_day(&model.data.first_day).unwrap_or(0);
    let last_day = crate::dates::parse_day(&model.data.last_day).unwrap_or(0);
    builder.training(TrainingSummary {
        source: model.data.source.clone(),
        n_users: model.data.n_customers as u64,
        n_items: model.data.n_items as u64,
        n_interactions: model.data.cleaning.rows_kept,
        first_day,
        last_day,
    });
    for (name, value) in trainer_metrics(model)
        .into_iter()
        .chain(extra_metrics.iter().cloned())
    {
        if value.is_finite() {
            builder.metric(&name, value);
        }
    }

    notes.push(
        "size: item factors are shipped only as int8 with one scale per row (the engine dequantises them; the \
         Gram matrix is that of the dequantised rows) and neighbour scores rounded to multiples of 1/1024, so \
         the f32 tensors compress"
            .into(),
    );
    for (idx, item) in model.items.iter().enumerate() {
        let row = &model.item_factors[idx * dim..(idx + 1) * dim];
        let meta = ItemMeta {
            id: item.code.clone(),
            title: item.title.clone(),
            price: round4(item.price as f64),
            category: item_category(model, idx, &labels),
            in_stock: item.in_stock,
            countries: None,
        };
        builder
            .add_item(meta, row)
            .map_err(|e| anyhow::anyhow!("item {}: {e}", item.code))?;
    }
    for idx in 0..model.items.len() {
        let list = merged_neighbours(model, idx);
        builder
            .neighbors(idx as u32, &list)
            .map_err(|e| anyhow::anyhow!("neighbours of item {idx}: {e}"))?;
    }
    builder.trending("*", &star);
    for list in &model.trending {
        if list.country == "*" {
            continue;
        }
        let items: Vec<(u32, f32)> = list
            .items
            .iter()
            .map(|n| (n.item, round_score(n.score.ln_1p())))
            .collect();
        if !items.is_empty() {
            builder.trending(country_code(&list.country), &items);
        }
    }
    let centroids: Vec<f32> = model
        .taste_clusters
        .clusters
        .iter()
        .flat_map(|c| c.centroid.iter().copied())
        .collect();
    builder.taste_centroids(&centroids);
    if let Some(p) = &model.propensity {
        builder.propensity(logistic(&p.engine_classifier));
    } else {
        notes.push(
            "propensity: no model (too little history); the bundle's is neutral (0.5)".into(),
        );
    }
    if let Some(i) = &model.intent {
        builder.purchase_intent(logistic(&i.calibrated_classifier));
    } else {
        notes.push("purchase intent: no sessions file; the bundle's model is neutral (0.5)".into());
    }
    Ok((
        builder,
        ExportNotes {
            lambda: ranking.lambda,
            alpha: ranking.alpha,
            weight_personal: ranking.weight_personal,
            weight_neighbors: ranking.weight_neighbors,
            weight_trending: ranking.weight_trending,
            weight_repeat: ranking.weight_repeat,
            lifecycle_exact,
            lifecycle_rules_dropped: dropped,
            notes,
        },
    ))
}

fn rule(segment: &str, action: RescueAction) -> RescueRule {
    RescueRule {
        segment: segment.into(),
        action,
        threshold: None,
    }
}

/// The ISO 3166-1 alpha-2 code of a country name as shop exports spell it
/// (the engine's requests carry codes); names not in the table pass through.
pub fn country_code(name: &str) -> &str {
    const CODES: &[(&str, &str)] = &[
        ("Australia", "AU"),
        ("Austria", "AT"),
        ("Bahrain", "BH"),
        ("Belgium", "BE"),
        ("Brazil", "BR"),
        ("Canada", "CA"),
        ("Cyprus", "CY"),
        ("Czech Republic", "CZ"),
        ("Denmark", "DK"),
        ("EIRE", "IE"),
        ("Ireland", "IE"),
        ("Finland", "FI"),
        ("France", "FR"),
        ("Germany", "DE"),
        ("Greece", "GR"),
        ("Iceland", "IS"),
        ("Israel", "IL"),
        ("Italy", "IT"),
        ("Japan", "JP"),
        ("Lebanon", "LB"),
        ("Lithuania", "LT"),
        ("Malta", "MT"),
        ("Netherlands", "NL"),
        ("Norway", "NO"),
        ("Poland", "PL"),
        ("Portugal", "PT"),
        ("RSA", "ZA"),
        ("Saudi Arabia", "SA"),
        ("Singapore", "SG"),
        ("Spain", "ES"),
        ("Sweden", "SE"),
        ("Switzerland", "CH"),
        ("USA", "US"),
        ("United Arab Emirates", "AE"),
        ("United Kingdom", "GB"),
    ];
    CODES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(name, |(_, code)| code)
}

/// A similarity rounded to a multiple of 1/1024, kept positive.
fn round_score(v: f32) -> f32 {
    ((v * 1024.0).round() / 1024.0).max(1.0 / 1024.0)
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The taste segments' names, one per cluster: its label ("TEAPOT, CUP"),
/// made unique (a repeated label gets " #k", k its cluster number), or
/// "cluster k" for a cluster without a label (`segments::label_cluster`):
/// a segment needs a name, and that one claims nothing about its items.
fn cluster_labels(model: &TrainedModel) -> Vec<String> {
    let mut labels: Vec<String> = Vec::new();
    for (k, cluster) in model.taste_clusters.clusters.iter().enumerate() {
        let mut label = cluster.label.join(", ");
        if label.is_empty() {
            label = format!("cluster {k}");
        }
        if labels.contains(&label) {
            label = format!("{label} #{k}");
        }
        labels.push(label);
    }
    labels
}

/// The category shown with item `idx`: its cluster's label when the cluster
/// has one and the item's own title holds a word of it, else empty (the
/// data has no category column, and a label that does not describe the item
/// is not shown on it).
fn item_category(model: &TrainedModel, idx: usize, labels: &[String]) -> String {
    let clusters = &model.taste_clusters;
    let fits = clusters.item_fits_label.get(idx).copied().unwrap_or(false);
    let cluster = model.items[idx].category as usize;
    if fits
        && clusters
            .clusters
            .get(cluster)
            .is_some_and(|c| !c.label.is_empty())
    {
        labels.get(cluster).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

/// The union of the three source lists, best first (ties by the lower row),
/// mixed as `model.config.neighbour_mix` says: each list scaled by its own
/// best score, times its weight, summed for an item on several lists.
fn merged_neighbours(model: &TrainedModel, idx: usize) -> Vec<(u32, f32)> {
    let mix = &model.config.neighbour_mix;
    let mut all: Vec<(u32, f32)> = Vec::new();
    let lists = [
        (model.similar.get(idx), mix.factor_cosine),
        (model.bought_together.get(idx), mix.basket_cosine),
        (model.session_votes.get(idx), mix.votes),
    ];
    for (list, weight) in lists {
        let Some(list) = list.filter(|_| weight > 0.0) else {
            continue;
        };
        let usable = |n: &&crate::neighbours::Neighbour| {
            n.item as usize != idx && n.score.is_finite() && n.score > 0.0
        };
        let top = list
            .iter()
            .filter(usable)
            .fold(0.0f32, |m, n| m.max(n.score));
        if top <= 0.0 {
            continue;
        }
        for n in list.iter().filter(usable) {
            let scaled = weight * n.score / top;
            match all.iter_mut().find(|(i, _)| *i == n.item) {
                Some(entry) => entry.1 += scaled,
                None => all.push((n.item, scaled)),
            }
        }
    }
    for entry in &mut all {
        entry.1 = round_score(entry.1);
    }
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(N_NEIGHBOURS);
    all
}

fn logistic(c: &LinearClassifier) -> LogisticModel {
    LogisticModel {
        mean: c.means.iter().map(|v| *v as f32).collect(),
        scale: c.stds.iter().map(|v| *v as f32).collect(),
        coef: c.weights.iter().map(|v| *v as f32).collect(),
        intercept: c.intercept as f32,
    }
}

/// One axis of the RFM map: the engine's strictly ascending cuts and, per
/// engine score (index 0 = score 1), the trainer's score it stands for.
struct Axis {
    cuts: Vec<f64>,
    trainer_score: Vec<u8>,
}

impl Axis {
    /// The trainer's "higher is better" axis: score = 1 + #(value > c). The
    /// engine counts value ≥ c', so c' is the next number above c (for integer
    /// frequencies, ⌊c⌋ + 1).
    fn upward(cuts: &[f64; 4], integer: bool) -> Axis {
        let engine: Vec<f64> = cuts
            .iter()
            .map(|&c| if integer { c.floor() + 1.0 } else { next_up(c) })
            .collect();
        Axis::from_multiset(&engine)
    }

    /// Recency: the trainer's r = 6 − (1 + #(days > c)) = 1 + #(days ≤ c),
    /// which is the engine's rule with the same cuts.
    fn recency(cuts: &[f64; 4]) -> Axis {
        Axis::from_multiset(cuts)
    }

    /// Duplicated cuts (ties in quantiles) become one engine cut whose step
    /// counts several trainer scores at once.
    fn from_multiset(cuts: &[f64]) -> Axis {
        let mut unique: Vec<f64> = Vec::new();
        let mut trainer_score = vec![1u8];
        let mut score = 1u8;
        for &c in cuts {
            score += 1;
            if unique.last() == Some(&c) {
                *trainer_score.last_mut().expect("not empty") = score;
            } else {
                unique.push(c);
                trainer_score.push(score);
            }
        }
        Axis {
            cuts: unique,
            trainer_score,
        }
    }

    /// The engine score range whose trainer scores lie in `[low, high]`, or
    /// None if no engine score does.
    fn range(&self, low: u8, high: u8) -> Option<[u8; 2]> {
        let inside: Vec<u8> = self
            .trainer_score
            .iter()
            .enumerate()
            .filter(|(_, t)| (low..=high).contains(*t))
            .map(|(i, _)| i as u8 + 1)
            .collect();
        Some([*inside.first()?, *inside.last()?])
    }
}

fn next_up(c: f64) -> f64 {
    if c == 0.0 {
        f64::from_bits(1)
    } else if c > 0.0 {
        f64::from_bits(c.to_bits() + 1)
    } else {
        f64::from_bits(c.to_bits() - 1)
    }
}

/// The trainer's lifecycle rules (`segments::Lifecycle::segment`) on the
/// engine's RFM map. Returns the map, whether it is exact, and the rules left
/// out because no engine score range expresses them.
fn lifecycle_map(model: &TrainedModel) -> (LifecycleMap, bool, Vec<String>) {
    let lc = &model.lifecycle;
    let r = Axis::recency(&lc.recency_days_cuts);
    let f = Axis::upward(&lc.frequency_cuts, true);
    let m = Axis::upward(&lc.monetary_cuts, false);
    // "new" is "one order": the frequency scores whose orders are all ≤ 1,
    // i.e. below the first engine cut when that cut is 2.
    let new_exact = f.cuts.first() == Some(&2.0);
    let any = [1u8, 5u8];
    // (segment, trainer recency range, engine frequency range, trainer monetary range)
    type Wanted<'a> = (&'a str, [u8; 2], Option<[u8; 2]>, [u8; 2]);
    let wanted: [Wanted; 5] = [
        ("champion", [4, 5], f.range(4, 5), [4, 5]),
        ("loyal", [3, 5], f.range(4, 5), any),
        ("new", [4, 5], Some([1, 1]), any),
        (
            "active",
            [3, 5],
            Some([1, f.trainer_score.len() as u8]),
            any,
        ),
        ("at-risk", [2, 2], f.range(3, 5), any),
    ];
    let mut rules = Vec::new();
    let mut dropped = Vec::new();
    for (segment, r_range, f_range, m_range) in wanted {
        let parts = (
            r.range(r_range[0], r_range[1]),
            f_range,
            m.range(m_range[0], m_range[1]),
        );
        match parts {
            (Some(r), Some(f), Some(m)) => rules.push(LifecycleRule {
                segment: segment.into(),
                r,
                f,
                m,
            }),
            _ => dropped.push(segment.to_string()),
        }
    }
    (
        LifecycleMap {
            recency_cuts_days: r.cuts,
            frequency_cuts: f.cuts,
            monetary_cuts: m.cuts,
            rules,
            no_purchase_segment: "new".into(),
            fallback_segment: "lapsed".into(),
        },
        new_exact,
        dropped,
    )
}

/// The trainer's own figures, by name, for the manifest's `metrics`.
pub fn trainer_metrics(model: &TrainedModel) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for row in model.evaluation().into_iter().flat_map(|e| &e.rows) {
        let name = match row.model.as_str() {
            "Cove ALS, factor score only (engine fold-in, int8 factors)" => "factors_only",
            _ => continue,
        };
        let task = match row.task {
            crate::eval::Task::A => "a",
            crate::eval::Task::B => "b",
        };
        let m = &row.metrics;
        for (metric, value) in [
            ("hr_at_10", m.hr_at_10),
            ("ndcg_at_10", m.ndcg_at_10),
            ("recall_at_20", m.recall_at_20),
        ] {
            out.push((format!("task_{task}.{name}.{metric}"), round4(value)));
        }
    }
    if let Some(p) = &model.propensity {
        out.push((
            "propensity.roc_auc".into(),
            round4(p.engine_test_quality.roc_auc),
        ));
        out.push((
            "propensity.pr_auc".into(),
            round4(p.engine_test_quality.pr_auc),
        ));
    }
    if let Some(i) = &model.intent {
        out.push((
            "purchase_intent.roc_auc".into(),
            round4(i.engine_test_quality.roc_auc),
        ));
        out.push((
            "purchase_intent.pr_auc".into(),
            round4(i.engine_test_quality.pr_auc),
        ));
    }
    out
}

/// A bundle's sizes.
#[derive(Debug, Clone, Serialize)]
pub struct BundleSizes {
    /// Bytes of the manifest.
    pub manifest_bytes: usize,
    /// Bytes of the tensors.
    pub tensors_bytes: usize,
    /// The manifest, gzip -9.
    pub manifest_gzip_bytes: usize,
    /// The tensors, gzip -9.
    pub tensors_gzip_bytes: usize,
    /// Per tensor: (name, raw bytes, gzip -9 bytes), largest gzip first.
    pub largest_parts: Vec<(String, usize, usize)>,
}

/// Measures a bundle.
pub fn measure(bundle: &BuiltBundle) -> BundleSizes {
    BundleSizes {
        manifest_bytes: bundle.manifest.len(),
        tensors_bytes: bundle.tensors.len(),
        manifest_gzip_bytes: gzip_len(&bundle.manifest),
        tensors_gzip_bytes: gzip_len(&bundle.tensors),
        largest_parts: tensor_sizes(&bundle.tensors),
    }
}

/// The most a device downloads for a bundle (manifest + tensors, gzip -9).
pub const BUNDLE_BUDGET_GZ: usize = 1_000_000;

impl BundleSizes {
    /// Manifest and tensors, gzip -9.
    pub fn total_gzip_bytes(&self) -> usize {
        self.manifest_gzip_bytes + self.tensors_gzip_bytes
    }

    /// Whether a device's download stays within [`BUNDLE_BUDGET_GZ`].
    pub fn within_budget(&self) -> bool {
        self.within(BUNDLE_BUDGET_GZ)
    }

    /// Whether a device's download stays within `budget` bytes (gzip).
    pub fn within(&self, budget: usize) -> bool {
        self.total_gzip_bytes() <= budget
    }
}

/// Where a bundle was published.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    /// `DIR/<model_id>/manifest.json`.
    pub manifest_path: PathBuf,
    /// `DIR/<model_id>/tensors.safetensors`.
    pub tensors_path: PathBuf,
    /// `DIR/<model_id>/catalogue.json`.
    pub catalogue_path: PathBuf,
    /// `DIR/default.json` (or the pointer name given).
    pub pointer_path: PathBuf,
}

/// A bundle's entry in a pointer file: its id and the URL paths of its two
/// parts (`layout::bundle_url`).
pub fn bundle_pointer(model_id: &str) -> serde_json::Value {
    serde_json::json!({
        "model_id": model_id,
        "manifest": layout::bundle_url(model_id, layout::MANIFEST_FILE),
        "tensors": layout::bundle_url(model_id, layout::TENSORS_FILE),
    })
}

/// The Subresource Integrity string of a file's bytes (`sha256-<base64>`).
pub fn sri_sha256(bytes: &[u8]) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(bytes);
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The pointer file `default.json` for a main bundle: its parts, the
/// catalogue published beside them, the manifest's SRI (the tensor file's
/// digest is in the manifest), and the starter lists: what a first visit's
/// "for you" slots show before the engine has loaded, computed by the
/// engine for an empty profile (`cove_engine::ranking::starter`). The
/// pointer is the one file a storefront fetches before its first render.
pub fn pointer_json(
    model: &cove_engine::bundle::Model,
    model_id: &str,
    manifest: &[u8],
) -> anyhow::Result<String> {
    let mut value = bundle_pointer(model_id);
    value["catalogue"] = layout::bundle_url(model_id, layout::CATALOGUE_FILE).into();
    value["manifest_integrity"] = sri_sha256(manifest).into();
    let starter = cove_engine::ranking::starter::starter_lists(
        model,
        cove_engine::ranking::starter::STARTER_K,
    )
    .context("ranking the starter lists")?;
    value["starter"] = serde_json::to_value(starter).context("serializing the starter lists")?;
    if !model.shard_table().is_empty() {
        let paths: Vec<String> = (0..model.shard_table().len())
            .map(|index| layout::bundle_url(model_id, &layout::shard_file_name(index)))
            .collect();
        value["shards"] = paths.into();
    }
    let mut text = serde_json::to_string(&value).context("serializing the pointer")?;
    text.push('\n');
    Ok(text)
}

/// Writes `DIR/<model_id>/manifest.json`, `DIR/<model_id>/tensors.safetensors`,
/// `DIR/<model_id>/catalogue.json` and `DIR/default.json` (the pointer, written
/// last so a reader never sees a pointer to missing files). Each file is
/// written to a temporary name and renamed.
///
/// The catalogue is not a part of the bundle (the engine reads the items from
/// the tensor file): it is the items as the engine loads them, one JSON object
/// per row (`id`, `title`, `price`, `category`, `in_stock`, and `countries`
/// when limited), for the shop's own pages and the dashboard's names.
pub fn publish(bundle: &BuiltBundle, dir: &Path) -> anyhow::Result<Published> {
    publish_with_shards(bundle, &[], &[], dir, DEFAULT_POINTER)
}

/// The pointer file a storefront names by default (`/v1/bundles/default.json`).
pub const DEFAULT_POINTER: &str = layout::DEFAULT_POINTER;

/// Checks a pointer file's name: `<name>.json` in the publish directory,
/// with a name a shop's `bundle` can hold ([`layout::is_pointer_name`]), so
/// `--pointer` cannot write elsewhere and the edge can serve what it names.
pub fn check_pointer_name(name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        layout::pointer_name_of_file(name).is_some(),
        "--pointer {name:?}: give a file name like \"default.json\": 1 to {} characters of \
         [a-z0-9_-], then .json (no folders)",
        layout::MAX_POINTER_NAME
    );
    Ok(())
}

/// [`publish`] for a head, its shard files and its item index (none for a
/// whole bundle), with the pointer file named `pointer` (see
/// [`check_pointer_name`]): the index's files as `DIR/<model_id>/items-<b>.json`;
/// the shards are written first, as `DIR/<model_id>/shard-<i>.safetensors`,
/// the catalogue lists the head's items and every shard's, and the pointer
/// names the shards' paths (`shards`). The starter lists are the head's, what
/// a device has before any shard.
pub fn publish_with_shards(
    bundle: &BuiltBundle,
    shards: &[Vec<u8>],
    item_index: &[Vec<u8>],
    dir: &Path,
    pointer: &str,
) -> anyhow::Result<Published> {
    check_pointer_name(pointer)?;
    let model = cove_engine::bundle::Model::from_bytes(&bundle.manifest, &bundle.tensors)
        .context("the bundle to publish does not load")?;
    let mut whole = model.clone();
    for (index, file) in shards.iter().enumerate() {
        whole
            .add_shard(index, file)
            .map_err(|e| anyhow::anyhow!("shard {index} does not join its head: {e}"))?;
    }
    anyhow::ensure!(
        shards.len() == model.shard_table().len(),
        "the head lists {} shards, {} given",
        model.shard_table().len(),
        shards.len()
    );
    let mut catalogue = serde_json::to_vec(whole.items()).context("serializing the catalogue")?;
    catalogue.push(b'\n');
    let bundle_dir = dir.join(&bundle.model_id);
    std::fs::create_dir_all(&bundle_dir)
        .with_context(|| format!("creating {}", bundle_dir.display()))?;
    let manifest_path = bundle_dir.join(layout::MANIFEST_FILE);
    let tensors_path = bundle_dir.join(layout::TENSORS_FILE);
    let catalogue_path = bundle_dir.join(layout::CATALOGUE_FILE);
    let pointer_path = dir.join(pointer);
    for (index, file) in shards.iter().enumerate() {
        write_atomic(&bundle_dir.join(layout::shard_file_name(index)), file)?;
    }
    anyhow::ensure!(
        item_index.len() as u64 == u64::from(model.manifest().item_index_files.unwrap_or(0)),
        "the head names {:?} item-index files, {} given",
        model.manifest().item_index_files,
        item_index.len()
    );
    for (bucket, file) in item_index.iter().enumerate() {
        write_atomic(
            &bundle_dir.join(layout::item_index_file_name(bucket as u32)),
            file,
        )?;
    }
    write_atomic(&tensors_path, &bundle.tensors)?;
    write_atomic(&manifest_path, &bundle.manifest)?;
    write_atomic(&catalogue_path, &catalogue)?;
    let pointer_text = pointer_json(&model, &bundle.model_id, &bundle.manifest)?;
    write_atomic(&pointer_path, pointer_text.as_bytes())?;
    Ok(Published {
        manifest_path,
        tensors_path,
        catalogue_path,
        pointer_path,
    })
}

/// Writes a file under a temporary name, then renames it into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// gzip -9 size of bytes.
pub fn gzip_len(bytes: &[u8]) -> usize {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory").len()
}

/// Per tensor: (name, raw bytes, gzip bytes), largest gzip first.
fn tensor_sizes(tensors: &[u8]) -> Vec<(String, usize, usize)> {
    let Ok(file) = safetensors::SafeTensors::deserialize(tensors) else {
        return Vec::new();
    };
    let mut sizes: Vec<(String, usize, usize)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().len(), gzip_len(view.data())))
        .collect();
    sizes.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    sizes
}

/// Reads a pointer file (`default.json`, `sentiment.json`) as JSON.
pub fn read_pointer(pointer: &Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(pointer)
        .with_context(|| format!("reading {}", pointer.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", pointer.display()))
}

/// The manifest path a pointer entry (`{"model_id": …}`) names under `dir`;
/// the id must be a plain name.
pub fn pointed_manifest(
    dir: &Path,
    pointer: &Path,
    entry: &serde_json::Value,
) -> anyhow::Result<PathBuf> {
    let id = entry["model_id"]
        .as_str()
        .with_context(|| format!("{} has no model_id", pointer.display()))?;
    anyhow::ensure!(
        !id.contains(['/', '\\']) && !id.contains(".."),
        "{}: model_id {id:?} is not a plain name",
        pointer.display()
    );
    Ok(dir.join(id).join(layout::MANIFEST_FILE))
}

/// Reads a bundle's manifest and the `tensors.safetensors` beside it.
pub fn read_parts(manifest_path: &Path) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let tensors_path = manifest_path.with_file_name(layout::TENSORS_FILE);
    let manifest = std::fs::read(manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let tensors = std::fs::read(&tensors_path)
        .with_context(|| format!("reading {}", tensors_path.display()))?;
    Ok((manifest, tensors))
}

/// Reads a published bundle from a directory (its `default.json`, or a
/// `<model_id>` directory holding `manifest.json`) or a `manifest.json` path,
/// and loads it with the engine.
pub fn load_published(path: &Path) -> anyhow::Result<cove_engine::bundle::Model> {
    let manifest_path = if path.is_dir() {
        let pointer = path.join(layout::DEFAULT_POINTER);
        if pointer.is_file() {
            pointed_manifest(path, &pointer, &read_pointer(&pointer)?)?
        } else {
            path.join(layout::MANIFEST_FILE)
        }
    } else {
        path.to_owned()
    };
    let (manifest, tensors) = read_parts(&manifest_path)?;
    let mut model = cove_engine::bundle::Model::from_bytes(&manifest, &tensors)
        .map_err(|e| anyhow::anyhow!("{} is not a valid bundle: {e}", manifest_path.display()))?;
    crate::shards::load_shards(&mut model, &manifest_path)?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::tests::{small_config, synthetic_shop};
    use crate::pipeline::{self, Bars};

    fn trained() -> (TrainedModel, crate::engine_eval::EngineEvaluation) {
        let data = synthetic_shop();
        let mut config = small_config();
        let hidden = Bars::Hidden;
        let evaluation = pipeline::evaluate(&data, &mut config, hidden, None).unwrap();
        let engine = crate::engine_eval::evaluate_through_engine(
            &data,
            &mut config,
            &evaluation,
            hidden,
            true,
            true,
        )
        .unwrap();
        let model = pipeline::train(&data, &config, evaluation, None, "synthetic", hidden).unwrap();
        (model, engine)
    }

    #[test]
    fn the_same_data_and_seed_give_byte_identical_bundles() {
        let (first_model, first_engine) = trained();
        let (second_model, second_engine) = trained();
        let first = build_bundle(
            &first_model,
            &crate::engine_eval::metric_entries(&first_engine),
        )
        .unwrap()
        .0;
        let second = build_bundle(
            &second_model,
            &crate::engine_eval::metric_entries(&second_engine),
        )
        .unwrap()
        .0;
        assert_eq!(first.model_id, second.model_id);
        assert!(first.manifest == second.manifest, "manifests differ");
        assert!(first.tensors == second.tensors, "tensors differ");
        // The engine-path evaluation is deterministic too, and it scored users.
        assert_eq!(first_engine.model_id, second_engine.model_id);
        assert!(first_engine.rows.iter().all(|r| r.metrics.n_users > 0));
    }

    #[test]
    fn publish_writes_four_files_that_load() {
        let (model, engine) = trained();
        let (bundle, notes) =
            build_bundle(&model, &crate::engine_eval::metric_entries(&engine)).unwrap();
        let dir = std::env::temp_dir().join(format!("cove-publish-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let published = publish(&bundle, &dir).unwrap();
        let pointer: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&published.pointer_path).unwrap())
                .unwrap();
        let keys: Vec<&String> = pointer.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "catalogue",
                "manifest",
                "manifest_integrity",
                "model_id",
                "starter",
                "tensors"
            ]
        );
        let id = &bundle.model_id;
        // The manifest's SRI, as a browser computes it over the published bytes.
        let manifest_bytes = std::fs::read(&published.manifest_path).unwrap();
        assert_eq!(pointer["manifest_integrity"], sri_sha256(&manifest_bytes));
        assert!(pointer["manifest_integrity"]
            .as_str()
            .unwrap()
            .starts_with("sha256-"));
        // The starter lists: one per trending country, each item described.
        let starter = &pointer["starter"];
        let lists = starter["lists"].as_object().unwrap();
        assert!(lists.contains_key("*"));
        for list in lists.values() {
            for entry in list.as_array().unwrap() {
                let item = entry["item"].as_str().unwrap();
                assert!(starter["items"][item]["title"].is_string());
            }
        }
        assert_eq!(pointer["model_id"], *id);
        // The parts' URL paths, spelt out here so that a change to the
        // layout module shows up as a change of the published pointer.
        assert_eq!(
            pointer["manifest"],
            format!("/v1/bundles/{id}/manifest.json")
        );
        assert_eq!(
            pointer["tensors"],
            format!("/v1/bundles/{id}/tensors.safetensors")
        );
        assert_eq!(
            pointer["catalogue"],
            format!("/v1/bundles/{id}/catalogue.json")
        );
        // Every way of naming the bundle loads the same model.
        for path in [
            dir.clone(),
            dir.join(id),
            dir.join(id).join(layout::MANIFEST_FILE),
        ] {
            assert_eq!(load_published(&path).unwrap().model_id(), id);
        }
        let loaded = load_published(&dir).unwrap();
        let manifest = loaded.manifest();
        assert_eq!(loaded.n_items(), model.items.len());
        // The catalogue lists the loaded items, in row order.
        let catalogue: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&published.catalogue_path).unwrap()).unwrap();
        let catalogue = catalogue.as_array().unwrap();
        assert_eq!(catalogue.len(), loaded.n_items());
        for (row, entry) in catalogue.iter().enumerate() {
            let item = loaded.item(row as u32).unwrap();
            assert_eq!(entry["id"], item.id.as_str());
            assert_eq!(entry["title"], item.title.as_str());
            assert_eq!(entry["price"].as_f64(), Some(item.price));
            assert_eq!(entry["category"], item.category.as_str());
            assert_eq!(entry["in_stock"], item.in_stock);
        }
        assert_eq!(manifest.segments.taste_clusters.len(), 3);
        assert!(manifest
            .metrics
            .get("task_a.engine_path.ndcg_at_10")
            .is_some());
        assert!(manifest
            .metrics
            .get("task_a.factors_only.ndcg_at_10")
            .is_some());
        assert_eq!(notes.lambda, model.config.als.regularization as f64);
        assert_eq!(
            manifest.ranking.weight_repeat,
            model.config.engine.weight_repeat
        );
        // The shipped classifiers are the engine-input refits.
        let p = model.propensity.as_ref().unwrap();
        assert_eq!(
            loaded.propensity().coef[0],
            p.engine_classifier.weights[0] as f32
        );
        // A corrupted tensor file is refused by the loader with a typed error.
        let tensors = dir.join(id).join(layout::TENSORS_FILE);
        let mut bytes = std::fs::read(&tensors).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&tensors, &bytes).unwrap();
        let err = load_published(&dir).unwrap_err().to_string();
        assert!(err.contains("not a valid bundle"), "{err}");
        // A pointer that escapes the directory is refused.
        std::fs::write(&published.pointer_path, r#"{"model_id": "../x"}"#).unwrap();
        assert!(load_published(&dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Issue 4, item 6: on the device (events → profile → `segments::classify`
    /// on the written bundle) every customer gets the propensity the trainer's
    /// smartcore model predicts and the lifecycle segment its rules give.
    #[test]
    fn engine_segments_and_propensity_equal_the_trainers() {
        use cove_engine::profile::Profile;
        let data = synthetic_shop();
        let (model, _) = trained();
        let (bundle, notes) = build_bundle(&model, &[]).unwrap();
        assert!(notes.lifecycle_rules_dropped.is_empty());
        // Every synthetic customer orders many times, so the frequency
        // quintiles start above 1 and the "one order" rule is the one
        // approximation (it is exact on Online Retail, whose first cut is 1).
        let exact = notes.lifecycle_exact;
        let engine_model =
            cove_engine::bundle::Model::from_bytes(&bundle.manifest, &bundle.tensors).unwrap();
        let end = data.purchases.iter().map(|p| p.minute).max().unwrap() + 1;
        let rfm = crate::segments::rfm_at(&data, end);
        let config = engine_model.profile_config().clone();
        let propensity = model.propensity.as_ref().unwrap();
        let mut lines_of: std::collections::HashMap<u32, Vec<&crate::data::Purchase>> =
            Default::default();
        for p in &data.purchases {
            lines_of.entry(p.customer_idx).or_default().push(p);
        }
        let mut segments_seen = std::collections::BTreeSet::new();
        for (customer, lines) in &lines_of {
            let (events, _) =
                crate::engine_scorer::purchase_events(&data, lines, config.max_items());
            let mut profile = Profile::new();
            for event in &events {
                profile.apply(event, &config).unwrap();
            }
            let got = cove_engine::segments::classify(&engine_model, &profile, &config, end * 60);
            let r = &rfm[customer];
            let want = propensity
                .engine_classifier
                .probability(&crate::segments::engine_propensity_row(r));
            assert!(
                (got.propensity.probability - want).abs() < 1e-5,
                "customer {customer}: engine {} trainer {want}",
                got.propensity.probability
            );
            let want_segment = model.lifecycle.segment(r);
            if exact || (want_segment != "new" && got.lifecycle.name != "new") {
                assert_eq!(got.lifecycle.name, want_segment, "{r:?}");
            }
            segments_seen.insert(got.lifecycle.name);
        }
        assert!(segments_seen.len() >= 3, "{segments_seen:?}");
    }

    #[test]
    fn scores_round_to_positive_multiples_of_a_1024th() {
        assert_eq!(round_score(0.0), 1.0 / 1024.0);
        assert_eq!(round_score(0.5), 0.5);
    }

    #[test]
    fn lifecycle_axes_keep_the_trainers_scores() {
        // Trainer frequency score = 1 + #(value > c); with tied cuts [1, 1, 2, 4].
        let axis = Axis::upward(&[1.0, 1.0, 2.0, 4.0], true);
        assert_eq!(axis.cuts, vec![2.0, 3.0, 5.0]);
        assert_eq!(axis.trainer_score, vec![1, 3, 4, 5]);
        // f ≥ 4 in trainer terms is engine scores 3..=4; f ≥ 2 starts at engine 2.
        assert_eq!(axis.range(4, 5), Some([3, 4]));
        assert_eq!(axis.range(2, 5), Some([2, 4]));
        assert_eq!(axis.range(2, 2), None);
        let trainer = |v: f64| 1 + [1.0, 1.0, 2.0, 4.0].iter().filter(|c| v > **c).count() as u8;
        let engine = |v: f64| 1 + axis.cuts.iter().filter(|c| v >= **c).count();
        for v in 0..8 {
            let v = v as f64;
            assert_eq!(axis.trainer_score[engine(v) - 1], trainer(v), "orders {v}");
        }
        // Monetary: the engine's ≥ on the next float equals the trainer's >.
        let money = Axis::upward(&[10.0, 20.0, 30.0, 40.0], false);
        let engine = |v: f64| 1 + money.cuts.iter().filter(|c| v >= **c).count();
        assert_eq!(engine(10.0), 1);
        assert_eq!(engine(10.000001), 2);
        // Recency: same cuts, same rule.
        let recency = Axis::recency(&[7.0, 30.0, 30.0, 90.0]);
        assert_eq!(recency.cuts, vec![7.0, 30.0, 90.0]);
        assert_eq!(recency.trainer_score, vec![1, 2, 4, 5]);
    }
}
