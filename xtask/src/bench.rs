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
        .plain_rustc()
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
        .plain_rustc()
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
    let native_ns = criterion_median_ns("ranking_10k", "recommend_k20")?;
    let wasm_ns = wasm
        .get("ranking_10k")
        .copied()
        .context("ranking_10k missing from the wasm run")?;
    println!("\nthe 10k ranking (10,000 items, d = 64, int8; 8 views, k = 20), wasm with SIMD128:");
    println!(
        "{:<10} {:>11.1} µs {:>11.1} µs {:>7.2}x   (one side after the other)",
        "10k items",
        native_ns / 1000.0,
        wasm_ns / 1000.0,
        wasm_ns / native_ns
    );
    ten_k_side_by_side(env)?;
    browser_bench(env)
}

/// The 10k ranking's wasm ÷ native ratio with the two sides in alternating
/// rounds (`tests/bench/ratio-10k.mjs`), the figure to quote on a shared
/// machine: a load spike falls on one round of each side, not on one side.
fn ten_k_side_by_side(env: &Env) -> Result<()> {
    let output = Step::new("the 10k ranking, native and wasm side by side", &env.node22)
        .args(["tests/bench/ratio-10k.mjs"])
        .env("CARGO", cargo_program())
        .plain_rustc()
        .current_dir(paths::root())
        .output()?;
    let figures: serde_json::Value =
        serde_json::from_str(output.trim()).context("the side-by-side harness's output")?;
    let number = |key: &str| {
        figures[key]
            .as_f64()
            .with_context(|| format!("{key} missing from the side-by-side run"))
    };
    println!(
        "{:<10} {:>11.1} µs {:>11.1} µs {:>7.2}x   (alternating rounds: median of {} round ratios, \
         quartiles {:.2}–{:.2}x)",
        "10k items",
        number("nativeNsMedian")? / 1000.0,
        number("wasmNsMedian")? / 1000.0,
        number("ratioMedian")?,
        number("rounds")?,
        number("ratioP25")?,
        number("ratioP75")?
    );
    Ok(())
}

/// The pinned version of Python's `onnx`, which writes the peer's model.
const ONNX_VERSION: &str = "1.19.1";

/// The browser figures (cold start, recommend, onnxruntime-web side by side)
/// in headless Chromium: `tests/bench/browser.mjs`, with the venv that writes
/// the peer's ONNX model created first when missing.
fn browser_bench(env: &Env) -> Result<()> {
    let venv = paths::root().join("target").join("bench").join("onnx-venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        Step::new("python venv for the ONNX peer", "python3")
            .args(["-m", "venv"])
            .args([&venv])
            .run()?;
        Step::new("pip install onnx", &python)
            .args(["-m", "pip", "install", "--quiet"])
            .args([format!("onnx=={ONNX_VERSION}")])
            .run()?;
    }
    let output = Step::new("browser bench in headless Chromium", &env.node22)
        .args(["tests/bench/browser.mjs"])
        .env("COVE_CHROMIUM", &env.chromium)
        .env("COVE_ONNX_PYTHON", &python)
        .current_dir(paths::root())
        .output()?;
    let figures: serde_json::Value =
        serde_json::from_str(output.trim()).context("the browser harness's output")?;
    let peer = &figures["peer"];
    let ns = |value: &serde_json::Value| value.as_f64().unwrap_or(f64::NAN);
    println!("\nin headless Chromium, default bundle:");
    println!(
        "  cold start, script tag to first rendered slot (bundle cached): median {} ms",
        figures["coldStartMsMedian"]
    );
    println!(
        "  cove.recommend({{ k: 8 }}) over the whole catalogue: median {:.1} µs",
        ns(&figures["recommendK8NsMedian"]) / 1000.0
    );
    println!(
        "  onnxruntime-web MatMul + TopK ({} × {}): {:.1} µs; Cove topK on the same matrix: {:.1} µs; \
         Cove recommend: {:.1} µs; same top k: {}",
        peer["n"],
        peer["d"],
        ns(&peer["ortRunNs"]) / 1000.0,
        ns(&peer["coveTopKNs"]) / 1000.0,
        ns(&peer["coveRecommendNs"]) / 1000.0,
        peer["sameTopK"]
    );
    println!(
        "  time ratio onnxruntime-web ÷ Cove recommend: {:.2}x; transfer (gzip -9) Cove {} B, \
         onnxruntime-web {} B ({}x)",
        ns(&peer["ortRunNs"]) / ns(&peer["coveRecommendNs"]),
        figures["sizesGzip"]["cove"],
        figures["sizesGzip"]["onnxruntimeWeb"],
        figures["sizesGzip"]["ratio"]
    );
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
