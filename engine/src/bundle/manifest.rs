//! The bundle manifest: the JSON half of a model bundle.
//!
//! The manifest says what the tensors mean (dimensions, item metadata, segment
//! definitions, rescue policy) and pins the tensor file by its sha256 and byte
//! length. Its own integrity is pinned by `model_id`, which is derived from the
//! manifest's content (see [`derive_model_id`]), and that content includes the
//! tensor file's sha256: one id addresses both parts.
//!
//! Unknown fields are refused (`deny_unknown_fields`): a manifest with fields
//! this engine does not understand belongs to another schema version.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// The manifest schema version this engine reads and writes.
pub const SCHEMA_VERSION: u32 = 2;

/// The JSON manifest of a model bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`SCHEMA_VERSION`] for bundles this engine reads.
    pub schema_version: u32,
    /// The content-addressed id: `"cove-"` and the first 32 hex digits of the
    /// sha256 of the manifest serialized with this field empty.
    pub model_id: String,
    /// What the model was trained on.
    pub training: TrainingSummary,
    /// Offline evaluation figures by name (for example `"recall_at_20"`).
    pub metrics: BTreeMap<String, f64>,
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
    /// One entry per item, in the row order of every per-item tensor.
    pub items: Vec<ItemMeta>,
    /// The tensor file's checksum and length.
    pub tensors: PartDigest,
}

/// What the model was trained on, for the model card and the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    /// The item factor dimension d.
    pub dim: usize,
    /// Neighbours stored per item (m in `neighbors_idx`, shape n × m).
    pub n_neighbors: usize,
    /// Items stored per trending list (t in `trending_idx`, shape c × t).
    pub n_trending: usize,
    /// The propensity model's input names, which must equal
    /// [`crate::features::RfmFeatures::NAMES`].
    pub propensity_inputs: Vec<String>,
    /// The purchase-intent model's input names, which must equal
    /// [`crate::features::SessionFeatures::NAMES`].
    pub purchase_intent_inputs: Vec<String>,
}

/// Fold-in and blending parameters, learned or tuned offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    #[serde(default)]
    pub weight_repeat: f32,
    /// The blend weights of requests that keep bought items
    /// (`exclude_purchased: false`: "for you" slots, where buying again is
    /// likely), which want another balance than slots that show only new
    /// items. Absent (or `null`) means the four weights above serve every
    /// request; each weight is finite and non-negative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_purchased: Option<BlendWeights>,
    /// The half-life, in days, of the device profile's interaction weights
    /// that these parameters were tuned with: a shop whose buyers reorder
    /// over months wants a longer memory than the engine's default. Hosts
    /// build their `ProfileConfig` with it ([`crate::bundle::Model::profile_config`]).
    /// In (0, 36500]; absent (or `null`) means the engine's default
    /// (`ProfileParams::default().half_life_days`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_half_life_days: Option<f64>,
}

/// The four blend weights of one kind of slot (see
/// [`RankingParams::blend`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartDigest {
    /// Lower-case hex sha256 of the part's bytes.
    pub sha256: String,
    /// The part's length in bytes.
    pub byte_len: u64,
}

/// Metadata of one catalogue item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub countries: Option<Vec<String>>,
}

/// All segment definitions. Everything here comes from the trainer, so no
/// shop's constants live in the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleMap {
    /// Ascending cut points in days since the last purchase.
    pub recency_cuts_days: Vec<f64>,
    /// Ascending cut points in number of orders.
    pub frequency_cuts: Vec<f64>,
    /// Ascending cut points in total spend.
    pub monetary_cuts: Vec<f64>,
    /// Rules tried in order; the first that matches names the segment.
    pub rules: Vec<LifecycleRule>,
    /// The segment of a shopper who never purchased (for example "new").
    pub no_purchase_segment: String,
    /// The segment when no rule matches.
    pub fallback_segment: String,
}

/// One row of the RFM map: inclusive score ranges `[low, high]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTiers {
    /// Ascending, positive price cut points.
    pub cuts: Vec<f64>,
    /// One label more than there are cuts ("budget", "mid", "premium").
    pub labels: Vec<String>,
}

/// One loyalty tier; a shopper is in the highest tier whose minimums they meet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoyaltyTier {
    /// The tier's name.
    pub name: String,
    /// Minimum number of orders.
    pub min_orders: u32,
    /// Minimum lifetime spend.
    pub min_spend: f64,
}

/// The shop's cart-rescue policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RescueRule {
    /// A lifecycle segment name, or `"*"`.
    pub segment: String,
    /// What to offer.
    pub action: RescueAction,
    /// A threshold overriding the policy's for this segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

/// What a rescue offers. Its JSON form is internally tagged by `kind`; it is
/// read through the flat [`RescueActionFields`] rather than serde's tagged-enum
/// buffering, which costs the browser's wasm build kilobytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    deny_unknown_fields,
    try_from = "RescueActionFields"
)]
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

/// The kinds of rescue action, the `kind` of a rescue action's JSON.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum RescueKind {
    Nothing,
    Reminder,
    FreeShipping,
    Discount,
}

/// Every field a rescue action may carry: what [`RescueAction`] is read through.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RescueActionFields {
    kind: RescueKind,
    percent: Option<f64>,
}

impl TryFrom<RescueActionFields> for RescueAction {
    type Error = &'static str;

    fn try_from(fields: RescueActionFields) -> Result<RescueAction, &'static str> {
        match (fields.kind, fields.percent) {
            (RescueKind::Discount, Some(percent)) => Ok(RescueAction::Discount { percent }),
            (RescueKind::Discount, None) => Err("a discount needs its percent"),
            (_, Some(_)) => Err("only a discount has a percent"),
            (RescueKind::Nothing, None) => Ok(RescueAction::Nothing),
            (RescueKind::Reminder, None) => Ok(RescueAction::Reminder),
            (RescueKind::FreeShipping, None) => Ok(RescueAction::FreeShipping),
        }
    }
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

/// The model id a manifest's content implies: `"cove-"` and the first 32 hex
/// digits of the sha256 of its compact JSON with `model_id` set to `""`.
///
/// The JSON is the engine's own serialization of the typed manifest, so the id
/// does not depend on the whitespace or key order of the file it came from.
pub fn derive_model_id(manifest: &Manifest) -> String {
    let mut unnamed = manifest.clone();
    unnamed.model_id = String::new();
    // Serializing a struct of strings, numbers and maps cannot fail; the
    // fallback only keeps this function total.
    let canonical = serde_json::to_vec(&unnamed).unwrap_or_default();
    let digest = sha256_hex(&canonical);
    format!("cove-{}", &digest[..32])
}

impl Manifest {
    /// Parses a manifest from JSON bytes, checking the schema version first so
    /// that a bundle of another version gets the precise error.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, Error> {
        #[derive(Deserialize)]
        struct VersionOnly {
            schema_version: u32,
        }
        let version: VersionOnly =
            serde_json::from_slice(bytes).map_err(|e| Error::ManifestSyntax {
                message: e.to_string(),
            })?;
        if version.schema_version != SCHEMA_VERSION {
            return Err(Error::UnsupportedSchemaVersion {
                found: version.schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        serde_json::from_slice(bytes).map_err(|e| Error::ManifestSyntax {
            message: e.to_string(),
        })
    }
}
