//! The worker's one error type: every failure becomes a JSON `{code, message}`
//! with a status. The caller's mistakes are 4xx with a precise message that
//! never repeats what the caller sent; internal failures are a 500 or 503
//! whose details go to the log, never the client.

use crate::http::Answer;

/// A failure to answer a request, mapped to an HTTP status in one place.
#[derive(Debug)]
pub enum ApiError {
    /// The request could not be read as the route expects (400). The message
    /// is the worker's own text, never the client's.
    BadRequest(String),
    /// The body broke the schema; the engine says where (400).
    Malformed(cove_engine::Error),
    /// The dashboard's read lacks the shop's bearer token (401).
    Unauthorized,
    /// An admin call lacks the admin token (401).
    AdminUnauthorized,
    /// A browser call from an origin the shop has not listed (403). The
    /// message says how to register an origin; it names the shop (an id the
    /// worker knows) but not the origin, which is the caller's text.
    ForbiddenOrigin {
        /// The shop's id.
        shop: String,
    },
    /// The route or resource does not exist (404).
    NotFound(String),
    /// The route exists but not for this method (405).
    MethodNotAllowed {
        /// The method it takes.
        allow: &'static str,
    },
    /// The same envelope was already counted (409).
    Duplicate,
    /// The body is larger than the route accepts (413).
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body did not arrive in time (408).
    Timeout,
    /// The content type is not `application/json` (415).
    UnsupportedMediaType,
    /// The request was sent to a host this worker does not serve (421).
    Misdirected,
    /// The engine refused well-formed input, with its error code (422).
    Engine(cove_engine::Error),
    /// A shop's configuration broke a rule of `ShopConfig::validate` (422);
    /// the message names the rule, never the value.
    InvalidShop(String),
    /// A new shop would pass the store's limit on shops (409).
    TooManyShops {
        /// The limit.
        limit: usize,
    },
    /// The admin API is off: the `ADMIN_TOKEN` secret is not set (503).
    AdminDisabled,
    /// The client sent too many requests (429).
    TooManyRequests,
    /// Something failed inside the worker (500); the detail is logged only.
    Internal(String),
    /// A resource or setting the route needs is missing, such as the model or
    /// a secret (503); the detail is logged only.
    Unavailable(String),
}

impl ApiError {
    fn status_code_message(&self) -> (u16, &'static str, String) {
        match self {
            ApiError::BadRequest(message) => (400, "bad_request", message.clone()),
            ApiError::Malformed(error) => (400, error.code(), error.to_string()),
            ApiError::Unauthorized => (
                401,
                "unauthorized",
                "reading aggregates needs the shop's dashboard token (Authorization: Bearer)"
                    .to_string(),
            ),
            ApiError::AdminUnauthorized => (
                401,
                "unauthorized",
                "the admin API needs the worker's admin token (Authorization: Bearer)".to_string(),
            ),
            ApiError::ForbiddenOrigin { shop } => (
                403,
                "forbidden_origin",
                format!(
                    "this page's origin is not registered for shop {shop}; register it with \
                     `cargo xtask shop add-origin {shop} <origin> --url <worker URL>` (the origin \
                     as the browser sends it, such as https://shop.example)"
                ),
            ),
            ApiError::NotFound(message) => (404, "not_found", message.clone()),
            ApiError::MethodNotAllowed { allow } => (
                405,
                "method_not_allowed",
                format!("this route takes {allow} only"),
            ),
            ApiError::Duplicate => (
                409,
                "duplicate_report",
                "this envelope was already counted".to_string(),
            ),
            ApiError::Timeout => (
                408,
                "request_timeout",
                "the body did not arrive in time".to_string(),
            ),
            ApiError::TooLarge { limit } => (
                413,
                "payload_too_large",
                format!("the body is larger than {limit} bytes"),
            ),
            ApiError::UnsupportedMediaType => (
                415,
                "unsupported_media_type",
                "the body must be application/json".to_string(),
            ),
            ApiError::Misdirected => (
                421,
                "misdirected_request",
                "this worker does not serve that host".to_string(),
            ),
            ApiError::Engine(error) => (422, error.code(), error.to_string()),
            ApiError::InvalidShop(message) => (422, "invalid_shop", message.clone()),
            ApiError::TooManyShops { limit } => (
                409,
                "too_many_shops",
                format!("the worker holds at most {limit} shops; delete one first"),
            ),
            ApiError::AdminDisabled => (
                503,
                "admin_disabled",
                "the admin API is off: the worker has no ADMIN_TOKEN secret (at least 32 \
                 characters; `wrangler secret put ADMIN_TOKEN`)"
                    .to_string(),
            ),
            ApiError::TooManyRequests => (
                429,
                "rate_limited",
                "too many requests from this client; try again later".to_string(),
            ),
            ApiError::Internal(_) => (500, "internal", "internal error".to_string()),
            ApiError::Unavailable(_) => (
                503,
                "unavailable",
                "this service is not ready; try again later".to_string(),
            ),
        }
    }

    /// The answer for this error (internal details go to the log).
    pub fn answer(&self) -> Answer {
        if let ApiError::Internal(detail) | ApiError::Unavailable(detail) = self {
            crate::log_error(detail);
        }
        let (status, code, message) = self.status_code_message();
        let body = serde_json::json!({ "code": code, "message": message }).to_string();
        let answer = Answer {
            status,
            body,
            headers: Vec::new(),
        };
        match self {
            ApiError::MethodNotAllowed { allow } => answer.with("allow", *allow),
            ApiError::Unauthorized | ApiError::AdminUnauthorized => {
                answer.with("www-authenticate", "Bearer")
            }
            ApiError::TooManyRequests => answer.with("retry-after", "60"),
            _ => answer,
        }
    }
}

impl From<cove_engine::Error> for ApiError {
    fn from(error: cove_engine::Error) -> Self {
        ApiError::Engine(error)
    }
}

impl From<worker::Error> for ApiError {
    fn from(error: worker::Error) -> Self {
        ApiError::Internal(error.to_string())
    }
}

/// The message of a JSON body that did not parse: the kind of mistake and
/// where, never the text sent.
pub fn json_error(what: &str, error: &serde_json::Error) -> ApiError {
    ApiError::BadRequest(json_error_text(what, error))
}

/// The text of [`json_error`].
pub fn json_error_text(what: &str, error: &serde_json::Error) -> String {
    let kind = match error.classify() {
        serde_json::error::Category::Data => {
            "does not follow the schema (a wrong type, an unknown or a missing field, or a number out of range)"
        }
        _ => "is not JSON",
    };
    format!(
        "the {what} {kind} at line {} column {}",
        error.line(),
        error.column()
    )
}
