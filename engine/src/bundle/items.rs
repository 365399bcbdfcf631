//! The catalogue in the tensor file: item metadata stored as columns.
//!
//! Until schema 2 the items were a JSON array in the manifest, and reading it
//! was most of a cold start's parse (3,660 items made 470 KB of JSON). Since
//! schema 3 they are columns of the tensor file, read with no parsing: a text
//! column is one U8 tensor of UTF-8 bytes and a U32 tensor of each value's end
//! offset. Writing and reading both live here, so the format has one
//! implementation.
//!
//! | name | dtype | shape | meaning |
//! | --- | --- | --- | --- |
//! | `item_id_text`, `item_id_ends` | U8, U32 | bytes, n | item ids: not empty, unique |
//! | `item_title_text`, `item_title_ends` | U8, U32 | bytes, n | display titles |
//! | `category_text`, `category_ends` | U8, U32 | bytes, c | distinct category names, strictly ascending |
//! | `item_category` | U32 | n | each item's category, an index below c |
//! | `item_price` | F64 | n | unit prices, finite and non-negative |
//! | `item_in_stock` | BOOL | n | whether the item can be sold now |
//! | `item_countries_text`, `item_countries_ends` | U8, U32 | bytes, n | comma-separated countries the item ships to; empty means everywhere |
//!
//! Texts are at most [`MAX_TEXT_LEN`] bytes.

use safetensors::Dtype;

use super::builder::{f64_tensor, u32_tensor, Tensor};
use super::load::Tensors;
use super::{ItemMeta, PAD};
use crate::Error;

/// The longest item id, title, category or label, in bytes.
pub(crate) const MAX_TEXT_LEN: usize = 1024;

/// The catalogue's tensors.
pub(crate) const TENSOR_NAMES: [&str; 11] = [
    "item_id_text",
    "item_id_ends",
    "item_title_text",
    "item_title_ends",
    "category_text",
    "category_ends",
    "item_category",
    "item_price",
    "item_in_stock",
    "item_countries_text",
    "item_countries_ends",
];

/// The catalogue as the loader returns it, with the indexes ranking uses.
pub(crate) struct Catalogue {
    /// One entry per item, in row order.
    pub(crate) items: Vec<ItemMeta>,
    /// The item rows ordered by id, for lookups by binary search.
    pub(crate) rows_by_id: Vec<u32>,
    /// Distinct category names, sorted.
    pub(crate) categories: Vec<String>,
    /// Per item, the index of its category in `categories`.
    pub(crate) item_category: Vec<u32>,
}

/// The catalogue's tensors for `items`, in row order.
pub(crate) fn item_tensors(items: &[ItemMeta]) -> Result<Vec<(String, Tensor)>, Error> {
    let mut categories: Vec<&str> = items.iter().map(|item| item.category.as_str()).collect();
    categories.sort_unstable();
    categories.dedup();
    let item_category: Vec<u32> = items
        .iter()
        .map(|item| {
            // Every category is in the list built from the same items.
            categories
                .binary_search(&item.category.as_str())
                .map(|index| index as u32)
                .unwrap_or(0)
        })
        .collect();
    let mut countries = Vec::with_capacity(items.len());
    for item in items {
        countries.push(match &item.countries {
            None => String::new(),
            Some(list) => {
                if list.is_empty() || list.iter().any(|c| c.is_empty() || c.contains(',')) {
                    return Err(Error::InvalidParameter {
                        name: "item countries",
                        reason: "list at least one country, each not empty and without a comma (or none for everywhere)",
                    });
                }
                list.join(",")
            }
        });
    }
    let n = items.len();
    let mut tensors = Vec::new();
    tensors.extend(text_column("item_id", items.iter().map(|i| i.id.as_str())));
    tensors.extend(text_column(
        "item_title",
        items.iter().map(|i| i.title.as_str()),
    ));
    tensors.extend(text_column("category", categories.iter().copied()));
    tensors.push(u32_tensor("item_category", &[n], &item_category));
    let prices: Vec<f64> = items.iter().map(|i| i.price).collect();
    tensors.push(f64_tensor("item_price", &[n], &prices));
    let in_stock = items.iter().map(|i| i.in_stock as u8).collect();
    tensors.push(byte_tensor("item_in_stock", Dtype::BOOL, in_stock));
    tensors.extend(text_column(
        "item_countries",
        countries.iter().map(String::as_str),
    ));
    Ok(tensors)
}

/// A one-dimensional tensor of one-byte values (U8 text, BOOL flags).
pub(crate) fn byte_tensor(name: &str, dtype: Dtype, data: Vec<u8>) -> (String, Tensor) {
    let tensor = Tensor {
        dtype,
        shape: vec![data.len()],
        data,
    };
    (name.to_string(), tensor)
}

/// `{prefix}_text` and `{prefix}_ends` for a sequence of texts.
fn text_column<'a>(prefix: &str, texts: impl Iterator<Item = &'a str>) -> [(String, Tensor); 2] {
    let mut bytes = Vec::new();
    let mut ends = Vec::new();
    for text in texts {
        bytes.extend_from_slice(text.as_bytes());
        ends.push(bytes.len() as u32);
    }
    [
        byte_tensor(&format!("{prefix}_text"), Dtype::U8, bytes),
        u32_tensor(&format!("{prefix}_ends"), &[ends.len()], &ends),
    ]
}

/// Reads and checks the catalogue. The number of items is the length of
/// `item_price`; every other per-item tensor must have it.
pub(crate) fn read_items(tensors: &Tensors<'_, '_>) -> Result<Catalogue, Error> {
    let prices = tensors.f64_column("item_price")?;
    let n = prices.len();
    if n == 0 || n >= PAD as usize {
        return Err(Error::manifest(
            "tensors",
            format!("{n} items; a bundle needs 1 to {} items", PAD - 1),
        ));
    }
    if let Some(index) = prices.iter().position(|p| !(*p >= 0.0 && p.is_finite())) {
        return Err(Error::InvalidTensorValue {
            name: "item_price".into(),
            index,
            reason: "is not a non-negative finite price",
        });
    }
    let ids = text_values(tensors, "item_id", Some(n), false)?;
    let titles = text_values(tensors, "item_title", Some(n), true)?;
    let categories = text_values(tensors, "category", None, true)?;
    if let Some(index) = categories.windows(2).position(|pair| pair[0] >= pair[1]) {
        return Err(Error::InvalidTensorValue {
            name: "category_text".into(),
            index: index + 1,
            reason: "is not after the category before it (they must be distinct and ascending)",
        });
    }
    let item_category = tensors.u32("item_category", &[n])?;
    if let Some(position) = item_category
        .iter()
        .position(|c| *c as usize >= categories.len())
    {
        return Err(Error::InvalidReference {
            what: format!("item_category[{position}]"),
            index: item_category[position] as u64,
            limit: categories.len() as u64,
        });
    }
    let in_stock = tensors.bool_column("item_in_stock", n)?;
    let countries = text_values(tensors, "item_countries", Some(n), true)?;

    let rows_by_id = order_by_id(&ids)?;

    let mut items = Vec::with_capacity(n);
    let columns = ids.into_iter().zip(titles).zip(countries);
    for (row, ((id, title), countries)) in columns.enumerate() {
        let countries = if countries.is_empty() {
            None
        } else {
            let list: Vec<String> = countries.split(',').map(String::from).collect();
            if list.iter().any(String::is_empty) {
                return Err(Error::InvalidTensorValue {
                    name: "item_countries_text".into(),
                    index: row,
                    reason: "names an empty country",
                });
            }
            Some(list)
        };
        items.push(ItemMeta {
            id,
            title,
            price: prices[row],
            category: categories[item_category[row] as usize].clone(),
            in_stock: in_stock[row],
            countries,
        });
    }
    Ok(Catalogue {
        items,
        rows_by_id,
        categories,
        item_category,
    })
}

/// The rows of `ids` ordered by id; a repeated id is an error naming the
/// earliest row that repeats one.
pub(crate) fn order_by_id<S: AsRef<str>>(ids: &[S]) -> Result<Vec<u32>, Error> {
    let n = ids.len();
    // Rows ordered by id (equal ids by row). A repeated id sits beside its
    // first use; the error names the earliest row that repeats one. The sort
    // compares each id's first eight bytes as one big-endian integer (zero
    // padded) and the whole ids only when those are equal, which is the ids'
    // byte order either way: most catalogue ids are short, so the sort rarely
    // compares strings (about a fifth of a cold start's `loadBundle` in wasm
    // went to them).
    let prefixes: Vec<u64> = ids.iter().map(|id| id_prefix(id.as_ref())).collect();
    let rows_by_id: Vec<u32> = crate::order::stable_order(n, &mut |a, b| {
        prefixes[a]
            .cmp(&prefixes[b])
            .then_with(|| ids[a].as_ref().cmp(ids[b].as_ref()))
    })
    .into_iter()
    .map(|row| row as u32)
    .collect();
    let repeat = rows_by_id
        .windows(2)
        .filter(|pair| ids[pair[0] as usize].as_ref() == ids[pair[1] as usize].as_ref())
        .map(|pair| pair[1] as usize)
        .min();
    if let Some(index) = repeat {
        return Err(Error::InvalidTensorValue {
            name: "item_id_text".into(),
            index,
            reason: "repeats the id of an earlier item",
        });
    }

    Ok(rows_by_id)
}

/// The catalogue of `items` (a head's and its loaded shards'): their rows by
/// id, and their categories, sorted, with each item's index among them. An
/// id that repeats an earlier item's is an error.
pub(crate) fn index_catalogue(items: Vec<ItemMeta>) -> Result<Catalogue, Error> {
    let rows_by_id = order_by_id(
        &items
            .iter()
            .map(|item| item.id.as_str())
            .collect::<Vec<_>>(),
    )?;
    let mut categories: Vec<String> = items.iter().map(|item| item.category.clone()).collect();
    categories.sort();
    categories.dedup();
    let item_category = items
        .iter()
        .map(|item| categories.binary_search(&item.category).unwrap_or(0) as u32)
        .collect();
    Ok(Catalogue {
        items,
        rows_by_id,
        categories,
        item_category,
    })
}

/// The texts of a column, `len` of them when given. A bad text is named by
/// its index in the column.
fn text_values(
    tensors: &Tensors<'_, '_>,
    prefix: &str,
    len: Option<usize>,
    may_be_empty: bool,
) -> Result<Vec<String>, Error> {
    let text_name = format!("{prefix}_text");
    let ends_name = format!("{prefix}_ends");
    let text = tensors.u8_column(&text_name)?;
    let ends = match len {
        Some(len) => tensors.u32(&ends_name, &[len])?,
        None => tensors.u32_column(&ends_name)?,
    };
    if ends.last().map_or(0, |end| *end as usize) != text.len() {
        return Err(Error::InvalidTensorValue {
            name: ends_name,
            index: ends.len().saturating_sub(1),
            reason: "does not end where the text does",
        });
    }
    let mut values = Vec::with_capacity(ends.len());
    let mut start = 0usize;
    for (index, end) in ends.iter().enumerate() {
        let end = *end as usize;
        let bad = |reason| Error::InvalidTensorValue {
            name: text_name.clone(),
            index,
            reason,
        };
        if end < start || end > text.len() {
            return Err(Error::InvalidTensorValue {
                name: ends_name,
                index,
                reason: "is not between the end before it and the end of the text",
            });
        }
        let bytes = &text[start..end];
        if bytes.is_empty() && !may_be_empty {
            return Err(bad("is empty"));
        }
        if bytes.len() > MAX_TEXT_LEN {
            return Err(bad("is longer than 1024 bytes"));
        }
        let value = std::str::from_utf8(bytes).map_err(|_| bad("is not UTF-8"))?;
        values.push(value.to_string());
        start = end;
    }
    Ok(values)
}

/// The first eight bytes of `id`, zero-padded, as a big-endian integer: two
/// ids whose prefixes differ are in the same order as their prefixes.
pub(crate) fn id_prefix(id: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let head = &id.as_bytes()[..id.len().min(8)];
    bytes[..head.len()].copy_from_slice(head);
    u64::from_be_bytes(bytes)
}
