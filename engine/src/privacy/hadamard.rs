//! Hadamard response, for large domains (an item of the catalogue).
//!
//! Let `K` be the smallest power of two above the domain size `k`, and
//! `H[j][c] = (−1)^popcount(j & c)` the `K × K` Hadamard matrix. Value `v` is
//! mapped to column `v + 1` (column 0, all ones, carries no information). A
//! device draws a row `j` uniformly, takes `h = H[j][v + 1]`, and reports `(j, b)`
//! where `b = h` with probability `p = e^ε / (1 + e^ε)` and `b = −h` otherwise.
//! For any two values and any output the probabilities differ by at most
//! `p / (1 − p) = e^ε`: one report is ε-LDP.
//!
//! Unbiased estimator: `n̂_v = Σ_i b_i·H[j_i][v + 1] / (2p − 1)`, because
//! `E[b·H[j][v + 1]] = (2p − 1)·E_j[H[j][u + 1]·H[j][v + 1]] = (2p − 1)·[u = v]`
//! (distinct Hadamard columns are orthogonal). Each term is ±1, so
//! `Var(n̂_v) = (n − (2p − 1)²·n_v) / (2p − 1)² ≤ n / (2p − 1)²`.
//! The edge keeps two counters per row (`b = +1`, `b = −1`); the estimates of all
//! values come from one fast Walsh–Hadamard transform of their differences.

use rand_core::{CryptoRng, Rng};

use super::sample::{below, bernoulli};

/// `K`: the Hadamard order used for a domain of `domain` values (a power of two
/// strictly greater than `domain`).
pub fn order(domain: u32) -> u32 {
    (domain + 1).next_power_of_two()
}

/// `H[row][column]` as ±1.
pub fn sign(row: u32, column: u32) -> i8 {
    if (row & column).count_ones() % 2 == 0 {
        1
    } else {
        -1
    }
}

/// The probability of reporting the true sign.
pub fn keep_probability(epsilon: f64) -> f64 {
    let e = epsilon.exp();
    e / (1.0 + e)
}

/// The cell of a report `(row, bit)`: `2·row` for `+1`, `2·row + 1` for `−1`.
pub fn cell(row: u32, bit_is_positive: bool) -> u32 {
    2 * row + u32::from(!bit_is_positive)
}

/// Randomises `value` (below `domain`): the cell to report.
pub fn randomise<R: Rng + CryptoRng>(value: u32, domain: u32, epsilon: f64, rng: &mut R) -> u32 {
    let row = below(rng, order(domain));
    let true_sign = sign(row, value + 1) > 0;
    let reported = if bernoulli(rng, keep_probability(epsilon)) {
        true_sign
    } else {
        !true_sign
    };
    cell(row, reported)
}

/// In-place fast Walsh–Hadamard transform: `out[c] = Σ_j in[j]·H[j][c]`.
/// `values.len()` must be a power of two.
pub fn walsh_hadamard_transform(values: &mut [f64]) {
    let n = values.len();
    debug_assert!(n.is_power_of_two());
    let mut half = 1;
    while half < n {
        for block in values.chunks_exact_mut(2 * half) {
            let (left, right) = block.split_at_mut(half);
            for (a, b) in left.iter_mut().zip(right.iter_mut()) {
                let (x, y) = (*a, *b);
                *a = x + y;
                *b = x - y;
            }
        }
        half *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transform_matches_the_matrix() {
        let input = [3.0, -1.0, 0.5, 2.0, 0.0, 1.0, -2.0, 4.0];
        let mut fast = input;
        walsh_hadamard_transform(&mut fast);
        for (c, got) in fast.iter().enumerate() {
            let want: f64 = input
                .iter()
                .enumerate()
                .map(|(j, x)| x * f64::from(sign(j as u32, c as u32)))
                .sum();
            assert!((got - want).abs() < 1e-12, "column {c}: {got} vs {want}");
        }
    }

    #[test]
    fn order_is_a_power_of_two_above_the_domain() {
        for (domain, want) in [
            (2, 4),
            (3, 4),
            (4, 8),
            (4070, 4096),
            (4095, 4096),
            (4096, 8192),
        ] {
            assert_eq!(order(domain), want, "domain {domain}");
        }
    }
}
