//! `cargo xtask bench`: the snippet's hot call natively (criterion) and as the
//! browser's wasm build in V8, on the default bundle, in one run, with the ratio.
//! Also the edge's `/v1/recommend` scoring natively. Figures go to BENCHMARKS.md.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use crate::paths;
use crate::run::Step;
use crate::setup::Env;
use crate::toolchain::cargo_program;

/// The profile sizes both harnesses measure.
const PROFILE_SIZES: [usize; 4] = [0, 5, 20, 64];

/// Runs the benchmarks and prints the side-by-side table.
pub fn bench(env: &Env) -> Result<()> {
    let root = paths::root();
    Step::new("native: engine storefront bench", cargo_program())
        .args([
            "bench",
            "--package",
            "cove-engine",
            "--features",
            "test-fixtures",
            "--bench",
            "storefront",
        ])
        .current_dir(&root)
        .run()?;
    Step::new("native: edge recommend bench", cargo_program())
        .args(["bench", "--package", "cove-edge", "--bench", "recommend"])
        .current_dir(&root)
        .run()?;
    let wasm = Step::new("wasm in V8: engine storefront bench", &env.node22)
        .args(["tests/bench/engine-wasm.mjs"])
        .current_dir(&root)
        .output()?;
    let wasm: BTreeMap<String, f64> =
        serde_json::from_str(wasm.trim()).context("the wasm harness's output")?;
    println!("\nrecommend (k = 8) on the default bundle, median per call:");
    println!(
        "{:<10} {:>14} {:>14} {:>8} {:>16}",
        "profile", "native", "wasm (V8)", "ratio", "wasm p99/call"
    );
    for n in PROFILE_SIZES {
        let name = format!("views_{n}");
        let native_ns = criterion_median_ns("storefront_recommend", &name)?;
        let wasm_ns = wasm
            .get(&name)
            .copied()
            .with_context(|| format!("{name} missing from the wasm run"))?;
        let wasm_p99_ns = wasm
            .get(&format!("p99_{name}"))
            .copied()
            .unwrap_or(f64::NAN);
        println!(
            "{:<10} {:>11.1} µs {:>11.1} µs {:>7.1}x {:>13.1} µs",
            format!("{n} views"),
            native_ns / 1000.0,
            wasm_ns / 1000.0,
            wasm_ns / native_ns,
            wasm_p99_ns / 1000.0
        );
    }
    Ok(())
}

/// The median of a criterion benchmark, in nanoseconds, from its estimates file.
fn criterion_median_ns(group: &str, bench: &str) -> Result<f64> {
    let path = paths::root()
        .join("target")
        .join("criterion")
        .join(group)
        .join(bench)
        .join("new")
        .join("estimates.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let estimates: serde_json::Value = serde_json::from_str(&text)?;
    estimates["median"]["point_estimate"]
        .as_f64()
        .with_context(|| format!("no median in {}", path.display()))
}
