//! The engine's tests that span modules. Each file drives one concern through
//! small table-driven `check` helpers; `props` holds the property tests.

mod bundle;
mod profile;
mod props;
mod ranking;
