//! The review sentiment bundles and their peers.
//!
//! `cargo xtask build` trains the two sentiment bundles (two and three
//! classes) with `cove-train sentiment` on the clothing reviews in `data/`,
//! each with the λ committed in `models/sentiment-params.toml` (no search),
//! and publishes them into `www/v1/bundles/`, with `sentiment.json` naming
//! them. Training is skipped when the sentiment trainer, the engine's
//! featurizer and bundle code, the parameters and the data are unchanged (a
//! content fingerprint of them is kept beside the bundles). `cargo xtask
//! tune` searches λ on validation and rewrites the parameters file.
//!
//! `cargo xtask peers-sentiment` runs the scikit-learn and VADER peers
//! (`models/peers/sentiment.py`, pinned packages in a venv under `target/`) on
//! the trainer's split file and prints both side by side. It is not part of
//! `cargo xtask test`: it installs PyPI packages and takes minutes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::data;
use crate::fingerprint::{Fingerprint, Stamp};
use crate::model::{bundles_dir, cove_train, cove_train_release};
use crate::paths;
use crate::run::Step;

/// The committed λ of each sentiment variant.
pub fn params_file() -> PathBuf {
    paths::root().join("models").join("sentiment-params.toml")
}

/// The sources the sentiment bundles depend on.
const SOURCES: &[&str] = &[
    "models/src/sentiment",
    "models/src/export.rs",
    "models/src/classify.rs",
    "models/src/data.rs",
    "engine/src/sentiment",
    "engine/src/bundle",
    "engine/src/error.rs",
    "models/Cargo.toml",
    "engine/Cargo.toml",
    "Cargo.lock",
    "models/sentiment-params.toml",
];

/// Where the trainer writes its report and the split file.
fn report_dir() -> PathBuf {
    paths::root().join("target").join("sentiment")
}

fn reviews_file() -> Result<data::DataFile> {
    data::checked(data::REVIEWS)
}

/// Trains and publishes the sentiment bundles unless up-to-date ones are there.
pub fn ensure_sentiment_bundles() -> Result<()> {
    let reviews = reviews_file()?;
    let fingerprint = Fingerprint::default()
        .sources(SOURCES, &[])?
        .text(&reviews.sha256)
        .finish();
    let stamp = Stamp::at(bundles_dir().join(".sentiment-fingerprint"));
    let published = bundles_dir().join(crate::layout::SENTIMENT_POINTER);
    if published.exists() && report_dir().join("split.csv").exists() && stamp.matches(&fingerprint)
    {
        println!("sentiment model: up to date ({})", published.display());
        return Ok(());
    }
    train(&reviews.path, Some(&bundles_dir()), Some(&params_file()))?;
    stamp.write(&fingerprint)
}

/// `cargo xtask tune`'s sentiment part: the λ grid searched on validation,
/// each variant's choice written into `models/sentiment-params.toml`.
pub fn tune() -> Result<()> {
    let reviews = reviews_file()?;
    let out = paths::root().join("target").join("sentiment-tune");
    cove_train_release("search the sentiment models' λ on validation")
        .args(["sentiment", "--reviews"])
        .arg_path(&reviews.path)
        .args(["--out"])
        .arg_path(&out)
        .args(["--write-params"])
        .arg_path(&params_file())
        .current_dir(paths::root())
        .run()?;
    Ok(())
}

fn train(reviews: &Path, publish: Option<&Path>, params: Option<&Path>) -> Result<()> {
    let mut step = cove_train("train the sentiment models")
        .args(["sentiment", "--reviews"])
        .arg_path(reviews)
        .args(["--out"])
        .arg_path(&report_dir());
    if let Some(dir) = publish {
        step = step.args(["--publish"]).arg_path(dir);
    }
    if let Some(file) = params {
        step = step.args(["--params"]).arg_path(file);
    }
    step.current_dir(paths::root()).run()?;
    Ok(())
}

/// `cargo xtask peers-sentiment`: the peers on the trainer's split, side by side.
pub fn peers() -> Result<()> {
    ensure_sentiment_bundles()?;
    let reviews = reviews_file()?;
    let venv = paths::root().join("target").join("sentiment-peer-venv");
    let python = venv.join("bin").join("python");
    let requirements = paths::root()
        .join("models")
        .join("peers")
        .join("sentiment-requirements.txt");
    let stamp = venv.join(".requirements");
    let wanted = std::fs::read_to_string(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        Step::new("create the peers' Python venv", "python3")
            .args(["-m", "venv"])
            .arg_path(&venv)
            .run()?;
        Step::new("install the peers' pinned packages", &python)
            .args(["-m", "pip", "install", "--quiet", "-r"])
            .arg_path(&requirements)
            .run()?;
        std::fs::write(&stamp, wanted)?;
    }
    let results = report_dir().join("peers.json");
    Step::new("run the sentiment peers", &python)
        .arg_path(
            &paths::root()
                .join("models")
                .join("peers")
                .join("sentiment.py"),
        )
        .args(["--reviews"])
        .arg_path(&reviews.path)
        .args(["--split"])
        .arg_path(&report_dir().join("split.csv"))
        .args(["--out"])
        .arg_path(&results)
        .env("OPENBLAS_NUM_THREADS", "1")
        .run()?;
    print_comparison(&report_dir().join("sentiment-report.json"), &results)
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn print_comparison(report: &Path, peers: &Path) -> Result<()> {
    let report = read_json(report)?;
    let peers = read_json(peers)?;
    println!("\nsentiment on the held-out split (ROC-AUC, macro-F1, accuracy):");
    println!(
        "{:<12} {:<30} {:>8} {:>9} {:>9}",
        "variant", "model", "ROC-AUC", "macro-F1", "accuracy"
    );
    let variants = report["variants"]
        .as_array()
        .context("the report has no variants")?;
    for variant in variants {
        let name = variant["variant"].as_str().unwrap_or("?");
        let mut rows = vec![("cove (int8 bundle, engine)".to_string(), &variant["test"])];
        if let Some(map) = peers[name].as_object() {
            rows.extend(map.iter().map(|(peer, metrics)| (peer.clone(), metrics)));
        }
        for (model, metrics) in rows {
            println!(
                "{:<12} {:<30} {:>8.4} {:>9.4} {:>9.4}",
                name,
                model,
                metrics["roc_auc"].as_f64().unwrap_or(f64::NAN),
                metrics["macro_f1"].as_f64().unwrap_or(f64::NAN),
                metrics["accuracy"].as_f64().unwrap_or(f64::NAN)
            );
        }
        println!(
            "{:<12} gzip bytes of the bundle: {}",
            name,
            variant["gzip_bytes"].as_u64().unwrap_or(0)
        );
    }
    Ok(())
}
