//! The default model bundle: trained by `cove-train` on the real data in
//! `../shared/data` and published into `www/v1/bundles/` (with `default.json`
//! naming it), where the worker serves it and the pages find it.
//!
//! Training is skipped when the published bundle was made from the same
//! trainer and engine sources and the same data files (a fingerprint of them
//! is kept beside the bundle).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::paths;
use crate::run::Step;
use crate::toolchain::cargo_program;

/// The data sets the default model is trained on, under the data directory.
pub const ORDERS: &str = "online-retail/online_retail.csv.gz";
const SESSIONS: &str = "online-shoppers/online_shoppers_intention.csv.gz";

/// Where the real data lives: `COVE_DATA_DIR`, else `../shared/data`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("COVE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| paths::root().join("..").join("shared").join("data"))
}

/// Where bundles are published (served at `/v1/bundles/`).
pub fn bundles_dir() -> PathBuf {
    paths::root().join("www").join("v1").join("bundles")
}

/// Trains and publishes the default bundle unless an up-to-date one is there.
pub fn ensure_default_bundle() -> Result<()> {
    let data = data_dir();
    let orders = data.join(ORDERS);
    let sessions = data.join(SESSIONS);
    for input in [&orders, &sessions] {
        if !input.exists() {
            bail!(
                "step 'default model': {} is missing. The default bundle is trained on the \
                 public data in ../shared/data (see README.md); set COVE_DATA_DIR to its location",
                input.display()
            );
        }
    }
    let fingerprint = fingerprint(&[&orders, &sessions])?;
    let stamp = bundles_dir().join(".fingerprint");
    let published = bundles_dir().join("default.json");
    if published.exists()
        && std::fs::read_to_string(&stamp).ok().as_deref() == Some(fingerprint.as_str())
    {
        println!("default model: up to date ({})", published.display());
        return Ok(());
    }
    let report_dir = paths::root().join("target").join("model");
    cove_train("train the default model")
        .args(["train", "--orders"])
        .arg_path(&orders)
        .args(["--sessions"])
        .arg_path(&sessions)
        .args(["--out"])
        .arg_path(&report_dir)
        .args(["--publish"])
        .arg_path(&bundles_dir())
        .current_dir(paths::root())
        .run()?;
    std::fs::write(&stamp, fingerprint).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(())
}

/// A step that runs `cove-train` (release build) with the arguments added next.
pub fn cove_train(name: &str) -> Step {
    Step::new(name, cargo_program()).args([
        "run",
        "--release",
        "--quiet",
        "--package",
        "cove-models",
        "--bin",
        "cove-train",
        "--",
    ])
}

/// A hash of the trainer's and the engine's sources and of the data files'
/// names, sizes and modification times.
fn fingerprint(data_files: &[&Path]) -> Result<String> {
    fingerprint_of(&["models/src", "engine/src"], data_files)
}

/// Folders under the fingerprinted sources that no trainer compiles: the
/// engine's JavaScript bindings (features `js`, `js-reporting`,
/// `js-sentiment`), so editing them does not retrain.
const NOT_TRAINING_INPUTS: &[&str] = &["engine/src/js"];

/// A hash of the files under `sources` (folders or files, relative to the
/// root, less [`NOT_TRAINING_INPUTS`]) and of the data files' names, sizes
/// and modification times.
pub fn fingerprint_of(sources: &[&str], data_files: &[&Path]) -> Result<String> {
    let mut hasher = DefaultHasher::new();
    for source in sources {
        let mut files = Vec::new();
        let path = paths::root().join(source);
        if path.is_dir() {
            collect_files(&path, &mut files)?;
        } else {
            files.push(path);
        }
        files.sort();
        for file in files {
            file.hash(&mut hasher);
            std::fs::read(&file)?.hash(&mut hasher);
        }
    }
    for file in data_files {
        let metadata = std::fs::metadata(file)?;
        file.hash(&mut hasher);
        metadata.len().hash(&mut hasher);
        metadata.modified()?.hash(&mut hasher);
    }
    Ok(format!("{:016x}", hasher.finish()))
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let skipped = NOT_TRAINING_INPUTS
            .iter()
            .any(|folder| path == paths::root().join(folder));
        if skipped {
            continue;
        }
        if path.is_dir() {
            collect_files(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// Prints the default bundle's parts, raw and gzipped (`cargo xtask size`),
/// against the 1 MB gzipped budget for an on-device bundle.
pub fn report_bundle_size() -> Result<()> {
    let pointer = bundles_dir().join("default.json");
    let text = std::fs::read_to_string(&pointer)
        .with_context(|| format!("reading {}", pointer.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", pointer.display()))?;
    let id = value["model_id"]
        .as_str()
        .with_context(|| format!("{} names no model_id", pointer.display()))?;
    println!("\ndefault model bundle {id}:");
    println!("{:<22} {:>12} {:>12}", "part", "raw bytes", "gzip -9");
    let (mut raw, mut gzip) = (0usize, 0usize);
    for part in ["manifest.json", "tensors.safetensors"] {
        let path = bundles_dir().join(id).join(part);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let gz = crate::size::gzipped_len(&bytes)?;
        println!("{:<22} {:>12} {:>12}", part, bytes.len(), gz);
        raw += bytes.len();
        gzip += gz;
    }
    println!(
        "{:<22} {:>12} {:>12}  (budget 1,000,000 gzipped: {})",
        "total",
        raw,
        gzip,
        if gzip <= 1_000_000 { "within" } else { "OVER" }
    );
    Ok(())
}
