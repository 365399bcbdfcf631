// TypeScript types of the shopper's privacy panel (www/cove/panel.mjs; the
// package exports it as `cove-storefront/panel`).
import type { Cove } from "../cove.mjs";

/** A string of the panel: text with `{name}` placeholders, or plural forms chosen on `{count}`. */
export type PanelString = string | Partial<Record<Intl.LDMLPluralRule, string>> & { other: string };

/** Every string the panel shows (English); see www/cove/panel.mjs for the keys and their placeholders. */
export declare const PANEL_STRINGS: Readonly<Record<string, PanelString>>;

export interface PrivacyPanelOptions {
  /** Overrides of PANEL_STRINGS, key by key (e.g. a translation). */
  strings?: Record<string, PanelString>;
  /** BCP 47 locale for dates, times, numbers, prices and lists (default: the page's `lang`). */
  locale?: string;
  /** IANA time zone for "Today at 14:02" (default: the browser's). */
  timeZone?: string;
  /** ISO 4217 currency of prices (default "GBP"). */
  currency?: string;
  /** Level of the panel's title (default 2); its sections are one level below. */
  headingLevel?: 1 | 2 | 3 | 4 | 5;
  /** How many item titles a sentence names before "and N other items" (default 3). */
  maxItems?: number;
  /** Called after the shopper confirmed and `cove.forget()` resolved. */
  onForget?: () => void;
}

export interface PrivacyPanelDefinition extends PrivacyPanelOptions {
  /** The custom element's name (default "cove-privacy-panel"). */
  tagName?: string;
}

export interface PrivacyPanelController {
  /** Settles once the panel has rendered what the snippet answered. */
  readonly ready: Promise<void>;
  /** Reads the snippet again (e.g. after a report was sent) and re-renders. */
  refresh(): Promise<void>;
  /** Removes the panel from its element. */
  unmount(): void;
}

/** Mounts the panel into `element` (its children are replaced) for a started `cove`. */
export declare function mountPrivacyPanel(
  element: Element,
  cove: Cove,
  options?: PrivacyPanelOptions,
): PrivacyPanelController;

/** The `<cove-privacy-panel>` element. */
export interface CovePrivacyPanelElement extends HTMLElement {
  refresh(): Promise<void>;
  readonly ready: Promise<void>;
}

/**
 * Registers `<cove-privacy-panel>` (or `options.tagName`) for `cove`; returns
 * its class (the one already registered under that name, if any).
 */
export declare function definePrivacyPanel(
  cove: Cove,
  options?: PrivacyPanelDefinition,
): { new (): CovePrivacyPanelElement; prototype: CovePrivacyPanelElement };
