//! `GET /v1/config?shop=ID`: the shop's metric registry, resolved against the
//! default model (domains from the bundle). Devices read it to know what to
//! report, with which ε, and when; it holds nothing about anyone, so it is
//! public and cacheable (per calling origin: `http::Answer` adds `Vary`).

use cove_engine::privacy::registry::Registry;
use worker::Env;

use crate::api_error::ApiError;
use crate::config::ShopConfig;
use crate::http::Answer;
use crate::model;

/// How long browsers and caches may keep the registry, in seconds.
const MAX_AGE_SECONDS: u32 = 300;

/// The answer to `GET /v1/config` for a resolved registry.
pub fn answer(registry: &Registry) -> Result<Answer, ApiError> {
    Ok(Answer::json(200, registry)?.with(
        "cache-control",
        format!("public, max-age={MAX_AGE_SECONDS}"),
    ))
}

/// The shop's registry for the model its pages load.
pub async fn shop_registry(env: &Env, shop: &ShopConfig) -> Result<Registry, ApiError> {
    let model = model::shop_model(env, shop).await?;
    let registry = shop
        .registry(&model)
        .map_err(|e| ApiError::Internal(format!("shop {}: {e}", shop.id)))?;
    crate::dap::with_aggregators(env, registry).await
}
