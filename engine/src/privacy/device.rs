//! The device's side of reporting: its ε budget, its campaign assignments and
//! exposures, when it sends next, and the envelope waiting to be sent.
//!
//! [`DeviceReporter`] is plain data the snippet keeps in on-device storage
//! (as JSON, see [`DeviceReporter::to_json`]). The rules it keeps:
//!
//! - at most one envelope per day and per `interval_hours`, sent at a time
//!   drawn uniformly from the schedule's delay after it is due, so arrival
//!   times do not line up with visits;
//! - every report spends its metric's ε from the per-day budget, and what does
//!   not fit is left out ([`super::report::build_envelope`]);
//! - an envelope is built once and kept until the edge has it: a retry resends
//!   the same bytes (it spends nothing again and the edge drops a duplicate);
//! - no identifier, no time finer than a day (the envelope's `day`).

use rand_core::{CryptoRng, Rng};
use serde::Serialize;

use super::budget::{EpsilonBudget, DEFAULT_DAILY_EPSILON};
use super::campaign;
use super::digest::ReportingModel;
use super::registry::{self, Registry, ReviewClass};
use super::report::{build_envelope, MAX_REPORTS};
use super::sample::below;
use super::visit::{self, Visit};
use super::{Mechanism, MetricKind};
use crate::aggregation::client::Measurement;
use crate::events::{Event, EventKind, PurchaseLine};
use crate::json::{self, Fields, JsonError, Value};
use crate::profile::{Profile, ProfileConfig};
use crate::Error;

/// Seconds per day.
const DAY_SECONDS: i64 = 86_400;

/// The most campaigns a device remembers an assignment for.
pub const MAX_CAMPAIGNS: usize = 64;

/// The variant a device drew for a campaign; it keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    /// The campaign's id.
    pub campaign: String,
    /// The variant (0 is the holdout).
    pub variant: u32,
}

/// A campaign the device was in the audience of, not yet reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exposure {
    /// The campaign's id.
    pub campaign: String,
    /// The variant the device was in.
    pub variant: u32,
    /// Whether the shopper responded (accepted the offer, bought…).
    pub responded: bool,
}

/// A review the shopper submitted, not yet reported: which item, and the
/// sentiment class the device computed (the text itself is never kept here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewObservation {
    /// The reviewed item's id.
    pub item: String,
    /// 0 negative, 1 neutral, 2 positive.
    pub class: u32,
}

/// The last envelope the edge accepted: exactly the bytes that left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentReport {
    /// The envelope's day.
    pub day: u32,
    /// The envelope as sent (1,024 bytes of padded JSON).
    pub body: String,
    /// When the edge accepted it (unix seconds), so the shopper can be told
    /// when it left; `None` while it waits, and in states stored before this
    /// was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<i64>,
}

/// What the shopper may see about reporting (the "what this shop knows" panel).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrivacyStatus {
    /// The daily ε limit.
    pub daily_epsilon: f64,
    /// ε spent today.
    pub spent_today: f64,
    /// ε left today.
    pub remaining_today: f64,
    /// When the next envelope is due (unix seconds), if one is scheduled.
    pub next_report_at: Option<i64>,
    /// Whether an envelope is built and waiting to be sent.
    pub pending: bool,
    /// The last envelope the edge accepted.
    pub last_report: Option<SentReport>,
    /// What the last report carried, metric by metric, secret-shared ones
    /// first; empty when none was sent.
    pub last_report_contents: Vec<SentMetric>,
}

/// One metric a sent report carried, its name resolved once, so that the
/// shopper's panel can say what left without matching names itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SentMetric {
    /// What it measures; `None` for a name this engine does not define.
    pub kind: Option<MetricKind>,
    /// Whether it left as secret shares (to two aggregators) rather than as
    /// a randomised answer in the envelope.
    pub secret_shared: bool,
}

/// The metrics in a sent body, secret-shared first: an upload's DAP reports,
/// then the envelope's reports (an upload carries the envelope as a string).
fn sent_contents(body: &str) -> Vec<SentMetric> {
    fn metrics(list: Option<Value>, secret_shared: bool) -> Vec<SentMetric> {
        let Some(Value::Array(items)) = list else {
            return Vec::new();
        };
        items
            .into_iter()
            .map(|item| SentMetric {
                kind: Fields::new(item)
                    .and_then(|mut fields| fields.string("metric"))
                    .ok()
                    .and_then(|name| MetricKind::of(&name)),
                secret_shared,
            })
            .collect()
    }
    let Ok(mut fields) = json::parse_object(body.trim_end().as_bytes()) else {
        return Vec::new();
    };
    let mut contents = metrics(fields.optional("dap"), true);
    match fields.optional("envelope") {
        Some(Value::String(envelope)) => contents.extend(
            sent_contents(&envelope)
                .into_iter()
                .filter(|metric| !metric.secret_shared),
        ),
        _ => contents.extend(metrics(fields.optional("reports"), false)),
    }
    contents
}

/// A device's reporting state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceReporter {
    budget: EpsilonBudget,
    assignments: Vec<Assignment>,
    exposures: Vec<Exposure>,
    review: Option<ReviewObservation>,
    /// What the shopper bought and clicked since the last report.
    visit: Visit,
    next_report_at: Option<i64>,
    last_report_day: Option<u32>,
    pending: Option<SentReport>,
    last_sent: Option<SentReport>,
}

impl Default for DeviceReporter {
    fn default() -> Self {
        DeviceReporter {
            budget: EpsilonBudget::new(DEFAULT_DAILY_EPSILON).expect("the default is valid"),
            assignments: Vec::new(),
            exposures: Vec::new(),
            review: None,
            visit: Visit::default(),
            next_report_at: None,
            last_report_day: None,
            pending: None,
            last_sent: None,
        }
    }
}

/// Reads a stored reporting state (the form [`DeviceReporter::to_json`] writes).
fn read_reporter(value: Value) -> Result<DeviceReporter, JsonError> {
    let mut fields = Fields::new(value)?;
    let sent = |value| {
        let mut fields = Fields::new(value)?;
        let sent = SentReport {
            day: fields.u32("day")?,
            body: fields.string("body")?,
            sent_at: fields.take_optional("sent_at", json::i64)?,
        };
        fields.finish()?;
        Ok(sent)
    };
    let reporter = DeviceReporter {
        budget: fields.take("budget", EpsilonBudget::read)?,
        assignments: fields.array("assignments", |value| {
            let mut fields = Fields::new(value)?;
            let assignment = Assignment {
                campaign: fields.string("campaign")?,
                variant: fields.u32("variant")?,
            };
            fields.finish()?;
            Ok(assignment)
        })?,
        exposures: fields.array("exposures", |value| {
            let mut fields = Fields::new(value)?;
            let exposure = Exposure {
                campaign: fields.string("campaign")?,
                variant: fields.u32("variant")?,
                responded: fields.bool("responded")?,
            };
            fields.finish()?;
            Ok(exposure)
        })?,
        review: fields.take_optional("review", |value| {
            let mut fields = Fields::new(value)?;
            let review = ReviewObservation {
                item: fields.string("item")?,
                class: fields.u32("class")?,
            };
            fields.finish()?;
            Ok(review)
        })?,
        // States stored before the visit metrics have none.
        visit: fields
            .take_optional("visit", Visit::read)?
            .unwrap_or_default(),
        next_report_at: fields.take_optional("next_report_at", json::i64)?,
        last_report_day: fields.take_optional("last_report_day", json::u32)?,
        pending: fields.take_optional("pending", sent)?,
        last_sent: fields.take_optional("last_sent", sent)?,
    };
    fields.finish()?;
    Ok(reporter)
}

fn day_of(now: i64) -> u32 {
    now.div_euclid(DAY_SECONDS).clamp(0, i64::from(u32::MAX)) as u32
}

fn random_delay<R: Rng + CryptoRng>(registry: &Registry, rng: &mut R) -> i64 {
    let [low, high] = registry.schedule.delay_seconds;
    i64::from(low) + i64::from(below(rng, high - low + 1))
}

impl DeviceReporter {
    /// Reads a stored state; a corrupt one is a typed error (the caller starts
    /// afresh and nothing else is lost).
    pub fn from_json(text: &str) -> Result<DeviceReporter, Error> {
        json::parse(text.as_bytes())
            .and_then(read_reporter)
            .map_err(|_| Error::CorruptReportingState)
    }

    /// The state as JSON, for on-device storage.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A fresh state that keeps only today's spending: after the shopper asks
    /// to forget, nothing of theirs stays, but the ε spent stays spent.
    pub fn forgotten(&self) -> DeviceReporter {
        DeviceReporter {
            budget: self.budget.clone(),
            last_report_day: self.last_report_day,
            ..DeviceReporter::default()
        }
    }

    /// Follows the shop's daily ε limit; what was spent today stays spent.
    pub fn set_daily_limit(&mut self, daily_epsilon: f64) -> Result<(), Error> {
        self.budget.set_daily_limit(daily_epsilon)
    }

    /// The variant of `campaign_id` for this device (drawn uniformly the first
    /// time, then kept), and records that the device is in today's audience.
    pub fn expose<R: Rng + CryptoRng>(
        &mut self,
        registry: &Registry,
        campaign_id: &str,
        now: i64,
        rng: &mut R,
    ) -> Result<u32, Error> {
        let spec = registry
            .campaign(campaign_id)
            .ok_or(Error::InvalidParameter {
                name: "campaign",
                reason: "the shop runs no campaign with this id",
            })?;
        let variant = match self.assignments.iter().find(|a| a.campaign == spec.id) {
            Some(assignment) if assignment.variant < spec.variants => assignment.variant,
            _ => {
                let variant = below(rng, spec.variants);
                self.assignments.retain(|a| a.campaign != spec.id);
                if self.assignments.len() >= MAX_CAMPAIGNS {
                    self.assignments.remove(0);
                }
                self.assignments.push(Assignment {
                    campaign: spec.id.clone(),
                    variant,
                });
                variant
            }
        };
        if !self.exposures.iter().any(|e| e.campaign == spec.id) {
            self.exposures.truncate(MAX_CAMPAIGNS - 1);
            self.exposures.push(Exposure {
                campaign: spec.id.clone(),
                variant,
                responded: false,
            });
        }
        self.schedule_first(registry, now, rng);
        Ok(variant)
    }

    /// Records a response to a campaign the device was exposed to; returns
    /// whether there was such an exposure (a response without one is ignored).
    pub fn respond(&mut self, campaign_id: &str) -> bool {
        match self
            .exposures
            .iter_mut()
            .find(|e| e.campaign == campaign_id)
        {
            Some(exposure) => {
                exposure.responded = true;
                true
            }
            None => false,
        }
    }

    /// Records a review's sentiment class for the next envelope (the latest
    /// review of the day is the one reported). Errors on an item the model
    /// does not know.
    pub fn record_review<M: ReportingModel + ?Sized>(
        &mut self,
        model: &M,
        item_id: &str,
        class: ReviewClass,
    ) -> Result<(), Error> {
        if registry::review_cell(model, item_id, 0, class).is_none() {
            return Err(Error::InvalidParameter {
                name: "review",
                reason: "the item is not in the catalogue",
            });
        }
        self.review = Some(ReviewObservation {
            item: item_id.to_string(),
            class: class.index(),
        });
        Ok(())
    }

    /// A shop event the visit metrics count: a purchase's value is revenue,
    /// and its lines of items clicked in a Cove slot earlier that day are
    /// attributed to recommendations. Other events count nothing here (the
    /// profile has them). Errors on a line of negative or non-finite value.
    pub fn record_event(&mut self, event: &Event) -> Result<(), Error> {
        match &event.kind {
            EventKind::Purchase { lines } => self.record_purchase(lines, event.at),
            _ => Ok(()),
        }
    }

    /// An order's lines at `at`, for the visit metrics (see
    /// [`DeviceReporter::record_event`]).
    pub fn record_purchase(&mut self, lines: &[PurchaseLine], at: i64) -> Result<(), Error> {
        self.visit.record_purchase(lines, day_of(at))
    }

    /// A Cove slot showed `items` to the shopper at `now`.
    pub fn record_recommendations_shown<'a>(
        &mut self,
        items: impl IntoIterator<Item = &'a str>,
        now: i64,
    ) {
        self.visit.record_shown(items, day_of(now));
    }

    /// The shopper clicked `item` in a Cove slot at `now`. Refused with
    /// `recommendation_not_shown` (nothing counted) when no slot showed it
    /// that day.
    pub fn record_recommendation_click(&mut self, item: &str, now: i64) -> Result<(), Error> {
        self.visit.record_click(item, day_of(now))
    }

    /// Schedules the first envelope after the first activity, if none is.
    pub fn schedule_first<R: Rng + CryptoRng>(
        &mut self,
        registry: &Registry,
        now: i64,
        rng: &mut R,
    ) {
        if self.next_report_at.is_none() {
            self.next_report_at = Some(now.saturating_add(random_delay(registry, rng)));
        }
    }

    /// The envelope to send now, if any: the waiting one, or a new one when
    /// one is due and none was built today. Building one spends ε.
    #[allow(clippy::too_many_arguments)]
    pub fn prepare<M: ReportingModel + ?Sized, R: Rng + CryptoRng>(
        &mut self,
        registry: &Registry,
        model: &M,
        profile: &Profile,
        config: &ProfileConfig,
        now: i64,
        rng: &mut R,
    ) -> Result<Option<&str>, Error> {
        if model.model_id() != registry.model_id {
            return Err(Error::InvalidParameter {
                name: "registry",
                reason: "the shop's metrics are for another model",
            });
        }
        let day = day_of(now);
        // An envelope older than yesterday would be refused by the edge.
        if self.pending.as_ref().is_some_and(|p| p.day + 1 < day) {
            self.pending = None;
        }
        if self.pending.is_none() {
            let due = self.next_report_at.is_some_and(|at| now >= at);
            if !due {
                return Ok(None);
            }
            if self.last_report_day.is_some_and(|last| last >= day) {
                // Already reported today (for example before a forget()): wait
                // for tomorrow.
                let tomorrow = (i64::from(day) + 1) * DAY_SECONDS;
                self.next_report_at = Some(tomorrow + random_delay(registry, rng));
                return Ok(None);
            }
            self.set_daily_limit(registry.daily_epsilon)?;
            let values = self.true_values(registry, model, profile, config, now)?;
            let is_shared = |name: &str| {
                registry
                    .metric(name)
                    .is_some_and(|metric| metric.mechanism.is_secret_shared())
            };
            let pairs: Vec<(&str, u32)> = values
                .iter()
                .filter(|(name, _)| !is_shared(name))
                .filter_map(|(name, value)| match value {
                    Measurement::Cell(cell) => Some((name.as_str(), *cell)),
                    Measurement::Sums(_) => None,
                })
                .take(MAX_REPORTS)
                .collect();
            let shared = self.shared_reports(registry, &values, day)?;
            let batch = build_envelope(&registry.metrics, &pairs, &mut self.budget, day, rng)?;
            self.exposures.clear();
            self.review = None;
            self.visit.reported();
            self.last_report_day = Some(day);
            let next_interval =
                now.saturating_add(i64::from(registry.schedule.interval_hours) * 3600);
            self.next_report_at = Some(next_interval.saturating_add(random_delay(registry, rng)));
            let envelope = batch
                .envelope
                .map(|envelope| envelope.to_padded_json())
                .transpose()?;
            let body = if registry.aggregators.is_some() {
                (envelope.is_some() || !shared.is_empty())
                    .then(|| upload_body(day, envelope.as_deref(), &shared))
            } else {
                envelope
            };
            if let Some(body) = body {
                self.pending = Some(SentReport {
                    day,
                    body,
                    sent_at: None,
                });
            }
        }
        Ok(self.pending.as_ref().map(|p| p.body.as_str()))
    }

    /// The edge took the waiting envelope (or already had it) at `now`.
    pub fn mark_sent(&mut self, now: i64) {
        if let Some(sent) = self.pending.take() {
            self.last_sent = Some(SentReport {
                sent_at: Some(now),
                ..sent
            });
        }
    }

    /// The edge refused the waiting envelope for good (a 4xx other than a
    /// rate limit): it is dropped; its ε stays spent.
    pub fn drop_pending(&mut self) {
        self.pending = None;
    }

    /// What the shopper may see about reporting, at `now`.
    pub fn status(&self, now: i64) -> PrivacyStatus {
        let day = day_of(now);
        PrivacyStatus {
            daily_epsilon: self.budget.daily_limit(),
            spent_today: self.budget.spent(day),
            remaining_today: self.budget.remaining(day),
            next_report_at: self.next_report_at,
            pending: self.pending.is_some(),
            last_report: self.last_sent.clone(),
            last_report_contents: self
                .last_sent
                .as_ref()
                .map_or_else(Vec::new, |sent| sent_contents(&sent.body)),
        }
    }

    /// Today's secret-shared reports: one DAP report per secret-shared metric
    /// of `values` whose ε still fits in the day's budget, as `(metric, task
    /// id, report)`, the last two in base64url. Spends the ε of each report
    /// built.
    fn shared_reports(
        &mut self,
        registry: &Registry,
        values: &[(String, Measurement)],
        day: u32,
    ) -> Result<Vec<(String, String, String)>, Error> {
        let Some(aggregators) = &registry.aggregators else {
            return Ok(Vec::new());
        };
        let keys = aggregators.keys()?;
        let mut reports = Vec::new();
        for (name, value) in values {
            let Some(metric) = registry.metric(name) else {
                continue;
            };
            let Some(task) = registry.task(metric) else {
                continue;
            };
            if self.budget.remaining(day) < metric.epsilon {
                continue;
            }
            let report = crate::aggregation::client::report(&task, value, day, &keys)?;
            self.budget.try_spend(day, metric.epsilon)?;
            reports.push((
                name.clone(),
                task.id_text(),
                crate::aggregation::hpke::base64url(&report),
            ));
        }
        Ok(reports)
    }

    /// The true `(metric, value)` pairs of today's envelope, in the registry's
    /// priority order: the campaigns the device was exposed to, then every
    /// built-in metric (the visit metrics from [`Visit::value`]).
    fn true_values<M: ReportingModel + ?Sized>(
        &self,
        registry: &Registry,
        model: &M,
        profile: &Profile,
        config: &ProfileConfig,
        now: i64,
    ) -> Result<Vec<(String, Measurement)>, Error> {
        let segment_name = registry::lifecycle_of(model, profile, now);
        let segment = registry::lifecycle_index(model, &segment_name).unwrap_or(0);
        let mut values = Vec::new();
        for metric in &registry.metrics {
            let Some(kind) = metric.kind() else {
                continue;
            };
            if let Some(value) = registry::observe(model, profile, config, now, kind) {
                values.push((metric.name.clone(), Measurement::Cell(value)));
                continue;
            }
            if kind == MetricKind::ReviewSentiment {
                let cell = self.review.as_ref().and_then(|review| {
                    let class = ReviewClass::from_index(review.class)?;
                    registry::review_cell(model, &review.item, segment, class)
                });
                values.extend(cell.map(|cell| (metric.name.clone(), Measurement::Cell(cell))));
                continue;
            }
            if kind.is_visit() {
                let (bits, cap) = match metric.mechanism {
                    Mechanism::Prio3Sum { bits, cap, .. } => (bits, cap),
                    _ => (visit::REVENUE_BITS, visit::DEFAULT_REVENUE_CAP),
                };
                let value = self.visit.value(kind, segment, cap, bits)?;
                values.extend(value.map(|value| (metric.name.clone(), value)));
                continue;
            }
            let exposure = registry
                .campaigns
                .iter()
                .find(|campaign| campaign.metric_name() == metric.name)
                .and_then(|campaign| {
                    let exposure = self.exposures.iter().find(|e| e.campaign == campaign.id)?;
                    Some((campaign, exposure))
                });
            if let Some((campaign, exposure)) = exposure {
                let cell = campaign::encode(
                    campaign,
                    registry.n_lifecycle_segments,
                    exposure.variant,
                    segment,
                    exposure.responded,
                )?;
                values.push((metric.name.clone(), Measurement::Cell(cell)));
            }
        }
        Ok(values)
    }
}

/// The body a device with two aggregators sends: the day, the randomised
/// envelope when one was built (as its padded text), and its DAP reports.
/// It starts with `{"v":2` (the edge tells it from an envelope by that).
/// Serialized from typed fields: a `serde_json::Value` here would bring
/// serde_json's map and value code into the browser's reporting module.
fn upload_body(day: u32, envelope: Option<&str>, shared: &[(String, String, String)]) -> String {
    /// One DAP report. The metric's name rides beside its task id (which
    /// names it to the aggregators anyway), so the shopper's panel can say
    /// what was sent.
    #[derive(Serialize)]
    struct Dap<'a> {
        metric: &'a str,
        report: &'a str,
        task: &'a str,
    }
    #[derive(Serialize)]
    struct Body<'a> {
        v: u32,
        day: u32,
        envelope: Option<&'a str>,
        dap: Vec<Dap<'a>>,
    }
    let body = Body {
        v: 2,
        day,
        envelope,
        dap: shared
            .iter()
            .map(|(metric, task, report)| Dap {
                metric,
                report,
                task,
            })
            .collect(),
    };
    // Strings and integers always serialize.
    serde_json::to_string(&body).unwrap_or_default()
}
