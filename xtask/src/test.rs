//! `cargo xtask test`: every test suite, in order, each one run even when an
//! earlier one failed, then a summary. Exits non-zero when any suite failed.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};

use crate::native::Lints;
use crate::paths;
use crate::run::Step;
use crate::setup::Env;
use crate::toolchain::cargo_program;

/// Runs every suite and prints a summary, after the times of the phases that
/// ran before (setup, build). `lints` is what clippy found in the native
/// build (`crate::native`): every workspace member, the browser's module
/// crates under `bindings/` too (they build natively), every target.
pub fn test(env: &Env, lints: Lints, earlier_phases: &[(&str, Duration)]) -> Result<()> {
    let root = paths::root();
    let suites: Vec<(&str, Step)> = vec![
        (
            "format (cargo fmt --check)",
            Step::new("format", cargo_program())
                .args(["fmt", "--all", "--", "--check"])
                .current_dir(&root),
        ),
        (
            "native tests",
            Step::new("native tests", cargo_program())
                .args(["test", "--workspace"])
                .current_dir(&root),
        ),
        (
            "wasm tests in headless Chromium (wasm-bindgen-test)",
            env.wasm_path
                .cargo("wasm tests", "test")
                .args([
                    "--package",
                    "cove-storefront",
                    "--package",
                    "cove-reporting",
                ])
                .args(unoptimised_dev_packages()?)
                .env(
                    "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
                    &env.wasm_bindgen_test_runner,
                )
                .env("CHROMEDRIVER", &env.chromedriver)
                .env("WASM_BINDGEN_TEST_TIMEOUT", "120")
                .current_dir(&root),
        ),
        (
            "TypeScript types of the snippet (tsc --strict)",
            Step::new("types", &env.node22)
                .args([
                    "node_modules/typescript/bin/tsc",
                    "-p",
                    "tests/types/tsconfig.json",
                ])
                .current_dir(&root),
        ),
        (
            "edge worker under workerd and pages in Chromium (node --test)",
            Step::new("end-to-end tests", &env.node22)
                // Two files at a time: most of a file's time is a workerd or
                // a Chromium waiting on the other, so one at a time left a
                // core idle (see END_TO_END_CONCURRENCY).
                .args(["--test", "--test-reporter=spec"])
                .args([format!("--test-concurrency={END_TO_END_CONCURRENCY}")])
                .args(end_to_end_test_files()?)
                .env("COVE_CHROMIUM", &env.chromium)
                // The guide's test trains with the trainer the build made
                // (tests/e2e/guide.test.mjs says why).
                .env("COVE_TRAINER", crate::model::dev_trainer_binary())
                .current_dir(&root),
        ),
    ];

    let mut results: Vec<(&str, Result<Duration>)> = vec![(
        "lints (clippy in the native build, -D warnings)",
        if lints.warnings == 0 {
            Ok(Duration::ZERO)
        } else {
            Err(anyhow!(
                "{} warning(s) in the native build (shown above; `cargo clippy --workspace \
                 --all-targets` lists them too)",
                lints.warnings
            ))
        },
    )];
    for (name, step) in suites {
        results.push((name, step.run()));
    }

    println!("\n==> test summary");
    for (phase, elapsed) in earlier_phases {
        println!("  done   {phase} ({:.1} s)", elapsed.as_secs_f64());
    }
    let mut failed = 0;
    for (name, result) in &results {
        match result {
            Ok(elapsed) => println!("  ok     {name} ({:.1} s)", elapsed.as_secs_f64()),
            Err(error) => {
                failed += 1;
                println!(
                    "  FAILED {name}: {}",
                    error.to_string().lines().next().unwrap_or_default()
                );
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} test suites failed", results.len());
    }
    println!("all {} test suites passed", results.len());
    Ok(())
}

/// How many end-to-end test files run at once. Each file starts its own
/// workers (fresh ports and state folders) and browser, so they share nothing
/// but the machine. On the 2-core reference machine a warm suite took 612.7 s
/// one file at a time and 436.5 s two at a time (BENCHMARKS.md, "The
/// newcomer's loop"); the long files (the aggregators' 5,000 devices, the
/// simulator's 4,000) come first alphabetically, so they start at once.
const END_TO_END_CONCURRENCY: usize = 2;

/// `--config` arguments that compile at opt-level 0 every package the
/// workspace's dev profile optimises (`[profile.dev.package.NAME]` in the
/// root Cargo.toml: the engine, prio, the HPKE crates, …), for the wasm tests
/// only. Their six tests run in 0.3 s either way, while compiling those
/// packages optimised for wasm32 took 85 s against 62.6 s unoptimised
/// (BENCHMARKS.md, "The newcomer's loop"). They build in a profile and target
/// dir of their own, so nothing else is rebuilt.
fn unoptimised_dev_packages() -> Result<Vec<String>> {
    let manifest = std::fs::read_to_string(paths::root().join("Cargo.toml"))?;
    Ok(optimised_in_dev(&manifest)
        .into_iter()
        .flat_map(|name| {
            [
                "--config".to_string(),
                format!("profile.dev.package.{name}.opt-level=0"),
            ]
        })
        .collect())
}

/// The packages a manifest names in `[profile.dev.package.NAME]` tables
/// (not the quoted `"*"`, which sets only debug info).
fn optimised_in_dev(manifest: &str) -> Vec<String> {
    manifest
        .lines()
        .filter_map(|line| {
            line.trim()
                .strip_prefix("[profile.dev.package.")?
                .strip_suffix(']')
                .filter(|name| !name.starts_with('"'))
                .map(str::to_string)
        })
        .collect()
}

/// The end-to-end test files under `tests/e2e`, sorted.
fn end_to_end_test_files() -> Result<Vec<String>> {
    let dir = paths::root().join("tests").join("e2e");
    let mut files: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| path.to_string_lossy().ends_with(".test.mjs"))
        .map(|path| path.to_string_lossy().into_owned())
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_profiles_optimised_packages_are_found() {
        let manifest = std::fs::read_to_string(paths::root().join("Cargo.toml")).unwrap();
        let names = optimised_in_dev(&manifest);
        for name in ["prio", "cove-engine", "curve25519-dalek"] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains('*')));
    }
}
