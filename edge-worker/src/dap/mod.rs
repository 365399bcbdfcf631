//! Secret-shared aggregation at the edge: this worker as the DAP *leader* (the
//! shop's), or, deployed again with `DAP_ROLE=helper` and its own storage and
//! secret, as the *helper* (another party's). The computation is the engine's
//! (`cove_engine::aggregation`); this module is the plumbing: secrets, the
//! helper's DAP endpoints, the leader's upload and collection, and the
//! Durable Object that keeps each role's state ([`store`]).
//!
//! Variables and secrets:
//!
//! - `HELPER_URL` (leader): the helper's DAP endpoint (`…/v1/dap/`). Without
//!   it the shop has one aggregator, and every metric is randomised on the
//!   device (local DP, the declared fallback);
//! - `HELPER_HPKE_CONFIG` (leader, optional): the helper's public HPKE
//!   configuration as provisioned (base64url of its `hpke_config` answer);
//!   without it the leader fetches it, and cannot serve devices their
//!   registry while the helper is down;
//! - `DAP_ROLE` = `helper` on the helper's deployment;
//! - `AGGREGATOR_SECRET` (≥ 32 characters, each aggregator its own): derives
//!   its HPKE key pair;
//! - `DAP_SHARED_SECRET` (≥ 32 characters, the same on both): derives the
//!   VDAF verification key, the bearer token of leader → helper requests
//!   (`DAP-Auth-Token`) and the collector's key pair (the shop is the leader
//!   and the collector; the helper seals its noisy share to it).

pub mod store;

use cove_engine::aggregation::aggregator::AggregatorKeys;
use cove_engine::aggregation::hpke::{base64url, config_to_text, from_base64url, Keypair};
use cove_engine::aggregation::release::Released;
use cove_engine::aggregation::task::{time_day, Task, VdafKind, VERIFY_KEY_SIZE};
use cove_engine::privacy::registry::{Aggregators, Registry};
use janus_messages::codec::{Decode, Encode};
use janus_messages::query_type::TimeInterval;
use janus_messages::{AggregateShareReq, AggregationJobInitializeReq, HpkeConfigList, Report};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use worker::{Env, Method, Request, RequestInit, Response};

use crate::api_error::ApiError;
use crate::config::ShopConfig;

/// The Durable Object binding of [`store::DapStore`].
pub const DAP_STORE_BINDING: &str = "DAP_STORE";

/// How many days back a report may be dated (a device sends a day's report
/// after the day, and may be offline for a while).
pub const REPORT_WINDOW_DAYS: u32 = 7;

/// The largest aggregation job or share request the helper reads.
pub const MAX_DAP_BODY_BYTES: usize = 4 << 20;

/// What the store needs to rebuild a task (and the leader: where the helper is).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskSpec {
    shop: String,
    metric: String,
    length: u32,
    epsilon: f64,
    min_batch_size: u32,
    /// A sum vector's bits (0: a histogram, as every task stored before sums).
    #[serde(default)]
    bits: u32,
    /// A sum vector's cap.
    #[serde(default)]
    cap: f64,
    #[serde(default)]
    helper_url: String,
}

impl TaskSpec {
    fn of(task: &Task, helper_url: &str) -> TaskSpec {
        let (bits, cap) = match task.kind {
            VdafKind::Histogram => (0, 0.0),
            VdafKind::SumVec { bits, cap } => (bits, cap),
        };
        TaskSpec {
            shop: task.shop.clone(),
            metric: task.metric.clone(),
            length: task.length,
            epsilon: task.epsilon,
            min_batch_size: task.min_batch_size,
            bits,
            cap,
            helper_url: helper_url.to_string(),
        }
    }

    fn task(&self) -> worker::Result<Task> {
        let task = if self.bits == 0 {
            Task::histogram(
                &self.shop,
                &self.metric,
                self.length,
                self.epsilon,
                self.min_batch_size,
            )
        } else {
            Task::sum_vec(
                &self.shop,
                &self.metric,
                self.length,
                self.bits,
                self.cap,
                self.epsilon,
                self.min_batch_size,
            )
        };
        task.map_err(|e| worker::Error::RustError(e.to_string()))
    }
}

fn secret(env: &Env, name: &str) -> Result<String, String> {
    let value = env
        .secret(name)
        .map(|v| v.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .map_err(|_| format!("{name} is not set"))?;
    if value.len() < 32 {
        return Err(format!("{name} is shorter than 32 characters"));
    }
    Ok(value)
}

fn derive(label: &str, secret: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(label.as_bytes())
        .chain_update(secret.as_bytes())
        .finalize()
        .into()
}

/// Whether this deployment is the helper.
pub fn is_helper(env: &Env) -> bool {
    env.var("DAP_ROLE").is_ok_and(|v| v.to_string() == "helper")
}

/// The helper's endpoint, when this deployment is a leader with a helper.
pub fn helper_url(env: &Env) -> Option<String> {
    let url = env.var("HELPER_URL").ok()?.to_string();
    (!url.is_empty() && !is_helper(env)).then(|| if url.ends_with('/') { url } else { url + "/" })
}

/// This aggregator's keys (its HPKE key pair and the shared verification key).
pub fn keys(env: &Env, helper: bool) -> Result<AggregatorKeys, String> {
    let own = secret(env, "AGGREGATOR_SECRET")?;
    let shared = secret(env, "DAP_SHARED_SECRET")?;
    let mut verify_key = [0u8; VERIFY_KEY_SIZE];
    verify_key.copy_from_slice(&derive("cove vdaf verify key", &shared)[..VERIFY_KEY_SIZE]);
    let role = if helper { "helper" } else { "leader" };
    let hpke =
        Keypair::derive(u8::from(helper) + 1, own.as_bytes(), role).map_err(|e| e.to_string())?;
    Ok(AggregatorKeys { verify_key, hpke })
}

/// The collector's key pair (see the module's documentation).
pub fn collector_key(env: &Env) -> Result<Keypair, String> {
    let shared = secret(env, "DAP_SHARED_SECRET")?;
    Keypair::derive(9, shared.as_bytes(), "collector").map_err(|e| e.to_string())
}

/// The collector's public configuration.
pub fn collector_config(env: &Env) -> Result<janus_messages::HpkeConfig, String> {
    Ok(collector_key(env)?.config().clone())
}

fn auth_token(env: &Env) -> Result<String, String> {
    Ok(base64url(&derive(
        "cove dap auth",
        &secret(env, "DAP_SHARED_SECRET")?,
    )))
}

/// Sends a DAP request to the helper; the body of a 2xx answer, else an error
/// with the status and the helper's words.
pub(crate) async fn send(
    env: &Env,
    method: Method,
    url: &str,
    body: Vec<u8>,
    content_type: &str,
) -> worker::Result<Vec<u8>> {
    let token = auth_token(env).map_err(worker::Error::RustError)?;
    let headers = worker::Headers::new();
    headers.set("content-type", content_type)?;
    headers.set("dap-auth-token", &token)?;
    let mut init = RequestInit::new();
    init.with_method(method)
        .with_headers(headers)
        .with_body(Some(js_bytes(&body)));
    let request = Request::new_with_init(url, &init)?;
    let mut response = worker::Fetch::Request(request).send().await?;
    let status = response.status_code();
    let bytes = response.bytes().await?;
    if (200..300).contains(&status) {
        Ok(bytes)
    } else {
        Err(worker::Error::RustError(format!(
            "the helper answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        )))
    }
}

fn js_bytes(bytes: &[u8]) -> wasm_bindgen::JsValue {
    js_sys::Uint8Array::from(bytes).into()
}

thread_local! {
    static HELPER_CONFIG: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The shop's registry with the two aggregators' keys (leader with a helper),
/// or as it is (one aggregator: local DP).
pub async fn with_aggregators(env: &Env, registry: Registry) -> Result<Registry, ApiError> {
    let Some(helper_url) = helper_url(env) else {
        return Ok(registry);
    };
    // The helper's public key as provisioned with the leader (the base64url
    // of what the helper serves at `hpke_config`, as a DAP task is provisioned
    // with its aggregators' configurations), so a helper that is down does
    // not stop devices from getting theirs; else fetched once per isolate.
    let provisioned = env
        .var("HELPER_HPKE_CONFIG")
        .ok()
        .map(|var| var.to_string())
        .filter(|text| !text.is_empty());
    let cached = HELPER_CONFIG.with(|c| c.borrow().clone());
    let helper_config = match (provisioned, cached) {
        (Some(text), _) => {
            let bytes = from_base64url(&text).ok_or_else(|| {
                ApiError::Unavailable("HELPER_HPKE_CONFIG is not base64url".into())
            })?;
            first_config(&bytes)?
        }
        (None, Some(config)) => config,
        (None, None) => {
            let mut response = worker::Fetch::Url(
                format!("{helper_url}hpke_config")
                    .parse()
                    .map_err(|_| ApiError::Unavailable("HELPER_URL is not a URL".into()))?,
            )
            .send()
            .await
            .map_err(|e| ApiError::Unavailable(format!("the helper is unreachable: {e}")))?;
            let text = first_config(&response.bytes().await?)?;
            HELPER_CONFIG.with(|c| *c.borrow_mut() = Some(text.clone()));
            text
        }
    };
    let leader = keys(env, false).map_err(ApiError::Unavailable)?;
    registry
        .with_aggregators(Aggregators {
            leader_hpke_config: config_to_text(leader.hpke.config()),
            helper_hpke_config: helper_config,
            helper_url,
        })
        .map_err(ApiError::Engine)
}

/// The first configuration of an encoded `HpkeConfigList`, as text.
fn first_config(bytes: &[u8]) -> Result<String, ApiError> {
    let list = HpkeConfigList::get_decoded(bytes)
        .map_err(|e| ApiError::Unavailable(format!("the helper's HPKE configuration: {e}")))?;
    let config = list
        .hpke_configs()
        .first()
        .ok_or_else(|| ApiError::Unavailable("the helper has no HPKE configuration".into()))?;
    Ok(config_to_text(config))
}

fn store_stub(env: &Env, role: &str, shop: &str, day: u32) -> worker::Result<worker::Stub> {
    env.durable_object(DAP_STORE_BINDING)?
        .id_from_name(&format!("{role}:{shop}:{day}"))?
        .get_stub()
}

async fn store_call<T: Serialize>(
    stub: &worker::Stub,
    method: Method,
    path: &str,
    body: &T,
) -> worker::Result<Response> {
    let mut init = RequestInit::new();
    init.with_method(method)
        .with_body(Some(serde_json::to_string(body)?.into()));
    stub.fetch_with_request(Request::new_with_init(
        &format!("https://dap-store{path}"),
        &init,
    )?)
    .await
}

/// The body a device with two aggregators sends (`v: 2`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    /// Always 2.
    pub v: u32,
    /// The day the reports are about.
    pub day: u32,
    /// The randomised envelope (local-DP metrics), as its padded text.
    pub envelope: Option<String>,
    /// The secret-shared reports.
    pub dap: Vec<SharedReport>,
}

/// A task and its reports (base64url) in one upload.
type TaskReports = (Task, Vec<String>);

/// One DAP report of an upload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedReport {
    /// The metric's name (the task must be this metric's).
    pub metric: String,
    /// The task id (base64url).
    pub task: String,
    /// The DAP report (base64url).
    pub report: String,
}

/// The most DAP reports in one upload (one per secret-shared metric).
pub const MAX_SHARED_REPORTS: usize = 64;

/// Stores an upload's DAP reports at the leader, after checking each one's
/// task and day; the store aggregates them with the helper in jobs.
pub async fn upload(
    env: &Env,
    shop: &ShopConfig,
    registry: &Registry,
    reports: &[SharedReport],
    today: u32,
) -> Result<store::Uploaded, ApiError> {
    let helper = helper_url(env).ok_or_else(|| {
        ApiError::BadRequest("this shop has one aggregator: send an envelope".into())
    })?;
    if reports.len() > MAX_SHARED_REPORTS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_SHARED_REPORTS} secret-shared reports per upload"
        )));
    }
    // By day, then by task: one store call per day (its object) with every
    // task's reports.
    let mut days: Vec<(u32, Vec<TaskReports>)> = Vec::new();
    for shared in reports {
        let task = registry
            .metric(&shared.metric)
            .and_then(|metric| registry.task(metric))
            .filter(|task| task.id_text() == shared.task)
            .ok_or_else(|| {
                ApiError::BadRequest(
                    "a report names a metric and task this shop does not run".into(),
                )
            })?;
        let bytes = from_base64url(&shared.report)
            .ok_or_else(|| ApiError::BadRequest("a report is not base64url".into()))?;
        let report = Report::get_decoded(&bytes)
            .map_err(|e| ApiError::BadRequest(format!("a report is not a DAP report: {e}")))?;
        let day = time_day(report.metadata().time())
            .ok_or_else(|| ApiError::BadRequest("a report's time is not a day's start".into()))?;
        if day > today || day + REPORT_WINDOW_DAYS < today {
            return Err(ApiError::BadRequest(format!(
                "a report is dated day {day}; this edge takes the last {REPORT_WINDOW_DAYS} days"
            )));
        }
        let tasks = match days.iter_mut().find(|(d, _)| *d == day) {
            Some((_, tasks)) => tasks,
            None => {
                days.push((day, Vec::new()));
                &mut days.last_mut().expect("just pushed").1
            }
        };
        match tasks.iter_mut().find(|(t, _)| t.id == task.id) {
            Some((_, list)) => list.push(shared.report.clone()),
            None => tasks.push((task, vec![shared.report.clone()])),
        }
    }
    let mut total = store::Uploaded::default();
    for (day, tasks) in days {
        let stub = store_stub(env, "leader", &shop.id, day)?;
        let upload = store::Upload {
            tasks: tasks
                .into_iter()
                .map(|(task, reports)| store::TaskReports {
                    task: TaskSpec::of(&task, &helper),
                    reports,
                })
                .collect(),
        };
        let mut response =
            store_call(&stub, Method::Post, &format!("/upload/{day}"), &upload).await?;
        if response.status_code() != 200 {
            return Err(ApiError::Internal(format!(
                "the aggregator store answered {}",
                response.status_code()
            )));
        }
        let uploaded: store::Uploaded = response.json().await?;
        total.accepted += uploaded.accepted;
        total.duplicates += uploaded.duplicates;
        total.refused += uploaded.refused;
    }
    Ok(total)
}

/// What the dashboard gets for one secret-shared metric of one day.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DayRelease {
    /// Released.
    Released {
        /// The release.
        release: Released,
    },
    /// Not released: fewer reports than k.
    BelowK {
        /// Reports so far.
        n_reports: u64,
    },
    /// Not released yet (the day has not ended, or the helper has not answered).
    NotYet {
        /// Why.
        reason: String,
    },
}

/// Collects every secret-shared metric of `day` (only a day that has ended).
pub async fn collect(
    env: &Env,
    shop: &ShopConfig,
    registry: &Registry,
    day: u32,
    today: u32,
) -> Result<Vec<(String, DayRelease)>, ApiError> {
    let Some(helper) = helper_url(env) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for metric in &registry.metrics {
        let Some(task) = registry.task(metric) else {
            continue;
        };
        if day >= today {
            out.push((
                metric.name.clone(),
                DayRelease::NotYet {
                    reason: "a day's numbers are released once the day has ended".into(),
                },
            ));
            continue;
        }
        let stub = store_stub(env, "leader", &shop.id, day)?;
        let request = store::Collect {
            task: TaskSpec::of(&task, &helper),
            helper_url: helper.clone(),
            request: String::new(),
        };
        let mut response =
            store_call(&stub, Method::Post, &format!("/collect/{day}"), &request).await?;
        let release = if response.status_code() == 200 {
            match response.json::<store::Collected>().await? {
                store::Collected::Released { n_reports, counts } => DayRelease::Released {
                    release: Released::of_task(&task, n_reports, counts),
                },
                store::Collected::BelowK { n_reports } => DayRelease::BelowK { n_reports },
                store::Collected::Waiting { pending, reason } => DayRelease::NotYet {
                    reason: format!("{pending} reports wait for the helper: {reason}"),
                },
            }
        } else {
            DayRelease::NotYet {
                reason: response.text().await.unwrap_or_default(),
            }
        };
        out.push((metric.name.clone(), release));
    }
    Ok(out)
}

/// The DAP endpoints under `/v1/dap/`: `GET hpke_config` (both roles), and on
/// the helper `PUT {shop}/tasks/{task}/aggregation_jobs/{job}` and `POST
/// {shop}/tasks/{task}/aggregate_shares`, with the shared bearer token.
pub async fn serve(req: &mut Request, env: &Env, path: &str) -> worker::Result<Response> {
    let rest = path.trim_start_matches("/v1/dap/");
    if rest == "hpke_config" && req.method() == Method::Get {
        let own = keys(env, is_helper(env)).map_err(worker::Error::RustError);
        return match own {
            Ok(keys) => {
                let list = HpkeConfigList::new(vec![keys.hpke.config().clone()]);
                let mut response = Response::from_bytes(list.get_encoded().unwrap_or_default())?;
                response
                    .headers_mut()
                    .set("content-type", "application/dap-hpke-config-list")?;
                Ok(response)
            }
            Err(error) => problem(503, "unavailable", &error.to_string()),
        };
    }
    if !is_helper(env) {
        return problem(404, "notFound", "this aggregator is not a helper");
    }
    let token = auth_token(env).map_err(worker::Error::RustError)?;
    let given = req.headers().get("dap-auth-token")?.unwrap_or_default();
    if !crate::http::same_secret(&given, &token) {
        return problem(
            401,
            "unauthorizedRequest",
            "a helper request needs the leader's token",
        );
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let (shop_id, task_text, action) = match parts.as_slice() {
        [shop, "tasks", task, action, ..] => (*shop, *task, *action),
        _ => return problem(404, "notFound", "no such DAP endpoint"),
    };
    let Some(shop) = crate::shop_store::find(env, shop_id).await.ok().flatten() else {
        return problem(404, "unrecognizedTask", "no such shop");
    };
    let model = crate::model::shop_model(env, &shop)
        .await
        .map_err(|e| worker::Error::RustError(format!("{e:?}")))?;
    let registry = match shop.registry(&model) {
        Ok(registry) => registry.secret_share_small_domains(),
        Err(error) => return problem(400, "unrecognizedTask", &error.to_string()),
    };
    let Some(task) = registry
        .metrics
        .iter()
        .filter_map(|metric| registry.task(metric))
        .find(|task| task.id_text() == task_text)
    else {
        return problem(
            400,
            "unrecognizedTask",
            "this helper does not run that task (is its configuration the leader's?)",
        );
    };
    let body = crate::body::read_limited(req, MAX_DAP_BODY_BYTES)
        .await
        .map_err(|e| worker::Error::RustError(format!("{e:?}")))?;
    match (req.method(), action, parts.get(4)) {
        (Method::Put, "aggregation_jobs", Some(job_id)) => {
            let Ok(request) = AggregationJobInitializeReq::<TimeInterval>::get_decoded(&body)
            else {
                return problem(400, "invalidMessage", "not an AggregationJobInitializeReq");
            };
            let Some(day) = request
                .prepare_inits()
                .first()
                .and_then(|init| time_day(init.report_share().metadata().time()))
            else {
                return problem(400, "invalidMessage", "an empty or misdated job");
            };
            let stub = store_stub(env, "helper", &shop.id, day)?;
            let job = store::Job {
                task: TaskSpec::of(&task, ""),
                id: (*job_id).to_string(),
                request: base64url(&body),
            };
            forward(
                store_call(&stub, Method::Put, &format!("/job/{day}"), &job).await?,
                "application/dap-aggregation-job-resp",
            )
            .await
        }
        (Method::Post, "aggregate_shares", None) => {
            let Ok(request) = AggregateShareReq::<TimeInterval>::get_decoded(&body) else {
                return problem(400, "invalidMessage", "not an AggregateShareReq");
            };
            let interval = request.batch_selector().batch_interval();
            let Some(day) = time_day(interval.start()) else {
                return problem(400, "batchInvalid", "a batch is one day");
            };
            if interval.duration().as_seconds()
                != cove_engine::aggregation::task::TIME_PRECISION_SECONDS
            {
                return problem(400, "batchInvalid", "a batch is one day");
            }
            let stub = store_stub(env, "helper", &shop.id, day)?;
            let collect = store::Collect {
                task: TaskSpec::of(&task, ""),
                helper_url: String::new(),
                request: base64url(&body),
            };
            forward(
                store_call(
                    &stub,
                    Method::Post,
                    &format!("/aggregate_share/{day}"),
                    &collect,
                )
                .await?,
                "application/dap-aggregate-share",
            )
            .await
        }
        _ => problem(404, "notFound", "no such DAP endpoint"),
    }
}

async fn forward(mut response: Response, content_type: &str) -> worker::Result<Response> {
    let status = response.status_code();
    let bytes = response.bytes().await?;
    if status == 200 {
        let mut answer = Response::from_bytes(bytes)?;
        answer.headers_mut().set("content-type", content_type)?;
        Ok(answer)
    } else {
        let detail = String::from_utf8_lossy(&bytes).to_string();
        let (kind, text) = detail
            .split_once(": ")
            .unwrap_or(("invalidMessage", &detail));
        problem(400, kind, text)
    }
}

/// A DAP problem document (RFC 9457), as DAP answers errors.
fn problem(status: u16, kind: &str, detail: &str) -> worker::Result<Response> {
    let body = serde_json::json!({
        "type": format!("urn:ietf:params:ppm:dap:error:{kind}"),
        "title": kind,
        "detail": detail,
    });
    let mut response = Response::from_json(&body)?.with_status(status);
    response
        .headers_mut()
        .set("content-type", "application/problem+json")?;
    Ok(response)
}
