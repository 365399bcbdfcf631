//! The models the worker uses: the default bundle, which first-paint scoring
//! ranks with (`/v1/bundles/default.json` names it), and each shop's, named
//! by the pointer its pages load ([`ShopConfig::pointer_file`]), which its
//! registry is resolved against. Each is read once per isolate from the
//! static assets and validated by the engine's own loader.

use std::cell::RefCell;
use std::sync::Arc;

use cove_engine::bundle::{layout, Model};
use serde::Deserialize;
use worker::Env;

use crate::api_error::ApiError;
use crate::config::{ShopConfig, ASSETS_BINDING};

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
    /// The loaded models, by pointer file. An isolate runs one request at a
    /// time per thread, and a bundle is immutable, so a plain cell per
    /// thread is enough.
    static LOADED: RefCell<Vec<(String, Arc<Model>)>> = const { RefCell::new(Vec::new()) };
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
    pointer_model(env, layout::DEFAULT_POINTER).await
}

/// The model of the bundle pointer `shop`'s pages load, loading it on first
/// use: what the shop's registry is resolved against.
pub async fn shop_model(env: &Env, shop: &ShopConfig) -> Result<Arc<Model>, ApiError> {
    pointer_model(env, &shop.pointer_file()).await
}

/// The model the pointer file `name` (beside the bundles) names.
async fn pointer_model(env: &Env, name: &str) -> Result<Arc<Model>, ApiError> {
    let cached = LOADED.with(|loaded| {
        loaded
            .borrow()
            .iter()
            .find(|(pointer, _)| pointer == name)
            .map(|(_, model)| model.clone())
    });
    if let Some(model) = cached {
        return Ok(model);
    }
    let pointer_url = layout::pointer_url(name);
    let pointer: DefaultBundle = serde_json::from_slice(&asset_bytes(env, &pointer_url).await?)
        .map_err(|e| ApiError::Internal(format!("{name}: {e}")))?;
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
    LOADED.with(|loaded| loaded.borrow_mut().push((name.to_string(), model.clone())));
    Ok(model)
}
