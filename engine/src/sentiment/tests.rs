//! The sentiment model on small hand-made bundles: defined results for every
//! kind of text, and the loader's refusals.

use super::*;
use crate::bundle::BuiltBundle;

fn spec() -> FeaturizerSpec {
    FeaturizerSpec {
        hash_bits: 10,
        word_ngrams: 1,
        char_ngram_min: 0,
        char_ngram_max: 0,
        max_chars: 200,
    }
}

/// A bundle whose rows put `weight` on the buckets of the given words.
fn bundle_with(classes: &[&str], words: &[(&str, &[f32])], bias: &[f32]) -> BuiltBundle {
    let spec = spec();
    let mut builder = SentimentBundleBuilder::new(
        spec.clone(),
        classes.iter().map(|c| c.to_string()).collect(),
    );
    let rows = builder.n_rows();
    let buckets = spec.n_buckets();
    let mut weights = vec![0.0f32; rows * buckets];
    for (word, row_weights) in words {
        let bucket = featurize(&spec, word).indices[0] as usize;
        for (row, weight) in row_weights.iter().enumerate() {
            weights[row * buckets + bucket] = *weight;
        }
    }
    builder.metric("roc_auc", 0.5);
    builder.build(&weights, bias).unwrap()
}

fn two_class() -> SentimentModel {
    let built = bundle_with(
        &["negative", "positive"],
        &[("love", &[4.0]), ("hate", &[-4.0])],
        &[0.5],
    );
    SentimentModel::from_bytes(&built.manifest, &built.tensors).unwrap()
}

#[test]
fn two_classes_score_the_positive_probability() {
    let model = two_class();
    assert!(model.model_id().starts_with("cove-sentiment-"));
    let love = model.sentiment("I LOVE it").unwrap();
    assert_eq!((love.class.as_str(), love.class_index), ("positive", 1));
    assert!((love.score - love.probabilities[1]).abs() < 1e-15);
    assert!((love.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    let hate = model.sentiment("hate").unwrap();
    assert_eq!(hate.class, "negative");
    assert!(hate.score < 0.5 && love.score > hate.score);
}

#[test]
fn three_classes_score_the_expected_position() {
    let built = bundle_with(
        &["negative", "neutral", "positive"],
        &[("love", &[2.0, 5.0]), ("okay", &[3.0, 0.0])],
        &[0.0, 0.0],
    );
    let model = SentimentModel::from_bytes(&built.manifest, &built.tensors).unwrap();
    let okay = model.sentiment("okay").unwrap();
    assert_eq!(okay.class, "neutral");
    let p = &okay.probabilities;
    assert!((okay.score - (0.5 * p[1] + p[2])).abs() < 1e-15);
    assert_eq!(model.sentiment("love").unwrap().class, "positive");
    // No known word: all logits are equal and the tie goes to the first class.
    let unknown = model.sentiment("zebra").unwrap();
    assert_eq!(unknown.class_index, 0);
    assert!((unknown.score - 0.5).abs() < 1e-12);
}

#[test]
fn every_kind_of_text_has_a_defined_result() {
    let model = two_class();
    assert_eq!(model.sentiment("").unwrap_err(), Error::EmptyText);
    assert_eq!(
        model.sentiment(" \n\t\u{200B}\u{FE0F}").unwrap_err().code(),
        "empty_text"
    );
    for text in ["😀", "很好看", "очень плохо", "جميل جدا", "!!!", "love 👍🏽"]
    {
        let result = model.sentiment(text).unwrap();
        assert!(result.score.is_finite() && !result.truncated, "{text}");
    }
    let huge = "I love it. ".repeat(1_000_000);
    let result = model.sentiment(&huge).unwrap();
    assert!(result.truncated && result.class == "positive");
    assert_eq!(
        model
            .sentiment_utf8(&[b'o', 0xff, b'k'])
            .unwrap_err()
            .code(),
        "invalid_text"
    );
    assert_eq!(
        model.sentiment_utf8("love".as_bytes()).unwrap().class,
        "positive"
    );
}

#[test]
fn bad_bundles_are_refused_with_typed_errors() {
    let built = bundle_with(&["negative", "positive"], &[("love", &[1.0])], &[0.0]);
    let manifest: serde_json::Value = serde_json::from_slice(&built.manifest).unwrap();
    // Manifests are re-serialized and sealed with the id their bytes imply,
    // so that the rule under test, not the id, is what refuses them.
    let load = |value: &serde_json::Value, tensors: &[u8]| {
        let mut bytes = serde_json::to_vec(value).unwrap();
        crate::bundle::seal_manifest(&mut bytes, bundle::SENTIMENT_ID_PREFIX).unwrap();
        SentimentModel::from_bytes(&bytes, tensors)
            .unwrap_err()
            .code()
    };
    let with = |path: &str, value: serde_json::Value| {
        let mut changed = manifest.clone();
        *changed.pointer_mut(path).unwrap() = value;
        changed
    };
    assert_eq!(
        load(&with("/kind", "main".into()), &built.tensors),
        "bundle_manifest_value"
    );
    assert_eq!(
        load(&with("/schema_version", 1.into()), &built.tensors),
        "bundle_schema_version"
    );
    // An edit without resealing breaks the id.
    let text = String::from_utf8(built.manifest.clone()).unwrap();
    let edited = text.replacen("\"negative\"", "\"bad\"", 1);
    assert_ne!(edited, text);
    assert_eq!(
        SentimentModel::from_bytes(edited.as_bytes(), &built.tensors)
            .unwrap_err()
            .code(),
        "bundle_model_id"
    );
    let mut truncated = built.tensors.clone();
    truncated.pop();
    assert_eq!(load(&manifest, &truncated), "bundle_checksum");
    let mut flipped = built.tensors.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert_eq!(load(&manifest, &flipped), "bundle_checksum");
    assert_eq!(
        SentimentModel::from_bytes(b"{not json", &built.tensors)
            .unwrap_err()
            .code(),
        "bundle_manifest_syntax"
    );

    // Manifests that are consistent but break a rule.
    let one_class = with("/classes", serde_json::json!(["only"]));
    assert_eq!(load(&one_class, &built.tensors), "bundle_manifest_value");
    let repeated = with("/classes", serde_json::json!(["a", "a"]));
    assert_eq!(load(&repeated, &built.tensors), "bundle_manifest_value");
    let bits = with("/featurizer/hash_bits", 30.into());
    assert_eq!(load(&bits, &built.tensors), "bundle_manifest_value");
    let other_shape = with("/featurizer/hash_bits", 9.into());
    assert_eq!(load(&other_shape, &built.tensors), "bundle_tensor_shape");

    // Weights of the wrong size never make a bundle.
    let builder = SentimentBundleBuilder::new(spec(), vec!["n".into(), "p".into()]);
    assert_eq!(
        builder.build(&[0.0; 3], &[0.0]).unwrap_err().code(),
        "dimension_mismatch"
    );
    assert_eq!(
        builder
            .build(&vec![0.0; spec().n_buckets()], &[0.0, 1.0])
            .unwrap_err()
            .code(),
        "dimension_mismatch"
    );
    assert_eq!(
        builder
            .build(&vec![f32::NAN; spec().n_buckets()], &[0.0])
            .unwrap_err()
            .code(),
        "non_finite"
    );
}

#[test]
fn a_main_bundle_is_not_a_sentiment_bundle() {
    let main = crate::testing::synthetic_builder(&crate::testing::SyntheticSpec::default())
        .build()
        .unwrap();
    let error = SentimentModel::from_bytes(&main.manifest, &main.tensors).unwrap_err();
    assert_eq!(error.code(), "bundle_manifest_value");
    // What a per-category sentiment report needs from the main bundle: each
    // item's category as an index into the sorted category list.
    let model = crate::bundle::Model::from_bytes(&main.manifest, &main.tensors).unwrap();
    let categories = model.categories();
    assert!(categories.windows(2).all(|pair| pair[0] < pair[1]));
    for row in 0..model.n_items() as u32 {
        let index = model.item_category(row).unwrap() as usize;
        assert_eq!(categories[index], model.item(row).unwrap().category);
    }
    assert_eq!(model.item_category(model.n_items() as u32), None);
}
