//! `cargo xtask simulate`: runs the simulator (`simulator/`, the binary
//! `cove-simulate`) with the task's arguments passed through; `cargo xtask
//! simulate --help` lists them.
//!
//! Without `--url` the simulator starts a worker, which serves what the build
//! publishes (the default bundle, the site), so setup and the build run
//! first, as they did when the simulator lived here. The data files are
//! checked against `data/SHA256SUMS` here and passed on by path, as the
//! trainer's are.
//!
//! It runs as a dev build, not a release one: the workspace's native build
//! (`cargo xtask build`, which `test` runs too) compiles the engine, the
//! trainer and the simulator in that profile already, while a release build
//! would compile the engine and the trainer once more with optimisations
//! (the trainer's own release build has other engine features), which takes
//! longer than a simulation, whose pace the worker sets.

use anyhow::Result;

use crate::run::Step;
use crate::toolchain::cargo_program;
use crate::{build, data, paths, setup};

/// Runs `cove-simulate` with `args`.
pub fn simulate(args: &[String]) -> Result<()> {
    let mut step = Step::new("simulate", cargo_program())
        .args(["run", "--quiet", "--package", "cove-simulate", "--"])
        .current_dir(paths::root());
    let asks_for_help = args
        .iter()
        .any(|arg| matches!(arg.as_str(), "--help" | "-h" | "--version" | "-V"));
    if !asks_for_help {
        if !given(args, "--url") {
            let env = setup::setup()?;
            build::build(&env)?;
        }
        for (flag, name) in [("--orders", data::ORDERS), ("--reviews", data::REVIEWS)] {
            if !given(args, flag) {
                step = step.args([flag]).arg_path(&data::checked(name)?.path);
            }
        }
    }
    step.args(args).run().map(|_| ())
}

/// Whether `args` give `flag` (`--flag VALUE` or `--flag=VALUE`).
fn given(args: &[String], flag: &str) -> bool {
    args.iter().any(|arg| {
        arg.strip_prefix(flag)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('='))
    })
}

#[cfg(test)]
mod tests {
    use super::given;

    #[test]
    fn a_flag_is_given_with_its_value_apart_or_after_an_equals_sign() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(given(&args(&["--seed", "3", "--url", "u"]), "--url"));
        assert!(given(&args(&["--url=http://127.0.0.1:8787"]), "--url"));
        assert!(!given(&args(&["--urls", "u"]), "--url"));
        assert!(!given(&args(&["--seed", "3"]), "--orders"));
    }
}
