//! The demo's pages, addressed by the URL hash: `#/`, `#/product/<id>`,
//! `#/cart`, `#/knows`, `#/search?q=<words>&page=<n>`, `#/categories`,
//! `#/category/<name>?page=<n>` and `#/order/<number>`. Parsing and the
//! canonical hash of each page ([`Route::href`]) are plain Rust, tested
//! natively; a hash parsed back from [`Route::href`] is the same route.
//!
//! Bad input never fails: an unknown or malformed path is [`Route::NotFound`]
//! (the page says so), a missing or non-numeric page number is page 1, and a
//! numeric one is kept as it is, out of range or not, for the page to explain.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// One page of the demo shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The home page: slots, the categories and a catalogue grid.
    Home,
    /// A product page.
    Product(String),
    /// The cart.
    Cart,
    /// "What this shop knows about you".
    Knows,
    /// Search results for `query` as typed (empty: the page asks for words).
    Search {
        /// The query, decoded.
        query: String,
        /// The page of results asked for, from 1 (0 or past the end: the
        /// page says there is no such page).
        page: u32,
    },
    /// Every category, with its number of products.
    Categories,
    /// One category's products.
    Category {
        /// The category as the catalogue spells it, decoded.
        name: String,
        /// The page asked for, from 1, as for [`Route::Search`].
        page: u32,
    },
    /// The confirmation of an order placed on this device.
    Order(u64),
    /// A hash that names no page.
    NotFound,
}

impl Route {
    /// The route of a location hash (with or without the leading `#`).
    /// `""`, `"#"` and `"#/"` are the home page; a trailing `/` is ignored.
    pub fn from_hash(hash: &str) -> Route {
        let hash = hash.strip_prefix('#').unwrap_or(hash);
        let (path, query) = hash.split_once('?').unwrap_or((hash, ""));
        let path = path.trim_start_matches('/').trim_end_matches('/');
        let page = page_number(param(query, "page").as_deref());
        let mut parts = path.splitn(2, '/');
        match (parts.next().unwrap_or(""), parts.next()) {
            ("", None) => Route::Home,
            ("product", Some(id)) => Route::Product(percent_decode(id, false)),
            ("cart", None) => Route::Cart,
            ("knows", None) => Route::Knows,
            ("search", None) => Route::Search {
                query: param(query, "q").unwrap_or_default(),
                page,
            },
            ("categories" | "category", None) => Route::Categories,
            ("category", Some(name)) => Route::Category {
                name: percent_decode(name, false),
                page,
            },
            ("order", Some(number)) => match order_number(number) {
                Some(number) => Route::Order(number),
                None => Route::NotFound,
            },
            _ => Route::NotFound,
        }
    }

    /// The canonical hash of this page (`#/…`); page 1 is left out of it.
    pub fn href(&self) -> String {
        let with_page = |mut href: String, page: u32| {
            if page != 1 {
                let separator = if href.contains('?') { '&' } else { '?' };
                href.push_str(&format!("{separator}page={page}"));
            }
            href
        };
        match self {
            Route::Home => "#/".into(),
            Route::Product(id) => format!("#/product/{}", percent_encode(id)),
            Route::Cart => "#/cart".into(),
            Route::Knows => "#/knows".into(),
            Route::Search { query, page } if query.is_empty() => {
                with_page("#/search".into(), *page)
            }
            Route::Search { query, page } => {
                with_page(format!("#/search?q={}", percent_encode(query)), *page)
            }
            Route::Categories => "#/categories".into(),
            Route::Category { name, page } => {
                with_page(format!("#/category/{}", percent_encode(name)), *page)
            }
            Route::Order(number) => format!("#/order/{number}"),
            Route::NotFound => "#/not-found".into(),
        }
    }

    /// A name for the page, for `data-page` (tests and styles select on it).
    pub fn page_name(&self) -> &'static str {
        match self {
            Route::Home => "home",
            Route::Product(_) => "product",
            Route::Cart => "cart",
            Route::Knows => "knows",
            Route::Search { .. } => "search",
            Route::Categories => "categories",
            Route::Category { .. } => "category",
            Route::Order(_) => "order",
            Route::NotFound => "not-found",
        }
    }
}

/// The value of `name` in a `key=value&…` query (the first one), decoded as
/// a form would encode it (`+` is a space).
fn param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(key, _)| percent_decode(key, true) == name)
        .map(|(_, value)| percent_decode(value, true))
}

/// A page number: digits are a number (saturating at `u32::MAX`, so a huge
/// one is out of range rather than page 1); nothing, or anything else, is 1.
fn page_number(text: Option<&str>) -> u32 {
    match text {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.bytes().fold(0u32, |number, digit| {
                number
                    .saturating_mul(10)
                    .saturating_add(u32::from(digit - b'0'))
            })
        }
        _ => 1,
    }
}

/// An order number: 1 to 20 digits that fit a `u64`.
fn order_number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// What JavaScript's `encodeURIComponent` escapes: every byte but
/// `A–Z a–z 0–9 - _ . ! ~ * ' ( )`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Encodes `text` as JavaScript's `encodeURIComponent` does.
pub fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, URI_COMPONENT).to_string()
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, as in a
/// query); a `%` not followed by two hex digits is kept as it is, and bytes
/// that are not UTF-8 become U+FFFD.
fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let text = if plus_is_space {
        std::borrow::Cow::Owned(text.replace('+', " "))
    } else {
        std::borrow::Cow::Borrowed(text)
    };
    percent_decode_str(&text).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::Route;

    fn check(hash: &str, want: Route) {
        assert_eq!(Route::from_hash(hash), want, "{hash}");
    }

    fn search(query: &str, page: u32) -> Route {
        Route::Search {
            query: query.into(),
            page,
        }
    }

    fn category(name: &str, page: u32) -> Route {
        Route::Category {
            name: name.into(),
            page,
        }
    }

    #[test]
    fn hashes_map_to_pages() {
        check("", Route::Home);
        check("#", Route::Home);
        check("#/", Route::Home);
        check("#/product/85123A", Route::Product("85123A".into()));
        check("#/product/POST%20X", Route::Product("POST X".into()));
        check("#/product/", Route::NotFound);
        check("#/cart", Route::Cart);
        check("#/cart/", Route::Cart);
        check("#/knows", Route::Knows);
        check("#/categories", Route::Categories);
        check("#/category", Route::Categories);
        check("#/category/", Route::Categories);
        check("#/order/1767225600", Route::Order(1_767_225_600));
        check("#/nowhere/else", Route::NotFound);
        check("#/product/%ZZ", Route::Product("%ZZ".into()));
        check("#/product/%E2%82%AC%", Route::Product("€%".into()));
        check("#/product/é%4", Route::Product("é%4".into()));
    }

    #[test]
    fn search_queries_are_decoded_as_typed() {
        check("#/search?q=regency%20teacup", search("regency teacup", 1));
        check("#/search?q=regency+teacup", search("regency teacup", 1));
        check("#/search?q=a%2Bb", search("a+b", 1));
        check("#/search?page=2&q=tea", search("tea", 2));
        check("#/search?q=tea&q=cup", search("tea", 1));
        check("#/search", search("", 1));
        check("#/search?q=", search("", 1));
        check("#/search?q", search("", 1));
        check("#/search?", search("", 1));
        check(
            "#/search?q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
            search("<img src=x onerror=alert(1)>", 1),
        );
        // A query with a `#` or `?` of its own, as `encodeURIComponent` writes it.
        check("#/search?q=%23%3F%26", search("#?&", 1));
        // Not UTF-8: replaced, not refused.
        check("#/search?q=%FF", search("\u{FFFD}", 1));
    }

    #[test]
    fn categories_keep_their_spelling() {
        check(
            "#/category/VINTAGE%2C%20JUMBO%2C%20KNOB",
            category("VINTAGE, JUMBO, KNOB", 1),
        );
        check("#/category/a%2Fb?page=3", category("a/b", 3));
        check("#/category/a/b", category("a/b", 1));
        check("#/category/Other?page=2", category("Other", 2));
    }

    #[test]
    fn page_numbers_out_of_range_are_kept_and_nonsense_is_page_one() {
        check("#/category/X?page=1", category("X", 1));
        check("#/category/X?page=20", category("X", 20));
        check("#/category/X?page=0", category("X", 0));
        check("#/category/X?page=007", category("X", 7));
        check("#/category/X?page=99999999999999", category("X", u32::MAX));
        check("#/category/X?page=two", category("X", 1));
        check("#/category/X?page=-1", category("X", 1));
        check("#/category/X?page=1.5", category("X", 1));
        check("#/category/X?page=", category("X", 1));
        check("#/category/X?page=%32", category("X", 2));
        check("#/search?q=x&page=+2", search("x", 1));
    }

    #[test]
    fn malformed_hashes_are_not_found() {
        check("#/order/", Route::NotFound);
        check("#/order/abc", Route::NotFound);
        check("#/order/12a", Route::NotFound);
        check("#/order/-5", Route::NotFound);
        check("#/order/99999999999999999999999", Route::NotFound);
        check("#/cart/extra", Route::NotFound);
        check("#/search/tea", Route::NotFound);
        check("#//", Route::Home);
        check("#?q=tea", Route::Home);
        check("#/%", Route::NotFound);
        check("#/<script>", Route::NotFound);
        check("#/CART", Route::NotFound);
    }

    #[test]
    fn hrefs_parse_back_to_their_route() {
        let routes = [
            Route::Home,
            Route::Product("85123A".into()),
            Route::Product("a/b?c#d é".into()),
            Route::Cart,
            Route::Knows,
            search("", 1),
            search("", 3),
            search("regency teacup", 1),
            search("<img src=x onerror=alert(1)>", 2),
            search("50% off & more + less", 4),
            Route::Categories,
            category("VINTAGE, JUMBO, KNOB", 1),
            category("a/b?page=9", 2),
            category("Other", 0),
            Route::Order(1_767_225_600),
        ];
        for route in routes {
            let href = route.href();
            assert!(href.starts_with("#/"), "{href}");
            assert_eq!(Route::from_hash(&href), route, "{href}");
        }
        assert_eq!(
            search("regency teacup", 1).href(),
            "#/search?q=regency%20teacup"
        );
        assert_eq!(category("A, B", 2).href(), "#/category/A%2C%20B?page=2");
        assert_eq!(Route::from_hash(&Route::NotFound.href()), Route::NotFound);
    }
}
