//! Helpers shared by the tests that run the `cove-train` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh directory under the system's temporary directory, named after
/// the test and this process.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `cove-train` with stdout and stderr captured (so stderr is not a
/// terminal): exit code, stdout, stderr.
pub fn cove_train(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cove-train"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Runs `cove-train evaluate --orders ORDERS --out OUT EXTRA…`, which must
/// fail; its stderr.
#[allow(dead_code)] // score_cli.rs runs no `evaluate`.
pub fn evaluate_refused(orders: &str, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["evaluate", "--orders", orders, "--out", s(out)];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = cove_train(&args);
    assert_ne!(code, 0, "{args:?} succeeded:\n{stdout}");
    stderr
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
