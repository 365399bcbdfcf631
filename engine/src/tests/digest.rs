//! The reporter's model digest (`privacy::digest`): what it carries reads
//! back as the model answers, the reports built from it are the reports
//! built from the model, and a digest of another model, a truncated one or a
//! corrupt one is refused with a typed error before anything is reported.

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::bundle::Model;
use crate::events::Event;
use crate::privacy::device::DeviceReporter;
use crate::privacy::digest::{ModelDigest, ReportingModel};
use crate::privacy::registry::{
    lifecycle_names, lifecycle_of, observe, review_cell, value_labels, ReviewClass,
};
use crate::privacy::MetricKind;
use crate::profile::codec::{crc32, Writer};
use crate::profile::Profile;
use crate::testing::{synthetic_bundle, SyntheticSpec};
use crate::Error;

use super::reporting::registry;

const DAY: i64 = 86_400;
const NOW: i64 = 20_000 * DAY + 3_600;

fn model_of(spec: &SyntheticSpec) -> Model {
    let bundle = synthetic_bundle(spec);
    Model::from_bytes(&bundle.manifest, &bundle.tensors).unwrap()
}

fn digest_of(model: &Model) -> ModelDigest {
    ModelDigest::decode(&ModelDigest::encode(model)).unwrap()
}

/// A shopper who viewed and bought items of the catalogue (`seed` picks
/// which, how many and when).
fn shopper(model: &Model, seed: u64) -> Profile {
    let config = model.profile_config();
    let mut profile = Profile::new();
    let n = model.n_items() as u64;
    let mut at = NOW - 400 * DAY;
    for step in 0..(seed % 23) {
        let x = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(step.wrapping_mul(1_442_695_040_888_963_407));
        at += (x % (40 * DAY as u64)) as i64;
        let item = &model.items()[((x >> 17) % n) as usize].id;
        let price = 0.5 + ((x >> 29) % 4_000) as f64 / 100.0;
        let kind = if x % 3 == 0 {
            format!(
                r#"{{"type": "purchase", "lines": [{{"item": "{item}", "quantity": 1, "price": {price}}}]}}"#
            )
        } else {
            format!(r#"{{"type": "view", "item": "{item}", "price": {price}}}"#)
        };
        let json = format!(r#"{{"at": {}, "kind": {kind}}}"#, at.min(NOW));
        let event = Event::from_json(json.as_bytes(), &config.event_limits()).unwrap();
        profile.apply(&event, config).unwrap();
    }
    profile
}

#[test]
fn the_digest_answers_what_the_reports_read_as_the_model_does() {
    for spec in [
        SyntheticSpec::default(),
        SyntheticSpec {
            n_items: 37,
            n_categories: 1,
            seed: 11,
            ..SyntheticSpec::default()
        },
    ] {
        let model = model_of(&spec);
        let digest = digest_of(&model);
        assert_eq!(ReportingModel::model_id(&digest), model.model_id());
        assert_eq!(
            ReportingModel::profile_config(&digest),
            model.profile_config()
        );
        assert_eq!(digest.lifecycle(), ReportingModel::lifecycle(&model));
        assert_eq!(digest.price_tiers(), ReportingModel::price_tiers(&model));
        assert_eq!(ReportingModel::n_items(&digest), model.n_items());
        assert_eq!(lifecycle_names(&digest), lifecycle_names(&model));
        for kind in [MetricKind::LifecycleSegment, MetricKind::PriceTier] {
            assert_eq!(value_labels(&digest, kind), value_labels(&model, kind));
        }
        for (row, item) in model.items().iter().enumerate() {
            let found = ReportingModel::item_row(&digest, &item.id);
            assert_eq!(found, Some(row as u32), "{}", item.id);
            assert_eq!(
                ReportingModel::item_category(&digest, row as u32),
                model.item_category(row as u32)
            );
            for class in [ReviewClass::Negative, ReviewClass::Positive] {
                for segment in 0..=lifecycle_names(&model).len() as u32 {
                    assert_eq!(
                        review_cell(&digest, &item.id, segment, class),
                        review_cell(&model, &item.id, segment, class)
                    );
                }
            }
        }
        assert_eq!(ReportingModel::item_row(&digest, "no-such-item"), None);
        let config = model.profile_config();
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..60 {
            let profile = shopper(&model, seed);
            for now in [NOW, NOW + 90 * DAY] {
                for kind in [MetricKind::LifecycleSegment, MetricKind::PriceTier] {
                    seen.insert((kind as u8, observe(&model, &profile, config, now, kind)));
                }
                assert_eq!(
                    lifecycle_of(&digest, &profile, now),
                    crate::segments::classify(&model, &profile, config, now)
                        .lifecycle
                        .name
                );
                for kind in [
                    MetricKind::LifecycleSegment,
                    MetricKind::PriceTier,
                    MetricKind::ItemInterest,
                ] {
                    assert_eq!(
                        observe(&digest, &profile, config, now, kind),
                        observe(&model, &profile, config, now, kind),
                        "seed {seed}, {kind:?}"
                    );
                }
            }
        }
        // The shoppers fall in several segments and tiers, not one.
        assert!(seen.len() >= 5, "{seen:?}");
    }
}

/// The envelope a device builds from the digest is, byte for byte, the one
/// it builds from the model (the same generator seed, the same profile).
#[test]
fn a_report_from_the_digest_is_the_report_from_the_model() {
    let model = model_of(&SyntheticSpec::default());
    let digest = digest_of(&model);
    let registry = registry(&model);
    let config = model.profile_config();
    for seed in 0..8 {
        let profile = shopper(&model, seed * 7 + 3);
        let mut bodies = Vec::new();
        for from_digest in [false, true] {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let mut reporter = DeviceReporter::default();
            reporter.schedule_first(&registry, NOW, &mut rng);
            let due = reporter.status(NOW).next_report_at.unwrap();
            let item = &model.items()[seed as usize].id;
            let body = if from_digest {
                reporter
                    .record_review(&digest, item, ReviewClass::Negative)
                    .unwrap();
                reporter.prepare(&registry, &digest, &profile, config, due, &mut rng)
            } else {
                reporter
                    .record_review(&model, item, ReviewClass::Negative)
                    .unwrap();
                reporter.prepare(&registry, &model, &profile, config, due, &mut rng)
            };
            bodies.push(body.unwrap().expect("a report is due").to_string());
        }
        assert_eq!(bodies[0], bodies[1], "seed {seed}");
    }
}

#[test]
fn a_digest_of_another_model_reports_nothing() {
    let model = model_of(&SyntheticSpec::default());
    let other = model_of(&SyntheticSpec {
        seed: 8,
        ..SyntheticSpec::default()
    });
    assert_ne!(model.model_id(), other.model_id());
    let digest = digest_of(&other);
    let registry = registry(&model);
    let config = model.profile_config();
    let profile = shopper(&model, 5);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut reporter = DeviceReporter::default();
    reporter.schedule_first(&registry, NOW, &mut rng);
    let due = reporter.status(NOW).next_report_at.unwrap();
    let error = reporter
        .prepare(&registry, &digest, &profile, config, due, &mut rng)
        .unwrap_err();
    assert_eq!(error.code(), "invalid_parameter");
    let status = reporter.status(due);
    assert_eq!(status.spent_today, 0.0);
    assert!(!status.pending);
}

fn corrupt(bytes: &[u8]) -> String {
    match ModelDigest::decode(bytes) {
        Err(Error::CorruptModelDigest { reason }) => reason,
        Err(other) => panic!("another error: {other}"),
        Ok(_) => panic!("a corrupt digest was read"),
    }
}

#[test]
fn a_truncated_or_damaged_digest_is_refused() {
    let model = model_of(&SyntheticSpec {
        n_items: 20,
        ..SyntheticSpec::default()
    });
    let bytes = ModelDigest::encode(&model);
    for end in 0..bytes.len() {
        corrupt(&bytes[..end]);
    }
    for position in 0..bytes.len() {
        for bit in [0x01, 0x80] {
            let mut damaged = bytes.clone();
            damaged[position] ^= bit;
            corrupt(&damaged);
        }
    }
    let mut longer = bytes.clone();
    longer.insert(bytes.len() - 4, 0);
    corrupt(&longer);
    assert_eq!(
        corrupt(b"CVPF\x01\x00\x00\x00\x00\x00"),
        "not a model digest (bad magic)"
    );
    let code = Error::CorruptModelDigest {
        reason: String::new(),
    }
    .code();
    assert_eq!(code, "model_digest_corrupt");
}

/// A digest whose checksum holds but whose content no bundle could have:
/// each part written by hand, one broken at a time.
#[test]
fn a_digest_no_bundle_could_give_is_refused() {
    struct Parts {
        version: u64,
        half_life: f64,
        rule: [u8; 6],
        cuts: Vec<f64>,
        labels: Vec<&'static str>,
        head: u64,
        n_categories: u64,
        items: Vec<(&'static str, u64)>,
        trailing: bool,
    }
    let good = || Parts {
        version: 2,
        half_life: 30.0,
        rule: [1, 2, 1, 2, 1, 2],
        cuts: vec![1.0],
        labels: vec!["budget", "premium"],
        head: 1,
        n_categories: 2,
        items: vec![("a", 0), ("b", 1)],
        trailing: false,
    };
    let write = |parts: &Parts| {
        let mut out = Writer(b"CVMD".to_vec());
        out.uint(parts.version);
        out.string("cove-test");
        out.f64(parts.half_life);
        out.uint(1);
        out.string("loyal");
        out.0.extend_from_slice(&parts.rule);
        out.string("new");
        out.string("lapsed");
        for _ in 0..4 {
            out.uint(parts.cuts.len() as u64);
            for cut in &parts.cuts {
                out.f64(*cut);
            }
        }
        out.uint(parts.labels.len() as u64);
        for label in &parts.labels {
            out.string(label);
        }
        out.uint(parts.head);
        out.uint(parts.n_categories);
        out.uint(parts.items.len() as u64);
        for (id, category) in &parts.items {
            out.string(id);
            out.uint(*category);
        }
        if parts.trailing {
            out.uint(0);
        }
        let crc = crc32(&out.0);
        out.0.extend_from_slice(&crc.to_le_bytes());
        out.0
    };
    let digest = ModelDigest::decode(&write(&good())).unwrap();
    assert_eq!(ReportingModel::item_row(&digest, "b"), Some(1));
    assert!(digest.is_head());
    let cases: Vec<(&str, Parts)> = vec![
        (
            "another format version",
            Parts {
                version: 1,
                ..good()
            },
        ),
        ("a head flag neither 0 nor 1", Parts { head: 2, ..good() }),
        (
            "more categories than items (a report's domain would overflow)",
            Parts {
                n_categories: 1 << 40,
                ..good()
            },
        ),
        (
            "a half-life out of range",
            Parts {
                half_life: -1.0,
                ..good()
            },
        ),
        (
            "a score range beyond the cuts",
            Parts {
                rule: [1, 3, 1, 2, 1, 2],
                ..good()
            },
        ),
        (
            "a score range out of order",
            Parts {
                rule: [2, 1, 1, 2, 1, 2],
                ..good()
            },
        ),
        (
            "cuts not ascending",
            Parts {
                cuts: vec![2.0, 1.0],
                ..good()
            },
        ),
        (
            "a cut not finite",
            Parts {
                cuts: vec![f64::NAN],
                ..good()
            },
        ),
        (
            "one label too few",
            Parts {
                labels: vec!["budget"],
                ..good()
            },
        ),
        (
            "a category out of range",
            Parts {
                items: vec![("a", 0), ("b", 2)],
                ..good()
            },
        ),
        (
            "a repeated item id",
            Parts {
                items: vec![("a", 0), ("a", 1)],
                ..good()
            },
        ),
        (
            "bytes after the items",
            Parts {
                trailing: true,
                ..good()
            },
        ),
    ];
    for (what, parts) in cases {
        let reason = corrupt(&write(&parts));
        assert!(!reason.is_empty(), "{what}");
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Any bytes, and any damage to a real digest, are read or refused
        /// with the digest's error: never a panic, never another error.
        #[test]
        fn any_bytes_are_read_or_refused(
            bytes in prop::collection::vec(any::<u8>(), 0..200),
            position in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let _ = ModelDigest::decode(&bytes);
            let mut real = ModelDigest::encode(&model_of(&SyntheticSpec { n_items: 12, ..SyntheticSpec::default() }));
            let at = position.index(real.len());
            real[at] = byte;
            // Refused unless the byte was unchanged.
            match ModelDigest::decode(&real) {
                Ok(_) | Err(Error::CorruptModelDigest { .. }) => {}
                Err(other) => prop_assert!(false, "another error: {}", other),
            }
        }
    }
}
