// Slots and declarative events: the only snippet code that touches the DOM.
//
// A slot: <div data-cove-slot="home" data-cove-k="8" data-cove-context-item="85123A">.
// What ranks it follows the moment it serves (data-cove-kind: "for_you", "item_page"
// or "basket"): with a context item it is an item page, else "for you".
// Its template: a <template> inside the slot, or <template data-cove-template="home">
// anywhere. In each copy, [data-cove-field="title|price|category|reason|id"]
// gets the item's text, [data-cove-href] gets the item's URL (options.itemUrl,
// "{id}" replaced), and the copy's first element gets data-cove-item="<id>".

const where = (reason) => (reason.country && reason.country !== "*" ? ` in ${reason.country}` : "");

const REASON_TEXT = {
  personal: () => "Picked for your taste",
  similar: (reason) => {
    if (!reason.toTitle) return "Similar to what you viewed";
    if (reason.fromContext) return `Often bought with ${reason.toTitle}`;
    return `Because you viewed ${reason.toTitle}`;
  },
  trending: (reason) => `Trending${where(reason)} now`,
  filler: (reason) => `Popular${where(reason)}: few items go with this one yet`,
  buy_again: () => "Buy again",
  pinned: () => "Featured",
  boosted: () => "Promoted",
  fallback: () => "From our catalogue",
};

/** A short sentence for a recommendation's reason. */
export function reasonText(reason) {
  return (REASON_TEXT[reason?.kind] ?? (() => ""))(reason ?? {});
}

/**
 * The template of a slot without its own: built element by element (no
 * `innerHTML`), so it works on pages that require Trusted Types.
 */
function defaultTemplate(document) {
  const template = document.createElement("template");
  const element = (name, attributes = {}, ...children) => {
    const node = document.createElement(name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    node.append(...children);
    return node;
  };
  template.content.append(
    element(
      "article",
      { class: "cove-item" },
      element("a", { "data-cove-href": "" }, element("span", { "data-cove-field": "title" })),
      " ",
      element("span", { "data-cove-field": "price" }),
      " ",
      element("small", { "data-cove-field": "reason" }),
    ),
  );
  return template;
}

/**
 * Sets the `data-cove-state` of every slot not filled yet: "loading" while
 * Cove starts, "error" when it could not (the slot keeps the shop's own
 * fallback content). A slot filled from the starter list keeps its items and
 * its state, "starter".
 */
export function markSlots(document, state) {
  for (const slot of document.querySelectorAll("[data-cove-slot]")) {
    if (slot.dataset.coveState !== "ready" && slot.dataset.coveState !== "starter") slot.dataset.coveState = state;
  }
}

/**
 * A `recommend` for the first render from a bundle pointer's starter lists
 * (`{ items: { id: { title, price, category } }, lists: { country: [{ item,
 * score, reason }] } }`, the engine's ranking for an empty profile): "for you"
 * slots only, in a country the lists cover ("*" without one); null for
 * any other slot, which then waits for the engine.
 */
export function starterRecommend(starter, country) {
  const list = starter?.lists?.[country ?? "*"];
  return async ({ k, kind, context }) => {
    if (!Array.isArray(list) || (kind && kind !== "for_you") || context?.item || k > list.length) return null;
    return list.slice(0, k).map((entry) => ({ id: entry.item, ...starter.items?.[entry.item], score: entry.score, reason: entry.reason }));
  };
}

function templateFor(document, slot, name) {
  return (
    slot.querySelector(":scope > template") ??
    document.querySelector(`template[data-cove-template="${CSS.escape(name)}"]`) ??
    defaultTemplate(document)
  );
}

// One price formatter per currency: building one costs more than a slot's render.
const priceFormats = new Map();
function priceFormat(currency) {
  let format = priceFormats.get(currency);
  if (!format) priceFormats.set(currency, (format = new Intl.NumberFormat(undefined, { style: "currency", currency })));
  return format;
}

function fill(fragment, item, options) {
  const price = priceFormat(options.currency ?? "GBP");
  const values = {
    id: item.id,
    title: item.title,
    category: item.category,
    price: Number.isFinite(item.price) ? price.format(item.price) : "",
    reason: reasonText(item.reason),
  };
  for (const element of fragment.querySelectorAll("[data-cove-field]")) {
    element.textContent = values[element.dataset.coveField] ?? "";
  }
  const url = (options.itemUrl ?? "#{id}").replace("{id}", encodeURIComponent(item.id));
  for (const element of fragment.querySelectorAll("[data-cove-href]")) element.setAttribute("href", url);
  const root = fragment.firstElementChild;
  if (root) {
    root.dataset.coveItem = item.id;
    root.dataset.coveReason = item.reason?.kind ?? "";
  }
}

/**
 * Renders every slot on the page with items from `recommend` (null: leave
 * the slot as it is), then marks it `state` ("ready"; "starter" for the
 * starter list), and passes the ids it rendered to `shown` (the privacy
 * reports count which slots showed items, for the click-through).
 */
export async function renderSlots(document, recommend, options = {}, state = "ready", shown = null) {
  const slots = [...document.querySelectorAll("[data-cove-slot]")];
  await Promise.all(
    slots.map(async (slot) => {
      const name = slot.dataset.coveSlot;
      const k = Math.max(1, Math.min(100, Number(slot.dataset.coveK ?? 8) || 8));
      try {
        const items = await recommend({
          slot: name,
          k,
          kind: slot.dataset.coveKind,
          context: { item: slot.dataset.coveContextItem },
        });
        if (items === null) return; // not this renderer's slot (see starterRecommend)
        const template = templateFor(document, slot, name);
        const rendered = items.map((item) => {
          const fragment = template.content.cloneNode(true);
          fill(fragment, item, options);
          return fragment;
        });
        const keep = slot.querySelector(":scope > template");
        slot.replaceChildren(...(keep ? [keep] : []), ...rendered);
        slot.dataset.coveState = state;
        if (shown && items.length) await shown(items.map((item) => item.id));
      } catch (error) {
        slot.dataset.coveState = "error";
        console.warn(`cove: slot "${name}" could not be filled:`, error?.message ?? error);
      }
    }),
  );
}

function itemOf(element, attribute) {
  return element.getAttribute(attribute) || element.closest("[data-cove-item]")?.dataset.coveItem || null;
}

function numberOf(element, name) {
  const holder = element.closest(`[data-cove-${name}]`);
  const value = Number(holder?.getAttribute(`data-cove-${name}`));
  return Number.isFinite(value) ? value : undefined;
}

/**
 * Captures events from declarative attributes and passes them to `track`:
 * product views on load, add/remove-from-cart clicks, search form submits,
 * and review forms (`form[data-cove-review="ITEM"]` with `stars`, `title`,
 * `text` fields: passed to `review`, the text never leaves the device); and
 * a click anywhere on an item a Cove slot rendered, passed to
 * `recommendationClick` (its id only: for the click-through and the revenue
 * attributed to recommendations, counted on the device).
 * Returns a function that stops capturing.
 */
export function captureEvents(document, track, review, recommendationClick) {
  const report = (event) => track(event).catch((error) => console.warn("cove: event not recorded:", error?.message ?? error));
  for (const element of document.querySelectorAll("[data-cove-view]")) {
    report({ type: "view", item: element.dataset.coveView, price: numberOf(element, "price") });
  }
  const onClick = (event) => {
    const recommended = event.target.closest?.("[data-cove-slot] [data-cove-item]");
    if (recommended && recommendationClick) {
      recommendationClick(recommended.dataset.coveItem).catch((error) =>
        console.warn("cove: recommendation click not recorded:", error?.message ?? error));
    }
    const add = event.target.closest?.("[data-cove-add-to-cart]");
    if (add) {
      const item = itemOf(add, "data-cove-add-to-cart");
      if (item) report({ type: "add_to_cart", item, quantity: numberOf(add, "quantity") ?? 1, price: numberOf(add, "price") ?? 0 });
      return;
    }
    const remove = event.target.closest?.("[data-cove-remove-from-cart]");
    if (remove) {
      const item = itemOf(remove, "data-cove-remove-from-cart");
      if (item) report({ type: "remove_from_cart", item, quantity: numberOf(remove, "quantity") ?? 1 });
    }
  };
  const onSubmit = (event) => {
    const form = event.target;
    if (form?.matches?.("form[data-cove-review]") && review) {
      const field = (name) => form.querySelector(`[name="${name}"]`);
      const stars = Number(form.querySelector('[name="stars"]:checked, select[name="stars"]')?.value);
      review({
        item: form.dataset.coveReview,
        stars: stars >= 1 && stars <= 5 ? stars : undefined,
        title: field("title")?.value ?? "",
        text: field("text")?.value ?? "",
      }).catch((error) => console.warn("cove: review not recorded:", error?.message ?? error));
    }
    if (form?.matches?.("form[data-cove-search]")) {
      const field = form.querySelector('[name="q"], input[type="search"]');
      if (field?.value) report({ type: "search", query: field.value });
    }
  };
  document.addEventListener("click", onClick, true);
  document.addEventListener("submit", onSubmit, true);
  return () => {
    document.removeEventListener("click", onClick, true);
    document.removeEventListener("submit", onSubmit, true);
  };
}
