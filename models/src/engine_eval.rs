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

/// Runs the protocol through the engine. `evaluation` is the trainer's own
/// (its blend rows are copied beside the engine's); `config` holds the
/// settings it chose.
pub fn evaluate_through_engine(
    data: &Transactions,
    config: &TrainConfig,
    evaluation: &EvaluationReport,
    bars: Bars,
) -> anyhow::Result<EngineEvaluation> {
    let start = std::time::Instant::now();
    let cutoff = config.cutoff_day * MINUTES_PER_DAY;
    let mut train_data = data.clone();
    train_data.purchases.retain(|p| p.minute < cutoff);
    anyhow::ensure!(
        !train_data.purchases.is_empty(),
        "no purchases before the cut-off"
    );
    let mut train_config = config.clone();
    train_config.tune = false;
    let trained = pipeline::train(
        &train_data,
        &train_config,
        evaluation.clone(),
        None,
        "train split",
        bars,
    )?;
    let (bundle, _) = crate::export::build_bundle(&trained, &[])?;
    let model = Model::from_bytes(&bundle.manifest, &bundle.tensors)
        .map_err(|e| anyhow::anyhow!("the train-split bundle does not load: {e}"))?;

    let split = Split::new(data, config.cutoff_day, None, config.half_life_days);
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
    for p in train_data.purchases.iter() {
        lines_of.entry(p.customer_idx).or_default().push(p);
    }
    let profile_config = ProfileConfig::default();
    let now = config.cutoff_day * 86_400;
    let mut n_orders = 0;
    let mut n_orders_split = 0;
    let mut n_refused = 0;
    let mut sums = [[Metrics::default(); 2]; 2];
    let bar = bars.bar(split.users.len() as u64, "scoring through the engine");
    for user in &split.users {
        bar.inc(1);
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
        let trainer_history: Vec<(u32, f32)> = user
            .history
            .iter()
            .map(|&(item, strength)| (split.items[item as usize], strength))
            .collect();
        let trainer_vector = trained.fold_in.user_vector(
            &trainer_history,
            &trained.item_factors,
            &trained.gram,
            trained.dim,
        );
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
            let engine = ranking::recommend(&model, &profile, &profile_config, &request)
                .map_err(|e| anyhow::anyhow!("engine ranking failed: {e}"))?;
            let with_trainer_vector = ranking::rank_with_vector(
                &model,
                &profile,
                &request,
                Some(&trainer_vector),
                &interactions,
            )
            .map_err(|e| anyhow::anyhow!("engine ranking failed: {e}"))?;
            for (path, ranking) in [engine, with_trainer_vector].iter().enumerate() {
                let ranked: Vec<u32> = ranking
                    .items
                    .iter()
                    .filter_map(|r| split_of_row.get(&r.row).copied())
                    .collect();
                add(
                    &mut sums[path][task_idx],
                    &eval::user_metrics(&ranked, &relevant),
                );
            }
        }
    }
    bar.finish_and_clear();
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
                metrics: mean(sums[path][task_idx]),
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
        model_id: bundle.model_id,
        n_orders,
        n_orders_split,
        n_events_refused: n_refused,
        n_non_candidates: non_candidates.len(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn add(total: &mut Metrics, m: &Metrics) {
    total.n_users += m.n_users;
    total.hr_at_10 += m.hr_at_10;
    total.ndcg_at_10 += m.ndcg_at_10;
    total.ndcg_at_20 += m.ndcg_at_20;
    total.recall_at_10 += m.recall_at_10;
    total.recall_at_20 += m.recall_at_20;
    total.map_at_10 += m.map_at_10;
    total.map_at_20 += m.map_at_20;
}

fn mean(mut m: Metrics) -> Metrics {
    let n = m.n_users.max(1) as f64;
    m.hr_at_10 /= n;
    m.ndcg_at_10 /= n;
    m.ndcg_at_20 /= n;
    m.recall_at_10 /= n;
    m.recall_at_20 /= n;
    m.map_at_10 /= n;
    m.map_at_20 /= n;
    m
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
