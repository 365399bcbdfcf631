//! The demo's pages. Each page is rebuilt from scratch, then replaces the
//! shop's root element (unless a later render started meanwhile); then the
//! snippet fills the slots it contains. Browsing pages are in `listing`, the
//! cart and the order confirmation in `cart`.

use std::rc::Rc;

use serde::Serialize;
use wasm_bindgen::prelude::*;
use web_sys::{Document, Element};

use crate::dom::{append, element, link, price};
use crate::listing::{add_button, category_list, product_grid};
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

/// The shop's name, at the end of every page's title.
const SHOP_NAME: &str = "Cove demo shop";

/// Renders `route` into the shop's root element, as render number `render`.
pub async fn render(shop: &Rc<Shop>, route: &Route, render: u64) -> Result<(), JsValue> {
    let document = gloo_utils::document();
    let page = element(
        &document,
        "div",
        &[("class", "page"), ("data-page", route.page_name())],
        None,
    )?;
    match route {
        Route::Home => home(shop, &document, &page)?,
        Route::Product(id) => product(shop, &document, &page, id).await?,
        Route::Cart => crate::cart::cart_page(shop, &document, &page).await?,
        Route::Knows => knows(shop, &document, &page).await?,
        Route::Search {
            query,
            page: number,
        } => {
            shop.header.show_query(query);
            crate::listing::search_page(shop, &document, &page, query, *number)?
        }
        Route::Categories => crate::listing::categories_page(shop, &document, &page)?,
        Route::Category { name, page: number } => {
            crate::listing::category_page(shop, &document, &page, name, *number)?
        }
        Route::Order(number) => crate::cart::order_page(shop, &document, &page, *number).await?,
        Route::NotFound => not_found(&document, &page)?,
    }
    if shop.renders.get() != render {
        // A later render started while this one waited: it shows its page.
        return Ok(());
    }
    shop.root.replace_children_with_node_1(&page);
    document.set_title(&title(shop, route));
    shop.cove.refresh_slots().await?;
    Ok(())
}

/// The page's title, for the tab and screen readers.
fn title(shop: &Shop, route: &Route) -> String {
    let name = match route {
        Route::Home => return SHOP_NAME.into(),
        Route::Product(id) => shop.title_of(id).to_owned(),
        Route::Cart => "Your cart".into(),
        Route::Knows => "What this shop knows about you".into(),
        Route::Search { query, .. } if query.trim().is_empty() => "Search".into(),
        Route::Search { query, .. } => format!("Search: {query}"),
        Route::Categories => "Categories".into(),
        Route::Category { name, .. } => name.clone(),
        Route::Order(number) => format!("Order {number}"),
        Route::NotFound => "Page not found".into(),
    };
    format!("{name} \u{2014} {SHOP_NAME}")
}

/// A slot for the snippet to fill. `kind` is the moment it serves (the
/// snippet's `data-cove-kind`: "for_you", "item_page", "basket"); an item
/// page names its `context_item`.
pub fn slot(
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
        Some("Ranked in this browser by Cove's engine, from what you do here. Your activity stays in this browser; only anonymous, privacy-protected counts are sent to the shop."),
    )?;
    append(
        page,
        &[
            &heading,
            &note,
            &slot(document, "home", 8, "for_you", None)?,
        ],
    )?;
    let categories_heading = element(document, "h2", &[], Some("Shop by category"))?;
    let categories = category_list(document, &shop.catalogue.categories())?;
    let catalogue_heading = element(document, "h2", &[], Some("From the catalogue"))?;
    let products: Vec<_> = shop
        .catalogue
        .products()
        .iter()
        .filter(|p| p.in_stock)
        .take(HOME_GRID)
        .collect();
    let grid = product_grid(document, &products, false)?;
    append(
        page,
        &[&categories_heading, &categories, &catalogue_heading, &grid],
    )
}

async fn product(
    shop: &Shop,
    document: &Document,
    page: &Element,
    id: &str,
) -> Result<(), JsValue> {
    let Some(product) = shop.product(id) else {
        let heading = element(document, "h2", &[], Some("Product not found"))?;
        let missing = element(
            document,
            "p",
            &[("class", "empty")],
            Some("This product is not in the catalogue. Try the search box above."),
        )?;
        return append(page, &[&heading, &missing]);
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
    let category = product.category_label();
    let details = element(document, "p", &[("class", "details")], None)?;
    details.append_with_str_1(&format!("{} · ", price(product.price)))?;
    let category_link = link(
        document,
        &Route::Category {
            name: category.to_owned(),
            page: 1,
        }
        .href(),
        category,
    )?;
    details.append_child(&category_link)?;
    details.append_with_str_1(&format!(" · code {}", product.id))?;
    let add = add_button(document, product)?;
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

/// "What this shop knows about you": the snippet's panel, in a container.
async fn knows(shop: &Shop, document: &Document, page: &Element) -> Result<(), JsValue> {
    let container = element(document, "div", &[("class", "knows")], None)?;
    page.append_child(&container)?;
    crate::privacy_panel::mount(&shop.cove, &container).await
}

/// A hash that names no page.
fn not_found(document: &Document, page: &Element) -> Result<(), JsValue> {
    let heading = element(document, "h2", &[], Some("Page not found"))?;
    let text = element(
        document,
        "p",
        &[("class", "empty")],
        Some("This address names no page of the shop. Search with the box above, or go to the "),
    )?;
    append(&text, &[&link(document, &Route::Home.href(), "home page")?])?;
    text.append_with_str_1(".")?;
    append(page, &[&heading, &text])
}
