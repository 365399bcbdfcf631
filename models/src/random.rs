//! The trainer's one seeded generator: SplitMix64 from `rand_xoshiro`, with
//! the two draws the trainer makes (64 bits, a float in [0, 1)) and a
//! value's well-mixed hash. Every seeded choice of the trainer (ALS's first
//! factors, the synthetic shop, the review split, fixtures) goes through it,
//! so a seed means the same stream everywhere.

use rand_core::{Rng, SeedableRng};

/// SplitMix64 seeded with a `u64` (its state is the seed, as in the
/// reference `splitmix64.c`).
pub struct SplitMix64(rand_xoshiro::SplitMix64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(rand_xoshiro::SplitMix64::seed_from_u64(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A uniform float in [0, 1) (24 bits).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// A well-mixed 64-bit hash of `value`: SplitMix64's first output from it.
pub fn mix(value: u64) -> u64 {
    SplitMix64::new(value).next_u64()
}

/// `m` of the indices `0..n`, drawn without replacement by a partial
/// Fisher–Yates shuffle seeded with `seed`, in ascending order (all of them
/// when `m ≥ n`): the trainer's seeded samples of items and of customers.
pub fn seeded_sample(n: usize, m: usize, seed: u64) -> Vec<usize> {
    if m >= n {
        return (0..n).collect();
    }
    let mut rng = SplitMix64::new(seed);
    let mut indices: Vec<usize> = (0..n).collect();
    for i in 0..m {
        let j = i + (rng.next_u64() % (n - i) as u64) as usize;
        indices.swap(i, j);
    }
    indices.truncate(m);
    indices.sort_unstable();
    indices
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream is the reference one (values of `splitmix64.c` seeded
    /// with 1234567), so trained models keep their ids.
    #[test]
    fn the_reference_stream() {
        let mut rng = SplitMix64::new(1_234_567);
        let first: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(
            first,
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423
            ]
        );
        assert_eq!(mix(1_234_567), first[0]);
    }

    #[test]
    fn a_seeded_sample_is_distinct_ascending_and_repeatable() {
        let sample = seeded_sample(1_000, 100, 7);
        assert_eq!(sample.len(), 100);
        assert!(sample.windows(2).all(|w| w[0] < w[1]));
        assert!(sample.iter().all(|&i| i < 1_000));
        assert_eq!(sample, seeded_sample(1_000, 100, 7));
        assert_ne!(sample, seeded_sample(1_000, 100, 8));
        assert_eq!(seeded_sample(5, 9, 7), [0, 1, 2, 3, 4]);
    }
}
