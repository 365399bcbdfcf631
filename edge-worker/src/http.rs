//! The HTTP layer without the runtime: a request's method, URL and headers
//! become a checked [`Route`] or a typed [`ApiError`], and every answer is an
//! [`Answer`] (status, JSON body, headers) that `lib.rs` hands to workerd.
//!
//! Everything a request can get wrong is decided here, before any handler,
//! storage or model is touched: the host it was sent to, the route and
//! method, repeated or out-of-range query parameters, the shop, the calling
//! origin, the content type, the body limit, and the dashboard's bearer token.
//! Being plain Rust, it is tested natively and fuzzed (`edge-worker/fuzz`).
//!
//! What it must never do: echo a submitted value into an answer, read a body,
//! or answer without the security headers of [`Answer::headers`].

use serde::Serialize;

use crate::api_error::ApiError;
use crate::config::{self, ShopConfig};

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
}

impl Route {
    /// The largest body this route reads, in bytes (0: it reads none).
    pub fn body_limit(&self) -> usize {
        match self {
            Route::Score => crate::score::MAX_BODY_BYTES,
            Route::Recommend => crate::recommend::MAX_BODY_BYTES,
            Route::Reports => cove_engine::privacy::report::ENVELOPE_BYTES,
            _ => 0,
        }
    }
}

/// A request that passed [`check`].
#[derive(Debug, Clone)]
pub struct Checked {
    /// The route.
    pub route: Route,
    /// The shop it is for (every route but health and score names one).
    pub shop: Option<&'static ShopConfig>,
}

/// The answer's CORS: the calling origin, when the shop lists it.
pub fn cors_origin(incoming: &Incoming) -> Option<String> {
    let origin = incoming.header("origin")?;
    let shop = shop_param(incoming).ok().flatten()?;
    shop.origins.contains(&origin).then_some(origin)
}

fn shop_param(incoming: &Incoming) -> Result<Option<&'static ShopConfig>, ApiError> {
    let query = Query::of(&parse_url(&incoming.url)?)?;
    match query.get("shop") {
        None => Ok(None),
        Some(id) => config::shop(id)
            .map(Some)
            .ok_or_else(|| ApiError::NotFound("unknown shop".into())),
    }
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
/// day number.
pub fn check(incoming: &Incoming, settings: &Settings, today: u32) -> Result<Checked, ApiError> {
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
    if method == "OPTIONS" && path.starts_with("/v1/") {
        let shop = required_shop(&query)?;
        let origin = incoming.header("origin");
        return match origin {
            Some(origin) if shop.origins.contains(&origin) => Ok(Checked {
                route: Route::Preflight,
                shop: Some(shop),
            }),
            _ => Err(ApiError::ForbiddenOrigin),
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
        _ => Some(required_shop(&query)?),
    };
    if let Some(shop) = shop {
        check_origin(incoming, shop, settings)?;
    }
    if route.body_limit() > 0 {
        check_content_type(incoming)?;
        let announced = incoming.header("content-length");
        if let Some(length) = announced {
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
    }
    if let (Route::Aggregates { .. }, Some(shop)) = (&route, shop) {
        check_token(incoming, shop, settings)?;
    }
    Ok(Checked { route, shop })
}

fn required_shop(query: &Query) -> Result<&'static ShopConfig, ApiError> {
    let id = query
        .get("shop")
        .ok_or_else(|| ApiError::BadRequest("the shop query parameter is required".into()))?;
    config::shop(id).ok_or_else(|| ApiError::NotFound("unknown shop".into()))
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
        Some(_) => Err(ApiError::ForbiddenOrigin),
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
    let header = incoming.header("authorization").unwrap_or_default();
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .unwrap_or_default();
    if token.is_empty() {
        return Err(ApiError::Unauthorized);
    }
    let digest = token_digest(token);
    let known = settings
        .dashboard_tokens
        .iter()
        .any(|(id, stored)| *id == shop.id && *stored == digest);
    if known {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
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

    fn settings() -> Settings {
        Settings {
            public_origins: vec!["http://127.0.0.1:8787".into()],
            dashboard_tokens: vec![(
                "demo".into(),
                token_digest("t0ken-for-the-demo-dashboard-0000"),
            )],
        }
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
                    ("content-length", "1025"),
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
