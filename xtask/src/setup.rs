//! `cargo xtask setup`: detects and installs what the build and the tests need,
//! idempotently and without prompts. Returns the [`Env`] every later task uses.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::paths;
use crate::run::{probe, Step};
use crate::toolchain::{self, WasmPath};

/// Chromium and its driver, from Debian.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// What setup found or installed: the tools every other task runs.
pub struct Env {
    /// How wasm32 builds are made.
    pub wasm_path: WasmPath,
    /// The wasm-bindgen CLI at the crate's exact version.
    pub wasm_bindgen: PathBuf,
    /// `wasm-bindgen-test-runner` from the same install.
    pub wasm_bindgen_test_runner: PathBuf,
    /// wasm-opt, when one is available (an optimisation, never a requirement).
    pub wasm_opt: Option<PathBuf>,
    /// Node >= 22.12 for wrangler and the end-to-end tests.
    pub node22: PathBuf,
    /// Headless Chromium.
    pub chromium: PathBuf,
    /// ChromeDriver, for wasm-bindgen-test.
    pub chromedriver: PathBuf,
}

/// Runs every setup step, printing what it chose and what it installed.
pub fn setup() -> Result<Env> {
    println!("==> setup");
    let mut installed: Vec<String> = Vec::new();
    let mut apt = Apt::default();

    let wasm_path = toolchain::ensure_wasm_path(&mut |packages| {
        apt.install(packages)?;
        installed.push(format!("Debian packages {}", packages.join(" ")));
        Ok(())
    })?;

    let wasm_bindgen_version = locked_version("wasm-bindgen")?;
    let (wasm_bindgen, wasm_bindgen_test_runner) =
        ensure_wasm_bindgen_cli(&wasm_bindgen_version, &mut installed)?;

    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        apt.install(&["chromium", "chromium-driver"])?;
        installed.push("Debian packages chromium chromium-driver".to_string());
    }
    println!(
        "chromium: {}",
        probe(CHROMIUM, &["--version"]).unwrap_or_default()
    );

    ensure_npm_packages(&mut installed)?;
    let node22 = paths::node22();
    let node_version = probe(&node22, &["--version"])
        .with_context(|| format!("step 'node 22': {} does not run", node22.display()))?;
    println!("node for wrangler: {node_version}");

    let wasm_opt = find_wasm_opt();
    match &wasm_opt {
        Some(path) => println!("wasm-opt: {}", path.display()),
        None => println!("wasm-opt: none found; wasm outputs are left as wasm-bindgen wrote them"),
    }

    if installed.is_empty() {
        println!("setup: nothing to install");
    } else {
        println!("setup installed: {}", installed.join("; "));
    }
    Ok(Env {
        wasm_path,
        wasm_bindgen,
        wasm_bindgen_test_runner,
        wasm_opt,
        node22,
        chromium: CHROMIUM.into(),
        chromedriver: CHROMEDRIVER.into(),
    })
}

/// The version of `package` recorded in Cargo.lock: the pin the CLI must match.
pub fn locked_version(package: &str) -> Result<String> {
    let lock_path = paths::root().join("Cargo.lock");
    let lock = std::fs::read_to_string(&lock_path)
        .with_context(|| format!("reading {}", lock_path.display()))?;
    let name_line = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == name_line {
            if let Some(version) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \""))
                .and_then(|v| v.strip_suffix('"'))
            {
                return Ok(version.to_string());
            }
        }
    }
    bail!("{package} is not in Cargo.lock")
}

fn cargo_bin_dir() -> PathBuf {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo")
        });
    cargo_home.join("bin")
}

fn ensure_wasm_bindgen_cli(
    version: &str,
    installed: &mut Vec<String>,
) -> Result<(PathBuf, PathBuf)> {
    let bin = cargo_bin_dir();
    let cli = bin.join("wasm-bindgen");
    let runner = bin.join("wasm-bindgen-test-runner");
    let wanted = format!("wasm-bindgen {version}");
    let found = probe(&cli, &["--version"]);
    if found.as_deref() != Some(wanted.as_str()) || !runner.exists() {
        println!(
            "wasm-bindgen-cli: found {}, need {version}; installing (a few minutes)",
            found.as_deref().unwrap_or("none")
        );
        // `--locked` first, for the versions the CLI was released with; a registry
        // mirror may lack one of them, so retry with fresh resolution.
        let install = |locked: bool| {
            Step::new("install wasm-bindgen-cli", toolchain::cargo_program())
                .plain_rustc()
                .args(["install", "wasm-bindgen-cli", "--force", "--version"])
                .args([format!("={version}")])
                .args(locked.then_some("--locked"))
                .run()
        };
        if let Err(error) = install(true) {
            println!("wasm-bindgen-cli: the --locked install failed ({error}); retrying without --locked");
            install(false)?;
        }
        installed.push(format!("wasm-bindgen-cli {version}"));
    }
    println!("wasm-bindgen-cli: {version} at {}", cli.display());
    Ok((cli, runner))
}

fn ensure_npm_packages(installed: &mut Vec<String>) -> Result<()> {
    let root = paths::root();
    let installed_lock = paths::node_modules().join(".package-lock.json");
    let up_to_date = match (
        std::fs::metadata(root.join("package-lock.json")).and_then(|m| m.modified()),
        std::fs::metadata(&installed_lock).and_then(|m| m.modified()),
    ) {
        (Ok(wanted), Ok(have)) => have >= wanted && paths::node22().exists(),
        _ => false,
    };
    if up_to_date {
        println!("npm packages: up to date");
        return Ok(());
    }
    Step::new("npm ci", "npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .env("npm_config_update_notifier", "false")
        .current_dir(&root)
        .run()?;
    installed.push("npm packages (npm ci)".to_string());
    Ok(())
}

fn find_wasm_opt() -> Option<PathBuf> {
    let npm = paths::npm_wasm_opt();
    if probe(&npm, &["--version"]).is_some() {
        return Some(npm);
    }
    probe("wasm-opt", &["--version"]).map(|_| PathBuf::from("wasm-opt"))
}

/// Installs Debian packages, running `apt-get update` once per setup.
#[derive(Default)]
struct Apt {
    updated: bool,
}

impl Apt {
    fn install(&mut self, packages: &[&str]) -> Result<()> {
        let sudo = probe("id", &["-u"]).as_deref() != Some("0");
        let program = if sudo { "sudo" } else { "apt-get" };
        let prefix: &[&str] = if sudo { &["-n", "apt-get"] } else { &[] };
        if !self.updated {
            Step::new("apt-get update", program)
                .args(prefix)
                .args(["update", "-q"])
                .run()?;
            self.updated = true;
        }
        Step::new(format!("apt-get install {}", packages.join(" ")), program)
            .args(prefix)
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run()?;
        Ok(())
    }
}
