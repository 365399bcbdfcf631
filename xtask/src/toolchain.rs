//! How Rust reaches wasm32 on this machine, decided once per `setup`.
//!
//! In order (see `shared/TOOLCHAIN.md`): (1) rustup's wasm32 target is already
//! installed; (2) `rustup target add wasm32-unknown-unknown` succeeds within a
//! time limit; (3) Debian's `rustc-web` with the standard library's source, and
//! std built from source (`-Zbuild-std`). All three give the same outputs.
//!
//! The browser's three modules (storefront, reporting, sentiment) are built with
//! `-Cpanic=immediate-abort` where std's source is at hand (rustup's `rust-src`
//! component, or Debian's): a panic then traps at once instead of formatting
//! its message first, which keeps core's panic formatting out of the
//! storefront's module (~6 KB gzipped). Where the
//! source is missing they are built with `panic=abort` like the rest, and the
//! build says so.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::paths;
use crate::run::{probe, Step};

/// The wasm32 target triple.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Code generation flags of every wasm32 build, on every path: WebAssembly
/// SIMD128, which the engine's int8 scoring uses and every browser Cove
/// supports (Chrome 91, Firefox 89, Safari 16.4) as well as workerd.
pub const WASM_RUSTFLAGS: &str = "-C target-feature=+simd128";

/// How long `rustup target add` may take before the fallback is used.
const RUSTUP_TARGET_ADD_TIMEOUT: Duration = Duration::from_secs(120);

/// The Debian packages of the fallback path.
pub const DEBIAN_RUST_PACKAGES: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "rust-web-src",
    "rust-web-llvm",
    "lld-22",
];

/// How long `rustup component add rust-src` may take before the browser's
/// modules are built without `-Cpanic=immediate-abort`.
const RUSTUP_SOURCE_ADD_TIMEOUT: Duration = Duration::from_secs(120);

/// The flags that make a panic trap at once. Unstable on every path, hence
/// `RUSTC_BOOTSTRAP=1` with them.
const IMMEDIATE_ABORT_RUSTFLAGS: &str = "-Zunstable-options -Cpanic=immediate-abort";

/// How a wasm build's panics end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panic {
    /// `panic=abort` (the workspace's profiles): std's handler formats the
    /// message for the hook, then the module traps. The worker's and the
    /// tests' builds, whose panic messages reach a log.
    Abort,
    /// `-Cpanic=immediate-abort` with std built from source: the module traps
    /// at once, and no panic message is formatted or linked. The browser's
    /// modules, where no hook reads the message and every byte is downloaded.
    ImmediateAbort,
}

/// Which of the three ways to wasm32 was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmPath {
    /// rustup's own wasm32 standard library; `std_source` when rustup's
    /// `rust-src` component is installed too, so std can be built from source
    /// for [`Panic::ImmediateAbort`].
    RustupTarget { std_source: bool },
    /// Debian's rustc-web, compiling std for wasm32 from source.
    DebianBuildStd,
}

impl WasmPath {
    /// A one-line description for the setup log.
    pub fn describe(self) -> &'static str {
        match self {
            WasmPath::RustupTarget { std_source: true } => {
                "rustup's wasm32-unknown-unknown target, with rust-src for the browser's modules"
            }
            WasmPath::RustupTarget { std_source: false } => {
                "rustup's wasm32-unknown-unknown target, without rust-src: the browser's modules \
                 are built with panic=abort (~6 KB larger gzipped)"
            }
            WasmPath::DebianBuildStd => {
                "Debian's rustc-web (/usr/bin/rustc) with std built from source (-Zbuild-std)"
            }
        }
    }

    /// A cargo invocation that targets wasm32 on this path, with the wasm target
    /// dir set. `subcommand` is `build` or `test`. Same as
    /// [`WasmPath::cargo_with`] with [`Panic::Abort`].
    pub fn cargo(self, step_name: &str, subcommand: &str) -> Step {
        self.cargo_with(step_name, subcommand, Panic::Abort)
    }

    /// The panic strategy a build asking for `wanted` gets on this path:
    /// [`Panic::ImmediateAbort`] needs std's source, which rustup's path may
    /// lack.
    fn panic_for(self, wanted: Panic) -> Panic {
        match self {
            WasmPath::RustupTarget { std_source: false } => Panic::Abort,
            WasmPath::RustupTarget { std_source: true } | WasmPath::DebianBuildStd => wanted,
        }
    }

    /// Where a build asking for `wanted` puts its output on this path (the
    /// `CARGO_TARGET_DIR` of [`WasmPath::cargo_with`]).
    pub fn target_dir(self, wanted: Panic) -> PathBuf {
        paths::wasm_target_dir_for(self.panic_for(wanted))
    }

    /// A cargo invocation that targets wasm32 on this path with the given
    /// panic strategy. [`Panic::ImmediateAbort`] falls back to
    /// [`Panic::Abort`] where std's source is missing, and builds into a
    /// target dir of its own (`paths::wasm_target_dir_for`) so the two never
    /// rebuild each other's dependencies.
    pub fn cargo_with(self, step_name: &str, subcommand: &str, panic: Panic) -> Step {
        let panic = self.panic_for(panic);
        let build_std = panic == Panic::ImmediateAbort || self == WasmPath::DebianBuildStd;
        let mut step = match self {
            WasmPath::RustupTarget { .. } => {
                Step::new(step_name, cargo_program()).args([subcommand])
            }
            WasmPath::DebianBuildStd => {
                let path = format!("/usr/bin:{}", std::env::var("PATH").unwrap_or_default());
                Step::new(step_name, "/usr/bin/cargo")
                    .args([subcommand])
                    .env("PATH", path)
                    .env("RUSTC", "/usr/bin/rustc")
                    // rustup's proxies read this; Debian's cargo must not see it.
                    .env("RUSTUP_TOOLCHAIN", "")
            }
        };
        if build_std {
            step = step
                .args(["-Zbuild-std=std,panic_abort"])
                .env("RUSTC_BOOTSTRAP", "1");
        }
        let rustflags = match panic {
            Panic::Abort => WASM_RUSTFLAGS.to_string(),
            Panic::ImmediateAbort => format!("{WASM_RUSTFLAGS} {IMMEDIATE_ABORT_RUSTFLAGS}"),
        };
        step.args(["--target", WASM_TARGET])
            .plain_rustc()
            .env("CARGO_TARGET_DIR", self.target_dir(panic))
            .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS", rustflags)
    }
}

/// The host cargo: the one running xtask when known, else `cargo` on PATH.
pub fn cargo_program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// Finds or installs a way to build for wasm32, saying which it took.
/// `apt` installs Debian packages when the fallback is needed.
///
/// `COVE_WASM_PATH=debian` skips rustup and takes the Debian path (to test the
/// fallback on a machine where rustup works).
pub fn ensure_wasm_path(apt: &mut dyn FnMut(&[&str]) -> Result<()>) -> Result<WasmPath> {
    let forced_debian = std::env::var("COVE_WASM_PATH").is_ok_and(|v| v == "debian");
    if forced_debian {
        println!("wasm32: COVE_WASM_PATH=debian, skipping rustup");
    } else if let Some(path) = try_rustup()? {
        return Ok(path);
    }
    if !debian_toolchain_present() {
        apt(DEBIAN_RUST_PACKAGES)?;
    }
    if !debian_toolchain_present() {
        bail!(
            "step 'wasm32 toolchain': Debian's rustc-web is still missing after installing {:?}.\n  \
             retry: apt-get install -y {}",
            DEBIAN_RUST_PACKAGES,
            DEBIAN_RUST_PACKAGES.join(" ")
        );
    }
    println!("wasm32: {}", WasmPath::DebianBuildStd.describe());
    Ok(WasmPath::DebianBuildStd)
}

/// Paths (1) and (2): rustup's target, present or added within the time limit.
fn try_rustup() -> Result<Option<WasmPath>> {
    if rustup_has_wasm_target() {
        return Ok(Some(rustup_path("already installed")));
    }
    if probe("rustup", &["--version"]).is_some() {
        println!(
            "wasm32: trying `rustup target add {WASM_TARGET}` (time limit {} s)",
            RUSTUP_TARGET_ADD_TIMEOUT.as_secs()
        );
        if run_with_timeout(
            Command::new("rustup").args(["target", "add", WASM_TARGET]),
            RUSTUP_TARGET_ADD_TIMEOUT,
        ) && rustup_has_wasm_target()
        {
            return Ok(Some(rustup_path("installed now")));
        }
        println!("wasm32: rustup could not add the target; falling back to Debian's rustc-web");
    }
    Ok(None)
}

/// rustup's path once its wasm32 target is there (`how` it got there, for
/// the log), with `rust-src` if it is there or can be added.
fn rustup_path(how: &str) -> WasmPath {
    let path = WasmPath::RustupTarget {
        std_source: ensure_rustup_std_source(),
    };
    println!("wasm32: {} ({how})", path.describe());
    path
}

/// rustup's `rust-src` component: present, or added within the time limit.
fn ensure_rustup_std_source() -> bool {
    if rustup_has_std_source() {
        return true;
    }
    println!(
        "wasm32: trying `rustup component add rust-src` (time limit {} s)",
        RUSTUP_SOURCE_ADD_TIMEOUT.as_secs()
    );
    run_with_timeout(
        Command::new("rustup").args(["component", "add", "rust-src"]),
        RUSTUP_SOURCE_ADD_TIMEOUT,
    ) && rustup_has_std_source()
}

fn rustup_has_std_source() -> bool {
    rustup_has_installed("component", "rust-src")
}

fn rustup_has_wasm_target() -> bool {
    rustup_has_installed("target", WASM_TARGET)
}

/// Whether `rustup <kind> list --installed` names `name` on a line of its own.
fn rustup_has_installed(kind: &str, name: &str) -> bool {
    probe_all("rustup", &[kind, "list", "--installed"])
        .is_some_and(|out| out.lines().any(|line| line.trim() == name))
}

fn debian_toolchain_present() -> bool {
    Path::new("/usr/bin/rustc").exists()
        && Path::new("/usr/bin/cargo").exists()
        && Path::new("/usr/lib/rustlib/src/rust/library").is_dir()
}

fn probe_all(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `command` and waits at most `limit`; kills it on time-out. True when it
/// finished in time and succeeded.
fn run_with_timeout(command: &mut Command, limit: Duration) -> bool {
    let Ok(mut child) = command.stdin(Stdio::null()).spawn() else {
        return false;
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(200)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                println!("wasm32: gave up after {} s", limit.as_secs());
                return false;
            }
        }
    }
}
