// Starts and stops the edge worker under workerd (`wrangler dev`, local mode,
// 127.0.0.1 only, telemetry off). One implementation, used by `cargo xtask demo`
// (through serve.mjs) and by the end-to-end tests.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { randomBytes } from "node:crypto";
import { accessSync, closeSync, constants, fstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const workspaceRoot = resolve(here, "..", "..");
const scratch = join(workspaceRoot, "target", "xtask");

/** State directories made by this process, removed when it exits cleanly. */
const madeStateDirs = [];

/**
 * Where the tests' state directories go: `COVE_STATE_ROOT`, else a folder in
 * the RAM-backed `/dev/shm` where the machine has one, else `target/xtask`.
 * The state is workerd's own SQLite files either way; in RAM its writes skip
 * the disk's journal and flushes, which on the 2-core reference machine took
 * 500 uploads through both aggregators from 13.8–14.5 s to 10.2 s and the
 * kernel's writeback (up to 3.2 s of CPU) to nothing (BENCHMARKS.md, "The
 * newcomer's loop"). The demo's state stays on disk (`wrangler-state`).
 */
function stateRoot() {
  if (process.env.COVE_STATE_ROOT) return process.env.COVE_STATE_ROOT;
  try {
    accessSync("/dev/shm", constants.W_OK);
    // A container's /dev/shm can be 64 MB; a state directory takes up to
    // ~230 MB and two test files run at once.
    const { bavail, bsize } = statfsSync("/dev/shm");
    if (bavail * bsize >= MIN_RAM_STATE_BYTES) return "/dev/shm/cove-test-state";
  } catch {
    // No /dev/shm, or not writable.
  }
  return scratch;
}

/** Free space `/dev/shm` must have before the tests' state goes there. */
const MIN_RAM_STATE_BYTES = 4 * 1024 ** 3;

/** A kept state directory older than this is removed by the next run. */
const KEPT_STATE_MAX_AGE_MS = 24 * 60 * 60 * 1000;

/** Removes the state directories failed runs kept under `root` more than a day ago. */
function removeStaleStateDirs(root) {
  let entries = [];
  try {
    entries = readdirSync(root);
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of entries) {
    if (!name.startsWith("state-")) continue;
    const path = join(root, name);
    try {
      if (now - statSync(path).mtimeMs > KEPT_STATE_MAX_AGE_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // Another run removed it first.
    }
  }
}

/**
 * A fresh, empty directory for a dev server's persisted state, under
 * `stateRoot()`. It goes when the process exits with status 0, with the
 * helper's state and the aggregators' secrets kept beside it; a failed run
 * keeps it to look at for a day. (Each was about 230 MB; kept, a few days of
 * test runs filled the disk.)
 */
export function freshStateDir(label) {
  const root = stateRoot();
  mkdirSync(root, { recursive: true });
  if (!madeStateDirs.length) removeStaleStateDirs(root);
  const dir = mkdtempSync(join(root, `state-${label}-`));
  if (!madeStateDirs.length) {
    process.once("exit", (code) => {
      if (code !== 0 || process.env.COVE_KEEP_STATE) return;
      for (const made of madeStateDirs) {
        for (const path of [made, `${made}-helper`, `${made}-aggregators.json`]) rmSync(path, { recursive: true, force: true });
      }
    });
  }
  madeStateDirs.push(dir);
  return dir;
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

/** The last lines a log file holds from byte `from` on, for an error message. */
function logTail(path, from, lines = 25) {
  try {
    const text = readFileSync(path).subarray(from).toString("utf8");
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch (error) {
    return `(could not read ${path}: ${error.message})`;
  }
}

/**
 * The dev server's variables and secrets, written to an env file only its
 * owner can read (never passed on the command line, where `ps` shows them):
 * its own public origins, a fresh dashboard token for the demo shops, a fresh
 * admin token (the admin API, `cargo xtask shop`) and a fresh rate-limit key
 * (see edge-worker/src/config.rs).
 */
function writeEnvFile(port, dashboardToken, adminToken, aggregatorSecrets) {
  const dir = join(scratch, "secrets");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `dev-${port}-${process.pid}.env`);
  const lines = [
    `PUBLIC_ORIGINS=http://127.0.0.1:${port},http://localhost:${port}`,
    // The demo shop and its large-catalogue twin (`?bundle=sharded`) share the token.
    `DASHBOARD_TOKENS=demo=${dashboardToken},demo-sharded=${dashboardToken}`,
    `RATE_LIMIT_KEY=${randomBytes(32).toString("hex")}`,
  ];
  if (adminToken) lines.push(`ADMIN_TOKEN=${adminToken}`);
  if (aggregatorSecrets) {
    lines.push(`AGGREGATOR_SECRET=${aggregatorSecrets.own}`);
    lines.push(`DAP_SHARED_SECRET=${aggregatorSecrets.shared}`);
  }
  writeFileSync(path, lines.join("\n") + "\n", { mode: 0o600 });
  return path;
}

/** A fresh dashboard token (32 URL-safe characters). */
export function newDashboardToken() {
  return randomBytes(24).toString("base64url");
}

/** How many times a `wrangler dev` that exits before it answers is started again. */
const EARLY_EXIT_RETRIES = 2;

/**
 * Starts `wrangler dev` and resolves once `/v1/health` answers.
 *
 * A wrangler that exits before it ever answered (it happens, rarely, on a
 * loaded machine while it binds its ports) is started again, up to
 * EARLY_EXIT_RETRIES times, on fresh ports unless the caller chose one; each
 * such exit is reported on stderr with the end of its log, and the last one
 * fails with that log in the error.
 * The answer carries the demo shop's dashboard token (`dashboardToken`,
 * fresh unless the caller passes one), the admin API's token (`adminToken`,
 * fresh unless the caller passes one; `adminToken: null` leaves the secret
 * out, so the admin API is off) and `kill()`, which ends workerd with
 * SIGKILL as a crash would, and `processGroup` (wrangler's and workerd's).
 * @param {{port?: number, persistTo?: string, logName?: string, vars?: Record<string,string>, dashboardToken?: string, adminToken?: string | null}} options
 * @returns {Promise<{url: string, port: number, persistTo: string, stop: () => Promise<void>, kill: () => Promise<void>, logPath: string, dashboardToken: string, adminToken: string | null, processGroup: number}>}
 */
export async function startWorker(options = {}) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await startWorkerOnce(options);
    } catch (error) {
      if (!(error instanceof EarlyExit) || attempt >= EARLY_EXIT_RETRIES) throw error;
      console.error(`${error.message}\nstarting wrangler dev again (attempt ${attempt + 2})`);
    }
  }
}

class EarlyExit extends Error {}

/**
 * Starts the two aggregators of secret-shared reports: a helper (this same
 * worker with DAP_ROLE=helper, its own storage and secret, as another party
 * would run it) and the shop's leader pointing at it. Options are
 * startWorker's, for the leader; the helper's state goes beside the leader's.
 * Resolves to the leader (with `helper` and a `stop()` that stops both).
 */
export async function startAggregators(options = {}) {
  const leaderState = options.persistTo ?? join(scratch, "wrangler-state");
  const secrets = aggregatorSecrets(leaderState);
  const helper = await startHelper(leaderState, { logName: options.logName });
  try {
    // The helper's public key is provisioned with the leader, as a DAP task's
    // aggregators are, so the leader serves it while the helper is down.
    const config = await fetch(`${helper.url}/v1/dap/hpke_config`);
    if (!config.ok) throw new Error(`the helper's hpke_config answered ${config.status}`);
    const helperConfig = Buffer.from(await config.arrayBuffer()).toString("base64url");
    const leader = await startWorker({
      ...options,
      vars: { ...(options.vars ?? {}), HELPER_URL: `${helper.url}/v1/dap/`, HELPER_HPKE_CONFIG: helperConfig },
      aggregatorSecrets: { own: secrets.leader, shared: secrets.shared },
    });
    const stopLeader = leader.stop;
    return {
      ...leader,
      helper,
      stop: async () => {
        await stopLeader();
        await helper.stop();
      },
    };
  } catch (error) {
    await helper.stop();
    throw error;
  }
}

/**
 * The helper of the leader whose state is `leaderState`, with its own state
 * beside it and the same secrets as before (so a helper started again, on
 * `port`, is the same party with the same storage).
 */
export async function startHelper(leaderState, { port, logName } = {}) {
  const secrets = aggregatorSecrets(leaderState);
  return startWorker({
    ...(port ? { port } : {}),
    persistTo: `${leaderState}-helper`,
    logName: `${logName ?? "leader"}-helper`,
    vars: { DAP_ROLE: "helper" },
    adminToken: null,
    aggregatorSecrets: { own: secrets.helper, shared: secrets.shared },
  });
}

/** The aggregators' secrets, kept beside the state they protect: a restart
 * keeps its keys, so reports stored under them still open. */
function aggregatorSecrets(leaderState) {
  const secretsPath = `${leaderState}-aggregators.json`;
  try {
    return JSON.parse(readFileSync(secretsPath, "utf8"));
  } catch {
    const secrets = {
      shared: randomBytes(32).toString("hex"),
      leader: randomBytes(32).toString("hex"),
      helper: randomBytes(32).toString("hex"),
    };
    mkdirSync(dirname(secretsPath), { recursive: true });
    writeFileSync(secretsPath, JSON.stringify(secrets), { mode: 0o600 });
    return secrets;
  }
}

async function startWorkerOnce(options) {
  const port = options.port ?? (await freePort());
  const inspectorPort = await freePort();
  const persistTo = options.persistTo ?? join(scratch, "wrangler-state");
  const logName = options.logName ?? `wrangler-${port}`;
  mkdirSync(join(scratch, "wrangler-logs"), { recursive: true });
  mkdirSync(join(scratch, "wrangler-home"), { recursive: true });
  mkdirSync(join(scratch, "tmp"), { recursive: true });
  const logPath = join(scratch, "wrangler-logs", `${logName}.log`);
  const log = openSync(logPath, "a");
  const logStart = fstatSync(log).size;
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
  const dashboardToken = options.dashboardToken ?? newDashboardToken();
  const adminToken = options.adminToken === undefined ? newDashboardToken() : options.adminToken;
  const envFile = writeEnvFile(port, dashboardToken, adminToken, options.aggregatorSecrets);
  args.push("--env-file", envFile);
  for (const [key, value] of Object.entries(options.vars ?? {})) {
    args.push("--var", `${key}:${value}`);
  }
  // Another site than target/site (a shop's own bundles beside the snippet).
  if (options.assets) args.push("--assets", options.assets);
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
  closeSync(log);
  let exited = null;
  const exitPromise = new Promise((resolveExit) => {
    child.on("exit", (code, signal) => {
      // Its secrets are of no use once it is gone.
      rmSync(envFile, { force: true });
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
  const kill = async () => {
    if (exited) return;
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      return;
    }
    await exitPromise;
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (exited) {
      throw new EarlyExit(
        `wrangler dev exited early (${JSON.stringify(exited)}); the end of ${logPath}:\n${logTail(logPath, logStart)}`,
      );
    }
    try {
      const response = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(5000) });
      if (response.ok) return { url, port, persistTo, stop, kill, logPath, dashboardToken, adminToken, processGroup: child.pid };
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  await stop();
  throw new Error(`wrangler dev did not answer on ${url} within 60 s; the end of ${logPath}:\n${logTail(logPath, logStart)}`);
}
