//! Trending items by country, without asking the device for its country.
//!
//! The request that carries an envelope already reveals its country to the
//! shop's edge (the CDN's geolocation, `cf-ipcountry`); the device sends
//! nothing more. At ingest, each `item.interest` report is counted a second
//! time under the request's country (or `other`) in the same shop-day store
//! (its counters' `country` column); the aggregates estimate each country's histogram with
//! the same mechanism and publish it under the same k-anonymity rule. No ε is
//! spent on the country and nothing new is stored about anyone: the store
//! keeps counters only. The limits (geolocation is not the ship-to country, a
//! VPN moves a device) are written up in `docs/privacy.md`.

use cove_engine::privacy::MetricKind;
use worker::Request;

use crate::aggregate_store::Counter;

/// The metric whose reports are also counted per country.
pub const INTEREST_METRIC: &str = cove_engine::privacy::registry::ITEM_INTEREST;

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

/// The extra per-country counters for an envelope's whole-shop counters.
pub fn country_counters(counters: &[Counter], country: &str) -> Vec<Counter> {
    counters
        .iter()
        .filter(|c| {
            c.country.is_none() && MetricKind::of(&c.metric) == Some(MetricKind::ItemInterest)
        })
        .map(|c| Counter {
            country: Some(country.to_string()),
            ..c.clone()
        })
        .collect()
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
        let shop = |metric: &str, cell| Counter {
            metric: metric.to_string(),
            country: None,
            cell,
        };
        let counters = vec![shop("segment.lifecycle", 2), shop("item.interest", 77)];
        assert_eq!(
            country_counters(&counters, "FR"),
            vec![Counter {
                country: Some("FR".to_string()),
                ..shop("item.interest", 77)
            }]
        );
    }
}
