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

/// A discrete Laplace draw of any scale, by inverting two geometric CDFs (the
/// loop above would take a scale's worth of steps).
fn discrete_laplace_of_scale(rng: &mut ChaCha20Rng, scale: f64) -> i64 {
    let log_a = -1.0 / scale;
    let mut geometric = || (uniform(rng).max(f64::MIN_POSITIVE).ln() / log_a).floor() as i64;
    geometric() - geometric()
}

#[test]
fn the_noise_variance_of_a_sum_matches_its_scale() {
    let task = Task::sum_vec("demo", "visit.revenue", 2, 16, 500.0, 0.5, 50).unwrap();
    let scale = task.sensitivity() / task.epsilon;
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let draws: Vec<f64> = (0..200_000)
        .map(|_| discrete_laplace_of_scale(&mut rng, scale) as f64)
        .collect();
    let variance = draws.iter().map(|d| d * d).sum::<f64>() / draws.len() as f64;
    let stated = Released::of_task(&task, 0, vec![0, 0]).noise_variance;
    assert!(
        (variance / stated - 1.0).abs() < 0.03,
        "{variance} vs {stated}"
    );
    // 2a/(1−a)² ≈ 2·scale² at this scale.
    assert!((stated / (2.0 * scale * scale) - 1.0).abs() < 1e-4);
}

/// 300 seeded shops at 2,000–5,000 devices: conversion 5–30%, baskets from
/// a fixed list (one above the cap, so clipping matters), the release's
/// noise at ε = 0.5 scaled to the cap. The interval of revenue per device
/// must cover the population's mean (of clipped values) 93–98% of the time,
/// and stay inside [0, cap].
#[test]
fn revenue_per_device_intervals_cover_the_population_mean() {
    const BITS: u32 = 16;
    const CAP: f64 = 500.0;
    let baskets = [12.5, 40.0, 85.0, 160.0, 320.0, 750.0];
    let clipped_mean = baskets.iter().map(|&b| f64::min(b, CAP)).sum::<f64>() / 6.0;
    let task = Task::sum_vec("demo", "visit.revenue", 2, BITS, CAP, 0.5, 50).unwrap();
    let scale = task.sensitivity() / task.epsilon;
    let mut rng = ChaCha20Rng::seed_from_u64(2027);
    let (mut covered, rounds) = (0, 300);
    for _ in 0..rounds {
        let p = 0.05 + 0.25 * uniform(&mut rng);
        let n = 2_000 + u64::from(rng.next_u32() % 3_001);
        let (mut sum, mut squares) = (0i64, 0i64);
        for _ in 0..n {
            if uniform(&mut rng) < p {
                let basket = baskets[(rng.next_u32() % 6) as usize];
                let [x, x2] = crate::privacy::visit::revenue_units(basket, CAP, BITS).unwrap();
                sum += x as i64;
                squares += x2 as i64;
            }
        }
        let counts = vec![
            sum + discrete_laplace_of_scale(&mut rng, scale),
            squares + discrete_laplace_of_scale(&mut rng, scale),
        ];
        let outcome = decode_revenue(&Released::of_task(&task, n, counts), BITS, CAP).unwrap();
        let interval = outcome.per_device;
        assert!(interval.low >= 0.0 && interval.high <= CAP && interval.low <= interval.high);
        let truth = p * clipped_mean;
        covered += usize::from(interval.low <= truth && truth <= interval.high);
    }
    let coverage = covered as f64 / f64::from(rounds);
    assert!((0.93..=0.98).contains(&coverage), "coverage {coverage}");
}

#[test]
fn revenue_releases_of_another_shape_or_cap_are_refused() {
    let release = Released::new(10, vec![1, 2, 3], 1.0);
    assert!(decode_revenue(&release, 16, 500.0).is_err());
    let release = Released::new(10, vec![1, 2], 1.0);
    assert!(decode_revenue(&release, 16, f64::NAN).is_err());
    assert!(decode_revenue(&release, 16, -5.0).is_err());
    assert!(decode_revenue(&release, 0, 500.0).is_err());
    // Noise can take a sum below zero: the mean stays in [0, cap].
    let below = decode_revenue(&Released::new(10, vec![-40, -3], 1.0), 16, 500.0).unwrap();
    assert_eq!(below.per_device.estimate, 0.0);
    assert!(below.total.estimate >= 0.0);
}

#[test]
fn rates_per_segment_are_a_one_variant_campaign() {
    // Two segments: 30 of 100 and 5 of 50 converted.
    let release = Released::new(150, vec![70, 30, 45, 5], 1.0);
    let outcomes = decode_rates(2, &release).unwrap();
    assert_eq!(outcomes.len(), 3);
    assert_eq!(outcomes[0].segment, None);
    assert!((outcomes[0].rate.unwrap().estimate - 35.0 / 150.0).abs() < 1e-12);
    assert!((outcomes[1].rate.unwrap().estimate - 0.3).abs() < 1e-12);
    assert!((outcomes[2].rate.unwrap().estimate - 0.1).abs() < 1e-12);
    assert!(outcomes.iter().all(|o| o.uplift.is_none()));
    assert!(decode_rates(3, &release).is_err());
    assert!(decode_rates(0, &release).is_err());
}
