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
