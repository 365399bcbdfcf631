// Compiled by `tsc --noEmit` in `cargo xtask test`: the snippet's shipped types
// (www/cove.d.ts) must describe the documented API, and misuse must not compile.
import {
  Cove,
  CoveError,
  type Explanation,
  type Segments,
  type SentMetric,
  type MetricKind,
  type PrivacyStatus,
  type RecommendedItem,
  type RescueAction,
  type Sentiment,
  type ShopEvent,
} from "../../www/cove.mjs";

export async function storefront(): Promise<RecommendedItem[]> {
  const cove = await Cove.start({ bundle: "/v1/bundles/x/manifest.json", consent: "required", worker: true });
  const events: ShopEvent[] = [
    { type: "view", item: "85123A", price: 2.55 },
    { type: "add_to_cart", item: "85123A", quantity: 2, price: 2.55 },
    { type: "purchase", lines: [{ item: "85123A", quantity: 2, price: 2.55 }] },
    { type: "search", query: "mug" },
    { type: "rating", item: "85123A", stars: 5, text: "lovely" },
  ];
  for (const event of events) await cove.track(event);
  await cove.grantConsent();
  const items = await cove.recommend({ slot: "home", k: 8, context: { item: "85123A", country: "GB" } });
  const first = items[0];
  if (first && first.reason.kind === "similar") {
    const to: string = first.reason.to;
    void to;
  }
  const reporting = await Cove.start({ bundle: "/v1/bundles/x/manifest.json", shop: "demo", api: "/v1" });
  const rescue = await reporting.rescue();
  if (rescue.outcome.kind === "offer" && rescue.campaign) {
    const action: RescueAction = rescue.outcome.action;
    void action;
    await reporting.campaignResponse(rescue.campaign);
  }
  const reviewed = await reporting.review({ item: "85123A", stars: 2, text: "broke in a week" });
  const feeling: string | undefined = reviewed.sentiment?.class;
  void feeling;
  const privacy: PrivacyStatus = await reporting.flushReports();
  const bytes: string | undefined = privacy.lastReport?.bytes;
  void bytes;
  const kinds: (MetricKind | null)[] = privacy.lastReport?.contents.map((m) => m.kind) ?? [];
  void kinds;
  await cove.forget();
  return items;
}

// @ts-expect-error: a review needs the item reviewed.
export const noItem: Parameters<Cove["review"]>[0] = { text: "nice" };

// @ts-expect-error: the last report's bytes are a string, not a number.
export const wrongBytes: PrivacyStatus["lastReport"] = { day: 1, bytes: 3, sentAt: null, contents: [] };

// @ts-expect-error: a sent metric's kind is one the engine defines.
export const wrongKind: SentMetric = { kind: "segment.lifecycle", secretShared: false };

// @ts-expect-error: an add_to_cart needs a quantity and a price.
export const incomplete: ShopEvent = { type: "add_to_cart", item: "x" };

// @ts-expect-error: stars are 1 to 5.
export const tooManyStars: ShopEvent = { type: "rating", item: "x", stars: 6 };

export async function reviewSentiment(): Promise<number> {
  const cove = await Cove.start({
    bundle: "/v1/bundles/x/manifest.json",
    sentiment: "/v1/bundles/cove-sentiment-x/manifest.json",
  });
  const classes: string[] = await cove.sentimentClasses();
  const result: Sentiment = await cove.sentiment("Love it, fits perfectly");
  const probability: number = result.probabilities[result.class_index] ?? 0;
  void classes;
  // @ts-expect-error: a text is a string.
  await cove.sentiment(42);
  return result.score + probability;
}

export async function typed(cove: Cove): Promise<string> {
  const segments: Segments = await cove.segments();
  const tier: string | undefined = segments.price_tier?.name;
  const explained: Explanation = await cove.explain("85123A");
  const position: number | undefined = explained.rank?.position;
  const profile = (await cove.profile()).profile;
  const firstItem: string | undefined = profile.items[0]?.id;
  document.addEventListener("cove:error", (event) => {
    const code: string = event.detail.code;
    void code;
  });
  try {
    await Cove.start({ bundle: "/v1/bundles/default.json", assets: "/cove-assets/" });
  } catch (error) {
    if (error instanceof CoveError && error.code === "bundle_fetch") return String(error.status);
  }
  return `${segments.lifecycle.name} ${tier} ${position} ${firstItem}`;
}

// @ts-expect-error: segments are typed, not unknown.
export const wrongSegment: Segments["lifecycle"] = { name: 1, reason: "x" };
