//! The shop's header (static markup in `www/index.html`): the search box,
//! the cart link with its count ("Cart 2 items" to a screen reader), and
//! the status line, a polite live region where the shop says what an action
//! did ("Added … to your cart").
//! A page without one of them still works; it just lacks that part.

use wasm_bindgen::JsCast;
use web_sys::{Document, Element, HtmlInputElement};

/// The longest query read from the search box (the box's `maxlength` too).
pub const MAX_QUERY_CHARS: usize = 200;

/// The header's elements, looked up once.
pub struct Header {
    /// `form#search`: its submission is the shop's search.
    pub search_form: Option<Element>,
    search_input: Option<HtmlInputElement>,
    cart_count: Option<Element>,
    /// " item" or " items" after the count, for screen readers.
    cart_items: Option<Element>,
    status: Option<Element>,
}

impl Header {
    /// The header's elements in `document`.
    pub fn find(document: &Document) -> Header {
        let by_id = |id: &str| document.get_element_by_id(id);
        Header {
            search_form: by_id("search"),
            search_input: by_id("search-query").and_then(|e| e.dyn_into().ok()),
            cart_count: by_id("cart-count"),
            cart_items: by_id("cart-items"),
            status: by_id("status"),
        }
    }

    /// The search box's text, trimmed and cut to [`MAX_QUERY_CHARS`].
    pub fn query(&self) -> String {
        let typed = self
            .search_input
            .as_ref()
            .map(HtmlInputElement::value)
            .unwrap_or_default();
        typed.trim().chars().take(MAX_QUERY_CHARS).collect()
    }

    /// Shows `query` in the search box (on a results page).
    pub fn show_query(&self, query: &str) {
        if let Some(input) = &self.search_input {
            if input.value() != query {
                input.set_value(query);
            }
        }
    }

    /// Shows the number of items in the cart, in words for screen readers.
    pub fn show_cart_count(&self, n_items: u32) {
        if let Some(count) = &self.cart_count {
            count.set_text_content(Some(&n_items.to_string()));
            let _ = count.set_attribute("data-count", &n_items.to_string());
        }
        if let Some(words) = &self.cart_items {
            words.set_text_content(Some(if n_items == 1 { " item" } else { " items" }));
        }
    }

    /// Says `text` in the status line (announced by screen readers).
    /// `kind` ("done" or "failed") styles it.
    pub fn announce(&self, text: &str, kind: &str) {
        if let Some(status) = &self.status {
            status.set_text_content(Some(text));
            let _ = status.set_attribute("data-kind", kind);
        }
    }

    /// Empties the status line (a new page was opened).
    pub fn clear_status(&self) {
        if let Some(status) = &self.status {
            status.set_text_content(None);
            let _ = status.remove_attribute("data-kind");
        }
    }
}
