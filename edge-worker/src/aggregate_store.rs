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
//! Only ingest creates the tables. The worker asks the shop's [`DayIndex`]
//! before it reads a day, so a read of a day that never had data creates
//! nothing; a store read anyway finds no table and answers empty tallies.
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
    /// The shop (the store records its day in the shop's [`DayIndex`]).
    pub shop: String,
    /// The day this store counts.
    pub day: u32,
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

/// What `GET /tallies` answers (`Default`: a day that counted nothing).
#[derive(Debug, Default, Serialize, Deserialize)]
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
    env: Env,
    schema_ready: Cell<bool>,
    indexed: Cell<bool>,
}

/// The days of one shop that hold data (one object per shop, named
/// `"{shop}:index"`). The dashboard's read asks it first, so a read of a day
/// without data never instantiates that day's store (which would create its
/// database). Each store adds its own day after its first envelope, and again
/// after any envelope until the index confirms, so a failed call heals itself.
#[durable_object]
pub struct DayIndex {
    state: State,
}

/// `POST /add` and `GET /has` of the [`DayIndex`].
#[derive(Debug, Serialize, Deserialize)]
pub struct DayRequest {
    /// The day.
    pub day: u32,
}

/// Whether the index holds a day.
#[derive(Debug, Serialize, Deserialize)]
pub struct DayKnown {
    /// True when the day has data.
    pub known: bool,
}

/// The name of a shop's [`DayIndex`].
pub fn index_name(shop: &str) -> String {
    format!("{shop}:index")
}

/// The `n` of a `SELECT COUNT(*) AS n …` (the Durable Objects' one way to ask
/// "is there a row"); 0 when it returns no row.
pub(crate) fn count(
    sql: &worker::SqlStorage,
    query: &str,
    bindings: impl Into<Option<Vec<SqlStorageValue>>>,
) -> Result<u64> {
    let rows: Vec<CountRow> = sql.exec(query, bindings)?.to_array()?;
    Ok(rows.first().map_or(0, |row| row.n))
}

fn table_exists(sql: &worker::SqlStorage, name: &str) -> Result<bool> {
    let query = "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?";
    Ok(count(sql, query, vec![SqlStorageValue::String(name.to_string())])? > 0)
}

impl DurableObject for DayIndex {
    fn new(state: State, _env: Env) -> Self {
        DayIndex { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let sql = self.state.storage().sql();
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/add") => {
                let request: DayRequest = req.json().await?;
                sql.exec(
                    "CREATE TABLE IF NOT EXISTS days (day INTEGER PRIMARY KEY)",
                    None,
                )?;
                sql.exec(
                    "INSERT OR IGNORE INTO days (day) VALUES (?)",
                    vec![SqlStorageValue::Integer(i64::from(request.day))],
                )?;
                Response::from_json(&DayKnown { known: true })
            }
            (Method::Post, "/has") => {
                let request: DayRequest = req.json().await?;
                let day = vec![SqlStorageValue::Integer(i64::from(request.day))];
                let known = table_exists(&sql, "days")?
                    && count(&sql, "SELECT COUNT(*) AS n FROM days WHERE day = ?", day)? > 0;
                Response::from_json(&DayKnown { known })
            }
            _ => Response::error("no such day-index operation", 404),
        }
    }
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
        sql.exec(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY)",
            None,
        )?;
        self.schema_ready.set(true);
        Ok(())
    }

    /// Records this store's day in the shop's index until the index has
    /// confirmed it once (kept in the store's own `meta` table).
    async fn index_day(&self, shop: &str, day: u32) -> Result<()> {
        if self.indexed.get() {
            return Ok(());
        }
        let sql = self.state.storage().sql();
        if count(
            &sql,
            "SELECT COUNT(*) AS n FROM meta WHERE key = 'indexed'",
            None,
        )? > 0
        {
            self.indexed.set(true);
            return Ok(());
        }
        let stub = self
            .env
            .durable_object(crate::config::DAY_INDEX_BINDING)?
            .id_from_name(&index_name(shop))?
            .get_stub()?;
        let mut init = worker::RequestInit::new();
        init.with_method(Method::Post)
            .with_body(Some(serde_json::to_string(&DayRequest { day })?.into()));
        let request = Request::new_with_init("https://day-index/add", &init)?;
        let response = stub.fetch_with_request(request).await?;
        if response.status_code() == 200 {
            sql.exec("INSERT OR IGNORE INTO meta (key) VALUES ('indexed')", None)?;
            self.indexed.set(true);
        }
        Ok(())
    }

    fn ingest(&self, request: IngestRequest) -> Result<Response> {
        let sql = self.state.storage().sql();
        let nonce = SqlStorageValue::String(request.nonce);
        if count(
            &sql,
            "SELECT COUNT(*) AS n FROM nonces WHERE nonce = ?",
            vec![nonce.clone()],
        )? > 0
        {
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

    /// Whether this shop-day has ever counted anything, without creating a
    /// table (or, on a day that never had data, a database) to find out.
    fn has_data(&self) -> Result<bool> {
        if self.schema_ready.get() {
            return Ok(true);
        }
        table_exists(&self.state.storage().sql(), "nonces")
    }

    fn tallies(&self) -> Result<Response> {
        if !self.has_data()? {
            return Response::from_json(&Tallies::default());
        }
        let sql = self.state.storage().sql();
        let envelopes = count(&sql, "SELECT COUNT(*) AS n FROM nonces", None)?;
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
            envelopes,
            totals,
            cells,
        })
    }
}

impl DurableObject for AggregateStore {
    fn new(state: State, env: Env) -> Self {
        AggregateStore {
            state,
            env,
            schema_ready: Cell::new(false),
            indexed: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/ingest") => {
                let request: IngestRequest = req.json().await?;
                self.ensure_schema()?;
                let (shop, day) = (request.shop.clone(), request.day);
                let response = self.ingest(request)?;
                // After the envelope's writes are committed: a failure here
                // loses nothing, and the next envelope tries again.
                if response.status_code() == 200 {
                    if let Err(error) = self.index_day(&shop, day).await {
                        crate::log_error(&format!("indexing {shop}:{day}: {error}"));
                    }
                }
                Ok(response)
            }
            (Method::Get, "/tallies") => self.tallies(),
            _ => Response::error("no such aggregate-store operation", 404),
        }
    }
}
