// The worker's JavaScript entry: instantiates the Rust module that
// `cargo xtask build` writes to build/ (wasm-bindgen --target web), hands every
// request to its `fetch` export, and exports the Durable Object classes.
import { initSync, fetch as handleFetch, AggregateStore, DapStore, DayIndex, ShopStore } from "./build/cove_edge.js";
import wasmModule from "./build/cove_edge_bg.wasm";

initSync({ module: wasmModule });

export { AggregateStore, DapStore, DayIndex, ShopStore };

export default {
  fetch(request, env, ctx) {
    return handleFetch(request, env, ctx);
  },
};
