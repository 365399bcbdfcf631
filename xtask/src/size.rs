//! `cargo xtask size`: the sizes of the three wasm outputs, raw and gzipped.

use std::io::Write;

use anyhow::{Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::build::WASM_ARTIFACTS;
use crate::setup::Env;

/// Prints a table of the wasm outputs' sizes.
pub fn report(env: &Env) -> Result<()> {
    let optimised = if env.wasm_opt.is_some() {
        "after wasm-opt -Oz"
    } else {
        "without wasm-opt"
    };
    println!("\nwasm outputs ({optimised}):");
    println!("{:<16} {:>12} {:>12}", "package", "raw bytes", "gzip -9");
    for artifact in WASM_ARTIFACTS {
        let path = artifact.bg_wasm();
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        println!(
            "{:<16} {:>12} {:>12}",
            artifact.package,
            bytes.len(),
            gzipped_len(&bytes)?
        );
    }
    Ok(())
}

/// The length of `bytes` after gzip at the best compression.
pub fn gzipped_len(bytes: &[u8]) -> Result<usize> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len())
}
