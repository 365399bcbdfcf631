// `cargo xtask demo` runs this: serves the demo through the edge worker until
// interrupted. Usage: node serve.mjs [port]
import { startAggregators } from "./wrangler.mjs";

const port = Number(process.argv[2] ?? 8787);
// The shop's edge (the leader) and a helper aggregator beside it, as another
// party would run it: the demo's campaign and segment numbers are
// secret-shared between the two (docs/privacy.md).
const worker = await startAggregators({ port, logName: "demo" });
console.log(`\nCove demo:      ${worker.url}/`);
console.log(`Helper:         ${worker.helper.url}/v1/dap/ (the second aggregator; in production another party runs it)`);
// The dashboard reads aggregates with the demo shop's token, fresh for this
// run; the page moves it from the address's fragment (never sent to a
// server) into the tab's session storage.
console.log(`Dashboard:      ${worker.url}/dashboard/#token=${worker.dashboardToken}`);
// The same shop opened as a large catalogue (`/?bundle=sharded`) reports as
// the shop `demo-sharded`, read with the same token.
console.log(`                ${worker.url}/dashboard/?shop=demo-sharded#token=${worker.dashboardToken} (the shop at /?bundle=sharded)`);
// Shops live in the worker's storage (seeded from shops.json); the admin API
// changes them without a rebuild, with this run's admin token.
console.log(`Shops (admin):  COVE_ADMIN_TOKEN=${worker.adminToken} cargo xtask shop list --url ${worker.url}`);
console.log(`                (also: show ID, put FILE.json, add-origin ID ORIGIN, remove-origin ID ORIGIN, delete ID)`);
console.log(`Worker log:     ${worker.logPath}`);
console.log("Press Ctrl-C to stop.");
let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  await worker.stop();
  process.exit(0);
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
