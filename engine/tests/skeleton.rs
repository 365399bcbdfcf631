//! The walking skeleton's shared answer, checked natively here and, in
//! headless Chromium, by the storefront's module crate, which compiles this
//! file again for wasm32 (`bindings/storefront/src/tests/skeleton.rs`; the engine
//! has no wasm-bindgen dependency to run it there itself). The same fixture is
//! checked inside workerd and from a page by `tests/e2e`.

use cove_engine::score::ScoredItem;
use serde::Deserialize;

/// The fixture `tests/fixtures/skeleton_topk.json`.
#[derive(Deserialize)]
pub struct Fixture {
    pub dim: usize,
    pub k: usize,
    pub user: Vec<f32>,
    pub items: Vec<Vec<f32>>,
    expected: Vec<ScoredItem>,
    tolerance: f32,
}

pub fn fixture() -> Fixture {
    serde_json::from_str(include_str!("../../tests/fixtures/skeleton_topk.json")).unwrap()
}

/// Checks an answer against the fixture: the same items, scores within its tolerance.
pub fn check(fixture: &Fixture, got: &[ScoredItem]) {
    let got_indices: Vec<u32> = got.iter().map(|s| s.index).collect();
    let want_indices: Vec<u32> = fixture.expected.iter().map(|s| s.index).collect();
    assert_eq!(got_indices, want_indices);
    for (g, w) in got.iter().zip(&fixture.expected) {
        assert!(
            (g.score - w.score).abs() <= fixture.tolerance,
            "{g:?} vs {w:?}"
        );
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn skeleton_top_k_matches_the_shared_fixture() {
    let fixture = fixture();
    let flat: Vec<f32> = fixture.items.concat();
    let got = cove_engine::score::top_k(&fixture.user, &flat, fixture.dim, fixture.k).unwrap();
    check(&fixture, &got);
}

/// The int8 dot product the ranking uses (SIMD128 in the browser's build,
/// scalar elsewhere) equals a plain i64 sum, on every length around the
/// 16-byte SIMD block and on the extreme values.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn int8_dot_product_is_exact_on_every_path() {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 56) as u8 as i8
    };
    for len in [0, 1, 7, 15, 16, 17, 31, 32, 33, 64, 100, 128, 255, 256] {
        let a: Vec<i8> = (0..len).map(|_| next()).collect();
        let b: Vec<i8> = (0..len).map(|_| next()).collect();
        let want: i64 = a.iter().zip(&b).map(|(x, y)| *x as i64 * *y as i64).sum();
        assert_eq!(cove_engine::score::dot_i8(&a, &b) as i64, want, "len {len}");
        let extreme = vec![-128i8; len];
        let want = (len as i64) * 128 * 128;
        assert_eq!(cove_engine::score::dot_i8(&extreme, &extreme) as i64, want);
        assert_eq!(
            cove_engine::score::dot_i8_scalar(&a, &b),
            cove_engine::score::dot_i8(&a, &b)
        );
    }
}
