//! The metric registry and the device's reporter: domains from the bundle,
//! one envelope a day within the budget, campaign cells, bad registries and
//! broken stored state.

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::bundle::Model;
use crate::events::Event;
use crate::privacy::campaign::{CampaignKind, CampaignSpec};
use crate::privacy::device::{DeviceReporter, SentMetric};
use crate::privacy::registry::{
    lifecycle_names, review_cell, MetricRequest, Registry, ReportSchedule, ReviewClass,
    ITEM_INTEREST, REVIEW_SENTIMENT, SEGMENT_LIFECYCLE, SEGMENT_PRICE_TIER,
};
use crate::privacy::report::{Envelope, ENVELOPE_BYTES};
use crate::privacy::{Mechanism, MetricKind};
use crate::profile::{Profile, ProfileConfig};
use crate::testing::{synthetic_bundle, SyntheticSpec};

const DAY: i64 = 86_400;
const NOW: i64 = 20_000 * DAY + 3_600;

fn model() -> Model {
    let bundle = synthetic_bundle(&SyntheticSpec::default());
    Model::from_bytes(&bundle.manifest, &bundle.tensors).unwrap()
}

pub(super) fn requests() -> Vec<MetricRequest> {
    [
        (REVIEW_SENTIMENT, 0.5),
        (SEGMENT_LIFECYCLE, 0.25),
        (SEGMENT_PRICE_TIER, 0.25),
        (ITEM_INTEREST, 0.5),
    ]
    .into_iter()
    .map(|(name, epsilon)| MetricRequest {
        name: name.into(),
        epsilon,
        cap: None,
    })
    .collect()
}

fn rescue() -> CampaignSpec {
    CampaignSpec {
        id: "rescue-cart".into(),
        kind: CampaignKind::Triggered,
        variants: 2,
        epsilon: 0.5,
    }
}

pub(super) fn registry(model: &Model) -> Registry {
    let schedule = ReportSchedule {
        interval_hours: 24,
        delay_seconds: [10, 20],
    };
    Registry::resolve("demo", model, &requests(), &[rescue()], 1.0, 50, schedule).unwrap()
}

fn shopper(config: &ProfileConfig) -> Profile {
    let mut profile = Profile::new();
    for json in [
        r#"{"at": 1728000000, "kind": {"type": "view", "item": "item-3", "price": 4.0}}"#,
        r#"{"at": 1728000100, "kind": {"type": "purchase", "lines": [{"item": "item-3", "quantity": 2, "price": 4.0}]}}"#,
    ] {
        let event = Event::from_json(json.as_bytes(), &config.event_limits()).unwrap();
        profile.apply(&event, config).unwrap();
    }
    profile
}

/// One simulated device: the model, the shop's registry, a shopper with a
/// purchase, a seeded generator and the reporter under test.
struct Device {
    model: Model,
    registry: Registry,
    config: ProfileConfig,
    profile: Profile,
    rng: ChaCha20Rng,
    reporter: DeviceReporter,
}

impl Device {
    fn new(seed: u64) -> Device {
        let model = model();
        let registry = registry(&model);
        let config = ProfileConfig::default();
        let profile = shopper(&config);
        Device {
            model,
            registry,
            config,
            profile,
            rng: ChaCha20Rng::seed_from_u64(seed),
            reporter: DeviceReporter::default(),
        }
    }

    /// The envelope the reporter hands out at `now`, if any.
    fn prepare(&mut self, now: i64) -> Option<String> {
        self.reporter
            .prepare(
                &self.registry,
                &self.model,
                &self.profile,
                &self.config,
                now,
                &mut self.rng,
            )
            .unwrap()
            .map(str::to_string)
    }

    fn schedule_first(&mut self, now: i64) {
        self.reporter
            .schedule_first(&self.registry, now, &mut self.rng);
    }

    fn expose(&mut self, campaign: &str, now: i64) -> Result<u32, crate::Error> {
        self.reporter
            .expose(&self.registry, campaign, now, &mut self.rng)
    }

    fn next_report_at(&self, now: i64) -> i64 {
        self.reporter.status(now).next_report_at.unwrap()
    }
}

/// The metric names of an envelope, in order.
fn metric_names(body: &str) -> Vec<String> {
    let envelope = Envelope::parse(body.as_bytes()).unwrap();
    envelope.reports.into_iter().map(|r| r.metric).collect()
}

#[test]
fn the_registry_takes_every_domain_from_the_bundle() {
    let model = model();
    let registry = registry(&model);
    let n_segments = lifecycle_names(&model).len() as u32;
    let n_tiers = model.manifest().segments.price_tiers.labels.len() as u32;
    let domain = |name: &str| registry.metric(name).unwrap().mechanism;
    assert_eq!(
        domain(SEGMENT_LIFECYCLE),
        Mechanism::Grr { domain: n_segments }
    );
    assert_eq!(
        domain(SEGMENT_PRICE_TIER),
        Mechanism::Grr {
            domain: n_tiers + 1
        }
    );
    assert_eq!(
        domain(ITEM_INTEREST),
        Mechanism::Hadamard {
            domain: model.n_items() as u32 + 1
        }
    );
    assert_eq!(
        domain(REVIEW_SENTIMENT),
        Mechanism::Hadamard {
            domain: model.categories().len() as u32 * n_segments * 3
        }
    );
    assert_eq!(
        domain("campaign.rescue-cart"),
        Mechanism::Grr {
            domain: 2 * n_segments * 2
        }
    );
    // Campaigns come first: a device in an audience reports them before the rest.
    assert_eq!(registry.metrics[0].name, "campaign.rescue-cart");
    // The registry survives its JSON form, as the device reads it.
    let json = serde_json::to_string(&registry).unwrap();
    assert_eq!(serde_json::from_str::<Registry>(&json).unwrap(), registry);
}

#[test]
fn bad_registries_are_refused() {
    let model = model();
    let schedule = ReportSchedule::default();
    let mut unknown = requests();
    unknown[0].name = "shopper.email".into();
    assert!(Registry::resolve("demo", &model, &unknown, &[], 1.0, 50, schedule).is_err());
    let mut twice = requests();
    twice[2].name = SEGMENT_LIFECYCLE.into();
    assert!(Registry::resolve("demo", &model, &twice, &[], 1.0, 50, schedule).is_err());
    assert!(Registry::resolve("demo", &model, &requests(), &[], 9.0, 50, schedule).is_err());
    let mut bad_campaign = rescue();
    bad_campaign.variants = 1;
    assert!(Registry::resolve(
        "demo",
        &model,
        &requests(),
        &[bad_campaign],
        1.0,
        50,
        schedule
    )
    .is_err());

    let good = registry(&model);
    let mut tampered = good.clone();
    tampered.schedule.interval_hours = 1;
    assert!(tampered.validate().is_err(), "reports every hour");
    let mut tampered = good.clone();
    tampered.metrics[0].epsilon = 50.0;
    assert!(
        tampered.validate().is_err(),
        "ε far over the per-report maximum"
    );
    let mut tampered = good.clone();
    tampered.metrics.remove(0);
    assert!(
        tampered.validate().is_err(),
        "a campaign without its metric"
    );
    let mut tampered = good;
    tampered.k_anonymity = 0;
    assert!(tampered.validate().is_err());
}

#[test]
fn one_envelope_a_day_after_a_random_delay_within_the_budget() {
    let mut device = Device::new(7);
    // Nothing is due before the first activity and its delay.
    assert_eq!(device.prepare(NOW), None);
    device.schedule_first(NOW);
    let due = device.next_report_at(NOW);
    assert!((NOW + 10..=NOW + 20).contains(&due), "{due}");
    assert_eq!(device.prepare(due - 1), None);

    let body = device.prepare(due).unwrap();
    assert_eq!(body.len(), ENVELOPE_BYTES);
    let envelope = Envelope::parse(body.as_bytes()).unwrap();
    envelope
        .validate(&device.registry.metrics, (NOW / DAY) as u32, 1.0)
        .unwrap();
    // Issue 21: the nonce carries the envelope's day, so the same nonce
    // re-dated to the next day (which the edge would file in another day's
    // store) is refused instead of counted twice.
    let day = (NOW / DAY) as u32;
    assert!(envelope.nonce.starts_with(&format!("{:08x}", envelope.day)));
    let mut redated = envelope.clone();
    redated.day = envelope.day + 1;
    let refused = redated
        .validate(&device.registry.metrics, day + 1, 1.0)
        .unwrap_err();
    assert_eq!(refused.code(), "invalid_report");
    assert!(refused.to_string().contains("nonce"), "{refused}");
    // Not in the campaign's audience, no review: the always-reported metrics, 1.0 in all.
    assert_eq!(
        metric_names(&body),
        [SEGMENT_LIFECYCLE, SEGMENT_PRICE_TIER, ITEM_INTEREST]
    );
    let status = device.reporter.status(due);
    assert!(status.pending && status.remaining_today.abs() < 1e-9);

    // A retry resends the same bytes and spends nothing more.
    assert_eq!(device.prepare(due + 60).unwrap(), body);
    assert_eq!(device.reporter.status(due).last_report, None);
    device.reporter.mark_sent(due + 61);
    let last = device.reporter.status(due).last_report.unwrap();
    assert_eq!(last.body, body);
    // The shopper's panel is told what it carried, resolved by the engine.
    let local = |kind| SentMetric {
        kind: Some(kind),
        secret_shared: false,
    };
    assert_eq!(
        device.reporter.status(due).last_report_contents,
        [
            local(MetricKind::LifecycleSegment),
            local(MetricKind::PriceTier),
            local(MetricKind::ItemInterest)
        ]
    );
    // The shopper is told when it left: the time the edge took it.
    assert_eq!(last.sent_at, Some(due + 61));
    let restored = DeviceReporter::from_json(&device.reporter.to_json()).unwrap();
    assert_eq!(restored.status(due).last_report, Some(last.clone()));
    // A state stored before the time was recorded still loads, without it.
    let old_state = device
        .reporter
        .to_json()
        .replace(&format!(",\"sent_at\":{}", due + 61), "");
    assert_ne!(old_state, device.reporter.to_json());
    let old = DeviceReporter::from_json(&old_state).unwrap();
    assert_eq!(old.status(due).last_report.unwrap().sent_at, None);

    // Nothing more today, however often it is asked.
    for later in [due + 1, due + 3_600, (NOW / DAY + 1) * DAY - 1] {
        assert_eq!(device.prepare(later), None);
    }
    // The next one is due a day and a random delay later.
    let next = device.next_report_at(due);
    assert!((due + DAY + 10..=due + DAY + 20).contains(&next), "{next}");
    assert!(device.prepare(next).is_some());
}

#[test]
fn a_campaign_exposure_is_reported_first_and_the_rest_fits_the_budget() {
    let mut device = Device::new(11);
    let variant = device.expose("rescue-cart", NOW).unwrap();
    assert!(variant < 2);
    // The variant sticks.
    for _ in 0..20 {
        assert_eq!(device.expose("rescue-cart", NOW).unwrap(), variant);
    }
    assert!(device.reporter.respond("rescue-cart"));
    assert!(!device.reporter.respond("never-shown"));
    assert!(device.expose("unknown", NOW).is_err());

    let due = device.next_report_at(NOW);
    let body = device.prepare(due).unwrap();
    // 0.5 + 0.25 + 0.25 spends the day's 1.0: the item interest waits.
    assert_eq!(
        metric_names(&body),
        [
            "campaign.rescue-cart",
            SEGMENT_LIFECYCLE,
            SEGMENT_PRICE_TIER
        ]
    );
}

#[test]
fn a_review_is_reported_as_its_category_segment_and_class_only() {
    let mut device = Device::new(13);
    let model = model();
    assert!(device
        .reporter
        .record_review(&model, "no-such-item", ReviewClass::Negative)
        .is_err());
    // The one map from a sentiment model's label to a report's class.
    assert!(ReviewClass::from_label("furious").is_err());
    assert_eq!(
        ReviewClass::ALL.map(|class| class.index()),
        [0, 1, 2],
        "the decoder reads class 0 as negative"
    );
    let negative = ReviewClass::from_label("negative").unwrap();
    device
        .reporter
        .record_review(&model, "item-3", negative)
        .unwrap();
    device.schedule_first(NOW);
    let body = device.prepare(device.next_report_at(NOW)).unwrap();
    // The review first (the shop listed it first), then what fits in 1.0.
    assert_eq!(
        metric_names(&body),
        [REVIEW_SENTIMENT, SEGMENT_LIFECYCLE, SEGMENT_PRICE_TIER]
    );
    // Cells are distinct for every (category, segment, class).
    let n_segments = lifecycle_names(&model).len() as u32;
    let mut cells = std::collections::BTreeSet::new();
    for item in ["item-0", "item-1", "item-2", "item-3", "item-4", "item-5"] {
        for segment in 0..n_segments {
            for class in ReviewClass::ALL {
                cells.insert(review_cell(&model, item, segment, class).unwrap());
            }
        }
    }
    assert_eq!(cells.len() as u32, 6 * n_segments * 3);
    assert_eq!(
        review_cell(&model, "item-3", n_segments, ReviewClass::Negative),
        None
    );
}

#[test]
fn forgetting_keeps_the_spending_and_a_broken_state_is_refused() {
    let mut device = Device::new(3);
    device.expose("rescue-cart", NOW).unwrap();
    let due = device.next_report_at(NOW);
    device.prepare(due);

    let restored = DeviceReporter::from_json(&device.reporter.to_json()).unwrap();
    assert_eq!(restored, device.reporter);

    device.reporter = device.reporter.forgotten();
    let status = device.reporter.status(due);
    assert!(!status.pending && status.last_report.is_none());
    assert!(
        status.remaining_today.abs() < 1e-9,
        "the ε spent stays spent"
    );
    device.schedule_first(due);
    assert_eq!(
        device.prepare(due + DAY / 2),
        None,
        "no second envelope on the same day after forget()"
    );

    for broken in ["", "{", "null", "[]", r#"{"budget": 1}"#, "\u{0}\u{1}"] {
        let error = DeviceReporter::from_json(broken).unwrap_err();
        assert_eq!(error.code(), "reporting_state_corrupt", "{broken:?}");
    }
}

#[test]
fn a_registry_for_another_model_is_refused() {
    let mut device = Device::new(5);
    device.registry.model_id = "another-model".into();
    device.profile = Profile::new();
    device.schedule_first(NOW);
    let error = device
        .reporter
        .prepare(
            &device.registry,
            &device.model,
            &device.profile,
            &device.config,
            NOW + DAY,
            &mut device.rng,
        )
        .unwrap_err();
    assert_eq!(error.code(), "invalid_parameter");
}

#[cfg(not(target_arch = "wasm32"))]
mod properties {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Call {
        Expose,
        Respond,
        Prepare,
        Sent,
        Refused,
        Forget,
        Restore,
    }

    fn call() -> impl Strategy<Value = (Call, i64)> {
        let kind = prop_oneof![
            Just(Call::Expose),
            Just(Call::Respond),
            Just(Call::Prepare),
            Just(Call::Prepare),
            Just(Call::Sent),
            Just(Call::Refused),
            Just(Call::Forget),
            Just(Call::Restore),
        ];
        // Clocks move forward, stand still, and sometimes jump back.
        (kind, -DAY..2 * DAY)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever the calls and however the clock moves, the envelopes a
        /// device builds for one day never spend more than the daily limit.
        #[test]
        fn a_device_never_spends_more_than_its_daily_budget(
            calls in prop::collection::vec(call(), 1..80),
            seed in any::<u64>(),
        ) {
            let mut device = Device::new(seed);
            let mut now = NOW;
            let mut spent_per_day = std::collections::BTreeMap::<u32, f64>::new();
            let mut seen = std::collections::BTreeSet::<String>::new();
            for (call, step) in calls {
                now = (now + step).max(0);
                match call {
                    Call::Expose => { device.expose("rescue-cart", now).unwrap(); }
                    Call::Respond => { device.reporter.respond("rescue-cart"); }
                    Call::Prepare => {
                        device.schedule_first(now);
                        // A resent envelope spends nothing new.
                        if let Some(body) = device.prepare(now).filter(|body| seen.insert(body.clone())) {
                            let envelope = Envelope::parse(body.as_bytes()).unwrap();
                            let spent: f64 = envelope.reports.iter()
                                .map(|r| device.registry.metric(&r.metric).unwrap().epsilon).sum();
                            *spent_per_day.entry(envelope.day).or_default() += spent;
                        }
                    }
                    Call::Sent => device.reporter.mark_sent(now),
                    Call::Refused => device.reporter.drop_pending(),
                    Call::Forget => device.reporter = device.reporter.forgotten(),
                    Call::Restore => device.reporter = DeviceReporter::from_json(&device.reporter.to_json()).unwrap(),
                }
            }
            for (day, spent) in spent_per_day {
                prop_assert!(spent <= device.registry.daily_epsilon + 1e-9, "day {} spent {}", day, spent);
            }
        }
    }
}

/// The visit metrics with two aggregators: conversion and click-through per
/// segment, the two revenues as sums under the shop's cap; what the device
/// sends after a shown slot, a click, a purchase; and what it refuses.
#[test]
fn visit_metrics_are_secret_shared_once_per_report() {
    use crate::aggregation::hpke::{config_to_text, Keypair};
    use crate::privacy::registry::Aggregators;
    use crate::privacy::visit::{CONVERSION, REC_CLICK_THROUGH, REC_REVENUE, REVENUE};

    let mut device = Device::new(7);
    let mut requests = requests();
    for (name, epsilon, cap) in [
        (CONVERSION, 0.25, None),
        (REVENUE, 0.5, Some(200.0)),
        (REC_CLICK_THROUGH, 0.25, None),
        (REC_REVENUE, 0.5, None),
    ] {
        requests.insert(
            2,
            MetricRequest {
                name: name.into(),
                epsilon,
                cap,
            },
        );
    }
    // A cap on a metric that is not a revenue is refused.
    let capped = vec![MetricRequest {
        name: CONVERSION.into(),
        epsilon: 0.25,
        cap: Some(10.0),
    }];
    let schedule = ReportSchedule {
        interval_hours: 24,
        delay_seconds: [10, 20],
    };
    assert!(Registry::resolve("demo", &device.model, &capped, &[], 4.0, 50, schedule).is_err());
    let keys = |id, label| config_to_text(Keypair::derive(id, &[id; 32], label).unwrap().config());
    let registry = Registry::resolve(
        "demo",
        &device.model,
        &requests,
        &[rescue()],
        4.0,
        50,
        schedule,
    )
    .unwrap()
    .with_aggregators(Aggregators {
        leader_hpke_config: keys(1, "leader"),
        helper_hpke_config: keys(2, "helper"),
        helper_url: "http://127.0.0.1:1/v1/dap/".into(),
    })
    .unwrap();
    let n_segments = lifecycle_names(&device.model).len() as u32;
    assert_eq!(
        registry.metric(CONVERSION).unwrap().mechanism,
        Mechanism::Prio3 {
            domain: n_segments * 2
        }
    );
    assert_eq!(
        registry.metric(REVENUE).unwrap().mechanism,
        Mechanism::Prio3Sum {
            domain: 2,
            bits: 16,
            cap: 200.0
        }
    );
    let revenue_task = registry.task(registry.metric(REVENUE).unwrap()).unwrap();
    assert_eq!(revenue_task.sensitivity(), 2.0 * 65_535.0);
    device.registry = registry;

    // A click on an item no slot showed is refused and counts nothing.
    let refused = device.reporter.record_recommendation_click("item-1", NOW);
    assert_eq!(refused.unwrap_err().code(), "recommendation_not_shown");
    device
        .reporter
        .record_recommendations_shown(["item-1", "item-2"], NOW);
    device
        .reporter
        .record_recommendation_click("item-2", NOW)
        .unwrap();
    let purchase = |price: f64| {
        let json = format!(
            r#"{{"at": {NOW}, "kind": {{"type": "purchase", "lines": [{{"item": "item-2", "quantity": 1, "price": {price}}}]}}}}"#
        );
        Event::from_json(json.as_bytes(), &device.config.event_limits())
    };
    device
        .reporter
        .record_event(&purchase(12.5).unwrap())
        .unwrap();
    // A negative price never becomes an event.
    assert!(purchase(-3.0).is_err());
    device.schedule_first(NOW);
    let body = device.prepare(NOW + 30).expect("an upload is due");
    let upload: serde_json::Value = serde_json::from_str(&body).unwrap();
    let sent: Vec<&str> = upload["dap"]
        .as_array()
        .unwrap()
        .iter()
        .map(|report| report["metric"].as_str().unwrap())
        .collect();
    for name in [CONVERSION, REVENUE, REC_CLICK_THROUGH, REC_REVENUE] {
        assert!(sent.contains(&name), "{name} in {sent:?}");
        let task = device
            .registry
            .task(device.registry.metric(name).unwrap())
            .unwrap();
        let report = upload["dap"]
            .as_array()
            .unwrap()
            .iter()
            .find(|report| report["metric"] == name)
            .unwrap();
        assert_eq!(report["task"], task.id_text());
    }
    // Within the day's 4.0: the campaign-free device sent the segments, the
    // four visit metrics and its local reports.
    assert!(device.reporter.status(NOW + 30).spent_today <= 4.0);
    // Once the edge took it, the panel reads its contents by kind: the
    // secret-shared reports first, then the envelope's.
    device.reporter.mark_sent(NOW + 31);
    let contents = device.reporter.status(NOW + 31).last_report_contents;
    let envelope = upload["envelope"]
        .as_str()
        .map_or(0, |envelope| metric_names(envelope).len());
    assert_eq!(contents.len(), sent.len() + envelope);
    assert!(contents[..sent.len()].iter().all(|m| m.secret_shared));
    assert!(contents[sent.len()..].iter().all(|m| !m.secret_shared));
    for kind in [
        MetricKind::Conversion,
        MetricKind::Revenue,
        MetricKind::RecommendationClickThrough,
        MetricKind::RecommendationRevenue,
    ] {
        assert!(contents.iter().any(|m| m.kind == Some(kind)), "{kind:?}");
    }
    assert!(contents.iter().all(|m| m.kind.is_some()), "{contents:?}");
}

/// The reporter's stored state keeps the visit between page loads, and a
/// state stored before the visit metrics still reads.
#[test]
fn the_visit_survives_a_stored_state() {
    let mut reporter = DeviceReporter::default();
    reporter.record_recommendations_shown(["item-1"], NOW);
    reporter.record_recommendation_click("item-1", NOW).unwrap();
    let restored = DeviceReporter::from_json(&reporter.to_json()).unwrap();
    assert_eq!(restored, reporter);
    let mut old: serde_json::Value = serde_json::from_str(&reporter.to_json()).unwrap();
    old.as_object_mut().unwrap().remove("visit");
    assert!(DeviceReporter::from_json(&old.to_string()).is_ok());
}

#[test]
fn every_metric_name_resolves_to_one_kind() {
    use crate::privacy::visit::{CONVERSION, REC_CLICK_THROUGH, REC_REVENUE, REVENUE};
    use crate::privacy::MetricKind;
    let named = [
        (SEGMENT_LIFECYCLE, MetricKind::LifecycleSegment),
        (SEGMENT_PRICE_TIER, MetricKind::PriceTier),
        (ITEM_INTEREST, MetricKind::ItemInterest),
        (REVIEW_SENTIMENT, MetricKind::ReviewSentiment),
        (CONVERSION, MetricKind::Conversion),
        (REVENUE, MetricKind::Revenue),
        (REC_CLICK_THROUGH, MetricKind::RecommendationClickThrough),
        (REC_REVENUE, MetricKind::RecommendationRevenue),
        ("campaign.rescue-cart", MetricKind::Campaign),
    ];
    for (name, kind) in named {
        assert_eq!(MetricKind::of(name), Some(kind), "{name}");
    }
    for unknown in ["campaign.", "segment.", "item.interest@FR", "", "visit"] {
        assert_eq!(MetricKind::of(unknown), None, "{unknown}");
    }
    // A dashboard labels a segment metric's bars from the edge's answer.
    let model = model();
    let lifecycle =
        crate::privacy::registry::value_labels(&model, MetricKind::LifecycleSegment).unwrap();
    assert_eq!(lifecycle, lifecycle_names(&model));
    let tiers = crate::privacy::registry::value_labels(&model, MetricKind::PriceTier).unwrap();
    assert_eq!(tiers.last().map(String::as_str), Some("none yet"));
    assert_eq!(
        tiers.len(),
        model.manifest().segments.price_tiers.labels.len() + 1
    );
    assert_eq!(
        crate::privacy::registry::value_labels(&model, MetricKind::ItemInterest),
        None
    );
}
