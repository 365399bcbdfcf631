//! Cove's edge worker, on the workers-rs `worker` crate, run by workerd (locally
//! through `wrangler dev`, in production on Cloudflare).
//!
//! The entry point is tiny: [`fetch`] builds the one routing table in
//! [`routes`] and runs it. Each feature has its own handler module; all of them
//! turn failures into a JSON `{code, message}` body through [`api_error`].
//!
//! Key decision: the worker scores with the engine crate's own code, so a ranking
//! computed at the edge equals the one the browser computes.
//!
//! Static assets (`www/`) are served by the runtime's asset binding before the
//! worker runs (see `wrangler.toml`); the worker handles only `/v1/…`.
#![deny(missing_docs)]

mod api_error;
mod routes;
mod score;

use worker::{event, Context, Env, Request, Response, Result};

/// The worker's fetch handler: one routing table, run once per request.
#[event(fetch)]
pub async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    routes::router().run(req, env).await
}
