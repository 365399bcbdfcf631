//! The sentiment bundle: a JSON [`SentimentManifest`] and a safetensors file,
//! written by [`SentimentBundleBuilder`] (the trainer's only way to write one)
//! and read back by [`SentimentModel::from_bytes`], which validates everything
//! before use, like the main bundle's loader: schema version and kind, the
//! content-addressed model id, the tensor file's length and sha256, the
//! featurizer's limits, the class labels, and every tensor's dtype, shape and
//! values.
//!
//! Tensors (r = classes − 1 rows, b = 2^hash_bits buckets). Row i gives the
//! log-odds of class i + 1 against class 0 (the most negative), so two classes
//! are a logistic model and more a softmax model with class 0 as reference:
//!
//! | name | dtype | shape | meaning |
//! | --- | --- | --- | --- |
//! | `sentiment_weights_i8` | I8 | r × b | weights quantised per row: w ≈ scale · q |
//! | `sentiment_scales` | F32 | r | the per-row scales, positive |
//! | `sentiment_bias` | F32 | r | the per-row intercepts |

use std::collections::BTreeMap;

use serde::Serialize;

use super::featurize::FeaturizerSpec;
use super::SentimentModel;
use crate::bundle::builder::{f32_tensor, i8_tensor, quantise_rows};
use crate::bundle::content_id::{check_content_id, placeholder_id, seal_manifest};
use crate::bundle::load::{check_tensor_digest, Tensors};
use crate::bundle::manifest::read_part_digest;
use crate::bundle::tensor_file::TensorFile;
use crate::bundle::TensorCheck;
use crate::bundle::{sha256_hex, BuiltBundle, PartDigest};
use crate::json::{self, Fields, JsonError, Value};
use crate::Error;

/// The sentiment manifest schema version this engine reads and writes.
pub const SENTIMENT_SCHEMA_VERSION: u32 = 2;

/// The manifest's `kind`, which tells a sentiment bundle from a main bundle.
pub const SENTIMENT_KIND: &str = "sentiment";

/// The most classes a sentiment model may have.
pub const MAX_CLASSES: usize = 8;

const TENSOR_NAMES: [&str; 3] = ["sentiment_weights_i8", "sentiment_scales", "sentiment_bias"];

/// The JSON manifest of a sentiment bundle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentimentManifest {
    /// Always [`SENTIMENT_SCHEMA_VERSION`] for bundles this engine reads.
    pub schema_version: u32,
    /// Always [`SENTIMENT_KIND`].
    pub kind: String,
    /// The content-addressed id: `"cove-sentiment-"` and the first 32 hex
    /// digits of the sha256 of the manifest's bytes with those digits read as
    /// `0`s ([`crate::bundle::content_id`]).
    pub model_id: String,
    /// What the model was trained on.
    pub training: SentimentTraining,
    /// Held-out evaluation figures by name (for example `"roc_auc"`).
    pub metrics: BTreeMap<String, f64>,
    /// How text becomes features.
    pub featurizer: FeaturizerSpec,
    /// Class labels from the most negative to the most positive (2 to
    /// [`MAX_CLASSES`], distinct, not empty).
    pub classes: Vec<String>,
    /// The tensor file's checksum and length.
    pub tensors: PartDigest,
}

/// What a sentiment model was trained on, for the model card.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SentimentTraining {
    /// The data set's name or source.
    pub source: String,
    /// Which rating makes which class, in words.
    pub labels: String,
    /// Number of training texts.
    pub n_train: u64,
    /// Number of held-out texts.
    pub n_test: u64,
    /// The seed of the held-out split.
    pub split_seed: u64,
}

/// What every sentiment bundle's model id starts with.
pub const SENTIMENT_ID_PREFIX: &str = "cove-sentiment-";

/// Collects a trained sentiment model and writes its bundle.
#[derive(Debug, Clone)]
pub struct SentimentBundleBuilder {
    featurizer: FeaturizerSpec,
    classes: Vec<String>,
    training: SentimentTraining,
    metrics: BTreeMap<String, f64>,
}

impl SentimentBundleBuilder {
    /// Starts a bundle for a featurizer and class labels (most negative first).
    pub fn new(featurizer: FeaturizerSpec, classes: Vec<String>) -> SentimentBundleBuilder {
        SentimentBundleBuilder {
            featurizer,
            classes,
            training: SentimentTraining::default(),
            metrics: BTreeMap::new(),
        }
    }

    /// The number of weight rows the model needs: one per class but the
    /// first (the reference class).
    pub fn n_rows(&self) -> usize {
        rows_for(self.classes.len())
    }

    /// Sets the training summary.
    pub fn training(&mut self, training: SentimentTraining) -> &mut Self {
        self.training = training;
        self
    }

    /// Records a held-out metric.
    pub fn metric(&mut self, name: &str, value: f64) -> &mut Self {
        self.metrics.insert(name.to_string(), value);
        self
    }

    /// Writes the bundle from weights (`n_rows` × 2^hash_bits, row-major) and
    /// one intercept per row, then checks it with the engine's loader.
    pub fn build(&self, weights: &[f32], bias: &[f32]) -> Result<BuiltBundle, Error> {
        let rows = self.n_rows();
        let buckets = self.featurizer.n_buckets();
        if weights.len() != rows * buckets {
            return Err(Error::DimensionMismatch {
                what: "sentiment weights (rows × buckets)",
                expected: rows * buckets,
                found: weights.len(),
            });
        }
        if bias.len() != rows {
            return Err(Error::DimensionMismatch {
                what: "sentiment bias",
                expected: rows,
                found: bias.len(),
            });
        }
        if let Some(index) = weights.iter().position(|w| !w.is_finite()) {
            return Err(Error::NonFinite {
                what: "sentiment weights",
                index,
            });
        }
        let (quantised, scales) = quantise_rows(weights, buckets);
        let tensors = vec![
            i8_tensor("sentiment_weights_i8", &[rows, buckets], &quantised),
            f32_tensor("sentiment_scales", &[rows], &scales),
            f32_tensor("sentiment_bias", &[rows], bias),
        ];
        let tensor_bytes =
            safetensors::serialize(tensors, None).map_err(|e| Error::TensorFileSyntax {
                message: format!("{e:?}"),
            })?;
        let manifest = SentimentManifest {
            schema_version: SENTIMENT_SCHEMA_VERSION,
            kind: SENTIMENT_KIND.to_string(),
            model_id: placeholder_id(SENTIMENT_ID_PREFIX),
            training: self.training.clone(),
            metrics: self.metrics.clone(),
            featurizer: self.featurizer.clone(),
            classes: self.classes.clone(),
            tensors: PartDigest {
                sha256: sha256_hex(&tensor_bytes),
                byte_len: tensor_bytes.len() as u64,
            },
        };
        let mut manifest_bytes =
            serde_json::to_vec_pretty(&manifest).map_err(|e| Error::ManifestSyntax {
                message: e.to_string(),
            })?;
        let model_id = seal_manifest(&mut manifest_bytes, SENTIMENT_ID_PREFIX)?;
        SentimentModel::from_bytes(&manifest_bytes, &tensor_bytes)?;
        Ok(BuiltBundle {
            model_id,
            manifest: manifest_bytes,
            tensors: tensor_bytes,
        })
    }
}

/// Weight rows for a number of classes: class 0 is the reference.
pub(super) fn rows_for(n_classes: usize) -> usize {
    n_classes.saturating_sub(1)
}

/// Parses and validates a sentiment bundle.
pub(super) fn load(manifest_bytes: &[u8], tensor_bytes: &[u8]) -> Result<SentimentModel, Error> {
    let manifest = SentimentManifest::from_json(manifest_bytes)?;
    check_content_id(manifest_bytes, SENTIMENT_ID_PREFIX, &manifest.model_id)?;
    check_tensor_digest(&manifest.tensors, tensor_bytes, TensorCheck::Hash)?;
    manifest.featurizer.validate()?;
    let n_classes = manifest.classes.len();
    if !(2..=MAX_CLASSES).contains(&n_classes) {
        return Err(Error::manifest(
            "classes",
            format!("{n_classes} classes; a sentiment model has 2 to {MAX_CLASSES}"),
        ));
    }
    for (position, label) in manifest.classes.iter().enumerate() {
        if label.is_empty() || label.len() > 64 || manifest.classes[..position].contains(label) {
            return Err(Error::manifest(
                format!("classes[{position}]"),
                format!(
                    "{} is empty, longer than 64 bytes or repeated",
                    json::text_of(label)
                ),
            ));
        }
    }

    let file = TensorFile::parse(tensor_bytes)?;
    if let Some(name) = file.names().find(|name| !TENSOR_NAMES.contains(name)) {
        return Err(Error::manifest(
            "tensors",
            format!(
                "the tensor file holds an unknown tensor {}",
                json::text_of(name)
            ),
        ));
    }
    let tensors = Tensors { file: &file };
    let rows = rows_for(n_classes);
    let buckets = manifest.featurizer.n_buckets();
    let weights = tensors.i8("sentiment_weights_i8", &[rows, buckets])?;
    let scales = tensors.f32("sentiment_scales", &[rows])?;
    if let Some(index) = scales.iter().position(|s| *s <= 0.0) {
        return Err(Error::InvalidTensorValue {
            name: "sentiment_scales".into(),
            index,
            reason: "is not positive",
        });
    }
    let bias = tensors.f32("sentiment_bias", &[rows])?;
    Ok(SentimentModel {
        manifest,
        weights,
        scales,
        bias,
    })
}

impl SentimentManifest {
    /// Parses a sentiment manifest from JSON bytes, checking its kind and
    /// schema version first so that another bundle gets the precise error.
    pub fn from_json(manifest_bytes: &[u8]) -> Result<SentimentManifest, Error> {
        let syntax = |e: JsonError| Error::ManifestSyntax {
            message: e.to_string(),
        };
        let mut fields = json::parse_object(manifest_bytes).map_err(syntax)?;
        let kind = fields
            .take_optional("kind", json::string)
            .map_err(syntax)?
            .unwrap_or_default();
        if kind != SENTIMENT_KIND {
            return Err(Error::manifest(
                "kind",
                format!(
                    "{} is not {}: not a sentiment bundle",
                    json::text_of(&kind),
                    json::text_of(SENTIMENT_KIND)
                ),
            ));
        }
        let schema_version = fields.u32("schema_version").map_err(syntax)?;
        if schema_version != SENTIMENT_SCHEMA_VERSION {
            return Err(Error::UnsupportedSchemaVersion {
                found: schema_version,
                supported: SENTIMENT_SCHEMA_VERSION,
            });
        }
        read_manifest(schema_version, kind, fields).map_err(syntax)
    }
}

/// Reads the rest of a sentiment manifest whose version and kind were read.
fn read_manifest(
    schema_version: u32,
    kind: String,
    mut fields: Fields,
) -> Result<SentimentManifest, JsonError> {
    let manifest = SentimentManifest {
        schema_version,
        kind,
        model_id: fields.string("model_id")?,
        training: fields.take("training", |value| {
            let mut fields = Fields::new(value)?;
            let training = SentimentTraining {
                source: fields.string("source")?,
                labels: fields.string("labels")?,
                n_train: fields.u64("n_train")?,
                n_test: fields.u64("n_test")?,
                split_seed: fields.u64("split_seed")?,
            };
            fields.finish()?;
            Ok(training)
        })?,
        metrics: fields
            .take("metrics", |value| Fields::new(value)?.entries(json::f64))?
            .into_iter()
            .collect(),
        featurizer: fields.take("featurizer", read_featurizer)?,
        classes: fields.strings("classes")?,
        tensors: fields.take("tensors", read_part_digest)?,
    };
    fields.finish()?;
    Ok(manifest)
}

fn read_featurizer(value: Value) -> Result<FeaturizerSpec, JsonError> {
    let mut fields = Fields::new(value)?;
    let spec = FeaturizerSpec {
        hash_bits: fields.u32("hash_bits")?,
        word_ngrams: fields.usize("word_ngrams")?,
        char_ngram_min: fields.usize("char_ngram_min")?,
        char_ngram_max: fields.usize("char_ngram_max")?,
        max_chars: fields.usize("max_chars")?,
    };
    fields.finish()?;
    Ok(spec)
}
