//! On-device review sentiment in the browser: [`SentimentScorer`], the wasm
//! module `www/pkg/sentiment/cove_sentiment_bg.wasm`, fetched only by pages
//! that score what a shopper wrote, so the featurizer and its Unicode tables
//! never weigh on the storefront snippet.
//!
//! Thin: the featurizer and the model are the engine's (`sentiment`), the
//! same the trainer imports; this crate converts the text in and the answer
//! or the error out.
#![deny(missing_docs)]

use cove_bindings::{to_js, to_js_error};
use cove_engine::sentiment::SentimentModel;
use cove_engine::Error;
use wasm_bindgen::prelude::*;

/// One sentiment bundle, scored on the device.
#[wasm_bindgen]
pub struct SentimentScorer {
    model: SentimentModel,
}

#[wasm_bindgen]
impl SentimentScorer {
    /// Validates and loads a sentiment bundle.
    #[wasm_bindgen(constructor)]
    pub fn new(manifest: &[u8], tensors: &[u8]) -> Result<SentimentScorer, JsValue> {
        let model = SentimentModel::from_bytes(manifest, tensors).map_err(to_js_error)?;
        Ok(SentimentScorer { model })
    }

    /// The sentiment bundle's model id.
    #[wasm_bindgen(js_name = modelId)]
    pub fn model_id(&self) -> String {
        self.model.model_id().to_string()
    }

    /// The sentiment of a text: `{ class, class_index, score, probabilities,
    /// n_tokens, truncated }`. A value that is not a string is `invalid_text`;
    /// text with nothing to score is `empty_text`.
    pub fn sentiment(&self, text: JsValue) -> Result<JsValue, JsValue> {
        let text = text.as_string().ok_or_else(|| {
            to_js_error(Error::InvalidText {
                reason: "not a string".into(),
            })
        })?;
        to_js(&self.model.sentiment(&text).map_err(to_js_error)?)
    }

    /// The class labels, most negative first.
    pub fn classes(&self) -> Vec<String> {
        self.model.classes().to_vec()
    }
}
