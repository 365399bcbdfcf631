// The cold-start page both browser harnesses serve (browser.mjs, and
// cold-start-ab.mjs for several builds side by side): a slot, the marks, and
// the snippet's one script tag. The page reports the time from the snippet's
// tag to the first rendered slot on the console, so the harness waits for a
// console message instead of polling the page (page.waitForFunction would load
// playwright's injected script into the page while the snippet starts, on the
// same main thread, and slow the start it measures).

/** The files of the page, by path: `[body, extension]`. */
export function coldStartFiles(manifestUrl) {
  const page = `<!doctype html><html><head><meta charset="utf-8"><title>cold start</title>
<script src="/bench/rendered-mark.js"></script></head><body>
<div data-cove-slot="home" data-cove-k="8"><template><article><a data-cove-href><span data-cove-field="title"></span></a>
<span data-cove-field="price"></span> <small data-cove-field="reason"></small></article></template></div>
<script src="/bench/script-tag.js"></script>
<script src="/cove.js" data-bundle="${manifestUrl}" data-country="GB"></script>
</body></html>`;
  // Marks the moment the parser reaches the snippet's tag, and the first render.
  const scriptTagMark = "window.__coveScriptTag = performance.now();";
  const renderedMark = `new MutationObserver(function (_, observer) {
  var slot = document.querySelector('[data-cove-slot="home"]');
  if (slot && slot.getAttribute("data-cove-state") === "ready" && slot.querySelector("article")) {
    observer.disconnect();
    console.debug("cove-bench cold-start " + (performance.now() - window.__coveScriptTag));
  }
}).observe(document.documentElement, { subtree: true, childList: true, attributes: true });`;
  return {
    "/bench/cold.html": [page, ".html"],
    "/bench/rendered-mark.js": [renderedMark, ".js"],
    "/bench/script-tag.js": [scriptTagMark, ".js"],
  };
}

/** Resolves with the next cold start `page` reports, in milliseconds. */
export function nextColdStart(page) {
  return page
    .waitForEvent("console", { predicate: (message) => message.text().startsWith("cove-bench cold-start "), timeout: 30_000 })
    .then((message) => Number(message.text().split(" ")[2]));
}

/**
 * Reloads `page` (a cold-start page already visited once) and resolves with
 * the cold start. A shopper's next visit is not within milliseconds of the
 * last, so the last visit's work after its first render is let finish first.
 */
export async function reloadColdStart(page) {
  await page.waitForTimeout(250);
  const next = nextColdStart(page);
  await page.reload();
  return next;
}
