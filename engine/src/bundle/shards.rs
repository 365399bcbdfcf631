//! Head and shards: a device download that does not grow with the catalogue
//! (issue 24).
//!
//! A *head* is a normal bundle of the items that matter now (the trainer
//! picks them: recent popularity overall and per country, every trending
//! list's items), with two differences: its `gram` is YᵀY of the **whole**
//! catalogue, so a shopper's folded-in vector is the one the whole bundle
//! gives (for the items the device knows), and its manifest carries a shard
//! table ([`ShardEntry`]). Each *shard* holds the other items of one or more
//! taste clusters: their metadata, int8 factors, neighbour lists, and the
//! links from head items to its items.
//!
//! Catalogue positions number every item once: the head's rows are positions
//! 0..h, and shard j's items follow at its `first_item`. Neighbour lists in a
//! shard name items by position; [`Model::add_shard`] maps them to the rows
//! of the items loaded so far and re-maps every list when a later shard
//! brings more of them. A head item's list is its whole-catalogue list
//! restricted to the loaded items (the head's own entries plus each loaded
//! shard's links, by score), so ranking over the head and some shards equals
//! ranking over the whole bundle with the other items withdrawn.
//!
//! A shard file is a safetensors file with the catalogue columns of the
//! `items` module and:
//!
//! | name | dtype | shape | meaning |
//! | --- | --- | --- | --- |
//! | `shard_head` | U8 | 64 | the head's tensor sha256, lower-case hex |
//! | `shard_index` | U32 | 1 | its index in the head's shard table |
//! | `item_factors_i8`, `item_scales` | I8, F32 | s × d, s | as in a bundle |
//! | `neighbors_idx`, `neighbors_score` | U32, F32 | s × m | lists by catalogue position; [`PAD`] pads |
//! | `link_row`, `link_item`, `link_score` | U32, U32, F32 | l | head row → this shard's item (by position), score |
//!
//! **Which shards a device fetches** is the engine's policy
//! ([`Model::shards_for_vector`]): the head's `shards_per_visit` shards whose
//! centroids (the mean direction of their items' factors, in the table) are
//! nearest (cosine) to the shopper's folded-in vector. The trainer sizes the
//! shards (a large taste cluster is split into several), so what a device
//! fetches is bounded by `shards_per_visit` times a shard's size, whatever
//! the catalogue. A server that sees the requests learns at most the
//! shopper's `shards_per_visit` nearest shards out of the table's (nothing
//! when the profile is empty), the same for every shopper whose taste is
//! nearest those shards; never an item or an event.

use super::builder::{neighbor_matrix, serialize_tensors, BundleBuilder, Part};
use super::items::{self, read_items};
use super::load::{check_tensor_digest, dequantise_rows, read_factors, Tensors};
use super::manifest::{sha256_hex, ItemMeta, PartDigest, ShardEntry};
use super::tensor_file::TensorFile;
use super::{BuiltBundle, Model, TensorCheck, PAD};
use crate::Error;
use safetensors::Dtype;

pub use super::layout::{item_index_file_name, shard_file_name};

/// About how many items each file of a head's item index lists.
pub const ITEMS_PER_INDEX_FILE: usize = 512;

/// The bucket of an item id in an index of `files` files: the first eight
/// bytes of the id's SHA-256 (little-endian) modulo `files`.
pub fn item_bucket(item_id: &str, files: u32) -> u32 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(item_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_le_bytes(first) % u64::from(files.max(1))) as u32
}

/// Which of a head's shards a model holds, for a host's status.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ShardStatus {
    /// The shards in the head's table (0 for a bundle of the whole catalogue).
    pub total: usize,
    /// The indices of the shards added, in the order they were added.
    pub loaded: Vec<usize>,
}

/// A shard file a host fetches: where it sits beside the manifest and the
/// digest and length the head's table states for it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ShardFile {
    /// Its index in the head's shard table.
    pub index: usize,
    /// Its file name beside the manifest ([`shard_file_name`]).
    pub file: String,
    /// Its sha256, lower-case hex.
    pub sha256: String,
    /// Its length in bytes.
    pub byte_len: u64,
}

/// The tensors of a shard file besides the catalogue columns.
const SHARD_TENSOR_NAMES: [&str; 9] = [
    "shard_head",
    "shard_index",
    "item_factors_i8",
    "item_scales",
    "neighbors_idx",
    "neighbors_score",
    "link_row",
    "link_item",
    "link_score",
];

/// What the trainer asks [`BundleBuilder::build_sharded`] for: one shard's
/// taste clusters and the builder rows of its items (the engine computes its
/// centroid from their factors).
#[derive(Debug, Clone, PartialEq)]
pub struct ShardPlan {
    /// The taste clusters whose items it holds (rows of `taste_centroids`).
    pub clusters: Vec<u32>,
    /// The builder rows of its items.
    pub rows: Vec<u32>,
}

/// A head bundle and its shard files, in table order.
#[derive(Debug, Clone)]
pub struct ShardedBundle {
    /// The head: a bundle with a shard table.
    pub head: BuiltBundle,
    /// The shard files, in the order of the head's table.
    pub shards: Vec<Vec<u8>>,
    /// The item index's files, by bucket ([`item_index_file_name`]).
    pub item_index: Vec<Vec<u8>>,
}

impl BundleBuilder {
    /// Writes a head of the builder rows `head_rows` (every trending item
    /// must be among them) and one shard per plan; every item must be in
    /// exactly one of them. The head's Gram matrix is the whole catalogue's;
    /// a device fetches its `shards_per_visit` nearest shards. The result is
    /// checked by the engine's loader: the head loads and every shard adds
    /// to it.
    pub fn build_sharded(
        &self,
        head_rows: &[u32],
        plans: &[ShardPlan],
        shards_per_visit: u32,
    ) -> Result<ShardedBundle, Error> {
        if shards_per_visit == 0 {
            return Err(Error::InvalidParameter {
                name: "shards_per_visit",
                reason: "a device must be able to fetch at least one shard",
            });
        }
        let parts = self.parts();
        let (dim, m, n) = (parts.dim, parts.n_neighbors, parts.items.len());
        // Where every builder row goes: its owner (0 the head, j + 1 shard
        // j) and its catalogue position.
        let mut owner = vec![usize::MAX; n];
        let mut position = vec![0u32; n];
        let mut next = 0u32;
        let groups = std::iter::once(head_rows).chain(plans.iter().map(|p| p.rows.as_slice()));
        for (group, rows) in groups.enumerate() {
            if group > 0 && rows.is_empty() {
                return Err(Error::InvalidParameter {
                    name: "shards",
                    reason: "a shard has no items",
                });
            }
            for &row in rows {
                let slot = owner.get_mut(row as usize).ok_or(Error::InvalidReference {
                    what: "shard plan row".into(),
                    index: row as u64,
                    limit: n as u64,
                })?;
                if *slot != usize::MAX {
                    return Err(Error::InvalidParameter {
                        name: "shards",
                        reason: "an item is in the head or a shard twice",
                    });
                }
                *slot = group;
                position[row as usize] = next;
                next += 1;
            }
        }
        if owner.contains(&usize::MAX) {
            return Err(Error::InvalidParameter {
                name: "shards",
                reason: "an item is in neither the head nor a shard",
            });
        }
        let k = self.n_taste_clusters();
        if let Some(bad) = plans
            .iter()
            .flat_map(|p| &p.clusters)
            .find(|c| **c as usize >= k)
        {
            return Err(Error::InvalidReference {
                what: "shard plan cluster".into(),
                index: *bad as u64,
                limit: k as u64,
            });
        }

        let (quantised, scales) = super::quantise_rows(parts.factors, dim);
        let gram = super::gram_matrix(&dequantise_rows(&quantised, &scales, dim), dim);
        let subset = |rows: &[u32]| {
            let mut q = Vec::with_capacity(rows.len() * dim);
            let mut s = Vec::with_capacity(rows.len());
            let mut metas: Vec<ItemMeta> = Vec::with_capacity(rows.len());
            for &row in rows {
                let r = row as usize;
                q.extend_from_slice(&quantised[r * dim..(r + 1) * dim]);
                s.push(scales[r]);
                metas.push(parts.items[r].clone());
            }
            (metas, q, s)
        };

        // The head: its own lists keep their head entries (by position,
        // which is the head row), in the whole list's order.
        let (head_items, head_q, head_s) = subset(head_rows);
        let head_neighbors: Vec<Vec<(u32, f32)>> = head_rows
            .iter()
            .map(|&row| {
                parts.neighbors[row as usize]
                    .iter()
                    .filter(|(i, _)| owner[*i as usize] == 0)
                    .map(|(i, s)| (position[*i as usize], *s))
                    .collect()
            })
            .collect();
        let mut trending = Vec::with_capacity(parts.trending.len());
        for (country, list) in parts.trending {
            let mut mapped = Vec::with_capacity(list.len());
            for (row, score) in list {
                if owner.get(*row as usize) != Some(&0) {
                    return Err(Error::InvalidParameter {
                        name: "shards",
                        reason: "a trending item is not in the head",
                    });
                }
                mapped.push((position[*row as usize], *score));
            }
            trending.push((country.clone(), mapped));
        }
        trending.sort_by(|a, b| a.0.cmp(&b.0));
        let head_part = Part {
            items: &head_items,
            quantised: &head_q,
            scales: &head_s,
            neighbors: &head_neighbors,
        };
        let head_tensors = self.tensor_file(&head_part, &gram, &trending)?;
        let head_sha = sha256_hex(&head_tensors);

        let mut files = Vec::with_capacity(plans.len());
        let mut table = Vec::with_capacity(plans.len());
        for (index, plan) in plans.iter().enumerate() {
            let (metas, q, s) = subset(&plan.rows);
            let lists: Vec<Vec<(u32, f32)>> = plan
                .rows
                .iter()
                .map(|&row| {
                    parts.neighbors[row as usize]
                        .iter()
                        .map(|(i, s)| (position[*i as usize], *s))
                        .collect()
                })
                .collect();
            let (neighbors_idx, neighbors_score) = neighbor_matrix(&lists, m);
            let (mut link_row, mut link_item, mut link_score) =
                (Vec::new(), Vec::new(), Vec::new());
            for &row in head_rows {
                for (i, score) in parts.neighbors[row as usize].iter().take(m) {
                    if owner[*i as usize] == index + 1 {
                        link_row.push(position[row as usize]);
                        link_item.push(position[*i as usize]);
                        link_score.push(*score);
                    }
                }
            }
            let s_items = metas.len();
            let mut tensors = items::item_tensors(&metas)?;
            tensors.extend([
                items::byte_tensor("shard_head", Dtype::U8, head_sha.as_bytes().to_vec()),
                super::builder::u32_tensor("shard_index", &[1], &[index as u32]),
                super::builder::i8_tensor("item_factors_i8", &[s_items, dim], &q),
                super::builder::f32_tensor("item_scales", &[s_items], &s),
                super::builder::u32_tensor("neighbors_idx", &[s_items, m], &neighbors_idx),
                super::builder::f32_tensor("neighbors_score", &[s_items, m], &neighbors_score),
                super::builder::u32_tensor("link_row", &[link_row.len()], &link_row),
                super::builder::u32_tensor("link_item", &[link_item.len()], &link_item),
                super::builder::f32_tensor("link_score", &[link_score.len()], &link_score),
            ]);
            let bytes = serialize_tensors(tensors)?;
            table.push(ShardEntry {
                clusters: plan.clusters.clone(),
                centroid: direction_of(parts.factors, dim, &plan.rows)?,
                first_item: position[plan.rows[0] as usize] as u64,
                n_items: s_items as u64,
                file: PartDigest {
                    sha256: sha256_hex(&bytes),
                    byte_len: bytes.len() as u64,
                },
            });
            files.push(bytes);
        }
        // The item index: each item outside the head, by the bucket of its id.
        let outside = n - head_rows.len();
        let n_files = outside.div_ceil(ITEMS_PER_INDEX_FILE).max(1) as u32;
        let mut buckets: Vec<std::collections::BTreeMap<&str, usize>> =
            vec![Default::default(); n_files as usize];
        for (index, plan) in plans.iter().enumerate() {
            for &row in &plan.rows {
                let id = parts.items[row as usize].id.as_str();
                buckets[item_bucket(id, n_files) as usize].insert(id, index);
            }
        }
        let item_index = buckets
            .iter()
            .map(|bucket| {
                serde_json::to_vec(bucket).map_err(|e| Error::ManifestSyntax {
                    message: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let head = self.seal(
            &head_tensors,
            &trending,
            Some((table, shards_per_visit)),
            Some(n_files),
        )?;
        let mut model = Model::from_bytes(&head.manifest, &head.tensors)?;
        for (index, file) in files.iter().enumerate() {
            model.add_shard(index, file)?;
        }
        Ok(ShardedBundle {
            head,
            shards: files,
            item_index,
        })
    }
}

/// The mean direction of the factor rows `rows` (each made unit length),
/// scaled so its largest entry is ±127: a shard's centroid. When the rows'
/// directions cancel out, the first row that has one stands in; rows that
/// are all zero have no direction, and that is an error.
fn direction_of(factors: &[f32], dim: usize, rows: &[u32]) -> Result<Vec<i8>, Error> {
    let unit = |row: u32| -> Option<Vec<f64>> {
        let y = factors.get(row as usize * dim..(row as usize + 1) * dim)?;
        let norm = y.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt();
        (norm > 1e-12).then(|| y.iter().map(|v| f64::from(*v) / norm).collect())
    };
    let mut sum = vec![0.0f64; dim];
    for row in rows.iter().filter_map(|&row| unit(row)) {
        sum.iter_mut().zip(&row).for_each(|(s, v)| *s += v);
    }
    let largest = |v: &[f64]| v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if largest(&sum) < 1e-9 * rows.len().max(1) as f64 {
        sum = rows
            .iter()
            .find_map(|&row| unit(row))
            .ok_or(Error::InvalidParameter {
                name: "shards",
                reason: "a shard's items have no factors (all zero)",
            })?;
    }
    let scale = 127.0 / largest(&sum);
    Ok(sum.iter().map(|v| (v * scale).round() as i8).collect())
}

/// A loaded shard, as the model keeps it to re-map neighbour lists.
#[derive(Debug, Clone)]
pub(crate) struct LoadedShard {
    index: usize,
    /// Its first catalogue position and item count.
    first_item: u64,
    n_items: usize,
    /// The model row of its first item.
    first_row: u32,
    /// Its items' lists by catalogue position (s × m).
    neighbors_idx: Vec<u32>,
    neighbors_score: Vec<f32>,
    /// (head row, catalogue position, score) links into it.
    links: Vec<(u32, u32, f32)>,
}

/// A checked shard file, before it joins the model.
struct ReadShard {
    items: Vec<ItemMeta>,
    quantised: Vec<i8>,
    scales: Vec<f32>,
    loaded: LoadedShard,
}

/// A head's shard state: the head's own neighbour lists and what is loaded.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShardState {
    /// The number of head items (the head's rows).
    head_items: usize,
    /// The head's own distinct category names, sorted: what a head's
    /// privacy reports name categories by, whatever shards are loaded
    /// ([`Model::reporting_categories`]).
    head_categories: Vec<String>,
    /// The head's own lists (h × m), as loaded.
    head_neighbors_idx: Vec<u32>,
    head_neighbors_score: Vec<f32>,
    loaded: Vec<LoadedShard>,
}

impl ShardState {
    /// The state of a freshly loaded bundle.
    pub(crate) fn new(
        head_items: usize,
        head_categories: &[String],
        idx: &[u32],
        score: &[f32],
    ) -> ShardState {
        ShardState {
            head_items,
            head_categories: head_categories.to_vec(),
            head_neighbors_idx: idx.to_vec(),
            head_neighbors_score: score.to_vec(),
            loaded: Vec::new(),
        }
    }

    /// The model row of a catalogue position, when its item is loaded.
    fn row_of(&self, position: u32) -> Option<u32> {
        if (position as usize) < self.head_items {
            return Some(position);
        }
        self.loaded.iter().find_map(|shard| {
            let offset = (position as u64).checked_sub(shard.first_item)?;
            (offset < shard.n_items as u64).then(|| shard.first_row + offset as u32)
        })
    }
}

impl Model {
    /// Whether this is a head bundle (its manifest has a shard table).
    pub fn is_head(&self) -> bool {
        self.manifest.shards.is_some()
    }

    /// The items a privacy report names by row: a head's own items (rows
    /// 0..h, the same on every device of the head whatever shards it has
    /// added), or the whole bundle's.
    pub fn reporting_items(&self) -> usize {
        if self.is_head() {
            self.shard_state.head_items
        } else {
            self.n_items()
        }
    }

    /// The category names a privacy report names by index: a head's own
    /// items' (sorted, as the head alone loads them), or the whole
    /// bundle's ([`Model::categories`]).
    pub fn reporting_categories(&self) -> &[String] {
        if self.is_head() {
            &self.shard_state.head_categories
        } else {
            &self.categories
        }
    }

    /// The index in [`Model::reporting_categories`] of the category of
    /// reporting row `row` (below [`Model::reporting_items`]).
    pub fn reporting_category(&self, row: u32) -> Option<u32> {
        if !self.is_head() {
            return self.item_category(row);
        }
        if row as usize >= self.shard_state.head_items {
            return None;
        }
        let name = self.items.get(row as usize)?.category.as_str();
        self.shard_state
            .head_categories
            .binary_search_by(|candidate| candidate.as_str().cmp(name))
            .ok()
            .map(|index| index as u32)
    }

    /// The head's shard table (empty for a bundle of the whole catalogue).
    pub fn shard_table(&self) -> &[ShardEntry] {
        self.manifest.shards.as_deref().unwrap_or(&[])
    }

    /// The file of shard `index` of the table, or [`Error::UnknownShard`].
    pub fn shard_file(&self, index: usize) -> Result<ShardFile, Error> {
        let table = self.shard_table();
        let entry = table.get(index).ok_or(Error::UnknownShard {
            index,
            count: table.len(),
        })?;
        Ok(ShardFile {
            index,
            file: shard_file_name(index),
            sha256: entry.file.sha256.clone(),
            byte_len: entry.file.byte_len,
        })
    }

    /// The item-index file that says which shard holds `item_id`, for an
    /// item this model does not hold (a product page of an item outside the
    /// head and the loaded shards): `items-<b>.json` beside the manifest.
    /// None when the model holds the item or the bundle has no index.
    pub fn item_index_file(&self, item_id: &str) -> Option<String> {
        let files = self.manifest.item_index_files?;
        if self.item_row(item_id).is_some() {
            return None;
        }
        Some(item_index_file_name(item_bucket(item_id, files)))
    }

    /// How many shards the head has and which are loaded.
    pub fn shard_status(&self) -> ShardStatus {
        ShardStatus {
            total: self.shard_table().len(),
            loaded: self.loaded_shards(),
        }
    }

    /// The indices of the shards added so far, in the order they were added.
    pub fn loaded_shards(&self) -> Vec<usize> {
        self.shard_state.loaded.iter().map(|s| s.index).collect()
    }

    /// The shards a device with shopper vector `user` fetches: the head's
    /// `shards_per_visit` whose centroids are nearest to it by cosine (ties
    /// keep the lower index), in table order. Empty for a whole bundle or a
    /// vector of zeros; a vector of the wrong length is an error.
    pub fn shards_for_vector(&self, user: &[f32]) -> Result<Vec<usize>, Error> {
        let dim = self.dim();
        if user.len() != dim {
            return Err(Error::DimensionMismatch {
                what: "shopper vector",
                expected: dim,
                found: user.len(),
            });
        }
        let table = self.shard_table();
        let centroids: Vec<Vec<f32>> = table
            .iter()
            .map(|entry| entry.centroid.iter().map(|c| f32::from(*c)).collect())
            .collect();
        let Some(cosines) =
            super::cosines(user, centroids.iter().map(Vec::as_slice)).filter(|_| !table.is_empty())
        else {
            return Ok(Vec::new());
        };
        let mut nearest: Vec<(usize, f32)> = cosines.into_iter().enumerate().collect();
        crate::order::sort_by(&mut nearest, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut wanted: Vec<usize> = nearest
            .into_iter()
            .take(self.shards_per_visit())
            .map(|(index, _)| index)
            .collect();
        wanted.sort_unstable();
        Ok(wanted)
    }

    /// How many shards a device of this head fetches at most (0 for a whole
    /// bundle; the loader requires it of every head).
    pub fn shards_per_visit(&self) -> usize {
        self.manifest.shards_per_visit.map_or(0, |n| n as usize)
    }

    /// Adds shard `index` of this head's table from its file's bytes. Checks
    /// run before anything changes, so on any error the model is as it was:
    /// the index is in the table, the length and then the sha256 are the
    /// table's (a truncated or altered file), the file names this head, and
    /// every tensor has the head's dimensions and valid values. Adding a
    /// shard that is already loaded changes nothing.
    pub fn add_shard(&mut self, index: usize, bytes: &[u8]) -> Result<(), Error> {
        self.add_shard_checked(index, bytes, TensorCheck::Hash)
    }

    /// [`Model::add_shard`], with the file's digest checked as `check` says
    /// (a browser hashes with Web Crypto).
    pub fn add_shard_checked(
        &mut self,
        index: usize,
        bytes: &[u8],
        check: TensorCheck<'_>,
    ) -> Result<(), Error> {
        let table = self.shard_table();
        let entry = table.get(index).cloned().ok_or(Error::UnknownShard {
            index,
            count: table.len(),
        })?;
        if self.shard_state.loaded.iter().any(|s| s.index == index) {
            return Ok(());
        }
        let parsed = TensorFile::parse(bytes);
        // A file of another head says so, whatever its hash.
        if let Ok(file) = &parsed {
            let tensors = Tensors { file };
            if let Ok(head) = tensors.u8_column("shard_head") {
                if head != self.manifest.tensors.sha256.as_bytes() {
                    return Err(Error::ShardOfOtherModel {
                        index,
                        expected: self.manifest.tensors.sha256.clone(),
                        found: String::from_utf8_lossy(head).into_owned(),
                    });
                }
            }
        }
        check_tensor_digest(&entry.file, bytes, check).map_err(|e| match e {
            Error::ChecksumMismatch {
                expected, found, ..
            } => Error::ChecksumMismatch {
                part: "shard",
                expected,
                found,
            },
            other => other,
        })?;
        let shard = self.read_shard(index, &entry, &parsed?)?;
        self.merge_shard(shard)
    }

    /// Reads and checks a shard file whose bytes are the table's.
    fn read_shard(
        &self,
        index: usize,
        entry: &ShardEntry,
        file: &TensorFile<'_>,
    ) -> Result<ReadShard, Error> {
        for name in file.names() {
            if !SHARD_TENSOR_NAMES.contains(&name) && !items::TENSOR_NAMES.contains(&name) {
                return Err(Error::manifest(
                    "shard",
                    format!(
                        "the shard file holds an unknown tensor {}",
                        crate::json::text_of(name)
                    ),
                ));
            }
        }
        let tensors = Tensors { file };
        let stated = tensors.u32("shard_index", &[1])?;
        if stated[0] as usize != index {
            return Err(Error::InvalidTensorValue {
                name: "shard_index".into(),
                index: 0,
                reason: "is not the index the shard was added as",
            });
        }
        let catalogue = read_items(&tensors)?;
        let s = catalogue.items.len();
        if s as u64 != entry.n_items {
            return Err(Error::DimensionMismatch {
                what: "shard items",
                expected: entry.n_items as usize,
                found: s,
            });
        }
        let (d, m) = (self.dim(), self.manifest.features.n_neighbors);
        let (q, scales) = read_factors(&tensors, s, d)?;
        let total = self.shard_state.head_items as u64
            + self.shard_table().iter().map(|e| e.n_items).sum::<u64>();
        let neighbors_idx = tensors.u32("neighbors_idx", &[s, m])?;
        check_positions("neighbors_idx", &neighbors_idx, total)?;
        let neighbors_score = tensors.f32("neighbors_score", &[s, m])?;
        let link_row = tensors.u32_column("link_row")?;
        let l = link_row.len();
        let link_item = tensors.u32("link_item", &[l])?;
        let link_score = tensors.f32("link_score", &[l])?;
        let head_items = self.shard_state.head_items;
        if let Some(position) = link_row.iter().position(|r| *r as usize >= head_items) {
            return Err(Error::InvalidReference {
                what: format!("link_row[{position}]"),
                index: link_row[position] as u64,
                limit: head_items as u64,
            });
        }
        let end = entry.first_item + entry.n_items;
        if let Some(position) = link_item
            .iter()
            .position(|i| !(entry.first_item..end).contains(&(*i as u64)))
        {
            return Err(Error::InvalidReference {
                what: format!("link_item[{position}]"),
                index: link_item[position] as u64,
                limit: end,
            });
        }
        let links = link_row
            .into_iter()
            .zip(link_item)
            .zip(link_score)
            .map(|((r, i), s)| (r, i, s))
            .collect();
        let loaded = LoadedShard {
            index,
            first_item: entry.first_item,
            n_items: s,
            first_row: self.n_items() as u32,
            neighbors_idx,
            neighbors_score,
            links,
        };
        Ok(ReadShard {
            items: catalogue.items,
            quantised: q,
            scales,
            loaded,
        })
    }

    /// Appends a checked shard's items and re-maps every neighbour list.
    /// Fails (leaving the model as it was) only when an item id repeats one
    /// already loaded.
    fn merge_shard(
        &mut self,
        ReadShard {
            items: new_items,
            quantised: q,
            scales,
            loaded,
        }: ReadShard,
    ) -> Result<(), Error> {
        let mut all_items = self.items.clone();
        all_items.extend(new_items);
        let catalogue = items::index_catalogue(all_items)?;
        let d = self.dim();
        let first = self.n_items();
        self.item_factors.extend(dequantise_rows(&q, &scales, d));
        self.item_factors_i8.extend(q);
        self.item_scales.extend(scales);
        for (offset, item) in catalogue.items[first..].iter().enumerate() {
            self.in_stock.push(item.in_stock);
            if let Some(countries) = &item.countries {
                self.country_limits
                    .push(((first + offset) as u32, countries.clone()));
            }
        }
        self.items = catalogue.items;
        self.rows_by_id = catalogue.rows_by_id;
        self.item_category = catalogue.item_category;
        self.categories = catalogue.categories;
        self.shard_state.loaded.push(loaded);
        self.remap_neighbors();
        Ok(())
    }

    /// Rebuilds the n × m neighbour lists from the head's lists and the
    /// loaded shards' lists and links, keeping the loaded items only.
    fn remap_neighbors(&mut self) {
        let m = self.manifest.features.n_neighbors;
        let n = self.n_items();
        let state = &self.shard_state;
        let mut idx = vec![PAD; n * m];
        let mut score = vec![0.0f32; n * m];
        // Head rows: their own entries, then the links, by score.
        let mut extra: Vec<Vec<(u32, f32)>> = vec![Vec::new(); state.head_items];
        for shard in &state.loaded {
            for (row, position, s) in &shard.links {
                if let Some(to) = state.row_of(*position) {
                    extra[*row as usize].push((to, *s));
                }
            }
        }
        for (row, links) in extra.into_iter().enumerate() {
            let own = (0..m)
                .map(|slot| {
                    (
                        state.head_neighbors_idx[row * m + slot],
                        state.head_neighbors_score[row * m + slot],
                    )
                })
                .filter(|(i, _)| *i != PAD);
            let mut list: Vec<(u32, f32)> = own.collect();
            if !links.is_empty() {
                list.extend(links);
                // Stable: equal scores keep the head's entries first.
                crate::order::sort_by(&mut list, |a, b| b.1.total_cmp(&a.1));
            }
            for (slot, (i, s)) in list.into_iter().take(m).enumerate() {
                idx[row * m + slot] = i;
                score[row * m + slot] = s;
            }
        }
        for shard in &state.loaded {
            for item in 0..shard.n_items {
                let row = shard.first_row as usize + item;
                let mut slot = 0;
                for k in 0..m {
                    let position = shard.neighbors_idx[item * m + k];
                    if position == PAD {
                        continue;
                    }
                    if let Some(to) = state.row_of(position) {
                        idx[row * m + slot] = to;
                        score[row * m + slot] = shard.neighbors_score[item * m + k];
                        slot += 1;
                    }
                }
            }
        }
        self.neighbors_idx = idx;
        self.neighbors_score = score;
    }
}

/// Checks that catalogue positions are below `limit` (or [`PAD`]).
fn check_positions(name: &str, values: &[u32], limit: u64) -> Result<(), Error> {
    match values.iter().position(|v| *v != PAD && *v as u64 >= limit) {
        Some(index) => Err(Error::InvalidReference {
            what: format!("{name}[{index}]"),
            index: values[index] as u64,
            limit,
        }),
        None => Ok(()),
    }
}
