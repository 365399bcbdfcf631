// `cargo xtask demo` runs this: serves the demo through the edge worker until
// interrupted. Usage: node serve.mjs [port]
import { startWorker } from "./wrangler.mjs";

const port = Number(process.argv[2] ?? 8787);
const worker = await startWorker({ port, logName: "demo" });
console.log(`\nCove demo:      ${worker.url}/`);
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
