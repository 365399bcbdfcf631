//! Simulated devices report through both mechanisms; the edge's estimates must
//! be unbiased and their 95% intervals must cover the truth at least 95% of the
//! time. Seeded, so every run sees the same draws. Native only: the same code
//! runs in wasm, but a million draws in a debug wasm build would dominate the
//! browser suite.
#![cfg(not(target_arch = "wasm32"))]

use cove_engine::privacy::estimate::estimate;
use cove_engine::privacy::{report, Mechanism, MetricSpec, Tally};
use cove_engine::testing::zipf_values;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

struct Outcome {
    covered: usize,
    checked: usize,
    mean_error: f64,
    worst_bias_in_se: f64,
}

/// Runs `rounds` independent collections and checks coverage and bias.
fn simulate(
    mechanism: Mechanism,
    epsilon: f64,
    n_devices: usize,
    rounds: usize,
    seed: u64,
) -> Outcome {
    let spec = MetricSpec {
        name: "sim".into(),
        mechanism,
        epsilon,
    };
    let truth_values = zipf_values(mechanism.domain(), 1.1, n_devices);
    let mut truth = vec![0f64; mechanism.domain() as usize];
    for &v in &truth_values {
        truth[v as usize] += 1.0;
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let (mut covered, mut checked) = (0, 0);
    let mut sum_estimates = vec![0f64; mechanism.domain() as usize];
    let mut abs_error = 0.0;
    let mut std_error = 0.0;
    for _ in 0..rounds {
        let mut tally = Tally::new(mechanism);
        for &value in &truth_values {
            let report = report::randomise(&spec, value, &mut rng).unwrap();
            tally.add(report.cell).unwrap();
        }
        for e in estimate(mechanism, epsilon, &tally).unwrap() {
            let t = truth[e.value as usize];
            checked += 1;
            covered += usize::from(e.low <= t && t <= e.high);
            sum_estimates[e.value as usize] += e.count;
            abs_error += (e.count - t).abs();
            std_error = e.std_error;
        }
    }
    // Bias: the mean of `rounds` estimates has standard error ≤ se/√rounds.
    let worst_bias_in_se = sum_estimates
        .iter()
        .zip(&truth)
        .map(|(sum, t)| ((sum / rounds as f64) - t).abs() / (std_error / (rounds as f64).sqrt()))
        .fold(0.0, f64::max);
    Outcome {
        covered,
        checked,
        mean_error: abs_error / checked as f64,
        worst_bias_in_se,
    }
}

fn check(mechanism: Mechanism, epsilon: f64, n_devices: usize, rounds: usize, seed: u64) {
    let outcome = simulate(mechanism, epsilon, n_devices, rounds, seed);
    let coverage = outcome.covered as f64 / outcome.checked as f64;
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
