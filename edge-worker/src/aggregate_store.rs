//! The Durable Object that keeps one shop's aggregates for one day.
//!
//! Sharding: one object per `(shop, day)`, named `"{shop}:{day}"`, so each
//! object's load is bounded by a day of one shop's reports and old days are
//! never written again. Storage is the object's SQLite database:
//!
//! - `tallies(metric, cell, count)`: the counters of each metric's cells;
//! - `totals(metric, n)`: reports counted per metric;
//! - `nonces(nonce)`: envelopes already counted today, to drop replays.
//!
//! A report is never stored: ingest turns it into counter increments inside one
//! synchronous block, which the runtime commits atomically together with the
//! nonce, so an envelope is counted exactly once or not at all.

use std::cell::Cell;

use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorageValue, State,
};

/// What the worker sends to `POST /ingest`.
#[derive(Debug, Serialize, Deserialize)]
pub struct IngestRequest {
    /// The envelope's nonce.
    pub nonce: String,
    /// `(metric, cell)` of each report, already validated by the worker.
    pub cells: Vec<(String, u32)>,
}

/// One stored counter.
#[derive(Debug, Serialize, Deserialize)]
pub struct CellCount {
    /// The metric.
    pub metric: String,
    /// The cell.
    pub cell: u32,
    /// How many reports chose it.
    pub count: u64,
}

/// Reports counted for one metric.
#[derive(Debug, Serialize, Deserialize)]
pub struct MetricTotal {
    /// The metric.
    pub metric: String,
    /// The number of reports.
    pub n: u64,
}

/// What `GET /tallies` answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct Tallies {
    /// Envelopes counted.
    pub envelopes: u64,
    /// Reports per metric.
    pub totals: Vec<MetricTotal>,
    /// Every non-zero counter.
    pub cells: Vec<CellCount>,
}

#[derive(Deserialize)]
struct CountRow {
    n: u64,
}

/// One shop-day of aggregates.
#[durable_object]
pub struct AggregateStore {
    state: State,
    schema_ready: Cell<bool>,
}

impl AggregateStore {
    fn ensure_schema(&self) -> Result<()> {
        if self.schema_ready.get() {
            return Ok(());
        }
        let sql = self.state.storage().sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS tallies (metric TEXT NOT NULL, cell INTEGER NOT NULL, \
             count INTEGER NOT NULL, PRIMARY KEY (metric, cell))",
            None,
        )?;
        sql.exec(
            "CREATE TABLE IF NOT EXISTS totals (metric TEXT PRIMARY KEY, n INTEGER NOT NULL)",
            None,
        )?;
        sql.exec(
            "CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY)",
            None,
        )?;
        self.schema_ready.set(true);
        Ok(())
    }

    fn ingest(&self, request: IngestRequest) -> Result<Response> {
        let sql = self.state.storage().sql();
        let nonce = SqlStorageValue::String(request.nonce);
        let seen: Vec<CountRow> = sql
            .exec(
                "SELECT COUNT(*) AS n FROM nonces WHERE nonce = ?",
                vec![nonce.clone()],
            )?
            .to_array()?;
        if seen.first().is_some_and(|row| row.n > 0) {
            return Response::from_json(&serde_json::json!({ "duplicate": true }))
                .map(|r| r.with_status(409));
        }
        // No await from here to the response: the runtime commits these writes
        // together, or none of them.
        sql.exec("INSERT INTO nonces (nonce) VALUES (?)", vec![nonce])?;
        for (metric, cell) in request.cells {
            let metric = SqlStorageValue::String(metric);
            sql.exec(
                "INSERT INTO tallies (metric, cell, count) VALUES (?, ?, 1) \
                 ON CONFLICT (metric, cell) DO UPDATE SET count = count + 1",
                vec![metric.clone(), SqlStorageValue::Integer(i64::from(cell))],
            )?;
            sql.exec(
                "INSERT INTO totals (metric, n) VALUES (?, 1) ON CONFLICT (metric) DO UPDATE SET n = n + 1",
                vec![metric],
            )?;
        }
        Response::from_json(&serde_json::json!({ "duplicate": false }))
    }

    fn tallies(&self) -> Result<Response> {
        let sql = self.state.storage().sql();
        let envelopes: Vec<CountRow> = sql
            .exec("SELECT COUNT(*) AS n FROM nonces", None)?
            .to_array()?;
        let totals: Vec<MetricTotal> = sql
            .exec("SELECT metric, n FROM totals ORDER BY metric", None)?
            .to_array()?;
        let cells: Vec<CellCount> = sql
            .exec(
                "SELECT metric, cell, count FROM tallies ORDER BY metric, cell",
                None,
            )?
            .to_array()?;
        Response::from_json(&Tallies {
            envelopes: envelopes.first().map_or(0, |row| row.n),
            totals,
            cells,
        })
    }
}

impl DurableObject for AggregateStore {
    fn new(state: State, _env: Env) -> Self {
        AggregateStore {
            state,
            schema_ready: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.ensure_schema()?;
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/ingest") => {
                let request: IngestRequest = req.json().await?;
                self.ingest(request)
            }
            (Method::Get, "/tallies") => self.tallies(),
            _ => Response::error("no such aggregate-store operation", 404),
        }
    }
}
