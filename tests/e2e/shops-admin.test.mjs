// Shops configured without a rebuild, under workerd: the ShopStore is seeded
// from shops.json; the admin API (ADMIN_TOKEN) and `cargo xtask shop` add and
// remove a storefront origin, which the next report from that origin sees at
// once; a refused origin's 403 says how to register it; wrong tokens, odd
// shop ids and malformed, oversized or hostile bodies get a JSON 4xx that
// echoes nothing and stores nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { launchChromium, rawRequest, startWorker } from "./support.mjs";
import { freePort, freshStateDir, workspaceRoot } from "../../edge-worker/dev/wrangler.mjs";
import { envelopeNonce } from "../load/report-load.mjs";

const MARK = "zzmark";
const ENVELOPE_BYTES = 1024;
const seed = JSON.parse(readFileSync(join(workspaceRoot, "edge-worker", "shops.json"), "utf8"));
// `cargo xtask build` builds xtask itself (it runs through `cargo run`).
const xtaskBinary = join(workspaceRoot, "target", "debug", "xtask");

let worker;

before(async () => {
  worker = await startWorker({ persistTo: freshStateDir("shops-admin"), logName: "shops-admin-test" });
});

after(async () => {
  await worker?.stop();
});

/** One raw request to the worker (or `port`), its body parsed as JSON when it is. */
async function request(method, path, { headers = {}, body, port = worker.port } = {}) {
  const answer = await rawRequest(port, method, path, { headers, body });
  let json = null;
  try {
    json = JSON.parse(answer.text);
  } catch {}
  return { ...answer, json };
}

/** An admin call with the worker's admin token unless `token` says otherwise. */
function admin(method, id, { body, token = worker.adminToken, headers = {} } = {}) {
  const path = id === undefined ? "/v1/admin/shops" : `/v1/admin/shops/${id}`;
  const auth = token === null ? {} : { authorization: `Bearer ${token}` };
  const type = body === undefined ? {} : { "content-type": "application/json" };
  return request(method, path, { headers: { ...auth, ...type, ...headers }, body });
}

/** A report envelope as a device sends it, from `origin` (if any). */
function report(origin, shop = "demo") {
  const day = Math.floor(Date.now() / 86_400_000);
  const json = JSON.stringify({ v: 1, day, nonce: envelopeNonce(day), reports: [{ metric: "segment.lifecycle", cell: 1 }] });
  const address = `10.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;
  const headers = { "content-type": "application/json", "cf-connecting-ip": address };
  if (origin) headers.origin = origin;
  return request("POST", `/v1/reports?shop=${shop}`, { headers, body: json.padEnd(ENVELOPE_BYTES, " ") });
}

function assertJsonError(result, name, status) {
  assert.ok(result.status >= 400 && result.status < 500, `${name}: status ${result.status} ${result.text.slice(0, 300)}`);
  if (status) assert.equal(result.status, status, `${name}: ${result.text.slice(0, 300)}`);
  assert.match(result.headers["content-type"] ?? "", /^application\/json/, name);
  assert.equal(typeof result.json?.code, "string", `${name}: ${result.text}`);
  assert.equal(typeof result.json?.message, "string", `${name}: ${result.text}`);
  assert.ok(!result.text.includes(MARK), `${name} echoes the input: ${result.text}`);
}

function assertRefusedOrigin(result, name) {
  assertJsonError(result, name, 403);
  assert.equal(result.json.code, "forbidden_origin");
  assert.match(result.json.message, /not registered for shop demo/);
  assert.match(result.json.message, /cargo xtask shop add-origin demo <origin>/);
  assert.equal(result.headers["access-control-allow-origin"], undefined, name);
}

async function demoShop() {
  const shop = await admin("GET", "demo");
  assert.equal(shop.status, 200, shop.text);
  return shop.json;
}

async function putDemoOrigins(origins) {
  const shop = await demoShop();
  const stored = await admin("PUT", "demo", { body: JSON.stringify({ ...shop, origins }) });
  assert.equal(stored.status, 200, stored.text);
  assert.deepEqual(stored.json.origins, origins);
}

function xtaskShop(args, token = worker.adminToken) {
  assert.ok(existsSync(xtaskBinary), `${xtaskBinary} is missing: run cargo xtask build first`);
  return spawnSync(xtaskBinary, ["shop", ...args, "--url", worker.url], {
    cwd: workspaceRoot,
    encoding: "utf8",
    env: { ...process.env, COVE_ADMIN_TOKEN: token },
    timeout: 60_000,
  });
}

test("the store starts as shops.json: the demo shop is listed with its origins", async () => {
  const listed = await admin("GET");
  assert.equal(listed.status, 200, listed.text);
  assert.equal(listed.headers["cache-control"], "no-store");
  assert.deepEqual(listed.json.shops.map((shop) => shop.id), seed.shops.map((shop) => shop.id));
  const demo = await demoShop();
  const seeded = seed.shops.find((shop) => shop.id === "demo");
  assert.deepEqual(demo.origins, seeded.origins);
  assert.equal(demo.k_anonymity, seeded.k_anonymity);
  assert.deepEqual(demo.campaigns.map((c) => c.id), seeded.campaigns.map((c) => c.id));
});

test("an origin added through the admin API reports at once; removed, it gets a 403 that says what to do", async () => {
  const origin = "https://storefront-one.example";
  const original = (await demoShop()).origins;
  assertRefusedOrigin(await report(origin), "before it is registered");

  await putDemoOrigins([...original, origin]);
  const accepted = await report(origin);
  assert.equal(accepted.status, 202, accepted.text);
  assert.equal(accepted.headers["access-control-allow-origin"], origin);
  const config = await request("GET", "/v1/config?shop=demo", { headers: { origin } });
  assert.equal(config.status, 200, config.text);

  await putDemoOrigins(original);
  assertRefusedOrigin(await report(origin), "after it is removed");
  // The shop's other origins are untouched.
  assert.equal((await report(original[0])).status, 202);
});

test("cargo xtask shop add-origin and remove-origin change a running worker", async () => {
  const origin = "https://storefront-two.example";
  assertRefusedOrigin(await report(origin), "before the command");
  const added = xtaskShop(["add-origin", "demo", `${origin}/`]);
  assert.equal(added.status, 0, `${added.stdout}\n${added.stderr}`);
  assert.match(added.stdout, /registered for shop demo/);
  assert.equal((await report(origin)).status, 202);

  const listed = xtaskShop(["list"]);
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`^demo\\t.*${origin.replaceAll(".", "\\.")}`, "m"));
  const again = xtaskShop(["add-origin", "demo", origin]);
  assert.match(again.stdout, /already registered/);

  const removed = xtaskShop(["remove-origin", "demo", origin]);
  assert.equal(removed.status, 0, removed.stderr);
  assertRefusedOrigin(await report(origin), "after remove-origin");

  const badOrigin = xtaskShop(["add-origin", "demo", `https://${MARK}.example/path`]);
  assert.notEqual(badOrigin.status, 0);
  assert.match(badOrigin.stderr, /422 invalid_shop/);
  const wrongToken = xtaskShop(["list"], "x".repeat(40));
  assert.notEqual(wrongToken.status, 0);
  assert.match(wrongToken.stderr, /401 unauthorized/);
});

test("a new shop is created, served, replaced and deleted without a restart", async () => {
  const demo = await demoShop();
  const shop = { ...demo, id: "second-shop", origins: ["https://second.example"], k_anonymity: 7 };
  assertJsonError(await request("GET", "/v1/config?shop=second-shop"), "before", 404);
  const created = await admin("PUT", "second-shop", { body: JSON.stringify(shop) });
  assert.equal(created.status, 201, created.text);
  const config = await request("GET", "/v1/config?shop=second-shop");
  assert.equal(config.status, 200, config.text);
  assert.equal(config.json.k_anonymity, 7);
  assert.equal((await report("https://second.example", "second-shop")).status, 202);
  const replaced = await admin("PUT", "second-shop", { body: JSON.stringify({ ...shop, k_anonymity: 9 }) });
  assert.equal(replaced.status, 200, replaced.text);
  assert.equal((await request("GET", "/v1/config?shop=second-shop")).json.k_anonymity, 9);

  const deleted = await admin("DELETE", "second-shop");
  assert.equal(deleted.status, 200, deleted.text);
  assertJsonError(await request("GET", "/v1/config?shop=second-shop"), "after delete", 404);
  assertJsonError(await admin("DELETE", "second-shop"), "deleted twice", 404);
  assertJsonError(await admin("GET", "second-shop"), "read after delete", 404);
});

test("without the admin token nothing is read or changed", async () => {
  const before = await admin("GET");
  const body = JSON.stringify({ ...(await demoShop()), origins: [`https://${MARK}.example`] });
  for (const [name, token] of [["no token", null], ["wrong token", "y".repeat(40)], ["dashboard token", worker.dashboardToken]]) {
    for (const [method, id, payload] of [["GET", undefined], ["GET", "demo"], ["PUT", "demo", body], ["DELETE", "demo"]]) {
      const result = await admin(method, id, { token, body: payload });
      assertJsonError(result, `${name} ${method} ${id}`, 401);
      assert.equal(result.headers["www-authenticate"], "Bearer");
    }
  }
  assert.deepEqual((await admin("GET")).json, before.json);
});

test("malformed, oversized and hostile admin bodies get a 4xx, echo nothing and store nothing", async () => {
  const before = await admin("GET");
  const demo = await demoShop();
  const variant = (change) => JSON.stringify(change(structuredClone(demo)));
  const deep = "[".repeat(100_000) + "]".repeat(100_000);
  const cases = [
    ["empty", "", 400],
    ["not JSON", `{${MARK}`, 400],
    ["null", "null", 400],
    ["an array", "[]", 400],
    ["a string", JSON.stringify(MARK), 400],
    ["nested 100k deep", deep, 413],
    ["nested 10k deep", "[".repeat(8000) + "]".repeat(8000), 400],
    ["invalid UTF-8", Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 400],
    ["unknown field", variant((s) => ({ ...s, [MARK]: true })), 400],
    ["__proto__", variant((s) => ({ ...s, ["__proto__"]: { admin: true } })), 400],
    ["duplicate key", variant((s) => s).replace('"k_anonymity":', `"k_anonymity":1,"k_anonymity":`), 400],
    ["wrong type", variant((s) => ({ ...s, k_anonymity: "50" })), 400],
    ["huge number", variant((s) => s).replace(/"k_anonymity":\d+/, '"k_anonymity":1e999'), 400],
    ["id of another shop", variant((s) => ({ ...s, id: "other" })), 400],
    ["hostile id in the body", variant((s) => ({ ...s, id: `${MARK}/../x` })), 422],
    ["origin with a path", variant((s) => ({ ...s, origins: [`https://${MARK}.example/x`] })), 422],
    ["origin *", variant((s) => ({ ...s, origins: ["*"] })), 422],
    ["origin null", variant((s) => ({ ...s, origins: ["null"] })), 422],
    ["origin javascript:", variant((s) => ({ ...s, origins: [`javascript:${MARK}`] })), 422],
    ["unknown metric", variant((s) => ({ ...s, metrics: [{ name: `${MARK}.x`, epsilon: 0.5 }] })), 422],
    ["hostile campaign id", variant((s) => ({ ...s, campaigns: [{ ...s.campaigns[0], id: `<${MARK}>` }] })), 422],
    ["k of 0", variant((s) => ({ ...s, k_anonymity: 0 })), 422],
    ["daily ε over the envelope's", variant((s) => ({ ...s, daily_epsilon: 2, max_envelope_epsilon: 1 })), 422],
    ["a bundle pointer with a path", variant((s) => ({ ...s, bundle: `../${MARK}` })), 422],
    ["a bundle pointer not published", variant((s) => ({ ...s, bundle: `${MARK}-head` })), 422],
    ["the sentiment bundle's pointer", variant((s) => ({ ...s, bundle: "sentiment" })), 422],
    ["20 kB", variant((s) => ({ ...s, origins: Array.from({ length: 800 }, (_, i) => `https://s${i}.example`) })), 413],
  ];
  for (const [name, body, status] of cases) {
    const result = await admin("PUT", "demo", { body });
    assertJsonError(result, name, status);
  }
  const plain = await admin("PUT", "demo", { body: JSON.stringify(demo), headers: { "content-type": "text/plain" } });
  assertJsonError(plain, "text/plain", 415);
  assert.deepEqual((await admin("GET")).json, before.json, "nothing was stored");
});

test("a shop id with odd characters is refused, in the path and in the query", async () => {
  const body = JSON.stringify(await demoShop());
  const ids = [
    "a%2Fb", "a.b", "a%20b", "%C3%BCber", `${MARK}%00`, "a".repeat(65), `%3Cscript%3E${MARK}`,
    `${MARK}%3F`, "a_b", "a:b", "demo%2F..%2Fx", "",
  ];
  for (const id of ids) {
    for (const [method, payload] of [["GET"], ["DELETE"], ["PUT", body]]) {
      const result = await admin(method, id, { body: payload });
      assertJsonError(result, `${method} ${id}`, 400);
    }
  }
  for (const id of ["a%2Fb", `${MARK}%00`, "a.b", "a".repeat(65)]) {
    assertJsonError(await request("GET", `/v1/config?shop=${id}`), `config ${id}`, 404);
  }
  assert.deepEqual((await admin("GET")).json.shops.map((shop) => shop.id), seed.shops.map((shop) => shop.id));
});

test("in a browser, a page on an unregistered origin warns once with the command to run; registered, it reports", async () => {
  // The storefront: a server of its own on another loopback port (so the
  // browser's private-network rules do not apply), with the snippet proxied
  // from the worker's assets; the edge's API is the worker, cross-origin, as
  // on a real shop.
  const server = http.createServer(async (req, res) => {
    if (req.url === "/shop.html") {
      res.writeHead(200, { "content-type": "text/html" });
      return res.end("<!doctype html><title>shop</title><p>shop</p>");
    }
    const upstream = await fetch(`${worker.url}${req.url}`);
    res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/octet-stream" });
    res.end(Buffer.from(await upstream.arrayBuffer()));
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  const storefront = `http://127.0.0.1:${port}`;
  const browser = await launchChromium();
  try {
    const open = async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const warnings = [];
      page.on("console", (message) => message.type() === "warning" && warnings.push(message.text()));
      await page.goto(`${storefront}/shop.html`);
      const privacy = await page.evaluate(async (api) => {
        const { Cove } = await import("/cove.mjs");
        const pointer = await (await fetch("/v1/bundles/default.json")).json();
        const cove = await Cove.start({ bundle: pointer.manifest, shop: "demo", api, slots: false });
        // The registry is fetched a task after the start.
        for (let i = 0; i < 50 && !cove.privacy().enabled; i++) await new Promise((r) => setTimeout(r, 100));
        return cove.privacy();
      }, `${worker.url}/v1`);
      await context.close();
      return { privacy, warnings };
    };

    const refused = await open();
    assert.equal(refused.privacy.enabled, false);
    const told = refused.warnings.filter((text) => text.includes("not registered"));
    assert.equal(told.length, 1, refused.warnings.join("\n"));
    assert.ok(told[0].includes(`cargo xtask shop add-origin demo ${storefront} --url ${worker.url} `), told[0]);

    const original = (await demoShop()).origins;
    await putDemoOrigins([...original, storefront]);
    try {
      const registered = await open();
      assert.equal(registered.privacy.enabled, true, registered.warnings.join("\n"));
      assert.ok(!registered.warnings.some((text) => text.includes("not registered")), registered.warnings.join("\n"));
    } finally {
      await putDemoOrigins(original);
    }
  } finally {
    await browser.close();
    server.close();
  }
});

test("without ADMIN_TOKEN the admin API is off (503, saying so) and the shops are still served", async () => {
  const off = await startWorker({ persistTo: freshStateDir("shops-admin-off"), logName: "shops-admin-off", adminToken: null });
  try {
    const result = await request("GET", "/v1/admin/shops", {
      port: off.port,
      headers: { authorization: `Bearer ${"z".repeat(40)}` },
    });
    assert.equal(result.status, 503, result.text);
    assert.equal(result.json.code, "admin_disabled");
    assert.match(result.json.message, /ADMIN_TOKEN/);
    const config = await request("GET", "/v1/config?shop=demo", { port: off.port });
    assert.equal(config.status, 200, config.text);
  } finally {
    await off.stop();
  }
});
