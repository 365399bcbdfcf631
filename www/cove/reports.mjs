// Privacy reports from the device: the shop's metric registry is fetched
// from the edge (`GET /v1/config?shop=`), and once a day, after a random
// delay, the engine builds one envelope of randomised reports within the
// day's ε budget, which is sent to `POST /v1/reports?shop=`. What leaves is
// exactly the 1,024 bytes the engine built: randomised cells, a day number and
// a fresh nonce; no cookie, no referrer, no identifier.
//
// The envelope is built by the reporter's own wasm module (pkg/reporting/),
// fetched after the first render and only once the shop's registry is in
// hand: the storefront's module carries no reporting code, and a shop without
// reports (or whose edge is down) never downloads it. It does not load the
// bundle: the storefront's module hands it the model's digest (what the
// reports read of the model: its id, segment rules, item ids and categories)
// and the profile's bytes when it builds an envelope.
//
// The reporting state (ε spent, campaign assignments, the waiting envelope)
// is saved before anything is sent, so a crash or a closed tab never spends
// ε twice; a failed send is retried with the same bytes.
//
// A page whose origin the shop has not registered at the edge is refused
// (403, and without CORS headers, so the browser shows the page a network
// error). The reporter then says so once on the console, with the command
// that registers the origin, and keeps its envelope for a later try.
//
// The engine's host (core.mjs) imports this module after the first render,
// and only for a shop with reports (`shop`): no first paint carries it. It
// imports no module of the snippet's; the host hands it what it needs
// (`readRecord`), so nothing is loaded twice.

const STATE_KEY = "reporting";
const nowSeconds = () => Math.floor(Date.now() / 1000);
// setTimeout's largest delay.
const MAX_TIMER_MS = 2 ** 31 - 1;
// A failed send waits at least this long before the next try.
const RETRY_SECONDS = 300;
// A send refused for the page's origin waits this long: registering an
// origin is a person's job, not a matter of seconds.
const ORIGIN_RETRY_SECONDS = 3600;

export class Reporter {
  /**
   * @param {import("./core.mjs").CoveCore} core the engine host
   * @param {{ shop: string, api?: string, module: () => Promise<object>, wasm?: string, readRecord: Function }} options
   *   the shop id, the edge's base URL, a function importing the reporter module's glue, (optionally) the URL
   *   of its wasm, and storage.mjs's `readRecord`
   */
  constructor(core, { shop, api = "/v1", module, wasm, readRecord }) {
    this.core = core;
    this.readRecord = readRecord;
    this.shop = shop;
    this.module = module;
    this.wasm = wasm;
    // The reporter module's CoveReporter, once started.
    this.engine = null;
    this.api = new URL(api.endsWith("/") ? api : `${api}/`, globalThis.location?.href).href;
    this.enabled = false;
    this.campaigns = new Set();
    this.timer = null;
    this.retryAfter = 0;
    this.originWarned = false;
  }

  /**
   * Whether the edge refuses this page's origin: a 403, or a fetch that
   * failed (CORS hides the status) while the same URL, fetched without CORS,
   * does answer. Never throws.
   */
  async originRefused(url, status) {
    if (status === 403) return true;
    if (status !== undefined || !globalThis.location?.origin) return false;
    try {
      await fetch(url, { mode: "no-cors", credentials: "omit", referrerPolicy: "no-referrer" });
      return true;
    } catch {
      return false;
    }
  }

  /** Says once what happened and how to fix it. */
  warnOriginRefused(consequence) {
    if (this.originWarned) return;
    this.originWarned = true;
    const origin = globalThis.location?.origin ?? "<this page's origin>";
    console.warn(
      `cove: the edge refuses this page's origin (${origin}) for shop "${this.shop}": it is not registered. ` +
        `${consequence} Register it with: cargo xtask shop add-origin ${this.shop} ${origin} --url ${new URL(this.api).origin} ` +
        "(see edge-worker/README.md, \"Registering your shop's origin\").",
    );
  }

  /**
   * Fetches the registry, then the reporter module, gives it the digest of
   * the model the storefront's module runs and restores the state; reporting
   * stays off (with a warning) when any of these fails. Never throws.
   */
  async start() {
    let text;
    const configUrl = `${this.api}config?shop=${encodeURIComponent(this.shop)}`;
    let status;
    try {
      const response = await fetch(configUrl, { credentials: "omit", referrerPolicy: "no-referrer" });
      status = response.status;
      if (!response.ok) throw new Error(`the edge answered ${response.status}`);
      text = await response.text();
    } catch (error) {
      if (await this.originRefused(configUrl, status)) {
        this.warnOriginRefused("Privacy reports are off until it is; nothing is lost (a waiting report stays on this device).");
      } else {
        console.warn("cove: privacy reports are off: no usable metric registry:", error?.message ?? error);
      }
      return;
    }
    let engine;
    try {
      const module = await this.module();
      await module.default(this.wasm ? { module_or_path: this.wasm } : undefined);
      engine = new module.CoveReporter();
      engine.loadModel(this.core.engine.reportingDigest());
    } catch (error) {
      console.warn("cove: privacy reports are off: the reporter module did not load:", error?.message ?? error);
      return;
    }
    try {
      engine.setRegistry(text);
      this.campaigns = new Set(JSON.parse(text).campaigns.map((campaign) => campaign.id));
    } catch (error) {
      console.warn("cove: privacy reports are off: no usable metric registry:", error?.message ?? error);
      return;
    }
    this.engine = engine;
    await this.readRecord(this.core.store, STATE_KEY, (value) => {
      if (typeof value !== "string") throw new Error("not a reporting state");
      this.engine.restoreReporting(value);
    });
    this.enabled = true;
    this.schedule();
  }

  /** After any activity: the first envelope gets its random send time. */
  async activity() {
    if (!this.enabled) return;
    this.engine.noteActivity(nowSeconds());
    await this.save();
    this.schedule();
  }

  async save() {
    await this.core.saveRecord(STATE_KEY, this.engine.reportingState());
  }

  /** Arms one timer for the next due time. */
  schedule() {
    if (!this.enabled) return;
    clearTimeout(this.timer);
    const status = this.engine.privacy(nowSeconds());
    const due = Math.max(status.next_report_at ?? (status.pending ? 0 : Infinity), this.retryAfter);
    if (!Number.isFinite(due)) return;
    // At least a second between two tries, whatever the clock says.
    const waitMs = Math.max(1000, (due - nowSeconds()) * 1000);
    this.timer = setTimeout(() => this.send(), Math.min(waitMs, MAX_TIMER_MS));
  }

  /** Sends the day's envelope if one is due. Never throws. */
  async send() {
    // Before consent nothing is sent; grantConsent() re-arms the timer.
    if (!this.enabled || !this.core.consentGranted) return;
    if (nowSeconds() < this.retryAfter) return this.schedule();
    // Whether a failure is the POST's own (a network or CORS error).
    let posting = false;
    try {
      const body = this.engine.prepareReport(nowSeconds(), this.core.engine.profileBytes());
      if (body === undefined) return;
      // The ε is spent: record it before the envelope leaves.
      await this.save();
      posting = true;
      const response = await fetch(`${this.api}reports?shop=${encodeURIComponent(this.shop)}`, {
        method: "POST",
        body,
        headers: { "Content-Type": "application/json" },
        credentials: "omit",
        referrerPolicy: "no-referrer",
        keepalive: true,
      });
      posting = false;
      if (response.status === 202 || response.status === 409) {
        this.engine.reportSent(nowSeconds());
      } else if (response.status === 429 || response.status >= 500) {
        this.retryAfter = nowSeconds() + RETRY_SECONDS;
      } else if (response.status === 403) {
        // The origin is not registered: the envelope is kept (same bytes) for later.
        this.retryAfter = nowSeconds() + ORIGIN_RETRY_SECONDS;
        this.warnOriginRefused("The privacy report is kept on this device and retried later.");
      } else {
        console.warn(`cove: the edge refused the privacy report (${response.status}); it is dropped`);
        this.engine.reportRefused();
      }
      await this.save();
    } catch (error) {
      if (posting && (await this.originRefused(`${this.api}config?shop=${encodeURIComponent(this.shop)}`))) {
        this.retryAfter = nowSeconds() + ORIGIN_RETRY_SECONDS;
        this.warnOriginRefused("The privacy report is kept on this device and retried later.");
      } else {
        this.retryAfter = nowSeconds() + RETRY_SECONDS;
        console.warn("cove: the privacy report could not be sent, will retry:", error?.message ?? error);
      }
    } finally {
      this.schedule();
    }
  }

  /**
   * What the shopper may see: ε limit, spent and left today, next send, the
   * last envelope's bytes and when it left. Undefined when reports are off.
   */
  status() {
    if (!this.engine) return undefined;
    const status = this.engine.privacy(nowSeconds());
    return {
      enabled: this.enabled,
      dailyEpsilon: status.daily_epsilon,
      spentToday: status.spent_today,
      remainingToday: status.remaining_today,
      nextReportAt: this.enabled ? (status.next_report_at ?? null) : null,
      pending: status.pending,
      lastReport: status.last_report
        ? {
            day: status.last_report.day,
            bytes: status.last_report.body,
            sentAt: status.last_report.sent_at ?? null,
            contents: status.last_report_contents.map((m) => ({ kind: m.kind ?? null, secretShared: m.secret_shared })),
          }
        : null,
    };
  }

  /**
   * Puts the device in a campaign's audience; `{ variant }`, 0 being the holdout.
   * Without a registry no experiment runs: the campaign is shown (variant 1) and nothing is counted.
   */
  async campaign(id) {
    if (!this.enabled) return { variant: 1, reporting: false };
    const variant = this.engine.campaign(String(id), nowSeconds());
    await this.save();
    this.schedule();
    return { variant, reporting: true };
  }

  /** Records a review's sentiment class (the model's label) for the next envelope; false when reports are off. */
  async review(item, sentimentClass) {
    if (!this.enabled || sentimentClass === undefined) return false;
    this.engine.recordReview(item, sentimentClass);
    this.engine.noteActivity(nowSeconds());
    await this.save();
    this.schedule();
    return true;
  }

  /** Counts a tracked purchase's lines for the visit metrics (revenue); throws the engine's typed error. */
  recordPurchase(lines, at) {
    if (!this.enabled) return;
    for (const line of lines) this.engine.recordPurchaseLine(String(line.item), line.quantity, line.price, at);
  }

  /** A slot showed these items today; false when reports are off. */
  async recommendationsShown(items) {
    if (!this.enabled) return false;
    const now = nowSeconds();
    for (const item of items) this.engine.recommendationShown(String(item), now);
    await this.save();
    return true;
  }

  /** A click on an item a slot showed today (else the engine's `recommendation_not_shown`); false when reports are off. */
  async recommendationClick(item) {
    if (!this.enabled) return false;
    this.engine.recommendationClick(String(item), nowSeconds());
    await this.save();
    return true;
  }

  /** Whether the shop runs this campaign (and reports are on). */
  runs(id) {
    return this.enabled && this.campaigns.has(id);
  }

  /** Records a response to a campaign shown today. */
  async campaignResponse(id) {
    if (!this.enabled) return false;
    const counted = this.engine.campaignResponse(String(id));
    await this.save();
    return counted;
  }

  /** Forgets the reporting state; the ε spent today stays spent. */
  forget() {
    this.engine?.forget();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
  }
}
