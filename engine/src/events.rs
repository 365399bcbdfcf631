//! Shopper events, as the storefront snippet reports them.
//!
//! An event is what happened and when; the caller passes the time in (unix
//! seconds), since the engine reads no clock. Events are checked once, by
//! [`Event::validate`], against the profile's limits before they touch the
//! profile: an event that is too large or malformed is refused whole with a
//! typed error, and the profile is left as it was.

use serde::{Deserialize, Serialize};

use crate::profile::ProfileConfig;
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// When it happened, unix seconds (0..=[`MAX_TIME`]).
    pub at: i64,
    /// What happened.
    pub kind: EventKind,
}

/// What happened.
///
/// Its JSON form is internally tagged by `type`. It is read through the flat
/// [`EventFields`] rather than serde's tagged-enum buffering, which costs the
/// browser's wasm build many kilobytes; a field another kind of event carries
/// is refused as before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    deny_unknown_fields,
    try_from = "EventFields"
)]
pub enum EventKind {
    /// A page view: a product page (with `item`), or an administrative
    /// (account, login, cart) or informational (shipping, about) page.
    View {
        /// The kind of page, as in the UCI Online Shoppers data set.
        #[serde(default)]
        page: PageKind,
        /// The product shown, for product pages.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item: Option<String>,
        /// The product's unit price as shown.
        #[serde(default, skip_serializing_if = "Option::is_none")]
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
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
}

/// The kinds of event, the `type` of an event's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum EventType {
    View,
    AddToCart,
    RemoveFromCart,
    Purchase,
    Search,
    Rating,
}

/// Every field any kind of event may carry: what [`EventKind`] is read
/// through (see there).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventFields {
    #[serde(rename = "type")]
    kind: EventType,
    page: Option<PageKind>,
    item: Option<String>,
    price: Option<f64>,
    quantity: Option<u32>,
    lines: Option<Vec<PurchaseLine>>,
    query: Option<String>,
    stars: Option<u8>,
    text: Option<String>,
}

/// Why an event's fields do not make an event of its `type`.
#[derive(Debug)]
pub struct EventFieldsError(&'static str);

impl std::fmt::Display for EventFieldsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl TryFrom<EventFields> for EventKind {
    type Error = EventFieldsError;

    fn try_from(fields: EventFields) -> Result<EventKind, EventFieldsError> {
        let EventFields {
            kind,
            page,
            item,
            price,
            quantity,
            lines,
            query,
            stars,
            text,
        } = fields;
        // Which of the optional fields each kind may carry, in the order above.
        let allowed: [bool; 8] = match kind {
            EventType::View => [true, true, true, false, false, false, false, false],
            EventType::AddToCart => [false, true, true, true, false, false, false, false],
            EventType::RemoveFromCart => [false, true, false, true, false, false, false, false],
            EventType::Purchase => [false, false, false, false, true, false, false, false],
            EventType::Search => [false, false, false, false, false, true, false, false],
            EventType::Rating => [false, true, false, false, false, false, true, true],
        };
        let present = [
            page.is_some(),
            item.is_some(),
            price.is_some(),
            quantity.is_some(),
            lines.is_some(),
            query.is_some(),
            stars.is_some(),
            text.is_some(),
        ];
        if present
            .iter()
            .zip(allowed)
            .any(|(present, allowed)| *present && !allowed)
        {
            return Err(EventFieldsError(
                "a field this type of event does not carry",
            ));
        }
        Ok(match kind {
            EventType::View => EventKind::View {
                page: page.unwrap_or_default(),
                item,
                price,
            },
            EventType::AddToCart => EventKind::AddToCart {
                item: item.ok_or(EventFieldsError("item is missing"))?,
                quantity: quantity.ok_or(EventFieldsError("quantity is missing"))?,
                price: price.ok_or(EventFieldsError("price is missing"))?,
            },
            EventType::RemoveFromCart => EventKind::RemoveFromCart {
                item: item.ok_or(EventFieldsError("item is missing"))?,
                quantity: quantity.ok_or(EventFieldsError("quantity is missing"))?,
            },
            EventType::Purchase => EventKind::Purchase {
                lines: lines.ok_or(EventFieldsError("lines is missing"))?,
            },
            EventType::Search => EventKind::Search {
                query: query.ok_or(EventFieldsError("query is missing"))?,
            },
            EventType::Rating => EventKind::Rating {
                item: item.ok_or(EventFieldsError("item is missing"))?,
                stars: stars.ok_or(EventFieldsError("stars is missing"))?,
                text,
            },
        })
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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

impl PageKind {
    /// The position of this kind in per-kind arrays.
    pub(crate) fn index(self) -> usize {
        match self {
            PageKind::Administrative => 0,
            PageKind::Informational => 1,
            PageKind::Product => 2,
        }
    }
}

impl Event {
    /// Parses an event from JSON and validates it.
    pub fn from_json(bytes: &[u8], config: &ProfileConfig) -> Result<Event, Error> {
        let event: Event = serde_json::from_slice(bytes).map_err(|e| Error::EventSyntax {
            message: e.to_string(),
        })?;
        event.validate(config)?;
        Ok(event)
    }

    /// Checks every field against the limits of `config`.
    pub fn validate(&self, config: &ProfileConfig) -> Result<(), Error> {
        if !(0..=MAX_TIME).contains(&self.at) {
            return Err(Error::InvalidEvent {
                field: "at",
                reason: "is not a unix time in 0..=99999999999",
            });
        }
        let max_id = config.max_item_id_len();
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
                if lines.len() > config.max_items() {
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
