//! The true counts the end-to-end test compares with `GET /v1/aggregates`,
//! and the JSON file they are written to.

use std::collections::HashMap;

use anyhow::{Context, Result};
use cove_engine::bundle::Model;
use cove_engine::privacy::registry::{self, SEGMENT_LIFECYCLE, SEGMENT_PRICE_TIER};
use serde_json::json;

use crate::device::{Device, UNHAPPY_SEGMENT};
use crate::options::Options;
use crate::visits::{click_rate, conversion_rate, revenue_cap};
use crate::world::World;

/// The true counts the test compares the aggregates with.
#[derive(Default)]
pub struct Truth {
    lifecycle: Vec<u64>,
    price_tier: Vec<u64>,
    /// `(request country, item) → devices` that reported it.
    interest: HashMap<(String, u32), u64>,
    /// `[campaign][variant][segment] = (exposed, responded)`.
    campaigns: Vec<Vec<Vec<(u64, u64)>>>,
    /// `[segment][class]` reviews reported.
    reviews: Vec<[u64; 3]>,
    /// `[segment] = (devices that reported conversion, of them bought)`.
    conversion: Vec<(u64, u64)>,
    /// `[segment] = (devices shown a slot that reported it, of them clicked)`.
    click_through: Vec<(u64, u64)>,
    /// Devices that reported revenue, and the sum of their (capped) revenue.
    revenue: (u64, f64),
    /// Likewise for revenue attributed to recommendations.
    attributed: (u64, f64),
    /// The revenue metrics' cap.
    cap: f64,
    pub statuses: HashMap<u16, u64>,
    pub network_errors: u64,
    pub envelopes: u64,
}

impl Truth {
    /// No device counted yet, every cell of `world`'s registry at zero.
    pub fn new(world: &World) -> Truth {
        let n_segments = world.registry.n_lifecycle_segments;
        Truth {
            lifecycle: vec![0; n_segments as usize],
            price_tier: vec![0; model_price_tiers(&world.model) + 1],
            campaigns: world
                .registry
                .campaigns
                .iter()
                .map(|spec| vec![vec![(0, 0); n_segments as usize]; spec.variants as usize])
                .collect(),
            reviews: vec![[0; 3]; n_segments as usize],
            conversion: vec![(0, 0); n_segments as usize],
            click_through: vec![(0, 0); n_segments as usize],
            cap: revenue_cap(world),
            ..Truth::default()
        }
    }

    /// `[campaign][variant][segment] = (exposed, responded)`: the devices
    /// whose report carried the campaign.
    pub fn campaign_cells(&self) -> &[Vec<Vec<(u64, u64)>>] {
        &self.campaigns
    }

    /// Counts one device: its true values when the worker accepted its
    /// envelope (202), else the status or the network error; nothing when it
    /// had nothing to send.
    pub fn count(&mut self, device: &Device, status: Option<&Result<u16, ureq::Error>>) {
        match status {
            Some(Ok(202)) => {
                self.envelopes += 1;
                *self.statuses.entry(202).or_default() += 1;
                self.lifecycle[device.lifecycle as usize] += 1;
                if let Some(tier) = device.price_tier {
                    self.price_tier[tier as usize] += 1;
                }
                if let Some(item) = device.interest {
                    *self
                        .interest
                        .entry((device.country.clone(), item))
                        .or_default() += 1;
                }
                if let Some(class) = device.review {
                    self.reviews[device.lifecycle as usize][class as usize] += 1;
                }
                let segment = device.lifecycle as usize;
                let visit = &device.visit;
                let [conversion, revenue, click_through, attributed] = device.visit_sent;
                if conversion {
                    self.conversion[segment].0 += 1;
                    self.conversion[segment].1 += u64::from(visit.bought);
                }
                if click_through {
                    self.click_through[segment].0 += 1;
                    self.click_through[segment].1 += u64::from(visit.clicked);
                }
                if revenue {
                    self.revenue.0 += 1;
                    self.revenue.1 += visit.revenue.min(self.cap);
                }
                if attributed {
                    self.attributed.0 += 1;
                    self.attributed.1 += visit.attributed.min(self.cap);
                }
                if let Some((c, v, responded)) = device.campaign {
                    let cell = &mut self.campaigns[c][v as usize][device.lifecycle as usize];
                    cell.0 += 1;
                    cell.1 += u64::from(responded);
                }
            }
            Some(Ok(other)) => *self.statuses.entry(*other).or_default() += 1,
            Some(Err(_)) => self.network_errors += 1,
            None => {}
        }
    }
}

fn model_price_tiers(model: &Model) -> usize {
    model.manifest().segments.price_tiers.labels.len()
}

/// Writes the truth of the run to `options.truth`, with the designed rates
/// and what the test needs to find the aggregates (shop, day, model).
pub fn write_truth(
    options: &Options,
    world: &World,
    rates: &[Vec<Vec<f64>>],
    truth: &Truth,
    day: u32,
    url: &str,
    seconds: f64,
) -> Result<()> {
    let campaigns: Vec<serde_json::Value> = world
        .registry
        .campaigns
        .iter()
        .enumerate()
        .map(|(c, spec)| {
            json!({
                "id": spec.id,
                "kind": spec.kind,
                "variants": spec.variants,
                "designed_rates": rates[c],
                "cells": truth.campaigns[c].iter().map(|segments| {
                    segments.iter().map(|&(exposed, responded)| json!({
                        "exposed": exposed, "responded": responded,
                    })).collect::<Vec<_>>()
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let n_segments = world.registry.n_lifecycle_segments;
    let rates = |cells: &[(u64, u64)], designed: fn(u32) -> f64, of: &str, with: &str| {
        (0..n_segments)
            .map(|s| {
                let (n, x) = cells[s as usize];
                json!({ of: n, with: x, "designed_rate": designed(s) })
            })
            .collect::<Vec<_>>()
    };
    let money = |(devices, sum): (u64, f64)| {
        json!({
            "devices": devices,
            "sum": sum,
            "per_device": if devices > 0 { sum / devices as f64 } else { 0.0 },
        })
    };
    let visits = json!({
        "cap": truth.cap,
        "conversion": rates(&truth.conversion, conversion_rate, "devices", "bought"),
        "click_through": rates(&truth.click_through, click_rate, "shown", "clicked"),
        "revenue": money(truth.revenue),
        "recommendation_revenue": money(truth.attributed),
    });
    let mut interest: Vec<(&(String, u32), &u64)> = truth.interest.iter().collect();
    interest.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let document = json!({
        "shop": options.shop,
        "url": url,
        "day": day,
        "seed": options.seed,
        "devices": options.devices,
        "envelopes": truth.envelopes,
        "seconds": seconds,
        "model_id": world.model.model_id(),
        "lifecycle_names": registry::lifecycle_names(&world.model),
        "segments": { SEGMENT_LIFECYCLE: truth.lifecycle, SEGMENT_PRICE_TIER: truth.price_tier },
        "top_interest": interest.iter().take(100).map(|((country, item), n)| json!({"country": country, "item": item, "count": n})).collect::<Vec<_>>(),
        "campaigns": campaigns,
        "visits": visits,
        "reviews": { "unhappy_segment": UNHAPPY_SEGMENT, "by_segment": truth.reviews },
        "simpson": world.registry.campaigns.iter().find(|c| crate::campaigns::holds_simpsons_paradox(c))
            .map(|c| json!({"campaign": c.id, "variants": [1, 2]})),
    });
    if let Some(parent) = options.truth.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&options.truth, serde_json::to_string_pretty(&document)?)
        .with_context(|| format!("writing {}", options.truth.display()))?;
    Ok(())
}
