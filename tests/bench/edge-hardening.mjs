// The edge worker under workerd (`wrangler dev`, loopback only), three
// figures for BENCHMARKS.md, each in one run:
//
// 1. Memory under hostile bodies: workerd's resident set (VmRSS of the
//    workerd process, sampled every 20 ms) while 4 clients each stream
//    100 MB of chunked body with no length to /v1/reports, against the same
//    process idle just before; peak minus idle is the figure (goal < 64 MB).
// 2. /v1/recommend on the default bundle: each request's wall time from a
//    sequential loopback client (an upper bound of its CPU time), p50 / p99,
//    and workerd's CPU time per request over the whole run (utime + stime of
//    the process from /proc, divided by the requests), with 0–64-item
//    profiles drawn from the catalogue; the same loop on /v1/health beside
//    it is what any request costs workerd under wrangler dev.
// 3. Report ingest: envelopes/s under 16 concurrent clients for 10 s, and
//    whether the aggregates counted exactly the acknowledged envelopes.
//
// Run: node tests/bench/edge-hardening.mjs   (after cargo xtask build)
import { execSync } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import { freshStateDir, startWorker } from "../../edge-worker/dev/wrangler.mjs";
import { runReportLoad } from "../load/report-load.mjs";

const MB = 1024 * 1024;
const CLK_TCK = 100;

function workerdPid(processGroup) {
  const lines = execSync(`ps -o pid=,comm= -g ${processGroup}`).toString().trim().split("\n");
  const line = lines.find((l) => l.includes("workerd"));
  if (!line) throw new Error(`no workerd in process group ${processGroup}: ${lines.join("; ")}`);
  return Number(line.trim().split(/\s+/)[0]);
}

const rssBytes = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]) * 1024;
const cpuTicks = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(fields[11]) + Number(fields[12]);
};

/** Streams `total` bytes, chunked, until the answer arrives; resolves with its status. */
function streamBody(port, total) {
  return new Promise((resolve) => {
    const req = http.request({
      host: "127.0.0.1", port, method: "POST", path: "/v1/reports?shop=demo",
      headers: { "content-type": "application/json", "cf-connecting-ip": "10.7.7.7" },
    });
    let answered = false;
    let sent = 0;
    req.on("response", (res) => { answered = true; res.resume(); res.on("end", () => resolve({ status: res.statusCode, sent })); });
    req.on("error", () => resolve({ status: "error", sent }));
    const chunk = Buffer.alloc(MB, 0x20);
    const pump = () => {
      while (!answered && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return req.once("drain", pump);
      }
      req.end();
    };
    pump();
  });
}

async function memory(worker) {
  const pid = workerdPid(worker.processGroup);
  await new Promise((r) => setTimeout(r, 1000));
  let idle = 0;
  for (let i = 0; i < 10; i++) { idle = Math.max(idle, rssBytes(pid)); await new Promise((r) => setTimeout(r, 20)); }
  let peak = idle;
  const sampler = setInterval(() => { try { peak = Math.max(peak, rssBytes(pid)); } catch {} }, 20);
  const results = await Promise.all(Array.from({ length: 4 }, () => streamBody(worker.port, 100 * MB)));
  await new Promise((r) => setTimeout(r, 500));
  clearInterval(sampler);
  return {
    idleMB: +(idle / MB).toFixed(1),
    peakMB: +(peak / MB).toFixed(1),
    aboveIdleMB: +((peak - idle) / MB).toFixed(1),
    statuses: results.map((r) => r.status),
    bytesSentBeforeAnswerMB: results.map((r) => +(r.sent / MB).toFixed(1)),
  };
}

/** The same loop on `GET /v1/health`: what any request costs workerd here. */
async function healthCpu(worker, n = 2000) {
  const pid = workerdPid(worker.processGroup);
  for (let i = 0; i < 200; i++) await (await fetch(`${worker.url}/v1/health`)).arrayBuffer();
  const walls = [];
  const ticks0 = cpuTicks(pid);
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    await (await fetch(`${worker.url}/v1/health`)).arrayBuffer();
    walls.push(performance.now() - started);
  }
  const cpuMs = ((cpuTicks(pid) - ticks0) / CLK_TCK) * 1000;
  walls.sort((a, b) => a - b);
  const at = (q) => +walls[Math.min(walls.length - 1, Math.floor(q * walls.length))].toFixed(3);
  return { requests: n, wallMs: { p50: at(0.5), p99: at(0.99) }, workerdCpuMsPerRequest: +(cpuMs / n).toFixed(3) };
}

async function recommendCpu(worker, n = 2000) {
  const pid = workerdPid(worker.processGroup);
  const pointer = await (await fetch(`${worker.url}/v1/bundles/default.json`)).json();
  const items = await (await fetch(`${worker.url}${pointer.catalogue}`)).json();
  let state = 0x2545f491;
  const next = () => { state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0; return state; };
  const bodies = Array.from({ length: n }, () => {
    const count = next() % 65;
    const chosen = new Map();
    while (chosen.size < count) { const item = items[next() % items.length]; chosen.set(item.id, 1 + (next() % 8)); }
    return JSON.stringify({ k: 8, country: "GB", items: [...chosen].map(([id, weight]) => ({ id, weight })) });
  });
  const post = (body) => fetch(`${worker.url}/v1/recommend?shop=demo`, { method: "POST", headers: { "content-type": "application/json" }, body });
  for (const body of bodies.slice(0, 200)) await (await post(body)).arrayBuffer(); // warm the isolate and the JIT
  const walls = [];
  const ticks0 = cpuTicks(pid);
  for (const body of bodies) {
    const started = performance.now();
    const response = await post(body);
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`recommend answered ${response.status}`);
    walls.push(performance.now() - started);
  }
  const cpuMs = ((cpuTicks(pid) - ticks0) / CLK_TCK) * 1000;
  walls.sort((a, b) => a - b);
  const at = (q) => +walls[Math.min(walls.length - 1, Math.floor(q * walls.length))].toFixed(3);
  return { requests: n, wallMs: { p50: at(0.5), p99: at(0.99), max: at(1) }, workerdCpuMsPerRequest: +(cpuMs / n).toFixed(3), model: pointer.model_id };
}

const worker = await startWorker({ persistTo: freshStateDir("edge-bench"), logName: "edge-bench" });
try {
  const figures = {
    date: new Date().toISOString().slice(0, 10),
    commit: execSync("git rev-parse --short HEAD").toString().trim(),
    memoryUnder4x100MB: await memory(worker),
    healthBaseline: await healthCpu(worker),
    recommend: await recommendCpu(worker),
    reportIngest: await runReportLoad({ url: worker.url, token: worker.dashboardToken, seconds: 10, connections: 16 }),
  };
  console.log(JSON.stringify(figures, null, 2));
} finally {
  await worker.stop();
}
