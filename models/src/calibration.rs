//! Calibration of the abandonment risk and the rescue threshold.
//!
//! The purchase-intent classifier ranks sessions well enough (ROC-AUC ≈ 0.7)
//! but its probabilities are those of its training months: on later sessions
//! they are off, and the rescue threshold `1 − base rate` sent an offer to
//! almost every cart. Two steps fix what a shopper sees:
//!
//! - **Platt scaling** ([`platt`]): P(purchase) is re-fitted as
//!   σ(a·z + b) on z, the classifier's logit, over a validation part of the
//!   held-out sessions. An affine map of the logit, it folds into the
//!   exported weights and intercept ([`fold`]), so the engine is unchanged.
//! - **The offer share** ([`RescueShare`], [`threshold_for_share`]): the
//!   rescue threshold is the risk above which at most the chosen share of
//!   the validation part's *carts* lies. A cart is a session with at least
//!   one product page: a basket needs a product seen. The share achieved is
//!   then measured on the test part.
//!
//! Quality is measured on the test part only: the Brier score, the expected
//! calibration error over ten equal-width risk bins ([`ReliabilityBin`]) and
//! the reliability table itself.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::classify::LinearClassifier;

/// The share of carts a rescue offer goes to, validated once: a finite
/// number strictly between 0 and 1. 0 would never offer (leave the rescue
/// campaign out instead); 1 would offer to every cart, and the risk would
/// decide nothing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RescueShare(f64);

/// The default share of carts offered a rescue: at most one in five.
pub const DEFAULT_RESCUE_SHARE: RescueShare = RescueShare(0.2);

/// Why a rescue share was refused, with the value given.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidRescueShare {
    /// The text given.
    pub given: String,
}

impl fmt::Display for InvalidRescueShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a share of carts: give a number strictly between 0 and 1 (0.2 offers \
             the rescue to the riskiest fifth of carts; to offer none, leave the rescue campaign \
             out)",
            self.given
        )
    }
}

impl std::error::Error for InvalidRescueShare {}

impl RescueShare {
    /// The share, if `value` is finite and strictly between 0 and 1.
    pub fn new(value: f64) -> Result<RescueShare, InvalidRescueShare> {
        if value.is_finite() && value > 0.0 && value < 1.0 {
            Ok(RescueShare(value))
        } else {
            Err(InvalidRescueShare {
                given: value.to_string(),
            })
        }
    }

    /// The share, in (0, 1).
    pub fn get(self) -> f64 {
        self.0
    }
}

impl FromStr for RescueShare {
    type Err = InvalidRescueShare;

    fn from_str(text: &str) -> Result<RescueShare, InvalidRescueShare> {
        let refused = || InvalidRescueShare {
            given: text.to_string(),
        };
        let value: f64 = text.trim().parse().map_err(|_| refused())?;
        RescueShare::new(value).map_err(|_| refused())
    }
}

/// Platt scaling: P(purchase) = σ(slope · z + offset) on the logit z.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Platt {
    /// The factor on the logit.
    pub slope: f64,
    /// The shift.
    pub offset: f64,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Fits [`Platt`] by maximum likelihood (Newton's method on the two
/// parameters) to logits `z` and 0/1 purchase labels. Both classes must be
/// present: with one, the likelihood has no maximum.
pub fn platt(z: &[f64], bought: &[u32]) -> anyhow::Result<Platt> {
    let n_bought = bought.iter().filter(|&&b| b == 1).count();
    anyhow::ensure!(
        n_bought > 0 && n_bought < bought.len(),
        "calibration needs sessions that bought and sessions that did not; the validation part has \
         {n_bought} buying sessions of {}",
        bought.len()
    );
    let (mut slope, mut offset) = (1.0f64, 0.0f64);
    for _ in 0..100 {
        // Gradient and Hessian of the log-likelihood.
        let (mut g_slope, mut g_offset) = (0.0, 0.0);
        let (mut h_ss, mut h_so, mut h_oo) = (0.0, 0.0, 0.0);
        for (&zi, &yi) in z.iter().zip(bought) {
            let p = sigmoid(slope * zi + offset);
            let residual = f64::from(yi) - p;
            let w = p * (1.0 - p);
            g_slope += residual * zi;
            g_offset += residual;
            h_ss += w * zi * zi;
            h_so += w * zi;
            h_oo += w;
        }
        let det = h_ss * h_oo - h_so * h_so;
        if det.abs() < 1e-12 {
            break;
        }
        let step_slope = (h_oo * g_slope - h_so * g_offset) / det;
        let step_offset = (h_ss * g_offset - h_so * g_slope) / det;
        slope += step_slope;
        offset += step_offset;
        if step_slope.abs() < 1e-10 && step_offset.abs() < 1e-10 {
            break;
        }
    }
    anyhow::ensure!(
        slope.is_finite() && offset.is_finite(),
        "calibration did not converge"
    );
    Ok(Platt { slope, offset })
}

/// The classifier whose probability is `platt` applied to `classifier`'s:
/// σ(s·(c + Σ w·x̂) + o) = σ((s·c + o) + Σ (s·w)·x̂).
pub fn fold(classifier: &LinearClassifier, platt: Platt) -> LinearClassifier {
    LinearClassifier {
        weights: classifier.weights.iter().map(|w| w * platt.slope).collect(),
        intercept: classifier.intercept * platt.slope + platt.offset,
        ..classifier.clone()
    }
}

/// The classifier's logit for one row.
pub fn logit(classifier: &LinearClassifier, row: &[f64]) -> f64 {
    let p = classifier.probability(row).clamp(1e-15, 1.0 - 1e-15);
    (p / (1.0 - p)).ln()
}

/// One bin of the reliability table: sessions whose predicted risk lies in
/// `[low, high)` (the last bin includes 1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReliabilityBin {
    /// Lower edge of predicted risk.
    pub low: f64,
    /// Upper edge.
    pub high: f64,
    /// Sessions in the bin.
    pub n: usize,
    /// Their mean predicted risk.
    pub mean_risk: f64,
    /// The share of them that did not buy.
    pub abandoned: f64,
}

/// Bins of the reliability table and the figures of calibration.
pub const N_BINS: usize = 10;

/// Calibration quality of predicted risks against what happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationQuality {
    /// Mean of (risk − abandoned)², abandoned ∈ {0, 1}.
    pub brier: f64,
    /// Expected calibration error: Σ over [`N_BINS`] equal-width bins of
    /// (sessions in the bin / all) × |mean risk − abandonment rate|.
    pub ece: f64,
    /// The bins with sessions in them.
    pub bins: Vec<ReliabilityBin>,
}

impl CalibrationQuality {
    /// The quality of `risks` against `bought` (a session that bought did
    /// not abandon).
    pub fn of(risks: &[f64], bought: &[u32]) -> CalibrationQuality {
        let n = risks.len().max(1) as f64;
        let abandoned = |b: u32| f64::from(u8::from(b == 0));
        let brier = risks
            .iter()
            .zip(bought)
            .map(|(r, &b)| (r - abandoned(b)).powi(2))
            .sum::<f64>()
            / n;
        let mut sums = [(0usize, 0.0f64, 0.0f64); N_BINS];
        for (&r, &b) in risks.iter().zip(bought) {
            let bin = ((r * N_BINS as f64) as usize).min(N_BINS - 1);
            sums[bin].0 += 1;
            sums[bin].1 += r;
            sums[bin].2 += abandoned(b);
        }
        let mut ece = 0.0;
        let mut bins = Vec::new();
        for (k, &(count, risk_sum, abandoned_sum)) in sums.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let (mean_risk, rate) = (risk_sum / count as f64, abandoned_sum / count as f64);
            ece += count as f64 / n * (mean_risk - rate).abs();
            bins.push(ReliabilityBin {
                low: k as f64 / N_BINS as f64,
                high: (k + 1) as f64 / N_BINS as f64,
                n: count,
                mean_risk,
                abandoned: rate,
            });
        }
        CalibrationQuality { brier, ece, bins }
    }
}

/// The least threshold t (rounded up to four decimals, as the bundle keeps
/// it) such that at most `share` of `risks` are ≥ t: the engine offers a
/// rescue when risk ≥ threshold. With fewer carts than one per share, no
/// cart is offered (t above every risk, at most 1).
pub fn threshold_for_share(risks: &[f64], share: RescueShare) -> f64 {
    let mut sorted: Vec<f64> = risks.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let allowed = (share.get() * sorted.len() as f64).floor() as usize;
    // The highest risk that must not be offered; t is just above it.
    let Some(&first_refused) = sorted.get(allowed) else {
        // No carts: no evidence that any deserves an offer.
        return 1.0;
    };
    let up = |x: f64| ((x * 10_000.0).floor() + 1.0) / 10_000.0;
    up(first_refused).min(1.0)
}

/// The share of `risks` at or above `threshold`.
pub fn share_at_or_above(risks: &[f64], threshold: f64) -> f64 {
    risks.iter().filter(|&&r| r >= threshold).count() as f64 / risks.len().max(1) as f64
}

/// The reliability plot: mean predicted risk against observed abandonment
/// per bin, before and after calibration, with the diagonal; each point's
/// area grows with its sessions.
pub fn reliability_svg(before: &CalibrationQuality, after: &CalibrationQuality) -> String {
    use std::fmt::Write as _;
    let (size, margin) = (360.0, 44.0);
    let plot = size - 2.0 * margin;
    let x = |v: f64| margin + v * plot;
    let y = |v: f64| size - margin - v * plot;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{size}\" height=\"{size}\" \
         viewBox=\"0 0 {size} {size}\" font-family=\"sans-serif\" font-size=\"11\" role=\"img\" \
         aria-label=\"Reliability of the abandonment risk on the test sessions\">\n\
         <rect width=\"{size}\" height=\"{size}\" fill=\"white\"/>\n"
    );
    let _ = writeln!(
        svg,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>",
        x(0.0),
        y(0.0),
        x(1.0),
        y(1.0)
    );
    let _ = writeln!(
        svg,
        "<rect x=\"{margin}\" y=\"{margin}\" width=\"{plot}\" height=\"{plot}\" fill=\"none\" stroke=\"#333\"/>"
    );
    for tick in 0..=5 {
        let v = tick as f64 / 5.0;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{v:.1}</text>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{v:.1}</text>",
            x(v),
            size - margin + 14.0,
            margin - 4.0,
            y(v) + 4.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">predicted risk (bin mean)</text>\
         <text x=\"12\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 12 {})\">observed abandonment</text>",
        size / 2.0,
        size - 8.0,
        size / 2.0,
        size / 2.0
    );
    let total: usize = after.bins.iter().map(|b| b.n).sum::<usize>().max(1);
    for (quality, colour, name) in [(before, "#b0b0b0", "before"), (after, "#1f5fbf", "after")] {
        let points: Vec<String> = quality
            .bins
            .iter()
            .map(|b| format!("{:.1},{:.1}", x(b.mean_risk), y(b.abandoned)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"/>",
            points.join(" ")
        );
        for b in &quality.bins {
            let radius = 2.0 + 10.0 * (b.n as f64 / total as f64).sqrt();
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{radius:.1}\" fill=\"{colour}\" fill-opacity=\"0.6\">\
                 <title>{name}: {} sessions, mean risk {:.3}, abandoned {:.3}</title></circle>",
                x(b.mean_risk),
                y(b.abandoned),
                b.n,
                b.mean_risk,
                b.abandoned
            );
        }
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" fill=\"#b0b0b0\">● before (ECE {:.3})</text>\
         <text x=\"{}\" y=\"{}\" fill=\"#1f5fbf\">● after Platt scaling (ECE {:.3})</text>",
        margin + 6.0,
        margin + 14.0,
        before.ece,
        margin + 6.0,
        margin + 28.0,
        after.ece
    );
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescue_shares_outside_zero_to_one_are_refused() {
        for text in ["0", "1", "1.5", "-0.1", "NaN", "inf", "", "a fifth"] {
            let err = text.parse::<RescueShare>().unwrap_err();
            assert_eq!(err.given, text);
            assert!(
                err.to_string().contains("strictly between 0 and 1"),
                "{err}"
            );
        }
        assert_eq!("0.2".parse::<RescueShare>().unwrap(), DEFAULT_RESCUE_SHARE);
        assert_eq!(" 0.05 ".parse::<RescueShare>().unwrap().get(), 0.05);
    }

    #[test]
    fn the_threshold_offers_at_most_the_share() {
        let risks: Vec<f64> = (0..100).map(|i| i as f64 / 100.0).collect();
        let share = RescueShare::new(0.2).unwrap();
        let t = threshold_for_share(&risks, share);
        assert!(share_at_or_above(&risks, t) <= 0.2);
        assert!((share_at_or_above(&risks, t) - 0.2).abs() < 1e-12, "{t}");
        // Ties at the cut are all refused rather than pushing past the share.
        let tied = [0.9, 0.9, 0.9, 0.5, 0.4];
        let t = threshold_for_share(&tied, share);
        assert_eq!(share_at_or_above(&tied, t), 0.0, "{t}");
        // Too few carts for one offer: none.
        assert_eq!(
            share_at_or_above(&[0.99, 0.98], threshold_for_share(&[0.99, 0.98], share)),
            0.0
        );
        // A risk of exactly 1 is never above the cap of 1, but nothing
        // else is offered either.
        assert!(threshold_for_share(&[1.0; 10], share) <= 1.0);
    }

    #[test]
    fn platt_recovers_a_planted_scaling_and_folds_into_the_weights() {
        // Logits z; the truth is σ(0.5·z − 1).
        let mut rng = crate::random::SplitMix64::new(3);
        let (mut z, mut y) = (Vec::new(), Vec::new());
        for _ in 0..20_000 {
            let zi = rng.next_f32() as f64 * 8.0 - 4.0;
            z.push(zi);
            y.push(u32::from((rng.next_f32() as f64) < sigmoid(0.5 * zi - 1.0)));
        }
        let fitted = platt(&z, &y).unwrap();
        assert!((fitted.slope - 0.5).abs() < 0.05, "{fitted:?}");
        assert!((fitted.offset + 1.0).abs() < 0.1, "{fitted:?}");
        let classifier = LinearClassifier {
            feature_names: vec!["a".into()],
            means: vec![1.0],
            stds: vec![2.0],
            weights: vec![0.7],
            intercept: -0.3,
        };
        let folded = fold(&classifier, fitted);
        for x in [-3.0, 0.0, 5.0] {
            let direct = sigmoid(fitted.slope * logit(&classifier, &[x]) + fitted.offset);
            assert!((folded.probability(&[x]) - direct).abs() < 1e-9);
        }
        // One class only: no fit.
        assert!(platt(&[0.1, 0.2], &[1, 1]).is_err());
    }

    #[test]
    fn reliability_bins_and_scores_match_hand_computed_values() {
        // Risks 0.05 (abandoned), 0.15 twice (one bought), 0.95 (bought).
        let q = CalibrationQuality::of(&[0.05, 0.15, 0.15, 0.95], &[0, 0, 1, 1]);
        assert_eq!(q.bins.len(), 3);
        assert_eq!((q.bins[1].n, q.bins[1].abandoned), (2, 0.5));
        let brier =
            ((0.05f64 - 1.0).powi(2) + (0.15f64 - 1.0).powi(2) + 0.15f64.powi(2) + 0.95f64.powi(2))
                / 4.0;
        assert!((q.brier - brier).abs() < 1e-12);
        let ece = (0.95 + 2.0 * 0.35 + 0.95) / 4.0;
        assert!((q.ece - ece).abs() < 1e-12, "{}", q.ece);
    }
}
