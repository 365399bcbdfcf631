//! The model the worker scores with: the shop's default bundle, read once per
//! isolate from the static assets (`/v1/bundles/default.json` names it) and
//! validated by the engine's own loader.

use std::cell::RefCell;
use std::sync::Arc;

use cove_engine::bundle::{layout, Model};
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
    /// A head bundle's shard files, in the order of its shard table
    /// (`/v1/bundles/<id>/shard-<i>.safetensors`); absent for a whole
    /// bundle. They are static assets beside the bundle, so storefronts
    /// fetch them from the same place.
    #[serde(default)]
    pub shards: Vec<String>,
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
    let pointer_url = layout::pointer_url(layout::DEFAULT_POINTER);
    let pointer: DefaultBundle = serde_json::from_slice(&asset_bytes(env, &pointer_url).await?)
        .map_err(|e| ApiError::Internal(format!("{}: {e}", layout::DEFAULT_POINTER)))?;
    let manifest = asset_bytes(env, &pointer.manifest).await?;
    let tensors = asset_bytes(env, &pointer.tensors).await?;
    let mut model = Model::from_bytes(&manifest, &tensors)
        .map_err(|e| ApiError::Internal(format!("bundle {}: {e}", pointer.model_id)))?;
    // The edge scores with the whole catalogue: every shard of a head. A
    // shard that is missing or fails its checks leaves the head (and the
    // shards before it) scoring, and says so in the log.
    for (index, path) in pointer.shards.iter().enumerate() {
        let added = match asset_bytes(env, path).await {
            Ok(bytes) => model.add_shard(index, &bytes).map_err(|e| e.to_string()),
            Err(e) => Err(format!("{e:?}")),
        };
        if let Err(problem) = added {
            worker::console_error!(
                "bundle {} shard {index} ({path}): {problem}",
                pointer.model_id
            );
        }
    }
    let model = Arc::new(model);
    CURRENT.with(|current| *current.borrow_mut() = Some(model.clone()));
    Ok(model)
}
