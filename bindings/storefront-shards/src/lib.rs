//! The storefront's engine for a shop whose catalogue is published as a
//! head bundle and shards (issue 24): `cove-storefront`'s [`CoveEngine`]
//! (the same source file, included) with the methods that say which shards
//! the shopper's taste wants and add them, as the wasm module
//! `www/pkg/engine-shards/cove_engine_shards_bg.wasm`.
//!
//! # Key decisions
//!
//! - **A module of its own.** Adding a shard (reading and checking its file,
//!   merging its items, re-mapping every neighbour list) is about 12 KB
//!   gzipped of wasm that a shop whose whole catalogue fits in one bundle
//!   never runs. A head bundle too paints with the storefront's module; the
//!   snippet (`www/cove/shards.mjs`) loads this one after the first render,
//!   once the shopper's taste may want a shard, loads the same head and the
//!   profile into it, and makes it the engine: no first paint carries it.
//! - **One source.** `CoveEngine` and every other export are
//!   `cove-storefront`'s `engine.rs`, included with `#[path]`: the two
//!   modules cannot drift. Only the shard methods are written here, each a
//!   single call into `cove-engine`.
#![deny(missing_docs)]

#[path = "../../storefront/src/engine.rs"]
mod engine;

pub use engine::*;

use cove_bindings::{host_check, to_js, to_js_error};
use cove_engine::ranking;
use wasm_bindgen::prelude::*;

/// The methods of a large catalogue's shards.
#[wasm_bindgen]
impl CoveEngine {
    /// The shard files the shopper's taste wants now that are not loaded
    /// (a head bundle of a large catalogue; none for a whole bundle), as
    /// `[{ index, file, sha256, byte_len }]`: `file` sits beside the manifest.
    #[wasm_bindgen(js_name = shardsToFetch)]
    pub fn shards_to_fetch(&self, now: f64) -> Result<JsValue, JsValue> {
        let model = self.engine.model().map_err(to_js_error)?;
        to_js(
            &ranking::foldin::shards_to_fetch(model, &self.profile, now as i64)
                .map_err(to_js_error)?,
        )
    }

    /// For an item the model does not hold, the file of the head's item
    /// index that says which shard holds it (`items-<b>.json` beside the
    /// manifest); `undefined` for a held item or a bundle without shards.
    #[wasm_bindgen(js_name = itemIndexFile)]
    pub fn item_index_file(&self, item_id: &str) -> Result<Option<String>, JsValue> {
        let model = self.engine.model().map_err(to_js_error)?;
        Ok(model.item_index_file(item_id))
    }

    /// Shard `index` of the head's table as `shardsToFetch` lists one.
    #[wasm_bindgen(js_name = shardFile)]
    pub fn shard_file(&self, index: u32) -> Result<JsValue, JsValue> {
        let model = self.engine.model().map_err(to_js_error)?;
        to_js(&model.shard_file(index as usize).map_err(to_js_error)?)
    }

    /// How many shards the head has and which are loaded: `{ total, loaded }`.
    #[wasm_bindgen(js_name = shardStatus)]
    pub fn shard_status(&self) -> Result<JsValue, JsValue> {
        let model = self.engine.model().map_err(to_js_error)?;
        to_js(&model.shard_status())
    }

    /// Adds shard `index` of the head's table from its file's bytes.
    /// `sha256`, when given, is the hex SHA-256 the host computed over them
    /// (it must be the table's). On error the model stays as it was.
    #[wasm_bindgen(js_name = addShard)]
    pub fn add_shard(
        &mut self,
        index: u32,
        bytes: &[u8],
        sha256: Option<String>,
    ) -> Result<(), JsValue> {
        self.engine
            .add_shard(index as usize, bytes, host_check(&sha256))
            .map(|_| ())
            .map_err(to_js_error)
    }
}
