//! The worker's one routing table: every endpoint, and which module handles it.

use worker::Router;

use crate::api_error::ApiError;
use crate::score;

/// Builds the routing table.
pub fn router() -> Router<'static, ()> {
    Router::new()
        .get("/v1/health", |_, _| {
            worker::Response::from_json(&serde_json::json!({
                "status": "ok",
                "engine": env!("CARGO_PKG_VERSION"),
            }))
        })
        .post_async("/v1/score", score::handle)
        .or_else_any_method("/v1/*path", |req, _| {
            ApiError::NotFound(format!("no route for {} {}", req.method(), req.path()))
                .into_response()
        })
}
