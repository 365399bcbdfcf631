//! The bundle writer, the one implementation of the format that the trainer
//! and the engine's tests use.
//!
//! The builder takes the f32 item factors and derives everything else that is
//! a function of them (the int8 rows and their scales, which are what is
//! stored, and the Gram matrix YᵀY of the dequantised rows), so a writer can
//! never ship an inconsistent pair. [`BundleBuilder::build`] ends by
//! loading what it wrote with the engine's own loader: a bundle that builds is a
//! bundle that loads.

use std::borrow::Cow;

use safetensors::{Dtype, View};

use super::content_id::{placeholder_id, seal_manifest};
use super::manifest::{
    sha256_hex, FeatureSpec, ItemMeta, Manifest, Metrics, PartDigest, RankingParams, RescuePolicy,
    SegmentDefinitions, TrainingSummary, MODEL_ID_PREFIX, SCHEMA_VERSION,
};
use super::{LogisticModel, Model, PAD};
use crate::feature_names::{PROPENSITY_INPUTS, PURCHASE_INTENT_INPUTS};
use crate::Error;

/// The two parts of a written bundle and its id.
#[derive(Debug, Clone)]
pub struct BuiltBundle {
    /// The content-addressed model id (also inside the manifest).
    pub model_id: String,
    /// The manifest, pretty-printed JSON.
    pub manifest: Vec<u8>,
    /// The safetensors file.
    pub tensors: Vec<u8>,
}

/// Collects a model's parts and writes a bundle. See the module docs of
/// [`crate::bundle`] for the tensors' meaning.
///
/// ```
/// use cove_engine::bundle::*;
///
/// let segments = SegmentDefinitions {
///     lifecycle: LifecycleMap {
///         recency_cuts_days: vec![30.0, 120.0],
///         frequency_cuts: vec![2.0, 5.0],
///         monetary_cuts: vec![100.0, 1000.0],
///         rules: vec![LifecycleRule { segment: "champion".into(), r: [3, 3], f: [3, 3], m: [2, 3] }],
///         no_purchase_segment: "new".into(),
///         fallback_segment: "other".into(),
///     },
///     propensity_threshold: 0.5,
///     price_tiers: PriceTiers { cuts: vec![10.0], labels: vec!["budget".into(), "premium".into()] },
///     taste_clusters: vec!["all".into()],
///     loyalty_tiers: vec![LoyaltyTier { name: "member".into(), min_orders: 1, min_spend: 0.0 }],
/// };
/// let rescue = RescuePolicy {
///     threshold: 0.6,
///     holdout_share: 0.1,
///     actions: vec![RescueRule { segment: "*".into(), action: RescueAction::Reminder, threshold: None }],
/// };
/// let ranking = RankingParams {
///     lambda: 0.1, alpha: 10.0, weight_personal: 1.0, weight_neighbors: 0.5, weight_trending: 0.2,
///     weight_repeat: 0.3, keep_purchased: None, profile_half_life_days: None, session: None,
/// };
/// let (dim, n_neighbors, n_trending) = (2, 1, 2);
/// let mut builder = BundleBuilder::new(dim, n_neighbors, n_trending, ranking, segments, rescue);
/// for (i, factors) in [[0.3, 0.1], [0.1, 0.4], [-0.2, 0.2]].iter().enumerate() {
///     let meta = ItemMeta {
///         id: format!("sku-{i}"), title: format!("Item {i}"), price: 5.0 + i as f64,
///         category: "mugs".into(), in_stock: true, countries: None,
///     };
///     builder.add_item(meta, factors)?;
/// }
/// builder.neighbors(0, &[(1, 0.9)])?;
/// builder.trending("*", &[(2, 10.0), (0, 4.0)]);
/// builder.taste_centroids(&[0.1, 0.2]);
/// builder.metric("recall_at_20", 0.31);
/// // Classifiers left unset are neutral (probability ½); set them with
/// // `builder.propensity(..)` and `builder.purchase_intent(..)`.
/// let bundle = builder.build()?; // two byte blobs, already checked by the loader
/// let model = Model::from_bytes(&bundle.manifest, &bundle.tensors)?;
/// assert_eq!(model.model_id(), bundle.model_id);
/// # Ok::<(), cove_engine::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BundleBuilder {
    dim: usize,
    n_neighbors: usize,
    n_trending: usize,
    training: TrainingSummary,
    metrics: Metrics,
    ranking: RankingParams,
    segments: SegmentDefinitions,
    rescue: RescuePolicy,
    items: Vec<ItemMeta>,
    factors: Vec<f32>,
    neighbors: Vec<Vec<(u32, f32)>>,
    trending: Vec<(String, Vec<(u32, f32)>)>,
    taste_centroids: Vec<f32>,
    propensity: Option<LogisticModel>,
    purchase_intent: Option<LogisticModel>,
}

impl BundleBuilder {
    /// Starts a bundle of `dim`-dimensional factors, keeping at most
    /// `n_neighbors` neighbours per item and `n_trending` items per trending
    /// list, with the given ranking parameters, segment definitions and rescue
    /// policy.
    pub fn new(
        dim: usize,
        n_neighbors: usize,
        n_trending: usize,
        ranking: RankingParams,
        segments: SegmentDefinitions,
        rescue: RescuePolicy,
    ) -> BundleBuilder {
        BundleBuilder {
            dim,
            n_neighbors,
            n_trending,
            training: TrainingSummary::default(),
            metrics: Metrics::default(),
            ranking,
            segments,
            rescue,
            items: Vec::new(),
            factors: Vec::new(),
            neighbors: Vec::new(),
            trending: Vec::new(),
            taste_centroids: Vec::new(),
            propensity: None,
            purchase_intent: None,
        }
    }

    /// Sets the training-data summary.
    pub fn training(&mut self, training: TrainingSummary) -> &mut Self {
        self.training = training;
        self
    }

    /// Replaces the ranking parameters given to [`BundleBuilder::new`].
    pub fn ranking(&mut self, ranking: RankingParams) -> &mut Self {
        self.ranking = ranking;
        self
    }

    /// Records an evaluation metric.
    pub fn metric(&mut self, name: &str, value: f64) -> &mut Self {
        self.metrics.insert(name, value);
        self
    }

    /// Adds an item with its factor row; returns its row index.
    pub fn add_item(&mut self, meta: ItemMeta, factors: &[f32]) -> Result<u32, Error> {
        if factors.len() != self.dim {
            return Err(Error::DimensionMismatch {
                what: "item factors",
                expected: self.dim,
                found: factors.len(),
            });
        }
        let row = self.items.len() as u32;
        self.items.push(meta);
        self.factors.extend_from_slice(factors);
        self.neighbors.push(Vec::new());
        Ok(row)
    }

    /// Sets an item's neighbours as (row, similarity), best first. Only the
    /// first `n_neighbors` are kept.
    pub fn neighbors(&mut self, row: u32, neighbors: &[(u32, f32)]) -> Result<&mut Self, Error> {
        let n_items = self.items.len();
        let slot = self
            .neighbors
            .get_mut(row as usize)
            .ok_or(Error::InvalidReference {
                what: "neighbors row".into(),
                index: row as u64,
                limit: n_items as u64,
            })?;
        *slot = neighbors.iter().take(self.n_neighbors).copied().collect();
        Ok(self)
    }

    /// Sets a country's trending list as (row, score), best first; `"*"` is
    /// the fallback list every bundle needs. Only the first `n_trending` kept.
    pub fn trending(&mut self, country: &str, items: &[(u32, f32)]) -> &mut Self {
        let list: Vec<(u32, f32)> = items.iter().take(self.n_trending).copied().collect();
        match self.trending.iter_mut().find(|(c, _)| c == country) {
            Some(entry) => entry.1 = list,
            None => self.trending.push((country.to_string(), list)),
        }
        self
    }

    /// Sets the taste cluster centres (row-major, one row of `dim` per label in
    /// `segments.taste_clusters`).
    pub fn taste_centroids(&mut self, centroids: &[f32]) -> &mut Self {
        self.taste_centroids = centroids.to_vec();
        self
    }

    /// Sets the purchase-propensity classifier (inputs: [`PROPENSITY_INPUTS`]).
    pub fn propensity(&mut self, model: LogisticModel) -> &mut Self {
        self.propensity = Some(model);
        self
    }

    /// Sets the purchase-intent classifier (inputs: [`PURCHASE_INTENT_INPUTS`]).
    pub fn purchase_intent(&mut self, model: LogisticModel) -> &mut Self {
        self.purchase_intent = Some(model);
        self
    }

    /// Writes the bundle and checks it with the engine's loader.
    pub fn build(&self) -> Result<BuiltBundle, Error> {
        let dim = self.dim;
        let (quantised, scales) = quantise_rows(&self.factors, dim);
        let gram = gram_matrix(&super::load::dequantise_rows(&quantised, &scales, dim), dim);
        let mut trending = self.trending.clone();
        trending.sort_by(|a, b| a.0.cmp(&b.0));
        let part = Part {
            items: &self.items,
            quantised: &quantised,
            scales: &scales,
            neighbors: &self.neighbors,
        };
        let tensor_bytes = self.tensor_file(&part, &gram, &trending)?;
        let built = self.seal(&tensor_bytes, &trending, None, None)?;
        Model::from_bytes(&built.manifest, &built.tensors)?;
        Ok(built)
    }

    /// The tensor file of a bundle of `part`'s items (all of them, or a
    /// head's), with the Gram matrix `gram` and trending lists by row of
    /// `part`.
    pub(crate) fn tensor_file(
        &self,
        part: &Part<'_>,
        gram: &[f32],
        trending: &[(String, Vec<(u32, f32)>)],
    ) -> Result<Vec<u8>, Error> {
        let dim = self.dim;
        let n_items = part.items.len();
        let m = self.n_neighbors;
        let (neighbors_idx, neighbors_score) = neighbor_matrix(part.neighbors, m);

        let t = self.n_trending;
        let mut trending_idx = vec![PAD; trending.len() * t];
        let mut trending_score = vec![0.0f32; trending.len() * t];
        for (position, (_, list)) in trending.iter().enumerate() {
            for (slot, (idx, score)) in list.iter().enumerate() {
                trending_idx[position * t + slot] = *idx;
                trending_score[position * t + slot] = *score;
            }
        }

        let n_clusters = self.segments.taste_clusters.len();
        let propensity = self
            .propensity
            .clone()
            .unwrap_or_else(|| neutral_logistic(PROPENSITY_INPUTS.len()));
        let purchase_intent = self
            .purchase_intent
            .clone()
            .unwrap_or_else(|| neutral_logistic(PURCHASE_INTENT_INPUTS.len()));

        let mut tensors: Vec<(String, Tensor)> = super::items::item_tensors(part.items)?;
        tensors.extend(super::cuts::cut_tensors(&self.segments));
        tensors.extend([
            i8_tensor("item_factors_i8", &[n_items, dim], part.quantised),
            f32_tensor("item_scales", &[n_items], part.scales),
            f32_tensor("gram", &[dim, dim], gram),
            u32_tensor("neighbors_idx", &[n_items, m], &neighbors_idx),
            f32_tensor("neighbors_score", &[n_items, m], &neighbors_score),
            u32_tensor("trending_idx", &[trending.len(), t], &trending_idx),
            f32_tensor("trending_score", &[trending.len(), t], &trending_score),
            f32_tensor(
                "taste_centroids",
                &[self.taste_centroids.len() / dim.max(1), dim],
                &self.taste_centroids,
            ),
        ]);
        if self.taste_centroids.len() != n_clusters * dim {
            return Err(Error::DimensionMismatch {
                what: "taste centroids (clusters × dim)",
                expected: n_clusters * dim,
                found: self.taste_centroids.len(),
            });
        }
        for (prefix, model) in [
            ("propensity", &propensity),
            ("purchase_intent", &purchase_intent),
        ] {
            let mut coef = model.coef.clone();
            coef.push(model.intercept);
            tensors.push(f32_tensor(
                &format!("{prefix}_mean"),
                &[model.mean.len()],
                &model.mean,
            ));
            tensors.push(f32_tensor(
                &format!("{prefix}_scale"),
                &[model.scale.len()],
                &model.scale,
            ));
            tensors.push(f32_tensor(&format!("{prefix}_coef"), &[coef.len()], &coef));
        }
        serialize_tensors(tensors)
    }

    /// The sealed manifest for a tensor file (and a head's shard table).
    pub(crate) fn seal(
        &self,
        tensor_bytes: &[u8],
        trending: &[(String, Vec<(u32, f32)>)],
        shards: Option<(Vec<super::manifest::ShardEntry>, u32)>,
        item_index_files: Option<u32>,
    ) -> Result<BuiltBundle, Error> {
        let (shards, shards_per_visit) = match shards {
            Some((table, per_visit)) => (Some(table), Some(per_visit)),
            None => (None, None),
        };
        let manifest = Manifest {
            schema_version: SCHEMA_VERSION,
            model_id: placeholder_id(MODEL_ID_PREFIX),
            training: self.training.clone(),
            metrics: self.metrics.clone(),
            features: FeatureSpec {
                dim: self.dim,
                n_neighbors: self.n_neighbors,
                n_trending: self.n_trending,
                propensity_inputs: PROPENSITY_INPUTS.iter().map(|s| s.to_string()).collect(),
                purchase_intent_inputs: PURCHASE_INTENT_INPUTS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            },
            ranking: self.ranking.clone(),
            segments: self.segments.clone(),
            rescue: self.rescue.clone(),
            trending_countries: trending.iter().map(|(c, _)| c.clone()).collect(),
            tensors: PartDigest {
                sha256: sha256_hex(tensor_bytes),
                byte_len: tensor_bytes.len() as u64,
            },
            shards,
            shards_per_visit,
            item_index_files,
        };
        let mut manifest_bytes =
            serde_json::to_vec_pretty(&manifest).map_err(|e| Error::ManifestSyntax {
                message: e.to_string(),
            })?;
        let model_id = seal_manifest(&mut manifest_bytes, MODEL_ID_PREFIX)?;
        Ok(BuiltBundle {
            model_id,
            manifest: manifest_bytes,
            tensors: tensor_bytes.to_vec(),
        })
    }

    /// The rows of every trending list's items, ascending, each once (a
    /// head bundle must hold them: [`BundleBuilder::build_sharded`]).
    pub fn trending_rows(&self) -> Vec<u32> {
        let mut rows: Vec<u32> = self
            .trending
            .iter()
            .flat_map(|(_, list)| list.iter().map(|(row, _)| *row))
            .collect();
        rows.sort_unstable();
        rows.dedup();
        rows
    }

    /// How many taste clusters the segment definitions name.
    pub(crate) fn n_taste_clusters(&self) -> usize {
        self.segments.taste_clusters.len()
    }

    /// The builder's parts for the shard writer (`super::shards`).
    pub(crate) fn parts(&self) -> BuilderParts<'_> {
        BuilderParts {
            dim: self.dim,
            n_neighbors: self.n_neighbors,
            items: &self.items,
            factors: &self.factors,
            neighbors: &self.neighbors,
            trending: &self.trending,
        }
    }
}

/// Read access to what a builder holds.
pub(crate) struct BuilderParts<'a> {
    pub(crate) dim: usize,
    pub(crate) n_neighbors: usize,
    pub(crate) items: &'a [ItemMeta],
    pub(crate) factors: &'a [f32],
    pub(crate) neighbors: &'a [Vec<(u32, f32)>],
    pub(crate) trending: &'a [(String, Vec<(u32, f32)>)],
}

/// Some items with their quantised factors and neighbour lists.
pub(crate) struct Part<'a> {
    pub(crate) items: &'a [ItemMeta],
    pub(crate) quantised: &'a [i8],
    pub(crate) scales: &'a [f32],
    pub(crate) neighbors: &'a [Vec<(u32, f32)>],
}

/// Neighbour lists as the n × m index and score matrices, [`PAD`]-padded.
pub(crate) fn neighbor_matrix(lists: &[Vec<(u32, f32)>], m: usize) -> (Vec<u32>, Vec<f32>) {
    let mut idx = vec![PAD; lists.len() * m];
    let mut score = vec![0.0f32; lists.len() * m];
    for (row, list) in lists.iter().enumerate() {
        for (slot, (i, s)) in list.iter().take(m).enumerate() {
            idx[row * m + slot] = *i;
            score[row * m + slot] = *s;
        }
    }
    (idx, score)
}

/// The safetensors bytes of `tensors`.
pub(crate) fn serialize_tensors(tensors: Vec<(String, Tensor)>) -> Result<Vec<u8>, Error> {
    safetensors::serialize(tensors, None).map_err(|e| Error::TensorFileSyntax {
        message: format!("{e:?}"),
    })
}

/// Quantises each row to int8 with its own scale max|y| / 127 (rows of zeros
/// get scale 1 so the scale stays positive).
pub fn quantise_rows(factors: &[f32], dim: usize) -> (Vec<i8>, Vec<f32>) {
    if dim == 0 {
        return (Vec::new(), Vec::new());
    }
    let mut quantised = Vec::with_capacity(factors.len());
    let mut scales = Vec::with_capacity(factors.len() / dim);
    for row in factors.chunks_exact(dim) {
        let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 && max.is_finite() {
            max / 127.0
        } else {
            1.0
        };
        quantised.extend(
            row.iter()
                .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8),
        );
        scales.push(scale);
    }
    (quantised, scales)
}

/// YᵀY accumulated in f64, stored as f32 and exactly symmetric.
pub fn gram_matrix(factors: &[f32], dim: usize) -> Vec<f32> {
    let mut gram = vec![0.0f64; dim * dim];
    for row in factors.chunks_exact(dim.max(1)) {
        for i in 0..dim {
            let yi = row[i] as f64;
            for j in 0..=i {
                gram[i * dim + j] += yi * row[j] as f64;
            }
        }
    }
    for i in 0..dim {
        for j in 0..i {
            gram[j * dim + i] = gram[i * dim + j];
        }
    }
    gram.iter().map(|g| *g as f32).collect()
}

/// A classifier that always answers its base rate of one half (used when the
/// trainer supplies none).
fn neutral_logistic(n_inputs: usize) -> LogisticModel {
    LogisticModel {
        mean: vec![0.0; n_inputs],
        scale: vec![1.0; n_inputs],
        coef: vec![0.0; n_inputs],
        intercept: 0.0,
    }
}

/// An owned tensor for `safetensors::serialize` (the engine's tests build
/// deliberately broken tensor files with it too).
pub(crate) struct Tensor {
    pub(crate) dtype: Dtype,
    pub(crate) shape: Vec<usize>,
    pub(crate) data: Vec<u8>,
}

impl View for Tensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

pub(crate) fn f32_tensor(name: &str, shape: &[usize], values: &[f32]) -> (String, Tensor) {
    let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    (
        name.to_string(),
        Tensor {
            dtype: Dtype::F32,
            shape: shape.to_vec(),
            data,
        },
    )
}

pub(crate) fn u32_tensor(name: &str, shape: &[usize], values: &[u32]) -> (String, Tensor) {
    let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    (
        name.to_string(),
        Tensor {
            dtype: Dtype::U32,
            shape: shape.to_vec(),
            data,
        },
    )
}

pub(crate) fn f64_tensor(name: &str, shape: &[usize], values: &[f64]) -> (String, Tensor) {
    let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    (
        name.to_string(),
        Tensor {
            dtype: Dtype::F64,
            shape: shape.to_vec(),
            data,
        },
    )
}

pub(crate) fn i8_tensor(name: &str, shape: &[usize], values: &[i8]) -> (String, Tensor) {
    let data = values.iter().map(|v| *v as u8).collect();
    (
        name.to_string(),
        Tensor {
            dtype: Dtype::I8,
            shape: shape.to_vec(),
            data,
        },
    )
}
