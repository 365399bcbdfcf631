//! `cargo xtask demo`: serves `www/` and the `/v1` API through the edge worker
//! under workerd (wrangler dev, local persistence, 127.0.0.1 only) until Ctrl-C.

use std::process::Command;

use anyhow::{bail, Result};

use crate::paths;
use crate::run::Step;
use crate::setup::Env;

/// The demo's port, unless `COVE_DEMO_PORT` says otherwise.
const DEFAULT_PORT: &str = "8787";

/// The demo's port (`COVE_DEMO_PORT`, else 8787), checked to be free on
/// 127.0.0.1 before anything is built, so a second demo says so at once
/// instead of after the build.
pub fn demo_port() -> Result<String> {
    let port = std::env::var("COVE_DEMO_PORT").unwrap_or_else(|_| DEFAULT_PORT.to_string());
    let number: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| anyhow::anyhow!("COVE_DEMO_PORT={port} is not a port (1 to 65535)"))?;
    if let Err(error) = std::net::TcpListener::bind(("127.0.0.1", number)) {
        bail!(
            "port {number} on 127.0.0.1 is taken ({error}): is another `cargo xtask demo` \
             running? Stop it, or choose another port with COVE_DEMO_PORT"
        );
    }
    Ok(port)
}

/// Runs the demo in the foreground. Ctrl-C (or SIGTERM to xtask) is forwarded
/// to the Node process as SIGINT; it stops wrangler and workerd (they run in
/// their own process group) and exits, and xtask waits for that.
pub fn demo(env: &Env) -> Result<()> {
    let port = demo_port()?;
    let serve = paths::root()
        .join("edge-worker")
        .join("dev")
        .join("serve.mjs");
    let mut child = Step::new("demo", &env.node22)
        .args([serve.as_os_str(), port.as_ref()])
        .into_command()
        .spawn()?;
    let child_pid = child.id().to_string();
    ctrlc::set_handler(move || {
        // Node's own handler is idempotent, so a second SIGINT (the terminal
        // also signals the whole foreground group) does no harm.
        let _ = Command::new("kill").args(["-INT", &child_pid]).status();
    })?;
    let status = child.wait()?;
    if !status.success() && status.code().is_some() {
        bail!("the demo server stopped: {status}");
    }
    Ok(())
}
