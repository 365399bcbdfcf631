//! The worker's one error type: every failure becomes a JSON `{code, message}`
//! with a status. The caller's mistakes are 4xx with a precise message;
//! internal failures are a 500 whose details go to the log, never the client.

use worker::Response;

/// A failure to answer a request, mapped to an HTTP status in one place.
#[derive(Debug)]
pub enum ApiError {
    /// The body could not be read as the JSON the route expects (400).
    BadRequest(String),
    /// The body broke the schema; the engine says where (400).
    Malformed(cove_engine::Error),
    /// A browser call from an origin the shop has not listed (403).
    ForbiddenOrigin(String),
    /// The route or resource does not exist (404).
    NotFound(String),
    /// The route exists but not for this method (405).
    MethodNotAllowed,
    /// The same envelope was already counted (409).
    Duplicate,
    /// The body is larger than the route accepts (413).
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The content type is not `application/json` (415).
    UnsupportedMediaType,
    /// The engine refused well-formed input, with its error code (422).
    Engine(cove_engine::Error),
    /// The client sent too many requests (429).
    TooManyRequests,
    /// Something failed inside the worker (500); the detail is logged only.
    Internal(String),
    /// A resource the route needs is not published yet, such as the model (503).
    Unavailable(String),
}

impl ApiError {
    fn status_code_message(&self) -> (u16, &'static str, String) {
        match self {
            ApiError::BadRequest(message) => (400, "bad_request", message.clone()),
            ApiError::Malformed(error) => (400, error.code(), error.to_string()),
            ApiError::ForbiddenOrigin(origin) => (
                403,
                "forbidden_origin",
                format!("origin '{origin}' may not call this shop's API"),
            ),
            ApiError::NotFound(message) => (404, "not_found", message.clone()),
            ApiError::MethodNotAllowed => (
                405,
                "method_not_allowed",
                "this route does not accept that method".to_string(),
            ),
            ApiError::Duplicate => (
                409,
                "duplicate_report",
                "this envelope was already counted".to_string(),
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
            ApiError::Engine(error) => (422, error.code(), error.to_string()),
            ApiError::TooManyRequests => (
                429,
                "rate_limited",
                "too many requests from this client; try again later".to_string(),
            ),
            ApiError::Internal(_) => (500, "internal", "internal error".to_string()),
            ApiError::Unavailable(message) => (503, "unavailable", message.clone()),
        }
    }

    /// The JSON response for this error.
    pub fn into_response(self) -> worker::Result<Response> {
        if let ApiError::Internal(detail) = &self {
            worker::console_error!("internal error: {detail}");
        }
        let (status, code, message) = self.status_code_message();
        Ok(
            Response::from_json(&serde_json::json!({ "code": code, "message": message }))?
                .with_status(status),
        )
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
