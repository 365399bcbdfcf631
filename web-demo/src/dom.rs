//! Small DOM helpers: elements with attributes and text, never HTML strings
//! built from data (product titles are text, so they cannot inject markup).

use wasm_bindgen::JsValue;
use web_sys::{Document, Element};

/// An element `tag` with `attributes` and, if given, `text`.
pub fn element(
    document: &Document,
    tag: &str,
    attributes: &[(&str, &str)],
    text: Option<&str>,
) -> Result<Element, JsValue> {
    let element = document.create_element(tag)?;
    for (name, value) in attributes {
        element.set_attribute(name, value)?;
    }
    if let Some(text) = text {
        element.set_text_content(Some(text));
    }
    Ok(element)
}

/// Appends `children` to `parent`.
pub fn append(parent: &Element, children: &[&Element]) -> Result<(), JsValue> {
    for child in children {
        parent.append_child(child)?;
    }
    Ok(())
}

/// A price as the shop shows it.
pub fn price(amount: f64) -> String {
    format!("£{amount:.2}")
}

/// The hash URL of a product page.
pub fn product_href(id: &str) -> String {
    let encoded: String = js_sys::encode_uri_component(id).into();
    format!("#/product/{encoded}")
}
