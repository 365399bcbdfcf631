//! Cove's demo storefront: a shop page written in Rust (web-sys, gloo) that
//! personalises with the engine on the shopper's own device.
//!
//! At this stage it renders one ranked list computed by the engine in the page,
//! from the walking skeleton's shared fixture, into the element `#cove-demo`.
//! Rendering is kept apart from computing: [`ranked_rows`] is plain Rust and
//! tested natively; [`start`] only touches the DOM.
#![deny(missing_docs)]

use cove_engine::score::{top_k, ScoredItem};
use serde::Deserialize;
use wasm_bindgen::prelude::*;

#[derive(Deserialize)]
struct Fixture {
    dim: usize,
    k: usize,
    user: Vec<f32>,
    items: Vec<Vec<f32>>,
}

/// Ranks the skeleton fixture's items with the engine, best first.
pub fn ranked_rows() -> Result<Vec<ScoredItem>, cove_engine::Error> {
    let fixture: Fixture =
        serde_json::from_str(include_str!("../../tests/fixtures/skeleton_topk.json"))
            .expect("the fixture is compiled in and checked by the tests");
    let flat: Vec<f32> = fixture.items.concat();
    top_k(&fixture.user, &flat, fixture.dim, fixture.k)
}

/// Runs when the module is instantiated: renders the ranked list into `#cove-demo`.
#[wasm_bindgen(start)]
pub fn start() -> Result<(), JsValue> {
    let document = gloo_utils::document();
    let Some(root) = document.get_element_by_id("cove-demo") else {
        gloo_console::warn!("cove demo: no #cove-demo element on this page");
        return Ok(());
    };
    let ranked = ranked_rows().map_err(|e| JsValue::from_str(&e.to_string()))?;
    let list = document.create_element("ol")?;
    list.set_attribute("data-testid", "ranked")?;
    for item in ranked {
        let row = document.create_element("li")?;
        row.set_attribute("data-index", &item.index.to_string())?;
        row.set_text_content(Some(&format!(
            "item {} — score {:.4}",
            item.index, item.score
        )));
        list.append_child(&row)?;
    }
    root.replace_children_with_node_1(&list);
    root.set_attribute("data-state", "ready")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_ranks_the_fixture() {
        let ranked = super::ranked_rows().unwrap();
        assert_eq!(ranked.len(), 5);
        assert_eq!(ranked[0].index, 20);
    }
}
