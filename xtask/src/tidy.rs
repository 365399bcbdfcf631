//! Checks of the repository itself, run as tests (`cargo test -p xtask`):
//! git must track no build output or run state; the engine has no browser
//! API; the browser modules' shared crate exports nothing to JavaScript;
//! xtask links neither the engine nor the trainer; the simulator has no TLS;
//! the engine's modules import one another without a cycle; the browser's
//! bundle paths agree with the engine's `bundle::layout`.

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

    /// Known imports against the engine's module order, each with its
    /// reason, that the cycle check leaves out until they are removed. The
    /// check fails when one of them is gone, so the list only shrinks.
    const KNOWN_BACK_EDGES: &[(&str, &str, &str)] = &[(
        "aggregation",
        "privacy",
        "aggregation::release reads privacy::campaign's outcome types and \
         privacy::estimate; the metrics redesign (issue 25 item 4) moves them",
    )];

    /// The engine's top-level modules (`bundle`, `features`, `ranking`, …)
    /// and, for each, the top-level modules its files name by a
    /// `crate::name` path (in a `use` or inline, tests included; comments
    /// are left out).
    fn engine_module_graph(
    ) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
        let src = paths::root().join("engine").join("src");
        let module_of = |file: &std::path::Path| -> Option<String> {
            let relative = file.strip_prefix(&src).ok()?;
            let first = relative.components().next()?.as_os_str().to_str()?;
            let name = first.strip_suffix(".rs").unwrap_or(first);
            (name != "lib").then(|| name.to_string())
        };
        let sources = rust_sources("engine/src");
        let modules: std::collections::BTreeSet<String> = sources
            .iter()
            .filter_map(|(file, _)| module_of(file))
            .collect();
        let mut graph: std::collections::BTreeMap<_, std::collections::BTreeSet<String>> = modules
            .iter()
            .map(|m| (m.clone(), Default::default()))
            .collect();
        for (file, code) in &sources {
            let Some(from) = module_of(file) else {
                continue;
            };
            for to in crate_paths(code) {
                if to != from && modules.contains(&to) {
                    graph.get_mut(&from).expect("a module").insert(to);
                }
            }
        }
        graph
    }

    /// The first segment of every `crate::…` path in `code`, including each
    /// member of a `crate::{a, b::c}` group.
    fn crate_paths(code: &str) -> Vec<String> {
        let identifier = |text: &str| -> String {
            text.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        };
        let mut found = Vec::new();
        for (at, _) in code.match_indices("crate::") {
            let preceded_by_identifier = code[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            if preceded_by_identifier {
                continue;
            }
            let rest = &code[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // The group's top-level members, up to its closing brace.
                let mut depth = 0usize;
                let mut member_start = true;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => member_start = true,
                        c if c.is_whitespace() => {}
                        _ if member_start && depth == 0 => {
                            found.push(identifier(&group[i..]));
                            member_start = false;
                        }
                        _ => {}
                    }
                }
            } else {
                found.push(identifier(rest));
            }
        }
        found.retain(|name| name.starts_with(|c: char| c.is_ascii_lowercase()));
        found
    }

    /// A cycle of `graph`, as the modules along it with the first repeated
    /// at the end, or `None`. Depth-first in name order, so the answer is
    /// the same on every run.
    fn find_cycle(
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
    ) -> Option<Vec<String>> {
        fn visit(
            node: &str,
            graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut std::collections::BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(start) = path.iter().position(|m| m == node) {
                let mut cycle = path[start..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            if done.contains(node) {
                return None;
            }
            path.push(node.to_string());
            for next in graph.get(node).into_iter().flatten() {
                if let Some(cycle) = visit(next, graph, path, done) {
                    return Some(cycle);
                }
            }
            path.pop();
            done.insert(node.to_string());
            None
        }
        let mut done = std::collections::BTreeSet::new();
        graph
            .keys()
            .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
    }

    /// The engine's modules form layers: the bundle is plain data that
    /// ranking builds its fold-in from, the feature-input names are a module
    /// that imports nothing, events are validated with their own limits, so
    /// no module imports one that imports it back (issue 25).
    #[test]
    fn issue_25_the_engines_modules_import_one_another_without_a_cycle() {
        let mut graph = engine_module_graph();
        assert!(
            ["bundle", "events", "features", "profile", "ranking"]
                .iter()
                .all(|module| graph.contains_key(*module)),
            "the engine's modules were not found: {:?}",
            graph.keys().collect::<Vec<_>>()
        );
        for (from, to, reason) in KNOWN_BACK_EDGES {
            let edges = graph.get_mut(*from).expect("a module");
            assert!(
                edges.remove(*to),
                "{from} no longer imports {to}: remove it from KNOWN_BACK_EDGES ({reason})"
            );
        }
        if let Some(cycle) = find_cycle(&graph) {
            panic!(
                "the engine's modules import one another in a cycle: {}",
                cycle.join(" → ")
            );
        }
    }

    #[test]
    fn the_module_graph_reads_grouped_imports_and_finds_cycles() {
        assert_eq!(
            crate_paths("use crate::{bundle::Model, json::{self, Fields}, Error};\nlet x = crate::order::sort_by; my_crate::nope;"),
            ["bundle", "json", "order"]
        );
        let graph = |edges: &[(&str, &str)]| {
            let mut graph =
                std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
            for (from, to) in edges {
                graph
                    .entry(from.to_string())
                    .or_default()
                    .insert(to.to_string());
                graph.entry(to.to_string()).or_default();
            }
            graph
        };
        assert_eq!(
            find_cycle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])),
            None
        );
        assert_eq!(
            find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "b")])),
            Some(vec!["b".to_string(), "c".to_string(), "b".to_string()])
        );
    }

    /// The pages that state where a published bundle's files live: the
    /// browser cannot import `bundle::layout`, so they keep a few strings
    /// of their own, checked here against it.
    const LAYOUT_PAGES: &[&str] = &[
        "www/cove/bundle.mjs",
        "www/demo.js",
        "www/dashboard/dashboard.js",
        "www/cove.mjs",
        "www/cove.js",
    ];

    /// Every path in `text` with a `/bundles/` folder in it (letters,
    /// digits and `/._-<>`; a sentence's full stop after it is not part of
    /// it).
    fn bundle_paths(text: &str) -> Vec<String> {
        let in_path = |c: char| c.is_ascii_alphanumeric() || "/._-<>".contains(c);
        text.match_indices("/bundles/")
            .map(|(at, _)| {
                let start = text[..at]
                    .rfind(|c: char| !in_path(c))
                    .map_or(0, |before| before + 1);
                let rest = &text[at + "/bundles/".len()..];
                let end = rest.find(|c: char| !in_path(c)).unwrap_or(rest.len());
                let path = &text[start..at + "/bundles/".len() + end];
                path.trim_end_matches('.').to_string()
            })
            .collect()
    }

    /// The bundle paths the layout module gives: each pointer, and each
    /// part of a bundle with `<id>` for its model id.
    fn layout_paths() -> Vec<String> {
        use crate::layout::*;
        let mut known: Vec<String> = [DEFAULT_POINTER, SHARDED_POINTER, SENTIMENT_POINTER]
            .iter()
            .map(|name| pointer_url(name))
            .collect();
        known.extend(
            [MANIFEST_FILE, TENSORS_FILE, CATALOGUE_FILE]
                .iter()
                .map(|file| bundle_url("<id>", file)),
        );
        known
    }

    /// The strings the browser's modules use to find a bundle agree with
    /// `engine/src/bundle/layout.rs`: bundle.mjs's tensor file and manifest
    /// test, the demo's and the dashboard's pointers, and every bundle path
    /// the pages name (their comments and messages too) is one it gives
    /// (issue 25).
    #[test]
    fn issue_25_the_browsers_bundle_paths_agree_with_the_layout_module() {
        use crate::layout::*;
        let read = |page: &str| std::fs::read_to_string(paths::root().join(page)).expect(page);
        let quoted = |text: String| format!("\"{text}\"");
        let required = [
            (
                "www/cove/bundle.mjs",
                format!("export const TENSORS_FILE = \"{TENSORS_FILE}\";"),
            ),
            (
                "www/cove/bundle.mjs",
                format!("endsWith(\"/{MANIFEST_FILE}\")"),
            ),
            ("www/demo.js", quoted(pointer_url(DEFAULT_POINTER))),
            ("www/demo.js", quoted(pointer_url(SHARDED_POINTER))),
            ("www/demo.js", quoted(pointer_url(SENTIMENT_POINTER))),
            (
                "www/dashboard/dashboard.js",
                quoted(pointer_url(DEFAULT_POINTER)),
            ),
        ];
        for (page, text) in &required {
            assert!(
                read(page).contains(text.as_str()),
                "{page} no longer says `{text}` (engine/src/bundle/layout.rs): \
                 change them together"
            );
        }
        let known = layout_paths();
        for page in LAYOUT_PAGES {
            let found = bundle_paths(&read(page));
            assert!(!found.is_empty(), "{page} names no bundle path");
            for path in found {
                assert!(
                    known.contains(&path),
                    "{page} names the bundle path {path}, which \
                     engine/src/bundle/layout.rs does not give (it gives {known:?})"
                );
            }
        }
    }

    #[test]
    fn bundle_paths_are_read_whole_and_checked() {
        let text =
            "fetch(\"/v1/bundles/default.json\"); // see `/v2/bundles/<id>/manifest.json`.\n\
                    (/v1/bundles/<id>/tensor.safetensors) cove-bundles-v1";
        let found = bundle_paths(text);
        assert_eq!(
            found,
            [
                "/v1/bundles/default.json",
                "/v2/bundles/<id>/manifest.json",
                "/v1/bundles/<id>/tensor.safetensors"
            ]
        );
        let known = layout_paths();
        assert!(known.contains(&found[0]));
        assert!(!known.contains(&found[1]), "another prefix is refused");
        assert!(!known.contains(&found[2]), "another part name is refused");
    }
}
