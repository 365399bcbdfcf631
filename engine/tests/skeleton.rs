//! The walking skeleton's shared answer, checked natively and (with the `js`
//! feature, on wasm32) inside headless Chromium through the JavaScript bindings.
//! The same fixture is checked inside workerd and from a page by `tests/e2e`.

use cove_engine::score::ScoredItem;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    dim: usize,
    k: usize,
    user: Vec<f32>,
    items: Vec<Vec<f32>>,
    expected: Vec<ScoredItem>,
    tolerance: f32,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("../../tests/fixtures/skeleton_topk.json")).unwrap()
}

fn check(fixture: &Fixture, got: &[ScoredItem]) {
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

#[cfg(all(target_arch = "wasm32", feature = "js"))]
mod in_browser {
    use super::*;
    use wasm_bindgen::JsValue;
    use wasm_bindgen_test::*;

    wasm_bindgen_test_configure!(run_in_browser);

    #[wasm_bindgen_test]
    fn js_binding_returns_the_shared_fixture_answer() {
        let fixture = fixture();
        let flat: Vec<f32> = fixture.items.concat();
        let value = cove_engine::js::top_k(&fixture.user, &flat, fixture.dim, fixture.k).unwrap();
        let got: Vec<ScoredItem> = serde_wasm_bindgen::from_value(value).unwrap();
        check(&fixture, &got);
    }

    #[wasm_bindgen_test]
    fn js_binding_throws_an_error_with_a_code() {
        let err = cove_engine::js::top_k(&[1.0, f32::NAN], &[1.0, 2.0], 2, 1).unwrap_err();
        let code = js_sys::Reflect::get(&err, &JsValue::from_str("code")).unwrap();
        assert_eq!(code.as_string().as_deref(), Some("non_finite"));
    }
}
