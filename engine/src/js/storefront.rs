//! The storefront engine's JavaScript API (feature `js`): [`CoveEngine`], what
//! the snippet (`www/cove/core.mjs`) drives — one model, one profile, the
//! privacy reporter, and the calls of the JavaScript API.

use wasm_bindgen::prelude::*;

use crate::abandonment;
use crate::bundle::{Engine, TensorCheck};
use crate::events::Event;
use crate::privacy::device::DeviceReporter;
use crate::privacy::registry::Registry;
use crate::profile::{Profile, ProfileConfig};
use crate::ranking::{self, RankRequest};
use crate::Error;
use crate::{score, segments};

use super::host_rng::HostRng;
use super::{to_js, to_js_error};

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

/// One model and one shopper's profile: the engine behind the snippet.
#[wasm_bindgen]
pub struct CoveEngine {
    engine: Engine,
    config: ProfileConfig,
    profile: Profile,
    reporter: DeviceReporter,
    registry: Option<Registry>,
}

fn missing_registry() -> JsValue {
    to_js_error(Error::InvalidParameter {
        name: "registry",
        reason: "the shop's metric registry is not set",
    })
}

impl Default for CoveEngine {
    fn default() -> Self {
        Self::new()
    }
}

/// What `explain` says about one item.
#[derive(serde::Serialize)]
struct Explanation<'a> {
    item: &'a crate::bundle::ItemMeta,
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
            reporter: DeviceReporter::default(),
            registry: None,
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
        let check = match &tensors_sha256 {
            Some(hex) => TensorCheck::HostDigest(hex),
            None => TensorCheck::Hash,
        };
        let model = self
            .engine
            .load_checked(manifest, tensors, check)
            .map_err(to_js_error)?;
        // Events are recorded and ranked with the decay the bundle was tuned
        // with; a stored profile keeps its weights (they decay lazily).
        self.config = model.profile_config().clone();
        Ok(model.model_id().to_string())
    }

    /// Applies one event given as JSON (`{"at": …, "kind": {"type": …}}`). On
    /// error the profile is unchanged.
    pub fn track(&mut self, event_json: &str) -> Result<(), JsValue> {
        let event = Event::from_json(event_json.as_bytes(), &self.config).map_err(to_js_error)?;
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
    /// the caller draws (the holdout assignment depends only on it).
    pub fn rescue(&self, now: f64, seed: u32) -> Result<JsValue, JsValue> {
        let model = self.engine.model().map_err(to_js_error)?;
        let segments = segments::classify(model, &self.profile, &self.config, now as i64);
        to_js(&abandonment::decide(
            model,
            &self.profile,
            &segments.lifecycle.name,
            u64::from(seed),
        ))
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

    /// Forgets the profile and the reporting state (assignments, exposures,
    /// the waiting envelope). The ε already spent today stays spent.
    pub fn forget(&mut self) {
        self.profile = Profile::new();
        self.reporter = self.reporter.forgotten();
    }

    /// Sets the shop's metric registry (the JSON of `GET /v1/config`): checked,
    /// and refused when it is for another model than the loaded one.
    #[wasm_bindgen(js_name = setRegistry)]
    pub fn set_registry(&mut self, registry_json: &str) -> Result<(), JsValue> {
        let registry = Registry::from_json(registry_json.as_bytes()).map_err(|_| {
            to_js_error(Error::InvalidParameter {
                name: "registry",
                reason: "not a metric registry",
            })
        })?;
        registry.validate().map_err(to_js_error)?;
        let model = self.engine.model().map_err(to_js_error)?;
        if model.model_id() != registry.model_id {
            return Err(to_js_error(Error::InvalidParameter {
                name: "registry",
                reason: "the shop's metrics are for another model",
            }));
        }
        self.reporter
            .set_daily_limit(registry.daily_epsilon)
            .map_err(to_js_error)?;
        self.registry = Some(registry);
        Ok(())
    }

    /// The reporting state as JSON, for on-device storage.
    #[wasm_bindgen(js_name = reportingState)]
    pub fn reporting_state(&self) -> String {
        self.reporter.to_json()
    }

    /// Restores a stored reporting state; a corrupt one is refused with a typed
    /// error and the current state kept.
    #[wasm_bindgen(js_name = restoreReporting)]
    pub fn restore_reporting(&mut self, json: &str) -> Result<(), JsValue> {
        self.reporter = DeviceReporter::from_json(json).map_err(to_js_error)?;
        Ok(())
    }

    /// Puts the device in a campaign's audience today; returns its variant
    /// (0 is the holdout: do not show the campaign).
    pub fn campaign(&mut self, campaign_id: &str, now: f64) -> Result<u32, JsValue> {
        let mut rng = HostRng::new()?;
        let registry = self.registry.as_ref().ok_or_else(missing_registry)?;
        self.reporter
            .expose(registry, campaign_id, now as i64, &mut rng)
            .map_err(to_js_error)
    }

    /// Records a response to a campaign shown today; false when the device
    /// was not in its audience.
    #[wasm_bindgen(js_name = campaignResponse)]
    pub fn campaign_response(&mut self, campaign_id: &str) -> bool {
        self.reporter.respond(campaign_id)
    }

    /// Records the sentiment class (0 negative, 1 neutral, 2 positive) of a
    /// review of `item_id` for the next privacy report; the text stays on
    /// the device and is not kept.
    #[wasm_bindgen(js_name = recordReview)]
    pub fn record_review(&mut self, item_id: &str, class: u32) -> Result<(), JsValue> {
        let model = self.engine.model().map_err(to_js_error)?;
        self.reporter
            .record_review(model, item_id, class)
            .map_err(to_js_error)
    }

    /// Schedules the first envelope after the first activity (no-op later).
    #[wasm_bindgen(js_name = noteActivity)]
    pub fn note_activity(&mut self, now: f64) -> Result<(), JsValue> {
        let mut rng = HostRng::new()?;
        let registry = self.registry.as_ref().ok_or_else(missing_registry)?;
        self.reporter.schedule_first(registry, now as i64, &mut rng);
        Ok(())
    }

    /// The envelope to send now (1,024 bytes of JSON), or `undefined`.
    #[wasm_bindgen(js_name = prepareReport)]
    pub fn prepare_report(&mut self, now: f64) -> Result<Option<String>, JsValue> {
        let mut rng = HostRng::new()?;
        let registry = self.registry.as_ref().ok_or_else(missing_registry)?;
        let model = self.engine.model().map_err(to_js_error)?;
        let body = self
            .reporter
            .prepare(
                registry,
                model,
                &self.profile,
                &self.config,
                now as i64,
                &mut rng,
            )
            .map_err(to_js_error)?;
        Ok(body.map(str::to_string))
    }

    /// The edge accepted the waiting envelope (or already had it).
    #[wasm_bindgen(js_name = reportSent)]
    pub fn report_sent(&mut self) {
        self.reporter.mark_sent();
    }

    /// The edge refused the waiting envelope for good; it is dropped.
    #[wasm_bindgen(js_name = reportRefused)]
    pub fn report_refused(&mut self) {
        self.reporter.drop_pending();
    }

    /// What the shopper may see about reporting: ε limit, spent and left
    /// today, the next send time, and the exact last envelope sent.
    pub fn privacy(&self, now: f64) -> Result<JsValue, JsValue> {
        to_js(&self.reporter.status(now as i64))
    }
}

/// What the review report needs of the main bundle: items' categories.
#[wasm_bindgen]
impl CoveEngine {
    /// The index of an item's category in `categories()` (for reports per
    /// category), or `undefined` when the model does not know the item.
    #[wasm_bindgen(js_name = itemCategory)]
    pub fn item_category(&self, item_id: &str) -> Result<Option<u32>, JsValue> {
        let model = self.engine.model().map_err(to_js_error)?;
        Ok(model
            .item_row(item_id)
            .and_then(|row| model.item_category(row)))
    }

    /// The main bundle's category names, sorted (what `itemCategory` indexes).
    pub fn categories(&self) -> Result<Vec<String>, JsValue> {
        let model = self.engine.model().map_err(to_js_error)?;
        Ok(model.categories().to_vec())
    }
}
