//! A grocery-shaped synthetic shop (`cove-train synthesize`, issue 24): a
//! seeded, deterministic order history of any size in the trainer's default
//! Online Retail layout, for measuring how the trainer scales without a real
//! shop's data.
//!
//! # The generative model
//!
//! - **Catalogue.** `items` products in [`N_CATEGORIES`] aisles (an item's
//!   aisle is uniform). Each item has a popularity weight 1/(r + 1)^[`ZIPF_EXPONENT`]
//!   where r is its rank in a seeded shuffle of the catalogue, so a few
//!   items sell every day and most sell rarely (a long tail). Its price is
//!   fixed for the whole period: the aisle's typical price times a
//!   log-uniform factor between ½ and 2, rounded to cents.
//! - **New items.** A share [`NEW_ITEM_SHARE`] of the catalogue is launched
//!   during the period, each on a day drawn uniformly from the second tenth
//!   of the period to its last day. Nobody's taste predicts who buys them:
//!   each basket line is, with probability [`NEW_ITEM_LINE_SHARE`] times the
//!   share of the new items already launched, a new item drawn by its
//!   popularity weight among those launched, whoever the customer is (about
//!   4% of all lines over the period). So on this shop recent popularity is
//!   a strong baseline for new-item discovery, and a taste model has no
//!   signal there beyond popularity.
//! - **Tastes.** [`N_TASTES`] taste clusters (diets, households): each
//!   favours [`FAVOURED_AISLES`] aisles, which get [`FAVOURED_WEIGHT`] times
//!   the weight of the others. A customer has one taste.
//! - **Customers.** `customers` shoppers, each with a country (mostly the
//!   first of [`COUNTRIES`]) and a set of 8 to 24 staples drawn from their
//!   taste (aisle by the taste's weights, then item by popularity, launched
//!   items only). A shopper's mean interval between visits is log-uniform
//!   between 3 and 30 days (weekly for the median regular), scaled by one
//!   factor for the whole shop so that the expected number of lines is
//!   `rows`; each interval is the mean times a uniform factor in [0.5, 1.5]
//!   (at least one day). A fifth of the customers join during the period
//!   (their first visit on a uniform day), the others are active from the
//!   start (their first visit within their first interval).
//! - **Baskets.** A visit is one invoice of 10 to 30 distinct lines (uniform),
//!   at a uniform minute between 08:00 and 21:59. Each line is a staple
//!   (repeat purchase, chosen uniformly among the customer's staples) with
//!   probability [`STAPLE_SHARE`], a new item as above, or otherwise an
//!   exploration of the taste (aisle by taste, item by popularity among
//!   items already launched). Quantity 1 to 3.
//!
//! Rows are written in time order, day by day, and generation stops at
//! `rows` lines (the last basket may be cut short) or at the end of the
//! period, whichever is first. Only the customers, the catalogue and one
//! day's baskets are in memory, and the gzip stream is written as rows are
//! made, so ten million rows take a few hundred megabytes of disk and a few
//! megabytes of memory. The same arguments give the same bytes.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::dates::format_day;
use crate::random::SplitMix64;

/// Aisles (categories) of the catalogue.
pub const N_CATEGORIES: usize = 40;
/// Taste clusters of the customers.
pub const N_TASTES: usize = 12;
/// Aisles each taste favours.
pub const FAVOURED_AISLES: usize = 4;
/// How much more a favoured aisle weighs than another.
pub const FAVOURED_WEIGHT: f64 = 12.0;
/// Exponent of the items' Zipf-like popularity.
pub const ZIPF_EXPONENT: f64 = 1.0;
/// Share of the catalogue launched during the period.
pub const NEW_ITEM_SHARE: f64 = 0.1;
/// Share of a basket's lines that go to a launched new item (by popularity).
pub const NEW_ITEM_LINE_SHARE: f64 = 0.08;
/// Share of a basket's lines that repeat one of the customer's staples.
pub const STAPLE_SHARE: f64 = 0.45;
/// Fewest lines in a basket.
pub const MIN_BASKET: usize = 10;
/// Most lines in a basket.
pub const MAX_BASKET: usize = 30;
/// Countries and their shares of the customers.
pub const COUNTRIES: [(&str, f64); 3] =
    [("United States", 0.9), ("Canada", 0.07), ("Mexico", 0.03)];
/// The trainer's default header (UCI Online Retail's).
pub const HEADER: &str =
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country";

const AISLES: [&str; N_CATEGORIES] = [
    "BAKERY",
    "DAIRY",
    "CHEESE",
    "EGGS",
    "FRUIT",
    "VEGETABLES",
    "HERBS",
    "MEAT",
    "POULTRY",
    "SEAFOOD",
    "DELI",
    "FROZEN",
    "ICECREAM",
    "CEREAL",
    "PASTA",
    "RICE",
    "NOODLES",
    "SAUCES",
    "SPICES",
    "OILS",
    "CANNED",
    "SOUPS",
    "SNACKS",
    "CHIPS",
    "CANDY",
    "CHOCOLATE",
    "COFFEE",
    "TEA",
    "JUICE",
    "SODA",
    "WATER",
    "BEER",
    "WINE",
    "BABY",
    "PET",
    "CLEANING",
    "PAPER",
    "HEALTH",
    "BEAUTY",
    "TOFU",
];
const STYLES: [&str; 8] = [
    "ORGANIC", "CLASSIC", "LIGHT", "FAMILY", "VEGAN", "SPICY", "SWEET", "PREMIUM",
];

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShopShape {
    /// Lines to write (at most; see the module doc).
    pub rows: u64,
    /// Items in the catalogue.
    pub items: usize,
    /// Customers.
    pub customers: usize,
    /// Days in the period.
    pub days: i64,
    /// First day (days since the epoch).
    pub first_day: i64,
    /// Seed of every draw.
    pub seed: u64,
}

impl ShopShape {
    /// The defaults of `cove-train synthesize`: a million rows, 20,000 items,
    /// one customer per 100 rows, four months from 2017-01-01.
    pub fn new(rows: u64) -> ShopShape {
        ShopShape {
            rows,
            items: 20_000,
            customers: (rows / 100).max(1) as usize,
            days: 120,
            first_day: crate::dates::days_from_civil(2017, 1, 1),
            seed: 42,
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.rows > 0, "--rows must be at least 1");
        anyhow::ensure!(
            self.items >= 10 * N_CATEGORIES,
            "--items must be at least {} (ten per aisle), not {}",
            10 * N_CATEGORIES,
            self.items
        );
        anyhow::ensure!(self.customers > 0, "--customers must be at least 1");
        anyhow::ensure!(
            self.days >= 7,
            "--days must be at least 7, not {}",
            self.days
        );
        anyhow::ensure!(
            self.items <= 10_000_000 && self.customers <= 100_000_000,
            "--items and --customers must stay below 10 million and 100 million"
        );
        Ok(())
    }
}

/// One generated line, with what the CSV does not show (for tests).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    /// Invoice number (from 1, in time order).
    pub invoice: u64,
    /// Item index.
    pub item: u32,
    /// Quantity.
    pub quantity: u32,
    /// Day (days since the epoch).
    pub day: i64,
    /// Minute of the day.
    pub minute: u32,
    /// Customer index.
    pub customer: u32,
    /// The customer's taste.
    pub taste: u32,
    /// Whether the item is launched during the period.
    pub new_item: bool,
    /// Whether the line repeats one of the customer's staples.
    pub staple: bool,
}

/// What was generated.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    /// Lines written.
    pub rows: u64,
    /// Invoices written.
    pub invoices: u64,
    /// Lines of items launched during the period.
    pub new_item_rows: u64,
    /// Items launched during the period.
    pub new_items: usize,
}

/// A uniform float in [0, 1) with 53 bits.
/// Item factors with a taste structure, row-major `n_items` × `dim`, for
/// measuring the "similar" index ([`crate::neighbours::similar_by_index`])
/// against the exact lists: 12 tastes, each of 40 sub-tastes; an item is its
/// taste's direction, plus 0.7 × its sub-taste's, plus `noise` × its own
/// (every coordinate a standard normal), times a popularity-like length.
pub fn clustered_factors(n_items: usize, dim: usize, noise: f32, seed: u64) -> Vec<f32> {
    const TASTES: usize = 12;
    const SUB_TASTES: usize = 40;
    let mut rng = SplitMix64::new(seed);
    let mut normal = move || {
        // Box–Muller.
        let u = uniform(&mut rng).max(1e-12);
        let v = uniform(&mut rng);
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    };
    let tastes: Vec<f32> = (0..TASTES * dim).map(|_| normal()).collect();
    let sub_tastes: Vec<f32> = (0..TASTES * SUB_TASTES * dim)
        .map(|_| 0.7 * normal())
        .collect();
    let mut factors = Vec::with_capacity(n_items * dim);
    for item in 0..n_items {
        let sub = (item * 7_919) % (TASTES * SUB_TASTES);
        let taste = sub % TASTES;
        let length = 0.2 + normal().abs();
        for d in 0..dim {
            let value = tastes[taste * dim + d] + sub_tastes[sub * dim + d] + noise * normal();
            factors.push(length * value);
        }
    }
    factors
}

fn uniform(rng: &mut SplitMix64) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform integer in `low..=high`.
fn between(rng: &mut SplitMix64, low: u64, high: u64) -> u64 {
    low + rng.next_u64() % (high - low + 1)
}

/// Draws from cumulative weights (ascending, last = total) by binary search.
fn draw(cumulative: &[f64], rng: &mut SplitMix64) -> usize {
    let total = *cumulative.last().expect("weights are not empty");
    let target = uniform(rng) * total;
    cumulative
        .partition_point(|&c| c <= target)
        .min(cumulative.len() - 1)
}

fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut sum = 0.0;
    weights
        .map(|w| {
            sum += w;
            sum
        })
        .collect()
}

struct Item {
    aisle: usize,
    popularity: f64,
    /// Day offset of the launch (0 for items on sale from the start).
    launch: i64,
    price_cents: u32,
    title: String,
}

struct Customer {
    taste: u32,
    country: usize,
    staples: Vec<u32>,
    /// Mean days between visits (after the shop's scale).
    interval: f64,
}

/// Items of one aisle that are on sale, with cumulative popularity; grows as
/// items launch (only established items are drawn by taste).
struct Aisle {
    items: Vec<u32>,
    cumulative: Vec<f64>,
}

/// The shop: its catalogue and customers, then its days.
struct Shop {
    shape: ShopShape,
    items: Vec<Item>,
    customers: Vec<Customer>,
    aisles: Vec<Aisle>,
    /// Per taste, cumulative aisle weights.
    taste_aisles: Vec<Vec<f64>>,
    /// New items in launch order, with the day offset of each launch.
    launches: Vec<(i64, u32)>,
    rng: SplitMix64,
}

impl Shop {
    fn new(shape: ShopShape) -> Shop {
        let mut rng = SplitMix64::new(shape.seed ^ 0x005E_ED0F_C0FE);
        let n = shape.items;
        // Popularity ranks: a seeded shuffle.
        let mut rank: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            rank.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        let aisle_price: Vec<f64> = (0..N_CATEGORIES)
            .map(|_| 1.0 + 9.0 * uniform(&mut rng))
            .collect();
        let launch_from = (shape.days / 10).max(1);
        let items: Vec<Item> = (0..n)
            .map(|idx| {
                let aisle = (rng.next_u64() % N_CATEGORIES as u64) as usize;
                let new = uniform(&mut rng) < NEW_ITEM_SHARE;
                let launch = if new {
                    between(&mut rng, launch_from as u64, (shape.days - 1) as u64) as i64
                } else {
                    0
                };
                let factor = (uniform(&mut rng) * 2.0 - 1.0) * std::f64::consts::LN_2;
                let price = aisle_price[aisle] * factor.exp();
                let style = STYLES[(rng.next_u64() % STYLES.len() as u64) as usize];
                Item {
                    aisle,
                    popularity: 1.0 / ((rank[idx] as f64) + 1.0).powf(ZIPF_EXPONENT),
                    launch,
                    price_cents: ((price * 100.0).round() as u32).max(1),
                    title: format!("{} {style} {idx}", AISLES[aisle]),
                }
            })
            .collect();
        let mut launches: Vec<(i64, u32)> = items
            .iter()
            .enumerate()
            .filter(|(_, item)| item.launch > 0)
            .map(|(idx, item)| (item.launch, idx as u32))
            .collect();
        launches.sort_unstable();
        let taste_aisles: Vec<Vec<f64>> = (0..N_TASTES)
            .map(|_| {
                let mut weights = vec![1.0; N_CATEGORIES];
                for _ in 0..FAVOURED_AISLES {
                    weights[(rng.next_u64() % N_CATEGORIES as u64) as usize] = FAVOURED_WEIGHT;
                }
                cumulative(weights.into_iter())
            })
            .collect();
        let mut shop = Shop {
            shape,
            items,
            customers: Vec::new(),
            aisles: Vec::new(),
            taste_aisles,
            launches,
            rng,
        };
        shop.aisles = (0..N_CATEGORIES)
            .map(|aisle| {
                let members: Vec<u32> = (0..n as u32)
                    .filter(|&i| {
                        let item = &shop.items[i as usize];
                        item.aisle == aisle && item.launch == 0
                    })
                    .collect();
                let cumulative =
                    cumulative(members.iter().map(|&i| shop.items[i as usize].popularity));
                Aisle {
                    items: members,
                    cumulative,
                }
            })
            .collect();
        let country_weights = cumulative(COUNTRIES.iter().map(|c| c.1));
        let mut raw_intervals = Vec::with_capacity(shape.customers);
        for _ in 0..shape.customers {
            let taste = (shop.rng.next_u64() % N_TASTES as u64) as u32;
            let country = draw(&country_weights, &mut shop.rng);
            let n_staples = between(&mut shop.rng, 8, 24) as usize;
            let mut staples = Vec::with_capacity(n_staples);
            for _ in 0..n_staples * 4 {
                if staples.len() == n_staples {
                    break;
                }
                let item = shop.by_taste(taste);
                if !staples.contains(&item) {
                    staples.push(item);
                }
            }
            let interval = (3f64.ln() + uniform(&mut shop.rng) * (30f64 / 3.0).ln()).exp();
            raw_intervals.push(interval);
            shop.customers.push(Customer {
                taste,
                country,
                staples,
                interval,
            });
        }
        // One scale for the shop: expected lines = rows. A customer active
        // for the whole period makes days / interval visits; one who joins
        // on a uniform day, half as many.
        let mean_basket = (MIN_BASKET + MAX_BASKET) as f64 / 2.0;
        let expected_visits: f64 = raw_intervals
            .iter()
            .map(|interval| shape.days as f64 / interval)
            .sum::<f64>()
            * (0.8 + 0.2 * 0.5);
        let scale = (expected_visits * mean_basket / shape.rows as f64).max(f64::MIN_POSITIVE);
        for customer in &mut shop.customers {
            customer.interval = (customer.interval * scale).max(1.0);
        }
        shop
    }

    /// An established item of `taste`: aisle by the taste's weights, item by
    /// popularity.
    fn by_taste(&mut self, taste: u32) -> u32 {
        let aisle = draw(&self.taste_aisles[taste as usize], &mut self.rng);
        let aisle = &self.aisles[aisle];
        aisle.items[draw(&aisle.cumulative, &mut self.rng)]
    }

    /// The customer's next visit, `interval` × U[0.5, 1.5] days on.
    fn next_gap(&mut self, customer: u32) -> i64 {
        let mean = self.customers[customer as usize].interval;
        ((mean * (0.5 + uniform(&mut self.rng))).round() as i64).max(1)
    }

    /// Generates the lines in time order, handing each to `emit`.
    fn run(
        &mut self,
        mut emit: impl FnMut(&Line, &Item, &Customer) -> anyhow::Result<()>,
    ) -> anyhow::Result<Summary> {
        let days = self.shape.days;
        // Customers due on each day of the period.
        let mut due: Vec<Vec<u32>> = vec![Vec::new(); days as usize];
        for customer in 0..self.customers.len() as u32 {
            let first = if uniform(&mut self.rng) < 0.2 {
                (uniform(&mut self.rng) * days as f64) as i64
            } else {
                let interval = self.customers[customer as usize].interval;
                (uniform(&mut self.rng) * interval) as i64
            };
            if first < days {
                due[first as usize].push(customer);
            }
        }
        let mut summary = Summary {
            new_items: self.launches.len(),
            ..Summary::default()
        };
        let mut launched = 0usize;
        let mut new_cumulative: Vec<f64> = Vec::new();
        let mut basket: Vec<(u32, bool)> = Vec::new();
        for day in 0..days {
            while launched < self.launches.len() && self.launches[launched].0 <= day {
                let item = self.launches[launched].1;
                let total = new_cumulative.last().copied().unwrap_or(0.0);
                new_cumulative.push(total + self.items[item as usize].popularity);
                launched += 1;
            }
            // New items take a share of the lines that grows with how many
            // are on sale, up to NEW_ITEM_LINE_SHARE when all are.
            let new_line_share =
                NEW_ITEM_LINE_SHARE * launched as f64 / self.launches.len().max(1) as f64;
            let mut visits: Vec<(u32, u32)> = std::mem::take(&mut due[day as usize])
                .into_iter()
                .map(|customer| ((self.rng.next_u64() % (14 * 60)) as u32 + 8 * 60, customer))
                .collect();
            visits.sort_unstable();
            for (minute, customer) in visits {
                let next = day + self.next_gap(customer);
                if next < days {
                    due[next as usize].push(customer);
                }
                let size = between(&mut self.rng, MIN_BASKET as u64, MAX_BASKET as u64) as usize;
                basket.clear();
                let taste = self.customers[customer as usize].taste;
                // Draws that land on an item already in the basket are
                // retried a few times; a basket may end a line or two short.
                for _ in 0..size * 3 {
                    if basket.len() == size {
                        break;
                    }
                    let kind = uniform(&mut self.rng);
                    let (item, staple) = if kind < STAPLE_SHARE {
                        let staples = &self.customers[customer as usize].staples;
                        let pick = (self.rng.next_u64() % staples.len() as u64) as usize;
                        (staples[pick], true)
                    } else if kind < STAPLE_SHARE + new_line_share && launched > 0 {
                        let pick = draw(&new_cumulative, &mut self.rng);
                        (self.launches[pick].1, false)
                    } else {
                        (self.by_taste(taste), false)
                    };
                    if !basket.iter().any(|(i, _)| *i == item) {
                        basket.push((item, staple));
                    }
                }
                if summary.rows == self.shape.rows {
                    return Ok(summary);
                }
                summary.invoices += 1;
                for &(item, staple) in &basket {
                    if summary.rows == self.shape.rows {
                        return Ok(summary);
                    }
                    let line = Line {
                        invoice: summary.invoices,
                        item,
                        quantity: between(&mut self.rng, 1, 3) as u32,
                        day: self.shape.first_day + day,
                        minute,
                        customer,
                        taste,
                        new_item: self.items[item as usize].launch > 0,
                        staple,
                    };
                    emit(
                        &line,
                        &self.items[item as usize],
                        &self.customers[customer as usize],
                    )?;
                    summary.rows += 1;
                    summary.new_item_rows += u64::from(line.new_item);
                }
            }
        }
        Ok(summary)
    }
}

/// Generates the shop's lines in time order, handing each to `emit` (the
/// writer and the tests).
pub fn generate(
    shape: ShopShape,
    mut emit: impl FnMut(&Line) -> anyhow::Result<()>,
) -> anyhow::Result<Summary> {
    shape.validate()?;
    Shop::new(shape).run(|line, _, _| emit(line))
}

/// Writes the shop as CSV (the trainer's default header) to `out`.
pub fn write_csv(shape: ShopShape, out: impl Write) -> anyhow::Result<Summary> {
    shape.validate()?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    writeln!(out, "{HEADER}")?;
    let mut shop = Shop::new(shape);
    let mut date = (i64::MIN, String::new());
    let summary = shop.run(|line, item, customer| {
        if date.0 != line.day {
            date = (line.day, format_day(line.day));
        }
        writeln!(
            out,
            "{},G{:06},{},{},{} {:02}:{:02},{}.{:02},{},{}",
            line.invoice,
            line.item,
            item.title,
            line.quantity,
            date.1,
            line.minute / 60,
            line.minute % 60,
            item.price_cents / 100,
            item.price_cents % 100,
            10_000 + line.customer,
            COUNTRIES[customer.country].0
        )?;
        Ok(())
    })?;
    out.flush()?;
    Ok(summary)
}

/// Writes the shop to `path`, gzip-compressed as it is generated.
pub fn write_csv_gz(shape: ShopShape, path: &Path) -> anyhow::Result<Summary> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    // The gzip header's time is left at 0, so the bytes depend only on the shape.
    let mut encoder = flate2::GzBuilder::new().write(file, flate2::Compression::fast());
    let summary = write_csv(shape, &mut encoder)?;
    encoder
        .finish()
        .with_context(|| format!("writing {}", path.display()))?
        .sync_all()?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> ShopShape {
        ShopShape {
            rows: 60_000,
            items: 2_000,
            customers: 600,
            ..ShopShape::new(60_000)
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes_and_another_seed_others() {
        let shape = ShopShape {
            rows: 5_000,
            ..small()
        };
        let bytes = |shape| {
            let mut out = Vec::new();
            write_csv(shape, &mut out).unwrap();
            out
        };
        let first = bytes(shape);
        assert_eq!(first, bytes(shape));
        assert_ne!(first, bytes(ShopShape { seed: 7, ..shape }));
        let text = String::from_utf8(first).unwrap();
        assert!(
            text.starts_with(&format!("{HEADER}\n1,G")),
            "{}",
            &text[..200]
        );
        assert_eq!(text.lines().count(), 5_001);
    }

    #[test]
    fn the_shop_has_a_groceries_shape() {
        let shape = small();
        let mut lines = Vec::new();
        let summary = generate(shape, |line| {
            lines.push(*line);
            Ok(())
        })
        .unwrap();
        assert_eq!(summary.rows, lines.len() as u64);
        // The expected number of lines is the asked one: the period is
        // (nearly) filled.
        assert!(summary.rows as f64 > 0.9 * shape.rows as f64, "{summary:?}");
        let last_day = lines.last().unwrap().day - shape.first_day;
        assert!(last_day >= shape.days - 3, "{last_day}");

        // Baskets of 10 to 30 distinct lines (the last may be cut short,
        // and a few end a line short after repeated draws).
        let mut baskets: std::collections::BTreeMap<u64, Vec<u32>> = Default::default();
        for line in &lines {
            baskets.entry(line.invoice).or_default().push(line.item);
        }
        let last_invoice = *baskets.keys().last().unwrap();
        let mut short = 0;
        for (invoice, items) in &baskets {
            let mut distinct = items.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), items.len(), "invoice {invoice}");
            assert!(items.len() <= MAX_BASKET);
            if items.len() < MIN_BASKET && *invoice != last_invoice {
                short += 1;
            }
        }
        assert!(short * 100 < baskets.len(), "{short} short baskets");
        let mean = lines.len() as f64 / baskets.len() as f64;
        assert!((17.0..=21.0).contains(&mean), "{mean}");

        // Time order.
        assert!(lines
            .windows(2)
            .all(|w| (w[0].day, w[0].minute) <= (w[1].day, w[1].minute)));

        // New items: about NEW_ITEM_LINE_SHARE of the lines once launched,
        // and their buyers' tastes are those of all lines (popularity, not
        // taste, picks them), while established items' are not.
        let new_share = summary.new_item_rows as f64 / summary.rows as f64;
        assert!((0.03..0.08).contains(&new_share), "{new_share}");
        let taste_shares = |keep: &dyn Fn(&Line) -> bool| {
            let mut counts = [0f64; N_TASTES];
            let mut per_item: std::collections::HashMap<u32, [f64; N_TASTES]> = Default::default();
            for line in lines.iter().filter(|l| keep(l)) {
                counts[line.taste as usize] += 1.0;
                per_item.entry(line.item).or_insert([0.0; N_TASTES])[line.taste as usize] += 1.0;
            }
            // The mean over items of the largest taste's share of the
            // item's buyers, for items with at least 30 lines.
            let total: f64 = counts.iter().sum();
            let overall = counts.map(|c| c / total);
            let concentrated: Vec<f64> = per_item
                .values()
                .filter(|c| c.iter().sum::<f64>() >= 30.0)
                .map(|c| {
                    let n: f64 = c.iter().sum();
                    c.iter()
                        .zip(&overall)
                        .map(|(x, o)| (x / n - o).abs())
                        .sum::<f64>()
                })
                .collect();
            concentrated.iter().sum::<f64>() / concentrated.len() as f64
        };
        let new_spread = taste_shares(&|l: &Line| l.new_item);
        let old_spread = taste_shares(&|l: &Line| !l.new_item);
        assert!(
            new_spread < 0.5 * old_spread,
            "new items' buyers follow taste: {new_spread} vs {old_spread}"
        );

        // Repeat purchases: a customer's staples come back.
        let staple_share = lines.iter().filter(|l| l.staple).count() as f64 / lines.len() as f64;
        assert!((0.3..0.5).contains(&staple_share), "{staple_share}");

        // A long tail: the top 1% of items sell more than the bottom half.
        let mut per_item = vec![0u64; shape.items];
        for line in &lines {
            per_item[line.item as usize] += 1;
        }
        per_item.sort_unstable_by(|a, b| b.cmp(a));
        let top: u64 = per_item[..shape.items / 100].iter().sum();
        let bottom: u64 = per_item[shape.items / 2..].iter().sum();
        assert!(top > bottom, "top 1%: {top}, bottom half: {bottom}");
    }

    #[test]
    fn the_written_file_is_read_by_the_trainer_without_flags() {
        let dir = std::env::temp_dir().join(format!("cove-synth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("shop.csv.gz");
        let shape = ShopShape {
            rows: 3_000,
            ..small()
        };
        let summary = write_csv_gz(shape, &path).unwrap();
        let data = crate::data::read_transactions_file(
            &path,
            &crate::data::ColumnMap::default(),
            &crate::data::CleaningRules::default(),
            |_| {},
        )
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(data.purchases.len() as u64, summary.rows);
        assert_eq!(data.invoices.len() as u64, summary.invoices);
        assert_eq!(data.report.rows_read, summary.rows);
    }
}
