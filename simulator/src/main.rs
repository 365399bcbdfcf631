//! `cove-simulate`: simulated shoppers, drawn from the real data, go through
//! the real engine and report to a local edge worker, so the dashboard has
//! something true to show and a test can check that it recovers the truth.
//! `cargo xtask simulate` builds and runs it; `--help` lists its options.
//!
//! Each simulated device is one real Online Retail customer seen on a random
//! day of the data: its orders before that day become engine events (the
//! trainer's own replay, `engine_scorer::purchase_events`), and its next order's
//! items are viewed and put in the cart in today's session. The engine then
//! does what it does on a device: profile, segments (`segments::classify`),
//! the rescue decision (`abandonment::decide`), campaign exposure and response
//! and the day's envelope through the ε budget (`privacy::device::DeviceReporter`
//! over the shop's registry, `privacy::registry::Registry::resolve`). The
//! day's body is POSTed to `/v1/reports` on 127.0.0.1: the 1,024-byte envelope,
//! or, when the worker serves a helper aggregator's key in `/v1/config`, an
//! upload whose segments and campaigns are Prio3 shares (dated yesterday, as
//! a day is released once it has ended). Each device posts
//! from its own client address (`cf-connecting-ip`, as distinct devices would
//! be) and with its customer's country (`cf-ipcountry`, as the CDN would add).
//!
//! Campaigns (the shop's `campaigns` in `edge-worker/shops.json`): a device
//! whose rescue decision calls for an offer joins `rescue-cart` (triggered);
//! others join the mass, targeted or interactive campaign with fixed shares.
//! Variants are uniform, except in the targeted campaign, which targets its
//! variants by segment — the one case where Simpson's paradox can appear, and
//! it is built in on purpose (see `campaigns::rates_for`). Response rates lie
//! in the published ranges by kind: mass 0.2–3.1%, targeted 2.0–4.9%,
//! interactive 8.2–14.6%, triggered 18–34%.
//!
//! Everything is drawn from seeded generators (one ChaCha20 stream per
//! device), so a seed gives the same devices, reports and truth. The truth is
//! written as JSON beside the run for the end-to-end test that compares it
//! with `GET /v1/aggregates`.
//!
//! One module per concern: [`options`] (the command line), [`world`] (what
//! the devices are drawn from: the data, the bundle, the shop's registry, the
//! reviews), [`campaigns`] (the designed response rates and targeting),
//! [`device`] (one device's day through the engine, up to its envelope),
//! [`client`] (an envelope posted with retries), [`worker`] (a worker started
//! for the run), [`truth`] (the true counts and the file they are written
//! to) and [`monte_carlo`] (`--monte-carlo`: many seeds without a worker, each
//! campaign released and published as the aggregators and the edge would);
//! this file runs the devices on the clients' threads.
//!
//! The simulator never computes what the engine computes (every segment,
//! decision, assignment and envelope is the engine's), never talks to
//! anything but loopback (`--url` is checked; its HTTP client has no TLS),
//! and never draws from an unseeded source: the wall clock gives only the
//! moment the reports are made at (and so their day).

mod campaigns;
mod client;
mod device;
mod monte_carlo;
mod options;
mod truth;
mod visits;
mod worker;
mod world;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use anyhow::{ensure, Context, Result};
use clap::Parser;
use cove_engine::privacy::registry::Registry;

use crate::client::{client_address, post_with_retries, MAX_ATTEMPTS, MAX_FAILED_IN_A_ROW};
use crate::device::simulate_device;
use crate::options::Options;
use crate::truth::{write_truth, Truth};
use crate::world::load_world;

fn main() -> Result<()> {
    simulate(&Options::parse())
}

/// The workspace root (the parent of `simulator/`): the published bundles,
/// the shops and the worker's runner are found from it.
pub fn workspace_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the simulator lives one level below the workspace root")
        .to_path_buf()
}

/// The registry with the aggregators the worker at `url` serves for `shop`
/// (`GET /v1/config`), or as it is when the worker has one aggregator.
fn with_served_aggregators(url: &str, shop: &str, registry: Registry) -> Result<Registry> {
    let served = ureq::get(&format!("{url}/v1/config?shop={shop}"))
        .call()
        .context("reading the shop's registry from the worker")?
        .body_mut()
        .read_to_vec()?;
    let served = Registry::from_json(&served).context("the worker's registry")?;
    match served.aggregators {
        Some(aggregators) => {
            let registry = registry.with_aggregators(aggregators)?;
            ensure!(
                registry.metrics == served.metrics,
                "the worker's registry differs from this shop's configuration"
            );
            Ok(registry)
        }
        None => Ok(registry),
    }
}

/// Now in unix seconds.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Runs the simulation; starts a worker when `--url` is not given.
fn simulate(options: &Options) -> Result<()> {
    if let Some(seeds) = options.monte_carlo {
        return monte_carlo::monte_carlo(options, seeds);
    }
    let mut world = load_world(&options.shop, &options.orders, &options.reviews)?;
    let n_segments = world.registry.n_lifecycle_segments;
    let rates: Vec<Vec<Vec<f64>>> = world
        .registry
        .campaigns
        .iter()
        .map(|spec| campaigns::rates_for(spec, n_segments, world.new_segment, options.seed))
        .collect();
    let (_worker, url) = match &options.url {
        Some(url) => (None, url.clone()),
        None => {
            let (worker, url) = worker::start_worker()?;
            (Some(worker), url)
        }
    };
    // A worker with two aggregators serves their keys in the shop's registry:
    // the devices then secret-share what they can.
    world.registry = with_served_aggregators(&url, &options.shop, world.registry)?;
    let shared = world.registry.aggregators.is_some();
    // One moment for the whole run, so every device reports the same day.
    // With two aggregators a day is released once it has ended, so the
    // simulated devices report about yesterday (as a device reports a day
    // after it, within the edge's window).
    let real_now = unix_now() - if shared { 86_400 } else { 0 };
    let day = (real_now / 86_400) as u32;
    let truth = Mutex::new(Truth::new(&world));
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let report_url = format!("{url}/v1/reports?shop={}", options.shop);
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    // Envelopes in a row that no attempt delivered: a worker that stopped
    // answering ends the run with an error instead of every device waiting
    // out its retries.
    let failed_in_a_row = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..options.clients {
            scope.spawn(|| {
                let agent = client::agent();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= options.devices || failure.lock().unwrap().is_some() {
                        break;
                    }
                    let device =
                        match simulate_device(&world, &rates, options.seed, i as u64, real_now) {
                            Ok(device) => device,
                            Err(error) => {
                                *failure.lock().unwrap() = Some(error);
                                break;
                            }
                        };
                    let status = device.body.as_ref().map(|body| {
                        post_with_retries(
                            &agent,
                            &report_url,
                            body,
                            &client_address(i),
                            &device.country,
                        )
                    });
                    truth.lock().unwrap().count(&device, status.as_ref());
                    match &status {
                        Some(Err(error)) => {
                            let in_a_row = failed_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
                            if in_a_row >= MAX_FAILED_IN_A_ROW {
                                *failure.lock().unwrap() = Some(anyhow::anyhow!(
                                    "the worker at {url} stopped answering: {in_a_row} envelopes \
                                     in a row failed after {MAX_ATTEMPTS} attempts each (the last: \
                                     {error})"
                                ));
                            }
                        }
                        Some(Ok(_)) => failed_in_a_row.store(0, Ordering::Relaxed),
                        None => {}
                    }
                    if (i + 1) % 1000 == 0 {
                        println!(
                            "simulate: {} devices, {:.0} envelopes/s",
                            i + 1,
                            (i + 1) as f64 / started.elapsed().as_secs_f64()
                        );
                    }
                }
            });
        }
    });
    if let Some(error) = failure.into_inner().unwrap() {
        return Err(error);
    }
    let truth = truth.into_inner().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    write_truth(options, &world, &rates, &truth, day, &url, seconds)?;
    println!(
        "simulate: {} devices, {} envelopes accepted in {seconds:.1} s ({:.0}/s); statuses {:?}, network errors {}",
        options.devices,
        truth.envelopes,
        truth.envelopes as f64 / seconds,
        truth.statuses,
        truth.network_errors
    );
    println!("simulate: truth in {}", options.truth.display());
    if options.url.is_none() {
        println!(
            "simulate: the worker kept its state in target/xtask/wrangler-state, the demo's; see /dashboard/ under `cargo xtask demo`"
        );
    }
    ensure!(
        truth.network_errors == 0 && truth.statuses.keys().all(|&s| s == 202),
        "some envelopes were not accepted: {:?}, {} network errors",
        truth.statuses,
        truth.network_errors
    );
    Ok(())
}
