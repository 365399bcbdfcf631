//! `cargo xtask build`: the native build, then the three wasm builds (engine
//! bindings, edge worker, web demo), each through wasm-bindgen and, where
//! available, wasm-opt, into the stable paths `www/` and the worker serve.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::fingerprint::{sha256_file, Fingerprint, Stamp};
use crate::model;
use crate::paths;
use crate::run::Step;
use crate::setup::Env;
use crate::toolchain::{cargo_program, Panic, WASM_TARGET};

/// One wasm output of the workspace.
pub struct WasmArtifact {
    /// The cargo package.
    pub package: &'static str,
    /// Extra cargo features.
    pub features: &'static [&'static str],
    /// The library's file stem (`cove_engine` for `cove_engine.wasm`).
    pub stem: &'static str,
    /// The name wasm-bindgen gives the output (`<name>.js`, `<name>_bg.wasm`).
    pub out_name: &'static str,
    /// Where wasm-bindgen writes the module and its JavaScript glue.
    pub out_dir: fn() -> PathBuf,
    /// How its panics end: the engine's browser modules trap at once (no
    /// panic formatting in what shoppers download); the worker and the web
    /// demo keep std's handler, whose message their hooks log.
    pub panic: Panic,
}

impl WasmArtifact {
    /// The final, optimised module (`<out_name>_bg.wasm`).
    pub fn bg_wasm(&self) -> PathBuf {
        (self.out_dir)().join(format!("{}_bg.wasm", self.out_name))
    }
}

/// The five wasm outputs. The storefront engine comes first (the snippet's
/// size is measured on it) and the reporter second (what a shop with reports
/// on adds after the first render); the sentiment module is the same crate
/// built with a third feature, for pages that score reviews.
pub const WASM_ARTIFACTS: &[WasmArtifact] = &[
    WasmArtifact {
        package: "cove-engine",
        features: &["js"],
        stem: "cove_engine",
        out_name: "cove_engine",
        out_dir: paths::engine_pkg_dir,
        panic: Panic::ImmediateAbort,
    },
    WasmArtifact {
        package: "cove-engine",
        features: &["js-reporting"],
        stem: "cove_engine",
        out_name: "cove_reporting",
        out_dir: paths::reporting_pkg_dir,
        panic: Panic::ImmediateAbort,
    },
    WasmArtifact {
        package: "cove-engine",
        features: &["js-sentiment"],
        stem: "cove_engine",
        out_name: "cove_sentiment",
        out_dir: paths::sentiment_pkg_dir,
        panic: Panic::ImmediateAbort,
    },
    WasmArtifact {
        package: "cove-edge",
        features: &[],
        stem: "cove_edge",
        out_name: "cove_edge",
        out_dir: paths::edge_build_dir,
        panic: Panic::Abort,
    },
    WasmArtifact {
        package: "cove-web-demo",
        features: &[],
        stem: "cove_web_demo",
        out_name: "cove_web_demo",
        out_dir: paths::web_demo_pkg_dir,
        panic: Panic::Abort,
    },
];

/// The cargo profile of the wasm builds (see the workspace Cargo.toml).
pub const WASM_PROFILE: &str = "wasm-release";

/// Features wasm-opt may assume: those rustc enables for wasm32 by default,
/// and SIMD128 (`toolchain::WASM_RUSTFLAGS`).
const WASM_OPT_FEATURES: &[&str] = &[
    "--enable-simd",
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// Builds everything: the native workspace (debug, every target: what the
/// tests run), then what the site serves ([`build_site`]).
pub fn build(env: &Env) -> Result<()> {
    Step::new("native build", cargo_program())
        .args(["build", "--workspace", "--all-targets"])
        .current_dir(paths::root())
        .run()?;
    build_site(env)
}

/// What the demo serves: the default model bundle and the sentiment
/// bundles (trained only when their inputs changed), the wasm outputs
/// (wasm-bindgen and wasm-opt only when a module changed), and the
/// published site, and the npm package. No debug build of the workspace: the
/// demo runs none of it.
pub fn build_site(env: &Env) -> Result<()> {
    model::ensure_default_bundle()?;
    crate::sentiment::ensure_sentiment_bundles()?;
    for artifact in WASM_ARTIFACTS {
        build_wasm(env, artifact)?;
    }
    crate::site::publish()?;
    crate::package::pack()
}

/// The cargo target dir of one artifact: each feature set apart, so the
/// three builds of `cove-engine` (whose `cove_engine.wasm` has the same name
/// whatever the features) do not overwrite each other's output and rebuild
/// on every run.
fn artifact_target_dir(env: &Env, artifact: &WasmArtifact) -> PathBuf {
    env.wasm_path
        .target_dir(artifact.panic)
        .join(artifact.out_name)
}

fn build_wasm(env: &Env, artifact: &WasmArtifact) -> Result<()> {
    let target_dir = artifact_target_dir(env, artifact);
    let mut cargo = env
        .wasm_path
        .cargo_with(
            &format!("wasm build {}", artifact.out_name),
            "build",
            artifact.panic,
        )
        .env("CARGO_TARGET_DIR", &target_dir)
        .args(["--profile", WASM_PROFILE, "--package", artifact.package])
        .current_dir(paths::root());
    if !artifact.features.is_empty() {
        cargo = cargo.args(["--features", &artifact.features.join(",")]);
    }
    cargo.run()?;

    let raw = target_dir
        .join(WASM_TARGET)
        .join(WASM_PROFILE)
        .join(format!("{}.wasm", artifact.stem));
    let out_dir = (artifact.out_dir)();
    std::fs::create_dir_all(&out_dir)?;
    // wasm-bindgen and wasm-opt run only when the module cargo wrote, the
    // tools or their flags changed since the outputs were made.
    let fingerprint = Fingerprint::default()
        .text(&sha256_file(&raw)?)
        .text(&env.wasm_bindgen.display().to_string())
        .text(
            &env.wasm_opt
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string()),
        )
        .text(&WASM_OPT_FEATURES.join(" "))
        .text(artifact.out_name)
        .sources(&["xtask/src/build.rs", "package-lock.json"], &[])?
        .finish();
    let stamp = Stamp::at(out_dir.join(".cove-build-fingerprint"));
    if stamp.matches(&fingerprint) && artifact.bg_wasm().exists() {
        println!("wasm {}: up to date", artifact.out_name);
        return Ok(());
    }
    Step::new(
        format!("wasm-bindgen {}", artifact.out_name),
        &env.wasm_bindgen,
    )
    .args([
        "--target",
        "web",
        "--out-name",
        artifact.out_name,
        "--out-dir",
    ])
    .args([&out_dir, &raw])
    .run()?;
    if let Some(wasm_opt) = &env.wasm_opt {
        optimise(wasm_opt, &artifact.bg_wasm())?;
    }
    stamp.write(&fingerprint)
}

/// `-Oz` until it stops shrinking the module (`--converge`: the storefront's
/// engine ~0.7 KB smaller gzipped than one pass). `--low-memory-unused` lets
/// wasm-opt fold constant offsets into loads and stores: it assumes the first
/// KB of memory is never addressed, which holds for Rust's wasm32 layout
/// (statics from 1 MB up, the stack from 1 MB down, and no pointer near the
/// 4 GB wrap-around), and saves ~1.1 KB gzipped on the storefront's engine.
/// Not `--traps-never-happen`: the engine's aborts are traps, and must stay.
fn optimise(wasm_opt: &Path, module: &Path) -> Result<()> {
    Step::new("wasm-opt -Oz --converge --low-memory-unused", wasm_opt)
        .args([
            "-Oz",
            "--converge",
            "--low-memory-unused",
            "--strip-debug",
            "--strip-producers",
        ])
        .args(WASM_OPT_FEATURES)
        .args([module.as_os_str(), "-o".as_ref(), module.as_os_str()])
        .run()?;
    Ok(())
}
