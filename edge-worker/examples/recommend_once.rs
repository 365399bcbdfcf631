//! Answers one `/v1/recommend` body natively, with the same code the worker
//! runs, for the cross-runtime parity test (`tests/e2e/parity.test.mjs`):
//! the JSON answer on stdout, or the error's status and JSON on stderr.
//!
//! Run: `cargo run -p cove-edge --example recommend_once -- BUNDLES_DIR NOW < body.json`

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use cove_engine::testing::published_default_bundle;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(bundles), Some(now)) = (args.first(), args.get(1).and_then(|n| n.parse().ok()))
    else {
        eprintln!("usage: recommend_once BUNDLES_DIR NOW < body.json");
        return ExitCode::from(2);
    };
    let Some(model) = published_default_bundle(&PathBuf::from(bundles)) else {
        eprintln!("no published default bundle in {bundles}");
        return ExitCode::from(2);
    };
    let mut body = Vec::new();
    if std::io::stdin().read_to_end(&mut body).is_err() {
        eprintln!("could not read the body from stdin");
        return ExitCode::from(2);
    }
    match cove_edge::recommend::answer(&model, &body, now) {
        Ok(answer) => {
            println!("{}", answer.body);
            ExitCode::SUCCESS
        }
        Err(error) => {
            let answer = error.answer();
            eprintln!("{} {}", answer.status, answer.body);
            ExitCode::from(1)
        }
    }
}
