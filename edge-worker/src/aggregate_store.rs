//! The Durable Object that keeps one shop's aggregates for one day.
//!
//! Sharding: one object per `(shop, day)`, named `"{shop}:{day}"`, so each
//! object's load is bounded by a day of one shop's reports and old days are
//! never written again. Storage is the object's SQLite database:
//!
//! - `tallies(metric, country, cell, count)`: the counters of each metric's
//!   cells, for the whole shop (`country` empty) or for the requests from one
//!   country (see `trending.rs`);
//! - `totals(metric, country, n)`: reports counted per metric and country;
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
    /// The counters each report increments, already validated by the worker.
    pub cells: Vec<Counter>,
}

/// Which counter a report increments: a metric's cell, for the whole shop or
/// for one country.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// The metric.
    pub metric: String,
    /// The request's country (a two-letter code or `other`) for a
    /// per-country counter; `None` for the whole shop.
    pub country: Option<String>,
    /// The cell.
    pub cell: u32,
}

/// One stored counter.
#[derive(Debug, Serialize, Deserialize)]
pub struct CellCount {
    /// The metric.
    pub metric: String,
    /// The country of a per-country counter; `None` for the whole shop.
    pub country: Option<String>,
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
    /// The country of a per-country total; `None` for the whole shop.
    pub country: Option<String>,
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
    /// Whether this instance has checked its counters' layout
    /// ([`move_country_suffix_to_column`]): once per instance, not per read.
    country_column: Cell<bool>,
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

/// The counters' columns (`country` is empty for the whole shop: a primary
/// key treats NULLs as distinct, so an upsert needs a value).
const TALLIES_COLUMNS: &str = "(metric TEXT NOT NULL, country TEXT NOT NULL, \
     cell INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (metric, country, cell))";
/// The totals' columns.
const TOTALS_COLUMNS: &str = "(metric TEXT NOT NULL, country TEXT NOT NULL, \
     n INTEGER NOT NULL, PRIMARY KEY (metric, country))";

/// Stores written before the country became a column counted the requests
/// from one country under the metric name `item.interest@CC`. This moves those
/// counters to the column, once, inside one synchronous block (which the
/// runtime commits together, or not at all): nothing is lost or counted twice.
fn move_country_suffix_to_column(sql: &worker::SqlStorage) -> Result<()> {
    #[derive(Deserialize)]
    struct Definition {
        sql: String,
    }
    let definitions: Vec<Definition> = sql
        .exec(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name IN ('tallies', 'totals')",
            None,
        )?
        .to_array()?;
    if definitions.iter().all(|d| d.sql.contains("country")) {
        return Ok(());
    }
    let metric = "CASE WHEN instr(metric, '@') > 0 \
         THEN substr(metric, 1, instr(metric, '@') - 1) ELSE metric END";
    let country = "CASE WHEN instr(metric, '@') > 0 \
         THEN substr(metric, instr(metric, '@') + 1) ELSE '' END";
    for (table, columns, values) in [
        ("tallies", TALLIES_COLUMNS, "cell, count"),
        ("totals", TOTALS_COLUMNS, "n"),
    ] {
        sql.exec(&format!("CREATE TABLE {table}_by_country {columns}"), None)?;
        sql.exec(
            &format!(
                "INSERT INTO {table}_by_country SELECT {metric}, {country}, {values} FROM {table}"
            ),
            None,
        )?;
        sql.exec(&format!("DROP TABLE {table}"), None)?;
        sql.exec(
            &format!("ALTER TABLE {table}_by_country RENAME TO {table}"),
            None,
        )?;
    }
    Ok(())
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
        self.with_country_column(&sql)?;
        sql.exec(
            &format!("CREATE TABLE IF NOT EXISTS tallies {TALLIES_COLUMNS}"),
            None,
        )?;
        sql.exec(
            &format!("CREATE TABLE IF NOT EXISTS totals {TOTALS_COLUMNS}"),
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

    /// Moves an old store's per-country counters to the column, the first
    /// time this instance touches its tables.
    fn with_country_column(&self, sql: &worker::SqlStorage) -> Result<()> {
        if !self.country_column.get() {
            move_country_suffix_to_column(sql)?;
            self.country_column.set(true);
        }
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
        for counter in request.cells {
            let metric = SqlStorageValue::String(counter.metric);
            let country = SqlStorageValue::String(counter.country.unwrap_or_default());
            sql.exec(
                "INSERT INTO tallies (metric, country, cell, count) VALUES (?, ?, ?, 1) \
                 ON CONFLICT (metric, country, cell) DO UPDATE SET count = count + 1",
                vec![
                    metric.clone(),
                    country.clone(),
                    SqlStorageValue::Integer(i64::from(counter.cell)),
                ],
            )?;
            sql.exec(
                "INSERT INTO totals (metric, country, n) VALUES (?, ?, 1) \
                 ON CONFLICT (metric, country) DO UPDATE SET n = n + 1",
                vec![metric, country],
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
        self.with_country_column(&sql)?;
        let envelopes = count(&sql, "SELECT COUNT(*) AS n FROM nonces", None)?;
        let totals: Vec<MetricTotal> = sql
            .exec(
                "SELECT metric, NULLIF(country, '') AS country, n FROM totals \
                 ORDER BY metric, country",
                None,
            )?
            .to_array()?;
        let cells: Vec<CellCount> = sql
            .exec(
                "SELECT metric, NULLIF(country, '') AS country, cell, count FROM tallies \
                 ORDER BY metric, country, cell",
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
            country_column: Cell::new(false),
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
