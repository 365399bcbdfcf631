// The worker's JavaScript entry: instantiates the Rust module that
// `cargo xtask build` writes to build/ (wasm-bindgen --target web) and hands
// every request to its `fetch` export. Nothing else happens here.
import { initSync, fetch as handleFetch } from "./build/cove_edge.js";
import wasmModule from "./build/cove_edge_bg.wasm";

initSync({ module: wasmModule });

export default {
  fetch(request, env, ctx) {
    return handleFetch(request, env, ctx);
  },
};
