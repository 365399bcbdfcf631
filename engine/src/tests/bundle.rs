//! Bundle writer and loader: round trips, and every kind of bad input.

use safetensors::{Dtype, SafeTensors};

use crate::bundle::builder::Tensor;
use crate::bundle::{
    seal_manifest, sha256_hex, Engine, ItemMeta, Manifest, Model, TensorCheck, MODEL_ID_PREFIX,
    SCHEMA_VERSION,
};
use crate::testing::{synthetic_bundle, SyntheticSpec};

fn small() -> (Vec<u8>, Vec<u8>) {
    let built = synthetic_bundle(&SyntheticSpec::default());
    (built.manifest, built.tensors)
}

/// Loads a bundle that must be refused with `code`.
fn check_rejected(manifest: &[u8], tensors: &[u8], code: &str) {
    match Model::from_bytes(manifest, tensors) {
        Ok(_) => panic!("bundle loaded, expected {code}"),
        Err(error) => assert_eq!(error.code(), code, "{error}"),
    }
}

/// Re-states the tensor file's digest and the model id after an edit, so
/// that the check under test is the one that fires.
fn reseal(mut manifest: Manifest, tensors: &[u8]) -> Vec<u8> {
    manifest.tensors.sha256 = sha256_hex(tensors);
    manifest.tensors.byte_len = tensors.len() as u64;
    let mut bytes = serde_json::to_vec(&manifest).unwrap();
    seal_manifest(&mut bytes, MODEL_ID_PREFIX).unwrap();
    bytes
}

#[test]
fn a_digest_the_host_computed_stands_in_for_hashing_the_tensors() {
    let (manifest, tensors) = small();
    let digest = sha256_hex(&tensors);
    let hashed = Model::from_bytes(&manifest, &tensors).unwrap();
    let trusted =
        Model::from_bytes_checked(&manifest, &tensors, TensorCheck::HostDigest(&digest)).unwrap();
    assert_eq!(trusted.model_id(), hashed.model_id());
    assert_eq!(trusted.item_factors, hashed.item_factors);
    // A host digest that is not the manifest's is refused like a bad hash,
    // and so is a wrong length whatever the host says.
    let mut other = digest.clone();
    other.replace_range(..1, if digest.starts_with('0') { "1" } else { "0" });
    for bad in [other.as_str(), "", "not hex", &digest.to_uppercase()] {
        let error = Model::from_bytes_checked(&manifest, &tensors, TensorCheck::HostDigest(bad))
            .map(|_| ())
            .unwrap_err();
        assert_eq!(error.code(), "bundle_checksum", "{bad:?}: {error}");
    }
    let short = &tensors[..tensors.len() - 1];
    let error = Model::from_bytes_checked(&manifest, short, TensorCheck::HostDigest(&digest))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(error.code(), "bundle_checksum");
    // The engine's path refuses a loaded model's replacement the same way.
    let mut engine = Engine::new();
    engine
        .load_checked(&manifest, &tensors, TensorCheck::HostDigest(&digest))
        .unwrap();
    assert!(engine
        .load_checked(&manifest, &tensors, TensorCheck::HostDigest(&other))
        .is_err());
    assert_eq!(engine.model().unwrap().model_id(), hashed.model_id());
}

#[test]
fn the_model_id_check_leaves_the_manifest_as_it_was() {
    let (manifest, tensors) = small();
    let model = Model::from_bytes(&manifest, &tensors).unwrap();
    let mut parsed = Manifest::from_json(&manifest).unwrap();
    // The segment cuts are in the tensor file, exact; the JSON has none, and
    // the loaded manifest has them.
    let loaded = &model.manifest().segments;
    assert!(parsed.segments.lifecycle.monetary_cuts.is_empty());
    assert_eq!(loaded.lifecycle.monetary_cuts, [100.0, 1000.0]);
    assert_eq!(loaded.price_tiers.cuts, [10.0, 50.0]);
    assert_eq!(loaded.loyalty_tiers[2].min_spend, 1000.0);
    assert_eq!(parsed.segments.lifecycle.rules, loaded.lifecycle.rules);
    assert_eq!(
        parsed.segments.price_tiers.labels,
        loaded.price_tiers.labels
    );
    parsed.segments = loaded.clone();
    assert_eq!(model.manifest(), &parsed);
    let mut resealed = manifest.clone();
    assert_eq!(
        seal_manifest(&mut resealed, MODEL_ID_PREFIX).unwrap(),
        parsed.model_id
    );
    assert_eq!(resealed, manifest);
}

fn edit_manifest(edit: impl FnOnce(&mut Manifest)) -> (Vec<u8>, Vec<u8>) {
    let (manifest, tensors) = small();
    let mut parsed = Manifest::from_json(&manifest).unwrap();
    edit(&mut parsed);
    (reseal(parsed, &tensors), tensors)
}

fn edit_tensors(edit: impl FnOnce(&mut Vec<(String, Tensor)>)) -> (Vec<u8>, Vec<u8>) {
    let (manifest, tensors) = small();
    let file = SafeTensors::deserialize(&tensors).unwrap();
    let mut owned: Vec<(String, Tensor)> = file
        .iter()
        .map(|(name, view)| {
            (
                name.to_string(),
                Tensor {
                    dtype: view.dtype(),
                    shape: view.shape().to_vec(),
                    data: view.data().to_vec(),
                },
            )
        })
        .collect();
    edit(&mut owned);
    let tensors = safetensors::serialize(owned, None).unwrap();
    let manifest = reseal(Manifest::from_json(&manifest).unwrap(), &tensors);
    (manifest, tensors)
}

/// Rewrites the item columns with the small bundle's items after `edit`.
fn with_items(tensors: &mut Vec<(String, Tensor)>, edit: fn(&mut Vec<ItemMeta>)) {
    let (manifest, bytes) = small();
    let mut items = Model::from_bytes(&manifest, &bytes)
        .unwrap()
        .items()
        .to_vec();
    edit(&mut items);
    let columns = crate::bundle::items::item_tensors(&items).unwrap();
    tensors.retain(|(name, _)| !columns.iter().any(|(column, _)| column == name));
    tensors.extend(columns);
}

/// Replaces a F64 column's values.
fn set_f64s(tensors: &mut [(String, Tensor)], name: &str, values: &[f64]) {
    let column = tensor(tensors, name);
    column.shape = vec![values.len()];
    column.data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
}

fn tensor<'a>(tensors: &'a mut [(String, Tensor)], name: &str) -> &'a mut Tensor {
    &mut tensors.iter_mut().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn a_built_bundle_loads_and_is_content_addressed() {
    let spec = SyntheticSpec::default();
    let first = synthetic_bundle(&spec);
    let second = synthetic_bundle(&spec);
    assert_eq!(
        first.manifest, second.manifest,
        "the writer is deterministic"
    );
    assert_eq!(first.tensors, second.tensors);
    let model = Model::from_bytes(&first.manifest, &first.tensors).unwrap();
    assert_eq!(model.model_id(), first.model_id);
    assert!(first.model_id.starts_with("cove-") && first.model_id.len() == 37);
    assert_eq!(model.n_items(), spec.n_items);
    assert_eq!(model.dim(), spec.dim);
    let other = synthetic_bundle(&SyntheticSpec { seed: 8, ..spec });
    assert_ne!(other.model_id, first.model_id);
}

#[test]
fn the_model_id_addresses_the_manifest_bytes_whitespace_included() {
    let (manifest, tensors) = small();
    let value: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let mut compact = serde_json::to_vec(&value).unwrap();
    assert_ne!(compact, manifest);
    check_rejected(&compact, &tensors, "bundle_model_id");
    // Sealed, the same content in other bytes is another bundle.
    let id = seal_manifest(&mut compact, MODEL_ID_PREFIX).unwrap();
    let model = Model::from_bytes(&compact, &tensors).unwrap();
    assert_eq!(model.model_id(), id);
    assert_ne!(
        id,
        Model::from_bytes(&manifest, &tensors).unwrap().model_id()
    );
}

#[test]
fn a_failed_load_keeps_the_previous_model() {
    let (manifest, tensors) = small();
    let mut engine = Engine::new();
    assert_eq!(engine.model().unwrap_err().code(), "no_model");
    let first = engine.load(&manifest, &tensors).unwrap();
    let error = engine
        .load(&manifest, &tensors[..tensors.len() - 1])
        .unwrap_err();
    assert_eq!(error.code(), "bundle_checksum");
    assert_eq!(engine.model().unwrap().model_id(), first.model_id());
}

#[test]
fn damaged_bytes_are_refused() {
    let (manifest, tensors) = small();
    check_rejected(b"", b"", "bundle_manifest_syntax");
    check_rejected(
        &manifest[..manifest.len() / 2],
        &tensors,
        "bundle_manifest_syntax",
    );
    check_rejected(
        format!("{{\"schema_version\": {SCHEMA_VERSION}}}").as_bytes(),
        &tensors,
        "bundle_manifest_syntax",
    );
    check_rejected(&manifest, &tensors[..tensors.len() - 1], "bundle_checksum");
    check_rejected(&manifest, b"", "bundle_checksum");
    let mut flipped = tensors.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    check_rejected(&manifest, &flipped, "bundle_checksum");
    // A stated id that does not match the content.
    let text = String::from_utf8(manifest.clone()).unwrap();
    let edited = text.replacen("\"holdout_share\": 0.2", "\"holdout_share\": 0.25", 1);
    assert_ne!(edited, text);
    check_rejected(edited.as_bytes(), &tensors, "bundle_model_id");
    // A tensor file that is not safetensors, sealed as if it were.
    let garbage = vec![0xffu8; 64];
    let resealed = reseal(Manifest::from_json(&manifest).unwrap(), &garbage);
    check_rejected(&resealed, &garbage, "bundle_tensor_syntax");
}

#[test]
fn other_schema_versions_and_unknown_fields_are_refused() {
    let (manifest, tensors) = small();
    let mut value: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    // Schema 1 (f32 factors beside int8) and a future version.
    for version in [1, SCHEMA_VERSION + 1] {
        value["schema_version"] = version.into();
        check_rejected(
            &serde_json::to_vec(&value).unwrap(),
            &tensors,
            "bundle_schema_version",
        );
    }
    value["schema_version"] = SCHEMA_VERSION.into();
    value["surprise"] = true.into();
    check_rejected(
        &serde_json::to_vec(&value).unwrap(),
        &tensors,
        "bundle_manifest_syntax",
    );
    // Rescue actions: a percent on a non-discount, a discount without one, an
    // unknown kind, an unknown field.
    for action in [
        serde_json::json!({"kind": "reminder", "percent": 5.0}),
        serde_json::json!({"kind": "discount"}),
        serde_json::json!({"kind": "refund"}),
        serde_json::json!({"kind": "nothing", "note": 1}),
        serde_json::json!({"percent": 5.0}),
    ] {
        let mut value: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        value["rescue"]["actions"][0]["action"] = action.clone();
        let error = Manifest::from_json(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        assert_eq!(error.code(), "bundle_manifest_syntax", "{action}: {error}");
    }
    let mut value: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    value["rescue"]["actions"][0]["action"] =
        serde_json::json!({"kind": "discount", "percent": 5.0});
    let parsed = Manifest::from_json(&serde_json::to_vec(&value).unwrap()).unwrap();
    assert_eq!(
        parsed.rescue.actions[0].action,
        crate::bundle::RescueAction::Discount { percent: 5.0 }
    );
}

/// The manifest reader names the path of what it refuses, and keeps the
/// derived readers' rules on types: integers refuse fractions and signs,
/// floats take integers, `null` is absent only where a field is optional.
#[test]
fn manifest_errors_name_the_offending_path() {
    let (manifest, _) = small();
    let check = |edit: &dyn Fn(&mut serde_json::Value), expected: &str| {
        let mut value: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        edit(&mut value);
        let error = Manifest::from_json(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        assert_eq!(error.code(), "bundle_manifest_syntax", "{error}");
        assert!(
            error.to_string().contains(expected),
            "{error} lacks {expected}"
        );
    };
    check(
        &|v| v["segments"]["price_tiers"]["labels"][1] = 2.into(),
        "segments.price_tiers.labels[1]: expected a string",
    );
    check(
        &|v| v["rescue"]["actions"][0]["note"] = 1.into(),
        "rescue.actions[0].note: is an unknown field",
    );
    // Schema 2 kept the items in the manifest; they are in the tensor file now.
    check(
        &|v| v["items"] = serde_json::json!([]),
        "items: is an unknown field",
    );
    check(
        &|v| v["features"]["dim"] = 1.5.into(),
        "features.dim: expected a non-negative integer",
    );
    check(
        &|v| v["training"]["n_users"] = (-1).into(),
        "training.n_users",
    );
    check(
        &|v| v["rescue"]["holdout_share"] = serde_json::Value::Null,
        "rescue.holdout_share",
    );
    check(
        &|v| v["segments"]["lifecycle"]["rules"][0]["r"] = serde_json::json!([1, 2, 3]),
        "segments.lifecycle.rules[0].r: expected an array of 2 elements",
    );
    check(
        &|v| v["segments"]["lifecycle"]["rules"][0]["f"] = serde_json::json!([1, 300]),
        "segments.lifecycle.rules[0].f[1]",
    );
    check(
        &|v| {
            v["ranking"].as_object_mut().unwrap().remove("lambda");
        },
        "ranking.lambda: is missing",
    );
    check(
        &|v| v["metrics"]["ndcg"] = "high".into(),
        "metrics.ndcg: expected a number",
    );
    // An integer where a float is expected, and a missing optional field, are fine.
    let mut value: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    value["ranking"]["weight_trending"] = 1.into();
    value["ranking"]
        .as_object_mut()
        .unwrap()
        .remove("weight_repeat");
    let parsed = Manifest::from_json(&serde_json::to_vec(&value).unwrap()).unwrap();
    assert_eq!(parsed.ranking.weight_trending, 1.0);
    assert_eq!(parsed.ranking.weight_repeat, 0.0);
}

#[test]
fn bad_manifest_values_are_refused() {
    type Edit = fn(&mut Manifest);
    let cases: &[(&str, Edit)] = &[
        ("zero dim", |m| m.features.dim = 0),
        ("huge dim", |m| m.features.dim = 100_000),
        ("lambda zero", |m| m.ranking.lambda = 0.0),
        ("alpha negative", |m| m.ranking.alpha = -1.0),
        ("negative blend weight", |m| {
            m.ranking.weight_trending = -0.1
        }),
        ("negative keep_purchased weight", |m| {
            m.ranking.keep_purchased = Some(crate::bundle::BlendWeights {
                weight_personal: 1.0,
                weight_neighbors: 0.1,
                weight_trending: -0.1,
                weight_repeat: 0.8,
            })
        }),
        ("negative keep_purchased buy-again weight", |m| {
            m.ranking.keep_purchased = Some(crate::bundle::BlendWeights {
                weight_personal: 1.0,
                weight_neighbors: 0.1,
                weight_trending: 0.2,
                weight_repeat: -1.0,
            })
        }),
        ("zero profile half-life", |m| {
            m.ranking.profile_half_life_days = Some(0.0)
        }),
        ("profile half-life over a century", |m| {
            m.ranking.profile_half_life_days = Some(40_000.0)
        }),
        ("no fallback trending", |m| {
            m.trending_countries[0] = "FR".into()
        }),
        ("tier labels", |m| {
            m.segments.price_tiers.labels.pop();
        }),
        ("rule out of range", |m| {
            m.segments.lifecycle.rules[0].r = [1, 9]
        }),
        ("rule reversed", |m| {
            m.segments.lifecycle.rules[0].f = [3, 1]
        }),
        ("propensity threshold", |m| {
            m.segments.propensity_threshold = 1.5
        }),
        ("holdout of one", |m| m.rescue.holdout_share = 1.0),
        ("rescue threshold", |m| m.rescue.threshold = -0.1),
        ("discount", |m| {
            m.rescue.actions[0].action = crate::bundle::RescueAction::Discount { percent: 0.0 }
        }),
        ("input names", |m| {
            m.features.purchase_intent_inputs.swap(0, 1)
        }),
    ];
    for (what, edit) in cases {
        let (manifest, tensors) = edit_manifest(edit);
        match Model::from_bytes(&manifest, &tensors) {
            Ok(_) => panic!("{what}: loaded"),
            Err(error) => assert!(
                error.code() == "bundle_manifest_value" || error.code() == "bundle_tensor_shape",
                "{what}: {error}"
            ),
        }
    }
}

#[test]
fn bad_tensors_are_refused() {
    type Edit = fn(&mut Vec<(String, Tensor)>);
    let cases: &[(&str, Edit, &str)] = &[
        (
            "NaN scale",
            |t| tensor(t, "item_scales").data[4..8].copy_from_slice(&f32::NAN.to_le_bytes()),
            "bundle_tensor_value",
        ),
        (
            "infinite gram",
            |t| tensor(t, "gram").data[0..4].copy_from_slice(&f32::INFINITY.to_le_bytes()),
            "bundle_tensor_value",
        ),
        (
            "negative scale",
            |t| tensor(t, "item_scales").data[0..4].copy_from_slice(&(-1.0f32).to_le_bytes()),
            "bundle_tensor_value",
        ),
        (
            "int8 factor -128 (outside the symmetric range)",
            |t| tensor(t, "item_factors_i8").data[0] = 0x80,
            "bundle_tensor_value",
        ),
        (
            "neighbour out of range",
            |t| tensor(t, "neighbors_idx").data[0..4].copy_from_slice(&5000u32.to_le_bytes()),
            "bundle_reference",
        ),
        (
            "trending out of range",
            |t| tensor(t, "trending_idx").data[0..4].copy_from_slice(&200u32.to_le_bytes()),
            "bundle_reference",
        ),
        (
            "negative trending score",
            |t| tensor(t, "trending_score").data[0..4].copy_from_slice(&(-1.0f32).to_le_bytes()),
            "bundle_tensor_value",
        ),
        (
            "gram not positive definite",
            |t| {
                let gram = tensor(t, "gram");
                for chunk in gram.data.chunks_exact_mut(4) {
                    let v = -f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) * 100.0;
                    chunk.copy_from_slice(&v.to_le_bytes());
                }
            },
            "bundle_tensor_value",
        ),
        (
            "gram not symmetric",
            |t| tensor(t, "gram").data[4..8].copy_from_slice(&7.0f32.to_le_bytes()),
            "bundle_tensor_value",
        ),
        (
            "wrong dtype",
            |t| tensor(t, "neighbors_idx").dtype = Dtype::I32,
            "bundle_tensor_dtype",
        ),
        (
            "wrong shape",
            |t| {
                let scales = tensor(t, "item_scales");
                scales.data.truncate(scales.data.len() - 4);
                scales.shape[0] -= 1;
            },
            "bundle_tensor_shape",
        ),
        (
            "missing tensor",
            |t| t.retain(|(name, _)| name != "taste_centroids"),
            "bundle_missing_tensor",
        ),
        (
            "no int8 factors",
            |t| t.retain(|(name, _)| name != "item_factors_i8"),
            "bundle_missing_tensor",
        ),
        (
            "unknown tensor",
            |t| {
                t.push((
                    "extra".into(),
                    Tensor {
                        dtype: Dtype::U8,
                        shape: vec![1],
                        data: vec![0],
                    },
                ))
            },
            "bundle_manifest_value",
        ),
        (
            "negative price",
            |t| tensor(t, "item_price").data[24..32].copy_from_slice(&(-1.0f64).to_le_bytes()),
            "bundle_tensor_value",
        ),
        (
            "NaN price",
            |t| tensor(t, "item_price").data[0..8].copy_from_slice(&f64::NAN.to_le_bytes()),
            "bundle_tensor_value",
        ),
        (
            "empty item id",
            |t| tensor(t, "item_id_ends").data[0..4].copy_from_slice(&0u32.to_le_bytes()),
            "bundle_tensor_value",
        ),
        (
            "duplicate item id",
            |t| with_items(t, |items| items[3].id = items[4].id.clone()),
            "bundle_tensor_value",
        ),
        (
            "no items",
            |t| with_items(t, |items| items.clear()),
            "bundle_manifest_value",
        ),
        (
            "a title that is not UTF-8",
            |t| tensor(t, "item_title_text").data[0] = 0xff,
            "bundle_tensor_value",
        ),
        (
            "a text end past the text",
            |t| tensor(t, "item_title_ends").data[0..4].copy_from_slice(&u32::MAX.to_le_bytes()),
            "bundle_tensor_value",
        ),
        (
            "a text end short of the text",
            |t| {
                let text = tensor(t, "item_id_text");
                text.data.push(b'x');
                text.shape[0] += 1;
            },
            "bundle_tensor_value",
        ),
        (
            "categories out of order",
            |t| tensor(t, "category_text").data[0] = b'~',
            "bundle_tensor_value",
        ),
        (
            "category index out of range",
            |t| tensor(t, "item_category").data[0..4].copy_from_slice(&999u32.to_le_bytes()),
            "bundle_reference",
        ),
        (
            "in stock neither 0 nor 1",
            |t| tensor(t, "item_in_stock").data[2] = 2,
            "bundle_tensor_value",
        ),
        (
            "an empty country",
            |t| {
                let n = tensor(t, "item_countries_ends").shape[0];
                let text = tensor(t, "item_countries_text");
                text.data = b",".to_vec();
                text.shape = vec![1];
                tensor(t, "item_countries_ends").data = 1u32.to_le_bytes().repeat(n);
            },
            "bundle_tensor_value",
        ),
        (
            "no titles",
            |t| t.retain(|(name, _)| name != "item_title_ends"),
            "bundle_missing_tensor",
        ),
        (
            "ids as I8",
            |t| tensor(t, "item_id_text").dtype = Dtype::I8,
            "bundle_tensor_dtype",
        ),
        (
            "cuts not ascending",
            |t| set_f64s(t, "lifecycle_frequency_cuts", &[5.0, 2.0]),
            "bundle_manifest_value",
        ),
        (
            "a cut that is not finite",
            |t| set_f64s(t, "lifecycle_monetary_cuts", &[100.0, f64::NAN]),
            "bundle_manifest_value",
        ),
        (
            "a price tier cut fewer than the labels need",
            |t| set_f64s(t, "price_tier_cuts", &[10.0]),
            "bundle_manifest_value",
        ),
        (
            "negative loyalty spend",
            |t| set_f64s(t, "loyalty_min_spend", &[-5.0, 200.0, 1000.0]),
            "bundle_manifest_value",
        ),
        (
            "a loyalty spend per tier, one missing",
            |t| set_f64s(t, "loyalty_min_spend", &[0.0, 200.0]),
            "bundle_tensor_shape",
        ),
        (
            "no recency cuts tensor",
            |t| t.retain(|(name, _)| name != "lifecycle_recency_cuts"),
            "bundle_missing_tensor",
        ),
        (
            "zero scale in a classifier",
            |t| {
                tensor(t, "purchase_intent_scale").data[0..4].copy_from_slice(&0.0f32.to_le_bytes())
            },
            "bundle_tensor_value",
        ),
    ];
    for (what, edit, code) in cases {
        let (manifest, tensors) = edit_tensors(edit);
        match Model::from_bytes(&manifest, &tensors) {
            Ok(_) => panic!("{what}: loaded"),
            Err(error) => assert_eq!(error.code(), *code, "{what}: {error}"),
        }
    }
    // The unedited file round-trips through the helpers and still loads.
    let (manifest, tensors) = edit_tensors(|_| {});
    Model::from_bytes(&manifest, &tensors).unwrap();
}

#[test]
fn int8_rows_round_trip_within_half_a_step() {
    use crate::bundle::{dequantise_rows, quantise_rows};
    let factors = [0.5, -1.0, 0.25, 0.0, 0.0, 0.0];
    let (q, scales) = quantise_rows(&factors, 3);
    assert_eq!(q[..3], [64, -127, 32]);
    assert_eq!(scales[1], 1.0, "a zero row keeps a positive scale");
    let back = dequantise_rows(&q, &scales, 3);
    for (a, b) in factors.iter().zip(&back) {
        assert!((a - b).abs() <= 0.5 / 127.0 + 1e-6, "{a} vs {b}");
    }
}

#[test]
fn keep_purchased_weights_are_optional_and_named_in_errors() {
    // A manifest without the field loads, and writing it back leaves the
    // field out, so bundles without a second set keep their model id.
    let (manifest, tensors) = small();
    let value: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert!(value["ranking"].get("keep_purchased").is_none());
    let model = Model::from_bytes(&manifest, &tensors).unwrap();
    assert_eq!(model.manifest().ranking.keep_purchased, None);

    // With the field, it round-trips.
    let kept = crate::bundle::BlendWeights {
        weight_personal: 1.0,
        weight_neighbors: 0.0,
        weight_trending: 0.1,
        weight_repeat: 3.2,
    };
    let (manifest, tensors) = edit_manifest(|m| m.ranking.keep_purchased = Some(kept));
    let model = Model::from_bytes(&manifest, &tensors).unwrap();
    assert_eq!(model.manifest().ranking.keep_purchased, Some(kept));
    assert_eq!(model.manifest().ranking.blend(false), kept);
    assert_eq!(
        model.manifest().ranking.blend(true).weight_trending,
        model.manifest().ranking.weight_trending
    );

    // A bad value names its field (JSON has no NaN or infinity: those are
    // syntax errors), and unknown fields inside are refused.
    let (manifest, tensors) = edit_manifest(|m| {
        m.ranking.keep_purchased = Some(crate::bundle::BlendWeights {
            weight_neighbors: -0.5,
            ..kept
        })
    });
    let error = Model::from_bytes(&manifest, &tensors).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("ranking.keep_purchased.weight_neighbors"),
        "{error}"
    );
    let (manifest, _) = small();
    let mut value: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    value["ranking"]["keep_purchased"] = serde_json::json!({
        "weight_personal": 1.0, "weight_neighbors": 0.0, "weight_trending": 0.1,
        "weight_repeat": 3.2, "weight_other": 1.0
    });
    assert!(Manifest::from_json(&serde_json::to_vec(&value).unwrap()).is_err());
}

#[test]
fn the_profile_half_life_comes_from_the_bundle() {
    let default_days = crate::profile::ProfileParams::default().half_life_days;
    let day = 86_400;
    let (manifest, tensors) = small();
    let model = Model::from_bytes(&manifest, &tensors).unwrap();
    assert_eq!(model.manifest().ranking.profile_half_life_days, None);
    let half = |model: &Model, days: f64| model.profile_config().decay((days * day as f64) as i64);
    assert!((half(&model, default_days) - 0.5).abs() < 1e-12);

    let (manifest, tensors) = edit_manifest(|m| m.ranking.profile_half_life_days = Some(120.0));
    let model = Model::from_bytes(&manifest, &tensors).unwrap();
    assert!((half(&model, 120.0) - 0.5).abs() < 1e-12);
    assert!((half(&model, 240.0) - 0.25).abs() < 1e-12);
    // Every other profile parameter is the engine's default.
    let params = model.profile_config().params();
    assert_eq!(
        crate::profile::ProfileParams {
            half_life_days: default_days,
            ..params.clone()
        },
        crate::profile::ProfileParams::default()
    );
    let error = Model::from_bytes(
        &edit_manifest(|m| m.ranking.profile_half_life_days = Some(-1.0)).0,
        &tensors,
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("ranking.profile_half_life_days"),
        "{error}"
    );
}

#[test]
fn metrics_serialize_as_the_map_they_replace() {
    let names = [
        "recall_at_20",
        "a.b",
        "hr_at_10",
        "zeta",
        "a.b",
        "ndcg_at_10",
    ];
    let mut metrics = crate::bundle::Metrics::default();
    let mut map = std::collections::BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        metrics.insert(name, i as f64 * 0.25);
        map.insert(name.to_string(), i as f64 * 0.25);
    }
    assert_eq!(
        serde_json::to_string(&metrics).unwrap(),
        serde_json::to_string(&map).unwrap()
    );
    assert_eq!(metrics.len(), map.len());
    assert_eq!(metrics.get("a.b"), Some(1.0));
    assert_eq!(metrics["zeta"], 0.75);
    assert_eq!(metrics.get("missing"), None);
    let order: Vec<&str> = metrics.iter().map(|(name, _)| name).collect();
    assert_eq!(order, map.keys().map(String::as_str).collect::<Vec<_>>());
}
