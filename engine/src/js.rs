//! The JavaScript API, a thin layer over the engine (feature `js`).
//!
//! This module is the only place in the engine that knows about `JsValue`.
//! Engine errors become JavaScript `Error` objects with a `code` property, in
//! [`to_js_error`], and nowhere else.
//!
//! [`CoveEngine`] is a minimal, provisional handle (load a bundle, track an
//! event, rank, classify, save and restore the profile) so that the wasm build
//! links the whole engine and can be smoke-tested; the storefront snippet's
//! API is designed in its own issue and will replace it.

use wasm_bindgen::prelude::*;

use crate::bundle::Engine;
use crate::events::Event;
use crate::profile::{Profile, ProfileConfig};
use crate::ranking::RankRequest;
use crate::Error;
use crate::{ranking, score, segments};

/// Converts an engine error into a JavaScript `Error` carrying `code`.
fn to_js_error(error: Error) -> JsValue {
    let js_error = js_sys::Error::new(&error.to_string());
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&js_error, &"code".into(), &error.code().into());
    js_error.into()
}

fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    serde_wasm_bindgen::to_value(value)
        .map_err(|e| JsValue::from(js_sys::Error::new(&e.to_string())))
}

/// Scores each row of `items` (row-major, `dim` columns) against `user` and
/// returns the `k` best as `[{ index, score }]`, best first.
#[wasm_bindgen(js_name = topK)]
pub fn top_k(user: &[f32], items: &[f32], dim: usize, k: usize) -> Result<JsValue, JsValue> {
    let ranked = score::top_k(user, items, dim, k).map_err(to_js_error)?;
    to_js(&ranked)
}

/// The engine's version, for diagnostics.
#[wasm_bindgen(js_name = engineVersion)]
pub fn engine_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// A model, a profile and its limits (provisional; see the module docs).
#[wasm_bindgen]
pub struct CoveEngine {
    engine: Engine,
    config: ProfileConfig,
    profile: Profile,
}

impl Default for CoveEngine {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl CoveEngine {
    /// An engine with no model and an empty profile.
    #[wasm_bindgen(constructor)]
    pub fn new() -> CoveEngine {
        CoveEngine {
            engine: Engine::new(),
            config: ProfileConfig::default(),
            profile: Profile::new(),
        }
    }

    /// Validates and loads a bundle; returns its model id. On error the
    /// previous model stays.
    #[wasm_bindgen(js_name = loadBundle)]
    pub fn load_bundle(&mut self, manifest: &[u8], tensors: &[u8]) -> Result<String, JsValue> {
        let model = self.engine.load(manifest, tensors).map_err(to_js_error)?;
        Ok(model.model_id().to_string())
    }

    /// Applies one event given as JSON (`{"at": …, "kind": {"type": …}}`).
    pub fn track(&mut self, event_json: &str) -> Result<(), JsValue> {
        let event = Event::from_json(event_json.as_bytes(), &self.config).map_err(to_js_error)?;
        self.profile
            .apply(&event, &self.config)
            .map_err(to_js_error)
    }

    /// Ranks for a request given as JSON (see `RankRequest`).
    pub fn recommend(&self, request_json: &str) -> Result<JsValue, JsValue> {
        let request: RankRequest = serde_json::from_str(request_json).map_err(|e| {
            to_js_error(Error::InvalidParameter {
                name: "request",
                reason: if e.is_syntax() {
                    "not JSON"
                } else {
                    "not a rank request"
                },
            })
        })?;
        let model = self.engine.model().map_err(to_js_error)?;
        let ranking = ranking::recommend(model, &self.profile, &self.config, &request)
            .map_err(to_js_error)?;
        to_js(&ranking)
    }

    /// The shopper's segments at `now` (unix seconds).
    pub fn segments(&self, now: f64) -> Result<JsValue, JsValue> {
        let model = self.engine.model().map_err(to_js_error)?;
        to_js(&segments::classify(
            model,
            &self.profile,
            &self.config,
            now as i64,
        ))
    }

    /// The profile in its binary form, for storage on the device.
    #[wasm_bindgen(js_name = profileBytes)]
    pub fn profile_bytes(&self) -> Vec<u8> {
        self.profile.to_bytes()
    }

    /// Restores a stored profile; a corrupt one is refused and the current
    /// profile kept.
    #[wasm_bindgen(js_name = restoreProfile)]
    pub fn restore_profile(&mut self, bytes: &[u8]) -> Result<(), JsValue> {
        self.profile = Profile::from_bytes(bytes, &self.config).map_err(to_js_error)?;
        Ok(())
    }

    /// Forgets the profile.
    pub fn forget(&mut self) {
        self.profile = Profile::new();
    }
}
