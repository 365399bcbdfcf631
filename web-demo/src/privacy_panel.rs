//! "What this shop knows about you": the snippet's own transparency panel
//! (`www/cove/panel.mjs`, `mountPrivacyPanel`), mounted into the page. The
//! demo adds no words of its own: what a shop using the snippet gives its
//! shoppers is exactly what the demo shows.

use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::Element;

use crate::Cove;

#[wasm_bindgen(raw_module = "/cove/panel.mjs")]
extern "C" {
    /// The panel's controller (`{ ready, refresh, unmount }`).
    type PanelController;

    #[wasm_bindgen(catch, js_name = mountPrivacyPanel)]
    fn mount_privacy_panel(
        element: &Element,
        cove: &Cove,
        options: &JsValue,
    ) -> Result<PanelController, JsValue>;

    /// Settles once the panel has rendered what the snippet answered.
    #[wasm_bindgen(method, getter)]
    fn ready(this: &PanelController) -> js_sys::Promise;
}

/// The demo shop's settings for the panel.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PanelOptions {
    locale: &'static str,
    currency: &'static str,
    heading_level: u8,
}

/// Mounts the panel into `container` and waits for its first rendering, so
/// the page appears filled in.
pub async fn mount(cove: &Cove, container: &Element) -> Result<(), JsValue> {
    let options = serde_wasm_bindgen::to_value(&PanelOptions {
        locale: "en-GB",
        currency: "GBP",
        heading_level: 2,
    })?;
    let panel = mount_privacy_panel(container, cove, &options)?;
    JsFuture::from(panel.ready()).await?;
    Ok(())
}
