//! Reading request bodies: JSON only, size-checked before and after reading.

use worker::Request;

use crate::api_error::ApiError;

/// Reads the body of a JSON request of at most `limit` bytes. Refuses another
/// content type (415) and a larger body (413), announced or not.
pub async fn read_json_bytes(req: &mut Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    let headers = req.headers();
    let content_type = headers
        .get("content-type")
        .ok()
        .flatten()
        .unwrap_or_default();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Err(ApiError::UnsupportedMediaType);
    }
    let announced = headers
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|value| value.parse::<usize>().ok());
    if announced.is_some_and(|length| length > limit) {
        return Err(ApiError::TooLarge { limit });
    }
    let body = req
        .bytes()
        .await
        .map_err(|e| ApiError::BadRequest(format!("could not read the body: {e}")))?;
    if body.len() > limit {
        return Err(ApiError::TooLarge { limit });
    }
    Ok(body)
}

/// The value of query parameter `name`, if present.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    let url = req.url().ok()?;
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}
