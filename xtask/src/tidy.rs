//! Checks of the repository itself, run as tests (`cargo test -p xtask`):
//! git must track no build output or run state; the engine has no browser
//! API; the browser modules' shared crate exports nothing to JavaScript;
//! xtask links neither the engine nor the trainer; the simulator has no TLS.

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

    /// The Rust files under `dir` (relative to the root) and their code:
    /// their lines but comments.
    fn rust_sources(dir: &str) -> Vec<(std::path::PathBuf, String)> {
        let mut files = Vec::new();
        crate::fingerprint::collect_files(&paths::root().join(dir), &mut files).expect(dir);
        files
            .into_iter()
            .filter(|file| file.extension().is_some_and(|ext| ext == "rs"))
            .map(|file| {
                let text = std::fs::read_to_string(&file).expect("a Rust source");
                let code: Vec<&str> = text
                    .lines()
                    .filter(|line| !line.trim_start().starts_with("//"))
                    .collect();
                (file, code.join("\n"))
            })
            .collect()
    }

    /// The engine is pure Rust: no browser or worker crate among its
    /// dependencies (its tests' included), no `js` feature, and no browser
    /// type in its library. The browser's modules are the crates under
    /// `bindings/`.
    #[test]
    fn issue_19_the_engine_has_no_browser_api() {
        let manifest = std::fs::read_to_string(paths::root().join("engine").join("Cargo.toml"))
            .expect("engine/Cargo.toml");
        for line in manifest.lines().map(str::trim) {
            for crate_name in [
                "wasm-bindgen",
                "js-sys",
                "web-sys",
                "worker",
                "talc",
                "gloo",
            ] {
                assert!(
                    !line.starts_with(crate_name) && !line.starts_with("js"),
                    "engine/Cargo.toml: `{line}` (the engine has no browser API; \
                     bindings belong in bindings/)"
                );
            }
        }
        for (file, text) in rust_sources("engine/src") {
            for browser in ["wasm_bindgen", "JsValue", "js_sys", "web_sys"] {
                assert!(
                    !text.contains(browser),
                    "{} names `{browser}` (the engine has no browser API)",
                    file.display()
                );
            }
        }
    }

    /// Every `#[wasm_bindgen]` export of a crate a cdylib links is exported
    /// by that cdylib: an export in the browser modules' shared crate would
    /// ship in all three modules.
    #[test]
    fn issue_19_the_browser_modules_shared_crate_exports_nothing() {
        for (file, text) in rust_sources("bindings/common/src") {
            assert!(
                !text.contains("#[wasm_bindgen"),
                "{} has a #[wasm_bindgen] item (exports belong in the module crates)",
                file.display()
            );
        }
    }

    /// The dependencies a crate's manifest names, with their lines.
    fn dependencies(manifest: &str) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(paths::root().join(manifest)).expect(manifest);
        let mut in_dependencies = false;
        let mut found = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_dependencies = line.ends_with("dependencies]");
            } else if in_dependencies && !line.starts_with('#') {
                if let Some((name, _)) = line.split_once('=') {
                    found.push((name.trim().to_string(), line.to_string()));
                }
            }
        }
        found
    }

    /// xtask is a task runner: it compiles neither the engine nor the
    /// trainer (the simulator, which drives both, is a crate of its own that
    /// `cargo xtask simulate` runs), nor serde's derives (syn), so a fresh
    /// `cargo xtask setup` starts installing within seconds.
    #[test]
    fn issue_25_xtask_compiles_neither_the_engine_nor_the_trainer() {
        let found = dependencies("xtask/Cargo.toml");
        assert!(found.iter().any(|(name, _)| name == "anyhow"), "{found:?}");
        for (name, line) in &found {
            assert!(
                !name.starts_with("cove-") && !["serde", "clap", "rand_chacha"].contains(&name.as_str()),
                "xtask/Cargo.toml: `{line}` (xtask runs the workspace's binaries, it does not link them)"
            );
        }
    }

    /// The simulator talks to a worker on loopback only: its HTTP client has
    /// no TLS to reach anything else with.
    #[test]
    fn issue_25_the_simulators_http_client_has_no_tls() {
        let found = dependencies("simulator/Cargo.toml");
        let (_, ureq) = found
            .iter()
            .find(|(name, _)| name == "ureq")
            .expect("the simulator posts with ureq");
        assert!(
            ureq.contains("default-features = false") && !ureq.contains("tls"),
            "simulator/Cargo.toml: `{ureq}` (loopback only: no TLS)"
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
