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
use std::sync::Arc;

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
    /// The bundle with the non-candidates withdrawn ([`CandidateIndex::restrict`]).
    model: Model,
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
    /// Split item → item id (shared by the indexes of one split over
    /// several bundles, [`CandidateIndex::over`]).
    pub split_ids: Arc<Vec<String>>,
    /// Item id → split item.
    split_of_id: Arc<HashMap<String, u32>>,
    /// Rows of bundle items that are not candidates (withdrawn from every
    /// ranking by [`CandidateIndex::restrict`]).
    pub non_candidates: Vec<u32>,
}

impl CandidateIndex {
    /// The index of `split`'s items in `model`.
    pub fn new(data: &Transactions, model: &Model, split: &Split) -> CandidateIndex {
        let split_ids: Vec<String> = split
            .items
            .iter()
            .map(|&item| data.items[item as usize].code.clone())
            .collect();
        let split_of_id = split_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i as u32))
            .collect();
        CandidateIndex::of(model, Arc::new(split_ids), Arc::new(split_of_id))
    }

    /// The same split's index in another bundle (a head with some of its
    /// shards): it costs that bundle's items, not the split's.
    pub fn over(&self, model: &Model) -> CandidateIndex {
        CandidateIndex::of(
            model,
            Arc::clone(&self.split_ids),
            Arc::clone(&self.split_of_id),
        )
    }

    fn of(
        model: &Model,
        split_ids: Arc<Vec<String>>,
        split_of_id: Arc<HashMap<String, u32>>,
    ) -> CandidateIndex {
        let mut split_of_row = HashMap::new();
        let mut non_candidates = Vec::new();
        for (row, item) in model.items().iter().enumerate() {
            match split_of_id.get(&item.id) {
                Some(&i) => {
                    split_of_row.insert(row as u32, i);
                }
                None => non_candidates.push(row as u32),
            }
        }
        CandidateIndex {
            split_of_row,
            split_ids,
            split_of_id,
            non_candidates,
        }
    }

    /// `model` with the non-candidates withdrawn, so no ranking returns
    /// them (the same rankings as naming them in every request's
    /// `exclude_items`, without looking thousands of ids up per request).
    pub fn restrict(&self, model: &Model) -> Model {
        let mut restricted = model.clone();
        restricted.withdraw_items(&self.non_candidates);
        restricted
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
        model: &Model,
        split: &Split,
        histories: &'a DeviceHistories,
    ) -> EngineRanker<'a> {
        EngineRanker::for_members(data, model, split, histories, None)
    }

    /// [`EngineRanker::new`] for the shoppers in `members` only (all when
    /// None): the others' profiles are not read against `model`, so a model
    /// that serves a few shoppers costs what they cost.
    pub fn for_members(
        data: &Transactions,
        model: &Model,
        split: &Split,
        histories: &'a DeviceHistories,
        members: Option<&std::collections::HashSet<u32>>,
    ) -> EngineRanker<'a> {
        let candidates = CandidateIndex::new(data, model, split);
        EngineRanker::with_candidates(model, histories, candidates, members)
    }

    /// [`EngineRanker::for_members`] with the split's index in `model`
    /// already made ([`CandidateIndex::over`]).
    pub fn with_candidates(
        model: &Model,
        histories: &'a DeviceHistories,
        candidates: CandidateIndex,
        members: Option<&std::collections::HashSet<u32>>,
    ) -> EngineRanker<'a> {
        let interactions = histories
            .profiles
            .iter()
            .filter(|(customer, _)| members.is_none_or(|m| m.contains(customer)))
            .map(|(customer, profile)| {
                let found =
                    ranking::foldin::interactions(model, profile, &histories.config, histories.now);
                (*customer, found)
            })
            .collect();
        EngineRanker {
            model: candidates.restrict(model),
            histories,
            interactions,
            tuning: None,
            candidates,
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
        let exclude_items = exclude
            .iter()
            .map(|&i| self.candidates.split_ids[i as usize].clone())
            .collect();
        let request = RankRequest {
            k,
            now: self.histories.now,
            exclude_items,
            // Task B passes the owned items in `exclude`; task A keeps them.
            exclude_purchased: !exclude.is_empty(),
            ..RankRequest::default()
        };
        let ranked = match &self.tuning {
            None => ranking::recommend(&self.model, profile, &self.histories.config, &request),
            Some((vectors, params)) => {
                let interactions = &self.interactions[&user.customer_idx];
                let vector = vectors.get(&user.customer_idx).and_then(|v| v.as_deref());
                ranking::rank_with_params(
                    &self.model,
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
pub(crate) fn model_before(
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
        // The test users the evaluation scored (a seeded sample in a large shop).
        let mut split = Split::new(data, config.cutoff_day, None, config.half_life_days);
        split.sample_users(eval::MAX_TEST_USERS, config.seed);
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

/// The starting grids of the validation search, one coordinate at a time.
/// Every grid is in ascending order, so the tie rule ([`pick`]) prefers the
/// smaller weight, the smaller α and the shorter list. A grid whose edge is
/// chosen is widened past it ([`line_search`]), so no value is chosen at an
/// edge the data could have gone beyond: a shop whose best ranking is
/// (nearly) the trending list gets a trending weight large enough to say so.
const ALPHA_SCALES: [f64; 10] = [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
const TRENDING_WEIGHTS: [f64; 8] = [0.0, 0.03, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2];
const NEIGHBOUR_WEIGHTS: [f64; 6] = [0.0, 0.03, 0.1, 0.2, 0.4, 0.8];
const REPEAT_WEIGHTS: [f64; 9] = [0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4];
/// Lengths of the `*` trending list tried (each one a validation bundle);
/// widened past the longest (×4) while the longest is chosen and the
/// catalogue has more items.
pub const TRENDING_LENGTHS: [usize; 3] = [100, 400, 1000];
/// Half-lives (days) of the device profile's weights tried; the first is the
/// engine's default. The shop's buyers (wholesalers) reorder over months.
pub const PROFILE_HALF_LIVES: [f64; 5] = [30.0, 60.0, 120.0, 240.0, 480.0];

/// How many times one line search may extend its grid past an edge (each
/// time by a factor of two: 3.2 becomes at most 204.8).
const MAX_WIDENINGS: usize = 6;

/// The most rounds of one coordinate search; it stops earlier when a round
/// changes nothing.
const MAX_ROUNDS: usize = 3;

/// Validation users the blend's search scores at most: an evenly spaced
/// sample of the validation split's users (all of Online Retail's 1,096).
/// A trial costs one engine ranking per user, and a ranking costs in
/// proportion to the catalogue, so a larger catalogue gets fewer users
/// ([`search_sample`]).
pub const MAX_SEARCH_USERS: usize = 2_000;

/// The fewest users (or in-session cases) a sample shrinks to.
pub const MIN_SEARCH_SAMPLE: usize = 500;

/// Items scored per trial that a search sample is sized for: 3,000 rankings
/// of a 5,000-item shop. At 18,000 items a trial ranks for 833 users, at
/// 50,000 for 500 (the floor); up to 5,000 items the caps apply.
const ITEM_SCORES_PER_TRIAL: usize = 15_000_000;

/// How many users (or cases per in-session task) a search trial scores in a
/// catalogue of `n_items`: `cap`, fewer as the catalogue grows (never
/// fewer than [`MIN_SEARCH_SAMPLE`]), so a large shop's search costs about
/// what a small one's does. Fewer users make each score noisier than
/// [`TIE_TOLERANCE`] was set for; the tie rule then still prefers the
/// simpler of two options the sample cannot tell apart.
pub fn search_sample(n_items: usize, cap: usize) -> usize {
    (ITEM_SCORES_PER_TRIAL / n_items.max(1)).clamp(MIN_SEARCH_SAMPLE, cap.max(MIN_SEARCH_SAMPLE))
}

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

/// Which edges of a grid [`line_search`] may widen past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edges {
    /// A weight: zero is a true lower bound; the top edge doubles.
    Top,
    /// A scale: the top edge doubles and the bottom edge halves.
    Both,
    /// A bounded range (a decay in (0, 1]): never widened.
    Neither,
}

/// One coordinate of the search: scores every value of `grid` (ascending)
/// and keeps the one [`pick`] chooses; while that is an edge `edges`
/// allows, the grid is extended past it by a factor of two, at most
/// [`MAX_WIDENINGS`] times. `score` returns `None` for a value that cannot be
/// tried (it is skipped). Returns the value and its score, `None` when no
/// value could be tried.
fn line_search(
    grid: &[f64],
    edges: Edges,
    mut score: impl FnMut(f64) -> anyhow::Result<Option<f64>>,
) -> anyhow::Result<Option<(f64, f64)>> {
    let mut scored: Vec<(f64, f64)> = Vec::new();
    for &value in grid {
        if let Some(s) = score(value)? {
            scored.push((value, s));
        }
    }
    let (mut lowest, mut highest) = (grid[0], grid[grid.len() - 1]);
    for _ in 0..MAX_WIDENINGS {
        let Some((chosen, _)) = pick(&scored) else {
            break;
        };
        let next = if edges == Edges::Neither {
            break;
        } else if chosen == highest && highest > 0.0 {
            highest *= 2.0;
            highest
        } else if chosen == lowest
            && edges == Edges::Both
            && improves_downward(scored.iter().map(|s| s.1))
        {
            lowest /= 2.0;
            lowest
        } else {
            break;
        };
        if let Some(s) = score(next)? {
            scored.push((next, s));
            scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
    }
    Ok(pick(&scored))
}

/// Whether the first of `scores` (the lowest option's, in ascending grid
/// order) beats the second by more than [`TIE_TOLERANCE`]: the tie rule
/// prefers the lowest of tied options, so a flat objective would otherwise
/// widen the bottom edge for nothing.
fn improves_downward(mut scores: impl Iterator<Item = f64>) -> bool {
    match (scores.next(), scores.next()) {
        (Some(lowest), Some(next)) => lowest > next + TIE_TOLERANCE,
        _ => false,
    }
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

/// One of the trainer's baselines on the search's validation users.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineOnValidation {
    /// The baseline's name.
    pub name: String,
    /// Validation NDCG@10, task A.
    pub ndcg_at_10_a: f64,
    /// Validation NDCG@10, task B.
    pub ndcg_at_10_b: f64,
}

/// The validation search, summarised.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationSummary {
    /// One entry per length of the `*` list tried, at the engine's default
    /// profile half-life (the first a full search, the others the trending
    /// weights re-chosen from its weights).
    pub lengths: Vec<SearchResult>,
    /// One entry per half-life tried, at the chosen length (the buy-again
    /// weight re-chosen); the chosen one holds the final full search.
    pub half_lives: Vec<SearchResult>,
    /// The length chosen: the best mean of the two slots' NDCG@10, under
    /// the tie rule.
    pub n_trending: usize,
    /// The profile half-life chosen, days, the same way (after the length).
    pub profile_half_life_days: f64,
    /// The tie tolerance used.
    pub tie_tolerance: f64,
    /// Validation users scored by each trial ([`search_sample`]).
    pub n_users: usize,
    /// The trainer's baselines on the same users: the chosen weights must be
    /// at least as good as the best of them on each task, or the model card
    /// says by how much they are not.
    pub baselines: Vec<BaselineOnValidation>,
}

impl ValidationSummary {
    /// The chosen search's result.
    pub fn chosen(&self) -> &SearchResult {
        self.half_lives
            .iter()
            .find(|r| r.profile_half_life_days == self.profile_half_life_days)
            .expect("the chosen half-life was searched")
    }

    /// Per task (A, B): the best baseline, when it beats the chosen weights
    /// on validation by more than [`TIE_TOLERANCE`], with its figure.
    pub fn beaten_by_baseline(&self) -> [Option<(&str, f64)>; 2] {
        let chosen = self.chosen();
        let best = |of: fn(&BaselineOnValidation) -> f64| {
            self.baselines
                .iter()
                .map(|b| (b.name.as_str(), of(b)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
        };
        [
            best(|b| b.ndcg_at_10_a).filter(|(_, s)| *s > chosen.ndcg_at_10_a + TIE_TOLERANCE),
            best(|b| b.ndcg_at_10_b).filter(|(_, s)| *s > chosen.ndcg_at_10_b + TIE_TOLERANCE),
        ]
    }
}

/// Scores validation trials and records them (each [`Candidate`] remembers
/// its own scores, so a coordinate search that comes back to a setting does
/// not pay for it twice).
struct Tuner<'a> {
    split: &'a Split,
    threads: usize,
    trials: Vec<EngineTrial>,
    bar: indicatif::ProgressBar,
}

/// A validation bundle (one `*` list length, one profile half-life) being
/// searched: its ranker and the scores already known on it.
struct Candidate<'m> {
    ranker: EngineRanker<'m>,
    base: RankingParams,
    /// The α scale the ranker has folded in with (`None`: not yet).
    folded_alpha_scale: Option<f64>,
    /// Scores by task and weights (the weights' debug text, normalised so
    /// that task B ignores what it does not use).
    known: HashMap<(Task, String), Option<f64>>,
}

impl Candidate<'_> {
    /// Validation NDCG@10 of `task` with weights `w`; `None` when `w`'s α
    /// cannot fold in (not positive definite: the trial is skipped).
    fn score(
        &mut self,
        tuner: &mut Tuner,
        config: &TrainConfig,
        w: EngineWeights,
        task: Task,
    ) -> anyhow::Result<Option<f64>> {
        // Task B excludes bought items, so neither buy-again weight nor the
        // `keep_purchased` set changes its ranking.
        let key_weights = match task {
            Task::B => EngineWeights {
                weight_repeat: 0.0,
                keep_purchased: None,
                ..w
            },
            Task::A => w,
        };
        let key = (task, format!("{key_weights:?}"));
        if let Some(known) = self.known.get(&key) {
            return Ok(*known);
        }
        let params = params_of(&self.base, &w);
        if self.folded_alpha_scale != Some(w.alpha_scale) {
            let alpha = engine_alpha(&config.als.confidence, w.alpha_scale);
            if let Err(err) = self.ranker.tune_alpha(alpha, params.clone()) {
                tracing::warn!(scale = w.alpha_scale, "trial skipped: {err:#}");
                self.known.insert(key, None);
                return Ok(None);
            }
            self.folded_alpha_scale = Some(w.alpha_scale);
        }
        self.ranker.set_weights(params);
        let ndcg = eval::evaluate(tuner.split, &self.ranker, task, tuner.threads).ndcg_at_10;
        tuner.trials.push(EngineTrial {
            weights: w,
            ndcg_at_10_a: (task == Task::A).then_some(ndcg),
            ndcg_at_10_b: (task == Task::B).then_some(ndcg),
        });
        tuner.bar.inc(1);
        self.known.insert(key, Some(ndcg));
        Ok(Some(ndcg))
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

/// The "for you" set of `w` (its own, or the top-level one).
fn kept_of(w: &EngineWeights) -> BlendWeights {
    w.keep_purchased.unwrap_or(BlendWeights {
        weight_personal: 1.0,
        weight_neighbors: w.weight_neighbors,
        weight_trending: w.weight_trending,
        weight_repeat: w.weight_repeat,
    })
}

/// Which weights one search on a candidate chooses, and in how many
/// coordinate rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reach {
    /// α's scale (by task B).
    alpha: bool,
    /// Both sets' trending weights.
    trending: bool,
    /// Both sets' neighbour weights.
    neighbours: bool,
    /// Both buy-again weights (by task A).
    repeat: bool,
    /// The most coordinate rounds; a round that changes nothing ends it.
    rounds: usize,
}

impl Reach {
    /// Everything, in rounds until a round changes nothing.
    const FULL: Reach = Reach {
        alpha: true,
        trending: true,
        neighbours: true,
        repeat: true,
        rounds: MAX_ROUNDS,
    };
    /// What a `*` list's length moves: α and the trending weights, once.
    const LIST_LENGTH: Reach = Reach {
        alpha: true,
        trending: true,
        neighbours: false,
        repeat: false,
        rounds: 1,
    };
    /// What the profile's half-life moves (how bought items weigh against
    /// the rest): α, the trending and the buy-again weights, once.
    const HALF_LIFE: Reach = Reach {
        alpha: true,
        trending: true,
        neighbours: false,
        repeat: true,
        rounds: 1,
    };
}

/// Searches the weights on one candidate bundle, starting from `start`:
///
/// 1. the top-level set by task B (the "discover" slot, bought items
///    excluded): α's scale, then the trending weight, then the neighbour
///    weight, in rounds until a round changes nothing;
/// 2. with that set, the buy-again weight by task A (the one-set figure,
///    and the top-level `weight_repeat`, which a request keeping bought
///    items uses when a bundle has no second set);
/// 3. the `keep_purchased` set by task A: the buy-again weight, then the
///    trending and neighbour weights, in rounds the same way.
///
/// A narrower [`Reach`] runs only its coordinates. Every choice goes
/// through [`line_search`] and so [`pick`].
fn search_weights(
    tuner: &mut Tuner,
    candidate: &mut Candidate,
    config: &TrainConfig,
    start: EngineWeights,
    reach: Reach,
) -> anyhow::Result<SearchResult> {
    let mut weights = EngineWeights {
        keep_purchased: None,
        ..start
    };
    let rounds = reach.rounds;

    // 1. The top-level set by task B: each coordinate a line search from
    //    the current weights.
    type Set = fn(&mut EngineWeights, f64);
    let coordinates: [(bool, &[f64], Edges, Set); 3] = [
        (reach.alpha, &ALPHA_SCALES, Edges::Both, |w, v| {
            w.alpha_scale = v
        }),
        (reach.trending, &TRENDING_WEIGHTS, Edges::Top, |w, v| {
            w.weight_trending = v as f32
        }),
        (reach.neighbours, &NEIGHBOUR_WEIGHTS, Edges::Top, |w, v| {
            w.weight_neighbors = v as f32
        }),
    ];
    for _round in 0..rounds {
        let before = weights;
        for (wanted, grid, edges, set) in coordinates {
            if !wanted {
                continue;
            }
            let (value, _) = line_search(grid, edges, |value| {
                let mut w = weights;
                set(&mut w, value);
                candidate.score(tuner, config, w, Task::B)
            })?
            .ok_or_else(|| anyhow::anyhow!("no α folds in"))?;
            set(&mut weights, value);
        }
        if weights == before {
            break;
        }
    }
    let ndcg_b = candidate
        .score(tuner, config, weights, Task::B)?
        .ok_or_else(|| anyhow::anyhow!("α {} folds in no more", weights.alpha_scale))?;

    // 2. One set for both slots: the buy-again weight by task A.
    let unchanged = [weights.weight_repeat as f64];
    let repeat_grid: &[f64] = if reach.repeat {
        &REPEAT_WEIGHTS
    } else {
        &unchanged
    };
    let (repeat, ndcg_a_one_set) = line_search(repeat_grid, Edges::Top, |value| {
        let w = EngineWeights {
            weight_repeat: value as f32,
            ..weights
        };
        candidate.score(tuner, config, w, Task::A)
    })?
    .ok_or_else(|| anyhow::anyhow!("α {} folds in no more", weights.alpha_scale))?;
    weights.weight_repeat = repeat as f32;

    // 3. The "for you" set by task A, starting from `start`'s own (or from
    //    the one set).
    let mut kept = match start.keep_purchased {
        Some(kept) => kept,
        None => kept_of(&weights),
    };
    let with_kept = |kept: BlendWeights| EngineWeights {
        keep_purchased: Some(kept),
        ..weights
    };
    for _round in 0..rounds {
        let before = kept;
        let mut coordinate = |kept: &mut BlendWeights,
                              grid: &[f64],
                              set: fn(&mut BlendWeights, f32)|
         -> anyhow::Result<()> {
            let (value, _) = line_search(grid, Edges::Top, |value| {
                let mut k = *kept;
                set(&mut k, value as f32);
                candidate.score(tuner, config, with_kept(k), Task::A)
            })?
            .ok_or_else(|| anyhow::anyhow!("α {} folds in no more", weights.alpha_scale))?;
            set(kept, value as f32);
            Ok(())
        };
        if reach.repeat {
            coordinate(&mut kept, &REPEAT_WEIGHTS, |k, v| k.weight_repeat = v)?;
        }
        if reach.trending {
            coordinate(&mut kept, &TRENDING_WEIGHTS, |k, v| k.weight_trending = v)?;
        }
        if reach.neighbours {
            coordinate(&mut kept, &NEIGHBOUR_WEIGHTS, |k, v| k.weight_neighbors = v)?;
        }
        if kept == before {
            break;
        }
    }
    let ndcg_a = candidate
        .score(tuner, config, with_kept(kept), Task::A)?
        .ok_or_else(|| anyhow::anyhow!("α {} folds in no more", weights.alpha_scale))?;
    Ok(SearchResult {
        n_trending: weights.n_trending,
        profile_half_life_days: ProfileParams::default().half_life_days,
        weights: with_kept(kept),
        ndcg_at_10_a: ndcg_a,
        ndcg_at_10_b: ndcg_b,
        ndcg_at_10_a_one_set: ndcg_a_one_set,
    })
}

/// The blend's validation search (tasks A and B): the `*` list's length, the
/// profile's half-life, α's scale and both weight sets, on at most
/// [`search_sample`] validation users. Coarse to fine:
///
/// 1. a full search ([`Reach::FULL`]) on the shortest `*` list at the
///    engine's default profile half-life;
/// 2. each longer list with α and the trending weights re-chosen from
///    there ([`Reach::LIST_LENGTH`]); the length with the best mean of the two slots'
///    NDCG@10 is kept (a longer one is tried while the longest is chosen);
/// 3. each profile half-life at that length with α, the trending and the
///    buy-again weights re-chosen ([`Reach::HALF_LIFE`]), kept the same
///    way (a longer or shorter one is tried while an edge is chosen);
/// 4. a full search on the chosen length and half-life, from the weights
///    found so far;
/// 5. the trainer's baselines scored on the same users; if one beats the
///    chosen weights on a task, a full search from a popularity-dominant
///    start (trending weight 204.8, no neighbours) is also run, and the
///    better of the two by the slots' mean is kept.
///
/// Writes the choice into `config.engine`.
fn search_blend(
    data: &Transactions,
    config: &mut TrainConfig,
    evaluation: &EvaluationReport,
    bars: Bars,
) -> anyhow::Result<(ValidationSummary, Vec<EngineTrial>)> {
    let threads = config.als.threads;
    let val_cutoff = config.cutoff_day - config.validation_days;
    let val_trained = model_before(data, config, evaluation, val_cutoff, bars)?;
    let mut val_split = Split::new(
        data,
        val_cutoff,
        Some(config.cutoff_day),
        config.half_life_days,
    );
    let n_items = val_split.items.len().max(1);
    val_split.users = eval::evenly_spaced(
        std::mem::take(&mut val_split.users),
        search_sample(n_items, MAX_SEARCH_USERS),
    );
    let default_days = ProfileParams::default().half_life_days;
    let mut tuner = Tuner {
        split: &val_split,
        threads,
        trials: Vec::new(),
        bar: bars.spinner("tuning the engine's weights on validation (trials)"),
    };
    // The scores known on each candidate bundle, kept between visits.
    type Known = HashMap<(Task, String), Option<f64>>;
    let mut memory: HashMap<(usize, u64), Known> = HashMap::new();
    // One search on the candidate bundle of a list length and a profile
    // half-life: the validation histories replayed with that half-life,
    // the validation bundle exported with that list.
    let mut run = |tuner: &mut Tuner,
                   n_trending: usize,
                   days: f64,
                   start: EngineWeights,
                   reach: Reach|
     -> anyhow::Result<SearchResult> {
        let profile = ProfileParams {
            half_life_days: days,
            ..ProfileParams::default()
        }
        .validate()
        .map_err(|e| anyhow::anyhow!("profile half-life {days}: {e}"))?;
        let histories = DeviceHistories::with_config(data, tuner.split, profile);
        let mut trained = val_trained.clone();
        trained.config.engine.n_trending = n_trending;
        let (val_model, _) = load_bundle(&trained)?;
        let key = (n_trending, days.to_bits());
        let mut candidate = Candidate {
            ranker: EngineRanker::new(data, &val_model, tuner.split, &histories),
            base: val_model.manifest().ranking.clone(),
            folded_alpha_scale: None,
            known: memory.remove(&key).unwrap_or_default(),
        };
        let start = EngineWeights {
            n_trending,
            profile_half_life_days: (days != default_days).then_some(days),
            ..start
        };
        let mut found = search_weights(tuner, &mut candidate, config, start, reach)?;
        found.profile_half_life_days = days;
        memory.insert(key, candidate.known);
        tracing::info!(?reach, ?found, "validation search");
        Ok(found)
    };
    let mean = |r: &SearchResult| (r.ndcg_at_10_a + r.ndcg_at_10_b) / 2.0;
    let chosen_of = |results: &[SearchResult]| -> usize {
        let scored: Vec<(usize, f64)> = results.iter().map(mean).enumerate().collect();
        pick(&scored).expect("at least one result").0
    };

    // 1–2. The `*` list's length, at the engine's default half-life.
    let mut list_lengths: Vec<usize> = TRENDING_LENGTHS.iter().map(|&n| n.min(n_items)).collect();
    list_lengths.dedup();
    let first = run(
        &mut tuner,
        list_lengths[0],
        default_days,
        config.engine,
        Reach::FULL,
    )?;
    let mut lengths = vec![first.clone()];
    for &n_trending in &list_lengths[1..] {
        lengths.push(run(
            &mut tuner,
            n_trending,
            default_days,
            first.weights,
            Reach::LIST_LENGTH,
        )?);
    }
    for _ in 0..MAX_WIDENINGS {
        let longest = lengths[lengths.len() - 1].n_trending;
        if chosen_of(&lengths) + 1 < lengths.len() || longest >= n_items {
            break;
        }
        let longer = (longest * 4).min(n_items);
        lengths.push(run(
            &mut tuner,
            longer,
            default_days,
            first.weights,
            Reach::LIST_LENGTH,
        )?);
    }
    let chosen_length = chosen_of(&lengths);
    let n_trending = lengths[chosen_length].n_trending;
    let length_weights = lengths[chosen_length].weights;

    // 3. The profile's half-life at that length (the default's result is
    //    the one just found), widened past either edge when chosen there.
    let mut days_tried: Vec<f64> = PROFILE_HALF_LIVES.to_vec();
    let mut half_lives: Vec<SearchResult> = Vec::new();
    let mut search_days = |tuner: &mut Tuner, days: f64| -> anyhow::Result<SearchResult> {
        if days == default_days {
            Ok(lengths[chosen_length].clone())
        } else {
            run(tuner, n_trending, days, length_weights, Reach::HALF_LIFE)
        }
    };
    for &days in &days_tried {
        half_lives.push(search_days(&mut tuner, days)?);
    }
    for _ in 0..MAX_WIDENINGS {
        let chosen = chosen_of(&half_lives);
        let days = if chosen + 1 == half_lives.len() {
            days_tried[chosen] * 2.0
        } else if chosen == 0
            && days_tried[0] > 1.0
            && improves_downward(half_lives.iter().map(mean))
        {
            days_tried[0] / 2.0
        } else {
            break;
        };
        let found = search_days(&mut tuner, days)?;
        let at = days_tried.partition_point(|d| *d < days);
        days_tried.insert(at, days);
        half_lives.insert(at, found);
    }
    let chosen_half_life = chosen_of(&half_lives);
    let days = days_tried[chosen_half_life];

    // 4. The full search on the chosen bundle.
    let mut chosen = run(
        &mut tuner,
        n_trending,
        days,
        half_lives[chosen_half_life].weights,
        Reach::FULL,
    )?;

    // 5. Never worse than the trainer's own baselines, where the blend can
    //    reach them.
    let baselines: Vec<BaselineOnValidation> = eval::baselines(&val_split)
        .iter()
        .map(|ranker| BaselineOnValidation {
            name: ranker.name(),
            ndcg_at_10_a: eval::evaluate(&val_split, ranker.as_ref(), Task::A, threads).ndcg_at_10,
            ndcg_at_10_b: eval::evaluate(&val_split, ranker.as_ref(), Task::B, threads).ndcg_at_10,
        })
        .collect();
    let best_baseline =
        |of: fn(&BaselineOnValidation) -> f64| baselines.iter().map(of).fold(f64::MIN, f64::max);
    if best_baseline(|b| b.ndcg_at_10_a) > chosen.ndcg_at_10_a + TIE_TOLERANCE
        || best_baseline(|b| b.ndcg_at_10_b) > chosen.ndcg_at_10_b + TIE_TOLERANCE
    {
        let popular_trending = (TRENDING_WEIGHTS[TRENDING_WEIGHTS.len() - 1]
            * f64::from(1u32 << MAX_WIDENINGS)) as f32;
        let popular = EngineWeights {
            weight_trending: popular_trending,
            weight_neighbors: 0.0,
            keep_purchased: Some(BlendWeights {
                weight_trending: popular_trending,
                weight_neighbors: 0.0,
                ..kept_of(&chosen.weights)
            }),
            ..chosen.weights
        };
        let from_popular = run(&mut tuner, n_trending, days, popular, Reach::FULL)?;
        tracing::info!(
            ?from_popular,
            "a baseline beat the search on validation: searched again from a popularity-dominant start"
        );
        let both = [chosen, from_popular];
        chosen = both[chosen_of(&both)].clone();
    }
    half_lives[chosen_half_life] = chosen.clone();
    tuner.bar.finish_and_clear();
    let weights = chosen.weights;
    tracing::info!(?weights, "engine weights chosen on validation");
    config.engine = weights;
    let validation = ValidationSummary {
        lengths,
        half_lives,
        n_trending,
        profile_half_life_days: half_lives_chosen(&weights, default_days),
        tie_tolerance: TIE_TOLERANCE,
        n_users: val_split.users.len(),
        baselines,
    };
    Ok((validation, tuner.trials))
}

/// The in-session grids: the session's weight and decay (tasks C and E, the
/// "for you" slot), then the context slot's trending and personal terms
/// (task D, the item page). Ascending, so the tie rule keeps the smaller.
const SESSION_WEIGHTS: [f64; 9] = [0.0, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];
const SESSION_DECAYS: [f64; 4] = [0.5, 0.7, 0.85, 1.0];
const CONTEXT_TRENDING: [f64; 5] = [0.0, 0.01, 0.03, 0.1, 0.3];
const CONTEXT_PERSONAL: [f64; 5] = [0.0, 0.01, 0.03, 0.1, 0.3];
/// The coarser grids each neighbour mix is compared with (the chosen mix then
/// gets the full grids above).
const COARSE_SESSION_WEIGHTS: [f64; 4] = [0.4, 0.8, 1.6, 3.2];
const COARSE_SESSION_DECAYS: [f64; 2] = [0.5, 0.85];
const COARSE_CONTEXT_TRENDING: [f64; 3] = [0.0, 0.03, 0.3];
const COARSE_CONTEXT_PERSONAL: [f64; 1] = [0.0];
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
/// Validation cases per task in the in-session search (evenly spaced), at
/// most; fewer in a larger catalogue ([`search_sample`]).
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
    weights: &'g [f64],
    decays: &'g [f64],
    context_trending: &'g [f64],
    context_personal: &'g [f64],
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

/// The validation cases of C, D and E.
struct SessionCaseSets<'c> {
    c: Vec<&'c crate::session::SessionCase>,
    d: Vec<&'c crate::session::SessionCase>,
    e: Vec<&'c crate::session::SessionCase>,
}

/// One in-session search on one validation bundle, in coordinate rounds
/// until a round changes nothing: the session's weight, then its decay, by
/// the mean NDCG@10 of C and E; then the context terms (trending, then
/// personal) by D; each through [`line_search`] and so [`pick`]'s tie
/// rule. Returns the weights, every trial and the chosen weights' NDCG@10
/// of C, D and E.
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
    let mut known: HashMap<String, [Option<f64>; 3]> = HashMap::new();
    let mut ndcg = |w: Weights, tasks: [bool; 3]| -> anyhow::Result<[Option<f64>; 3]> {
        let key = format!("{w:?} {tasks:?}");
        if let Some(got) = known.get(&key) {
            return Ok(*got);
        }
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
        trials.push((w, out));
        known.insert(key, out);
        Ok(out)
    };
    // The "for you" slot's terms by the mean of C and E, then the context
    // slot's by D; each stage in coordinate rounds.
    type Set = fn(&mut Weights, f32);
    type Objective = fn([Option<f64>; 3]) -> f64;
    let c_and_e: Objective = |got| (got[0].unwrap_or(0.0) + got[2].unwrap_or(0.0)) / 2.0;
    let d: Objective = |got| got[1].unwrap_or(0.0);
    type Stage<'g> = ([bool; 3], Objective, [(&'g [f64], Edges, Set); 2]);
    let stages: [Stage; 2] = [
        (
            [true, false, true],
            c_and_e,
            [
                (grids.weights, Edges::Top, |w, v| w.weight_session = v),
                (grids.decays, Edges::Neither, |w, v| w.session_decay = v),
            ],
        ),
        (
            [false, true, false],
            d,
            [
                (grids.context_trending, Edges::Top, |w, v| {
                    w.context_trending = v
                }),
                (grids.context_personal, Edges::Top, |w, v| {
                    w.context_personal = v
                }),
            ],
        ),
    ];
    let mut weights = Weights::default();
    for (tasks, objective, coordinates) in stages {
        // Each stage starts from its grids' first values where the default
        // is not on them.
        for (grid, _, set) in coordinates {
            set(&mut weights, grid[0] as f32);
        }
        for _round in 0..MAX_ROUNDS {
            let before = weights;
            for (grid, edges, set) in coordinates {
                let (value, _) = line_search(grid, edges, |value| {
                    let mut w = weights;
                    set(&mut w, value as f32);
                    Ok(Some(objective(ndcg(w, tasks)?)))
                })?
                .expect("the grid is not empty");
                set(&mut weights, value as f32);
            }
            if weights == before {
                break;
            }
        }
    }
    let all = ndcg(weights, [true, true, true])?;
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
    let n_cases = search_sample(val_split.items.len(), SESSION_VALIDATION_CASES);
    let of = |task| session_eval::thinned(&cases, task, n_cases);
    let sets = SessionCaseSets {
        c: of(SessionTask::C),
        d: of(SessionTask::D),
        e: of(SessionTask::E),
    };
    // Every mix with the middle number of recent baskets first; then the
    // chosen mix (if it has votes) with the other numbers.
    let middle_baskets = RECENT_BASKETS[RECENT_BASKETS.len() / 2];
    let first_mixes: Vec<NeighbourMix> = NEIGHBOUR_MIXES
        .iter()
        .map(|&(votes, basket_cosine, factor_cosine)| NeighbourMix {
            recent_baskets: if votes > 0.0 { middle_baskets } else { 0 },
            votes,
            basket_cosine,
            factor_cosine,
        })
        .collect();
    let bar = bars
        .spinner("choosing the neighbour mix and the in-session weights on validation (trials)");
    // The votes of each number of recent baskets, computed when first
    // needed and kept (the lists do not depend on the weights).
    let train_rows = {
        let cutoff = val_cutoff * MINUTES_PER_DAY;
        let mut train_rows = data.clone();
        train_rows.purchases.retain(|p| p.minute < cutoff);
        train_rows
    };
    let mut votes_by_baskets: HashMap<usize, Vec<Vec<crate::neighbours::Neighbour>>> =
        HashMap::new();
    // The validation model with `mix`'s lists, loaded by the engine.
    let mut with_mix = |mix: NeighbourMix| -> anyhow::Result<Model> {
        let mut trained = val_trained.clone();
        trained.config.neighbour_mix = mix;
        trained.session_votes = votes_by_baskets
            .entry(mix.recent_baskets)
            .or_insert_with(|| {
                crate::neighbours::session_votes(
                    &train_rows,
                    mix.recent_baskets,
                    val_trained.config.neighbours,
                )
            })
            .clone();
        Ok(load_bundle(&trained)?.0)
    };
    let mut compared: Vec<(NeighbourMix, f64)> = Vec::new();
    let mut histories = None;
    let mut compare =
        |mixes: &[NeighbourMix], compared: &mut Vec<(NeighbourMix, f64)>| -> anyhow::Result<()> {
            for &mix in mixes {
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
            Ok(())
        };
    compare(&first_mixes, &mut compared)?;
    let first_choice = pick(&compared).expect("NEIGHBOUR_MIXES is not empty").0;
    if first_choice.votes > 0.0 {
        let others: Vec<NeighbourMix> = RECENT_BASKETS
            .iter()
            .filter(|&&m| m != middle_baskets)
            .map(|&recent_baskets| NeighbourMix {
                recent_baskets,
                ..first_choice
            })
            .collect();
        compare(&others, &mut compared)?;
    }
    // In the order of the full comparison (mixes, then baskets), so the
    // tie rule keeps the same preference as comparing them all.
    compared.sort_by_key(|(mix, _)| {
        let at = NEIGHBOUR_MIXES
            .iter()
            .position(|&(v, b, f)| (v, b, f) == (mix.votes, mix.basket_cosine, mix.factor_cosine))
            .unwrap_or(usize::MAX);
        (at, mix.recent_baskets)
    });
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

/// The chosen weights against the trainer's baselines on the same
/// validation users: a table, then one sentence per task saying whether
/// Cove is at least as good as the best baseline (within the tie rule).
pub fn baselines_paragraph(v: &ValidationSummary) -> String {
    let chosen = v.chosen();
    let mut out = String::from(
        "| on validation | NDCG@10 A (for you) | NDCG@10 B (discover) |\n| --- | ---: | ---: |\n",
    );
    out.push_str(&format!(
        "| Cove, chosen weights | {:.4} | {:.4} |\n",
        chosen.ndcg_at_10_a, chosen.ndcg_at_10_b
    ));
    for b in &v.baselines {
        out.push_str(&format!(
            "| {} | {:.4} | {:.4} |\n",
            b.name, b.ndcg_at_10_a, b.ndcg_at_10_b
        ));
    }
    out.push('\n');
    for ((task, slot), beaten) in [("A", "for you"), ("B", "discover")]
        .into_iter()
        .zip(v.beaten_by_baseline())
    {
        match beaten {
            None => out.push_str(&format!(
                "Task {task} ({slot}): at least as good as every baseline on validation.\n"
            )),
            Some((name, score)) => out.push_str(&format!(
                "Task {task} ({slot}): **below the best baseline on validation** ({name}, {score:.4}); \
                 the blend cannot express it, even from a popularity-dominant start.\n"
            )),
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

    /// Scores of a single-peaked objective with its peak at `peak`, and the
    /// values tried, in order.
    fn run_line(grid: &[f64], edges: Edges, peak: f64) -> (Option<(f64, f64)>, Vec<f64>) {
        let mut tried = Vec::new();
        let found = line_search(grid, edges, |value| {
            tried.push(value);
            Ok(Some(1.0 - (value.ln() - peak.ln()).abs().min(10.0)))
        })
        .unwrap();
        (found, tried)
    }

    #[test]
    fn issue_24_a_grid_is_widened_past_a_chosen_edge() {
        // Inside the grid: nothing beyond it is tried.
        let (found, tried) = run_line(&[0.5, 1.0, 2.0, 4.0], Edges::Both, 2.0);
        assert_eq!(found.map(|f| f.0), Some(2.0));
        assert_eq!(tried, [0.5, 1.0, 2.0, 4.0]);
        // Peak far above the top edge: doubled until the peak is inside.
        let (found, tried) = run_line(&[0.0, 0.1, 0.2, 0.4], Edges::Top, 3.2);
        assert_eq!(found.map(|f| f.0), Some(3.2));
        assert_eq!(tried[4..], [0.8, 1.6, 3.2, 6.4]);
        // Below the bottom edge: only a scale is halved; a weight stops at zero.
        let (found, _) = run_line(&[0.5, 1.0, 2.0], Edges::Both, 0.125);
        assert_eq!(found.map(|f| f.0), Some(0.125));
        // A flat bottom (ties) is not widened: the tie rule already keeps
        // its lowest value.
        let mut tried = Vec::new();
        let found = line_search(&[0.5, 1.0, 2.0], Edges::Both, |value| {
            tried.push(value);
            Ok(Some(if value < 1.5 { 0.3 } else { 0.2 }))
        })
        .unwrap();
        assert_eq!(found.map(|f| f.0), Some(0.5));
        assert_eq!(tried, [0.5, 1.0, 2.0]);
        let (found, tried) = run_line(&[0.5, 1.0, 2.0], Edges::Top, 0.125);
        assert_eq!(found.map(|f| f.0), Some(0.5));
        assert_eq!(tried, [0.5, 1.0, 2.0]);
        // A bounded range is never widened, and widening is bounded.
        let (_, tried) = run_line(&[0.5, 1.0], Edges::Neither, 8.0);
        assert_eq!(tried, [0.5, 1.0]);
        let (found, tried) = run_line(&[1.0, 2.0], Edges::Top, 1e4);
        assert_eq!(tried.len(), 2 + MAX_WIDENINGS);
        assert_eq!(found.map(|f| f.0), Some(128.0));
    }

    #[test]
    fn a_value_that_cannot_be_tried_is_skipped() {
        let found = line_search(&[1.0, 2.0, 4.0], Edges::Neither, |value| {
            Ok((value != 2.0).then_some(value))
        })
        .unwrap();
        assert_eq!(found, Some((4.0, 4.0)));
        let none = line_search(&[1.0], Edges::Both, |_| Ok(None)).unwrap();
        assert_eq!(none, None);
    }

    #[test]
    fn issue_24_a_baseline_that_beats_the_chosen_weights_is_named() {
        let result = |a: f64, b: f64| SearchResult {
            n_trending: 100,
            profile_half_life_days: 30.0,
            weights: EngineWeights::default(),
            ndcg_at_10_a: a,
            ndcg_at_10_b: b,
            ndcg_at_10_a_one_set: a,
        };
        let baseline = |name: &str, a: f64, b: f64| BaselineOnValidation {
            name: name.into(),
            ndcg_at_10_a: a,
            ndcg_at_10_b: b,
        };
        let mut summary = ValidationSummary {
            lengths: vec![result(0.30, 0.10)],
            half_lives: vec![result(0.30, 0.10), result(0.31, 0.05)],
            n_trending: 100,
            profile_half_life_days: 30.0,
            tie_tolerance: TIE_TOLERANCE,
            n_users: 1_000,
            baselines: vec![
                baseline("popularity", 0.20, 0.1004),
                baseline("item-kNN", 0.25, 0.08),
            ],
        };
        // Within the tie tolerance on B, below on A: not beaten.
        assert_eq!(summary.beaten_by_baseline(), [None, None]);
        // Popularity clearly better on B: named with its figure; the
        // chosen half-life's result is the one compared.
        summary.baselines[0].ndcg_at_10_b = 0.12;
        assert_eq!(
            summary.beaten_by_baseline(),
            [None, Some(("popularity", 0.12))]
        );
        summary.profile_half_life_days = 480.0;
        summary.half_lives[1].profile_half_life_days = 480.0;
        let beaten = summary.beaten_by_baseline();
        assert_eq!(beaten[1], Some(("popularity", 0.12)));
        assert!(baselines_paragraph(&summary).contains("below the best baseline on validation"));
    }

    #[test]
    fn the_search_samples_evenly_spaced_users() {
        assert_eq!(
            eval::evenly_spaced((0..10).collect(), 20),
            (0..10).collect::<Vec<_>>()
        );
        assert_eq!(eval::evenly_spaced((0..10).collect(), 5), [0, 2, 4, 6, 8]);
        assert_eq!(eval::evenly_spaced((0..10).collect(), 4), [0, 3, 6, 9]);
        assert!(
            eval::evenly_spaced((0..4_500).collect::<Vec<u32>>(), MAX_SEARCH_USERS).len()
                <= MAX_SEARCH_USERS
        );
        // Online Retail's 3,660 items: every one of its 1,096 users, 3,000
        // cases; a grocery's 18,000 items: 833; 50,000 items: the floor.
        assert_eq!(search_sample(3_660, MAX_SEARCH_USERS), MAX_SEARCH_USERS);
        assert_eq!(search_sample(3_660, 3_000), 3_000);
        assert_eq!(search_sample(18_000, MAX_SEARCH_USERS), 833);
        assert_eq!(search_sample(50_000, MAX_SEARCH_USERS), MIN_SEARCH_SAMPLE);
        assert_eq!(search_sample(0, MAX_SEARCH_USERS), MAX_SEARCH_USERS);
    }
}
