//! Estimation error against the number of devices, for ε = 0.5, 1 and 2, for
//! both mechanisms: the figures of `docs/privacy.md`.
//!
//! Run: `cargo run --release -p cove-engine --features test-fixtures --example privacy_error_curve`
//!
//! Protocol: true values are drawn (deterministically, largest remainder) from
//! a Zipf(1.1) distribution over the domain; every device sends one report;
//! the error is the mean absolute error of the estimated *share* of each value
//! over all values and `ROUNDS` independent collections (seeded ChaCha20). The
//! "bound" column is the standard error of a share that the 95% intervals use.

use cove_engine::privacy::estimate::estimate;
use cove_engine::privacy::{grr, hadamard, report, Mechanism, MetricSpec, Tally};
use cove_engine::testing::zipf_values;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

const ROUNDS: usize = 5;

fn share_bound(mechanism: Mechanism, epsilon: f64, n: f64) -> f64 {
    match mechanism {
        Mechanism::Grr { domain } => {
            let (p, q) = grr::probabilities(domain, epsilon);
            ((p * (1.0 - p)).max(q * (1.0 - q)) / n).sqrt() / (p - q)
        }
        Mechanism::Hadamard { .. } => {
            1.0 / (n.sqrt() * (2.0 * hadamard::keep_probability(epsilon) - 1.0))
        }
        Mechanism::Prio3 { .. } | Mechanism::Prio3Sum { .. } => {
            cove_engine::aggregation::release::noise_variance(epsilon).sqrt() / n
        }
    }
}

fn main() {
    println!("| mechanism | domain | ε | devices | mean abs. error of a share | 95% half-width (bound) |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut rng = ChaCha20Rng::seed_from_u64(20261123);
    for mechanism in [
        Mechanism::Grr { domain: 6 },
        Mechanism::Hadamard { domain: 4096 },
    ] {
        for epsilon in [0.5, 1.0, 2.0] {
            for n_devices in [1_000usize, 10_000, 100_000] {
                let spec = MetricSpec {
                    name: "curve".into(),
                    mechanism,
                    epsilon,
                };
                let values = zipf_values(mechanism.domain(), 1.1, n_devices);
                let mut truth = vec![0f64; mechanism.domain() as usize];
                for &v in &values {
                    truth[v as usize] += 1.0;
                }
                let mut abs_error = 0.0;
                let mut checked = 0usize;
                for _ in 0..ROUNDS {
                    let mut tally = Tally::new(mechanism);
                    for &value in &values {
                        let report =
                            report::randomise(&spec, value, &mut rng).expect("value in domain");
                        tally.add(report.cell).expect("cell in range");
                    }
                    for e in estimate(mechanism, epsilon, &tally).expect("tally fits") {
                        abs_error += (e.count - truth[e.value as usize]).abs() / n_devices as f64;
                        checked += 1;
                    }
                }
                let kind = match mechanism {
                    Mechanism::Grr { .. } => "randomised response",
                    Mechanism::Hadamard { .. } => "Hadamard response",
                    Mechanism::Prio3 { .. } | Mechanism::Prio3Sum { .. } => {
                        "secret-shared, central noise"
                    }
                };
                println!(
                    "| {kind} | {} | {epsilon} | {n_devices} | {:.4} | {:.4} |",
                    mechanism.domain(),
                    abs_error / checked as f64,
                    1.96 * share_bound(mechanism, epsilon, n_devices as f64)
                );
            }
        }
    }
}
