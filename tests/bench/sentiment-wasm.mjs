// `sentiment()` on the sentiment module's wasm build (www/pkg/sentiment, the
// module a page that scores reviews loads) in V8, through the JS API, on the published three-class
// sentiment bundle — the same two texts as the native criterion bench
// `engine/benches/sentiment.rs`.
//
// Prints JSON: { "review": median ns per call, "text_4096": median ns per call }.
// Run: node tests/bench/sentiment-wasm.mjs   (after cargo xtask build)
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { initSync, SentimentScorer } from "../../www/pkg/sentiment/cove_sentiment.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const bundles = join(root, "www", "v1", "bundles");
const id = JSON.parse(readFileSync(join(bundles, "sentiment.json"), "utf8")).three_class.model_id;
initSync({ module: readFileSync(join(root, "www", "pkg", "sentiment", "cove_sentiment_bg.wasm")) });

const REVIEW =
  "Love this dress! The fabric is soft and the colour is even prettier " +
  "than in the photos. I usually wear a medium and it fits true to size, although the waist " +
  "runs a little small. The length hits just below the knee on me (5'6\"). Only complaint: " +
  "the zipper feels cheap and snagged twice. Still, for the price it is a great summer dress " +
  "and I have already had lots of compliments.";
const LONG = REVIEW.repeat(Math.floor(4096 / REVIEW.length) + 1).slice(0, 4096);

const engine = new SentimentScorer(readFileSync(join(bundles, id, "manifest.json")), readFileSync(join(bundles, id, "tensors.safetensors")));
const results = {};
for (const [name, text] of [["review", REVIEW], ["text_4096", LONG]]) {
  for (let i = 0; i < 200; i++) engine.sentiment(text); // warm-up: tier-up in V8
  const samples = [];
  for (let round = 0; round < 30; round++) {
    const calls = 20;
    const started = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) engine.sentiment(text);
    samples.push(Number(process.hrtime.bigint() - started) / calls);
  }
  samples.sort((a, b) => a - b);
  results[name] = Math.round(samples[Math.floor(samples.length / 2)]);
}
engine.free();
console.log(JSON.stringify(results));
