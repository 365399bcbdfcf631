// A short, bounded load on report ingest under workerd (loopback only): the
// aggregates must count exactly the accepted envelopes, with no 5xx. The
// longer run whose figures go to BENCHMARKS.md is tests/load/report-load.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { freshStateDir, startWorker } from "../../edge-worker/dev/wrangler.mjs";
import { runReportLoad } from "../load/report-load.mjs";

test("concurrent report ingest loses nothing and counts nothing twice", async () => {
  const persistTo = freshStateDir("load");
  const worker = await startWorker({ persistTo, logName: "load-test" });
  try {
    const figures = await runReportLoad({ url: worker.url, token: worker.dashboardToken, seconds: 4, connections: 16 });
    console.log(JSON.stringify(figures));
    assert.equal(figures.fiveHundreds, 0);
    assert.equal(figures.networkErrors, 0);
    assert.ok(figures.accepted > 0);
    assert.equal(figures.envelopesCounted, figures.accepted);
  } finally {
    await worker.stop();
  }
});
