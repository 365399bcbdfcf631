//! `POST /v1/score`: the walking skeleton's scoring route. It ranks candidate
//! vectors against a shopper vector with the engine's own `top_k`.

use serde::Deserialize;
use worker::{Request, Response, RouteContext};

use crate::api_error::ApiError;

/// The largest body this route reads.
const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreRequest {
    dim: usize,
    k: usize,
    user: Vec<f32>,
    items: Vec<Vec<f32>>,
}

/// Handles `POST /v1/score`.
pub async fn handle(req: Request, _ctx: RouteContext<()>) -> worker::Result<Response> {
    match score(req).await {
        Ok(response) => Ok(response),
        Err(error) => error.into_response(),
    }
}

async fn score(mut req: Request) -> Result<Response, ApiError> {
    let content_type = req
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .unwrap_or_default();
    if !content_type.starts_with("application/json") {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = req
        .bytes()
        .await
        .map_err(|e| ApiError::BadRequest(format!("could not read the body: {e}")))?;
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::TooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    let request: ScoreRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid score request: {e}")))?;
    if let Some(row) = request.items.iter().find(|row| row.len() != request.dim) {
        return Err(ApiError::Engine(cove_engine::Error::DimensionMismatch {
            what: "item row",
            expected: request.dim,
            found: row.len(),
        }));
    }
    let flat: Vec<f32> = request.items.concat();
    let ranked = cove_engine::score::top_k(&request.user, &flat, request.dim, request.k)?;
    Response::from_json(&serde_json::json!({ "items": ranked }))
        .map_err(|e| ApiError::BadRequest(e.to_string()))
}
