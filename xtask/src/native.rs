//! The native build of the workspace, which is also its lint run.
//!
//! `.cargo/config.toml` names `clippy-driver` as the workspace's rustc
//! wrapper, so every compile of a workspace crate runs clippy's lints
//! (dependencies compile with plain rustc). The native build therefore
//! reports every warning `cargo clippy --workspace --all-targets` would, and
//! `cargo xtask test` fails its lint suite when there is one: the separate
//! clippy pass it used to make (74 s on a fresh clone, checking every
//! dependency again) is gone. Cargo replays a fresh crate's cached warnings,
//! so a no-change build reports them too.

use std::io::IsTerminal;

use anyhow::Result;

use crate::paths;
use crate::run::Step;
use crate::toolchain::cargo_program;

/// What the native build found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Lints {
    /// Warnings (clippy's and rustc's) in the workspace's own crates.
    pub warnings: usize,
}

/// `cargo build --workspace --all-targets` (debug: what the tests run), with
/// each compiler message printed as cargo would and the warnings counted.
pub fn build() -> Result<Lints> {
    let format = if std::io::stdout().is_terminal() {
        "--message-format=json-diagnostic-rendered-ansi"
    } else {
        "--message-format=json"
    };
    let mut lints = Lints::default();
    let elapsed = Step::new("native build", cargo_program())
        .args(["build", "--workspace", "--all-targets", format])
        .current_dir(paths::root())
        .run_reading_stdout(|message| match compiler_message(message) {
            Some(diagnostic) => {
                if diagnostic.level == "warning" {
                    lints.warnings += 1;
                }
                print!("{}", diagnostic.rendered);
            }
            None if message.starts_with('{') => {}
            None => println!("{message}"),
        })?;
    println!(
        "native build: {:.1} s, {} warning(s) in the workspace's crates",
        elapsed.as_secs_f64(),
        lints.warnings
    );
    Ok(lints)
}

/// One compiler diagnostic from cargo's JSON messages.
#[derive(Debug, PartialEq, Eq)]
struct Diagnostic {
    /// `warning`, `error`, …
    level: String,
    /// As the compiler would print it.
    rendered: String,
}

/// The diagnostic a `compiler-message` line of cargo's JSON output carries;
/// `None` for other lines (artifacts, build scripts, the final summary) and
/// for the compiler's own tally ("2 warnings emitted"), which is a count of
/// the warnings before it, not another one.
fn compiler_message(line: &str) -> Option<Diagnostic> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    if value.get("reason")?.as_str()? != "compiler-message" {
        return None;
    }
    let message = value.get("message")?;
    if is_tally(message.get("message")?.as_str()?) {
        return None;
    }
    Some(Diagnostic {
        level: message.get("level")?.as_str()?.to_string(),
        rendered: message.get("rendered")?.as_str()?.to_string(),
    })
}

/// Whether `text` is the compiler's tally of a crate's diagnostics:
/// "1 warning emitted", "3 warnings emitted", "2 errors; 1 warning emitted"…
fn is_tally(text: &str) -> bool {
    text.ends_with(" emitted")
        && text
            .split([';', ','])
            .all(|part| part.trim().starts_with(|c: char| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clippy_warning_is_counted_and_rendered() {
        let line = r#"{"reason":"compiler-message","package_id":"path+file:///w/engine#0.1.0","message":{"level":"warning","message":"this `if` has identical blocks","spans":[{"file_name":"src/lib.rs","line_start":3}],"rendered":"warning: this `if` has identical blocks\n --> src/lib.rs:3:5\n"}}"#;
        let diagnostic = compiler_message(line).expect("a diagnostic");
        assert_eq!(diagnostic.level, "warning");
        assert!(diagnostic.rendered.contains("src/lib.rs:3:5"));
    }

    #[test]
    fn summaries_artifacts_and_text_are_not_diagnostics() {
        let summary = r#"{"reason":"compiler-message","package_id":"x","message":{"level":"warning","message":"1 warning emitted","spans":[],"rendered":"warning: 1 warning emitted\n"}}"#;
        assert_eq!(compiler_message(summary), None);
        assert!(is_tally("2 errors; 1 warning emitted"));
        // A real warning without spans is still one.
        let flag = r#"{"reason":"compiler-message","package_id":"x","message":{"level":"warning","message":"unknown lint: `clippy::foo`","spans":[],"rendered":"warning: unknown lint\n"}}"#;
        assert_eq!(
            compiler_message(flag).map(|d| d.level),
            Some("warning".into())
        );
        let artifact = r#"{"reason":"compiler-artifact","package_id":"x","fresh":true}"#;
        assert_eq!(compiler_message(artifact), None);
        assert_eq!(compiler_message("   Compiling cove-engine"), None);
    }
}
