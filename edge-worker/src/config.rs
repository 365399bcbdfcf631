//! The worker's configuration: binding names (they must match `wrangler.toml`)
//! and the shops it serves (`shops.json`, compiled in and checked once).

use std::sync::OnceLock;

use cove_engine::privacy::campaign::CampaignSpec;
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
    /// The metrics devices report (after parsing, each campaign's metric too).
    pub metrics: Vec<MetricSpec>,
    /// The campaigns the shop runs; each reports through its own metric
    /// (`campaign.<id>`, cells per variant × lifecycle segment × outcome).
    #[serde(default)]
    pub campaigns: Vec<CampaignSpec>,
}

/// The metric of the lifecycle segment, whose domain gives campaigns their
/// number of segments.
pub const LIFECYCLE_METRIC: &str = "segment.lifecycle";

impl ShopConfig {
    /// The number of lifecycle segments: the domain of the shop's
    /// `segment.lifecycle` metric.
    pub fn lifecycle_segments(&self) -> Option<u32> {
        self.metrics
            .iter()
            .find(|metric| metric.name == LIFECYCLE_METRIC)
            .map(|metric| metric.mechanism.domain())
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
    let mut file: ShopsFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    for shop in &mut file.shops {
        expand_campaigns(shop)?;
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

/// Checks a shop's campaigns and adds each one's metric to the shop's metrics,
/// so that campaign reports validate like any other.
fn expand_campaigns(shop: &mut ShopConfig) -> Result<(), String> {
    if shop.campaigns.is_empty() {
        return Ok(());
    }
    let n_segments = shop.lifecycle_segments().ok_or_else(|| {
        format!(
            "shop {}: campaigns need the {LIFECYCLE_METRIC} metric",
            shop.id
        )
    })?;
    for (index, campaign) in shop.campaigns.iter().enumerate() {
        campaign
            .validate()
            .map_err(|e| format!("shop {}: campaign '{}': {e}", shop.id, campaign.id))?;
        if shop.campaigns[..index].iter().any(|c| c.id == campaign.id) {
            return Err(format!(
                "shop {}: campaign '{}' twice",
                shop.id, campaign.id
            ));
        }
        let metric = campaign.metric(n_segments);
        if shop.metrics.iter().any(|m| m.name == metric.name) {
            return Err(format!("shop {}: metric '{}' twice", shop.id, metric.name));
        }
        shop.metrics.push(metric);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_compiled_in_shops_file_is_valid() {
        let shops = super::parse_shops(include_str!("../shops.json")).unwrap();
        let demo = shops.iter().find(|shop| shop.id == "demo").unwrap();
        assert_eq!(demo.campaigns.len(), 4);
        assert!(demo
            .metrics
            .iter()
            .any(|metric| metric.name == "campaign.rescue-cart"));
    }

    #[test]
    fn bad_campaigns_are_refused() {
        let shop = |metrics: &str, campaigns: &str| {
            format!(
                r#"{{"shops":[{{"id":"s","origins":[],"k_anonymity":50,"max_envelope_epsilon":1,
                "metrics":[{metrics}],"campaigns":[{campaigns}]}}]}}"#
            )
        };
        let lifecycle =
            r#"{"name":"segment.lifecycle","mechanism":{"kind":"grr","domain":6},"epsilon":0.25}"#;
        let good = r#"{"id":"a","kind":"mass","variants":2,"epsilon":0.5}"#;
        assert!(super::parse_shops(&shop(lifecycle, good)).is_ok());
        for (name, metrics, campaigns) in [
            ("no lifecycle metric", "", good),
            ("twice", lifecycle, &format!("{good},{good}")[..]),
            (
                "one variant",
                lifecycle,
                r#"{"id":"a","kind":"mass","variants":1,"epsilon":0.5}"#,
            ),
            (
                "bad id",
                lifecycle,
                r#"{"id":"A b","kind":"mass","variants":2,"epsilon":0.5}"#,
            ),
            (
                "bad kind",
                lifecycle,
                r#"{"id":"a","kind":"spam","variants":2,"epsilon":0.5}"#,
            ),
            (
                "unknown field",
                lifecycle,
                r#"{"id":"a","kind":"mass","variants":2,"epsilon":0.5,"x":1}"#,
            ),
            (
                "bad epsilon",
                lifecycle,
                r#"{"id":"a","kind":"mass","variants":2,"epsilon":0}"#,
            ),
        ] {
            assert!(
                super::parse_shops(&shop(metrics, campaigns)).is_err(),
                "{name}"
            );
        }
    }
}
