// Issue 20's acceptance test: personalization a shopper can see, in the demo
// shop in headless Chromium on the real default bundle.
//
// For each theme (tea sets, Christmas decorations, children's things, lunch
// bags, candles) a fresh shopper opens the home page (what a newcomer sees:
// the trending list), views four of the theme's products, and goes back home.
// Relevance of a list = the share of its items bought together with a viewed
// item in data/online-retail: in at least MIN_SHARED_INVOICES invoices, and at
// least MIN_LIFT times as often as chance (popular items share a few invoices
// with almost everything, so a count alone would call any bestseller related). The
// "Picked for you" slot after the session and the "You may also like" slot of
// the first product must beat the newcomer's list by MARGIN on average ("for
// you" never below it on a theme, the item page never more than 0.2 below); the session slot's reasons must name a
// viewed product in words, and it must not show a product just viewed. Screenshots (before / after / item page) go to tests/output, or to
// docs/ with COVE_SCREENSHOTS=docs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { join } from "node:path";
import { startWorker, launchChromium, screenshotsDir } from "./support.mjs";
import { freshStateDir, workspaceRoot } from "../../edge-worker/dev/wrangler.mjs";

/** A pair counts as bought together from this many shared invoices… */
const MIN_SHARED_INVOICES = 3;
/** …and this lift: shared ÷ (invoices(a) × invoices(b) ÷ all invoices). */
const MIN_LIFT = 3;
/** How much more relevant than the newcomer's list the session's slots must be. */
const MARGIN = 0.25;

const THEMES = {
  "tea sets": ["22699", "22697", "22698", "23173"],
  "Christmas decorations": ["22086", "22910", "22952", "22909"],
  "children's things": ["22367", "23256", "22380", "23292"],
  "lunch bags": ["20725", "20727", "20728", "22382"],
  candles: ["22969", "21121", "21122", "21124"],
};

const screenshots = screenshotsDir();

let worker;
let browser;

before(async () => {
  worker = await startWorker({ persistTo: freshStateDir("demo-sessions"), logName: "demo-sessions-test" });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

/** Item → the invoices it appears in (cancellations left out). */
function invoicesByItem() {
  const dataDir = process.env.COVE_DATA_DIR ?? join(workspaceRoot, "data");
  const text = gunzipSync(readFileSync(join(dataDir, "online-retail", "online_retail.csv.gz"))).toString("latin1");
  const byItem = new Map();
  let start = text.indexOf("\n") + 1;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const first = text.indexOf(",", start);
    const second = text.indexOf(",", first + 1);
    const invoice = text.slice(start, first);
    const item = text.slice(first + 1, second);
    if (!invoice.startsWith("C")) {
      let set = byItem.get(item);
      if (!set) byItem.set(item, (set = new Set()));
      set.add(invoice);
    }
    start = end + 1;
  }
  const invoices = new Set();
  for (const set of byItem.values()) for (const invoice of set) invoices.add(invoice);
  return { byItem, nInvoices: invoices.size };
}

/** The share of `shown` bought together with any of `viewed`. */
function relevance({ byItem, nInvoices }, viewed, shown) {
  if (shown.length === 0) return 0;
  const related = (item) =>
    viewed.some((v) => {
      const a = byItem.get(v) ?? new Set();
      const b = byItem.get(item) ?? new Set();
      let shared = 0;
      for (const invoice of a) if (b.has(invoice)) shared += 1;
      const lift = a.size && b.size ? (shared * nInvoices) / (a.size * b.size) : 0;
      return shared >= MIN_SHARED_INVOICES && lift >= MIN_LIFT;
    });
  return shown.filter(related).length / shown.length;
}

/**
 * The cards of a filled slot on `pageName`, read in one step in the page: the
 * demo re-renders a slot when an event lands, so waiting for the slot and
 * reading it in two steps could read it between two renders.
 */
const consoleLines = new WeakMap();
const consoleOf = (page) => consoleLines.get(page) ?? [];

async function filledSlot(page, pageName, slot) {
  try {
    return await filledSlotOnce(page, pageName, slot);
  } catch (error) {
    // Seen twice in 8 suite runs (never alone): a slot left unfilled after a
    // re-render. Say so in the log, reload once, and fail if it happens again.
    console.warn(`demo-sessions: ${error.message}; reloading once`);
    await page.reload();
    return filledSlotOnce(page, pageName, slot);
  }
}

async function filledSlotOnce(page, pageName, slot) {
  const handle = await page
    .waitForFunction(
    ([pageName, slot]) => {
      const root = document.querySelector(`[data-page="${pageName}"] [data-cove-slot="${slot}"][data-cove-state="ready"]`);
      const cards = root ? [...root.querySelectorAll("article")] : [];
      if (cards.length === 0) return null;
      return cards.map((card) => ({
        id: card.dataset.coveItem,
        kind: card.dataset.coveReason,
        reason: card.querySelector('[data-cove-field="reason"]')?.textContent ?? "",
      }));
    },
    [pageName, slot],
    { timeout: 30_000 },
  )
    .catch(async (error) => {
      const state = await page.evaluate(
        ([pageName, slot]) => {
          const root = document.querySelector(`[data-page="${pageName}"] [data-cove-slot="${slot}"]`);
          return { url: location.href, page: document.querySelector("[data-page]")?.dataset.page, slot: root?.dataset.coveState, html: root?.innerHTML.slice(0, 300) };
        },
        [pageName, slot],
      );
      throw new Error(`slot "${slot}" on ${pageName} never filled (console: ${JSON.stringify(consoleOf(page))}): ${JSON.stringify(state)} (${error.message})`);
    });
  return handle.jsonValue();
}

test("issue 20: themed sessions make the demo's slots relevant, in words", async () => {
  const purchases = invoicesByItem();
  const rows = [];
  for (const [theme, viewed] of Object.entries(THEMES)) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    consoleLines.set(page, []);
    page.on("console", (message) => consoleLines.get(page).push(`${message.type()}: ${message.text()}`));
    await page.goto(`${worker.url}/`);
    await page.waitForSelector('#shop[data-state="ready"]', { timeout: 30_000 });
    const newcomer = await filledSlot(page, "home", "home");
    if (theme === "tea sets") await page.screenshot({ path: join(screenshots, "demo-session-before.png"), fullPage: true });

    let itemPage = [];
    for (const [index, id] of viewed.entries()) {
      await page.goto(`${worker.url}/#/product/${encodeURIComponent(id)}`);
      const cards = await filledSlot(page, "product", "similar");
      if (index === 0) {
        itemPage = cards;
        if (theme === "tea sets") await page.screenshot({ path: join(screenshots, "demo-item-page.png"), fullPage: true });
      }
    }
    await page.goto(`${worker.url}/#/`);
    const session = await filledSlot(page, "home", "home");
    if (theme === "tea sets") await page.screenshot({ path: join(screenshots, "demo-session-after.png"), fullPage: true });
    assert.deepEqual(errors, [], theme);

    const ids = (cards) => cards.map((card) => card.id);
    const row = {
      theme,
      newcomer: relevance(purchases, viewed, ids(newcomer)),
      forYou: relevance(purchases, viewed, ids(session)),
      itemPage: relevance(purchases, [viewed[0]], ids(itemPage)),
      newcomerForItem: relevance(purchases, [viewed[0]], ids(newcomer)),
      namedReasons: session.filter((card) => card.reason.startsWith("Because you viewed")).length / session.length,
      session,
      itemPageCards: itemPage,
      shownAgain: session.filter((card) => viewed.includes(card.id)).length,
    };
    rows.push(row);
    assert.equal(session.length, 8, `${theme}: the home slot is full`);
    assert.equal(itemPage.length, 6, `${theme}: the item page's slot is full`);
    assert.ok(itemPage.every((card) => card.reason), `${theme}: every item page card says why`);
    await context.close();
  }
  const table = rows
    .map(
      (r) =>
        `| ${r.theme} | ${r.newcomer.toFixed(2)} | ${r.forYou.toFixed(2)} | ${r.newcomerForItem.toFixed(2)} | ${r.itemPage.toFixed(2)} | ${r.namedReasons.toFixed(2)} |`,
    )
    .join("\n");
  console.log(
    `| theme | newcomer's list | "for you" after 4 views | newcomer's list (vs the item) | "you may also like" | "because you viewed" share |\n|---|---:|---:|---:|---:|---:|\n${table}`,
  );
  const mean = (key) => rows.reduce((sum, r) => sum + r[key], 0) / rows.length;
  assert.ok(mean("forYou") >= mean("newcomer") + MARGIN, `for you ${mean("forYou")} vs newcomer ${mean("newcomer")}`);
  assert.ok(
    mean("itemPage") >= mean("newcomerForItem") + MARGIN,
    `item page ${mean("itemPage")} vs newcomer ${mean("newcomerForItem")}`,
  );
  for (const r of rows) {
    assert.ok(r.forYou >= r.newcomer, `${r.theme}: for you ${r.forYou} vs newcomer ${r.newcomer}`);
    // In December the trending list is itself full of Christmas things, so an
    // item page may tie or trail it slightly on that theme; never by much.
    assert.ok(r.itemPage >= r.newcomerForItem - 0.2, `${r.theme}: item page ${r.itemPage} vs ${r.newcomerForItem}`);
    assert.ok(r.namedReasons >= 0.5, `${r.theme}: ${JSON.stringify(r.session)}`);
    assert.equal(r.shownAgain, 0, `${r.theme}: "for you" shows a product just viewed`);
  }
});
