// Compiled by `tsc --noEmit` in `cargo xtask test`: the privacy panel's types
// (www/cove/panel.d.mts) describe its documented use, and misuse must not compile.
import { Cove } from "../../www/cove.mjs";
import { PANEL_STRINGS, definePrivacyPanel, mountPrivacyPanel, type PrivacyPanelController } from "../../www/cove/panel.mjs";

export async function panel(): Promise<PrivacyPanelController> {
  const cove = await Cove.start({ bundle: "/v1/bundles/x/manifest.json", shop: "demo" });
  const title: unknown = PANEL_STRINGS.title;
  void title;
  const Element = definePrivacyPanel(cove, { tagName: "shop-privacy", locale: "de-DE", currency: "EUR" });
  const element = new Element();
  await element.refresh();
  const controller = mountPrivacyPanel(document.body, cove, {
    strings: { title: "Was dieser Shop über Sie weiß", moreItems: { one: "{count} weiterer Artikel", other: "{count} weitere Artikel" } },
    timeZone: "Europe/Berlin",
    headingLevel: 3,
    onForget: () => undefined,
  });
  await controller.ready;
  // @ts-expect-error the panel needs an element to mount into
  mountPrivacyPanel("#privacy", cove);
  // @ts-expect-error a string override is text or plural forms, not a number
  mountPrivacyPanel(document.body, cove, { strings: { title: 3 } });
  // @ts-expect-error heading levels stop at 5 (the sections are one level below)
  mountPrivacyPanel(document.body, cove, { headingLevel: 6 });
  return controller;
}
