//! The default model bundle: trained by `cove-train` on the real data in
//! `data/` with the committed parameters (`models/default-params.toml`) and
//! published into `www/v1/bundles/` (with `default.json` naming it), where
//! the worker serves it and the pages find it.
//!
//! Training is skipped when the published bundle was made from the same
//! trainer and engine sources, the same parameters file and the same data
//! (a content fingerprint of them is kept beside the bundle). `cargo xtask
//! tune` searches the parameters on validation and rewrites the file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};

use crate::data::{self, DataFile};
use crate::fingerprint::{Fingerprint, Stamp};
use crate::layout;
use crate::paths;
use crate::run::Step;
use crate::toolchain::cargo_program;

/// The committed parameters of the default model.
pub fn params_file() -> PathBuf {
    paths::root().join("models").join("default-params.toml")
}

/// Where bundles are published (`www/v1/bundles/`, served at
/// [`layout::URL_PREFIX`]).
pub fn bundles_dir() -> PathBuf {
    layout::site_dir(&paths::root().join("www"))
}

/// The sources a trained bundle depends on. (The browser's bindings are
/// crates of their own under `bindings/`, which no trainer compiles.)
const TRAINING_SOURCES: &[&str] = &[
    "models/src",
    "models/Cargo.toml",
    "engine/src",
    "engine/Cargo.toml",
    "Cargo.lock",
];

/// Trains and publishes the default bundle unless an up-to-date one is there.
pub fn ensure_default_bundle() -> Result<()> {
    ensure_bundle(&Published {
        what: "default model",
        pointer: layout::DEFAULT_POINTER,
        stamp: ".fingerprint",
        report: "model",
        budget: None,
    })
}

/// The head bundle's download budget in [`ensure_sharded_bundle`] (gzip
/// bytes): about a quarter of the default bundle, so Online Retail's 3,660
/// items do not fit and the trainer publishes a head and shards.
pub const SHARDED_BUDGET: usize = 250_000;

/// The same model published as a shop with a catalogue too large for one
/// download publishes it: a head within [`SHARDED_BUDGET`] and shards by
/// taste (`/v1/bundles/sharded.json`; the demo's `?bundle=sharded`).
/// Trained beside the default one (about 15 s) unless up to date.
pub fn ensure_sharded_bundle() -> Result<()> {
    ensure_bundle(&Published {
        what: "sharded model",
        pointer: layout::SHARDED_POINTER,
        stamp: ".sharded-fingerprint",
        report: "sharded-model",
        budget: Some(SHARDED_BUDGET),
    })
}

/// One bundle `cargo xtask build` publishes from the real data and the
/// committed parameters.
struct Published {
    what: &'static str,
    /// Its pointer file in [`bundles_dir`].
    pointer: &'static str,
    /// Its fingerprint file in [`bundles_dir`].
    stamp: &'static str,
    /// The folder under `target/` for the trainer's report and model card.
    report: &'static str,
    /// A download budget other than the trainer's default.
    budget: Option<usize>,
}

fn ensure_bundle(bundle: &Published) -> Result<()> {
    let orders = data::checked(data::ORDERS)?;
    let sessions = data::checked(data::SESSIONS)?;
    let fingerprint = Fingerprint::default()
        .sources(TRAINING_SOURCES, &[])?
        .sources(&["models/default-params.toml"], &[])?
        .text(&orders.sha256)
        .text(&sessions.sha256)
        .finish();
    let stamp = Stamp::at(bundles_dir().join(bundle.stamp));
    let published = bundles_dir().join(bundle.pointer);
    if published.exists() && stamp.matches(&fingerprint) {
        println!("{}: up to date ({})", bundle.what, published.display());
        return Ok(());
    }
    let report_dir = paths::root().join("target").join(bundle.report);
    let mut step = train_step(
        cove_train(&format!("train the {} (committed parameters)", bundle.what)),
        &orders,
        &sessions,
    )
    .args(["--out"])
    .arg_path(&report_dir)
    .args(["--params"])
    .arg_path(&params_file())
    .args(["--publish"])
    .arg_path(&bundles_dir())
    .args(["--pointer", bundle.pointer]);
    if let Some(budget) = bundle.budget {
        step = step.args(["--bundle-budget", &budget.to_string()]);
    }
    step.run()?;
    stamp.write(&fingerprint)
}

/// `cargo xtask tune`: the validation search, then the test period scored
/// once, the choice written into `models/default-params.toml` with both
/// sets of figures. Review the diff, then `cargo xtask build` retrains.
pub fn tune() -> Result<()> {
    let orders = data::checked(data::ORDERS)?;
    let sessions = data::checked(data::SESSIONS)?;
    train_step(
        cove_train_release("search the default model's parameters on validation"),
        &orders,
        &sessions,
    )
    .args(["--out"])
    .arg_path(&paths::root().join("target").join("model-tune"))
    .args(["--write-params"])
    .arg_path(&params_file())
    .run()?;
    crate::sentiment::tune()?;
    println!(
        "tune: wrote {} and {}; review the diff, then `cargo xtask build` retrains from them",
        params_file().display(),
        crate::sentiment::params_file().display()
    );
    Ok(())
}

fn train_step(step: Step, orders: &DataFile, sessions: &DataFile) -> Step {
    step.args(["train", "--orders"])
        .arg_path(&orders.path)
        .args(["--sessions"])
        .arg_path(&sessions.path)
        .args(["--cutoff", ONLINE_RETAIL_CUTOFF])
        .current_dir(paths::root())
}

/// The first day of Online Retail's test period (OR-LAST-MONTH), which the
/// committed parameters and their figures are of. `cove-train` derives the
/// same day from the data when no `--cutoff` is given; it is passed anyway,
/// so that a change to that rule cannot move the default model.
pub const ONLINE_RETAIL_CUTOFF: &str = "2011-11-09";

/// A step that runs `cove-train` with the arguments added next: the dev
/// build, which the native build and the tests have compiled already (its
/// hot crates are optimised even there, see the workspace Cargo.toml), so a
/// cold build does not compile the trainer a second time for a release
/// binary; the bundles are the same bytes either way.
pub fn cove_train(name: &str) -> Step {
    cove_train_in(name, &[])
}

/// [`cove_train`] as a release build, for the searches of `cargo xtask tune`
/// (minutes of work, where the release binary is faster).
pub fn cove_train_release(name: &str) -> Step {
    cove_train_in(name, &["--release"])
}

/// Set once [`crate::build::build`] has built the whole workspace: the dev
/// trainer is then run from that build. `cargo run -p cove-models` would
/// compile it again, because the trainer alone unifies its dependencies'
/// features differently from the whole workspace (80 s of a cold
/// `cargo xtask test`, 2026-12-05).
static WORKSPACE_BUILT: AtomicBool = AtomicBool::new(false);

/// Records that the workspace's dev build is done (see [`WORKSPACE_BUILT`]).
pub fn workspace_built() {
    WORKSPACE_BUILT.store(true, Ordering::Relaxed);
}

/// The dev trainer that `cargo build --workspace` writes.
pub fn dev_trainer_binary() -> std::path::PathBuf {
    paths::root()
        .join("target")
        .join("debug")
        .join(format!("cove-train{}", std::env::consts::EXE_SUFFIX))
}

fn cove_train_in(name: &str, profile: &[&str]) -> Step {
    if profile.is_empty() && WORKSPACE_BUILT.load(Ordering::Relaxed) {
        return Step::new(name, dev_trainer_binary());
    }
    Step::new(name, cargo_program())
        .args(["run"])
        .args(profile)
        .args([
            "--quiet",
            "--package",
            "cove-models",
            "--bin",
            "cove-train",
            "--",
        ])
}

/// Prints the default bundle's parts, raw and gzipped (`cargo xtask size`),
/// against the 1 MB gzipped budget for an on-device bundle.
pub fn report_bundle_size() -> Result<()> {
    let pointer = bundles_dir().join(layout::DEFAULT_POINTER);
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
    for part in [layout::MANIFEST_FILE, layout::TENSORS_FILE] {
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
