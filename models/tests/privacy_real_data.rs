//! Privacy estimates on shoppers drawn from the real data: every Online Retail
//! customer's orders are replayed into an engine profile, and the engine's own
//! `privacy::registry::observe` gives their true lifecycle segment, price tier
//! and item of interest under the published default bundle. 10k and 100k
//! simulated devices are drawn from those customers (seeded, with
//! replacement); each randomises with the engine's mechanisms and the edge's
//! estimator must cover the truth with its 95% intervals 95% of the time (up
//! to three binomial standard errors of the observed share), without bias. Skips, saying so, where the data or the published bundle
//! is absent (`cargo xtask build` publishes it).

use std::path::PathBuf;

use cove_engine::bundle::Model;
use cove_engine::privacy::registry::{
    observe, MetricRequest, Registry, ReportSchedule, ITEM_INTEREST, SEGMENT_LIFECYCLE,
    SEGMENT_PRICE_TIER,
};
use cove_engine::privacy::MetricKind;
use cove_engine::profile::Profile;
use cove_engine::testing::{published_default_bundle, simulate_collection};
use cove_models::data::{self, CleaningRules, ColumnMap};
use cove_models::engine_scorer::purchase_events;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Each customer's true values of the three built-in metrics, at the day after
/// the data ends.
fn customers_true_values(model: &Model) -> Option<Vec<[u32; 3]>> {
    let path = workspace().join("data/online-retail/online_retail.csv.gz");
    if !path.exists() {
        return None;
    }
    let data = data::read_transactions_file(
        &path,
        &ColumnMap::default(),
        &CleaningRules::default(),
        |_| {},
    )
    .unwrap();
    let mut by_customer: Vec<Vec<&data::Purchase>> = vec![Vec::new(); data.customers.len()];
    for purchase in &data.purchases {
        by_customer[purchase.customer_idx as usize].push(purchase);
    }
    let config = model.profile_config().clone();
    let now = data.purchases.iter().map(|p| p.minute).max()? * 60 + 86_400;
    let names = [SEGMENT_LIFECYCLE, SEGMENT_PRICE_TIER, ITEM_INTEREST];
    let values = by_customer
        .iter()
        .filter(|purchases| !purchases.is_empty())
        .map(|purchases| {
            let (events, _) = purchase_events(&data, purchases, config.max_items());
            let mut profile = Profile::new();
            for event in &events {
                // An event the engine refuses changes nothing, as on a device.
                let _ = profile.apply(event, &config);
            }
            names.map(|name| {
                let kind = MetricKind::of(name).unwrap();
                observe(model, &profile, &config, now, kind).unwrap()
            })
        })
        .collect();
    Some(values)
}

/// Draws `n_devices` customers with replacement (a fixed LCG: the draw is
/// part of the fixture, not of what is tested).
fn draw(customers: usize, n_devices: usize, seed: u64) -> Vec<usize> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n_devices)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % customers as u64) as usize
        })
        .collect()
}

#[test]
fn estimates_cover_real_shoppers_segments_and_interests() {
    let Some(model) = published_default_bundle(&cove_engine::bundle::layout::site_dir(
        &workspace().join("www"),
    )) else {
        eprintln!("SKIPPED: no published default bundle (run `cargo xtask build`)");
        return;
    };
    let Some(customers) = customers_true_values(&model) else {
        eprintln!("SKIPPED: data/online-retail is absent");
        return;
    };
    let requests: Vec<MetricRequest> = [SEGMENT_LIFECYCLE, SEGMENT_PRICE_TIER, ITEM_INTEREST]
        .into_iter()
        .map(|name| MetricRequest {
            name: name.into(),
            epsilon: 1.0,
            cap: None,
        })
        .collect();
    let registry = Registry::resolve(
        "sim",
        &model,
        &requests,
        &[],
        3.0,
        50,
        ReportSchedule::default(),
    )
    .unwrap();
    // Devices per collection, and rounds: enough intervals for a coverage
    // figure that means something (segments have few values, the catalogue
    // thousands), fewer for the larger collections.
    for (n_devices, segment_rounds, item_rounds) in [(10_000, 100, 6), (100_000, 25, 2)] {
        let devices = draw(customers.len(), n_devices, n_devices as u64);
        for (position, name) in [SEGMENT_LIFECYCLE, SEGMENT_PRICE_TIER, ITEM_INTEREST]
            .into_iter()
            .enumerate()
        {
            let spec = registry.metric(name).unwrap();
            let values: Vec<u32> = devices.iter().map(|&c| customers[c][position]).collect();
            let distinct = {
                let mut sorted = values.clone();
                sorted.sort_unstable();
                sorted.dedup();
                sorted.len()
            };
            let rounds = if name == ITEM_INTEREST {
                item_rounds
            } else {
                segment_rounds
            };
            let outcome = simulate_collection(spec, &values, rounds, 17 + position as u64);
            eprintln!(
                "{name} (ε = 1, {n_devices} devices from {} real customers, {distinct} distinct values): \
                 coverage {:.4} over {} intervals, mean |error| {:.1}, worst mean-bias {:.2} SE",
                customers.len(),
                outcome.coverage(),
                outcome.checked,
                outcome.mean_error,
                outcome.worst_bias_in_se
            );
            // The Hadamard intervals are calibrated (their variance bound is
            // reached by the many values no one holds), so coverage sits at
            // 95%: allow three binomial standard errors of the observed share.
            let tolerance = 3.0 * (0.05 * 0.95 / outcome.checked as f64).sqrt();
            assert!(
                outcome.coverage() >= 0.95 - tolerance,
                "{name}: {outcome:?}"
            );
            assert!(outcome.worst_bias_in_se < 4.5, "{name}: {outcome:?}");
        }
    }
}
