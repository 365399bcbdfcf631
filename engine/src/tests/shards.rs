//! A head bundle and its shards: the writer's checks, the loader's checks on
//! bad shards, ranking over head + shards against the whole bundle, and the
//! device's shard policy.

use crate::bundle::{BundleBuilder, Model, ShardPlan, ShardedBundle};

/// How many shards a device of the test heads fetches at most.
const SHARDS_PER_VISIT: usize = 2;
use crate::events::{Event, EventKind, PageKind};
use crate::profile::{Profile, ProfileConfig};
use crate::ranking::{self, RankRequest};
use crate::testing::{synthetic_builder, SyntheticSpec};
use crate::Error;

const T0: i64 = 1_700_000_000;

/// The builder rows of every trending list.
fn trending_rows(model: &Model) -> Vec<u32> {
    let mut rows: Vec<u32> = model
        .manifest()
        .trending_countries
        .iter()
        .flat_map(|c| model.trending(Some(c)).1.into_iter().map(|(r, _)| r))
        .collect();
    rows.sort();
    rows.dedup();
    rows
}

/// A head of the first 30 rows and the trending items; four shards of the
/// rest by row modulo 4 (shard j holds cluster j).
fn plan(builder: &BundleBuilder) -> (Vec<u32>, Vec<ShardPlan>) {
    let whole = builder.build().unwrap();
    let model = Model::from_bytes(&whole.manifest, &whole.tensors).unwrap();
    let mut head = trending_rows(&model);
    for row in 0..30 {
        if !head.contains(&row) {
            head.push(row);
        }
    }
    let plans = (0..4)
        .map(|j| ShardPlan {
            clusters: vec![j],
            rows: (0..model.n_items() as u32)
                .filter(|r| r % 4 == j && !head.contains(r))
                .collect(),
        })
        .collect();
    (head, plans)
}

pub(super) fn sharded(seed: u64) -> (BundleBuilder, ShardedBundle) {
    let spec = SyntheticSpec {
        seed,
        ..SyntheticSpec::default()
    };
    let builder = synthetic_builder(&spec);
    let (head, plans) = plan(&builder);
    let bundle = builder
        .build_sharded(&head, &plans, SHARDS_PER_VISIT as u32)
        .unwrap();
    (builder, bundle)
}

pub(super) fn head_model(bundle: &ShardedBundle) -> Model {
    Model::from_bytes(&bundle.head.manifest, &bundle.head.tensors).unwrap()
}

pub(super) fn profile(items: &[&str]) -> Profile {
    let config = ProfileConfig::default();
    let mut profile = Profile::new();
    for (i, item) in items.iter().enumerate() {
        let event = Event {
            at: T0 + 60 * i as i64,
            kind: EventKind::View {
                page: PageKind::Product,
                item: Some(item.to_string()),
                price: Some(10.0),
            },
        };
        profile.apply(&event, &config).unwrap();
    }
    profile
}

fn ranked(model: &Model, profile: &Profile, context: Option<&str>) -> Vec<(String, f32)> {
    let request = RankRequest {
        k: 40,
        now: T0 + 3600,
        int8: false,
        context_item: context.map(String::from),
        ..RankRequest::default()
    };
    ranking::recommend(model, profile, &ProfileConfig::default(), &request)
        .unwrap()
        .items
        .into_iter()
        .map(|r| (r.item, r.score))
        .collect()
}

#[test]
fn every_item_is_in_the_head_or_one_shard_and_the_head_has_the_whole_gram() {
    let (builder, bundle) = sharded(7);
    let whole = builder.build().unwrap();
    let whole = Model::from_bytes(&whole.manifest, &whole.tensors).unwrap();
    let mut model = head_model(&bundle);
    assert_eq!(model.gram(), whole.gram());
    let table = model.shard_table().to_vec();
    assert_eq!(table.len(), 4);
    let head_items = model.n_items();
    let in_shards: u64 = table.iter().map(|e| e.n_items).sum();
    assert_eq!(head_items as u64 + in_shards, whole.n_items() as u64);
    for (index, file) in bundle.shards.iter().enumerate() {
        assert_eq!(table[index].file.byte_len, file.len() as u64);
        model.add_shard(index, file).unwrap();
    }
    assert_eq!(model.loaded_shards(), vec![0, 1, 2, 3]);
    // Everything loaded: the same catalogue, factors and neighbours.
    assert_eq!(model.n_items(), whole.n_items());
    for row in 0..whole.n_items() as u32 {
        let item = whole.item(row).unwrap();
        let mine = model.item_row(&item.id).unwrap();
        assert_eq!(model.item(mine), Some(item));
        assert_eq!(model.item_factors(mine), whole.item_factors(row));
        let theirs: Vec<(String, f32)> = whole
            .neighbors(row)
            .map(|(r, s)| (whole.item(r).unwrap().id.clone(), s))
            .collect();
        let ours: Vec<(String, f32)> = model
            .neighbors(mine)
            .map(|(r, s)| (model.item(r).unwrap().id.clone(), s))
            .collect();
        assert_eq!(ours, theirs, "neighbours of {}", item.id);
    }
    // Adding a shard twice changes nothing.
    model.add_shard(2, &bundle.shards[2]).unwrap();
    assert_eq!(model.n_items(), whole.n_items());
}

#[test]
fn ranking_over_the_head_and_a_shard_equals_the_whole_bundle_restricted_to_them() {
    let (builder, bundle) = sharded(11);
    let whole = builder.build().unwrap();
    let mut restricted = Model::from_bytes(&whole.manifest, &whole.tensors).unwrap();
    let mut model = head_model(&bundle);
    model.add_shard(1, &bundle.shards[1]).unwrap();
    let absent: Vec<u32> = (0..restricted.n_items() as u32)
        .filter(|r| model.item_row(&restricted.item(*r).unwrap().id).is_none())
        .collect();
    assert!(!absent.is_empty());
    restricted.withdraw_items(&absent);
    // A history of head items and of the shard's items.
    let shard_item = model.item(model.n_items() as u32 - 1).unwrap().id.clone();
    let history = ["item-3", "item-12", shard_item.as_str()];
    let shopper = profile(&history);
    for context in [None, Some("item-5"), Some(shard_item.as_str())] {
        let ours = ranked(&model, &shopper, context);
        let theirs = ranked(&restricted, &shopper, context);
        assert_eq!(ours.len(), theirs.len());
        for ((a, x), (b, y)) in ours.iter().zip(&theirs) {
            assert_eq!(a, b, "context {context:?}");
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{a}: {x} vs {y}");
        }
    }
    // The fold-in sees the same rows, with the whole catalogue's Gram.
    let config = ProfileConfig::default();
    let fold = |m: &Model| {
        let interactions = ranking::foldin::interactions(m, &shopper, &config, T0 + 3600);
        ranking::foldin::fold_in(m, &interactions).unwrap().unwrap()
    };
    assert_eq!(fold(&model), fold(&restricted));
}

#[test]
fn bad_shards_are_refused_and_the_model_stays_usable() {
    let (_, bundle) = sharded(7);
    let (_, other) = sharded(8);
    let mut model = head_model(&bundle);
    let before = ranked(&model, &profile(&["item-3"]), None);
    let n = model.n_items();
    let good = &bundle.shards[0];

    let unknown = model.add_shard(4, good).unwrap_err();
    assert_eq!(unknown, Error::UnknownShard { index: 4, count: 4 });

    let truncated = model.add_shard(0, &good[..good.len() - 10]).unwrap_err();
    assert!(
        matches!(truncated, Error::ChecksumMismatch { part: "shard", .. }),
        "{truncated:?}"
    );

    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x55;
    let altered = model.add_shard(0, &flipped).unwrap_err();
    assert!(
        matches!(altered, Error::ChecksumMismatch { part: "shard", .. }),
        "{altered:?}"
    );

    let foreign = model.add_shard(0, &other.shards[0]).unwrap_err();
    assert_eq!(foreign.code(), "shard_other_model", "{foreign:?}");

    // The right file under another index: its hash is not that entry's.
    let swapped = model.add_shard(1, good).unwrap_err();
    assert_eq!(swapped.code(), "bundle_checksum");

    assert_eq!(model.n_items(), n);
    assert!(model.loaded_shards().is_empty());
    assert_eq!(ranked(&model, &profile(&["item-3"]), None), before);
    model.add_shard(0, good).unwrap();
    assert!(model.n_items() > n);
}

#[test]
fn a_shard_with_other_dimensions_is_refused_even_when_the_table_names_it() {
    // A head whose table is re-sealed to name a shard of 9-dimensional
    // factors (the head has 8): the hash matches, the shapes do not.
    let spec = SyntheticSpec::default();
    let (_, bundle) = sharded(spec.seed);
    let wide_spec = SyntheticSpec {
        dim: 9,
        ..SyntheticSpec::default()
    };
    let wide_builder = synthetic_builder(&wide_spec);
    let (head_rows, plans) = plan(&wide_builder);
    let wide = wide_builder
        .build_sharded(&head_rows, &plans, SHARDS_PER_VISIT as u32)
        .unwrap();
    // Rewrite the wide shard's head name to our head's.
    let ours = crate::bundle::sha256_hex(&bundle.head.tensors);
    let theirs = crate::bundle::sha256_hex(&wide.head.tensors);
    let forged = replace(&wide.shards[0], theirs.as_bytes(), ours.as_bytes());
    let mut manifest = String::from_utf8(bundle.head.manifest.clone()).unwrap();
    let old = crate::bundle::sha256_hex(&bundle.shards[0]);
    let old_len = format!("\"byte_len\": {}", bundle.shards[0].len());
    let new_len = format!("\"byte_len\": {}", forged.len());
    manifest = manifest
        .replace(&old, &crate::bundle::sha256_hex(&forged))
        .replacen(&old_len, &new_len, 1);
    let mut bytes = manifest.into_bytes();
    crate::bundle::seal_manifest(&mut bytes, crate::bundle::MODEL_ID_PREFIX).unwrap();
    let mut model = Model::from_bytes(&bytes, &bundle.head.tensors).unwrap();
    let n = model.n_items();
    let error = model.add_shard(0, &forged).unwrap_err();
    assert!(
        matches!(
            error,
            Error::DimensionMismatch { .. } | Error::TensorShape { .. }
        ),
        "{error:?}"
    );
    assert_eq!(model.n_items(), n);
}

fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("the pattern is in the file");
    let mut out = bytes[..at].to_vec();
    out.extend_from_slice(to);
    out.extend_from_slice(&bytes[at + from.len()..]);
    out
}

#[test]
fn a_whole_bundle_has_no_shards() {
    let built = synthetic_builder(&SyntheticSpec::default())
        .build()
        .unwrap();
    let mut model = Model::from_bytes(&built.manifest, &built.tensors).unwrap();
    assert!(model.shard_table().is_empty());
    assert!(!String::from_utf8_lossy(&built.manifest).contains("shards"));
    assert_eq!(
        model.add_shard(0, b"anything").unwrap_err(),
        Error::UnknownShard { index: 0, count: 0 }
    );
    assert_eq!(
        model.shards_for_vector(&[1.0; 8]).unwrap(),
        Vec::<usize>::new()
    );
}

#[test]
fn the_device_fetches_the_shards_nearest_its_taste() {
    let (builder, bundle) = sharded(7);
    let model = head_model(&bundle);
    let dim = model.dim();
    let table = model.shard_table().to_vec();
    assert_eq!(model.shards_per_visit(), SHARDS_PER_VISIT);
    for (index, entry) in table.iter().enumerate() {
        // A shopper pointing at a shard's centroid wants it among theirs.
        assert_eq!(entry.centroid.len(), dim);
        let user: Vec<f32> = entry.centroid.iter().map(|c| f32::from(*c)).collect();
        let wanted = model.shards_for_vector(&user).unwrap();
        assert!(wanted.contains(&index), "{index}: {wanted:?}");
        assert_eq!(wanted.len(), SHARDS_PER_VISIT);
        assert!(wanted.windows(2).all(|w| w[0] < w[1]), "{wanted:?}");
    }
    assert!(model.shards_for_vector(&vec![0.0; dim]).unwrap().is_empty());
    assert!(matches!(
        model.shards_for_vector(&[1.0]),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(
        crate::ranking::foldin::shards_for_profile(&model, &Profile::new(), T0)
            .unwrap()
            .is_empty()
    );
    let wanted =
        crate::ranking::foldin::shards_for_profile(&model, &profile(&["item-3"]), T0).unwrap();
    assert_eq!(wanted.len(), SHARDS_PER_VISIT);

    // The trainer's policy bounds what a device holds, whatever the table.
    let (head, plans) = plan(&builder);
    for per_visit in [1, 3, 4, 9] {
        let bundle = builder.build_sharded(&head, &plans, per_visit).unwrap();
        let model = head_model(&bundle);
        let user: Vec<f32> = (0..dim).map(|i| (i as f32 - 2.5).sin()).collect();
        let wanted = model.shards_for_vector(&user).unwrap();
        assert_eq!(
            wanted.len(),
            (per_visit as usize).min(plans.len()),
            "{per_visit}"
        );
    }
    assert!(matches!(
        builder.build_sharded(&head, &plans, 0),
        Err(Error::InvalidParameter {
            name: "shards_per_visit",
            ..
        })
    ));
}

#[test]
fn a_device_fetches_each_wanted_shard_once_by_the_file_the_table_names() {
    let (_, bundle) = sharded(7);
    let mut model = head_model(&bundle);
    let shopper = profile(&["item-3"]);
    let to_fetch = crate::ranking::foldin::shards_to_fetch(&model, &shopper, T0).unwrap();
    let wanted = crate::ranking::foldin::shards_for_profile(&model, &shopper, T0).unwrap();
    assert_eq!(to_fetch.iter().map(|f| f.index).collect::<Vec<_>>(), wanted);
    for file in &to_fetch {
        let entry = &model.shard_table()[file.index];
        assert_eq!(file.file, format!("shard-{}.safetensors", file.index));
        assert_eq!(file.sha256, entry.file.sha256);
        assert_eq!(file.byte_len, bundle.shards[file.index].len() as u64);
    }
    // Once a wanted shard is in, it is not asked for again.
    let first = to_fetch[0].index;
    model.add_shard(first, &bundle.shards[first]).unwrap();
    assert_eq!(model.shard_status().loaded, vec![first]);
    assert_eq!(model.shard_status().total, model.shard_table().len());
    let after = crate::ranking::foldin::shards_to_fetch(&model, &shopper, T0).unwrap();
    assert!(after.iter().all(|f| f.index != first), "{after:?}");
    assert!(matches!(
        model.shard_file(model.shard_table().len()),
        Err(Error::UnknownShard { .. })
    ));
    // An empty profile wants nothing.
    assert!(
        crate::ranking::foldin::shards_to_fetch(&model, &Profile::new(), T0)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_writer_refuses_a_plan_that_loses_or_repeats_items() {
    let builder = synthetic_builder(&SyntheticSpec::default());
    let (head, plans) = plan(&builder);
    let check = |head: &[u32], plans: &[ShardPlan], reason: &str| match builder
        .build_sharded(head, plans, SHARDS_PER_VISIT as u32)
        .unwrap_err()
    {
        Error::InvalidParameter { reason: r, .. } => assert_eq!(r, reason),
        other => panic!("{other:?}"),
    };
    let mut lost = plans.clone();
    lost[0].rows.pop();
    check(&head, &lost, "an item is in neither the head nor a shard");
    let mut twice = plans.clone();
    twice[1].rows.push(head[0]);
    check(&head, &twice, "an item is in the head or a shard twice");
    let mut moved = plans.clone();
    let trending = head[0];
    moved[0].rows.push(trending);
    let without: Vec<u32> = head[1..].to_vec();
    check(&without, &moved, "a trending item is not in the head");
    let mut empty = plans.clone();
    let rows = std::mem::take(&mut empty[3].rows);
    empty[2].rows.extend(rows);
    check(&head, &empty, "a shard has no items");
}

#[test]
fn the_engine_swaps_in_a_head_with_a_shard_only_when_the_shard_is_good() {
    use crate::bundle::{Engine, TensorCheck};
    let (_, bundle) = sharded(7);
    let mut engine = Engine::new();
    assert_eq!(
        engine
            .add_shard(0, &bundle.shards[0], TensorCheck::Hash)
            .unwrap_err(),
        Error::NoModel
    );
    engine
        .load(&bundle.head.manifest, &bundle.head.tensors)
        .unwrap();
    let head_items = engine.model().unwrap().n_items();
    let truncated = &bundle.shards[0][..100];
    assert!(engine.add_shard(0, truncated, TensorCheck::Hash).is_err());
    assert_eq!(engine.model().unwrap().n_items(), head_items);
    let digest = crate::bundle::sha256_hex(&bundle.shards[0]);
    engine
        .add_shard(0, &bundle.shards[0], TensorCheck::HostDigest(&digest))
        .unwrap();
    assert!(engine.model().unwrap().n_items() > head_items);
    assert_eq!(engine.model().unwrap().loaded_shards(), vec![0]);
}

#[test]
fn a_head_whose_shard_table_does_not_add_up_is_refused() {
    let (_, bundle) = sharded(7);
    let text = String::from_utf8(bundle.head.manifest.clone()).unwrap();
    let model = head_model(&bundle);
    let first = model.shard_table()[1].first_item;
    let check = |from: String, to: String, field: &str| {
        let mut bytes = text.replacen(&from, &to, 1).into_bytes();
        assert_ne!(bytes, bundle.head.manifest, "{from}");
        crate::bundle::seal_manifest(&mut bytes, crate::bundle::MODEL_ID_PREFIX).unwrap();
        match Model::from_bytes(&bytes, &bundle.head.tensors).unwrap_err() {
            Error::InvalidManifest { field: f, .. } => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    };
    check(
        format!("\"first_item\": {first}"),
        format!("\"first_item\": {}", first + 1),
        "shards[1].first_item",
    );
    check(
        "\"clusters\": [\n        0\n      ]".into(),
        "\"clusters\": [\n        9\n      ]".into(),
        "shards[0].clusters",
    );
    let centroid = hex_of(&model.shard_table()[0].centroid);
    check(
        format!("\"centroid\": \"{centroid}\""),
        format!("\"centroid\": \"{}\"", &centroid[2..]),
        "shards[0].centroid",
    );
    check(
        format!("\"centroid\": \"{centroid}\""),
        format!("\"centroid\": \"{}\"", "00".repeat(centroid.len() / 2)),
        "shards[0].centroid",
    );
    check(
        format!("\"shards_per_visit\": {SHARDS_PER_VISIT}"),
        "\"shards_per_visit\": 0".into(),
        "shards_per_visit",
    );
    // Not hex at all is a syntax-level refusal of the field.
    let mut bytes = text
        .replacen(
            &format!("\"centroid\": \"{centroid}\""),
            "\"centroid\": \"zz\"",
            1,
        )
        .into_bytes();
    crate::bundle::seal_manifest(&mut bytes, crate::bundle::MODEL_ID_PREFIX).unwrap();
    assert!(Model::from_bytes(&bytes, &bundle.head.tensors).is_err());
}

/// Lower-case hex of int8 values' bytes, as the manifest writes a centroid.
fn hex_of(values: &[i8]) -> String {
    values.iter().map(|v| format!("{:02x}", *v as u8)).collect()
}

#[test]
fn the_item_index_says_which_shard_holds_each_item_outside_the_head() {
    let (_, bundle) = sharded(7);
    let head = head_model(&bundle);
    let mut whole = head.clone();
    for (index, file) in bundle.shards.iter().enumerate() {
        whole.add_shard(index, file).unwrap();
    }
    let files = head.manifest().item_index_files.unwrap();
    assert_eq!(files as usize, bundle.item_index.len());
    let buckets: Vec<serde_json::Map<String, serde_json::Value>> = bundle
        .item_index
        .iter()
        .map(|bytes| serde_json::from_slice(bytes).unwrap())
        .collect();
    let mut listed = 0;
    for row in 0..whole.n_items() as u32 {
        let id = &whole.item(row).unwrap().id;
        let Some(file) = head.item_index_file(id) else {
            assert!(head.item_row(id).is_some(), "{id}: the head holds it");
            continue;
        };
        let bucket = crate::bundle::item_bucket(id, files);
        assert_eq!(file, format!("items-{bucket}.json"));
        let shard = buckets[bucket as usize][id.as_str()].as_u64().unwrap() as usize;
        let entry = &head.shard_table()[shard];
        let position = u64::from(row);
        assert!(
            (entry.first_item..entry.first_item + entry.n_items).contains(&position),
            "{id} is in shard {shard}"
        );
        listed += 1;
    }
    assert_eq!(listed, whole.n_items() - head.n_items());
    assert_eq!(
        buckets.iter().map(|b| b.len()).sum::<usize>(),
        listed,
        "each item outside the head is listed once"
    );
    // Once its shard is in, an item needs no index.
    let id = whole.item(head.n_items() as u32).unwrap().id.clone();
    assert!(head.item_index_file(&id).is_some());
    assert_eq!(whole.item_index_file(&id), None);
    assert!(head.item_index_file("no-such-item").is_some());
}

#[test]
fn an_item_index_without_shards_or_of_no_files_is_refused() {
    let (_, bundle) = sharded(7);
    let text = String::from_utf8(bundle.head.manifest.clone()).unwrap();
    let files = head_model(&bundle).manifest().item_index_files.unwrap();
    let mut bytes = text
        .replacen(
            &format!("\"item_index_files\": {files}"),
            "\"item_index_files\": 0",
            1,
        )
        .into_bytes();
    assert_ne!(bytes, bundle.head.manifest);
    crate::bundle::seal_manifest(&mut bytes, crate::bundle::MODEL_ID_PREFIX).unwrap();
    match Model::from_bytes(&bytes, &bundle.head.tensors).unwrap_err() {
        Error::InvalidManifest { field, .. } => assert_eq!(field, "item_index_files"),
        other => panic!("{other:?}"),
    }
    // A whole bundle that names an index.
    let builder = synthetic_builder(&SyntheticSpec::default());
    let whole = builder.build().unwrap();
    let text = String::from_utf8(whole.manifest.clone()).unwrap();
    let mut bytes = text
        .replacen(
            "\"tensors\": {",
            "\"item_index_files\": 1,\n  \"tensors\": {",
            1,
        )
        .into_bytes();
    assert_ne!(bytes, whole.manifest);
    crate::bundle::seal_manifest(&mut bytes, crate::bundle::MODEL_ID_PREFIX).unwrap();
    match Model::from_bytes(&bytes, &whole.tensors).unwrap_err() {
        Error::InvalidManifest { field, .. } => assert_eq!(field, "item_index_files"),
        other => panic!("{other:?}"),
    }
}
