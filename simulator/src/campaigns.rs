//! The campaigns' designed truth: each `(variant, segment)`'s response rate
//! within the published range of its kind, how the targeted campaign assigns
//! its variants (Simpson's paradox, on purpose), and the shares of devices
//! each kind reaches.

use std::hash::Hasher;

use cove_engine::privacy::campaign::{CampaignKind, CampaignSpec};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::device::unit;

/// Published response-rate ranges by kind of campaign.
pub fn response_range(kind: CampaignKind) -> (f64, f64) {
    match kind {
        CampaignKind::Mass => (0.002, 0.031),
        CampaignKind::Targeted => (0.020, 0.049),
        CampaignKind::Interactive => (0.082, 0.146),
        CampaignKind::Triggered => (0.18, 0.34),
    }
}

/// The response rate of every `(variant, segment)` of a campaign: the truth
/// the dashboard must recover.
///
/// Each segment's holdout rate is drawn in the lower half of the kind's range
/// and each variant adds a share of the room left, so every rate stays in the
/// published range. The targeted campaign is fixed instead, to hold a known
/// Simpson's paradox: variant 2 beats variant 1 in every segment (by 0.4
/// points), but it is targeted at the low-response segments (see
/// [`assignment_weights`]), so pooled over segments variant 1 looks better.
pub fn rates_for(spec: &CampaignSpec, n_segments: u32, seed: u64) -> Vec<Vec<f64>> {
    let (low, high) = response_range(spec.kind);
    if spec.kind == CampaignKind::Targeted {
        return (0..spec.variants)
            .map(|variant| {
                (0..n_segments)
                    .map(|segment| {
                        let base = if is_low_segment(segment, n_segments) {
                            0.020
                        } else {
                            0.036
                        };
                        (base + 0.004 * f64::from(variant)).min(high)
                    })
                    .collect()
            })
            .collect();
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ fnv(spec.id.as_bytes()));
    let holdout: Vec<f64> = (0..n_segments)
        .map(|_| low + (high - low) * 0.5 * unit(&mut rng))
        .collect();
    (0..spec.variants)
        .map(|variant| {
            holdout
                .iter()
                .map(|&base| {
                    if variant == 0 {
                        base
                    } else {
                        base + (high - base) * (0.2 + 0.6 * unit(&mut rng))
                    }
                })
                .collect()
        })
        .collect()
}

/// The low-response half of the segments in the targeted campaign.
fn is_low_segment(segment: u32, n_segments: u32) -> bool {
    segment < n_segments.div_ceil(2)
}

/// How a campaign assigns variants in `segment`: uniform, except the targeted
/// campaign, which sends variant 2 mostly to the low-response segments and
/// variant 1 mostly to the others (10% holdout everywhere).
pub fn assignment_weights(spec: &CampaignSpec, segment: u32, n_segments: u32) -> Vec<f64> {
    if spec.kind == CampaignKind::Targeted && spec.variants == 3 {
        return if is_low_segment(segment, n_segments) {
            vec![0.1, 0.1, 0.8]
        } else {
            vec![0.1, 0.8, 0.1]
        };
    }
    vec![1.0 / f64::from(spec.variants); spec.variants as usize]
}

/// FNV-1a of a campaign id: a per-campaign seed that stays the same across
/// Rust versions (std's hasher does not promise that).
fn fnv(bytes: &[u8]) -> u64 {
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(bytes);
    hasher.finish()
}

/// Shares of the devices offered each non-triggered campaign kind.
pub const CAMPAIGN_SHARES: [(CampaignKind, f64); 3] = [
    (CampaignKind::Mass, 0.25),
    (CampaignKind::Targeted, 0.25),
    (CampaignKind::Interactive, 0.15),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign(id: &str, kind: CampaignKind, variants: u32) -> CampaignSpec {
        CampaignSpec {
            id: id.into(),
            kind,
            variants,
            epsilon: 0.5,
        }
    }

    #[test]
    fn every_designed_rate_is_in_the_published_range_of_its_kind() {
        let kinds = [
            CampaignKind::Mass,
            CampaignKind::Targeted,
            CampaignKind::Interactive,
            CampaignKind::Triggered,
        ];
        for (seed, kind) in (0..20).flat_map(|seed| kinds.map(|kind| (seed, kind))) {
            let (low, high) = response_range(kind);
            let rates = rates_for(&campaign("c", kind, 3), 6, seed);
            assert_eq!(rates.len(), 3);
            for rate in rates.iter().flatten() {
                assert!((low..=high).contains(rate), "{kind:?} seed {seed}: {rate}");
            }
        }
    }

    #[test]
    fn the_same_seed_designs_the_same_rates() {
        let spec = campaign("spring-newsletter", CampaignKind::Mass, 2);
        assert_eq!(rates_for(&spec, 6, 7), rates_for(&spec, 6, 7));
        assert_ne!(rates_for(&spec, 6, 7), rates_for(&spec, 6, 8));
    }

    /// Variant 2 beats variant 1 in every segment, but pooled over the
    /// segments with the targeted assignment it responds less.
    #[test]
    fn the_targeted_campaign_holds_simpsons_paradox() {
        let spec = campaign("win-back", CampaignKind::Targeted, 3);
        let n_segments = 6;
        let rates = rates_for(&spec, n_segments, 2026);
        let mut pooled = [(0.0, 0.0); 3];
        for segment in 0..n_segments {
            assert!(rates[2][segment as usize] > rates[1][segment as usize]);
            let weights = assignment_weights(&spec, segment, n_segments);
            for (variant, weight) in weights.iter().enumerate() {
                pooled[variant].0 += weight;
                pooled[variant].1 += weight * rates[variant][segment as usize];
            }
        }
        let rate = |variant: usize| pooled[variant].1 / pooled[variant].0;
        assert!(rate(1) > rate(2), "pooled: {} vs {}", rate(1), rate(2));
    }
}
