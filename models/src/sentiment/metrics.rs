//! Held-out figures of a sentiment model: ROC-AUC (one-vs-rest, averaged over
//! classes when there are more than two), macro-F1 and accuracy.

use serde::Serialize;

use crate::classify::roc_auc;

/// The figures of one model on one set of texts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassMetrics {
    /// Two classes: the ROC-AUC of the positive probability. More: the mean
    /// over classes of each class's one-vs-rest ROC-AUC.
    pub roc_auc: f64,
    /// The mean over classes of each class's F1 of the most likely class.
    pub macro_f1: f64,
    /// The share of texts whose most likely class is right.
    pub accuracy: f64,
    /// Mean log-loss.
    pub log_loss: f64,
    /// Number of texts.
    pub n: usize,
}

/// The index of the largest probability (ties to the lower index).
pub fn most_likely(probabilities: &[f64]) -> usize {
    let mut best = 0;
    for (index, p) in probabilities.iter().enumerate() {
        if *p > probabilities[best] {
            best = index;
        }
    }
    best
}

/// Macro-F1 of predicted against true classes (a class never predicted nor
/// present counts F1 = 0, as scikit-learn's `zero_division=0`).
pub fn macro_f1(predicted: &[usize], truth: &[usize], n_classes: usize) -> f64 {
    let mut total = 0.0;
    for class in 0..n_classes {
        let mut true_positive = 0.0;
        let mut false_positive = 0.0;
        let mut false_negative = 0.0;
        for (p, t) in predicted.iter().zip(truth) {
            match (*p == class, *t == class) {
                (true, true) => true_positive += 1.0,
                (true, false) => false_positive += 1.0,
                (false, true) => false_negative += 1.0,
                (false, false) => {}
            }
        }
        let denominator = 2.0 * true_positive + false_positive + false_negative;
        if denominator > 0.0 {
            total += 2.0 * true_positive / denominator;
        }
    }
    total / n_classes as f64
}

/// All figures from per-text class probabilities and true classes.
pub fn class_metrics(
    probabilities: &[Vec<f64>],
    truth: &[usize],
    n_classes: usize,
) -> ClassMetrics {
    let predicted: Vec<usize> = probabilities.iter().map(|p| most_likely(p)).collect();
    let roc_auc = if n_classes == 2 {
        let scores: Vec<f64> = probabilities.iter().map(|p| p[1]).collect();
        let labels: Vec<u32> = truth.iter().map(|t| *t as u32).collect();
        roc_auc(&scores, &labels)
    } else {
        (0..n_classes)
            .map(|class| {
                let scores: Vec<f64> = probabilities.iter().map(|p| p[class]).collect();
                let labels: Vec<u32> = truth.iter().map(|t| u32::from(*t == class)).collect();
                roc_auc(&scores, &labels)
            })
            .sum::<f64>()
            / n_classes as f64
    };
    let correct = predicted.iter().zip(truth).filter(|(p, t)| p == t).count();
    let log_loss = probabilities
        .iter()
        .zip(truth)
        .map(|(p, t)| -p[*t].max(1e-15).ln())
        .sum::<f64>()
        / truth.len().max(1) as f64;
    ClassMetrics {
        roc_auc,
        macro_f1: macro_f1(&predicted, truth, n_classes),
        accuracy: correct as f64 / truth.len().max(1) as f64,
        log_loss,
        n: truth.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_matches_a_hand_computed_value() {
        // Class 0: tp 1, fp 1, fn 1 → F1 ½. Class 1: tp 2, fp 1, fn 1 → F1 ⅔.
        let f1 = macro_f1(&[0, 0, 1, 1, 1], &[0, 1, 1, 1, 0], 2);
        assert!((f1 - (0.5 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(macro_f1(&[0, 0], &[0, 0], 3), 1.0 / 3.0);
    }

    #[test]
    fn perfect_and_reversed_probabilities() {
        let perfect = class_metrics(&[vec![0.9, 0.1], vec![0.2, 0.8]], &[0, 1], 2);
        assert_eq!(
            (perfect.roc_auc, perfect.macro_f1, perfect.accuracy),
            (1.0, 1.0, 1.0)
        );
        let reversed = class_metrics(&[vec![0.1, 0.9], vec![0.8, 0.2]], &[0, 1], 2);
        assert_eq!((reversed.roc_auc, reversed.accuracy), (0.0, 0.0));
        let three = class_metrics(
            &[
                vec![0.7, 0.2, 0.1],
                vec![0.1, 0.7, 0.2],
                vec![0.1, 0.2, 0.7],
            ],
            &[0, 1, 2],
            3,
        );
        assert_eq!((three.roc_auc, three.macro_f1), (1.0, 1.0));
    }
}
