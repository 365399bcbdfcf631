//! Simulated devices report through both mechanisms; the edge's estimates must
//! be unbiased and their 95% intervals must cover the truth at least 95% of the
//! time. Seeded, so every run sees the same draws. Native only: the same code
//! runs in wasm, but a million draws in a debug wasm build would dominate the
//! browser suite.
#![cfg(not(target_arch = "wasm32"))]

use cove_engine::privacy::{Mechanism, MetricSpec};
use cove_engine::testing::{simulate_collection, zipf_values};

fn check(mechanism: Mechanism, epsilon: f64, n_devices: usize, rounds: usize, seed: u64) {
    let spec = MetricSpec {
        name: "sim".into(),
        mechanism,
        epsilon,
    };
    let true_values = zipf_values(mechanism.domain(), 1.1, n_devices);
    let outcome = simulate_collection(&spec, &true_values, rounds, seed);
    let coverage = outcome.coverage();
    eprintln!(
        "{mechanism:?} ε={epsilon} n={n_devices}: coverage {coverage:.4} over {} intervals, \
         mean |error| {:.1}, worst mean-bias {:.2} standard errors",
        outcome.checked, outcome.mean_error, outcome.worst_bias_in_se
    );
    assert!(coverage >= 0.95, "coverage {coverage}");
    // With many values, the largest of them may reach ~4 standard errors by chance.
    assert!(
        outcome.worst_bias_in_se < 4.5,
        "bias {}",
        outcome.worst_bias_in_se
    );
}

#[test]
fn randomised_response_on_segments_10k_devices() {
    check(Mechanism::Grr { domain: 6 }, 1.0, 10_000, 200, 1);
}

#[test]
fn randomised_response_on_segments_100k_devices() {
    check(Mechanism::Grr { domain: 6 }, 0.5, 100_000, 40, 2);
}

#[test]
fn hadamard_response_on_items_10k_devices() {
    check(Mechanism::Hadamard { domain: 500 }, 1.0, 10_000, 40, 3);
}

#[test]
fn hadamard_response_on_items_100k_devices() {
    check(Mechanism::Hadamard { domain: 4000 }, 2.0, 100_000, 6, 4);
}
