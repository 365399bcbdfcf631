//! The storefront's module in headless Chromium (wasm-bindgen-test; `cargo
//! xtask test`, the wasm suite). Unit tests, so the crate needs no rlib.

mod bindings;
mod skeleton;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
