//! The published site: `www/` as it is served, with its JavaScript minified.
//!
//! `www/` holds the snippet's, the demo's and the dashboard's sources, as
//! people read and review them, beside the build's outputs (`pkg/`,
//! `v1/bundles/`). What the edge worker serves (so the demo and the page
//! tests too) and what the size and browser benchmarks measure is
//! `target/site/`: the same tree with every `.js` and `.mjs` file minified by
//! esbuild (whitespace, syntax and local names only: imports, exports and file
//! names unchanged, so each relative import resolves as it does in `www/`).
//!
//! The snippet's two entry modules, `cove.mjs` (the page's) and
//! `cove/worker.mjs` (its Web Worker's), are then bundled: each becomes one
//! file holding its whole static import graph (the loader's modules and the
//! engine's wasm-bindgen glue), so a page loads the snippet in one request
//! after `cove.js` instead of one round of imports per level, and gzip sees
//! the modules together. `cove.mjs` resolves every other file it needs (the
//! engine's wasm, the worker, the sentiment module) from its own URL, so the
//! bundle finds them where the unbundled module does.
//!
//! Hidden files and folders (`.fingerprint`, …) are build state and are not
//! published. Every other file is hard-linked, or copied where a link cannot be made.
//! The site is rebuilt from scratch when anything under `www/` (or esbuild's
//! version in `package-lock.json`) changed, and left as it is otherwise.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::fingerprint::{Fingerprint, Stamp};
use crate::paths;
use crate::run::Step;

/// Rebuilds `target/site/` from `www/`.
pub fn publish() -> Result<()> {
    let source = paths::www_dir();
    let site = paths::site_dir();
    let fingerprint = Fingerprint::default()
        .sources(&["www", "package-lock.json", "xtask/src/site.rs"], &[])?
        .finish();
    let stamp = Stamp::at(paths::root().join("target").join(".site-fingerprint"));
    if site.exists() && stamp.matches(&fingerprint) {
        println!("site: up to date ({})", site.display());
        return Ok(());
    }
    publish_from(&source, &site)?;
    stamp.write(&fingerprint)
}

fn publish_from(source: &Path, site: &Path) -> Result<()> {
    let (source, site) = (source.to_path_buf(), site.to_path_buf());
    if site.exists() {
        std::fs::remove_dir_all(&site).with_context(|| format!("removing {}", site.display()))?;
    }
    let mut scripts: Vec<PathBuf> = Vec::new();
    let mut modules: Vec<PathBuf> = Vec::new();
    for file in files_under(&source)? {
        let relative = file.strip_prefix(&source)?;
        match file.extension().and_then(|e| e.to_str()) {
            Some("js") => scripts.push(file.clone()),
            Some("mjs") => modules.push(file.clone()),
            _ => {
                let target = site.join(relative);
                std::fs::create_dir_all(target.parent().unwrap_or(&site))?;
                if std::fs::hard_link(&file, &target).is_err() {
                    std::fs::copy(&file, &target)
                        .with_context(|| format!("copying {}", file.display()))?;
                }
            }
        }
    }
    // esbuild names every output `.js`; the `.mjs` files get their extension
    // back in a second run.
    minify("minify www/**/*.js", &scripts, &source, &site, None)?;
    minify(
        "minify www/**/*.mjs",
        &modules,
        &source,
        &site,
        Some("--out-extension:.js=.mjs"),
    )?;
    for (entry, lazy) in SNIPPET_ENTRIES {
        Step::new(format!("bundle www/{entry}"), paths::esbuild())
            .args([source.join(entry)])
            .args([
                "--bundle".to_string(),
                "--format=esm".to_string(),
                "--minify".to_string(),
                "--log-level=warning".to_string(),
                format!("--outfile={}", site.join(entry).display()),
            ])
            .args(lazy.iter().map(|module| format!("--external:{module}")))
            .run()?;
    }
    write_integrity(&site)
}

/// The snippet's files as a page or a CDN loads them (paths under the site),
/// listed with their Subresource Integrity in `integrity.json`.
const INTEGRITY_LISTED: &[&str] = &[
    "cove.js",
    "cove.mjs",
    "cove/worker.mjs",
    "cove/reports.mjs",
    "cove/shards.mjs",
    "pkg/engine/cove_engine_bg.wasm",
    "pkg/engine-shards/cove_engine_shards.js",
    "pkg/engine-shards/cove_engine_shards_bg.wasm",
    "pkg/sentiment/cove_sentiment.js",
    "pkg/sentiment/cove_sentiment_bg.wasm",
    "pkg/reporting/cove_reporting.js",
    "pkg/reporting/cove_reporting_bg.wasm",
];

/// Writes `integrity.json`: `{ "<path>": "sha384-<base64>" }` for each
/// published snippet file, for a shop's `<script integrity=…>` tag and for a
/// CDN's checks (the bundles' hashes are in their pointer and manifest).
fn write_integrity(site: &Path) -> Result<()> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut listed = serde_json::Map::new();
    for file in INTEGRITY_LISTED {
        let path = site.join(file);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let digest = sha2::Sha384::digest(&bytes);
        listed.insert(
            file.to_string(),
            format!(
                "sha384-{}",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
            .into(),
        );
    }
    let mut text = serde_json::to_string_pretty(&serde_json::Value::Object(listed))?;
    text.push('\n');
    std::fs::write(site.join("integrity.json"), text).context("writing integrity.json")
}

/// The snippet's entry modules, bundled with their static imports (paths
/// under `www/`), and the modules each imports lazily (`import("…")`), which
/// stay files of their own, fetched only when used: the sentiment and the
/// reporter modules' glue (under `pkg/`), and two modules of the snippet's
/// that no first paint carries, each minified alone (they import none of the
/// snippet's modules): `cove/reports.mjs` (a shop with reports, after the
/// first render) and `cove/shards.mjs` (a head bundle's shards, which imports
/// the large-catalogue engine's glue under `pkg/engine-shards/` itself).
const SNIPPET_ENTRIES: [(&str, [&str; 4]); 2] = [
    (
        "cove.mjs",
        [
            "./cove/reports.mjs",
            "./cove/shards.mjs",
            "./pkg/sentiment/*",
            "./pkg/reporting/*",
        ],
    ),
    (
        "cove/worker.mjs",
        [
            "./reports.mjs",
            "./shards.mjs",
            "../pkg/sentiment/*",
            "../pkg/reporting/*",
        ],
    ),
];

fn minify(
    label: &str,
    files: &[PathBuf],
    source: &Path,
    site: &Path,
    extra: Option<&str>,
) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    Step::new(label, paths::esbuild())
        .args(files)
        .args([
            "--minify".to_string(),
            "--log-level=warning".to_string(),
            format!("--outbase={}", source.display()),
            format!("--outdir={}", site.display()),
        ])
        .args(extra)
        .run()?;
    Ok(())
}

/// Every file below `dir`, in a stable order.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            // Hidden files are build state (the model's `.fingerprint` beside
            // the bundles), never something to serve.
            let hidden = path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with('.'));
            if hidden {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hidden_files_are_not_published() {
        let root = std::env::temp_dir().join(format!("cove-site-test-{}", std::process::id()));
        let source = root.join("www");
        std::fs::create_dir_all(source.join("v1/bundles/.cache")).unwrap();
        std::fs::write(source.join("v1/bundles/.fingerprint"), "state").unwrap();
        std::fs::write(source.join("v1/bundles/.cache/x"), "state").unwrap();
        std::fs::write(source.join("v1/bundles/default.json"), "{}").unwrap();
        std::fs::write(source.join("_headers"), "/*").unwrap();
        let listed: Vec<String> = super::files_under(&source)
            .unwrap()
            .iter()
            .map(|path| path.strip_prefix(&source).unwrap().display().to_string())
            .collect();
        assert_eq!(listed, ["_headers", "v1/bundles/default.json"]);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
