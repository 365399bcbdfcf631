//! `cargo xtask size`: the sizes of the wasm outputs, raw and gzipped, and the
//! snippet's first-paint transfer against its budget.

use std::io::Write;

use anyhow::{Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::build::{WasmArtifact, WASM_ARTIFACTS};
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
            artifact.out_name,
            bytes.len(),
            gzipped_len(&bytes)?
        );
    }
    let artifact = |package: &str| {
        WASM_ARTIFACTS
            .iter()
            .find(|a| a.package == package)
            .with_context(|| format!("no wasm artifact {package}"))
    };
    snippet_report(
        &artifact("cove-storefront")?.bg_wasm(),
        artifact("cove-storefront-shards")?,
        artifact("cove-reporting")?,
    )
}

/// The snippet's JavaScript files as published (paths under `target/site/`,
/// where they are minified and bundled), one list shared with the browser
/// harness, and the files under `www/` they are built from.
fn snippet_javascript() -> Result<(Vec<String>, Vec<String>)> {
    // Read as a `Value`: a derive would compile serde's proc macros (syn)
    // into xtask for these two lists.
    let files: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/bench/snippet-files.json"))
            .context("parsing tests/bench/snippet-files.json")?;
    let list = |key: &str| -> Result<Vec<String>> {
        files[key]
            .as_array()
            .and_then(|paths| {
                paths
                    .iter()
                    .map(|path| path.as_str().map(str::to_string))
                    .collect()
            })
            .with_context(|| {
                format!("tests/bench/snippet-files.json: `{key}` is not a list of paths")
            })
    };
    Ok((list("javascript")?, list("sources")?))
}

/// The snippet's budget: engine wasm + JS glue + loader, gzipped.
const SNIPPET_BUDGET_GZ: usize = 100 * 1024;

/// Prints the snippet's first-paint transfer size (engine wasm + JavaScript)
/// against its budget, what a head bundle adds once a shard may be wanted
/// (the shards' follower and the large-catalogue engine), and what a shop
/// with privacy reports on adds after the first render (the reports' module,
/// the reporter's wasm and glue).
fn snippet_report(
    engine_wasm: &std::path::Path,
    shards: &WasmArtifact,
    reporting: &WasmArtifact,
) -> Result<()> {
    let (published, sources) = snippet_javascript()?;
    let sizes = |dir: std::path::PathBuf, files: &[String]| -> Result<(usize, usize)> {
        let (mut raw, mut gz) = (0, 0);
        for file in files {
            let path = dir.join(file);
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            raw += bytes.len();
            gz += gzipped_len(&bytes)?;
        }
        Ok((raw, gz))
    };
    let (source_raw, source_gz) = sizes(crate::paths::www_dir(), &sources)?;
    let (raw, gz) = sizes(crate::paths::site_dir(), &published)?;
    let wasm = std::fs::read(engine_wasm)?;
    let (wasm_raw, wasm_gz) = (wasm.len(), gzipped_len(&wasm)?);
    println!(
        "{:<16} {:>12} {:>12}   (the files in www/, not minified nor bundled)",
        "snippet JS src", source_raw, source_gz
    );
    println!("{:<16} {:>12} {:>12}", "snippet JS", raw, gz);
    println!(
        "{:<16} {:>12} {:>12}   (every shop's first paint, a head bundle's too; budget {} gzipped: {})",
        "snippet total",
        raw + wasm_raw,
        gz + wasm_gz,
        SNIPPET_BUDGET_GZ,
        if gz + wasm_gz <= SNIPPET_BUDGET_GZ {
            "met"
        } else {
            "over"
        }
    );
    // A lazily imported module as published: its wasm, and its glue at the
    // same path under target/site/ as under www/.
    let module = |artifact: &WasmArtifact| -> Result<(usize, usize)> {
        let wasm = std::fs::read(artifact.bg_wasm())?;
        let glue = (artifact.out_dir)()
            .strip_prefix(crate::paths::www_dir())
            .with_context(|| format!("{} is not under www/", artifact.out_name))?
            .join(format!("{}.js", artifact.out_name));
        let (glue_raw, glue_gz) = sizes(crate::paths::site_dir(), &[glue.display().to_string()])?;
        Ok((wasm.len() + glue_raw, gzipped_len(&wasm)? + glue_gz))
    };
    // A head bundle's first paint is the snippet's above (the storefront's
    // engine ranks the head); its shards' follower and the large-catalogue
    // engine come once the shopper's taste may want a shard.
    let (engine_raw, engine_gz) = module(shards)?;
    let (follower_raw, follower_gz) = sizes(crate::paths::site_dir(), &["cove/shards.mjs".into()])?;
    let (shards_raw, shards_gz) = (engine_raw + follower_raw, engine_gz + follower_gz);
    println!(
        "{:<16} {:>12} {:>12}   (a head bundle, after the first paint, once a shard may be wanted: cove/shards.mjs + the large-catalogue engine's wasm and glue)",
        "+ shards", shards_raw, shards_gz
    );
    let (reporter_raw, reporter_gz) = module(reporting)?;
    let (reports_raw, reports_gz) = sizes(crate::paths::site_dir(), &["cove/reports.mjs".into()])?;
    let (added_raw, added_gz) = (reporter_raw + reports_raw, reporter_gz + reports_gz);
    println!(
        "{:<16} {:>12} {:>12}   (after the first render, with `shop` set: cove/reports.mjs + reporter wasm + glue)",
        "+ reports", added_raw, added_gz
    );
    println!(
        "{:<16} {:>12} {:>12}",
        "with reports",
        raw + wasm_raw + added_raw,
        gz + wasm_gz + added_gz
    );
    Ok(())
}

/// The length of `bytes` after gzip at the best compression.
pub fn gzipped_len(bytes: &[u8]) -> Result<usize> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_snippet_file_lists_are_read() {
        let (published, sources) = super::snippet_javascript().unwrap();
        assert!(
            published.iter().any(|path| path == "cove.mjs"),
            "{published:?}"
        );
        assert!(
            sources.iter().any(|path| path == "cove/core.mjs"),
            "{sources:?}"
        );
    }
}
