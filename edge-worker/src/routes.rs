//! The worker's one routing table: every endpoint, and which module handles it.

use worker::{Request, Response, RouteContext, Router};

use crate::api_error::ApiError;
use crate::{aggregates, cors, recommend, registry, reports, score};

/// Builds the routing table.
pub fn router() -> Router<'static, ()> {
    Router::new()
        .get("/v1/health", health)
        .post_async("/v1/score", score::handle)
        .post_async("/v1/recommend", recommend::handle)
        .get_async("/v1/config", registry::handle)
        .post_async("/v1/reports", reports::handle)
        .get_async("/v1/aggregates", aggregates::handle)
        .options("/v1/*path", cors::preflight)
        .or_else_any_method("/*path", not_found)
}

fn health(_req: Request, _ctx: RouteContext<()>) -> worker::Result<Response> {
    Response::from_json(&serde_json::json!({
        "status": "ok",
        "engine": env!("CARGO_PKG_VERSION"),
    }))
}

fn not_found(req: Request, _ctx: RouteContext<()>) -> worker::Result<Response> {
    ApiError::NotFound(format!("no route for {} {}", req.method(), req.path())).into_response()
}
