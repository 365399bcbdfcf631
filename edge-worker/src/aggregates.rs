//! `GET /v1/aggregates?shop=ID[&day=N]`: what the dashboard reads, with the
//! shop's dashboard token (checked in `http`).
//!
//! Nothing below k is published, counts included: a metric's, a campaign's
//! or the day's number of reports is `null` until it reaches `k_anonymity`,
//! and a country with fewer than k reports is not listed at all. Reading a
//! day that holds nothing creates nothing (see `aggregate_store`).
//!
//! The shop-day's counters become unbiased estimates with 95% intervals (the
//! engine's `privacy::estimate`). A metric with fewer than `k_anonymity`
//! reports is not published at all, and within a published metric a value is
//! shown only when its estimate reaches `k_anonymity`; the rest are counted as
//! suppressed.
//!
//! Campaigns get a section of their own: each campaign's metric is decoded by
//! the engine (`privacy::campaign::decode`) into exposure, responses, response
//! rate and uplift against the holdout, per variant and lifecycle segment and
//! pooled. A cell is published only when its estimated exposure reaches
//! `k_anonymity` (and an uplift only when the holdout's cell is published too).
//!
//! The visit metrics get one (`visits`): conversion and recommendation
//! click-through as rates per lifecycle segment and pooled (a cell shown only
//! when its reporting devices reach `k_anonymity`), and revenue per visitor
//! and revenue attributed to recommendations with the cap they were clipped
//! at (released only from `k_anonymity` reports, by the helper's minimum
//! batch). With one aggregator the two rates come from their randomised
//! histograms (`privacy::campaign::decode_local_rates`) with the devices a
//! rate would need for ±1 point, and the revenues are not collected.
//!
//! Review sentiment gets one too (`privacy::sentiment_report::decode`): the
//! negative share of reviews per lifecycle segment and per category with 95%
//! intervals, and the segments markedly unhappier than the rest with the
//! categories that drive them; a group is shown only when its estimated review
//! count reaches `k_anonymity`.

use cove_engine::bundle::Model;
use cove_engine::privacy::campaign::{self, CampaignKind, Interval, Outcome};
use cove_engine::privacy::estimate::estimate;
use cove_engine::privacy::registry::{self, Registry, REVIEW_SENTIMENT};
use cove_engine::privacy::sentiment_report::{self, FlaggedSegment, GroupSentiment};
use cove_engine::privacy::{Estimate, Mechanism, MetricKind, Tally};
use serde::Serialize;
use worker::{Env, Method, Request, RequestInit};

use cove_engine::aggregation::release::{
    decode_campaign, decode_rates, decode_revenue, histogram_estimates, Released, RevenueOutcome,
};
use cove_engine::privacy::visit;

use crate::aggregate_store::{index_name, DayKnown, DayRequest, Tallies};
use crate::api_error::ApiError;
use crate::config::ShopConfig;
use crate::dap::DayRelease;
use crate::http::Answer;
use crate::reports::store_request;

#[derive(Serialize)]
struct MetricAggregate<'a> {
    name: &'a str,
    /// What the metric measures (the engine's `MetricKind`); `None` for a
    /// name Cove does not define.
    kind: Option<MetricKind>,
    /// The names of a segment metric's values, in value order.
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<Vec<String>>,
    /// For a secret-shared metric: released, below k, or not yet (and why).
    #[serde(skip_serializing_if = "Option::is_none")]
    release: Option<ReleaseStatus>,
    mechanism: Mechanism,
    epsilon: f64,
    /// `None` below k.
    n_reports: Option<u64>,
    published: bool,
    values: Vec<Estimate>,
    suppressed_values: usize,
}

/// Where a secret-shared metric's day stands.
#[derive(Serialize, Clone)]
struct ReleaseStatus {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Serialize)]
struct Aggregates<'a> {
    shop: &'a str,
    day: u32,
    /// `"secret_shared"` (two aggregators, central DP) or `"local_dp"` (one
    /// aggregator: every number randomised on the device).
    aggregation: &'static str,
    k_anonymity: u32,
    /// `None` below k.
    envelopes: Option<u64>,
    /// The lifecycle segments' names, in the order of every per-segment list
    /// and cell below (the engine's `registry::lifecycle_names`).
    lifecycle_segments: Vec<String>,
    /// The pointer of the bundle the shop's pages load
    /// (`/v1/bundles/default.json`, or the shop's own): the dashboard
    /// titles the products of interest from the catalogue published beside
    /// it.
    bundle: String,
    /// How many of that catalogue's rows `item.interest` names by row (a
    /// head bundle's own items, or the whole catalogue); the values after
    /// them are "none yet" and, for a head, "outside the head" (the
    /// engine's `registry::item_interest_domain`).
    report_items: u32,
    metrics: Vec<MetricAggregate<'a>>,
    /// Item interest per request country (see `trending`), most reports first.
    trending_by_country: Vec<CountryTrending>,
    campaigns: Vec<CampaignAggregate<'a>>,
    /// Conversion, revenue and recommendations (with one aggregator, only
    /// the two rates, randomised on each device).
    #[serde(skip_serializing_if = "Option::is_none")]
    visits: Option<VisitsAggregate>,
    sentiment: Option<SentimentAggregate>,
}

/// The visit metrics of the day, each `None` when the shop does not collect it.
#[derive(Serialize)]
struct VisitsAggregate {
    conversion: Option<RateAggregate>,
    revenue: Option<RevenueAggregate>,
    click_through: Option<RateAggregate>,
    recommendation_revenue: Option<RevenueAggregate>,
}

/// A rate per lifecycle segment and pooled (conversion or click-through).
#[derive(Serialize)]
struct RateAggregate {
    metric: &'static str,
    epsilon: f64,
    release: ReleaseStatus,
    n_reports: Option<u64>,
    published: bool,
    /// `exposed` is the devices that reported (for click-through: that a
    /// slot showed items to), `responded` those that bought (clicked).
    pooled: Option<CellAggregate>,
    segments: Vec<CellAggregate>,
    /// With one aggregator (local DP): how many reporting devices the pooled
    /// rate would need to be known within ±1 point.
    #[serde(skip_serializing_if = "Option::is_none")]
    devices_for_one_point: Option<u64>,
}

impl RateAggregate {
    /// A rate's decoded outcomes (pooled first, then one per segment)
    /// published under k-anonymity: nothing below `k` reports, and each
    /// cell only from `k` reporting devices.
    fn published(
        metric: &'static str,
        epsilon: f64,
        release: ReleaseStatus,
        n_reports: u64,
        outcomes: Vec<Outcome>,
        k: f64,
    ) -> Self {
        let published = n_reports as f64 >= k;
        let mut outcomes = outcomes.into_iter();
        let pooled = outcomes
            .next()
            .map(|pooled| CellAggregate::publish(&pooled, None, published, k));
        RateAggregate {
            metric,
            epsilon,
            release,
            n_reports: at_least_k(n_reports, k),
            published,
            pooled,
            segments: outcomes
                .map(|cell| CellAggregate::publish(&cell, None, published, k))
                .collect(),
            devices_for_one_point: None,
        }
    }
}

/// Money per device-day: the total and the mean per reporting device.
#[derive(Serialize)]
struct RevenueAggregate {
    metric: &'static str,
    epsilon: f64,
    /// Each device's day counts for at most this much (the shop's currency).
    cap: f64,
    release: ReleaseStatus,
    published: bool,
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    outcome: Option<RevenueOutcome>,
}
/// The most items a country's trending list shows.
const TRENDING_TOP: usize = 20;

/// One country's item-interest estimates: the top values reaching k.
/// Review sentiment per segment and category (groups below k left out).
#[derive(Serialize)]
struct SentimentAggregate {
    metric: &'static str,
    n_reports: Option<u64>,
    published: bool,
    segment_names: Vec<String>,
    category_names: Vec<String>,
    overall: Option<GroupSentiment>,
    segments: Vec<GroupSentiment>,
    categories: Vec<GroupSentiment>,
    suppressed_groups: usize,
    flagged: Vec<FlaggedSegment>,
}

#[derive(Serialize)]
struct CountryTrending {
    country: String,
    n_reports: Option<u64>,
    published: bool,
    values: Vec<Estimate>,
    suppressed_values: usize,
}

/// One campaign's decoded reports, as published.
#[derive(Serialize)]
struct CampaignAggregate<'a> {
    id: &'a str,
    kind: CampaignKind,
    metric: String,
    variants: u32,
    epsilon: f64,
    n_segments: u32,
    n_reports: Option<u64>,
    /// Whether the campaign reached `k_anonymity` reports at all.
    published: bool,
    /// Holdout (variant 0) first.
    results: Vec<VariantAggregate>,
    /// Local DP only: how many reporting devices a variant's pooled rate
    /// would need to be known within ±1 point.
    #[serde(skip_serializing_if = "Option::is_none")]
    devices_for_one_point: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    release: Option<ReleaseStatus>,
}

#[derive(Serialize)]
struct VariantAggregate {
    variant: u32,
    pooled: CellAggregate,
    segments: Vec<CellAggregate>,
}

/// One variant in one segment (or pooled): the figures, or `suppressed`.
#[derive(Serialize)]
struct CellAggregate {
    segment: Option<u32>,
    suppressed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    exposed: Option<Interval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    responded: Option<Interval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<Interval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uplift: Option<Interval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prob_beats_holdout: Option<f64>,
}

impl CellAggregate {
    /// Publishes `outcome` if its exposure reaches `k`; its uplift only if the
    /// holdout's exposure does too.
    fn publish(outcome: &Outcome, holdout: Option<&Outcome>, published: bool, k: f64) -> Self {
        let shown = |o: &Outcome| published && o.exposed.estimate >= k;
        if !shown(outcome) {
            return CellAggregate {
                segment: outcome.segment,
                suppressed: true,
                exposed: None,
                responded: None,
                rate: None,
                uplift: None,
                prob_beats_holdout: None,
            };
        }
        let uplift_shown = holdout.is_some_and(shown);
        CellAggregate {
            segment: outcome.segment,
            suppressed: false,
            exposed: Some(outcome.exposed),
            responded: Some(outcome.responded),
            rate: outcome.rate,
            uplift: outcome.uplift.filter(|_| uplift_shown),
            prob_beats_holdout: outcome.prob_beats_holdout.filter(|_| uplift_shown),
        }
    }
}

/// Reads the `(shop, day)` store and publishes what it holds.
pub async fn handle(
    env: &Env,
    shop: &ShopConfig,
    day: u32,
    today: u32,
) -> Result<Answer, ApiError> {
    let tallies = if day_has_data(env, shop, day).await? {
        let mut response =
            store_request::<()>(env, &shop.id, day, Method::Get, "/tallies", None).await?;
        if response.status_code() != 200 {
            return Err(ApiError::Internal(format!(
                "aggregate store answered {}",
                response.status_code()
            )));
        }
        response.json().await?
    } else {
        Tallies::default()
    };
    let registry = crate::registry::shop_registry(env, shop).await?;
    let model = crate::model::shop_model(env, shop).await?;
    let releases = crate::dap::collect(env, shop, &registry, day, today).await?;
    Answer::json(
        200,
        &publish(shop, &registry, &model, day, &tallies, &releases)?,
    )
}

fn status_of(release: &DayRelease) -> ReleaseStatus {
    match release {
        DayRelease::Released { .. } => ReleaseStatus {
            status: "released",
            reason: None,
        },
        DayRelease::BelowK { n_reports } => ReleaseStatus {
            status: "below_k",
            reason: Some(format!("{n_reports} reports, fewer than k")),
        },
        DayRelease::NotYet { reason } => ReleaseStatus {
            status: "not_yet",
            reason: Some(reason.clone()),
        },
    }
}

fn release_of<'r>(releases: &'r [(String, DayRelease)], name: &str) -> Option<&'r DayRelease> {
    releases
        .iter()
        .find(|(metric, _)| metric == name)
        .map(|(_, release)| release)
}

/// Whether the shop's index lists `day` (see `aggregate_store::DayIndex`).
async fn day_has_data(env: &Env, shop: &ShopConfig, day: u32) -> Result<bool, ApiError> {
    let stub = env
        .durable_object(crate::config::DAY_INDEX_BINDING)?
        .id_from_name(&index_name(&shop.id))?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(
        serde_json::to_string(&DayRequest { day })
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .into(),
    ));
    let request = Request::new_with_init("https://day-index/has", &init)?;
    let mut response = stub.fetch_with_request(request).await?;
    if response.status_code() != 200 {
        return Err(ApiError::Internal(format!(
            "day index answered {}",
            response.status_code()
        )));
    }
    Ok(response.json::<DayKnown>().await?.known)
}

/// The published aggregates of one shop-day's tallies, as JSON.
pub fn publish_json(
    shop: &ShopConfig,
    registry: &Registry,
    model: &Model,
    day: u32,
    tallies: &Tallies,
) -> Result<Answer, ApiError> {
    Answer::json(200, &publish(shop, registry, model, day, tallies, &[])?)
}

/// A count, or `None` below k.
fn at_least_k(count: u64, k: f64) -> Option<u64> {
    (count as f64 >= k).then_some(count)
}

fn publish<'a>(
    shop: &'a ShopConfig,
    registry: &'a Registry,
    model: &Model,
    day: u32,
    tallies: &Tallies,
    releases: &[(String, DayRelease)],
) -> Result<Aggregates<'a>, ApiError> {
    let k = f64::from(shop.k_anonymity);
    let mut metrics = Vec::with_capacity(registry.metrics.len());
    for spec in &registry.metrics {
        if spec.mechanism.is_secret_shared() {
            let release = release_of(releases, &spec.name);
            let (n_reports, values, suppressed_values) = match release {
                Some(DayRelease::Released { release })
                    if matches!(spec.mechanism, Mechanism::Prio3Sum { .. }) =>
                {
                    // A sum's cells are money, read in `visits`, not counts.
                    (Some(release.n_reports), Vec::new(), 0)
                }
                Some(DayRelease::Released { release }) => {
                    let all = histogram_estimates(release);
                    let total = all.len();
                    let shown: Vec<Estimate> = all.into_iter().filter(|e| e.count >= k).collect();
                    let suppressed = total - shown.len();
                    (Some(release.n_reports), shown, suppressed)
                }
                _ => (None, Vec::new(), spec.mechanism.domain() as usize),
            };
            metrics.push(MetricAggregate {
                name: &spec.name,
                kind: spec.kind(),
                labels: spec
                    .kind()
                    .and_then(|kind| registry::value_labels(model, kind)),
                release: Some(release.map_or(
                    ReleaseStatus {
                        status: "not_yet",
                        reason: Some("no release".into()),
                    },
                    status_of,
                )),
                mechanism: spec.mechanism,
                epsilon: spec.epsilon,
                n_reports,
                published: n_reports.is_some(),
                values,
                suppressed_values,
            });
            continue;
        }
        let tally = tally_of(&spec.name, None, spec.mechanism, tallies);
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
            kind: spec.kind(),
            labels: spec
                .kind()
                .and_then(|kind| registry::value_labels(model, kind)),
            release: None,
            mechanism: spec.mechanism,
            epsilon: spec.epsilon,
            n_reports: at_least_k(tally.n_reports, k),
            published,
            values,
            suppressed_values,
        });
    }
    Ok(Aggregates {
        shop: &shop.id,
        day,
        aggregation: if registry.aggregators.is_some() {
            "secret_shared"
        } else {
            "local_dp"
        },
        k_anonymity: shop.k_anonymity,
        envelopes: at_least_k(tallies.envelopes, k),
        lifecycle_segments: registry::lifecycle_names(model)
            .into_iter()
            .map(str::to_string)
            .collect(),
        bundle: cove_engine::bundle::layout::pointer_url(&shop.pointer_file()),
        report_items: registry::none_yet_item(model),
        metrics,
        trending_by_country: publish_trending(shop, registry, tallies)?,
        campaigns: publish_campaigns(shop, registry, tallies, releases)?,
        visits: publish_visits(shop, registry, tallies, releases)?,
        sentiment: publish_sentiment(shop, registry, model, tallies)?,
    })
}

fn not_released() -> ReleaseStatus {
    ReleaseStatus {
        status: "not_yet",
        reason: Some("no release".into()),
    }
}

/// The visit metrics, decoded from their releases and published under
/// k-anonymity; with one aggregator, the two rates from their randomised
/// tallies (the revenues are not collected then).
fn publish_visits(
    shop: &ShopConfig,
    registry: &Registry,
    tallies: &Tallies,
    releases: &[(String, DayRelease)],
) -> Result<Option<VisitsAggregate>, ApiError> {
    let k = f64::from(shop.k_anonymity);
    let n_segments = registry.n_lifecycle_segments;
    if registry.aggregators.is_none() {
        let local_rate = |name: &'static str| -> Result<Option<RateAggregate>, ApiError> {
            let Some(spec) = registry
                .metric(name)
                .filter(|spec| matches!(spec.mechanism, Mechanism::Grr { .. }))
            else {
                return Ok(None);
            };
            let tally = tally_of(name, None, spec.mechanism, tallies);
            let mut aggregate = RateAggregate::published(
                name,
                spec.epsilon,
                ReleaseStatus {
                    status: "local",
                    reason: None,
                },
                tally.n_reports,
                campaign::decode_local_rates(n_segments, spec.epsilon, &tally)?,
                k,
            );
            aggregate.devices_for_one_point = Some(campaign::devices_for_rate_half_width(
                n_segments,
                spec.epsilon,
                0.01,
            ));
            Ok(Some(aggregate))
        };
        let conversion = local_rate(visit::CONVERSION)?;
        let click_through = local_rate(visit::REC_CLICK_THROUGH)?;
        if conversion.is_none() && click_through.is_none() {
            return Ok(None);
        }
        return Ok(Some(VisitsAggregate {
            conversion,
            revenue: None,
            click_through,
            recommendation_revenue: None,
        }));
    }
    let rate = |name: &'static str| -> Result<Option<RateAggregate>, ApiError> {
        let Some(spec) = registry.metric(name) else {
            return Ok(None);
        };
        let release = release_of(releases, name);
        let Some(DayRelease::Released { release: day }) = release else {
            return Ok(Some(RateAggregate {
                metric: name,
                epsilon: spec.epsilon,
                release: release.map_or_else(not_released, status_of),
                n_reports: None,
                published: false,
                pooled: None,
                segments: Vec::new(),
                devices_for_one_point: None,
            }));
        };
        Ok(Some(RateAggregate::published(
            name,
            spec.epsilon,
            status_of(release.expect("released")),
            day.n_reports,
            decode_rates(n_segments, day)?,
            k,
        )))
    };
    let money = |name: &'static str| -> Result<Option<RevenueAggregate>, ApiError> {
        let Some(spec) = registry.metric(name) else {
            return Ok(None);
        };
        let cove_engine::privacy::Mechanism::Prio3Sum { bits, cap, .. } = spec.mechanism else {
            return Ok(None);
        };
        let release = release_of(releases, name);
        let outcome = match release {
            Some(DayRelease::Released { release: day }) if day.n_reports as f64 >= k => {
                Some(decode_revenue(day, bits, cap)?)
            }
            _ => None,
        };
        Ok(Some(RevenueAggregate {
            metric: name,
            epsilon: spec.epsilon,
            cap,
            release: release.map_or_else(not_released, status_of),
            published: outcome.is_some(),
            outcome,
        }))
    };
    Ok(Some(VisitsAggregate {
        conversion: rate(visit::CONVERSION)?,
        revenue: money(visit::REVENUE)?,
        click_through: rate(visit::REC_CLICK_THROUGH)?,
        recommendation_revenue: money(visit::REC_REVENUE)?,
    }))
}

/// Review sentiment, decoded and published under k-anonymity.
fn publish_sentiment(
    shop: &ShopConfig,
    registry: &Registry,
    model: &Model,
    tallies: &Tallies,
) -> Result<Option<SentimentAggregate>, ApiError> {
    let Some(spec) = registry.metric(REVIEW_SENTIMENT) else {
        return Ok(None);
    };
    let k = f64::from(shop.k_anonymity);
    let segment_names: Vec<String> = registry::lifecycle_names(model)
        .into_iter()
        .map(str::to_string)
        .collect();
    // A head's reports name its own items' categories, then one more for
    // any item outside the head (the engine's `registry::review_categories`).
    let mut category_names = model.reporting_categories().to_vec();
    if model.is_head() {
        category_names.push(registry::OUTSIDE_HEAD.to_string());
    }
    let tally = tally_of(&spec.name, None, spec.mechanism, tallies);
    let published = tally.n_reports as f64 >= k;
    let mut aggregate = SentimentAggregate {
        metric: REVIEW_SENTIMENT,
        n_reports: at_least_k(tally.n_reports, k),
        published,
        overall: None,
        segments: Vec::new(),
        categories: Vec::new(),
        suppressed_groups: segment_names.len() + category_names.len(),
        flagged: Vec::new(),
        segment_names,
        category_names,
    };
    if !published {
        return Ok(Some(aggregate));
    }
    let outcome = sentiment_report::decode(
        spec.mechanism,
        spec.epsilon,
        aggregate.category_names.len() as u32,
        aggregate.segment_names.len() as u32,
        &tally,
    )?;
    let shown = |group: &GroupSentiment| group.reviews >= k;
    aggregate.overall = Some(outcome.overall).filter(shown);
    aggregate.segments = outcome.segments.into_iter().filter(shown).collect();
    aggregate.categories = outcome.categories.into_iter().filter(shown).collect();
    aggregate.suppressed_groups -= aggregate.segments.len() + aggregate.categories.len();
    aggregate.flagged = outcome
        .flagged
        .into_iter()
        .filter(|flag| shown(&flag.sentiment) && shown(&flag.others))
        .collect();
    Ok(Some(aggregate))
}

/// The stored counters of one metric as a tally.
/// `country` picks one country's counters; `None`, the whole shop's.
fn tally_of(name: &str, country: Option<&str>, mechanism: Mechanism, tallies: &Tallies) -> Tally {
    let mut tally = Tally::new(mechanism);
    tally.n_reports = tallies
        .totals
        .iter()
        .find(|total| total.metric == name && total.country.as_deref() == country)
        .map_or(0, |total| total.n);
    for cell in tallies
        .cells
        .iter()
        .filter(|cell| cell.metric == name && cell.country.as_deref() == country)
    {
        if let Some(slot) = tally.counts.get_mut(cell.cell as usize) {
            *slot = cell.count;
        }
    }
    tally
}

/// Item interest per country, each estimated like `item.interest` itself.
fn publish_trending(
    shop: &ShopConfig,
    registry: &Registry,
    tallies: &Tallies,
) -> Result<Vec<CountryTrending>, ApiError> {
    let Some(spec) = registry.metric(crate::trending::INTEREST_METRIC) else {
        return Ok(Vec::new());
    };
    let k = f64::from(shop.k_anonymity);
    let mut countries = Vec::new();
    for total in &tallies.totals {
        let Some(country) = total
            .country
            .as_deref()
            .filter(|_| total.metric == spec.name)
        else {
            continue;
        };
        let tally = tally_of(&total.metric, Some(country), spec.mechanism, tallies);
        // A country below k is not listed at all: even its name would say
        // that someone there reported.
        if (tally.n_reports as f64) < k {
            continue;
        }
        let mut all = estimate(spec.mechanism, spec.epsilon, &tally)?;
        let total = all.len();
        all.retain(|e| e.count >= k);
        let suppressed_values = total - all.len();
        all.sort_by(|a, b| b.count.total_cmp(&a.count));
        all.truncate(TRENDING_TOP);
        countries.push(CountryTrending {
            country: country.to_string(),
            n_reports: Some(tally.n_reports),
            published: true,
            values: all,
            suppressed_values,
        });
    }
    countries.sort_by(|a, b| {
        b.n_reports
            .cmp(&a.n_reports)
            .then(a.country.cmp(&b.country))
    });
    Ok(countries)
}

/// The `campaigns` section of `GET /v1/aggregates` for a day whose campaign
/// metrics the aggregators released as `releases` (metric name, release).
/// The simulator's Monte Carlo (`cove-simulate --monte-carlo`) publishes its
/// simulated releases through this, so that the Simpson's-paradox check sees
/// exactly what the dashboard would.
pub fn publish_released_campaigns(
    shop: &ShopConfig,
    registry: &Registry,
    releases: &[(String, DayRelease)],
) -> Result<serde_json::Value, ApiError> {
    let campaigns = publish_campaigns(shop, registry, &Tallies::default(), releases)?;
    serde_json::to_value(campaigns).map_err(|error| ApiError::Internal(error.to_string()))
}

/// The shop's campaigns, decoded and published under k-anonymity.
fn publish_campaigns<'a>(
    shop: &ShopConfig,
    registry: &'a Registry,
    tallies: &Tallies,
    releases: &[(String, DayRelease)],
) -> Result<Vec<CampaignAggregate<'a>>, ApiError> {
    let n_segments = registry.n_lifecycle_segments;
    let k = f64::from(shop.k_anonymity);
    let mut campaigns = Vec::with_capacity(registry.campaigns.len());
    for spec in &registry.campaigns {
        let metric = spec.metric(n_segments);
        let shared = registry
            .metric(&metric.name)
            .is_some_and(|m| m.mechanism.is_secret_shared());
        let (outcome, published, release) = if shared {
            match release_of(releases, &metric.name) {
                Some(DayRelease::Released { release: day }) => (
                    decode_campaign(spec, n_segments, day)?,
                    day.n_reports as f64 >= k,
                    Some(status_of(&DayRelease::Released {
                        release: day.clone(),
                    })),
                ),
                other => {
                    let empty = Released::new(
                        0,
                        vec![0; metric.mechanism.n_cells() as usize],
                        spec.epsilon,
                    );
                    (
                        decode_campaign(spec, n_segments, &empty)?,
                        false,
                        Some(other.map_or(
                            ReleaseStatus {
                                status: "not_yet",
                                reason: Some("no release".into()),
                            },
                            status_of,
                        )),
                    )
                }
            }
        } else {
            let tally = tally_of(&metric.name, None, metric.mechanism, tallies);
            let published = tally.n_reports as f64 >= k;
            (campaign::decode(spec, n_segments, &tally)?, published, None)
        };
        let holdout = &outcome.variants[0];
        let results = outcome
            .variants
            .iter()
            .map(|variant| VariantAggregate {
                variant: variant.variant,
                pooled: CellAggregate::publish(
                    &variant.pooled,
                    Some(&holdout.pooled),
                    published,
                    k,
                ),
                segments: variant
                    .segments
                    .iter()
                    .zip(&holdout.segments)
                    .map(|(cell, base)| CellAggregate::publish(cell, Some(base), published, k))
                    .collect(),
            })
            .collect();
        campaigns.push(CampaignAggregate {
            id: &spec.id,
            kind: spec.kind,
            metric: metric.name,
            variants: spec.variants,
            epsilon: spec.epsilon,
            n_segments,
            n_reports: at_least_k(outcome.n_reports, k),
            published,
            results,
            devices_for_one_point: (!shared)
                .then(|| campaign::devices_for_half_width(spec, n_segments, 0.01)),
            release,
        });
    }
    Ok(campaigns)
}
