// Starts the demo storefront, a Rust module (web-demo/) compiled to wasm.
import init from "/pkg/web-demo/cove_web_demo.js";

init().catch((error) => {
  const root = document.getElementById("cove-demo");
  root.dataset.state = "error";
  root.textContent = `The demo could not start: ${error}`;
  console.error(error);
});
