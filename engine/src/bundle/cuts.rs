//! The segment cut points in the tensor file, as exact f64.
//!
//! The lifecycle, price-tier and loyalty cuts are quantiles of the training
//! data, so real shoppers sit exactly on them: a cut one unit in the last
//! place off moves those shoppers to another segment than the trainer gave
//! them. JSON text read back without a round-tripping float parser (which
//! costs the storefront's module ~9 KB gzipped) can be that unit off for a
//! value of 16 or 17 significant digits. So since schema 3 the cuts are F64
//! tensors, bit-exact, and the manifest keeps the rules and labels that
//! refer to them. The [`Manifest`] in memory holds them as before: the loader
//! fills them in from the tensor file.
//!
//! | name | dtype | shape | meaning |
//! | --- | --- | --- | --- |
//! | `lifecycle_recency_cuts` | F64 | any | `segments.lifecycle.recency_cuts_days` |
//! | `lifecycle_frequency_cuts` | F64 | any | `segments.lifecycle.frequency_cuts` |
//! | `lifecycle_monetary_cuts` | F64 | any | `segments.lifecycle.monetary_cuts` |
//! | `price_tier_cuts` | F64 | any | `segments.price_tiers.cuts` |
//! | `loyalty_min_spend` | F64 | loyalty tiers | each tier's `min_spend`, in the tiers' order |

use super::builder::{f64_tensor, Tensor};
use super::load::Tensors;
use super::manifest::SegmentDefinitions;
use crate::Error;

/// The cuts' tensors.
pub(crate) const TENSOR_NAMES: [&str; 5] = [
    "lifecycle_recency_cuts",
    "lifecycle_frequency_cuts",
    "lifecycle_monetary_cuts",
    "price_tier_cuts",
    "loyalty_min_spend",
];

/// The cuts of `segments` as tensors.
pub(crate) fn cut_tensors(segments: &SegmentDefinitions) -> Vec<(String, Tensor)> {
    let lifecycle = &segments.lifecycle;
    let min_spend: Vec<f64> = segments
        .loyalty_tiers
        .iter()
        .map(|tier| tier.min_spend)
        .collect();
    let columns: [&[f64]; 5] = [
        &lifecycle.recency_cuts_days,
        &lifecycle.frequency_cuts,
        &lifecycle.monetary_cuts,
        &segments.price_tiers.cuts,
        &min_spend,
    ];
    TENSOR_NAMES
        .iter()
        .zip(columns)
        .map(|(name, values)| f64_tensor(name, &[values.len()], values))
        .collect()
}

/// Fills the cuts of `segments` (read from the manifest, which has none) in
/// from the tensor file. Their order and finiteness are checked with the
/// rest of the segment definitions.
pub(crate) fn read_cuts(
    tensors: &Tensors<'_, '_>,
    segments: &mut SegmentDefinitions,
) -> Result<(), Error> {
    let lifecycle = &mut segments.lifecycle;
    lifecycle.recency_cuts_days = tensors.f64_column("lifecycle_recency_cuts")?;
    lifecycle.frequency_cuts = tensors.f64_column("lifecycle_frequency_cuts")?;
    lifecycle.monetary_cuts = tensors.f64_column("lifecycle_monetary_cuts")?;
    segments.price_tiers.cuts = tensors.f64_column("price_tier_cuts")?;
    let min_spend = tensors.f64_column("loyalty_min_spend")?;
    if min_spend.len() != segments.loyalty_tiers.len() {
        return Err(Error::TensorShape {
            name: "loyalty_min_spend".into(),
            expected: vec![segments.loyalty_tiers.len()],
            found: vec![min_spend.len()],
        });
    }
    for (tier, spend) in segments.loyalty_tiers.iter_mut().zip(min_spend) {
        tier.min_spend = spend;
    }
    Ok(())
}
