//! The cart-abandonment rescue offer, measured as the campaign `rescue-cart`.
//!
//! On the cart page the snippet's engine decides whether the cart is at risk
//! (`Cove.rescue()`: the abandonment risk and the shop's rescue policy). When
//! it calls for an offer and the shop runs the campaign, the snippet assigns
//! the shopper a variant on the device (as `Cove.campaign("rescue-cart")`
//! does: uniform and sticky; it records today's exposure): variant 0 is the
//! holdout and sees nothing, any other variant sees the offer. Accepting the
//! offer, or placing the order after being assigned, records a response
//! (`Cove.campaignResponse`). Only the campaign report (secret-shared between
//! two aggregators, or randomised with one) ever leaves the device.

use gloo_events::EventListener;
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use web_sys::{Document, Element};

use crate::dom::{append, element};
use crate::Cove;

/// The campaign the rescue offer reports under.
pub const RESCUE_CAMPAIGN: &str = "rescue-cart";

#[derive(Deserialize)]
struct Decision {
    risk: f64,
    outcome: Outcome,
    /// The campaign that assigned offer or holdout, when the shop runs one.
    #[serde(default)]
    campaign: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Outcome {
    Offer {
        action: Action,
    },
    /// Eligible but held out (the withheld action is not needed here).
    Holdout {},
    #[serde(other)]
    Nothing,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Action {
    Reminder,
    FreeShipping,
    Discount {
        percent: f64,
    },
    #[serde(other)]
    Nothing,
}

fn offer_text(action: &Action) -> Option<String> {
    match action {
        Action::Reminder => Some("Your basket is saved: finish your order any time today.".into()),
        Action::FreeShipping => Some("Free shipping on this order if you complete it now.".into()),
        Action::Discount { percent } => Some(format!(
            "{percent:.0}% off this order if you complete it now."
        )),
        Action::Nothing => None,
    }
}

/// Whether the shopper is in the rescue campaign (so that placing the order
/// counts as its response), after rendering the offer into `page` when the
/// engine calls for one and the shopper's variant shows it.
pub async fn render_offer(
    cove: &Cove,
    document: &Document,
    page: &Element,
) -> Result<bool, JsValue> {
    let decision: Decision = serde_wasm_bindgen::from_value(cove.rescue().await?)?;
    let in_campaign = decision.campaign.as_deref() == Some(RESCUE_CAMPAIGN);
    let action = match decision.outcome {
        Outcome::Offer { action } => action,
        Outcome::Holdout {} => {
            // The holdout: eligible, counted, shown nothing.
            page.set_attribute("data-rescue", "holdout")?;
            return Ok(in_campaign);
        }
        Outcome::Nothing => return Ok(false),
    };
    let Some(text) = offer_text(&action) else {
        return Ok(false);
    };
    let panel = element(
        document,
        "aside",
        &[
            ("class", "rescue"),
            ("data-rescue", "offer"),
            ("aria-labelledby", "rescue-heading"),
        ],
        None,
    )?;
    let heading = element(
        document,
        "h3",
        &[("id", "rescue-heading")],
        Some("Before you go"),
    )?;
    let body = element(document, "p", &[], Some(&text))?;
    let note = element(
        document,
        "p",
        &[("class", "note")],
        Some(&format!(
            "Offered because this device's engine put the risk of leaving the basket at {:.0}%; the shop learns only a noisy count.",
            decision.risk * 100.0
        )),
    )?;
    let accept = element(
        document,
        "button",
        &[("type", "button"), ("id", "accept-offer")],
        Some("Use this offer"),
    )?;
    append(&panel, &[&heading, &body, &note, &accept])?;
    page.append_child(&panel)?;
    page.set_attribute("data-rescue", "offer")?;
    let cove = cove.clone();
    let panel_done = panel.clone();
    EventListener::new(&accept, "click", move |_| {
        let cove = cove.clone();
        let panel = panel_done.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if cove.campaign_response(RESCUE_CAMPAIGN).await.is_ok() {
                let _ = panel.set_attribute("data-rescue", "accepted");
                panel.set_text_content(Some("Offer applied: it will be taken off at checkout."));
            }
        });
    })
    .forget();
    Ok(in_campaign)
}
