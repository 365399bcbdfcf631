//! The 95% half-width of a campaign arm's response rate as the dashboard
//! states it (`aggregation::release::decode_campaign`: Wilson's interval
//! widened by the central noise's variance), for 2,000 devices per arm spread
//! evenly over the 6 lifecycle segments, at rates of 2–5%, for the central ε
//! of a secret-shared campaign; beside it the local-DP fallback's
//! (`privacy::campaign::decode` on exact expected tallies at the same ε).
//!
//! `cargo run --release -p cove-engine --example campaign_half_width`

use cove_engine::aggregation::release::{decode_campaign, Released};
use cove_engine::privacy::campaign::{CampaignKind, CampaignSpec};

const SEGMENTS: u32 = 6;

fn main() {
    println!("| rate | devices per arm | ε | secret-shared half-width (points) | of which noise (points) |");
    println!("|---|---:|---:|---:|---:|");
    for epsilon in [0.5, 1.0, 2.0] {
        for rate in [0.02, 0.035, 0.05] {
            for per_arm in [500u32, 2_000] {
                let spec = CampaignSpec {
                    id: "spring-newsletter".into(),
                    kind: CampaignKind::Mass,
                    variants: 2,
                    epsilon,
                };
                // Cells (variant · S + segment) · 2 + responded, the true
                // counts (the noise's draw moves the estimate, not the width).
                let mut counts = vec![0i64; (2 * SEGMENTS * 2) as usize];
                for variant in 0..2u32 {
                    for segment in 0..SEGMENTS {
                        let exposed = f64::from(per_arm) / f64::from(SEGMENTS);
                        let responded = (exposed * rate).round() as i64;
                        let base = ((variant * SEGMENTS + segment) * 2) as usize;
                        counts[base] = exposed.round() as i64 - responded;
                        counts[base + 1] = responded;
                    }
                }
                let release = Released::new(u64::from(2 * per_arm), counts.clone(), epsilon);
                let outcome = decode_campaign(&spec, SEGMENTS, &release).expect("a valid release");
                let arm = outcome.variants[1].pooled.rate.expect("a rate");
                // The same without noise: what sampling alone gives.
                let mut exact = release.clone();
                exact.noise_variance = 0.0;
                let sampling = decode_campaign(&spec, SEGMENTS, &exact).expect("a valid release");
                let sampling = sampling.variants[1].pooled.rate.expect("a rate");
                let half = 100.0 * (arm.high - arm.low) / 2.0;
                let half_sampling = 100.0 * (sampling.high - sampling.low) / 2.0;
                println!(
                    "| {:.1}% | {per_arm} | {epsilon} | {half:.2} | {:.2} |",
                    100.0 * rate,
                    (half * half - half_sampling * half_sampling)
                        .max(0.0)
                        .sqrt()
                );
            }
        }
    }
}
