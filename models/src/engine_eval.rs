//! The OR-LAST-MONTH protocol scored through the engine, on a written bundle.
//!
//! Every Cove figure comes from the engine, as a browser would compute it:
//!
//! 1. train every part on the rows before the cut-off only (the same
//!    [`pipeline::train`] as the published model) and export that model with
//!    [`crate::export::build_bundle`]; load it with `Model::from_bytes`;
//! 2. replay each evaluated user's train orders as engine `purchase` events
//!    into a `Profile` with the default `ProfileConfig`
//!    ([`DeviceHistories`]);
//! 3. rank with `cove_engine::ranking::recommend` at the cut-off (k = 20, int8
//!    factors, no country so the `*` trending list applies; task A keeps owned
//!    items, task B excludes them), and score HR@10 / NDCG@10 / Recall@20 with
//!    the same [`eval::evaluate`] as the baselines.
//!
//! Before that, the ranking parameters the bundle ships (α's scale and the
//! neighbour, trending and "buy again" weights) are chosen on the validation
//! split through the same engine code (`FoldInSystem` for each α,
//! `ranking::rank_with_params` for each set of weights), never on the test
//! period.

use std::collections::HashMap;

use cove_engine::bundle::{Model, RankingParams};
use cove_engine::ranking::foldin::FoldInSystem;
use cove_engine::ranking::{self, RankRequest};
use serde::Serialize;

use crate::data::Transactions;
use crate::dates::MINUTES_PER_DAY;
use crate::engine_scorer::{engine_alpha, DeviceHistories};
use crate::eval::{self, EvalUser, HistoryBucket, Metrics, Ranker, Split, Task};
use crate::pipeline::{self, Bars, EngineWeights, EvaluationReport, TrainConfig};

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
    /// The test-period rows, one per task.
    pub rows: Vec<EngineRow>,
    /// Task A NDCG@10 through the engine by length of the user's history.
    pub ndcg_by_history: Vec<HistoryBucket>,
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
    /// The weights chosen on validation.
    pub weights: EngineWeights,
    /// Every validation trial.
    pub validation_trials: Vec<EngineTrial>,
    /// Seconds taken.
    pub seconds: f64,
}

/// One validation trial of the ranking parameters.
#[derive(Debug, Clone, Serialize)]
pub struct EngineTrial {
    /// The weights tried.
    pub weights: EngineWeights,
    /// Validation NDCG@10, task A.
    pub ndcg_at_10_a: f64,
    /// Validation NDCG@10, task B.
    pub ndcg_at_10_b: f64,
}

/// Each customer's folded-in vector (`None`: nothing to fold in).
type ShopperVectors = HashMap<u32, Option<Vec<f32>>>;

/// Ranks through the engine with a written bundle: the device path
/// (`ranking::recommend`, the bundle's own parameters) or, while tuning, the
/// engine's fold-in at another α and `rank_with_params` with other weights.
pub struct EngineRanker<'a> {
    model: &'a Model,
    histories: &'a DeviceHistories,
    /// Per customer: interactions in bundle rows.
    interactions: HashMap<u32, Vec<(u32, f64)>>,
    /// Tuning: shopper vectors per customer and the weights to rank with.
    tuning: Option<(ShopperVectors, RankingParams)>,
    /// Bundle row → split item.
    split_of_row: HashMap<u32, u32>,
    /// Split item → item id.
    split_ids: Vec<String>,
    /// Ids of bundle items that are not candidates.
    non_candidates: Vec<String>,
}

impl<'a> EngineRanker<'a> {
    /// The device path on `model` for `split`'s users.
    pub fn new(
        data: &Transactions,
        model: &'a Model,
        split: &Split,
        histories: &'a DeviceHistories,
    ) -> EngineRanker<'a> {
        let split_of_row: HashMap<u32, u32> = split
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, &item)| {
                let row = model.item_row(&data.items[item as usize].code)?;
                Some((row, i as u32))
            })
            .collect();
        let non_candidates = (0..model.n_items() as u32)
            .filter(|row| !split_of_row.contains_key(row))
            .filter_map(|row| model.item(row).map(|m| m.id.clone()))
            .collect();
        let split_ids = split
            .items
            .iter()
            .map(|&item| data.items[item as usize].code.clone())
            .collect();
        let interactions = histories
            .profiles
            .iter()
            .map(|(customer, profile)| {
                let found =
                    ranking::foldin::interactions(model, profile, &histories.config, histories.now);
                (*customer, found)
            })
            .collect();
        EngineRanker {
            model,
            histories,
            interactions,
            tuning: None,
            split_of_row,
            split_ids,
            non_candidates,
        }
    }

    /// Number of bundle items that are not candidates.
    pub fn n_non_candidates(&self) -> usize {
        self.non_candidates.len()
    }

    /// Folds every user in with the engine at confidence scale `alpha` and
    /// ranks with `params`' weights from now on (the fold-in is done once
    /// per α; [`EngineRanker::set_weights`] then changes only the weights).
    pub fn tune_alpha(&mut self, alpha: f64, params: RankingParams) -> anyhow::Result<()> {
        let ranking = &self.model.manifest().ranking;
        let system = FoldInSystem::new(self.model.gram(), self.model.dim(), ranking.lambda, alpha)
            .map_err(|e| anyhow::anyhow!("fold-in at α = {alpha}: {e}"))?;
        let mut vectors = HashMap::new();
        for (customer, interactions) in &self.interactions {
            let vector = system
                .fold_in(self.model.all_item_factors(), interactions)
                .map_err(|e| anyhow::anyhow!("fold-in at α = {alpha}: {e}"))?;
            vectors.insert(*customer, vector);
        }
        self.tuning = Some((vectors, params));
        Ok(())
    }

    /// Changes the weights used while tuning.
    pub fn set_weights(&mut self, params: RankingParams) {
        if let Some((_, current)) = &mut self.tuning {
            *current = params;
        }
    }

    fn rank(&self, user: &EvalUser, exclude: &[u32], k: usize) -> anyhow::Result<Vec<u32>> {
        let profile = self
            .histories
            .profiles
            .get(&user.customer_idx)
            .ok_or_else(|| anyhow::anyhow!("no profile for customer {}", user.customer_idx))?;
        let mut exclude_items = self.non_candidates.clone();
        exclude_items.extend(exclude.iter().map(|&i| self.split_ids[i as usize].clone()));
        let request = RankRequest {
            k,
            now: self.histories.now,
            exclude_items,
            // Task B passes the owned items in `exclude`; task A keeps them.
            exclude_purchased: !exclude.is_empty(),
            ..RankRequest::default()
        };
        let ranked = match &self.tuning {
            None => ranking::recommend(self.model, profile, &self.histories.config, &request),
            Some((vectors, params)) => {
                let interactions = &self.interactions[&user.customer_idx];
                let vector = vectors.get(&user.customer_idx).and_then(|v| v.as_deref());
                ranking::rank_with_params(
                    self.model,
                    params,
                    profile,
                    &request,
                    vector,
                    interactions,
                )
            }
        }
        .map_err(|e| anyhow::anyhow!("engine ranking failed: {e}"))?;
        Ok(ranked
            .items
            .iter()
            .filter_map(|r| self.split_of_row.get(&r.row).copied())
            .collect())
    }
}

impl Ranker for EngineRanker<'_> {
    fn name(&self) -> String {
        "Cove: engine (events → profile → recommend, int8)".into()
    }

    fn top_k(&self, user: &EvalUser, exclude: &[u32], k: usize) -> Vec<u32> {
        // A request the engine refuses ranks nothing (counted as misses);
        // it cannot happen with the requests built above.
        self.rank(user, exclude, k).unwrap_or_else(|err| {
            tracing::warn!("user {}: {err:#}", user.customer_idx);
            Vec::new()
        })
    }
}

/// `pipeline::train` on the rows before `cutoff_day` only, exported as a
/// bundle and loaded by the engine.
fn bundle_before(
    data: &Transactions,
    config: &TrainConfig,
    evaluation: &EvaluationReport,
    cutoff_day: i64,
    bars: Bars,
) -> anyhow::Result<(Model, String)> {
    let cutoff = cutoff_day * MINUTES_PER_DAY;
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
    Ok((model, bundle.model_id))
}

/// The grids searched on validation, one coordinate at a time.
const ALPHA_SCALES: [f64; 10] = [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
const TRENDING_WEIGHTS: [f32; 8] = [0.0, 0.03, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2];
const NEIGHBOUR_WEIGHTS: [f32; 6] = [0.0, 0.03, 0.1, 0.2, 0.4, 0.8];
const REPEAT_WEIGHTS: [f32; 8] = [0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2];

/// Runs the protocol through the engine. First the ranking parameters are
/// chosen on the validation split and written into `config.engine` (so the
/// published bundle ships them): α's scale, then the trending and neighbour
/// weights (by the mean NDCG@10 of both tasks), then the "buy again" weight
/// (task A only: task B excludes bought items). Then the test period is
/// scored once, on the device path. `evaluation` is the trainer's own.
pub fn evaluate_through_engine(
    data: &Transactions,
    config: &mut TrainConfig,
    evaluation: &EvaluationReport,
    bars: Bars,
) -> anyhow::Result<EngineEvaluation> {
    let start = std::time::Instant::now();
    let threads = config.als.threads;
    let val_cutoff = config.cutoff_day - config.validation_days;
    let (val_model, _) = bundle_before(data, config, evaluation, val_cutoff, bars)?;
    let val_split = Split::new(
        data,
        val_cutoff,
        Some(config.cutoff_day),
        config.half_life_days,
    );
    let val_histories = DeviceHistories::new(data, &val_split);
    let mut ranker = EngineRanker::new(data, &val_model, &val_split, &val_histories);
    let base = val_model.manifest().ranking.clone();
    let params_of = |w: &EngineWeights| RankingParams {
        weight_neighbors: w.weight_neighbors,
        weight_trending: w.weight_trending,
        weight_repeat: w.weight_repeat,
        ..base.clone()
    };
    let n_trials = 2 * (ALPHA_SCALES.len() + TRENDING_WEIGHTS.len() * NEIGHBOUR_WEIGHTS.len())
        + REPEAT_WEIGHTS.len();
    let bar = bars.bar(n_trials as u64, "tuning the engine's weights on validation");
    let mut trials = Vec::new();
    let mut weights = config.engine;
    // Scores the tasks asked for; returns NDCG@10 of [A, B] (0 if not asked).
    let mut trial = |ranker: &EngineRanker, w: EngineWeights, tasks: &[Task]| -> [f64; 2] {
        let mut ndcg = [0.0f64; 2];
        for task in tasks {
            let slot = usize::from(*task == Task::B);
            ndcg[slot] = eval::evaluate(&val_split, ranker, *task, threads).ndcg_at_10;
        }
        trials.push(EngineTrial {
            weights: w,
            ndcg_at_10_a: ndcg[0],
            ndcg_at_10_b: ndcg[1],
        });
        bar.inc(1);
        ndcg
    };
    let both = [Task::A, Task::B];

    // α's scale and the trending and neighbour weights by task B, one
    // coordinate at a time, in two rounds (the best α depends on the weights).
    for _round in 0..2 {
        // α's scale, with the current weights. A scale the engine cannot fold
        // in with (not positive definite) is skipped, not fatal.
        let mut best = (f64::MIN, weights.alpha_scale);
        for scale in ALPHA_SCALES {
            let w = EngineWeights {
                alpha_scale: scale,
                ..weights
            };
            let alpha = engine_alpha(&config.als.confidence, scale);
            if let Err(err) = ranker.tune_alpha(alpha, params_of(&w)) {
                tracing::warn!(scale, "trial skipped: {err:#}");
                continue;
            }
            let [_, b] = trial(&ranker, w, &both);
            if b > best.0 {
                best = (b, scale);
            }
        }
        weights.alpha_scale = best.1;
        let alpha = engine_alpha(&config.als.confidence, weights.alpha_scale);
        ranker.tune_alpha(alpha, params_of(&weights))?;

        // Trending and neighbour weights together.
        let mut best = (f64::MIN, weights);
        for trending in TRENDING_WEIGHTS {
            for neighbours in NEIGHBOUR_WEIGHTS {
                let w = EngineWeights {
                    weight_trending: trending,
                    weight_neighbors: neighbours,
                    ..weights
                };
                ranker.set_weights(params_of(&w));
                let [_, b] = trial(&ranker, w, &both);
                if b > best.0 {
                    best = (b, w);
                }
            }
        }
        weights = best.1;
    }
    ranker.set_weights(params_of(&weights));

    // 3. "Buy again", on task A.
    let mut best = (f64::MIN, weights);
    for repeat in REPEAT_WEIGHTS {
        let w = EngineWeights {
            weight_repeat: repeat,
            ..weights
        };
        ranker.set_weights(params_of(&w));
        let [a, _] = trial(&ranker, w, &[Task::A]);
        if a > best.0 {
            best = (a, w);
        }
    }
    weights = best.1;
    bar.finish_and_clear();
    tracing::info!(?weights, "engine weights chosen on validation");
    config.engine = weights;

    // The test period, scored once on the device path.
    let (model, model_id) = bundle_before(data, config, evaluation, config.cutoff_day, bars)?;
    let split = Split::new(data, config.cutoff_day, None, config.half_life_days);
    let histories = DeviceHistories::new(data, &split);
    let ranker = EngineRanker::new(data, &model, &split, &histories);
    let rows = [Task::A, Task::B]
        .into_iter()
        .map(|task| EngineRow {
            model: "engine: events → profile → recommend (int8)".into(),
            task,
            metrics: eval::evaluate(&split, &ranker, task, threads),
        })
        .collect();
    let ndcg_by_history = eval::ndcg_by_history(&split, &ranker, Task::A, threads);
    Ok(EngineEvaluation {
        rows,
        ndcg_by_history,
        model_id,
        n_orders: histories.n_orders,
        n_orders_split: histories.n_orders_split,
        n_events_refused: histories.n_refused,
        n_non_candidates: ranker.n_non_candidates(),
        weights,
        validation_trials: trials,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The engine-path figures by name, for the manifest's `metrics`.
pub fn metric_entries(e: &EngineEvaluation) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for row in &e.rows {
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
                format!("task_{task}.engine_path.{metric}"),
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
