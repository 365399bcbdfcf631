//! Cove's trainer library: turns a shop's order history into the parts of a model
//! bundle the engine loads, and measures them honestly.
//!
//! The pipeline, one module per step:
//!
//! - [`data`]: reads a transactions CSV (plain or gzip) or Parquet file through a
//!   [`data::ColumnMap`], drops dirty rows by stated rules ([`data::DropRule`])
//!   and counts each rule.
//! - [`interactions`]: the sparse user × item matrix.
//! - [`als`]: implicit-feedback ALS with conjugate gradient, giving item factors
//!   and the Gram matrix the device needs to fold a shopper in.
//! - [`eval`]: the OR-LAST-MONTH temporal protocol, its metrics, and the
//!   baselines; [`session`] the in-session protocol OR-SESSION (tasks C, D, E); [`engine_scorer`] scores factors with the engine's own fold-in
//!   and [`engine_eval`] scores a written bundle with the engine's ranking.
//! - [`neighbours`] ("similar", "bought together", trending per country),
//!   [`segments`] (taste clusters, price tiers, lifecycle, propensity) and
//!   [`intent`] (purchase intent from session features), with [`classify`];
//!   [`calibration`] calibrates the abandonment risk on held-out sessions and
//!   sets the rescue threshold from the share of carts to be offered.
//! - [`sentiment`]: the on-device review sentiment model (`cove-train
//!   sentiment`), on the engine's own text featurizer.
//! - [`synthetic`]: a seeded grocery-shaped shop of any size (`cove-train
//!   synthesize`), for measuring how the trainer scales.
//! - [`pipeline`]: `evaluate` and `train` end to end, producing one
//!   [`pipeline::TrainedModel`], the value the engine's bundle builder will
//!   serialise; [`report`] writes the JSON and Markdown reports.
//! - [`import`]: item factors fit elsewhere (Spark MLlib's ALS, written as
//!   Parquet) in place of the ALS step (`cove-train import`); everything
//!   after that step is `pipeline`'s, unchanged.
//!
//! Key decision: the trainer has no scorer of its own and never uses trained
//! user factors. Each test user's train orders are replayed as engine events,
//! folded in and ranked by `cove_engine`, so the measured numbers are those a
//! browser gets.
#![deny(missing_docs)]

pub mod als;
pub mod calibration;
pub mod card;
pub mod classify;
pub mod data;
pub mod dates;
pub mod engine_eval;
pub mod engine_scorer;
pub mod eval;
pub mod export;
pub mod import;
pub mod intent;
pub mod interactions;
pub mod neighbours;
pub mod params;
pub mod pipeline;
pub mod random;
pub mod report;
pub mod segments;
pub mod sentiment;
pub mod session;
pub mod session_eval;
pub mod shard_eval;
pub mod shards;
pub mod synthetic;
