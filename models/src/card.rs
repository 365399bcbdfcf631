//! The model card (`MODEL_CARD.md`), written by `train` beside the report.

use std::fmt::Write as _;

use crate::engine_eval::{self, EngineEvaluation};
use crate::export::{BundleSizes, ExportNotes};
use crate::pipeline::TrainedModel;
use crate::report;

/// Renders the model card.
pub fn model_card(
    model: &TrainedModel,
    model_id: &str,
    engine: Option<&EngineEvaluation>,
    notes: &ExportNotes,
    sizes: &BundleSizes,
    peers: Option<&serde_json::Value>,
    session_peers: Option<&serde_json::Value>,
) -> String {
    let mut out = String::new();
    let d = &model.data;
    let _ = writeln!(out, "# Model card: `{model_id}`\n");
    let command = match &model.origin {
        crate::pipeline::FactorOrigin::Als(_) => "`cove-train train`",
        crate::pipeline::FactorOrigin::Imported(_) => {
            "`cove-train import` (item factors fit outside Cove)"
        }
    };
    let _ = writeln!(
        out,
        "Cove personalisation bundle (JSON manifest + safetensors) written by {command} \
         with the engine's `BundleBuilder`; it loads with `cove_engine::bundle::Model::from_bytes`.\n"
    );
    let _ = writeln!(out, "## Data\n");
    let _ = writeln!(
        out,
        "- Orders: `{}`, {} to {}: {} customers, {} items, {} invoices, {} kept.",
        d.source,
        d.first_day,
        d.last_day,
        d.n_customers,
        d.n_items,
        d.n_invoices,
        report::countries(d.n_countries)
    );
    let online_retail = is_online_retail(&d.source);
    if online_retail {
        let _ = writeln!(
            out,
            "- Credit: Online Retail, Chen, D. (2015), UCI Machine Learning Repository, \
             doi:10.24432/C5BW33, CC BY 4.0; Chen, Sain & Guo (2012), J. Database Marketing & \
             Customer Strategy Management 19(3):197–208."
        );
    }
    if let Some(intent) = &model.intent {
        let _ = writeln!(
            out,
            "- Sessions (purchase intent): UCI Online Shoppers Purchasing Intention, Sakar, Polat, \
             Katircioglu & Kastro (2019), Neural Computing and Applications 31:6893–6908; \
             doi:10.24432/C5F88Q, CC BY 4.0. {} training sessions, {} rows skipped, {} negative \
             durations clamped.",
            intent.n_train, intent.rows_skipped, intent.rows_negative_duration
        );
    }
    let _ = writeln!(out, "\n### Cleaning\n\n```\n{}\n```\n", d.cleaning);

    match &model.origin {
        crate::pipeline::FactorOrigin::Als(e) => {
            let _ = writeln!(out, "## Evaluation protocol\n\n{}.\n", e.protocol);
            let _ = writeln!(
                out,
                "Train until {}, test from {}; validation: {}. {}, {} candidate items.\n",
                e.train_until,
                e.test_from,
                e.validation,
                e.users_scored(),
                e.n_candidate_items
            );
            let _ = writeln!(
                out,
                "## Metrics (baselines, and Cove's factor score through the engine's fold-in)\n"
            );
            let _ = writeln!(out, "{}", report::metrics_table(e));
        }
        crate::pipeline::FactorOrigin::Imported(summary) => {
            let _ = writeln!(
                out,
                "## Evaluation\n\n**{}.** The item factors were fit outside Cove on all the \
                 data, so no held-out period is left to score them on, and this card shows no \
                 metrics. Everything else in the bundle (neighbour lists, trending, taste \
                 clusters and segments, the Gram matrix) was computed by Cove from these factors \
                 and the orders, as after its own ALS. To measure a model on this shop's data, \
                 `cove-train train` evaluates Cove's own factors on a held-out period.\n\n{}\n",
                report::capitalised(crate::import::NOT_EVALUATED),
                summary.paragraph()
            );
        }
    }
    if let Some(engine) = engine {
        let _ = writeln!(
            out,
            "## Cove through the engine (the bundle as a browser runs it)\n\n\
             The figure to compare with the peers. A bundle trained on the train period only (id `{}`), each user's train orders replayed \
             as {} engine purchase events ({} orders over the profile's line limit cut in parts, {} \
             events refused), ranked by `cove_engine::ranking::recommend` at the cut-off (k = 20, \
             int8, `*` trending list); {} items unseen in train excluded.\n",
            engine.model_id,
            engine.n_orders,
            engine.n_orders_split,
            engine.n_events_refused,
            engine.n_non_candidates
        );
        let _ = writeln!(out, "{}", engine_eval::table(engine));
        let w = &engine.weights;
        let kept = w.keep_purchased.map_or_else(
            || "the same weights".to_string(),
            |k| {
                format!(
                    "personal {} / neighbours {} / trending {} / buy again {} (`ranking.keep_purchased`)",
                    k.weight_personal, k.weight_neighbors, k.weight_trending, k.weight_repeat
                )
            },
        );
        match &engine.validation {
            Some(validation) => {
                let _ = writeln!(
                    out,
                    "Ranking parameters chosen on validation through the engine ({} trials on {} validation \
                     users; ties within {} NDCG@10 go to the first option in grid order: the smaller weight, α, \
                     list or half-life; a grid whose edge is chosen is widened past it): the \
                     \"discover\" slot (task B, bought items excluded) uses α scale {}, neighbours {}, \
                     trending {}; the \"for you\" slot (task A, bought items kept) uses {}; `*` list of {} \
                     items; device profile half-life {} days (`ranking.profile_half_life_days`). Coarse to \
                     fine: a full coordinate search on the shortest list at the engine's default half-life; \
                     each longer list with α and its trending weights re-chosen; each half-life with α, the \
                     trending and the buy-again weights re-chosen; each kept by the mean of the two slots' validation NDCG@10; then a full \
                     search on the chosen list and half-life. \"One set\" is task A with the discover \
                     weights and its own buy-again weight only. Validation figures, never test:\n\n{}\n{}",
                    engine.validation_trials.len(),
                    validation.n_users,
                    validation.tie_tolerance,
                    w.alpha_scale,
                    w.weight_neighbors,
                    w.weight_trending,
                    kept,
                    w.n_trending,
                    validation.profile_half_life_days,
                    engine_eval::validation_table(validation),
                    engine_eval::baselines_paragraph(validation)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "Ranking parameters from the committed parameters file (chosen on validation by \
                     `cargo xtask tune`, whose figures the file records): α scale {}, discover slot \
                     neighbours {} / trending {}; \"for you\" slot {}; `*` list of {} items.\n",
                    w.alpha_scale, w.weight_neighbors, w.weight_trending, kept, w.n_trending
                );
            }
        }
        let session = w.session.unwrap_or_default();
        let _ = writeln!(
            out,
            "## In-session tasks (OR-SESSION) through the engine\n\n\
             Task C: a new visitor's first invoice in the test period, its first n items as views, \
             the rest relevant; task D: an item page, each item of a test invoice as the context, \
             the others relevant; task E: a returning shopper's history plus the first n items of \
             their first test invoice as the session. Session weight {}, decay {}; item page: \
             trending {}, personal {} among the context's neighbours. Neighbour lists: {}.\n\n{}",
            session.weight_session,
            session.session_decay,
            session.context_trending,
            session.context_personal,
            mix_words(&model.config.neighbour_mix),
            crate::session_eval::table(&engine.session_rows)
        );
        if let Some(value) = session_peers {
            let _ = writeln!(out, "{}", session_peers_table(engine, value));
        }
        if let Some(search) = &engine.session_validation {
            let _ = writeln!(
                out,
                "In-session weights chosen on validation ({} trials on {} / {} / {} cases of C / D / E): \
                 validation NDCG@10 C {:.4}, D {:.4}, E {:.4}.\n",
                search.trials.len(),
                search.n_cases[0],
                search.n_cases[1],
                search.n_cases[2],
                search.ndcg_at_10[0],
                search.ndcg_at_10[1],
                search.ndcg_at_10[2]
            );
            let _ = writeln!(
                out,
                "Neighbour mixes compared on validation (mean NDCG@10 of C, D, E on the coarse \
                 in-session grids; the best kept):\n\n| mix | mean NDCG@10 |\n|---|---:|"
            );
            for (mix, mean) in &search.mixes {
                let _ = writeln!(out, "| {} | {mean:.4} |", mix_words(mix));
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(
            out,
            "Task A NDCG@10 by distinct items in the user's train history \
             (![plot](ndcg_by_history.svg)): {}.\n",
            engine
                .ndcg_by_history
                .iter()
                .map(|b| format!("{} {:.4} ({} users)", b.history, b.ndcg_at_10, b.n_users))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let imported = matches!(model.origin, crate::pipeline::FactorOrigin::Imported(_));
    if !imported {
        peers_section(&mut out, peers);
    }
    classifiers_and_rest(&mut out, model, notes, sizes, online_retail, imported);
    out
}

/// The peers' figures on the identical split, when a peers file was given.
fn peers_section(out: &mut String, peers: Option<&serde_json::Value>) {
    let _ = writeln!(out, "## Peers\n");
    match peers {
        Some(value) => {
            let _ = writeln!(
                out,
                "From `models/peers/peers.py` on the identical split (hyperparameters tuned on validation).\n"
            );
            let _ = writeln!(
                out,
                "| peer | task | HR@10 | NDCG@10 | Recall@20 |\n| --- | --- | ---: | ---: | ---: |"
            );
            if let Some(map) = value.as_object() {
                for (key, entry) in map {
                    let (name, task) = key.split_once('|').unwrap_or((key, "?"));
                    let m = &entry["test"];
                    let _ = writeln!(
                        out,
                        "| {name} | {task} | {:.4} | {:.4} | {:.4} |",
                        m["hr_at_10"].as_f64().unwrap_or(f64::NAN),
                        m["ndcg_at_10"].as_f64().unwrap_or(f64::NAN),
                        m["recall_at_20"].as_f64().unwrap_or(f64::NAN)
                    );
                }
            }
        }
        // No peer figures without a peers file of this data: another
        // shop's (Online Retail's, in models/README.md) say nothing here.
        None => {
            let _ = writeln!(
                out,
                "Not run with this training, so no peer figures for this data: `cove-train \
                 evaluate --write-split DIR` writes this data's split, `models/peers/peers.py \
                 --test DIR/test --val DIR/val --out peers.json` scores the peers on it (`cargo \
                 xtask peers` does both for Online Retail), and `--peers peers.json` puts them \
                 here."
            );
        }
    }
}

/// The classifiers, segments, mapping notes, size and limits.
fn classifiers_and_rest(
    out: &mut String,
    model: &TrainedModel,
    notes: &ExportNotes,
    sizes: &BundleSizes,
    online_retail: bool,
    imported: bool,
) {
    let d = &model.data;
    let _ = writeln!(out, "\n## Classifiers shipped\n");
    if let Some(p) = &model.propensity {
        let _ = writeln!(
            out,
            "- Purchase propensity (engine inputs {:?}; label: bought within {} days; fitted at {}, \
             tested at {}): ROC-AUC {:.3}, PR-AUC {:.3} (the trainer's 6-input model: {:.3} / {:.3}).",
            cove_engine::features::RfmFeatures::NAMES,
            p.horizon_days,
            p.train_cutoff,
            p.test_cutoff,
            p.engine_test_quality.roc_auc,
            p.engine_test_quality.pr_auc,
            p.test_quality.roc_auc,
            p.test_quality.pr_auc
        );
    }
    if let Some(i) = &model.intent {
        let _ = writeln!(
            out,
            "- Purchase intent / abandonment risk (engine's 8 session inputs; {}): ROC-AUC {:.3}, \
             PR-AUC {:.3} (the trainer's 14-input model: {:.3} / {:.3}; with the site-analytics \
             columns a device cannot compute: {:.3} / {:.3}).",
            i.split,
            i.engine_test_quality.roc_auc,
            i.engine_test_quality.pr_auc,
            i.test_quality.roc_auc,
            i.test_quality.pr_auc,
            i.reference_with_analytics_quality.roc_auc,
            i.reference_with_analytics_quality.pr_auc
        );
    }
    if let Some(i) = &model.intent {
        risk_calibration_section(out, &i.calibration);
    }
    let _ = writeln!(out, "\n## Segments\n");
    let _ = writeln!(
        out,
        "Lifecycle sizes at the end of the data: {}.",
        model
            .lifecycle
            .segment_sizes
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "Price tiers: budget < {:.2}, premium ≥ {:.2}.",
        model.price_tiers.budget_below, model.price_tiers.premium_from,
    );
    taste_cluster_table(out, &model.taste_clusters);
    let _ = writeln!(out, "\n## How the trainer maps onto the engine\n");
    let _ = writeln!(
        out,
        "Ranking: λ = {}, α = {:.4}, weights personal {} / neighbours {:.4} / trending {:.4} / \
         buy again {:.4}. Lifecycle map exact: {}{}.\n",
        notes.lambda,
        notes.alpha,
        notes.weight_personal,
        notes.weight_neighbors,
        notes.weight_trending,
        notes.weight_repeat,
        notes.lifecycle_exact,
        if notes.lifecycle_rules_dropped.is_empty() {
            String::new()
        } else {
            format!(
                "; rules not expressible and left out: {:?}",
                notes.lifecycle_rules_dropped
            )
        }
    );
    for note in &notes.notes {
        let _ = writeln!(out, "- {note}.");
    }
    let _ = writeln!(out, "\n## Size\n");
    let total = sizes.manifest_bytes + sizes.tensors_bytes;
    let total_gz = sizes.total_gzip_bytes();
    let _ = writeln!(
        out,
        "manifest {} B ({} B gzip -9), tensors {} B ({} B gzip -9); total {} B raw, **{} B gzip -9** \
         ({:.0} KB; budget 1 MB: {}).\n",
        sizes.manifest_bytes,
        sizes.manifest_gzip_bytes,
        sizes.tensors_bytes,
        sizes.tensors_gzip_bytes,
        total,
        total_gz,
        total_gz as f64 / 1000.0,
        if sizes.within_budget() { "within" } else { "OVER" }
    );
    let _ = writeln!(out, "| tensor | raw B | gzip -9 B |\n| --- | ---: | ---: |");
    for (name, raw, gz) in &sizes.largest_parts {
        let _ = writeln!(out, "| {name} | {raw} | {gz} |");
    }
    let _ = writeln!(
        out,
        "\nThe browser fetches both parts. Item factors ship only as int8 with one f32 scale per \
         row (bundle schema 2); the engine dequantises them once at load."
    );
    let _ = writeln!(out, "\n## Intended use and limits\n");
    if online_retail {
        let _ = writeln!(
            out,
            "- Intended: on-device recommendations and segments for a gift-ware shop like the one \
             in the data, and as the demo's default bundle. Not for decisions about individuals \
             with legal or similar effect.\n\
             - The data is one UK wholesaler's 2010–2011 orders (mostly business buyers); \
             catalogue, prices and seasonality are of that shop. Stock is unknown (every item is \
             in stock)."
        );
    } else {
        let _ = writeln!(
            out,
            "- Intended: on-device recommendations and segments for the shop whose orders these \
             are. Not for decisions about individuals with legal or similar effect.\n\
             - The data is that shop's orders from {} to {}; catalogue, prices and seasonality are \
             of that period. Stock is unknown (every item is in stock).",
            d.first_day, d.last_day
        );
    }
    if model.intent.is_some() {
        let _ = writeln!(
            out,
            "- The purchase-intent model comes from another shop's sessions (UCI Online \
             Shoppers); it is calibrated on that data's held-out months, and its calibration on this shop's \
             sessions is untested."
        );
    }
    if imported {
        let _ = writeln!(
            out,
            "- The item factors were not fit or evaluated by Cove; the device folds a shopper in \
             with λ and α mapped from the shop's ALS settings (see above), and the blend weights \
             were not chosen for these factors.\n\
             - Time to build the model from the factors: {:.1} s.",
            model.fit_seconds
        );
    } else {
        let _ = writeln!(
            out,
            "- Every Cove figure is the engine's (the trainer has no scorer of its own); the \
             engine's confidence is linear in the profile's decayed weight, the trainer's ALS \
             logarithmic, and α is mapped between them (see above).\n\
             - Training time for the final fit: {:.1} s.",
            model.fit_seconds
        );
    }
}

/// Whether the orders are UCI Online Retail (by the file's name), whose
/// credit and description the card then carries.
fn is_online_retail(source: &str) -> bool {
    source.contains("online_retail") || source.contains("Online Retail")
}

/// Cove through the engine beside every OR-SESSION peer of
/// `models/peers/session_peers.py` (its `session_peers.json`), task by task,
/// on the identical test cases.
fn session_peers_table(engine: &EngineEvaluation, peers: &serde_json::Value) -> String {
    let mut out = String::from(
        "Against the peers on the identical test cases (`cargo xtask peers`; each peer tuned on \
         validation, the test scored once; HR@10 / NDCG@10 / Recall@20 / MRR@20):\n\n\
         | task | model | cases | HR@10 | NDCG@10 | Recall@20 | MRR@20 |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    for row in &engine.session_rows {
        let task = row.task.letter();
        let m = &row.all;
        out.push_str(&format!(
            "| {task} | **Cove (engine)** | {} | {:.4} | {:.4} | {:.4} | {:.4} |\n",
            m.n_cases, m.hr_at_10, m.ndcg_at_10, m.recall_at_20, m.mrr_at_20
        ));
        if let Some(map) = peers["tasks"][task].as_object() {
            for (peer, value) in map {
                let a = &value["all"];
                let f = |key: &str| a[key].as_f64().unwrap_or(f64::NAN);
                out.push_str(&format!(
                    "| {task} | {peer} | {} | {:.4} | {:.4} | {:.4} | {:.4} |\n",
                    a["n_cases"].as_u64().unwrap_or(0),
                    f("hr_at_10"),
                    f("ndcg_at_10"),
                    f("recall_at_20"),
                    f("mrr_at_20")
                ));
            }
        }
    }
    out
}

/// A neighbour mix in words, for the card.
fn mix_words(mix: &crate::neighbours::NeighbourMix) -> String {
    format!(
        "votes of the {} most recent baskets × {}, basket cosine × {}, factor cosine × {}",
        mix.recent_baskets, mix.votes, mix.basket_cosine, mix.factor_cosine
    )
}

/// The taste clusters, their labels and how much of each cluster the words
/// describe, with the labelling rule's numbers (`segments::label_cluster`).
fn taste_cluster_table(out: &mut String, clusters: &crate::segments::TasteClusters) {
    use crate::segments::{LABEL_MAX_WORDS, LABEL_MIN_COVERAGE, LABEL_MIN_Z, LABEL_PRIOR_ITEMS};
    let n_labelled = clusters
        .clusters
        .iter()
        .filter(|c| !c.label.is_empty())
        .count();
    let n_shown = clusters.item_fits_label.iter().filter(|f| **f).count();
    let _ = writeln!(
        out,
        "\nTaste clusters: k-means on unit-length item factors. A title word is distinctive to a \
         cluster when the z-score of its log-odds ratio against the rest of the catalogue (item \
         counts, an informative prior worth {LABEL_PRIOR_ITEMS} items at the catalogue's rate) is \
         at least {LABEL_MIN_Z}; the candidates are the distinctive words by z that each cover a \
         new item, at most {LABEL_MAX_WORDS}; the label is the fewest of them whose titles cover \
         at least {:.0}% of the cluster's items, and a cluster with no such words has no label \
         (its segment is named \"cluster k\"). An item shows the label as its category only when \
         its own title holds a label word; other items have no category. {n_labelled} of {} \
         clusters are labelled; {n_shown} of {} items show a category.\n",
        100.0 * LABEL_MIN_COVERAGE,
        clusters.clusters.len(),
        clusters.item_fits_label.len(),
    );
    let _ = writeln!(
        out,
        "| cluster | items | label | most distinctive words | their coverage | label coverage | example titles |"
    );
    let _ = writeln!(out, "|---:|---:|---|---|---:|---:|---|");
    for (k, c) in clusters.clusters.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {k} | {} | {} | {} | {:.0}% | {} | {} |",
            c.size,
            if c.label.is_empty() {
                "— (none)".to_string()
            } else {
                c.label.join(", ")
            },
            if c.candidate.is_empty() {
                "—".to_string()
            } else {
                c.candidate.join(", ")
            },
            100.0 * c.coverage,
            if c.label.is_empty() {
                "—".to_string()
            } else {
                format!("{:.0}%", 100.0 * c.label_coverage)
            },
            c.examples.join("; ").replace('|', "/"),
        );
    }
}

/// The abandonment risk's calibration (reliability table before and after,
/// Brier score, ECE) and the rescue threshold with the share it offers.
fn risk_calibration_section(out: &mut String, c: &crate::intent::RiskCalibration) {
    let _ = writeln!(
        out,
        "\n## Cart-abandonment risk: calibration and the offer share\n"
    );
    let _ = writeln!(
        out,
        "The risk is 1 − P(purchase). The held-out months are split by a seeded draw per session \
         into a validation part ({} sessions) and a test part ({} sessions). On the validation \
         part, Platt scaling re-fits P(purchase) = σ(a·z + b) on the classifier's logit z: \
         a = {:.4}, b = {:.4}, folded into the shipped weights and intercept (the engine is \
         unchanged). On the test part (![reliability](risk_reliability.svg)): Brier score {:.4} \
         → {:.4}, expected calibration error (10 equal-width bins) {:.4} → {:.4}.\n",
        c.n_validation,
        c.n_test,
        c.platt.slope,
        c.platt.offset,
        c.test_before.brier,
        c.test_after.brier,
        c.test_before.ece,
        c.test_after.ece,
    );
    let _ = writeln!(
        out,
        "| predicted risk | sessions (before) | mean risk (before) | abandoned (before) | sessions (after) | mean risk (after) | abandoned (after) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for k in 0..crate::calibration::N_BINS {
        let low = k as f64 / crate::calibration::N_BINS as f64;
        let find = |q: &crate::calibration::CalibrationQuality| {
            q.bins.iter().find(|b| (b.low - low).abs() < 1e-9).map_or(
                ("0".to_string(), "—".to_string(), "—".to_string()),
                |b| {
                    (
                        b.n.to_string(),
                        format!("{:.3}", b.mean_risk),
                        format!("{:.3}", b.abandoned),
                    )
                },
            )
        };
        let (before, after) = (find(&c.test_before), find(&c.test_after));
        if before.0 == "0" && after.0 == "0" {
            continue;
        }
        let _ = writeln!(
            out,
            "| {:.1}–{:.1} | {} | {} | {} | {} | {} | {} |",
            low,
            low + 0.1,
            before.0,
            before.1,
            before.2,
            after.0,
            after.1,
            after.2
        );
    }
    let _ = writeln!(
        out,
        "\nRescue threshold: a cart is a session with at least one product page (a basket needs a \
         product seen). The threshold is the least calibrated risk above which at most {:.0}% of the \
         validation part's {} carts lie (`cove-train --rescue-share {}`): **{:.4}**; it offers to \
         {:.1}% of them, and to **{:.1}% of the test part's {} carts**. One product page and \
         nothing else (one item put in the cart at once) has a calibrated risk of {:.3}.",
        100.0 * c.rescue_share,
        c.validation_carts,
        c.rescue_share,
        c.rescue_threshold,
        100.0 * c.validation_offer_share,
        100.0 * c.test_offer_share,
        c.test_carts,
        c.one_page_risk,
    );
}
