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
  | { kind: "similar"; to: string }
  | { kind: "trending"; country: string }
  | { kind: "buy_again" }
  | { kind: "pinned" }
  | { kind: "boosted" }
  | { kind: "fallback" };

export interface RecommendRequest {
  slot?: string;
  k?: number;
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

export interface ProfileView {
  storage: "indexeddb" | "localstorage" | "memory";
  consent: boolean;
  modelId: string;
  profile: unknown;
}

export declare class Cove {
  static start(options: StartOptions): Promise<Cove>;
  track(event: ShopEvent): Promise<void>;
  recommend(request?: RecommendRequest): Promise<RecommendedItem[]>;
  segments(): Promise<unknown>;
  explain(item: string): Promise<unknown>;
  profile(): Promise<ProfileView>;
  grantConsent(): Promise<string>;
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
