// Compiled by `tsc --noEmit` in `cargo xtask test`: the snippet's shipped types
// (www/cove.d.ts) must describe the documented API, and misuse must not compile.
import { Cove, type PrivacyStatus, type RecommendedItem, type RescueAction, type ShopEvent } from "../../www/cove.mjs";

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
  const privacy: PrivacyStatus = await reporting.flushReports();
  const bytes: string | undefined = privacy.lastReport?.bytes;
  void bytes;
  await cove.forget();
  return items;
}

// @ts-expect-error: the last report's bytes are a string, not a number.
export const wrongBytes: PrivacyStatus["lastReport"] = { day: 1, bytes: 3 };

// @ts-expect-error: an add_to_cart needs a quantity and a price.
export const incomplete: ShopEvent = { type: "add_to_cart", item: "x" };

// @ts-expect-error: stars are 1 to 5.
export const tooManyStars: ShopEvent = { type: "rating", item: "x", stars: 6 };
