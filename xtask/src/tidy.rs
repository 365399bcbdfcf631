//! Checks of the repository itself, run as tests (`cargo test -p xtask`):
//! git must track no build output or run state.

#[cfg(test)]
mod tests {
    use crate::paths;

    /// Path parts that only builds and runs create.
    const GENERATED: &[&str] = &[
        "target/",
        "node_modules/",
        ".wrangler/",
        "www/pkg/",
        "www/v1/bundles/",
        "edge-worker/build/",
        "tests/output/",
        "__pycache__/",
    ];
    /// File endings of run state (SQLite files of wrangler's local storage).
    const STATE_ENDINGS: &[&str] = &[".sqlite", ".sqlite-shm", ".sqlite-wal", ".profraw"];

    #[test]
    fn issue_19_git_tracks_no_build_output_or_run_state() {
        let output = std::process::Command::new("git")
            .args(["ls-files", "-z"])
            .current_dir(paths::root())
            .output()
            .expect("git runs");
        assert!(output.status.success(), "git ls-files failed");
        let listed = String::from_utf8_lossy(&output.stdout);
        let offending: Vec<&str> = listed
            .split('\0')
            .filter(|path| !path.is_empty())
            .filter(|path| {
                let with_slash = format!("/{path}");
                GENERATED
                    .iter()
                    .any(|part| with_slash.contains(&format!("/{part}")))
                    || STATE_ENDINGS.iter().any(|end| path.ends_with(end))
            })
            .collect();
        assert!(
            offending.is_empty(),
            "git tracks build output or run state (remove with `git rm --cached`): {offending:?}"
        );
    }

    #[test]
    fn issue_19_the_data_checksums_cover_every_committed_data_file() {
        let sums = std::fs::read_to_string(paths::root().join("data").join("SHA256SUMS"))
            .expect("data/SHA256SUMS");
        for name in [
            crate::data::ORDERS,
            crate::data::SESSIONS,
            crate::data::REVIEWS,
        ] {
            assert!(
                sums.lines()
                    .any(|line| line.ends_with(&format!("  {name}"))),
                "{name} has no digest"
            );
        }
    }
}
