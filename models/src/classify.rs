//! A standardised logistic regression fitted with smartcore, exported as plain
//! weights the device can apply (z-score each feature, dot, sigmoid), and the
//! ranking metrics used to judge it.

use anyhow::Context;
use serde::Serialize;
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};

/// A binary classifier as the device applies it:
/// p = σ(intercept + Σ_j w_j (x_j − mean_j) / std_j).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinearClassifier {
    /// Feature names, in order.
    pub feature_names: Vec<String>,
    /// Per-feature mean used for standardisation.
    pub means: Vec<f64>,
    /// Per-feature standard deviation (1 where a feature is constant).
    pub stds: Vec<f64>,
    /// Weights on the standardised features.
    pub weights: Vec<f64>,
    /// The intercept.
    pub intercept: f64,
}

impl LinearClassifier {
    /// Fits on rows `x` (raw features) and 0/1 labels with L2 penalty `alpha`.
    pub fn fit(
        feature_names: &[&str],
        x: &[Vec<f64>],
        labels: &[u32],
        alpha: f64,
    ) -> anyhow::Result<Self> {
        let n_features = feature_names.len();
        anyhow::ensure!(!x.is_empty(), "no rows to fit a classifier on");
        let n = x.len() as f64;
        let means: Vec<f64> = (0..n_features)
            .map(|j| x.iter().map(|row| row[j]).sum::<f64>() / n)
            .collect();
        let stds: Vec<f64> = (0..n_features)
            .map(|j| {
                let var = x.iter().map(|row| (row[j] - means[j]).powi(2)).sum::<f64>() / n;
                if var > 1e-12 {
                    var.sqrt()
                } else {
                    1.0
                }
            })
            .collect();
        let standardised: Vec<Vec<f64>> = x
            .iter()
            .map(|row| {
                (0..n_features)
                    .map(|j| (row[j] - means[j]) / stds[j])
                    .collect()
            })
            .collect();
        let matrix = DenseMatrix::from_2d_vec(&standardised).context("building the matrix")?;
        let y: Vec<u32> = labels.to_vec();
        let model = LogisticRegression::fit(
            &matrix,
            &y,
            LogisticRegressionParameters::default().with_alpha(alpha),
        )
        .map_err(|e| anyhow::anyhow!("logistic regression failed: {e}"))?;
        let weights = (0..n_features)
            .map(|j| *model.coefficients().get((0, j)))
            .collect();
        let intercept = *model.intercept().get((0, 0));
        Ok(LinearClassifier {
            feature_names: feature_names.iter().map(|s| s.to_string()).collect(),
            means,
            stds,
            weights,
            intercept,
        })
    }

    /// The probability of the positive class for one row of raw features.
    pub fn probability(&self, row: &[f64]) -> f64 {
        let z: f64 = self.intercept
            + row
                .iter()
                .zip(&self.means)
                .zip(&self.stds)
                .zip(&self.weights)
                .map(|(((x, m), s), w)| w * (x - m) / s)
                .sum::<f64>();
        1.0 / (1.0 + (-z).exp())
    }
}

/// ROC-AUC: the probability that a random positive outscores a random
/// negative, ties counting one half (Mann–Whitney with mid-ranks).
pub fn roc_auc(scores: &[f64], labels: &[u32]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum_pos = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && scores[order[end + 1]] == scores[order[start]] {
            end += 1;
        }
        let mid_rank = (start + end) as f64 / 2.0 + 1.0;
        for &idx in &order[start..=end] {
            if labels[idx] == 1 {
                rank_sum_pos += mid_rank;
            }
        }
        start = end + 1;
    }
    let n_pos = labels.iter().filter(|&&l| l == 1).count() as f64;
    let n_neg = labels.len() as f64 - n_pos;
    (rank_sum_pos - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// PR-AUC as average precision: the mean, over positives, of the precision
/// at each positive's rank (scores descending; ties broken by input order).
pub fn average_precision(scores: &[f64], labels: &[u32]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut hits = 0.0;
    let mut sum = 0.0;
    for (rank, &idx) in order.iter().enumerate() {
        if labels[idx] == 1 {
            hits += 1.0;
            sum += hits / (rank + 1) as f64;
        }
    }
    if hits == 0.0 {
        0.0
    } else {
        sum / hits
    }
}

/// Held-out quality of a binary classifier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassifierQuality {
    /// Rows scored.
    pub n_rows: usize,
    /// Share of positives.
    pub positive_rate: f64,
    /// ROC-AUC.
    pub roc_auc: f64,
    /// PR-AUC (average precision); a random ranking scores the positive rate.
    pub pr_auc: f64,
}

impl ClassifierQuality {
    /// Scores `scores` against `labels`.
    pub fn of(scores: &[f64], labels: &[u32]) -> Self {
        ClassifierQuality {
            n_rows: labels.len(),
            positive_rate: labels.iter().filter(|&&l| l == 1).count() as f64
                / labels.len().max(1) as f64,
            roc_auc: roc_auc(scores, labels),
            pr_auc: average_precision(scores, labels),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_and_average_precision_match_hand_computed_values() {
        // Positives at scores 0.9 and 0.4; negatives 0.8, 0.4, 0.1.
        let scores = [0.9, 0.8, 0.4, 0.4, 0.1];
        let labels = [1, 0, 1, 0, 0];
        // Pairs: (0.9 beats all 3) + (0.4: beats 0.1, ties 0.4, loses to 0.8) = 3 + 1.5.
        assert!((roc_auc(&scores, &labels) - 4.5 / 6.0).abs() < 1e-12);
        // Ranks: 1 (pos), 2, 3 (pos, first of the tie by input order): (1 + 2/3) / 2.
        assert!((average_precision(&scores, &labels) - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn logistic_regression_separates_a_planted_rule() {
        let mut x = Vec::new();
        let mut y = Vec::new();
        let mut rng = crate::random::SplitMix64::new(5);
        for _ in 0..300 {
            let a = rng.next_f32() as f64 * 10.0;
            let b = rng.next_f32() as f64;
            x.push(vec![a, b]);
            y.push(u32::from(a + 2.0 * b > 6.0));
        }
        let model = LinearClassifier::fit(&["a", "b"], &x, &y, 0.0).unwrap();
        let scores: Vec<f64> = x.iter().map(|row| model.probability(row)).collect();
        assert!(roc_auc(&scores, &y) > 0.97);
        assert!(model.weights[0] > 0.0 && model.weights[1] > 0.0);
    }
}
