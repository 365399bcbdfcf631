//! The worker's configuration: binding names (they must match `wrangler.toml`),
//! its variables and secrets, and what a shop's configuration is
//! ([`ShopConfig`], with the one validation every source goes through).
//!
//! The shops themselves live in the worker's storage (`shop_store`), changed
//! through the admin API (`admin`); `shops.json` is compiled in only to seed a
//! new deployment ([`seed_shops`]).

use std::sync::OnceLock;

use cove_engine::bundle::Model;
use cove_engine::privacy::campaign::CampaignSpec;
use cove_engine::privacy::registry::{MetricRequest, Registry, ReportSchedule};
use serde::{Deserialize, Serialize};

use crate::http::Settings;

/// The static assets (`www/`), which include the published bundles.
pub const ASSETS_BINDING: &str = "ASSETS";

/// The Durable Object namespace that keeps aggregates, one object per shop and day.
pub const AGGREGATE_STORE_BINDING: &str = "AGGREGATE_STORE";

/// The Durable Object namespace of each shop's index of days with data.
pub const DAY_INDEX_BINDING: &str = "DAY_INDEX";

/// The Durable Object namespace that holds the shops' configurations (one
/// object, [`SHOP_STORE_NAME`]).
pub const SHOP_STORE_BINDING: &str = "SHOP_STORE";

/// The name of the one `ShopStore` object.
pub const SHOP_STORE_NAME: &str = "shops";

/// The rate limiter for report ingest.
pub const REPORT_LIMITER_BINDING: &str = "REPORT_LIMITER";

/// The worker's own public origins, comma-separated (a plain variable in
/// `wrangler.toml`; `wrangler.mjs` sets the dev server's).
pub const PUBLIC_ORIGINS_VAR: &str = "PUBLIC_ORIGINS";

/// The dashboard tokens (a secret): `shop=token` entries separated by commas
/// or whitespace. Two entries for one shop while a token is rotated: add the
/// new one, move the dashboard to it, remove the old one; no restart.
pub const DASHBOARD_TOKENS_SECRET: &str = "DASHBOARD_TOKENS";

/// The admin API's bearer token (a secret, at least [`MIN_SECRET_BYTES`]).
/// Without it the admin API answers 503 and changes nothing.
pub const ADMIN_TOKEN_SECRET: &str = "ADMIN_TOKEN";

/// The key of the rate limiter's client keys (a secret, at least 32 bytes).
pub const RATE_LIMIT_KEY_SECRET: &str = "RATE_LIMIT_KEY";

/// The shortest dashboard token or rate-limit key accepted.
pub const MIN_SECRET_BYTES: usize = 32;

/// The worker's settings from its variables and secrets. A missing or
/// malformed value leaves that part empty (and logs why): the API then answers
/// 421 on every host, 401 to every dashboard read, or 503 to every admin call,
/// instead of guessing.
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
    let admin_token = text(ADMIN_TOKEN_SECRET).and_then(|token| {
        if token.len() >= MIN_SECRET_BYTES {
            Some(crate::http::token_digest(&token))
        } else {
            crate::log_error(&format!(
                "{ADMIN_TOKEN_SECRET}: shorter than {MIN_SECRET_BYTES} characters; the admin API stays off"
            ));
            None
        }
    });
    Settings {
        public_origins,
        dashboard_tokens,
        admin_token,
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
///
/// A configuration is only used once [`ShopConfig::validate`] accepted it: the
/// compiled-in seed (`shops.json`) and every admin write go through the same
/// [`parse_shop`] / [`parse_shops`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopConfig {
    /// The shop's id, used in URLs (`?shop=`): 1 to [`MAX_SHOP_ID_BYTES`]
    /// characters of `[A-Za-z0-9-]`.
    pub id: String,
    /// Origins allowed to call the API from a browser (CORS), each as a
    /// browser sends it in `Origin` (`https://shop.example`, a port only when
    /// it is not the scheme's default); at most [`MAX_ORIGINS`].
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
    /// The bundle pointer the shop's pages load, by name: `sharded` is
    /// `/v1/bundles/sharded.json` (the trainer's and the edge's one rule:
    /// `cove_engine::bundle::layout::is_pointer_name`); absent, the default
    /// pointer. The edge resolves the
    /// shop's registry against the model this pointer names, so a shop
    /// that publishes a head bundle and shards gets the head's registry,
    /// the one its shoppers' devices hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
}

/// The longest shop id, in bytes.
pub const MAX_SHOP_ID_BYTES: usize = 64;

/// The most origins one shop lists.
pub const MAX_ORIGINS: usize = 64;

/// Why a shop's configuration was refused. No variant holds submitted text:
/// the messages name the rule and the place, never the value.
#[derive(Debug)]
pub enum InvalidShop {
    /// The text is not JSON, or not a shop's fields and types.
    Json(serde_json::Error),
    /// A rule of [`ShopConfig::validate`] is broken.
    Rule(String),
}

impl std::fmt::Display for InvalidShop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvalidShop::Json(error) => f.write_str(&crate::api_error::json_error_text(
                "shop configuration",
                error,
            )),
            InvalidShop::Rule(rule) => f.write_str(rule),
        }
    }
}

/// Whether `id` is a syntactically valid shop id.
pub fn is_shop_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_SHOP_ID_BYTES
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Whether `text` is an origin exactly as a browser sends it in `Origin`:
/// `http` or `https`, a host, a port only when it is not the default, no
/// path, query, fragment or credentials. Anything else could never match.
pub fn is_origin(text: &str) -> bool {
    let Ok(url) = worker::Url::parse(text) else {
        return false;
    };
    matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.origin().ascii_serialization() == text
}

impl ShopConfig {
    /// The file name of the shop's bundle pointer beside the bundles
    /// (`default.json` unless [`ShopConfig::bundle`] names another).
    pub fn pointer_file(&self) -> String {
        match &self.bundle {
            Some(name) => cove_engine::bundle::layout::pointer_file(name),
            None => cove_engine::bundle::layout::DEFAULT_POINTER.to_string(),
        }
    }

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

    /// Checks the rules a configuration must meet before it is stored or
    /// served (the metrics' resolution against a model is [`Self::registry`]).
    pub fn validate(&self) -> Result<(), InvalidShop> {
        let rule = |text: String| Err(InvalidShop::Rule(text));
        if !is_shop_id(&self.id) {
            return rule(format!(
                "id must be 1 to {MAX_SHOP_ID_BYTES} characters of [A-Za-z0-9-]"
            ));
        }
        if self.origins.len() > MAX_ORIGINS {
            return rule(format!("origins must list at most {MAX_ORIGINS} origins"));
        }
        for (index, origin) in self.origins.iter().enumerate() {
            if !is_origin(origin) {
                return rule(format!(
                    "origins[{index}] must be an origin as a browser sends it: \
                     http(s)://host with a port only when not the default, no path or trailing slash"
                ));
            }
            if self.origins[..index].contains(origin) {
                return rule(format!("origins[{index}] is listed twice"));
            }
        }
        if self.k_anonymity == 0 {
            return rule("k_anonymity must be at least 1".into());
        }
        if let Some(name) = &self.bundle {
            if !cove_engine::bundle::layout::is_pointer_name(name) {
                return rule(format!(
                    "bundle must name a pointer: 1 to {} characters of [a-z0-9_-]",
                    cove_engine::bundle::layout::MAX_POINTER_NAME
                ));
            }
        }
        if !(0.0..=self.max_envelope_epsilon).contains(&self.daily_epsilon) {
            return rule("daily_epsilon must be between 0 and max_envelope_epsilon".into());
        }
        for (index, campaign) in self.campaigns.iter().enumerate() {
            campaign
                .validate()
                .map_err(|e| InvalidShop::Rule(format!("campaigns[{index}]: {e}")))?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShopsFile {
    shops: Vec<ShopConfig>,
}

/// The shops a new deployment starts with: `shops.json`, compiled in. The
/// worker serves the shops of its `ShopStore` (see `shop_store`), which copies
/// these only while it has never held any. The file's validity is checked by a
/// native test, so parsing it cannot fail at run time.
pub fn seed_shops() -> &'static [ShopConfig] {
    static SHOPS: OnceLock<Vec<ShopConfig>> = OnceLock::new();
    SHOPS.get_or_init(|| parse_shops(include_str!("../shops.json")).unwrap_or_default())
}

/// Parses and validates one shop's configuration.
pub fn parse_shop(text: &[u8]) -> Result<ShopConfig, InvalidShop> {
    let shop: ShopConfig = serde_json::from_slice(text).map_err(InvalidShop::Json)?;
    shop.validate()?;
    Ok(shop)
}

/// Parses and validates a shops file (`{"shops": [...]}`, ids unique).
pub fn parse_shops(text: &str) -> Result<Vec<ShopConfig>, String> {
    let file: ShopsFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    for (index, shop) in file.shops.iter().enumerate() {
        shop.validate()
            .map_err(|e| format!("shops[{index}]: {e}"))?;
        if file.shops[..index].iter().any(|other| other.id == shop.id) {
            return Err(format!("shops[{index}]: the id is used twice"));
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

    /// A valid configuration (the demo shop's) with `change` applied.
    fn shop_with(change: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut file: serde_json::Value =
            serde_json::from_str(include_str!("../shops.json")).unwrap();
        let mut shop = file["shops"][0].take();
        change(&mut shop);
        serde_json::to_vec(&shop).unwrap()
    }

    #[test]
    fn origins_are_exactly_what_a_browser_sends() {
        for good in [
            "https://shop.example",
            "http://127.0.0.1:8787",
            "http://localhost:8787",
            "https://xn--bcher-kva.example",
            "http://[::1]:8080",
        ] {
            assert!(super::is_origin(good), "{good}");
        }
        for bad in [
            "",
            "*",
            "null",
            "shop.example",
            "https://shop.example/",
            "https://shop.example/path",
            "https://shop.example:443",
            "HTTPS://shop.example",
            "https://Shop.example",
            "https://user@shop.example",
            "https://shop.example?x",
            "ftp://shop.example",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "https://shop.example\n",
            " https://shop.example",
        ] {
            assert!(!super::is_origin(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_shop_is_validated_by_one_set_of_rules() {
        use serde_json::json;
        type Change = fn(&mut serde_json::Value);
        let cases: &[(&str, Change, Option<&str>)] = &[
            ("as shipped", |_| {}, None),
            (
                "no campaigns",
                |s| {
                    s.as_object_mut().unwrap().remove("campaigns");
                },
                None,
            ),
            ("empty id", |s| s["id"] = json!(""), Some("id must be")),
            (
                "id with a slash",
                |s| s["id"] = json!("a/b"),
                Some("id must be"),
            ),
            (
                "id with a dot",
                |s| s["id"] = json!(".."),
                Some("id must be"),
            ),
            (
                "id too long",
                |s| s["id"] = json!("a".repeat(65)),
                Some("id must be"),
            ),
            ("id of 64", |s| s["id"] = json!("a".repeat(64)), None),
            (
                "origin with a path",
                |s| s["origins"] = json!(["https://a.example/x"]),
                Some("origins[0]"),
            ),
            (
                "origin wildcard",
                |s| s["origins"] = json!(["https://a.example", "*"]),
                Some("origins[1]"),
            ),
            (
                "origin twice",
                |s| s["origins"] = json!(["https://a.example", "https://a.example"]),
                Some("listed twice"),
            ),
            (
                "too many origins",
                |s| {
                    s["origins"] = json!((0..65)
                        .map(|i| format!("https://s{i}.example"))
                        .collect::<Vec<_>>());
                },
                Some("at most"),
            ),
            (
                "k of 0",
                |s| s["k_anonymity"] = json!(0),
                Some("k_anonymity"),
            ),
            (
                "daily above the envelope",
                |s| s["daily_epsilon"] = json!(4.5),
                Some("daily_epsilon"),
            ),
            (
                "negative daily",
                |s| s["daily_epsilon"] = json!(-0.5),
                Some("daily_epsilon"),
            ),
            (
                "bad campaign",
                |s| s["campaigns"][0]["variants"] = json!(1),
                Some("campaigns[0]"),
            ),
            ("a head's pointer", |s| s["bundle"] = json!("sharded"), None),
            (
                "pointer with a path",
                |s| s["bundle"] = json!("../sharded"),
                Some("bundle must name"),
            ),
            (
                "pointer with its extension",
                |s| s["bundle"] = json!("sharded.json"),
                Some("bundle must name"),
            ),
            (
                "pointer in capitals",
                |s| s["bundle"] = json!("Sharded"),
                Some("bundle must name"),
            ),
            (
                "empty pointer",
                |s| s["bundle"] = json!(""),
                Some("bundle must name"),
            ),
        ];
        for (name, change, want) in cases {
            let result = super::parse_shop(&shop_with(*change));
            match (result, want) {
                (Ok(_), None) => {}
                (Err(super::InvalidShop::Rule(message)), Some(want)) => {
                    assert!(message.contains(want), "{name}: {message}")
                }
                (other, _) => panic!("{name}: {other:?}"),
            }
        }
        for (name, change) in [
            ("unknown field", (|s| s["zzmarker"] = json!(1)) as Change),
            ("k is text", |s| s["k_anonymity"] = json!("50")),
            ("k negative", |s| s["k_anonymity"] = json!(-1)),
            ("origins not a list", |s| {
                s["origins"] = json!("https://a.example")
            }),
            ("missing metrics", |s| {
                s.as_object_mut().unwrap().remove("metrics");
            }),
        ] {
            assert!(
                matches!(
                    super::parse_shop(&shop_with(change)),
                    Err(super::InvalidShop::Json(_))
                ),
                "{name}"
            );
        }
        assert!(matches!(
            super::parse_shop(b"{\"id\":"),
            Err(super::InvalidShop::Json(_))
        ));
        assert!(matches!(
            super::parse_shop(&[0xff, 0xfe]),
            Err(super::InvalidShop::Json(_))
        ));
    }

    #[test]
    fn a_refused_shop_message_never_holds_the_submitted_text() {
        use serde_json::json;
        let marker = "zzmarker";
        let bodies = [
            shop_with(|s| s[marker] = json!(1)),
            shop_with(|s| s["metrics"][0][marker] = json!(1)),
            shop_with(|s| s["campaigns"][0]["kind"] = json!(marker)),
            shop_with(|s| s["id"] = json!(format!("{marker}/x"))),
            shop_with(|s| s["origins"] = json!([format!("https://{marker}.example/")])),
            shop_with(|s| s["campaigns"][0]["id"] = json!(format!("{marker}_X"))),
            shop_with(|s| s["bundle"] = json!(format!("{marker}/x"))),
        ];
        for body in bodies {
            let error = super::parse_shop(&body).unwrap_err();
            assert!(!error.to_string().contains(marker), "{error}");
        }
    }

    #[test]
    fn a_shops_file_names_each_id_once() {
        let one = String::from_utf8(shop_with(|_| {})).unwrap();
        let twice = format!(r#"{{"shops":[{one},{one}]}}"#);
        assert!(super::parse_shops(&twice)
            .unwrap_err()
            .contains("used twice"));
        assert_eq!(
            super::parse_shops(&format!(r#"{{"shops":[{one}]}}"#))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn the_compiled_in_shops_file_is_valid() {
        let shops = super::parse_shops(include_str!("../shops.json")).unwrap();
        assert_eq!(super::seed_shops(), &shops[..]);
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
