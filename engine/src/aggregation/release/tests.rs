use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::*;
use crate::privacy::campaign::{CampaignKind, CampaignSpec};

fn uniform(rng: &mut ChaCha20Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn binomial(rng: &mut ChaCha20Rng, n: u64, p: f64) -> u64 {
    (0..n).filter(|_| uniform(rng) < p).count() as u64
}

/// One draw of the two-sided geometric (discrete Laplace) distribution of
/// scale `2/ε`: the difference of two geometric draws.
fn discrete_laplace(rng: &mut ChaCha20Rng, epsilon: f64) -> i64 {
    let a = (-epsilon / HISTOGRAM_SENSITIVITY).exp();
    let mut geometric = || {
        let mut k = 0;
        while uniform(rng) < a {
            k += 1;
        }
        k
    };
    geometric() - geometric()
}

fn spec(variants: u32) -> CampaignSpec {
    CampaignSpec {
        id: "spring".into(),
        kind: CampaignKind::Targeted,
        variants,
        epsilon: 1.0,
    }
}

#[test]
fn the_noise_variance_matches_the_sampler() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let draws: Vec<f64> = (0..200_000)
        .map(|_| discrete_laplace(&mut rng, 1.0) as f64)
        .collect();
    let mean = draws.iter().sum::<f64>() / draws.len() as f64;
    let variance = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / draws.len() as f64;
    let stated = noise_variance(1.0);
    assert!(
        (variance / stated - 1.0).abs() < 0.03,
        "{variance} vs {stated}"
    );
}

/// The test: 400 seeded campaigns at 500–5,000 devices per arm and
/// true rates across the four kinds' ranges; the 95% intervals of the rates
/// and of the uplift must cover the truth 93–97% of the time.
#[test]
fn rate_and_uplift_intervals_cover_the_truth_93_to_97_percent() {
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let (mut rates, mut rates_in, mut uplifts, mut uplifts_in) = (0, 0, 0, 0);
    let epsilon = 1.0;
    for _ in 0..400 {
        let rate_range = [(0.002, 0.031), (0.02, 0.049), (0.082, 0.146), (0.18, 0.34)]
            [(rng.next_u32() % 4) as usize];
        let truth: Vec<f64> = (0..2)
            .map(|_| rate_range.0 + uniform(&mut rng) * (rate_range.1 - rate_range.0))
            .collect();
        let mut counts = Vec::new();
        for &p in &truth {
            let n = 500 + u64::from(rng.next_u32() % 4_501);
            let responded = binomial(&mut rng, n, p);
            counts.push((n - responded) as i64 + discrete_laplace(&mut rng, epsilon));
            counts.push(responded as i64 + discrete_laplace(&mut rng, epsilon));
        }
        let release = Released::new(0, counts, epsilon);
        let outcome = decode_campaign(&spec(2), 1, &release).unwrap();
        for (variant, &p) in truth.iter().enumerate() {
            let rate = outcome.variants[variant].pooled.rate.unwrap();
            assert!((0.0..=1.0).contains(&rate.low) && (0.0..=1.0).contains(&rate.high));
            rates += 1;
            rates_in += usize::from(rate.low <= p && p <= rate.high);
        }
        let uplift = outcome.variants[1].pooled.uplift.unwrap();
        uplifts += 1;
        uplifts_in +=
            usize::from(uplift.low <= truth[1] - truth[0] && truth[1] - truth[0] <= uplift.high);
    }
    let rate_coverage = rates_in as f64 / rates as f64;
    let uplift_coverage = uplifts_in as f64 / uplifts as f64;
    eprintln!("coverage over 400 campaigns: rates {rate_coverage:.4} ({rates}), uplift {uplift_coverage:.4} ({uplifts})");
    assert!(
        (0.93..=0.97).contains(&rate_coverage),
        "rates: {rate_coverage}"
    );
    assert!(
        (0.93..=0.97).contains(&uplift_coverage),
        "uplift: {uplift_coverage}"
    );
}

#[test]
fn counts_are_never_negative_and_rates_stay_in_0_1() {
    // One segment, two variants: noise took the holdout's responses below 0
    // and the variant's above its exposure.
    let release = Released::new(40, vec![12, -3, 2, 9], 1.0);
    let outcome = decode_campaign(&spec(2), 1, &release).unwrap();
    for variant in &outcome.variants {
        let pooled = variant.pooled;
        assert!(pooled.exposed.estimate >= 0.0 && pooled.exposed.low >= 0.0);
        assert!(pooled.responded.estimate >= 0.0 && pooled.responded.low >= 0.0);
        let rate = pooled.rate.unwrap();
        assert!((0.0..=1.0).contains(&rate.estimate));
        assert!(rate.low >= 0.0 && rate.high <= 1.0);
    }
    let beats = outcome.variants[1].pooled.prob_beats_holdout.unwrap();
    assert!(beats > 0.5 && beats <= 1.0);
    for estimate in histogram_estimates(&Released::new(5, vec![-4, 9], 1.0)) {
        assert!(estimate.count >= 0.0 && estimate.low >= 0.0);
    }
}

#[test]
fn a_release_that_does_not_fit_the_campaign_is_refused() {
    let release = Released::new(10, vec![1, 2, 3], 1.0);
    assert!(decode_campaign(&spec(2), 1, &release).is_err());
}

#[test]
fn days_add_up_counts_reports_and_noise() {
    let day = Released::new(10, vec![4, 6], 1.0);
    let sum = Released::sum([&day, &day]).unwrap();
    assert_eq!(sum.counts, vec![8, 12]);
    assert_eq!(sum.n_reports, 20);
    assert!((sum.noise_variance - 2.0 * day.noise_variance).abs() < 1e-12);
    assert!(Released::sum([&day, &Released::new(1, vec![1], 1.0)]).is_none());
    assert!(Released::sum([]).is_none());
}
