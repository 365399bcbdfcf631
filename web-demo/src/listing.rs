//! Browsing the catalogue: product cards and grids, the category list,
//! search results and category pages, both a page of [`PAGE_SIZE`] at a
//! time with a pager. Every text from the catalogue or the URL (titles,
//! categories, the query) is set as text, never parsed as markup.

use wasm_bindgen::prelude::*;
use web_sys::{Document, Element};

use crate::catalogue::{page_of, Category, PageOf, Product, PAGE_SIZE};
use crate::dom::{append, count_of, element, link, price, product_href};
use crate::route::Route;
use crate::Shop;

/// A product's card: its title (a link to its page), price, category when
/// `show_category`, and an "Add to cart" button.
pub fn product_card(
    document: &Document,
    product: &Product,
    show_category: bool,
) -> Result<Element, JsValue> {
    let card = element(
        document,
        "article",
        &[("class", "card"), ("data-cove-item", &product.id)],
        None,
    )?;
    let title = link(document, &product_href(&product.id), &product.title)?;
    let cost = element(
        document,
        "span",
        &[("class", "price")],
        Some(&price(product.price)),
    )?;
    append(&card, &[&title, &cost])?;
    if show_category {
        let category = link(
            document,
            &category_href(product.category_label(), 1),
            product.category_label(),
        )?;
        category.set_attribute("class", "category")?;
        card.append_child(&category)?;
    }
    append(&card, &[&add_button(document, product)?])?;
    Ok(card)
}

/// "Add to cart" for `product` (the shop's click handler records it), or a
/// disabled "Out of stock".
pub fn add_button(document: &Document, product: &Product) -> Result<Element, JsValue> {
    if !product.in_stock {
        return element(
            document,
            "button",
            &[("type", "button"), ("disabled", "")],
            Some("Out of stock"),
        );
    }
    element(
        document,
        "button",
        &[
            ("type", "button"),
            ("data-add-to-cart", &product.id),
            ("aria-label", &format!("Add to cart: {}", product.title)),
        ],
        Some("Add to cart"),
    )
}

/// A grid of product cards.
pub fn product_grid(
    document: &Document,
    products: &[&Product],
    show_category: bool,
) -> Result<Element, JsValue> {
    let grid = element(document, "div", &[("class", "grid")], None)?;
    for product in products {
        append(&grid, &[&product_card(document, product, show_category)?])?;
    }
    Ok(grid)
}

fn category_href(name: &str, page: u32) -> String {
    Route::Category {
        name: name.to_owned(),
        page,
    }
    .href()
}

/// The categories, each a link with its number of products.
pub fn category_list(document: &Document, categories: &[Category]) -> Result<Element, JsValue> {
    let list = element(document, "ul", &[("class", "categories")], None)?;
    for category in categories {
        let item = element(document, "li", &[], None)?;
        let name = link(document, &category_href(&category.name, 1), &category.name)?;
        let count = element(
            document,
            "span",
            &[("class", "count")],
            Some(&count_of(category.count, "product", "products")),
        )?;
        append(&item, &[&name, &count])?;
        list.append_child(&item)?;
    }
    Ok(list)
}

/// One page of `products` (page `page`, from 1) with "Showing a–b of n" and
/// a pager whose links `href` makes; past the end, a message and a way back.
fn results(
    document: &Document,
    page: &Element,
    products: &[&Product],
    page_number: u32,
    show_category: bool,
    href: &dyn Fn(u32) -> String,
) -> Result<(), JsValue> {
    match page_of(products.len(), page_number) {
        PageOf::OutOfRange { n_pages } => {
            let text = element(
                document,
                "p",
                &[("class", "empty"), ("data-out-of-range", "")],
                Some(&format!(
                    "There is no page {page_number} here: these results have {}. ",
                    count_of(n_pages as usize, "page", "pages")
                )),
            )?;
            append(&text, &[&link(document, &href(1), "Go to the first page")?])?;
            if n_pages > 1 {
                text.append_with_str_1(" or ")?;
                append(&text, &[&link(document, &href(n_pages), "the last page")?])?;
            }
            text.append_with_str_1(".")?;
            page.append_child(&text)?;
        }
        PageOf::Items {
            start,
            end,
            n_pages,
        } => {
            if end > start {
                let showing = element(
                    document,
                    "p",
                    &[("class", "showing")],
                    Some(&format!(
                        "Showing {}–{end} of {}",
                        start + 1,
                        products.len()
                    )),
                )?;
                page.append_child(&showing)?;
            }
            append(
                page,
                &[&product_grid(
                    document,
                    &products[start..end],
                    show_category,
                )?],
            )?;
            if n_pages > 1 {
                append(page, &[&pager(document, page_number, n_pages, href)?])?;
            }
        }
    }
    Ok(())
}

/// "Previous 1 … 4 5 6 … 20 Next": the first and last pages, two either side
/// of the current one, the current one marked for screen readers.
fn pager(
    document: &Document,
    current: u32,
    n_pages: u32,
    href: &dyn Fn(u32) -> String,
) -> Result<Element, JsValue> {
    let nav = element(
        document,
        "nav",
        &[("class", "pager"), ("aria-label", "Pages")],
        None,
    )?;
    if current > 1 {
        let previous = link(document, &href(current - 1), "Previous")?;
        previous.set_attribute("rel", "prev")?;
        nav.append_child(&previous)?;
    }
    let mut last_shown = 0;
    for number in 1..=n_pages {
        let near = number.abs_diff(current) <= 2;
        if !(number == 1 || number == n_pages || near) {
            continue;
        }
        if number > last_shown + 1 {
            append(
                &nav,
                &[&element(document, "span", &[("class", "gap")], Some("…"))?],
            )?;
        }
        let label = format!("Page {number}");
        let text = number.to_string();
        let item = if number == current {
            element(
                document,
                "span",
                &[("aria-current", "page"), ("aria-label", &label)],
                Some(&text),
            )?
        } else {
            element(
                document,
                "a",
                &[("href", &href(number)), ("aria-label", &label)],
                Some(&text),
            )?
        };
        nav.append_child(&item)?;
        last_shown = number;
    }
    if current < n_pages {
        let next = link(document, &href(current + 1), "Next")?;
        next.set_attribute("rel", "next")?;
        nav.append_child(&next)?;
    }
    Ok(nav)
}

/// Search results for `query`, page `page_number`.
pub fn search_page(
    shop: &Shop,
    document: &Document,
    page: &Element,
    query: &str,
    page_number: u32,
) -> Result<(), JsValue> {
    if query.trim().is_empty() {
        let heading = element(document, "h2", &[], Some("Search the shop"))?;
        let hint = element(
            document,
            "p",
            &[("class", "empty")],
            Some(&format!(
                "Type what you are looking for in the search box above: a word of a product's name is enough (for example \u{201c}teacup\u{201d}). Or browse the {} products by category:",
                shop.catalogue.products().len()
            )),
        )?;
        let categories = category_list(document, &shop.catalogue.categories())?;
        return append(page, &[&heading, &hint, &categories]);
    }
    let heading = element(
        document,
        "h2",
        &[],
        Some(&format!("Results for \u{201c}{query}\u{201d}")),
    )?;
    page.append_child(&heading)?;
    let results_found = shop.catalogue.search(query);
    let n = results_found.products.len();
    if n == 0 {
        let none = element(
            document,
            "p",
            &[("class", "empty"), ("data-no-results", "")],
            Some(&format!(
                "No products match \u{201c}{query}\u{201d}. Check the spelling, try fewer or shorter words, or browse a category:"
            )),
        )?;
        let categories = category_list(document, &shop.catalogue.categories())?;
        return append(page, &[&none, &categories]);
    }
    let complete = results_found.n_complete;
    let summary = if complete == n {
        format!("{} found.", count_of(n, "product", "products"))
    } else if complete > 0 {
        format!(
            "{} match all your words, then {} that match some of them.",
            count_of(complete, "product", "products"),
            n - complete
        )
    } else {
        format!(
            "No product matches all your words; {} match some of them.",
            count_of(n, "product", "products")
        )
    };
    append(
        page,
        &[&element(
            document,
            "p",
            &[("class", "summary")],
            Some(&summary),
        )?],
    )?;
    let href = |number| {
        Route::Search {
            query: query.to_owned(),
            page: number,
        }
        .href()
    };
    results(
        document,
        page,
        &results_found.products,
        page_number,
        true,
        &href,
    )
}

/// Every category with its number of products.
pub fn categories_page(shop: &Shop, document: &Document, page: &Element) -> Result<(), JsValue> {
    let heading = element(document, "h2", &[], Some("Categories"))?;
    let list = category_list(document, &shop.catalogue.categories())?;
    append(page, &[&heading, &list])
}

/// Category `name`'s products, page `page_number`.
pub fn category_page(
    shop: &Shop,
    document: &Document,
    page: &Element,
    name: &str,
    page_number: u32,
) -> Result<(), JsValue> {
    let back = element(document, "p", &[("class", "breadcrumb")], None)?;
    append(
        &back,
        &[&link(
            document,
            &Route::Categories.href(),
            "All categories",
        )?],
    )?;
    page.append_child(&back)?;
    let Some((label, products)) = shop.catalogue.category(name) else {
        let heading = element(document, "h2", &[], Some("Category not found"))?;
        let text = element(
            document,
            "p",
            &[("class", "empty"), ("data-unknown-category", "")],
            Some(&format!(
                "The shop has no category called \u{201c}{name}\u{201d}. These are its categories:"
            )),
        )?;
        let categories = category_list(document, &shop.catalogue.categories())?;
        return append(page, &[&heading, &text, &categories]);
    };
    let heading = element(document, "h2", &[], Some(&label))?;
    let count = element(
        document,
        "p",
        &[("class", "summary")],
        Some(&format!(
            "{}, by name; {PAGE_SIZE} to a page.",
            count_of(products.len(), "product", "products")
        )),
    )?;
    append(page, &[&heading, &count])?;
    results(document, page, &products, page_number, false, &|number| {
        category_href(&label, number)
    })
}
