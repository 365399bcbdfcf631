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
}
