//! Reading a request body with a size limit and a deadline, without ever
//! holding more than the limit (plus one chunk) in memory.
//!
//! The announced `content-length` is checked in `http::check` before this
//! runs; here the body is read chunk by chunk as it streams in. From the
//! first chunk that goes over the limit nothing more is kept (413), and the
//! whole read stops when the deadline passes (408), so a chunked body of any
//! size or a client that stalls after its headers costs at most the limit
//! (plus one chunk) in memory and the deadline in time.

use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use worker::{Delay, Request};

use crate::api_error::ApiError;

/// How long a body may take to arrive once the headers are in.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);

/// Reads at most `limit` bytes of body within [`BODY_DEADLINE`].
pub async fn read_limited(req: &mut Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    if req.inner().body().is_none() {
        return Ok(Vec::new());
    }
    let mut stream = req.stream()?;
    let read = async move {
        let mut body: Vec<u8> = Vec::new();
        let mut over = false;
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|_| ApiError::BadRequest("the body could not be read".into()))?;
            // Past the limit nothing more is kept, but the rest is read and
            // dropped (until its end or the deadline): answering while the
            // client is still sending makes workerd's dev proxy report a lost
            // connection (a plain-text 500) instead of this answer.
            over |= body.len() + chunk.len() > limit;
            if !over {
                body.extend_from_slice(&chunk);
            }
        }
        if over {
            return Err(ApiError::TooLarge { limit });
        }
        Ok(body)
    };
    // A body still arriving at the deadline gets 408, past the limit or not:
    // the answer to a body that never ends.
    match select(Box::pin(read), Delay::from(BODY_DEADLINE)).await {
        Either::Left((body, _)) => body,
        Either::Right(((), _)) => Err(ApiError::Timeout),
    }
}
