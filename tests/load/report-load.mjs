// Load on report ingest, bounded and on loopback only: `connections` clients
// each post valid, distinct envelopes back to back for `seconds`; a client
// starts no request after the deadline and waits for the one in flight, so
// every request's answer is known. Afterwards the aggregates must count
// exactly the envelopes answered 202 (nothing lost, nothing counted twice),
// and no request may have got a 5xx.
//
// As a module: `runReportLoad(...)` (used by tests/e2e/load.test.mjs).
// As a command: node tests/load/report-load.mjs [seconds] [connections]
import { randomBytes } from "node:crypto";
import { freshStateDir, startWorker } from "../../edge-worker/dev/wrangler.mjs";

const ENVELOPE_BYTES = 1024;

/** The number of cells of a metric: one per value (GRR), two per Hadamard row. */
export function cellCount(mechanism) {
  if (mechanism.kind === "grr") return mechanism.domain;
  let order = 1;
  while (order < mechanism.domain) order *= 2;
  return 2 * order;
}

/**
 * The shop's built-in metrics (from its registry) as `[name, cells]`, in the
 * registry's order while they fit in one day's ε, as a device's envelope would.
 * Secret-shared metrics (`prio3`, `prio3_sum`) never go in an envelope.
 */
async function builtInMetrics(url, shop) {
  const registry = await (await fetch(`${url}/v1/config?shop=${shop}`)).json();
  let spent = 0;
  const metrics = [];
  for (const metric of registry.metrics) {
    if (metric.mechanism.kind.startsWith("prio3")) continue;
    if (metric.name.startsWith("campaign.") || spent + metric.epsilon > registry.daily_epsilon + 1e-9) continue;
    spent += metric.epsilon;
    metrics.push([metric.name, cellCount(metric.mechanism)]);
  }
  return metrics;
}

/** A fresh envelope nonce for `day`: the day in 8 hex digits, then 96 random bits. */
export function envelopeNonce(day) {
  return day.toString(16).padStart(8, "0") + randomBytes(12).toString("hex");
}

function randomEnvelope(metrics) {
  const day = Math.floor(Date.now() / 86_400_000);
  const reports = metrics.map(([metric, cells]) => ({ metric, cell: randomBytes(4).readUInt32LE() % cells }));
  const json = JSON.stringify({ v: 1, day, nonce: envelopeNonce(day), reports });
  return json.padEnd(ENVELOPE_BYTES, " ");
}

/**
 * Posts `n` valid envelopes from `n` distinct client addresses, one after the
 * other: how a test brings a fresh day's store to k, where its counts start
 * being published. Fails on any answer but 202.
 */
export async function postEnvelopes(url, n, shop = "demo") {
  const metrics = await builtInMetrics(url, shop);
  for (let i = 0; i < n; i++) {
    const response = await fetch(`${url}/v1/reports?shop=${shop}`, {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": `10.9.${i >> 8}.${i & 255}` },
      body: randomEnvelope(metrics),
    });
    if (response.status !== 202) throw new Error(`envelope ${i}: ${response.status} ${await response.text()}`);
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Runs the load against a worker at `url` and reads the aggregates after it
 * (with the shop's dashboard `token`). The day's store should start empty:
 * below k its envelope count is not published, and is then taken as 0.
 * @returns {Promise<object>} the figures and the consistency check's inputs
 */
export async function runReportLoad({ url, token, seconds = 5, connections = 16, shop = "demo" }) {
  const readAggregates = async () =>
    (await fetch(`${url}/v1/aggregates?shop=${shop}`, { headers: { authorization: `Bearer ${token}` } })).json();
  const metrics = await builtInMetrics(url, shop);
  const before = await readAggregates();
  const statuses = {};
  const latencies = [];
  let networkErrors = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async (_, client) => {
      while (performance.now() < deadline) {
        const sent = performance.now();
        try {
          const response = await fetch(`${url}/v1/reports?shop=${shop}`, {
            method: "POST",
            // Each connection stands for one client address, as distinct
            // shoppers' devices would be (wrangler dev passes the header on).
            headers: { "content-type": "application/json", "cf-connecting-ip": `10.0.${client >> 8}.${client & 255}` },
            body: randomEnvelope(metrics),
          });
          await response.arrayBuffer();
          latencies.push(performance.now() - sent);
          statuses[response.status] = (statuses[response.status] ?? 0) + 1;
        } catch {
          networkErrors += 1;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const after = await readAggregates();
  latencies.sort((a, b) => a - b);
  const requests = latencies.length + networkErrors;
  const fiveHundreds = Object.entries(statuses)
    .filter(([status]) => Number(status) >= 500)
    .reduce((n, [, count]) => n + count, 0);
  return {
    seconds: Number(elapsed.toFixed(2)),
    connections,
    requests,
    requestsPerSecond: Number((requests / elapsed).toFixed(1)),
    latencyMs: {
      p50: Number(percentile(latencies, 50)?.toFixed(1)),
      p99: Number(percentile(latencies, 99)?.toFixed(1)),
      max: Number(latencies.at(-1)?.toFixed(1)),
    },
    statuses,
    networkErrors,
    accepted: statuses[202] ?? 0,
    fiveHundreds,
    envelopesCounted: after.envelopes - (before.envelopes ?? 0),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const seconds = Number(process.argv[2] ?? 20);
  const connections = Number(process.argv[3] ?? 32);
  const persistTo = freshStateDir("load");
  const worker = await startWorker({ persistTo, logName: "report-load" });
  try {
    const figures = await runReportLoad({ url: worker.url, token: worker.dashboardToken, seconds, connections });
    console.log(JSON.stringify(figures, null, 2));
    const consistent =
      figures.envelopesCounted === figures.accepted && figures.fiveHundreds === 0 && figures.networkErrors === 0;
    console.log(consistent ? "consistent: counted == accepted, no 5xx" : "INCONSISTENT");
    process.exitCode = consistent ? 0 : 1;
  } finally {
    await worker.stop();
  }
}
