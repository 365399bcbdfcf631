//! What head and shards cost in quality, and what a device downloads
//! (issue 24, item 4): tasks A and B of the trainer's protocol (its split,
//! the train-split bundle, the device path through the engine) scored three
//! ways —
//!
//! - **whole**: the whole bundle, as `evaluate` scores it;
//! - **head**: the head alone (a first visit: items not in it cannot be
//!   recommended and are misses);
//! - **head + shards**: per shopper, the head with the shards the engine's
//!   policy picks for that shopper's profile
//!   ([`cove_engine::ranking::foldin::shards_for_profile`]), the device of a
//!   returning shopper.
//!
//! Shoppers who get the same shards are scored with one model, so a run
//! builds at most one model per distinct set of shards.

use std::collections::{BTreeMap, HashSet};

use cove_engine::bundle::Model;
use cove_engine::ranking::foldin::shards_for_profile;
use serde::Serialize;

use crate::data::Transactions;
use crate::engine_eval::{model_before, CandidateIndex, EngineRanker};
use crate::engine_scorer::DeviceHistories;
use crate::eval::{self, EvalUser, Metrics, Ranker, Split, Task};
use crate::export::gzip_len;
use crate::pipeline::{Bars, EvaluationReport, TrainConfig};
use crate::shards::{fit_head, ShardPolicy, ShardSummary};

/// One way of scoring: its tasks' metrics and the bytes a visit fetches.
#[derive(Debug, Clone, Serialize)]
pub struct ShardRow {
    /// "whole", "head" or "head + shards".
    pub variant: String,
    /// Task A (all items) metrics.
    pub task_a: Metrics,
    /// Task B (new items only) metrics.
    pub task_b: Metrics,
    /// Bytes (gzip -9) a device downloads (head, then its shards), mean over
    /// the evaluated shoppers.
    pub mean_gzip_bytes: f64,
    /// The most one shopper's device downloads.
    pub max_gzip_bytes: usize,
    /// Items a shopper's device holds, mean over the shoppers.
    pub mean_items: f64,
}

/// The evaluation's result.
#[derive(Debug, Clone, Serialize)]
pub struct ShardEvaluation {
    /// Items in the train-split catalogue.
    pub n_items: usize,
    /// The whole bundle's download (gzip -9).
    pub whole_gzip_bytes: usize,
    /// The head and its shards.
    pub split: ShardSummary,
    /// Whole, head, head + shards.
    pub rows: Vec<ShardRow>,
    /// Distinct sets of shards the shoppers' devices fetch.
    pub n_shard_sets: usize,
    /// Shoppers whose profile picks no shard (no item of theirs in the head).
    pub n_without_shards: usize,
    /// Seconds the evaluation took.
    pub seconds: f64,
}

/// Ranks only the shoppers in `members` (others get nothing; their rows are
/// taken from another group's run).
struct GroupRanker<'a> {
    inner: &'a EngineRanker<'a>,
    members: &'a HashSet<u32>,
}

impl Ranker for GroupRanker<'_> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn top_k(&self, user: &EvalUser, exclude: &[u32], k: usize) -> Vec<u32> {
        if self.members.contains(&user.customer_idx) {
            self.inner.top_k(user, exclude, k)
        } else {
            Vec::new()
        }
    }
}

/// Per-user results of tasks A and B with one model for every shopper
/// (`split`'s index in it made from `candidates`, the split's index in any
/// bundle).
fn score(
    model: &Model,
    split: &Split,
    histories: &DeviceHistories,
    candidates: &CandidateIndex,
    members: Option<&HashSet<u32>>,
    threads: usize,
) -> [Vec<Option<Metrics>>; 2] {
    let ranker = EngineRanker::with_candidates(model, histories, candidates.over(model), members);
    [Task::A, Task::B].map(|task| match members {
        None => eval::evaluate_users(split, &ranker, task, threads),
        Some(members) => {
            let group = GroupRanker {
                inner: &ranker,
                members,
            };
            eval::evaluate_users(split, &group, task, threads)
        }
    })
}

/// Scores the whole bundle, the head alone, and head + the policy's shards,
/// with the head fitted to `budget` bytes gzip. `config.engine` gives the
/// ranking weights (the same for all three).
pub fn evaluate_shards(
    data: &Transactions,
    config: &TrainConfig,
    evaluation: &EvaluationReport,
    bars: Bars,
    budget: usize,
    policy: ShardPolicy,
) -> anyhow::Result<ShardEvaluation> {
    let start = std::time::Instant::now();
    let threads = config.als.threads;
    let trained = model_before(data, config, evaluation, config.cutoff_day, bars)?;
    let (builder, _) = crate::export::builder(&trained, &[])?;
    let whole = builder
        .build()
        .map_err(|e| anyhow::anyhow!("the engine refused the bundle: {e}"))?;
    let whole_gz = gzip_len(&whole.manifest) + gzip_len(&whole.tensors);
    let (sharded, summary) = bars.step("head and shards", || {
        fit_head(&trained, &builder, whole_gz, budget, policy)
    })?;
    let whole_model = Model::from_bytes(&whole.manifest, &whole.tensors)
        .map_err(|e| anyhow::anyhow!("the whole bundle does not load: {e}"))?;
    let head = Model::from_bytes(&sharded.head.manifest, &sharded.head.tensors)
        .map_err(|e| anyhow::anyhow!("the head does not load: {e}"))?;
    let head_gz = summary.head_gzip_bytes;

    // The test users the evaluation scored (a seeded sample in a large shop).
    let mut split = Split::new(data, config.cutoff_day, None, config.half_life_days);
    split.sample_users(crate::eval::MAX_TEST_USERS, config.seed);
    let histories = DeviceHistories::with_config(data, &split, head.profile_config().clone());

    // Which shards each evaluated shopper's device fetches.
    let mut groups: BTreeMap<Vec<usize>, HashSet<u32>> = BTreeMap::new();
    for user in &split.users {
        let wanted = match histories.profiles.get(&user.customer_idx) {
            Some(profile) => shards_for_profile(&head, profile, histories.now)
                .map_err(|e| anyhow::anyhow!("the shard policy failed: {e}"))?,
            None => Vec::new(),
        };
        groups.entry(wanted).or_default().insert(user.customer_idx);
    }
    let n_without_shards = groups.get(&Vec::new()).map_or(0, HashSet::len);
    let candidates = CandidateIndex::new(data, &head, &split);

    let whole_scores = bars.step("tasks A and B: whole bundle", || {
        score(&whole_model, &split, &histories, &candidates, None, threads)
    });
    let head_scores = bars.step("tasks A and B: head alone", || {
        score(&head, &split, &histories, &candidates, None, threads)
    });
    let n_users = split.users.len();
    let mut sharded_scores: [Vec<Option<Metrics>>; 2] = [vec![None; n_users], vec![None; n_users]];
    let mut visit_bytes = vec![head_gz; n_users];
    let mut visit_items = vec![head.n_items(); n_users];
    let position: std::collections::HashMap<u32, usize> = split
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.customer_idx, i))
        .collect();
    bars.step("tasks A and B: head + each shopper's shards", || {
        for (wanted, members) in &groups {
            let mut model = head.clone();
            let mut bytes = head_gz;
            for &index in wanted {
                model
                    .add_shard(index, &sharded.shards[index])
                    .map_err(|e| anyhow::anyhow!("shard {index}: {e}"))?;
                bytes += summary.shards[index].gzip_bytes;
            }
            let scores = score(
                &model,
                &split,
                &histories,
                &candidates,
                Some(members),
                threads,
            );
            for customer in members {
                let i = position[customer];
                for task in 0..2 {
                    sharded_scores[task][i] = scores[task][i];
                }
                visit_bytes[i] = bytes;
                visit_items[i] = model.n_items();
            }
        }
        anyhow::Ok(())
    })?;

    let evaluated: Vec<usize> = (0..n_users)
        .filter(|&i| whole_scores[0][i].is_some())
        .collect();
    let mean = |values: &[usize]| {
        evaluated.iter().map(|&i| values[i] as f64).sum::<f64>() / evaluated.len().max(1) as f64
    };
    let row =
        |variant: &str, scores: &[Vec<Option<Metrics>>; 2], bytes: &[usize], items: &[usize]| {
            ShardRow {
                variant: variant.into(),
                task_a: eval::mean_of_users(&scores[0]),
                task_b: eval::mean_of_users(&scores[1]),
                mean_gzip_bytes: mean(bytes),
                max_gzip_bytes: evaluated.iter().map(|&i| bytes[i]).max().unwrap_or(0),
                mean_items: mean(items),
            }
        };
    let rows = vec![
        row(
            "whole",
            &whole_scores,
            &vec![whole_gz; n_users],
            &vec![whole_model.n_items(); n_users],
        ),
        row(
            "head",
            &head_scores,
            &vec![head_gz; n_users],
            &vec![head.n_items(); n_users],
        ),
        row("head + shards", &sharded_scores, &visit_bytes, &visit_items),
    ];
    Ok(ShardEvaluation {
        n_items: whole_model.n_items(),
        whole_gzip_bytes: whole_gz,
        split: summary,
        rows,
        n_shard_sets: groups.len(),
        n_without_shards,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The evaluation as a Markdown table, NDCG@10 loss against the whole
/// bundle included.
pub fn table(e: &ShardEvaluation) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Head and shards ({} items; whole bundle {} B gzip; head {} items, {} B gzip, budget {} B; \
         {} shards; {} distinct shard sets; {} shoppers fetch none):\n",
        e.n_items,
        e.whole_gzip_bytes,
        e.split.head_items,
        e.split.head_gzip_bytes,
        e.split.budget,
        e.split.shards.len(),
        e.n_shard_sets,
        e.n_without_shards,
    );
    let _ = writeln!(
        out,
        "| device holds | users | NDCG@10 A | loss A | NDCG@10 B | loss B | mean B gzip downloaded | max B | mean items |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let base = &e.rows[0];
    let loss = |x: f64, whole: f64| {
        if whole > 0.0 {
            format!("{:.1}%", 100.0 * (whole - x) / whole)
        } else {
            "–".into()
        }
    };
    for row in &e.rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.4} | {} | {:.4} | {} | {:.0} | {} | {:.0} |",
            row.variant,
            row.task_a.n_users,
            row.task_a.ndcg_at_10,
            loss(row.task_a.ndcg_at_10, base.task_a.ndcg_at_10),
            row.task_b.ndcg_at_10,
            loss(row.task_b.ndcg_at_10, base.task_b.ndcg_at_10),
            row.mean_gzip_bytes,
            row.max_gzip_bytes,
            row.mean_items,
        );
    }
    out
}
