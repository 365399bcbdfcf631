//! On-device review sentiment: a hashed n-gram featurizer and a linear model.
//!
//! [`featurize`] turns any text into a sparse vector (the one implementation,
//! which the trainer imports, so training and scoring cannot drift);
//! [`SentimentModel`] is a validated sentiment bundle (see [`bundle`]) and
//! [`SentimentModel::sentiment`] scores a text: class probabilities, the most
//! likely class, and a score in [0, 1] (0 the most negative class, 1 the most
//! positive).
//!
//! Defined results for every input: text of any size is read up to the
//! featurizer's `max_chars` (the result says it was cut); emoji and every
//! script give features; text with no token at all (empty, only spaces) is
//! [`Error::EmptyText`]; bytes that are not UTF-8 are [`Error::InvalidText`].
//!
//! Scoring sums `q · value` in f64 in the order of the ascending bucket index,
//! so a native and a wasm build give the same classes; the probabilities may
//! differ in the last bits only through `exp`.

pub mod bundle;
pub mod featurize;

use serde::Serialize;

pub use bundle::{
    SentimentBundleBuilder, SentimentManifest, SentimentTraining, MAX_CLASSES, SENTIMENT_ID_PREFIX,
    SENTIMENT_SCHEMA_VERSION,
};
pub use featurize::{featurize, Features, FeaturizerSpec};

use crate::Error;

/// A validated sentiment bundle, ready to score text. Built only by
/// [`SentimentModel::from_bytes`], so its invariants hold.
#[derive(Debug, Clone)]
pub struct SentimentModel {
    pub(crate) manifest: SentimentManifest,
    /// rows × 2^hash_bits, row-major.
    pub(crate) weights: Vec<i8>,
    /// One positive, finite scale per row.
    pub(crate) scales: Vec<f32>,
    /// One finite intercept per row.
    pub(crate) bias: Vec<f32>,
}

/// The sentiment of one text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sentiment {
    /// The most likely class's label.
    pub class: String,
    /// Its position in the model's classes (0 is the most negative).
    pub class_index: usize,
    /// Σ p(class i) · i / (classes − 1): 0 the most negative, 1 the most
    /// positive; for two classes, the probability of the positive one.
    pub score: f64,
    /// The probability of each class, in the model's order.
    pub probabilities: Vec<f64>,
    /// Number of tokens read.
    pub n_tokens: usize,
    /// Whether the text was longer than the featurizer reads.
    pub truncated: bool,
}

impl SentimentModel {
    /// Validates and loads a sentiment bundle from its two parts.
    pub fn from_bytes(manifest: &[u8], tensors: &[u8]) -> Result<SentimentModel, Error> {
        bundle::load(manifest, tensors)
    }

    /// The manifest as loaded.
    pub fn manifest(&self) -> &SentimentManifest {
        &self.manifest
    }

    /// The content-addressed model id.
    pub fn model_id(&self) -> &str {
        &self.manifest.model_id
    }

    /// The class labels, most negative first.
    pub fn classes(&self) -> &[String] {
        &self.manifest.classes
    }

    /// The probabilities of each class for a feature vector made with this
    /// model's featurizer.
    pub fn probabilities(&self, features: &Features) -> Vec<f64> {
        let buckets = self.manifest.featurizer.n_buckets();
        // Class 0 is the reference: its logit is 0.
        let mut logits = vec![0.0];
        for (row, (bias, scale)) in self.bias.iter().zip(&self.scales).enumerate() {
            let weights = &self.weights[row * buckets..(row + 1) * buckets];
            let sum: f64 = features
                .indices
                .iter()
                .zip(&features.values)
                .map(|(index, value)| f64::from(weights[*index as usize]) * value)
                .sum();
            logits.push(f64::from(*bias) + f64::from(*scale) * sum);
        }
        softmax(&logits)
    }

    /// The sentiment of a text. Text with no token is [`Error::EmptyText`].
    pub fn sentiment(&self, text: &str) -> Result<Sentiment, Error> {
        let features = featurize(&self.manifest.featurizer, text);
        if features.n_tokens == 0 {
            return Err(Error::EmptyText);
        }
        let probabilities = self.probabilities(&features);
        let mut class_index = 0;
        for (index, p) in probabilities.iter().enumerate() {
            if *p > probabilities[class_index] {
                class_index = index;
            }
        }
        let last = (probabilities.len() - 1) as f64;
        let score = probabilities
            .iter()
            .enumerate()
            .map(|(index, p)| p * index as f64 / last)
            .sum();
        Ok(Sentiment {
            class: self.manifest.classes[class_index].clone(),
            class_index,
            score,
            probabilities,
            n_tokens: features.n_tokens,
            truncated: features.truncated,
        })
    }

    /// The sentiment of UTF-8 bytes; other bytes are [`Error::InvalidText`].
    pub fn sentiment_utf8(&self, bytes: &[u8]) -> Result<Sentiment, Error> {
        let text = std::str::from_utf8(bytes).map_err(|e| Error::InvalidText {
            reason: format!("not UTF-8: {e}"),
        })?;
        self.sentiment(text)
    }
}

/// Softmax of logits, computed from the largest so it never overflows.
pub fn softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = logits.iter().map(|z| (z - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.iter().map(|e| e / total).collect()
}

#[cfg(test)]
mod tests;
