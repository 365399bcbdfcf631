//! OR-SESSION ([`crate::session`]) scored through the engine, as a browser
//! would rank each moment:
//!
//! - task C: a fresh profile, the given items applied as `view` events a
//!   minute apart on the invoice's day, then a "for you" request
//!   (`Slot::ForYou`) in the invoice's country;
//! - task D: a fresh profile and an item-page request (`Slot::ItemPage`)
//!   with the given item as `context_item`;
//! - task E: the user's train orders replayed as purchases
//!   ([`DeviceHistories`]), then the session's views, then a "for you"
//!   request.
//!
//! The given items are never ranked (`exclude_items`), nor are bundle items
//! that are not candidates. "For you" requests keep bought items
//! (`exclude_purchased: false`), as the storefront's home slot does.

use std::collections::HashMap;

use cove_engine::bundle::{Model, RankingParams};
use cove_engine::events::{Event, EventKind, PageKind};
use cove_engine::profile::{Profile, ProfileConfig};
use cove_engine::ranking::foldin::{self, FoldInSystem};
use cove_engine::ranking::{self, RankRequest, Slot};
use serde::Serialize;

use crate::data::Transactions;
use crate::engine_eval::CandidateIndex;
use crate::engine_scorer::DeviceHistories;
use crate::eval::Split;
use crate::session::{SessionCase, SessionCases, SessionMetrics, SessionTask, PREFIX_LENGTHS};

/// Ranks OR-SESSION cases through the engine with one bundle.
pub struct SessionRanker<'a> {
    /// The bundle with the non-candidates withdrawn ([`CandidateIndex::restrict`]).
    model: Model,
    histories: &'a DeviceHistories,
    config: ProfileConfig,
    /// The split's items in the bundle.
    candidates: CandidateIndex,
    /// Country names by index.
    countries: Vec<String>,
    /// Train row → customer index, for the returning users of task E.
    customer_of_row: HashMap<u32, u32>,
    /// While tuning: the fold-in at another α and other ranking parameters.
    tuning: Option<(FoldInSystem, RankingParams)>,
}

impl<'a> SessionRanker<'a> {
    /// The device path on `model` for `split`'s cases; `histories` holds the
    /// returning users' replayed train orders (task E).
    pub fn new(
        data: &Transactions,
        model: &Model,
        split: &Split,
        histories: &'a DeviceHistories,
    ) -> SessionRanker<'a> {
        let candidates = CandidateIndex::new(data, model, split);
        SessionRanker {
            model: candidates.restrict(model),
            histories,
            config: histories.config.clone(),
            candidates,
            countries: data.countries.clone(),
            customer_of_row: split
                .users
                .iter()
                .map(|user| (user.train_row, user.customer_idx))
                .collect(),
            tuning: None,
        }
    }

    /// The ranking parameters the model's bundle ships.
    pub fn model_ranking(&self) -> &RankingParams {
        &self.model.manifest().ranking
    }

    /// Ranks with the engine's fold-in at `alpha` and `params`' weights from
    /// now on (the trainer's search; the device path uses the bundle's).
    pub fn tune(&mut self, alpha: f64, params: RankingParams) -> anyhow::Result<()> {
        let lambda = self.model.manifest().ranking.lambda;
        let system = FoldInSystem::new(self.model.gram(), self.model.dim(), lambda, alpha)
            .map_err(|e| anyhow::anyhow!("fold-in at α = {alpha}: {e}"))?;
        self.tuning = Some((system, params));
        Ok(())
    }

    /// The engine's top 20 for one case, in split items.
    pub fn rank(&self, case: &SessionCase) -> anyhow::Result<Vec<u32>> {
        let mut profile = match (case.task, case.train_row) {
            (SessionTask::E, Some(row)) => self
                .profile_of(row)
                .ok_or_else(|| anyhow::anyhow!("no history for train row {row}"))?,
            _ => Profile::new(),
        };
        // The invoice's day at noon, one view a minute.
        let start = case.day * 86_400 + 12 * 3_600;
        let mut now = start;
        let given_ids: Vec<String> = case
            .given
            .iter()
            .map(|&item| self.candidates.split_ids[item as usize].clone())
            .collect();
        if case.task != SessionTask::D {
            for id in &given_ids {
                let price = self
                    .model
                    .item_row(id)
                    .and_then(|row| self.model.item(row))
                    .map(|meta| meta.price);
                let event = Event {
                    at: now,
                    kind: EventKind::View {
                        page: PageKind::Product,
                        item: Some(id.clone()),
                        price,
                    },
                };
                // A refused event is skipped, as a device skips it.
                let _ = profile.apply(&event, &self.config);
                now += 60;
            }
        }
        let exclude_items = given_ids.clone();
        let request = RankRequest {
            k: 20,
            now,
            country: self.countries.get(case.country_idx as usize).cloned(),
            slot: Some(if case.task == SessionTask::D {
                Slot::ItemPage
            } else {
                Slot::ForYou
            }),
            context_item: (case.task == SessionTask::D).then(|| given_ids[0].clone()),
            exclude_items,
            exclude_purchased: false,
            ..RankRequest::default()
        };
        let ranked = match &self.tuning {
            None => ranking::recommend(&self.model, &profile, &self.config, &request),
            Some((system, params)) => {
                let interactions = foldin::interactions(&self.model, &profile, &self.config, now);
                let vector = system
                    .fold_in(self.model.all_item_factors(), &interactions)
                    .map_err(|e| anyhow::anyhow!("fold-in: {e}"))?;
                ranking::rank_with_params(
                    &self.model,
                    params,
                    &profile,
                    &request,
                    vector.as_deref(),
                    &interactions,
                )
            }
        }
        .map_err(|e| anyhow::anyhow!("engine ranking failed: {e}"))?;
        Ok(self.candidates.split_items(&ranked))
    }

    fn profile_of(&self, train_row: u32) -> Option<Profile> {
        let customer = self.customer_of_row.get(&train_row)?;
        self.histories.profiles.get(customer).cloned()
    }

    /// Per-case metrics of `cases` (in order), spread over `threads`
    /// threads; the result does not depend on the thread count. A case the
    /// engine cannot rank counts as a miss.
    pub fn evaluate(&self, cases: &[&SessionCase], threads: usize) -> Vec<SessionMetrics> {
        let per_case = |case: &&SessionCase| -> SessionMetrics {
            let ranked = self.rank(case).unwrap_or_else(|err| {
                tracing::warn!("session case: {err:#}");
                Vec::new()
            });
            SessionMetrics::of_case(&ranked, &case.relevant)
        };
        let chunk = cases.len().div_ceil(threads.max(1)).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = cases
                .chunks(chunk)
                .map(|part| scope.spawn(move || part.iter().map(per_case).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("evaluation thread panicked"))
                .collect()
        })
    }
}

/// One task's figures: all its cases, and per prefix length (tasks C, E).
#[derive(Debug, Clone, Serialize)]
pub struct SessionRow {
    /// The task.
    pub task: SessionTask,
    /// All cases.
    pub all: SessionMetrics,
    /// Per number of given items, for tasks C and E.
    pub by_n_given: Vec<(usize, SessionMetrics)>,
}

/// Scores every task of `cases` and summarises.
pub fn score_tasks(
    ranker: &SessionRanker,
    cases: &SessionCases,
    threads: usize,
) -> Vec<SessionRow> {
    SessionTask::ALL
        .into_iter()
        .map(|task| {
            let of_task: Vec<&SessionCase> = cases.of(task).collect();
            let metrics = ranker.evaluate(&of_task, threads);
            let by_n_given = if task == SessionTask::D {
                Vec::new()
            } else {
                PREFIX_LENGTHS
                    .into_iter()
                    .map(|n| {
                        let of_n = of_task
                            .iter()
                            .zip(&metrics)
                            .filter(|(case, _)| case.n_given == n)
                            .map(|(_, m)| m);
                        (n, SessionMetrics::mean(of_n))
                    })
                    .collect()
            };
            SessionRow {
                task,
                all: SessionMetrics::mean(&metrics),
                by_n_given,
            }
        })
        .collect()
}

/// At most `limit` cases of `task`, evenly spaced (every k-th), for the
/// validation search; the test period is always scored in full.
pub fn thinned(cases: &SessionCases, task: SessionTask, limit: usize) -> Vec<&SessionCase> {
    crate::eval::evenly_spaced(cases.of(task).collect(), limit)
}

/// A Markdown table of [`score_tasks`]' rows.
pub fn table(rows: &[SessionRow]) -> String {
    let mut out = String::from(
        "| task | given | cases | HR@10 | NDCG@10 | Recall@20 | MRR@20 |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let mut line = |given: &str, m: &SessionMetrics| {
            out.push_str(&format!(
                "| {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} |\n",
                row.task.letter(),
                given,
                m.n_cases,
                m.hr_at_10,
                m.ndcg_at_10,
                m.recall_at_20,
                m.mrr_at_20
            ));
        };
        line("all", &row.all);
        for (n, m) in &row.by_n_given {
            line(&n.to_string(), m);
        }
    }
    out
}
