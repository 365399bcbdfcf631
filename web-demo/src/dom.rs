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
    crate::route::Route::Product(id.to_owned()).href()
}

/// A link to `href` reading `text`.
pub fn link(document: &Document, href: &str, text: &str) -> Result<Element, JsValue> {
    element(document, "a", &[("href", href)], Some(text))
}

/// `n` and the noun for it: "1 product", "2 products".
pub fn count_of(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The message of a failure the snippet reported (a `CoveError`'s words).
pub fn error_text(error: &JsValue) -> String {
    use wasm_bindgen::JsCast;
    match error.dyn_ref::<js_sys::Error>() {
        Some(error) => error.message().into(),
        None => error.as_string().unwrap_or_else(|| "unknown error".into()),
    }
}
