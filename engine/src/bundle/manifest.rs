//! The bundle manifest: the JSON half of a model bundle.
//!
//! The manifest says what the tensors mean (dimensions, segment definitions,
//! rescue policy; the items' metadata is in the tensor file) and pins the tensor file by its sha256 and byte
//! length. Its own integrity is pinned by `model_id`, which is derived from the
//! manifest's bytes (see [`super::content_id`]), and those include the tensor
//! file's sha256: one id addresses both parts.
//!
//! Unknown fields are refused (`deny_unknown_fields`): a manifest with fields
//! this engine does not understand belongs to another schema version.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::json::{self, Fields, JsonError, Value};
use crate::Error;

/// The manifest schema version this engine reads and writes.
pub const SCHEMA_VERSION: u32 = 3;

/// What every model id of a main bundle starts with.
pub const MODEL_ID_PREFIX: &str = "cove-";

/// The JSON manifest of a model bundle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    /// Always [`SCHEMA_VERSION`] for bundles this engine reads.
    pub schema_version: u32,
    /// The content-addressed id: `"cove-"` and the first 32 hex digits of the
    /// sha256 of the manifest's bytes with those digits read as `0`s
    /// ([`super::content_id`]).
    pub model_id: String,
    /// What the model was trained on.
    pub training: TrainingSummary,
    /// Offline evaluation figures by name (for example `"recall_at_20"`).
    pub metrics: Metrics,
    /// The dimensions and vectorisers the tensors were built for.
    pub features: FeatureSpec,
    /// Ranking parameters: fold-in regularisation and source blending.
    pub ranking: RankingParams,
    /// Segment definitions (lifecycle map, price tiers, taste clusters, loyalty).
    pub segments: SegmentDefinitions,
    /// What to do for a shopper whose cart looks abandoned.
    pub rescue: RescuePolicy,
    /// The countries that have a trending list, in the row order of the
    /// `trending_idx` tensor. `"*"` names the list used when the shopper's
    /// country has none; it must be present.
    pub trending_countries: Vec<String>,
    /// The tensor file's checksum and length.
    pub tensors: PartDigest,
    /// A head bundle's shard table (issue 24): the rest of the catalogue, in
    /// shards a device fetches on demand ([`super::shards`]). Absent for a
    /// bundle that holds the whole catalogue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<Vec<ShardEntry>>,
    /// A head's fetch policy: how many shards, those whose centroids are
    /// nearest the shopper's taste, a device holds at most
    /// ([`super::shards`]). Present exactly when `shards` is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards_per_visit: Option<u32>,
    /// A head's item index: how many `items-<b>.json` files beside the
    /// manifest say which shard holds each item outside the head
    /// ([`super::shards::item_index_file_name`]). Absent for a whole bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_index_files: Option<u32>,
}

/// One shard of a head bundle's catalogue: items of one region of taste
/// that are not in the head.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShardEntry {
    /// The taste clusters (rows of `taste_centroids`) whose items it holds
    /// (a large cluster's items are split over several shards).
    pub clusters: Vec<u32>,
    /// The direction of its items: the mean of their unit factor rows,
    /// scaled so its largest entry is ±127 (`d` int8, written as the hex of
    /// their two's-complement bytes). A device ranks shards by the cosine
    /// between it and the shopper's folded-in vector.
    #[serde(serialize_with = "serialize_i8_hex")]
    pub centroid: Vec<i8>,
    /// The catalogue position of its first item: the head's items are
    /// positions 0..n, each shard's follow in table order. Neighbour lists in
    /// shards name items by catalogue position.
    pub first_item: u64,
    /// How many items it holds.
    pub n_items: u64,
    /// The shard file's sha256 and byte length.
    pub file: PartDigest,
}

/// What the model was trained on, for the model card and the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TrainingSummary {
    /// The data set's name or source (for example "UCI Online Retail").
    pub source: String,
    /// Number of shoppers in the training data.
    pub n_users: u64,
    /// Number of items in the training data.
    pub n_items: u64,
    /// Number of interactions (order lines, events) used.
    pub n_interactions: u64,
    /// The first day of the data (days since the unix epoch).
    pub first_day: i64,
    /// The last day of the data (days since the unix epoch).
    pub last_day: i64,
}

/// The shapes and feature vectorisers the tensors assume.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureSpec {
    /// The item factor dimension d.
    pub dim: usize,
    /// Neighbours stored per item (m in `neighbors_idx`, shape n × m).
    pub n_neighbors: usize,
    /// Items stored per trending list (t in `trending_idx`, shape c × t).
    pub n_trending: usize,
    /// The propensity model's input names, which must equal
    /// [`crate::feature_names::PROPENSITY_INPUTS`].
    pub propensity_inputs: Vec<String>,
    /// The purchase-intent model's input names, which must equal
    /// [`crate::feature_names::PURCHASE_INTENT_INPUTS`].
    pub purchase_intent_inputs: Vec<String>,
}

/// Fold-in and blending parameters, learned or tuned offline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankingParams {
    /// The ALS regularisation λ (added to the Gram matrix's diagonal). Positive.
    pub lambda: f64,
    /// The ALS confidence scale α: an interaction of weight w has confidence
    /// c = 1 + α·w. Non-negative.
    pub alpha: f64,
    /// Blend weight of the personalised score (u·y).
    pub weight_personal: f32,
    /// Blend weight of the neighbour score (similar / bought together).
    pub weight_neighbors: f32,
    /// Blend weight of the trending score (normalised to [0, 1] per list).
    pub weight_trending: f32,
    /// Blend weight of the "buy again" term: an item the shopper bought gets
    /// ln(1 + its decayed weight) (only when bought items are not excluded).
    /// Non-negative; absent means 0.
    pub weight_repeat: f32,
    /// The blend weights of requests that keep bought items
    /// (`exclude_purchased: false`: "for you" slots, where buying again is
    /// likely), which want another balance than slots that show only new
    /// items. Absent (or `null`) means the four weights above serve every
    /// request; each weight is finite and non-negative.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_purchased: Option<BlendWeights>,
    /// The half-life, in days, of the device profile's interaction weights
    /// that these parameters were tuned with: a shop whose buyers reorder
    /// over months wants a longer memory than the engine's default. Hosts
    /// build their `ProfileConfig` with it ([`crate::bundle::Model::profile_config`]).
    /// In (0, 36500]; absent (or `null`) means the engine's default
    /// (`ProfileParams::default().half_life_days`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_half_life_days: Option<f64>,
    /// How the current session and the item on screen count (issue 20).
    /// Absent (or `null`) means [`SessionWeights::default`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionWeights>,
}

/// The weights of the in-session terms, chosen by the trainer on the shop's
/// own validation split (tasks C, D and E of OR-SESSION):
///
/// - a "for you" slot adds `weight_session · Σᵢ session_decayⁱ · sim(sᵢ, item)`
///   over the items sᵢ of the current session, most recent first (i = 0, 1,
///   …), so the last thing a shopper looked at counts most and several
///   related views add up;
/// - a slot with a context (an item page, or the cart for "complete the
///   basket") ranks the context's neighbours first, by their summed
///   similarity `+ context_trending · trending + context_personal · u·y`,
///   and only then fills the rest of the slot from the "for you" blend.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SessionWeights {
    /// Weight of the session's neighbour sum in a "for you" slot; ≥ 0.
    pub weight_session: f32,
    /// Position decay of session items, most recent first; in (0, 1].
    pub session_decay: f32,
    /// Weight of the trending score among a context's neighbours; ≥ 0.
    pub context_trending: f32,
    /// Weight of the personal score among a context's neighbours; ≥ 0.
    pub context_personal: f32,
}

impl Default for SessionWeights {
    /// Generic values for a bundle that states none: the session's
    /// neighbours as strong as the other terms' scale, a gentle decay, and a
    /// context's neighbours ordered by similarity alone.
    fn default() -> Self {
        SessionWeights {
            weight_session: 1.0,
            session_decay: 0.8,
            context_trending: 0.0,
            context_personal: 0.0,
        }
    }
}

impl SessionWeights {
    /// The weights by name, in the manifest's field order.
    pub fn named(&self) -> [(&'static str, f32); 4] {
        [
            ("weight_session", self.weight_session),
            ("session_decay", self.session_decay),
            ("context_trending", self.context_trending),
            ("context_personal", self.context_personal),
        ]
    }
}

/// The four blend weights of one kind of slot (see
/// [`RankingParams::blend`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BlendWeights {
    /// Weight of the personalised score (u·y).
    pub weight_personal: f32,
    /// Weight of the neighbour score.
    pub weight_neighbors: f32,
    /// Weight of the trending score.
    pub weight_trending: f32,
    /// Weight of the "buy again" term.
    pub weight_repeat: f32,
}

impl BlendWeights {
    /// The weights by name, in the manifest's field order.
    pub fn named(&self) -> [(&'static str, f32); 4] {
        [
            ("weight_personal", self.weight_personal),
            ("weight_neighbors", self.weight_neighbors),
            ("weight_trending", self.weight_trending),
            ("weight_repeat", self.weight_repeat),
        ]
    }
}

impl RankingParams {
    /// The in-session weights: the bundle's, or the defaults.
    pub fn session_weights(&self) -> SessionWeights {
        self.session.unwrap_or_default()
    }

    /// The blend weights a request uses: [`RankingParams::keep_purchased`]
    /// when it keeps bought items and the bundle has that set, else the
    /// top-level weights.
    pub fn blend(&self, exclude_purchased: bool) -> BlendWeights {
        match (&self.keep_purchased, exclude_purchased) {
            (Some(kept), false) => *kept,
            _ => BlendWeights {
                weight_personal: self.weight_personal,
                weight_neighbors: self.weight_neighbors,
                weight_trending: self.weight_trending,
                weight_repeat: self.weight_repeat,
            },
        }
    }
}

/// A bundle part's sha256 (lower-case hex) and byte length.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PartDigest {
    /// Lower-case hex sha256 of the part's bytes.
    pub sha256: String,
    /// The part's length in bytes.
    pub byte_len: u64,
}

/// Metadata of one catalogue item. The tensor file stores it as columns
/// (schema 3; see [`crate::bundle`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemMeta {
    /// The shop's item id (SKU). Unique within a bundle.
    pub id: String,
    /// Display title.
    pub title: String,
    /// Unit price in the shop's currency. Finite and non-negative.
    pub price: f64,
    /// Category name (used by filters, boosts and per-category caps).
    pub category: String,
    /// Whether the item can be sold now. Out-of-stock items are never ranked.
    pub in_stock: bool,
    /// Countries (ISO codes) the item ships to; `None` means everywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub countries: Option<Vec<String>>,
}

/// All segment definitions. Everything here comes from the trainer, so no
/// shop's constants live in the engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentDefinitions {
    /// The RFM lifecycle map.
    pub lifecycle: LifecycleMap,
    /// Probability above which the propensity segment is "likely".
    pub propensity_threshold: f64,
    /// Price tiers from the prices the shopper chose.
    pub price_tiers: PriceTiers,
    /// Taste cluster labels, in the row order of `taste_centroids`.
    pub taste_clusters: Vec<String>,
    /// Loyalty tiers, lowest first.
    pub loyalty_tiers: Vec<LoyaltyTier>,
}

/// RFM scoring cut points and the map from scores to lifecycle segments.
///
/// Scores run from 1 to `cuts.len() + 1`. Recency scores higher when the last
/// purchase is more recent: r = 1 + the number of cuts `c` with
/// `days_since_last_purchase <= c`. Frequency and monetary score higher for
/// larger values: f = 1 + the number of cuts `c` with `orders >= c`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LifecycleMap {
    /// Ascending cut points in days since the last purchase.
    /// In the tensor file, not the JSON (`bundle::cuts`): exact f64.
    #[serde(skip)]
    pub recency_cuts_days: Vec<f64>,
    /// Ascending cut points in number of orders.
    /// In the tensor file, not the JSON (`bundle::cuts`): exact f64.
    #[serde(skip)]
    pub frequency_cuts: Vec<f64>,
    /// Ascending cut points in total spend.
    /// In the tensor file, not the JSON (`bundle::cuts`): exact f64.
    #[serde(skip)]
    pub monetary_cuts: Vec<f64>,
    /// Rules tried in order; the first that matches names the segment.
    pub rules: Vec<LifecycleRule>,
    /// The segment of a shopper who never purchased (for example "new").
    pub no_purchase_segment: String,
    /// The segment when no rule matches.
    pub fallback_segment: String,
}

/// One row of the RFM map: inclusive score ranges `[low, high]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LifecycleRule {
    /// The segment's name ("champion", "at_risk", ...).
    pub segment: String,
    /// Recency score range.
    pub r: [u8; 2],
    /// Frequency score range.
    pub f: [u8; 2],
    /// Monetary score range.
    pub m: [u8; 2],
}

/// Price tiers: `labels[i]` covers prices in `[cuts[i-1], cuts[i])`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceTiers {
    /// Ascending, positive price cut points.
    /// In the tensor file, not the JSON (`bundle::cuts`): exact f64.
    #[serde(skip)]
    pub cuts: Vec<f64>,
    /// One label more than there are cuts ("budget", "mid", "premium").
    pub labels: Vec<String>,
}

/// One loyalty tier; a shopper is in the highest tier whose minimums they meet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoyaltyTier {
    /// The tier's name.
    pub name: String,
    /// Minimum number of orders.
    pub min_orders: u32,
    /// Minimum lifetime spend.
    /// In the tensor file, not the JSON (`bundle::cuts`): exact f64.
    #[serde(skip)]
    pub min_spend: f64,
}

/// The shop's cart-rescue policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RescuePolicy {
    /// Abandonment risk at or above which a rescue is considered, in [0, 1].
    pub threshold: f64,
    /// Share of eligible shoppers held out (shown nothing) so the effect can be
    /// measured, in [0, 1).
    pub holdout_share: f64,
    /// The action per lifecycle segment; `"*"` matches any segment. First match
    /// wins.
    pub actions: Vec<RescueRule>,
}

/// The rescue action for one lifecycle segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RescueRule {
    /// A lifecycle segment name, or `"*"`.
    pub segment: String,
    /// What to offer.
    pub action: RescueAction,
    /// A threshold overriding the policy's for this segment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

/// What a rescue offers. Its JSON form is internally tagged by `kind`
/// (`{"kind": "discount", "percent": 10}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RescueAction {
    /// Offer nothing.
    Nothing,
    /// A reminder that the cart is waiting.
    Reminder,
    /// Free shipping on this order.
    FreeShipping,
    /// A discount, in percent of the cart value (0, 100].
    Discount {
        /// The discount in percent.
        percent: f64,
    },
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 0xf) as usize] as char);
    }
    out
}

/// Lower-case hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

impl Manifest {
    /// Parses a manifest from JSON bytes, checking the schema version first so
    /// that a bundle of another version gets the precise error. Every field
    /// of the schema is required unless documented as optional, and a field
    /// the schema does not name is refused. The segment cut points are not in
    /// the JSON: they are empty here, and [`super::Model::from_bytes`] fills
    /// them in from the tensor file.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, Error> {
        let syntax = |e: json::JsonError| Error::ManifestSyntax {
            message: e.to_string(),
        };
        let mut fields = json::parse_object(bytes).map_err(syntax)?;
        let version = fields.u32("schema_version").map_err(syntax)?;
        if version != SCHEMA_VERSION {
            return Err(Error::UnsupportedSchemaVersion {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        read_manifest(version, fields).map_err(syntax)
    }
}

/// The metrics map (its entries come in key order).
fn read_metrics(value: json::Value) -> Result<Metrics, JsonError> {
    Ok(Metrics(Fields::new(value)?.entries(json::f64)?))
}

/// Offline evaluation figures by name, sorted by name, each name once. It
/// serializes as a JSON object, as a `BTreeMap` would (so model ids do not
/// depend on the type), but a sorted vector keeps the map code of
/// `BTreeMap` (about 5 KB) out of the browser's module.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics(Vec<(String, f64)>);

impl Metrics {
    /// Where `name` is (`Ok`), or where it would go to keep the order (`Err`).
    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(key, _)| key.as_str().cmp(name))
    }

    /// The figure called `name`, if the bundle has it.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.position(name).ok().map(|i| self.0[i].1)
    }

    /// Sets `name` to `value`, keeping the names sorted.
    pub fn insert(&mut self, name: &str, value: f64) {
        match self.position(name) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (name.to_string(), value)),
        }
    }

    /// The figures in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(name, value)| (name.as_str(), *value))
    }

    /// How many figures there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::ops::Index<&str> for Metrics {
    type Output = f64;

    /// The figure called `name`; panics when the bundle has none (use
    /// [`Metrics::get`] for figures that may be missing).
    fn index(&self, name: &str) -> &f64 {
        match self.position(name) {
            Ok(i) => &self.0[i].1,
            Err(_) => panic!("the bundle has no metric {name:?}"),
        }
    }
}

impl Serialize for Metrics {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, value)| (name, value)))
    }
}

fn read_manifest(schema_version: u32, mut fields: Fields) -> Result<Manifest, JsonError> {
    let manifest = Manifest {
        schema_version,
        model_id: fields.string("model_id")?,
        training: fields.take("training", read_training)?,
        metrics: fields.take("metrics", read_metrics)?,
        features: fields.take("features", read_features)?,
        ranking: fields.take("ranking", read_ranking)?,
        segments: fields.take("segments", read_segments)?,
        rescue: fields.take("rescue", read_rescue)?,
        trending_countries: fields.strings("trending_countries")?,
        tensors: fields.take("tensors", read_part_digest)?,
        shards: fields.take_optional("shards", |value| {
            json::array(value, |value| {
                let mut fields = Fields::new(value)?;
                let entry = ShardEntry {
                    clusters: fields.take("clusters", |value| json::array(value, json::u32))?,
                    centroid: fields.take("centroid", read_i8_hex)?,
                    first_item: fields.u64("first_item")?,
                    n_items: fields.u64("n_items")?,
                    file: fields.take("file", read_part_digest)?,
                };
                fields.finish()?;
                Ok(entry)
            })
        })?,
        shards_per_visit: fields.take_optional("shards_per_visit", json::u32)?,
        item_index_files: fields.take_optional("item_index_files", json::u32)?,
    };
    fields.finish()?;
    Ok(manifest)
}

/// Writes int8 values as the lower-case hex of their bytes.
fn serialize_i8_hex<S: serde::Serializer>(values: &[i8], serializer: S) -> Result<S::Ok, S::Error> {
    let bytes: Vec<u8> = values.iter().map(|v| *v as u8).collect();
    serializer.serialize_str(&hex(&bytes))
}

/// Reads int8 values written by [`serialize_i8_hex`]: an even number of
/// lower-case hex digits.
fn read_i8_hex(value: Value) -> Result<Vec<i8>, JsonError> {
    let text = json::string(value)?;
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    if text.len() % 2 != 0 {
        return Err(JsonError::new("is not an even number of hex digits"));
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| match (digit(pair[0]), digit(pair[1])) {
            (Some(high), Some(low)) => Ok(((high << 4) | low) as i8),
            _ => Err(JsonError::new("is not lower-case hex")),
        })
        .collect()
}

fn read_training(value: Value) -> Result<TrainingSummary, JsonError> {
    let mut fields = Fields::new(value)?;
    let training = TrainingSummary {
        source: fields.string("source")?,
        n_users: fields.u64("n_users")?,
        n_items: fields.u64("n_items")?,
        n_interactions: fields.u64("n_interactions")?,
        first_day: fields.i64("first_day")?,
        last_day: fields.i64("last_day")?,
    };
    fields.finish()?;
    Ok(training)
}

fn read_features(value: Value) -> Result<FeatureSpec, JsonError> {
    let mut fields = Fields::new(value)?;
    let features = FeatureSpec {
        dim: fields.usize("dim")?,
        n_neighbors: fields.usize("n_neighbors")?,
        n_trending: fields.usize("n_trending")?,
        propensity_inputs: fields.strings("propensity_inputs")?,
        purchase_intent_inputs: fields.strings("purchase_intent_inputs")?,
    };
    fields.finish()?;
    Ok(features)
}

fn read_ranking(value: Value) -> Result<RankingParams, JsonError> {
    let mut fields = Fields::new(value)?;
    let ranking = RankingParams {
        lambda: fields.f64("lambda")?,
        alpha: fields.f64("alpha")?,
        weight_personal: fields.f32("weight_personal")?,
        weight_neighbors: fields.f32("weight_neighbors")?,
        weight_trending: fields.f32("weight_trending")?,
        // Absent in bundles written before the term existed: no buy-again.
        weight_repeat: fields
            .take_optional("weight_repeat", json::f64)?
            .unwrap_or(0.0) as f32,
        keep_purchased: fields.take_optional("keep_purchased", |value| {
            let mut fields = Fields::new(value)?;
            let weights = BlendWeights {
                weight_personal: fields.f32("weight_personal")?,
                weight_neighbors: fields.f32("weight_neighbors")?,
                weight_trending: fields.f32("weight_trending")?,
                weight_repeat: fields.f32("weight_repeat")?,
            };
            fields.finish()?;
            Ok(weights)
        })?,
        profile_half_life_days: fields.take_optional("profile_half_life_days", json::f64)?,
        session: fields.take_optional("session", |value| {
            let mut fields = Fields::new(value)?;
            let weights = SessionWeights {
                weight_session: fields.f32("weight_session")?,
                session_decay: fields.f32("session_decay")?,
                context_trending: fields.f32("context_trending")?,
                context_personal: fields.f32("context_personal")?,
            };
            fields.finish()?;
            Ok(weights)
        })?,
    };
    fields.finish()?;
    Ok(ranking)
}

/// Reads a part digest (the sentiment manifest has one too).
pub(crate) fn read_part_digest(value: Value) -> Result<PartDigest, JsonError> {
    let mut fields = Fields::new(value)?;
    let digest = PartDigest {
        sha256: fields.string("sha256")?,
        byte_len: fields.u64("byte_len")?,
    };
    fields.finish()?;
    Ok(digest)
}

fn read_segments(value: Value) -> Result<SegmentDefinitions, JsonError> {
    let mut fields = Fields::new(value)?;
    let segments = SegmentDefinitions {
        lifecycle: fields.take("lifecycle", read_lifecycle)?,
        propensity_threshold: fields.f64("propensity_threshold")?,
        price_tiers: fields.take("price_tiers", |value| {
            let mut fields = Fields::new(value)?;
            let tiers = PriceTiers {
                // From the tensor file (`bundle::cuts`).
                cuts: Vec::new(),
                labels: fields.strings("labels")?,
            };
            fields.finish()?;
            Ok(tiers)
        })?,
        taste_clusters: fields.strings("taste_clusters")?,
        loyalty_tiers: fields.array("loyalty_tiers", |value| {
            let mut fields = Fields::new(value)?;
            let tier = LoyaltyTier {
                name: fields.string("name")?,
                min_orders: fields.u32("min_orders")?,
                min_spend: 0.0,
            };
            fields.finish()?;
            Ok(tier)
        })?,
    };
    fields.finish()?;
    Ok(segments)
}

fn read_lifecycle(value: Value) -> Result<LifecycleMap, JsonError> {
    let mut fields = Fields::new(value)?;
    let score_range = |value| json::fixed::<u8, 2>(value, json::u8);
    let lifecycle = LifecycleMap {
        // From the tensor file (`bundle::cuts`).
        recency_cuts_days: Vec::new(),
        frequency_cuts: Vec::new(),
        monetary_cuts: Vec::new(),
        rules: fields.array("rules", |value| {
            let mut fields = Fields::new(value)?;
            let rule = LifecycleRule {
                segment: fields.string("segment")?,
                r: fields.take("r", score_range)?,
                f: fields.take("f", score_range)?,
                m: fields.take("m", score_range)?,
            };
            fields.finish()?;
            Ok(rule)
        })?,
        no_purchase_segment: fields.string("no_purchase_segment")?,
        fallback_segment: fields.string("fallback_segment")?,
    };
    fields.finish()?;
    Ok(lifecycle)
}

fn read_rescue(value: Value) -> Result<RescuePolicy, JsonError> {
    let mut fields = Fields::new(value)?;
    let rescue = RescuePolicy {
        threshold: fields.f64("threshold")?,
        holdout_share: fields.f64("holdout_share")?,
        actions: fields.array("actions", |value| {
            let mut fields = Fields::new(value)?;
            let rule = RescueRule {
                segment: fields.string("segment")?,
                action: fields.take("action", read_rescue_action)?,
                threshold: fields.take_optional("threshold", json::f64)?,
            };
            fields.finish()?;
            Ok(rule)
        })?,
    };
    fields.finish()?;
    Ok(rescue)
}

/// The kinds of rescue action, in the order of [`RescueAction`]'s variants.
const RESCUE_KINDS: [&str; 4] = ["nothing", "reminder", "free_shipping", "discount"];

fn read_rescue_action(value: Value) -> Result<RescueAction, JsonError> {
    let mut fields = Fields::new(value)?;
    let kind = fields.take("kind", |value| json::one_of(value, &RESCUE_KINDS))?;
    let percent = fields.take_optional("percent", json::f64)?;
    fields.finish()?;
    match (kind, percent) {
        (3, Some(percent)) => Ok(RescueAction::Discount { percent }),
        (3, None) => Err(JsonError::new("a discount needs its percent")),
        (_, Some(_)) => Err(JsonError::new("only a discount has a percent")),
        (0, None) => Ok(RescueAction::Nothing),
        (1, None) => Ok(RescueAction::Reminder),
        _ => Ok(RescueAction::FreeShipping),
    }
}
