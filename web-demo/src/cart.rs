//! The shopper's actions and the pages they lead to: searching, adding to
//! and removing from the cart (each a `Cove.track` event the demo waits for,
//! then the header's count read back from the engine's profile), the cart
//! page with "Place order", and the order confirmation.
//!
//! The cart is the engine's: `profile().profile.cart`. An order is the
//! purchase event itself, kept in the device's event log
//! (`profile().events`); its number is the second it was placed (the event's
//! `at`), so the confirmation page can be opened again, in this browser only,
//! until the shopper forgets their data.

use std::rc::Rc;

use gloo_events::EventListener;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use web_sys::{Document, Element};

use crate::dom::{append, count_of, element, error_text, link, price, product_href};
use crate::route::Route;
use crate::Shop;

/// One line of the engine's cart.
#[derive(Deserialize, Clone)]
struct CartLine {
    id: String,
    quantity: u32,
    price: f64,
}

/// The part of `profile()` the cart needs.
#[derive(Deserialize)]
struct CartView {
    profile: CartData,
}

#[derive(Deserialize)]
struct CartData {
    cart: Vec<CartLine>,
}

/// The part of `profile()` an order page needs: the device's event log.
#[derive(Deserialize)]
struct EventsView {
    events: Vec<LoggedEvent>,
}

#[derive(Deserialize)]
struct LoggedEvent {
    at: f64,
    kind: LoggedKind,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum LoggedKind {
    Purchase {
        lines: Vec<OrderLine>,
    },
    #[serde(other)]
    Other,
}

/// A line of a purchase event, as the snippet takes it.
#[derive(Deserialize, Serialize, Clone)]
struct OrderLine {
    item: String,
    quantity: u32,
    price: f64,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    Search {
        query: &'a str,
    },
    AddToCart {
        item: &'a str,
        quantity: u32,
        price: f64,
    },
    RemoveFromCart {
        item: &'a str,
        quantity: u32,
    },
    Purchase {
        lines: &'a [OrderLine],
        at: f64,
    },
    View {
        page: &'a str,
    },
}

async fn track(shop: &Shop, event: &Event<'_>) -> Result<(), JsValue> {
    shop.cove
        .track(serde_wasm_bindgen::to_value(event)?)
        .await
        .map(|_| ())
}

async fn cart_lines(shop: &Shop) -> Result<Vec<CartLine>, JsValue> {
    let view: CartView = serde_wasm_bindgen::from_value(shop.cove.profile().await?)?;
    Ok(view.profile.cart)
}

/// Shows the cart's number of items in the header, read from the engine;
/// that number, or `None` when the profile could not be read.
pub async fn show_count(shop: &Shop) -> Option<u32> {
    match cart_lines(shop).await {
        Ok(lines) => {
            let n_items = lines.iter().map(|line| line.quantity).sum();
            shop.header.show_cart_count(n_items);
            Some(n_items)
        }
        Err(error) => {
            gloo_console::warn!("cove demo: the cart could not be read:", error);
            None
        }
    }
}

/// The header's search: records the query as a search event (a non-empty
/// one), then opens its results.
pub async fn search(shop: Rc<Shop>, query: String) {
    if !query.is_empty() {
        if let Err(error) = track(&shop, &Event::Search { query: &query }).await {
            gloo_console::warn!("cove demo: the search was not recorded:", error);
        }
    }
    let href = Route::Search { query, page: 1 }.href();
    let location = gloo_utils::window().location();
    if location.hash().ok().as_deref() == Some(href.as_str()) {
        // The same search again: no hash change, so show it again here.
        shop.header.clear_status();
        crate::render_current(shop).await;
    } else {
        let _ = location.set_hash(&href);
    }
}

/// Adds one of product `id` to the cart and says so (or why not).
pub async fn add(shop: Rc<Shop>, id: String) {
    let Some(product) = shop.product(&id) else {
        shop.header
            .announce("This product is not in the catalogue.", "failed");
        return;
    };
    let title = product.title.clone();
    if !product.in_stock {
        shop.header
            .announce(&format!("{title} is out of stock."), "failed");
        return;
    }
    let event = Event::AddToCart {
        item: &id,
        quantity: 1,
        price: product.price,
    };
    match track(&shop, &event).await {
        Ok(()) => {
            let holds = match show_count(&shop).await {
                Some(n) => format!(
                    " Your cart holds {}.",
                    count_of(n as usize, "item", "items")
                ),
                None => String::new(),
            };
            shop.header
                .announce(&format!("Added {title} to your cart.{holds}"), "done");
        }
        Err(error) => shop.header.announce(
            &format!(
                "{title} could not be added to your cart: {}",
                error_text(&error)
            ),
            "failed",
        ),
    }
}

/// Takes `quantity` of product `id` out of the cart, says so, and shows the
/// cart again.
pub async fn remove(shop: Rc<Shop>, id: String, quantity: u32) {
    let title = shop.title_of(&id).to_owned();
    let event = Event::RemoveFromCart {
        item: &id,
        quantity,
    };
    match track(&shop, &event).await {
        Ok(()) => shop
            .header
            .announce(&format!("Removed {title} from your cart."), "done"),
        Err(error) => shop.header.announce(
            &format!(
                "{title} could not be removed from your cart: {}",
                error_text(&error)
            ),
            "failed",
        ),
    }
    crate::render_current(shop).await;
}

/// The cart page: its lines, the total, "Place order", the "Complete the
/// basket" slot and, when the engine calls for one, the rescue offer.
pub async fn cart_page(
    shop: &Rc<Shop>,
    document: &Document,
    page: &Element,
) -> Result<(), JsValue> {
    // The cart is an administrative page in the purchase-intent model's terms
    // (UCI Online Shoppers): its view closes the time on the page before it,
    // which is how the data counts durations. Without it a product page's
    // dwell before "add to cart" would never count, and every cart would look
    // like a zero-second bounce, the riskiest session there is.
    track(
        shop,
        &Event::View {
            page: "administrative",
        },
    )
    .await?;
    let lines = cart_lines(shop).await?;
    append(page, &[&element(document, "h2", &[], Some("Your cart"))?])?;
    if lines.is_empty() {
        let empty = element(
            document,
            "p",
            &[("class", "empty")],
            Some("Your cart is empty. "),
        )?;
        append(
            &empty,
            &[&link(
                document,
                &Route::Categories.href(),
                "Browse the categories",
            )?],
        )?;
        return append(page, &[&empty]);
    }
    let order: Vec<OrderLine> = lines
        .iter()
        .map(|line| OrderLine {
            item: line.id.clone(),
            quantity: line.quantity,
            price: line.price,
        })
        .collect();
    let (list, sum) = lines_and_total(shop, document, &order, true)?;
    let checkout = element(
        document,
        "button",
        &[("type", "button"), ("id", "checkout")],
        Some("Place order"),
    )?;
    let basket_heading = element(document, "h3", &[], Some("Complete the basket"))?;
    append(
        page,
        &[
            &list,
            &sum,
            &checkout,
            &basket_heading,
            &crate::views::slot(document, "basket", 6, "basket", None)?,
        ],
    )?;
    // The rescue offer, when the engine calls for one. A snippet without the
    // campaign API (or any failure) leaves the cart as it is.
    let in_rescue = match crate::rescue::render_offer(&shop.cove, document, page).await {
        Ok(in_campaign) => in_campaign,
        Err(error) => {
            gloo_console::warn!("cove demo: no rescue decision:", error);
            false
        }
    };
    let shop = shop.clone();
    let button = checkout.clone();
    EventListener::new(&checkout, "click", move |_| {
        // One order per click: the button waits for the event to be recorded.
        if button.has_attribute("disabled") {
            return;
        }
        let _ = button.set_attribute("disabled", "");
        button.set_text_content(Some("Placing your order…"));
        wasm_bindgen_futures::spawn_local(place_order(
            shop.clone(),
            order.clone(),
            in_rescue,
            button.clone(),
        ));
    })
    .forget();
    Ok(())
}

/// The lines of a cart (`removable`: each with a "Remove" button) or of an
/// order, and a paragraph with their total.
fn lines_and_total(
    shop: &Shop,
    document: &Document,
    lines: &[OrderLine],
    removable: bool,
) -> Result<(Element, Element), JsValue> {
    let class = if removable { "cart" } else { "order" };
    let list = element(document, "ul", &[("class", class)], None)?;
    for line in lines {
        let row = element(document, "li", &[("data-cove-item", &line.item)], None)?;
        append(
            &row,
            &[&line_text(
                shop,
                document,
                &line.item,
                line.quantity,
                line.price,
            )?],
        )?;
        if removable {
            let quantity = line.quantity.to_string();
            let label = format!("Remove {} from your cart", shop.title_of(&line.item));
            let remove = element(
                document,
                "button",
                &[
                    ("type", "button"),
                    ("class", "secondary"),
                    ("data-remove-from-cart", &line.item),
                    ("data-quantity", &quantity),
                    ("aria-label", &label),
                ],
                Some("Remove"),
            )?;
            append(&row, &[&remove])?;
        }
        list.append_child(&row)?;
    }
    let total: f64 = lines.iter().map(|l| l.price * f64::from(l.quantity)).sum();
    let n_items: u32 = lines.iter().map(|l| l.quantity).sum();
    let sum = element(
        document,
        "p",
        &[("class", "total")],
        Some(&format!(
            "Total {} for {}",
            price(total),
            count_of(n_items as usize, "item", "items")
        )),
    )?;
    Ok((list, sum))
}

/// A line of a cart or an order: "2 × TITLE — £2.95 each, £5.90", the title
/// a link to the product.
fn line_text(
    shop: &Shop,
    document: &Document,
    id: &str,
    quantity: u32,
    unit_price: f64,
) -> Result<Element, JsValue> {
    let text = element(document, "span", &[("class", "line")], None)?;
    let each = if quantity > 1 {
        format!(
            " — {} each, {}",
            price(unit_price),
            price(unit_price * f64::from(quantity))
        )
    } else {
        format!(" — {}", price(unit_price))
    };
    text.append_with_str_1(&format!("{quantity} × "))?;
    append(
        &text,
        &[&link(document, &product_href(id), shop.title_of(id))?],
    )?;
    text.append_with_str_1(&each)?;
    Ok(text)
}

/// Records the purchase (and the rescue campaign's response, when the
/// shopper was in it); the engine empties the cart. Then the confirmation.
async fn place_order(shop: Rc<Shop>, lines: Vec<OrderLine>, in_rescue: bool, button: Element) {
    if in_rescue {
        // Placing the order is the rescue campaign's response too.
        let _ = shop
            .cove
            .campaign_response(crate::rescue::RESCUE_CAMPAIGN)
            .await;
    }
    // The order's number is the second it is placed, written in the event.
    let at = (js_sys::Date::now() / 1000.0).floor();
    match track(&shop, &Event::Purchase { lines: &lines, at }).await {
        Ok(()) => {
            show_count(&shop).await;
            let _ = gloo_utils::window()
                .location()
                .set_hash(&Route::Order(at as u64).href());
        }
        Err(error) => {
            let _ = button.remove_attribute("disabled");
            button.set_text_content(Some("Place order"));
            shop.header.announce(
                &format!("Your order could not be placed: {}", error_text(&error)),
                "failed",
            );
        }
    }
}

/// The confirmation of order `number`, from the device's event log.
pub async fn order_page(
    shop: &Shop,
    document: &Document,
    page: &Element,
    number: u64,
) -> Result<(), JsValue> {
    let view: EventsView = serde_wasm_bindgen::from_value(shop.cove.profile().await?)?;
    let order = view
        .events
        .iter()
        .rev()
        .find_map(|event| match &event.kind {
            LoggedKind::Purchase { lines } if event.at as u64 == number => Some(lines),
            _ => None,
        });
    let Some(lines) = order else {
        let heading = element(document, "h2", &[], Some("Order not found"))?;
        let text = element(
            document,
            "p",
            &[("class", "empty")],
            Some(&format!(
                "There is no order {number} in this browser. The demo keeps orders only in the browser that placed them, until you forget your data. "
            )),
        )?;
        append(
            &text,
            &[&link(document, &Route::Home.href(), "Continue shopping")?],
        )?;
        return append(page, &[&heading, &text]);
    };
    let heading = element(document, "h2", &[], Some("Thank you for your order"))?;
    let placed = js_sys::Date::new(&JsValue::from_f64(number as f64 * 1000.0))
        .to_locale_string("en-GB", &JsValue::UNDEFINED);
    let summary = element(
        document,
        "p",
        &[("class", "order-number")],
        Some(&format!(
            "Order number {number}, placed {}.",
            String::from(placed)
        )),
    )?;
    let (list, sum) = lines_and_total(shop, document, lines, false)?;
    let note = element(
        document,
        "p",
        &[("class", "note")],
        Some("This is a demo shop: nothing is charged or delivered. The order is kept only in this browser, with "),
    )?;
    append(
        &note,
        &[&link(
            document,
            &Route::Knows.href(),
            "what this shop knows about you",
        )?],
    )?;
    note.append_with_str_1(".")?;
    let more = element(document, "p", &[], None)?;
    append(
        &more,
        &[&link(document, &Route::Home.href(), "Continue shopping")?],
    )?;
    let confirmation = element(document, "section", &[("class", "confirmation")], None)?;
    append(
        &confirmation,
        &[&heading, &summary, &list, &sum, &note, &more],
    )?;
    // What the engine suggests now that the order is in the profile.
    let next = element(document, "h3", &[], Some("Picked for you"))?;
    append(
        page,
        &[
            &confirmation,
            &next,
            &crate::views::slot(document, "home", 4, "for_you", None)?,
        ],
    )
}
