//! Unbiased draws from a caller's generator.

use rand_core::{CryptoRng, Rng};

/// True with probability `p` (53 bits of resolution).
pub(crate) fn bernoulli<R: Rng + CryptoRng>(rng: &mut R, p: f64) -> bool {
    let unit = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    unit < p
}

/// A uniform integer in `0..n` (`n > 0`), without modulo bias (Lemire's method).
pub(crate) fn below<R: Rng + CryptoRng>(rng: &mut R, n: u32) -> u32 {
    debug_assert!(n > 0);
    let n64 = u64::from(n);
    let threshold = (u32::MAX - n + 1) % n; // 2^32 mod n
    loop {
        let product = u64::from(rng.next_u32()) * n64;
        if (product as u32) >= threshold {
            return (product >> 32) as u32;
        }
    }
}
