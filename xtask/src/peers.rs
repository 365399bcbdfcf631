//! `cargo xtask peers`: the peer recommenders (implicit's ALS and BPR, EASE) on
//! the identical OR-LAST-MONTH split, in Python from PyPI.
//!
//! Steps: write the split with `cove-train evaluate --write-split` (the same
//! cleaning, cut-off and validation split as the trainer's), make a virtual
//! environment under `target/peer-venv` with the pinned
//! `models/peers/requirements.txt` (reinstalled only when that file changes),
//! then run `models/peers/peers.py`, which tunes each peer on the validation
//! split and scores the test split once. The result, `target/peers/peers.json`,
//! goes into the model card with `cove-train train --peers`.
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
    model::cove_train("write the OR-LAST-MONTH split")
        .args(["evaluate", "--orders"])
        .arg_path(&orders)
        .args(["--out"])
        .arg_path(&out.join("evaluation"))
        .args(["--write-split"])
        .arg_path(&split)
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
    println!(
        "peers: wrote {}; put it in the model card with \
         `cove-train train ... --peers {}`",
        results.display(),
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
