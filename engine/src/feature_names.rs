//! The input names of the bundle's two classifiers, in vector order: the
//! contract between the vectorisers in `features` (which fill the vectors)
//! and the bundle (whose writer records these names and whose loader refuses
//! any others). It imports nothing from the crate, so the bundle and the
//! features each depend on it rather than on one another.

/// The purchase-propensity model's inputs (`features::RfmFeatures::to_vector`).
pub const PROPENSITY_INPUTS: [&str; 4] = [
    "log1p_recency_days",
    "log1p_frequency",
    "log1p_monetary",
    "log1p_tenure_days",
];

/// The purchase-intent model's inputs (`features::SessionFeatures::to_vector`).
pub const PURCHASE_INTENT_INPUTS: [&str; 8] = [
    "log1p_administrative",
    "log1p_administrative_duration",
    "log1p_informational",
    "log1p_informational_duration",
    "log1p_product_related",
    "log1p_product_related_duration",
    "returning_visitor",
    "weekend",
];
