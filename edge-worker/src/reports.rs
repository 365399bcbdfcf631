//! `POST /v1/reports?shop=ID`: privacy report ingest.
//!
//! The body is one fixed-size envelope of randomised reports (see the engine's
//! `privacy::report`). It is validated strictly, rate-limited per client, then
//! counted by the shop-day's Durable Object and forgotten. Nothing here logs or
//! stores the body, the client's address or any header.

use cove_engine::privacy::report::{Envelope, ENVELOPE_BYTES};
use worker::{Env, Method, Request, RequestInit, Response, RouteContext};

use crate::aggregate_store::IngestRequest;
use crate::api_error::ApiError;
use crate::body::{query_param, read_json_bytes};
use crate::config::{self, AGGREGATE_STORE_BINDING, REPORT_LIMITER_BINDING};
use crate::cors;

/// Handles `POST /v1/reports`.
pub async fn handle(mut req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let origin = cors::origin(&req);
    let shop_id = query_param(&req, "shop").unwrap_or_default();
    let result = ingest(&mut req, &ctx.env, &shop_id).await;
    cors::respond(result, config::shop(&shop_id), origin.as_deref())
}

async fn ingest(req: &mut Request, env: &Env, shop_id: &str) -> Result<Response, ApiError> {
    let shop = config::shop(shop_id)
        .ok_or_else(|| ApiError::NotFound(format!("unknown shop '{shop_id}'")))?;
    cors::check_origin(req, shop)?;
    let body = read_json_bytes(req, ENVELOPE_BYTES).await?;
    let envelope = Envelope::parse(&body).map_err(ApiError::Malformed)?;
    let registry = crate::registry::shop_registry(env, shop).await?;
    envelope.validate(&registry.metrics, today(), shop.max_envelope_epsilon)?;
    rate_limit(req, env).await?;

    let n_reports = envelope.reports.len();
    let country = crate::trending::request_country(req);
    let mut cells: Vec<(String, u32)> = envelope
        .reports
        .into_iter()
        .map(|r| (r.metric, r.cell))
        .collect();
    cells.extend(crate::trending::country_cells(&cells, &country));
    let ingest = IngestRequest {
        nonce: envelope.nonce,
        cells,
    };
    let mut response = store_request(
        env,
        shop_id,
        envelope.day,
        Method::Post,
        "/ingest",
        Some(&ingest),
    )
    .await?;
    match response.status_code() {
        200 => Ok(
            Response::from_json(&serde_json::json!({ "accepted": n_reports }))?.with_status(202),
        ),
        409 => Err(ApiError::Duplicate),
        status => {
            let detail = response.text().await.unwrap_or_default();
            Err(ApiError::Internal(format!(
                "aggregate store answered {status}: {detail}"
            )))
        }
    }
}

/// Today on the edge's clock, in days since 1970-01-01.
pub fn today() -> u32 {
    (worker::Date::now().as_millis() / 86_400_000) as u32
}

/// Sends one request to the `(shop, day)` aggregate store.
pub async fn store_request<T: serde::Serialize>(
    env: &Env,
    shop_id: &str,
    day: u32,
    method: Method,
    path: &str,
    body: Option<&T>,
) -> Result<Response, ApiError> {
    let namespace = env.durable_object(AGGREGATE_STORE_BINDING)?;
    let stub = namespace
        .id_from_name(&format!("{shop_id}:{day}"))?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(body) = body {
        let json = serde_json::to_string(body).map_err(|e| ApiError::Internal(e.to_string()))?;
        init.with_body(Some(json.into()));
    }
    let request = Request::new_with_init(&format!("https://aggregate-store{path}"), &init)?;
    Ok(stub.fetch_with_request(request).await?)
}

/// Blunts poisoning: each client may send a bounded number of envelopes per
/// period. The limiter sees only a one-way hash of the client address, kept in
/// memory by the runtime for the period; nothing is written anywhere.
async fn rate_limit(req: &Request, env: &Env) -> Result<(), ApiError> {
    let address = req
        .headers()
        .get("cf-connecting-ip")
        .ok()
        .flatten()
        .unwrap_or_default();
    let limiter = env.rate_limiter(REPORT_LIMITER_BINDING)?;
    let outcome = limiter
        .limit(format!("reports:{:016x}", fnv1a(address.as_bytes())))
        .await?;
    if outcome.success {
        Ok(())
    } else {
        Err(ApiError::TooManyRequests)
    }
}

/// FNV-1a, 64 bits: enough to spread rate-limit keys; not a secret.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
