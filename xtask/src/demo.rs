//! `cargo xtask demo`: serves `www/` and the `/v1` API through the edge worker
//! under workerd (wrangler dev, local persistence, 127.0.0.1 only) until Ctrl-C.

use anyhow::{bail, Result};

use crate::paths;
use crate::run::Step;
use crate::setup::Env;

/// The demo's port, unless `COVE_DEMO_PORT` says otherwise.
const DEFAULT_PORT: &str = "8787";

/// Runs the demo in the foreground. Ctrl-C reaches the Node process, which stops
/// wrangler and workerd (they run in their own process group) before exiting.
pub fn demo(env: &Env) -> Result<()> {
    let port = std::env::var("COVE_DEMO_PORT").unwrap_or_else(|_| DEFAULT_PORT.to_string());
    // The interrupt is for the Node process; xtask waits for it to finish cleaning up.
    ctrlc::set_handler(|| {})?;
    let serve = paths::root()
        .join("edge-worker")
        .join("dev")
        .join("serve.mjs");
    let mut command = Step::new("demo", &env.node22)
        .args([serve.as_os_str(), port.as_ref()])
        .into_command();
    let status = command.status()?;
    if !status.success() && status.code().is_some() {
        bail!("the demo server stopped: {status}");
    }
    Ok(())
}
