//! What the devices are drawn from: the published bundle the shop's pages
//! load (the default one unless its configuration names another), the shop's
//! registry resolved against it, every real customer's orders as engine
//! events, real review texts and the published sentiment model.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use cove_engine::bundle::{layout, Model};
use cove_engine::events::Event;
use cove_engine::privacy::campaign::CampaignSpec;
use cove_engine::privacy::registry::{self, MetricRequest, Registry, ReportSchedule};
use cove_engine::profile::ProfileConfig;
use cove_engine::sentiment::SentimentModel;
use cove_models::data::{self, CleaningRules, ColumnMap, Transactions};
use cove_models::engine_scorer::purchase_events;
use cove_models::export::country_code;
use cove_models::sentiment::reviews::read_reviews;
use serde::Deserialize;

use crate::campaigns::NEW_SHOPPERS;
use crate::workspace_root;

/// The part of `shops.json` the simulator needs.
#[derive(Deserialize)]
struct ShopsFile {
    shops: Vec<ShopEntry>,
}

#[derive(Deserialize)]
struct ShopEntry {
    id: String,
    k_anonymity: u32,
    daily_epsilon: f64,
    schedule: ReportSchedule,
    metrics: Vec<MetricRequest>,
    #[serde(default)]
    campaigns: Vec<CampaignSpec>,
    /// The bundle pointer the shop's pages load (`sharded` for
    /// `sharded.json`); absent, the default bundle.
    #[serde(default)]
    bundle: Option<String>,
}

/// The published bundle the pointer file `pointer` names, with its shards.
fn pointed_bundle(bundles: &Path, pointer: &str) -> Result<Model> {
    let text = std::fs::read(bundles.join(pointer)).with_context(|| {
        format!(
            "no {pointer} under {} (run `cargo xtask build`)",
            bundles.display()
        )
    })?;
    let pointed: serde_json::Value = serde_json::from_slice(&text)?;
    let url = pointed["manifest"]
        .as_str()
        .with_context(|| format!("{pointer} names no manifest"))?;
    let relative = layout::below_prefix(url)
        .filter(|rest| !rest.contains(".."))
        .with_context(|| format!("unexpected bundle path {url}"))?;
    cove_models::export::load_published(&bundles.join(relative))
}

/// One real customer's history: orders as engine events, in time order, and
/// their country.
pub struct Customer {
    pub orders: Vec<(i64, Vec<Event>)>,
    pub country: String,
}

/// The world the devices are drawn from.
pub struct World {
    pub model: Model,
    pub config: ProfileConfig,
    pub customers: Vec<Customer>,
    pub first_second: i64,
    pub last_second: i64,
    pub registry: Registry,
    /// The lifecycle segment of new shoppers (`campaigns::NEW_SHOPPERS`).
    pub new_segment: u32,
    /// Real review texts (clothing reviews): 1–2 stars, and 3–5 stars.
    pub negative_reviews: Vec<String>,
    pub other_reviews: Vec<String>,
    /// The published three-class sentiment model, as a device runs it.
    pub sentiment: SentimentModel,
}

/// The published three-class sentiment bundle (`sentiment.json` names it).
fn load_sentiment(bundles: &Path) -> Result<SentimentModel> {
    let pointer: serde_json::Value = serde_json::from_slice(
        &std::fs::read(bundles.join(layout::SENTIMENT_POINTER)).with_context(|| {
            format!("no {} (run `cargo xtask build`)", layout::SENTIMENT_POINTER)
        })?,
    )?;
    let part = |key: &str| -> Result<Vec<u8>> {
        let url = pointer["three_class"][key]
            .as_str()
            .with_context(|| format!("{} has no three_class.{key}", layout::SENTIMENT_POINTER))?;
        let relative = layout::below_prefix(url)
            .filter(|rest| !rest.contains(".."))
            .with_context(|| format!("unexpected bundle path {url}"))?;
        Ok(std::fs::read(bundles.join(relative))?)
    };
    Ok(SentimentModel::from_bytes(
        &part("manifest")?,
        &part("tensors")?,
    )?)
}

/// The world of the shop `shop_id`, its customers read from `orders` and its
/// reviews from `reviews_file`.
pub fn load_world(shop_id: &str, orders: &Path, reviews_file: &Path) -> Result<World> {
    let bundles = layout::site_dir(&workspace_root().join("www"));
    let shops_path = workspace_root().join("edge-worker").join("shops.json");
    let shops: ShopsFile = serde_json::from_str(
        &std::fs::read_to_string(&shops_path)
            .with_context(|| format!("reading {}", shops_path.display()))?,
    )
    .with_context(|| format!("parsing {}", shops_path.display()))?;
    let shop = shops
        .shops
        .into_iter()
        .find(|shop| shop.id == shop_id)
        .with_context(|| format!("no shop '{shop_id}' in {}", shops_path.display()))?;
    // The bundle the shop's pages load, as the edge loads it: a head bundle
    // with every shard (its reports are the head's all the same).
    let model = match &shop.bundle {
        None => cove_engine::testing::published_default_bundle(&bundles).with_context(|| {
            format!(
                "no default bundle under {} (run `cargo xtask build`)",
                bundles.display()
            )
        })?,
        Some(name) => pointed_bundle(&bundles, &format!("{name}.json"))?,
    };
    let registry = Registry::resolve(
        &shop.id,
        &model,
        &shop.metrics,
        &shop.campaigns,
        shop.daily_epsilon,
        shop.k_anonymity,
        shop.schedule,
    )
    .with_context(|| format!("resolving shop '{shop_id}' against its bundle"))?;
    let new_segment = registry::lifecycle_index(&model, NEW_SHOPPERS)
        .with_context(|| format!("the default bundle has no '{NEW_SHOPPERS}' lifecycle segment"))?;
    let started = Instant::now();
    let data = data::read_transactions_file(
        orders,
        &ColumnMap::default(),
        &CleaningRules::default(),
        |_| {},
    )?;
    // The profile configuration a device runs with this bundle (its half-life).
    let config = model.profile_config().clone();
    let customers = customers(&data, &config);
    println!(
        "simulate: {} customers with orders from {} ({:.1} s)",
        customers.len(),
        orders.display(),
        started.elapsed().as_secs_f64()
    );
    let (reviews, _) = read_reviews(reviews_file)?;
    let (negative_reviews, other_reviews): (Vec<_>, Vec<_>) =
        reviews.into_iter().partition(|review| review.rating <= 2);
    let sentiment = load_sentiment(&bundles)?;
    let first_second = data.purchases.iter().map(|p| p.minute).min().unwrap_or(0) * 60;
    let last_second = data.purchases.iter().map(|p| p.minute).max().unwrap_or(0) * 60;
    Ok(World {
        model,
        config,
        customers,
        first_second,
        last_second,
        registry,
        new_segment,
        negative_reviews: negative_reviews.into_iter().map(|r| r.text).collect(),
        other_reviews: other_reviews.into_iter().map(|r| r.text).collect(),
        sentiment,
    })
}

/// Every customer's orders as engine events (the trainer's replay), grouped
/// per order.
fn customers(data: &Transactions, config: &ProfileConfig) -> Vec<Customer> {
    let mut by_customer: HashMap<u32, Vec<&data::Purchase>> = HashMap::new();
    for purchase in &data.purchases {
        by_customer
            .entry(purchase.customer_idx)
            .or_default()
            .push(purchase);
    }
    let mut ids: Vec<u32> = by_customer.keys().copied().collect();
    ids.sort_unstable();
    ids.into_iter()
        .map(|id| {
            let purchases = &by_customer[&id];
            let (events, _) = purchase_events(data, purchases, config.max_items());
            let mut orders: Vec<(i64, Vec<Event>)> = Vec::new();
            for event in events {
                match orders.last_mut() {
                    Some((at, group)) if *at == event.at => group.push(event),
                    _ => orders.push((event.at, vec![event])),
                }
            }
            let country = &data.countries[purchases[0].country_idx as usize];
            Customer {
                orders,
                country: country_code(country).to_string(),
            }
        })
        .collect()
}
