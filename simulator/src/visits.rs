//! The visit metrics' designed truth: per lifecycle segment, the chance a
//! device buys today and the chance it clicks a recommendation a Cove slot
//! showed it, and what a device does with them (a "for you" slot ranked by
//! the engine, a click on one of its items, an order of its cart and, often,
//! of the item it clicked), recorded by the device's reporter as the snippet
//! would record it.

use anyhow::Result;
use cove_engine::events::{Event, EventKind, PurchaseLine};
use cove_engine::privacy::device::DeviceReporter;
use cove_engine::privacy::visit::{self, REVENUE};
use cove_engine::privacy::Mechanism;
use cove_engine::profile::Profile;
use cove_engine::ranking::{self, RankRequest, Slot};
use rand_chacha::ChaCha20Rng;

use crate::device::unit;
use crate::world::World;

/// The chance a device in segment `s` buys today: `CONVERSION[s % 6]`.
pub const CONVERSION: [f64; 6] = [0.12, 0.22, 0.30, 0.36, 0.08, 0.05];

/// The chance a device a slot showed items to clicks one: `CLICK[s % 6]`.
pub const CLICK: [f64; 6] = [0.10, 0.16, 0.20, 0.24, 0.07, 0.05];

/// The share of devices a "for you" slot shows items to.
pub const SHOWN_SHARE: f64 = 0.85;

/// The chance a buying device that clicked an item buys that item too.
pub const BUYS_CLICKED: f64 = 0.6;

/// The designed conversion rate of a segment.
pub fn conversion_rate(segment: u32) -> f64 {
    CONVERSION[segment as usize % CONVERSION.len()]
}

/// The designed click-through of a segment.
pub fn click_rate(segment: u32) -> f64 {
    CLICK[segment as usize % CLICK.len()]
}

/// The cap of the shop's revenue metric (the default when it collects none).
pub fn revenue_cap(world: &World) -> f64 {
    match world
        .registry
        .metric(REVENUE)
        .map(|metric| metric.mechanism)
    {
        Some(Mechanism::Prio3Sum { cap, .. }) => cap,
        _ => visit::DEFAULT_REVENUE_CAP,
    }
}

/// What one device did, as the dashboard should count it.
#[derive(Debug, Clone, Copy, Default)]
pub struct VisitTruth {
    /// Whether it bought.
    pub bought: bool,
    /// Whether a slot showed it items.
    pub shown: bool,
    /// Whether it clicked one.
    pub clicked: bool,
    /// What it spent (before the cap).
    pub revenue: f64,
    /// What it spent on the item it clicked.
    pub attributed: f64,
}

/// One device's visit at `now`, recorded in `reporter`: a "for you" slot (as
/// the engine ranks it for this profile), maybe a click on one of its items,
/// maybe an order of the cart (and of the clicked item). The order is given
/// to the reporter only: the profile keeps the segment the device had when
/// its campaign and reports were decided.
pub fn simulate_visit(
    world: &World,
    profile: &Profile,
    segment: u32,
    reporter: &mut DeviceReporter,
    now: i64,
    rng: &mut ChaCha20Rng,
) -> Result<VisitTruth> {
    let model = &world.model;
    let mut truth = VisitTruth::default();
    let mut clicked: Option<String> = None;
    if unit(rng) < SHOWN_SHARE {
        let request = RankRequest {
            k: 8,
            now,
            slot: Some(Slot::ForYou),
            ..RankRequest::default()
        };
        let ranking = ranking::recommend(model, profile, &world.config, &request)?;
        let items: Vec<&str> = ranking.items.iter().map(|r| r.item.as_str()).collect();
        if !items.is_empty() {
            reporter.record_recommendations_shown(items.iter().copied(), now);
            truth.shown = true;
            if unit(rng) < click_rate(segment) {
                let item = items[(unit(rng) * items.len() as f64) as usize % items.len()];
                reporter.record_recommendation_click(item, now)?;
                truth.clicked = true;
                clicked = Some(item.to_string());
            }
        }
    }
    if unit(rng) < conversion_rate(segment) {
        let mut lines: Vec<PurchaseLine> = profile
            .cart
            .iter()
            .map(|line| PurchaseLine {
                item: line.id.clone(),
                quantity: line.quantity,
                price: line.price,
            })
            .collect();
        let mut attributed = 0.0;
        if let Some(item) = clicked.as_deref() {
            if unit(rng) < BUYS_CLICKED {
                let price = model
                    .item_row(item)
                    .and_then(|row| model.item(row))
                    .map_or(1.0, |meta| meta.price);
                match lines.iter_mut().find(|line| line.item == item) {
                    Some(line) => line.quantity += 1,
                    None => lines.push(PurchaseLine {
                        item: item.to_string(),
                        quantity: 1,
                        price,
                    }),
                }
            }
            attributed = lines
                .iter()
                .filter(|line| line.item == item)
                .map(|line| f64::from(line.quantity) * line.price)
                .sum();
        }
        if !lines.is_empty() {
            truth.revenue = lines
                .iter()
                .map(|line| f64::from(line.quantity) * line.price)
                .sum();
            truth.attributed = attributed;
            truth.bought = true;
            let event = Event {
                at: now,
                kind: EventKind::Purchase { lines },
            };
            reporter.record_event(&event)?;
        }
    }
    Ok(truth)
}
