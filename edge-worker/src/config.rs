//! The worker's configuration: binding names (they must match `wrangler.toml`)
//! and the shops it serves (`shops.json`, compiled in and checked once).

use std::sync::OnceLock;

use cove_engine::bundle::Model;
use cove_engine::privacy::campaign::CampaignSpec;
use cove_engine::privacy::registry::{MetricRequest, Registry, ReportSchedule};
use serde::Deserialize;

use crate::http::Settings;

/// The static assets (`www/`), which include the published bundles.
pub const ASSETS_BINDING: &str = "ASSETS";

/// The Durable Object namespace that keeps aggregates, one object per shop and day.
pub const AGGREGATE_STORE_BINDING: &str = "AGGREGATE_STORE";

/// The Durable Object namespace of each shop's index of days with data.
pub const DAY_INDEX_BINDING: &str = "DAY_INDEX";

/// The rate limiter for report ingest.
pub const REPORT_LIMITER_BINDING: &str = "REPORT_LIMITER";

/// The worker's own public origins, comma-separated (a plain variable in
/// `wrangler.toml`; `wrangler.mjs` sets the dev server's).
pub const PUBLIC_ORIGINS_VAR: &str = "PUBLIC_ORIGINS";

/// The dashboard tokens (a secret): `shop=token` entries separated by commas
/// or whitespace. Two entries for one shop while a token is rotated: add the
/// new one, move the dashboard to it, remove the old one; no restart.
pub const DASHBOARD_TOKENS_SECRET: &str = "DASHBOARD_TOKENS";

/// The key of the rate limiter's client keys (a secret, at least 32 bytes).
pub const RATE_LIMIT_KEY_SECRET: &str = "RATE_LIMIT_KEY";

/// The shortest dashboard token or rate-limit key accepted.
pub const MIN_SECRET_BYTES: usize = 32;

/// The worker's settings from its variables and secrets. A missing or
/// malformed value leaves that part empty (and logs why): the API then answers
/// 421 on every host, or 401 to every dashboard read, instead of guessing.
pub fn settings(env: &worker::Env) -> Settings {
    let text = |name: &str| {
        env.secret(name)
            .map(|value| value.to_string())
            .or_else(|_| env.var(name).map(|value| value.to_string()))
            .ok()
    };
    let public_origins = text(PUBLIC_ORIGINS_VAR)
        .map(|value| parse_origins(&value))
        .unwrap_or_default();
    let dashboard_tokens = match text(DASHBOARD_TOKENS_SECRET).map(|value| parse_tokens(&value)) {
        Some(Ok(tokens)) => tokens,
        Some(Err(reason)) => {
            crate::log_error(&format!("{DASHBOARD_TOKENS_SECRET}: {reason}"));
            Vec::new()
        }
        None => Vec::new(),
    };
    Settings {
        public_origins,
        dashboard_tokens,
    }
}

/// The rate-limit key, if it is set and long enough.
pub fn rate_limit_key(env: &worker::Env) -> Option<Vec<u8>> {
    let key = env.secret(RATE_LIMIT_KEY_SECRET).ok()?.to_string();
    (key.len() >= MIN_SECRET_BYTES).then(|| key.into_bytes())
}

/// Parses `PUBLIC_ORIGINS`.
pub fn parse_origins(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| origin.trim_end_matches('/').to_string())
        .collect()
}

/// Parses `DASHBOARD_TOKENS` into (shop, token digest) pairs.
pub fn parse_tokens(text: &str) -> Result<Vec<(String, [u8; 32])>, String> {
    let mut tokens = Vec::new();
    for entry in text.split([',', ' ', '\n', '\t']).filter(|e| !e.is_empty()) {
        let (shop, token) = entry.split_once('=').ok_or("each entry is shop=token")?;
        if shop.is_empty() || token.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "each entry names a shop and a token of at least {MIN_SECRET_BYTES} characters"
            ));
        }
        tokens.push((shop.to_string(), crate::http::token_digest(token)));
    }
    Ok(tokens)
}

/// One shop: who may call from a browser, and what it collects.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopConfig {
    /// The shop's id, used in URLs (`?shop=`).
    pub id: String,
    /// Origins allowed to call the API from a browser (CORS).
    pub origins: Vec<String>,
    /// Values estimated below this many devices are not published.
    pub k_anonymity: u32,
    /// The most ε one envelope may spend.
    pub max_envelope_epsilon: f64,
    /// The most ε a device spends per day (shown to the shopper).
    pub daily_epsilon: f64,
    /// When devices send their envelope.
    pub schedule: ReportSchedule,
    /// The built-in metrics devices report; their domains come from the model.
    pub metrics: Vec<MetricRequest>,
    /// The campaigns the shop runs (each one a metric of its own).
    #[serde(default)]
    pub campaigns: Vec<CampaignSpec>,
}

impl ShopConfig {
    /// The shop's metric registry resolved against `model`: what `GET
    /// /v1/config` serves, what reports are validated by and what aggregates
    /// are estimated by.
    pub fn registry(&self, model: &Model) -> Result<Registry, cove_engine::Error> {
        Registry::resolve(
            &self.id,
            model,
            &self.metrics,
            &self.campaigns,
            self.daily_epsilon,
            self.k_anonymity,
            self.schedule,
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShopsFile {
    shops: Vec<ShopConfig>,
}

/// Every configured shop. `shops.json` is part of the build and its validity is
/// checked by a native test, so parsing it cannot fail at run time.
pub fn shops() -> &'static [ShopConfig] {
    static SHOPS: OnceLock<Vec<ShopConfig>> = OnceLock::new();
    SHOPS.get_or_init(|| parse_shops(include_str!("../shops.json")).unwrap_or_default())
}

/// The shop with this id.
pub fn shop(id: &str) -> Option<&'static ShopConfig> {
    shops().iter().find(|shop| shop.id == id)
}

/// Parses and validates a shops file.
pub fn parse_shops(text: &str) -> Result<Vec<ShopConfig>, String> {
    let file: ShopsFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    for shop in &file.shops {
        if shop.id.is_empty()
            || !shop
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(format!("shop id '{}' must be [A-Za-z0-9-]+", shop.id));
        }
        if shop.k_anonymity == 0 {
            return Err(format!("shop {}: k_anonymity must be at least 1", shop.id));
        }
        if !(0.0..=shop.max_envelope_epsilon).contains(&shop.daily_epsilon) {
            return Err(format!(
                "shop {}: daily_epsilon must be between 0 and max_envelope_epsilon",
                shop.id
            ));
        }
        for campaign in &shop.campaigns {
            campaign
                .validate()
                .map_err(|e| format!("shop {}: {e}", shop.id))?;
        }
    }
    Ok(file.shops)
}

#[cfg(test)]
mod tests {
    #[test]
    fn settings_parse_strictly() {
        assert_eq!(
            super::parse_origins("https://a.example/, http://127.0.0.1:8787"),
            ["https://a.example", "http://127.0.0.1:8787"]
        );
        let long = "x".repeat(32);
        let tokens =
            super::parse_tokens(&format!("demo={long} demo={long}y\nother={long}")).unwrap();
        assert_eq!(tokens.len(), 3);
        assert_eq!(tokens[0].1, crate::http::token_digest(&long));
        for bad in ["demo", "demo=short", &format!("={long}")] {
            assert!(super::parse_tokens(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_compiled_in_shops_file_is_valid() {
        let shops = super::parse_shops(include_str!("../shops.json")).unwrap();
        let demo = shops.iter().find(|shop| shop.id == "demo").unwrap();
        // Every shop's metrics resolve against a bundle (domains from the model).
        let bundle = cove_engine::testing::synthetic_bundle(&Default::default());
        let model =
            cove_engine::bundle::Model::from_bytes(&bundle.manifest, &bundle.tensors).unwrap();
        let registry = demo.registry(&model).unwrap();
        assert_eq!(
            registry.metrics.len(),
            demo.metrics.len() + demo.campaigns.len()
        );
    }
}
