//! The metric registry: what a shop collects, with every domain taken from the
//! model bundle, and the true value of each built-in metric on a device.
//!
//! A shop names the metrics it wants and the ε each report spends
//! ([`MetricRequest`]); [`Registry::resolve`] turns them into [`MetricSpec`]s
//! whose domains come from the bundle (the number of lifecycle segments, price
//! tiers and catalogue items), so the edge and the devices can never disagree
//! about a domain while they use the same model. The edge serves the resolved
//! registry (`GET /v1/config`); a device checks it ([`Registry::validate`]) and
//! uses it only with the model it names.
//!
//! Built-in metrics ([`observe`] computes their true value on the device):
//!
//! - `segment.lifecycle`: the lifecycle segment (index in [`lifecycle_names`]);
//! - `segment.price_tier`: the price tier, or "none yet" (the last value);
//! - `item.interest`: the catalogue row the shopper is most interested in now
//!   (largest decayed weight, not disliked), or "none yet" (after the rows);
//!   on a head bundle, the head's rows, "none yet", then "outside the head"
//!   for any other item ([`item_interest_domain`]);
//! - `review.sentiment`: for a device that submitted a review that day, the
//!   reviewed item's category × the shopper's lifecycle segment × the review's
//!   sentiment class (computed on the device; the text never leaves), by
//!   Hadamard response since the domain is large ([`review_cell`]); on a
//!   head bundle, the head's items' categories and one more, "outside the
//!   head" ([`review_categories`]).
//!
//! - the visit metrics (`privacy::visit`): conversion and recommendation
//!   click-through per lifecycle segment (histograms of `segment · 2 +
//!   outcome`), and revenue and revenue attributed to recommendations (sums
//!   clipped at the metric's `cap`, reported only with two aggregators).
//!
//! Every device reports every built-in metric, "none yet" included, so that
//! whether a report is sent says nothing about the shopper. Campaign metrics
//! (`campaign.<id>`, see [`super::campaign`]) are reported by the devices in a
//! campaign's audience.

use serde::Serialize;

use super::campaign::CampaignSpec;
use super::digest::ReportingModel;
use super::visit;
use super::{Mechanism, MetricKind, MetricSpec};
use crate::json::{self, deserialize_through, Fields, JsonError, Value};
use crate::profile::{Profile, ProfileConfig};
use crate::Error;

/// The lifecycle segment metric.
pub const SEGMENT_LIFECYCLE: &str = "segment.lifecycle";
/// The price tier metric.
pub const SEGMENT_PRICE_TIER: &str = "segment.price_tier";
/// The item interest metric (a histogram over the catalogue).
pub const ITEM_INTEREST: &str = "item.interest";
/// The review sentiment metric: category × lifecycle segment × sentiment class,
/// reported by a device that submitted a review that day.
pub const REVIEW_SENTIMENT: &str = "review.sentiment";

/// The sentiment classes a review report distinguishes: negative, neutral, positive.
pub const SENTIMENT_CLASSES: u32 = ReviewClass::ALL.len() as u32;

/// The sentiment class a review report carries. The one map from a sentiment
/// model's label to the report's class: the snippet, the simulator and the
/// decoder all go through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReviewClass {
    /// The review is negative.
    Negative,
    /// Neither negative nor positive.
    Neutral,
    /// The review is positive.
    Positive,
}

impl ReviewClass {
    /// Every class, in the order of their indices in a report's cell.
    pub const ALL: [ReviewClass; 3] = [
        ReviewClass::Negative,
        ReviewClass::Neutral,
        ReviewClass::Positive,
    ];

    /// The class's index in a report's cell (0 negative, 1 neutral, 2 positive).
    pub fn index(self) -> u32 {
        self as u32
    }

    /// The class of an index, if it is one.
    pub fn from_index(index: u32) -> Option<ReviewClass> {
        ReviewClass::ALL.get(index as usize).copied()
    }

    /// The class of a sentiment model's label (`negative`, `neutral` or
    /// `positive`, as the published sentiment bundles name their classes).
    pub fn from_label(label: &str) -> Result<ReviewClass, Error> {
        match label {
            "negative" => Ok(ReviewClass::Negative),
            "neutral" => Ok(ReviewClass::Neutral),
            "positive" => Ok(ReviewClass::Positive),
            _ => Err(invalid(
                "review.class",
                "is not a sentiment class a review report carries (negative, neutral or positive)",
            )),
        }
    }
}

/// The largest daily ε a shop may configure.
pub const MAX_DAILY_EPSILON: f64 = 4.0;

/// One metric a shop asks for: its name and the ε of one report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRequest {
    /// A built-in metric name.
    pub name: String,
    /// The privacy loss of one report.
    pub epsilon: f64,
    /// For a revenue metric: the most one device's day counts for, in the
    /// shop's currency (more is clipped to it); `None` is
    /// [`visit::DEFAULT_REVENUE_CAP`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap: Option<f64>,
}

/// When devices send their envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReportSchedule {
    /// The least time between two envelopes of one device, in hours (≥ 24:
    /// the budget is per day, and so is the envelope).
    pub interval_hours: u32,
    /// The random delay added to every send time, uniformly between these
    /// bounds, in seconds, so a report's arrival does not line up with a visit.
    pub delay_seconds: [u32; 2],
}

impl Default for ReportSchedule {
    fn default() -> Self {
        ReportSchedule {
            interval_hours: 24,
            delay_seconds: [60, 3600],
        }
    }
}

/// What a shop collects, resolved against one model: what the edge serves at
/// `GET /v1/config` and what a device reports by.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Registry {
    /// The shop's id.
    pub shop: String,
    /// The model whose domains the metrics use.
    pub model_id: String,
    /// The most ε a device spends per day.
    pub daily_epsilon: f64,
    /// Values estimated below this many devices are not published.
    pub k_anonymity: u32,
    /// When devices send.
    pub schedule: ReportSchedule,
    /// The number of lifecycle segments (campaign cells are per segment).
    pub n_lifecycle_segments: u32,
    /// The campaigns the shop runs.
    pub campaigns: Vec<CampaignSpec>,
    /// Every metric, built-in and campaign, in reporting priority order.
    pub metrics: Vec<MetricSpec>,
    /// The two aggregators of the secret-shared metrics; `None` when the shop
    /// runs one aggregator, and every metric is then randomised on the device
    /// (local DP, the declared fallback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregators: Option<Aggregators>,
}

/// The two aggregators a device splits its secret-shared reports between.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggregators {
    /// The leader's (the shop's edge) HPKE configuration, DAP-encoded, base64url.
    pub leader_hpke_config: String,
    /// The helper's, likewise.
    pub helper_hpke_config: String,
    /// Where the helper answers (a device may fetch its configuration there
    /// to check the one above).
    pub helper_url: String,
}

impl Aggregators {
    /// Reads the aggregators' part of a registry.
    pub fn read(value: Value) -> Result<Aggregators, JsonError> {
        let mut fields = Fields::new(value)?;
        let aggregators = Aggregators {
            leader_hpke_config: fields.string("leader_hpke_config")?,
            helper_hpke_config: fields.string("helper_hpke_config")?,
            helper_url: fields.string("helper_url")?,
        };
        fields.finish()?;
        Ok(aggregators)
    }

    /// Both configurations, checked.
    pub fn keys(&self) -> Result<crate::aggregation::client::AggregatorKeys, Error> {
        use crate::aggregation::hpke::config_from_text;
        Ok(crate::aggregation::client::AggregatorKeys {
            leader: config_from_text(&self.leader_hpke_config)?,
            helper: config_from_text(&self.helper_hpke_config)?,
        })
    }
}

impl MetricRequest {
    /// Reads a metric request (`{"name": …, "epsilon": …}`).
    pub fn read(value: Value) -> Result<MetricRequest, JsonError> {
        let mut fields = Fields::new(value)?;
        let request = MetricRequest {
            name: fields.string("name")?,
            epsilon: fields.f64("epsilon")?,
            cap: fields.take_optional("cap", json::f64)?,
        };
        fields.finish()?;
        Ok(request)
    }
}
deserialize_through!(MetricRequest, MetricRequest::read);

impl ReportSchedule {
    /// Reads a schedule (`{"interval_hours": …, "delay_seconds": [low, high]}`).
    pub fn read(value: Value) -> Result<ReportSchedule, JsonError> {
        let mut fields = Fields::new(value)?;
        let schedule = ReportSchedule {
            interval_hours: fields.u32("interval_hours")?,
            delay_seconds: fields.take("delay_seconds", |value| json::fixed(value, json::u32))?,
        };
        fields.finish()?;
        Ok(schedule)
    }
}
deserialize_through!(ReportSchedule, ReportSchedule::read);

impl Registry {
    /// Reads a registry from its JSON (what `GET /v1/config` serves); it is
    /// not validated here ([`Registry::validate`] does that).
    pub fn from_json(bytes: &[u8]) -> Result<Registry, JsonError> {
        Registry::read(json::parse(bytes)?)
    }

    /// Reads a registry from parsed JSON.
    pub fn read(value: Value) -> Result<Registry, JsonError> {
        let mut fields = Fields::new(value)?;
        let registry = Registry {
            shop: fields.string("shop")?,
            model_id: fields.string("model_id")?,
            daily_epsilon: fields.f64("daily_epsilon")?,
            k_anonymity: fields.u32("k_anonymity")?,
            schedule: fields.take("schedule", ReportSchedule::read)?,
            n_lifecycle_segments: fields.u32("n_lifecycle_segments")?,
            campaigns: fields.array("campaigns", CampaignSpec::read)?,
            metrics: fields.array("metrics", MetricSpec::read)?,
            aggregators: fields.take_optional("aggregators", Aggregators::read)?,
        };
        fields.finish()?;
        Ok(registry)
    }
}
deserialize_through!(Registry, Registry::read);

/// The lifecycle segment names of a model, in a fixed order: its rules'
/// segments as they first appear, then the no-purchase and fallback segments.
pub fn lifecycle_names<M: ReportingModel + ?Sized>(model: &M) -> Vec<&str> {
    let map = model.lifecycle();
    let mut names: Vec<&str> = Vec::new();
    let all = map.rules.iter().map(|rule| rule.segment.as_str()).chain([
        map.no_purchase_segment.as_str(),
        map.fallback_segment.as_str(),
    ]);
    for name in all {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The label of a segment metric's last value: the shopper has none yet.
pub const NONE_YET: &str = "none yet";

/// The names of a segment metric's values, in value order (what a dashboard
/// labels its bars with): the lifecycle segments ([`lifecycle_names`]), or the
/// price tiers then [`NONE_YET`]. `None` for the other kinds, whose values
/// are catalogue rows, cells or sums.
pub fn value_labels<M: ReportingModel + ?Sized>(
    model: &M,
    kind: MetricKind,
) -> Option<Vec<String>> {
    match kind {
        MetricKind::LifecycleSegment => Some(
            lifecycle_names(model)
                .into_iter()
                .map(str::to_string)
                .collect(),
        ),
        MetricKind::PriceTier => {
            let tiers = &model.price_tiers().labels;
            Some(
                tiers
                    .iter()
                    .cloned()
                    .chain([NONE_YET.to_string()])
                    .collect(),
            )
        }
        _ => None,
    }
}

/// The values of `item.interest` on `model`: each of its report rows
/// ([`ReportingModel::n_items`]), then "none yet" ([`none_yet_item`]), then,
/// for a head bundle, "outside the head" ([`outside_head_item`]).
pub fn item_interest_domain<M: ReportingModel + ?Sized>(model: &M) -> u32 {
    model.n_items() as u32 + 1 + u32::from(model.is_head())
}

/// The `item.interest` value of a shopper with no item of interest yet.
pub fn none_yet_item<M: ReportingModel + ?Sized>(model: &M) -> u32 {
    model.n_items() as u32
}

/// The `item.interest` value of a head bundle's shopper whose item of most
/// interest is not one of the head's (whether or not the device holds its
/// shard); `None` for a whole bundle.
pub fn outside_head_item<M: ReportingModel + ?Sized>(model: &M) -> Option<u32> {
    model.is_head().then(|| model.n_items() as u32 + 1)
}

/// The categories a `review.sentiment` cell names: the model's report
/// categories ([`ReportingModel::n_categories`]), then, for a head bundle,
/// one more, "outside the head", for a review of any item not in the head.
pub fn review_categories<M: ReportingModel + ?Sized>(model: &M) -> u32 {
    model.n_categories() as u32 + u32::from(model.is_head())
}

/// The name the dashboard gives the category or item value "outside the
/// head" of a head bundle's reports.
pub const OUTSIDE_HEAD: &str = "outside the head";

fn built_in_mechanism<M: ReportingModel + ?Sized>(
    model: &M,
    request: &MetricRequest,
) -> Option<Mechanism> {
    let n_tiers = model.price_tiers().labels.len() as u32;
    let kind = MetricKind::of(&request.name)?;
    if request.cap.is_some() && !kind.is_revenue() {
        return None;
    }
    match kind {
        MetricKind::Conversion | MetricKind::RecommendationClickThrough => Some(Mechanism::Grr {
            domain: lifecycle_names(model).len() as u32 * 2,
        }),
        MetricKind::Revenue | MetricKind::RecommendationRevenue => Some(Mechanism::Prio3Sum {
            domain: 2,
            bits: visit::REVENUE_BITS,
            cap: request.cap.unwrap_or(visit::DEFAULT_REVENUE_CAP),
        }),
        MetricKind::LifecycleSegment => Some(Mechanism::Grr {
            domain: lifecycle_names(model).len() as u32,
        }),
        MetricKind::PriceTier => Some(Mechanism::Grr {
            domain: n_tiers + 1,
        }),
        MetricKind::ItemInterest => Some(Mechanism::Hadamard {
            domain: item_interest_domain(model),
        }),
        MetricKind::ReviewSentiment => Some(Mechanism::Hadamard {
            domain: review_categories(model)
                * lifecycle_names(model).len() as u32
                * SENTIMENT_CLASSES,
        }),
        // A campaign's metric comes from its spec, not from a request.
        MetricKind::Campaign => None,
    }
}

fn invalid(name: &'static str, reason: &'static str) -> Error {
    Error::InvalidParameter { name, reason }
}

impl Registry {
    /// Resolves a shop's requests against `model`. Campaign metrics come first
    /// (a device in a campaign's audience reports it before anything else),
    /// then the built-in metrics in the order asked. A head bundle's
    /// registry depends on the head alone, whatever shards `model` has
    /// added ([`ReportingModel`]).
    pub fn resolve<M: ReportingModel + ?Sized>(
        shop: &str,
        model: &M,
        requests: &[MetricRequest],
        campaigns: &[CampaignSpec],
        daily_epsilon: f64,
        k_anonymity: u32,
        schedule: ReportSchedule,
    ) -> Result<Registry, Error> {
        let n_lifecycle_segments = lifecycle_names(model).len() as u32;
        let mut metrics: Vec<MetricSpec> = campaigns
            .iter()
            .map(|campaign| campaign.metric(n_lifecycle_segments))
            .collect();
        for request in requests {
            let mechanism = built_in_mechanism(model, request).ok_or_else(|| {
                invalid(
                    "metric.name",
                    "is not a built-in metric (or has a cap and is not a revenue)",
                )
            })?;
            metrics.push(MetricSpec {
                name: request.name.clone(),
                mechanism,
                epsilon: request.epsilon,
            });
        }
        let registry = Registry {
            shop: shop.to_string(),
            model_id: model.model_id().to_string(),
            daily_epsilon,
            k_anonymity,
            schedule,
            n_lifecycle_segments,
            campaigns: campaigns.to_vec(),
            metrics,
            aggregators: None,
        };
        registry.validate()?;
        Ok(registry)
    }

    /// The same registry with its segment and campaign metrics secret-shared
    /// (Prio3 histograms). Item interest stays randomised on the device (a
    /// report share grows with the domain, here the catalogue), and so does
    /// review sentiment for now (its decoder reads a Hadamard tally).
    pub fn secret_share_small_domains(mut self) -> Registry {
        for metric in &mut self.metrics {
            let domain = metric.mechanism.domain();
            let large_domain = matches!(
                metric.kind(),
                Some(MetricKind::ItemInterest | MetricKind::ReviewSentiment)
            );
            let shareable = matches!(metric.mechanism, Mechanism::Grr { .. })
                && !large_domain
                && domain <= crate::aggregation::task::MAX_HISTOGRAM_LENGTH;
            if shareable {
                metric.mechanism = Mechanism::Prio3 { domain };
            }
        }
        self
    }

    /// The same registry with two aggregators: its small-domain metrics
    /// secret-shared ([`Registry::secret_share_small_domains`]) between them.
    pub fn with_aggregators(self, aggregators: Aggregators) -> Result<Registry, Error> {
        aggregators.keys()?;
        let mut registry = self.secret_share_small_domains();
        registry.aggregators = Some(aggregators);
        registry.validate()?;
        Ok(registry)
    }

    /// The DAP task of a secret-shared metric (`None` for a randomised one).
    pub fn task(&self, metric: &MetricSpec) -> Option<crate::aggregation::task::Task> {
        use crate::aggregation::task::Task;
        match metric.mechanism {
            Mechanism::Prio3 { domain } => Task::histogram(
                &self.shop,
                &metric.name,
                domain,
                metric.epsilon,
                self.k_anonymity,
            )
            .ok(),
            Mechanism::Prio3Sum { domain, bits, cap } => Task::sum_vec(
                &self.shop,
                &metric.name,
                domain,
                bits,
                cap,
                metric.epsilon,
                self.k_anonymity,
            )
            .ok(),
            _ => None,
        }
    }

    /// Checks a registry, for example one a device fetched: every spec valid,
    /// names unique, campaigns matching their metrics, sane budget and schedule.
    pub fn validate(&self) -> Result<(), Error> {
        if !(0.0..=MAX_DAILY_EPSILON).contains(&self.daily_epsilon) {
            return Err(invalid("daily_epsilon", "must be between 0 and 4"));
        }
        if self.k_anonymity == 0 {
            return Err(invalid("k_anonymity", "must be at least 1"));
        }
        let [low, high] = self.schedule.delay_seconds;
        if self.schedule.interval_hours < 24 || low > high || high > 7 * 86_400 {
            return Err(invalid(
                "schedule",
                "needs interval_hours ≥ 24 and 0 ≤ delay low ≤ high ≤ a week",
            ));
        }
        if self.metrics.is_empty() || self.metrics.len() > 64 {
            return Err(invalid("metrics", "must hold 1 to 64 metrics"));
        }
        for (index, metric) in self.metrics.iter().enumerate() {
            metric.validate()?;
            if self.metrics[..index].iter().any(|m| m.name == metric.name) {
                return Err(invalid("metrics", "a metric name appears twice"));
            }
        }
        // A sum has no local-DP form: with one aggregator it is listed and
        // never reported; a histogram would be randomised instead.
        let secret_shared = self
            .metrics
            .iter()
            .any(|m| matches!(m.mechanism, Mechanism::Prio3 { .. }));
        match &self.aggregators {
            Some(aggregators) => {
                aggregators.keys()?;
            }
            None if secret_shared => {
                return Err(invalid(
                    "aggregators",
                    "secret-shared metrics need the two aggregators' keys",
                ))
            }
            None => {}
        }
        for campaign in &self.campaigns {
            campaign.validate()?;
            let expected = campaign.metric(self.n_lifecycle_segments);
            let matches = self.metric(&expected.name).is_some_and(|metric| {
                metric.epsilon == expected.epsilon
                    && metric.mechanism.domain() == expected.mechanism.domain()
            });
            if !matches {
                return Err(invalid(
                    "campaigns",
                    "a campaign's metric is missing or does not match it",
                ));
            }
        }
        Ok(())
    }

    /// The metric with this name.
    pub fn metric(&self, name: &str) -> Option<&MetricSpec> {
        self.metrics.iter().find(|metric| metric.name == name)
    }

    /// The campaign with this id.
    pub fn campaign(&self, id: &str) -> Option<&CampaignSpec> {
        self.campaigns.iter().find(|campaign| campaign.id == id)
    }
}

/// The true value of a metric this shopper's profile answers at `now`
/// (segments and item interest); `None` for the other kinds (a review, a
/// visit or a campaign exposure is recorded, not observed).
pub fn observe<M: ReportingModel + ?Sized>(
    model: &M,
    profile: &Profile,
    config: &ProfileConfig,
    now: i64,
    kind: MetricKind,
) -> Option<u32> {
    match kind {
        MetricKind::LifecycleSegment => lifecycle_index(model, &lifecycle_of(model, profile, now)),
        MetricKind::PriceTier => {
            let tiers = model.price_tiers();
            let labels = &tiers.labels;
            let none = labels.len() as u32;
            Some(
                crate::segments::price_tier(tiers, profile)
                    .and_then(|tier| labels.iter().position(|label| *label == tier.name))
                    .map_or(none, |position| position as u32),
            )
        }
        MetricKind::ItemInterest => {
            // A head counts every item it does not hold as one value, so
            // the answer does not depend on the shards a device has added;
            // a whole bundle passes over ids it does not know.
            let outside = outside_head_item(model);
            let top = profile
                .weights_at(now, config)
                .filter(|(signal, weight)| !signal.disliked && *weight > 0.0)
                .filter_map(|(signal, weight)| {
                    Some((model.item_row(&signal.id).or(outside)?, weight))
                })
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
            Some(top.map_or(none_yet_item(model), |(value, _)| value))
        }
        _ => None,
    }
}

/// The true cell of a `review.sentiment` report: the reviewed item's category
/// (its index among [`ReportingModel::n_categories`]; for a head bundle, any
/// item outside the head is the extra category "outside the head", see
/// [`review_categories`]),
/// the shopper's lifecycle segment and the sentiment class. `None` for an
/// item a whole bundle does not know or a segment out of range.
pub fn review_cell<M: ReportingModel + ?Sized>(
    model: &M,
    item_id: &str,
    segment: u32,
    class: ReviewClass,
) -> Option<u32> {
    let n_segments = lifecycle_names(model).len() as u32;
    let outside = model.is_head().then(|| model.n_categories() as u32);
    let category = match model.item_row(item_id) {
        Some(row) => model.item_category(row)?,
        None => outside?,
    };
    (segment < n_segments)
        .then_some((category * n_segments + segment) * SENTIMENT_CLASSES + class.index())
}

/// The name of the shopper's lifecycle segment at `now` (the one
/// [`crate::segments::classify`] reports).
pub fn lifecycle_of<M: ReportingModel + ?Sized>(model: &M, profile: &Profile, now: i64) -> String {
    let rfm = crate::features::RfmFeatures::from_profile(profile, now);
    crate::segments::lifecycle(model.lifecycle(), &rfm).name
}

/// The index of a lifecycle segment name in [`lifecycle_names`].
pub fn lifecycle_index<M: ReportingModel + ?Sized>(model: &M, name: &str) -> Option<u32> {
    lifecycle_names(model)
        .iter()
        .position(|candidate| *candidate == name)
        .map(|position| position as u32)
}
