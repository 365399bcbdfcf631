//! `--monte-carlo SEEDS`: the run's numbers without a worker, for many seeds.
//!
//! Each seed's devices go through [`simulate_device`] exactly as in a run
//! (with `--with-shares` they also build the Prio3 shares of a run with two
//! aggregators, which changes no count), and are counted as a worker that
//! accepted every upload would count them. Each campaign's day is then released as the two
//! aggregators release it: the true cell counts (what the leader's and the
//! helper's shares add up to) plus one draw of the helper's discrete-Laplace
//! noise (`aggregation::aggregator::noise_draws`, the same strategy at the
//! same sensitivity, seeded here), refused below the task's minimum batch, and
//! published by the edge's own `aggregates::publish_released_campaigns`
//! (decoding, intervals, k-anonymity). What is written per seed and noise draw
//! is the `campaigns` section the dashboard would read, with the true cells
//! beside it; `tests/e2e/simpson-power.test.mjs` runs the dashboard's
//! Simpson's-paradox check (`www/dashboard/simpson.mjs`) over it.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{anyhow, Context, Result};
use cove_edge::aggregates::publish_released_campaigns;
use cove_edge::dap::DayRelease;
use cove_engine::aggregation::aggregator::noise_draws;
use cove_engine::aggregation::hpke::{config_to_text, Keypair};
use cove_engine::aggregation::release::Released;
use cove_engine::privacy::registry::{self, Aggregators};
use serde_json::json;

use crate::campaigns;
use crate::device::simulate_device;
use crate::options::Options;
use crate::truth::Truth;
use crate::world::load_world;

/// Two aggregators' keys, derived from fixed secrets: the devices encrypt to
/// them as to a worker's, and nothing here ever opens a share.
fn simulated_aggregators() -> Result<Aggregators> {
    let key = |id: u8, role: &str| -> Result<String> {
        let pair = Keypair::derive(id, b"cove-simulate monte carlo: no share is opened", role)?;
        Ok(config_to_text(pair.config()))
    };
    Ok(Aggregators {
        leader_hpke_config: key(1, "leader")?,
        helper_hpke_config: key(2, "helper")?,
        helper_url: "http://127.0.0.1:9/".into(),
    })
}

/// The seed of campaign `campaign`'s noise in draw `draw` of seed `seed`.
fn noise_seed(seed: u64, draw: u64, campaign: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (draw << 20) ^ campaign as u64
}

/// Runs `seeds` seeds from `options.seed` and writes one JSON line per seed
/// and noise draw to `options.monte_carlo_out`.
pub fn monte_carlo(options: &Options, seeds: u64) -> Result<()> {
    let mut world = load_world(&options.shop, &options.orders, &options.reviews)?;
    let shared = world
        .registry
        .clone()
        .with_aggregators(simulated_aggregators()?)?;
    // The devices build their day's report under the shop's registry as it
    // is (one aggregator) unless asked for the shares: which campaign a device
    // joins, its variant, its response and whether its report carries the
    // campaign do not depend on it (the campaign comes first in the day's
    // budget either way; the truth of seeds 2026, 1 and 2 is the same both
    // ways), and Prio3 shares cost seven times the CPU.
    if options.with_shares {
        world.registry = shared.clone();
    }
    let registry = &shared;
    let shop = cove_edge::config::seed_shops()
        .iter()
        .find(|shop| shop.id == options.shop)
        .with_context(|| format!("no shop '{}' among the worker's shops", options.shop))?;
    let n_segments = registry.n_lifecycle_segments;
    // As in a run with two aggregators: the devices report about yesterday.
    let real_now = crate::unix_now() - 86_400;
    let day = (real_now / 86_400) as u32;
    if let Some(parent) = options.monte_carlo_out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&options.monte_carlo_out)
            .with_context(|| format!("creating {}", options.monte_carlo_out.display()))?,
    );
    let names = registry::lifecycle_names(&world.model);
    for seed in options.seed..options.seed + seeds {
        let rates: Vec<Vec<Vec<f64>>> = registry
            .campaigns
            .iter()
            .map(|spec| campaigns::rates_for(spec, n_segments, world.new_segment, seed))
            .collect();
        let truth = Mutex::new(Truth::new(&world));
        let next = AtomicUsize::new(0);
        let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..options.clients {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= options.devices || failure.lock().unwrap().is_some() {
                        break;
                    }
                    match simulate_device(&world, &rates, seed, i as u64, real_now) {
                        Ok(device) => {
                            let accepted = device.body.as_ref().map(|_| Ok(202));
                            truth.lock().unwrap().count(&device, accepted.as_ref());
                        }
                        Err(error) => *failure.lock().unwrap() = Some(error),
                    }
                });
            }
        });
        if let Some(error) = failure.into_inner().unwrap() {
            return Err(error);
        }
        let truth = truth.into_inner().unwrap();
        let cells = truth.campaign_cells();
        for draw in 0..options.noise_draws {
            let mut releases = Vec::with_capacity(registry.campaigns.len());
            for (c, spec) in registry.campaigns.iter().enumerate() {
                let metric = registry
                    .metric(&spec.metric_name())
                    .ok_or_else(|| anyhow!("no metric for campaign {}", spec.id))?;
                let task = registry
                    .task(metric)
                    .ok_or_else(|| anyhow!("campaign {} is not secret-shared", spec.id))?;
                // Cell `(variant · segments + segment) · 2 + responded`, as
                // the campaign's histogram counts its devices.
                let mut counts = vec![0i64; (spec.variants * n_segments * 2) as usize];
                let mut n_reports = 0;
                for (variant, segments) in cells[c].iter().enumerate() {
                    for (segment, &(exposed, responded)) in segments.iter().enumerate() {
                        let base = (variant * n_segments as usize + segment) * 2;
                        counts[base] = (exposed - responded) as i64;
                        counts[base + 1] = responded as i64;
                        n_reports += exposed;
                    }
                }
                let release = if n_reports < u64::from(task.min_batch_size) {
                    DayRelease::BelowK { n_reports }
                } else {
                    let noise = noise_draws(&task, counts.len(), noise_seed(seed, draw, c))?;
                    for (count, noise) in counts.iter_mut().zip(noise) {
                        *count += noise;
                    }
                    DayRelease::Released {
                        release: Released::of_task(&task, n_reports, counts),
                    }
                };
                releases.push((metric.name.clone(), release));
            }
            let published = publish_released_campaigns(shop, registry, &releases)
                .map_err(|error| anyhow!("publishing the campaigns: {error:?}"))?;
            let line = json!({
                "seed": seed,
                "draw": draw,
                "day": day,
                "devices": options.devices,
                "lifecycle_names": names,
                "campaigns": published,
                "truth": registry.campaigns.iter().enumerate().map(|(c, spec)| json!({
                    "id": spec.id,
                    "kind": spec.kind,
                    "designed_rates": rates[c],
                    "cells": cells[c].iter().map(|segments| segments.iter().map(|&(exposed, responded)|
                        json!({"exposed": exposed, "responded": responded})).collect::<Vec<_>>()).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "simpson": registry.campaigns.iter().find(|c| campaigns::holds_simpsons_paradox(c))
                    .map(|c| json!({"campaign": c.id, "variants": [1, 2]})),
            });
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        println!("simulate: monte carlo seed {seed} done");
    }
    println!(
        "simulate: {seeds} seeds × {} noise draws in {}",
        options.noise_draws,
        options.monte_carlo_out.display()
    );
    Ok(())
}
