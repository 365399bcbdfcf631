// The benchmark harnesses' file server on 127.0.0.1: pages the harness
// writes itself (`inline`, by path), and files from disk (`fileFor` maps a
// path to one, or to null), each with `headers` (HTTP caching, so a reload is
// a repeat visit).

import http from "node:http";
import { gzipSync } from "node:zlib";
import { existsSync, readFileSync, statSync } from "node:fs";
import { extname } from "node:path";

const TYPES = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".css": "text/css",
  ".svg": "image/svg+xml",
};

/**
 * Starts the server on a free port. `inline`: `{ path: [body, extension] }`.
 * @returns {Promise<{ server: http.Server, origin: string }>}
 */
export async function serveStatic({ inline = {}, fileFor, headers = {}, gzip = false }) {
  // With `gzip`, bodies go compressed (gzip -9, as a CDN would), so a
  // browser's transfer sizes are what a shopper downloads.
  const compressed = new Map();
  const send = (request, response, status, head, body) => {
    if (gzip && /\bgzip\b/.test(request.headers["accept-encoding"] ?? "")) {
      const key = request.url;
      let zipped = compressed.get(key);
      if (!zipped) compressed.set(key, (zipped = gzipSync(body, { level: 9 })));
      response.writeHead(status, { ...head, "content-encoding": "gzip", vary: "accept-encoding" });
      response.end(zipped);
      return;
    }
    response.writeHead(status, head);
    response.end(body);
  };
  const server = http.createServer((request, response) => {
    const { pathname } = new URL(request.url, "http://127.0.0.1");
    const written = inline[pathname];
    if (written) {
      send(request, response, 200, { ...headers, "content-type": TYPES[written[1]] }, written[0]);
      return;
    }
    const file = fileFor(pathname);
    if (!file || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404).end();
      return;
    }
    send(request, response, 200, { ...headers, "content-type": TYPES[extname(file)] ?? "application/octet-stream" }, readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}
