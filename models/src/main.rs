//! `cove-train`: the trainer's command line.
//!
//! - `train --orders FILE --out DIR`: evaluate (OR-LAST-MONTH), then fit every
//!   part on all the data; writes `report.json` and `report.md`.
//! - `evaluate --orders FILE --out DIR [--tune] [--write-split DIR]`: the
//!   evaluation alone, optionally with the ALS grid search on validation and
//!   the split files the Python peers read.
//! - `inspect FILE`: summarises a `report.json` written by `train`.
//! - `train … --publish DIR`: also writes the bundle (`DIR/<model_id>/manifest.json`,
//!   `DIR/<model_id>/tensors.safetensors`) and the pointer `DIR/default.json`
//!   (`--pointer NAME.json` names it otherwise).
//! - `sentiment --reviews FILE --out DIR [--publish DIR]`: the review
//!   sentiment models (two and three classes), their held-out figures, the
//!   split file the sentiment peers read, and the sentiment bundles.
//! - `sentiment-score --bundle DIR --reviews FILE`: held-out reviews scored by
//!   the engine with a published sentiment bundle, as JSON.
//! - `import --factors PATH --orders FILE --out DIR [--publish DIR]`: the
//!   bundle built from item factors fit elsewhere (Spark MLlib's ALS, as
//!   Parquet) instead of Cove's ALS; not evaluated.
//! - `score --bundle DIR_OR_MANIFEST --events FILE.json`: replays engine events
//!   into a profile and prints the engine's segments and ranking as JSON.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use cove_models::als::Confidence;
use cove_models::data::{self, CleaningRules, ColumnMap, OptionalColumn};
use cove_models::dates::DateFormat;
use cove_models::pipeline::{self, Bars, TrainConfig};
use cove_models::{card, dates, engine_eval, export, intent, report};

#[derive(Parser)]
#[command(
    name = "cove-train",
    version,
    about = "Trains and evaluates Cove's models from a shop's order history."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "info")]
    log: String,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate, then train on all data and write the report.
    Train(TrainArgs),
    /// Run the evaluation protocol only.
    Evaluate(TrainArgs),
    /// Build a bundle from item factors fit elsewhere (Spark MLlib's ALS)
    /// and the orders they were fit on; not evaluated.
    Import(ImportArgs),
    /// Summarise a report.json written by `train`.
    Inspect {
        /// A report.json, or the directory holding it.
        file: PathBuf,
    },
    /// Score a shopper's events with a published bundle, through the engine.
    Score(ScoreArgs),
    /// Train and evaluate the review sentiment models (two and three classes).
    Sentiment(cove_models::sentiment::SentimentArgs),
    /// Score held-out reviews with a published sentiment bundle; prints JSON.
    SentimentScore(cove_models::sentiment::ScoreArgs),
    /// Write a seeded, grocery-shaped synthetic shop (gzip CSV in the default
    /// layout) for measuring how the trainer scales.
    Synthesize(SynthesizeArgs),
}

#[derive(Args)]
struct SynthesizeArgs {
    /// Lines to write (at most; the period ends near them).
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Items in the catalogue (a tenth of them launched during the period).
    #[arg(long, default_value_t = 20_000)]
    items: usize,
    /// Customers (default: one per 100 rows).
    #[arg(long)]
    customers: Option<usize>,
    /// Days in the period (from 2017-01-01).
    #[arg(long, default_value_t = 120)]
    days: i64,
    /// Seed of every draw.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The gzip CSV to write.
    #[arg(long)]
    out: PathBuf,
}

fn run_synthesize(args: &SynthesizeArgs) -> anyhow::Result<()> {
    let defaults = cove_models::synthetic::ShopShape::new(args.rows);
    let shape = cove_models::synthetic::ShopShape {
        items: args.items,
        customers: args.customers.unwrap_or(defaults.customers),
        days: args.days,
        seed: args.seed,
        ..defaults
    };
    let summary = cove_models::synthetic::write_csv_gz(shape, &args.out)?;
    println!(
        "Wrote {}: {} rows, {} invoices, {} items ({} launched during the period, {} of the \
         rows), {} customers, {} days from {}, seed {}",
        args.out.display(),
        summary.rows,
        summary.invoices,
        shape.items,
        summary.new_items,
        summary.new_item_rows,
        shape.customers,
        shape.days,
        dates::format_day(shape.first_day),
        shape.seed
    );
    Ok(())
}

#[derive(Args)]
struct ScoreArgs {
    /// A publish directory (its default.json), a bundle directory, or a manifest.json.
    #[arg(long)]
    bundle: PathBuf,
    /// A JSON array of engine events (`{"at": …, "kind": {"type": "view", …}}`); `-` reads stdin.
    #[arg(long)]
    events: PathBuf,
    /// The time of the request, unix seconds (default: the latest event's time, or 0).
    #[arg(long)]
    now: Option<i64>,
    /// How many items to rank.
    #[arg(long, default_value_t = 8)]
    k: usize,
    /// The shopper's country (its trending list, when the bundle has one).
    #[arg(long)]
    country: Option<String>,
}

/// The header names of the input's columns (matched ignoring case); defaults
/// fit UCI Online Retail. Invoice, title and country are optional: a file
/// without the default-named column goes without it, while a column named
/// here must be in the header.
#[derive(Args)]
struct ColumnArgs {
    /// Invoice (order) id column; a leading 'C' marks a cancellation. Optional
    /// (default name InvoiceNo): without it, one customer's lines at one time
    /// are one order.
    #[arg(long, value_name = "NAME")]
    col_invoice: Option<String>,
    /// Product code column.
    #[arg(long, default_value = "StockCode")]
    col_item: String,
    /// Product title column. Optional (default name Description): without it,
    /// the title is the code.
    #[arg(long, value_name = "NAME")]
    col_description: Option<String>,
    /// Quantity column.
    #[arg(long, default_value = "Quantity")]
    col_quantity: String,
    /// Order time column ('YYYY-MM-DD[ HH:MM[:SS]]', also with 'T', or
    /// 'M/D/YYYY[ H:MM]'; a date alone is midnight; see --date-format).
    #[arg(long, default_value = "InvoiceDate")]
    col_date: String,
    /// Unit price column.
    #[arg(long, default_value = "UnitPrice")]
    col_price: String,
    /// Customer id column.
    #[arg(long, default_value = "CustomerID")]
    col_customer: String,
    /// Country column. Optional (default name Country): without it, every row
    /// is --country's.
    #[arg(long, value_name = "NAME")]
    col_country: Option<String>,
    /// The country of every row, for a file without a country column
    /// (default: "unknown").
    #[arg(long)]
    country: Option<String>,
    /// The field delimiter of a CSV: ',', ';', '|', or 'tab' (default:
    /// detected from the header and the first rows among those four).
    #[arg(long, value_parser = parse_delimiter)]
    delimiter: Option<u8>,
    /// The date column's format, strftime-style ('%d/%m/%Y %H:%M',
    /// '%d.%m.%Y'), for day-first or other dates (default: ISO or
    /// M/D/YYYY, read automatically). A format without a time gives midnight.
    #[arg(long, value_name = "FMT", value_parser = parse_date_format)]
    date_format: Option<DateFormat>,
}

/// `--date-format`: a strftime-style format that names a whole date.
fn parse_date_format(text: &str) -> Result<DateFormat, String> {
    DateFormat::strftime(text)
}

/// `--delimiter`: one ASCII character, or `tab` (also `\t` as typed).
fn parse_delimiter(text: &str) -> Result<u8, String> {
    match text {
        "tab" | "TAB" | "\\t" | "\t" => Ok(b'\t'),
        _ if text.len() == 1 && text.is_ascii() && !matches!(text, "\"" | "\n" | "\r") => {
            Ok(text.as_bytes()[0])
        }
        _ => Err(format!(
            "'{text}' is not a delimiter: give one character (',', ';', '|') or 'tab'"
        )),
    }
}

/// The orders file and how to read and clean it (`train`, `evaluate` and
/// `import` read it alike).
#[derive(Args)]
struct OrdersArgs {
    /// The transactions: a CSV (plain or gzip) or a Parquet file (told
    /// apart by their first bytes).
    #[arg(long)]
    orders: PathBuf,
    #[command(flatten)]
    columns: ColumnArgs,
    /// A code with digits that is still not a product (repeatable).
    #[arg(long = "non-product-code")]
    non_product_codes: Vec<String>,
}

/// The purchase-intent model's inputs.
#[derive(Args)]
struct IntentArgs {
    /// Sessions CSV (UCI Online Shoppers layout) for the purchase-intent model.
    #[arg(long)]
    sessions: Option<PathBuf>,
    /// The share of carts the rescue offer goes to: the rescue threshold is
    /// the calibrated risk above which this share of the held-out carts lies
    /// (strictly between 0 and 1).
    #[arg(long, default_value = "0.2", value_name = "SHARE")]
    rescue_share: cove_models::calibration::RescueShare,
}

impl IntentArgs {
    /// The purchase-intent model, when a sessions file was given.
    fn train(&self) -> anyhow::Result<Option<intent::IntentModel>> {
        self.sessions
            .as_deref()
            .map(|path| intent::train_intent_file(path, self.rescue_share))
            .transpose()
    }
}

/// Where the bundle goes and the download budget it is checked against.
#[derive(Args)]
struct BundleArgs {
    /// `train` and `import`: write the bundle and its pointer (`--pointer`,
    /// default `default.json`) into this directory.
    #[arg(long)]
    publish: Option<PathBuf>,
    /// `train` and `import`: the most a device should download for the
    /// bundle (manifest + tensors, gzip -9, bytes); an over-budget bundle is
    /// not published.
    #[arg(long, default_value_t = export::BUNDLE_BUDGET_GZ)]
    bundle_budget: usize,
    /// `train` and `import`: publish a bundle over `--bundle-budget` anyway
    /// (a device would download all of it).
    #[arg(long)]
    allow_over_budget: bool,
    /// Over the budget: the gzip bytes a shard should not pass (a taste
    /// cluster with more is split by direction). Default: an eighth of
    /// `--bundle-budget`.
    #[arg(long)]
    shard_budget: Option<usize>,
    /// Over the budget: how many shards, those nearest the shopper's taste,
    /// a device fetches at most. Default: 4.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    shards_per_visit: Option<u32>,
    /// `train` and `import`: the name of the pointer file written into
    /// `--publish` (a storefront names it, `/v1/bundles/<name>`).
    #[arg(long, default_value = export::DEFAULT_POINTER, value_parser = pointer_name)]
    pointer: String,
}

impl BundleArgs {
    /// How a head's shards are sized and fetched: the flags, or the default
    /// for the budget.
    fn shard_policy(&self) -> cove_models::shards::ShardPolicy {
        let default = cove_models::shards::ShardPolicy::for_budget(self.bundle_budget);
        cove_models::shards::ShardPolicy {
            shard_budget: self.shard_budget.unwrap_or(default.shard_budget).max(1),
            shards_per_visit: self.shards_per_visit.unwrap_or(default.shards_per_visit),
        }
    }
}

/// `--pointer`, refused at once when it is not a plain `*.json` file name.
fn pointer_name(name: &str) -> Result<String, String> {
    export::check_pointer_name(name)
        .map(|()| name.to_string())
        .map_err(|e| e.to_string())
}

/// `import`: the factors, the orders, and how the device's fold-in and
/// blend are set for factors Cove did not fit.
#[derive(Args)]
struct ImportArgs {
    /// The item factors: a Parquet file, or a directory of part-*.parquet
    /// files as Spark's `model.itemFactors.write.parquet(PATH)` writes them.
    #[arg(long, value_name = "PATH")]
    factors: PathBuf,
    /// The factors' item id column: an integer or a string (the shop's item
    /// code).
    #[arg(long, default_value = "id", value_name = "NAME")]
    factors_id_column: String,
    /// The factors' vector column: a LIST of FLOAT or DOUBLE.
    #[arg(long, default_value = "features", value_name = "NAME")]
    factors_column: String,
    #[command(flatten)]
    input: OrdersArgs,
    /// Output directory for the report and the model card.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    intent: IntentArgs,
    /// The ALS regularisation the factors were fit with (Spark's regParam;
    /// default Spark's, 0.1). The bundle's λ is it times the median number
    /// of distinct items a customer bought (Spark scales λ per user).
    #[arg(long, value_name = "REG_PARAM")]
    regularization: Option<f64>,
    /// Spark's implicit-ALS alpha (confidence 1 + alpha·r, r the rating:
    /// taken to be the count of purchase lines; default Spark's, 1.0).
    #[arg(long)]
    alpha: Option<f64>,
    /// The blend, session and neighbour-list weights from this parameters
    /// file (models/default-params.toml holds Online Retail's); its [als]
    /// section and alpha_scale are not used. Without it, the engine's
    /// default weights.
    #[arg(long)]
    params: Option<PathBuf>,
    /// Seed of every random step (the taste clusters' k-means).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    bundle: BundleArgs,
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    input: OrdersArgs,
    /// Output directory for the report.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    intent: IntentArgs,
    /// First day of the test period, YYYY-MM-DD (default: derived from the
    /// data, the last tenth of its span, 7 to 30 days before its last day).
    #[arg(long)]
    cutoff: Option<String>,
    /// Search the ALS grid on the validation split (about 108 fits).
    #[arg(long)]
    tune: bool,
    /// Write the test and validation splits here for the peers.
    #[arg(long)]
    write_split: Option<PathBuf>,
    /// Latent dimension.
    #[arg(long)]
    factors: Option<usize>,
    /// L2 regularization λ.
    #[arg(long)]
    regularization: Option<f32>,
    /// Confidence slope α in c = base + α·ln(1 + x/ε).
    #[arg(long)]
    alpha: Option<f32>,
    /// Confidence base in c = base + α·ln(1 + x/ε).
    #[arg(long)]
    confidence_base: Option<f32>,
    /// ALS iterations.
    #[arg(long)]
    iterations: Option<usize>,
    /// Half-life of a purchase's weight in days; 0 disables decay.
    #[arg(long)]
    half_life: Option<f32>,
    /// Seed of every random step.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    #[command(flatten)]
    bundle: BundleArgs,
    /// `evaluate` only: also score the head and shards a bundle over
    /// `--bundle-budget` would be split into (the whole bundle, the head
    /// alone, the head with each shopper's shards; tasks A and B), and write
    /// shards.json and shards.md.
    #[arg(long)]
    shards: bool,
    /// `train` only: a peers.json from models/peers/peers.py for the model card.
    #[arg(long)]
    peers: Option<PathBuf>,
    /// `train` only: a session_peers.json from models/peers/session_peers.py
    /// (OR-SESSION) for the model card.
    #[arg(long)]
    session_peers: Option<PathBuf>,
    /// `train` only: choose the engine's ranking parameters on the validation
    /// split, print what was found and stop, without scoring the test period
    /// or writing a bundle (for trying things on validation only).
    #[arg(long)]
    validation_only: bool,
    /// Take the ALS and ranking parameters from this file
    /// (models/default-params.toml): `train` does not search them on
    /// validation; `evaluate` scores the engine's blend with them (without
    /// it, with the engine's default weights).
    #[arg(long, conflicts_with_all = ["write_params", "tune"])]
    params: Option<PathBuf>,
    /// `train` only: search the parameters on validation, score the test
    /// period once, and write the choice with both sets of figures here
    /// (`cargo xtask tune`).
    #[arg(long, conflicts_with = "validation_only")]
    write_params: Option<PathBuf>,
}

impl TrainArgs {
    /// The `--cutoff` day, if given.
    fn cutoff(&self) -> anyhow::Result<Option<i64>> {
        self.cutoff
            .as_deref()
            .map(|text| {
                dates::parse_day(text)
                    .with_context(|| format!("--cutoff '{text}' is not a date YYYY-MM-DD"))
            })
            .transpose()
    }

    /// The settings; the cut-off is [`TrainConfig`]'s default until
    /// [`choose_cutoff`] sets it from the data.
    fn config(&self) -> anyhow::Result<TrainConfig> {
        self.cutoff()?;
        let mut config = TrainConfig {
            tune: self.tune,
            seed: self.seed,
            ..TrainConfig::default()
        };
        config.als.seed = self.seed;
        config.als.threads = self.threads;
        if let Some(v) = self.factors {
            config.als.factors = v;
        }
        if let Some(v) = self.regularization {
            config.als.regularization = v;
        }
        if let Some(v) = self.iterations {
            config.als.iterations = v;
        }
        let c: &mut Confidence = &mut config.als.confidence;
        if let Some(v) = self.alpha {
            c.alpha = v;
        }
        if let Some(v) = self.confidence_base {
            c.base = v;
        }
        if let Some(v) = self.half_life {
            config.half_life_days = (v > 0.0).then_some(v);
        }
        config.als.validate()?;
        Ok(config)
    }
}

impl OrdersArgs {
    /// The orders file's name, for the report.
    fn source(&self) -> String {
        self.orders.file_name().map_or_else(
            || self.orders.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    fn columns(&self) -> ColumnMap {
        let c = &self.columns;
        let defaults = ColumnMap::default();
        let optional = |given: &Option<String>, default: OptionalColumn| {
            given.as_deref().map_or(default, OptionalColumn::named)
        };
        ColumnMap {
            invoice: optional(&c.col_invoice, defaults.invoice),
            item: c.col_item.clone(),
            description: optional(&c.col_description, defaults.description),
            quantity: c.col_quantity.clone(),
            date: c.col_date.clone(),
            unit_price: c.col_price.clone(),
            customer: c.col_customer.clone(),
            country: optional(&c.col_country, defaults.country),
            default_country: c.country.clone(),
            delimiter: c.delimiter,
            date_format: c.date_format.clone().unwrap_or_default(),
        }
    }
}

/// Sets `config.cutoff_day` from `--cutoff` or the data, checked against
/// the data's span, and says which.
fn choose_cutoff(
    args: &TrainArgs,
    data: &data::Transactions,
    config: &mut TrainConfig,
) -> anyhow::Result<()> {
    let (cutoff_day, how) = pipeline::choose_cutoff(data, args.cutoff()?, config.validation_days)?;
    config.cutoff_day = cutoff_day;
    println!(
        "Test period from {} ({how}); validation: the {} days before it",
        dates::format_day(cutoff_day),
        config.validation_days
    );
    Ok(())
}

fn read_orders(args: &OrdersArgs, bars: Bars) -> anyhow::Result<data::Transactions> {
    let spinner = bars.spinner(&format!("reading {} (rows)", args.orders.display()));
    let rules = CleaningRules {
        extra_non_product_codes: args.non_product_codes.clone(),
    };
    let data = data::read_transactions_file(&args.orders, &args.columns(), &rules, |n| {
        if n % 10_000 == 0 {
            spinner.set_position(n);
            spinner.tick();
        }
    })?;
    spinner.finish_and_clear();
    println!(
        "Cleaning ({}; {}):\n{}",
        args.orders.display(),
        data.report.source,
        data.report
    );
    for bad in &data.report.unparsable_examples {
        tracing::warn!(
            unit = ?bad.unit,
            line = bad.line,
            column = %bad.column,
            value = %bad.value,
            "skipped a row: value is not {}",
            bad.reason
        );
    }
    anyhow::ensure!(
        !data.purchases.is_empty(),
        "no rows left after cleaning; check the column mapping and the rules above"
    );
    Ok(data)
}

fn run_evaluate(args: &TrainArgs, bars: Bars) -> anyhow::Result<()> {
    let start = Instant::now();
    anyhow::ensure!(
        args.bundle.publish.is_none() && args.peers.is_none(),
        "--publish and --peers belong to `train`"
    );
    let mut config = args.config()?;
    let weights_from = match &args.params {
        Some(path) => {
            let file = cove_models::params::ParamsFile::read(path)?;
            file.apply(&mut config)?;
            format!("the parameters in {}", path.display())
        }
        None => "the engine's default weights (train searches them)".to_owned(),
    };
    let data = read_orders(&args.input, bars)?;
    choose_cutoff(args, &data, &mut config)?;
    let evaluation = pipeline::evaluate(&data, &mut config, bars, args.write_split.as_deref())?;
    if evaluation.n_eval_users == 0 {
        tracing::warn!("no customer bought in both periods: the metrics are empty; move --cutoff");
    }
    // Cove's whole blend, scored through the engine on the test period
    // with the given weights (no validation search: that is `train`'s).
    let engine =
        engine_eval::evaluate_through_engine(&data, &mut config, &evaluation, bars, false, true)?;
    std::fs::create_dir_all(&args.out)?;
    let mut json = report::evaluation_json(&evaluation);
    json["engine_path"] = serde_json::to_value(&engine)?;
    std::fs::write(
        args.out.join("evaluation.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    let table = format!(
        "{}\nCove's blend through the engine, with {weights_from}:\n\n{}",
        report::metrics_table(&evaluation),
        engine_eval::table(&engine)
    );
    std::fs::write(args.out.join("evaluation.md"), &table)?;
    println!("{table}");
    if args.shards {
        let shards = cove_models::shard_eval::evaluate_shards(
            &data,
            &config,
            &evaluation,
            bars,
            args.bundle.bundle_budget,
            args.bundle.shard_policy(),
        )?;
        let text = cove_models::shard_eval::table(&shards);
        std::fs::write(
            args.out.join("shards.json"),
            serde_json::to_string_pretty(&shards)?,
        )?;
        std::fs::write(args.out.join("shards.md"), &text)?;
        println!("{text}");
    }
    println!(
        "{}; evaluation took {:.1} s; wrote {}",
        evaluation.users_scored(),
        start.elapsed().as_secs_f64(),
        args.out.join("evaluation.json").display()
    );
    Ok(())
}

fn run_train(args: &TrainArgs, bars: Bars) -> anyhow::Result<()> {
    let start = Instant::now();
    anyhow::ensure!(!args.shards, "--shards belongs to `evaluate`");
    let mut config = args.config()?;
    let params_file = match &args.params {
        Some(path) => {
            let file = cove_models::params::ParamsFile::read(path)?;
            file.apply(&mut config)?;
            println!("Parameters from {} ({})", path.display(), file.provenance);
            Some(file)
        }
        None => None,
    };
    let data = read_orders(&args.input, bars)?;
    choose_cutoff(args, &data, &mut config)?;
    let evaluation = pipeline::evaluate(&data, &mut config, bars, args.write_split.as_deref())?;
    let intent_model = args.intent.train()?;
    let source = args.input.source();
    let engine = engine_eval::evaluate_through_engine(
        &data,
        &mut config,
        &evaluation,
        bars,
        params_file.is_none(),
        !args.validation_only,
    )?;
    if let Some(validation) = &engine.validation {
        println!("{}", engine_eval::validation_table(validation));
        println!("{}", engine_eval::baselines_paragraph(validation));
    }
    if args.validation_only {
        std::fs::create_dir_all(&args.out)?;
        let path = args.out.join("engine_validation.json");
        std::fs::write(&path, serde_json::to_string_pretty(&engine)?)?;
        println!(
            "Validation only: the test period was not scored; wrote {}",
            path.display()
        );
        return Ok(());
    }
    println!(
        "In-session tasks through the engine (test):\n{}",
        cove_models::session_eval::table(&engine.session_rows)
    );
    if let Some(path) = &args.write_params {
        let file = cove_models::params::ParamsFile::from_config(
            &config,
            format!(
                "validation search of cove-train {} on {} (cut-off {}, {} validation days, seed {})",
                env!("CARGO_PKG_VERSION"),
                source,
                dates::format_day(config.cutoff_day),
                config.validation_days,
                args.seed
            ),
            cove_models::params::file_sha256(&args.input.orders)?,
            engine_eval::validation_figures(&engine),
            engine_eval::test_figures(&engine),
        );
        file.write(path)?;
        println!(
            "Wrote the chosen parameters and their figures to {}",
            path.display()
        );
    }
    // The committed file records the test figures its parameters gave; a
    // build that does not reproduce them fails (data, cleaning or trainer
    // changed: rerun `cargo xtask tune` and review the new figures).
    let other_data = match params_file
        .as_ref()
        .and_then(|file| file.orders_sha256.as_ref())
    {
        Some(recorded) => *recorded != cove_models::params::file_sha256(&args.input.orders)?,
        None => false,
    };
    if other_data {
        println!(
            "The parameters file was tuned on other data: its test figures are not checked on \
             this shop's (train without --params to search parameters on this data)"
        );
    }
    if let Some(file) = params_file.as_ref().filter(|_| !other_data) {
        let found = engine_eval::test_figures(&engine);
        for (task, expected) in &file.test_ndcg_at_10 {
            let got = found.get(task).copied();
            anyhow::ensure!(
                got.is_some_and(|f| (f - expected).abs() <= 1.5e-4),
                "{}: test_ndcg_at_10.{task} = {expected} is not reproduced (got {got:?}); the \
                 data, the cleaning or the trainer changed since the file was written: rerun \
                 `cargo xtask tune` and review the new figures",
                args.params.as_deref().unwrap_or(Path::new("?")).display()
            );
        }
        println!(
            "The parameters file's test figures are reproduced: {:?}",
            file.test_ndcg_at_10
        );
    }
    let model = pipeline::train(&data, &config, evaluation, intent_model, &source, bars)?;
    bars.step("report", || {
        report::write_model_report(&model, &engine.ndcg_by_history, &args.out)
    })?;
    if let Some(evaluation) = model.evaluation() {
        println!("{}", report::metrics_table(evaluation));
    }
    println!(
        "Through the engine (train-split bundle {}, {:.1} s):\n{}",
        engine.model_id,
        engine.seconds,
        engine_eval::table(&engine)
    );
    let peers = args.peers.as_deref().map(read_json).transpose()?;
    let session_peers = args.session_peers.as_deref().map(read_json).transpose()?;
    write_bundle(
        &model,
        Some(&engine),
        (peers.as_ref(), session_peers.as_ref()),
        &args.out,
        &args.bundle,
        "fewer --factors or a smaller catalogue shrink it",
    )?;
    println!(
        "Trained in {:.1} s (final fit {:.1} s); wrote {} and {}",
        start.elapsed().as_secs_f64(),
        model.fit_seconds,
        args.out.join("report.json").display(),
        args.out.join("report.md").display()
    );
    Ok(())
}

/// Builds the bundle of `model`, writes its notes and the model card into
/// `out`, prints its size against the device budget, and publishes it
/// (refused over budget unless allowed). `engine` is the engine-path
/// evaluation (`train`); imported factors have none. `shrink` says how to
/// make an over-budget bundle smaller.
fn write_bundle(
    model: &pipeline::TrainedModel,
    engine: Option<&engine_eval::EngineEvaluation>,
    (peers, session_peers): (Option<&serde_json::Value>, Option<&serde_json::Value>),
    out: &Path,
    args: &BundleArgs,
    shrink: &str,
) -> anyhow::Result<()> {
    let metrics = engine.map(engine_eval::metric_entries).unwrap_or_default();
    let (builder, notes) = export::builder(model, &metrics)?;
    let whole = builder
        .build()
        .map_err(|e| anyhow::anyhow!("the engine refused the bundle: {e}"))?;
    let whole_sizes = export::measure(&whole);
    println!(
        "Bundle {}: manifest {} B ({} B gzip), tensors {} B ({} B gzip); {} B gzip of the {} B \
         on-device budget: {}",
        whole.model_id,
        whole_sizes.manifest_bytes,
        whole_sizes.manifest_gzip_bytes,
        whole_sizes.tensors_bytes,
        whole_sizes.tensors_gzip_bytes,
        whole_sizes.total_gzip_bytes(),
        args.bundle_budget,
        if whole_sizes.within(args.bundle_budget) {
            "within"
        } else {
            "OVER"
        }
    );
    // Over the budget: a head within it and shards, unless one bundle is
    // asked for.
    let split = if whole_sizes.within(args.bundle_budget) || args.allow_over_budget {
        None
    } else {
        let (sharded, summary) = cove_models::shards::fit_head(
            model,
            &builder,
            whole_sizes.total_gzip_bytes(),
            args.bundle_budget,
            args.shard_policy(),
        )
        .with_context(|| {
            format!(
                "the bundle is over the budget and no head within it can be split off; not \
                 published ({shrink}; --allow-over-budget publishes one bundle anyway)"
            )
        })?;
        let gz: Vec<usize> = summary.shards.iter().map(|s| s.gzip_bytes).collect();
        println!(
            "Head {}: {} of {} items, {} B gzip (within the {} B budget); {} shards by taste \
             (clusters past {} B split by direction), {} to {} B gzip each ({} B in all); a device \
             fetches at most the {} nearest its taste",
            sharded.head.model_id,
            summary.head_items,
            model.items.len(),
            summary.head_gzip_bytes,
            args.bundle_budget,
            summary.shards.len(),
            summary.policy.shard_budget,
            gz.iter().min().copied().unwrap_or(0),
            gz.iter().max().copied().unwrap_or(0),
            gz.iter().sum::<usize>(),
            summary.policy.shards_per_visit,
        );
        Some((sharded, summary))
    };
    let (bundle, shards, item_index) = match &split {
        Some((sharded, _)) => (
            &sharded.head,
            sharded.shards.as_slice(),
            sharded.item_index.as_slice(),
        ),
        None => (&whole, &[][..], &[][..]),
    };
    let sizes = export::measure(bundle);
    let shard_notes = split.as_ref().map(|(_, summary)| summary);
    let (notes_file, notes_json) = match engine {
        Some(engine) => (
            "engine_evaluation.json",
            serde_json::json!({
                "engine_evaluation": engine,
                "export": notes,
                "bundle": { "model_id": bundle.model_id, "sizes": sizes },
            }),
        ),
        None => (
            "export.json",
            serde_json::json!({
                "export": notes,
                "bundle": { "model_id": bundle.model_id, "sizes": sizes },
            }),
        ),
    };
    let mut notes_json = notes_json;
    if let Some(summary) = shard_notes {
        notes_json["bundle"]["shards"] = serde_json::to_value(summary)?;
        notes_json["bundle"]["whole_bundle"] = serde_json::json!({
            "model_id": whole.model_id, "sizes": whole_sizes,
        });
    }
    std::fs::write(
        out.join(notes_file),
        serde_json::to_string_pretty(&notes_json)?,
    )?;
    let mut card = card::model_card(
        model,
        &bundle.model_id,
        engine,
        &notes,
        &sizes,
        peers,
        session_peers,
    );
    if let Some(summary) = shard_notes {
        card.push_str(&cove_models::shards::card_section(summary));
    }
    std::fs::write(out.join("MODEL_CARD.md"), card)?;
    if args.publish.is_some() && !sizes.within(args.bundle_budget) && !args.allow_over_budget {
        anyhow::bail!(
            "the bundle is {} B gzip, over the {} B a device should download; not published \
             ({shrink}; --allow-over-budget publishes it anyway)",
            sizes.total_gzip_bytes(),
            args.bundle_budget
        );
    }
    if let Some(dir) = &args.publish {
        let published =
            export::publish_with_shards(bundle, shards, item_index, dir, &args.pointer)?;
        println!(
            "Published {} and {}{}; pointer {}",
            published.manifest_path.display(),
            published.tensors_path.display(),
            if shards.is_empty() {
                String::new()
            } else {
                format!(" with {} shards beside them", shards.len())
            },
            published.pointer_path.display()
        );
    }
    Ok(())
}

/// `import`: reads the orders as `train` does, reads and checks the factors,
/// keeps the items that have both, and builds every other part of the
/// bundle from them with `pipeline::train_with_factors`.
fn run_import(args: &ImportArgs, bars: Bars) -> anyhow::Result<()> {
    use cove_models::import::{self, FactorColumns, FoldIn, ImportSummary};
    let start = Instant::now();
    let mut config = TrainConfig {
        seed: args.seed,
        ..TrainConfig::default()
    };
    let weights_from = match &args.params {
        Some(path) => {
            let file = cove_models::params::ParamsFile::read(path)?;
            file.apply(&mut config)?;
            format!(
                "from {} ({}), chosen for that file's data and factors",
                path.display(),
                file.provenance
            )
        }
        None => "the engine's defaults (no --params)".to_owned(),
    };
    // The fold-in's α is Spark's (`FoldIn`), not a scale of Cove's ALS
    // confidence; no ALS runs, so its settings and decay describe nothing.
    config.engine.alpha_scale = 1.0;
    config.half_life_days = None;
    let data = read_orders(&args.input, bars)?;
    let columns = FactorColumns {
        id: args.factors_id_column.clone(),
        features: args.factors_column.clone(),
    };
    let factors = import::read_factors(&args.factors, &columns)?;
    println!(
        "Factors: {} rows of dimension {} from {} file{} in {} (id {}, values {})",
        factors.ids.len(),
        factors.dim,
        factors.files.len(),
        if factors.files.len() == 1 { "" } else { "s" },
        args.factors.display(),
        factors.id_type,
        factors.value_type
    );
    let matched = import::match_orders(&data, &factors)?;
    let fold_in = FoldIn::spark(args.regularization, args.alpha, &matched.data)?;
    let summary = ImportSummary::new(
        &args.factors,
        &factors,
        &matched.counts,
        fold_in,
        weights_from,
    );
    println!("{}", summary.paragraph());
    for note in &summary.fold_in.notes {
        println!("- {note}");
    }
    let intent_model = args.intent.train()?;
    let item_factors = pipeline::ItemFactors {
        dim: factors.dim,
        values: matched.values,
        origin: pipeline::FactorOrigin::Imported(summary),
    };
    let model = pipeline::train_with_factors(
        &matched.data,
        &config,
        item_factors,
        intent_model,
        &args.input.source(),
        bars,
    )?;
    report::write_model_report(&model, &[], &args.out)?;
    println!(
        "{}: the factors were fit outside Cove on all the data; no figures.",
        report::capitalised(import::NOT_EVALUATED)
    );
    write_bundle(
        &model,
        None,
        (None, None),
        &args.out,
        &args.bundle,
        "factors of a lower rank or a smaller catalogue shrink it",
    )?;
    println!(
        "Imported in {:.1} s; wrote {} and {}",
        start.elapsed().as_secs_f64(),
        args.out.join("report.json").display(),
        args.out.join("MODEL_CARD.md").display()
    );
    Ok(())
}

/// A JSON file given on the command line (the peers' results).
fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn run_inspect(file: &Path) -> anyhow::Result<()> {
    let path = if file.is_dir() {
        file.join("report.json")
    } else {
        file.to_owned()
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let data = value
        .get("data")
        .with_context(|| format!("{} is not a report.json written by `train`", path.display()))?;
    println!(
        "data: {} ({} to {}), {} customers, {} items",
        data["source"], data["first_day"], data["last_day"], data["n_customers"], data["n_items"]
    );
    println!(
        "dim: {}, engine weights: {}",
        value["dim"], value["config"]["engine"]
    );
    if let Some(rows) = value["evaluation"]["rows"].as_array() {
        for row in rows {
            println!(
                "{:>2} {:<45} NDCG@10 {:.4}  HR@10 {:.4}  Recall@20 {:.4}",
                row["task"].as_str().unwrap_or("?"),
                row["model"].as_str().unwrap_or("?"),
                row["metrics"]["ndcg_at_10"].as_f64().unwrap_or(f64::NAN),
                row["metrics"]["hr_at_10"].as_f64().unwrap_or(f64::NAN),
                row["metrics"]["recall_at_20"].as_f64().unwrap_or(f64::NAN),
            );
        }
    }
    Ok(())
}

/// Replays the events into a profile with the bundle's `ProfileConfig`
/// (`Model::profile_config`, as the browser does) and prints `{"model_id", "segments", "ranking"}`. A refused
/// event is skipped (as the device skips it), named on stderr, and makes the
/// exit status 1 after the output is printed.
fn run_score(args: &ScoreArgs) -> anyhow::Result<bool> {
    use cove_engine::events::Event;
    use cove_engine::profile::Profile;
    use cove_engine::ranking::{self, RankRequest};
    if let Some(now) = args.now {
        anyhow::ensure!(
            (0..=cove_engine::events::MAX_TIME).contains(&now),
            "--now {now} is not a unix time in 0..={}",
            cove_engine::events::MAX_TIME
        );
    }
    let model = export::load_published(&args.bundle)?;
    let text = if args.events.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        text
    } else {
        std::fs::read_to_string(&args.events)
            .with_context(|| format!("reading {}", args.events.display()))?
    };
    let cove_engine::json::Value::Array(values) = cove_engine::json::parse(text.as_bytes())
        .with_context(|| format!("{} is not JSON", args.events.display()))?
    else {
        anyhow::bail!("{} is not a JSON array", args.events.display());
    };
    let config = model.profile_config().clone();
    let mut profile = Profile::new();
    let mut all_applied = true;
    for (index, value) in values.into_iter().enumerate() {
        let applied = Event::from_value(value)
            .map_err(|e| e.to_string())
            .and_then(|event| profile.apply(&event, &config).map_err(|e| e.to_string()));
        if let Err(message) = applied {
            all_applied = false;
            eprintln!("event {index} refused: {message}");
        }
    }
    let now = args.now.or(profile.latest_at).unwrap_or(0);
    let segments = cove_engine::segments::classify(&model, &profile, &config, now);
    let request = RankRequest {
        k: args.k,
        now,
        country: args.country.clone(),
        ..RankRequest::default()
    };
    let ranking = ranking::recommend(&model, &profile, &config, &request)
        .map_err(|e| anyhow::anyhow!("ranking failed: {e}"))?;
    println!(
        "{}",
        serde_json::json!({
            "model_id": model.model_id(),
            "segments": segments,
            "ranking": ranking,
        })
    );
    Ok(all_applied)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&cli.log))
        .context("--log is not a valid filter")?;
    // Colour codes only on a terminal: a log file gets plain text.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    let bars = Bars::for_stderr();
    let start = Instant::now();
    let result = match &cli.command {
        Command::Train(args) => run_train(args, bars),
        Command::Evaluate(args) => run_evaluate(args, bars),
        Command::Import(args) => run_import(args, bars),
        Command::Inspect { file } => run_inspect(file),
        Command::Sentiment(args) => cove_models::sentiment::run(args).map(|_| ()),
        Command::SentimentScore(args) => {
            let scored = cove_models::sentiment::score(args)?;
            println!("{}", serde_json::to_string(&scored)?);
            Ok(())
        }
        Command::Synthesize(args) => run_synthesize(args),
        Command::Score(args) => {
            if !run_score(args)? {
                std::process::exit(1);
            }
            Ok(())
        }
    };
    // One plain line at the end, so a scaling curve needs no other tool.
    eprintln!("{}", pipeline::resources_line(start.elapsed()));
    result
}
