//! Ranking the catalogue for one slot.
//!
//! The score of an eligible item blends three sources with the bundle's
//! weights, plus any boosts the request gives:
//!
//! ```text
//! score = w_personal·(u·y) + w_neighbors·neighbour + w_trending·trending
//!       + w_repeat·repeat + boost
//! ```
//!
//! - personal: the shopper vector u, folded in from the profile
//!   ([`foldin`]), against the item factors, in f32 or int8;
//! - neighbour: the best similarity to the item on screen (`context_item`, at
//!   full strength) or to the shopper's heaviest items (scaled by their weight
//!   relative to the heaviest);
//! - trending: the item's score in the trending list of the shopper's country
//!   (or `"*"`), divided by the list's top score;
//! - repeat ("buy again"): ln(1 + decayed weight) of an item the shopper
//!   bought, among the interactions that were folded in; it counts only when
//!   the request keeps bought items (`exclude_purchased: false`).
//!
//! A request that keeps bought items (a "for you" slot) uses the bundle's
//! `keep_purchased` weights when it has them, and every other request the
//! top-level ones ([`RankingParams::blend`]): a slot of new items only and a
//! slot where buying again is likely want different balances.
//!
//! A shopper with no known history (cold start) has no personal term, so the
//! ranking comes from the item on screen and what is trending where they are.
//!
//! Business rules: out-of-stock items, items not shipped to the request's
//! country (or, without a country, any item limited to some countries), excluded items and categories, and (by default) items the shopper
//! bought, have in the cart or disliked are never ranked; pins place items at fixed positions;
//! `max_per_category` caps items per category (diversity). Ties break on the
//! lower item row, so the answer never depends on candidate order. Each item
//! carries the [`Reason`] whose term contributed most.
//!
//! Selection keeps a bounded heap ([`crate::score::select_top_k`]) and never
//! sorts every candidate.

pub mod foldin;
pub mod starter;

use serde::{Deserialize, Serialize};

use crate::bundle::{Model, RankingParams};
use crate::json::{self, Fields, JsonError, Value};
use crate::profile::{Profile, ProfileConfig};
use crate::score::{dot, select_top_k, ScoredItem};
use crate::Error;

/// The most items one request may ask for.
pub const MAX_K: usize = 1000;

/// How many of the shopper's heaviest items seed neighbour candidates.
pub const NEIGHBOR_SEEDS: usize = 8;

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

/// Why an item was recommended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// It matches the shopper's taste (the personal term dominated).
    Personal,
    /// It is similar to, or bought with, an item the shopper looked at.
    Similar {
        /// That item's id.
        to: String,
    },
    /// It is trending in the shopper's country (or everywhere: `"*"`).
    Trending {
        /// The list used.
        country: String,
    },
    /// It fills a slot with a context (an item page, the cart) that the
    /// context's neighbours could not fill: trending in the shopper's
    /// country, not related to the context.
    Filler {
        /// The trending list used.
        country: String,
    },
    /// The shopper bought it before (the "buy again" term dominated).
    BuyAgain,
    /// The request pinned it.
    Pinned,
    /// A boost placed it (no model term was positive).
    Boosted,
    /// Nothing else ranked it; it fills the slot in catalogue order.
    Fallback,
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The item's row in the bundle.
    pub row: u32,
    /// The item id.
    pub item: String,
    /// The blended score (pins keep the score they would have had).
    pub score: f32,
    /// Why it is here.
    pub reason: Reason,
}

/// The answer to a [`RankRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    /// The items, best first.
    pub items: Vec<Recommendation>,
    /// Whether a shopper vector was folded in (false: cold start).
    pub personalised: bool,
    /// Ids in the request that the bundle does not know (they were ignored).
    pub unknown_ids: Vec<String>,
}

/// Sparse per-item contributions (one row's, after [`merge_extras`]).
#[derive(Debug, Clone, Copy)]
struct Extra {
    row: u32,
    neighbor: f32,
    neighbor_of: u32,
    /// Σ over session (or context) seeds of strength × similarity.
    session: f32,
    /// The seed whose single contribution to `session` is the largest, by
    /// its rank in item-id order (`seed_rows`).
    session_of: u32,
    /// That contribution.
    session_best: f32,
    trending: f32,
    repeat: f32,
    boost: f32,
}

/// Ranks the catalogue for `profile` under `request`.
pub fn recommend(
    model: &Model,
    profile: &Profile,
    config: &ProfileConfig,
    request: &RankRequest,
) -> Result<Ranking, Error> {
    validate(request)?;
    let interactions = foldin::interactions(model, profile, config, request.now);
    let user = foldin::fold_in(model, &interactions)?;
    rank_with_vector(model, profile, request, user.as_deref(), &interactions)
}

fn validate(request: &RankRequest) -> Result<(), Error> {
    if request.k == 0 || request.k > MAX_K {
        return Err(Error::InvalidParameter {
            name: "k",
            reason: "must be 1 to 1000",
        });
    }
    let boosts = request.boost_categories.iter().chain(&request.boost_items);
    if boosts
        .clone()
        .any(|b| !(b.amount.is_finite() && b.amount.abs() <= 1e6))
    {
        return Err(Error::InvalidParameter {
            name: "boost",
            reason: "amounts must be finite and within ±1e6",
        });
    }
    let n_listed = request.exclude_items.len()
        + request.exclude_categories.len()
        + request.boost_categories.len()
        + request.boost_items.len()
        + request.pins.len();
    if n_listed > 10_000 {
        return Err(Error::InvalidParameter {
            name: "request",
            reason: "more than 10000 listed ids",
        });
    }
    Ok(())
}

/// Ranks with a given shopper vector (or none, for cold start) and the
/// interactions it came from (which seed the neighbour candidates and the
/// "buy again" term), with the bundle's ranking parameters.
pub fn rank_with_vector(
    model: &Model,
    profile: &Profile,
    request: &RankRequest,
    user: Option<&[f32]>,
    interactions: &[(u32, f64)],
) -> Result<Ranking, Error> {
    let params = &model.manifest().ranking;
    rank_with_params(model, params, profile, request, user, interactions)
}

/// [`rank_with_vector`] with blend weights other than the bundle's (the
/// trainer searches them with this, the one ranking implementation). Only the
/// weights of `params` are read (the `weight_*` fields, or `keep_purchased`
/// for a request that keeps bought items, see [`RankingParams::blend`]); they
/// must be finite and non-negative.
pub fn rank_with_params(
    model: &Model,
    params: &RankingParams,
    profile: &Profile,
    request: &RankRequest,
    user: Option<&[f32]>,
    interactions: &[(u32, f64)],
) -> Result<Ranking, Error> {
    validate(request)?;
    // The weight set of this kind of slot: "for you" requests that keep
    // bought items may have their own.
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
    let mut unknown_ids = Vec::new();
    let mut row_of = |id: &str| {
        let row = model.item_row(id);
        if row.is_none() && !unknown_ids.iter().any(|u| u == id) {
            unknown_ids.push(id.to_string());
        }
        row
    };

    // Eligibility: stock, country, categories, exclusions, history.
    let mut eligible = model.in_stock.clone();
    // An item limited to some countries is shown only when the request names
    // one of them; without a country it cannot be known to ship.
    for (row, countries) in &model.country_limits {
        let ships = request
            .country
            .as_ref()
            .is_some_and(|country| countries.contains(country));
        eligible[*row as usize] &= ships;
    }
    if !request.exclude_categories.is_empty() {
        let excluded: Vec<bool> = model
            .categories
            .iter()
            .map(|c| request.exclude_categories.contains(c))
            .collect();
        for (flag, category) in eligible.iter_mut().zip(&model.item_category) {
            *flag &= !excluded[*category as usize];
        }
    }
    for id in &request.exclude_items {
        if let Some(row) = row_of(id) {
            eligible[row as usize] = false;
        }
    }
    if request.exclude_in_cart {
        for line in &profile.cart {
            if let Some(row) = model.item_row(&line.id) {
                eligible[row as usize] = false;
            }
        }
    }
    for signal in &profile.items {
        if signal.disliked || (request.exclude_purchased && signal.purchased) {
            if let Some(row) = model.item_row(&signal.id) {
                eligible[row as usize] = false;
            }
        }
    }

    // Sparse contributions: neighbours, trending, item boosts.
    let mut extras: Vec<Extra> = Vec::new();
    let mut add = |row: u32, f: &dyn Fn(&mut Extra)| {
        let mut extra = Extra {
            row,
            neighbor: 0.0,
            neighbor_of: u32::MAX,
            session: 0.0,
            session_of: u32::MAX,
            session_best: 0.0,
            trending: 0.0,
            repeat: 0.0,
            boost: 0.0,
        };
        f(&mut extra);
        extras.push(extra);
    };
    // History seeds: the shopper's heaviest interactions, whatever order the
    // caller lists them in (ties to the lower row), each scaled by its weight
    // relative to the heaviest; an item's best seed counts.
    let mut heaviest_first: Vec<(u32, f64)> = interactions.to_vec();
    crate::order::sort_by(&mut heaviest_first, |a, b| {
        b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
    });
    let heaviest = heaviest_first.first().map_or(0.0, |(_, w)| *w);
    // Session or context seeds: their neighbours' similarities add up, so an
    // item related to several things the shopper is looking at ranks above
    // one related to a single one.
    let session_weights = params.session_weights();
    let slot = request.slot_kind();
    let session_seeds: Vec<(u32, f32)> = match slot {
        Slot::ForYou => session_seeds(model, profile, request.now, session_weights.session_decay),
        Slot::ItemPage => request
            .context_item
            .as_deref()
            .and_then(&mut row_of)
            .map(|row| vec![(row, 1.0)])
            .unwrap_or_default(),
        Slot::Basket => {
            let mut rows: Vec<u32> = profile
                .cart
                .iter()
                .filter_map(|line| model.item_row(&line.id))
                .collect();
            crate::order::sort_by(&mut rows, u32::cmp);
            rows.dedup();
            rows.into_iter().map(|row| (row, 1.0)).collect()
        }
    };
    // Seeds are named by their rank in item-id order, so a tie between two
    // seeds (the lower one wins) breaks the same way whatever the
    // catalogue's row order.
    let mut seed_rows: Vec<u32> = heaviest_first
        .iter()
        .take(NEIGHBOR_SEEDS)
        .map(|(row, _)| *row)
        .chain(session_seeds.iter().map(|(row, _)| *row))
        .collect();
    let id_of = |row: u32| model.item(row).map_or("", |m| m.id.as_str());
    crate::order::sort_by(&mut seed_rows, |a, b| {
        id_of(*a).cmp(id_of(*b)).then(a.cmp(b))
    });
    seed_rows.dedup();
    let seed_rank = |row: u32| {
        seed_rows
            .iter()
            .position(|r| *r == row)
            .map_or(u32::MAX, |rank| rank as u32)
    };
    for (seed, weight) in heaviest_first.iter().take(NEIGHBOR_SEEDS) {
        if heaviest > 0.0 {
            let strength = (*weight / heaviest) as f32;
            let rank = seed_rank(*seed);
            for (row, similarity) in model.neighbors(*seed) {
                let value = similarity * strength;
                add(row, &|e| {
                    e.neighbor = value;
                    e.neighbor_of = rank;
                });
            }
        }
    }
    // A "for you" slot does not show again what the shopper only looked at in
    // this session: it shows where those items lead (the item on screen has a
    // slot of its own). Bought and carted items follow the request's
    // `exclude_purchased` and `exclude_in_cart` instead.
    if slot == Slot::ForYou {
        let kept_by_request = |row: u32| {
            let Some(id) = model.item(row).map(|m| m.id.as_str()) else {
                return false;
            };
            profile.cart.iter().any(|line| line.id == id)
                || profile
                    .items
                    .iter()
                    .any(|signal| signal.id == id && signal.purchased)
        };
        for (seed, _) in &session_seeds {
            if !kept_by_request(*seed) {
                eligible[*seed as usize] = false;
            }
        }
    }
    for (seed, strength) in &session_seeds {
        let rank = seed_rank(*seed);
        for (row, similarity) in model.neighbors(*seed) {
            let value = similarity * strength;
            add(row, &|e| {
                e.session = value;
                e.session_of = rank;
                e.session_best = value;
            });
        }
    }
    let (trending_country, trending) = model.trending(request.country.as_deref());
    let trending_country = trending_country.to_string();
    let top_trend = trending.iter().fold(0.0f32, |m, (_, s)| m.max(*s));
    if top_trend > 0.0 {
        for (row, score) in &trending {
            let value = score / top_trend;
            add(*row, &|e| e.trending = value);
        }
    }
    for boost in &request.boost_items {
        if let Some(row) = row_of(&boost.key) {
            let amount = boost.amount;
            add(row, &|e| e.boost = amount);
        }
    }
    if !request.exclude_purchased && blend.weight_repeat > 0.0 {
        let mut bought: Vec<u32> = profile
            .items
            .iter()
            .filter(|signal| signal.purchased && !signal.disliked)
            .filter_map(|signal| model.item_row(&signal.id))
            .collect();
        crate::order::sort_by(&mut bought, u32::cmp);
        for (row, weight) in interactions {
            if bought.binary_search(row).is_ok() {
                let value = weight.ln_1p() as f32;
                add(*row, &|e| e.repeat = value);
            }
        }
    }
    let extras = merge_extras(extras, n_items);

    let mut category_boost = vec![0.0f32; model.categories.len()];
    for boost in &request.boost_categories {
        if let Ok(position) = model.categories.binary_search(&boost.key) {
            category_boost[position] += boost.amount;
        }
    }

    let weight_personal = if user.is_some() {
        blend.weight_personal
    } else {
        0.0
    };
    let personal = Personal::new(model, user, request.int8);

    // Dense pass: every item's personal term and category boost, in one tight
    // loop per kind so the compiler can vectorise it. Then the sparse terms.
    let mut scores = vec![0.0f32; n_items];
    personal.score_all(weight_personal, &mut scores);
    if category_boost.iter().any(|b| *b != 0.0) {
        for (score, category) in scores.iter_mut().zip(&model.item_category) {
            *score += category_boost[*category as usize];
        }
    }
    let is_context_slot = slot != Slot::ForYou;
    // In a "for you" slot the session's neighbours are one more term of the
    // blend; in a context slot they rank first, in a pass of their own.
    let weight_session = if is_context_slot {
        0.0
    } else {
        session_weights.weight_session
    };
    for e in &extras.entries {
        scores[e.row as usize] += blend.weight_neighbors * e.neighbor
            + weight_session * e.session
            + blend.weight_trending * e.trending
            + blend.weight_repeat * e.repeat
            + e.boost;
    }

    // Pins first, so they are not counted again by the selection.
    let mut pins: Vec<(usize, u32)> = Vec::new();
    for pin in &request.pins {
        if let Some(row) = row_of(&pin.item) {
            if eligible[row as usize] && !pins.iter().any(|(_, r)| *r == row) {
                pins.push((pin.position, row));
            }
        }
    }
    for (_, row) in &pins {
        eligible[*row as usize] = false;
    }
    crate::order::sort_by_key(&mut pins, |(position, row)| (*position, *row));

    let n_ranked = request.k.saturating_sub(pins.len());
    let caps = request.max_per_category;
    let choose = |scores: &[f32], eligible: &[bool], n: usize| -> Vec<ScoredItem> {
        let scan = |budget: usize| -> Vec<ScoredItem> {
            let scored = scores
                .iter()
                .zip(eligible)
                .enumerate()
                .filter(|(_, (_, eligible))| **eligible)
                .map(|(row, (score, _))| ScoredItem {
                    index: row as u32,
                    score: *score,
                });
            select_top_k(scored, budget)
        };
        match caps {
            None => scan(n),
            Some(cap) => {
                // A shortlist four times the slot usually fills it under the
                // caps; when it does not, rank everything (still deterministic).
                let budget = n.saturating_mul(4).max(n + 16);
                let shortlist = scan(budget);
                let capped = apply_caps(model, &shortlist, cap, n);
                if capped.len() < n && shortlist.len() == budget {
                    apply_caps(model, &scan(n_items), cap, n)
                } else {
                    capped
                }
            }
        }
    };
    // A context slot: the context's neighbours by their summed similarity
    // (with the bundle's small trending and personal terms to order near
    // ties), then the blend fills what they cannot.
    let mut context_chosen: Vec<ScoredItem> = Vec::new();
    if is_context_slot {
        let mut context_scores = vec![0.0f32; n_items];
        let mut context_eligible = vec![false; n_items];
        for e in &extras.entries {
            if e.session > 0.0 && eligible[e.row as usize] {
                let row = e.row as usize;
                context_eligible[row] = true;
                context_scores[row] = e.session
                    + session_weights.context_trending * e.trending
                    + session_weights.context_personal * personal.score(row)
                    + e.boost
                    + category_boost[model.item_category[row] as usize];
            }
        }
        context_chosen = choose(&context_scores, &context_eligible, n_ranked);
        for item in &context_chosen {
            eligible[item.index as usize] = false;
        }
    }
    let chosen: Vec<ScoredItem> = choose(
        &scores,
        &eligible,
        n_ranked.saturating_sub(context_chosen.len()),
    );

    let extra_of = |row: u32| extras.of(row);
    let seed_id = |rank: u32| {
        seed_rows
            .get(rank as usize)
            .and_then(|row| model.item(*row))
            .map(|m| m.id.clone())
            .unwrap_or_default()
    };
    let reason_of = |row: u32| -> Reason {
        let personal_term = weight_personal * personal.score(row as usize);
        let extra = extra_of(row);
        let neighbor_term = extra.map_or(0.0, |e| blend.weight_neighbors * e.neighbor);
        let session_term = extra.map_or(0.0, |e| weight_session * e.session);
        let trending_term = extra.map_or(0.0, |e| blend.weight_trending * e.trending);
        let repeat_term = extra.map_or(0.0, |e| blend.weight_repeat * e.repeat);
        let boost_term = extra.map_or(0.0, |e| e.boost)
            + category_boost[model.item_category[row as usize] as usize];
        let best = personal_term
            .max(neighbor_term)
            .max(session_term)
            .max(trending_term)
            .max(repeat_term);
        if best > 0.0 {
            if repeat_term == best {
                Reason::BuyAgain
            } else if session_term == best {
                Reason::Similar {
                    to: seed_id(extra.map_or(u32::MAX, |e| e.session_of)),
                }
            } else if personal_term == best {
                Reason::Personal
            } else if neighbor_term == best {
                Reason::Similar {
                    to: seed_id(extra.map_or(u32::MAX, |e| e.neighbor_of)),
                }
            } else if is_context_slot {
                Reason::Filler {
                    country: trending_country.clone(),
                }
            } else {
                Reason::Trending {
                    country: trending_country.clone(),
                }
            }
        } else if boost_term > 0.0 {
            Reason::Boosted
        } else {
            Reason::Fallback
        }
    };
    let recommendation = |row: u32, score: f32, reason: Reason| Recommendation {
        row,
        item: model.item(row).map(|m| m.id.clone()).unwrap_or_default(),
        score,
        reason,
    };
    let mut items: Vec<Recommendation> = context_chosen
        .iter()
        .map(|s| {
            let seed = extra_of(s.index).map_or(u32::MAX, |e| e.session_of);
            recommendation(s.index, s.score, Reason::Similar { to: seed_id(seed) })
        })
        .collect();
    items.extend(
        chosen
            .iter()
            .map(|s| recommendation(s.index, s.score, reason_of(s.index))),
    );
    for (position, row) in pins {
        let score = scores[row as usize];
        let at = position.min(items.len());
        items.insert(at, recommendation(row, score, Reason::Pinned));
    }
    items.truncate(request.k);
    Ok(Ranking {
        items,
        personalised: user.is_some(),
        unknown_ids,
    })
}

impl Extra {
    /// Folds another contribution of the same row into this one: the
    /// strongest neighbour wins (ties to the lower seed row), the larger
    /// trending and repeat terms are kept, boosts add up.
    fn absorb(&mut self, e: &Extra) {
        if e.neighbor > self.neighbor
            || (e.neighbor == self.neighbor && e.neighbor_of < self.neighbor_of)
        {
            self.neighbor = e.neighbor;
            self.neighbor_of = e.neighbor_of;
        }
        self.session += e.session;
        if e.session_best > self.session_best
            || (e.session_best == self.session_best && e.session_of < self.session_of)
        {
            self.session_best = e.session_best;
            self.session_of = e.session_of;
        }
        self.trending = self.trending.max(e.trending);
        self.repeat = self.repeat.max(e.repeat);
        self.boost += e.boost;
    }
}

/// The contributions merged to one per row, and where each row's is.
struct MergedExtras {
    /// One entry per row, in the order the rows first contributed.
    entries: Vec<Extra>,
    /// For every item row, its entry's index in `entries`, or `u32::MAX`.
    slot_of: Vec<u32>,
}

impl MergedExtras {
    fn of(&self, row: u32) -> Option<&Extra> {
        let slot = *self.slot_of.get(row as usize)?;
        self.entries.get(slot as usize)
    }
}

/// Merges the contributions of one row ([`Extra::absorb`], in the order
/// given). A row's entries are merged in their order in `extras`, exactly as
/// a stable sort by row followed by a merge of neighbours would, without
/// sorting: a slot per item row (`n_items` of them) finds a row's entry.
fn merge_extras(extras: Vec<Extra>, n_items: usize) -> MergedExtras {
    let mut slot_of = vec![u32::MAX; n_items];
    let mut entries: Vec<Extra> = Vec::with_capacity(extras.len());
    for e in extras {
        let slot = &mut slot_of[e.row as usize];
        match entries.get_mut(*slot as usize) {
            Some(merged) => merged.absorb(&e),
            None => {
                *slot = entries.len() as u32;
                entries.push(e);
            }
        }
    }
    MergedExtras { entries, slot_of }
}

/// Walks a best-first list and keeps at most `cap` items per category.
fn apply_caps(model: &Model, ranked: &[ScoredItem], cap: usize, k: usize) -> Vec<ScoredItem> {
    let mut per_category = vec![0usize; model.categories.len()];
    let mut kept = Vec::with_capacity(k);
    for item in ranked {
        if kept.len() == k {
            break;
        }
        let count = &mut per_category[model.item_category[item.index as usize] as usize];
        if *count < cap {
            *count += 1;
            kept.push(*item);
        }
    }
    kept
}

/// The personal term, in f32 or int8.
enum Personal<'a> {
    None,
    F32 {
        user: &'a [f32],
        factors: &'a [f32],
        dim: usize,
    },
    Int8 {
        user: Vec<i8>,
        user_scale: f32,
        factors: &'a [i8],
        scales: &'a [f32],
        dim: usize,
    },
}

impl<'a> Personal<'a> {
    fn new(model: &'a Model, user: Option<&'a [f32]>, int8: bool) -> Personal<'a> {
        let dim = model.dim();
        match user {
            None => Personal::None,
            Some(user) if !int8 => Personal::F32 {
                user,
                factors: &model.item_factors,
                dim,
            },
            Some(user) => {
                let (user_q, user_scale) = quantise(user);
                Personal::Int8 {
                    user: user_q,
                    user_scale,
                    factors: &model.item_factors_i8,
                    scales: &model.item_scales,
                    dim,
                }
            }
        }
    }

    /// Writes `weight ·` the personal term of every item into `out`.
    ///
    /// On x86-64 CPUs with AVX2 the same code is compiled a second time with
    /// AVX2 enabled and chosen at run time. The arithmetic is the same
    /// (integer sums are exact; the f32 sums keep their order and are never
    /// fused), so both builds give bit-identical scores.
    fn score_all(&self, weight: f32, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2, checked just above.
                unsafe { self.score_all_avx2(weight, out) };
                return;
            }
        }
        self.score_all_portable(weight, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn score_all_avx2(&self, weight: f32, out: &mut [f32]) {
        self.score_all_portable(weight, out);
    }

    #[inline(always)]
    fn score_all_portable(&self, weight: f32, out: &mut [f32]) {
        match self {
            Personal::None => {}
            Personal::F32 { user, factors, dim } => {
                // Four rows at a time: four independent dependency chains,
                // each summed exactly as `dot` sums, so the results are
                // bit-identical to `dot` while the CPU overlaps the chains.
                let block = 4 * dim;
                let mut out_blocks = out.chunks_exact_mut(4);
                let mut row_blocks = factors.chunks_exact(block);
                for (out4, rows) in (&mut out_blocks).zip(&mut row_blocks) {
                    let (r0, rest) = rows.split_at(*dim);
                    let (r1, rest) = rest.split_at(*dim);
                    let (r2, r3) = rest.split_at(*dim);
                    let scores = dot4(user, [r0, r1, r2, r3]);
                    for (o, s) in out4.iter_mut().zip(scores) {
                        *o = weight * s;
                    }
                }
                let rest = row_blocks.remainder().chunks_exact(*dim);
                for (o, row) in out_blocks.into_remainder().iter_mut().zip(rest) {
                    *o = weight * dot(user, row);
                }
            }
            Personal::Int8 {
                user,
                user_scale,
                factors,
                scales,
                dim,
            } => {
                // An index loop: the size-optimised wasm build leaves
                // iterator adapters out of line in this hot loop.
                let rows = out.len().min(scales.len()).min(factors.len() / dim);
                for row in 0..rows {
                    let factors = &factors[row * dim..row * dim + dim];
                    out[row] = weight * (dot_i8(user, factors) as f32 * user_scale * scales[row]);
                }
            }
        }
    }

    #[inline]
    fn score(&self, row: usize) -> f32 {
        match self {
            Personal::None => 0.0,
            Personal::F32 { user, factors, dim } => dot(user, &factors[row * dim..row * dim + dim]),
            Personal::Int8 {
                user,
                user_scale,
                factors,
                scales,
                dim,
            } => {
                let q = dot_i8(user, &factors[row * dim..row * dim + dim]);
                q as f32 * user_scale * scales[row]
            }
        }
    }
}

/// Four dot products of `user` with four rows, each summed in exactly the
/// order of [`dot`] (four accumulators, then the tail).
#[inline(always)]
fn dot4(user: &[f32], rows: [&[f32]; 4]) -> [f32; 4] {
    let mut acc = [[0.0f32; 4]; 4];
    let n_full = user.len() / 4 * 4;
    let mut i = 0;
    while i < n_full {
        let u = &user[i..i + 4];
        for (acc_row, row) in acc.iter_mut().zip(&rows) {
            let y = &row[i..i + 4];
            acc_row[0] += u[0] * y[0];
            acc_row[1] += u[1] * y[1];
            acc_row[2] += u[2] * y[2];
            acc_row[3] += u[3] * y[3];
        }
        i += 4;
    }
    let mut out = [0.0f32; 4];
    for ((o, acc_row), row) in out.iter_mut().zip(&acc).zip(&rows) {
        let mut tail = 0.0f32;
        for (x, y) in user[n_full..].iter().zip(&row[n_full..]) {
            tail += x * y;
        }
        *o = (acc_row[0] + acc_row[1]) + (acc_row[2] + acc_row[3]) + tail;
    }
    out
}

/// Quantises a vector to int8 with one scale max|x| / 127.
pub fn quantise(x: &[f32]) -> (Vec<i8>, f32) {
    let max = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if !(max > 0.0 && max.is_finite()) {
        return (vec![0; x.len()], 1.0);
    }
    let scale = max / 127.0;
    let q = x
        .iter()
        .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (q, scale)
}

/// Integer dot product of two int8 vectors, exact in i32 for d ≤ 2^17.
/// Integer addition is associative, so the compiler may reorder (vectorise)
/// the sum without changing the result on any platform.
///
/// The browser's build (wasm32 with SIMD128) sums sixteen products per step
/// with `i32x4.dot_i16x8_s` (`score::dot_i8_simd128`); the sum is
/// exact either way, so the result is identical.
#[inline(always)]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        crate::score::dot_i8_simd128(a, b)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        crate::score::dot_i8_scalar(a, b)
    }
}

/// The current session's items as neighbour seeds, most recent first, the
/// i-th with strength `decay`ⁱ: the items the shopper touched since the
/// session began, while it lasts (its last event within the profile's
/// session gap of `now`). None when the session is over.
fn session_seeds(model: &Model, profile: &Profile, now: i64, decay: f32) -> Vec<(u32, f32)> {
    let gap = model.profile_config().params().session_gap_secs;
    let live = profile
        .latest_at
        .is_some_and(|latest| now.saturating_sub(latest) <= gap);
    if !live {
        return Vec::new();
    }
    let started = profile.session.started_at;
    let mut recent: Vec<(i64, u32)> = profile
        .items
        .iter()
        .filter(|signal| signal.at >= started && !signal.disliked)
        .filter_map(|signal| model.item_row(&signal.id).map(|row| (signal.at, row)))
        .collect();
    crate::order::sort_by(&mut recent, |a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut strength = 1.0f32;
    recent
        .into_iter()
        .take(NEIGHBOR_SEEDS)
        .map(|(_, row)| {
            let seed = (row, strength);
            strength *= decay;
            seed
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;

    /// The merge as it was: a stable sort by row, then neighbouring entries
    /// of one row folded in order (with the same `Extra::absorb`).
    fn merge_by_sorting(mut extras: Vec<Extra>) -> Vec<Extra> {
        extras.sort_by_key(|e| e.row);
        let mut merged: Vec<Extra> = Vec::new();
        for e in extras {
            match merged.last_mut() {
                Some(last) if last.row == e.row => last.absorb(&e),
                _ => merged.push(e),
            }
        }
        merged
    }

    #[test]
    fn merging_without_a_sort_gives_every_row_the_same_bits() {
        let mut rng = Rng::new(17);
        for case in 0..200 {
            let n_items = 1 + rng.below(40) as usize;
            let n = rng.below(120) as usize;
            let pick = |rng: &mut Rng| if rng.below(3) == 0 { 0.0 } else { rng.unit() };
            let extras: Vec<Extra> = (0..n)
                .map(|_| Extra {
                    row: rng.below(n_items as u64) as u32,
                    // Few distinct values, so ties between neighbours happen.
                    neighbor: (rng.below(4) as f32) / 4.0,
                    neighbor_of: rng.below(5) as u32,
                    session: (rng.below(4) as f32) / 4.0,
                    session_of: rng.below(5) as u32,
                    session_best: (rng.below(4) as f32) / 4.0,
                    trending: pick(&mut rng),
                    repeat: pick(&mut rng),
                    boost: pick(&mut rng) * 1e3 - 500.0,
                })
                .collect();
            let expected = merge_by_sorting(extras.clone());
            let merged = merge_extras(extras, n_items);
            assert_eq!(merged.entries.len(), expected.len(), "case {case}");
            for want in &expected {
                let got = merged.of(want.row).expect("every row that contributed");
                let bits = |e: &Extra| {
                    (
                        e.row,
                        e.neighbor.to_bits(),
                        e.neighbor_of,
                        e.trending.to_bits(),
                        e.repeat.to_bits(),
                        e.boost.to_bits(),
                    )
                };
                assert_eq!(bits(got), bits(want), "case {case}");
            }
            for row in 0..n_items as u32 {
                assert_eq!(
                    merged.of(row).is_some(),
                    expected.iter().any(|e| e.row == row)
                );
            }
        }
    }

    #[test]
    fn dot4_is_bit_identical_to_dot() {
        let mut rng = Rng::new(11);
        for dim in [1, 3, 4, 7, 32, 33, 64] {
            let mut vector = || (0..dim).map(|_| rng.unit() - 0.5).collect::<Vec<f32>>();
            let user = vector();
            let rows = [vector(), vector(), vector(), vector()];
            let got = dot4(&user, [&rows[0], &rows[1], &rows[2], &rows[3]]);
            for (g, row) in got.iter().zip(&rows) {
                assert_eq!(g.to_bits(), dot(&user, row).to_bits(), "dim {dim}");
            }
        }
    }

    #[test]
    fn dispatched_and_portable_scores_are_bit_identical() {
        use crate::testing::{synthetic_bundle, SyntheticSpec};
        let built = synthetic_bundle(&SyntheticSpec {
            n_items: 301,
            dim: 37,
            ..SyntheticSpec::default()
        });
        let model = Model::from_bytes(&built.manifest, &built.tensors).unwrap();
        let mut rng = Rng::new(3);
        let user: Vec<f32> = (0..37).map(|_| rng.unit() - 0.5).collect();
        for int8 in [false, true] {
            let personal = Personal::new(&model, Some(&user), int8);
            let mut dispatched = vec![0.0f32; 301];
            let mut portable = vec![0.0f32; 301];
            personal.score_all(0.7, &mut dispatched);
            personal.score_all_portable(0.7, &mut portable);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&dispatched), bits(&portable), "int8 = {int8}");
            for (row, score) in portable.iter().enumerate() {
                assert_eq!(score.to_bits(), (0.7 * personal.score(row)).to_bits());
            }
        }
    }

    #[test]
    fn dot_i8_is_exact() {
        let check = |a: &[i8], b: &[i8], want: i32| assert_eq!(dot_i8(a, b), want);
        check(&[127; 64], &[127; 64], 64 * 127 * 127);
        check(&[-127; 64], &[127; 64], -64 * 127 * 127);
        check(&[1, 2, 3], &[4, -5, 6], 12);
        check(&[], &[], 0);
    }
}
