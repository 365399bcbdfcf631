//! The validating loader. Checks run cheapest first: the manifest's syntax and
//! version, its model id, the tensor file's length and sha256, then the
//! tensor file's header, every manifest value (with the segment cuts the
//! tensor file holds), then every tensor against the manifest.

use super::content_id::check_content_id;
use super::cuts;
use super::items::{self, read_items, MAX_TEXT_LEN};
use super::manifest::{
    sha256_hex, Manifest, PartDigest, RankingParams, RescueAction, SegmentDefinitions,
    MODEL_ID_PREFIX,
};
use super::shards::ShardState;
use super::tensor_file::TensorFile;
use super::{LogisticModel, Model, TensorCheck, MAX_DIM, PAD};
use crate::feature_names::{PROPENSITY_INPUTS, PURCHASE_INTENT_INPUTS};
use crate::json::{self, number_text};
use crate::linalg::RidgeGram;
use crate::profile::{ProfileConfig, ProfileParams};
use crate::Error;

/// Every tensor the schema knows. A file with any other tensor is refused.
const TENSOR_NAMES: &[&str] = &[
    "item_factors_i8",
    "item_scales",
    "gram",
    "neighbors_idx",
    "neighbors_score",
    "trending_idx",
    "trending_score",
    "taste_centroids",
    "propensity_mean",
    "propensity_scale",
    "propensity_coef",
    "purchase_intent_mean",
    "purchase_intent_scale",
    "purchase_intent_coef",
];

pub(super) fn load(
    manifest_bytes: &[u8],
    tensor_bytes: &[u8],
    check: TensorCheck<'_>,
) -> Result<Model, Error> {
    let mut manifest = Manifest::from_json(manifest_bytes)?;
    check_content_id(manifest_bytes, MODEL_ID_PREFIX, &manifest.model_id)?;
    check_tensor_digest(&manifest.tensors, tensor_bytes, check)?;

    let file = TensorFile::parse(tensor_bytes)?;
    for name in file.names() {
        let known = [TENSOR_NAMES, &items::TENSOR_NAMES, &cuts::TENSOR_NAMES];
        if !known.iter().any(|names| names.contains(&name)) {
            return Err(Error::manifest(
                "tensors",
                format!(
                    "the tensor file holds an unknown tensor {}",
                    json::text_of(name)
                ),
            ));
        }
    }
    let tensors = Tensors { file: &file };
    cuts::read_cuts(&tensors, &mut manifest.segments)?;
    validate_manifest(&manifest)?;
    let profile_config = profile_config(&manifest.ranking)?;
    let catalogue = read_items(&tensors)?;

    let n = catalogue.items.len();
    let d = manifest.features.dim;
    let m = manifest.features.n_neighbors;
    let c = manifest.trending_countries.len();
    let t = manifest.features.n_trending;
    let k = manifest.segments.taste_clusters.len();

    let (item_factors_i8, item_scales) = read_factors(&tensors, n, d)?;
    let item_factors = dequantise_rows(&item_factors_i8, &item_scales, d);

    let gram = tensors.f32("gram", &[d, d])?;
    check_symmetric(&gram, d)?;
    let fold_in_gram = RidgeGram::new(&gram, d, manifest.ranking.lambda)?;

    let neighbors_idx = tensors.u32("neighbors_idx", &[n, m])?;
    check_references("neighbors_idx", &neighbors_idx, n)?;
    let neighbors_score = tensors.f32("neighbors_score", &[n, m])?;
    let trending_idx = tensors.u32("trending_idx", &[c, t])?;
    check_references("trending_idx", &trending_idx, n)?;
    let trending_score = tensors.f32("trending_score", &[c, t])?;
    if let Some(index) = trending_score.iter().position(|s| *s < 0.0) {
        return Err(Error::InvalidTensorValue {
            name: "trending_score".into(),
            index,
            reason: "is negative",
        });
    }
    let taste_centroids = tensors.f32("taste_centroids", &[k, d])?;
    let propensity = tensors.logistic("propensity", PROPENSITY_INPUTS.len())?;
    let purchase_intent = tensors.logistic("purchase_intent", PURCHASE_INTENT_INPUTS.len())?;

    let in_stock = catalogue.items.iter().map(|item| item.in_stock).collect();
    let country_limits = catalogue
        .items
        .iter()
        .enumerate()
        .filter_map(|(row, item)| Some((row as u32, item.countries.clone()?)))
        .collect();
    check_shard_table(&manifest, n, k, d)?;
    let shard_state = match manifest.shards {
        Some(_) => ShardState::new(n, &catalogue.categories, &neighbors_idx, &neighbors_score),
        None => ShardState::default(),
    };
    Ok(Model {
        shard_state,
        in_stock,
        country_limits,
        manifest,
        item_factors,
        item_factors_i8,
        item_scales,
        fold_in_gram,
        profile_config,
        neighbors_idx,
        neighbors_score,
        trending_idx,
        trending_score,
        taste_centroids,
        propensity,
        purchase_intent,
        gram,
        items: catalogue.items,
        rows_by_id: catalogue.rows_by_id,
        item_category: catalogue.item_category,
        categories: catalogue.categories,
    })
}

/// Checks the tensor file's length, then its sha256 (hashed here, or the
/// host's digest of the same bytes, as `check` says), against the manifest's
/// digest (the main bundle's and the sentiment bundle's loaders share it).
pub(crate) fn check_tensor_digest(
    digest: &PartDigest,
    tensor_bytes: &[u8],
    check: TensorCheck<'_>,
) -> Result<(), Error> {
    if digest.byte_len != tensor_bytes.len() as u64 {
        return Err(Error::ChecksumMismatch {
            part: "tensors",
            expected: format!("{} bytes", digest.byte_len),
            found: format!("{} bytes", tensor_bytes.len()),
        });
    }
    let found = match check {
        TensorCheck::Hash => sha256_hex(tensor_bytes),
        TensorCheck::HostDigest(hex) => hex.to_string(),
    };
    if found != digest.sha256 {
        return Err(Error::ChecksumMismatch {
            part: "tensors",
            expected: digest.sha256.clone(),
            found,
        });
    }
    Ok(())
}

/// Checks every manifest value.
fn validate_manifest(manifest: &Manifest) -> Result<(), Error> {
    let features = &manifest.features;
    if features.dim == 0 || features.dim > MAX_DIM {
        return Err(Error::manifest(
            "features.dim",
            format!("{} is not in 1..={MAX_DIM}", features.dim),
        ));
    }
    check_names(
        "features.propensity_inputs",
        &features.propensity_inputs,
        &PROPENSITY_INPUTS,
    )?;
    check_names(
        "features.purchase_intent_inputs",
        &features.purchase_intent_inputs,
        &PURCHASE_INTENT_INPUTS,
    )?;
    let ranking = &manifest.ranking;
    if !(ranking.lambda > 0.0 && ranking.lambda.is_finite()) {
        return Err(Error::manifest(
            "ranking.lambda",
            format!(
                "{} is not a positive finite number",
                number_text(ranking.lambda)
            ),
        ));
    }
    if !(ranking.alpha >= 0.0 && ranking.alpha.is_finite()) {
        return Err(Error::manifest(
            "ranking.alpha",
            format!(
                "{} is not a non-negative finite number",
                number_text(ranking.alpha)
            ),
        ));
    }
    // Both weight sets: the top-level one and, when present, the one for
    // requests that keep bought items.
    let weight_sets = [
        ("ranking.", Some(ranking.blend(true))),
        ("ranking.keep_purchased.", ranking.keep_purchased),
    ];
    for (prefix, weights) in weight_sets {
        for (name, weight) in weights.iter().flat_map(|w| w.named()) {
            if !(weight >= 0.0 && weight.is_finite()) {
                return Err(Error::manifest(
                    format!("{prefix}{name}"),
                    format!(
                        "{} is not a non-negative finite number",
                        number_text(weight.into())
                    ),
                ));
            }
        }
    }
    if let Some(session) = &ranking.session {
        for (name, weight) in session.named() {
            let valid = if name == "session_decay" {
                weight > 0.0 && weight <= 1.0
            } else {
                weight >= 0.0 && weight.is_finite()
            };
            if !valid {
                return Err(Error::manifest(
                    format!("ranking.session.{name}"),
                    format!(
                        "{} is out of range ({})",
                        number_text(weight.into()),
                        if name == "session_decay" {
                            "0 < decay ≤ 1"
                        } else {
                            "a non-negative finite number"
                        }
                    ),
                ));
            }
        }
    }
    for (name, value) in manifest.metrics.iter() {
        if !value.is_finite() {
            return Err(Error::manifest(format!("metrics.{name}"), "not finite"));
        }
    }

    let countries = &manifest.trending_countries;
    if !countries.iter().any(|c| c == "*") {
        return Err(Error::manifest(
            "trending_countries",
            "has no \"*\" list for shoppers whose country has none",
        ));
    }
    let mut unique: Vec<&String> = countries.iter().collect();
    crate::order::sort_by(&mut unique, |a, b| a.cmp(b));
    unique.dedup();
    if unique.len() != countries.len() {
        return Err(Error::manifest("trending_countries", "has duplicates"));
    }

    validate_segments(&manifest.segments)?;
    validate_rescue(manifest)?;
    Ok(())
}

/// The profile configuration the model was tuned with: the engine's defaults
/// with the bundle's half-life, if it states one. `ProfileParams::validate`
/// holds the bounds; a half-life outside them is a bundle error naming the
/// manifest field.
fn profile_config(ranking: &RankingParams) -> Result<ProfileConfig, Error> {
    let defaults = ProfileParams::default();
    let Some(days) = ranking.profile_half_life_days else {
        return defaults.validate();
    };
    ProfileParams {
        half_life_days: days,
        ..defaults
    }
    .validate()
    .map_err(|error| {
        let reason = match error {
            Error::InvalidParameter { reason, .. } => reason.to_string(),
            other => other.to_string(),
        };
        Error::manifest(
            "ranking.profile_half_life_days",
            format!("{} {reason}", number_text(days)),
        )
    })
}

pub(crate) fn validate_segments(segments: &SegmentDefinitions) -> Result<(), Error> {
    let lifecycle = &segments.lifecycle;
    check_cuts(
        "segments.lifecycle.recency_cuts_days",
        &lifecycle.recency_cuts_days,
    )?;
    check_cuts(
        "segments.lifecycle.frequency_cuts",
        &lifecycle.frequency_cuts,
    )?;
    check_cuts("segments.lifecycle.monetary_cuts", &lifecycle.monetary_cuts)?;
    check_text(
        "segments.lifecycle.no_purchase_segment",
        &lifecycle.no_purchase_segment,
        false,
    )?;
    check_text(
        "segments.lifecycle.fallback_segment",
        &lifecycle.fallback_segment,
        false,
    )?;
    for (position, rule) in lifecycle.rules.iter().enumerate() {
        let field = format!("segments.lifecycle.rules[{position}]");
        check_text(&field, &rule.segment, false)?;
        for (range, cuts) in [
            (rule.r, &lifecycle.recency_cuts_days),
            (rule.f, &lifecycle.frequency_cuts),
            (rule.m, &lifecycle.monetary_cuts),
        ] {
            let top = cuts.len() + 1;
            if range[0] < 1 || range[0] > range[1] || range[1] as usize > top {
                return Err(Error::manifest(
                    field,
                    format!(
                        "score range {} is not within 1..={top} in order",
                        json::text_of(&range)
                    ),
                ));
            }
        }
    }
    let propensity = segments.propensity_threshold;
    if !(0.0..=1.0).contains(&propensity) {
        return Err(Error::manifest(
            "segments.propensity_threshold",
            format!("{} is not in [0, 1]", number_text(propensity)),
        ));
    }
    let tiers = &segments.price_tiers;
    check_cuts("segments.price_tiers.cuts", &tiers.cuts)?;
    if tiers.labels.len() != tiers.cuts.len() + 1 {
        return Err(Error::manifest(
            "segments.price_tiers.labels",
            format!(
                "{} labels for {} cuts; needs one more label than cuts",
                tiers.labels.len(),
                tiers.cuts.len()
            ),
        ));
    }
    for label in tiers.labels.iter().chain(&segments.taste_clusters) {
        check_text("segments", label, false)?;
    }
    for (position, tier) in segments.loyalty_tiers.iter().enumerate() {
        check_text("segments.loyalty_tiers", &tier.name, false)?;
        if !(tier.min_spend >= 0.0 && tier.min_spend.is_finite()) {
            return Err(Error::manifest(
                format!("segments.loyalty_tiers[{position}].min_spend"),
                format!(
                    "{} is not a non-negative finite amount",
                    number_text(tier.min_spend)
                ),
            ));
        }
    }
    Ok(())
}

fn validate_rescue(manifest: &Manifest) -> Result<(), Error> {
    let rescue = &manifest.rescue;
    if !(0.0..=1.0).contains(&rescue.threshold) {
        return Err(Error::manifest(
            "rescue.threshold",
            format!("{} is not in [0, 1]", number_text(rescue.threshold)),
        ));
    }
    if !(0.0..1.0).contains(&rescue.holdout_share) {
        return Err(Error::manifest(
            "rescue.holdout_share",
            format!("{} is not in [0, 1)", number_text(rescue.holdout_share)),
        ));
    }
    for (position, rule) in rescue.actions.iter().enumerate() {
        let field = format!("rescue.actions[{position}]");
        check_text(&field, &rule.segment, false)?;
        if let Some(threshold) = rule.threshold {
            if !(0.0..=1.0).contains(&threshold) {
                return Err(Error::manifest(
                    field,
                    format!("threshold {} is not in [0, 1]", number_text(threshold)),
                ));
            }
        }
        if let RescueAction::Discount { percent } = rule.action {
            if !(percent > 0.0 && percent <= 100.0) {
                return Err(Error::manifest(
                    field,
                    format!("discount {}% is not in (0, 100]", number_text(percent)),
                ));
            }
        }
    }
    Ok(())
}

fn check_names(field: &str, found: &[String], expected: &[&str]) -> Result<(), Error> {
    if found.len() != expected.len() || found.iter().zip(expected).any(|(f, e)| f != e) {
        return Err(Error::manifest(
            field,
            format!(
                "inputs {} differ from this engine's {}",
                json::text_of(found),
                json::text_of(expected)
            ),
        ));
    }
    Ok(())
}

fn check_text(field: &str, text: &str, may_be_empty: bool) -> Result<(), Error> {
    if text.is_empty() && !may_be_empty {
        return Err(Error::manifest(field, "is empty"));
    }
    if text.len() > MAX_TEXT_LEN {
        return Err(Error::manifest(
            field,
            format!("{} bytes is longer than {MAX_TEXT_LEN}", text.len()),
        ));
    }
    Ok(())
}

fn check_cuts(field: &str, cuts: &[f64]) -> Result<(), Error> {
    if cuts.iter().any(|c| !c.is_finite()) {
        return Err(Error::manifest(field, "holds a value that is not finite"));
    }
    if cuts.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::manifest(field, "is not strictly ascending"));
    }
    Ok(())
}

/// Checks a head's shard table: the shards number the items after the
/// head's `n` in table order, each holds at least one item, names taste
/// clusters below `k`, has a centroid of `d` values that are not all zero,
/// and states a sha256 of 64 hex digits; the fetch policy
/// (`shards_per_visit`) is at least one.
fn check_shard_table(manifest: &Manifest, n: usize, k: usize, d: usize) -> Result<(), Error> {
    let Some(table) = &manifest.shards else {
        if manifest.item_index_files.is_some() {
            return Err(Error::manifest(
                "item_index_files",
                "a bundle without a shard table has no item index",
            ));
        }
        if manifest.shards_per_visit.is_some() {
            return Err(Error::manifest(
                "shards_per_visit",
                "a bundle without a shard table fetches no shards",
            ));
        }
        return Ok(());
    };
    match manifest.shards_per_visit {
        None => {
            return Err(Error::manifest(
                "shards_per_visit",
                "is missing; a head with a shard table needs it",
            ))
        }
        Some(0) => return Err(Error::manifest("shards_per_visit", "is 0; at least 1")),
        Some(_) => {}
    }
    let mut next = n as u64;
    for (index, entry) in table.iter().enumerate() {
        let field = |name: &str| format!("shards[{index}].{name}");
        if entry.first_item != next {
            return Err(Error::manifest(
                field("first_item"),
                format!("is {}, the items before it end at {next}", entry.first_item),
            ));
        }
        if entry.n_items == 0 {
            return Err(Error::manifest(field("n_items"), "a shard holds no items"));
        }
        next = next.saturating_add(entry.n_items);
        if next >= PAD as u64 {
            return Err(Error::manifest(
                field("n_items"),
                format!("the catalogue would pass {} items", PAD - 1),
            ));
        }
        if let Some(cluster) = entry.clusters.iter().find(|c| **c as usize >= k) {
            return Err(Error::manifest(
                field("clusters"),
                format!("names cluster {cluster}; the bundle has {k}"),
            ));
        }
        if entry.centroid.len() != d {
            return Err(Error::manifest(
                field("centroid"),
                format!("has {} values; the factors have {d}", entry.centroid.len()),
            ));
        }
        if entry.centroid.iter().all(|v| *v == 0) || entry.centroid.contains(&i8::MIN) {
            return Err(Error::manifest(
                field("centroid"),
                "is all zeros or holds -128 (the range is -127..=127)",
            ));
        }
        let digest = &entry.file.sha256;
        if digest.len() != 64
            || !digest
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(Error::manifest(
                field("file.sha256"),
                "is not 64 lower-case hex digits",
            ));
        }
    }
    if let Some(files) = manifest.item_index_files {
        let outside = next - n as u64;
        if files == 0 || u64::from(files) > outside {
            return Err(Error::manifest(
                "item_index_files",
                format!("is {files}; a head with {outside} items in shards has 1 to {outside}"),
            ));
        }
    }
    Ok(())
}

/// The int8 factor rows (n × d, in -127..=127) and their positive scales
/// (a bundle's, or a shard's).
pub(crate) fn read_factors(
    tensors: &Tensors<'_, '_>,
    n: usize,
    d: usize,
) -> Result<(Vec<i8>, Vec<f32>), Error> {
    let quantised = tensors.i8("item_factors_i8", &[n, d])?;
    if let Some(index) = quantised.iter().position(|q| *q == i8::MIN) {
        return Err(Error::InvalidTensorValue {
            name: "item_factors_i8".into(),
            index,
            reason: "is -128 (the range is -127..=127)",
        });
    }
    let scales = tensors.f32("item_scales", &[n])?;
    check_positive("item_scales", &scales)?;
    Ok((quantised, scales))
}

fn check_positive(name: &str, values: &[f32]) -> Result<(), Error> {
    match values.iter().position(|v| *v <= 0.0) {
        Some(index) => Err(Error::InvalidTensorValue {
            name: name.into(),
            index,
            reason: "is not positive",
        }),
        None => Ok(()),
    }
}

/// The f32 rows of int8 factors: `scale · q`, row by row (the one
/// dequantisation, shared with the builder so its Gram matrix matches).
pub fn dequantise_rows(quantised: &[i8], scales: &[f32], dim: usize) -> Vec<f32> {
    let dim = dim.max(1);
    let rows = (quantised.len() / dim).min(scales.len());
    // Plain loops over a zeroed buffer: the wasm build is optimised for size,
    // which left a `flat_map(..).collect()` here out of line per element.
    let mut out = vec![0.0f32; rows * dim];
    for ((out_row, row), scale) in out
        .chunks_exact_mut(dim)
        .zip(quantised.chunks_exact(dim))
        .zip(scales)
    {
        for (value, q) in out_row.iter_mut().zip(row) {
            *value = *q as f32 * scale;
        }
    }
    out
}

fn check_symmetric(gram: &[f32], dim: usize) -> Result<(), Error> {
    for row in 0..dim {
        for col in 0..row {
            let (a, b) = (gram[row * dim + col], gram[col * dim + row]);
            if (a - b).abs() > 1e-4 * (a.abs() + b.abs()) + 1e-6 {
                return Err(Error::InvalidTensorValue {
                    name: "gram".into(),
                    index: row * dim + col,
                    reason: "breaks symmetry",
                });
            }
        }
    }
    Ok(())
}

/// Builds YᵀY + λI in f64 and its inverse (through its Cholesky factor) once
/// per model; a failure means the bundle's Gram matrix is not positive
/// semi-definite.
fn check_references(name: &str, indices: &[u32], n_items: usize) -> Result<(), Error> {
    match indices
        .iter()
        .position(|i| *i != PAD && *i as usize >= n_items)
    {
        Some(position) => Err(Error::InvalidReference {
            what: format!("{name}[{position}]"),
            index: indices[position] as u64,
            limit: n_items as u64,
        }),
        None => Ok(()),
    }
}

fn u32s(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Typed, shape-checked access to the tensor file.
pub(crate) struct Tensors<'a, 'data> {
    pub(crate) file: &'a TensorFile<'data>,
}

impl<'data> Tensors<'_, 'data> {
    fn raw(&self, name: &str, dtype: &'static str, shape: &[usize]) -> Result<&'data [u8], Error> {
        let (found, data) = self.any_shape(name, dtype)?;
        if found != shape {
            return Err(Error::TensorShape {
                name: name.into(),
                expected: shape.to_vec(),
                found: found.to_vec(),
            });
        }
        Ok(data)
    }

    /// A one-dimensional tensor of any length.
    fn column(&self, name: &str, dtype: &'static str) -> Result<&'data [u8], Error> {
        let (shape, data) = self.any_shape(name, dtype)?;
        if shape.len() != 1 {
            return Err(Error::TensorShape {
                name: name.into(),
                expected: vec![data.len()],
                found: shape.to_vec(),
            });
        }
        Ok(data)
    }

    fn any_shape(&self, name: &str, dtype: &'static str) -> Result<(&[usize], &'data [u8]), Error> {
        let view = self
            .file
            .tensor(name)
            .ok_or_else(|| Error::MissingTensor { name: name.into() })?;
        if view.dtype != dtype {
            return Err(Error::TensorDtype {
                name: name.into(),
                expected: dtype,
                found: view.dtype.to_string(),
            });
        }
        Ok((view.shape, view.data))
    }

    pub(crate) fn u8_column(&self, name: &str) -> Result<&'data [u8], Error> {
        self.column(name, "U8")
    }

    pub(crate) fn u32_column(&self, name: &str) -> Result<Vec<u32>, Error> {
        Ok(u32s(self.column(name, "U32")?))
    }

    /// A F64 column; finiteness is the caller's to check.
    pub(crate) fn f64_column(&self, name: &str) -> Result<Vec<f64>, Error> {
        let bytes = self.column(name, "F64")?;
        Ok(bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect())
    }

    pub(crate) fn bool_column(&self, name: &str, len: usize) -> Result<Vec<bool>, Error> {
        let bytes = self.raw(name, "BOOL", &[len])?;
        match bytes.iter().position(|b| *b > 1) {
            Some(index) => Err(Error::InvalidTensorValue {
                name: name.into(),
                index,
                reason: "is not 0 or 1",
            }),
            None => Ok(bytes.iter().map(|b| *b == 1).collect()),
        }
    }

    pub(crate) fn f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, Error> {
        let bytes = self.raw(name, "F32", shape)?;
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        match values.iter().position(|v| !v.is_finite()) {
            Some(index) => Err(Error::InvalidTensorValue {
                name: name.into(),
                index,
                reason: "is not finite",
            }),
            None => Ok(values),
        }
    }

    pub(crate) fn u32(&self, name: &str, shape: &[usize]) -> Result<Vec<u32>, Error> {
        Ok(u32s(self.raw(name, "U32", shape)?))
    }

    pub(crate) fn i8(&self, name: &str, shape: &[usize]) -> Result<Vec<i8>, Error> {
        let bytes = self.raw(name, "I8", shape)?;
        Ok(bytes.iter().map(|b| *b as i8).collect())
    }

    fn logistic(&self, prefix: &str, n_inputs: usize) -> Result<LogisticModel, Error> {
        let mean = self.f32(&format!("{prefix}_mean"), &[n_inputs])?;
        let scale = self.f32(&format!("{prefix}_scale"), &[n_inputs])?;
        check_positive(&format!("{prefix}_scale"), &scale)?;
        let mut coef = self.f32(&format!("{prefix}_coef"), &[n_inputs + 1])?;
        let intercept = coef.pop().unwrap_or(0.0);
        Ok(LogisticModel {
            mean,
            scale,
            coef,
            intercept,
        })
    }
}
