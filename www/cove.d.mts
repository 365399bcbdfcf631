// TypeScript types of Cove's storefront snippet (www/cove.mjs; www/cove.js sets window.Cove).
// Cove's methods are those of www/cove/api.mjs, the API's one source:
// tests/e2e/snippet-api.test.mjs fails when this file declares another set.

/** What failed, stable across versions (the message says it for people). */
export type CoveErrorCode =
  /** `Cove.start` was called without `bundle`, or with options that do not fit. */
  | "invalid_options"
  /** The bundle's pointer, manifest or tensors could not be fetched: network, CORS, or an HTTP error (`status`). */
  | "bundle_fetch"
  /** What the bundle URL returned is not a bundle pointer or manifest (e.g. an HTML page). */
  | "bundle_format"
  /** A bundle file does not match its Subresource Integrity hash. */
  | "bundle_integrity"
  /** The engine refused the bundle (corrupt, or from another schema version). */
  | "bundle_invalid"
  /** A wasm module could not be fetched or compiled. */
  | "wasm_load"
  /** The Web Worker could not start (CSP, URL, a bundler that inlined it) or crashed. */
  | "worker_failed"
  /** `Cove.start` was called again on this page with another bundle. */
  | "already_started"
  /** `cove.js` could not load its module. */
  | "module_load"
  | "invalid_event"
  | "invalid_request"
  | "no_sentiment_model"
  | "empty_text"
  | "invalid_text"
  /** An engine error code (e.g. "invalid_parameter"), or a failure without a known cause. */
  | (string & {});

/** Every failure the snippet reports: an Error with a stable `code`. */
export declare class CoveError extends Error {
  readonly name: "CoveError";
  readonly code: CoveErrorCode;
  /** The HTTP status, for `bundle_fetch` answered by the server. */
  readonly status?: number;
  /** The URL that failed, for the bundle codes. */
  readonly url?: string;
  constructor(code: CoveErrorCode, message: string, details?: { cause?: unknown; status?: number; url?: string });
}

/** `cove:error` on `document`: Cove could not start (the slots keep their fallback content). */
export interface CoveErrorEventDetail {
  code: CoveErrorCode;
  message: string;
  error?: CoveError;
}

export interface StartOptions {
  /**
   * URL of the bundle's pointer ("/v1/bundles/default.json", which names the
   * current model and carries a first visit's starter lists) or of a manifest
   * ("/v1/bundles/<id>/manifest.json", content-addressed).
   */
  bundle: string;
  /** Subresource Integrity of the manifest ("sha256-…"); the pointer states it when not given. */
  bundleIntegrity?: string;
  /**
   * URL of the sentiment bundles' pointer ("/v1/bundles/sentiment.json") or of a
   * sentiment manifest, for sentiment() and review(); loaded after the first render.
   */
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
  /**
   * Where the package's files (`cove/`, `pkg/`) are served, for bundlers that do
   * not emit `new URL("…", import.meta.url)` files (esbuild): e.g. "/cove-assets/".
   */
  assets?: string;
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
  /**
   * URL of the engine's .wasm for a large catalogue (`pkg/engine-shards/`: fetched after the
   * first render when the bundle pointer lists shards and the shopper's taste may want one),
   * when not served beside its glue.
   */
  shardsWasm?: string;
  /** The edge's base URL for the registry and reports (default "/v1"). */
  api?: string;
}

/** What a metric measures; null for a metric this engine does not define. */
export type MetricKind =
  | "lifecycle_segment"
  | "price_tier"
  | "item_interest"
  | "review_sentiment"
  | "conversion"
  | "revenue"
  | "recommendation_click_through"
  | "recommendation_revenue"
  | "campaign";

/** One metric a sent report carried. */
export interface SentMetric {
  kind: MetricKind | null;
  /** Sent as secret shares to two aggregators, not as a randomised answer. */
  secretShared: boolean;
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
  lastReport: {
    day: number;
    bytes: string;
    /** When the edge accepted it (unix seconds); null for a report stored before this was recorded. */
    sentAt: number | null;
    /** What it carried, metric by metric, secret-shared ones first. */
    contents: SentMetric[];
  } | null;
}

/**
 * A large catalogue's shards on this device. A shop whose bundle is over the
 * download budget publishes a head (the items that matter now) and shards
 * (the rest, by taste cluster); the device fetches the shards of the
 * shopper's nearest taste clusters, and ranks over the head and those.
 */
export interface ShardsStatus {
  /** The shards the head lists; 0 for a bundle of the whole catalogue. */
  total: number;
  /** The indices of the shards in the engine, in the order they came. */
  loaded: number[];
  /** How many shards were added this visit. */
  added: number;
  /** Shards that failed (HTTP error, network, integrity): the head keeps ranking; each is tried again after `retryAt` (ms since the epoch). */
  failed: { index: number; code: string; message: string; retryAt: number }[];
  /**
   * Why the large-catalogue engine (loaded after the first paint, once the shopper's taste
   * may want a shard) did not load, e.g. `wasm_load`: the head keeps ranking, and it is
   * tried again on the next event. Absent when it loaded or was not needed yet.
   */
  engineError?: { code: string; message: string };
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
  /** The campaign an eligible shopper (offer or holdout) joins, if the shop runs it. */
  audience?: string;
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

/** A named segment and the machine-readable rule that put the shopper in it. */
export interface Segment {
  /** E.g. "new", "loyal", "at_risk" (lifecycle); "budget", "mid", "premium" (price); a taste cluster's label. */
  name: string;
  /** E.g. "no_purchase", "typical_price=2.72;tier=1", "cluster=2;cosine=0.341". */
  reason: string;
}

/** The shopper's segments, computed on the device. */
export interface Segments {
  lifecycle: Segment;
  /** The probability of a purchase in this session. */
  propensity: { probability: number; likely: boolean };
  /** Null until the shopper has seen priced items. */
  price_tier: Segment | null;
  /** Null until the profile has items the model knows. */
  taste_cluster: Segment | null;
  /** Null unless the shop defines loyalty tiers and the shopper has bought. */
  loyalty_tier: Segment | null;
  /** Recency, frequency, monetary value and tenure, the features behind the lifecycle. */
  rfm: { recency_days: number; frequency: number; monetary: number; tenure_days: number; has_purchased: boolean };
}

/** A catalogue entry, as the bundle has it. */
export interface CatalogueItem {
  id: string;
  title: string;
  price: number;
  category: string;
  in_stock: boolean;
  /** Countries the item ships to; absent means everywhere. */
  countries?: string[];
}

/** Why an item would be shown, and what the profile holds about it. */
export interface Explanation {
  item: CatalogueItem;
  /** The profile's signal for this item (null if the shopper never interacted with it). */
  signal: { weight_now: number; purchased: boolean; disliked: boolean; last_at: number } | null;
  /** Where a "for you" slot would rank it now (null beyond the first page of results). */
  rank: { position: number; score: number; reason: Reason } | null;
}

/** The on-device profile (what `profile().profile` holds). */
export interface Profile {
  version: number;
  /** Items the shopper interacted with, and the decayed weight of each. */
  items: { id: string; weight: number; at: number; purchased: boolean; disliked: boolean }[];
  cart: { id: string; quantity: number; price: number }[];
  /** Recent search queries. */
  queries: string[];
  orders: number;
  spend: number;
  first_purchase_at: number | null;
  last_purchase_at: number | null;
  first_seen_at: number | null;
  latest_at: number | null;
  price_weight: number;
  price_log_sum: number;
  price_at: number;
  sessions: number;
  abandoned_carts: number;
  /** The current session. */
  session: {
    started_at: number;
    last_view_at: number | null;
    last_page: "product" | "administrative" | "informational" | null;
    pages: number[];
    durations: number[];
    purchased: boolean;
  };
}

export interface ProfileView {
  storage: "indexeddb" | "localstorage" | "memory" | "none";
  consent: boolean;
  modelId: string;
  profile: Profile;
  /** The latest events as tracked (at most 500), kept only on this device. */
  events: { at: number; kind: ShopEvent }[];
}

export declare class Cove {
  /**
   * Starts Cove once per page (a second call with the same bundle returns the
   * same Cove). Rejects with a CoveError; on a page, `cove:ready` or
   * `cove:error` is dispatched on `document` too.
   */
  static start(options: StartOptions): Promise<Cove>;
  /** Records one shop event and refreshes the slots it may change. */
  track(event: ShopEvent): Promise<void>;
  /** Ranked items for a slot. */
  recommend(request?: RecommendRequest): Promise<RecommendedItem[]>;
  /** The shopper's segments, each with a machine-readable reason. */
  segments(): Promise<Segments>;
  /**
   * Why an item would be shown, and what the profile holds about it. Rejects
   * with code "invalid_parameter" for an item the model does not know.
   */
  explain(item: string): Promise<Explanation>;
  /** What this shop knows about the shopper: the on-device profile. */
  profile(): Promise<ProfileView>;
  /**
   * The sentiment of a text the shopper wrote, computed on the device (nothing
   * leaves it). Needs the `sentiment` start option. Rejects with code
   * "empty_text", "invalid_text" or "no_sentiment_model".
   */
  sentiment(text: string): Promise<Sentiment>;
  /**
   * A review the shopper submitted through the shop's form: the stars become a
   * rating event; the sentiment is computed on the device and only a
   * randomised class per category × segment is reported (with `shop` and
   * `sentiment` set).
   */
  review(review: { item: string; stars?: 1 | 2 | 3 | 4 | 5; title?: string; text?: string }): Promise<{
    sentiment: Sentiment | null;
    reported: boolean;
  }>;
  /** The sentiment model's class labels, most negative first. */
  sentimentClasses(): Promise<string[]>;
  /** Starts persisting the profile (when the shop required consent); resolves to where it is kept. */
  grantConsent(): Promise<string>;
  /** Privacy reports as the shopper may see them. */
  privacy(): Promise<PrivacyStatus>;
  /** Puts the shopper in a campaign's audience; variant 0 is the holdout (do not show it). */
  campaign(id: string): Promise<{ variant: number; reporting: boolean }>;
  /** Records that the shopper responded to a campaign shown today. */
  campaignResponse(id: string): Promise<boolean>;
  /** A slot the shop renders itself showed these items (Cove's own slots call it); false when reports are off. */
  recommendationsShown(items: string[]): Promise<boolean>;
  /** A click on an item a slot showed today; rejects with code "recommendation_not_shown" for any other item. */
  recommendationClick(item: string): Promise<boolean>;
  /**
   * The cart-abandonment risk and the rescue decision: show the offer when
   * `outcome.kind === "offer"`, and call `campaignResponse(campaign)` when it is taken.
   */
  rescue(): Promise<RescueDecision>;
  /**
   * Waits for the shard fetch under way (starting one for what the shopper's
   * taste wants now) and says which shards of a large catalogue are here.
   * Shards are also fetched by themselves, after the start and after events;
   * on a page the slots are rendered again when one arrives.
   */
  shards(): Promise<ShardsStatus>;
  /** Sends a due privacy report now instead of on its timer; resolves to `privacy()`. */
  flushReports(): Promise<PrivacyStatus>;
  /** Forgets everything stored on this device, then re-renders the slots. */
  forget(): Promise<void>;
  /** Renders every `[data-cove-slot]` on the page. */
  refreshSlots(): Promise<void>;
}

export default Cove;

declare global {
  interface Window {
    Cove?: typeof Cove;
    cove?: Cove;
  }
  interface DocumentEventMap {
    "cove:ready": CustomEvent<{ Cove: typeof Cove; cove?: Cove }>;
    "cove:error": CustomEvent<CoveErrorEventDetail>;
  }
}
