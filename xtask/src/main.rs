//! `cargo xtask`: Cove's build orchestration, in Rust.
//!
//! Every task starts from a machine where nothing may be installed yet: `setup`
//! detects and installs what is missing (the wasm32 toolchain, wasm-bindgen-cli at
//! the pinned version, Chromium and chromedriver, the npm packages), and `build`,
//! `demo` and `test` run `setup` first. Each step prints what it does; a failing
//! step names itself, the command it ran and how to retry.

mod bench;
mod build;
mod data;
mod demo;
mod fingerprint;
/// Where a published bundle's files live: the engine's `bundle::layout`,
/// this same source file compiled in, since xtask links no engine. Not every
/// item of it is used here.
#[path = "../../engine/src/bundle/layout.rs"]
#[allow(dead_code)]
mod layout;
mod model;
mod native;
mod package;
mod paths;
mod peers;
mod run;
mod sentiment;
mod setup;
mod shop;
mod simulate;
mod site;
mod size;
mod test;
mod tidy;
mod toolchain;

use std::time::Instant;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  setup   install what is missing (wasm32 toolchain, wasm-bindgen-cli, Chromium,
          npm packages); idempotent, never prompts
  build   setup, then the native build and the five wasm modules (the
          browser's storefront, reporting and sentiment modules in one cargo
          run, the edge worker and the web demo in another) into www/pkg and
          edge-worker/build
  demo    build, then serve the demo through the edge worker under workerd
          (wrangler dev) on 127.0.0.1 and print its URL; Ctrl-C stops it
  test    build, then every test: native, wasm in headless Chromium, the edge
          worker end to end under workerd, and page tests in Chromium
  size    build, then report the wasm outputs' and the default model bundle's
          sizes (raw, gzipped)
  simulate [--devices N] [--seed S] [--url URL] [--truth FILE] ...
          the simulator (simulator/, cove-simulate; --help lists its options):
          simulated shoppers drawn from the real data go through the engine
          and report to a local edge worker (without --url: setup, build,
          then one is started)
  shop <list|show ID|put FILE.json|add-origin ID ORIGIN|remove-origin ID ORIGIN|delete ID> --url URL
          a worker's shops through its admin API (token in COVE_ADMIN_TOKEN):
          register a storefront's origin or change a shop without a rebuild
  tune    search the default model's and the sentiment models' parameters on
          validation, score the test period once, and write the choice with
          its figures into models/default-params.toml and
          models/sentiment-params.toml (review the diff; build then retrains)
  bench   build, then the benchmarks whose figures BENCHMARKS.md reports
          (native vs wasm side by side)
  peers   the peer recommenders on the trainer's splits, in a venv with
          models/peers/requirements.txt from PyPI: implicit ALS/BPR and EASE on
          OR-LAST-MONTH (target/peers/peers.json); popularity, trending,
          item-kNN, EASE, V-SKNN and VMIS-kNN on OR-SESSION tasks C, D, E
          (target/peers/session_peers.json); not part of test
  peers-sentiment
          the sentiment peers (scikit-learn TF-IDF + logistic regression,
          VADER; pinned PyPI packages in a venv) on the trainer's held-out
          split, beside Cove's sentiment model
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup::setup().map(|_| ()),
        Some("build") => setup::setup().and_then(|env| build::build(&env).map(|_| ())),
        Some("demo") => demo::demo_port().and_then(|_| {
            let env = setup::setup()?;
            build::build_site(&env)?;
            demo::demo(&env)
        }),
        Some("test") => {
            let started = Instant::now();
            setup::setup().and_then(|env| {
                let setup_time = started.elapsed();
                let lints = build::build(&env)?;
                let build_time = started.elapsed() - setup_time;
                test::test(&env, lints, &[("setup", setup_time), ("build", build_time)])
            })
        }
        Some("bench") => setup::setup().and_then(|env| {
            build::build(&env)?;
            bench::bench(&env)
        }),
        Some("size") => setup::setup().and_then(|env| {
            build::build(&env)?;
            size::report(&env)?;
            model::report_bundle_size()
        }),
        Some("peers") => peers::peers(),
        Some("shop") => shop::shop(&args[1..]),
        Some("tune") => model::tune(),
        Some("peers-sentiment") => sentiment::peers(),
        Some("simulate") => simulate::simulate(&args[1..]),
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => {
            eprintln!("cargo xtask: unknown task '{other}'\n");
            eprint!("{USAGE}");
            std::process::exit(2);
        }
        None => {
            eprint!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(error) = result {
        report_failure(&error);
        std::process::exit(1);
    }
}

fn report_failure(error: &anyhow::Error) {
    eprintln!("\ncargo xtask failed: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
