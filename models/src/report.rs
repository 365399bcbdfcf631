//! The human-readable outputs: `report.json` (every figure, no tensors) and
//! `report.md` (the metrics table and the segment figures).

use std::fmt::Write as _;
use std::path::Path;

use crate::eval::Task;
use crate::pipeline::{EvaluationReport, TrainedModel};

/// The Markdown metrics table of an evaluation.
pub fn metrics_table(evaluation: &EvaluationReport) -> String {
    let mut out = String::new();
    for task in [Task::A, Task::B] {
        let title = match task {
            Task::A => "Task A (all test items relevant, owned items ranked)",
            Task::B => "Task B (new items only, owned items excluded)",
        };
        let n_users = evaluation
            .rows
            .iter()
            .find(|r| r.task == task)
            .map_or(0, |r| r.metrics.n_users);
        let _ = writeln!(out, "\n**{title}**, {n_users} users\n");
        let _ = writeln!(
            out,
            "| model | HR@10 | NDCG@10 | Recall@20 | Recall@10 | NDCG@20 | MAP@10 | MAP@20 |"
        );
        let _ = writeln!(
            out,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for row in evaluation.rows.iter().filter(|r| r.task == task) {
            let m = &row.metrics;
            let _ = writeln!(
                out,
                "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} |",
                row.model,
                m.hr_at_10,
                m.ndcg_at_10,
                m.recall_at_20,
                m.recall_at_10,
                m.ndcg_at_20,
                m.map_at_10,
                m.map_at_20
            );
        }
    }
    out
}

/// The JSON report of an evaluation alone.
pub fn evaluation_json(evaluation: &EvaluationReport) -> serde_json::Value {
    serde_json::json!({ "evaluation": evaluation })
}

/// The JSON report of a trained model: every figure, no tensors.
pub fn model_json(model: &TrainedModel) -> serde_json::Value {
    let clusters: Vec<_> = model
        .taste_clusters
        .clusters
        .iter()
        .map(|c| {
            serde_json::json!({
                "label": c.label,
                "size": c.size,
                "candidate": c.candidate,
                "coverage": c.coverage,
                "label_coverage": c.label_coverage,
            })
        })
        .collect();
    let mut config = serde_json::to_value(&model.config).unwrap_or_default();
    if let crate::pipeline::FactorOrigin::Imported(_) = &model.origin {
        // No ALS ran: its settings describe nothing in this model.
        config["als"] = serde_json::Value::Null;
        config["half_life_days"] = serde_json::Value::Null;
    }
    let mut json = serde_json::json!({
        "data": model.data,
        "evaluation": match model.evaluation() {
            Some(evaluation) => serde_json::to_value(evaluation).unwrap_or_default(),
            None => serde_json::Value::String(crate::import::NOT_EVALUATED.into()),
        },
        "config": config,
        "dim": model.dim,
        "taste_clusters": clusters,
        "price_tiers": model.price_tiers,
        "lifecycle": model.lifecycle,
        "propensity": model.propensity,
        "intent": model.intent,
        "trending_countries": model.trending.iter().map(|t| &t.country).collect::<Vec<_>>(),
        "fit_seconds": model.fit_seconds,
    });
    if let crate::pipeline::FactorOrigin::Imported(summary) = &model.origin {
        json["imported_factors"] = serde_json::to_value(summary).unwrap_or_default();
    }
    json
}

/// "1 country", "37 countries".
pub fn countries(n: usize) -> String {
    if n == 1 {
        "1 country".into()
    } else {
        format!("{n} countries")
    }
}

/// The Markdown report of a trained model.
pub fn model_markdown(model: &TrainedModel) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Cove trainer report\n");
    let _ = writeln!(
        out,
        "Data: `{}`, {} to {}; {} customers, {} items, {} invoices, {} kept.\n",
        model.data.source,
        model.data.first_day,
        model.data.last_day,
        model.data.n_customers,
        model.data.n_items,
        model.data.n_invoices,
        countries(model.data.n_countries)
    );
    let _ = writeln!(out, "## Cleaning\n\n```\n{}\n```\n", model.data.cleaning);
    match &model.origin {
        crate::pipeline::FactorOrigin::Als(e) => evaluation_markdown(&mut out, e, model),
        crate::pipeline::FactorOrigin::Imported(summary) => {
            let _ = writeln!(
                out,
                "## Recommendation metrics\n\n**{}.** The factors were fit outside Cove on all \
                 the data, so no held-out period is left to score them on; no figures are shown.\n\n{}\n",
                capitalised(crate::import::NOT_EVALUATED),
                summary.paragraph()
            );
        }
    }
    let _ = writeln!(out, "## Segments\n");
    let _ = writeln!(
        out,
        "Price tiers: budget below {:.2}, premium from {:.2} (tertiles of {} purchase lines' unit prices).\n",
        model.price_tiers.budget_below, model.price_tiers.premium_from, model.price_tiers.n_lines
    );
    let _ = writeln!(out, "Lifecycle segment sizes at the end of the data:\n");
    for (segment, n) in &model.lifecycle.segment_sizes {
        let _ = writeln!(out, "- {segment}: {n}");
    }
    let _ = writeln!(
        out,
        "\nTaste clusters (k-means on unit-length item factors):\n"
    );
    for (idx, c) in model.taste_clusters.clusters.iter().enumerate() {
        let _ = writeln!(
            out,
            "- {idx}: {} ({} items; most distinctive words {} in {:.0}% of its titles)",
            if c.label.is_empty() {
                "no label".to_string()
            } else {
                c.label.join(", ")
            },
            c.size,
            c.candidate.join(", "),
            100.0 * c.coverage
        );
    }
    if let Some(p) = &model.propensity {
        let _ = writeln!(
        out,
        "\n## Purchase propensity\n\nLabel: bought within {} days after the cut-off. Fitted at {} ({} customers), \
         evaluated at {}: ROC-AUC {:.4}, PR-AUC {:.4} (positive rate {:.3}, {} customers); recency alone: ROC-AUC {:.4}, PR-AUC {:.4}.",
        p.horizon_days,
        p.train_cutoff,
        p.n_train,
        p.test_cutoff,
        p.test_quality.roc_auc,
        p.test_quality.pr_auc,
        p.test_quality.positive_rate,
        p.test_quality.n_rows,
        p.recency_only_test_quality.roc_auc,
        p.recency_only_test_quality.pr_auc
    );
    }
    if let Some(intent) = &model.intent {
        let _ = writeln!(
            out,
            "\n## Purchase intent (sessions)\n\n{} training sessions, {}; held out: ROC-AUC {:.4}, PR-AUC {:.4} \
             (positive rate {:.3}, {} sessions). Features: {}. Reference, not shippable (adds the site-analytics \
             columns BounceRates, ExitRates, PageValues): ROC-AUC {:.4}, PR-AUC {:.4}.",
            intent.n_train,
            intent.split,
            intent.test_quality.roc_auc,
            intent.test_quality.pr_auc,
            intent.test_quality.positive_rate,
            intent.test_quality.n_rows,
            intent.classifier.feature_names.join(", "),
            intent.reference_with_analytics_quality.roc_auc,
            intent.reference_with_analytics_quality.pr_auc
        );
    }
    let _ = writeln!(out, "\nFinal fit on all data: {:.1} s.", model.fit_seconds);
    out
}

/// The evaluation's part of the Markdown report (Cove's ALS only).
fn evaluation_markdown(out: &mut String, e: &EvaluationReport, model: &TrainedModel) {
    let _ = writeln!(
        out,
        "## Recommendation metrics\n\nProtocol: {}.\n",
        e.protocol
    );
    let _ = writeln!(
        out,
        "Train until {}, test from {}; validation: {}. {} train users, {} candidate items, {}.",
        e.train_until,
        e.test_from,
        e.validation,
        e.n_train_users,
        e.n_candidate_items,
        e.users_scored()
    );
    let _ = writeln!(
        out,
        "ALS: d = {}, λ = {}, c = {} + {}·ln(1 + x/{}), {} iterations × {} CG steps, half-life {:?} days; \
         engine weights {:?}.",
        e.als.factors,
        e.als.regularization,
        e.als.confidence.base,
        e.als.confidence.alpha,
        e.als.confidence.epsilon,
        e.als.iterations,
        e.als.cg_steps,
        e.half_life_days,
        model.config.engine
    );
    out.push_str(&metrics_table(e));
    let _ = writeln!(
        out,
        "\nItem factors as int8 with per-row scales, plus the Gram matrix: {} bytes gzipped.\n",
        e.factor_bytes_gzip_int8
    );
}

/// `text` with its first letter in upper case.
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// A bar chart (SVG) of task A NDCG@10 by length of user history.
pub fn history_svg(buckets: &[crate::eval::HistoryBucket]) -> String {
    let (width, height, left, bottom) = (520.0, 300.0, 50.0, 250.0);
    let max = buckets.iter().map(|b| b.ndcg_at_10).fold(0.05f64, f64::max);
    let bar_width = (width - left - 20.0) / buckets.len().max(1) as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n\
         <text x=\"{left}\" y=\"16\" font-size=\"13\">Task A NDCG@10 through the engine by distinct items in the user's train history</text>\n\
         <line x1=\"{left}\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\" stroke=\"black\"/>\n",
        width - 10.0
    );
    for tick in 0..=4 {
        let value = max * tick as f64 / 4.0;
        let y = bottom - (bottom - 30.0) * tick as f64 / 4.0;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{value:.2}</text>",
            left - 4.0,
            y + 4.0
        );
    }
    for (idx, b) in buckets.iter().enumerate() {
        let h = (bottom - 30.0) * b.ndcg_at_10 / max;
        let x = left + idx as f64 * bar_width + 6.0;
        let _ = writeln!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#4a7ab7\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:.3}</text>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{} ({} users)</text>",
            bottom - h,
            bar_width - 12.0,
            x + (bar_width - 12.0) / 2.0,
            bottom - h - 4.0,
            b.ndcg_at_10,
            x + (bar_width - 12.0) / 2.0,
            bottom + 16.0,
            b.history,
            b.n_users
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Writes `report.json`, `report.md`, `ndcg_by_history.svg` (task A
/// NDCG@10 through the engine by history length; not for imported factors,
/// which are not evaluated) and, with a sessions file,
/// `risk_reliability.svg` (the abandonment risk's reliability on the test
/// sessions) into `dir`.
pub fn write_model_report(
    model: &TrainedModel,
    ndcg_by_history: &[crate::eval::HistoryBucket],
    dir: &Path,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(&model_json(model))?,
    )?;
    std::fs::write(dir.join("report.md"), model_markdown(model))?;
    // Imported factors are not evaluated: no chart of figures there are not.
    if model.evaluation().is_some() {
        std::fs::write(
            dir.join("ndcg_by_history.svg"),
            history_svg(ndcg_by_history),
        )?;
    }
    if let Some(intent) = &model.intent {
        let c = &intent.calibration;
        std::fs::write(
            dir.join("risk_reliability.svg"),
            crate::calibration::reliability_svg(&c.test_before, &c.test_after),
        )?;
    }
    Ok(())
}
