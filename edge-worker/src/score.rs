//! `POST /v1/score`: the walking skeleton's scoring route. It ranks candidate
//! vectors against a shopper vector with the engine's own `top_k`.

use serde::Deserialize;

use crate::api_error::{json_error, ApiError};
use crate::http::Answer;

/// The largest body this route reads.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The largest vector dimension it takes.
pub const MAX_DIM: usize = 1024;

/// The most items one answer holds.
pub const MAX_K: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreRequest {
    dim: usize,
    k: usize,
    user: Vec<f32>,
    items: Vec<Vec<f32>>,
}

/// Scores the body's request: the whole route without HTTP.
pub fn answer(body: &[u8]) -> Result<Answer, ApiError> {
    let request: ScoreRequest =
        serde_json::from_slice(body).map_err(|e| json_error("score request", &e))?;
    if request.dim == 0 || request.dim > MAX_DIM {
        return Err(ApiError::Engine(cove_engine::Error::InvalidParameter {
            name: "dim",
            reason: "must be 1 to 1024",
        }));
    }
    if request.k == 0 || request.k > MAX_K {
        return Err(ApiError::Engine(cove_engine::Error::InvalidParameter {
            name: "k",
            reason: "must be 1 to 1000",
        }));
    }
    if let Some(row) = request.items.iter().find(|row| row.len() != request.dim) {
        return Err(ApiError::Engine(cove_engine::Error::DimensionMismatch {
            what: "item row",
            expected: request.dim,
            found: row.len(),
        }));
    }
    let flat: Vec<f32> = request.items.concat();
    let ranked = cove_engine::score::top_k(&request.user, &flat, request.dim, request.k)?;
    Answer::json(200, &serde_json::json!({ "items": ranked }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(body: &str) -> u16 {
        match answer(body.as_bytes()) {
            Ok(answer) => answer.status,
            Err(error) => error.answer().status,
        }
    }

    #[test]
    fn every_number_has_a_bound() {
        // Issue 21 (S2): k ≥ 268,435,455 panicked in the engine's heap.
        assert_eq!(
            status(r#"{"dim":2,"k":268435455,"user":[1,0],"items":[[1,0]]}"#),
            422
        );
        assert_eq!(
            status(r#"{"dim":2,"k":18446744073709551615,"user":[1,0],"items":[[1,0]]}"#),
            422
        );
        assert_eq!(
            status(r#"{"dim":2,"k":18446744073709551616,"user":[1,0],"items":[[1,0]]}"#),
            400
        );
        assert_eq!(status(r#"{"dim":0,"k":1,"user":[],"items":[]}"#), 422);
        assert_eq!(status(r#"{"dim":100000,"k":1,"user":[1],"items":[]}"#), 422);
        // 1e39 overflows f32 to infinity, which the engine refuses.
        assert_eq!(
            status(r#"{"dim":2,"k":1,"user":[1e39,0],"items":[[1,0]]}"#),
            422
        );
        assert_eq!(
            status(r#"{"dim":2,"k":1,"user":[1,0],"items":[[1,2,3]]}"#),
            422
        );
        assert_eq!(
            status(r#"{"dim":2,"k":3,"user":[1,0],"items":[[1,0],[2,0]]}"#),
            200
        );
    }
}
