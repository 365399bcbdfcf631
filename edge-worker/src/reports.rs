//! `POST /v1/reports?shop=ID`: privacy report ingest.
//!
//! The body is one fixed-size envelope of randomised reports (see the engine's
//! `privacy::report`). It is validated strictly ([`prepare`], plain Rust),
//! rate-limited per client under a keyed hash of its address, then counted by
//! the shop-day's Durable Object and forgotten. Nothing here logs or stores
//! the body, the client's address or any header.

use cove_engine::privacy::registry::Registry;
use cove_engine::privacy::report::Envelope;
use hmac::{KeyInit, Mac};
use worker::{Env, Method, Request, RequestInit, Response};

use crate::aggregate_store::{Counter, IngestRequest};
use crate::api_error::ApiError;
use crate::config::{ShopConfig, AGGREGATE_STORE_BINDING, REPORT_LIMITER_BINDING};
use crate::http::Answer;

/// A validated envelope, ready to be counted.
#[derive(Debug)]
pub struct Prepared {
    /// The day whose store counts it.
    pub day: u32,
    /// What the store is sent.
    pub ingest: IngestRequest,
    /// How many reports it holds.
    pub n_reports: usize,
}

/// Parses and validates an envelope for `shop` and turns it into counter
/// increments (with the per-country interest counters of `country`).
pub fn prepare(
    shop: &ShopConfig,
    registry: &Registry,
    body: &[u8],
    today: u32,
    country: &str,
) -> Result<Prepared, ApiError> {
    let envelope = Envelope::parse(body).map_err(ApiError::Malformed)?;
    envelope.validate(&registry.metrics, today, shop.max_envelope_epsilon)?;
    let n_reports = envelope.reports.len();
    let mut cells: Vec<Counter> = envelope
        .reports
        .into_iter()
        .map(|r| Counter {
            metric: r.metric,
            country: None,
            cell: r.cell,
        })
        .collect();
    cells.extend(crate::trending::country_counters(&cells, country));
    Ok(Prepared {
        day: envelope.day,
        ingest: IngestRequest {
            shop: shop.id.clone(),
            day: envelope.day,
            nonce: envelope.nonce,
            cells,
        },
        n_reports,
    })
}

/// Rate-limits the client and counts a prepared envelope.
pub async fn ingest(
    req: &Request,
    env: &Env,
    shop: &ShopConfig,
    prepared: Prepared,
) -> Result<Answer, ApiError> {
    rate_limit(req, env).await?;
    let n_reports = prepared.n_reports;
    match count_envelope(env, shop, prepared).await? {
        Counted::Once => Answer::json(202, &serde_json::json!({ "accepted": n_reports })),
        Counted::Before => Err(ApiError::Duplicate),
    }
}

/// Whether the store counted an envelope now, or had counted it before.
enum Counted {
    Once,
    Before,
}

/// Adds a prepared envelope to its shop-day's aggregate store.
async fn count_envelope(
    env: &Env,
    shop: &ShopConfig,
    prepared: Prepared,
) -> Result<Counted, ApiError> {
    let mut response = store_request(
        env,
        &shop.id,
        prepared.day,
        Method::Post,
        "/ingest",
        Some(&prepared.ingest),
    )
    .await?;
    match response.status_code() {
        200 => Ok(Counted::Once),
        409 => Ok(Counted::Before),
        status => {
            let detail = response.text().await.unwrap_or_default();
            Err(ApiError::Internal(format!(
                "aggregate store answered {status}: {detail}"
            )))
        }
    }
}

/// The largest upload: an envelope plus one secret-shared report per metric.
pub const MAX_UPLOAD_BYTES: usize = 256 * 1024;

/// `POST /v1/reports`: an envelope (one aggregator, local DP), or an upload
/// (`{"v": 2, …}`) with the secret-shared reports and, when the shop has
/// local-DP metrics too, the envelope inside it.
pub async fn receive(
    req: &Request,
    env: &Env,
    shop: &ShopConfig,
    registry: &Registry,
    body: &[u8],
    today: u32,
    country: &str,
) -> Result<Answer, ApiError> {
    if !body.starts_with(br#"{"v":2"#) {
        // An envelope: `Envelope::parse` refuses any other size.
        let prepared = prepare(shop, registry, body, today, country)?;
        return ingest(req, env, shop, prepared).await;
    }
    let malformed = |reason: String| {
        ApiError::Malformed(cove_engine::Error::InvalidReport {
            field: "upload",
            reason,
        })
    };
    let upload: crate::dap::Upload = serde_json::from_slice(body).map_err(|e| {
        malformed(crate::api_error::json_error_text(
            "the upload {v, day, envelope, dap}",
            &e,
        ))
    })?;
    if upload.v != 2 || (upload.envelope.is_none() && upload.dap.is_empty()) {
        return Err(malformed("an empty or unknown upload".into()));
    }
    // The envelope is checked before anything is kept, so a bad one refuses
    // the whole upload and counts nothing.
    let envelope = upload
        .envelope
        .as_deref()
        .map(|envelope| prepare(shop, registry, envelope.as_bytes(), today, country))
        .transpose()?;
    rate_limit(req, env).await?;
    let shared = crate::dap::upload(env, shop, registry, &upload.dap, today).await?;
    let mut accepted = shared.accepted as usize;
    let envelope_counted = match envelope {
        Some(prepared) => {
            let n_reports = prepared.n_reports;
            let counted = count_envelope(env, shop, prepared).await?;
            if matches!(counted, Counted::Once) {
                accepted += n_reports;
            }
            Some(counted)
        }
        None => None,
    };
    if accepted == 0 && (shared.duplicates > 0 || matches!(envelope_counted, Some(Counted::Before)))
    {
        return Err(ApiError::Duplicate);
    }
    Answer::json(
        202,
        &serde_json::json!({
            "accepted": accepted,
            "duplicates": shared.duplicates,
            "refused": shared.refused,
        }),
    )
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
/// period. The limiter sees only [`client_key`] of the client's address,
/// kept in memory by the runtime for the period; nothing is written anywhere.
async fn rate_limit(req: &Request, env: &Env) -> Result<(), ApiError> {
    let address = req
        .headers()
        .get("cf-connecting-ip")
        .ok()
        .flatten()
        .filter(|address| !address.is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest("the request has no client address (cf-connecting-ip)".into())
        })?;
    let key = crate::config::rate_limit_key(env)
        .ok_or_else(|| ApiError::Unavailable("RATE_LIMIT_KEY is not set".into()))?;
    let limiter = env.rate_limiter(REPORT_LIMITER_BINDING)?;
    let outcome = limiter.limit(client_key(&key, &address)).await?;
    if outcome.success {
        Ok(())
    } else {
        Err(ApiError::TooManyRequests)
    }
}

/// The limiter's key for a client address: HMAC-SHA256 under the worker's
/// secret key, 128 bits in hex. Without the key, a stored or logged limiter
/// key cannot be turned back into an address by trying them all.
pub fn client_key(key: &[u8], address: &str) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(address.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("reports:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_key_depends_on_the_secret() {
        let address = "198.51.100.7";
        let a = client_key(&[1; 32], address);
        let b = client_key(&[2; 32], address);
        assert_ne!(a, b);
        assert_eq!(a, client_key(&[1; 32], address));
        assert_eq!(a.len(), "reports:".len() + 32);
    }
}
