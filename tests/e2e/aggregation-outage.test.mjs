// A helper aggregator that is down: the leader takes the shoppers' uploads
// anyway, keeps every report, says the day waits for the helper, and once the
// helper is back (the same party, same storage and keys, on the same port)
// releases the day with every report counted exactly once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { freshStateDir, startAggregators, startHelper, workspaceRoot } from "../../edge-worker/dev/wrangler.mjs";

const DEVICES = 400;
const SEED = 20261204;
const simulator = join(workspaceRoot, "target", "debug", "cove-simulate");

let state;
let leader;
let helper;
let truth;

async function readAggregates(day) {
  const read = () => fetch(`${leader.url}/v1/aggregates?shop=demo&day=${day}`, {
    headers: { authorization: `Bearer ${leader.dashboardToken}` },
  });
  // A keep-alive socket from before the simulator's run may have been closed
  // by the local proxy meanwhile ("other side closed", before the worker sees
  // the request): such a read is made once more.
  const response = await read().catch(read);
  assert.equal(response.status, 200);
  return response.json();
}

const lifecycle = (aggregates) => aggregates.metrics.find((m) => m.name === "segment.lifecycle");

before(async () => {
  state = freshStateDir("aggregation-outage");
  leader = await startAggregators({ persistTo: state, logName: "aggregation-outage-test" });
  helper = leader.helper;
});

after(async () => {
  await leader?.stop();
  await helper?.stop();
});

test("with the helper down, uploads are kept and the day waits for it", async () => {
  await helper.stop();
  const truthPath = join(state, "truth.json");
  assert.ok(existsSync(simulator), `${simulator} is missing: run cargo xtask build first`);
  const run = spawnSync(
    simulator,
    ["--url", leader.url, "--devices", String(DEVICES), "--seed", String(SEED), "--truth", truthPath],
    { cwd: workspaceRoot, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 600_000 },
  );
  assert.equal(run.status, 0, `simulate failed:\n${run.stdout}\n${run.stderr}`);
  truth = JSON.parse(readFileSync(truthPath, "utf8"));
  const waiting = await readAggregates(truth.day);
  assert.equal(waiting.aggregation, "secret_shared");
  const release = lifecycle(waiting).release;
  assert.equal(release.status, "not_yet", JSON.stringify(release));
  assert.match(release.reason, /wait for the helper/);
  assert.equal(lifecycle(waiting).published, false);
});

test("once the helper is back, the day is released with every report counted once", async () => {
  helper = await startHelper(state, { port: helper.port, logName: "aggregation-outage-test" });
  const released = await readAggregates(truth.day);
  const metric = lifecycle(released);
  assert.equal(metric.release.status, "released", JSON.stringify(metric.release));
  // Every device reports its lifecycle segment: the aggregators' exact count
  // is the number of devices, none lost and none added twice.
  assert.equal(metric.n_reports, DEVICES);
  const again = await readAggregates(truth.day);
  assert.deepEqual(again.metrics, released.metrics, "a second collection answers the same release");
});
