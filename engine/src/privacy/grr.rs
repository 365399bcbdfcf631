//! Generalised (k-ary) randomised response.
//!
//! A device holding value `v` of `k` reports `v` with probability
//! `p = e^ε / (e^ε + k − 1)` and each other value with probability
//! `q = 1 / (e^ε + k − 1)`. Since `p / q = e^ε`, one report is ε-LDP.
//!
//! With `c_v` reports of `v` among `n`, `n̂_v = (c_v − n·q) / (p − q)` is unbiased:
//! `E[c_v] = n_v·p + (n − n_v)·q`. Its variance is
//! `(n_v·p(1−p) + (n − n_v)·q(1−q)) / (p − q)²`.

use rand_core::{CryptoRng, Rng};

use super::sample::{below, bernoulli};

/// The probabilities `(p, q)` of reporting the true value and each other value.
pub fn probabilities(domain: u32, epsilon: f64) -> (f64, f64) {
    let e = epsilon.exp();
    let denominator = e + f64::from(domain) - 1.0;
    (e / denominator, 1.0 / denominator)
}

/// Randomises `value` (below `domain`, `domain ≥ 2`): the cell to report.
pub fn randomise<R: Rng + CryptoRng>(value: u32, domain: u32, epsilon: f64, rng: &mut R) -> u32 {
    let (p, _) = probabilities(domain, epsilon);
    if bernoulli(rng, p) {
        return value;
    }
    // Any other value, uniformly: draw from domain − 1 and skip the true one.
    let other = below(rng, domain - 1);
    if other >= value {
        other + 1
    } else {
        other
    }
}
