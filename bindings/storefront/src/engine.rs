//! [`CoveEngine`] and the storefront's free functions: the module's whole
//! API. The storefront crate exports exactly this; `cove-storefront-shards`
//! includes this file and adds the methods of a large catalogue's shards, so
//! the two modules cannot drift.

use cove_bindings::{load_bundle, to_js, to_js_error};
use cove_engine::abandonment;
use cove_engine::bundle::Engine;
use cove_engine::events::Event;
use cove_engine::profile::{Profile, ProfileConfig};
use cove_engine::ranking::{self, RankRequest};
use cove_engine::Error;
use cove_engine::{score, segments};
use wasm_bindgen::prelude::*;

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
    cove_engine::VERSION.to_string()
}

/// One model and one shopper's profile: the engine behind the snippet.
#[wasm_bindgen]
pub struct CoveEngine {
    pub(crate) engine: Engine,
    pub(crate) config: ProfileConfig,
    pub(crate) profile: Profile,
}

impl Default for CoveEngine {
    fn default() -> Self {
        Self::new()
    }
}

/// What `explain` says about one item.
#[derive(serde::Serialize)]
struct Explanation<'a> {
    item: &'a cove_engine::bundle::ItemMeta,
    /// What the profile holds about the item, with its weight decayed to now.
    signal: Option<ExplainedSignal>,
    /// Where a fresh ranking of the whole catalogue puts it, and why.
    rank: Option<ExplainedRank>,
}

#[derive(serde::Serialize)]
struct ExplainedSignal {
    weight_now: f64,
    purchased: bool,
    disliked: bool,
    last_at: i64,
}

#[derive(serde::Serialize)]
struct ExplainedRank {
    position: usize,
    score: f32,
    reason: ranking::Reason,
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
    /// previous model stays. `tensors_sha256`, when given, is the hex SHA-256
    /// the host computed over `tensors` (Subresource Integrity or Web Crypto);
    /// it must equal the manifest's digest, and the engine does not hash the
    /// tensors again.
    #[wasm_bindgen(js_name = loadBundle)]
    pub fn load_bundle(
        &mut self,
        manifest: &[u8],
        tensors: &[u8],
        tensors_sha256: Option<String>,
    ) -> Result<String, JsValue> {
        let model = load_bundle(&mut self.engine, manifest, tensors, tensors_sha256)?;
        // Events are recorded and ranked with the decay the bundle was tuned
        // with; a stored profile keeps its weights (they decay lazily).
        self.config = model.profile_config().clone();
        Ok(model.model_id().to_string())
    }

    /// Applies one event given as JSON (`{"at": …, "kind": {"type": …}}`). On
    /// error the profile is unchanged.
    pub fn track(&mut self, event_json: &str) -> Result<(), JsValue> {
        let event = Event::from_json(event_json.as_bytes(), &self.config.event_limits())
            .map_err(to_js_error)?;
        self.profile
            .apply(&event, &self.config)
            .map_err(to_js_error)
    }

    /// Ranks for a request given as JSON (see `RankRequest`).
    pub fn recommend(&self, request_json: &str) -> Result<JsValue, JsValue> {
        let request = RankRequest::from_json(request_json.as_bytes()).map_err(|e| {
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

    /// The catalogue entry of an item (`{ id, title, price, category, in_stock }`),
    /// or `undefined` when the model does not know it.
    pub fn item(&self, item_id: &str) -> Result<JsValue, JsValue> {
        let model = self.engine.model().map_err(to_js_error)?;
        match model.item_row(item_id).and_then(|row| model.item(row)) {
            Some(meta) => to_js(meta),
            None => Ok(JsValue::UNDEFINED),
        }
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

    /// The cart-abandonment risk and the shop's rescue decision, with a seed
    /// the caller draws (the holdout assignment depends only on it). An
    /// eligible decision names its campaign (`audience`); given the variant
    /// that campaign assigned, the variant decides (`RescueDecision::in_campaign`).
    pub fn rescue(&self, now: f64, seed: u32, variant: Option<u32>) -> Result<JsValue, JsValue> {
        let model = self.engine.model().map_err(to_js_error)?;
        let segments = segments::classify(model, &self.profile, &self.config, now as i64);
        let decision = abandonment::decide(
            model,
            &self.profile,
            &segments.lifecycle.name,
            u64::from(seed),
        );
        to_js(&match variant {
            Some(variant) => decision.in_campaign(variant),
            None => decision,
        })
    }

    /// Why an item would be shown and what the profile holds about it.
    pub fn explain(&self, item_id: &str, now: f64) -> Result<JsValue, JsValue> {
        let model = self.engine.model().map_err(to_js_error)?;
        let Some(meta) = model.item_row(item_id).and_then(|row| model.item(row)) else {
            return Err(to_js_error(Error::InvalidParameter {
                name: "item",
                reason: "the model does not know this item",
            }));
        };
        let now = now as i64;
        let signal = self
            .profile
            .weights_at(now, &self.config)
            .find(|(signal, _)| signal.id == item_id)
            .map(|(signal, weight_now)| ExplainedSignal {
                weight_now,
                purchased: signal.purchased,
                disliked: signal.disliked,
                last_at: signal.at,
            });
        let request = RankRequest {
            k: model.n_items().clamp(1, ranking::MAX_K),
            now,
            ..RankRequest::default()
        };
        let ranked = ranking::recommend(model, &self.profile, &self.config, &request)
            .map_err(to_js_error)?;
        let rank = ranked
            .items
            .into_iter()
            .enumerate()
            .find(|(_, entry)| entry.item == item_id)
            .map(|(position, entry)| ExplainedRank {
                position,
                score: entry.score,
                reason: entry.reason,
            });
        to_js(&Explanation {
            item: meta,
            signal,
            rank,
        })
    }

    /// The profile in its binary form, for storage on the device.
    #[wasm_bindgen(js_name = profileBytes)]
    pub fn profile_bytes(&self) -> Vec<u8> {
        self.profile.to_bytes()
    }

    /// The profile as JSON text, for the "what this shop knows" panel.
    #[wasm_bindgen(js_name = profileJson)]
    pub fn profile_json(&self) -> String {
        self.profile.to_json()
    }

    /// Restores a stored profile; a corrupt or old one is refused with a typed
    /// error and the current profile kept.
    #[wasm_bindgen(js_name = restoreProfile)]
    pub fn restore_profile(&mut self, bytes: &[u8]) -> Result<(), JsValue> {
        self.profile = Profile::from_bytes(bytes, &self.config).map_err(to_js_error)?;
        Ok(())
    }

    /// Forgets the profile (the reporting state is the reporter module's,
    /// `cove-reporting`).
    pub fn forget(&mut self) {
        self.profile = Profile::new();
    }
}

/// What the privacy reporter's module needs of the main bundle.
#[wasm_bindgen]
impl CoveEngine {
    /// What the privacy reporter's module needs of the loaded model (its id,
    /// profile configuration, lifecycle map, price tiers, item ids and
    /// categories), as the engine's binary digest (`privacy::digest`): the
    /// reporter reads it instead of loading the bundle a second time.
    #[wasm_bindgen(js_name = reportingDigest)]
    pub fn reporting_digest(&self) -> Result<Vec<u8>, JsValue> {
        let model = self.engine.model().map_err(to_js_error)?;
        Ok(cove_engine::privacy::digest::ModelDigest::encode(model))
    }
}
