//! Cove's demo storefront: a shop written in Rust (web-sys, gloo) that
//! personalises on the shopper's own device through the storefront snippet.
//!
//! The page's script (`www/demo.js`) starts the snippet (`Cove.start`) with the
//! default bundle and hands the running `Cove` object and the bundle's
//! catalogue to [`start`]. From then on this crate renders the pages — home,
//! product, cart and "what this shop knows about you" — by the URL hash
//! ([`route::Route`]), marks the snippet's slots and declarative event
//! attributes in them, and asks the snippet to fill the slots; "what this
//! shop knows about you" is the snippet's own privacy panel
//! (`www/cove/panel.mjs`), mounted by `privacy_panel`. All ranking,
//! profiling and storage happen in the snippet's engine; nothing here talks to
//! the network.
#![deny(missing_docs)]

mod dom;
mod privacy_panel;
mod rescue;
pub mod route;
mod views;

use std::rc::Rc;

use gloo_events::EventListener;
use serde::Deserialize;
use wasm_bindgen::prelude::*;

use route::Route;

#[wasm_bindgen]
extern "C" {
    /// The snippet's running `Cove` object (www/cove.mjs).
    #[derive(Clone)]
    pub type Cove;

    #[wasm_bindgen(method, catch)]
    async fn track(this: &Cove, event: JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch)]
    async fn profile(this: &Cove) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = refreshSlots)]
    async fn refresh_slots(this: &Cove) -> Result<JsValue, JsValue>;

    /// The abandonment risk and the shop's rescue decision.
    #[wasm_bindgen(method, catch)]
    async fn rescue(this: &Cove) -> Result<JsValue, JsValue>;

    /// Records a response to a campaign the device was assigned to.
    #[wasm_bindgen(method, catch, js_name = campaignResponse)]
    async fn campaign_response(this: &Cove, id: &str) -> Result<JsValue, JsValue>;
}

/// One product of the catalogue, as the trainer publishes it beside the
/// bundle (`catalogue.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct Product {
    /// The product id (stock code).
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its unit price.
    pub price: f64,
    /// Its category (its taste cluster's label, when the label describes
    /// it), or empty.
    pub category: String,
    /// Whether it can be bought.
    pub in_stock: bool,
}

/// The shop: the snippet, the catalogue and the element pages render into.
pub(crate) struct Shop {
    cove: Cove,
    products: Vec<Product>,
    root: web_sys::Element,
}

impl Shop {
    fn product(&self, id: &str) -> Option<&Product> {
        self.products.iter().find(|product| product.id == id)
    }
}

/// Starts the storefront: renders the page of the current hash into `#shop`
/// and again on every hash change.
#[wasm_bindgen]
pub async fn start(cove: Cove, catalogue: JsValue) -> Result<(), JsValue> {
    let products: Vec<Product> = serde_wasm_bindgen::from_value(catalogue)?;
    let document = gloo_utils::document();
    let root = document
        .get_element_by_id("shop")
        .ok_or_else(|| JsValue::from_str("the page has no #shop element"))?;
    let shop = Rc::new(Shop {
        cove,
        products,
        root,
    });
    render_current(shop.clone()).await;
    let listener = EventListener::new(&gloo_utils::window(), "hashchange", move |_| {
        let shop = shop.clone();
        wasm_bindgen_futures::spawn_local(render_current(shop));
    });
    // The listener lives as long as the page.
    listener.forget();
    Ok(())
}

async fn render_current(shop: Rc<Shop>) {
    let hash = gloo_utils::window().location().hash().unwrap_or_default();
    let route = Route::from_hash(&hash);
    if let Err(error) = views::render(&shop, &route).await {
        gloo_console::error!("cove demo: could not render the page:", error);
    }
}
