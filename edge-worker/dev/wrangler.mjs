// Starts and stops the edge worker under workerd (`wrangler dev`, local mode,
// 127.0.0.1 only, telemetry off). One implementation, used by `cargo xtask demo`
// (through serve.mjs) and by the end-to-end tests.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { mkdirSync, mkdtempSync, openSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const workspaceRoot = resolve(here, "..", "..");
const scratch = join(workspaceRoot, "target", "xtask");

/** A fresh, empty directory for a dev server's persisted state. */
export function freshStateDir(label) {
  mkdirSync(scratch, { recursive: true });
  return mkdtempSync(join(scratch, `state-${label}-`));
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts `wrangler dev` and resolves once `/v1/health` answers.
 * @param {{port?: number, persistTo?: string, logName?: string, vars?: Record<string,string>}} options
 * @returns {Promise<{url: string, port: number, persistTo: string, stop: () => Promise<void>}>}
 */
export async function startWorker(options = {}) {
  const port = options.port ?? (await freePort());
  const inspectorPort = await freePort();
  const persistTo = options.persistTo ?? join(scratch, "wrangler-state");
  const logName = options.logName ?? `wrangler-${port}`;
  mkdirSync(join(scratch, "wrangler-logs"), { recursive: true });
  mkdirSync(join(scratch, "wrangler-home"), { recursive: true });
  mkdirSync(join(scratch, "tmp"), { recursive: true });
  const logPath = join(scratch, "wrangler-logs", `${logName}.log`);
  const log = openSync(logPath, "a");
  const args = [
    join(workspaceRoot, "node_modules", "wrangler", "bin", "wrangler.js"),
    "dev",
    "--config", join(workspaceRoot, "edge-worker", "wrangler.toml"),
    "--local",
    "--ip", "127.0.0.1",
    "--port", String(port),
    "--inspector-port", String(inspectorPort),
    "--inspector-ip", "127.0.0.1",
    "--persist-to", persistTo,
    "--show-interactive-dev-session=false",
    "--log-level", "info",
  ];
  for (const [key, value] of Object.entries(options.vars ?? {})) {
    args.push("--var", `${key}:${value}`);
  }
  const child = spawn(process.execPath, args, {
    cwd: join(workspaceRoot, "edge-worker"),
    detached: true,
    stdio: ["ignore", log, log],
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      WRANGLER_SEND_ERROR_REPORTS: "false",
      DO_NOT_TRACK: "1",
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      XDG_CONFIG_HOME: join(scratch, "wrangler-home"),
      WRANGLER_LOG_PATH: join(scratch, "wrangler-logs"),
      TMPDIR: join(scratch, "tmp"),
    },
  });
  let exited = null;
  const exitPromise = new Promise((resolveExit) => {
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      resolveExit(exited);
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (exited) return;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }, 5000);
    await exitPromise;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (exited) {
      throw new Error(`wrangler dev exited early (${JSON.stringify(exited)}); see ${logPath}`);
    }
    try {
      const response = await fetch(`${url}/v1/health`);
      if (response.ok) return { url, port, persistTo, stop, logPath };
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  await stop();
  throw new Error(`wrangler dev did not answer on ${url} within 60 s; see ${logPath}`);
}
