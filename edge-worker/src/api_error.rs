//! The worker's one error type: every failure becomes a JSON `{code, message}`
//! with a 4xx status for the caller's mistakes, and internals are never shown.

use worker::Response;

/// A failure to answer a request, mapped to an HTTP status in one place.
#[derive(Debug)]
pub enum ApiError {
    /// The route or resource does not exist (404).
    NotFound(String),
    /// The body could not be read as the JSON the route expects (400).
    BadRequest(String),
    /// The body is larger than the route accepts (413).
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The content type is not `application/json` (415).
    UnsupportedMediaType,
    /// The engine refused the input, with its error code (422).
    Engine(cove_engine::Error),
}

impl ApiError {
    fn status_code_message(&self) -> (u16, &'static str, String) {
        match self {
            ApiError::NotFound(message) => (404, "not_found", message.clone()),
            ApiError::BadRequest(message) => (400, "bad_request", message.clone()),
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
        }
    }

    /// The JSON response for this error.
    pub fn into_response(self) -> worker::Result<Response> {
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
