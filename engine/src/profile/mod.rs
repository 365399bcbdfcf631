//! The on-device shopper profile: what the engine remembers between events.
//!
//! A [`Profile`] is built by applying [`Event`]s in time order. It holds
//! per-item interaction weights with exponential time decay, the cart, recent
//! search queries, lifetime order figures (for RFM and loyalty), a decayed price
//! statistic (for the price tier) and the current session's page counters (for
//! purchase intent).
//!
//! Its size is bounded: [`ProfileConfig`] limits the number of items, cart
//! lines, queries and the length of ids and queries, and
//! [`ProfileParams::validate`] refuses limits whose worst-case serialized size
//! (binary or JSON) exceeds `max_bytes` (64 KiB by default). When the item list
//! is full, the item with the lowest decayed weight is forgotten.
//!
//! Decay is lazy: each item stores its weight as of its own last update, so one
//! event touches one item, and a weight is brought to the present when read:
//! `w(t) = w · 2^(−(t − at) / half_life)`.
//!
//! Two serializations, both versioned: a compact binary one ([`Profile::to_bytes`],
//! with a magic, a version and a CRC-32) and JSON through serde
//! ([`Profile::to_json`]). Reading either checks the version first and then every
//! invariant, so an old or corrupt profile is refused with a typed error and
//! never misread.

pub(crate) mod codec;

/// Internals the crate's tests use to forge profiles.
#[cfg(test)]
pub(crate) mod tests_support {
    pub(crate) use super::codec::crc32;
}

use serde::{Deserialize, Serialize};

use crate::events::{check_item_id, Event, EventKind, EventLimits, PageKind, MAX_TIME};
use crate::Error;

/// The profile format version this engine reads and writes (both encodings).
pub const PROFILE_VERSION: u32 = 1;

const SECONDS_PER_DAY: f64 = 86_400.0;

/// Unchecked profile parameters. Turn them into a [`ProfileConfig`] with
/// [`ProfileParams::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileParams {
    /// Most items remembered.
    pub max_items: usize,
    /// Most cart lines.
    pub max_cart_lines: usize,
    /// Most recent search queries remembered.
    pub max_queries: usize,
    /// Longest stored query, in bytes (longer queries are cut).
    pub max_query_len: usize,
    /// Longest item id, in bytes.
    pub max_item_id_len: usize,
    /// Bound on the serialized size (binary and JSON), in bytes.
    pub max_bytes: usize,
    /// Half-life of interaction weights, in days.
    pub half_life_days: f64,
    /// Inactivity after which a new session starts, in seconds.
    pub session_gap_secs: i64,
    /// How far before the latest event an event may still arrive, in seconds.
    pub max_reorder_secs: i64,
    /// Weight added per product view.
    pub weight_view: f32,
    /// Weight added per add-to-cart.
    pub weight_add_to_cart: f32,
    /// Weight added per purchased line.
    pub weight_purchase: f32,
    /// Weight added per star above three in a rating.
    pub weight_rating_star: f32,
}

impl Default for ProfileParams {
    fn default() -> Self {
        ProfileParams {
            max_items: 200,
            max_cart_lines: 50,
            max_queries: 8,
            max_query_len: 64,
            max_item_id_len: 64,
            max_bytes: 64 * 1024,
            half_life_days: 30.0,
            session_gap_secs: 30 * 60,
            max_reorder_secs: 5 * 60,
            weight_view: 1.0,
            weight_add_to_cart: 3.0,
            weight_purchase: 5.0,
            weight_rating_star: 2.0,
        }
    }
}

impl ProfileParams {
    /// Checks the parameters once, up front, including that the worst-case
    /// profile they allow serializes within `max_bytes` in both encodings.
    pub fn validate(self) -> Result<ProfileConfig, Error> {
        let invalid = |name, reason| Err(Error::InvalidParameter { name, reason });
        if self.max_items == 0 || self.max_items > 100_000 {
            return invalid("max_items", "must be 1 to 100000");
        }
        if self.max_cart_lines == 0 || self.max_cart_lines > 10_000 {
            return invalid("max_cart_lines", "must be 1 to 10000");
        }
        if self.max_queries > 1000 || self.max_query_len > 1024 {
            return invalid("max_queries", "at most 1000 queries of 1024 bytes");
        }
        if self.max_item_id_len == 0 || self.max_item_id_len > 1024 {
            return invalid("max_item_id_len", "must be 1 to 1024");
        }
        if !(self.half_life_days > 0.0 && self.half_life_days <= 36_500.0) {
            return invalid("half_life_days", "must be in (0, 36500]");
        }
        if !(1..=MAX_TIME).contains(&self.session_gap_secs)
            || !(0..=MAX_TIME).contains(&self.max_reorder_secs)
        {
            return invalid("session_gap_secs", "must be positive and below MAX_TIME");
        }
        for weight in [
            self.weight_view,
            self.weight_add_to_cart,
            self.weight_purchase,
            self.weight_rating_star,
        ] {
            if !(0.0..=1e6).contains(&weight) {
                return invalid("weight", "event weights must be in [0, 1e6]");
            }
        }
        let config = ProfileConfig { params: self };
        let worst = Profile::worst_case(&config);
        let binary = worst.to_bytes().len();
        let json = worst.to_json().len();
        // A 5% margin covers floats whose shortest decimal form is longer
        // than the ones the worst case uses.
        let budget = config.params.max_bytes - config.params.max_bytes / 20;
        if binary.max(json) > budget {
            return invalid(
                "max_bytes",
                "the limits allow a profile larger than max_bytes",
            );
        }
        Ok(config)
    }
}

/// Validated profile parameters (see [`ProfileParams`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileConfig {
    params: ProfileParams,
}

impl Default for ProfileConfig {
    /// The defaults of [`ProfileParams`], which satisfy every check.
    fn default() -> Self {
        ProfileConfig {
            params: ProfileParams::default(),
        }
    }
}

impl ProfileConfig {
    /// The parameters.
    pub fn params(&self) -> &ProfileParams {
        &self.params
    }
    /// Longest item id, in bytes.
    pub fn max_item_id_len(&self) -> usize {
        self.params.max_item_id_len
    }
    /// Most items remembered.
    pub fn max_items(&self) -> usize {
        self.params.max_items
    }
    /// The limits an event recorded into a profile is checked against: its
    /// item ids at most `max_item_id_len` bytes, an order at most
    /// `max_items` lines.
    pub fn event_limits(&self) -> EventLimits {
        EventLimits {
            max_item_id_len: self.params.max_item_id_len,
            max_order_lines: self.params.max_items,
        }
    }
    /// The decay factor over `seconds` (1 for zero or negative spans).
    pub fn decay(&self, seconds: i64) -> f64 {
        if seconds <= 0 {
            return 1.0;
        }
        let half_lives = seconds as f64 / (self.params.half_life_days * SECONDS_PER_DAY);
        (-half_lives * std::f64::consts::LN_2).exp()
    }
}

/// What the profile remembers about one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemSignal {
    /// The item id.
    pub id: String,
    /// The interaction weight as of `at` (non-negative, finite).
    pub weight: f32,
    /// When the weight was last updated (unix seconds).
    pub at: i64,
    /// Whether the shopper bought it.
    pub purchased: bool,
    /// Whether the shopper rated it two stars or fewer.
    pub disliked: bool,
}

/// One cart line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartLine {
    /// The item id.
    pub id: String,
    /// How many (1..=[`crate::events::MAX_QUANTITY`] × lines).
    pub quantity: u32,
    /// Unit price when last added.
    pub price: f64,
}

/// The current session's counters, as the UCI Online Shoppers data counts them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionState {
    /// When the session's first event happened.
    pub started_at: i64,
    /// When its latest page view happened.
    pub last_view_at: Option<i64>,
    /// The kind of the latest page viewed.
    pub last_page: Option<PageKind>,
    /// Page views per kind (administrative, informational, product).
    pub pages: [u32; 3],
    /// Seconds spent per kind, measured between consecutive page views.
    pub durations: [f64; 3],
    /// Whether the session ended in a purchase.
    pub purchased: bool,
}

/// The on-device profile. See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Always [`PROFILE_VERSION`].
    pub version: u32,
    /// Items, sorted by id, unique; at most `max_items`.
    pub items: Vec<ItemSignal>,
    /// Cart lines, unique ids, in the order first added; at most `max_cart_lines`.
    pub cart: Vec<CartLine>,
    /// Recent search queries, oldest first; at most `max_queries`.
    pub queries: Vec<String>,
    /// Orders placed.
    pub orders: u32,
    /// Lifetime spend (sum of quantity × price over orders).
    pub spend: f64,
    /// When the first order was placed.
    pub first_purchase_at: Option<i64>,
    /// When the latest order was placed.
    pub last_purchase_at: Option<i64>,
    /// When the first event happened.
    pub first_seen_at: Option<i64>,
    /// When the latest event happened.
    pub latest_at: Option<i64>,
    /// Decayed sum of weights of priced interactions, as of `price_at`.
    pub price_weight: f64,
    /// Decayed weighted sum of ln(1 + price), as of `price_at`.
    pub price_log_sum: f64,
    /// When the price statistic was last updated.
    pub price_at: i64,
    /// Sessions started.
    pub sessions: u32,
    /// Earlier sessions that ended with a non-empty cart and no purchase.
    pub abandoned_carts: u32,
    /// The current session.
    pub session: SessionState,
}

impl Profile {
    /// An empty profile.
    pub fn new() -> Profile {
        Profile {
            version: PROFILE_VERSION,
            ..Profile::default()
        }
    }

    /// Applies one event. The event is validated first; on any error the
    /// profile is unchanged.
    pub fn apply(&mut self, event: &Event, config: &ProfileConfig) -> Result<(), Error> {
        event.validate(&config.event_limits())?;
        let params = &config.params;
        let at = event.at;
        if let Some(latest) = self.latest_at {
            if at < latest.saturating_sub(params.max_reorder_secs) {
                return Err(Error::EventOutOfOrder {
                    event_at: at,
                    latest_at: latest,
                });
            }
        }
        // Checks that can fail come before any change.
        if let EventKind::AddToCart { item, .. } = &event.kind {
            let known = self.cart.iter().any(|line| &line.id == item);
            if !known && self.cart.len() >= params.max_cart_lines {
                return Err(Error::InvalidEvent {
                    field: "item",
                    reason: "the cart is full",
                });
            }
        }

        // Session bookkeeping uses the latest time seen, so a slightly late
        // event never moves the session backwards.
        let now = self.latest_at.map_or(at, |latest| latest.max(at));
        let new_session = match self.latest_at {
            None => true,
            Some(latest) => at.saturating_sub(latest) > params.session_gap_secs,
        };
        if new_session {
            if self.sessions > 0 && !self.cart.is_empty() && !self.session.purchased {
                self.abandoned_carts = self.abandoned_carts.saturating_add(1);
            }
            self.sessions = self.sessions.saturating_add(1);
            self.session = SessionState {
                started_at: at,
                ..SessionState::default()
            };
        }
        self.first_seen_at.get_or_insert(at);
        self.latest_at = Some(now);

        match &event.kind {
            EventKind::View { page, item, price } => {
                let session = &mut self.session;
                if let (Some(last_at), Some(last_page)) = (session.last_view_at, session.last_page)
                {
                    let spent = at.saturating_sub(last_at).clamp(0, params.session_gap_secs);
                    session.durations[last_page.index()] += spent as f64;
                }
                session.pages[page.index()] = session.pages[page.index()].saturating_add(1);
                session.last_view_at = Some(now);
                session.last_page = Some(*page);
                if let Some(item) = item {
                    self.bump(item, at, params.weight_view, config, |_| {});
                }
                if let Some(price) = price {
                    self.add_price(*price, at, params.weight_view as f64, config);
                }
            }
            EventKind::AddToCart {
                item,
                quantity,
                price,
            } => {
                match self.cart.iter_mut().find(|line| &line.id == item) {
                    Some(line) => {
                        line.quantity = line.quantity.saturating_add(*quantity);
                        line.price = *price;
                    }
                    None => self.cart.push(CartLine {
                        id: item.clone(),
                        quantity: *quantity,
                        price: *price,
                    }),
                }
                self.bump(item, at, params.weight_add_to_cart, config, |_| {});
                self.add_price(*price, at, params.weight_add_to_cart as f64, config);
            }
            EventKind::RemoveFromCart { item, quantity } => {
                if let Some(position) = self.cart.iter().position(|line| &line.id == item) {
                    let line = &mut self.cart[position];
                    if line.quantity <= *quantity {
                        self.cart.remove(position);
                    } else {
                        line.quantity -= quantity;
                    }
                }
            }
            EventKind::Purchase { lines } => {
                self.orders = self.orders.saturating_add(1);
                let total: f64 = lines.iter().map(|l| l.quantity as f64 * l.price).sum();
                self.spend += total;
                self.first_purchase_at.get_or_insert(at);
                self.last_purchase_at = Some(self.last_purchase_at.map_or(at, |l| l.max(at)));
                self.session.purchased = true;
                self.cart.clear();
                for line in lines {
                    self.bump(&line.item, at, params.weight_purchase, config, |signal| {
                        signal.purchased = true;
                    });
                    self.add_price(line.price, at, params.weight_purchase as f64, config);
                }
            }
            EventKind::Search { query } => {
                if params.max_queries > 0 {
                    let stored = sanitise_query(query, params.max_query_len);
                    if !stored.is_empty() {
                        if self.queries.len() >= params.max_queries {
                            self.queries.remove(0);
                        }
                        self.queries.push(stored);
                    }
                }
            }
            EventKind::Rating { item, stars, .. } => {
                let above_three = stars.saturating_sub(3) as f32;
                let disliked = *stars <= 2;
                self.bump(
                    item,
                    at,
                    above_three * params.weight_rating_star,
                    config,
                    |signal| signal.disliked = disliked,
                );
            }
        }
        Ok(())
    }

    /// Adds `weight` to an item's signal (creating it, and forgetting the
    /// weakest item if the list is full), then lets `mark` set flags.
    fn bump(
        &mut self,
        item: &str,
        at: i64,
        weight: f32,
        config: &ProfileConfig,
        mark: impl FnOnce(&mut ItemSignal),
    ) {
        let position = match self.items.binary_search_by(|s| s.id.as_str().cmp(item)) {
            Ok(position) => position,
            Err(mut position) => {
                if self.items.len() >= config.params.max_items {
                    let weakest = self.weakest_item(at, config);
                    self.items.remove(weakest);
                    if weakest < position {
                        position -= 1;
                    }
                }
                self.items.insert(
                    position,
                    ItemSignal {
                        id: item.to_string(),
                        weight: 0.0,
                        at,
                        purchased: false,
                        disliked: false,
                    },
                );
                position
            }
        };
        let signal = &mut self.items[position];
        if at >= signal.at {
            let decayed = signal.weight as f64 * config.decay(at.saturating_sub(signal.at));
            signal.weight = (decayed + weight as f64).min(f32::MAX as f64) as f32;
            signal.at = at;
        } else {
            // A late event adds its weight decayed to the signal's time.
            let late = weight as f64 * config.decay(signal.at.saturating_sub(at));
            signal.weight = (signal.weight as f64 + late).min(f32::MAX as f64) as f32;
        }
        mark(signal);
    }

    /// The item with the lowest weight at `now`; ties go to the older update,
    /// then the smaller id, so eviction is deterministic.
    fn weakest_item(&self, now: i64, config: &ProfileConfig) -> usize {
        let mut weakest = 0;
        let mut weakest_weight = f64::INFINITY;
        for (position, signal) in self.items.iter().enumerate() {
            let weight = signal.weight as f64 * config.decay(now.saturating_sub(signal.at));
            let older = signal.at < self.items[weakest].at;
            if weight < weakest_weight || (weight == weakest_weight && older) {
                weakest = position;
                weakest_weight = weight;
            }
        }
        weakest
    }

    fn add_price(&mut self, price: f64, at: i64, weight: f64, config: &ProfileConfig) {
        if weight <= 0.0 {
            return;
        }
        let value = (1.0 + price).ln();
        if at >= self.price_at {
            let decay = config.decay(at.saturating_sub(self.price_at));
            self.price_weight = self.price_weight * decay + weight;
            self.price_log_sum = self.price_log_sum * decay + weight * value;
            self.price_at = at;
        } else {
            let decay = config.decay(self.price_at.saturating_sub(at));
            self.price_weight += weight * decay;
            self.price_log_sum += weight * decay * value;
        }
    }

    /// The decayed weight of each remembered item at `now`, with its flags.
    pub fn weights_at<'a>(
        &'a self,
        now: i64,
        config: &'a ProfileConfig,
    ) -> impl Iterator<Item = (&'a ItemSignal, f64)> + 'a {
        self.items
            .iter()
            .map(move |s| (s, s.weight as f64 * config.decay(now.saturating_sub(s.at))))
    }

    /// The cart's value (sum of quantity × unit price).
    pub fn cart_value(&self) -> f64 {
        self.cart.iter().map(|l| l.quantity as f64 * l.price).sum()
    }

    /// Encodes the profile in the compact binary format.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes a binary profile and checks every invariant against `config`.
    pub fn from_bytes(bytes: &[u8], config: &ProfileConfig) -> Result<Profile, Error> {
        let profile = codec::decode(bytes, config)?;
        profile.check(config)?;
        Ok(profile)
    }

    /// Encodes the profile as compact JSON.
    pub fn to_json(&self) -> String {
        // A struct of strings, numbers and vectors always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decodes a JSON profile, checking the version first and then every
    /// invariant against `config`.
    pub fn from_json(text: &str, config: &ProfileConfig) -> Result<Profile, Error> {
        if text.len() > config.params.max_bytes {
            return Err(Error::corrupt("longer than max_bytes"));
        }
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let version: VersionOnly =
            serde_json::from_str(text).map_err(|e| Error::corrupt(e.to_string()))?;
        if version.version != PROFILE_VERSION {
            return Err(Error::UnsupportedProfileVersion {
                found: version.version,
                supported: PROFILE_VERSION,
            });
        }
        let profile: Profile =
            serde_json::from_str(text).map_err(|e| Error::corrupt(e.to_string()))?;
        profile.check(config)?;
        Ok(profile)
    }

    /// Checks every invariant stated on the fields.
    pub fn check(&self, config: &ProfileConfig) -> Result<(), Error> {
        let params = &config.params;
        if self.version != PROFILE_VERSION {
            return Err(Error::UnsupportedProfileVersion {
                found: self.version,
                supported: PROFILE_VERSION,
            });
        }
        if self.items.len() > params.max_items
            || self.cart.len() > params.max_cart_lines
            || self.queries.len() > params.max_queries
        {
            return Err(Error::corrupt("more entries than the limits allow"));
        }
        let time_ok = |t: i64| (0..=MAX_TIME).contains(&t);
        for pair in self.items.windows(2) {
            if pair[0].id >= pair[1].id {
                return Err(Error::corrupt("items are not sorted and unique"));
            }
        }
        for signal in &self.items {
            check_item_id(&signal.id, params.max_item_id_len)
                .map_err(|_| Error::corrupt("an item id breaks the id rules"))?;
            if !(signal.weight >= 0.0 && signal.weight.is_finite() && time_ok(signal.at)) {
                return Err(Error::corrupt("an item weight or time is out of range"));
            }
        }
        for (position, line) in self.cart.iter().enumerate() {
            check_item_id(&line.id, params.max_item_id_len)
                .map_err(|_| Error::corrupt("a cart id breaks the id rules"))?;
            if line.quantity == 0 || !(line.price >= 0.0 && line.price.is_finite()) {
                return Err(Error::corrupt("a cart line is out of range"));
            }
            if self.cart[..position]
                .iter()
                .any(|other| other.id == line.id)
            {
                return Err(Error::corrupt("a cart item appears twice"));
            }
        }
        for query in &self.queries {
            if query.len() > params.max_query_len || query.chars().any(char::is_control) {
                return Err(Error::corrupt("a query breaks the query rules"));
            }
        }
        let finite_non_negative = |x: f64| x >= 0.0 && x.is_finite();
        let session = &self.session;
        let times = [
            self.first_purchase_at,
            self.last_purchase_at,
            self.first_seen_at,
            self.latest_at,
            session.last_view_at,
        ];
        if !finite_non_negative(self.spend)
            || !finite_non_negative(self.price_weight)
            || !finite_non_negative(self.price_log_sum)
            || !time_ok(self.price_at)
            || !time_ok(session.started_at)
            || times.iter().flatten().any(|t| !time_ok(*t))
            || session.durations.iter().any(|d| !finite_non_negative(*d))
        {
            return Err(Error::corrupt("a figure or time is out of range"));
        }
        Ok(())
    }

    /// The largest profile `config` allows, for the size bound check.
    pub(crate) fn worst_case(config: &ProfileConfig) -> Profile {
        let params = &config.params;
        // Weights and prices chosen for the longest decimal forms.
        let long_f32 = 1.175_494_2e-38_f32;
        let long_f64 = -2.225_073_858_507_201_4e-308_f64.abs();
        // n's digits padded with x to the longest id (ASCII, so bytes are
        // characters).
        let id = |n: usize| -> String {
            n.to_string()
                .bytes()
                .chain(std::iter::repeat(b'x'))
                .take(params.max_item_id_len)
                .map(char::from)
                .collect()
        };
        let mut items: Vec<ItemSignal> = (0..params.max_items)
            .map(|n| ItemSignal {
                id: id(n),
                weight: long_f32,
                at: MAX_TIME,
                purchased: false,
                disliked: false,
            })
            .collect();
        crate::order::sort_by(&mut items, |a, b| a.id.cmp(&b.id));
        Profile {
            version: PROFILE_VERSION,
            items,
            cart: (0..params.max_cart_lines)
                .map(|n| CartLine {
                    id: id(n),
                    quantity: u32::MAX,
                    price: long_f64,
                })
                .collect(),
            // Quotes take two bytes in JSON, the most any allowed character takes.
            queries: vec!["\"".repeat(params.max_query_len); params.max_queries],
            orders: u32::MAX,
            spend: long_f64,
            first_purchase_at: Some(MAX_TIME),
            last_purchase_at: Some(MAX_TIME),
            first_seen_at: Some(MAX_TIME),
            latest_at: Some(MAX_TIME),
            price_weight: long_f64,
            price_log_sum: long_f64,
            price_at: MAX_TIME,
            sessions: u32::MAX,
            abandoned_carts: u32::MAX,
            session: SessionState {
                started_at: MAX_TIME,
                last_view_at: Some(MAX_TIME),
                last_page: Some(PageKind::Informational),
                pages: [u32::MAX; 3],
                durations: [long_f64; 3],
                purchased: false,
            },
        }
    }
}

/// Cuts a query to at most `max_len` bytes on a character boundary and
/// replaces control characters with spaces.
fn sanitise_query(query: &str, max_len: usize) -> String {
    let mut out = String::with_capacity(query.len().min(max_len));
    for c in query.trim().chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > max_len {
            break;
        }
        out.push(c);
    }
    out
}
