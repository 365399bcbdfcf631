//! The engine's tests that span modules. Each file drives one concern through
//! small table-driven `check` helpers; `props` holds the property tests.

mod bundle;
mod digest;
mod profile;
#[cfg(not(target_arch = "wasm32"))]
mod props;
mod ranking;
mod reporting;
mod shard_reports;
mod shards;
