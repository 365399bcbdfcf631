//! Secret-shared aggregation with central differential privacy: how a shop
//! learns a campaign's response rate to within a point from a few thousand
//! devices, where per-device noise (`privacy`, local DP) would need hundreds of
//! thousands.
//!
//! A device encodes each metric's true value as a Prio3 measurement (a one-hot
//! histogram, draft-irtf-cfrg-vdaf-08 through the `prio` crate), splits it into
//! two shares and encrypts one to each aggregator with HPKE ([`client`]). The
//! shop's edge worker is the *leader*; a *helper* run by another party holds
//! the other half. Neither share alone says anything about the value; together
//! the aggregators check a zero-knowledge proof that the measurement is valid
//! (exactly one cell set: no device can add more than one, or report a response
//! without an exposure, since both are one cell of the same histogram), add the
//! shares up per metric and day, and release only the sum, after the helper has
//! added discrete-Laplace noise calibrated to the metric's ε ([`aggregator`],
//! feature `aggregator`). [`release`] turns a released sum into estimates with
//! intervals from the actual noise and sampling.
//!
//! The messages are those of the DAP draft 09 (`janus_messages`, the version
//! Janus 0.7 speaks): a device's report is a DAP `Report`, the leader sends the
//! helper `AggregationJobInitReq`s and asks for its `AggregateShare`, and the
//! HPKE labels are DAP's, so a shop could point its devices at an existing DAP
//! deployment instead. What the design claims and what it does not (the helper
//! must be run by someone other than the shop) is in `docs/privacy.md`.

pub mod client;
pub mod hpke;
pub mod release;
pub mod task;

#[cfg(feature = "aggregator")]
pub mod aggregator;

use crate::Error;

/// A refused message or report, as the DAP problem type it maps to.
pub(crate) fn problem(problem: &'static str, detail: impl std::fmt::Display) -> Error {
    Error::Aggregation {
        problem,
        detail: detail.to_string(),
    }
}
