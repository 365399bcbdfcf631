//! The request: what to rank for, read from JSON, and every check on the
//! ranking's inputs, done once before the pipeline runs.
//!
//! [`RankRequest::check`] is the only way to a [`CheckedRequest`], and the
//! pipeline takes nothing else, so a request is validated exactly once
//! whichever entry point ([`super::recommend`], [`super::rank_with_vector`],
//! [`super::rank_with_params`]) it came through. [`check_inputs`] checks the
//! rest: the blend weights, the shopper vector and the interactions.

use std::ops::Deref;

use serde::Serialize;

use crate::bundle::{BlendWeights, Model, RankingParams};
use crate::json::{self, Fields, JsonError, Value};
use crate::Error;

/// The most items one request may ask for.
pub const MAX_K: usize = 1000;

/// What to rank for. Its JSON form has the fields below, each optional
/// (absent means the default); [`RankRequest::from_json`] reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankRequest {
    /// How many items (1..=[`MAX_K`]).
    pub k: usize,
    /// The time of the request, unix seconds (for decaying the profile).
    pub now: i64,
    /// The shopper's country (ISO code), for trending lists and availability.
    pub country: Option<String>,
    /// The moment the slot serves; `None` means [`Slot::ItemPage`] when
    /// `context_item` is given, else [`Slot::ForYou`].
    pub slot: Option<Slot>,
    /// The item on screen, if any (its neighbours become candidates).
    pub context_item: Option<String>,
    /// Items never to show.
    pub exclude_items: Vec<String>,
    /// Categories never to show.
    pub exclude_categories: Vec<String>,
    /// Additive score boosts per category.
    pub boost_categories: Vec<Boost>,
    /// Additive score boosts per item.
    pub boost_items: Vec<Boost>,
    /// Items placed at fixed positions (if eligible).
    pub pins: Vec<Pin>,
    /// At most this many items per category (diversity); `None` for no cap.
    pub max_per_category: Option<usize>,
    /// Whether items the shopper bought are excluded (default true).
    pub exclude_purchased: bool,
    /// Whether items in the shopper's cart are excluded (default true).
    pub exclude_in_cart: bool,
    /// Score with the int8 factors (default true) instead of f32.
    pub int8: bool,
}

impl Default for RankRequest {
    fn default() -> Self {
        RankRequest {
            k: 10,
            now: 0,
            country: None,
            slot: None,
            context_item: None,
            exclude_items: Vec::new(),
            exclude_categories: Vec::new(),
            boost_categories: Vec::new(),
            boost_items: Vec::new(),
            pins: Vec::new(),
            max_per_category: None,
            exclude_purchased: true,
            exclude_in_cart: true,
            int8: true,
        }
    }
}

impl RankRequest {
    /// Reads a request from JSON: an object whose fields are all optional,
    /// any other field refused. The request is not validated here; ranking
    /// checks it.
    pub fn from_json(bytes: &[u8]) -> Result<RankRequest, JsonError> {
        let mut fields = json::parse_object(bytes)?;
        let defaults = RankRequest::default();
        let strings = |value| json::array(value, json::string);
        let boosts = |value| json::array(value, read_boost);
        let request = RankRequest {
            k: fields
                .take_optional("k", json::usize)?
                .unwrap_or(defaults.k),
            now: fields
                .take_optional("now", json::i64)?
                .unwrap_or(defaults.now),
            country: fields.take_optional("country", json::string)?,
            slot: fields.take_optional("slot", read_slot)?,
            context_item: fields.take_optional("context_item", json::string)?,
            exclude_items: fields
                .take_optional("exclude_items", strings)?
                .unwrap_or_default(),
            exclude_categories: fields
                .take_optional("exclude_categories", strings)?
                .unwrap_or_default(),
            boost_categories: fields
                .take_optional("boost_categories", boosts)?
                .unwrap_or_default(),
            boost_items: fields
                .take_optional("boost_items", boosts)?
                .unwrap_or_default(),
            pins: fields
                .take_optional("pins", |value| json::array(value, read_pin))?
                .unwrap_or_default(),
            max_per_category: fields.take_optional("max_per_category", json::usize)?,
            exclude_purchased: fields
                .take_optional("exclude_purchased", json::bool)?
                .unwrap_or(defaults.exclude_purchased),
            exclude_in_cart: fields
                .take_optional("exclude_in_cart", json::bool)?
                .unwrap_or(defaults.exclude_in_cart),
            int8: fields
                .take_optional("int8", json::bool)?
                .unwrap_or(defaults.int8),
        };
        fields.finish()?;
        Ok(request)
    }
}

impl RankRequest {
    /// The slot this request ranks for (see [`RankRequest::slot`]).
    pub fn slot_kind(&self) -> Slot {
        self.slot.unwrap_or(if self.context_item.is_some() {
            Slot::ItemPage
        } else {
            Slot::ForYou
        })
    }
}

fn read_slot(value: Value) -> Result<Slot, JsonError> {
    let name = json::string(value)?;
    Slot::from_name(&name).ok_or_else(|| {
        JsonError::new(format!(
            "{} is not a slot: {}",
            json::text_of(&name),
            Slot::NAMES
        ))
    })
}

/// The moment a slot serves, which decides what ranks it (DESIGN.md, "Use").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    /// "For you": a new or returning shopper in a session. The blend of the
    /// shopper's vector, their history's and their session's neighbours,
    /// trending and buying again.
    ForYou,
    /// "You may also like" on a product page: the context item's neighbours
    /// first; the rest of the slot is filled from the "for you" blend, and
    /// says so ([`Reason::Filler`]).
    ItemPage,
    /// "Complete the basket": the cart's items are the context.
    Basket,
}

impl Slot {
    /// The names a request may give, as JSON text.
    pub const NAMES: &'static str = "\"for_you\", \"item_page\" or \"basket\"";

    /// The slot of a request's `slot` name.
    pub fn from_name(name: &str) -> Option<Slot> {
        match name {
            "for_you" => Some(Slot::ForYou),
            "item_page" => Some(Slot::ItemPage),
            "basket" => Some(Slot::Basket),
            _ => None,
        }
    }
}

fn read_boost(value: Value) -> Result<Boost, JsonError> {
    let mut fields = Fields::new(value)?;
    let boost = Boost {
        key: fields.string("key")?,
        amount: fields.f32("amount")?,
    };
    fields.finish()?;
    Ok(boost)
}

fn read_pin(value: Value) -> Result<Pin, JsonError> {
    let mut fields = Fields::new(value)?;
    let pin = Pin {
        item: fields.string("item")?,
        position: fields.usize("position")?,
    };
    fields.finish()?;
    Ok(pin)
}

/// An additive boost for a category or an item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Boost {
    /// The category name or item id.
    pub key: String,
    /// Added to the score; finite, within ±1e6.
    pub amount: f32,
}

/// An item pinned to a position.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pin {
    /// The item id.
    pub item: String,
    /// Zero-based position; past the end means last.
    pub position: usize,
}

/// A [`RankRequest`] that passed [`RankRequest::check`]: `k` is in
/// 1..=[`MAX_K`], every boost is finite and within ±1e6, and at most 10 000
/// ids are listed.
#[derive(Debug, Clone, Copy)]
pub(super) struct CheckedRequest<'a>(&'a RankRequest);

impl Deref for CheckedRequest<'_> {
    type Target = RankRequest;

    fn deref(&self) -> &RankRequest {
        self.0
    }
}

impl RankRequest {
    /// Checks the request's own limits, the one validation of a request.
    pub(super) fn check(&self) -> Result<CheckedRequest<'_>, Error> {
        if self.k == 0 || self.k > MAX_K {
            return Err(Error::InvalidParameter {
                name: "k",
                reason: "must be 1 to 1000",
            });
        }
        let boosts = self.boost_categories.iter().chain(&self.boost_items);
        if boosts
            .clone()
            .any(|b| !(b.amount.is_finite() && b.amount.abs() <= 1e6))
        {
            return Err(Error::InvalidParameter {
                name: "boost",
                reason: "amounts must be finite and within ±1e6",
            });
        }
        let n_listed = self.exclude_items.len()
            + self.exclude_categories.len()
            + self.boost_categories.len()
            + self.boost_items.len()
            + self.pins.len();
        if n_listed > 10_000 {
            return Err(Error::InvalidParameter {
                name: "request",
                reason: "more than 10000 listed ids",
            });
        }
        Ok(CheckedRequest(self))
    }
}

/// Checks what a request is ranked with besides itself, and returns the
/// blend weights of its kind of slot: "for you" requests that keep bought
/// items may have their own ([`RankingParams::blend`]). The weights must be
/// finite and non-negative, the shopper vector (if any) d long and finite,
/// and every interaction's row below the item count with a finite,
/// non-negative weight.
pub(super) fn check_inputs(
    model: &Model,
    params: &RankingParams,
    request: CheckedRequest<'_>,
    user: Option<&[f32]>,
    interactions: &[(u32, f64)],
) -> Result<BlendWeights, Error> {
    let blend = params.blend(request.exclude_purchased);
    if !blend
        .named()
        .iter()
        .all(|(_, w)| *w >= 0.0 && w.is_finite())
    {
        return Err(Error::InvalidParameter {
            name: "ranking weights",
            reason: "must be finite and non-negative",
        });
    }
    let n_items = model.n_items();
    let dim = model.dim();
    if let Some(user) = user {
        if user.len() != dim {
            return Err(Error::DimensionMismatch {
                what: "shopper vector",
                expected: dim,
                found: user.len(),
            });
        }
        if let Some(index) = user.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite {
                what: "shopper vector",
                index,
            });
        }
    }
    for (position, (row, weight)) in interactions.iter().enumerate() {
        if *row as usize >= n_items {
            return Err(Error::InvalidReference {
                what: "interaction row".into(),
                index: *row as u64,
                limit: n_items as u64,
            });
        }
        if !(weight.is_finite() && *weight >= 0.0) {
            return Err(Error::NonFinite {
                what: "interaction weight",
                index: position,
            });
        }
    }
    Ok(blend)
}

/// The request's item ids as rows of the bundle. Ids the bundle does not
/// know are remembered once each, in the order the pipeline first looks them
/// up (exclusions, the context item, item boosts, pins), for
/// [`super::Ranking::unknown_ids`].
pub(super) struct RequestIds<'m> {
    model: &'m Model,
    /// The unknown ids, each once.
    pub(super) unknown: Vec<String>,
}

impl<'m> RequestIds<'m> {
    pub(super) fn new(model: &'m Model) -> RequestIds<'m> {
        RequestIds {
            model,
            unknown: Vec::new(),
        }
    }

    /// The row of `id`, or `None` (and `id` remembered) when the bundle does
    /// not know it.
    pub(super) fn row(&mut self, id: &str) -> Option<u32> {
        let row = self.model.item_row(id);
        if row.is_none() && !self.unknown.iter().any(|u| u == id) {
            self.unknown.push(id.to_string());
        }
        row
    }
}
