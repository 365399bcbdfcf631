//! Cove's demo storefront: a shop written in Rust (web-sys, gloo) that
//! personalises on the shopper's own device through the storefront snippet.
//!
//! The page's script (`www/demo.js`) starts the snippet (`Cove.start`) with the
//! default bundle and hands the running `Cove` object and the bundle's
//! catalogue to [`start`]. From then on this crate renders the pages — home,
//! search results, categories, product, cart, order confirmation and "what
//! this shop knows about you" — by the URL hash ([`route::Route`]), marks the
//! snippet's slots in them, and asks the snippet to fill the slots; "what
//! this shop knows about you" is the snippet's own privacy panel
//! (`www/cove/panel.mjs`), mounted by `privacy_panel`. Search and categories
//! read the published catalogue ([`catalogue::Catalogue`]).
//!
//! The demo records the shopper's events itself, through `Cove.track`, and
//! waits for each: the header's cart count and the "Added … to your cart"
//! status are read from the engine's profile after the event is recorded, so
//! they show what the engine holds, and a failure is said, not hidden. All
//! ranking, profiling and storage happen in the snippet's engine; nothing
//! here talks to the network.
#![deny(missing_docs)]

mod cart;
pub mod catalogue;
mod dom;
mod header;
mod listing;
mod privacy_panel;
mod rescue;
pub mod route;
mod views;

use std::cell::Cell;
use std::rc::Rc;

use gloo_events::{EventListener, EventListenerOptions};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use catalogue::Catalogue;
pub use catalogue::Product;
use header::Header;
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

/// The shop: the snippet, the catalogue, the header's controls and the
/// element pages render into.
pub(crate) struct Shop {
    cove: Cove,
    catalogue: Catalogue,
    header: Header,
    root: web_sys::Element,
    /// Counts renders: a render that finishes after a later one started
    /// (a slow page, then a quick click) is dropped instead of replacing it.
    renders: Cell<u64>,
}

impl Shop {
    fn product(&self, id: &str) -> Option<&Product> {
        self.catalogue.product(id)
    }

    /// A product's title, or its id when the catalogue no longer has it.
    fn title_of<'a>(&'a self, id: &'a str) -> &'a str {
        self.product(id)
            .map_or(id, |product| product.title.as_str())
    }
}

/// Starts the storefront: renders the page of the current hash into `#shop`
/// and again on every hash change; wires the header's search box and the
/// pages' cart buttons.
#[wasm_bindgen]
pub async fn start(cove: Cove, catalogue: JsValue) -> Result<(), JsValue> {
    let products: Vec<Product> = serde_wasm_bindgen::from_value(catalogue)?;
    let document = gloo_utils::document();
    let root = document
        .get_element_by_id("shop")
        .ok_or_else(|| JsValue::from_str("the page has no #shop element"))?;
    let shop = Rc::new(Shop {
        cove,
        catalogue: Catalogue::new(products),
        header: Header::find(&document),
        root,
        renders: Cell::new(0),
    });
    if let Some(form) = shop.header.search_form.clone() {
        let shop = shop.clone();
        // Not passive: the form's own submission (a page load) is prevented.
        let options = EventListenerOptions::enable_prevent_default();
        EventListener::new_with_options(&form, "submit", options, move |event| {
            event.prevent_default();
            let query = shop.header.query();
            wasm_bindgen_futures::spawn_local(cart::search(shop.clone(), query));
        })
        .forget();
    }
    let clicks = shop.clone();
    EventListener::new(&shop.root, "click", move |event| {
        let Some(target) = event
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        if let Ok(Some(button)) = target.closest("[data-add-to-cart]") {
            let id = button.get_attribute("data-add-to-cart").unwrap_or_default();
            wasm_bindgen_futures::spawn_local(cart::add(clicks.clone(), id));
        } else if let Ok(Some(button)) = target.closest("[data-remove-from-cart]") {
            let id = button
                .get_attribute("data-remove-from-cart")
                .unwrap_or_default();
            let quantity = button
                .get_attribute("data-quantity")
                .and_then(|q| q.parse().ok())
                .unwrap_or(1);
            wasm_bindgen_futures::spawn_local(cart::remove(clicks.clone(), id, quantity));
        }
    })
    .forget();
    render_current(shop.clone()).await;
    let listener = EventListener::new(&gloo_utils::window(), "hashchange", move |_| {
        shop.header.clear_status();
        let shop = shop.clone();
        wasm_bindgen_futures::spawn_local(render_current(shop));
    });
    // The listeners live as long as the page.
    listener.forget();
    Ok(())
}

/// Renders the page of the current hash.
async fn render_current(shop: Rc<Shop>) {
    let hash = gloo_utils::window().location().hash().unwrap_or_default();
    let route = Route::from_hash(&hash);
    let render = shop.renders.get() + 1;
    shop.renders.set(render);
    if let Err(error) = views::render(&shop, &route, render).await {
        gloo_console::error!("cove demo: could not render the page:", error);
    }
    cart::show_count(&shop).await;
}
