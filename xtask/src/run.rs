//! Running external commands: each one is printed before it runs, and a failure
//! names the step, the full command line and how to retry it.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A command with the name of the step it belongs to.
pub struct Step {
    name: String,
    command: Command,
}

impl Step {
    /// A step named `name` that runs `program`, without the variables
    /// `cargo run` set for xtask itself ([`is_xtask_package_variable`]).
    pub fn new(name: impl Into<String>, program: impl AsRef<OsStr>) -> Self {
        let mut command = Command::new(program);
        for (key, _) in std::env::vars_os() {
            if is_xtask_package_variable(&key) {
                command.env_remove(key);
            }
        }
        Step {
            name: name.into(),
            command,
        }
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    /// Appends one path argument.
    pub fn arg_path(mut self, path: &Path) -> Self {
        self.command.arg(path);
        self
    }

    /// Sets an environment variable for the command.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Runs the command in `dir`.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// The command line as a shell would show it, for messages.
    pub fn command_line(&self) -> String {
        let mut line = String::new();
        for (key, value) in self.command.get_envs() {
            if let Some(value) = value {
                let _ = write!(
                    line,
                    "{}={} ",
                    key.to_string_lossy(),
                    value.to_string_lossy()
                );
            }
        }
        let _ = write!(line, "{}", self.command.get_program().to_string_lossy());
        for arg in self.command.get_args() {
            let arg = arg.to_string_lossy();
            if arg.contains(' ') {
                let _ = write!(line, " '{arg}'");
            } else {
                let _ = write!(line, " {arg}");
            }
        }
        line
    }

    /// Compiles the workspace's crates with plain rustc instead of
    /// `.cargo/config.toml`'s clippy-driver, for builds whose output ships,
    /// is measured or is a tool we install: clippy compiles without MIR
    /// optimisations, which changed the edge worker's module (+1.8 KB raw).
    /// The native build runs the lints (`crate::native`).
    pub fn plain_rustc(self) -> Self {
        self.env("RUSTC_WORKSPACE_WRAPPER", "")
    }

    /// Runs to completion with stdout read line by line by `on_line`
    /// (stderr inherited); fails unless it exits 0.
    pub fn run_reading_stdout(mut self, mut on_line: impl FnMut(&str)) -> Result<Duration> {
        let line = self.command_line();
        println!("\n==> [{}] {}", self.name, line);
        let started = Instant::now();
        let mut child = self
            .command
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("step '{}': could not start `{line}`", self.name))?;
        let stdout = child.stdout.take().context("the step's stdout")?;
        for text in BufReader::new(stdout).lines() {
            on_line(&text.context("reading the step's output")?);
        }
        let status = child.wait()?;
        if !status.success() {
            bail!("step '{}' failed ({status}).\n  command: {line}", self.name);
        }
        Ok(started.elapsed())
    }

    /// Runs to completion with inherited output; fails unless it exits 0.
    pub fn run(mut self) -> Result<Duration> {
        let line = self.command_line();
        println!("\n==> [{}] {}", self.name, line);
        let started = Instant::now();
        let status = self
            .command
            .status()
            .with_context(|| format!("step '{}': could not start `{line}`", self.name))?;
        if !status.success() {
            bail!(
                "step '{}' failed ({status}).\n  command: {line}\n  retry:   run `cargo xtask setup` \
                 again, or that command by hand to see its full output",
                self.name
            );
        }
        Ok(started.elapsed())
    }

    /// Runs to completion and returns its stdout (stderr is shown); fails
    /// unless it exits 0.
    pub fn output(mut self) -> Result<String> {
        let line = self.command_line();
        println!("\n==> [{}] {}", self.name, line);
        let output = self
            .command
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("step '{}': could not start `{line}`", self.name))?;
        if !output.status.success() {
            bail!(
                "step '{}' failed ({}).\n  command: {line}",
                self.name,
                output.status
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Gives the underlying command, for callers that spawn it themselves.
    pub fn into_command(self) -> Command {
        self.command
    }
}

/// Whether `name` is one of the variables `cargo run` sets for the package it
/// runs (`CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, …): about xtask, not about
/// whatever a step builds. Build scripts read them as their own (ring's
/// `rerun-if-env-changed=CARGO_MANIFEST_DIR`), so a cargo started with them
/// finds such a script's inputs changed since a cargo started without them,
/// and rebuilt ring, rustls, ureq and xtask (about a minute) on every `cargo
/// xtask build`. `CARGO` (which cargo runs xtask) stays.
fn is_xtask_package_variable(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_MANIFEST_")
        || matches!(
            name.as_ref(),
            "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
        )
}

/// The first line a program prints for `args`, or `None` when it cannot run.
pub fn probe(program: impl AsRef<OsStr>, args: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string(),
    )
}
