//! Folding a shopper into the factor space from their history, the way the
//! device does it: with the item factors Y, the Gram matrix G = YᵀY and the
//! training's λ and confidence mapping, solve
//! (G + λI + Σ_i (c_i − 1) y_i y_iᵀ) x = Σ_i c_i y_i exactly (Cholesky).
//!
//! This is the ALS user step, so a fold-in of a training user's own history
//! equals their trained factor up to the CG tolerance. The evaluation scores
//! every test user through this function, never through trained user factors,
//! so the reported metrics are what on-device scoring gets.
//!
//! The code is plain Rust over slices, with no dependency, so it can move into
//! the engine unchanged; once the engine ships its own fold-in, the trainer's
//! evaluation should call that one instead of this module ([`FoldIn`] is the one
//! place to switch).

use serde::{Deserialize, Serialize};

use crate::als::Confidence;

/// What the device needs besides the factors to fold a shopper in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FoldIn {
    /// The training's λ.
    pub regularization: f32,
    /// The training's confidence mapping.
    pub confidence: Confidence,
}

impl FoldIn {
    /// The user vector for a history of `(item index, strength)` pairs.
    /// An empty history gives the zero vector.
    ///
    /// `item_factors` is row-major n_items × `dim`; `gram` is row-major d × d.
    pub fn user_vector(
        &self,
        history: &[(u32, f32)],
        item_factors: &[f32],
        gram: &[f32],
        dim: usize,
    ) -> Vec<f32> {
        let d = dim;
        let mut a: Vec<f64> = gram.iter().map(|&g| g as f64).collect();
        for k in 0..d {
            a[k * d + k] += self.regularization as f64;
        }
        let mut b = vec![0.0f64; d];
        for &(item, strength) in history {
            let y = &item_factors[item as usize * d..(item as usize + 1) * d];
            let c = self.confidence.of(strength) as f64;
            for r in 0..d {
                let yr = y[r] as f64;
                b[r] += c * yr;
                let scaled = (c - 1.0) * yr;
                for (col, &yc) in y.iter().enumerate() {
                    a[r * d + col] += scaled * yc as f64;
                }
            }
        }
        cholesky_solve(&mut a, &mut b, d);
        b.into_iter().map(|v| v as f32).collect()
    }
}

/// Solves A x = b in place for a symmetric positive definite A (row-major,
/// overwritten by its Cholesky factor); the answer replaces b.
///
/// A is G + λI plus positive semidefinite terms, so it is positive definite
/// whenever λ > 0; a non-positive pivot can only come from rounding and is
/// clamped to a tiny positive value.
fn cholesky_solve(a: &mut [f64], b: &mut [f64], d: usize) {
    for j in 0..d {
        let mut diag = a[j * d + j];
        for k in 0..j {
            diag -= a[j * d + k] * a[j * d + k];
        }
        let diag = diag.max(1e-12).sqrt();
        a[j * d + j] = diag;
        for i in j + 1..d {
            let mut v = a[i * d + j];
            for k in 0..j {
                v -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = v / diag;
        }
    }
    // L z = b
    for i in 0..d {
        let mut v = b[i];
        for k in 0..i {
            v -= a[i * d + k] * b[k];
        }
        b[i] = v / a[i * d + i];
    }
    // Lᵀ x = z
    for i in (0..d).rev() {
        let mut v = b[i];
        for k in i + 1..d {
            v -= a[k * d + i] * b[k];
        }
        b[i] = v / a[i * d + i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::als::{gram, SplitMix64};

    #[test]
    fn matches_nalgebra_on_a_random_problem() {
        let (n_items, d) = (30, 5);
        let mut rng = SplitMix64::new(3);
        let y: Vec<f32> = (0..n_items * d).map(|_| rng.next_f32() - 0.5).collect();
        let g = gram(&y, d);
        let fold = FoldIn {
            regularization: 0.5,
            confidence: Confidence {
                base: 1.0,
                alpha: 4.0,
                epsilon: 1.0,
            },
        };
        let history = [(2u32, 1.0f32), (7, 3.0), (19, 10.0)];
        let got = fold.user_vector(&history, &y, &g, d);

        let y_m = nalgebra::DMatrix::<f64>::from_fn(n_items, d, |i, k| y[i * d + k] as f64);
        let mut c = nalgebra::DVector::<f64>::from_element(n_items, 1.0);
        let mut p = nalgebra::DVector::<f64>::zeros(n_items);
        for &(item, strength) in &history {
            c[item as usize] = fold.confidence.of(strength) as f64;
            p[item as usize] = 1.0;
        }
        let cy = nalgebra::DMatrix::<f64>::from_fn(n_items, d, |i, k| c[i] * y_m[(i, k)]);
        let a = y_m.transpose() * &cy + nalgebra::DMatrix::<f64>::identity(d, d) * 0.5;
        let b = cy.transpose() * p;
        let want = a.cholesky().unwrap().solve(&b);
        for k in 0..d {
            assert!((got[k] as f64 - want[k]).abs() < 1e-4, "{got:?} vs {want}");
        }
    }

    #[test]
    fn empty_history_is_the_zero_vector() {
        let y = [1.0f32, 0.0, 0.0, 1.0];
        let fold = FoldIn {
            regularization: 1.0,
            confidence: Confidence {
                base: 1.0,
                alpha: 1.0,
                epsilon: 1.0,
            },
        };
        assert_eq!(fold.user_vector(&[], &y, &gram(&y, 2), 2), vec![0.0, 0.0]);
    }
}
