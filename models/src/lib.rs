//! Cove's trainer library: turns a shop's order history into a model bundle the
//! engine loads. The `cove-train` binary is its command line.
//!
//! The trainer computes features with the engine's own code, so what it learns
//! from is exactly what the engine computes on the device.
#![deny(missing_docs)]
