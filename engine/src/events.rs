//! Shopper events, as the storefront snippet reports them.
//!
//! An event is what happened and when; the caller passes the time in (unix
//! seconds), since the engine reads no clock. Events are checked once, by
//! [`Event::validate`], against [`EventLimits`] (a profile's, from
//! `ProfileConfig::event_limits`) before they touch the profile: an event that is too large or malformed is refused whole with a
//! typed error, and the profile is left as it was.

use serde::Serialize;

use crate::json::{self, Fields, JsonError, Value};
use crate::Error;

/// The latest time an event may carry (unix seconds, year 5138): a bound that
/// keeps every time difference far from overflow.
pub const MAX_TIME: i64 = 99_999_999_999;

/// The largest quantity on one event or cart line.
pub const MAX_QUANTITY: u32 = 100_000;

/// The largest unit price an event may carry.
pub const MAX_PRICE: f64 = 1e9;

/// The longest rating text accepted (it is validated, not stored).
pub const MAX_RATING_TEXT_LEN: usize = 4096;

/// The longest search query accepted (it is stored truncated to
/// the profile's `max_query_len`).
pub const MAX_QUERY_LEN: usize = 1024;

/// One shopper event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// When it happened, unix seconds (0..=[`MAX_TIME`]).
    pub at: i64,
    /// What happened.
    pub kind: EventKind,
}

/// What happened. Its JSON form is internally tagged by `type`
/// (`{"type": "add_to_cart", "item": "85123A", "quantity": 2, "price": 2.55}`);
/// a field another kind of event carries is refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A page view: a product page (with `item`), or an administrative
    /// (account, login, cart) or informational (shipping, about) page.
    View {
        /// The kind of page, as in the UCI Online Shoppers data set.
        page: PageKind,
        /// The product shown, for product pages.
        #[serde(skip_serializing_if = "Option::is_none")]
        item: Option<String>,
        /// The product's unit price as shown.
        #[serde(skip_serializing_if = "Option::is_none")]
        price: Option<f64>,
    },
    /// Items put in the cart.
    AddToCart {
        /// The item id.
        item: String,
        /// How many (at least 1).
        quantity: u32,
        /// Unit price.
        price: f64,
    },
    /// Items taken out of the cart.
    RemoveFromCart {
        /// The item id.
        item: String,
        /// How many (at least 1).
        quantity: u32,
    },
    /// A completed order.
    Purchase {
        /// The order's lines (at least one).
        lines: Vec<PurchaseLine>,
    },
    /// A search.
    Search {
        /// The query as typed.
        query: String,
    },
    /// A rating of an item.
    Rating {
        /// The item id.
        item: String,
        /// 1 to 5 stars.
        stars: u8,
        /// An optional review text; validated for length but not stored.
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
}

/// The `type` of each kind of event, in the order of [`EventKind`]'s variants.
const EVENT_TYPES: [&str; 6] = [
    "view",
    "add_to_cart",
    "remove_from_cart",
    "purchase",
    "search",
    "rating",
];

/// The `page` of a view, in the order of [`PageKind`]'s variants.
const PAGE_KINDS: [&str; 3] = ["administrative", "informational", "product"];

fn read_kind(value: Value) -> Result<EventKind, JsonError> {
    let mut fields = Fields::new(value)?;
    let kind = fields.take("type", |value| json::one_of(value, &EVENT_TYPES))?;
    let event = match kind {
        0 => EventKind::View {
            page: fields
                .take_optional("page", PageKind::read)?
                .unwrap_or_default(),
            item: fields.take_optional("item", json::string)?,
            price: fields.take_optional("price", json::f64)?,
        },
        1 => EventKind::AddToCart {
            item: fields.string("item")?,
            quantity: fields.u32("quantity")?,
            price: fields.f64("price")?,
        },
        2 => EventKind::RemoveFromCart {
            item: fields.string("item")?,
            quantity: fields.u32("quantity")?,
        },
        3 => EventKind::Purchase {
            lines: fields.array("lines", read_line)?,
        },
        4 => EventKind::Search {
            query: fields.string("query")?,
        },
        _ => EventKind::Rating {
            item: fields.string("item")?,
            stars: fields.take("stars", json::u8)?,
            text: fields.take_optional("text", json::string)?,
        },
    };
    // A field left over is unknown, or one this type of event does not carry.
    fields.finish()?;
    Ok(event)
}

fn read_line(value: Value) -> Result<PurchaseLine, JsonError> {
    let mut fields = Fields::new(value)?;
    let line = PurchaseLine {
        item: fields.string("item")?,
        quantity: fields.u32("quantity")?,
        price: fields.f64("price")?,
    };
    fields.finish()?;
    Ok(line)
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PurchaseLine {
    /// The item id.
    pub item: String,
    /// How many (at least 1).
    pub quantity: u32,
    /// Unit price paid.
    pub price: f64,
}

/// The page categories of the UCI Online Shoppers data set, which the
/// purchase-intent model is trained on.
///
/// Its `Deserialize` (for the profile's JSON form) goes through
/// [`PageKind::read`], the reader events use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PageKind {
    /// Account, login, cart and checkout pages ("Administrative").
    Administrative,
    /// Shipping, returns, contact and about pages ("Informational").
    Informational,
    /// Product and listing pages ("ProductRelated").
    #[default]
    Product,
}

json::deserialize_through!(PageKind, PageKind::read);

impl PageKind {
    /// Reads a page kind (`"administrative"`, `"informational"`, `"product"`).
    pub fn read(value: Value) -> Result<PageKind, JsonError> {
        json::one_of(value, &PAGE_KINDS).map(|index| PageKind::ALL[index])
    }

    /// Every kind, in the order of `PageKind::index`.
    pub const ALL: [PageKind; 3] = [
        PageKind::Administrative,
        PageKind::Informational,
        PageKind::Product,
    ];

    /// The position of this kind in per-kind arrays.
    pub(crate) fn index(self) -> usize {
        match self {
            PageKind::Administrative => 0,
            PageKind::Informational => 1,
            PageKind::Product => 2,
        }
    }
}

/// The limits an event is checked against that depend on where it is
/// recorded: a profile's (`ProfileConfig::event_limits`). The others are
/// the constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLimits {
    /// Longest item id, in bytes.
    pub max_item_id_len: usize,
    /// Most lines in one order.
    pub max_order_lines: usize,
}

impl Event {
    /// Parses an event from JSON and validates it.
    pub fn from_json(bytes: &[u8], limits: &EventLimits) -> Result<Event, Error> {
        let value = json::parse(bytes).map_err(|e| Error::EventSyntax {
            message: e.to_string(),
        })?;
        let event = Event::from_value(value)?;
        event.validate(limits)?;
        Ok(event)
    }

    /// Reads an event from parsed JSON (`{"at": …, "kind": {"type": …}}`),
    /// without validating it.
    pub fn from_value(value: Value) -> Result<Event, Error> {
        let read = |value| {
            let mut fields = Fields::new(value)?;
            let event = Event {
                at: fields.i64("at")?,
                kind: fields.take("kind", read_kind)?,
            };
            fields.finish()?;
            Ok(event)
        };
        read(value).map_err(|e: JsonError| Error::EventSyntax {
            message: e.to_string(),
        })
    }

    /// Checks every field against `limits` and the constants above.
    pub fn validate(&self, limits: &EventLimits) -> Result<(), Error> {
        if !(0..=MAX_TIME).contains(&self.at) {
            return Err(Error::InvalidEvent {
                field: "at",
                reason: "is not a unix time in 0..=99999999999",
            });
        }
        let max_id = limits.max_item_id_len;
        match &self.kind {
            EventKind::View { item, price, .. } => {
                if let Some(item) = item {
                    check_item_id(item, max_id)?;
                }
                if let Some(price) = price {
                    check_price(*price)?;
                }
            }
            EventKind::AddToCart {
                item,
                quantity,
                price,
            } => {
                check_item_id(item, max_id)?;
                check_quantity(*quantity)?;
                check_price(*price)?;
            }
            EventKind::RemoveFromCart { item, quantity } => {
                check_item_id(item, max_id)?;
                check_quantity(*quantity)?;
            }
            EventKind::Purchase { lines } => {
                if lines.is_empty() {
                    return Err(Error::InvalidEvent {
                        field: "lines",
                        reason: "an order needs at least one line",
                    });
                }
                if lines.len() > limits.max_order_lines {
                    return Err(Error::InvalidEvent {
                        field: "lines",
                        reason: "more lines than the profile's item limit",
                    });
                }
                for line in lines {
                    check_item_id(&line.item, max_id)?;
                    check_quantity(line.quantity)?;
                    check_price(line.price)?;
                }
            }
            EventKind::Search { query } => {
                if query.len() > MAX_QUERY_LEN {
                    return Err(Error::InvalidEvent {
                        field: "query",
                        reason: "longer than 1024 bytes",
                    });
                }
            }
            EventKind::Rating { item, stars, text } => {
                check_item_id(item, max_id)?;
                if !(1..=5).contains(stars) {
                    return Err(Error::InvalidEvent {
                        field: "stars",
                        reason: "is not 1 to 5",
                    });
                }
                if text.as_ref().is_some_and(|t| t.len() > MAX_RATING_TEXT_LEN) {
                    return Err(Error::InvalidEvent {
                        field: "text",
                        reason: "longer than 4096 bytes",
                    });
                }
            }
        }
        Ok(())
    }
}

/// Item ids are non-empty, at most `max_len` bytes, and free of control
/// characters, quotes and backslashes (so their JSON form is their own length
/// plus two, which the profile's size bound relies on).
pub(crate) fn check_item_id(item: &str, max_len: usize) -> Result<(), Error> {
    if item.is_empty() {
        return Err(Error::InvalidEvent {
            field: "item",
            reason: "is empty",
        });
    }
    if item.len() > max_len {
        return Err(Error::InvalidEvent {
            field: "item",
            reason: "is longer than the profile's item id limit",
        });
    }
    if item
        .chars()
        .any(|c| c.is_control() || c == '"' || c == '\\')
    {
        return Err(Error::InvalidEvent {
            field: "item",
            reason: "holds a control character, quote or backslash",
        });
    }
    Ok(())
}

fn check_quantity(quantity: u32) -> Result<(), Error> {
    if quantity == 0 || quantity > MAX_QUANTITY {
        return Err(Error::InvalidEvent {
            field: "quantity",
            reason: "is not 1 to 100000",
        });
    }
    Ok(())
}

fn check_price(price: f64) -> Result<(), Error> {
    if !(0.0..=MAX_PRICE).contains(&price) {
        return Err(Error::InvalidEvent {
            field: "price",
            reason: "is not a finite price in 0..=1e9",
        });
    }
    Ok(())
}
