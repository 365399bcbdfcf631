//! The worker's configuration: binding names (they must match `wrangler.toml`)
//! and the shops it serves (`shops.json`, compiled in and checked once).

use std::sync::OnceLock;

use cove_engine::privacy::MetricSpec;
use serde::Deserialize;

/// The static assets (`www/`), which include the published bundles.
pub const ASSETS_BINDING: &str = "ASSETS";

/// The Durable Object namespace that keeps aggregates, one object per shop and day.
pub const AGGREGATE_STORE_BINDING: &str = "AGGREGATE_STORE";

/// The rate limiter for report ingest.
pub const REPORT_LIMITER_BINDING: &str = "REPORT_LIMITER";

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
    /// The metrics devices report.
    pub metrics: Vec<MetricSpec>,
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
        for metric in &shop.metrics {
            metric
                .validate()
                .map_err(|e| format!("shop {}: {e}", shop.id))?;
        }
    }
    Ok(file.shops)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_compiled_in_shops_file_is_valid() {
        let shops = super::parse_shops(include_str!("../shops.json")).unwrap();
        assert!(shops.iter().any(|shop| shop.id == "demo"));
    }
}
