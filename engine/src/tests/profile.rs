//! Events into the profile, its bounds and its two serializations.

use crate::events::{Event, EventKind, PageKind, PurchaseLine};
use crate::features::{RfmFeatures, SessionContext, SessionFeatures};
use crate::profile::{Profile, ProfileConfig, ProfileParams, PROFILE_VERSION};
use crate::testing::synthetic_events;

const T0: i64 = 1_700_000_000;

fn view(at: i64, item: &str) -> Event {
    Event {
        at,
        kind: EventKind::View {
            page: PageKind::Product,
            item: Some(item.into()),
            price: Some(20.0),
        },
    }
}

fn page(at: i64, page: PageKind) -> Event {
    Event {
        at,
        kind: EventKind::View {
            page,
            item: None,
            price: None,
        },
    }
}

fn add(at: i64, item: &str, quantity: u32, price: f64) -> Event {
    Event {
        at,
        kind: EventKind::AddToCart {
            item: item.into(),
            quantity,
            price,
        },
    }
}

fn buy(at: i64, lines: &[(&str, u32, f64)]) -> Event {
    Event {
        at,
        kind: EventKind::Purchase {
            lines: lines
                .iter()
                .map(|(item, quantity, price)| PurchaseLine {
                    item: item.to_string(),
                    quantity: *quantity,
                    price: *price,
                })
                .collect(),
        },
    }
}

fn apply_all(events: &[Event], config: &ProfileConfig) -> Profile {
    let mut profile = Profile::new();
    for event in events {
        profile.apply(event, config).unwrap();
    }
    profile
}

#[test]
fn events_build_the_profile() {
    let config = ProfileConfig::default();
    let profile = apply_all(
        &[
            page(T0, PageKind::Administrative),
            view(T0 + 10, "a"),
            view(T0 + 70, "b"),
            page(T0 + 100, PageKind::Informational),
            add(T0 + 110, "a", 2, 20.0),
            add(T0 + 120, "a", 1, 25.0),
            Event {
                at: T0 + 130,
                kind: EventKind::RemoveFromCart {
                    item: "b".into(),
                    quantity: 1,
                },
            },
        ],
        &config,
    );
    assert_eq!(profile.items.len(), 2);
    assert_eq!(profile.cart.len(), 1);
    assert_eq!(profile.cart[0].quantity, 3);
    assert_eq!(profile.cart_value(), 75.0);
    let session = SessionFeatures::from_profile(&profile);
    assert_eq!(session.administrative, 1.0);
    assert_eq!(session.administrative_duration, 10.0);
    assert_eq!(session.product_related, 2.0);
    assert_eq!(session.product_related_duration, 90.0);
    assert_eq!(session.informational, 1.0);
    assert_eq!(
        session.informational_duration, 0.0,
        "the open page is not counted"
    );
    assert!(!session.returning_visitor);
    let context = SessionContext::from_profile(&profile, T0 + 190);
    assert_eq!(context.idle_secs, 60);

    // A purchase a day later starts a second session, empties the cart and
    // counts an abandoned cart for the first.
    let mut profile = profile;
    profile
        .apply(&buy(T0 + 86_400, &[("a", 3, 25.0)]), &config)
        .unwrap();
    assert!(profile.cart.is_empty());
    assert_eq!(profile.sessions, 2);
    assert_eq!(profile.abandoned_carts, 1);
    assert!(SessionFeatures::from_profile(&profile).returning_visitor);
    let rfm = RfmFeatures::from_profile(&profile, T0 + 11 * 86_400);
    assert_eq!(rfm.frequency, 1.0);
    assert_eq!(rfm.monetary, 75.0);
    assert_eq!(rfm.recency_days, 10.0);
    assert!(profile.items.iter().any(|s| s.id == "a" && s.purchased));
}

#[test]
fn weights_decay_by_half_each_half_life() {
    let config = ProfileConfig::default();
    let profile = apply_all(&[view(T0, "a")], &config);
    let half_life = 30 * 86_400;
    let weight = |now| profile.weights_at(now, &config).next().unwrap().1;
    assert!((weight(T0) - 1.0).abs() < 1e-12);
    assert!((weight(T0 + half_life) - 0.5).abs() < 1e-9);
    assert!((weight(T0 + 2 * half_life) - 0.25).abs() < 1e-9);
}

#[test]
fn a_full_item_list_forgets_the_weakest_item() {
    let config = ProfileParams {
        max_items: 3,
        ..ProfileParams::default()
    }
    .validate()
    .unwrap();
    let mut profile = apply_all(
        &[
            view(T0, "old"),
            view(T0 + 10, "b"),
            view(T0 + 20, "c"),
            view(T0 + 20, "c"),
        ],
        &config,
    );
    profile.apply(&view(T0 + 30, "d"), &config).unwrap();
    let ids: Vec<&str> = profile.items.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["b", "c", "d"]);
}

#[test]
fn bad_events_are_refused_and_change_nothing() {
    let config = ProfileConfig::default();
    let base = apply_all(&[view(T0, "a"), add(T0 + 5, "a", 1, 3.0)], &config);
    let long_id = "x".repeat(65);
    let cases: Vec<(Event, &str)> = vec![
        (view(-1, "a"), "invalid_event"),
        (view(T0 - 3600, "a"), "event_out_of_order"),
        (view(T0 + 1, ""), "invalid_event"),
        (view(T0 + 1, &long_id), "invalid_event"),
        (view(T0 + 1, "quote\"id"), "invalid_event"),
        (view(T0 + 1, "new\nline"), "invalid_event"),
        (add(T0 + 1, "a", 0, 1.0), "invalid_event"),
        (add(T0 + 1, "a", 1, f64::NAN), "invalid_event"),
        (add(T0 + 1, "a", 1, -1.0), "invalid_event"),
        (add(T0 + 1, "a", 1, f64::INFINITY), "invalid_event"),
        (add(T0 + 1, "a", 1_000_000, 1.0), "invalid_event"),
        (buy(T0 + 1, &[]), "invalid_event"),
        (
            Event {
                at: T0 + 1,
                kind: EventKind::Search {
                    query: "q".repeat(5000),
                },
            },
            "invalid_event",
        ),
        (
            Event {
                at: T0 + 1,
                kind: EventKind::Rating {
                    item: "a".into(),
                    stars: 6,
                    text: None,
                },
            },
            "invalid_event",
        ),
        (
            Event {
                at: T0 + 1,
                kind: EventKind::Purchase {
                    lines: vec![
                        PurchaseLine {
                            item: "a".into(),
                            quantity: 1,
                            price: 1.0
                        };
                        1000
                    ],
                },
            },
            "invalid_event",
        ),
    ];
    for (event, code) in cases {
        let mut profile = base.clone();
        let error = profile.apply(&event, &config).unwrap_err();
        assert_eq!(error.code(), code, "{event:?}: {error}");
        assert_eq!(profile, base, "{event:?} changed the profile");
    }
    // A full cart refuses a new line but not more of a line it holds.
    let config = ProfileParams {
        max_cart_lines: 1,
        ..ProfileParams::default()
    }
    .validate()
    .unwrap();
    let mut profile = base.clone();
    assert_eq!(
        profile
            .apply(&add(T0 + 9, "b", 1, 1.0), &config)
            .unwrap_err()
            .code(),
        "invalid_event"
    );
    profile.apply(&add(T0 + 9, "a", 1, 1.0), &config).unwrap();
}

#[test]
fn event_json_is_parsed_and_checked() {
    let config = ProfileConfig::default();
    let check = |json: &str, code: Option<&str>| match (
        Event::from_json(json.as_bytes(), &config.event_limits()),
        code,
    ) {
        (Ok(_), None) => {}
        (Err(error), Some(code)) => assert_eq!(error.code(), code, "{json}: {error}"),
        (result, _) => panic!("{json}: {result:?}"),
    };
    check(r#"{"at": 5, "kind": {"type": "view", "item": "a"}}"#, None);
    check(
        r#"{"at": 5, "kind": {"type": "view", "page": "informational"}}"#,
        None,
    );
    check(
        r#"{"at": 5, "kind": {"type": "purchase", "lines": [{"item": "a", "quantity": 1, "price": 2.5}]}}"#,
        None,
    );
    check(
        r#"{"at": 5, "kind": {"type": "teleport"}}"#,
        Some("event_syntax"),
    );
    check(
        r#"{"at": 5, "kind": {"type": "view", "extra": 1}}"#,
        Some("event_syntax"),
    );
    check(
        r#"{"at": "5", "kind": {"type": "view"}}"#,
        Some("event_syntax"),
    );
    check(
        r#"{"at": 5, "kind": {"type": "add_to_cart", "item": "a", "quantity": -1, "price": 1}}"#,
        Some("event_syntax"),
    );
    check(
        r#"{"at": 5, "kind": {"type": "add_to_cart", "item": "a", "quantity": 1, "price": -1}}"#,
        Some("invalid_event"),
    );
    check(r#"{"at": 5"#, Some("event_syntax"));
    check("", Some("event_syntax"));
    // A field another type of event carries, and a missing required field.
    check(
        r#"{"at": 5, "kind": {"type": "search", "query": "mug", "item": "a"}}"#,
        Some("event_syntax"),
    );
    check(
        r#"{"at": 5, "kind": {"type": "view", "stars": 3}}"#,
        Some("event_syntax"),
    );
    check(
        r#"{"at": 5, "kind": {"type": "add_to_cart", "item": "a", "price": 1}}"#,
        Some("event_syntax"),
    );
    check(
        r#"{"at": 5, "kind": {"type": "rating", "stars": 3}}"#,
        Some("event_syntax"),
    );
    check(r#"{"at": 5, "kind": {"item": "a"}}"#, Some("event_syntax"));
    check(
        r#"{"at": 5, "kind": {"type": "view", "type": "view"}}"#,
        Some("event_syntax"),
    );
    // Every type still round-trips through its JSON form.
    for json in [
        r#"{"at":5,"kind":{"type":"view","page":"product","item":"a","price":2.5}}"#,
        r#"{"at":5,"kind":{"type":"add_to_cart","item":"a","quantity":2,"price":1.0}}"#,
        r#"{"at":5,"kind":{"type":"remove_from_cart","item":"a","quantity":1}}"#,
        r#"{"at":5,"kind":{"type":"search","query":"mug"}}"#,
        r#"{"at":5,"kind":{"type":"rating","item":"a","stars":4,"text":"nice"}}"#,
    ] {
        let event = Event::from_json(json.as_bytes(), &config.event_limits()).unwrap();
        assert_eq!(serde_json::to_string(&event).unwrap(), json);
    }
}

#[test]
fn both_encodings_round_trip() {
    let config = ProfileConfig::default();
    let profile = apply_all(&synthetic_events(500, 300, T0, 3), &config);
    assert!(!profile.items.is_empty());
    let bytes = profile.to_bytes();
    assert_eq!(Profile::from_bytes(&bytes, &config).unwrap(), profile);
    let json = profile.to_json();
    assert_eq!(Profile::from_json(&json, &config).unwrap(), profile);
    assert_eq!(
        Profile::from_bytes(&Profile::new().to_bytes(), &config).unwrap(),
        Profile::new()
    );
}

#[test]
fn corrupt_and_old_profiles_are_refused() {
    let config = ProfileConfig::default();
    let profile = apply_all(&synthetic_events(100, 50, T0, 4), &config);
    let bytes = profile.to_bytes();
    let check = |bytes: &[u8], code: &str| {
        let error = Profile::from_bytes(bytes, &config).unwrap_err();
        assert_eq!(error.code(), code, "{error}");
    };
    check(b"", "profile_corrupt");
    check(b"CVPF", "profile_corrupt");
    check(&bytes[..bytes.len() - 1], "profile_corrupt");
    check(&bytes[..bytes.len() / 2], "profile_corrupt");
    let mut wrong_magic = bytes.clone();
    wrong_magic[0] = b'X';
    check(&wrong_magic, "profile_corrupt");
    for position in [5, bytes.len() / 2, bytes.len() - 5, bytes.len() - 1] {
        let mut flipped = bytes.clone();
        flipped[position] ^= 0x10;
        check(&flipped, "profile_corrupt");
    }
    let mut old = bytes.clone();
    old[4] = 0; // version 0
    check(&old, "profile_version");
    let mut future = bytes.clone();
    future[4] = 2;
    check(&future, "profile_version");
    let mut extended = bytes[..bytes.len() - 4].to_vec();
    extended.push(0);
    let crc = crate::profile::tests_support::crc32(&extended);
    extended.extend_from_slice(&crc.to_le_bytes());
    check(&extended, "profile_corrupt");

    let json_check = |text: &str, code: &str| {
        let error = Profile::from_json(text, &config).unwrap_err();
        assert_eq!(error.code(), code, "{text}: {error}");
    };
    let json = profile.to_json();
    json_check(
        &json.replacen(
            &format!("\"version\":{PROFILE_VERSION}"),
            "\"version\":0",
            1,
        ),
        "profile_version",
    );
    json_check(&json[..json.len() - 2], "profile_corrupt");
    json_check("{}", "profile_corrupt");
    json_check("[]", "profile_corrupt");
    let mut unsorted = profile.clone();
    unsorted.items.reverse();
    json_check(&unsorted.to_json(), "profile_corrupt");
    let mut negative = profile.clone();
    negative.items[0].weight = -1.0;
    json_check(&negative.to_json(), "profile_corrupt");
    check(&negative.to_bytes(), "profile_corrupt");
}

#[test]
fn the_default_limits_keep_the_worst_case_within_64_kib() {
    let config = ProfileConfig::default();
    let worst = Profile::worst_case(&config);
    assert!(
        worst.to_bytes().len() <= 64 * 1024,
        "{}",
        worst.to_bytes().len()
    );
    assert!(
        worst.to_json().len() <= 64 * 1024,
        "{}",
        worst.to_json().len()
    );
    assert_eq!(ProfileParams::default().validate().unwrap(), config);
    let too_big = ProfileParams {
        max_items: 2000,
        ..ProfileParams::default()
    };
    assert_eq!(too_big.validate().unwrap_err().code(), "invalid_parameter");
    let bad = |params: ProfileParams| {
        assert_eq!(params.validate().unwrap_err().code(), "invalid_parameter")
    };
    bad(ProfileParams {
        max_items: 0,
        ..ProfileParams::default()
    });
    bad(ProfileParams {
        half_life_days: f64::NAN,
        ..ProfileParams::default()
    });
    bad(ProfileParams {
        weight_view: -1.0,
        ..ProfileParams::default()
    });
    bad(ProfileParams {
        session_gap_secs: 0,
        ..ProfileParams::default()
    });
}
