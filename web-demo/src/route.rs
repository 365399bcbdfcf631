//! The demo's pages, addressed by the URL hash: `#/`, `#/product/<id>`, `#/cart`,
//! `#/knows`. Parsing is plain Rust, tested natively.

/// One page of the demo shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The home page: slots and a catalogue grid.
    Home,
    /// A product page.
    Product(String),
    /// The cart.
    Cart,
    /// "What this shop knows about you".
    Knows,
}

impl Route {
    /// The route of a location hash (with or without the leading `#`).
    /// Anything unknown is the home page.
    pub fn from_hash(hash: &str) -> Route {
        let path = hash.trim_start_matches('#').trim_start_matches('/');
        let mut parts = path.splitn(2, '/');
        match (parts.next(), parts.next()) {
            (Some("product"), Some(id)) if !id.is_empty() => Route::Product(percent_decode(id)),
            (Some("cart"), None) => Route::Cart,
            (Some("knows"), None) => Route::Knows,
            _ => Route::Home,
        }
    }
}

/// Decodes `%XX` escapes (item ids are put in URLs with `encodeURIComponent`);
/// a `%` not followed by two hex digits is kept as it is.
fn percent_decode(text: &str) -> String {
    fn hex(byte: u8) -> Option<u8> {
        (byte as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let (Some(high), Some(low)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                out.push(high * 16 + low);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::Route;

    #[test]
    fn hashes_map_to_pages() {
        let check = |hash: &str, want: Route| assert_eq!(Route::from_hash(hash), want, "{hash}");
        check("", Route::Home);
        check("#/", Route::Home);
        check("#/product/85123A", Route::Product("85123A".into()));
        check("#/product/POST%20X", Route::Product("POST X".into()));
        check("#/product/", Route::Home);
        check("#/cart", Route::Cart);
        check("#/knows", Route::Knows);
        check("#/nowhere/else", Route::Home);
        check("#/product/%ZZ", Route::Product("%ZZ".into()));
        check("#/product/%E2%82%AC%", Route::Product("€%".into()));
        check("#/product/é%4", Route::Product("é%4".into()));
    }
}
