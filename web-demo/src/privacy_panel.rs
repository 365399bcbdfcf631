//! The privacy part of "what this shop knows about you": the ε spent today
//! out of the device's daily budget, and the exact bytes of the last report
//! the device sent (`Cove.privacy()`).

use serde::Deserialize;
use wasm_bindgen::prelude::*;
use web_sys::{Document, Element};

use crate::dom::{append, element};
use crate::Cove;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrivacyView {
    daily_epsilon: f64,
    spent_today: f64,
    remaining_today: f64,
    last_report: Option<LastReport>,
    next_report_at: Option<f64>,
}

#[derive(Deserialize)]
struct LastReport {
    day: u32,
    bytes: String,
}

/// Renders the privacy budget and the last report into `page`.
pub async fn render(cove: &Cove, document: &Document, page: &Element) -> Result<(), JsValue> {
    let heading = element(
        document,
        "h3",
        &[],
        Some("What this device has told the shop"),
    )?;
    let section = element(
        document,
        "section",
        &[("class", "privacy"), ("aria-labelledby", "privacy-heading")],
        None,
    )?;
    heading.set_attribute("id", "privacy-heading")?;
    section.append_child(&heading)?;
    let view: PrivacyView = match cove.privacy().await {
        Ok(value) => serde_wasm_bindgen::from_value(value)?,
        Err(error) => {
            let message = error
                .as_string()
                .or_else(|| {
                    js_sys::Reflect::get(&error, &"message".into())
                        .ok()?
                        .as_string()
                })
                .unwrap_or_else(|| "unknown error".into());
            let text = format!("The privacy budget is not available: {message}");
            append(
                &section,
                &[&element(
                    document,
                    "p",
                    &[("data-privacy", "unavailable")],
                    Some(&text),
                )?],
            )?;
            return page.append_child(&section).map(|_| ());
        }
    };
    let budget = element(
        document,
        "p",
        &[("data-privacy", "budget")],
        Some(&format!(
            "Privacy budget today: ε = {:.2} spent of {:.2} ({:.2} left). Every report is randomised on this device first.",
            view.spent_today, view.daily_epsilon, view.remaining_today
        )),
    )?;
    section.append_child(&budget)?;
    match &view.last_report {
        Some(report) => {
            let caption = element(
                document,
                "p",
                &[],
                Some(&format!(
                    "The last report (day {}), exactly as sent — {} bytes, padded so its size says nothing:",
                    report.day,
                    report.bytes.len()
                )),
            )?;
            let bytes = element(
                document,
                "pre",
                &[
                    ("class", "report"),
                    ("data-privacy", "last-report"),
                    ("tabindex", "0"),
                ],
                Some(report.bytes.trim_end()),
            )?;
            append(&section, &[&caption, &bytes])?;
        }
        None => {
            let none = element(
                document,
                "p",
                &[("data-privacy", "no-report")],
                Some("No report has been sent from this device yet."),
            )?;
            section.append_child(&none)?;
        }
    }
    if let Some(at) = view.next_report_at {
        // Unix seconds.
        let date = js_sys::Date::new(&JsValue::from_f64(at * 1000.0));
        let text = format!(
            "Next report at the earliest: {}",
            String::from(date.to_iso_string())
        );
        append(
            &section,
            &[&element(document, "p", &[("class", "note")], Some(&text))?],
        )?;
    }
    page.append_child(&section)?;
    Ok(())
}
