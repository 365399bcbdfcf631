//! The trainer's two jobs, end to end: [`evaluate`] (the OR-LAST-MONTH protocol
//! with tuning on a validation split carved from the training period) and
//! [`train`] (fit everything on all the data into one [`TrainedModel`]).

use std::io::Write;
use std::time::{Duration, Instant};

use cove_engine::bundle::{BlendWeights, SessionWeights};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use anyhow::Context;

use crate::als::{self, AlsParams, Confidence};
use crate::data::{CleaningReport, ItemInfo, Transactions};
use crate::dates::{format_day, MINUTES_PER_DAY};
use crate::engine_scorer::{engine_alpha, DeviceHistories, EngineFactorRanker};
use crate::eval::{self, line_weight, Metrics, Ranker, Split, Task};
use crate::intent::IntentModel;
use crate::neighbours::{self, Neighbour, NeighbourMix, Trending};
use crate::segments::{self, Lifecycle, PriceTiers, Propensity, TasteClusters};

/// How progress is shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bars {
    /// Nothing (tests, and the inner steps of a step with its own bar).
    Hidden,
    /// Bars redrawn in place, for a terminal.
    Terminal,
    /// Plain lines, for a log file or a pipe: one when a step starts, then
    /// one every [`PLAIN_PROGRESS_INTERVAL`] while it runs, and one when it
    /// ends; no colour codes, no redraws.
    Plain,
}

/// How often a [`Bars::Plain`] step prints a progress line.
pub const PLAIN_PROGRESS_INTERVAL: Duration = Duration::from_secs(30);

impl Bars {
    /// A bar for a terminal, plain lines otherwise (`cove-train`'s choice).
    pub fn for_stderr() -> Self {
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            Bars::Terminal
        } else {
            Bars::Plain
        }
    }

    /// A bar of `len` steps with a message.
    pub fn bar(&self, len: u64, message: &str) -> ProgressBar {
        match self {
            Bars::Hidden => ProgressBar::hidden(),
            Bars::Plain => plain_progress(Some(len), message, PLAIN_PROGRESS_INTERVAL, to_stderr),
            Bars::Terminal => {
                let bar = ProgressBar::new(len);
                bar.set_style(
                    ProgressStyle::with_template("{msg:32} [{bar:30}] {pos}/{len} {elapsed}")
                        .expect("a valid template")
                        .progress_chars("=> "),
                );
                bar.set_message(message.to_owned());
                bar
            }
        }
    }

    /// Runs `work` as one named step: off a terminal, a `started` line and a
    /// `done …, N s` line, so a log shows where a run's time goes.
    pub fn step<T>(&self, message: &str, work: impl FnOnce() -> T) -> T {
        let spinner = self.spinner(message);
        let result = work();
        spinner.finish_and_clear();
        result
    }

    /// A spinner for a step of unknown length; its position is a count.
    pub fn spinner(&self, message: &str) -> ProgressBar {
        match self {
            Bars::Hidden => ProgressBar::hidden(),
            Bars::Plain => plain_progress(None, message, PLAIN_PROGRESS_INTERVAL, to_stderr),
            Bars::Terminal => {
                let spinner = ProgressBar::new_spinner();
                spinner.set_message(message.to_owned());
                spinner
            }
        }
    }
}

/// One plain progress line: `message: position[/length], elapsed s`.
fn plain_line(bar: &ProgressBar, what: &str) -> String {
    let position = match bar.length() {
        Some(len) => format!("{}/{len}", bar.position()),
        None => bar.position().to_string(),
    };
    format!(
        "{}: {what} {position}, {:.0} s",
        bar.message(),
        bar.elapsed().as_secs_f64()
    )
}

fn to_stderr(line: &str) {
    eprintln!("{line}");
}

/// A bar that draws nothing itself; a thread hands `print` a plain line when
/// it starts, every `interval` while it runs, and when it is finished or
/// dropped (seen within a fifth of a second). The thread holds only a weak
/// reference, so it ends with the bar.
pub fn plain_progress(
    len: Option<u64>,
    message: &str,
    interval: Duration,
    print: impl Fn(&str) + Send + 'static,
) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::hidden());
    bar.set_message(message.to_owned());
    print(&format!(
        "{message}: started{}",
        len.map_or_else(String::new, |n| format!(", {n} steps"))
    ));
    let weak = bar.downgrade();
    let message = message.to_owned();
    let started = Instant::now();
    std::thread::spawn(move || {
        let mut last_line = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(200).min(interval));
            let Some(bar) = weak.upgrade() else {
                print(&format!(
                    "{message}: ended, {:.0} s",
                    started.elapsed().as_secs_f64()
                ));
                return;
            };
            if bar.is_finished() {
                print(&plain_line(&bar, "done"));
                return;
            }
            if last_line.elapsed() >= interval {
                print(&plain_line(&bar, "at"));
                last_line = Instant::now();
            }
        }
    });
    bar
}

/// The process's peak resident memory in bytes (`VmHWM` of
/// `/proc/self/status`), where the system reports it (Linux); None elsewhere.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    peak_memory_of_status(&status)
}

/// `VmHWM` (kB) of a `/proc/<pid>/status` text, in bytes.
fn peak_memory_of_status(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The closing line of a `cove-train` run: `resources: wall 12.3 s, peak
/// memory 456 MB`, without the memory where the system does not report it.
pub fn resources_line(wall: Duration) -> String {
    let memory = peak_memory_bytes().map_or_else(String::new, |bytes| {
        format!(", peak memory {} MB", bytes.div_ceil(1_000_000))
    });
    format!("resources: wall {:.1} s{memory}", wall.as_secs_f64())
}

/// Everything the trainer can be told, with defaults found by `evaluate --tune`
/// on the validation split (see models/README.md).
#[derive(Debug, Clone, Serialize)]
pub struct TrainConfig {
    /// ALS hyperparameters.
    pub als: AlsParams,
    /// Half-life of a purchase line's weight, in days before the last day of
    /// the data used (None: every line weighs 1).
    pub half_life_days: Option<f32>,
    /// First day of the test period (days since the epoch).
    pub cutoff_day: i64,
    /// Length of the validation period carved from the end of train.
    pub validation_days: i64,
    /// Search a grid of ALS hyperparameters on the validation split.
    pub tune: bool,
    /// Length of neighbour lists.
    pub neighbours: usize,
    /// How the exported neighbour list mixes its sources.
    pub neighbour_mix: NeighbourMix,
    /// Trending window.
    pub trending_window_days: i64,
    /// Length of trending lists.
    pub trending_k: usize,
    /// Number of taste clusters.
    pub taste_clusters: usize,
    /// Propensity label horizon.
    pub propensity_horizon_days: i64,
    /// Seed of every random step.
    pub seed: u64,
    /// The ranking parameters the bundle ships, chosen through the engine on
    /// validation ([`crate::engine_eval`]).
    pub engine: EngineWeights,
}

/// The engine's ranking parameters that the trainer chooses on validation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EngineWeights {
    /// The bundle's α relative to the one that gives a fresh purchase line
    /// the trainer's confidence ([`engine_alpha`]).
    pub alpha_scale: f64,
    /// `RankingParams::weight_neighbors`.
    pub weight_neighbors: f32,
    /// `RankingParams::weight_trending`.
    pub weight_trending: f32,
    /// `RankingParams::weight_repeat` ("buy again").
    pub weight_repeat: f32,
    /// `RankingParams::keep_purchased`: the weights of requests that keep
    /// bought items (task A's "for you" slot), chosen by task A.
    pub keep_purchased: Option<BlendWeights>,
    /// Items in the bundle's `*` trending list (the recent-popularity prior).
    pub n_trending: usize,
    /// `RankingParams::profile_half_life_days`: the device profile's decay
    /// (`None`: the engine's default).
    pub profile_half_life_days: Option<f64>,
    /// `RankingParams::session`: the in-session weights, chosen on tasks C,
    /// D and E of OR-SESSION (`None`: the engine's defaults).
    pub session: Option<SessionWeights>,
}

impl Default for EngineWeights {
    fn default() -> Self {
        EngineWeights {
            alpha_scale: 1.0,
            weight_neighbors: 0.1,
            weight_trending: 0.2,
            weight_repeat: 0.2,
            keep_purchased: None,
            n_trending: crate::export::N_TRENDING,
            profile_half_life_days: None,
            session: None,
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            als: AlsParams {
                factors: 64,
                regularization: 10.0,
                confidence: Confidence {
                    base: 0.0,
                    alpha: 2.0,
                    epsilon: 1.0,
                },
                iterations: 15,
                cg_steps: 3,
                seed: 42,
                threads: 2,
            },
            half_life_days: Some(60.0),
            cutoff_day: crate::dates::days_from_civil(2011, 11, 9),
            validation_days: 30,
            tune: false,
            neighbours: 20,
            neighbour_mix: NeighbourMix::default(),
            trending_window_days: 30,
            trending_k: 20,
            taste_clusters: 12,
            propensity_horizon_days: 60,
            seed: 42,
            engine: EngineWeights::default(),
        }
    }
}

/// The fewest days a derived test period covers.
pub const MIN_TEST_DAYS: i64 = 7;
/// The most days a derived test period covers.
pub const MAX_TEST_DAYS: i64 = 30;

/// The first and last day (days since the epoch) of the kept rows.
pub fn day_span(data: &Transactions) -> Option<(i64, i64)> {
    let (first, last) =
        data.purchases
            .iter()
            .fold(None, |span: Option<(i64, i64)>, p| match span {
                None => Some((p.minute, p.minute)),
                Some((lo, hi)) => Some((lo.min(p.minute), hi.max(p.minute))),
            })?;
    Some((
        first.div_euclid(MINUTES_PER_DAY),
        last.div_euclid(MINUTES_PER_DAY),
    ))
}

/// The cut-off (first day of the test period) when none is given: the test
/// period is the last tenth of the data's span, at least [`MIN_TEST_DAYS`]
/// and at most [`MAX_TEST_DAYS`] days before its last day. On Online Retail
/// (2010-12-01 to 2011-12-09) that is 2011-11-09, the cut-off its figures
/// have always used.
pub fn derived_cutoff(first_day: i64, last_day: i64) -> i64 {
    let test_days = ((last_day - first_day) / 10).clamp(MIN_TEST_DAYS, MAX_TEST_DAYS);
    last_day - test_days
}

/// Checks a cut-off against the data's span: the test period must hold data
/// (cut-off on or before the last day), and the validation split must have
/// a training period (its own cut-off, `validation_days` earlier, after the
/// first day). Otherwise every table would be empty.
pub fn check_cutoff(
    cutoff_day: i64,
    validation_days: i64,
    first_day: i64,
    last_day: i64,
) -> anyhow::Result<()> {
    let span = format!(
        "the data runs from {} to {}",
        format_day(first_day),
        format_day(last_day)
    );
    anyhow::ensure!(
        cutoff_day <= last_day,
        "the cut-off {} is after the data's last day: the test period would be empty ({span}; \
         leave out --cutoff to take the last {MIN_TEST_DAYS} to {MAX_TEST_DAYS} days)",
        format_day(cutoff_day)
    );
    anyhow::ensure!(
        cutoff_day - validation_days > first_day,
        "the cut-off {} leaves nothing to train on before the validation period ({} days before \
         it, from {}; {span}): {}",
        format_day(cutoff_day),
        validation_days,
        format_day(cutoff_day - validation_days),
        if last_day - first_day <= validation_days + MIN_TEST_DAYS {
            format!(
                "the data must span more than {} days",
                validation_days + MIN_TEST_DAYS
            )
        } else {
            format!(
                "choose a cut-off after {}",
                format_day(first_day + validation_days)
            )
        }
    );
    Ok(())
}

/// The cut-off to use: `given` (from `--cutoff`) or [`derived_cutoff`],
/// checked by [`check_cutoff`]. The string says which, for the log.
pub fn choose_cutoff(
    data: &Transactions,
    given: Option<i64>,
    validation_days: i64,
) -> anyhow::Result<(i64, String)> {
    let (first_day, last_day) = day_span(data).context("no rows to split")?;
    let (cutoff, how) = match given {
        Some(day) => (day, "from --cutoff".to_string()),
        None => {
            let day = derived_cutoff(first_day, last_day);
            (
                day,
                format!(
                    "derived: {} days before the data's last day; the data runs from {} to {}; \
                     --cutoff sets another",
                    last_day - day,
                    format_day(first_day),
                    format_day(last_day)
                ),
            )
        }
    };
    check_cutoff(cutoff, validation_days, first_day, last_day)?;
    Ok((cutoff, how))
}

/// One row of the metrics table.
#[derive(Debug, Clone, Serialize)]
pub struct MetricRow {
    /// The model.
    pub model: String,
    /// The task.
    pub task: Task,
    /// The metrics.
    pub metrics: Metrics,
}

/// One configuration tried on the validation split.
#[derive(Debug, Clone, Serialize)]
pub struct TuningTrial {
    /// ALS parameters tried.
    pub als: AlsParams,
    /// Half-life tried.
    pub half_life_days: Option<f32>,
    /// Validation NDCG@10, task A (factor score only, through the engine).
    pub ndcg_at_10_a: f64,
    /// Validation NDCG@10, task B (factor score only, through the engine).
    pub ndcg_at_10_b: f64,
}

/// The evaluation, as written to the report.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluationReport {
    /// The protocol in words.
    pub protocol: String,
    /// First test day.
    pub test_from: String,
    /// Last train day.
    pub train_until: String,
    /// Validation period.
    pub validation: String,
    /// Customers with train rows.
    pub n_train_users: usize,
    /// Candidate items (seen in train).
    pub n_candidate_items: usize,
    /// Users scored on the test period: those with rows in both periods,
    /// or a seeded sample of [`eval::MAX_TEST_USERS`] of them.
    pub n_eval_users: usize,
    /// Users with rows in both periods (more than `n_eval_users` when the
    /// test period was sampled).
    pub n_test_period_users: usize,
    /// The metrics table.
    pub rows: Vec<MetricRow>,
    /// The ALS parameters evaluated.
    pub als: AlsParams,
    /// Purchase-line half-life.
    pub half_life_days: Option<f32>,
    /// Configurations tried on validation (empty without `--tune`).
    pub tuning: Vec<TuningTrial>,
    /// Gzipped size of int8 item factors + scales + Gram (bytes).
    pub factor_bytes_gzip_int8: usize,
    /// Seconds spent in the evaluation.
    pub seconds: f64,
}

fn gzip_len(bytes: &[u8]) -> usize {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory").len()
}

/// Trains ALS on `split` and wraps the factors in the engine's factor-only
/// ranking (int8 factors, the engine's fold-in at α's scale `alpha_scale`).
fn engine_factor_ranker<'a>(
    split: &Split,
    params: &AlsParams,
    alpha_scale: f64,
    histories: &'a DeviceHistories,
    bars: Bars,
    label: &str,
) -> anyhow::Result<EngineFactorRanker<'a>> {
    let valid = params.validate()?;
    let bar = bars.bar(params.iterations as u64, label);
    let model = als::train(&split.train, &valid, |_| bar.inc(1));
    bar.finish_and_clear();
    EngineFactorRanker::new(
        label,
        &model.item_factors,
        model.dim,
        params.regularization as f64,
        engine_alpha(&params.confidence, alpha_scale),
        histories,
    )
}

/// The ALS grid of `--tune`.
fn tuning_grid(base: &TrainConfig) -> Vec<(AlsParams, Option<f32>)> {
    let mut grid = Vec::new();
    for factors in [64, 128] {
        for regularization in [3.0, 10.0, 30.0] {
            for alpha in [1.0, 2.0, 4.0] {
                for conf_base in [0.0, 1.0] {
                    for half_life in [Some(60.0), Some(120.0), None] {
                        let als = AlsParams {
                            factors,
                            regularization,
                            confidence: Confidence {
                                base: conf_base,
                                alpha,
                                epsilon: 1.0,
                            },
                            ..base.als
                        };
                        grid.push((als, half_life));
                    }
                }
            }
        }
    }
    grid
}

/// Runs the protocol for the baselines and Cove's factor model. Tuning (the
/// ALS grid if `config.tune`) looks only at the validation split: train before
/// `cutoff − validation_days`, validate on the `validation_days` before the
/// cut-off. Cove is scored through the engine (device histories, the engine's
/// fold-in, int8 factors); its blended ranking is scored on a written bundle
/// by [`crate::engine_eval`]. The test period is scored once.
pub fn evaluate(
    data: &Transactions,
    config: &mut TrainConfig,
    bars: Bars,
    write_split: Option<&std::path::Path>,
) -> anyhow::Result<EvaluationReport> {
    let start = Instant::now();
    let threads = config.als.threads;
    let val_cutoff = config.cutoff_day - config.validation_days;

    let mut tuning = Vec::new();
    if config.tune {
        let grid = tuning_grid(config);
        let bar = bars.bar(grid.len() as u64, "tuning ALS on validation");
        let mut best: Option<(f64, AlsParams, Option<f32>)> = None;
        // The device histories do not depend on the ALS settings.
        let histories = DeviceHistories::new(
            data,
            &Split::new(data, val_cutoff, Some(config.cutoff_day), None),
        );
        for (params, half_life) in grid {
            params.validate()?;
            let split = Split::new(data, val_cutoff, Some(config.cutoff_day), half_life);
            let ranker = engine_factor_ranker(
                &split,
                &params,
                config.engine.alpha_scale,
                &histories,
                Bars::Hidden,
                "als",
            )?;
            let a = eval::evaluate(&split, &ranker, Task::A, threads).ndcg_at_10;
            let b = eval::evaluate(&split, &ranker, Task::B, threads).ndcg_at_10;
            tracing::debug!(?params, ?half_life, a, b, "validation trial");
            // One factor model serves both slot kinds: pick by the mean.
            if best
                .as_ref()
                .is_none_or(|(score, _, _)| (a + b) / 2.0 > *score)
            {
                best = Some(((a + b) / 2.0, params, half_life));
            }
            tuning.push(TuningTrial {
                als: params,
                half_life_days: half_life,
                ndcg_at_10_a: a,
                ndcg_at_10_b: b,
            });
            bar.inc(1);
        }
        bar.finish_and_clear();
        if let Some((_, params, half_life)) = best {
            tracing::info!(?params, ?half_life, "chosen on validation");
            config.als = params;
            config.half_life_days = half_life;
        }
    }
    config.als.validate()?;
    if let Some(dir) = write_split {
        let val_split = Split::new(
            data,
            val_cutoff,
            Some(config.cutoff_day),
            config.half_life_days,
        );
        val_split.write_files(&dir.join("val"))?;
        crate::session::SessionCases::new(data, &val_split).write_files(
            data,
            &val_split,
            &dir.join("val"),
        )?;
    }

    // The test period, scored once (on a seeded sample of a large shop's users).
    let mut split = Split::new(data, config.cutoff_day, None, config.half_life_days);
    let n_test_period_users = split.sample_users(eval::MAX_TEST_USERS, config.seed);
    if let Some(dir) = write_split {
        split.write_files(&dir.join("test"))?;
        crate::session::SessionCases::new(data, &split).write_files(
            data,
            &split,
            &dir.join("test"),
        )?;
    }
    let histories = DeviceHistories::new(data, &split);
    let factors = engine_factor_ranker(
        &split,
        &config.als,
        config.engine.alpha_scale,
        &histories,
        bars,
        "Cove ALS, factor score only (engine fold-in, int8 factors)",
    )?;
    let (q_values, q_scales) =
        cove_engine::bundle::quantise_rows(&factors.item_factors, factors.dim);
    let mut int8_bytes: Vec<u8> = q_values.iter().map(|v| *v as u8).collect();
    for s in &q_scales {
        int8_bytes.extend(s.to_le_bytes());
    }
    for g in cove_engine::bundle::gram_matrix(&factors.item_factors, factors.dim) {
        int8_bytes.extend(g.to_le_bytes());
    }
    let factor_bytes_gzip_int8 = gzip_len(&int8_bytes);

    let mut rows = Vec::new();
    let mut rankers: Vec<Box<dyn Ranker + '_>> = bars
        .step("baselines (item-kNN similarities)", || {
            eval::baselines(&split)
        });
    rankers.push(Box::new(factors));
    let bar = bars.bar(2 * rankers.len() as u64, "scoring the test period");
    for ranker in &rankers {
        for task in [Task::A, Task::B] {
            rows.push(MetricRow {
                model: ranker.name(),
                task,
                metrics: eval::evaluate(&split, ranker.as_ref(), task, threads),
            });
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    Ok(EvaluationReport {
        protocol: "OR-LAST-MONTH (issue 4): cleaned rows; train = InvoiceDate before the cut-off, \
                   test = from the cut-off; users who bought in both periods; candidates = items \
                   seen in train; task A: relevant = distinct test items; task B: relevant = test \
                   items not bought in train, train items removed from the ranking; full ranking; \
                   Cove scored only through the engine (each user's train orders replayed as \
                   events into a profile, folded in by the engine, ranked by the engine); tuning \
                   only on a validation split carved from train"
            .into(),
        test_from: format_day(config.cutoff_day),
        train_until: format_day(split.last_train_day),
        validation: format!(
            "train before {}, validate {} to {}",
            format_day(val_cutoff),
            format_day(val_cutoff),
            format_day(config.cutoff_day - 1)
        ),
        n_train_users: split.train.n_users(),
        n_candidate_items: split.items.len(),
        n_eval_users: split.users.len(),
        n_test_period_users,
        rows,
        als: config.als,
        half_life_days: config.half_life_days,
        tuning,
        factor_bytes_gzip_int8,
        seconds: start.elapsed().as_secs_f64(),
    })
}

impl EvaluationReport {
    /// "N users in both periods", and when the test period was sampled,
    /// how many of them were scored and how they were chosen.
    pub fn users_scored(&self) -> String {
        if self.n_eval_users < self.n_test_period_users {
            format!(
                "{} users in both periods, of whom a seeded sample of {} was scored (the test \
                 period scores at most {} users)",
                self.n_test_period_users,
                self.n_eval_users,
                eval::MAX_TEST_USERS
            )
        } else {
            format!("{} users in both periods", self.n_eval_users)
        }
    }
}

/// A product as the bundle describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemRecord {
    /// The shop's product code.
    pub code: String,
    /// The most frequent title.
    pub title: String,
    /// Median unit price over kept lines.
    pub price: f32,
    /// Category: the item's taste cluster (the data has no category column).
    pub category: u32,
    /// Stock: the export has no stock column, so every item is in stock.
    pub in_stock: bool,
}

/// What was trained on.
#[derive(Debug, Clone, Serialize)]
pub struct DataSummary {
    /// The input file name.
    pub source: String,
    /// The cleaning step's counts.
    pub cleaning: CleaningReport,
    /// Customers, items, invoices and countries kept.
    pub n_customers: usize,
    /// Items kept.
    pub n_items: usize,
    /// Invoices kept.
    pub n_invoices: usize,
    /// Countries kept.
    pub n_countries: usize,
    /// First and last day of the kept rows.
    pub first_day: String,
    /// Last day of the kept rows.
    pub last_day: String,
}

/// Everything the trainer learned, in memory: the one value the bundle
/// builder (the engine's, on branch `engine-core`) will serialise. Item
/// indices everywhere refer to `items`.
#[derive(Debug, Clone, Serialize)]
pub struct TrainedModel {
    /// What was trained on.
    pub data: DataSummary,
    /// The catalogue, in item-index order.
    pub items: Vec<ItemRecord>,
    /// Latent dimension d.
    pub dim: usize,
    /// Item factors Y, row-major n_items × d (f32).
    pub item_factors: Vec<f32>,
    /// YᵀY, row-major d × d, for on-device fold-in.
    pub gram: Vec<f32>,
    /// Half-life of an event's weight on the device, in days (None: no decay).
    pub half_life_days: Option<f32>,
    /// Recent popularity: ln(1 + distinct buyers in the trending window), the
    /// bundle's `*` trending list.
    pub recent_popularity: Vec<f32>,
    /// "Similar" lists (cosine on factors), per item.
    pub similar: Vec<Vec<Neighbour>>,
    /// "Bought together" lists (shrunk basket cosine), per item.
    pub bought_together: Vec<Vec<Neighbour>>,
    /// Recent baskets' votes ([`neighbours::session_votes`]), per item.
    pub session_votes: Vec<Vec<Neighbour>>,
    /// Trending per country; the first list is the whole shop's (`*`).
    pub trending: Vec<Trending>,
    /// Taste clusters over item factors.
    pub taste_clusters: TasteClusters,
    /// Price-tier cut points.
    pub price_tiers: PriceTiers,
    /// Lifecycle cut points and segment sizes.
    pub lifecycle: Lifecycle,
    /// Purchase propensity classifier; None when the data spans less than
    /// two label horizons or a cut-off has only one class.
    pub propensity: Option<Propensity>,
    /// Purchase-intent classifier, when a sessions file was given.
    pub intent: Option<IntentModel>,
    /// Where the item factors came from: Cove's ALS with the evaluation
    /// that chose its settings, or factors fit elsewhere (not evaluated).
    pub origin: FactorOrigin,
    /// The settings used.
    pub config: TrainConfig,
    /// Seconds to fit the final model (after the evaluation).
    pub fit_seconds: f64,
}

fn median(mut values: Vec<f32>) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f32::total_cmp);
    values[values.len() / 2]
}

/// Where a model's item factors came from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorOrigin {
    /// Cove's ALS on all the data ([`train`]), with the evaluation that
    /// chose its settings.
    Als(EvaluationReport),
    /// Factors fit elsewhere ([`crate::import`]): not evaluated by Cove,
    /// since they were fit on all the data and no held-out period is left.
    Imported(crate::import::ImportSummary),
}

impl TrainedModel {
    /// The evaluation that chose the settings; `None` for imported factors,
    /// which Cove did not evaluate.
    pub fn evaluation(&self) -> Option<&EvaluationReport> {
        match &self.origin {
            FactorOrigin::Als(evaluation) => Some(evaluation),
            FactorOrigin::Imported(_) => None,
        }
    }
}

/// The factor step's result, which everything after it is computed from.
#[derive(Debug, Clone)]
pub struct ItemFactors {
    /// Latent dimension d.
    pub dim: usize,
    /// Row-major n_items × d, rows in `Transactions::items` order.
    pub values: Vec<f32>,
    /// Where they came from.
    pub origin: FactorOrigin,
}

/// Fits every part on all the data. `evaluation` comes from [`evaluate`] (whose
/// choices are in `config`).
pub fn train(
    data: &Transactions,
    config: &TrainConfig,
    evaluation: EvaluationReport,
    intent: Option<IntentModel>,
    source: &str,
    bars: Bars,
) -> anyhow::Result<TrainedModel> {
    let start = Instant::now();
    let factors = als_step(data, config, evaluation, bars)?;
    let mut model = train_with_factors(data, config, factors, intent, source, bars)?;
    model.fit_seconds = start.elapsed().as_secs_f64();
    Ok(model)
}

/// The ALS step of [`train`]: item factors from all the data.
fn als_step(
    data: &Transactions,
    config: &TrainConfig,
    evaluation: EvaluationReport,
    bars: Bars,
) -> anyhow::Result<ItemFactors> {
    let params = config.als.validate()?;
    let last_minute = data.purchases.iter().map(|p| p.minute).max().unwrap_or(0);
    let last_day = last_minute.div_euclid(MINUTES_PER_DAY);
    let triples: Vec<(u32, u32, f32)> = data
        .purchases
        .iter()
        .map(|p| {
            let age = last_day - p.minute.div_euclid(MINUTES_PER_DAY);
            (
                p.customer_idx,
                p.item_idx,
                line_weight(age, config.half_life_days),
            )
        })
        .collect();
    let matrix = crate::interactions::Interactions::from_triples(
        data.customers.len(),
        data.items.len(),
        &triples,
    );
    let bar = bars.bar(config.als.iterations as u64, "ALS on all data");
    let model = als::train(&matrix, &params, |_| bar.inc(1));
    bar.finish_and_clear();
    Ok(ItemFactors {
        dim: model.dim,
        values: model.item_factors,
        origin: FactorOrigin::Als(evaluation),
    })
}

/// Items whose exact "similar" lists check the approximate index's recall
/// in a large catalogue's log.
const SIMILAR_RECALL_SAMPLE: usize = 500;

/// Everything [`train`] computes after its factor step, from `factors`
/// (Cove's ALS, or factors fit elsewhere: [`crate::import`]).
pub fn train_with_factors(
    data: &Transactions,
    config: &TrainConfig,
    factors: ItemFactors,
    intent: Option<IntentModel>,
    source: &str,
    bars: Bars,
) -> anyhow::Result<TrainedModel> {
    let start = Instant::now();
    let ItemFactors {
        dim,
        values: item_factors,
        origin,
    } = factors;
    anyhow::ensure!(
        dim > 0 && item_factors.len() == data.items.len() * dim,
        "{} factor values for {} items of dimension {dim}",
        item_factors.len(),
        data.items.len()
    );
    let last_minute = data.purchases.iter().map(|p| p.minute).max().unwrap_or(0);
    let first_minute = data.purchases.iter().map(|p| p.minute).min().unwrap_or(0);
    let last_day = last_minute.div_euclid(MINUTES_PER_DAY);
    let gram = als::gram(&item_factors, dim);

    let similar = bars.step("similar items (factor cosine)", || {
        neighbours::similar_by_factors(
            &item_factors,
            dim,
            config.neighbours,
            config.als.threads,
            config.seed,
        )
    });
    if data.items.len() > neighbours::EXACT_SIMILAR_MAX_ITEMS {
        let recall = neighbours::sampled_recall(
            &item_factors,
            dim,
            &similar,
            config.neighbours,
            SIMILAR_RECALL_SAMPLE,
            config.seed,
        );
        tracing::info!(
            "similar items from the approximate index: recall@{} {recall:.4} against the exact lists of {SIMILAR_RECALL_SAMPLE} sampled items",
            config.neighbours
        );
    }
    let (bought_together, session_votes) = bars.step("bought together, recent baskets", || {
        (
            neighbours::bought_together(data, config.neighbours),
            neighbours::session_votes(data, config.neighbour_mix.recent_baskets, config.neighbours),
        )
    });
    let trending = bars.step("trending", || {
        neighbours::trending_by_country(data, config.trending_window_days, config.trending_k)
    });
    let titles: Vec<String> = data
        .items
        .iter()
        .map(|i: &ItemInfo| i.title.clone())
        .collect();
    // k-means needs at least two clusters and no more clusters than items.
    let n_clusters = config.taste_clusters.min(data.items.len() / 2).max(2);
    let taste_clusters = bars.step("taste clusters (k-means)", || {
        segments::taste_clusters(&item_factors, dim, &titles, n_clusters, config.seed)
    })?;
    let (price_tiers, lifecycle, propensity) =
        bars.step("price tiers, lifecycle, propensity", || {
            let price_tiers = segments::price_tiers(data);
            let lifecycle = segments::lifecycle(data);
            let propensity = match segments::propensity(data, config.propensity_horizon_days) {
                Ok(p) => Some(p),
                Err(err) => {
                    tracing::warn!("no purchase-propensity model: {err:#}");
                    None
                }
            };
            (price_tiers, lifecycle, propensity)
        });

    // Recent popularity over the whole data, for the `*` trending list.
    let since = last_minute - config.trending_window_days * MINUTES_PER_DAY;
    let mut pairs: Vec<(u32, u32)> = data
        .purchases
        .iter()
        .filter(|p| p.minute > since)
        .map(|p| (p.item_idx, p.customer_idx))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut recent = vec![0.0f32; data.items.len()];
    for (item, _) in pairs {
        recent[item as usize] += 1.0;
    }
    let recent_popularity = recent.iter().map(|v| v.ln_1p()).collect();

    let mut prices: Vec<Vec<f32>> = vec![Vec::new(); data.items.len()];
    for p in &data.purchases {
        prices[p.item_idx as usize].push(p.unit_price);
    }
    let items = data
        .items
        .iter()
        .zip(prices)
        .enumerate()
        .map(|(idx, (info, item_prices))| ItemRecord {
            code: info.code.clone(),
            title: info.title.clone(),
            price: median(item_prices),
            category: taste_clusters.item_cluster[idx],
            in_stock: true,
        })
        .collect();
    let n_invoices = data.invoices.len();
    Ok(TrainedModel {
        data: DataSummary {
            source: source.to_owned(),
            cleaning: data.report.clone(),
            n_customers: data.customers.len(),
            n_items: data.items.len(),
            n_invoices,
            n_countries: data.countries.len(),
            first_day: format_day(first_minute.div_euclid(MINUTES_PER_DAY)),
            last_day: format_day(last_day),
        },
        items,
        dim,
        item_factors,
        gram,
        half_life_days: config.half_life_days,
        recent_popularity,
        similar,
        bought_together,
        session_votes,
        trending,
        taste_clusters,
        price_tiers,
        lifecycle,
        propensity,
        intent,
        origin,
        config: config.clone(),
        fit_seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A synthetic shop: 80 customers with four tastes, 50 items, five months.
    pub(crate) fn synthetic_shop() -> Transactions {
        let mut rng = crate::random::SplitMix64::new(21);
        let mut rows = String::new();
        for line in 0..4000u64 {
            let customer = rng.next_u64() % 80;
            let item = (customer % 4) * 12 + rng.next_u64() % 14;
            let day = line * 150 / 4000;
            // A third of the customers stop buying after day 70, so the
            // propensity labels have both classes.
            if customer % 3 == 0 && day > 70 {
                continue;
            }
            let date = format_day(crate::dates::days_from_civil(2011, 1, 1) + day as i64);
            let country = if customer % 5 == 0 { "France" } else { "UK" };
            rows.push_str(&format!(
                "{},I{item},ITEM {item} {},{},{date} 10:00,{:.2},{customer},{country}\n",
                line / 3,
                ["RED MUG", "BLUE TIN", "GREEN BAG", "GOLD STAR"][(item % 4) as usize],
                1 + rng.next_u64() % 5,
                0.5 + (item % 7) as f32,
            ));
        }
        crate::data::transactions_from_rows(&rows)
    }

    pub(crate) fn small_config() -> TrainConfig {
        let mut config = TrainConfig::default();
        config.als.factors = 8;
        config.als.iterations = 4;
        config.cutoff_day = crate::dates::days_from_civil(2011, 5, 1);
        config.taste_clusters = 3;
        config.propensity_horizon_days = 30;
        config
    }

    fn trained_json(data: &Transactions, threads: usize) -> String {
        let mut config = small_config();
        config.als.threads = threads;
        let evaluation = evaluate(data, &mut config, Bars::Hidden, None).unwrap();
        let mut model = train(data, &config, evaluation, None, "synthetic", Bars::Hidden).unwrap();
        // Wall-clock figures are the only parts allowed to differ.
        model.fit_seconds = 0.0;
        model.config.als.threads = 0;
        if let FactorOrigin::Als(evaluation) = &mut model.origin {
            evaluation.seconds = 0.0;
            evaluation.als.threads = 0;
        }
        serde_json::to_string(&model).unwrap()
    }

    #[test]
    fn the_same_seed_gives_an_identical_model() {
        let data = synthetic_shop();
        let first = trained_json(&data, 1);
        assert_eq!(first, trained_json(&data, 2));
        let model: serde_json::Value = serde_json::from_str(&first).unwrap();
        // The pipeline produced every part.
        assert!(
            model["propensity"].is_object(),
            "five months cover two 30-day horizons"
        );
        assert_eq!(
            model["taste_clusters"]["clusters"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        assert!(model["origin"]["als"]["n_eval_users"].as_u64().unwrap() > 20);
    }

    /// Issue 24: without `--cutoff` the test period comes from the data; a
    /// cut-off outside it is an error.
    #[test]
    fn issue_24_the_cutoff_is_derived_from_the_data_and_checked() {
        let day = crate::dates::parse_day;
        let name = |d: i64| format_day(d);
        // Online Retail's span gives the cut-off its figures always used.
        let (first, last) = (day("2010-12-01").unwrap(), day("2011-12-09").unwrap());
        assert_eq!(name(derived_cutoff(first, last)), "2011-11-09");
        // Four months: a tenth of the span; two months: at least a week.
        let (first, last) = (day("2017-01-01").unwrap(), day("2017-04-30").unwrap());
        assert_eq!(name(derived_cutoff(first, last)), "2017-04-19");
        let (first, last) = (day("2017-01-01").unwrap(), day("2017-02-28").unwrap());
        assert_eq!(name(derived_cutoff(first, last)), "2017-02-21");
        check_cutoff(derived_cutoff(first, last), 30, first, last).unwrap();

        let data = synthetic_shop();
        let (first, last) = day_span(&data).unwrap();
        assert_eq!(
            (name(first), name(last)),
            ("2011-01-01".into(), "2011-05-30".into())
        );
        let (cutoff, how) = choose_cutoff(&data, None, 30).unwrap();
        assert_eq!(cutoff, derived_cutoff(first, last));
        assert!(how.starts_with("derived"), "{how}");
        let after = choose_cutoff(&data, day("2011-06-01"), 30).unwrap_err();
        assert!(
            after.to_string().contains("after the data's last day"),
            "{after}"
        );
        for too_early in ["2010-06-01", "2011-01-01", "2011-01-31"] {
            let err = choose_cutoff(&data, day(too_early), 30).unwrap_err();
            assert!(
                err.to_string()
                    .contains("choose a cut-off after 2011-01-31"),
                "{too_early}: {err}"
            );
        }
        choose_cutoff(&data, day("2011-02-01"), 30).unwrap();
        // Data too short for a validation period and a week of test.
        let err = check_cutoff(last - 7, 30, last - 20, last).unwrap_err();
        assert!(
            err.to_string().contains("must span more than 37 days"),
            "{err}"
        );
    }

    /// Issue 24: a run ends with its wall time and, on Linux, its peak memory.
    #[test]
    fn issue_24_the_resources_line_reads_the_peak_memory() {
        let status = "Name:\tcove-train\nVmPeak:\t  999 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(peak_memory_of_status(status), Some(12_345 * 1024));
        assert_eq!(peak_memory_of_status("VmRSS:\t1 kB\n"), None);
        let line = resources_line(Duration::from_millis(12_340));
        assert!(line.starts_with("resources: wall 12.3 s"), "{line}");
        if cfg!(target_os = "linux") {
            let bytes = peak_memory_bytes().unwrap();
            assert!(bytes > 1_000_000, "{bytes}");
            assert!(line.contains(", peak memory "), "{line}");
        }
    }

    /// Issue 24: off a terminal, progress is plain lines, at least every
    /// interval, and one when the step ends.
    #[test]
    fn issue_24_plain_progress_lines() {
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = std::sync::Arc::clone(&lines);
        let bar = plain_progress(
            Some(10),
            "scoring",
            Duration::from_millis(50),
            move |line| sink.lock().unwrap().push(line.to_owned()),
        );
        bar.inc(3);
        std::thread::sleep(Duration::from_millis(400));
        bar.finish_and_clear();
        std::thread::sleep(Duration::from_millis(400));
        let lines = lines.lock().unwrap().clone();
        assert_eq!(lines[0], "scoring: started, 10 steps");
        assert!(lines.len() >= 3, "{lines:?}");
        assert!(lines[1].starts_with("scoring: at 3/10, "), "{lines:?}");
        assert!(
            lines.last().unwrap().starts_with("scoring: done "),
            "{lines:?}"
        );
        assert!(lines.iter().all(|l| !l.contains('\u{1b}')), "{lines:?}");
    }
}
