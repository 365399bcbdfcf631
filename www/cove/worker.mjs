// The snippet's Web Worker: hosts the engine off the main thread. Messages are
// `{ id, method, args }`; answers are `{ id, result }` or `{ id, error: { code, message } }`.
import { CoveCore } from "./core.mjs";
import { HOST_METHODS } from "./api.mjs";

// The lazily loaded modules' glue, as literal `import()`s so bundlers split them off.
const MODULES = {
  reporter: () => import("./reports.mjs"),
  shardFollower: () => import("./shards.mjs"),
  sentiment: () => import("../pkg/sentiment/cove_sentiment.js"),
  reporting: () => import("../pkg/reporting/cove_reporting.js"),
};

// Exactly the API's host methods (api.mjs); "start" creates the host.
const METHODS = new Set(HOST_METHODS);
let core = null;

self.onmessage = async ({ data }) => {
  const { id, method, args = [] } = data ?? {};
  try {
    let result;
    if (method === "start") {
      core = await CoveCore.create(args[0], { modules: MODULES });
      result = { modelId: core.modelId, sentimentModelId: core.sentimentModelId, storage: core.storageKind() };
    } else if (core && METHODS.has(method)) {
      result = await core[method](...args);
    } else {
      throw Object.assign(new Error(core ? `unknown method ${method}` : "Cove has not started"), { code: "invalid_call" });
    }
    self.postMessage({ id, result });
  } catch (error) {
    self.postMessage({ id, error: { code: error?.code ?? "internal", message: String(error?.message ?? error) } });
  }
};
