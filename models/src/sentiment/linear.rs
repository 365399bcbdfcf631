//! L2-regularised logistic (two classes) and softmax (more) regression on the
//! engine's sparse hashed features, fitted by L-BFGS.
//!
//! smartcore's logistic regression needs a dense matrix, which at 2^18 hashed
//! buckets per review does not fit; this is the plain, deterministic
//! full-batch alternative. The objective is the mean log-loss plus
//! `λ/2 · ‖W‖²` (intercepts are not penalised); it is convex, so L-BFGS with
//! a backtracking line search reaches the same optimum on every run.

use cove_engine::sentiment::{softmax, Features};

/// A fitted linear model: `rows × n_buckets` weights (row-major) and one
/// intercept per row. Row i is the log-odds of class i + 1 against class 0,
/// the engine's layout (so two classes are one logistic row).
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    /// Weight rows, row-major.
    pub weights: Vec<f64>,
    /// One intercept per row.
    pub bias: Vec<f64>,
    /// Buckets per row.
    pub n_buckets: usize,
    /// Number of classes.
    pub n_classes: usize,
}

/// How to fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitConfig {
    /// The L2 penalty λ on the weights.
    pub l2: f64,
    /// The most L-BFGS iterations.
    pub max_iterations: usize,
    /// Stop when the gradient's largest component falls below this.
    pub tolerance: f64,
    /// How many correction pairs L-BFGS keeps.
    pub memory: usize,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            l2: 1e-4,
            max_iterations: 300,
            tolerance: 1e-6,
            memory: 10,
        }
    }
}

/// Weight rows for a number of classes: class 0 is the reference.
fn rows_for(n_classes: usize) -> usize {
    n_classes - 1
}

impl LinearModel {
    /// The class probabilities of one feature vector.
    pub fn probabilities(&self, features: &Features) -> Vec<f64> {
        let logits = logits(&self.weights, &self.bias, self.n_buckets, features);
        softmax(&logits)
    }
}

fn logits(weights: &[f64], bias: &[f64], n_buckets: usize, features: &Features) -> Vec<f64> {
    let mut logits = vec![0.0];
    logits.extend(bias.iter().enumerate().map(|(row, b)| {
        let w = &weights[row * n_buckets..(row + 1) * n_buckets];
        b + features
            .indices
            .iter()
            .zip(&features.values)
            .map(|(i, v)| w[*i as usize] * v)
            .sum::<f64>()
    }));
    logits
}

/// The data are cut into this many chunks whose gradients are summed in
/// order, so the result does not depend on how many threads ran them.
const CHUNKS: usize = 8;

/// The summed log-loss of a chunk and its gradient (not yet divided by n).
fn chunk_loss(
    weights: &[f64],
    bias: &[f64],
    data: &[Features],
    labels: &[u8],
    n_buckets: usize,
    gradient: &mut [f64],
) -> f64 {
    let rows = bias.len();
    let (grad_weights, grad_bias) = gradient.split_at_mut(rows * n_buckets);
    let mut loss = 0.0;
    for (features, label) in data.iter().zip(labels) {
        let p = softmax(&logits(weights, bias, n_buckets, features));
        loss -= p[*label as usize].max(1e-300).ln();
        for row in 0..rows {
            let class = row + 1;
            let target = if *label as usize == class { 1.0 } else { 0.0 };
            let residual = p[class] - target;
            grad_bias[row] += residual;
            let g = &mut grad_weights[row * n_buckets..(row + 1) * n_buckets];
            for (i, v) in features.indices.iter().zip(&features.values) {
                g[*i as usize] += residual * v;
            }
        }
    }
    loss
}

/// The objective and its gradient at `theta` (weights, then intercepts).
fn objective(
    theta: &[f64],
    data: &[Features],
    labels: &[u8],
    n_classes: usize,
    n_buckets: usize,
    l2: f64,
    gradient: &mut [f64],
) -> f64 {
    let rows = rows_for(n_classes);
    let (weights, bias) = theta.split_at(rows * n_buckets);
    let chunk_len = data.len().div_ceil(CHUNKS).max(1);
    let partials: Vec<(f64, Vec<f64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = data
            .chunks(chunk_len)
            .zip(labels.chunks(chunk_len))
            .map(|(chunk, chunk_labels)| {
                scope.spawn(move || {
                    let mut partial = vec![0.0; theta.len()];
                    let loss =
                        chunk_loss(weights, bias, chunk, chunk_labels, n_buckets, &mut partial);
                    (loss, partial)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a gradient thread panicked"))
            .collect()
    });
    let n = data.len() as f64;
    gradient.iter_mut().for_each(|g| *g = 0.0);
    let mut loss = 0.0;
    for (chunk_loss, partial) in &partials {
        loss += chunk_loss;
        gradient.iter_mut().zip(partial).for_each(|(g, p)| *g += p);
    }
    gradient.iter_mut().for_each(|g| *g /= n);
    let mut penalty = 0.0;
    for (w, g) in weights.iter().zip(gradient.iter_mut()) {
        penalty += w * w;
        *g += l2 * w;
    }
    loss / n + 0.5 * l2 * penalty
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Fits the model on feature vectors and class labels (0-based, below
/// `n_classes`). Returns the model and the number of iterations run.
pub fn fit(
    data: &[Features],
    labels: &[u8],
    n_classes: usize,
    n_buckets: usize,
    config: FitConfig,
) -> (LinearModel, usize) {
    let rows = rows_for(n_classes);
    let dim = rows * n_buckets + rows;
    let eval = |theta: &[f64], gradient: &mut [f64]| {
        objective(
            theta, data, labels, n_classes, n_buckets, config.l2, gradient,
        )
    };
    let mut theta = vec![0.0; dim];
    let mut gradient = vec![0.0; dim];
    let mut value = eval(&theta, &mut gradient);
    let mut history: Vec<(Vec<f64>, Vec<f64>, f64)> = Vec::new();
    let mut iterations = 0;
    let mut next = vec![0.0; dim];
    let mut next_gradient = vec![0.0; dim];
    while iterations < config.max_iterations {
        let largest = gradient.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        if largest < config.tolerance {
            break;
        }
        iterations += 1;
        // Two-loop recursion: direction = −H·g.
        let mut direction: Vec<f64> = gradient.iter().map(|g| -g).collect();
        let mut alphas = Vec::with_capacity(history.len());
        for (s, y, rho) in history.iter().rev() {
            let alpha = rho * dot(s, &direction);
            direction
                .iter_mut()
                .zip(y)
                .for_each(|(d, yi)| *d -= alpha * yi);
            alphas.push(alpha);
        }
        let gamma = match history.last() {
            Some((s, y, _)) => dot(s, y) / dot(y, y),
            None => 1.0 / gradient.iter().map(|g| g * g).sum::<f64>().sqrt(),
        };
        direction.iter_mut().for_each(|d| *d *= gamma);
        for ((s, y, rho), alpha) in history.iter().zip(alphas.iter().rev()) {
            let beta = rho * dot(y, &direction);
            direction
                .iter_mut()
                .zip(s)
                .for_each(|(d, si)| *d += (alpha - beta) * si);
        }
        let mut slope = dot(&gradient, &direction);
        if slope >= 0.0 {
            // Not a descent direction: restart from steepest descent.
            history.clear();
            direction = gradient.iter().map(|g| -g).collect();
            slope = dot(&gradient, &direction);
        }
        // Backtracking line search (Armijo).
        let mut step = 1.0;
        let mut accepted = false;
        for _ in 0..40 {
            next.iter_mut()
                .zip(&theta)
                .zip(&direction)
                .for_each(|((n, t), d)| *n = t + step * d);
            let next_value = eval(&next, &mut next_gradient);
            if next_value <= value + 1e-4 * step * slope {
                let s: Vec<f64> = next.iter().zip(&theta).map(|(a, b)| a - b).collect();
                let y: Vec<f64> = next_gradient
                    .iter()
                    .zip(&gradient)
                    .map(|(a, b)| a - b)
                    .collect();
                let sy = dot(&s, &y);
                if sy > 1e-12 {
                    if history.len() == config.memory {
                        history.remove(0);
                    }
                    history.push((s, y, 1.0 / sy));
                }
                std::mem::swap(&mut theta, &mut next);
                std::mem::swap(&mut gradient, &mut next_gradient);
                let improvement = value - next_value;
                value = next_value;
                accepted = true;
                if improvement.abs() < 1e-12 * value.abs().max(1.0) {
                    iterations = config.max_iterations;
                }
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            break;
        }
    }
    let bias = theta.split_off(rows * n_buckets);
    (
        LinearModel {
            weights: theta,
            bias,
            n_buckets,
            n_classes,
        },
        iterations,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sparse(indices: &[u32]) -> Features {
        let value = 1.0 / (indices.len() as f64).sqrt();
        Features {
            indices: indices.to_vec(),
            values: vec![value; indices.len()],
            n_tokens: indices.len(),
            truncated: false,
        }
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let data = vec![sparse(&[0, 2]), sparse(&[1]), sparse(&[2, 3])];
        for (n_classes, labels) in [(2, vec![1u8, 0, 1]), (3, vec![2u8, 0, 1])] {
            let rows = rows_for(n_classes);
            let dim = rows * 4 + rows;
            let theta: Vec<f64> = (0..dim).map(|i| (i as f64 * 0.37).sin()).collect();
            let mut gradient = vec![0.0; dim];
            objective(&theta, &data, &labels, n_classes, 4, 0.1, &mut gradient);
            let mut scratch = vec![0.0; dim];
            for i in 0..dim {
                let (mut up, mut down) = (theta.clone(), theta.clone());
                up[i] += 1e-6;
                down[i] -= 1e-6;
                let numeric = (objective(&up, &data, &labels, n_classes, 4, 0.1, &mut scratch)
                    - objective(&down, &data, &labels, n_classes, 4, 0.1, &mut scratch))
                    / 2e-6;
                assert!((numeric - gradient[i]).abs() < 1e-6, "{n_classes}: {i}");
            }
        }
    }

    #[test]
    fn fitting_separates_separable_classes_and_reaches_a_stationary_point() {
        // Bucket 0 means class 0, bucket 1 class 1, bucket 2 class 2; 3 is noise.
        let data: Vec<Features> = (0..30).map(|i| sparse(&[i % 3, 3])).collect();
        let labels: Vec<u8> = (0..30).map(|i| (i % 3) as u8).collect();
        let config = FitConfig {
            l2: 1e-3,
            ..FitConfig::default()
        };
        let (model, iterations) = fit(&data, &labels, 3, 4, config);
        assert!(iterations > 0 && iterations < config.max_iterations);
        for (features, label) in data.iter().zip(&labels) {
            let p = model.probabilities(features);
            assert!(p[*label as usize] > 0.8, "{p:?}");
        }
        let binary_labels: Vec<u8> = labels.iter().map(|l| u8::from(*l == 2)).collect();
        let (binary, _) = fit(&data, &binary_labels, 2, 4, config);
        assert_eq!(binary.bias.len(), 1);
        assert!(binary.probabilities(&data[2])[1] > 0.8);
        assert!(binary.probabilities(&data[0])[1] < 0.2);
        // The same data give the same model.
        assert_eq!(fit(&data, &binary_labels, 2, 4, config).0, binary);
    }
}
