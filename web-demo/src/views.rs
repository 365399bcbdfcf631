//! The demo's pages. Each page is rebuilt from scratch into the shop's root
//! element; then the snippet fills the slots it contains.

use gloo_events::EventListener;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use web_sys::{Document, Element};

use crate::dom::{append, element, price, product_href};
use crate::route::Route;
use crate::Shop;

/// How the snippet renders a slot item (static markup; the snippet fills it).
const SLOT_TEMPLATE: &str = concat!(
    r#"<article class="card"><a data-cove-href><span data-cove-field="title"></span></a>"#,
    r#"<span class="price" data-cove-field="price"></span>"#,
    r#"<small class="reason" data-cove-field="reason"></small></article>"#,
);

/// How many catalogue products the home page lists.
const HOME_GRID: usize = 24;

/// Renders `route` into the shop's root element.
pub async fn render(shop: &Shop, route: &Route) -> Result<(), JsValue> {
    let document = gloo_utils::document();
    let page = element(
        &document,
        "div",
        &[("class", "page"), ("data-page", page_name(route))],
        None,
    )?;
    match route {
        Route::Home => home(shop, &document, &page)?,
        Route::Product(id) => product(shop, &document, &page, id).await?,
        Route::Cart => cart(shop, &document, &page).await?,
        Route::Knows => knows(shop, &document, &page).await?,
    }
    shop.root.replace_children_with_node_1(&page);
    shop.cove.refresh_slots().await?;
    Ok(())
}

fn page_name(route: &Route) -> &'static str {
    match route {
        Route::Home => "home",
        Route::Product(_) => "product",
        Route::Cart => "cart",
        Route::Knows => "knows",
    }
}

/// A slot for the snippet to fill. `kind` is the moment it serves (the
/// snippet's `data-cove-kind`: "for_you", "item_page", "basket"); an item
/// page names its `context_item`.
fn slot(
    document: &Document,
    name: &str,
    k: u32,
    kind: &str,
    context_item: Option<&str>,
) -> Result<Element, JsValue> {
    let k = k.to_string();
    let mut attributes = vec![
        ("data-cove-slot", name),
        ("data-cove-k", k.as_str()),
        ("data-cove-kind", kind),
        ("class", "slot"),
    ];
    if let Some(item) = context_item {
        attributes.push(("data-cove-context-item", item));
    }
    let slot = element(document, "div", &attributes, None)?;
    let template = element(document, "template", &[], None)?;
    template.set_inner_html(SLOT_TEMPLATE);
    slot.append_child(&template)?;
    Ok(slot)
}

fn home(shop: &Shop, document: &Document, page: &Element) -> Result<(), JsValue> {
    let heading = element(document, "h2", &[], Some("Picked for you"))?;
    let note = element(
        document,
        "p",
        &[("class", "note")],
        Some("Ranked in this browser by Cove's engine, from what you do here. Your activity stays in this browser; only anonymous, randomised counts are sent to the shop."),
    )?;
    append(
        page,
        &[
            &heading,
            &note,
            &slot(document, "home", 8, "for_you", None)?,
        ],
    )?;
    let catalogue_heading = element(document, "h2", &[], Some("From the catalogue"))?;
    let grid = element(document, "div", &[("class", "grid")], None)?;
    for product in shop.products.iter().filter(|p| p.in_stock).take(HOME_GRID) {
        let card = element(
            document,
            "article",
            &[("class", "card"), ("data-cove-item", &product.id)],
            None,
        )?;
        let link = element(
            document,
            "a",
            &[("href", &product_href(&product.id))],
            Some(&product.title),
        )?;
        let cost = element(
            document,
            "span",
            &[("class", "price")],
            Some(&price(product.price)),
        )?;
        append(&card, &[&link, &cost])?;
        grid.append_child(&card)?;
    }
    append(page, &[&catalogue_heading, &grid])
}

async fn product(
    shop: &Shop,
    document: &Document,
    page: &Element,
    id: &str,
) -> Result<(), JsValue> {
    let Some(product) = shop.product(id) else {
        let missing = element(
            document,
            "p",
            &[],
            Some("This product is not in the catalogue."),
        )?;
        return append(page, &[&missing]);
    };
    #[derive(Serialize)]
    struct View<'a> {
        r#type: &'static str,
        item: &'a str,
        price: f64,
    }
    let view = View {
        r#type: "view",
        item: &product.id,
        price: product.price,
    };
    shop.cove
        .track(serde_wasm_bindgen::to_value(&view)?)
        .await?;
    let title = element(document, "h2", &[], Some(&product.title))?;
    let details = element(
        document,
        "p",
        &[("class", "details")],
        // An item without a category (the trainer shows its taste cluster's
        // label only on items whose title it describes) shows none.
        Some(&if product.category.is_empty() {
            format!("{} · code {}", price(product.price), product.id)
        } else {
            format!(
                "{} · {} · code {}",
                price(product.price),
                product.category,
                product.id
            )
        }),
    )?;
    let price_text = product.price.to_string();
    let add = element(
        document,
        "button",
        &[
            ("type", "button"),
            ("data-cove-add-to-cart", &product.id),
            ("data-cove-price", &price_text),
        ],
        Some("Add to cart"),
    )?;
    let similar = element(document, "h3", &[], Some("You may also like"))?;
    append(
        page,
        &[
            &title,
            &details,
            &add,
            &similar,
            &slot(document, "similar", 6, "item_page", Some(&product.id))?,
        ],
    )
}

#[derive(Deserialize)]
struct ProfileView {
    profile: ProfileData,
}

#[derive(Deserialize)]
struct ProfileData {
    cart: Vec<CartLine>,
}

#[derive(Deserialize, Serialize, Clone)]
struct CartLine {
    id: String,
    quantity: u32,
    price: f64,
}

async fn profile_view(shop: &Shop) -> Result<ProfileView, JsValue> {
    Ok(serde_wasm_bindgen::from_value(shop.cove.profile().await?)?)
}

async fn cart(shop: &Shop, document: &Document, page: &Element) -> Result<(), JsValue> {
    // The cart is an administrative page in the purchase-intent model's terms
    // (UCI Online Shoppers): its view closes the time on the page before it,
    // which is how the data counts durations. Without it a product page's
    // dwell before "add to cart" would never count, and every cart would look
    // like a zero-second bounce, the riskiest session there is.
    #[derive(Serialize)]
    struct PageView {
        r#type: &'static str,
        page: &'static str,
    }
    shop.cove
        .track(serde_wasm_bindgen::to_value(&PageView {
            r#type: "view",
            page: "administrative",
        })?)
        .await?;
    let view = profile_view(shop).await?;
    append(page, &[&element(document, "h2", &[], Some("Your cart"))?])?;
    if view.profile.cart.is_empty() {
        return append(
            page,
            &[&element(document, "p", &[], Some("Your cart is empty."))?],
        );
    }
    let list = element(document, "ul", &[("class", "cart")], None)?;
    let mut total = 0.0;
    for line in &view.profile.cart {
        let title = shop
            .product(&line.id)
            .map_or(line.id.as_str(), |p| p.title.as_str());
        total += line.price * f64::from(line.quantity);
        let row = element(document, "li", &[("data-cove-item", &line.id)], None)?;
        let text = element(
            document,
            "span",
            &[],
            Some(&format!(
                "{} × {title} — {}",
                line.quantity,
                price(line.price)
            )),
        )?;
        let quantity = line.quantity.to_string();
        let remove = element(
            document,
            "button",
            &[
                ("type", "button"),
                ("data-cove-remove-from-cart", &line.id),
                ("data-cove-quantity", &quantity),
            ],
            Some("Remove"),
        )?;
        append(&row, &[&text, &remove])?;
        list.append_child(&row)?;
    }
    let sum = element(
        document,
        "p",
        &[("class", "total")],
        Some(&format!("Total {}", price(total))),
    )?;
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
            &slot(document, "basket", 6, "basket", None)?,
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
    let cove = shop.cove.clone();
    let lines = view.profile.cart.clone();
    EventListener::new(&checkout, "click", move |_| {
        #[derive(Serialize)]
        struct Line<'a> {
            item: &'a str,
            quantity: u32,
            price: f64,
        }
        #[derive(Serialize)]
        struct Purchase<'a> {
            r#type: &'static str,
            lines: Vec<Line<'a>>,
        }
        let purchase = Purchase {
            r#type: "purchase",
            lines: lines
                .iter()
                .map(|l| Line {
                    item: &l.id,
                    quantity: l.quantity,
                    price: l.price,
                })
                .collect(),
        };
        let Ok(event) = serde_wasm_bindgen::to_value(&purchase) else {
            return;
        };
        let cove = cove.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if in_rescue {
                // Placing the order is the rescue campaign's response too.
                let _ = cove.campaign_response(crate::rescue::RESCUE_CAMPAIGN).await;
            }
            if cove.track(event).await.is_ok() {
                let _ = gloo_utils::window().location().set_hash("#/knows");
            }
        });
    })
    .forget();
    Ok(())
}

/// "What this shop knows about you": the snippet's panel, in a container.
async fn knows(shop: &Shop, document: &Document, page: &Element) -> Result<(), JsValue> {
    let container = element(document, "div", &[("class", "knows")], None)?;
    page.append_child(&container)?;
    crate::privacy_panel::mount(&shop.cove, &container).await
}
