//! `cargo xtask build`: the native build, then the five wasm modules (the
//! browser's storefront, reporting and sentiment modules, the edge worker,
//! the web demo), each through wasm-bindgen and, where available, wasm-opt,
//! into the stable paths `www/` and the worker serve.
//!
//! The wasm modules are built by two cargo invocations, one per panic
//! strategy, each into one target dir: the three browser modules together
//! (std from source, `-Cpanic=immediate-abort`), then the worker and the web
//! demo together (`panic=abort`). Within one invocation std and every
//! dependency compile once for all its modules; each module is its own
//! package, so their outputs have distinct names and no feature set of one
//! evicts another's.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::fingerprint::{sha256_file, Fingerprint, Stamp};
use crate::model;
use crate::paths;
use crate::run::Step;
use crate::setup::Env;
use crate::toolchain::{Panic, WASM_TARGET};

/// One wasm output of the workspace.
pub struct WasmArtifact {
    /// The cargo package (a cdylib).
    pub package: &'static str,
    /// The library's file stem (`cove_storefront` for `cove_storefront.wasm`).
    pub stem: &'static str,
    /// The name wasm-bindgen gives the output (`<name>.js`, `<name>_bg.wasm`):
    /// what the snippet, the npm package and the tests load.
    pub out_name: &'static str,
    /// Where wasm-bindgen writes the module and its JavaScript glue.
    pub out_dir: fn() -> PathBuf,
    /// How its panics end: the browser's modules trap at once (no panic
    /// formatting in what shoppers download); the worker and the web demo
    /// keep std's handler, whose message their hooks log. Modules with the
    /// same strategy build in one cargo invocation.
    pub panic: Panic,
    /// Whether wasm-opt repeats `-Oz` until the module stops shrinking: for
    /// what shoppers download (the size budget), not for the edge worker,
    /// where converging took 53 s against one pass's 29 s for 2.4 KB (0.5%)
    /// of its gzipped size (2026-12-05).
    pub converge: bool,
}

impl WasmArtifact {
    /// The final, optimised module (`<out_name>_bg.wasm`).
    pub fn bg_wasm(&self) -> PathBuf {
        (self.out_dir)().join(format!("{}_bg.wasm", self.out_name))
    }
}

/// The five wasm outputs. The storefront's engine comes first (the snippet's
/// size is measured on it) and the reporter second (what a shop with reports
/// on adds after the first render); the sentiment module is for pages that
/// score reviews. The browser's three keep the output names they had as
/// features of `cove-engine` (`cove_engine` for the storefront's).
pub const WASM_ARTIFACTS: &[WasmArtifact] = &[
    WasmArtifact {
        package: "cove-storefront",
        stem: "cove_storefront",
        out_name: "cove_engine",
        out_dir: paths::engine_pkg_dir,
        panic: Panic::ImmediateAbort,
        converge: true,
    },
    WasmArtifact {
        package: "cove-storefront-shards",
        stem: "cove_storefront_shards",
        out_name: "cove_engine_shards",
        out_dir: paths::engine_shards_pkg_dir,
        panic: Panic::ImmediateAbort,
        converge: true,
    },
    WasmArtifact {
        package: "cove-reporting",
        stem: "cove_reporting",
        out_name: "cove_reporting",
        out_dir: paths::reporting_pkg_dir,
        panic: Panic::ImmediateAbort,
        converge: true,
    },
    WasmArtifact {
        package: "cove-sentiment",
        stem: "cove_sentiment",
        out_name: "cove_sentiment",
        out_dir: paths::sentiment_pkg_dir,
        panic: Panic::ImmediateAbort,
        converge: true,
    },
    WasmArtifact {
        package: "cove-edge",
        stem: "cove_edge",
        out_name: "cove_edge",
        out_dir: paths::edge_build_dir,
        panic: Panic::Abort,
        converge: false,
    },
    WasmArtifact {
        package: "cove-web-demo",
        stem: "cove_web_demo",
        out_name: "cove_web_demo",
        out_dir: paths::web_demo_pkg_dir,
        panic: Panic::Abort,
        converge: true,
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
/// tests run, with clippy's lints: [`crate::native`]), then what the site
/// serves ([`build_site`]). Returns what the lints found.
pub fn build(env: &Env) -> Result<crate::native::Lints> {
    let lints = crate::native::build()?;
    model::workspace_built();
    build_site(env)?;
    Ok(lints)
}

/// What the demo serves: the default model bundle and the sentiment
/// bundles (trained only when their inputs changed), the wasm outputs
/// (wasm-bindgen and wasm-opt only when a module changed), and the
/// published site, and the npm package. No debug build of the workspace: the
/// demo runs none of it.
///
/// The models train while the wasm modules build: neither needs the other,
/// and each leaves part of the two cores idle (the trainer's single-threaded
/// stages; wasm-opt and the modules' LTO links, one thread each).
pub fn build_site(env: &Env) -> Result<()> {
    let (models, modules) = std::thread::scope(|scope| {
        let models = scope.spawn(|| -> Result<()> {
            model::ensure_default_bundle()?;
            model::ensure_sharded_bundle()?;
            crate::sentiment::ensure_sentiment_bundles()
        });
        let modules = build_wasm_modules(env);
        let models = models
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the models' thread panicked")));
        (models, modules)
    });
    models?;
    modules?;
    crate::site::publish()?;
    crate::package::pack()
}

/// Every wasm module: cargo, then wasm-bindgen and wasm-opt.
fn build_wasm_modules(env: &Env) -> Result<()> {
    for panic in [Panic::ImmediateAbort, Panic::Abort] {
        let artifacts: Vec<&WasmArtifact> =
            WASM_ARTIFACTS.iter().filter(|a| a.panic == panic).collect();
        build_wasm(env, panic, &artifacts)?;
        for artifact in artifacts {
            bind_wasm(env, artifact)?;
        }
    }
    Ok(())
}

/// Builds `artifacts`, which share the panic strategy `panic`, in one cargo
/// invocation into that strategy's target dir: std (when built from source)
/// and the dependencies compile once for all of them, and cargo links the
/// modules in parallel.
fn build_wasm(env: &Env, panic: Panic, artifacts: &[&WasmArtifact]) -> Result<()> {
    let names: Vec<&str> = artifacts.iter().map(|a| a.out_name).collect();
    env.wasm_path
        .cargo_with(&format!("wasm build {}", names.join(", ")), "build", panic)
        .args(["--profile", WASM_PROFILE])
        .args(artifacts.iter().flat_map(|a| ["--package", a.package]))
        .current_dir(paths::root())
        .run()?;
    Ok(())
}

/// wasm-bindgen, then wasm-opt, on one module cargo wrote; skipped when the
/// module, the tools and their flags are those the outputs were made from.
fn bind_wasm(env: &Env, artifact: &WasmArtifact) -> Result<()> {
    let raw = env
        .wasm_path
        .target_dir(artifact.panic)
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
        .text(if artifact.converge {
            "converge"
        } else {
            "once"
        })
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
        optimise(wasm_opt, &artifact.bg_wasm(), artifact.converge)?;
    }
    stamp.write(&fingerprint)
}

/// `-Oz`, and with `converge` again until it stops shrinking the module
/// (the storefront's engine ~0.7 KB smaller gzipped than one pass).
/// `--low-memory-unused` lets
/// wasm-opt fold constant offsets into loads and stores: it assumes the first
/// KB of memory is never addressed, which holds for Rust's wasm32 layout
/// (statics from 1 MB up, the stack from 1 MB down, and no pointer near the
/// 4 GB wrap-around), and saves ~1.1 KB gzipped on the storefront's engine.
/// Not `--traps-never-happen`: the engine's aborts are traps, and must stay.
fn optimise(wasm_opt: &Path, module: &Path, converge: bool) -> Result<()> {
    let passes: &[&str] = if converge {
        &["-Oz", "--converge"]
    } else {
        &["-Oz"]
    };
    Step::new(format!("wasm-opt {}", passes.join(" ")), wasm_opt)
        .args(passes)
        .args(["--low-memory-unused", "--strip-debug", "--strip-producers"])
        .args(WASM_OPT_FEATURES)
        .args([module.as_os_str(), "-o".as_ref(), module.as_os_str()])
        .run()?;
    Ok(())
}
