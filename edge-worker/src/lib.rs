//! Cove's edge worker, on the workers-rs `worker` crate, run by workerd (locally
//! through `wrangler dev`, in production on Cloudflare).
//!
//! The entry point is small: [`fetch`] turns the request into plain text
//! (`http::Incoming`), `http::check` decides the route (or the error) before
//! any body is read, `body` reads at most the route's limit within a
//! deadline, and each feature's module answers (`score`, `recommend`,
//! `registry`, `reports`, `aggregates`, `admin`). Failures become a JSON
//! `{code, message}` through `api_error`; what a shop's configuration is,
//! binding names, variables and secrets live in `config`.
//!
//! Key decisions:
//!
//! - The worker scores and estimates with the engine crate's own code, so an
//!   answer computed at the edge equals the one computed on the device.
//! - Shops live in the worker's storage (`shop_store`, one Durable Object),
//!   changed through the authenticated admin API without a rebuild;
//!   `shops.json` only seeds a new deployment. A request's shop is looked up
//!   (cached in the isolate for seconds) before `http::check`, which stays a
//!   pure function of the request, the settings and that shop.
//! - Aggregates live in Durable Objects with SQLite storage, one object per shop
//!   and day (`aggregate_store`): a day's writes for one shop are serialised in
//!   one place, which makes "counted exactly once" a local transaction, and the
//!   shards never grow past one day of one shop.
//! - Static assets (`www/`) are served by the runtime's asset binding before the
//!   worker runs (see `wrangler.toml`); the worker handles only `/v1/…`.
#![deny(missing_docs)]

pub mod admin;
// The `durable_object` macro generates undocumented glue.
#[allow(missing_docs)]
mod aggregate_store;
pub mod aggregates;
pub mod api_error;
mod body;
pub mod config;
// The `durable_object` macro generates undocumented glue.
#[allow(missing_docs)]
pub mod dap;
pub mod http;
mod model;
pub mod offline;
pub mod recommend;
mod registry;
pub mod reports;
pub mod score;
// The `durable_object` macro generates undocumented glue.
#[allow(missing_docs)]
mod shop_store;
mod trending;

pub use aggregate_store::{AggregateStore, DayIndex};
pub use dap::store::DapStore;
pub use shop_store::ShopStore;

use worker::{event, Context, Env, Request, Response, Result};

use crate::api_error::ApiError;
use crate::http::{Answer, Incoming, Route};

/// The worker's fetch handler: the request is checked by `http` before its
/// body is read, then handed to its route's module; every answer, error or
/// not, is JSON with the same security headers.
#[event(fetch)]
pub async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let incoming = Incoming {
        method: req.method().to_string(),
        url: req.url()?.to_string(),
        headers: req.headers().entries().collect(),
    };
    // The aggregators' own protocol (DAP), binary and authenticated apart.
    let path = req.path();
    if path.starts_with("/v1/dap/") {
        return dap::serve(&mut req, &env, &path).await;
    }
    // The shop the query names, from the store (or the isolate's cache),
    // before anything is checked: `http::check` reads no storage.
    let shop = match http::shop_query(&incoming) {
        Some(id) => shop_store::find(&env, &id).await,
        None => Ok(None),
    };
    let (answer, cors_origin) = match shop {
        Ok(shop) => (
            serve(&mut req, &env, &incoming, shop.as_deref()).await,
            http::cors_origin(&incoming, shop.as_deref()),
        ),
        Err(error) => (Err(error), None),
    };
    let answer = answer.unwrap_or_else(|error| error.answer());
    let headers = worker::Headers::new();
    for (name, value) in answer.headers(cors_origin.as_deref()) {
        headers.append(name, &value)?;
    }
    let response = if answer.status == 204 {
        Response::empty()?
    } else {
        Response::ok(answer.body)?
    };
    Ok(response.with_status(answer.status).with_headers(headers))
}

async fn serve(
    req: &mut Request,
    env: &Env,
    incoming: &Incoming,
    shop: Option<&config::ShopConfig>,
) -> std::result::Result<Answer, ApiError> {
    let today = reports::today();
    let settings = config::settings(env);
    let checked = http::check(incoming, &settings, today, shop)?;
    let limit = checked.route.body_limit();
    let body = if limit > 0 {
        body::read_limited(req, limit).await?
    } else {
        Vec::new()
    };
    let shop = || {
        checked
            .shop
            .ok_or_else(|| ApiError::Internal("a shop route without a shop".into()))
    };
    match checked.route {
        Route::Health => Answer::json(
            200,
            &serde_json::json!({ "status": "ok", "engine": env!("CARGO_PKG_VERSION") }),
        ),
        Route::Score => score::answer(&body),
        Route::Recommend => {
            let model = model::default_model(env).await?;
            let now = (worker::Date::now().as_millis() / 1000) as i64;
            recommend::answer(&model, &body, now)
        }
        Route::Config => registry::answer(&registry::shop_registry(env, shop()?).await?),
        Route::Reports => {
            let shop = shop()?;
            let registry = registry::shop_registry(env, shop).await?;
            let country = trending::request_country(req);
            reports::receive(req, env, shop, &registry, &body, today, &country).await
        }
        Route::Aggregates { day } => aggregates::handle(env, shop()?, day, today).await,
        Route::Preflight => Ok(http::preflight()),
        Route::AdminList | Route::AdminShop { .. } => {
            admin::handle(env, &checked.route, &body).await
        }
    }
}

/// Logs an internal failure (the worker's log; never an answer).
pub(crate) fn log_error(detail: &str) {
    #[cfg(target_arch = "wasm32")]
    worker::console_error!("{detail}");
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{detail}");
}
