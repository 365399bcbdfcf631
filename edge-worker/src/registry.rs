//! `GET /v1/config?shop=ID`: the shop's metric registry, resolved against the
//! default model (domains from the bundle). Devices read it to know what to
//! report, with which ε, and when; it holds nothing about anyone, so it is
//! public and cacheable.

use cove_engine::privacy::registry::Registry;
use worker::{Env, Request, Response, RouteContext};

use crate::api_error::ApiError;
use crate::body::query_param;
use crate::config::{self, ShopConfig};
use crate::{cors, model};

/// How long browsers and caches may keep the registry, in seconds.
const MAX_AGE_SECONDS: u32 = 300;

/// Handles `GET /v1/config`.
pub async fn handle(req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let origin = cors::origin(&req);
    let shop_id = query_param(&req, "shop").unwrap_or_default();
    let result = serve(&req, &ctx.env, &shop_id).await;
    cors::respond(result, config::shop(&shop_id), origin.as_deref())
}

async fn serve(req: &Request, env: &Env, shop_id: &str) -> Result<Response, ApiError> {
    let shop = config::shop(shop_id)
        .ok_or_else(|| ApiError::NotFound(format!("unknown shop '{shop_id}'")))?;
    cors::check_origin(req, shop)?;
    let registry = shop_registry(env, shop).await?;
    let mut response = Response::from_json(&registry)?;
    response.headers_mut().set(
        "Cache-Control",
        &format!("public, max-age={MAX_AGE_SECONDS}"),
    )?;
    Ok(response)
}

/// The shop's registry for the default model.
pub async fn shop_registry(env: &Env, shop: &ShopConfig) -> Result<Registry, ApiError> {
    let model = model::default_model(env).await?;
    shop.registry(&model)
        .map_err(|e| ApiError::Internal(format!("shop {}: {e}", shop.id)))
}
