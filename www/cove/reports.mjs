// Privacy reports from the device: the shop's metric registry is fetched
// from the edge (`GET /v1/config?shop=`), and once a day, after a random
// delay, the engine builds one envelope of randomised reports within the
// day's ε budget, which is sent to `POST /v1/reports?shop=`. What leaves is
// exactly the 1,024 bytes the engine built: randomised cells, a day number and
// a fresh nonce; no cookie, no referrer, no identifier.
//
// The reporting state (ε spent, campaign assignments, the waiting envelope)
// is saved before anything is sent, so a crash or a closed tab never spends
// ε twice; a failed send is retried with the same bytes.

import { readRecord } from "./storage.mjs";

const STATE_KEY = "reporting";
const nowSeconds = () => Math.floor(Date.now() / 1000);
// setTimeout's largest delay.
const MAX_TIMER_MS = 2 ** 31 - 1;
// A failed send waits at least this long before the next try.
const RETRY_SECONDS = 300;

export class Reporter {
  /**
   * @param {import("./core.mjs").CoveCore} core the engine host
   * @param {{ shop: string, api?: string }} options the shop id and the edge's base URL
   */
  constructor(core, { shop, api = "/v1" }) {
    this.core = core;
    this.shop = shop;
    this.api = new URL(api.endsWith("/") ? api : `${api}/`, globalThis.location?.href).href;
    this.enabled = false;
    this.campaigns = new Set();
    this.timer = null;
    this.retryAfter = 0;
  }

  /** Fetches the registry and restores the state; reporting stays off (with a warning) when either fails. */
  async start() {
    try {
      const response = await fetch(`${this.api}config?shop=${encodeURIComponent(this.shop)}`, {
        credentials: "omit",
        referrerPolicy: "no-referrer",
      });
      if (!response.ok) throw new Error(`the edge answered ${response.status}`);
      const text = await response.text();
      this.core.engine.setRegistry(text);
      this.campaigns = new Set(JSON.parse(text).campaigns.map((campaign) => campaign.id));
    } catch (error) {
      console.warn("cove: privacy reports are off: no usable metric registry:", error?.message ?? error);
      return;
    }
    await readRecord(this.core.store, STATE_KEY, (value) => {
      if (typeof value !== "string") throw new Error("not a reporting state");
      this.core.engine.restoreReporting(value);
    });
    this.enabled = true;
    this.schedule();
  }

  /** After any activity: the first envelope gets its random send time. */
  async activity() {
    if (!this.enabled) return;
    this.core.engine.noteActivity(nowSeconds());
    await this.save();
    this.schedule();
  }

  async save() {
    await this.core.saveRecord(STATE_KEY, this.core.engine.reportingState());
  }

  /** Arms one timer for the next due time. */
  schedule() {
    if (!this.enabled) return;
    clearTimeout(this.timer);
    const status = this.core.engine.privacy(nowSeconds());
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
    try {
      const body = this.core.engine.prepareReport(nowSeconds());
      if (body === undefined) return;
      // The ε is spent: record it before the envelope leaves.
      await this.save();
      const response = await fetch(`${this.api}reports?shop=${encodeURIComponent(this.shop)}`, {
        method: "POST",
        body,
        headers: { "Content-Type": "application/json" },
        credentials: "omit",
        referrerPolicy: "no-referrer",
        keepalive: true,
      });
      if (response.status === 202 || response.status === 409) {
        this.core.engine.reportSent();
      } else if (response.status === 429 || response.status >= 500) {
        this.retryAfter = nowSeconds() + RETRY_SECONDS;
      } else {
        console.warn(`cove: the edge refused the privacy report (${response.status}); it is dropped`);
        this.core.engine.reportRefused();
      }
      await this.save();
    } catch (error) {
      this.retryAfter = nowSeconds() + RETRY_SECONDS;
      console.warn("cove: the privacy report could not be sent, will retry:", error?.message ?? error);
    } finally {
      this.schedule();
    }
  }

  /** What the shopper may see: ε limit, spent and left today, next send, the last envelope's bytes. */
  status() {
    const status = this.core.engine.privacy(nowSeconds());
    return {
      enabled: this.enabled,
      dailyEpsilon: status.daily_epsilon,
      spentToday: status.spent_today,
      remainingToday: status.remaining_today,
      nextReportAt: this.enabled ? (status.next_report_at ?? null) : null,
      pending: status.pending,
      lastReport: status.last_report ? { day: status.last_report.day, bytes: status.last_report.body } : null,
    };
  }

  /**
   * Puts the device in a campaign's audience; `{ variant }`, 0 being the holdout.
   * Without a registry no experiment runs: the campaign is shown (variant 1) and nothing is counted.
   */
  async campaign(id) {
    if (!this.enabled) return { variant: 1, reporting: false };
    const variant = this.core.engine.campaign(String(id), nowSeconds());
    await this.save();
    this.schedule();
    return { variant, reporting: true };
  }

  /** Records a review's sentiment class for the next envelope; false when reports are off. */
  async review(item, classIndex) {
    if (!this.enabled || classIndex === undefined) return false;
    this.core.engine.recordReview(item, classIndex);
    this.core.engine.noteActivity(nowSeconds());
    await this.save();
    this.schedule();
    return true;
  }

  /** Whether the shop runs this campaign (and reports are on). */
  runs(id) {
    return this.enabled && this.campaigns.has(id);
  }

  /** Records a response to a campaign shown today. */
  async campaignResponse(id) {
    if (!this.enabled) return false;
    const counted = this.core.engine.campaignResponse(String(id));
    await this.save();
    return counted;
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
  }
}
