// `cargo xtask demo` runs this: serves the demo through the edge worker until
// interrupted. Usage: node serve.mjs [port]
import { startWorker } from "./wrangler.mjs";

const port = Number(process.argv[2] ?? 8787);
const worker = await startWorker({ port, logName: "demo" });
console.log(`\nCove demo:      ${worker.url}/`);
// The dashboard reads aggregates with the demo shop's token, fresh for this
// run; the page moves it from the address's fragment (never sent to a
// server) into the tab's session storage.
console.log(`Dashboard:      ${worker.url}/dashboard/#token=${worker.dashboardToken}`);
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
