//! What a device's privacy reports need of a model, and the small binary
//! digest that carries it from the storefront's module to the reporter's.
//!
//! The reports read five things of a model ([`ReportingModel`]): its id
//! (a registry is for one model), the profile configuration (to read the
//! shopper's profile and its decayed weights), the lifecycle map and the
//! price tiers (the segment metrics and the review cells), and the
//! catalogue's item ids with each item's category (item interest, reviews).
//! [`Model`] has them all; the browser's reporter gets them as a
//! [`ModelDigest`] instead of loading the whole bundle a second time, which
//! kept about 60 KB of bundle loading and validation in its module.
//!
//! # Format
//!
//! The magic `b"CVMD"`, the format version (LEB128), then in order: the model
//! id; the profile's half-life in days (the configuration is the engine's
//! defaults with it, as the bundle loader builds it); the lifecycle map (its
//! rules, each a name and three score ranges of two bytes; the no-purchase
//! and fallback segments; the recency, frequency and monetary cuts); the
//! price tiers (labels, cuts); whether the model is a head bundle (0 or 1);
//! the number of categories; and the items in row order, each an id and its
//! category index (a head's digest holds the head's items and their
//! categories only, whatever shards the model has added). Integers, floats, strings
//! and lists are written as in the binary profile (`profile::codec`, whose
//! writer and reader this module uses), and a CRC-32 of everything before it
//! ends the digest. Reading it checks the checksum, every length against the
//! bytes left, the segment definitions as the bundle loader checks them,
//! unique item ids and category indexes in range: a truncated or corrupt
//! digest is [`Error::CorruptModelDigest`], never a misread model.

use crate::bundle::{LifecycleMap, LifecycleRule, Model, PriceTiers, SegmentDefinitions};
use crate::profile::codec::{crc32, Reader, Writer};
use crate::profile::{ProfileConfig, ProfileParams};
use crate::Error;

const MAGIC: &[u8; 4] = b"CVMD";
/// Version 2 added whether the model is a head bundle.
const VERSION: u64 = 2;
/// The longest text a digest holds (ids, names, labels), in bytes.
const MAX_TEXT: usize = 4096;
/// The most rules, labels or cuts of one list.
const MAX_LIST: usize = 1024;

/// What the privacy reports read of a model: a loaded [`Model`] (the edge,
/// the simulator) or a [`ModelDigest`] of one (the browser's reporter).
///
/// # A head bundle's reports
///
/// A head of a sharded catalogue (`bundle::shards`) reports over the head
/// alone: its items by row (rows 0..h, which every device of the head holds
/// and the edge numbers the same way) and its items' categories; every other
/// item, whether the device has added its shard or not, counts as one value,
/// "outside the head" ([`ReportingModel::is_head`]). So the registry, the
/// validity checks and every report depend only on the head, which the edge
/// and the devices share, and never on which shards a device holds.
pub trait ReportingModel {
    /// The model's id.
    fn model_id(&self) -> &str;
    /// The profile configuration the model was tuned with.
    fn profile_config(&self) -> &ProfileConfig;
    /// The lifecycle (RFM) map.
    fn lifecycle(&self) -> &LifecycleMap;
    /// The price tiers.
    fn price_tiers(&self) -> &PriceTiers;
    /// The number of items the reports name by row: a whole bundle's, or a
    /// head's own.
    fn n_items(&self) -> usize;
    /// The number of categories the reports name by index (those of the
    /// items above).
    fn n_categories(&self) -> usize;
    /// Whether the catalogue goes beyond these items (a head bundle): the
    /// reports then count any other item as "outside the head".
    fn is_head(&self) -> bool;
    /// The row of an item id among the items above, if it is one.
    fn item_row(&self, item_id: &str) -> Option<u32>;
    /// The index of an item's category among the categories above, by row.
    fn item_category(&self, row: u32) -> Option<u32>;
}

impl ReportingModel for Model {
    fn model_id(&self) -> &str {
        Model::model_id(self)
    }
    fn profile_config(&self) -> &ProfileConfig {
        Model::profile_config(self)
    }
    fn lifecycle(&self) -> &LifecycleMap {
        &self.manifest().segments.lifecycle
    }
    fn price_tiers(&self) -> &PriceTiers {
        &self.manifest().segments.price_tiers
    }
    fn n_items(&self) -> usize {
        self.reporting_items()
    }
    fn n_categories(&self) -> usize {
        self.reporting_categories().len()
    }
    fn is_head(&self) -> bool {
        Model::is_head(self)
    }
    fn item_row(&self, item_id: &str) -> Option<u32> {
        Model::item_row(self, item_id).filter(|row| (*row as usize) < self.reporting_items())
    }
    fn item_category(&self, row: u32) -> Option<u32> {
        self.reporting_category(row)
    }
}

/// What the reports need of one model, read from its digest
/// ([`ModelDigest::encode`] writes it from the loaded model).
#[derive(Debug, Clone)]
pub struct ModelDigest {
    model_id: String,
    profile_config: ProfileConfig,
    /// The segment definitions: the lifecycle map and the price tiers (the
    /// rest is empty).
    segments: SegmentDefinitions,
    /// Item ids in row order.
    ids: Vec<String>,
    /// The rows ordered by id, for lookups by binary search.
    rows_by_id: Vec<u32>,
    /// Per row, the item's category index.
    categories: Vec<u32>,
    /// The number of categories.
    n_categories: usize,
    /// Whether the model is a head bundle ([`ReportingModel::is_head`]).
    head: bool,
}

impl ModelDigest {
    /// The digest of `model`: what the storefront's module hands the
    /// reporter's. A head's digest is the head's alone, whatever shards the
    /// model has added ([`ReportingModel`]).
    pub fn encode(model: &Model) -> Vec<u8> {
        let mut out = Writer(MAGIC.to_vec());
        out.uint(VERSION);
        out.string(model.model_id());
        out.f64(model.profile_config().params().half_life_days);
        let lifecycle = &model.manifest().segments.lifecycle;
        out.uint(lifecycle.rules.len() as u64);
        for rule in &lifecycle.rules {
            out.string(&rule.segment);
            out.0
                .extend_from_slice(&[rule.r[0], rule.r[1], rule.f[0], rule.f[1]]);
            out.0.extend_from_slice(&rule.m);
        }
        out.string(&lifecycle.no_purchase_segment);
        out.string(&lifecycle.fallback_segment);
        let tiers = &model.manifest().segments.price_tiers;
        for cuts in [
            &lifecycle.recency_cuts_days,
            &lifecycle.frequency_cuts,
            &lifecycle.monetary_cuts,
            &tiers.cuts,
        ] {
            out.uint(cuts.len() as u64);
            for cut in cuts {
                out.f64(*cut);
            }
        }
        out.uint(tiers.labels.len() as u64);
        for label in &tiers.labels {
            out.string(label);
        }
        out.uint(u64::from(model.is_head()));
        out.uint(model.reporting_categories().len() as u64);
        let n_items = model.reporting_items();
        out.uint(n_items as u64);
        for (row, item) in model.items()[..n_items].iter().enumerate() {
            out.string(&item.id);
            out.uint(u64::from(model.reporting_category(row as u32).unwrap_or(0)));
        }
        let crc = crc32(&out.0);
        out.0.extend_from_slice(&crc.to_le_bytes());
        out.0
    }

    /// Reads a digest; a truncated or corrupt one is
    /// [`Error::CorruptModelDigest`].
    pub fn decode(bytes: &[u8]) -> Result<ModelDigest, Error> {
        let corrupt = |reason: &str| Error::CorruptModelDigest {
            reason: reason.to_string(),
        };
        if bytes.len() < MAGIC.len() + 1 + 4 || &bytes[..4] != MAGIC {
            return Err(corrupt("not a model digest (bad magic)"));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32(body).to_le_bytes() != crc {
            return Err(corrupt("bad checksum"));
        }
        let mut reader = Reader {
            bytes: body,
            position: MAGIC.len(),
        };
        Self::read(&mut reader).map_err(|error| match error {
            Error::CorruptProfile { reason } => Error::CorruptModelDigest { reason },
            Error::InvalidManifest { field, reason } => Error::CorruptModelDigest {
                reason: format!("{field}: {reason}"),
            },
            other => other,
        })
    }

    fn read(r: &mut Reader) -> Result<ModelDigest, Error> {
        let corrupt = |reason: &str| Error::corrupt(reason);
        if r.uint()? != VERSION {
            return Err(corrupt("a digest format version this engine does not read"));
        }
        let model_id = r.string(MAX_TEXT)?;
        let half_life_days = r.f64()?;
        let profile_config = ProfileParams {
            half_life_days,
            ..ProfileParams::default()
        }
        .validate()
        .map_err(|_| corrupt("the profile's half-life is out of range"))?;
        let n_rules = r.len(MAX_LIST)?;
        let mut rules = Vec::with_capacity(n_rules);
        for _ in 0..n_rules {
            let segment = r.string(MAX_TEXT)?;
            let s = r.take(6)?;
            rules.push(LifecycleRule {
                segment,
                r: [s[0], s[1]],
                f: [s[2], s[3]],
                m: [s[4], s[5]],
            });
        }
        let no_purchase_segment = r.string(MAX_TEXT)?;
        let fallback_segment = r.string(MAX_TEXT)?;
        let mut cuts = || -> Result<Vec<f64>, Error> {
            let n = r.len(MAX_LIST)?;
            (0..n).map(|_| r.f64()).collect()
        };
        let lifecycle = LifecycleMap {
            recency_cuts_days: cuts()?,
            frequency_cuts: cuts()?,
            monetary_cuts: cuts()?,
            rules,
            no_purchase_segment,
            fallback_segment,
        };
        let tier_cuts = cuts()?;
        let n_labels = r.len(MAX_LIST)?;
        let labels = (0..n_labels)
            .map(|_| r.string(MAX_TEXT))
            .collect::<Result<_, _>>()?;
        let segments = SegmentDefinitions {
            lifecycle,
            propensity_threshold: 0.5,
            price_tiers: PriceTiers {
                cuts: tier_cuts,
                labels,
            },
            taste_clusters: Vec::new(),
            loyalty_tiers: Vec::new(),
        };
        crate::bundle::load::validate_segments(&segments)?;
        let head = match r.uint()? {
            0 => false,
            1 => true,
            _ => return Err(corrupt("the head flag is neither 0 nor 1")),
        };
        let n_categories = r.uint()?;
        // Each item takes at least two bytes: a hostile count cannot make
        // the reader allocate more than the digest's length.
        let n_items = r.len((r.bytes.len() - r.position) / 2)?;
        let mut ids = Vec::with_capacity(n_items);
        let mut categories = Vec::with_capacity(n_items);
        for _ in 0..n_items {
            ids.push(r.string(MAX_TEXT)?);
            let category = r.u32()?;
            if u64::from(category) >= n_categories {
                return Err(corrupt("an item's category is out of range"));
            }
            categories.push(category);
        }
        if r.position != r.bytes.len() {
            return Err(corrupt("bytes after the items"));
        }
        // Every category is some item's, so a hostile count cannot make a
        // report's domain overflow.
        if n_categories > n_items as u64 {
            return Err(corrupt("more categories than items"));
        }
        let rows_by_id = crate::bundle::items::order_by_id(&ids)
            .map_err(|_| corrupt("an item id repeats an earlier item's"))?;
        Ok(ModelDigest {
            model_id,
            profile_config,
            segments,
            ids,
            rows_by_id,
            categories,
            n_categories: n_categories as usize,
            head,
        })
    }
}

impl ReportingModel for ModelDigest {
    fn model_id(&self) -> &str {
        &self.model_id
    }
    fn profile_config(&self) -> &ProfileConfig {
        &self.profile_config
    }
    fn lifecycle(&self) -> &LifecycleMap {
        &self.segments.lifecycle
    }
    fn price_tiers(&self) -> &PriceTiers {
        &self.segments.price_tiers
    }
    fn n_items(&self) -> usize {
        self.ids.len()
    }
    fn n_categories(&self) -> usize {
        self.n_categories
    }
    fn is_head(&self) -> bool {
        self.head
    }
    fn item_row(&self, item_id: &str) -> Option<u32> {
        let ids = &self.ids;
        self.rows_by_id
            .binary_search_by(|&row| ids[row as usize].as_str().cmp(item_id))
            .ok()
            .map(|position| self.rows_by_id[position])
    }
    fn item_category(&self, row: u32) -> Option<u32> {
        self.categories.get(row as usize).copied()
    }
}
