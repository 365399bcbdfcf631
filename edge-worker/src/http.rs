//! The HTTP layer without the runtime: a request's method, URL and headers
//! become a checked [`Route`] or a typed [`ApiError`], and every answer is an
//! [`Answer`] (status, JSON body, headers) that `lib.rs` hands to workerd.
//!
//! Everything a request can get wrong is decided here, before any handler,
//! storage or model is touched: the host it was sent to, the route and
//! method, repeated or out-of-range query parameters, the shop, the calling
//! origin, the content type, the body limit, and the dashboard's or the admin
//! API's bearer token. Being plain Rust, it is tested natively and fuzzed
//! (`edge-worker/fuzz`).
//!
//! It reads no storage: a shop's configuration lives in the worker's
//! `ShopStore`, so the caller looks up the shop the query names
//! ([`shop_query`]) and passes what it found to [`check`].
//!
//! What it must never do: echo a submitted value into an answer, read a body,
//! or answer without the security headers of [`Answer::headers`].

use serde::Serialize;

use crate::api_error::ApiError;
use crate::config::{self, ShopConfig};

/// The admin API's shops collection; one shop is `{ADMIN_SHOPS}/{id}`.
pub const ADMIN_SHOPS: &str = "/v1/admin/shops";

/// How many days back the dashboard may read (and devices' stores are kept
/// for); older days are refused without touching storage.
pub const READABLE_DAYS: u32 = 92;

/// A request as the layer sees it: nothing but text, so the runtime's types
/// stay in `lib.rs`.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    /// The method, as sent (`GET`, `POST`, …).
    pub method: String,
    /// The full URL (`http://host:port/path?query`).
    pub url: String,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Incoming {
    /// The value of header `name` (lower case); several values joined by ", "
    /// as the Fetch API does.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut values = self
            .headers
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str());
        let first = values.next()?;
        Some(values.fold(first.to_string(), |joined, value| joined + ", " + value))
    }
}

/// What the worker knows about where it runs, from its variables and secrets
/// (see `config::Settings::from_env`).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The worker's own public origins (`PUBLIC_ORIGINS`): the only hosts the
    /// API answers on, and the origins whose pages are same-origin callers.
    pub public_origins: Vec<String>,
    /// SHA-256 digests of the dashboard tokens, per shop (`DASHBOARD_TOKENS`);
    /// several per shop while one is rotated out.
    pub dashboard_tokens: Vec<(String, [u8; 32])>,
    /// The SHA-256 digest of the admin API's token (`ADMIN_TOKEN`); `None`
    /// turns the admin API off (503).
    pub admin_token: Option<[u8; 32]>,
}

/// One checked request: which route, for which shop, with what.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `GET /v1/health`.
    Health,
    /// `POST /v1/score`.
    Score,
    /// `POST /v1/recommend?shop=`.
    Recommend,
    /// `GET /v1/config?shop=`.
    Config,
    /// `POST /v1/reports?shop=`.
    Reports,
    /// `GET /v1/aggregates?shop=[&day=]`, with a valid bearer token.
    Aggregates {
        /// The day to read (days since 1970-01-01).
        day: u32,
    },
    /// `OPTIONS /v1/…?shop=` from a listed origin.
    Preflight,
    /// `GET /v1/admin/shops`, with the admin token: every shop.
    AdminList,
    /// `GET`, `PUT` or `DELETE /v1/admin/shops/{id}`, with the admin token.
    AdminShop {
        /// The shop's id, already checked by `config::is_shop_id`.
        id: String,
        /// What to do with it.
        action: AdminAction,
    },
}

/// What an admin call does to one shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    /// Read its configuration.
    Get,
    /// Create or replace it with the body's configuration.
    Put,
    /// Delete it.
    Delete,
}

impl Route {
    /// The largest body this route reads, in bytes (0: it reads none).
    pub fn body_limit(&self) -> usize {
        match self {
            Route::Score => crate::score::MAX_BODY_BYTES,
            Route::Recommend => crate::recommend::MAX_BODY_BYTES,
            // An envelope is 1,024 bytes; an upload with secret-shared
            // reports (one per metric, a few KB each) more.
            Route::Reports => crate::reports::MAX_UPLOAD_BYTES,
            Route::AdminShop {
                action: AdminAction::Put,
                ..
            } => crate::admin::MAX_BODY_BYTES,
            _ => 0,
        }
    }
}

/// A request that passed [`check`].
#[derive(Debug, Clone)]
pub struct Checked<'a> {
    /// The route.
    pub route: Route,
    /// The shop it is for (every route but health, score and the admin API's
    /// names one).
    pub shop: Option<&'a ShopConfig>,
}

/// The shop id the request's query names, when its URL parses and the id
/// could be one (`config::is_shop_id`): what the caller looks up before
/// [`check`]. Anything else is left to [`check`] to refuse.
pub fn shop_query(incoming: &Incoming) -> Option<String> {
    let url = parse_url(&incoming.url).ok()?;
    let query = Query::of(&url).ok()?;
    query
        .get("shop")
        .filter(|id| config::is_shop_id(id))
        .map(str::to_string)
}

/// The answer's CORS: the calling origin, when `shop` (the one the query
/// names, as looked up) lists it. The admin API answers no browser.
pub fn cors_origin(incoming: &Incoming, shop: Option<&ShopConfig>) -> Option<String> {
    let origin = incoming.header("origin")?;
    let url = parse_url(&incoming.url).ok()?;
    if url.path().starts_with("/v1/admin/") {
        return None;
    }
    // The bundles are public static files, readable from any origin (see
    // `www/_headers`); a bundle path that reaches the worker names no file,
    // and a storefront on another origin must be able to read that 404
    // rather than see a network error.
    if cove_engine::bundle::layout::below_prefix(url.path()).is_some() {
        return Some("*".into());
    }
    let shop = shop.filter(|shop| shop_query(incoming).as_deref() == Some(shop.id.as_str()))?;
    shop.origins.contains(&origin).then_some(origin)
}

/// The known routes: path, method, whether a shop is required.
const ROUTES: [(&str, &str); 6] = [
    ("/v1/health", "GET"),
    ("/v1/score", "POST"),
    ("/v1/recommend", "POST"),
    ("/v1/config", "GET"),
    ("/v1/reports", "POST"),
    ("/v1/aggregates", "GET"),
];

/// Checks a request before anything reads its body; `today` is the edge's
/// day number and `shop` the configuration of the shop the query names
/// ([`shop_query`]), if the worker has one by that id.
pub fn check<'a>(
    incoming: &Incoming,
    settings: &Settings,
    today: u32,
    shop: Option<&'a ShopConfig>,
) -> Result<Checked<'a>, ApiError> {
    let url = parse_url(&incoming.url)?;
    // DNS rebinding: a page on another name that resolves to this worker
    // must not be answered as if it were this worker.
    let own = url.origin().ascii_serialization();
    if !settings.public_origins.contains(&own) {
        return Err(ApiError::Misdirected);
    }
    let query = Query::of(&url)?;
    let path = url.path();
    let method = incoming.method.as_str();
    if path == ADMIN_SHOPS || path.starts_with("/v1/admin/") {
        return check_admin(incoming, settings, path);
    }
    if method == "OPTIONS" && path.starts_with("/v1/") {
        let shop = required_shop(&query, shop)?;
        let origin = incoming.header("origin");
        return match origin {
            Some(origin) if shop.origins.contains(&origin) => Ok(Checked {
                route: Route::Preflight,
                shop: Some(shop),
            }),
            _ => Err(ApiError::ForbiddenOrigin {
                shop: shop.id.clone(),
            }),
        };
    }
    let Some((_, expected)) = ROUTES.iter().find(|(known, _)| *known == path) else {
        return Err(ApiError::NotFound("no such route".into()));
    };
    if method != *expected {
        return Err(ApiError::MethodNotAllowed { allow: expected });
    }
    let route = match path {
        "/v1/health" => Route::Health,
        "/v1/score" => Route::Score,
        "/v1/recommend" => Route::Recommend,
        "/v1/config" => Route::Config,
        "/v1/reports" => Route::Reports,
        _ => Route::Aggregates {
            day: day_param(&query, today)?,
        },
    };
    let shop = match route {
        Route::Health | Route::Score => None,
        _ => Some(required_shop(&query, shop)?),
    };
    if let Some(shop) = shop {
        check_origin(incoming, shop, settings)?;
    }
    check_body_headers(incoming, &route)?;
    if let (Route::Aggregates { .. }, Some(shop)) = (&route, shop) {
        check_token(incoming, shop, settings)?;
    }
    Ok(Checked { route, shop })
}

/// A route with a body: JSON, and no more announced than it reads.
fn check_body_headers(incoming: &Incoming, route: &Route) -> Result<(), ApiError> {
    if route.body_limit() == 0 {
        return Ok(());
    }
    check_content_type(incoming)?;
    if let Some(length) = incoming.header("content-length") {
        let length: u64 = length
            .trim()
            .parse()
            .map_err(|_| ApiError::BadRequest("content-length is not a number".into()))?;
        if length > route.body_limit() as u64 {
            return Err(ApiError::TooLarge {
                limit: route.body_limit(),
            });
        }
    }
    Ok(())
}

/// The admin API (`/v1/admin/shops[/{id}]`): the route and method, then the
/// admin token, before the id or the body's headers are looked at, so a
/// caller without the token learns nothing else.
fn check_admin<'a>(
    incoming: &Incoming,
    settings: &Settings,
    path: &str,
) -> Result<Checked<'a>, ApiError> {
    let method = incoming.method.as_str();
    let route = if path == ADMIN_SHOPS {
        if method != "GET" {
            return Err(ApiError::MethodNotAllowed { allow: "GET" });
        }
        check_admin_token(incoming, settings)?;
        Route::AdminList
    } else if let Some(id) = path
        .strip_prefix(ADMIN_SHOPS)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        let action = match method {
            "GET" => AdminAction::Get,
            "PUT" => AdminAction::Put,
            "DELETE" => AdminAction::Delete,
            _ => {
                return Err(ApiError::MethodNotAllowed {
                    allow: "GET, PUT, DELETE",
                })
            }
        };
        check_admin_token(incoming, settings)?;
        // The raw path segment: an encoded character (`%2F`) or a further
        // segment is not an id.
        if !config::is_shop_id(id) {
            return Err(ApiError::BadRequest(format!(
                "a shop id is 1 to {} characters of [A-Za-z0-9-]",
                config::MAX_SHOP_ID_BYTES
            )));
        }
        Route::AdminShop {
            id: id.to_string(),
            action,
        }
    } else {
        return Err(ApiError::NotFound("no such route".into()));
    };
    check_body_headers(incoming, &route)?;
    Ok(Checked { route, shop: None })
}

/// The admin API needs `ADMIN_TOKEN` as `Bearer`; without the secret it is
/// off. Digests are compared, as for the dashboard's tokens.
fn check_admin_token(incoming: &Incoming, settings: &Settings) -> Result<(), ApiError> {
    let expected = settings.admin_token.ok_or(ApiError::AdminDisabled)?;
    let token = bearer(incoming);
    if !token.is_empty() && digests_equal(&token_digest(token.as_str()), &expected) {
        Ok(())
    } else {
        Err(ApiError::AdminUnauthorized)
    }
}

/// Compares two digests in time independent of where they differ.
fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The bearer token of the `authorization` header (empty when there is none).
fn bearer(incoming: &Incoming) -> String {
    let header = incoming.header("authorization").unwrap_or_default();
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .unwrap_or_default()
        .to_string()
}

/// The shop the query names, which the caller looked up as `shop`.
fn required_shop<'a>(
    query: &Query,
    shop: Option<&'a ShopConfig>,
) -> Result<&'a ShopConfig, ApiError> {
    let id = query
        .get("shop")
        .ok_or_else(|| ApiError::BadRequest("the shop query parameter is required".into()))?;
    shop.filter(|shop| shop.id == id)
        .ok_or_else(|| ApiError::NotFound("unknown shop".into()))
}

fn day_param(query: &Query, today: u32) -> Result<u32, ApiError> {
    let Some(text) = query.get("day") else {
        return Ok(today);
    };
    let valid = !text.is_empty() && text.len() <= 10 && text.bytes().all(|b| b.is_ascii_digit());
    let day = valid
        .then(|| text.parse::<u32>().ok())
        .flatten()
        .ok_or_else(|| ApiError::BadRequest("day must be a day number".into()))?;
    if day > today || day + READABLE_DAYS < today {
        return Err(ApiError::BadRequest(format!(
            "day must be between today and {READABLE_DAYS} days ago"
        )));
    }
    Ok(day)
}

/// Refuses a browser call from an origin that is neither this worker nor
/// listed by the shop.
fn check_origin(
    incoming: &Incoming,
    shop: &ShopConfig,
    settings: &Settings,
) -> Result<(), ApiError> {
    match incoming.header("origin") {
        None => Ok(()),
        Some(origin) if settings.public_origins.contains(&origin) => Ok(()),
        Some(origin) if shop.origins.contains(&origin) => Ok(()),
        Some(_) => Err(ApiError::ForbiddenOrigin {
            shop: shop.id.clone(),
        }),
    }
}

/// `application/json`, in any case, with nothing but an optional
/// `charset=utf-8` parameter.
fn check_content_type(incoming: &Incoming) -> Result<(), ApiError> {
    let value = incoming.header("content-type").unwrap_or_default();
    let mut parts = value.split(';').map(str::trim);
    let essence = parts.next().unwrap_or_default();
    let params_ok = parts.all(|param| {
        param.is_empty()
            || param.eq_ignore_ascii_case("charset=utf-8")
            || param.eq_ignore_ascii_case("charset=\"utf-8\"")
    });
    if essence.eq_ignore_ascii_case("application/json") && params_ok {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// The dashboard's reads need one of the shop's tokens as `Bearer`.
fn check_token(
    incoming: &Incoming,
    shop: &ShopConfig,
    settings: &Settings,
) -> Result<(), ApiError> {
    let token = bearer(incoming);
    if token.is_empty() {
        return Err(ApiError::Unauthorized);
    }
    let digest = token_digest(&token);
    let known = settings
        .dashboard_tokens
        .iter()
        .any(|(id, stored)| *id == shop.id && digests_equal(stored, &digest));
    if known {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// Whether two secrets are equal, compared by their digests (so the timing
/// says nothing about either).
pub fn same_secret(given: &str, expected: &str) -> bool {
    !given.is_empty() && digests_equal(&token_digest(given), &token_digest(expected))
}

/// The SHA-256 of a dashboard token: what [`Settings`] keeps and compares, so
/// the comparison's timing says nothing about the token.
pub fn token_digest(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

fn parse_url(url: &str) -> Result<worker::Url, ApiError> {
    worker::Url::parse(url).map_err(|_| ApiError::BadRequest("the URL cannot be parsed".into()))
}

/// A URL's query, refusing a parameter given twice (which one the caller
/// meant would be a guess).
struct Query(Vec<(String, String)>);

impl Query {
    fn of(url: &worker::Url) -> Result<Query, ApiError> {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (index, (key, _)) in pairs.iter().enumerate() {
            if pairs[..index].iter().any(|(earlier, _)| earlier == key) {
                return Err(ApiError::BadRequest(
                    "a query parameter is given twice".into(),
                ));
            }
        }
        Ok(Query(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The answer to a listed origin's preflight (`OPTIONS`).
pub fn preflight() -> Answer {
    Answer {
        status: 204,
        body: String::new(),
        headers: Vec::new(),
    }
    .with("access-control-allow-methods", "GET, POST")
    .with(
        "access-control-allow-headers",
        "content-type, authorization",
    )
    .with("access-control-max-age", "86400")
}

/// An answer before the runtime turns it into a response.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body (empty for 204).
    pub body: String,
    /// Headers beyond the ones every answer gets.
    pub headers: Vec<(&'static str, String)>,
}

impl Answer {
    /// A 200 (or other status) with `value` as JSON.
    pub fn json(status: u16, value: &impl Serialize) -> Result<Answer, ApiError> {
        let body = serde_json::to_string(value).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Answer {
            status,
            body,
            headers: Vec::new(),
        })
    }

    /// Adds a header.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Answer {
        self.headers.push((name, value.into()));
        self
    }

    /// Every header of the answer: the route's, then the ones every answer of
    /// this API carries, and CORS for a listed origin.
    pub fn headers(&self, cors_origin: Option<&str>) -> Vec<(&'static str, String)> {
        let mut headers = self.headers.clone();
        if self.status != 204 {
            headers.push(("content-type", "application/json".into()));
        }
        headers.push(("x-content-type-options", "nosniff".into()));
        if !headers.iter().any(|(name, _)| *name == "cache-control") {
            headers.push(("cache-control", "no-store".into()));
        }
        // Every shop route's answer depends on the caller's origin (CORS),
        // so caches must key on it.
        headers.push(("vary", "Origin".into()));
        if let Some(origin) = cors_origin {
            headers.push(("access-control-allow-origin", origin.to_string()));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: u32 = 20_000;

    #[test]
    fn a_missing_bundle_file_is_readable_from_any_origin() {
        let incoming = Incoming {
            method: "GET".into(),
            url: "http://127.0.0.1:8787/v1/bundles/missing.json".into(),
            headers: vec![("origin".into(), "https://shop.example".into())],
        };
        assert_eq!(cors_origin(&incoming, None).as_deref(), Some("*"));
    }

    const ADMIN: &str = "an-admin-token-of-at-least-32-chars";

    fn settings() -> Settings {
        Settings {
            public_origins: vec!["http://127.0.0.1:8787".into()],
            dashboard_tokens: vec![(
                "demo".into(),
                token_digest("t0ken-for-the-demo-dashboard-0000"),
            )],
            admin_token: Some(token_digest(ADMIN)),
        }
    }

    /// `check` with the shop looked up as the worker does, among the seed.
    fn check(
        incoming: &Incoming,
        settings: &Settings,
        today: u32,
    ) -> Result<Checked<'static>, ApiError> {
        let shop = shop_query(incoming)
            .and_then(|id| config::seed_shops().iter().find(|shop| shop.id == id));
        super::check(incoming, settings, today, shop)
    }

    fn incoming(method: &str, path: &str, headers: &[(&str, &str)]) -> Incoming {
        Incoming {
            method: method.into(),
            url: format!("http://127.0.0.1:8787{path}"),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn code(result: Result<Checked, ApiError>) -> String {
        match result {
            Ok(checked) => format!("ok {:?}", checked.route),
            Err(error) => error.answer().status.to_string(),
        }
    }

    #[test]
    fn routes_methods_and_shops() {
        let json = [("content-type", "application/json")];
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("GET", "/v1/health", &[], "ok Health"),
            ("POST", "/v1/health", &[], "405"),
            ("POST", "/v1/score", &json, "ok Score"),
            ("POST", "/v1/recommend?shop=demo", &json, "ok Recommend"),
            ("POST", "/v1/recommend", &json, "400"),
            ("GET", "/v1/config?shop=demo", &[], "ok Config"),
            ("GET", "/v1/config?shop=nope", &[], "404"),
            ("GET", "/v1/config?shop=demo&shop=other", &[], "400"),
            ("GET", "/v1/config?shop=demo&shop=demo", &[], "400"),
            ("POST", "/v1/reports?shop=demo", &json, "ok Reports"),
            (
                "POST",
                "/v1/reports?shop=demo",
                &[("content-type", "application/jsonx")],
                "415",
            ),
            (
                "POST",
                "/v1/reports?shop=demo",
                &[("content-type", "text/plain")],
                "415",
            ),
            (
                "POST",
                "/v1/reports?shop=demo",
                &[("content-type", "Application/JSON; charset=UTF-8")],
                "ok Reports",
            ),
            (
                "POST",
                "/v1/reports?shop=demo",
                &[("content-type", "application/json; boundary=x")],
                "415",
            ),
            (
                "POST",
                "/v1/reports?shop=demo",
                &[
                    ("content-type", "application/json"),
                    // An upload with secret-shared reports is at most 256 KiB.
                    ("content-length", "262145"),
                ],
                "413",
            ),
            (
                "POST",
                "/v1/reports?shop=demo",
                &[
                    ("content-type", "application/json"),
                    ("content-length", "99999999999999999999999"),
                ],
                "400",
            ),
            ("GET", "/v1/aggregates?shop=demo", &[], "401"),
            (
                "GET",
                "/v1/aggregates?shop=demo",
                &[("authorization", "Bearer wrong")],
                "401",
            ),
            (
                "GET",
                "/v1/aggregates?shop=demo",
                &[("authorization", "Bearer t0ken-for-the-demo-dashboard-0000")],
                "ok Aggregates { day: 20000 }",
            ),
            (
                "GET",
                "/v1/aggregates?shop=demo&day=19990",
                &[("authorization", "Bearer t0ken-for-the-demo-dashboard-0000")],
                "ok Aggregates { day: 19990 }",
            ),
            (
                "GET",
                "/v1/aggregates?shop=demo&day=20001",
                &[("authorization", "Bearer t0ken-for-the-demo-dashboard-0000")],
                "400",
            ),
            (
                "GET",
                "/v1/aggregates?shop=demo&day=1",
                &[("authorization", "Bearer t0ken-for-the-demo-dashboard-0000")],
                "400",
            ),
            ("GET", "/v1/aggregates?shop=demo&day=-1", &[], "400"),
            ("GET", "/v1/aggregates?shop=demo&day=4294967296", &[], "400"),
            ("GET", "/v1/aggregates?shop=demo&day=%2B20000", &[], "400"),
            ("GET", "/v1/nope", &[], "404"),
            ("GET", "/v1/bundles/../aggregates?shop=demo", &[], "401"),
            // Dot segments, encoded or not, are resolved as a browser does.
            ("GET", "/v1/%2e%2e/v1/health", &[], "ok Health"),
            ("GET", "/v1/bundles/%2e%2e/%2e%2e/v1/nope", &[], "404"),
            (
                "OPTIONS",
                "/v1/reports?shop=demo",
                &[("origin", "http://localhost:8787")],
                "ok Preflight",
            ),
            (
                "OPTIONS",
                "/v1/reports?shop=demo",
                &[("origin", "https://evil.example")],
                "403",
            ),
            (
                "OPTIONS",
                "/v1/reports",
                &[("origin", "http://localhost:8787")],
                "400",
            ),
            (
                "POST",
                "/v1/reports?shop=demo",
                &[
                    ("content-type", "application/json"),
                    ("origin", "https://evil.example"),
                ],
                "403",
            ),
            (
                "POST",
                "/v1/reports?shop=demo",
                &[
                    ("content-type", "application/json"),
                    ("origin", "http://127.0.0.1:8787"),
                ],
                "ok Reports",
            ),
        ];
        for (method, path, headers, want) in cases {
            assert_eq!(
                code(check(&incoming(method, path, headers), &settings(), TODAY)),
                *want,
                "{method} {path} {headers:?}"
            );
        }
    }

    #[test]
    fn admin_routes_need_the_admin_token_before_anything_else() {
        let bearer = format!("Bearer {ADMIN}");
        let token = [("authorization", bearer.as_str())];
        let token_json = [
            ("authorization", bearer.as_str()),
            ("content-type", "application/json"),
        ];
        let dashboard = [("authorization", "Bearer t0ken-for-the-demo-dashboard-0000")];
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("GET", "/v1/admin/shops", &token, "ok AdminList"),
            ("GET", "/v1/admin/shops", &[], "401"),
            ("GET", "/v1/admin/shops", &dashboard, "401"),
            (
                "GET",
                "/v1/admin/shops",
                &[("authorization", "Bearer ")],
                "401",
            ),
            ("GET", "/v1/admin/shops", &[("authorization", ADMIN)], "401"),
            ("DELETE", "/v1/admin/shops", &token, "405"),
            (
                "GET",
                "/v1/admin/shops/demo",
                &token,
                "ok AdminShop { id: \"demo\", action: Get }",
            ),
            (
                "DELETE",
                "/v1/admin/shops/x-1",
                &token,
                "ok AdminShop { id: \"x-1\", action: Delete }",
            ),
            (
                "PUT",
                "/v1/admin/shops/x",
                &token_json,
                "ok AdminShop { id: \"x\", action: Put }",
            ),
            ("PUT", "/v1/admin/shops/x", &token, "415"),
            ("PUT", "/v1/admin/shops/x", &[], "401"),
            // The id is checked only once the token is: no oracle without it.
            ("GET", "/v1/admin/shops/a%2Fb", &[], "401"),
            ("GET", "/v1/admin/shops/a%2Fb", &token, "400"),
            ("GET", "/v1/admin/shops/%64emo", &token, "400"),
            ("GET", "/v1/admin/shops/a/b", &token, "400"),
            ("GET", "/v1/admin/shops/", &token, "400"),
            ("POST", "/v1/admin/shops/x", &token, "405"),
            (
                "OPTIONS",
                "/v1/admin/shops/x",
                &[("origin", "http://localhost:8787")],
                "405",
            ),
            ("GET", "/v1/admin", &token, "404"),
            ("GET", "/v1/admin/users", &token, "404"),
        ];
        for (method, path, headers, want) in cases {
            assert_eq!(
                code(check(&incoming(method, path, headers), &settings(), TODAY)),
                *want,
                "{method} {path} {headers:?}"
            );
        }
        let long_id = format!("/v1/admin/shops/{}", "a".repeat(65));
        assert_eq!(
            code(check(
                &incoming("GET", &long_id, &token),
                &settings(),
                TODAY
            )),
            "400"
        );
        let oversized = [
            ("authorization", bearer.as_str()),
            ("content-type", "application/json"),
            ("content-length", "16385"),
        ];
        assert_eq!(
            code(check(
                &incoming("PUT", "/v1/admin/shops/x", &oversized),
                &settings(),
                TODAY
            )),
            "413"
        );
        let mut off = settings();
        off.admin_token = None;
        assert_eq!(
            code(check(
                &incoming("GET", "/v1/admin/shops", &token),
                &off,
                TODAY
            )),
            "503"
        );
    }

    #[test]
    fn the_shop_passed_in_must_be_the_one_the_query_names() {
        let demo = &config::seed_shops()[0];
        let request = incoming("GET", "/v1/config?shop=other", &[]);
        // A caller that passed the wrong shop gets "unknown shop", not its config.
        assert_eq!(
            code(super::check(&request, &settings(), TODAY, Some(demo))),
            "404"
        );
        assert_eq!(
            code(super::check(&request, &settings(), TODAY, None)),
            "404"
        );
        let named = incoming("GET", "/v1/config?shop=demo", &[]);
        assert_eq!(
            code(super::check(&named, &settings(), TODAY, Some(demo))),
            "ok Config"
        );
        assert_eq!(shop_query(&named).as_deref(), Some("demo"));
        assert_eq!(
            shop_query(&incoming("GET", "/v1/config?shop=a/b", &[])),
            None
        );
        assert_eq!(
            shop_query(&incoming("GET", "/v1/config?shop=a&shop=b", &[])),
            None
        );
    }

    #[test]
    fn the_admin_api_answers_no_browser() {
        let demo = &config::seed_shops()[0];
        let from_listed =
            |path: &str| incoming("GET", path, &[("origin", "http://localhost:8787")]);
        assert_eq!(
            cors_origin(&from_listed("/v1/config?shop=demo"), Some(demo)).as_deref(),
            Some("http://localhost:8787")
        );
        assert_eq!(
            cors_origin(&from_listed("/v1/admin/shops?shop=demo"), Some(demo)),
            None
        );
        assert_eq!(
            cors_origin(&from_listed("/v1/config?shop=other"), Some(demo)),
            None
        );
    }

    #[test]
    fn another_host_is_misdirected_even_with_a_matching_origin() {
        // DNS rebinding: evil.example resolves to the worker; the browser
        // sends Host and Origin of evil.example, which agree with each other.
        let mut request = incoming(
            "POST",
            "/v1/reports?shop=demo",
            &[
                ("content-type", "application/json"),
                ("origin", "http://evil.example:8787"),
            ],
        );
        request.url = "http://evil.example:8787/v1/reports?shop=demo".into();
        assert_eq!(code(check(&request, &settings(), TODAY)), "421");
        let mut read = incoming("GET", "/v1/aggregates?shop=demo", &[]);
        read.url = "http://evil.example:8787/v1/aggregates?shop=demo".into();
        assert_eq!(code(check(&read, &settings(), TODAY)), "421");
    }

    #[test]
    fn a_rotated_token_is_accepted_beside_the_new_one_for_its_shop_only() {
        let mut settings = settings();
        settings.dashboard_tokens.push((
            "demo".into(),
            token_digest("the-next-token-of-the-demo-shop-1"),
        ));
        settings.dashboard_tokens.push((
            "other".into(),
            token_digest("another-shops-token-000000000000"),
        ));
        for (token, want) in [
            (
                "t0ken-for-the-demo-dashboard-0000",
                "ok Aggregates { day: 20000 }",
            ),
            (
                "the-next-token-of-the-demo-shop-1",
                "ok Aggregates { day: 20000 }",
            ),
            ("another-shops-token-000000000000", "401"),
        ] {
            let bearer = format!("Bearer {token}");
            let request = incoming(
                "GET",
                "/v1/aggregates?shop=demo",
                &[("authorization", bearer.as_str())],
            );
            assert_eq!(code(check(&request, &settings, TODAY)), want, "{token}");
        }
    }

    #[test]
    fn errors_never_echo_what_was_sent() {
        let marker = "zz<script>marker";
        let requests = [
            incoming("GET", &format!("/v1/{marker}"), &[]),
            incoming("GET", &format!("/v1/config?shop={marker}"), &[]),
            incoming(
                "GET",
                &format!("/v1/aggregates?shop=demo&day={marker}"),
                &[],
            ),
            incoming("POST", "/v1/reports?shop=demo", &[("content-type", marker)]),
            incoming(
                "POST",
                "/v1/reports?shop=demo",
                &[("content-type", "application/json"), ("origin", marker)],
            ),
        ];
        for request in requests {
            let error = check(&request, &settings(), TODAY).unwrap_err();
            let answer = error.answer();
            assert!(!answer.body.contains("marker"), "{}", answer.body);
            assert!(serde_json::from_str::<serde_json::Value>(&answer.body).is_ok());
        }
    }

    #[test]
    fn every_answer_carries_nosniff_no_store_and_vary() {
        let answer = Answer::json(200, &serde_json::json!({})).unwrap();
        let headers = answer.headers(Some("http://localhost:8787"));
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("cache-control", "no-store"),
            ("vary", "Origin"),
            ("access-control-allow-origin", "http://localhost:8787"),
        ] {
            assert!(
                headers.iter().any(|(n, v)| *n == name && v == value),
                "{name}"
            );
        }
        let cached = Answer::json(200, &1)
            .unwrap()
            .with("cache-control", "public, max-age=300");
        assert_eq!(
            cached
                .headers(None)
                .iter()
                .filter(|(n, _)| *n == "cache-control")
                .count(),
            1
        );
    }
}
