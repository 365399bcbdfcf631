//! `POST /v1/score`: the walking skeleton's scoring route. It ranks candidate
//! vectors against a shopper vector with the engine's own `top_k`.

use serde::Deserialize;
use worker::{Request, Response, RouteContext};

use crate::api_error::ApiError;
use crate::body::read_json_bytes;

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
    let body = read_json_bytes(&mut req, MAX_BODY_BYTES).await?;
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
    Ok(Response::from_json(
        &serde_json::json!({ "items": ranked }),
    )?)
}
