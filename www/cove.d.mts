// TypeScript types of Cove's storefront snippet (www/cove.mjs; www/cove.js sets window.Cove).

/** A Cove error: a JavaScript Error with a stable machine-readable code. */
export interface CoveError extends Error {
  code: string;
}

export interface StartOptions {
  /** URL of the bundle manifest, content-addressed: "/v1/bundles/<id>/manifest.json". */
  bundle: string;
  /** Subresource Integrity of the manifest ("sha256-…"). */
  bundleIntegrity?: string;
  /** URL of a sentiment bundle's manifest ("/v1/bundles/cove-sentiment-…/manifest.json"), for sentiment(). */
  sentiment?: string;
  /** Subresource Integrity of the sentiment manifest. */
  sentimentIntegrity?: string;
  /** "required": nothing is stored on the device until grantConsent(). */
  consent?: "required" | "not-required";
  /** The shopper's country (ISO code), for trending lists and availability. */
  country?: string;
  /** Run the engine in a Web Worker (same API). */
  worker?: boolean;
  /** Currency for prices rendered in slots (default "GBP"). */
  currency?: string;
  /** Product URL pattern for slots, "{id}" replaced by the item id. */
  itemUrl?: string;
  /** Render [data-cove-slot] elements and capture declarative events (default true). */
  slots?: boolean;
  /** URL of the engine's .wasm, when not served beside the snippet. */
  wasm?: string;
  /** URL of the sentiment module's .wasm (fetched only with `sentiment`), when not served beside the snippet. */
  sentimentWasm?: string;
  /**
   * The shop's id at the edge: turns on privacy reports (local differential privacy).
   * The reporter's wasm module (`pkg/reporting/`) is fetched after the first render.
   */
  shop?: string;
  /** URL of the reporter module's .wasm (fetched only with `shop`), when not served beside the snippet. */
  reportingWasm?: string;
  /** The edge's base URL for the registry and reports (default "/v1"). */
  api?: string;
}

/** Privacy reports, as the shopper may see them. */
export interface PrivacyStatus {
  /** Whether reports are on (the shop set `shop` and its registry fits the bundle). */
  enabled: boolean;
  /** The most ε the device spends per day. */
  dailyEpsilon: number;
  spentToday: number;
  remainingToday: number;
  /** When the next envelope goes (unix seconds), if one is scheduled. */
  nextReportAt: number | null;
  /** Whether an envelope is built and waiting to be sent. */
  pending: boolean;
  /** The last envelope the edge accepted: its day and its exact bytes. */
  lastReport: { day: number; bytes: string } | null;
}

export type RescueAction =
  | { kind: "nothing" }
  | { kind: "reminder" }
  | { kind: "free_shipping" }
  | { kind: "discount"; percent: number };

export interface RescueDecision {
  /** The cart-abandonment risk, 1 − P(purchase). */
  risk: number;
  threshold: number;
  outcome:
    | { kind: "empty_cart" | "below_threshold" | "no_action" }
    | { kind: "offer" | "holdout"; action: RescueAction };
  /** The campaign that assigned offer or holdout, when the shop runs one. */
  campaign?: string;
  variant?: number;
}

export type ShopEvent =
  | { type: "view"; item?: string; price?: number; page?: "product" | "administrative" | "informational"; at?: number }
  | { type: "add_to_cart"; item: string; quantity: number; price: number; at?: number }
  | { type: "remove_from_cart"; item: string; quantity: number; at?: number }
  | { type: "purchase"; lines: { item: string; quantity: number; price: number }[]; at?: number }
  | { type: "search"; query: string; at?: number }
  | { type: "rating"; item: string; stars: 1 | 2 | 3 | 4 | 5; text?: string; at?: number };

export type Reason =
  | { kind: "personal" }
  /** Related to `to` (its title in `toTitle`); `fromContext` when `to` is the slot's context. */
  | { kind: "similar"; to: string; toTitle?: string; fromContext?: boolean }
  | { kind: "trending"; country: string }
  /** In a slot with a context: popular items filling what the context's neighbours could not. */
  | { kind: "filler"; country: string }
  | { kind: "buy_again" }
  | { kind: "pinned" }
  | { kind: "boosted" }
  | { kind: "fallback" };

/** The moment a slot serves; by default "item_page" with `context.item`, else "for_you". */
export type SlotKind = "for_you" | "item_page" | "basket";

export interface RecommendRequest {
  slot?: string;
  k?: number;
  kind?: SlotKind;
  context?: { item?: string; country?: string; exclude?: string[]; maxPerCategory?: number };
}

export interface RecommendedItem {
  id: string;
  title: string;
  price: number;
  category: string;
  in_stock: boolean;
  score: number;
  reason: Reason;
}

/** The sentiment of one text, computed on the device. */
export interface Sentiment {
  /** The most likely class's label, e.g. "negative" | "neutral" | "positive". */
  class: string;
  /** Its position in sentimentClasses() (0 is the most negative). */
  class_index: number;
  /** 0 (most negative class) to 1 (most positive): Σ p(class i) · i / (classes − 1). */
  score: number;
  /** One probability per class, in sentimentClasses() order. */
  probabilities: number[];
  /** Words and symbols read. */
  n_tokens: number;
  /** Whether the text was longer than the model reads (only its start was scored). */
  truncated: boolean;
}

export interface ProfileView {
  storage: "indexeddb" | "localstorage" | "memory";
  consent: boolean;
  modelId: string;
  profile: unknown;
  /** The latest events as tracked (at most 500), kept only on this device. */
  events: { at: number; kind: ShopEvent }[];
}

export declare class Cove {
  static start(options: StartOptions): Promise<Cove>;
  track(event: ShopEvent): Promise<void>;
  recommend(request?: RecommendRequest): Promise<RecommendedItem[]>;
  segments(): Promise<unknown>;
  explain(item: string): Promise<unknown>;
  profile(): Promise<ProfileView>;
  /** Rejects with code "empty_text", "invalid_text" or "no_sentiment_model". */
  sentiment(text: string): Promise<Sentiment>;
  /**
   * A review the shopper submitted: the stars become a rating event; the
   * sentiment is computed on the device and only a randomised class per
   * category × segment is reported (with `shop` and `sentiment` set).
   */
  review(review: { item: string; stars?: 1 | 2 | 3 | 4 | 5; title?: string; text?: string }): Promise<{
    sentiment: Sentiment | null;
    reported: boolean;
  }>;
  sentimentClasses(): Promise<string[]>;
  grantConsent(): Promise<string>;
  privacy(): Promise<PrivacyStatus>;
  campaign(id: string): Promise<{ variant: number; reporting: boolean }>;
  campaignResponse(id: string): Promise<boolean>;
  rescue(): Promise<RescueDecision>;
  flushReports(): Promise<PrivacyStatus>;
  forget(): Promise<void>;
  refreshSlots(): Promise<void>;
}

export default Cove;

declare global {
  interface Window {
    Cove?: typeof Cove;
    cove?: Cove;
  }
}
