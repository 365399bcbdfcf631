//! The device's privacy reporter in the browser: [`CoveReporter`], what the
//! snippet's `www/cove/reports.mjs` drives — the shop's metric registry, the
//! device's reporting state (ε spent, campaign assignments, the waiting
//! envelope) and the envelope it builds once a day — as the wasm module
//! `www/pkg/reporting/cove_reporting_bg.wasm`.
//!
//! # Key decisions
//!
//! - **A module of its own**, fetched after the first render and only by
//!   shops that turn reports on (`Cove.start({ shop })`), so the storefront's
//!   module carries no reporting code. It does not load the bundle: the
//!   storefront's module, which has, hands it the model's digest
//!   (`reportingDigest()`: the model id, the profile configuration, the
//!   lifecycle map, the price tiers, item ids and categories; see the
//!   engine's `privacy::digest`), and it is given the shopper's profile in
//!   its binary form when it builds an envelope. Loading and validating the
//!   whole bundle here was about 60 KB of the module.
//! - **The host's randomness.** The privacy mechanisms draw from the
//!   browser's `crypto.getRandomValues` ([`host_rng`]), never from a seed the
//!   page could choose.
//! - **Thin.** The reports are the engine's (`privacy::device`); this crate
//!   converts arguments, answers and errors.
#![deny(missing_docs)]

mod host_rng;
#[cfg(all(test, target_arch = "wasm32"))]
mod tests;

use cove_bindings::{to_js, to_js_error};
use cove_engine::privacy::device::DeviceReporter;
use cove_engine::privacy::digest::{ModelDigest, ReportingModel};
use cove_engine::privacy::registry::{Registry, ReviewClass};
use cove_engine::profile::Profile;
use cove_engine::Error;
use wasm_bindgen::prelude::*;

use host_rng::HostRng;

/// One device's privacy reports for one shop and one model.
#[wasm_bindgen]
pub struct CoveReporter {
    model: Option<ModelDigest>,
    reporter: DeviceReporter,
    registry: Option<Registry>,
}

impl Default for CoveReporter {
    fn default() -> Self {
        Self::new()
    }
}

/// The model's digest, once loaded.
fn loaded(model: &Option<ModelDigest>) -> Result<&ModelDigest, JsValue> {
    model.as_ref().ok_or_else(|| to_js_error(Error::NoModel))
}

fn missing_registry() -> JsValue {
    to_js_error(Error::InvalidParameter {
        name: "registry",
        reason: "the shop's metric registry is not set",
    })
}

#[wasm_bindgen]
impl CoveReporter {
    /// A reporter with no model, no registry and a fresh state.
    #[wasm_bindgen(constructor)]
    pub fn new() -> CoveReporter {
        CoveReporter {
            model: None,
            reporter: DeviceReporter::default(),
            registry: None,
        }
    }

    /// Reads the digest of the model the storefront's module runs (its
    /// `reportingDigest()`); returns the model id. A truncated or corrupt
    /// digest is refused (`model_digest_corrupt`) and the previous model
    /// stays.
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(&mut self, digest: &[u8]) -> Result<String, JsValue> {
        let model = ModelDigest::decode(digest).map_err(to_js_error)?;
        let id = model.model_id().to_string();
        self.model = Some(model);
        Ok(id)
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
        let model = loaded(&self.model)?;
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

    /// Records the sentiment class of a review of `item_id` (the sentiment
    /// model's label: `negative`, `neutral` or `positive`) for the next
    /// privacy report; the text stays on the device and is not kept.
    #[wasm_bindgen(js_name = recordReview)]
    pub fn record_review(&mut self, item_id: &str, class: &str) -> Result<(), JsValue> {
        let model = loaded(&self.model)?;
        let class = ReviewClass::from_label(class).map_err(to_js_error)?;
        self.reporter
            .record_review(model, item_id, class)
            .map_err(to_js_error)
    }

    /// Counts one line of an order at `at` for the visit metrics: its
    /// revenue, and whether it went to an item clicked in a Cove slot earlier
    /// that day. (One call a line: the module reads no event JSON.)
    #[wasm_bindgen(js_name = recordPurchaseLine)]
    pub fn record_purchase_line(
        &mut self,
        item_id: String,
        quantity: u32,
        price: f64,
        at: f64,
    ) -> Result<(), JsValue> {
        let line = cove_engine::events::PurchaseLine {
            item: item_id,
            quantity,
            price,
        };
        self.reporter
            .record_purchase(&[line], at as i64)
            .map_err(to_js_error)
    }

    /// A Cove slot showed `item_id` to the shopper at `now`.
    #[wasm_bindgen(js_name = recommendationShown)]
    pub fn recommendation_shown(&mut self, item_id: &str, now: f64) {
        self.reporter
            .record_recommendations_shown([item_id], now as i64);
    }

    /// The shopper clicked `item_id` in a Cove slot at `now`; refused
    /// (`recommendation_not_shown`) when no slot showed it today.
    #[wasm_bindgen(js_name = recommendationClick)]
    pub fn recommendation_click(&mut self, item_id: &str, now: f64) -> Result<(), JsValue> {
        self.reporter
            .record_recommendation_click(item_id, now as i64)
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
    /// `profile` is the shopper's profile in its binary form (the storefront
    /// module's `profileBytes()`); a corrupt one is refused with a typed
    /// error and nothing is spent.
    #[wasm_bindgen(js_name = prepareReport)]
    pub fn prepare_report(&mut self, now: f64, profile: &[u8]) -> Result<Option<String>, JsValue> {
        let mut rng = HostRng::new()?;
        let registry = self.registry.as_ref().ok_or_else(missing_registry)?;
        let model = loaded(&self.model)?;
        let config = model.profile_config();
        let profile = Profile::from_bytes(profile, config).map_err(to_js_error)?;
        let body = self
            .reporter
            .prepare(registry, model, &profile, config, now as i64, &mut rng)
            .map_err(to_js_error)?;
        Ok(body.map(str::to_string))
    }

    /// The edge accepted the waiting envelope (or already had it) at `now`
    /// (unix seconds), which the privacy status reports as `sent_at`.
    #[wasm_bindgen(js_name = reportSent)]
    pub fn report_sent(&mut self, now: f64) {
        self.reporter.mark_sent(now as i64);
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

    /// Forgets the reporting state (assignments, exposures, the waiting
    /// envelope). The ε already spent today stays spent.
    pub fn forget(&mut self) {
        self.reporter = self.reporter.forgotten();
    }
}
