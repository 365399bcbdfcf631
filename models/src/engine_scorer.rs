//! Scoring trained factors with the engine's own code, the way a device does.
//!
//! The trainer has no fold-in or scorer of its own. Every Cove figure it
//! reports or tunes on comes from `cove_engine`:
//!
//! - a shopper's train orders are replayed as engine `purchase` events into an
//!   engine `Profile` ([`DeviceHistories`]);
//! - the profile's interactions (decayed weights, the heaviest 64) come from
//!   `ranking::foldin::interactions_by`, and the shopper vector from the
//!   engine's `FoldInSystem` (the same solve the bundle's `Model` uses);
//! - item factors are the int8 rows with per-row scales the bundle stores,
//!   dequantised by the engine's own functions;
//! - a factor-only ranking ([`EngineFactorRanker`], used to pick ALS settings
//!   before there is a bundle) dots the vector with every row; the blended
//!   ranking of a written bundle is `ranking::rank_with_params`
//!   (see [`crate::engine_eval`]).

use std::collections::HashMap;

use cove_engine::bundle::{dequantise_rows, gram_matrix, quantise_rows};
use cove_engine::events::{Event, EventKind, PurchaseLine, MAX_PRICE, MAX_QUANTITY};
use cove_engine::profile::{Profile, ProfileConfig};
use cove_engine::ranking::foldin::{interactions_by, FoldInSystem};

use crate::als::Confidence;
use crate::data::{Purchase, Transactions};
use crate::dates::MINUTES_PER_DAY;
use crate::eval::{EvalUser, Ranker, Split};

/// Engine events replaying `purchases` (one customer's train lines): one
/// `purchase` event per invoice at its time, lines in file order, cut into
/// events of at most `max_lines` lines. Returns the events and how many
/// invoices had to be cut.
pub fn purchase_events(
    data: &Transactions,
    purchases: &[&Purchase],
    max_lines: usize,
) -> (Vec<Event>, usize) {
    let mut by_invoice: Vec<(i64, u32, Vec<PurchaseLine>)> = Vec::new();
    let mut position: HashMap<u32, usize> = HashMap::new();
    for p in purchases {
        let slot = *position.entry(p.invoice_idx).or_insert_with(|| {
            by_invoice.push((p.minute, p.invoice_idx, Vec::new()));
            by_invoice.len() - 1
        });
        let entry = &mut by_invoice[slot];
        entry.0 = entry.0.min(p.minute);
        entry.2.push(PurchaseLine {
            item: data.items[p.item_idx as usize].code.clone(),
            quantity: (p.quantity.round() as u32).clamp(1, MAX_QUANTITY),
            price: (p.unit_price as f64).clamp(0.0, MAX_PRICE),
        });
    }
    by_invoice.sort_by_key(|(minute, invoice, _)| (*minute, *invoice));
    let mut events = Vec::new();
    let mut n_split = 0;
    for (minute, _, lines) in by_invoice {
        if lines.len() > max_lines {
            n_split += 1;
        }
        for chunk in lines.chunks(max_lines.max(1)) {
            events.push(Event {
                at: minute * 60,
                kind: EventKind::Purchase {
                    lines: chunk.to_vec(),
                },
            });
        }
    }
    (events, n_split)
}

/// Each evaluated user's engine profile at a cut-off, built from their train
/// orders, and its interactions in the split's item indices.
pub struct DeviceHistories {
    /// Profile per customer index.
    pub profiles: HashMap<u32, Profile>,
    /// (split item, decayed weight) per customer index, heaviest first, as
    /// `interactions_by` gives them.
    pub interactions: HashMap<u32, Vec<(u32, f64)>>,
    /// The profile configuration the profiles were built with (as on a
    /// device: the bundle's).
    pub config: ProfileConfig,
    /// The request time: the cut-off, unix seconds.
    pub now: i64,
    /// Orders replayed as events.
    pub n_orders: usize,
    /// Orders cut in several events (more lines than the profile keeps).
    pub n_orders_split: usize,
    /// Events the engine refused (skipped, as a device would).
    pub n_refused: usize,
}

impl DeviceHistories {
    /// Replays the train orders of `split`'s users (rows before its cut-off)
    /// with the engine's default profile configuration.
    pub fn new(data: &Transactions, split: &Split) -> DeviceHistories {
        DeviceHistories::with_config(data, split, ProfileConfig::default())
    }

    /// [`DeviceHistories::new`] with a given profile configuration (a
    /// bundle's [`cove_engine::bundle::Model::profile_config`], or one tried
    /// on validation).
    pub fn with_config(
        data: &Transactions,
        split: &Split,
        config: ProfileConfig,
    ) -> DeviceHistories {
        let cutoff = split.cutoff_day * MINUTES_PER_DAY;
        let mut lines_of: HashMap<u32, Vec<&Purchase>> = HashMap::new();
        for p in data.purchases.iter().filter(|p| p.minute < cutoff) {
            lines_of.entry(p.customer_idx).or_default().push(p);
        }
        let split_of_code: HashMap<&str, u32> = split
            .items
            .iter()
            .enumerate()
            .map(|(i, &item)| (data.items[item as usize].code.as_str(), i as u32))
            .collect();
        let now = split.cutoff_day * 86_400;
        let mut out = DeviceHistories {
            profiles: HashMap::new(),
            interactions: HashMap::new(),
            config: config.clone(),
            now,
            n_orders: 0,
            n_orders_split: 0,
            n_refused: 0,
        };
        for user in &split.users {
            let lines = lines_of.get(&user.customer_idx).map_or(&[][..], |v| v);
            let (events, n_split) = purchase_events(data, lines, config.max_items());
            out.n_orders_split += n_split;
            out.n_orders += events.len();
            let mut profile = Profile::new();
            for event in &events {
                if profile.apply(event, &config).is_err() {
                    out.n_refused += 1;
                }
            }
            let interactions =
                interactions_by(&profile, &config, now, |id| split_of_code.get(id).copied());
            out.interactions.insert(user.customer_idx, interactions);
            out.profiles.insert(user.customer_idx, profile);
        }
        out
    }
}

/// The engine's α for a trainer confidence mapping: the engine's confidence
/// is linear (c = 1 + α·w on the profile's decayed weight w, one purchase line
/// adding `weight_purchase`) where the trainer's is logarithmic
/// (c = b + α·ln(1 + x/ε)); `scale` 1 gives one fresh purchase line the
/// trainer's confidence.
pub fn engine_alpha(confidence: &Confidence, scale: f64) -> f64 {
    let weight_purchase = ProfileConfig::default().params().weight_purchase as f64;
    let one_line = confidence.of(1.0) as f64;
    ((one_line - 1.0) / weight_purchase).max(0.0) * scale
}

/// Factor-only ranking through the engine: the device's interactions, the
/// engine's fold-in over the int8 factors the bundle would ship, and the
/// dot product with every item.
pub struct EngineFactorRanker<'a> {
    /// A label for the report.
    pub label: String,
    /// Dequantised int8 factors, split items × `dim`.
    pub item_factors: Vec<f32>,
    /// Latent dimension.
    pub dim: usize,
    /// The engine's fold-in for these factors.
    pub system: FoldInSystem,
    /// The users' device histories.
    pub histories: &'a DeviceHistories,
}

impl<'a> EngineFactorRanker<'a> {
    /// Quantises `item_factors` as the bundle builder does and prepares the
    /// engine's fold-in with λ and the engine's α.
    pub fn new(
        label: &str,
        item_factors: &[f32],
        dim: usize,
        lambda: f64,
        alpha: f64,
        histories: &'a DeviceHistories,
    ) -> anyhow::Result<EngineFactorRanker<'a>> {
        let (quantised, scales) = quantise_rows(item_factors, dim);
        let item_factors = dequantise_rows(&quantised, &scales, dim);
        let gram = gram_matrix(&item_factors, dim);
        let system = FoldInSystem::new(&gram, dim, lambda, alpha)
            .map_err(|e| anyhow::anyhow!("the engine's fold-in refuses these factors: {e}"))?;
        Ok(EngineFactorRanker {
            label: label.to_owned(),
            item_factors,
            dim,
            system,
            histories,
        })
    }

    /// The engine's shopper vector for a user (zeros without history).
    pub fn user_vector(&self, user: &EvalUser) -> Vec<f32> {
        let interactions = self
            .histories
            .interactions
            .get(&user.customer_idx)
            .map_or(&[][..], |v| v);
        self.system
            .fold_in(&self.item_factors, interactions)
            .ok()
            .flatten()
            .unwrap_or_else(|| vec![0.0; self.dim])
    }
}

impl Ranker for EngineFactorRanker<'_> {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn top_k(&self, user: &EvalUser, exclude: &[u32], k: usize) -> Vec<u32> {
        let x = self.user_vector(user);
        let scores: Vec<f32> = self
            .item_factors
            .chunks_exact(self.dim)
            .map(|y| cove_engine::score::dot(&x, y))
            .collect();
        crate::eval::rank_scores(&scores, exclude, k)
    }
}
