// Privacy report ingest and aggregates under workerd: strict validation of
// every envelope (a table of malformed inputs), exactly-once counting with
// replay detection (also across days), CORS per shop origin, k-anonymity on
// everything published (counts included), the dashboard token, and
// aggregates that survive a SIGKILL of workerd in the middle of a load.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { startWorker } from "./support.mjs";
import { freshStateDir } from "../../edge-worker/dev/wrangler.mjs";
import { envelopeNonce } from "../load/report-load.mjs";

const ENVELOPE_BYTES = 1024;
const today = () => Math.floor(Date.now() / 86_400_000);

/** An envelope as the device sends it: JSON padded with spaces to 1024 bytes. */
export function envelope(reports, overrides = {}) {
  const day = overrides.day ?? today();
  const json = JSON.stringify({ v: 1, day, nonce: envelopeNonce(day), reports, ...overrides });
  return json.padEnd(ENVELOPE_BYTES, " ");
}

let worker;
const persistTo = freshStateDir("reports");
let lifecycleDomain;
let k;

before(async () => {
  worker = await startWorker({ persistTo, logName: "reports-test" });
  const registry = await (await fetch(`${worker.url}/v1/config?shop=demo`)).json();
  lifecycleDomain = registry.metrics.find((metric) => metric.name === "segment.lifecycle").mechanism.domain;
  k = registry.k_anonymity;
});

after(async () => {
  await worker?.stop();
});

/** A client address per call unless given: distinct devices, as in a shop. */
const address = () => `10.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;

async function post(body, { shop = "demo", type = "application/json", headers = {} } = {}) {
  const response = await fetch(`${worker.url}/v1/reports?shop=${shop}`, {
    method: "POST",
    headers: { "content-type": type, "cf-connecting-ip": address(), ...headers },
    body,
  });
  const json = await response.json();
  return { status: response.status, body: json, headers: response.headers };
}

async function aggregates(shop = "demo", day = null) {
  const response = await fetch(`${worker.url}/v1/aggregates?shop=${shop}${day === null ? "" : `&day=${day}`}`, {
    headers: { authorization: `Bearer ${worker.dashboardToken}` },
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("cache-control"), "no-store");
  return response.json();
}

const metric = (aggregate, name) => aggregate.metrics.find((m) => m.name === name);

test("below k nothing is published, not even a count; at k the counts appear, each envelope once", async () => {
  const first = await post(envelope([{ metric: "segment.lifecycle", cell: 2 }, { metric: "item.interest", cell: 77 }]), {
    headers: { "cf-ipcountry": "IS" },
  });
  assert.equal(first.status, 202, JSON.stringify(first.body));
  assert.equal(first.body.accepted, 2);
  let agg = await aggregates();
  assert.equal(agg.envelopes, null, "one envelope is not published");
  assert.equal(metric(agg, "segment.lifecycle").n_reports, null);
  assert.equal(metric(agg, "item.interest").n_reports, null);
  assert.ok(agg.campaigns.every((campaign) => campaign.n_reports === null));
  assert.deepEqual(agg.trending_by_country, [], "a country with one report is not even named");
  assert.doesNotMatch(JSON.stringify(agg), /"IS"/);

  // k − 1 more devices: the day reaches k envelopes and its count appears.
  for (let i = 1; i < k; i++) {
    const result = await post(envelope([{ metric: "segment.lifecycle", cell: 4 }]));
    assert.equal(result.status, 202, JSON.stringify(result.body));
  }
  agg = await aggregates();
  assert.equal(agg.envelopes, k);
  assert.equal(metric(agg, "segment.lifecycle").n_reports, k);
  assert.equal(metric(agg, "item.interest").n_reports, null, "item interest is still at 1 report");
});

test("a replayed envelope is refused, also when its day is changed", async () => {
  const day = today();
  const nonce = envelopeNonce(day - 1);
  const yesterday = envelope([{ metric: "segment.price_tier", cell: 0 }], { day: day - 1, nonce });
  const before = await aggregates();
  const firstTime = await post(yesterday);
  assert.equal(firstTime.status, 202, JSON.stringify(firstTime.body));
  const replay = await post(yesterday);
  assert.equal(replay.status, 409);
  assert.equal(replay.body.code, "duplicate_report");
  // The same nonce re-dated to today would land in today's store: refused.
  const redated = await post(envelope([{ metric: "segment.price_tier", cell: 0 }], { day, nonce }));
  assert.equal(redated.status, 422, JSON.stringify(redated.body));
  assert.match(redated.body.message, /nonce/);
  assert.deepEqual(await aggregates(), before, "today's store is unchanged");
});

test("malformed envelopes get a JSON 4xx, echo nothing and count nothing", async () => {
  const before = await aggregates();
  const big = "x".repeat(10_000);
  const cases = [
    ["not JSON", "{oops".padEnd(ENVELOPE_BYTES, " "), 400, "invalid_report"],
    ["too short", JSON.stringify({ v: 1 }), 400, "invalid_report"],
    ["too long for an envelope", big, 400, "invalid_report"],
    ["over the upload limit", "x".repeat(256 * 1024 + 1), 413, "payload_too_large"],
    ["wrong version", envelope([{ metric: "segment.lifecycle", cell: 1 }], { v: 2 }), 400, "invalid_report"],
    ["unknown field", envelope([{ metric: "segment.lifecycle", cell: 1 }], { zzmarker: "alice" }), 400, "invalid_report"],
    ["wrong type", envelope([{ metric: "segment.lifecycle", cell: "1" }]), 400, "invalid_report"],
    ["unknown metric", envelope([{ metric: "zzmarker.colour", cell: 1 }]), 422, "invalid_report"],
    ["cell out of range", envelope([{ metric: "segment.lifecycle", cell: lifecycleDomain }]), 422, "invalid_report"],
    ["negative cell", envelope([{ metric: "segment.lifecycle", cell: -1 }]), 400, "invalid_report"],
    ["huge cell", envelope([{ metric: "segment.lifecycle", cell: 1e300 }]), 400, "invalid_report"],
    ["metric twice", envelope([{ metric: "segment.lifecycle", cell: 1 }, { metric: "segment.lifecycle", cell: 2 }]), 422, "invalid_report"],
    ["no reports", envelope([]), 422, "invalid_report"],
    ["future day", envelope([{ metric: "segment.lifecycle", cell: 1 }], { day: today() + 1 }), 422, "invalid_report"],
    ["stale day", envelope([{ metric: "segment.lifecycle", cell: 1 }], { day: today() - 3 }), 422, "invalid_report"],
    ["bad nonce", envelope([{ metric: "segment.lifecycle", cell: 1 }], { nonce: "XYZ" }), 422, "invalid_report"],
    ["random nonce", envelope([{ metric: "segment.lifecycle", cell: 1 }], { nonce: randomBytes(16).toString("hex") }), 422, "invalid_report"],
  ];
  for (const [name, body, status, code] of cases) {
    const result = await post(body);
    assert.equal(result.status, status, `${name}: ${JSON.stringify(result.body)}`);
    assert.equal(result.body.code, code, name);
    assert.equal(typeof result.body.message, "string", name);
    assert.doesNotMatch(result.body.message, /zzmarker/, `${name} echoes the input`);
  }
  const wrongType = await post(envelope([{ metric: "segment.lifecycle", cell: 1 }]), { type: "text/plain" });
  assert.equal(wrongType.status, 415);
  const prefixType = await post(envelope([{ metric: "segment.lifecycle", cell: 1 }]), { type: "application/jsonx" });
  assert.equal(prefixType.status, 415);
  const unknownShop = await post(envelope([{ metric: "segment.lifecycle", cell: 1 }]), { shop: "zzmarker" });
  assert.equal(unknownShop.status, 404);
  assert.equal(unknownShop.body.code, "not_found");
  assert.doesNotMatch(unknownShop.body.message, /zzmarker/);
  const twice = await post(envelope([{ metric: "segment.lifecycle", cell: 1 }]), { shop: "demo&shop=other" });
  assert.equal(twice.status, 400);
  const wrongMethod = await fetch(`${worker.url}/v1/reports?shop=demo`, { method: "PUT" });
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get("allow"), "POST");
  assert.equal((await wrongMethod.json()).code, "method_not_allowed");
  assert.deepEqual(await aggregates(), before);
});

test("CORS: a listed shop origin may report, another origin may not", async () => {
  const listed = "http://localhost:8787";
  const ok = await post(envelope([{ metric: "segment.price_tier", cell: 0 }]), { headers: { origin: listed } });
  assert.equal(ok.status, 202);
  assert.equal(ok.headers.get("access-control-allow-origin"), listed);
  assert.equal(ok.headers.get("x-content-type-options"), "nosniff");
  const evil = await post(envelope([{ metric: "segment.price_tier", cell: 0 }]), {
    headers: { origin: "https://evil.example" },
  });
  assert.equal(evil.status, 403);
  assert.equal(evil.body.code, "forbidden_origin");
  assert.doesNotMatch(evil.body.message, /evil/);
  const preflight = await fetch(`${worker.url}/v1/reports?shop=demo`, {
    method: "OPTIONS",
    headers: { origin: listed, "access-control-request-method": "POST" },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), listed);
});

test("aggregates need the shop's token; a read of any day creates no storage", async () => {
  const url = `${worker.url}/v1/aggregates?shop=demo`;
  for (const headers of [{}, { authorization: "Bearer wrong-token-wrong-token-wrong-token" }, { origin: worker.url }]) {
    const response = await fetch(url, { headers });
    assert.equal(response.status, 401, JSON.stringify(headers));
    assert.equal((await response.json()).code, "unauthorized");
  }
  const files = () => countFiles(`${persistTo}/v3/do`);
  const before = files();
  for (let back = 1; back <= 30; back++) {
    const response = await fetch(`${url}&day=${today() - back}`, {
      headers: { authorization: `Bearer ${worker.dashboardToken}` },
    });
    assert.equal(response.status, 200);
    const body = await response.json();
    assert.equal(body.envelopes, null);
  }
  assert.equal(files(), before, "30 reads of empty days created files");
  const tooOld = await fetch(`${url}&day=${today() - 400}`, { headers: { authorization: `Bearer ${worker.dashboardToken}` } });
  assert.equal(tooOld.status, 400);
});

function countFiles(dir) {
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    n += entry.isDirectory() ? countFiles(join(dir, entry.name)) : 1;
  }
  return n;
}

/** The Durable Object databases under the worker's state folder. */
function databases(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".sqlite"))
    .map((entry) => join(entry.parentPath, entry.name));
}

const tableSql = (db, name) => db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get(name)?.sql ?? "";

test("a day's store written before the country became a column keeps every count, under the country", async () => {
  // Yesterday's store (the replay test's one envelope there has no country).
  const day = today() - 1;
  for (let i = 0; i < k; i++) {
    const result = await post(
      envelope([{ metric: "segment.lifecycle", cell: 3 }, { metric: "item.interest", cell: 5 }], { day, nonce: envelopeNonce(day) }),
      { headers: { "cf-ipcountry": "NO" } },
    );
    assert.equal(result.status, 202, JSON.stringify(result.body));
  }
  const before = await aggregates("demo", day);
  assert.deepEqual(before.trending_by_country.map((c) => [c.country, c.n_reports]), [["NO", k]]);
  assert.equal(metric(before, "item.interest").n_reports, k);

  // Rewrite that store as the edge before this change kept it: the country
  // as a suffix of the metric's name (`item.interest@NO`).
  await worker.stop();
  const stores = databases(`${persistTo}/v3/do`).filter((file) => {
    const db = new DatabaseSync(file, { readOnly: true });
    try {
      return tableSql(db, "tallies").includes("country") && db.prepare("SELECT COUNT(*) AS n FROM tallies WHERE country = 'NO'").get().n > 0;
    } finally {
      db.close();
    }
  });
  assert.equal(stores.length, 1, `the Norwegian day's store: ${stores}`);
  const db = new DatabaseSync(stores[0]);
  db.exec(`BEGIN;
    CREATE TABLE old_tallies (metric TEXT NOT NULL, cell INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (metric, cell));
    INSERT INTO old_tallies SELECT metric || CASE WHEN country = '' THEN '' ELSE '@' || country END, cell, count FROM tallies;
    CREATE TABLE old_totals (metric TEXT PRIMARY KEY, n INTEGER NOT NULL);
    INSERT INTO old_totals SELECT metric || CASE WHEN country = '' THEN '' ELSE '@' || country END, n FROM totals;
    DROP TABLE tallies; DROP TABLE totals;
    ALTER TABLE old_tallies RENAME TO tallies; ALTER TABLE old_totals RENAME TO totals;
    COMMIT;`);
  assert.equal(db.prepare("SELECT n FROM totals WHERE metric = 'item.interest@NO'").get().n, k);
  db.close();

  worker = await startWorker({ persistTo, logName: "reports-test-old-store" });
  assert.deepEqual(await aggregates("demo", day), before, "the old store reads as it did");
  // And another envelope lands beside the moved counters.
  const more = await post(
    envelope([{ metric: "item.interest", cell: 5 }], { day, nonce: envelopeNonce(day) }),
    { headers: { "cf-ipcountry": "NO" } },
  );
  assert.equal(more.status, 202, JSON.stringify(more.body));
  const after = await aggregates("demo", day);
  assert.deepEqual(after.trending_by_country.map((c) => [c.country, c.n_reports]), [["NO", k + 1]]);
  await worker.stop();
  const moved = new DatabaseSync(stores[0], { readOnly: true });
  assert.match(tableSql(moved, "tallies"), /country/);
  assert.equal(moved.prepare("SELECT COUNT(*) AS n FROM totals WHERE metric LIKE '%@%'").get().n, 0);
  assert.equal(moved.prepare("SELECT n FROM totals WHERE metric = 'item.interest' AND country = 'NO'").get().n, k + 1);
  moved.close();
  worker = await startWorker({ persistTo, logName: "reports-test-after-move" });
});

test("after SIGKILL of workerd mid-load and a restart, every acknowledged envelope is counted once", async () => {
  const before = (await aggregates()).envelopes;
  let acknowledged = 0;
  let inFlight = 0;
  let maxInFlightAtKill = 0;
  let stopped = false;
  const clients = Array.from({ length: 8 }, async () => {
    while (!stopped) {
      inFlight += 1;
      try {
        const result = await post(envelope([{ metric: "segment.lifecycle", cell: 1 }]));
        if (result.status === 202) acknowledged += 1;
      } catch {
        // The connection died with workerd: this envelope's fate is unknown.
      } finally {
        inFlight -= 1;
      }
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 2500));
  maxInFlightAtKill = inFlight;
  await worker.kill();
  stopped = true;
  await Promise.all(clients);
  worker = await startWorker({ persistTo, logName: "reports-test-restarted" });
  const after = (await aggregates()).envelopes;
  const counted = after - before;
  assert.ok(acknowledged > 0);
  assert.ok(
    counted >= acknowledged && counted <= acknowledged + maxInFlightAtKill,
    `counted ${counted}, acknowledged ${acknowledged}, in flight at the kill ${maxInFlightAtKill}`,
  );
});
