// The snippet's API is declared once, in www/cove/api.mjs: `cove.mjs` builds a
// Cove's forwarding methods from it and the Web Worker answers exactly its
// host methods. This test fails when a declaration that cannot be generated
// from it disagrees: the TypeScript types storefront developers read
// (`cove.d.mts`), the engine's host (`CoveCore`), the demo shop's Rust
// bindings (`web-demo/src`) and the privacy panel's calls. It also checks that
// what the snippet's modules use of the wasm bindings exists in the types
// wasm-bindgen generated for them (`www/pkg/*/*.d.ts`, written by
// `cargo xtask build`). No browser and no worker: it reads files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { workspaceRoot } from "../../edge-worker/dev/wrangler.mjs";

const ts = createRequire(import.meta.url)(join(workspaceRoot, "node_modules", "typescript"));
const { HOST_METHODS, PAGE_METHODS } = await import(pathToFileURL(join(workspaceRoot, "www", "cove", "api.mjs")).href);
const API = "www/cove/api.mjs";
const COVE_METHODS = [...HOST_METHODS, ...PAGE_METHODS];

const read = (path) => readFileSync(join(workspaceRoot, path), "utf8");

/** The syntax tree of a JavaScript or TypeScript file of the workspace. */
function parse(path) {
  const kind = path.endsWith(".ts") || path.endsWith(".mts") ? ts.ScriptKind.TS : ts.ScriptKind.JS;
  return ts.createSourceFile(path, read(path), ts.ScriptTarget.ES2022, true, kind);
}

/** Every node of a tree, depth first. */
function* nodes(node) {
  yield node;
  for (const child of node.getChildren()) yield* nodes(child);
}

/** A class's method names in a file, instance and static apart, and how many parameters each takes. */
function classMethods(path, className) {
  const declaration = [...nodes(parse(path))].find((node) => ts.isClassDeclaration(node) && node.name?.text === className);
  assert.ok(declaration, `${path} declares no class ${className}`);
  const instance = new Set();
  const statics = new Set();
  const parameters = new Map();
  for (const member of declaration.members) {
    if (!ts.isMethodDeclaration(member) || !member.name) continue;
    const isStatic = member.modifiers?.some((modifier) => modifier.kind === ts.SyntaxKind.StaticKeyword);
    (isStatic ? statics : instance).add(member.name.getText());
    parameters.set(member.name.getText(), member.parameters.length);
  }
  return { instance, statics, parameters };
}

/** Fails naming each method one side has and the other lacks. */
function assertSameMethods(declared, where) {
  const api = new Set(COVE_METHODS);
  const extra = [...declared].filter((name) => !api.has(name));
  const missing = COVE_METHODS.filter((name) => !declared.has(name));
  const problems = [
    ...extra.map((name) => `${where} has Cove.${name}, which ${API} does not list`),
    ...missing.map((name) => `${where} lacks Cove.${name}, which ${API} lists`),
  ];
  assert.deepEqual(problems, [], problems.join("\n"));
}

test("the API's one source lists each method once, host and page apart", () => {
  assert.ok(Object.isFrozen(HOST_METHODS) && Object.isFrozen(PAGE_METHODS), `${API}'s lists are frozen`);
  const repeated = COVE_METHODS.filter((name, index) => COVE_METHODS.indexOf(name) !== index);
  assert.deepEqual(repeated, [], `${API} lists ${repeated.join(", ")} twice`);
});

test("cove.d.mts declares exactly the API's methods", () => {
  const { instance, statics, parameters } = classMethods("www/cove.d.mts", "Cove");
  assertSameMethods(instance, "www/cove.d.mts");
  // cove.mjs forwards one argument to the host.
  const wider = HOST_METHODS.filter((name) => parameters.get(name) > 1);
  assert.deepEqual(wider, [], `www/cove.d.mts's Cove.${wider[0]} takes more than the one argument cove.mjs forwards`);
  assert.deepEqual([...statics], ["start"], "www/cove.d.mts's Cove has one static method, start");
});

test("cove.mjs's Cove has exactly the API's methods", async () => {
  const { Cove } = await import(pathToFileURL(join(workspaceRoot, "www", "cove.mjs")).href);
  const methods = Object.getOwnPropertyNames(Cove.prototype).filter(
    (name) => name !== "constructor" && typeof Cove.prototype[name] === "function",
  );
  assertSameMethods(new Set(methods), "www/cove.mjs");
  assert.equal(typeof Cove.start, "function");
});

test("the engine's host answers every host method, and the Web Worker exactly those", () => {
  const { instance } = classMethods("www/cove/core.mjs", "CoveCore");
  const unanswered = HOST_METHODS.filter((name) => !instance.has(name));
  assert.deepEqual(unanswered, [], `www/cove/core.mjs's CoveCore lacks ${unanswered.join(", ")}, which ${API} lists`);
  const worker = parse("www/cove/worker.mjs");
  const imported = [...nodes(worker)].some(
    (node) =>
      ts.isImportDeclaration(node) &&
      node.moduleSpecifier.text === "./api.mjs" &&
      node.importClause?.namedBindings?.elements?.some((element) => element.name.text === "HOST_METHODS"),
  );
  assert.ok(imported, "www/cove/worker.mjs answers the methods of ./api.mjs's HOST_METHODS, not a list of its own");
});

/**
 * The JS names of the `Cove` methods a crate's Rust binds: every
 * `#[wasm_bindgen(method…)] fn name(this: &Cove…)`, renamed by `js_name`.
 */
function rustCoveMethods(dir) {
  const found = [];
  const binding =
    /#\[wasm_bindgen\(([^\]]*\bmethod\b[^\]]*)\)\]\s*(?:(?:\/\/\/[^\n]*|#\[[^\]]*\])\s*)*(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?fn\s+(\w+)\s*\(\s*this\s*:\s*&(\w+)/g;
  for (const entry of readdirSync(join(workspaceRoot, dir), { recursive: true })) {
    if (!entry.endsWith(".rs")) continue;
    const path = join(dir, entry);
    for (const [, attributes, rustName, type] of read(path).matchAll(binding)) {
      if (type !== "Cove") continue;
      const renamed = attributes.match(/js_name\s*=\s*"?(\w+)"?/);
      found.push({ name: renamed ? renamed[1] : rustName, path });
    }
  }
  return found;
}

test("the demo shop binds only the API's methods", () => {
  const bound = rustCoveMethods("web-demo/src");
  assert.ok(bound.length > 0, "found no `#[wasm_bindgen(method)]` binding of Cove under web-demo/src");
  const api = new Set(COVE_METHODS);
  const unknown = bound.filter(({ name }) => !api.has(name)).map(({ name, path }) => `${path} binds Cove.${name}, which ${API} does not list`);
  assert.deepEqual(unknown, [], unknown.join("\n"));
});

test("the privacy panel calls only the API's methods", () => {
  const called = [...nodes(parse("www/cove/panel.mjs"))]
    .filter((node) => ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression))
    .filter((node) => node.expression.expression.getText() === "cove")
    .map((node) => node.expression.name.text);
  assert.ok(called.length > 0, "found no cove.method() call in www/cove/panel.mjs");
  const api = new Set(COVE_METHODS);
  const unknown = called.filter((name) => !api.has(name)).map((name) => `www/cove/panel.mjs calls cove.${name}, which ${API} does not list`);
  assert.deepEqual(unknown, [], unknown.join("\n"));
});

// The wasm bindings' generated types: what each module exports, and the
// members of each class it exports.
const ENGINE = "www/pkg/engine/cove_engine.d.ts";
const ENGINE_SHARDS = "www/pkg/engine-shards/cove_engine_shards.d.ts";
const SENTIMENT = "www/pkg/sentiment/cove_sentiment.d.ts";
const REPORTING = "www/pkg/reporting/cove_reporting.d.ts";

/** A generated `.d.ts`'s exports, and each exported class's members. */
function bindingTypes(path) {
  assert.ok(existsSync(join(workspaceRoot, path)), `${path} is missing: run cargo xtask build`);
  const exports = new Set();
  const classes = new Map();
  for (const statement of parse(path).statements) {
    const modifiers = statement.modifiers ?? [];
    if (!modifiers.some((modifier) => modifier.kind === ts.SyntaxKind.ExportKeyword)) continue;
    if (modifiers.some((modifier) => modifier.kind === ts.SyntaxKind.DefaultKeyword)) exports.add("default");
    if (statement.name) exports.add(statement.name.text);
    if (ts.isClassDeclaration(statement) && statement.name) {
      classes.set(statement.name.text, new Set(statement.members.filter((member) => member.name).map((member) => member.name.getText())));
    }
  }
  return { exports, classes };
}

// Where the snippet's modules hold a wasm module's glue (class null: the
// module's exports) or one of its objects (a class's members), by the
// expression they write for it.
const RECEIVERS = [
  { file: "www/cove/core.mjs", receiver: "this.engine", types: ENGINE, className: "CoveEngine" },
  { file: "www/cove/core.mjs", receiver: "core.engine", types: ENGINE, className: "CoveEngine" },
  { file: "www/cove/core.mjs", receiver: "module", types: SENTIMENT, className: null },
  { file: "www/cove/core.mjs", receiver: "this.sentimentScorer", types: SENTIMENT, className: "SentimentScorer" },
  { file: "www/cove/core.mjs", receiver: "(await this.sentimentReady())", types: SENTIMENT, className: "SentimentScorer" },
  { file: "www/cove/core.mjs", receiver: "scorer", types: SENTIMENT, className: "SentimentScorer" },
  { file: "www/cove/reports.mjs", receiver: "module", types: REPORTING, className: null },
  { file: "www/cove/reports.mjs", receiver: "engine", types: REPORTING, className: "CoveReporter" },
  { file: "www/cove/reports.mjs", receiver: "this.engine", types: REPORTING, className: "CoveReporter" },
  { file: "www/cove/reports.mjs", receiver: "this.core.engine", types: ENGINE, className: "CoveEngine" },
  // A head bundle's engine once a shard may be wanted: the storefront's
  // CoveEngine and the shard methods, taking over from the storefront's.
  { file: "www/cove/shards.mjs", receiver: "glue", types: ENGINE_SHARDS, className: null },
  { file: "www/cove/shards.mjs", receiver: "engine", types: ENGINE_SHARDS, className: "CoveEngine" },
  { file: "www/cove/shards.mjs", receiver: "core.engine", types: ENGINE, className: "CoveEngine" },
  { file: "www/cove/shards.mjs", receiver: "previous", types: ENGINE, className: "CoveEngine" },
];

/** The snippet's JavaScript modules (the entry and `cove/`). */
const snippetModules = () => ["www/cove.mjs", ...readdirSync(join(workspaceRoot, "www", "cove")).filter((name) => name.endsWith(".mjs")).map((name) => `www/cove/${name}`)];

test("what the snippet imports from the wasm bindings, they export", () => {
  const problems = [];
  let imports = 0;
  for (const file of snippetModules()) {
    for (const node of nodes(parse(file))) {
      const isImport = ts.isImportDeclaration(node);
      const isDynamic = ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword;
      if (!isImport && !isDynamic) continue;
      const specifier = isImport ? node.moduleSpecifier.text : node.arguments[0]?.text;
      if (!specifier?.includes("pkg/")) continue;
      imports += 1;
      const types = relative(workspaceRoot, join(workspaceRoot, dirname(file), specifier)).replace(/\.js$/, ".d.ts");
      if (!existsSync(join(workspaceRoot, types))) {
        problems.push(`${file} imports ${specifier}, which has no generated types (${types}); run cargo xtask build`);
        continue;
      }
      const { exports } = bindingTypes(types);
      const clause = isImport ? node.importClause : null;
      const names = [
        ...(clause?.name ? ["default"] : []),
        ...(clause?.namedBindings?.elements ?? []).map((element) => (element.propertyName ?? element.name).text),
      ];
      for (const name of names) if (!exports.has(name)) problems.push(`${file} imports ${name} from ${specifier}, which ${types} does not export`);
    }
  }
  assert.ok(imports > 0, "found no import of www/pkg/ in the snippet's modules");
  assert.deepEqual(problems, [], problems.join("\n"));
});

test("what the snippet calls on the wasm bindings' objects, their types declare", () => {
  const problems = [];
  for (const { file, receiver, types, className } of RECEIVERS) {
    const { exports, classes } = bindingTypes(types);
    const members = className ? classes.get(className) : exports;
    assert.ok(members, `${types} exports no class ${className}`);
    const used = [...nodes(parse(file))]
      .filter((node) => ts.isPropertyAccessExpression(node) && node.expression.getText() === receiver)
      .map((node) => node.name.text);
    assert.ok(used.length > 0, `${file} no longer uses ${receiver}: update this test's RECEIVERS`);
    const owner = className ?? types;
    for (const name of new Set(used)) if (!members.has(name)) problems.push(`${file} uses ${receiver}.${name}, which ${owner} in ${types} does not have`);
  }
  assert.deepEqual(problems, [], problems.join("\n"));
});
