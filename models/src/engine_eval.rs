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
//! Before that, the ranking parameters the bundle ships are chosen on the
//! validation split through the same engine code (`FoldInSystem` for each α,
//! `ranking::rank_with_params` for each set of weights), never on the test
//! period: the length of the `*` trending list, α's scale, the top-level
//! weights (by task B, the "discover" slot) and the `keep_purchased` weights
//! (by task A, the "for you" slot that keeps bought items). Every choice
//! follows one tie rule fixed in advance ([`pick`], [`TIE_TOLERANCE`]), so
//! the test period is scored once, for the one configuration chosen.

use std::collections::HashMap;

use cove_engine::bundle::{BlendWeights, Model, RankingParams};
use cove_engine::profile::ProfileParams;
use cove_engine::ranking::foldin::FoldInSystem;
use cove_engine::ranking::{self, RankRequest};
use serde::Serialize;

use crate::data::Transactions;
use crate::dates::MINUTES_PER_DAY;
use crate::engine_scorer::{engine_alpha, DeviceHistories};
use crate::eval::{self, EvalUser, HistoryBucket, Metrics, Ranker, Split, Task};
use crate::neighbours::NeighbourMix;
use crate::pipeline::{self, Bars, EngineWeights, EvaluationReport, TrainConfig, TrainedModel};
use crate::session::{SessionCases, SessionMetrics, SessionTask};
use crate::session_eval::{self, SessionRanker, SessionRow};

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
    /// The weights chosen on validation (or given by a parameters file).
    pub weights: EngineWeights,
    /// The validation search, summarised (`None` when the weights were given).
    pub validation: Option<ValidationSummary>,
    /// The in-session search on validation (`None` when the weights were given).
    pub session_validation: Option<SessionSearch>,
    /// OR-SESSION on the test period through the engine: tasks C, D, E.
    pub session_rows: Vec<SessionRow>,
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
    /// Validation NDCG@10, task A (when scored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ndcg_at_10_a: Option<f64>,
    /// Validation NDCG@10, task B (when scored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ndcg_at_10_b: Option<f64>,
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
    /// The split's items in the bundle.
    candidates: CandidateIndex,
}

/// How a split's candidate items map onto a bundle's rows.
pub struct CandidateIndex {
    /// Bundle row → split item.
    pub split_of_row: HashMap<u32, u32>,
    /// Split item → item id.
    pub split_ids: Vec<String>,
    /// Ids of bundle items that are not candidates (excluded from every request).
    pub non_candidates: Vec<String>,
}

impl CandidateIndex {
    /// The index of `split`'s items in `model`.
    pub fn new(data: &Transactions, model: &Model, split: &Split) -> CandidateIndex {
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
        CandidateIndex {
            split_of_row,
            split_ids,
            non_candidates,
        }
    }

    /// A ranking's items in split items (non-candidates dropped).
    pub fn split_items(&self, ranked: &ranking::Ranking) -> Vec<u32> {
        ranked
            .items
            .iter()
            .filter_map(|r| self.split_of_row.get(&r.row).copied())
            .collect()
    }
}

impl<'a> EngineRanker<'a> {
    /// The device path on `model` for `split`'s users.
    pub fn new(
        data: &Transactions,
        model: &'a Model,
        split: &Split,
        histories: &'a DeviceHistories,
    ) -> EngineRanker<'a> {
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
            candidates: CandidateIndex::new(data, model, split),
        }
    }

    /// Number of bundle items that are not candidates.
    pub fn n_non_candidates(&self) -> usize {
        self.candidates.non_candidates.len()
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
        let mut exclude_items = self.candidates.non_candidates.clone();
        exclude_items.extend(
            exclude
                .iter()
                .map(|&i| self.candidates.split_ids[i as usize].clone()),
        );
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
        Ok(self.candidates.split_items(&ranked))
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

/// `pipeline::train` on the rows before `cutoff_day` only.
fn model_before(
    data: &Transactions,
    config: &TrainConfig,
    evaluation: &EvaluationReport,
    cutoff_day: i64,
    bars: Bars,
) -> anyhow::Result<TrainedModel> {
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

/// `trained` exported as a bundle (with its `config.engine`) and loaded by
/// the engine.
fn load_bundle(trained: &TrainedModel) -> anyhow::Result<(Model, String)> {
    let (bundle, _) = crate::export::build_bundle(trained, &[])?;
    let model = Model::from_bytes(&bundle.manifest, &bundle.tensors)
        .map_err(|e| anyhow::anyhow!("the train-split bundle does not load: {e}"))?;
    Ok((model, bundle.model_id))
}

/// The grids searched on validation, one coordinate at a time. Every grid is
/// in ascending order, so the tie rule ([`pick`]) prefers the smaller
/// weight, the smaller α and the shorter list.
const ALPHA_SCALES: [f64; 10] = [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
const TRENDING_WEIGHTS: [f32; 8] = [0.0, 0.03, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2];
const NEIGHBOUR_WEIGHTS: [f32; 6] = [0.0, 0.03, 0.1, 0.2, 0.4, 0.8];
const REPEAT_WEIGHTS: [f32; 9] = [0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4];
/// Lengths of the `*` trending list tried (each one a validation bundle).
pub const TRENDING_LENGTHS: [usize; 3] = [100, 400, 1000];
/// Half-lives (days) of the device profile's weights tried; the first is the
/// engine's default. The shop's buyers (wholesalers) reorder over months.
pub const PROFILE_HALF_LIVES: [f64; 5] = [30.0, 60.0, 120.0, 240.0, 480.0];

fn half_lives_chosen(weights: &EngineWeights, default_days: f64) -> f64 {
    weights.profile_half_life_days.unwrap_or(default_days)
}

/// The tie rule, fixed before any search: options whose validation NDCG@10
/// is within this of the best are ties, and the first of them in grid order
/// (the smaller weight, α or list) is kept. 0.0005 is about the difference
/// one validation user's hit moves NDCG@10 by (1,096 users).
pub const TIE_TOLERANCE: f64 = 0.0005;

/// The option [`TIE_TOLERANCE`] chooses from `scored` (options in grid
/// order with their validation score), and its score. `None` when empty.
pub fn pick<T: Copy>(scored: &[(T, f64)]) -> Option<(T, f64)> {
    let best = scored.iter().map(|(_, s)| *s).fold(f64::MIN, f64::max);
    scored
        .iter()
        .find(|(_, s)| *s >= best - TIE_TOLERANCE)
        .copied()
}

/// What the validation search found for one length of the `*` list and one
/// profile half-life.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    /// Items in the `*` trending list.
    pub n_trending: usize,
    /// The device profile's half-life, days.
    pub profile_half_life_days: f64,
    /// The weights chosen for this length.
    pub weights: EngineWeights,
    /// Validation NDCG@10 of task A with the `keep_purchased` set.
    pub ndcg_at_10_a: f64,
    /// Validation NDCG@10 of task B with the top-level set.
    pub ndcg_at_10_b: f64,
    /// Validation NDCG@10 of task A with one set for both slots (the
    /// top-level weights, buy-again weight chosen by task A): the figure
    /// the per-slot set is judged against.
    pub ndcg_at_10_a_one_set: f64,
}

/// The validation search, summarised.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationSummary {
    /// One entry per length in [`TRENDING_LENGTHS`], at the engine's
    /// default profile half-life.
    pub lengths: Vec<SearchResult>,
    /// One entry per half-life in [`PROFILE_HALF_LIVES`], at the chosen
    /// length.
    pub half_lives: Vec<SearchResult>,
    /// The length chosen: the best mean of the two slots' NDCG@10, under
    /// the tie rule.
    pub n_trending: usize,
    /// The profile half-life chosen, days, the same way (after the length).
    pub profile_half_life_days: f64,
    /// The tie tolerance used.
    pub tie_tolerance: f64,
}

/// Scores validation trials and records them.
struct Tuner<'a> {
    split: &'a Split,
    threads: usize,
    trials: Vec<EngineTrial>,
    bar: indicatif::ProgressBar,
}

impl Tuner<'_> {
    /// Validation NDCG@10 of `task` with the ranker's current parameters.
    fn score(&mut self, ranker: &EngineRanker, w: EngineWeights, task: Task) -> f64 {
        let ndcg = eval::evaluate(self.split, ranker, task, self.threads).ndcg_at_10;
        self.trials.push(EngineTrial {
            weights: w,
            ndcg_at_10_a: (task == Task::A).then_some(ndcg),
            ndcg_at_10_b: (task == Task::B).then_some(ndcg),
        });
        self.bar.inc(1);
        ndcg
    }
}

/// The ranking parameters of `w` on top of a bundle's (λ and α stay the
/// bundle's; α is set by [`EngineRanker::tune_alpha`]).
fn params_of(base: &RankingParams, w: &EngineWeights) -> RankingParams {
    RankingParams {
        weight_personal: 1.0,
        weight_neighbors: w.weight_neighbors,
        weight_trending: w.weight_trending,
        weight_repeat: w.weight_repeat,
        keep_purchased: w.keep_purchased,
        ..base.clone()
    }
}

/// Searches both weight sets on one validation bundle:
///
/// 1. the top-level set by task B (the "discover" slot, bought items
///    excluded): α's scale, then the trending and neighbour weights, two
///    rounds (the best α depends on the weights);
/// 2. with that α and that set, the buy-again weight by task A (the
///    one-set figure, and the top-level `weight_repeat`, which a request
///    keeping bought items uses when a bundle has no second set);
/// 3. the `keep_purchased` set by task A: the buy-again weight, then the
///    trending and neighbour weights, two rounds.
///
/// Every choice goes through [`pick`].
fn search_weights(
    tuner: &mut Tuner,
    ranker: &mut EngineRanker,
    config: &TrainConfig,
    n_trending: usize,
) -> anyhow::Result<SearchResult> {
    let base = ranker.model.manifest().ranking.clone();
    let mut weights = EngineWeights {
        keep_purchased: None,
        n_trending,
        ..config.engine
    };
    let alpha_of = |scale: f64| engine_alpha(&config.als.confidence, scale);
    let mut ndcg_b = f64::MIN;
    for _round in 0..2 {
        // α's scale; a scale the engine cannot fold in with (not positive
        // definite) is skipped, not fatal.
        let mut scored = Vec::new();
        for scale in ALPHA_SCALES {
            let w = EngineWeights {
                alpha_scale: scale,
                ..weights
            };
            if let Err(err) = ranker.tune_alpha(alpha_of(scale), params_of(&base, &w)) {
                tracing::warn!(scale, "trial skipped: {err:#}");
                continue;
            }
            scored.push((scale, tuner.score(ranker, w, Task::B)));
        }
        let (scale, _) = pick(&scored).ok_or_else(|| anyhow::anyhow!("no α folds in"))?;
        weights.alpha_scale = scale;
        ranker.tune_alpha(alpha_of(scale), params_of(&base, &weights))?;

        let mut scored = Vec::new();
        for trending in TRENDING_WEIGHTS {
            for neighbours in NEIGHBOUR_WEIGHTS {
                let w = EngineWeights {
                    weight_trending: trending,
                    weight_neighbors: neighbours,
                    ..weights
                };
                ranker.set_weights(params_of(&base, &w));
                scored.push((w, tuner.score(ranker, w, Task::B)));
            }
        }
        let (w, b) = pick(&scored).expect("the grid is not empty");
        weights = w;
        ndcg_b = b;
    }

    // One set for both slots: the buy-again weight by task A.
    let mut scored = Vec::new();
    for repeat in REPEAT_WEIGHTS {
        let w = EngineWeights {
            weight_repeat: repeat,
            ..weights
        };
        ranker.set_weights(params_of(&base, &w));
        scored.push((w, tuner.score(ranker, w, Task::A)));
    }
    let (w, ndcg_a_one_set) = pick(&scored).expect("the grid is not empty");
    weights = w;

    // The "for you" set by task A, starting from the one set.
    let mut kept = BlendWeights {
        weight_personal: 1.0,
        weight_neighbors: weights.weight_neighbors,
        weight_trending: weights.weight_trending,
        weight_repeat: weights.weight_repeat,
    };
    let with_kept = |kept: BlendWeights| EngineWeights {
        keep_purchased: Some(kept),
        ..weights
    };
    let mut ndcg_a = ndcg_a_one_set;
    for _round in 0..2 {
        let mut scored = Vec::new();
        for repeat in REPEAT_WEIGHTS {
            let k = BlendWeights {
                weight_repeat: repeat,
                ..kept
            };
            ranker.set_weights(params_of(&base, &with_kept(k)));
            scored.push((k, tuner.score(ranker, with_kept(k), Task::A)));
        }
        kept = pick(&scored).expect("the grid is not empty").0;
        let mut scored = Vec::new();
        for trending in TRENDING_WEIGHTS {
            for neighbours in NEIGHBOUR_WEIGHTS {
                let k = BlendWeights {
                    weight_trending: trending,
                    weight_neighbors: neighbours,
                    ..kept
                };
                ranker.set_weights(params_of(&base, &with_kept(k)));
                scored.push((k, tuner.score(ranker, with_kept(k), Task::A)));
            }
        }
        (kept, ndcg_a) = pick(&scored).expect("the grid is not empty");
    }
    Ok(SearchResult {
        n_trending,
        profile_half_life_days: ProfileParams::default().half_life_days,
        weights: with_kept(kept),
        ndcg_at_10_a: ndcg_a,
        ndcg_at_10_b: ndcg_b,
        ndcg_at_10_a_one_set: ndcg_a_one_set,
    })
}

/// Runs the protocol through the engine. With `search`, the ranking
/// parameters are first chosen on the validation split and written into
/// `config.engine` (so the published bundle ships them): for each length of
/// the `*` trending list, both weight sets ([`search_weights`]); then the
/// length, by the mean of the two slots' NDCG@10; then the profile's
/// half-life; then the in-session weights ([`search_session`]). Without
/// `search`, `config.engine` is used as given (`cove-train train --params`).
/// Then, unless `score_test` is false, the test period is scored once, on
/// the device path, with that configuration: tasks A and B (OR-LAST-MONTH)
/// and C, D, E (OR-SESSION). `evaluation` is the trainer's own.
pub fn evaluate_through_engine(
    data: &Transactions,
    config: &mut TrainConfig,
    evaluation: &EvaluationReport,
    bars: Bars,
    search: bool,
    score_test: bool,
) -> anyhow::Result<EngineEvaluation> {
    let start = std::time::Instant::now();
    let threads = config.als.threads;
    let (validation, session_validation, trials) = if search {
        let (validation, trials) = search_blend(data, config, evaluation, bars)?;
        let session = search_session(data, config, evaluation, bars)?;
        config.engine.session = Some(session.chosen);
        config.neighbour_mix = session.neighbour_mix;
        (Some(validation), Some(session), trials)
    } else {
        (None, None, Vec::new())
    };
    let mut out = EngineEvaluation {
        rows: Vec::new(),
        ndcg_by_history: Vec::new(),
        model_id: String::new(),
        n_orders: 0,
        n_orders_split: 0,
        n_events_refused: 0,
        n_non_candidates: 0,
        weights: config.engine,
        validation,
        session_validation,
        session_rows: Vec::new(),
        validation_trials: trials,
        seconds: 0.0,
    };
    if score_test {
        // The test period, scored once on the device path.
        let trained = model_before(data, config, evaluation, config.cutoff_day, bars)?;
        let (model, model_id) = bars.step("train-split bundle: export and load", || {
            load_bundle(&trained)
        })?;
        let split = Split::new(data, config.cutoff_day, None, config.half_life_days);
        // Replayed with the bundle's profile configuration, as the browser's
        // host does (`Model::profile_config`).
        let histories = bars.step("device histories replayed", || {
            DeviceHistories::with_config(data, &split, model.profile_config().clone())
        });
        let ranker = EngineRanker::new(data, &model, &split, &histories);
        // Task A is ranked once, for its row and for the table by history.
        let per_user: Vec<Vec<Option<Metrics>>> =
            bars.step("tasks A and B through the engine (test)", || {
                [Task::A, Task::B]
                    .into_iter()
                    .map(|task| eval::evaluate_users(&split, &ranker, task, threads))
                    .collect()
            });
        out.rows = [Task::A, Task::B]
            .into_iter()
            .zip(&per_user)
            .map(|(task, users)| EngineRow {
                model: "engine: events → profile → recommend (int8)".into(),
                task,
                metrics: eval::mean_of_users(users),
            })
            .collect();
        out.ndcg_by_history = eval::history_buckets(&split, &per_user[0]);
        out.session_rows = bars.step("tasks C, D and E through the engine (test)", || {
            let cases = SessionCases::new(data, &split);
            let session_ranker = SessionRanker::new(data, &model, &split, &histories);
            session_eval::score_tasks(&session_ranker, &cases, threads)
        });
        out.model_id = model_id;
        out.n_orders = histories.n_orders;
        out.n_orders_split = histories.n_orders_split;
        out.n_events_refused = histories.n_refused;
        out.n_non_candidates = ranker.n_non_candidates();
    }
    out.seconds = start.elapsed().as_secs_f64();
    Ok(out)
}

/// The blend's validation search (tasks A and B): the `*` list's length, the
/// profile's half-life, α's scale and both weight sets. Writes the choice
/// into `config.engine`.
fn search_blend(
    data: &Transactions,
    config: &mut TrainConfig,
    evaluation: &EvaluationReport,
    bars: Bars,
) -> anyhow::Result<(ValidationSummary, Vec<EngineTrial>)> {
    let threads = config.als.threads;
    let val_cutoff = config.cutoff_day - config.validation_days;
    let val_trained = model_before(data, config, evaluation, val_cutoff, bars)?;
    let val_split = Split::new(
        data,
        val_cutoff,
        Some(config.cutoff_day),
        config.half_life_days,
    );
    let default_days = ProfileParams::default().half_life_days;
    let per_search = 2 * (ALPHA_SCALES.len() + TRENDING_WEIGHTS.len() * NEIGHBOUR_WEIGHTS.len())
        + REPEAT_WEIGHTS.len()
        + 2 * (REPEAT_WEIGHTS.len() + TRENDING_WEIGHTS.len() * NEIGHBOUR_WEIGHTS.len());
    let n_trials = per_search * (TRENDING_LENGTHS.len() + PROFILE_HALF_LIVES.len() - 1);
    let mut tuner = Tuner {
        split: &val_split,
        threads,
        trials: Vec::new(),
        bar: bars.bar(n_trials as u64, "tuning the engine's weights on validation"),
    };
    // One search of both weight sets for a list length and a profile
    // half-life: the validation histories replayed with that half-life, the
    // validation bundle exported with that list.
    let mut search = |n_trending: usize, days: f64| -> anyhow::Result<SearchResult> {
        let profile = ProfileParams {
            half_life_days: days,
            ..ProfileParams::default()
        }
        .validate()
        .map_err(|e| anyhow::anyhow!("profile half-life {days}: {e}"))?;
        let histories = DeviceHistories::with_config(data, &val_split, profile);
        let mut trained = val_trained.clone();
        trained.config.engine.n_trending = n_trending;
        let (val_model, _) = load_bundle(&trained)?;
        let mut ranker = EngineRanker::new(data, &val_model, &val_split, &histories);
        let mut found = search_weights(&mut tuner, &mut ranker, config, n_trending)?;
        found.profile_half_life_days = days;
        found.weights.profile_half_life_days = (days != default_days).then_some(days);
        tracing::info!(?found, "validation search");
        Ok(found)
    };
    let mean = |r: &SearchResult| (r.ndcg_at_10_a + r.ndcg_at_10_b) / 2.0;

    // 1. The `*` list's length, with the engine's default profile half-life.
    let mut lengths = Vec::new();
    for n_trending in TRENDING_LENGTHS {
        lengths.push(search(n_trending, default_days)?);
    }
    let scored: Vec<(usize, f64)> = lengths.iter().map(mean).enumerate().collect();
    let chosen_length = pick(&scored).expect("TRENDING_LENGTHS is not empty").0;
    let n_trending = lengths[chosen_length].n_trending;

    // 2. The profile's half-life, with that length (the default's search is
    //    the one just made).
    let mut half_lives = Vec::new();
    for days in PROFILE_HALF_LIVES {
        if days == default_days {
            half_lives.push(lengths[chosen_length].clone());
        } else {
            half_lives.push(search(n_trending, days)?);
        }
    }
    let scored: Vec<(usize, f64)> = half_lives.iter().map(mean).enumerate().collect();
    let chosen = pick(&scored).expect("PROFILE_HALF_LIVES is not empty").0;
    let weights = half_lives[chosen].weights;
    tuner.bar.finish_and_clear();
    tracing::info!(?weights, "engine weights chosen on validation");
    config.engine = weights;
    let validation = ValidationSummary {
        lengths,
        half_lives,
        n_trending,
        profile_half_life_days: half_lives_chosen(&weights, default_days),
        tie_tolerance: TIE_TOLERANCE,
    };
    Ok((validation, tuner.trials))
}

/// The in-session grids: the session's weight and decay (tasks C and E, the
/// "for you" slot), then the context slot's trending and personal terms
/// (task D, the item page). Ascending, so the tie rule keeps the smaller.
const SESSION_WEIGHTS: [f32; 9] = [0.0, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];
const SESSION_DECAYS: [f32; 4] = [0.5, 0.7, 0.85, 1.0];
const CONTEXT_TRENDING: [f32; 5] = [0.0, 0.01, 0.03, 0.1, 0.3];
const CONTEXT_PERSONAL: [f32; 5] = [0.0, 0.01, 0.03, 0.1, 0.3];
/// The coarser grids each neighbour mix is compared with (the chosen mix then
/// gets the full grids above).
const COARSE_SESSION_WEIGHTS: [f32; 4] = [0.4, 0.8, 1.6, 3.2];
const COARSE_SESSION_DECAYS: [f32; 2] = [0.5, 0.85];
const COARSE_CONTEXT_TRENDING: [f32; 3] = [0.0, 0.03, 0.3];
const COARSE_CONTEXT_PERSONAL: [f32; 1] = [0.0];
/// The neighbour mixes compared, as (votes, basket cosine, factor cosine)
/// weights; the first with votes is tried with each of [`RECENT_BASKETS`].
/// The last is the design before recent baskets voted.
const NEIGHBOUR_MIXES: [(f32, f32, f32); 9] = [
    (1.0, 0.0, 0.0),
    (1.0, 0.25, 0.0),
    (1.0, 0.5, 0.0),
    (1.0, 1.0, 0.0),
    (1.0, 0.25, 0.25),
    (1.0, 0.5, 0.25),
    (1.0, 0.25, 0.5),
    (1.0, 0.5, 0.5),
    (0.0, 1.0, 1.0),
];
/// How many recent baskets vote for an item's list (V-SKNN's m).
const RECENT_BASKETS: [usize; 3] = [30, 100, 300];
/// Validation cases per task in the in-session search (evenly spaced).
const SESSION_VALIDATION_CASES: usize = 3_000;

/// What the in-session search found.
#[derive(Debug, Clone, Serialize)]
pub struct SessionSearch {
    /// The weights chosen.
    pub chosen: cove_engine::bundle::SessionWeights,
    /// The neighbour mix chosen.
    pub neighbour_mix: NeighbourMix,
    /// Every mix compared, with the mean validation NDCG@10 of C, D and E
    /// it reached on the coarse grids.
    pub mixes: Vec<(NeighbourMix, f64)>,
    /// Validation cases per task (C, D, E).
    pub n_cases: [usize; 3],
    /// Every trial of the chosen mix: the weights and the validation
    /// NDCG@10 of C, D and E (`None` where the task was not scored).
    pub trials: Vec<(cove_engine::bundle::SessionWeights, [Option<f64>; 3])>,
    /// Validation NDCG@10 of C, D, E with the chosen weights.
    pub ndcg_at_10: [f64; 3],
}

/// The grids of one in-session search.
struct SessionGrids<'g> {
    weights: &'g [f32],
    decays: &'g [f32],
    context_trending: &'g [f32],
    context_personal: &'g [f32],
}

const FULL_GRIDS: SessionGrids<'static> = SessionGrids {
    weights: &SESSION_WEIGHTS,
    decays: &SESSION_DECAYS,
    context_trending: &CONTEXT_TRENDING,
    context_personal: &CONTEXT_PERSONAL,
};

const COARSE_GRIDS: SessionGrids<'static> = SessionGrids {
    weights: &COARSE_SESSION_WEIGHTS,
    decays: &COARSE_SESSION_DECAYS,
    context_trending: &COARSE_CONTEXT_TRENDING,
    context_personal: &COARSE_CONTEXT_PERSONAL,
};

impl SessionGrids<'_> {
    fn n_trials(&self) -> usize {
        self.weights.len() * self.decays.len()
            + self.context_trending.len() * self.context_personal.len()
            + 1
    }
}

/// The validation cases of C, D and E.
struct SessionCaseSets<'c> {
    c: Vec<&'c crate::session::SessionCase>,
    d: Vec<&'c crate::session::SessionCase>,
    e: Vec<&'c crate::session::SessionCase>,
}

/// One in-session search on one validation bundle: the session's weight ×
/// decay by the mean NDCG@10 of C and E, then the context terms by D, each
/// under [`pick`]'s tie rule. Returns the weights, every trial and the
/// chosen weights' NDCG@10 of C, D and E.
fn search_session_weights(
    ranker: &mut SessionRanker,
    cases: &SessionCaseSets,
    grids: &SessionGrids,
    threads: usize,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<SessionSearchRun> {
    type Weights = cove_engine::bundle::SessionWeights;
    let base = ranker.model_ranking().clone();
    let alpha = base.alpha;
    let mut trials: Vec<(Weights, [Option<f64>; 3])> = Vec::new();
    let ndcg = |ranker: &mut SessionRanker,
                w: Weights,
                tasks: [bool; 3]|
     -> anyhow::Result<[Option<f64>; 3]> {
        ranker.tune(
            alpha,
            RankingParams {
                session: Some(w),
                ..base.clone()
            },
        )?;
        let mut out = [None; 3];
        for (slot, (wanted, set)) in out
            .iter_mut()
            .zip(tasks.into_iter().zip([&cases.c, &cases.d, &cases.e]))
        {
            if wanted {
                *slot = Some(SessionMetrics::mean(&ranker.evaluate(set, threads)).ndcg_at_10);
            }
        }
        bar.inc(1);
        Ok(out)
    };
    let mut weights = Weights::default();
    let mut scored = Vec::new();
    for &weight_session in grids.weights {
        for &session_decay in grids.decays {
            let w = Weights {
                weight_session,
                session_decay,
                ..weights
            };
            let got = ndcg(ranker, w, [true, false, true])?;
            let mean = (got[0].unwrap_or(0.0) + got[2].unwrap_or(0.0)) / 2.0;
            trials.push((w, got));
            scored.push((w, mean));
        }
    }
    weights = pick(&scored).expect("the grid is not empty").0;
    let mut scored = Vec::new();
    for &context_trending in grids.context_trending {
        for &context_personal in grids.context_personal {
            let w = Weights {
                context_trending,
                context_personal,
                ..weights
            };
            let got = ndcg(ranker, w, [false, true, false])?;
            trials.push((w, got));
            scored.push((w, got[1].unwrap_or(0.0)));
        }
    }
    weights = pick(&scored).expect("the grid is not empty").0;
    let all = ndcg(ranker, weights, [true, true, true])?;
    Ok(SessionSearchRun {
        weights,
        trials,
        ndcg_at_10: all.map(|v| v.unwrap_or(0.0)),
    })
}

/// One run of [`search_session_weights`].
struct SessionSearchRun {
    weights: cove_engine::bundle::SessionWeights,
    trials: Vec<(cove_engine::bundle::SessionWeights, [Option<f64>; 3])>,
    ndcg_at_10: [f64; 3],
}

/// Chooses the bundle's neighbour mix and the in-session weights on the
/// validation split, with the blend already in `config.engine`. The written
/// objective: for each mix in [`NEIGHBOUR_MIXES`] (votes from each of
/// [`RECENT_BASKETS`]), the coarse in-session search
/// ([`search_session_weights`] on [`COARSE_GRIDS`]); the mix with the best
/// mean NDCG@10 of C, D and E is kept ([`pick`]'s tie rule, in grid order);
/// then the full grids choose its in-session weights. The blend's own terms
/// (α, neighbours, trending, buy again) stay as tasks A and B chose them.
pub fn search_session(
    data: &Transactions,
    config: &TrainConfig,
    evaluation: &EvaluationReport,
    bars: Bars,
) -> anyhow::Result<SessionSearch> {
    let threads = config.als.threads;
    let val_cutoff = config.cutoff_day - config.validation_days;
    let val_trained = model_before(data, config, evaluation, val_cutoff, bars)?;
    let val_split = Split::new(
        data,
        val_cutoff,
        Some(config.cutoff_day),
        config.half_life_days,
    );
    let cases = SessionCases::new(data, &val_split);
    let of = |task| session_eval::thinned(&cases, task, SESSION_VALIDATION_CASES);
    let sets = SessionCaseSets {
        c: of(SessionTask::C),
        d: of(SessionTask::D),
        e: of(SessionTask::E),
    };
    let mut mixes: Vec<NeighbourMix> = Vec::new();
    for (votes, basket_cosine, factor_cosine) in NEIGHBOUR_MIXES {
        let baskets: &[usize] = if votes > 0.0 { &RECENT_BASKETS } else { &[0] };
        for &recent_baskets in baskets {
            mixes.push(NeighbourMix {
                recent_baskets,
                votes,
                basket_cosine,
                factor_cosine,
            });
        }
    }
    let bar = bars.bar(
        (mixes.len() * COARSE_GRIDS.n_trials() + FULL_GRIDS.n_trials()) as u64,
        "choosing the neighbour mix and the in-session weights on validation",
    );
    // The votes of each number of recent baskets, computed once (the lists
    // do not depend on the weights).
    let votes_by_baskets: Vec<(usize, Vec<Vec<crate::neighbours::Neighbour>>)> = {
        let cutoff = val_cutoff * MINUTES_PER_DAY;
        let mut train_rows = data.clone();
        train_rows.purchases.retain(|p| p.minute < cutoff);
        let mut baskets: Vec<usize> = mixes.iter().map(|m| m.recent_baskets).collect();
        baskets.sort_unstable();
        baskets.dedup();
        baskets
            .into_iter()
            .map(|m| {
                let lists =
                    crate::neighbours::session_votes(&train_rows, m, val_trained.config.neighbours);
                (m, lists)
            })
            .collect()
    };
    // The validation model with `mix`'s lists, loaded by the engine.
    let with_mix = |mix: NeighbourMix| -> anyhow::Result<Model> {
        let mut trained = val_trained.clone();
        trained.config.neighbour_mix = mix;
        trained.session_votes = votes_by_baskets
            .iter()
            .find(|(m, _)| *m == mix.recent_baskets)
            .map(|(_, lists)| lists.clone())
            .expect("every mix's number of baskets has its votes");
        Ok(load_bundle(&trained)?.0)
    };
    let mut compared = Vec::new();
    let mut histories = None;
    for &mix in &mixes {
        let model = with_mix(mix)?;
        let histories = histories.get_or_insert_with(|| {
            DeviceHistories::with_config(data, &val_split, model.profile_config().clone())
        });
        let mut ranker = SessionRanker::new(data, &model, &val_split, histories);
        let run = search_session_weights(&mut ranker, &sets, &COARSE_GRIDS, threads, &bar)?;
        let mean = run.ndcg_at_10.iter().sum::<f64>() / 3.0;
        tracing::info!(?mix, ?run.ndcg_at_10, "neighbour mix on validation");
        compared.push((mix, mean));
    }
    let neighbour_mix = pick(&compared).expect("NEIGHBOUR_MIXES is not empty").0;
    let model = with_mix(neighbour_mix)?;
    let histories = histories.expect("at least one mix was compared");
    let mut ranker = SessionRanker::new(data, &model, &val_split, &histories);
    let run = search_session_weights(&mut ranker, &sets, &FULL_GRIDS, threads, &bar)?;
    bar.finish_and_clear();
    tracing::info!(
        ?neighbour_mix,
        weights = ?run.weights,
        ndcg = ?run.ndcg_at_10,
        "neighbour mix and in-session weights chosen on validation"
    );
    Ok(SessionSearch {
        chosen: run.weights,
        neighbour_mix,
        mixes: compared,
        n_cases: [sets.c.len(), sets.d.len(), sets.e.len()],
        trials: run.trials,
        ndcg_at_10: run.ndcg_at_10,
    })
}

/// Validation NDCG@10 of the chosen configuration by task letter (empty
/// when the weights were given, not searched).
pub fn validation_figures(e: &EngineEvaluation) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    if let Some(v) = &e.validation {
        if let Some(chosen) = v
            .half_lives
            .iter()
            .find(|r| r.profile_half_life_days == v.profile_half_life_days)
        {
            out.insert("A".to_owned(), round4(chosen.ndcg_at_10_a));
            out.insert("B".to_owned(), round4(chosen.ndcg_at_10_b));
        }
    }
    if let Some(s) = &e.session_validation {
        for (task, value) in ["C", "D", "E"].iter().zip(s.ndcg_at_10) {
            out.insert((*task).to_owned(), round4(value));
        }
    }
    out
}

/// Test NDCG@10 through the engine by task letter.
pub fn test_figures(e: &EngineEvaluation) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    for row in &e.rows {
        let task = match row.task {
            Task::A => "A",
            Task::B => "B",
        };
        out.insert(task.to_owned(), round4(row.metrics.ndcg_at_10));
    }
    for row in &e.session_rows {
        out.insert(row.task.letter().to_owned(), round4(row.all.ndcg_at_10));
    }
    out
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
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
    for row in &e.session_rows {
        let task = row.task.letter().to_lowercase();
        for (metric, value) in [
            ("hr_at_10", row.all.hr_at_10),
            ("ndcg_at_10", row.all.ndcg_at_10),
            ("recall_at_20", row.all.recall_at_20),
            ("mrr_at_20", row.all.mrr_at_20),
        ] {
            out.push((format!("task_{task}.engine_path.{metric}"), round4(value)));
        }
    }
    out
}

/// A Markdown table of the validation search, one row per list length.
pub fn validation_table(v: &ValidationSummary) -> String {
    let mut out = String::from(
        "| step | `*` list | profile half-life (days) | α scale | discover (B): neighbours / trending | for you (A): neighbours / trending / buy again | val. NDCG@10 B | val. NDCG@10 A, own set | val. NDCG@10 A, one set |\n\
         | --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |\n",
    );
    let steps = [
        ("1. list length", &v.lengths),
        ("2. half-life", &v.half_lives),
    ];
    for (step, results) in steps {
        for r in results {
            let w = &r.weights;
            let kept = w.keep_purchased.map_or("—".to_string(), |k| {
                format!(
                    "{} / {} / {}",
                    k.weight_neighbors, k.weight_trending, k.weight_repeat
                )
            });
            let chosen = match step {
                "1. list length" => r.n_trending == v.n_trending,
                _ => r.profile_half_life_days == v.profile_half_life_days,
            };
            out.push_str(&format!(
                "| {step}{} | {} | {} | {} | {} / {} | {} | {:.4} | {:.4} | {:.4} |\n",
                if chosen { " (chosen)" } else { "" },
                r.n_trending,
                r.profile_half_life_days,
                w.alpha_scale,
                w.weight_neighbors,
                w.weight_trending,
                kept,
                r.ndcg_at_10_b,
                r.ndcg_at_10_a,
                r.ndcg_at_10_a_one_set
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tie_rule_keeps_the_first_option_within_the_tolerance() {
        assert_eq!(pick::<u32>(&[]), None);
        // 0.1035 is within 0.0005 of the best (0.1038): the first one wins.
        assert_eq!(
            pick(&[(100, 0.1020), (400, 0.1035), (1000, 0.1038)]),
            Some((400, 0.1035))
        );
        // A clear winner beyond the tolerance is kept.
        assert_eq!(
            pick(&[(100, 0.1020), (400, 0.1030), (1000, 0.1040)]),
            Some((1000, 0.1040))
        );
        assert_eq!(pick(&[(1, 0.3), (2, 0.3)]), Some((1, 0.3)));
    }
}
