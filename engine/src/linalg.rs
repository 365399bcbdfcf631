//! Small dense linear algebra for the fold-in: Cholesky factorisation and
//! triangular solves of a d × d symmetric positive definite matrix, d ≤ 256.
//!
//! Hand-written rather than a crate: the engine needs these three loops and
//! nothing else, and every dependency adds bytes to the `.wasm`. Matrices are
//! row-major `f64` slices; the summation order is fixed by this code, so native
//! and wasm32 builds give the same bits.

use crate::Error;

/// Factorises the symmetric positive definite `a` (row-major, `dim × dim`; only
/// the lower triangle is read) in place into its lower Cholesky factor L with
/// `a = L·Lᵀ`. The strict upper triangle is left as it was.
///
/// Returns the index of the first pivot that was not positive (the matrix is
/// not positive definite, or not finite) as the error.
///
/// The right-looking (outer-product) order is used: after each pivot the
/// trailing rows get an independent `axpy` each, which vectorises, instead of
/// the left-looking order's chain of short dot products and divisions. On
/// x86-64 CPUs with AVX2 the same code is also compiled with AVX2 and chosen
/// at run time; no operation is fused or reordered, so the bits are the same.
pub(crate) fn cholesky_in_place(a: &mut [f64], dim: usize) -> Result<(), usize> {
    debug_assert_eq!(a.len(), dim * dim);
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { cholesky_avx2(a, dim) };
        }
    }
    cholesky_portable(a, dim)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn cholesky_avx2(a: &mut [f64], dim: usize) -> Result<(), usize> {
    cholesky_portable(a, dim)
}

#[inline(always)]
fn cholesky_portable(a: &mut [f64], dim: usize) -> Result<(), usize> {
    let mut column = vec![0.0f64; dim];
    for k in 0..dim {
        let pivot = a[k * dim + k];
        if !(pivot > 0.0 && pivot.is_finite()) {
            return Err(k);
        }
        let diagonal = pivot.sqrt();
        a[k * dim + k] = diagonal;
        let inverse = 1.0 / diagonal;
        for i in k + 1..dim {
            a[i * dim + k] *= inverse;
            column[i] = a[i * dim + k];
        }
        for i in k + 1..dim {
            // x − l·y is x + (−l)·y, bit for bit.
            axpy(
                &mut a[i * dim + k + 1..i * dim + i + 1],
                -column[i],
                &column[k + 1..=i],
            );
        }
    }
    Ok(())
}

#[inline(always)]
/// Solves `L·Lᵀ·x = b` in place (b becomes x), with L from
/// [`cholesky_in_place`].
pub(crate) fn cholesky_solve(l: &[f64], dim: usize, b: &mut [f64]) {
    debug_assert_eq!(l.len(), dim * dim);
    debug_assert_eq!(b.len(), dim);
    // Forward: L·y = b.
    for row in 0..dim {
        let l_row = &l[row * dim..row * dim + row];
        let sum = dot_f64(l_row, &b[..row]);
        b[row] = (b[row] - sum) / l[row * dim + row];
    }
    // Backward: Lᵀ·x = y, walking columns of L.
    for row in (0..dim).rev() {
        let mut sum = 0.0;
        for below in row + 1..dim {
            sum += l[below * dim + row] * b[below];
        }
        b[row] = (b[row] - sum) / l[row * dim + row];
    }
}

#[inline(always)]
/// `out = A·x` for a symmetric `A` (row-major, `dim × dim`), computed as a
/// sum of rows scaled by `x` (independent `axpy`s, which vectorise).
pub(crate) fn symmetric_matvec(a: &[f64], dim: usize, x: &[f64], out: &mut [f64]) {
    out.iter_mut().for_each(|o| *o = 0.0);
    for (row, xk) in a.chunks_exact(dim).zip(x) {
        axpy(out, *xk, row);
    }
}

/// `out[i] += a · x[i]` over the shorter length: a multiplication then an
/// addition per element, never fused. With WebAssembly SIMD128, two elements
/// per step (the wasm build is optimised for size, so the compiler does not
/// vectorise this loop itself); each lane does the same two operations, so
/// the bits are those of the scalar loop.
#[inline(always)]
pub(crate) fn axpy(out: &mut [f64], a: f64, x: &[f64]) {
    let n = out.len().min(x.len());
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let done = {
        use core::arch::wasm32::{f64x2_add, f64x2_mul, f64x2_splat, v128, v128_load, v128_store};
        let a2 = f64x2_splat(a);
        let pairs = n / 2;
        for pair in 0..pairs {
            // SAFETY: 2·pair + 2 <= n, within both slices; no alignment needed.
            unsafe {
                let o = out.as_mut_ptr().add(2 * pair) as *mut v128;
                let y = v128_load(x.as_ptr().add(2 * pair) as *const v128);
                v128_store(o, f64x2_add(v128_load(o), f64x2_mul(a2, y)));
            }
        }
        pairs * 2
    };
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let done = 0;
    for i in done..n {
        out[i] += a * x[i];
    }
}

/// Dot product in a fixed summation order.
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    dot_f64(a, b)
}

/// The inverse of a symmetric positive definite matrix, column by column
/// from its Cholesky factor; `Err` holds the first bad pivot.
pub(crate) fn inverse_spd(a: &[f64], dim: usize) -> Result<Vec<f64>, usize> {
    let mut factor = a.to_vec();
    cholesky_in_place(&mut factor, dim)?;
    let mut inverse = vec![0.0f64; dim * dim];
    for (col, out) in inverse.chunks_exact_mut(dim.max(1)).enumerate().take(dim) {
        out[col] = 1.0;
        cholesky_solve(&factor, dim, out);
    }
    Ok(inverse)
}

/// A ridge-regularised Gram matrix YᵀY + λI and its inverse, in f64 (d × d,
/// row-major): what the fold-in solves with. Plain matrices, prepared once
/// per set of factors; preparing them proves YᵀY + λI positive definite.
#[derive(Debug, Clone)]
pub(crate) struct RidgeGram {
    /// d.
    pub(crate) dim: usize,
    /// YᵀY + λI.
    pub(crate) gram_ridge: Vec<f64>,
    /// (YᵀY + λI)⁻¹.
    pub(crate) inverse: Vec<f64>,
}

impl RidgeGram {
    /// YᵀY + λI of the Gram matrix `gram` (YᵀY in f32, d × d row-major,
    /// symmetric) and `lambda`, and its inverse. Refuses a matrix that is not
    /// positive definite, naming the first bad pivot's entry of `gram`.
    pub(crate) fn new(gram: &[f32], dim: usize, lambda: f64) -> Result<RidgeGram, Error> {
        debug_assert_eq!(gram.len(), dim * dim);
        let mut gram_ridge: Vec<f64> = gram.iter().map(|g| *g as f64).collect();
        for i in 0..dim {
            gram_ridge[i * dim + i] += lambda;
        }
        let inverse = inverse_spd(&gram_ridge, dim).map_err(|pivot| Error::InvalidTensorValue {
            name: "gram".into(),
            index: pivot * dim + pivot,
            reason: "makes YᵀY + λI not positive definite",
        })?;
        Ok(RidgeGram {
            dim,
            gram_ridge,
            inverse,
        })
    }
}

/// Dot product with eight accumulators (a fixed summation order). Eight, not
/// two, so that four independent vector additions are in flight: with fewer,
/// the sum waits on the latency of each addition.
#[inline]
fn dot_f64(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let a_chunks = a.chunks_exact(8);
    let b_chunks = b.chunks_exact(8);
    let tail: f64 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        // The eight accumulators as four f64x2 vectors, lane for lane the
        // same multiplications and additions in the same order.
        use core::arch::wasm32::{
            f64x2_add, f64x2_extract_lane, f64x2_mul, f64x2_splat, v128, v128_load,
        };
        let mut vectors = [f64x2_splat(0.0); 4];
        for (x, y) in a_chunks.zip(b_chunks) {
            for (pair, vector) in vectors.iter_mut().enumerate() {
                // SAFETY: each chunk holds eight f64s, so 2·pair + 2 <= 8.
                let (xs, ys) = unsafe {
                    (
                        v128_load(x.as_ptr().add(2 * pair) as *const v128),
                        v128_load(y.as_ptr().add(2 * pair) as *const v128),
                    )
                };
                *vector = f64x2_add(*vector, f64x2_mul(xs, ys));
            }
        }
        for (pair, vector) in vectors.iter().enumerate() {
            acc[2 * pair] = f64x2_extract_lane::<0>(*vector);
            acc[2 * pair + 1] = f64x2_extract_lane::<1>(*vector);
        }
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            acc[lane] += x[lane] * y[lane];
        }
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
}

/// A dense reference solve (Gaussian elimination with partial pivoting), for
/// tests that check the Cholesky path against an independent method.
#[cfg(test)]
pub(crate) fn dense_solve(mut a: Vec<f64>, dim: usize, mut b: Vec<f64>) -> Option<Vec<f64>> {
    for col in 0..dim {
        let pivot_row = (col..dim)
            .max_by(|&x, &y| a[x * dim + col].abs().total_cmp(&a[y * dim + col].abs()))?;
        if a[pivot_row * dim + col].abs() < 1e-300 {
            return None;
        }
        for k in 0..dim {
            a.swap(col * dim + k, pivot_row * dim + k);
        }
        b.swap(col, pivot_row);
        for row in col + 1..dim {
            let factor = a[row * dim + col] / a[col * dim + col];
            for k in col..dim {
                a[row * dim + k] -= factor * a[col * dim + k];
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = vec![0.0; dim];
    for row in (0..dim).rev() {
        let mut sum = b[row];
        for k in row + 1..dim {
            sum -= a[row * dim + k] * x[k];
        }
        x[row] = sum / a[row * dim + row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(a: &[f64], dim: usize, b: &[f64]) {
        let mut l = a.to_vec();
        cholesky_in_place(&mut l, dim).unwrap();
        let mut x = b.to_vec();
        cholesky_solve(&l, dim, &mut x);
        let reference = dense_solve(a.to_vec(), dim, b.to_vec()).unwrap();
        for (got, want) in x.iter().zip(&reference) {
            assert!(
                (got - want).abs() <= 1e-9 * (1.0 + want.abs()),
                "{x:?} vs {reference:?}"
            );
        }
    }

    #[test]
    fn solves_small_spd_systems() {
        check(&[4.0], 1, &[2.0]);
        check(&[4.0, 2.0, 2.0, 3.0], 2, &[1.0, -1.0]);
        check(
            &[6.0, 2.0, 1.0, 2.0, 5.0, 2.0, 1.0, 2.0, 4.0],
            3,
            &[1.0, 2.0, 3.0],
        );
    }

    #[test]
    fn refuses_matrices_that_are_not_positive_definite() {
        let cases: &[(&[f64], usize, usize)] = &[
            (&[0.0], 1, 0),
            (&[-1.0], 1, 0),
            (&[1.0, 2.0, 2.0, 1.0], 2, 1),
            (&[f64::NAN, 0.0, 0.0, 1.0], 2, 0),
        ];
        for &(a, dim, bad_pivot) in cases {
            let mut l = a.to_vec();
            assert_eq!(cholesky_in_place(&mut l, dim), Err(bad_pivot), "{a:?}");
        }
    }
}
