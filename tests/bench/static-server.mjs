// The benchmark harnesses' file server on 127.0.0.1: pages the harness
// writes itself (`inline`, by path), and files from disk (`fileFor` maps a
// path to one, or to null), each with `headers` (HTTP caching, so a reload is
// a repeat visit).

import http from "node:http";
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
export async function serveStatic({ inline = {}, fileFor, headers = {} }) {
  const server = http.createServer((request, response) => {
    const { pathname } = new URL(request.url, "http://127.0.0.1");
    const written = inline[pathname];
    if (written) {
      response.writeHead(200, { ...headers, "content-type": TYPES[written[1]] });
      response.end(written[0]);
      return;
    }
    const file = fileFor(pathname);
    if (!file || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { ...headers, "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
    response.end(readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}
