//! `cargo xtask peers`: the peer recommenders (implicit's ALS and BPR, EASE) on
//! the identical OR-LAST-MONTH split, and the session peers (popularity,
//! item-kNN, EASE, V-SKNN, VMIS-kNN) on the in-session protocol OR-SESSION, in
//! Python from PyPI.
//!
//! Steps: write the split with `cove-train evaluate --write-split` (the same
//! cleaning, cut-off and validation split as the trainer's, and the same
//! in-session cases), make a virtual environment under `target/peer-venv` with
//! the pinned `models/peers/requirements.txt` (reinstalled only when that file
//! changes), then run `models/peers/peers.py` and
//! `models/peers/session_peers.py`, which tune each peer on the validation split
//! and score the test split once. The results, `target/peers/peers.json` and
//! `target/peers/session_peers.json`, go into the model card with
//! `cove-train train --peers`.
//!
//! Not part of `cargo xtask test`: it needs PyPI and takes minutes.

use std::path::Path;

use anyhow::{Context, Result};

use crate::model;
use crate::paths;
use crate::run::Step;

/// Runs the peers and prints where their results are.
pub fn peers() -> Result<()> {
    let root = paths::root();
    let orders = crate::data::checked(crate::data::ORDERS)?.path;
    let out = root.join("target").join("peers");
    let split = out.join("split");
    model::cove_train("write the OR-LAST-MONTH and OR-SESSION splits")
        .args(["evaluate", "--orders"])
        .arg_path(&orders)
        .args(["--out"])
        .arg_path(&out.join("evaluation"))
        .args(["--write-split"])
        .arg_path(&split)
        .args(["--cutoff", model::ONLINE_RETAIL_CUTOFF])
        .current_dir(&root)
        .run()?;

    let venv = root.join("target").join("peer-venv");
    let requirements = root.join("models").join("peers").join("requirements.txt");
    ensure_venv(&venv, &requirements)?;

    let results = out.join("peers.json");
    Step::new(
        "run the peers (tuned on validation, scored once on test)",
        venv.join("bin").join("python"),
    )
    .arg_path(&root.join("models").join("peers").join("peers.py"))
    .args(["--test"])
    .arg_path(&split.join("test"))
    .args(["--val"])
    .arg_path(&split.join("val"))
    .args(["--out"])
    .arg_path(&results)
    .current_dir(&root)
    .run()?;

    // The session peers read the same split directories, whose cases.jsonl and
    // sessions.csv hold the OR-SESSION cases and the train invoices.
    let session_results = out.join("session_peers.json");
    Step::new(
        "run the session peers on OR-SESSION (tuned on validation, scored once on test)",
        venv.join("bin").join("python"),
    )
    .arg_path(&root.join("models").join("peers").join("session_peers.py"))
    .args(["--test"])
    .arg_path(&split.join("test"))
    .args(["--val"])
    .arg_path(&split.join("val"))
    .args(["--out"])
    .arg_path(&session_results)
    .current_dir(&root)
    .run()?;
    println!(
        "peers: wrote {} and {}; put it in the model card with \
         `cove-train train ... --peers {}`",
        results.display(),
        session_results.display(),
        results.display()
    );
    Ok(())
}

/// Creates the virtual environment and installs the pinned requirements,
/// unless it already holds exactly this requirements file.
fn ensure_venv(venv: &Path, requirements: &Path) -> Result<()> {
    let wanted = std::fs::read_to_string(requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let stamp = venv.join(".cove-requirements");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        println!("peers: {} is up to date", venv.display());
        return Ok(());
    }
    Step::new("make the peers' Python environment", "python3")
        .args(["-m", "venv"])
        .arg_path(venv)
        .run()?;
    Step::new(
        "install the peers' pinned packages from PyPI",
        venv.join("bin").join("pip"),
    )
    .args(["install", "--disable-pip-version-check", "-r"])
    .arg_path(requirements)
    .run()?;
    std::fs::write(&stamp, wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(())
}
