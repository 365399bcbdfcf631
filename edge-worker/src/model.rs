//! The model the worker scores with: the shop's default bundle, read once per
//! isolate from the static assets (`/v1/bundles/default.json` names it) and
//! validated by the engine's own loader.

use std::cell::RefCell;
use std::sync::Arc;

use cove_engine::bundle::Model;
use serde::Deserialize;
use worker::Env;

use crate::api_error::ApiError;
use crate::config::ASSETS_BINDING;

/// The pointer to the default bundle, written by the trainer beside the bundles.
#[derive(Debug, Deserialize)]
pub struct DefaultBundle {
    /// The content-addressed model id.
    pub model_id: String,
    /// The manifest's path, `/v1/bundles/<id>/manifest.json`.
    pub manifest: String,
    /// The tensor file's path, `/v1/bundles/<id>/tensors.safetensors`.
    pub tensors: String,
}

thread_local! {
    /// The loaded model. An isolate runs one request at a time per thread, and a
    /// bundle is immutable, so a plain cell per thread is enough.
    static CURRENT: RefCell<Option<Arc<Model>>> = const { RefCell::new(None) };
}

async fn asset_bytes(env: &Env, path: &str) -> Result<Vec<u8>, ApiError> {
    let assets = env.assets(ASSETS_BINDING)?;
    let mut response = assets
        .fetch(format!("https://assets.local{path}"), None)
        .await?;
    match response.status_code() {
        200 => Ok(response.bytes().await?),
        404 => Err(ApiError::Unavailable(format!(
            "no model bundle is published at {path}"
        ))),
        status => Err(ApiError::Internal(format!(
            "assets answered {status} for {path}"
        ))),
    }
}

/// The default model, loading it on first use.
pub async fn default_model(env: &Env) -> Result<Arc<Model>, ApiError> {
    if let Some(model) = CURRENT.with(|current| current.borrow().clone()) {
        return Ok(model);
    }
    let pointer: DefaultBundle =
        serde_json::from_slice(&asset_bytes(env, "/v1/bundles/default.json").await?)
            .map_err(|e| ApiError::Internal(format!("default.json: {e}")))?;
    let manifest = asset_bytes(env, &pointer.manifest).await?;
    let tensors = asset_bytes(env, &pointer.tensors).await?;
    let model = Arc::new(
        Model::from_bytes(&manifest, &tensors)
            .map_err(|e| ApiError::Internal(format!("bundle {}: {e}", pointer.model_id)))?,
    );
    CURRENT.with(|current| *current.borrow_mut() = Some(model.clone()));
    Ok(model)
}
