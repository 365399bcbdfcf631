//! `GET /v1/aggregates?shop=ID[&day=N]`: what the dashboard reads.
//!
//! The shop-day's counters become unbiased estimates with 95% intervals (the
//! engine's `privacy::estimate`). A metric with fewer than `k_anonymity`
//! reports is not published at all, and within a published metric a value is
//! shown only when its estimate reaches `k_anonymity`; the rest are counted as
//! suppressed.

use cove_engine::privacy::estimate::estimate;
use cove_engine::privacy::{Estimate, Mechanism, MetricSpec, Tally};
use serde::Serialize;
use worker::{Method, Request, Response, RouteContext};

use crate::aggregate_store::Tallies;
use crate::api_error::ApiError;
use crate::body::query_param;
use crate::config::{self, ShopConfig};
use crate::cors;
use crate::reports::{store_request, today};

#[derive(Serialize)]
struct MetricAggregate<'a> {
    name: &'a str,
    mechanism: Mechanism,
    epsilon: f64,
    n_reports: u64,
    published: bool,
    values: Vec<Estimate>,
    suppressed_values: usize,
}

#[derive(Serialize)]
struct Aggregates<'a> {
    shop: &'a str,
    day: u32,
    k_anonymity: u32,
    envelopes: u64,
    metrics: Vec<MetricAggregate<'a>>,
}

/// Handles `GET /v1/aggregates`.
pub async fn handle(req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let origin = cors::origin(&req);
    let shop_id = query_param(&req, "shop").unwrap_or_default();
    let result = aggregates(&req, &ctx, &shop_id).await;
    cors::respond(result, config::shop(&shop_id), origin.as_deref())
}

async fn aggregates(
    req: &Request,
    ctx: &RouteContext<()>,
    shop_id: &str,
) -> Result<Response, ApiError> {
    let shop = config::shop(shop_id)
        .ok_or_else(|| ApiError::NotFound(format!("unknown shop '{shop_id}'")))?;
    cors::check_origin(req, shop)?;
    let day = match query_param(req, "day") {
        None => today(),
        Some(text) => text
            .parse::<u32>()
            .map_err(|_| ApiError::BadRequest(format!("day '{text}' is not a day number")))?,
    };
    let mut response =
        store_request::<()>(&ctx.env, shop_id, day, Method::Get, "/tallies", None).await?;
    if response.status_code() != 200 {
        return Err(ApiError::Internal(format!(
            "aggregate store answered {}",
            response.status_code()
        )));
    }
    let tallies: Tallies = response.json().await?;
    let registry = crate::registry::shop_registry(&ctx.env, shop).await?;
    Ok(Response::from_json(&publish(
        shop,
        &registry.metrics,
        day,
        &tallies,
    )?)?)
}

fn publish<'a>(
    shop: &'a ShopConfig,
    metric_specs: &'a [MetricSpec],
    day: u32,
    tallies: &Tallies,
) -> Result<Aggregates<'a>, ApiError> {
    let k = f64::from(shop.k_anonymity);
    let mut metrics = Vec::with_capacity(metric_specs.len());
    for spec in metric_specs {
        let mut tally = Tally::new(spec.mechanism);
        tally.n_reports = tallies
            .totals
            .iter()
            .find(|total| total.metric == spec.name)
            .map_or(0, |total| total.n);
        for cell in tallies.cells.iter().filter(|cell| cell.metric == spec.name) {
            if let Some(slot) = tally.counts.get_mut(cell.cell as usize) {
                *slot = cell.count;
            }
        }
        let published = tally.n_reports as f64 >= k;
        let (values, suppressed_values) = if published {
            let all = estimate(spec.mechanism, spec.epsilon, &tally)?;
            let total = all.len();
            let shown: Vec<Estimate> = all.into_iter().filter(|e| e.count >= k).collect();
            let suppressed = total - shown.len();
            (shown, suppressed)
        } else {
            (Vec::new(), spec.mechanism.domain() as usize)
        };
        metrics.push(MetricAggregate {
            name: &spec.name,
            mechanism: spec.mechanism,
            epsilon: spec.epsilon,
            n_reports: tally.n_reports,
            published,
            values,
            suppressed_values,
        });
    }
    Ok(Aggregates {
        shop: &shop.id,
        day,
        k_anonymity: shop.k_anonymity,
        envelopes: tallies.envelopes,
        metrics,
    })
}
