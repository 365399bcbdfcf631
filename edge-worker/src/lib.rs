//! Cove's edge worker, on the workers-rs `worker` crate, run by workerd (locally
//! through `wrangler dev`, in production on Cloudflare).
//!
//! The entry point is tiny: [`fetch`] builds the one routing table in
//! `routes` and runs it. Each feature has its own handler module (`score`,
//! `reports`, `aggregates`); all of them turn failures into a JSON
//! `{code, message}` body through `api_error`, and the shop configuration and
//! binding names live in `config`.
//!
//! Key decisions:
//!
//! - The worker scores and estimates with the engine crate's own code, so an
//!   answer computed at the edge equals the one computed on the device.
//! - Aggregates live in Durable Objects with SQLite storage, one object per shop
//!   and day (`aggregate_store`): a day's writes for one shop are serialised in
//!   one place, which makes "counted exactly once" a local transaction, and the
//!   shards never grow past one day of one shop.
//! - Static assets (`www/`) are served by the runtime's asset binding before the
//!   worker runs (see `wrangler.toml`); the worker handles only `/v1/…`.
#![deny(missing_docs)]

// The `durable_object` macro generates undocumented glue.
#[allow(missing_docs)]
mod aggregate_store;
mod aggregates;
mod api_error;
mod body;
mod config;
mod cors;
mod model;
pub mod recommend;
mod registry;
mod reports;
mod routes;
mod score;
mod trending;

pub use aggregate_store::AggregateStore;

use worker::{event, Context, Env, Request, Response, Result};

/// The worker's fetch handler: one routing table, run once per request.
#[event(fetch)]
pub async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let response = routes::router().run(req, env).await?;
    // The router answers a known path with the wrong method in plain text;
    // every error of this API is JSON.
    if response.status_code() == 405 {
        return api_error::ApiError::MethodNotAllowed.into_response();
    }
    Ok(response)
}
