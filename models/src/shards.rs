//! Head and shards (issue 24, item 4): what the trainer publishes when the
//! whole bundle is over the device's download budget.
//!
//! The head holds the items that matter now, in this order of priority until
//! the budget is full: every trending list's items (the whole shop's and each
//! country's), then the rest by recent popularity, then by the length of their
//! factor row (implicit ALS gives items bought by many shoppers the longer
//! rows). Every other item goes to the shard of
//! its taste cluster. The engine writes both ([`BundleBuilder::build_sharded`])
//! and decides which shards a device fetches.

use std::path::{Path, PathBuf};

use anyhow::Context;
use cove_engine::bundle::{layout, BundleBuilder, ShardPlan, ShardedBundle};
use serde::Serialize;

use crate::export::{gzip_len, write_atomic};
use crate::pipeline::TrainedModel;

/// One shard's sizes, for the output and the model card.
#[derive(Debug, Clone, Serialize)]
pub struct ShardSize {
    /// Its taste clusters.
    pub clusters: Vec<u32>,
    /// Its items.
    pub n_items: usize,
    /// Its file's bytes.
    pub bytes: usize,
    /// Its file, gzip -9.
    pub gzip_bytes: usize,
    /// Its file's sha256 (hex).
    pub sha256: String,
}

/// What was split, and how big each part is.
#[derive(Debug, Clone, Serialize)]
pub struct ShardSummary {
    /// Items in the head.
    pub head_items: usize,
    /// The head's manifest + tensors, gzip -9.
    pub head_gzip_bytes: usize,
    /// The budget the head was fitted to.
    pub budget: usize,
    /// The taste clusters of the bundle (k).
    pub n_clusters: usize,
    /// How the shards were sized and are fetched.
    pub policy: ShardPolicy,
    /// The shards, in table order.
    pub shards: Vec<ShardSize>,
}

/// The trainer's item order for the head: trending items first, then recent
/// popularity, then factor length, then item index.
pub fn head_priority(model: &TrainedModel, builder: &BundleBuilder) -> Vec<u32> {
    let trending = builder.trending_rows();
    let mut in_head = vec![false; model.items.len()];
    for &row in &trending {
        in_head[row as usize] = true;
    }
    let dim = model.dim;
    let norm = |row: usize| -> f32 {
        let y = &model.item_factors[row * dim..(row + 1) * dim];
        y.iter().map(|v| v * v).sum()
    };
    let mut rest: Vec<u32> = (0..model.items.len() as u32)
        .filter(|r| !in_head[*r as usize])
        .collect();
    rest.sort_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        model.recent_popularity[b]
            .total_cmp(&model.recent_popularity[a])
            .then(norm(b).total_cmp(&norm(a)))
            .then(a.cmp(&b))
    });
    let mut order = trending;
    order.extend(rest);
    order
}

/// How shards are sized and fetched: the gzip bytes a shard should not pass
/// (a taste cluster whose items outside the head would is split by
/// direction), and how many shards a device holds at most.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ShardPolicy {
    /// A shard's target size, gzip -9 bytes.
    pub shard_budget: usize,
    /// The shards a device fetches at most: those nearest its taste.
    pub shards_per_visit: u32,
}

impl ShardPolicy {
    /// The default for a head of `budget` bytes: shards of an eighth of it,
    /// four a visit, so a returning shopper's device holds at most about
    /// 1.5 times the head whatever the catalogue.
    pub fn for_budget(budget: usize) -> Self {
        ShardPolicy {
            shard_budget: (budget / 8).max(1),
            shards_per_visit: 4,
        }
    }
}

/// The seed of the k-means that splits a large taste cluster (mixed with
/// the cluster's index and the split's depth).
const SPLIT_SEED: u64 = 0x5eed_5a4d;

/// How deep a part too large for one shard is split again before it is cut
/// in order of priority instead.
const MAX_SPLIT_DEPTH: u32 = 3;

/// Splits the builder's catalogue into a head of the first `head_len` items
/// of `priority` and shards of the rest: one per taste cluster, or, for a
/// cluster whose items would pass `items_per_shard` by more than a quarter,
/// several of about that many items, grouped by the direction of their
/// factors (spherical k-means), so that a shard is items of one taste.
pub fn split(
    model: &TrainedModel,
    builder: &BundleBuilder,
    priority: &[u32],
    head_len: usize,
    items_per_shard: usize,
    shards_per_visit: u32,
) -> anyhow::Result<ShardedBundle> {
    let head = &priority[..head_len.min(priority.len())];
    let k = model.taste_clusters.clusters.len();
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); k];
    for &row in &priority[head.len()..] {
        let cluster = model.taste_clusters.item_cluster[row as usize] as usize;
        rows[cluster].push(row);
    }
    let mut plans: Vec<ShardPlan> = Vec::new();
    for (cluster, rows) in rows.into_iter().enumerate() {
        if rows.is_empty() {
            continue;
        }
        let seed = SPLIT_SEED ^ (cluster as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for mut part in split_by_direction(model, rows, items_per_shard.max(1), seed, 0) {
            part.sort_unstable();
            plans.push(ShardPlan {
                clusters: vec![cluster as u32],
                rows: part,
            });
        }
    }
    builder
        .build_sharded(head, &plans, shards_per_visit)
        .map_err(|e| anyhow::anyhow!("the engine refused the head and shards: {e}"))
}

/// `rows` (in priority order) as parts of about `items_per_shard` items, by
/// direction: a part that is still too large is split again, down to
/// [`MAX_SPLIT_DEPTH`]; past it, or when k-means cannot tell the rows apart
/// (the same direction), the rows are cut in order.
fn split_by_direction(
    model: &TrainedModel,
    rows: Vec<u32>,
    items_per_shard: usize,
    seed: u64,
    depth: u32,
) -> Vec<Vec<u32>> {
    if rows.len() <= items_per_shard.saturating_add(items_per_shard / 4) {
        return vec![rows];
    }
    let n_parts = rows.len().div_ceil(items_per_shard);
    let in_order = |rows: Vec<u32>| -> Vec<Vec<u32>> {
        let size = rows.len().div_ceil(n_parts);
        rows.chunks(size).map(<[u32]>::to_vec).collect()
    };
    if depth >= MAX_SPLIT_DEPTH {
        return in_order(rows);
    }
    let dim = model.dim;
    let factors: Vec<f32> = rows
        .iter()
        .flat_map(|&row| &model.item_factors[row as usize * dim..(row as usize + 1) * dim])
        .copied()
        .collect();
    let unit = crate::neighbours::unit_rows(&factors, dim);
    let groups = crate::neighbours::direction_groups(&unit, dim, n_parts, seed, 1);
    let n_groups = groups.iter().max().map_or(0, |g| *g as usize + 1);
    if n_groups < 2 {
        return in_order(rows);
    }
    let mut parts: Vec<Vec<u32>> = vec![Vec::new(); n_groups];
    for (row, group) in rows.into_iter().zip(groups) {
        parts[group as usize].push(row);
    }
    parts
        .into_iter()
        .enumerate()
        .flat_map(|(group, part)| {
            let seed = seed.wrapping_add(1 + group as u64).rotate_left(17);
            split_by_direction(model, part, items_per_shard, seed, depth + 1)
        })
        .collect()
}

/// The head's download (manifest + tensors, gzip -9).
fn head_gzip(bundle: &ShardedBundle) -> usize {
    gzip_len(&bundle.head.manifest) + gzip_len(&bundle.head.tensors)
}

/// A head within `budget` bytes gzip and its shards, sized and fetched as
/// `policy` says: the head length starts from the whole bundle's bytes per
/// item and shrinks in proportion until the head fits (at most sixteen
/// tries: the shard table's bytes do not shrink with the head); a shard holds about `policy.shard_budget` bytes' worth of items
/// at the same bytes per item. `whole_gzip` is the whole bundle's download.
/// Fails when even the trending items alone do not fit.
pub fn fit_head(
    model: &TrainedModel,
    builder: &BundleBuilder,
    whole_gzip: usize,
    budget: usize,
    policy: ShardPolicy,
) -> anyhow::Result<(ShardedBundle, ShardSummary)> {
    let priority = head_priority(model, builder);
    let n = priority.len();
    let n_trending = builder.trending_rows().len();
    let per_item = whole_gzip as f64 / n.max(1) as f64;
    let items_per_shard = ((policy.shard_budget as f64 / per_item) as usize).max(1);
    let mut head_len = ((budget as f64 * 0.9 / per_item) as usize).clamp(n_trending.max(1), n);
    for _ in 0..16 {
        let bundle = split(
            model,
            builder,
            &priority,
            head_len,
            items_per_shard,
            policy.shards_per_visit,
        )?;
        let gz = head_gzip(&bundle);
        if gz <= budget {
            let k = model.taste_clusters.clusters.len();
            let summary = summary(&bundle, head_len, gz, budget, k, policy);
            return Ok((bundle, summary));
        }
        anyhow::ensure!(
            head_len > n_trending.max(1),
            "the trending lists' {n_trending} items alone make a head of {gz} B gzip, over the \
             {budget} B budget (shorten the trending lists)"
        );
        let shrunk = (head_len as f64 * budget as f64 / gz as f64 * 0.97) as usize;
        head_len = shrunk.clamp(n_trending.max(1), head_len - 1);
    }
    anyhow::bail!("no head within {budget} B gzip after sixteen tries")
}

fn summary(
    bundle: &ShardedBundle,
    head_items: usize,
    gz: usize,
    budget: usize,
    n_clusters: usize,
    policy: ShardPolicy,
) -> ShardSummary {
    let table = cove_engine::bundle::Model::from_bytes(&bundle.head.manifest, &bundle.head.tensors)
        .map(|m| m.shard_table().to_vec())
        .unwrap_or_default();
    ShardSummary {
        head_items,
        head_gzip_bytes: gz,
        budget,
        n_clusters,
        policy,
        shards: bundle
            .shards
            .iter()
            .zip(&table)
            .map(|(file, entry)| ShardSize {
                clusters: entry.clusters.clone(),
                n_items: entry.n_items as usize,
                bytes: file.len(),
                gzip_bytes: gzip_len(file),
                sha256: entry.file.sha256.clone(),
            })
            .collect(),
    }
}

pub use layout::shard_file_name;

/// Writes a head's shards into `DIR/<model_id>/` (before the head is
/// published, so its pointer never names missing files).
pub fn write_shards(bundle: &ShardedBundle, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let bundle_dir = dir.join(&bundle.head.model_id);
    std::fs::create_dir_all(&bundle_dir)
        .with_context(|| format!("creating {}", bundle_dir.display()))?;
    bundle
        .shards
        .iter()
        .enumerate()
        .map(|(index, file)| {
            let path = bundle_dir.join(shard_file_name(index));
            write_atomic(&path, file)?;
            Ok(path)
        })
        .collect()
}

/// Adds every shard of a head's table from the files beside `manifest_path`.
pub fn load_shards(
    model: &mut cove_engine::bundle::Model,
    manifest_path: &Path,
) -> anyhow::Result<()> {
    for index in 0..model.shard_table().len() {
        let path = manifest_path.with_file_name(shard_file_name(index));
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        model
            .add_shard(index, &bytes)
            .map_err(|e| anyhow::anyhow!("{} is not a shard of this head: {e}", path.display()))?;
    }
    Ok(())
}

/// The model card's section on the head and its shards.
pub fn card_section(summary: &ShardSummary) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let total: usize = summary.shards.iter().map(|s| s.gzip_bytes).sum();
    let largest = summary
        .shards
        .iter()
        .map(|s| s.gzip_bytes)
        .max()
        .unwrap_or(0);
    let per_visit = summary.policy.shards_per_visit as usize;
    let mut sizes: Vec<usize> = summary.shards.iter().map(|s| s.gzip_bytes).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let most: usize = sizes.iter().take(per_visit).sum();
    let _ = writeln!(
        out,
        "\n## Head and shards\n\nThe whole bundle is over the {} B budget, so a device downloads a \
         **head** of {} items ({} B gzip -9, the size above) and then at most {per_visit} shards, \
         those whose items' direction is nearest the shopper's taste (the engine's choice, from the \
         shopper's folded-in vector): at most {most} B gzip -9 more. {} shards hold the other items \
         ({total} B gzip -9 in all, {largest} B the largest; a taste cluster past {} B is split by \
         direction). Which shards a device fetches reveals at most its {per_visit} nearest shards out \
         of {}, each a region of taste shared by many shoppers; never an item or an event.\n",
        summary.budget,
        summary.head_items,
        summary.head_gzip_bytes,
        summary.shards.len(),
        summary.policy.shard_budget,
        summary.shards.len(),
    );
    let _ = writeln!(
        out,
        "| shard | clusters | items | raw B | gzip -9 B |\n| ---: | --- | ---: | ---: | ---: |"
    );
    for (index, shard) in summary.shards.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {index} | {:?} | {} | {} | {} |",
            shard.clusters, shard.n_items, shard.bytes, shard.gzip_bytes
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::tests::{small_config, synthetic_shop};
    use crate::pipeline::{self, Bars};

    /// The test shop (50 items) with short trending lists, so a head can
    /// be smaller than the catalogue.
    fn trained() -> TrainedModel {
        let data = synthetic_shop();
        let mut config = small_config();
        config.engine.n_trending = 6;
        config.trending_k = 3;
        let evaluation = pipeline::evaluate(&data, &mut config, Bars::Hidden, None).unwrap();
        pipeline::train(&data, &config, evaluation, None, "synthetic", Bars::Hidden).unwrap()
    }

    /// The trained shop, its bundle builder and its whole bundle's gzip bytes.
    fn setup() -> (TrainedModel, BundleBuilder, usize) {
        let model = trained();
        let (builder, _) = crate::export::builder(&model, &[]).unwrap();
        let whole = builder.build().unwrap();
        let whole_gz = gzip_len(&whole.manifest) + gzip_len(&whole.tensors);
        (model, builder, whole_gz)
    }

    /// A budget halfway between a head of the trending items only and the
    /// whole bundle: it forces a split.
    fn halfway_budget(model: &TrainedModel, builder: &BundleBuilder, whole_gz: usize) -> usize {
        let priority = head_priority(model, builder);
        let smallest = split(
            model,
            builder,
            &priority,
            builder.trending_rows().len(),
            usize::MAX,
            2,
        )
        .unwrap();
        let smallest = head_gzip(&smallest);
        assert!(smallest < whole_gz);
        smallest + (whole_gz - smallest) / 2
    }

    /// The head fitted to `budget` with the default policy for it.
    fn halfway_head(
        model: &TrainedModel,
        builder: &BundleBuilder,
        whole_gz: usize,
        budget: usize,
    ) -> (ShardedBundle, ShardSummary) {
        let policy = ShardPolicy::for_budget(budget);
        fit_head(model, builder, whole_gz, budget, policy).unwrap()
    }

    #[test]
    fn the_head_fits_the_budget_and_every_item_is_in_exactly_one_part() {
        let (model, builder, whole_gz) = setup();
        let budget = halfway_budget(&model, &builder, whole_gz);
        let (bundle, summary) = halfway_head(&model, &builder, whole_gz, budget);
        assert!(summary.head_gzip_bytes <= budget, "{summary:?}");
        assert_eq!(
            gzip_len(&bundle.head.manifest) + gzip_len(&bundle.head.tensors),
            summary.head_gzip_bytes
        );
        assert!(!summary.shards.is_empty());

        let head =
            cove_engine::bundle::Model::from_bytes(&bundle.head.manifest, &bundle.head.tensors)
                .unwrap();
        assert_eq!(head.n_items(), summary.head_items);
        // Every trending item is in the head.
        for row in builder.trending_rows() {
            let id = &model.items[row as usize].code;
            assert!(
                head.item_row(id).is_some(),
                "trending item {id} not in the head"
            );
        }
        // Each item in exactly one part: count ids over the head and the
        // shards, each loaded alone onto its own copy of the head.
        let mut seen: std::collections::HashMap<String, usize> = Default::default();
        for item in head.items() {
            *seen.entry(item.id.clone()).or_default() += 1;
        }
        for (index, file) in bundle.shards.iter().enumerate() {
            let mut with_shard = head.clone();
            with_shard.add_shard(index, file).unwrap();
            for item in &with_shard.items()[head.n_items()..] {
                *seen.entry(item.id.clone()).or_default() += 1;
            }
            // A shard holds items of its own cluster only.
            let cluster = summary.shards[index].clusters[0];
            for item in &with_shard.items()[head.n_items()..] {
                let idx = model.items.iter().position(|i| i.code == item.id).unwrap();
                assert_eq!(model.taste_clusters.item_cluster[idx], cluster);
            }
        }
        assert_eq!(seen.len(), model.items.len());
        assert!(seen.values().all(|count| *count == 1));
    }

    #[test]
    fn a_budget_below_the_trending_items_is_a_clear_error() {
        let (model, builder, whole_gz) = setup();
        let error = fit_head(
            &model,
            &builder,
            whole_gz,
            1_000,
            ShardPolicy::for_budget(1_000),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("trending lists"), "{error}");
    }

    #[test]
    fn publishing_a_head_writes_its_shards_and_loads_whole() {
        let (model, builder, whole_gz) = setup();
        let budget = halfway_budget(&model, &builder, whole_gz);
        let (bundle, _) = halfway_head(&model, &builder, whole_gz, budget);
        let dir = std::env::temp_dir().join(format!("cove-shards-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        crate::export::publish_with_shards(
            &bundle.head,
            &bundle.shards,
            &bundle.item_index,
            &dir,
            layout::DEFAULT_POINTER,
        )
        .unwrap();
        let loaded = crate::export::load_published(&dir).unwrap();
        assert_eq!(loaded.n_items(), model.items.len());
        let pointer = crate::export::read_pointer(&dir.join(layout::DEFAULT_POINTER)).unwrap();
        assert_eq!(
            pointer["shards"].as_array().map(Vec::len),
            Some(bundle.shards.len())
        );
        let catalogue =
            std::fs::read(dir.join(&bundle.head.model_id).join(layout::CATALOGUE_FILE)).unwrap();
        let items: Vec<serde_json::Value> = serde_json::from_slice(&catalogue).unwrap();
        assert_eq!(items.len(), model.items.len());
        // A missing shard is named.
        std::fs::remove_file(dir.join(&bundle.head.model_id).join(shard_file_name(0))).unwrap();
        let error = crate::export::load_published(&dir).unwrap_err().to_string();
        assert!(error.contains("shard-0.safetensors"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn issue_24_a_large_cluster_is_split_by_direction_so_a_device_fetches_a_bounded_amount() {
        let (model, builder, whole_gz) = setup();
        let budget = halfway_budget(&model, &builder, whole_gz);
        let per_item = whole_gz / model.items.len();
        let whole_policy = ShardPolicy {
            shard_budget: usize::MAX / 2,
            shards_per_visit: 2,
        };
        let (_, by_cluster) = fit_head(&model, &builder, whole_gz, budget, whole_policy).unwrap();
        let small = ShardPolicy {
            shard_budget: 3 * per_item,
            shards_per_visit: 2,
        };
        let (bundle, summary) = fit_head(&model, &builder, whole_gz, budget, small).unwrap();
        assert!(
            summary.shards.len() > by_cluster.shards.len(),
            "{} shards by cluster, {} split",
            by_cluster.shards.len(),
            summary.shards.len()
        );
        // About three items a shard (a part is split when it passes a
        // quarter over), each shard inside one taste cluster.
        let mut seen = 0;
        let head =
            cove_engine::bundle::Model::from_bytes(&bundle.head.manifest, &bundle.head.tensors)
                .unwrap();
        for (index, file) in bundle.shards.iter().enumerate() {
            let shard = &summary.shards[index];
            assert!(shard.n_items <= 3, "{shard:?}");
            let mut with_shard = head.clone();
            with_shard.add_shard(index, file).unwrap();
            for item in &with_shard.items()[head.n_items()..] {
                let idx = model.items.iter().position(|i| i.code == item.id).unwrap();
                assert_eq!(model.taste_clusters.item_cluster[idx], shard.clusters[0]);
                seen += 1;
            }
        }
        assert_eq!(seen + summary.head_items, model.items.len());
        // Whatever the taste, a device fetches at most two of them.
        for user in 0..20 {
            let vector: Vec<f32> = (0..model.dim)
                .map(|i| ((user * 7 + i) as f32 * 0.37).sin())
                .collect();
            let wanted = head.shards_for_vector(&vector).unwrap();
            assert_eq!(wanted.len(), 2.min(summary.shards.len()));
        }
        let card = card_section(&summary);
        assert!(card.contains("at most 2 shards"), "{card}");
    }
}
