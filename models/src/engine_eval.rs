//! The OR-LAST-MONTH protocol scored through the engine, on a written bundle.
//!
//! The trainer's own evaluation ([`crate::pipeline::evaluate`]) folds users in
//! with the trainer's fold-in and ranks with `cove_engine::score`. This module
//! checks that the bundle reproduces that quality when the engine does all of
//! it, as a browser would:
//!
//! 1. train every part on the rows before the cut-off only (the same
//!    [`pipeline::train`] as the published model) and export that model with
//!    [`crate::export::build_bundle`]; load it with `Model::from_bytes`;
//! 2. replay each evaluated user's train orders as engine `purchase` events
//!    into a `Profile` with the default `ProfileConfig`;
//! 3. rank with `cove_engine::ranking::recommend` at the cut-off (k = 20, int8
//!    factors, no country so the `*` trending list applies; task A keeps owned
//!    items, task B excludes them), and score HR@10 / NDCG@10 / Recall@20 with
//!    the same [`eval::user_metrics`].
//!
//! Before that, the two parameters the trainer cannot choose for the engine
//! (α's scale and the neighbour weight) are picked through the same path on
//! the validation split, never on the test period.
//!
//! A second row keeps the engine's ranking but uses the trainer's fold-in
//! vector (`rank_with_vector`), which separates the two differences between
//! the paths: the profile's weights and linear confidence, and the blend.

use std::collections::HashMap;

use cove_engine::bundle::Model;
use cove_engine::events::{Event, EventKind, PurchaseLine, MAX_PRICE, MAX_QUANTITY};
use cove_engine::profile::{Profile, ProfileConfig};
use cove_engine::ranking::{self, RankRequest};
use serde::Serialize;

use crate::data::Transactions;
use crate::dates::MINUTES_PER_DAY;
use crate::eval::{self, Metrics, Split, Task};
use crate::pipeline::{self, Bars, EvaluationReport, TrainConfig};

/// One row of the engine-path evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EngineRow {
    /// What was scored.
    pub model: String,
    /// The task.
    pub task: Task,
    /// The metrics.
    pub metrics: Metrics,
}

/// The engine-path evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EngineEvaluation {
    /// The rows: engine path, engine ranking with the trainer's vector, and the
    /// trainer's own blend for comparison.
    pub rows: Vec<EngineRow>,
    /// The id of the train-split bundle that was scored.
    pub model_id: String,
    /// Orders replayed as events.
    pub n_orders: usize,
    /// Orders split in several events because they had more lines than the
    /// profile's item limit.
    pub n_orders_split: usize,
    /// Events the engine refused (each is skipped, as the device would).
    pub n_events_refused: usize,
    /// Items in the bundle that are not candidates (unseen in train), excluded
    /// from every request.
    pub n_non_candidates: usize,
    /// The α scale chosen on validation.
    pub alpha_scale: f64,
    /// The neighbour-weight scale chosen on validation.
    pub neighbours_scale: f32,
    /// Every validation trial.
    pub validation_trials: Vec<EngineTrial>,
    /// Seconds taken.
    pub seconds: f64,
}

/// Engine events replaying `purchases` (one customer's train lines): one
/// `purchase` event per invoice at its time, lines in file order, cut into
/// events of at most `max_lines` lines. Returns the events and how many
/// invoices had to be cut.
pub fn purchase_events(
    data: &Transactions,
    purchases: &[&crate::data::Purchase],
    max_lines: usize,
) -> (Vec<Event>, usize) {
    let mut by_invoice: Vec<(i64, u32, Vec<PurchaseLine>)> = Vec::new();
    let mut position: HashMap<u32, usize> = HashMap::new();
    for p in purchases {
        let slot = *position.entry(p.invoice_idx).or_insert_with(|| {
            by_invoice.push((p.minute, p.invoice_idx, Vec::new()));
            by_invoice.len() - 1
        });
        let entry = &mut by_invoice[slot];
        entry.0 = entry.0.min(p.minute);
        entry.2.push(PurchaseLine {
            item: data.items[p.item_idx as usize].code.clone(),
            quantity: (p.quantity.round() as u32).clamp(1, MAX_QUANTITY),
            price: (p.unit_price as f64).clamp(0.0, MAX_PRICE),
        });
    }
    by_invoice.sort_by_key(|(minute, invoice, _)| (*minute, *invoice));
    let mut events = Vec::new();
    let mut n_split = 0;
    for (minute, _, lines) in by_invoice {
        if lines.len() > max_lines {
            n_split += 1;
        }
        for chunk in lines.chunks(max_lines.max(1)) {
            events.push(Event {
                at: minute * 60,
                kind: EventKind::Purchase {
                    lines: chunk.to_vec(),
                },
            });
        }
    }
    (events, n_split)
}

/// One validation trial of the engine-only parameters.
#[derive(Debug, Clone, Serialize)]
pub struct EngineTrial {
    /// `TrainConfig::engine_alpha_scale`.
    pub alpha_scale: f64,
    /// `TrainConfig::engine_neighbours_scale`.
    pub neighbours_scale: f32,
    /// Validation NDCG@10, task A.
    pub ndcg_at_10_a: f64,
    /// Validation NDCG@10, task B.
    pub ndcg_at_10_b: f64,
}

/// What scoring one split through the engine gives.
struct Scored {
    /// [path][task]: path 0 = events → profile → recommend, 1 = trainer vector.
    sums: [[Metrics; 2]; 2],
    model_id: String,
    n_orders: usize,
    n_orders_split: usize,
    n_refused: usize,
    n_non_candidates: usize,
}

/// `pipeline::train` on the rows before `cutoff_day` only.
fn train_before(
    data: &Transactions,
    config: &TrainConfig,
    evaluation: &EvaluationReport,
    cutoff_day: i64,
    bars: Bars,
) -> anyhow::Result<crate::pipeline::TrainedModel> {
    let cutoff = cutoff_day * MINUTES_PER_DAY;
    let mut train_data = data.clone();
    train_data.purchases.retain(|p| p.minute < cutoff);
    anyhow::ensure!(
        !train_data.purchases.is_empty(),
        "no purchases before the cut-off"
    );
    let mut train_config = config.clone();
    train_config.tune = false;
    pipeline::train(
        &train_data,
        &train_config,
        evaluation.clone(),
        None,
        "train split",
        bars,
    )
}

/// Runs the protocol through the engine. First the two parameters only the
/// engine has (α's scale and the neighbour weight's scale) are chosen on the
/// validation split, by the mean NDCG@10 of both tasks, and written into
/// `config` (so the published bundle uses them); then the test period is
/// scored once. `evaluation` is the trainer's own (its blend rows are copied
/// beside the engine's).
pub fn evaluate_through_engine(
    data: &Transactions,
    config: &mut TrainConfig,
    evaluation: &EvaluationReport,
    bars: Bars,
) -> anyhow::Result<EngineEvaluation> {
    let start = std::time::Instant::now();
    let val_cutoff = config.cutoff_day - config.validation_days;
    let mut val_trained = train_before(data, config, evaluation, val_cutoff, bars)?;
    let val_split = Split::new(
        data,
        val_cutoff,
        Some(config.cutoff_day),
        config.half_life_days,
    );
    let mut trials = Vec::new();
    let mut best: Option<(f64, f64, f32)> = None;
    let grid: Vec<(f64, f32)> = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
        .iter()
        .flat_map(|a| [0.0f32, 0.5, 1.0, 2.0].map(|n| (*a, n)))
        .collect();
    let bar = bars.bar(
        grid.len() as u64,
        "tuning the engine's weights on validation",
    );
    for (alpha_scale, neighbours_scale) in grid {
        val_trained.config.engine_alpha_scale = alpha_scale;
        val_trained.config.engine_neighbours_scale = neighbours_scale;
        // A setting the engine cannot rank with (a fold-in that is not
        // positive definite) is skipped, not fatal.
        let scored = match score_split(data, &val_trained, &val_split, val_cutoff, false) {
            Ok(scored) => scored,
            Err(err) => {
                tracing::warn!(alpha_scale, neighbours_scale, "trial skipped: {err:#}");
                bar.inc(1);
                continue;
            }
        };
        let a = scored.sums[0][0].mean().ndcg_at_10;
        let b = scored.sums[0][1].mean().ndcg_at_10;
        if best.is_none_or(|(score, _, _)| (a + b) / 2.0 > score) {
            best = Some(((a + b) / 2.0, alpha_scale, neighbours_scale));
        }
        trials.push(EngineTrial {
            alpha_scale,
            neighbours_scale,
            ndcg_at_10_a: a,
            ndcg_at_10_b: b,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Some((_, alpha_scale, neighbours_scale)) = best {
        tracing::info!(
            alpha_scale,
            neighbours_scale,
            "engine weights chosen on validation"
        );
        config.engine_alpha_scale = alpha_scale;
        config.engine_neighbours_scale = neighbours_scale;
    }

    let trained = train_before(data, config, evaluation, config.cutoff_day, bars)?;
    let split = Split::new(data, config.cutoff_day, None, config.half_life_days);
    let scored = score_split(data, &trained, &split, config.cutoff_day, true)?;
    let mut rows = Vec::new();
    let names = [
        "engine: events → profile → recommend (int8)",
        "engine ranking, trainer's fold-in vector (int8)",
    ];
    for (task_idx, task) in [Task::A, Task::B].into_iter().enumerate() {
        for (path, name) in names.iter().enumerate() {
            rows.push(EngineRow {
                model: name.to_string(),
                task,
                metrics: scored.sums[path][task_idx].mean(),
            });
        }
        for row in &evaluation.rows {
            if row.task == task && row.model == "Cove ALS + on-device blend" {
                rows.push(EngineRow {
                    model: "trainer: ALS + on-device blend (its own scorer)".into(),
                    task,
                    metrics: row.metrics,
                });
            }
        }
    }
    Ok(EngineEvaluation {
        rows,
        model_id: scored.model_id,
        n_orders: scored.n_orders,
        n_orders_split: scored.n_orders_split,
        n_events_refused: scored.n_refused,
        n_non_candidates: scored.n_non_candidates,
        alpha_scale: config.engine_alpha_scale,
        neighbours_scale: config.engine_neighbours_scale,
        validation_trials: trials,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Exports `trained`, loads it with the engine, and scores `split`'s users at
/// `cutoff_day` (the trainer-vector path too when `with_trainer_vector`).
fn score_split(
    data: &Transactions,
    trained: &crate::pipeline::TrainedModel,
    split: &Split,
    cutoff_day: i64,
    with_trainer_vector: bool,
) -> anyhow::Result<Scored> {
    let cutoff = cutoff_day * MINUTES_PER_DAY;
    let (bundle, _) = crate::export::build_bundle(trained, &[])?;
    let model = Model::from_bytes(&bundle.manifest, &bundle.tensors)
        .map_err(|e| anyhow::anyhow!("the train-split bundle does not load: {e}"))?;
    // Bundle rows are data item indices (the exporter adds items in order).
    let mut split_of_row: HashMap<u32, u32> = HashMap::new();
    for (split_idx, &item_idx) in split.items.iter().enumerate() {
        split_of_row.insert(item_idx, split_idx as u32);
    }
    let non_candidates: Vec<String> = (0..data.items.len() as u32)
        .filter(|row| !split_of_row.contains_key(row))
        .map(|row| data.items[row as usize].code.clone())
        .collect();

    let mut lines_of: HashMap<u32, Vec<&crate::data::Purchase>> = HashMap::new();
    for p in data.purchases.iter().filter(|p| p.minute < cutoff) {
        lines_of.entry(p.customer_idx).or_default().push(p);
    }
    let profile_config = ProfileConfig::default();
    let now = cutoff_day * 86_400;
    let mut n_orders = 0;
    let mut n_orders_split = 0;
    let mut n_refused = 0;
    let mut sums = [[Metrics::default(); 2]; 2];
    for user in &split.users {
        let lines = lines_of.get(&user.customer_idx).map_or(&[][..], |v| v);
        let (events, n_split) = purchase_events(data, lines, profile_config.max_items());
        n_orders_split += n_split;
        n_orders += events.len();
        let mut profile = Profile::new();
        for event in &events {
            if profile.apply(event, &profile_config).is_err() {
                n_refused += 1;
            }
        }
        let history: Vec<u32> = user.history.iter().map(|&(item, _)| item).collect();
        // The trainer's fold-in vector, over bundle rows.
        let trainer_vector = with_trainer_vector.then(|| {
            let trainer_history: Vec<(u32, f32)> = user
                .history
                .iter()
                .map(|&(item, strength)| (split.items[item as usize], strength))
                .collect();
            trained.fold_in.user_vector(
                &trainer_history,
                &trained.item_factors,
                &trained.gram,
                trained.dim,
            )
        });
        let interactions = ranking::foldin::interactions(&model, &profile, &profile_config, now);
        for (task_idx, task) in [Task::A, Task::B].into_iter().enumerate() {
            let relevant: Vec<u32> = match task {
                Task::A => user.test_items.clone(),
                Task::B => user
                    .test_items
                    .iter()
                    .copied()
                    .filter(|item| history.binary_search(item).is_err())
                    .collect(),
            };
            if relevant.is_empty() {
                continue;
            }
            let mut exclude_items = non_candidates.clone();
            if task == Task::B {
                exclude_items.extend(
                    history
                        .iter()
                        .map(|&i| data.items[split.items[i as usize] as usize].code.clone()),
                );
            }
            let request = RankRequest {
                k: 20,
                now,
                exclude_items,
                exclude_purchased: task == Task::B,
                ..RankRequest::default()
            };
            let mut rankings =
                vec![
                    ranking::recommend(&model, &profile, &profile_config, &request)
                        .map_err(|e| anyhow::anyhow!("engine ranking failed: {e}"))?,
                ];
            if let Some(vector) = &trainer_vector {
                rankings.push(
                    ranking::rank_with_vector(
                        &model,
                        &profile,
                        &request,
                        Some(vector),
                        &interactions,
                    )
                    .map_err(|e| anyhow::anyhow!("engine ranking failed: {e}"))?,
                );
            }
            for (path, ranking) in rankings.iter().enumerate() {
                let ranked: Vec<u32> = ranking
                    .items
                    .iter()
                    .filter_map(|r| split_of_row.get(&r.row).copied())
                    .collect();
                sums[path][task_idx].add(&eval::user_metrics(&ranked, &relevant));
            }
        }
    }
    Ok(Scored {
        sums,
        model_id: bundle.model_id,
        n_orders,
        n_orders_split,
        n_refused,
        n_non_candidates: non_candidates.len(),
    })
}

/// The engine-path figures by name, for the manifest's `metrics`.
pub fn metric_entries(e: &EngineEvaluation) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for row in &e.rows {
        let name = if row.model.starts_with("engine: ") {
            "engine_path"
        } else {
            continue;
        };
        let task = match row.task {
            Task::A => "a",
            Task::B => "b",
        };
        for (metric, value) in [
            ("hr_at_10", row.metrics.hr_at_10),
            ("ndcg_at_10", row.metrics.ndcg_at_10),
            ("recall_at_20", row.metrics.recall_at_20),
        ] {
            out.push((
                format!("task_{task}.{name}.{metric}"),
                (value * 10_000.0).round() / 10_000.0,
            ));
        }
    }
    out
}

/// A Markdown table of the rows.
pub fn table(e: &EngineEvaluation) -> String {
    let mut out = String::from(
        "| task | scorer | users | HR@10 | NDCG@10 | Recall@20 |\n| --- | --- | ---: | ---: | ---: | ---: |\n",
    );
    for row in &e.rows {
        let task = match row.task {
            Task::A => "A",
            Task::B => "B",
        };
        out.push_str(&format!(
            "| {task} | {} | {} | {:.4} | {:.4} | {:.4} |\n",
            row.model,
            row.metrics.n_users,
            row.metrics.hr_at_10,
            row.metrics.ndcg_at_10,
            row.metrics.recall_at_20
        ));
    }
    out
}
