//! One simulated device's day: a real customer's history replayed into a
//! profile, today's session, the engine's segments and rescue decision, a
//! campaign or a review, and the envelope the device's reporter builds.

use anyhow::{ensure, Context, Result};
use cove_engine::abandonment;
use cove_engine::events::{Event, EventKind, PageKind};
use cove_engine::privacy::campaign::CampaignKind;
use cove_engine::privacy::device::DeviceReporter;
use cove_engine::privacy::registry::{
    self, ReviewClass, ITEM_INTEREST, REVIEW_SENTIMENT, SEGMENT_LIFECYCLE, SEGMENT_PRICE_TIER,
};
use cove_engine::privacy::report::Envelope;
use cove_engine::privacy::visit::{CONVERSION, REC_CLICK_THROUGH, REC_REVENUE, REVENUE};
use cove_engine::privacy::MetricKind;
use cove_engine::profile::Profile;
use cove_engine::segments;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::json;

use crate::campaigns::{assignment_weights, CAMPAIGN_SHARES};
use crate::visits::{simulate_visit, VisitTruth};
use crate::world::World;

/// Of the devices outside the rescue's audience, the share that writes a
/// review of an item it bought before (instead of seeing a campaign).
const REVIEW_SHARE: f64 = 0.35;

/// The designed unhappy segment: its reviews are negative this often, the
/// other segments' [`OTHERS_NEGATIVE`] of the time.
pub const UNHAPPY_SEGMENT: &str = "at-risk";
const UNHAPPY_NEGATIVE: f64 = 0.7;
const OTHERS_NEGATIVE: f64 = 0.15;

/// A uniform draw in [0, 1).
pub fn unit(rng: &mut ChaCha20Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform index below `n` (`n > 0`; the bias of 64-bit modulo is negligible here).
fn index(rng: &mut ChaCha20Rng, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}

/// What one device did: the envelope sent and its true values.
pub struct Device {
    pub body: Option<String>,
    pub country: String,
    pub lifecycle: u32,
    /// The price tier, when the envelope reported it.
    pub price_tier: Option<u32>,
    /// The item of interest, when the envelope reported one.
    pub interest: Option<u32>,
    /// `(campaign position, variant, responded)`, when the campaign was reported.
    pub campaign: Option<(usize, u32, bool)>,
    /// The review's sentiment class (0 negative, 1 neutral, 2 positive), when reported.
    pub review: Option<u32>,
    /// What the device bought and clicked, and which of the visit metrics
    /// its upload carried: conversion, revenue, click-through, attributed.
    pub visit: VisitTruth,
    pub visit_sent: [bool; 4],
}

/// A reporter that already holds `variant` of `campaign`, as a shop's
/// targeting would have set it (the device keeps an assignment it has).
fn targeted_reporter(campaign: &str, variant: u32) -> Result<DeviceReporter> {
    let mut state: serde_json::Value = serde_json::from_str(&DeviceReporter::default().to_json())?;
    state["assignments"] = json!([{ "campaign": campaign, "variant": variant }]);
    Ok(DeviceReporter::from_json(&state.to_string())?)
}

/// Device number `device` of the run seeded `seed`, on its own ChaCha20
/// stream, reporting at `real_now`.
pub fn simulate_device(
    world: &World,
    rates: &[Vec<Vec<f64>>],
    seed: u64,
    device: u64,
    real_now: i64,
) -> Result<Device> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(device);
    let model = &world.model;
    let config = &world.config;
    let registry = &world.registry;
    let customer = &world.customers[index(&mut rng, world.customers.len())];
    // A random moment of the data period: orders before it are the history,
    // the next order is today's session (viewed, then put in the cart). The
    // history is moved in time so that this moment is now: the envelope's day
    // must be today for the edge.
    let span = (world.last_second - world.first_second).max(1);
    let then = world.first_second + 86_400 + (unit(&mut rng) * span as f64) as i64;
    let shift = real_now - then;
    let now = real_now;
    let mut profile = Profile::new();
    let mut next_order = None;
    for (at, events) in &customer.orders {
        if *at < then {
            for event in events {
                let mut event = event.clone();
                event.at += shift;
                // An event the engine refuses is skipped, as on a device.
                let _ = profile.apply(&event, config);
            }
        } else if next_order.is_none() {
            next_order = Some(events);
        }
    }
    let session_start = now - 600;
    if let Some(events) = next_order {
        let lines = events.iter().flat_map(|event| match &event.kind {
            EventKind::Purchase { lines } => lines.as_slice(),
            _ => &[],
        });
        for (position, line) in lines.take(4).enumerate() {
            let at = session_start + 60 * position as i64;
            let view = Event {
                at,
                kind: EventKind::View {
                    page: PageKind::Product,
                    item: Some(line.item.clone()),
                    price: Some(line.price),
                },
            };
            let add = Event {
                at: at + 30,
                kind: EventKind::AddToCart {
                    item: line.item.clone(),
                    quantity: line.quantity.min(12),
                    price: line.price,
                },
            };
            let _ = profile.apply(&view, config);
            let _ = profile.apply(&add, config);
        }
    }

    // The true values, as the device's registry observes them.
    let observe = |kind| registry::observe(model, &profile, config, now, kind);
    let lifecycle = observe(MetricKind::LifecycleSegment).context("no lifecycle segment")?;
    let price_tier = observe(MetricKind::PriceTier).context("no price tier value")?;
    let item = observe(MetricKind::ItemInterest).context("no item-interest value")?;

    // Campaigns: the rescue offer when the engine calls for one, else maybe one
    // of the others.
    let lifecycle_name = &segments::classify(model, &profile, config, now)
        .lifecycle
        .name;
    let rescue = abandonment::decide(model, &profile, lifecycle_name, rng.next_u64());
    // The engine names the campaign an eligible shopper joins (the rescue's).
    let called_for = rescue.audience.is_some();
    // Outside the rescue's audience, some shoppers review an item they bought
    // before instead of seeing a campaign (a review and a campaign together
    // would spend the day's ε before the lifecycle segment).
    let bought: Vec<&str> = profile
        .items
        .iter()
        .filter(|signal| signal.purchased)
        .map(|signal| signal.id.as_str())
        .collect();
    let reviewed_item = (!called_for && !bought.is_empty() && unit(&mut rng) < REVIEW_SHARE)
        .then(|| bought[index(&mut rng, bought.len())].to_string());
    let writes_review = reviewed_item.is_some();
    let chosen_kind = if called_for {
        Some(CampaignKind::Triggered)
    } else if writes_review {
        None
    } else {
        let draw = unit(&mut rng);
        let mut cumulative = 0.0;
        CAMPAIGN_SHARES.iter().find_map(|&(kind, share)| {
            cumulative += share;
            (draw < cumulative).then_some(kind)
        })
    };
    let position = match rescue.audience {
        Some(audience) => registry.campaigns.iter().position(|c| c.id == audience),
        None => chosen_kind.and_then(|kind| registry.campaigns.iter().position(|c| c.kind == kind)),
    };
    let mut reporter = DeviceReporter::default();
    let mut campaign = None;
    let mut review_class = None;
    if let Some(position) = position {
        let spec = &registry.campaigns[position];
        let weights = assignment_weights(spec, lifecycle, world.new_segment);
        if weights.iter().any(|&w| (w - weights[0]).abs() > 1e-12) {
            // Targeting: the shop chose the variant by segment.
            let draw = unit(&mut rng);
            let mut cumulative = 0.0;
            let variant = weights
                .iter()
                .position(|w| {
                    cumulative += w;
                    draw < cumulative
                })
                .unwrap_or(weights.len() - 1) as u32;
            reporter = targeted_reporter(&spec.id, variant)?;
        }
        // Uniform and sticky on the device, or the targeted one it holds.
        let variant = reporter.expose(registry, &spec.id, now, &mut rng)?;
        let rate = rates[position][variant as usize][lifecycle as usize];
        let responded = unit(&mut rng) < rate;
        if responded {
            reporter.respond(&spec.id);
        }
        campaign = Some((position, variant, responded));
    } else {
        reporter.schedule_first(registry, now, &mut rng);
        // A real review text, negative more often in the designed unhappy
        // segment, scored by the engine's sentiment model as on a device.
        if let Some(item) = reviewed_item {
            let unhappy = registry::lifecycle_index(model, UNHAPPY_SEGMENT) == Some(lifecycle);
            let p_negative = if unhappy {
                UNHAPPY_NEGATIVE
            } else {
                OTHERS_NEGATIVE
            };
            let pool = if unit(&mut rng) < p_negative {
                &world.negative_reviews
            } else {
                &world.other_reviews
            };
            let text = &pool[index(&mut rng, pool.len())];
            let scored = world.sentiment.sentiment(text);
            let class = scored.and_then(|sentiment| ReviewClass::from_label(&sentiment.class));
            if let Ok(class) = class {
                // An item the model does not know cannot be reviewed.
                if reporter.record_review(model, &item, class).is_ok() {
                    review_class = Some(class.index());
                }
            }
        }
    }
    // Today's visit: a "for you" slot, maybe a click, maybe an order.
    let visit = simulate_visit(world, &profile, lifecycle, &mut reporter, now, &mut rng)?;
    // The envelope is due after the schedule's random delay.
    let send_at = now + i64::from(registry.schedule.delay_seconds[1]) + 1;
    let body = reporter
        .prepare(registry, model, &profile, config, send_at, &mut rng)?
        .map(str::to_string);
    // One aggregator: the envelope; two: an upload holding the envelope (if
    // any metric is randomised) and the secret-shared reports by task.
    let (envelope_text, shared_metrics) = match body.as_deref() {
        Some(text) if text.starts_with(r#"{"v":2"#) => {
            let upload: serde_json::Value = serde_json::from_str(text)?;
            let names: Vec<String> = upload["dap"]
                .as_array()
                .map(|reports| {
                    reports
                        .iter()
                        .filter_map(|r| r["metric"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            (upload["envelope"].as_str().map(str::to_string), names)
        }
        other => (other.map(str::to_string), Vec::new()),
    };
    let envelope = envelope_text
        .as_deref()
        .map(|b| Envelope::parse(b.as_bytes()))
        .transpose()?;
    let sent = |name: &str| {
        shared_metrics.iter().any(|m| m == name)
            || envelope
                .as_ref()
                .is_some_and(|e| e.reports.iter().any(|r| r.metric == name))
    };
    let campaign =
        campaign.filter(|(position, _, _)| sent(&registry.campaigns[*position].metric_name()));
    let interest = sent(ITEM_INTEREST).then_some(item);
    let review = review_class.filter(|_| sent(REVIEW_SENTIMENT));
    let price_tier = sent(SEGMENT_PRICE_TIER).then_some(price_tier);
    ensure!(
        body.is_none() || sent(SEGMENT_LIFECYCLE),
        "an envelope without the lifecycle segment"
    );
    let visit_sent = [CONVERSION, REVENUE, REC_CLICK_THROUGH, REC_REVENUE].map(sent);
    Ok(Device {
        visit,
        visit_sent,
        body,
        country: customer.country.clone(),
        lifecycle,
        price_tier,
        interest,
        campaign,
        review,
    })
}
