//! The Durable Object that holds one aggregator's state for one shop and day
//! (one object per `(shop, day)`; the leader's and the helper's are separate
//! deployments with separate storage). SQLite tables, binary values as
//! base64url text:
//!
//! - `reports(id, task, body, state)` (leader): uploaded reports until they
//!   are aggregated (`pending` → `done` or `rejected`), so a helper that is
//!   down or slow loses nothing: they wait and are sent again;
//! - `jobs(id, task, reports)` (leader): an aggregation job sent and not yet
//!   answered, retried with the same id and the same reports; (helper):
//!   `jobs(id, task, request_hash, response)`, so a retried job gets the same
//!   answer and nothing is added twice;
//! - `seen(id)` (helper): report ids already aggregated (a replay is rejected);
//! - `batches(task, batch)`: this aggregator's running sum per task;
//! - `released(task, body)`: a collected day, answered again as it was (one
//!   draw of noise per task and day); a collected batch takes no more reports.
//!
//! Every change to these tables happens in one synchronous block (no await
//! between reading and writing), which the runtime commits atomically.

use std::cell::Cell;

use cove_engine::aggregation::aggregator::{
    helper_prepare, helper_release, leader_finish, leader_prepare, Batch,
};
use cove_engine::aggregation::hpke::{base64url, from_base64url};
use cove_engine::aggregation::task::Task;
use janus_messages::codec::{Decode, Encode};
use janus_messages::query_type::TimeInterval;
use janus_messages::{
    AggregationJobInitializeReq, AggregationJobResp, PartialBatchSelector, PrepareError,
    PrepareResp, PrepareStepResult, Report,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorageValue, State,
};

use super::{keys, TaskSpec};

/// Reports per aggregation job.
pub const JOB_SIZE: usize = 200;

/// How many times (100 ms apart) a drain waits for another to finish.
const DRAIN_WAITS: usize = 300;

/// Marks a drain as running until dropped, even when the request that runs it
/// is cancelled mid-way (the flag would otherwise stay set).
struct DrainGuard<'a>(&'a Cell<bool>);

impl<'a> DrainGuard<'a> {
    fn new(flag: &'a Cell<bool>) -> Self {
        flag.set(true);
        DrainGuard(flag)
    }
}

impl Drop for DrainGuard<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// The most reports a shop-day keeps waiting for the helper.
pub const MAX_PENDING: u64 = 200_000;

/// The leader's `POST /upload`: one upload's reports of one day, by task, in
/// one call (a device reports every metric at once; one call per metric
/// cost the runtime a round trip each).
#[derive(Debug, Serialize, Deserialize)]
pub struct Upload {
    /// The reports of each task.
    pub tasks: Vec<TaskReports>,
}

/// One task's reports in an [`Upload`].
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskReports {
    /// The task.
    pub task: TaskSpec,
    /// The reports (base64url), already decoded once by the worker.
    pub reports: Vec<String>,
}

/// What `/upload` did.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Uploaded {
    /// Stored for aggregation.
    pub accepted: u32,
    /// Already stored (a replay).
    pub duplicates: u32,
    /// Refused: the day was already collected, or the store is full.
    pub refused: u32,
}

/// The leader's `POST /collect` and the helper's `POST /aggregate_share`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Collect {
    /// The task.
    pub task: TaskSpec,
    /// The helper's URL (leader), where to send the job and the request.
    #[serde(default)]
    pub helper_url: String,
    /// The request (helper: the leader's `AggregateShareReq`, base64url).
    #[serde(default)]
    pub request: String,
}

/// What the leader's `/collect` answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Collected {
    /// Released: the reports and the noisy counts.
    Released {
        /// Reports in the batch.
        n_reports: u64,
        /// Counts per cell (true count + the helper's noise).
        counts: Vec<i64>,
    },
    /// Fewer reports than the task's minimum: nothing is released.
    BelowK {
        /// Reports so far.
        n_reports: u64,
    },
    /// Reports still wait for the helper (it is down, slow, or refused).
    Waiting {
        /// Reports waiting.
        pending: u64,
        /// What went wrong with the helper.
        reason: String,
    },
}

/// The helper's `PUT /job`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Job {
    /// The task.
    pub task: TaskSpec,
    /// The job's id (from the URL).
    pub id: String,
    /// The `AggregationJobInitializeReq` (base64url).
    pub request: String,
}

#[derive(Deserialize)]
struct ReportRow {
    id: String,
    body: String,
}

#[derive(Deserialize)]
struct TextRow {
    value: String,
}

#[derive(Deserialize)]
struct CountRow {
    n: u64,
}

/// One aggregator's state for one shop-day.
#[durable_object]
pub struct DapStore {
    state: State,
    env: Env,
    draining: Cell<bool>,
    /// Set once this instance has created its tables (a request would
    /// otherwise run every `CREATE … IF NOT EXISTS` again).
    schema_ready: Cell<bool>,
}

fn text(value: &str) -> SqlStorageValue {
    SqlStorageValue::String(value.to_string())
}

impl DapStore {
    fn sql(&self) -> worker::SqlStorage {
        self.state.storage().sql()
    }

    fn ensure_schema(&self) -> Result<()> {
        if self.schema_ready.get() {
            return Ok(());
        }
        let sql = self.sql();
        for statement in [
            "CREATE TABLE IF NOT EXISTS reports (id TEXT PRIMARY KEY, task TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL)",
            // Every upload counts the pending reports (all, and its task's):
            // without this index each count reads every report of the day.
            "CREATE INDEX IF NOT EXISTS reports_by_state ON reports (state, task)",
            "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, task TEXT NOT NULL, reports TEXT NOT NULL, response TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY)",
            "CREATE TABLE IF NOT EXISTS batches (task TEXT PRIMARY KEY, batch TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS released (task TEXT PRIMARY KEY, body TEXT NOT NULL)",
        ] {
            sql.exec(statement, None)?;
        }
        self.schema_ready.set(true);
        Ok(())
    }

    fn count(&self, query: &str, bindings: Vec<SqlStorageValue>) -> Result<u64> {
        let rows: Vec<CountRow> = self.sql().exec(query, bindings)?.to_array()?;
        Ok(rows.first().map_or(0, |row| row.n))
    }

    /// This task's reports still waiting to be aggregated.
    fn pending(&self, task: &Task) -> Result<u64> {
        self.count(
            "SELECT COUNT(*) AS n FROM reports WHERE task = ? AND state = 'pending'",
            vec![text(&task.id_text())],
        )
    }

    fn text_value(&self, query: &str, bindings: Vec<SqlStorageValue>) -> Result<Option<String>> {
        let rows: Vec<TextRow> = self.sql().exec(query, bindings)?.to_array()?;
        Ok(rows.into_iter().next().map(|row| row.value))
    }

    fn batch(&self, task: &Task) -> Result<Batch> {
        let stored = self.text_value(
            "SELECT batch AS value FROM batches WHERE task = ?",
            vec![text(&task.id_text())],
        )?;
        match stored.and_then(|b| from_base64url(&b)) {
            Some(bytes) => {
                Batch::from_bytes(task, &bytes).map_err(|e| worker::Error::RustError(e.to_string()))
            }
            None => Ok(Batch::new(task)),
        }
    }

    fn save_batch(&self, task: &Task, batch: &Batch) -> Result<()> {
        self.sql().exec(
            "INSERT INTO batches (task, batch) VALUES (?, ?) ON CONFLICT (task) DO UPDATE SET batch = excluded.batch",
            vec![text(&task.id_text()), text(&base64url(&batch.to_bytes()))],
        )?;
        Ok(())
    }

    fn released(&self, task: &Task) -> Result<Option<String>> {
        self.text_value(
            "SELECT body AS value FROM released WHERE task = ?",
            vec![text(&task.id_text())],
        )
    }

    // ---- leader ----

    fn upload(&self, upload: TaskReports) -> Result<Uploaded> {
        let task = upload.task.task()?;
        let task_id = task.id_text();
        let mut result = Uploaded::default();
        let collected = self.released(&task)?.is_some();
        let pending = self.count(
            "SELECT COUNT(*) AS n FROM reports WHERE state = 'pending'",
            vec![],
        )?;
        for (index, body) in upload.reports.into_iter().enumerate() {
            let Some(bytes) = from_base64url(&body) else {
                result.refused += 1;
                continue;
            };
            let Ok(report) = Report::get_decoded(&bytes) else {
                result.refused += 1;
                continue;
            };
            if collected || pending + index as u64 >= MAX_PENDING {
                result.refused += 1;
                continue;
            }
            let id = base64url(report.metadata().id().as_ref());
            // One statement: a report id seen before returns no row.
            let inserted: Vec<TextRow> = self
                .sql()
                .exec(
                    "INSERT INTO reports (id, task, body, state) VALUES (?, ?, ?, 'pending') ON CONFLICT (id) DO NOTHING RETURNING id AS value",
                    vec![text(&id), text(&task_id), SqlStorageValue::String(body)],
                )?
                .to_array()?;
            if inserted.is_empty() {
                result.duplicates += 1;
                continue;
            }
            result.accepted += 1;
        }
        Ok(result)
    }

    /// Sends this task's waiting reports to the helper, a job at a time.
    /// Returns the number still waiting, and why, when the helper failed.
    ///
    /// With `wait`, a caller that finds another drain running waits for it
    /// (a collection); without, it leaves the work to that drain (an upload,
    /// which a device is waiting on).
    async fn drain(
        &self,
        task: &Task,
        helper_url: &str,
        wait: bool,
    ) -> Result<(u64, Option<String>)> {
        // One drain at a time (a drain awaits the helper, and the object
        // takes other requests meanwhile); a second caller waits for it, up
        // to a limit.
        for _ in 0..if wait { DRAIN_WAITS } else { 0 } {
            if !self.draining.get() {
                break;
            }
            worker::Delay::from(std::time::Duration::from_millis(100)).await;
        }
        if self.draining.get() {
            return Ok((
                self.pending(task)?,
                Some("another drain is still running".into()),
            ));
        }
        let outcome = {
            let _guard = DrainGuard::new(&self.draining);
            self.drain_jobs(task, helper_url).await
        };
        let reason = outcome.err().map(|e| e.to_string());
        Ok((self.pending(task)?, reason))
    }

    async fn drain_jobs(&self, task: &Task, helper_url: &str) -> Result<()> {
        let keys = keys(&self.env, false).map_err(worker::Error::RustError)?;
        loop {
            // A job sent before and not answered is sent again as it was.
            let open = self.text_value(
                "SELECT id || ' ' || reports AS value FROM jobs WHERE task = ?",
                vec![text(&task.id_text())],
            )?;
            let (job_id, ids) = match open {
                Some(row) => {
                    let (id, list) = row.split_once(' ').unwrap_or((&row, ""));
                    (
                        id.to_string(),
                        list.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect::<Vec<_>>(),
                    )
                }
                None => {
                    let rows: Vec<TextRow> = self.sql().exec(
                        "SELECT id AS value FROM reports WHERE task = ? AND state = 'pending' ORDER BY rowid LIMIT ?",
                        vec![text(&task.id_text()), SqlStorageValue::Integer(JOB_SIZE as i64)],
                    )?.to_array()?;
                    if rows.is_empty() {
                        return Ok(());
                    }
                    let mut id = [0u8; 16];
                    getrandom_fill(&mut id)?;
                    let job_id = base64url(&id);
                    let ids: Vec<String> = rows.into_iter().map(|r| r.value).collect();
                    self.sql().exec(
                        "INSERT INTO jobs (id, task, reports, response) VALUES (?, ?, ?, '')",
                        vec![text(&job_id), text(&task.id_text()), text(&ids.join(","))],
                    )?;
                    (job_id, ids)
                }
            };
            let mut prepared = Vec::new();
            let mut rejected = Vec::new();
            for id in &ids {
                let rows: Vec<ReportRow> = self
                    .sql()
                    .exec("SELECT id, body FROM reports WHERE id = ?", vec![text(id)])?
                    .to_array()?;
                let Some(row) = rows.into_iter().next() else {
                    continue;
                };
                let report = from_base64url(&row.body).and_then(|b| Report::get_decoded(&b).ok());
                match report.map(|r| leader_prepare(task, &keys, &r)) {
                    Some(Ok(p)) => prepared.push((row.id, p)),
                    _ => rejected.push(row.id),
                }
            }
            let request = AggregationJobInitializeReq::<TimeInterval>::new(
                Vec::new(),
                PartialBatchSelector::new_time_interval(),
                prepared.iter().map(|(_, p)| p.init.clone()).collect(),
            );
            let body = request
                .get_encoded()
                .map_err(|e| worker::Error::RustError(e.to_string()))?;
            let url = format!(
                "{}{}/tasks/{}/aggregation_jobs/{}",
                helper_url,
                task.shop,
                task.id_text(),
                job_id
            );
            let answer = super::send(
                &self.env,
                Method::Put,
                &url,
                body,
                "application/dap-aggregation-job-init-req",
            )
            .await?;
            let response = AggregationJobResp::get_decoded(&answer)
                .map_err(|e| worker::Error::RustError(format!("the helper's answer: {e}")))?;
            // From here to the end of the loop body, no await: one commit.
            let mut batch = self.batch(task)?;
            let answers: std::collections::HashMap<_, &PrepareResp> = response
                .prepare_resps()
                .iter()
                .map(|r| (*r.report_id(), r))
                .collect();
            for (id, prepared) in prepared {
                let report_id = prepared.report_id;
                let state = match answers.get(&report_id) {
                    Some(answer) => match leader_finish(task, prepared, answer) {
                        Ok(output) => {
                            batch
                                .add(&report_id, &output)
                                .map_err(|e| worker::Error::RustError(e.to_string()))?;
                            "done"
                        }
                        Err(_) => "rejected",
                    },
                    None => "rejected",
                };
                self.sql().exec(
                    "UPDATE reports SET state = ? WHERE id = ?",
                    vec![text(state), text(&id)],
                )?;
            }
            for id in rejected {
                self.sql().exec(
                    "UPDATE reports SET state = 'rejected' WHERE id = ?",
                    vec![text(&id)],
                )?;
            }
            self.save_batch(task, &batch)?;
            self.sql()
                .exec("DELETE FROM jobs WHERE id = ?", vec![text(&job_id)])?;
        }
    }

    async fn collect(&self, request: Collect, day: u32) -> Result<Collected> {
        let task = request.task.task()?;
        if let Some(body) = self.released(&task)? {
            return serde_json::from_str(&body)
                .map_err(|e| worker::Error::RustError(e.to_string()));
        }
        let (pending, reason) = self.drain(&task, &request.helper_url, true).await?;
        if pending > 0 {
            return Ok(Collected::Waiting {
                pending,
                reason: reason.unwrap_or_else(|| "reports are being aggregated".into()),
            });
        }
        let batch = self.batch(&task)?;
        if batch.count < u64::from(task.min_batch_size) {
            return Ok(Collected::BelowK {
                n_reports: batch.count,
            });
        }
        let share_request = janus_messages::AggregateShareReq::<TimeInterval>::new(
            janus_messages::BatchSelector::new_time_interval(
                cove_engine::aggregation::task::day_interval(day),
            ),
            Vec::new(),
            batch.count,
            janus_messages::ReportIdChecksum::from(batch.checksum),
        );
        let body = share_request
            .get_encoded()
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        let url = format!(
            "{}{}/tasks/{}/aggregate_shares",
            request.helper_url,
            task.shop,
            task.id_text()
        );
        let answer = match super::send(
            &self.env,
            Method::Post,
            &url,
            body,
            "application/dap-aggregate-share-req",
        )
        .await
        {
            Ok(answer) => answer,
            Err(error) => {
                return Ok(Collected::Waiting {
                    pending: 0,
                    reason: error.to_string(),
                });
            }
        };
        let share = janus_messages::AggregateShare::get_decoded(&answer)
            .map_err(|e| worker::Error::RustError(format!("the helper's share: {e}")))?;
        let collector = super::collector_key(&self.env).map_err(worker::Error::RustError)?;
        let counts = cove_engine::aggregation::aggregator::unshard(
            &task,
            day,
            &batch,
            share.encrypted_aggregate_share(),
            &collector,
        )
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
        let collected = Collected::Released {
            n_reports: batch.count,
            counts,
        };
        self.sql().exec(
            "INSERT OR REPLACE INTO released (task, body) VALUES (?, ?)",
            vec![
                text(&task.id_text()),
                text(&serde_json::to_string(&collected)?),
            ],
        )?;
        Ok(collected)
    }

    // ---- helper ----

    fn job(&self, job: Job, day: u32) -> Result<Response> {
        let task = job.task.task()?;
        let hash = base64url(&Sha256::digest(job.request.as_bytes()));
        let stored = self.text_value(
            "SELECT reports || ' ' || response AS value FROM jobs WHERE id = ?",
            vec![text(&job.id)],
        )?;
        if let Some(row) = stored {
            let (stored_hash, response) = row.split_once(' ').unwrap_or((&row, ""));
            if stored_hash != hash {
                return Response::error(
                    "invalidMessage: this job id was used for another job",
                    400,
                );
            }
            return Response::from_bytes(from_base64url(response).unwrap_or_default());
        }
        let request = from_base64url(&job.request)
            .and_then(|b| AggregationJobInitializeReq::<TimeInterval>::get_decoded(&b).ok());
        let Some(request) = request else {
            return Response::error("invalidMessage: not an AggregationJobInitializeReq", 400);
        };
        let collected = self.released(&task)?.is_some();
        let mut batch = self.batch(&task)?;
        let keys = keys(&self.env, true).map_err(worker::Error::RustError)?;
        let mut answers = Vec::with_capacity(request.prepare_inits().len());
        for init in request.prepare_inits() {
            let metadata = init.report_share().metadata();
            let report_id = *metadata.id();
            let id = base64url(report_id.as_ref());
            let reject = |error| PrepareResp::new(report_id, PrepareStepResult::Reject(error));
            if cove_engine::aggregation::task::time_day(metadata.time()) != Some(day) {
                answers.push(reject(PrepareError::InvalidMessage));
                continue;
            }
            if collected {
                answers.push(reject(PrepareError::BatchCollected));
                continue;
            }
            if self.count(
                "SELECT COUNT(*) AS n FROM seen WHERE id = ?",
                vec![text(&id)],
            )? > 0
            {
                answers.push(reject(PrepareError::ReportReplayed));
                continue;
            }
            let (answer, output) = helper_prepare(&task, &keys, init);
            if let Some(output) = output {
                batch
                    .add(&report_id, &output)
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                self.sql()
                    .exec("INSERT INTO seen (id) VALUES (?)", vec![text(&id)])?;
            }
            answers.push(answer);
        }
        let response = AggregationJobResp::new(answers)
            .get_encoded()
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.save_batch(&task, &batch)?;
        self.sql().exec(
            "INSERT INTO jobs (id, task, reports, response) VALUES (?, ?, ?, ?)",
            vec![
                text(&job.id),
                text(&task.id_text()),
                text(&hash),
                text(&base64url(&response)),
            ],
        )?;
        Response::from_bytes(response)
    }

    fn aggregate_share(&self, request: Collect, day: u32) -> Result<Response> {
        let task = request.task.task()?;
        let share_request = from_base64url(&request.request)
            .and_then(|b| janus_messages::AggregateShareReq::<TimeInterval>::get_decoded(&b).ok());
        let Some(share_request) = share_request else {
            return Response::error("invalidMessage: not an AggregateShareReq", 400);
        };
        let checksum: [u8; 32] = share_request
            .checksum()
            .as_ref()
            .try_into()
            .map_err(|_| worker::Error::RustError("checksum".into()))?;
        let batch = self.batch(&task)?;
        if let Some(body) = self.released(&task)? {
            // Asked again: the same release (one draw of noise), if it is the
            // same batch.
            if batch.count == share_request.report_count() && batch.checksum == checksum {
                return Response::from_bytes(from_base64url(&body).unwrap_or_default());
            }
            return Response::error(
                "batchMismatch: this day was released with other reports",
                400,
            );
        }
        let collector = super::collector_config(&self.env).map_err(worker::Error::RustError)?;
        match helper_release(
            &task,
            day,
            &batch,
            share_request.report_count(),
            &checksum,
            &collector,
        ) {
            Ok(sealed) => {
                let body = janus_messages::AggregateShare::new(sealed)
                    .get_encoded()
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                self.sql().exec(
                    "INSERT INTO released (task, body) VALUES (?, ?)",
                    vec![text(&task.id_text()), text(&base64url(&body))],
                )?;
                Response::from_bytes(body)
            }
            Err(error) => Response::error(error.to_string(), 400),
        }
    }
}

fn getrandom_fill(bytes: &mut [u8]) -> Result<()> {
    getrandom::getrandom(bytes).map_err(|e| worker::Error::RustError(e.to_string()))
}

fn day_of(path: &str) -> Option<u32> {
    path.rsplit('/').next()?.parse().ok()
}

impl DurableObject for DapStore {
    fn new(state: State, env: Env) -> Self {
        DapStore {
            state,
            env,
            draining: Cell::new(false),
            schema_ready: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.ensure_schema()?;
        let path = req.path();
        let Some(day) = day_of(&path) else {
            return Response::error("the path ends with the day", 400);
        };
        let operation = path.rsplit_once('/').map_or("", |(head, _)| head);
        match (req.method(), operation) {
            (Method::Post, "/upload") => {
                let upload: Upload = req.json().await?;
                // Every task's reports are stored before the first await,
                // so the upload is committed as one.
                let mut total = Uploaded::default();
                let mut stored = Vec::with_capacity(upload.tasks.len());
                for reports in upload.tasks {
                    let helper_url = reports.task.helper_url.clone();
                    let task = reports.task.task()?;
                    let uploaded = self.upload(reports)?;
                    total.accepted += uploaded.accepted;
                    total.duplicates += uploaded.duplicates;
                    total.refused += uploaded.refused;
                    stored.push((task, helper_url));
                }
                for (task, helper_url) in stored {
                    if self.pending(&task)? >= JOB_SIZE as u64 && !helper_url.is_empty() {
                        // Aggregated in jobs of JOB_SIZE; a failure leaves them waiting.
                        let _ = self.drain(&task, &helper_url, false).await;
                    }
                }
                Response::from_json(&total)
            }
            (Method::Post, "/collect") => {
                let request: Collect = req.json().await?;
                Response::from_json(&self.collect(request, day).await?)
            }
            (Method::Put, "/job") => {
                let job: Job = req.json().await?;
                self.job(job, day)
            }
            (Method::Post, "/aggregate_share") => {
                let request: Collect = req.json().await?;
                self.aggregate_share(request, day)
            }
            _ => Response::error("no such aggregator-store operation", 404),
        }
    }
}
