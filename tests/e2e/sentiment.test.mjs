// Native vs Chromium parity of review sentiment on 1,000 held-out reviews per
// variant: `cove-train sentiment-score` (the engine compiled natively) scores
// the first 1,000 reviews of the trainer's held-out split, read from the data
// folder (COVE_DATA_DIR, else the committed data/ folder), and the snippet's `cove.sentiment()` (the engine compiled to
// wasm, on the page and in a Web Worker) scores the same texts in Chromium.
// Classes must be identical; scores may differ by at most 1e-9 (both builds
// sum in the same order; only `exp` may differ in the last bits).
// Bad inputs get typed errors.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { startWorker, launchChromium, builtTrainer } from "./support.mjs";
import { freshStateDir, workspaceRoot } from "../../edge-worker/dev/wrangler.mjs";

const TOLERANCE = 1e-9;
const REVIEWS = join(
  process.env.COVE_DATA_DIR ?? join(workspaceRoot, "data"),
  "clothing-reviews",
  "womens_clothing_ecommerce_reviews.csv.gz",
);
const haveData = existsSync(REVIEWS);
let worker;
let browser;
let pointers;
let defaultPointer;

before(async () => {
  if (!haveData) return;
  worker = await startWorker({ persistTo: freshStateDir("sentiment"), logName: "sentiment-test" });
  browser = await launchChromium();
  pointers = await (await fetch(`${worker.url}/v1/bundles/sentiment.json`)).json();
  defaultPointer = await (await fetch(`${worker.url}/v1/bundles/default.json`)).json();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

function native(variant) {
  const binary = builtTrainer();
  assert.ok(existsSync(binary), `${binary} is built by cargo xtask build`);
  const out = execFileSync(
    binary,
    ["sentiment-score", "--bundle", join(workspaceRoot, "www", "v1", "bundles"), "--variant", variant, "--reviews", REVIEWS, "--limit", "1000"],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  return JSON.parse(out.toString("utf8"));
}

async function inBrowser(page, options, texts) {
  return page.evaluate(
    async ({ options, texts }) => {
      const { Cove } = await import("/cove.mjs");
      const cove = await Cove.start({ ...options, consent: "required", slots: false });
      const results = [];
      for (const text of texts) results.push(await cove.sentiment(text));
      return { classes: await cove.sentimentClasses(), results };
    },
    { options, texts },
  );
}

for (const [variant, useWorker] of [["two_class", false], ["three_class", true]]) {
  test(`${variant}: 1,000 held-out reviews get the same class natively and in Chromium (worker: ${useWorker})`, { skip: !haveData && `${REVIEWS} is absent` }, async (t) => {
    const scored = native(variant);
    assert.equal(scored.length, 1000);
    const page = await browser.newPage();
    await page.goto(`${worker.url}/favicon.svg`);
    const options = { bundle: defaultPointer.manifest, sentiment: pointers[variant].manifest, worker: useWorker };
    const answer = await inBrowser(page, options, scored.map((review) => review.text));
    assert.deepEqual(answer.classes, variant === "two_class" ? ["negative", "positive"] : ["negative", "neutral", "positive"]);
    let largest = 0;
    scored.forEach((review, i) => {
      const got = answer.results[i];
      assert.equal(got.class, review.sentiment.class, `row ${review.row_id}: ${review.text.slice(0, 80)}`);
      assert.equal(got.n_tokens, review.sentiment.n_tokens);
      largest = Math.max(largest, Math.abs(got.score - review.sentiment.score));
    });
    assert.ok(largest <= TOLERANCE, `largest score difference ${largest}`);
    t.diagnostic(`largest score difference native vs Chromium: ${largest}`);
    const counts = {};
    for (const review of scored) counts[review.sentiment.class] = (counts[review.sentiment.class] ?? 0) + 1;
    // Real reviews: every class occurs, so the comparison covers each.
    for (const label of answer.classes) assert.ok(counts[label] > 0, `${label}: ${JSON.stringify(counts)}`);
    await page.close();
  });
}

test("bad and unusual texts get defined results or typed errors in Chromium", { skip: !haveData && `${REVIEWS} is absent` }, async () => {
  const page = await browser.newPage();
  await page.goto(`${worker.url}/favicon.svg`);
  const outcome = await page.evaluate(
    async ({ bundle, sentiment }) => {
      const { Cove } = await import("/cove.mjs");
      const code = (promise) => promise.then(() => "ok", (error) => error.code);
      const cove = await Cove.start({ bundle, sentiment, consent: "required", slots: false });
      const huge = await cove.sentiment("This dress is lovely and fits well. ".repeat(50_000));
      return {
        empty: await code(cove.sentiment("")),
        spaces: await code(cove.sentiment(" \n\t\u200b")),
        number: await code(cove.sentiment(42)),
        missing: await code(cove.sentiment()),
        emoji: (await cove.sentiment("😍😍😍")).class,
        otherScript: (await cove.sentiment("很好看，质量也好")).class,
        hugeTruncated: huge.truncated,
        hugeClass: huge.class,
        loneSurrogate: (await cove.sentiment("bad \ud800 fabric")).n_tokens,
      };
    },
    { bundle: defaultPointer.manifest, sentiment: pointers.three_class.manifest },
  );
  // One Cove per page: the one without a sentiment bundle gets a page of its own.
  const other = await browser.newPage();
  await other.goto(`${worker.url}/favicon.svg`);
  Object.assign(
    outcome,
    await other.evaluate(async (bundle) => {
      const { Cove } = await import("/cove.mjs");
      const without = await Cove.start({ bundle, consent: "required", slots: false });
      return {
        noModel: await without.sentiment("love it").then(() => "ok", (error) => error.code),
        noClasses: await without.sentimentClasses(),
      };
    }, defaultPointer.manifest),
  );
  await other.close();
  assert.deepEqual(
    { ...outcome, emoji: typeof outcome.emoji, otherScript: typeof outcome.otherScript },
    {
      empty: "empty_text",
      spaces: "empty_text",
      number: "invalid_text",
      missing: "invalid_text",
      noModel: "no_sentiment_model",
      noClasses: [],
      emoji: "string",
      otherScript: "string",
      hugeTruncated: true,
      hugeClass: "positive",
      loneSurrogate: 3,
    },
  );
  // A main bundle given as the sentiment bundle is refused with a typed error
  // when sentiment is asked for (it loads after the start, which it never
  // holds up: the rest of Cove works).
  const wrongPage = await browser.newPage();
  await wrongPage.goto(`${worker.url}/favicon.svg`);
  const wrong = await wrongPage.evaluate(
    async ({ bundle }) => {
      const { Cove } = await import("/cove.mjs");
      const cove = await Cove.start({ bundle, sentiment: bundle, consent: "required", slots: false });
      return {
        sentiment: await cove.sentiment("love it").then(() => "ok", (error) => error.code),
        recommends: (await cove.recommend({ k: 3 })).length,
      };
    },
    { bundle: defaultPointer.manifest },
  );
  assert.deepEqual(wrong, { sentiment: "bundle_manifest_value", recommends: 3 });
  await wrongPage.close();
  await page.close();
});

test("the reporter reads the engine's model digest for a per-category sentiment report", { skip: !haveData && `${REVIEWS} is absent` }, async () => {
  const page = await browser.newPage();
  await page.goto(`${worker.url}/favicon.svg`);
  const answer = await page.evaluate(
    async ({ pointer, sentiment }) => {
      const engine = await import("/pkg/engine/cove_engine.js");
      const reporting = await import("/pkg/reporting/cove_reporting.js");
      const scoring = await import("/pkg/sentiment/cove_sentiment.js");
      await Promise.all([engine.default(), reporting.default(), scoring.default()]);
      const bytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());
      const cove = new engine.CoveEngine();
      const modelId = cove.loadBundle(await bytes(pointer.manifest), await bytes(pointer.tensors));
      const scorer = new scoring.SentimentScorer(await bytes(sentiment.manifest), await bytes(sentiment.tensors));
      const reporter = new reporting.CoveReporter();
      const codeOf = (call) => {
        try {
          call();
          return null;
        } catch (error) {
          return error.code;
        }
      };
      const digest = cove.reportingDigest();
      const truncated = codeOf(() => reporter.loadModel(digest.subarray(0, digest.length - 1)));
      const loaded = reporter.loadModel(digest);
      const items = (await (await fetch(pointer.catalogue)).json()).slice(0, 50);
      const classes = scorer.classes();
      const classIndex = scorer.sentiment("Terrible quality, it fell apart after one wash.").class_index;
      return {
        sameModel: loaded === modelId,
        truncated,
        refused: items.filter((item) => codeOf(() => reporter.recordReview(item.id, classes[classIndex])) !== null).length,
        unknown: codeOf(() => reporter.recordReview("no-such-item", "negative")),
        classes,
        classIndex,
      };
    },
    { pointer: defaultPointer, sentiment: pointers.three_class },
  );
  assert.ok(answer.sameModel);
  assert.equal(answer.truncated, "model_digest_corrupt");
  assert.equal(answer.refused, 0);
  assert.equal(answer.unknown, "invalid_parameter");
  assert.equal(answer.classes.length, 3);
  assert.equal(answer.classes[answer.classIndex], "negative");
  await page.close();
});
