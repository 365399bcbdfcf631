//! The model bundle: the contract between the trainer and the engine.
//!
//! A bundle is two byte blobs: a JSON [`Manifest`] and a safetensors file of
//! tensors. [`BundleBuilder`] writes them (the trainer calls it, so there is one
//! implementation of the format) and [`Model::from_bytes`] reads them back,
//! validating everything before anything is used: schema version, the model id
//! derived from the content, the tensor file's length and sha256, every
//! tensor's dtype and shape, finite values, and every cross-reference.
//! [`Engine`] holds the current model and swaps in a new one only when it
//! loads without error.
//!
//! Tensors (n items, d dimensions, m neighbours, c trending countries, t
//! trending items, k taste clusters, F inputs of a classifier):
//!
//! | name | dtype | shape | meaning |
//! | --- | --- | --- | --- |
//! | `item_factors_i8` | I8 | n × d | ALS item factors Y, quantised per row: y = scale · q |
//! | `item_scales` | F32 | n | the per-row scales, positive |
//! | `gram` | F32 | d × d | YᵀY of the dequantised Y, symmetric, for the fold-in |
//!
//! The int8 factors with their scales are the only factors stored (schema 2):
//! the loader dequantises them once into the f32 rows the fold-in and the f32
//! scoring path read, so both paths use the same Y the Gram matrix was built
//! from.
//! | `neighbors_idx` | U32 | n × m | similar / bought-together items; [`PAD`] pads |
//! | `neighbors_score` | F32 | n × m | their similarity |
//! | `trending_idx` | U32 | c × t | trending items per country; [`PAD`] pads |
//! | `trending_score` | F32 | c × t | their non-negative trend scores |
//! | `taste_centroids` | F32 | k × d | centres of the taste clusters |
//! | `propensity_{mean,scale,coef}` | F32 | F, F, F + 1 | logistic model on RFM features |
//! | `purchase_intent_{mean,scale,coef}` | F32 | F, F, F + 1 | logistic model on session features |
//!
//! The catalogue's item columns (ids, titles, categories, prices, stock,
//! countries) are in the same file; the `items` module lists them. So are the
//! segment cut points, exact (the `cuts` module).
//!
//! A *head* bundle (issue 24) also carries a shard table in its manifest
//! and the rest of its catalogue comes in shard files that
//! [`Model::add_shard`] validates and joins; the `shards` module describes
//! them and the policy for which shards a device fetches.
//!
//! Where a published bundle's files live (`/v1/bundles/<model_id>/…`) is
//! stated once, in the `layout` module.
//!
//! A logistic model computes `σ(Σ coef[i]·(x[i] − mean[i]) / scale[i] + coef[F])`.

pub(crate) mod builder;
pub mod content_id;
pub(crate) mod cuts;
pub(crate) mod items;
pub mod layout;
pub(crate) mod load;
pub mod manifest;
pub mod shards;
pub(crate) mod tensor_file;

use std::sync::Arc;

pub use builder::{gram_matrix, quantise_rows, BuiltBundle, BundleBuilder};
pub use content_id::{placeholder_id, seal_manifest};
pub use load::dequantise_rows;
pub use manifest::{
    sha256_hex, BlendWeights, FeatureSpec, ItemMeta, LifecycleMap, LifecycleRule, LoyaltyTier,
    Manifest, Metrics, PartDigest, PriceTiers, RankingParams, RescueAction, RescuePolicy,
    RescueRule, SegmentDefinitions, SessionWeights, ShardEntry, TrainingSummary, MODEL_ID_PREFIX,
    SCHEMA_VERSION,
};
pub use shards::{
    item_bucket, item_index_file_name, shard_file_name, ShardFile, ShardPlan, ShardStatus,
    ShardedBundle, ITEMS_PER_INDEX_FILE,
};

use crate::score::dot;
use crate::Error;

/// The index that pads neighbour and trending lists shorter than their row.
pub const PAD: u32 = u32::MAX;

/// The largest factor dimension a bundle may declare. The fold-in costs d³/6
/// multiply-adds, so this bounds the work one shopper's device can be asked for.
pub const MAX_DIM: usize = 256;

/// A standardised logistic regression: the classifier format of the bundle.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LogisticModel {
    /// Per-input means subtracted before scaling.
    pub mean: Vec<f32>,
    /// Per-input scales (positive) divided by after centring.
    pub scale: Vec<f32>,
    /// Per-input coefficients.
    pub coef: Vec<f32>,
    /// The intercept.
    pub intercept: f32,
}

impl LogisticModel {
    /// The probability the model gives the input `x` (one value per input).
    /// Missing inputs count as their mean; a loaded model has matching lengths.
    pub fn probability(&self, x: &[f32]) -> f64 {
        let mut z = self.intercept as f64;
        let inputs = self.coef.iter().zip(&self.mean).zip(&self.scale);
        for (i, ((coef, mean), scale)) in inputs.enumerate() {
            let value = x.get(i).copied().unwrap_or(*mean);
            z += *coef as f64 * ((value - mean) / scale) as f64;
        }
        sigmoid(z)
    }

    /// Number of inputs.
    pub fn n_inputs(&self) -> usize {
        self.coef.len()
    }
}

/// The logistic function, clamped so that extreme inputs stay finite.
pub(crate) fn sigmoid(z: f64) -> f64 {
    let z = z.clamp(-40.0, 40.0);
    1.0 / (1.0 + (-z).exp())
}

/// A validated model bundle, ready to use. Built only by [`Model::from_bytes`],
/// so every invariant documented on its fields holds.
#[derive(Debug, Clone)]
pub struct Model {
    pub(crate) manifest: Manifest,
    /// n × d, finite: `item_factors[i·d + j] = item_scales[i] · item_factors_i8[i·d + j]`.
    pub(crate) item_factors: Vec<f32>,
    /// n × d, in −127..=127.
    pub(crate) item_factors_i8: Vec<i8>,
    /// n, positive and finite.
    pub(crate) item_scales: Vec<f32>,
    /// YᵀY + λI and its inverse (λ from the manifest), prepared once from
    /// `gram`: plain matrices, which `ranking::foldin` solves with (with the
    /// manifest's α).
    pub(crate) fold_in_gram: crate::linalg::RidgeGram,
    /// The engine's default profile configuration with the bundle's
    /// `ranking.profile_half_life_days`.
    pub(crate) profile_config: crate::profile::ProfileConfig,
    /// Per item: in stock (the request-independent part of eligibility).
    pub(crate) in_stock: Vec<bool>,
    /// The items that ship only to some countries: (row, countries).
    pub(crate) country_limits: Vec<(u32, Vec<String>)>,
    /// n × m; each entry is below n or [`PAD`].
    pub(crate) neighbors_idx: Vec<u32>,
    /// n × m, finite.
    pub(crate) neighbors_score: Vec<f32>,
    /// c × t; each entry is below n or [`PAD`].
    pub(crate) trending_idx: Vec<u32>,
    /// c × t, finite, non-negative.
    pub(crate) trending_score: Vec<f32>,
    /// k × d, finite.
    pub(crate) taste_centroids: Vec<f32>,
    pub(crate) propensity: LogisticModel,
    pub(crate) purchase_intent: LogisticModel,
    /// The d × d Gram matrix YᵀY as shipped (f32), symmetric.
    pub(crate) gram: Vec<f32>,
    /// The catalogue, one entry per item in row order (from the tensor file's
    /// item columns, the `items` module).
    pub(crate) items: Vec<ItemMeta>,
    /// The item rows ordered by id, for [`Model::item_row`]'s binary search.
    pub(crate) rows_by_id: Vec<u32>,
    /// Per item, the index of its category in `categories`.
    pub(crate) item_category: Vec<u32>,
    /// Distinct category names, sorted.
    pub(crate) categories: Vec<String>,
    /// A head's shards: its own neighbour lists and the shards added
    /// ([`Model::add_shard`]); empty for a whole bundle.
    pub(crate) shard_state: shards::ShardState,
}

/// How the loader knows the tensor file is the one the manifest names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorCheck<'a> {
    /// Hash the bytes with the engine's sha256 ([`Model::from_bytes`]).
    Hash,
    /// The host has hashed these exact bytes with its own SHA-256 and passes
    /// the lower-case hex digest, which must equal the manifest's. The
    /// browser's loader does: Subresource Integrity checks a fetched tensor
    /// file and Web Crypto a cached one, at native speed, so the engine does
    /// not hash the same megabyte a second time in wasm.
    HostDigest(&'a str),
}

impl Model {
    /// Validates and loads a bundle from its two parts. Never panics; any
    /// problem is a typed [`Error`] naming the offending value.
    pub fn from_bytes(manifest: &[u8], tensors: &[u8]) -> Result<Model, Error> {
        load::load(manifest, tensors, TensorCheck::Hash)
    }

    /// [`Model::from_bytes`], with the tensor file's digest checked as
    /// `check` says. The byte length is always checked.
    pub fn from_bytes_checked(
        manifest: &[u8],
        tensors: &[u8],
        check: TensorCheck<'_>,
    ) -> Result<Model, Error> {
        load::load(manifest, tensors, check)
    }

    /// The profile configuration this model's ranking was tuned with: the
    /// engine's defaults, with the bundle's `ranking.profile_half_life_days`
    /// when it has one. Hosts record events and rank with it.
    pub fn profile_config(&self) -> &crate::profile::ProfileConfig {
        &self.profile_config
    }

    /// The manifest as loaded.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The content-addressed model id.
    pub fn model_id(&self) -> &str {
        &self.manifest.model_id
    }

    /// Number of items n.
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// Factor dimension d.
    pub fn dim(&self) -> usize {
        self.manifest.features.dim
    }

    /// Withdraws `rows` from every ranking with this model, as items out of
    /// stock are: for a host that knows more than the bundle (an evaluation
    /// that may rank only the items its split can score). Cheaper than
    /// naming them in every request's `exclude_items`. Rows past the
    /// catalogue are ignored.
    pub fn withdraw_items(&mut self, rows: &[u32]) {
        for &row in rows {
            if let Some(flag) = self.in_stock.get_mut(row as usize) {
                *flag = false;
            }
        }
    }

    /// The row of an item id, if the bundle knows it.
    pub fn item_row(&self, item_id: &str) -> Option<u32> {
        let items = &self.items;
        self.rows_by_id
            .binary_search_by(|&row| items[row as usize].id.as_str().cmp(item_id))
            .ok()
            .map(|position| self.rows_by_id[position])
    }

    /// The bundle's distinct category names, sorted; an item's category index
    /// ([`Model::item_category`]) points into this list.
    pub fn categories(&self) -> &[String] {
        &self.categories
    }

    /// The index of an item's category in [`Model::categories`], by row.
    pub fn item_category(&self, row: u32) -> Option<u32> {
        self.item_category.get(row as usize).copied()
    }

    /// An item's metadata by row.
    pub fn item(&self, row: u32) -> Option<&ItemMeta> {
        self.items.get(row as usize)
    }

    /// The whole catalogue, in row order (what a shop's pages list; the
    /// trainer publishes it beside the bundle as `catalogue.json`).
    pub fn items(&self) -> &[ItemMeta] {
        &self.items
    }

    /// An item's factor row, dequantised from the stored int8 row.
    pub fn item_factors(&self, row: u32) -> Option<&[f32]> {
        let dim = self.dim();
        let start = (row as usize).checked_mul(dim)?;
        self.item_factors.get(start..start + dim)
    }

    /// Every item's factor row (n × d, row-major), dequantised.
    pub fn all_item_factors(&self) -> &[f32] {
        &self.item_factors
    }

    /// The shipped Gram matrix YᵀY (d × d, row-major).
    pub fn gram(&self) -> &[f32] {
        &self.gram
    }

    /// The purchase-intent classifier (inputs: [`crate::feature_names::PURCHASE_INTENT_INPUTS`]).
    pub fn purchase_intent(&self) -> &LogisticModel {
        &self.purchase_intent
    }

    /// The purchase-propensity classifier (inputs: [`crate::feature_names::PROPENSITY_INPUTS`]).
    pub fn propensity(&self) -> &LogisticModel {
        &self.propensity
    }

    /// The neighbour list of an item: (row, score) pairs without padding.
    pub fn neighbors(&self, row: u32) -> impl Iterator<Item = (u32, f32)> + '_ {
        let m = self.manifest.features.n_neighbors;
        let start = row as usize * m;
        let end = if (row as usize) < self.n_items() {
            start + m
        } else {
            start
        };
        let idx = self.neighbors_idx.get(start..end).unwrap_or(&[]);
        let score = self.neighbors_score.get(start..end).unwrap_or(&[]);
        idx.iter()
            .zip(score)
            .filter(|(i, _)| **i != PAD)
            .map(|(i, s)| (*i, *s))
    }

    /// The trending list of a country (or of `"*"` when the country has none):
    /// the country it came from and (row, score) pairs without padding.
    pub fn trending(&self, country: Option<&str>) -> (&str, Vec<(u32, f32)>) {
        let countries = &self.manifest.trending_countries;
        let position = country
            .and_then(|c| countries.iter().position(|x| x == c))
            .or_else(|| countries.iter().position(|x| x == "*"))
            .unwrap_or(0);
        let t = self.manifest.features.n_trending;
        let start = position * t;
        let idx = self.trending_idx.get(start..start + t).unwrap_or(&[]);
        let score = self.trending_score.get(start..start + t).unwrap_or(&[]);
        let list = idx
            .iter()
            .zip(score)
            .filter(|(i, _)| **i != PAD)
            .map(|(i, s)| (*i, *s))
            .collect();
        let name = countries.get(position).map(String::as_str).unwrap_or("*");
        (name, list)
    }
}

/// Holds the current model. [`Engine::load`] replaces it only when the new
/// bundle loads without error, so a bad bundle never takes the shop down.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    model: Option<Arc<Model>>,
}

impl Model {
    /// The cosine of `vector` (a shopper's vector in factor space) with each
    /// taste centroid, in centroid order (−1 for a centroid of zeros); `None`
    /// for a vector of zeros or of non-finite length. The one computation
    /// behind the taste segment and the shards a device fetches.
    pub fn taste_cosines(&self, vector: &[f32]) -> Option<Vec<f32>> {
        cosines(vector, self.taste_centroids.chunks_exact(self.dim()))
    }
}

/// The cosine between `vector` and each of `centroids` (−1 for a centroid
/// of zeros), or None when `vector` has no direction (zero or not finite):
/// the taste segment's and the shard policy's one measure of nearness.
pub(crate) fn cosines<'a>(
    vector: &[f32],
    centroids: impl Iterator<Item = &'a [f32]>,
) -> Option<Vec<f32>> {
    let norm = dot(vector, vector).sqrt();
    if !(norm > 0.0 && norm.is_finite()) {
        return None;
    }
    let cosines = centroids
        .map(|centroid| {
            let centroid_norm = dot(centroid, centroid).sqrt();
            if centroid_norm > 0.0 {
                dot(vector, centroid) / (norm * centroid_norm)
            } else {
                -1.0
            }
        })
        .collect();
    Some(cosines)
}

impl Engine {
    /// An engine with no model yet.
    pub fn new() -> Engine {
        Engine { model: None }
    }

    /// Validates the bundle and, only on success, makes it the current model.
    /// On error the previous model (if any) stays current.
    pub fn load(&mut self, manifest: &[u8], tensors: &[u8]) -> Result<Arc<Model>, Error> {
        self.load_checked(manifest, tensors, TensorCheck::Hash)
    }

    /// [`Engine::load`], with the tensor digest checked as `check` says.
    pub fn load_checked(
        &mut self,
        manifest: &[u8],
        tensors: &[u8],
        check: TensorCheck<'_>,
    ) -> Result<Arc<Model>, Error> {
        let model = Arc::new(Model::from_bytes_checked(manifest, tensors, check)?);
        self.model = Some(Arc::clone(&model));
        Ok(model)
    }

    /// Adds shard `index` of the current head's table ([`Model::add_shard`])
    /// to a copy of the current model and makes the copy current only on
    /// success: a shard that fails its checks leaves the head (and any
    /// shards added before) ranking as it was.
    pub fn add_shard(
        &mut self,
        index: usize,
        bytes: &[u8],
        check: TensorCheck<'_>,
    ) -> Result<Arc<Model>, Error> {
        let mut model = Model::clone(self.model()?);
        model.add_shard_checked(index, bytes, check)?;
        let model = Arc::new(model);
        self.model = Some(Arc::clone(&model));
        Ok(model)
    }

    /// The current model, or [`Error::NoModel`].
    pub fn model(&self) -> Result<&Arc<Model>, Error> {
        self.model.as_ref().ok_or(Error::NoModel)
    }
}
