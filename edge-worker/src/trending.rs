//! Trending items by country, without asking the device for its country.
//!
//! The request that carries an envelope already reveals its country to the
//! shop's edge (the CDN's geolocation, `cf-ipcountry`); the device sends
//! nothing more. At ingest, each `item.interest` report is counted a second
//! time under `item.interest@CC`, the request's country (or `@other`), in the
//! same shop-day store; the aggregates estimate each country's histogram with
//! the same mechanism and publish it under the same k-anonymity rule. No ε is
//! spent on the country and nothing new is stored about anyone: the store
//! keeps counters only. The limits (geolocation is not the ship-to country, a
//! VPN moves a device) are written up in `docs/privacy.md`.

use worker::Request;

/// The metric whose reports are also counted per country.
pub const INTEREST_METRIC: &str = "item.interest";

/// The separator between the metric and the country in a per-country counter.
pub const COUNTRY_SEPARATOR: char = '@';

/// The country of the request: `cf-ipcountry` when it is two capital letters
/// (Cloudflare's `XX`/`T1` codes for unknown and Tor map to `other`).
pub fn request_country(req: &Request) -> String {
    let header = req
        .headers()
        .get("cf-ipcountry")
        .ok()
        .flatten()
        .unwrap_or_default();
    normalise_country(&header)
}

/// A two-letter country code, or `other`.
pub fn normalise_country(code: &str) -> String {
    let valid = code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) && code != "XX";
    if valid {
        code.to_string()
    } else {
        "other".to_string()
    }
}

/// The extra per-country counters for an envelope's reports.
pub fn country_cells(cells: &[(String, u32)], country: &str) -> Vec<(String, u32)> {
    cells
        .iter()
        .filter(|(metric, _)| metric == INTEREST_METRIC)
        .map(|(_, cell)| {
            (
                format!("{INTEREST_METRIC}{COUNTRY_SEPARATOR}{country}"),
                *cell,
            )
        })
        .collect()
}

/// The country of a per-country counter name, if it is one.
pub fn country_of(metric: &str) -> Option<&str> {
    metric
        .strip_prefix(INTEREST_METRIC)?
        .strip_prefix(COUNTRY_SEPARATOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_codes_or_other() {
        assert_eq!(normalise_country("DE"), "DE");
        for bad in ["", "de", "XX", "T1", "DEU", "D", "é€"] {
            assert_eq!(normalise_country(bad), "other", "{bad:?}");
        }
        let cells = vec![
            ("segment.lifecycle".to_string(), 2),
            ("item.interest".to_string(), 77),
        ];
        assert_eq!(
            country_cells(&cells, "FR"),
            vec![("item.interest@FR".to_string(), 77)]
        );
        assert_eq!(country_of("item.interest@FR"), Some("FR"));
        assert_eq!(country_of("item.interest"), None);
        assert_eq!(country_of("segment.lifecycle"), None);
    }
}
