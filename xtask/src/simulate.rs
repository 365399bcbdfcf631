//! `cargo xtask simulate`: simulated shoppers, drawn from the real data, go
//! through the real engine and report to a local edge worker, so the dashboard
//! has something true to show and a test can check that it recovers the truth.
//!
//! Each simulated device is one real Online Retail customer seen on a random
//! day of the data: its orders before that day become engine events (the
//! trainer's own replay, `engine_scorer::purchase_events`), and its next order's
//! items are viewed and put in the cart in today's session. The engine then
//! does what it does on a device: profile, segments (`segments::classify`),
//! the rescue decision (`abandonment::decide`), campaign exposure and response
//! and the day's envelope through the ε budget (`privacy::device::DeviceReporter`
//! over the shop's registry, `privacy::registry::Registry::resolve`). The
//! envelope's 1,024 bytes are POSTed to `/v1/reports` on 127.0.0.1, each device
//! from its own client address (`cf-connecting-ip`, as distinct devices would
//! be) and with its customer's country (`cf-ipcountry`, as the CDN would add).
//!
//! Campaigns (the shop's `campaigns` in `edge-worker/shops.json`): a device
//! whose rescue decision calls for an offer joins `rescue-cart` (triggered);
//! others join the mass, targeted or interactive campaign with fixed shares.
//! Variants are uniform, except in the targeted campaign, which targets its
//! variants by segment — the one case where Simpson's paradox can appear, and
//! it is built in on purpose (see [`rates_for`]). Response rates lie in the
//! published ranges by kind: mass 0.2–3.1%, targeted 2.0–4.9%, interactive
//! 8.2–14.6%, triggered 18–34%.
//!
//! Everything is drawn from seeded generators (one ChaCha20 stream per
//! device), so a seed gives the same devices, reports and truth. The truth is
//! written as JSON beside the run for the end-to-end test that compares it
//! with `GET /v1/aggregates`.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, ensure, Context, Result};
use cove_engine::abandonment::{self, RescueOutcome};
use cove_engine::bundle::Model;
use cove_engine::events::{Event, EventKind, PageKind};
use cove_engine::privacy::campaign::{CampaignKind, CampaignSpec};
use cove_engine::privacy::device::DeviceReporter;
use cove_engine::privacy::registry::{
    self, MetricRequest, Registry, ReportSchedule, ITEM_INTEREST, REVIEW_SENTIMENT,
    SEGMENT_LIFECYCLE, SEGMENT_PRICE_TIER,
};
use cove_engine::privacy::report::Envelope;
use cove_engine::profile::{Profile, ProfileConfig};
use cove_engine::segments;
use cove_engine::sentiment::SentimentModel;
use cove_models::data::{self, CleaningRules, ColumnMap, Transactions};
use cove_models::engine_scorer::purchase_events;
use cove_models::export::country_code;
use cove_models::sentiment::reviews::read_reviews;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::Deserialize;
use serde_json::json;

use crate::{model, paths};

/// Published response-rate ranges by kind of campaign.
pub fn response_range(kind: CampaignKind) -> (f64, f64) {
    match kind {
        CampaignKind::Mass => (0.002, 0.031),
        CampaignKind::Targeted => (0.020, 0.049),
        CampaignKind::Interactive => (0.082, 0.146),
        CampaignKind::Triggered => (0.18, 0.34),
    }
}

/// What `cargo xtask simulate` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    /// Simulated devices (each sends at most one envelope).
    pub devices: usize,
    /// The seed of every draw.
    pub seed: u64,
    /// A running worker; when absent, one is started on a free loopback port.
    pub url: Option<String>,
    /// The shop id.
    pub shop: String,
    /// Where the truth JSON goes.
    pub truth: PathBuf,
    /// Concurrent HTTP clients.
    pub clients: usize,
}

const USAGE: &str =
    "usage: cargo xtask simulate [--devices N] [--seed S] [--url http://127.0.0.1:PORT] \
[--shop ID] [--truth FILE] [--clients C]";

impl Options {
    /// Parses the task's arguments.
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            devices: 5_000,
            seed: 2026,
            url: None,
            shop: "demo".into(),
            truth: paths::root()
                .join("target")
                .join("xtask")
                .join("simulation-truth.json"),
            clients: 8,
        };
        let mut iter = args.iter();
        while let Some(flag) = iter.next() {
            let value = iter
                .next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
            let number = || -> Result<u64> {
                value
                    .parse()
                    .with_context(|| format!("{flag} '{value}' is not a number"))
            };
            match flag.as_str() {
                "--devices" => options.devices = number()? as usize,
                "--seed" => options.seed = number()?,
                "--clients" => options.clients = number()?.clamp(1, 64) as usize,
                "--shop" => options.shop = value.clone(),
                "--truth" => options.truth = PathBuf::from(value),
                "--url" => {
                    let url = value.trim_end_matches('/');
                    let loopback = ["http://127.0.0.1:", "http://localhost:"]
                        .iter()
                        .any(|prefix| url.starts_with(prefix));
                    ensure!(
                        loopback,
                        "--url must be http://127.0.0.1:PORT (loopback only), not '{value}'"
                    );
                    options.url = Some(url.to_string());
                }
                other => bail!("unknown option '{other}'\n{USAGE}"),
            }
        }
        ensure!(
            (1..=1_000_000).contains(&options.devices),
            "--devices must be between 1 and 1,000,000"
        );
        Ok(options)
    }
}

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
}

/// One real customer's history: orders as engine events, in time order, and
/// their country.
struct Customer {
    orders: Vec<(i64, Vec<Event>)>,
    country: String,
}

/// The world the devices are drawn from.
struct World {
    model: Model,
    config: ProfileConfig,
    customers: Vec<Customer>,
    first_second: i64,
    last_second: i64,
    registry: Registry,
    /// Real review texts (clothing reviews): 1–2 stars, and 3–5 stars.
    negative_reviews: Vec<String>,
    other_reviews: Vec<String>,
    /// The published three-class sentiment model, as a device runs it.
    sentiment: SentimentModel,
}

/// Of the devices outside the rescue's audience, the share that writes a
/// review of an item it bought before (instead of seeing a campaign).
const REVIEW_SHARE: f64 = 0.35;

/// The designed unhappy segment: its reviews are negative this often, the
/// other segments' [`OTHERS_NEGATIVE`] of the time.
const UNHAPPY_SEGMENT: &str = "at-risk";
const UNHAPPY_NEGATIVE: f64 = 0.7;
const OTHERS_NEGATIVE: f64 = 0.15;

/// The published three-class sentiment bundle (`sentiment.json` names it).
fn load_sentiment(bundles: &Path) -> Result<SentimentModel> {
    let pointer: serde_json::Value = serde_json::from_slice(
        &std::fs::read(bundles.join("sentiment.json"))
            .context("no sentiment.json (run `cargo xtask build`)")?,
    )?;
    let part = |key: &str| -> Result<Vec<u8>> {
        let url = pointer["three_class"][key]
            .as_str()
            .with_context(|| format!("sentiment.json has no three_class.{key}"))?;
        let relative = url
            .strip_prefix("/v1/bundles/")
            .filter(|rest| !rest.contains(".."))
            .with_context(|| format!("unexpected bundle path {url}"))?;
        Ok(std::fs::read(bundles.join(relative))?)
    };
    Ok(SentimentModel::from_bytes(
        &part("manifest")?,
        &part("tensors")?,
    )?)
}

fn load_world(shop_id: &str) -> Result<World> {
    let bundles = model::bundles_dir();
    let model = cove_engine::testing::published_default_bundle(&bundles).with_context(|| {
        format!(
            "no default bundle under {} (run `cargo xtask build`)",
            bundles.display()
        )
    })?;
    let shops_path = paths::root().join("edge-worker").join("shops.json");
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
    let registry = Registry::resolve(
        &shop.id,
        &model,
        &shop.metrics,
        &shop.campaigns,
        shop.daily_epsilon,
        shop.k_anonymity,
        shop.schedule,
    )
    .with_context(|| format!("resolving shop '{shop_id}' against the default bundle"))?;
    let orders = crate::data::checked(crate::data::ORDERS)?.path;
    let started = Instant::now();
    let data = data::read_transactions_file(
        &orders,
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
    let (reviews, _) = read_reviews(&crate::data::checked(crate::data::REVIEWS)?.path)?;
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

/// A uniform draw in [0, 1).
fn unit(rng: &mut ChaCha20Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform index below `n` (`n > 0`; the bias of 64-bit modulo is negligible here).
fn index(rng: &mut ChaCha20Rng, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}

/// The response rate of every `(variant, segment)` of a campaign: the truth
/// the dashboard must recover.
///
/// Each segment's holdout rate is drawn in the lower half of the kind's range
/// and each variant adds a share of the room left, so every rate stays in the
/// published range. The targeted campaign is fixed instead, to hold a known
/// Simpson's paradox: variant 2 beats variant 1 in every segment (by 0.4
/// points), but it is targeted at the low-response segments (see
/// [`assignment_weights`]), so pooled over segments variant 1 looks better.
pub fn rates_for(spec: &CampaignSpec, n_segments: u32, seed: u64) -> Vec<Vec<f64>> {
    let (low, high) = response_range(spec.kind);
    if spec.kind == CampaignKind::Targeted {
        return (0..spec.variants)
            .map(|variant| {
                (0..n_segments)
                    .map(|segment| {
                        let base = if is_low_segment(segment, n_segments) {
                            0.020
                        } else {
                            0.036
                        };
                        (base + 0.004 * f64::from(variant)).min(high)
                    })
                    .collect()
            })
            .collect();
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ fnv(spec.id.as_bytes()));
    let holdout: Vec<f64> = (0..n_segments)
        .map(|_| low + (high - low) * 0.5 * unit(&mut rng))
        .collect();
    (0..spec.variants)
        .map(|variant| {
            holdout
                .iter()
                .map(|&base| {
                    if variant == 0 {
                        base
                    } else {
                        base + (high - base) * (0.2 + 0.6 * unit(&mut rng))
                    }
                })
                .collect()
        })
        .collect()
}

/// The low-response half of the segments in the targeted campaign.
fn is_low_segment(segment: u32, n_segments: u32) -> bool {
    segment < n_segments.div_ceil(2)
}

/// How a campaign assigns variants in `segment`: uniform, except the targeted
/// campaign, which sends variant 2 mostly to the low-response segments and
/// variant 1 mostly to the others (10% holdout everywhere).
pub fn assignment_weights(spec: &CampaignSpec, segment: u32, n_segments: u32) -> Vec<f64> {
    if spec.kind == CampaignKind::Targeted && spec.variants == 3 {
        return if is_low_segment(segment, n_segments) {
            vec![0.1, 0.1, 0.8]
        } else {
            vec![0.1, 0.8, 0.1]
        };
    }
    vec![1.0 / f64::from(spec.variants); spec.variants as usize]
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What one device did: the envelope sent and its true values.
struct Device {
    body: Option<String>,
    country: String,
    lifecycle: u32,
    /// The price tier, when the envelope reported it.
    price_tier: Option<u32>,
    /// The item of interest, when the envelope reported one.
    interest: Option<u32>,
    /// `(campaign position, variant, responded)`, when the campaign was reported.
    campaign: Option<(usize, u32, bool)>,
    /// The review's sentiment class (0 negative, 1 neutral, 2 positive), when reported.
    review: Option<u32>,
}

/// Shares of the devices offered each non-triggered campaign kind.
const CAMPAIGN_SHARES: [(CampaignKind, f64); 3] = [
    (CampaignKind::Mass, 0.25),
    (CampaignKind::Targeted, 0.25),
    (CampaignKind::Interactive, 0.15),
];

/// A reporter that already holds `variant` of `campaign`, as a shop's
/// targeting would have set it (the device keeps an assignment it has).
fn targeted_reporter(campaign: &str, variant: u32) -> Result<DeviceReporter> {
    let mut state: serde_json::Value = serde_json::from_str(&DeviceReporter::default().to_json())?;
    state["assignments"] = json!([{ "campaign": campaign, "variant": variant }]);
    Ok(DeviceReporter::from_json(&state.to_string())?)
}

fn simulate_device(
    world: &World,
    rates: &[Vec<Vec<f64>>],
    seed: u64,
    device: u64,
    real_now: i64,
) -> Result<Device> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(device);
    let model = &world.model;
    let config = &world.config;
    let registry = &world.registry;
    let customer = &world.customers[index(&mut rng, world.customers.len())];
    // A random moment of the data period: orders before it are the history,
    // the next order is today's session (viewed, then put in the cart). The
    // history is moved in time so that this moment is now: the envelope's day
    // must be today for the edge.
    let span = (world.last_second - world.first_second).max(1);
    let then = world.first_second + 86_400 + (unit(&mut rng) * span as f64) as i64;
    let shift = real_now - then;
    let now = real_now;
    let mut profile = Profile::new();
    let mut next_order = None;
    for (at, events) in &customer.orders {
        if *at < then {
            for event in events {
                let mut event = event.clone();
                event.at += shift;
                // An event the engine refuses is skipped, as on a device.
                let _ = profile.apply(&event, config);
            }
        } else if next_order.is_none() {
            next_order = Some(events);
        }
    }
    let session_start = now - 600;
    if let Some(events) = next_order {
        let lines = events.iter().flat_map(|event| match &event.kind {
            EventKind::Purchase { lines } => lines.as_slice(),
            _ => &[],
        });
        for (position, line) in lines.take(4).enumerate() {
            let at = session_start + 60 * position as i64;
            let view = Event {
                at,
                kind: EventKind::View {
                    page: PageKind::Product,
                    item: Some(line.item.clone()),
                    price: Some(line.price),
                },
            };
            let add = Event {
                at: at + 30,
                kind: EventKind::AddToCart {
                    item: line.item.clone(),
                    quantity: line.quantity.min(12),
                    price: line.price,
                },
            };
            let _ = profile.apply(&view, config);
            let _ = profile.apply(&add, config);
        }
    }

    // The true values, as the device's registry observes them.
    let observe = |name: &str| registry::observe(model, &profile, config, now, name);
    let lifecycle = observe(SEGMENT_LIFECYCLE).context("no lifecycle segment")?;
    let price_tier = observe(SEGMENT_PRICE_TIER).context("no price tier value")?;
    let item = observe(ITEM_INTEREST).context("no item-interest value")?;

    // Campaigns: the rescue offer when the engine calls for one, else maybe one
    // of the others.
    let n_segments = registry.n_lifecycle_segments;
    let lifecycle_name = &segments::classify(model, &profile, config, now)
        .lifecycle
        .name;
    let rescue = abandonment::decide(model, &profile, lifecycle_name, rng.next_u64());
    let called_for = matches!(
        rescue.outcome,
        RescueOutcome::Offer { .. } | RescueOutcome::Holdout { .. }
    );
    // Outside the rescue's audience, some shoppers review an item they bought
    // before instead of seeing a campaign (a review and a campaign together
    // would spend the day's ε before the lifecycle segment).
    let bought: Vec<&str> = profile
        .items
        .iter()
        .filter(|signal| signal.purchased)
        .map(|signal| signal.id.as_str())
        .collect();
    let reviewed_item = (!called_for && !bought.is_empty() && unit(&mut rng) < REVIEW_SHARE)
        .then(|| bought[index(&mut rng, bought.len())].to_string());
    let writes_review = reviewed_item.is_some();
    let chosen_kind = if called_for {
        Some(CampaignKind::Triggered)
    } else if writes_review {
        None
    } else {
        let draw = unit(&mut rng);
        let mut cumulative = 0.0;
        CAMPAIGN_SHARES.iter().find_map(|&(kind, share)| {
            cumulative += share;
            (draw < cumulative).then_some(kind)
        })
    };
    let position =
        chosen_kind.and_then(|kind| registry.campaigns.iter().position(|c| c.kind == kind));
    let mut reporter = DeviceReporter::default();
    let mut campaign = None;
    let mut review_class = None;
    if let Some(position) = position {
        let spec = &registry.campaigns[position];
        let weights = assignment_weights(spec, lifecycle, n_segments);
        if weights.iter().any(|&w| (w - weights[0]).abs() > 1e-12) {
            // Targeting: the shop chose the variant by segment.
            let draw = unit(&mut rng);
            let mut cumulative = 0.0;
            let variant = weights
                .iter()
                .position(|w| {
                    cumulative += w;
                    draw < cumulative
                })
                .unwrap_or(weights.len() - 1) as u32;
            reporter = targeted_reporter(&spec.id, variant)?;
        }
        // Uniform and sticky on the device, or the targeted one it holds.
        let variant = reporter.expose(registry, &spec.id, now, &mut rng)?;
        let rate = rates[position][variant as usize][lifecycle as usize];
        let responded = unit(&mut rng) < rate;
        if responded {
            reporter.respond(&spec.id);
        }
        campaign = Some((position, variant, responded));
    } else {
        reporter.schedule_first(registry, now, &mut rng);
        // A real review text, negative more often in the designed unhappy
        // segment, scored by the engine's sentiment model as on a device.
        if let Some(item) = reviewed_item {
            let unhappy = registry::lifecycle_index(model, UNHAPPY_SEGMENT) == Some(lifecycle);
            let p_negative = if unhappy {
                UNHAPPY_NEGATIVE
            } else {
                OTHERS_NEGATIVE
            };
            let pool = if unit(&mut rng) < p_negative {
                &world.negative_reviews
            } else {
                &world.other_reviews
            };
            let text = &pool[index(&mut rng, pool.len())];
            let scored = world.sentiment.sentiment(text);
            if let Ok(sentiment) = scored {
                let class = match sentiment.class.as_str() {
                    "negative" => 0,
                    "neutral" => 1,
                    _ => 2,
                };
                // An item the model does not know cannot be reviewed.
                if reporter.record_review(model, &item, class).is_ok() {
                    review_class = Some(class);
                }
            }
        }
    }
    // The envelope is due after the schedule's random delay.
    let send_at = now + i64::from(registry.schedule.delay_seconds[1]) + 1;
    let body = reporter
        .prepare(registry, model, &profile, config, send_at, &mut rng)?
        .map(str::to_string);
    // One aggregator: the envelope; two: an upload holding the envelope (if
    // any metric is randomised) and the secret-shared reports by task.
    let (envelope_text, shared_metrics) = match body.as_deref() {
        Some(text) if text.starts_with(r#"{"v":2"#) => {
            let upload: serde_json::Value = serde_json::from_str(text)?;
            let tasks: Vec<String> = upload["dap"]
                .as_array()
                .map(|reports| {
                    reports
                        .iter()
                        .filter_map(|r| r["task"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let names: Vec<String> = registry
                .metrics
                .iter()
                .filter(|metric| {
                    registry
                        .task(metric)
                        .is_some_and(|task| tasks.contains(&task.id_text()))
                })
                .map(|metric| metric.name.clone())
                .collect();
            (upload["envelope"].as_str().map(str::to_string), names)
        }
        other => (other.map(str::to_string), Vec::new()),
    };
    let envelope = envelope_text
        .as_deref()
        .map(|b| Envelope::parse(b.as_bytes()))
        .transpose()?;
    let sent = |name: &str| {
        shared_metrics.iter().any(|m| m == name)
            || envelope
                .as_ref()
                .is_some_and(|e| e.reports.iter().any(|r| r.metric == name))
    };
    let campaign =
        campaign.filter(|(position, _, _)| sent(&registry.campaigns[*position].metric_name()));
    let interest = sent(ITEM_INTEREST).then_some(item);
    let review = review_class.filter(|_| sent(REVIEW_SENTIMENT));
    let price_tier = sent(SEGMENT_PRICE_TIER).then_some(price_tier);
    ensure!(
        body.is_none() || sent(SEGMENT_LIFECYCLE),
        "an envelope without the lifecycle segment"
    );
    Ok(Device {
        body,
        country: customer.country.clone(),
        lifecycle,
        price_tier,
        interest,
        campaign,
        review,
    })
}

/// The registry with the aggregators the worker at `url` serves for `shop`
/// (`GET /v1/config`), or as it is when the worker has one aggregator.
fn with_served_aggregators(url: &str, shop: &str, registry: Registry) -> Result<Registry> {
    let served = ureq::get(&format!("{url}/v1/config?shop={shop}"))
        .call()
        .context("reading the shop's registry from the worker")?
        .body_mut()
        .read_to_vec()?;
    let served = Registry::from_json(&served).context("the worker's registry")?;
    match served.aggregators {
        Some(aggregators) => {
            let registry = registry.with_aggregators(aggregators)?;
            ensure!(
                registry.metrics == served.metrics,
                "the worker's registry differs from this shop's configuration"
            );
            Ok(registry)
        }
        None => Ok(registry),
    }
}

/// Now in unix seconds.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A worker started for the run, stopped on drop.
struct StartedWorker {
    child: Child,
}

impl Drop for StartedWorker {
    fn drop(&mut self) {
        // serve.mjs stops wrangler and workerd on SIGINT.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn start_worker(node22: &Path) -> Result<(StartedWorker, String)> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let serve = paths::root()
        .join("edge-worker")
        .join("dev")
        .join("serve.mjs");
    let child = Command::new(node22)
        .arg(&serve)
        .arg(port.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", serve.display()))?;
    let worker = StartedWorker { child };
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if ureq::get(&format!("{url}/v1/health")).call().is_ok() {
            return Ok((worker, url));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    bail!("the edge worker did not answer on {url} within 90 s (see target/xtask/wrangler-logs/demo.log)")
}

/// The true counts the test compares the aggregates with.
#[derive(Default)]
struct Truth {
    lifecycle: Vec<u64>,
    price_tier: Vec<u64>,
    /// `(request country, item) → devices` that reported it.
    interest: HashMap<(String, u32), u64>,
    /// `[campaign][variant][segment] = (exposed, responded)`.
    campaigns: Vec<Vec<Vec<(u64, u64)>>>,
    /// `[segment][class]` reviews reported.
    reviews: Vec<[u64; 3]>,
    statuses: HashMap<u16, u64>,
    network_errors: u64,
    envelopes: u64,
}

/// Runs the simulation. `node22` starts a worker when `--url` is not given.
pub fn simulate(options: &Options, node22: Option<&Path>) -> Result<()> {
    let mut world = load_world(&options.shop)?;
    let n_segments = world.registry.n_lifecycle_segments;
    let rates: Vec<Vec<Vec<f64>>> = world
        .registry
        .campaigns
        .iter()
        .map(|spec| rates_for(spec, n_segments, options.seed))
        .collect();
    let (_worker, url) = match &options.url {
        Some(url) => (None, url.clone()),
        None => {
            let node22 = node22.context("no Node 22 to start the worker with")?;
            let (worker, url) = start_worker(node22)?;
            (Some(worker), url)
        }
    };
    // A worker with two aggregators serves their keys in the shop's registry:
    // the devices then secret-share what they can.
    world.registry = with_served_aggregators(&url, &options.shop, world.registry)?;
    let shared = world.registry.aggregators.is_some();
    // One moment for the whole run, so every device reports the same day.
    // With two aggregators a day is released once it has ended, so the
    // simulated devices report about yesterday (as a device reports a day
    // after it, within the edge's window).
    let real_now = unix_now() - if shared { 86_400 } else { 0 };
    let day = (real_now / 86_400) as u32;
    let truth = Mutex::new(Truth {
        lifecycle: vec![0; n_segments as usize],
        price_tier: vec![0; model_price_tiers(&world.model) + 1],
        campaigns: world
            .registry
            .campaigns
            .iter()
            .map(|spec| vec![vec![(0, 0); n_segments as usize]; spec.variants as usize])
            .collect(),
        reviews: vec![[0; 3]; n_segments as usize],
        ..Truth::default()
    });
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let report_url = format!("{url}/v1/reports?shop={}", options.shop);
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    // Envelopes in a row that no attempt delivered: a worker that stopped
    // answering ends the run with an error instead of every device waiting
    // out its retries.
    let failed_in_a_row = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..options.clients {
            scope.spawn(|| {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(REQUEST_TIMEOUT))
                    .build()
                    .into();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= options.devices || failure.lock().unwrap().is_some() {
                        break;
                    }
                    let device =
                        match simulate_device(&world, &rates, options.seed, i as u64, real_now) {
                            Ok(device) => device,
                            Err(error) => {
                                *failure.lock().unwrap() = Some(error);
                                break;
                            }
                        };
                    let status = device.body.as_ref().map(|body| {
                        post_with_retries(
                            &agent,
                            &report_url,
                            body,
                            &client_address(i),
                            &device.country,
                        )
                    });
                    let mut truth = truth.lock().unwrap();
                    match status {
                        Some(Ok(202)) => {
                            truth.envelopes += 1;
                            *truth.statuses.entry(202).or_default() += 1;
                            truth.lifecycle[device.lifecycle as usize] += 1;
                            if let Some(tier) = device.price_tier {
                                truth.price_tier[tier as usize] += 1;
                            }
                            if let Some(item) = device.interest {
                                *truth
                                    .interest
                                    .entry((device.country.clone(), item))
                                    .or_default() += 1;
                            }
                            if let Some(class) = device.review {
                                truth.reviews[device.lifecycle as usize][class as usize] += 1;
                            }
                            if let Some((c, v, responded)) = device.campaign {
                                let cell =
                                    &mut truth.campaigns[c][v as usize][device.lifecycle as usize];
                                cell.0 += 1;
                                cell.1 += u64::from(responded);
                            }
                        }
                        Some(Ok(other)) => *truth.statuses.entry(other).or_default() += 1,
                        Some(Err(_)) => truth.network_errors += 1,
                        None => {}
                    }
                    match &status {
                        Some(Err(error)) => {
                            let in_a_row = failed_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
                            if in_a_row >= MAX_FAILED_IN_A_ROW {
                                *failure.lock().unwrap() = Some(anyhow::anyhow!(
                                    "the worker at {url} stopped answering: {in_a_row} envelopes \
                                     in a row failed after {MAX_ATTEMPTS} attempts each (the last: \
                                     {error})"
                                ));
                            }
                        }
                        Some(Ok(_)) => failed_in_a_row.store(0, Ordering::Relaxed),
                        None => {}
                    }
                    if (i + 1).is_multiple_of(1000) {
                        println!(
                            "simulate: {} devices, {:.0} envelopes/s",
                            i + 1,
                            (i + 1) as f64 / started.elapsed().as_secs_f64()
                        );
                    }
                }
            });
        }
    });
    if let Some(error) = failure.into_inner().unwrap() {
        return Err(error);
    }
    let truth = truth.into_inner().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    write_truth(options, &world, &rates, &truth, day, &url, seconds)?;
    println!(
        "simulate: {} devices, {} envelopes accepted in {seconds:.1} s ({:.0}/s); statuses {:?}, network errors {}",
        options.devices,
        truth.envelopes,
        truth.envelopes as f64 / seconds,
        truth.statuses,
        truth.network_errors
    );
    println!("simulate: truth in {}", options.truth.display());
    if options.url.is_none() {
        println!(
            "simulate: the worker kept its state in target/xtask/wrangler-state, the demo's; see /dashboard/ under `cargo xtask demo`"
        );
    }
    ensure!(
        truth.network_errors == 0 && truth.statuses.keys().all(|&s| s == 202),
        "some envelopes were not accepted: {:?}, {} network errors",
        truth.statuses,
        truth.network_errors
    );
    Ok(())
}

fn model_price_tiers(model: &Model) -> usize {
    model.manifest().segments.price_tiers.labels.len()
}

/// How long one request may take (a loaded worker answers in about a second).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per envelope.
const MAX_ATTEMPTS: u32 = 6;
/// Envelopes in a row that fail every attempt before the run gives up.
const MAX_FAILED_IN_A_ROW: usize = 16;

/// Posts one envelope; an overloaded worker (5xx, 429) or a dropped
/// connection is retried with the same bytes, as the snippet does, and a 409
/// on a retry means the earlier attempt was counted (the nonce is known).
fn post_with_retries(
    agent: &ureq::Agent,
    url: &str,
    body: &str,
    address: &str,
    country: &str,
) -> std::result::Result<u16, ureq::Error> {
    let mut attempt = 0;
    loop {
        let result = agent
            .post(url)
            .header("content-type", "application/json")
            .header("cf-connecting-ip", address)
            .header("cf-ipcountry", country)
            .send(body)
            .map(|mut response| {
                let _ = response.body_mut().read_to_vec();
                response.status().as_u16()
            });
        let retry = match &result {
            Ok(status) => *status == 429 || *status >= 500,
            Err(_) => true,
        };
        if !retry || attempt + 1 == MAX_ATTEMPTS {
            return match result {
                Ok(409) if attempt > 0 => Ok(202),
                other => other,
            };
        }
        attempt += 1;
        std::thread::sleep(Duration::from_millis(200 << attempt));
    }
}

/// A distinct client address per device, as distinct devices would have.
fn client_address(device: usize) -> String {
    format!(
        "10.{}.{}.{}",
        (device >> 16) & 255,
        (device >> 8) & 255,
        device & 255
    )
}

fn write_truth(
    options: &Options,
    world: &World,
    rates: &[Vec<Vec<f64>>],
    truth: &Truth,
    day: u32,
    url: &str,
    seconds: f64,
) -> Result<()> {
    let campaigns: Vec<serde_json::Value> = world
        .registry
        .campaigns
        .iter()
        .enumerate()
        .map(|(c, spec)| {
            json!({
                "id": spec.id,
                "kind": spec.kind,
                "variants": spec.variants,
                "designed_rates": rates[c],
                "cells": truth.campaigns[c].iter().map(|segments| {
                    segments.iter().map(|&(exposed, responded)| json!({
                        "exposed": exposed, "responded": responded,
                    })).collect::<Vec<_>>()
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut interest: Vec<(&(String, u32), &u64)> = truth.interest.iter().collect();
    interest.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let document = json!({
        "shop": options.shop,
        "url": url,
        "day": day,
        "seed": options.seed,
        "devices": options.devices,
        "envelopes": truth.envelopes,
        "seconds": seconds,
        "model_id": world.model.model_id(),
        "lifecycle_names": registry::lifecycle_names(&world.model),
        "segments": { SEGMENT_LIFECYCLE: truth.lifecycle, SEGMENT_PRICE_TIER: truth.price_tier },
        "top_interest": interest.iter().take(100).map(|((country, item), n)| json!({"country": country, "item": item, "count": n})).collect::<Vec<_>>(),
        "campaigns": campaigns,
        "reviews": { "unhappy_segment": UNHAPPY_SEGMENT, "by_segment": truth.reviews },
        "simpson": world.registry.campaigns.iter().find(|c| c.kind == CampaignKind::Targeted && c.variants == 3)
            .map(|c| json!({"campaign": c.id, "variants": [1, 2]})),
    });
    if let Some(parent) = options.truth.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&options.truth, serde_json::to_string_pretty(&document)?)
        .with_context(|| format!("writing {}", options.truth.display()))?;
    Ok(())
}
