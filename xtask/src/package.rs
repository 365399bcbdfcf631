//! The npm package `cove-storefront`: the snippet's modules as people read
//! them (`www/cove.mjs`, `www/cove/*.mjs`, the types), the three wasm modules
//! with their wasm-bindgen glue, a README and the licence, staged under
//! `target/npm/package/` and packed by `npm pack` into
//! `target/npm/cove-storefront-<version>.tgz`.
//!
//! The package's files keep the site's layout (`cove.mjs` beside `cove/` and
//! `pkg/`), so every `new URL("…", import.meta.url)` and `import("…")` in the
//! modules resolves in the package as it does on the site: bundlers that
//! follow them (Vite, webpack, Rollup) emit the wasm files and the worker, and
//! a shop that copies the folder can serve it as it is. The manifest's
//! template is `npm/package.json` (its version is the workspace's).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::fingerprint::{Fingerprint, Stamp};
use crate::paths;
use crate::run::Step;

/// The package's name on the registry.
pub const PACKAGE_NAME: &str = "cove-storefront";

/// Files taken from `www/` as they are (paths under `www/`).
const SNIPPET_FILES: &[&str] = &[
    "cove.mjs",
    "cove.d.mts",
    "cove.js",
    "cove/api.mjs",
    "cove/bundle.mjs",
    "cove/core.mjs",
    "cove/errors.mjs",
    "cove/reports.mjs",
    "cove/shards.mjs",
    "cove/slots.mjs",
    "cove/storage.mjs",
    "cove/worker.mjs",
];

/// Optional snippet files, packed when present (the transparency panel).
const OPTIONAL_FILES: &[&str] = &["cove/panel.mjs", "cove/panel.d.mts"];

/// The wasm modules' folders under `www/pkg/` and the files of each (glue, wasm).
const WASM_MODULES: &[(&str, &str)] = &[
    ("engine", "cove_engine"),
    ("engine-shards", "cove_engine_shards"),
    ("sentiment", "cove_sentiment"),
    ("reporting", "cove_reporting"),
];

/// The packed tarball's path.
pub fn tarball() -> PathBuf {
    npm_dir().join(format!("{PACKAGE_NAME}-{}.tgz", version()))
}

fn npm_dir() -> PathBuf {
    paths::root().join("target").join("npm")
}

/// The workspace's version (the package's).
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Stages and packs the package unless its inputs are unchanged.
pub fn pack() -> Result<()> {
    let www = paths::www_dir();
    let fingerprint = Fingerprint::default()
        .sources(
            &[
                "www/cove.mjs",
                "www/cove.d.mts",
                "www/cove.js",
                "www/cove",
                "www/pkg",
                "npm",
                "LICENSE",
                "xtask/src/package.rs",
            ],
            &[],
        )?
        .finish();
    let stamp = Stamp::at(npm_dir().join(".fingerprint"));
    if tarball().exists() && stamp.matches(&fingerprint) {
        println!("npm package: up to date ({})", tarball().display());
        return Ok(());
    }
    let staged = npm_dir().join("package");
    if staged.exists() {
        std::fs::remove_dir_all(&staged)
            .with_context(|| format!("removing {}", staged.display()))?;
    }
    let mut files: Vec<String> = SNIPPET_FILES.iter().map(|file| file.to_string()).collect();
    files.extend(
        OPTIONAL_FILES
            .iter()
            .filter(|file| www.join(file).exists())
            .map(|file| file.to_string()),
    );
    for (folder, stem) in WASM_MODULES {
        files.push(format!("pkg/{folder}/{stem}.js"));
        files.push(format!("pkg/{folder}/{stem}_bg.wasm"));
    }
    for file in &files {
        copy(&www.join(file), &staged.join(file))?;
    }
    copy(
        &paths::root().join("npm/README.md"),
        &staged.join("README.md"),
    )?;
    copy(&paths::root().join("LICENSE"), &staged.join("LICENSE"))?;
    std::fs::write(staged.join("package.json"), manifest(&files)?)
        .context("writing the package's package.json")?;
    Step::new("npm pack cove-storefront", "npm")
        .args(["pack", "--silent", "--pack-destination"])
        .arg_path(&npm_dir())
        .current_dir(&staged)
        .run()?;
    if !tarball().exists() {
        bail!("npm pack wrote no {}", tarball().display());
    }
    println!("npm package: {}", tarball().display());
    stamp.write(&fingerprint)
}

/// `npm/package.json` with the workspace's version and the packed files.
fn manifest(files: &[String]) -> Result<String> {
    let template_path = paths::root().join("npm/package.json");
    let text = std::fs::read_to_string(&template_path)
        .with_context(|| format!("reading {}", template_path.display()))?;
    let mut value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", template_path.display()))?;
    value["version"] = version().into();
    value["files"] = files
        .iter()
        .map(|file| serde_json::Value::from(file.as_str()))
        .collect();
    if !files.iter().any(|file| file == "cove/panel.mjs") {
        if let Some(exports) = value["exports"].as_object_mut() {
            exports.remove("./panel");
        }
    }
    let mut text = serde_json::to_string_pretty(&value)?;
    text.push('\n');
    Ok(text)
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to.parent().context("a file has a folder")?)?;
    std::fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    Ok(())
}
