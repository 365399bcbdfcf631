//! `cove-train import`: item factors fit elsewhere, in place of Cove's ALS.
//!
//! A shop that already trains matrix factorisation in a distributed engine
//! (Spark MLlib's `ALS`) brings its item factors as Parquet, the way
//! `model.itemFactors.write.parquet(PATH)` writes them: one file, or a
//! directory of `part-*.parquet` files (Spark's `_SUCCESS` and `.crc` files
//! are skipped), with an id column (`INT32`/`INT64`, or a string: the shop's
//! item code) and a vector column (a `LIST` of `FLOAT` or `DOUBLE`).
//!
//! - [`read_factors`] checks every row once, up front: one dimension for
//!   all ([`FactorsError::DimensionMismatch`] names the row and both
//!   dimensions), finite values, no id twice, the columns present and of a
//!   type it reads; each fault is a [`FactorsError`] carrying the offending
//!   file, row and value.
//! - [`match_orders`] lines the factors up with the cleaned orders (read by
//!   `data` exactly as `train` reads them): an ordered item without factors
//!   is left out of the bundle with its rows (counted in the cleaning report
//!   under `DropRule::NoImportedFactors`), factors of items never ordered are
//!   ignored and counted, and when fewer than half of the ordered items have
//!   factors the ids do not match ([`FactorsError::IdsDoNotMatch`], three
//!   examples of each side).
//! - [`FoldIn::spark`] maps Spark's `regParam` and `alpha` onto the bundle's
//!   λ and α, so the device folds a shopper in as Spark's implicit ALS solves
//!   for a user; what this approximates is in its notes and models/README.md.
//!
//! `pipeline::train_with_factors` then computes everything else (neighbour
//! lists, trending, taste clusters and segments, the Gram matrix) exactly as
//! after Cove's own ALS. Nothing is evaluated: the factors were fit on all
//! the data, so no held-out period is left to score them on, and the report
//! and model card say so instead of showing figures.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{ConvertedType, LogicalType, Repetition, Type as PhysicalType};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::Field;
use parquet::schema::types::Type;
use serde::Serialize;

use crate::data::{DropRule, Purchase, Transactions};

/// The columns of a factors file; Spark's names by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorColumns {
    /// The item id: an integer or a string (matched ignoring ASCII case).
    pub id: String,
    /// The factor vector: a `LIST` of `FLOAT` or `DOUBLE`.
    pub features: String,
}

impl Default for FactorColumns {
    fn default() -> Self {
        FactorColumns {
            id: "id".into(),
            features: "features".into(),
        }
    }
}

/// Item factors read from Parquet and checked by [`read_factors`].
#[derive(Debug, Clone)]
pub struct GivenFactors {
    /// The dimension every row has (> 0).
    pub dim: usize,
    /// The ids, in file order; no id twice.
    pub ids: Vec<String>,
    /// Row-major `ids.len() × dim`, every value finite.
    pub values: Vec<f32>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    /// The id column's type, as the first file declares it.
    pub id_type: String,
    /// The vector elements' type, as the first file declares it.
    pub value_type: String,
}

/// Why factors could not be imported. Every variant carries the offending
/// file, row, column or value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FactorsError {
    /// The path could not be read.
    Unreadable {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A directory without Parquet files.
    NoParquetFiles {
        /// The directory.
        dir: PathBuf,
    },
    /// The files hold no rows.
    NoRows {
        /// The file or directory given.
        path: PathBuf,
    },
    /// A column is not in a file's schema.
    MissingColumn {
        /// The file.
        file: PathBuf,
        /// The column looked for.
        column: String,
        /// The file's top-level columns.
        columns: Vec<String>,
    },
    /// A column's type is not one the import reads.
    ColumnType {
        /// The file.
        file: PathBuf,
        /// The column.
        column: String,
        /// Its type in the file.
        found: String,
        /// What it should be.
        expected: &'static str,
    },
    /// A null id, vector or vector element.
    Null {
        /// The file.
        file: PathBuf,
        /// 1-based row in the file.
        row: u64,
        /// The column.
        column: String,
    },
    /// A vector whose length differs from the first row's.
    DimensionMismatch {
        /// The file.
        file: PathBuf,
        /// 1-based row in the file.
        row: u64,
        /// The row's id.
        id: String,
        /// The row's dimension.
        dim: usize,
        /// The first row's dimension.
        expected: usize,
        /// The first row's id.
        first_id: String,
    },
    /// A NaN or infinite value (or a double beyond `f32`).
    NotFinite {
        /// The file.
        file: PathBuf,
        /// 1-based row in the file.
        row: u64,
        /// The row's id.
        id: String,
        /// 0-based position in the vector.
        position: usize,
        /// The value.
        value: f64,
    },
    /// An id on two rows.
    DuplicateId {
        /// The id.
        id: String,
        /// The first row: file and 1-based row.
        first: (PathBuf, u64),
        /// The repeated row.
        second: (PathBuf, u64),
    },
    /// Fewer than half of the ordered items have factors.
    IdsDoNotMatch {
        /// Distinct items in the cleaned orders.
        n_ordered: usize,
        /// Of those, items with factors.
        n_matched: usize,
        /// Up to three ordered items without factors.
        ordered_examples: Vec<String>,
        /// Up to three factor ids of no ordered item.
        factor_examples: Vec<String>,
    },
}

impl fmt::Display for FactorsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FactorsError::Unreadable { path, message } => {
                write!(f, "{}: cannot read the factors: {message}", path.display())
            }
            FactorsError::NoParquetFiles { dir } => write!(
                f,
                "{}: no Parquet files in the directory (Spark writes part-*.parquet)",
                dir.display()
            ),
            FactorsError::NoRows { path } => {
                write!(f, "{}: the factors hold no rows", path.display())
            }
            FactorsError::MissingColumn {
                file,
                column,
                columns,
            } => write!(
                f,
                "{}: no column '{column}' (the file has {}); name the columns with \
                 --factors-id-column and --factors-column",
                file.display(),
                columns
                    .iter()
                    .map(|c| format!("'{c}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            FactorsError::ColumnType {
                file,
                column,
                found,
                expected,
            } => write!(
                f,
                "{}: column '{column}' is {found}: {expected}",
                file.display()
            ),
            FactorsError::Null { file, row, column } => write!(
                f,
                "{}, row {row}: column '{column}' is null",
                file.display()
            ),
            FactorsError::DimensionMismatch {
                file,
                row,
                id,
                dim,
                expected,
                first_id,
            } => write!(
                f,
                "{}, row {row} (id '{id}'): {dim} factor values, but the first row (id \
                 '{first_id}') has {expected}; every item needs the same dimension",
                file.display()
            ),
            FactorsError::NotFinite {
                file,
                row,
                id,
                position,
                value,
            } => write!(
                f,
                "{}, row {row} (id '{id}'): value {position} of the vector is {value}, not a \
                 finite 32-bit float",
                file.display()
            ),
            FactorsError::DuplicateId { id, first, second } => write!(
                f,
                "id '{id}' is on two rows: {}, row {} and {}, row {}",
                first.0.display(),
                first.1,
                second.0.display(),
                second.1
            ),
            FactorsError::IdsDoNotMatch {
                n_ordered,
                n_matched,
                ordered_examples,
                factor_examples,
            } => write!(
                f,
                "only {n_matched} of the {n_ordered} ordered items have factors (fewer than \
                 half): the factor ids probably are not the orders' item codes. Ordered items \
                 without factors: {}; factor ids of no ordered item: {}. Spark's ALS needs \
                 integer item ids: join a StringIndexer's labels back before writing the \
                 factors (models/README.md, \"Bring your own factors\"), or use integer ids \
                 equal to numeric item codes",
                quoted(ordered_examples),
                quoted(factor_examples)
            ),
        }
    }
}

impl std::error::Error for FactorsError {}

fn quoted(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Parquet files of `path`: the file itself, or a directory's `.parquet`
/// files other than hidden ones (`.part-….crc`) and `_`-prefixed ones
/// (`_SUCCESS`, `_metadata`), by name.
fn parquet_files(path: &Path) -> Result<Vec<PathBuf>, FactorsError> {
    let unreadable = |err: std::io::Error| FactorsError::Unreadable {
        path: path.to_owned(),
        message: err.to_string(),
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".parquet") && !name.starts_with(['.', '_']) {
            files.push(entry.path());
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(FactorsError::NoParquetFiles {
            dir: path.to_owned(),
        });
    }
    Ok(files)
}

/// A column's type in words: physical, then logical or converted.
fn type_words(field: &Type) -> String {
    let info = field.get_basic_info();
    let logical = info
        .logical_type_ref()
        .map(crate::data::logical_name)
        .or_else(|| {
            (info.converted_type() != ConvertedType::NONE)
                .then(|| format!("{}", info.converted_type()))
        });
    let physical = if field.is_primitive() {
        format!("{}", field.get_physical_type())
    } else {
        "a group".to_string()
    };
    match logical {
        Some(logical) => format!("{physical} ({logical})"),
        None => physical,
    }
}

const ID_EXPECTED: &str = "an item id must be an integer (INT32, INT64) or string column";
const FEATURES_EXPECTED: &str =
    "the factors must be a LIST of FLOAT or DOUBLE (Spark's array<float>)";

/// Whether the id column is one the import reads: a plain integer or text.
fn id_type_ok(field: &Type) -> bool {
    if !field.is_primitive() {
        return false;
    }
    let info = field.get_basic_info();
    if info.has_repetition() && info.repetition() == Repetition::REPEATED {
        return false;
    }
    match (field.get_physical_type(), info.logical_type_ref()) {
        (PhysicalType::INT32 | PhysicalType::INT64, None | Some(LogicalType::Integer(_))) => {
            crate::data::is_integer_annotation(info.converted_type())
        }
        (PhysicalType::BYTE_ARRAY, None | Some(LogicalType::String | LogicalType::Enum)) => true,
        _ => false,
    }
}

/// The element type of a vector column (`FLOAT` or `DOUBLE`), if it is a
/// list of them: the standard three-level `LIST`, its two-level legacy form,
/// or a bare repeated column.
fn features_element(field: &Type) -> Option<PhysicalType> {
    let leaf = if field.is_primitive() {
        let info = field.get_basic_info();
        (info.has_repetition() && info.repetition() == Repetition::REPEATED).then_some(field)?
    } else {
        let info = field.get_basic_info();
        let is_list = info.converted_type() == ConvertedType::LIST
            || matches!(info.logical_type_ref(), Some(LogicalType::List));
        let [repeated] = field.get_fields() else {
            return None;
        };
        if !is_list {
            return None;
        }
        if repeated.is_primitive() {
            repeated.as_ref()
        } else {
            match repeated.get_fields() {
                [element] if element.is_primitive() => element.as_ref(),
                _ => return None,
            }
        }
    };
    match leaf.get_physical_type() {
        physical @ (PhysicalType::FLOAT | PhysicalType::DOUBLE) => Some(physical),
        _ => None,
    }
}

/// Finds a top-level column by name: exactly, else ignoring ASCII case.
fn find_column<'a>(fields: &'a [Arc<Type>], name: &str) -> Option<(usize, &'a Arc<Type>)> {
    fields
        .iter()
        .enumerate()
        .find(|(_, f)| f.name() == name)
        .or_else(|| {
            fields
                .iter()
                .enumerate()
                .find(|(_, f)| f.name().eq_ignore_ascii_case(name))
        })
}

/// An id field as text; `None` for a null or a type the schema check let
/// through by mistake.
fn id_text(field: &Field) -> Option<String> {
    Some(match field {
        Field::Str(text) => text.clone(),
        Field::Bytes(bytes) => String::from_utf8_lossy(bytes.data()).into_owned(),
        Field::Byte(v) => v.to_string(),
        Field::Short(v) => v.to_string(),
        Field::Int(v) => v.to_string(),
        Field::Long(v) => v.to_string(),
        Field::UByte(v) => v.to_string(),
        Field::UShort(v) => v.to_string(),
        Field::UInt(v) => v.to_string(),
        Field::ULong(v) => v.to_string(),
        _ => return None,
    })
}

/// Where one row is, for errors.
struct RowAt<'a> {
    file: &'a Path,
    row: u64,
}

impl RowAt<'_> {
    fn null(&self, column: &str) -> FactorsError {
        FactorsError::Null {
            file: self.file.to_owned(),
            row: self.row,
            column: column.to_owned(),
        }
    }
}

/// Reads and checks item factors from a Parquet file or a directory of them
/// (see the module's documentation).
pub fn read_factors(path: &Path, columns: &FactorColumns) -> Result<GivenFactors, FactorsError> {
    let files = parquet_files(path)?;
    let mut factors = GivenFactors {
        dim: 0,
        ids: Vec::new(),
        values: Vec::new(),
        files: files.clone(),
        id_type: String::new(),
        value_type: String::new(),
    };
    let mut seen: HashMap<String, (usize, u64)> = HashMap::new();
    for (file_idx, file_path) in files.iter().enumerate() {
        let unreadable = |err: &dyn fmt::Display| FactorsError::Unreadable {
            path: file_path.clone(),
            message: err.to_string(),
        };
        let file = File::open(file_path).map_err(|e| unreadable(&e))?;
        let reader = SerializedFileReader::new(file).map_err(|e| unreadable(&e))?;
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let top = schema.root_schema().get_fields();
        let locate = |name: &str| {
            find_column(top, name).ok_or_else(|| FactorsError::MissingColumn {
                file: file_path.clone(),
                column: name.to_owned(),
                columns: top.iter().map(|f| f.name().to_owned()).collect(),
            })
        };
        let (id_idx, id_field) = locate(&columns.id)?;
        let (features_idx, features_field) = locate(&columns.features)?;
        if !id_type_ok(id_field) {
            return Err(FactorsError::ColumnType {
                file: file_path.clone(),
                column: id_field.name().to_owned(),
                found: type_words(id_field),
                expected: ID_EXPECTED,
            });
        }
        let Some(element) = features_element(features_field) else {
            return Err(FactorsError::ColumnType {
                file: file_path.clone(),
                column: features_field.name().to_owned(),
                found: type_words(features_field),
                expected: FEATURES_EXPECTED,
            });
        };
        if file_idx == 0 {
            factors.id_type = type_words(id_field);
            factors.value_type = format!("{element}");
        }
        let id_name = id_field.name().to_owned();
        let features_name = features_field.name().to_owned();
        // The projection keeps the file's column order.
        let mut projected = [(id_idx, id_field), (features_idx, features_field)];
        projected.sort_by_key(|(idx, _)| *idx);
        let id_first = projected[0].0 == id_idx;
        let projection = Type::group_type_builder(schema.root_schema().name())
            .with_fields(projected.iter().map(|(_, f)| Arc::clone(f)).collect())
            .build()
            .map_err(|e| unreadable(&e))?;
        let mut row_number = 0u64;
        for group in 0..reader.num_row_groups() {
            let row_group = reader.get_row_group(group).map_err(|e| unreadable(&e))?;
            let rows = RowIter::from_row_group(Some(projection.clone()), row_group.as_ref())
                .map_err(|e| unreadable(&e))?;
            for row in rows {
                let row = row.map_err(|e| unreadable(&e))?;
                row_number += 1;
                let at = RowAt {
                    file: file_path,
                    row: row_number,
                };
                let mut fields = row.get_column_iter().map(|(_, field)| field);
                let (first, second) = (fields.next(), fields.next());
                let (id_field, vector_field) = if id_first {
                    (first, second)
                } else {
                    (second, first)
                };
                let id = id_field
                    .and_then(id_text)
                    .ok_or_else(|| at.null(&id_name))?;
                let elements = match vector_field {
                    Some(Field::ListInternal(list)) => list.elements(),
                    _ => return Err(at.null(&features_name)),
                };
                if factors.ids.is_empty() {
                    factors.dim = elements.len();
                }
                if elements.len() != factors.dim || elements.is_empty() {
                    return Err(FactorsError::DimensionMismatch {
                        file: file_path.clone(),
                        row: row_number,
                        id,
                        dim: elements.len(),
                        expected: factors.dim,
                        first_id: factors.ids.first().cloned().unwrap_or_default(),
                    });
                }
                for (position, element) in elements.iter().enumerate() {
                    let value = match element {
                        Field::Float(v) => f64::from(*v),
                        Field::Double(v) => *v,
                        _ => return Err(at.null(&features_name)),
                    };
                    let single = value as f32;
                    if !single.is_finite() {
                        return Err(FactorsError::NotFinite {
                            file: file_path.clone(),
                            row: row_number,
                            id,
                            position,
                            value,
                        });
                    }
                    factors.values.push(single);
                }
                if let Some((first_file, first_row)) = seen.get(&id) {
                    return Err(FactorsError::DuplicateId {
                        id,
                        first: (files[*first_file].clone(), *first_row),
                        second: (file_path.clone(), row_number),
                    });
                }
                seen.insert(id.clone(), (file_idx, row_number));
                factors.ids.push(id);
            }
        }
    }
    if factors.ids.is_empty() {
        return Err(FactorsError::NoRows {
            path: path.to_owned(),
        });
    }
    Ok(factors)
}

/// How the factors met the orders.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchCounts {
    /// Distinct items in the cleaned orders.
    pub n_ordered_items: usize,
    /// Ordered items without factors, left out of the bundle.
    pub n_items_without_factors: usize,
    /// The first few of them, in the orders' order.
    pub items_without_factors_examples: Vec<String>,
    /// Their purchase lines, dropped before anything else is computed.
    pub rows_dropped: u64,
    /// Factor rows whose id is no ordered item, ignored.
    pub n_factors_not_ordered: usize,
    /// The first few of them, in the files' order.
    pub factors_not_ordered_examples: Vec<String>,
}

/// The orders restricted to items with factors, and those factors.
#[derive(Debug)]
pub struct Matched {
    /// The orders without the items that have no factors; the cleaning
    /// report counts their rows under `DropRule::NoImportedFactors`.
    pub data: Transactions,
    /// Row-major `data.items.len() × dim`, in `data.items` order.
    pub values: Vec<f32>,
    /// What was matched, dropped and ignored.
    pub counts: MatchCounts,
}

/// Examples shown of each side of a mismatch.
const N_EXAMPLES: usize = 3;

/// Lines `factors` up with the cleaned orders `data` (see the module's
/// documentation).
pub fn match_orders(data: &Transactions, factors: &GivenFactors) -> Result<Matched, FactorsError> {
    let row_of: HashMap<&str, usize> = factors
        .ids
        .iter()
        .enumerate()
        .map(|(row, id)| (id.as_str(), row))
        .collect();
    let factor_row: Vec<Option<usize>> = data
        .items
        .iter()
        .map(|item| row_of.get(item.code.as_str()).copied())
        .collect();
    let without: Vec<&str> = data
        .items
        .iter()
        .zip(&factor_row)
        .filter(|(_, row)| row.is_none())
        .map(|(item, _)| item.code.as_str())
        .collect();
    let ordered: std::collections::HashSet<&str> =
        data.items.iter().map(|item| item.code.as_str()).collect();
    let not_ordered: Vec<&String> = factors
        .ids
        .iter()
        .filter(|id| !ordered.contains(id.as_str()))
        .collect();
    let n_ordered = data.items.len();
    let n_matched = n_ordered - without.len();
    let examples = |list: &mut dyn Iterator<Item = &str>| -> Vec<String> {
        list.take(N_EXAMPLES).map(str::to_owned).collect()
    };
    if 2 * n_matched < n_ordered || n_matched == 0 {
        return Err(FactorsError::IdsDoNotMatch {
            n_ordered,
            n_matched,
            ordered_examples: examples(&mut without.iter().copied()),
            factor_examples: examples(&mut not_ordered.iter().map(|s| s.as_str())),
        });
    }
    let keep: Vec<bool> = factor_row.iter().map(Option::is_some).collect();
    let restricted = keep_items(data, &keep);
    let dim = factors.dim;
    let mut values = Vec::with_capacity(n_matched * dim);
    for row in factor_row.iter().flatten() {
        values.extend_from_slice(&factors.values[row * dim..(row + 1) * dim]);
    }
    let rows_dropped = data.purchases.len() as u64 - restricted.purchases.len() as u64;
    Ok(Matched {
        data: restricted,
        values,
        counts: MatchCounts {
            n_ordered_items: n_ordered,
            n_items_without_factors: without.len(),
            items_without_factors_examples: examples(&mut without.iter().copied()),
            rows_dropped,
            n_factors_not_ordered: not_ordered.len(),
            factors_not_ordered_examples: examples(&mut not_ordered.iter().map(|s| s.as_str())),
        },
    })
}

/// Dense indices over the kept values of one id space: old index → new.
struct Reindex {
    new_of_old: Vec<Option<u32>>,
    n: u32,
}

impl Reindex {
    fn new(len: usize) -> Self {
        Reindex {
            new_of_old: vec![None; len],
            n: 0,
        }
    }

    fn mark(&mut self, old: u32) {
        self.new_of_old[old as usize].get_or_insert(0);
    }

    /// Numbers the marked indices in their old order, and returns the kept
    /// names.
    fn number<T: Clone>(&mut self, names: &[T]) -> Vec<T> {
        let mut kept = Vec::new();
        for (old, slot) in self.new_of_old.iter_mut().enumerate() {
            if slot.is_some() {
                *slot = Some(self.n);
                self.n += 1;
                kept.push(names[old].clone());
            }
        }
        kept
    }

    fn of(&self, old: u32) -> u32 {
        self.new_of_old[old as usize].expect("a kept row's index is marked")
    }
}

/// `data` with only the purchase lines of items whose `keep` is true, every
/// index renumbered densely (items, customers, invoices and countries with
/// no line left go), old order kept; the cleaning report counts the rows
/// dropped.
fn keep_items(data: &Transactions, keep: &[bool]) -> Transactions {
    let kept_lines: Vec<&Purchase> = data
        .purchases
        .iter()
        .filter(|p| keep[p.item_idx as usize])
        .collect();
    let mut items = Reindex::new(data.items.len());
    let mut customers = Reindex::new(data.customers.len());
    let mut invoices = Reindex::new(data.invoices.len());
    let mut countries = Reindex::new(data.countries.len());
    for p in &kept_lines {
        items.mark(p.item_idx);
        customers.mark(p.customer_idx);
        invoices.mark(p.invoice_idx);
        countries.mark(p.country_idx);
    }
    let item_infos = items.number(&data.items);
    let customer_names = customers.number(&data.customers);
    let invoice_names = invoices.number(&data.invoices);
    let country_names = countries.number(&data.countries);
    let purchases: Vec<Purchase> = kept_lines
        .iter()
        .map(|p| Purchase {
            invoice_idx: invoices.of(p.invoice_idx),
            customer_idx: customers.of(p.customer_idx),
            item_idx: items.of(p.item_idx),
            country_idx: countries.of(p.country_idx),
            ..**p
        })
        .collect();
    let mut report = data.report.clone();
    let dropped = data.purchases.len() as u64 - purchases.len() as u64;
    report.dropped.push((DropRule::NoImportedFactors, dropped));
    report.rows_kept = purchases.len() as u64;
    report.revenue_kept = purchases
        .iter()
        .map(|p| f64::from(p.quantity) * f64::from(p.unit_price))
        .sum();
    Transactions {
        purchases,
        items: item_infos,
        customers: customer_names,
        countries: country_names,
        invoices: invoice_names,
        report,
    }
}

/// Spark ML's defaults (`pyspark.ml.recommendation.ALS`): `regParam` and
/// `alpha`.
pub const SPARK_DEFAULT_REG_PARAM: f64 = 0.1;
/// Spark ML's default `alpha`.
pub const SPARK_DEFAULT_ALPHA: f64 = 1.0;

/// The bundle's fold-in parameters for factors fit by Spark's implicit ALS.
///
/// Spark solves for a user u with positive ratings r_ui on n_u items
/// `(YᵀY + Σ α·r_ui·y_i·y_iᵀ + regParam·n_u·I) x_u = Σ (1 + α·r_ui)·y_i`
/// (confidence 1 + α·r, preference 1; λ scaled by n_u, "ALS-WR"). The
/// engine folds a shopper in with `(YᵀY + Σ α_e·w_i·y_i·y_iᵀ + λ·I) u =
/// Σ (1 + α_e·w_i)·y_i`, w_i the profile's decayed weight of item i (a
/// purchase line adds `weight_purchase`). So α_e = α / `weight_purchase`
/// when the shop's rating is its count of purchase lines, and λ =
/// regParam × the median number of distinct items a customer bought.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoldIn {
    /// Spark's `regParam` (`--regularization`).
    pub reg_param: f64,
    /// Whether `reg_param` was given (else Spark's default).
    pub reg_param_given: bool,
    /// Spark's `alpha` (`--alpha`).
    pub spark_alpha: f64,
    /// Whether `spark_alpha` was given (else Spark's default).
    pub alpha_given: bool,
    /// The median number of distinct items per customer in the orders.
    pub median_items: usize,
    /// The bundle's λ (> 0).
    pub lambda: f64,
    /// The bundle's α (≥ 0).
    pub alpha: f64,
    /// The mapping and what it approximates, one sentence each.
    pub notes: Vec<String>,
}

impl FoldIn {
    /// The mapping for Spark's `regParam` and `alpha` (Spark's defaults when
    /// not given) over the orders `data`.
    pub fn spark(
        reg_param: Option<f64>,
        spark_alpha: Option<f64>,
        data: &Transactions,
    ) -> anyhow::Result<FoldIn> {
        let reg = reg_param.unwrap_or(SPARK_DEFAULT_REG_PARAM);
        let spark_alpha_value = spark_alpha.unwrap_or(SPARK_DEFAULT_ALPHA);
        anyhow::ensure!(
            reg > 0.0 && reg.is_finite(),
            "--regularization {reg}: the device's fold-in needs a positive, finite λ"
        );
        anyhow::ensure!(
            spark_alpha_value >= 0.0 && spark_alpha_value.is_finite(),
            "--alpha {spark_alpha_value}: Spark's alpha is ≥ 0 and finite"
        );
        let mut pairs: Vec<(u32, u32)> = data
            .purchases
            .iter()
            .map(|p| (p.customer_idx, p.item_idx))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        let mut per_customer = vec![0usize; data.customers.len()];
        for (customer, _) in &pairs {
            per_customer[*customer as usize] += 1;
        }
        per_customer.retain(|n| *n > 0);
        per_customer.sort_unstable();
        let median_items = per_customer
            .get(per_customer.len() / 2)
            .copied()
            .unwrap_or(1);
        let weight_purchase =
            f64::from(cove_engine::profile::ProfileParams::default().weight_purchase);
        let lambda = reg * median_items as f64;
        let alpha = spark_alpha_value / weight_purchase;
        let given = |yes: bool| if yes { "given" } else { "Spark's default" };
        let notes = vec![
            format!(
                "fold-in λ: Spark's implicit ALS regularises a user with n rated items by \
                 regParam × n (ALS-WR); the device has one λ = regParam {reg} ({}) × \
                 {median_items} (the median number of distinct items a customer bought here) = \
                 {lambda}: a shopper with more or fewer items is regularised a little less or more than \
                 Spark would (approximated)",
                given(reg_param.is_some())
            ),
            format!(
                "confidence: Spark c = 1 + alpha·r with alpha {spark_alpha_value} ({}) and r the \
                 shop's rating, taken to be the count of purchase lines; the engine's c = 1 + α·w \
                 on the profile's decayed weight w, a purchase line adding {weight_purchase}, so \
                 α = alpha / {weight_purchase} = {alpha}, and one fresh purchase line has Spark's \
                 confidence. The profile's decay (and views and carts, which Spark did not see) \
                 are the engine's: approximated",
                given(spark_alpha.is_some())
            ),
        ];
        Ok(FoldIn {
            reg_param: reg,
            reg_param_given: reg_param.is_some(),
            spark_alpha: spark_alpha_value,
            alpha_given: spark_alpha.is_some(),
            median_items,
            lambda,
            alpha,
            notes,
        })
    }
}

/// What was imported, for the report, the model card and the bundle's notes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportSummary {
    /// The factors' path as given.
    pub factors: String,
    /// The Parquet files read.
    pub files: Vec<String>,
    /// Factor rows read.
    pub rows: usize,
    /// Their dimension.
    pub dim: usize,
    /// The id column's type.
    pub id_type: String,
    /// The vector elements' type.
    pub value_type: String,
    /// How they met the orders.
    pub matched: MatchCounts,
    /// The bundle's fold-in parameters.
    pub fold_in: FoldIn,
    /// Where the blend weights came from, in words.
    pub weights_from: String,
}

impl ImportSummary {
    /// The summary of `factors` read from `path` and matched as `matched`.
    pub fn new(
        path: &Path,
        factors: &GivenFactors,
        matched: &MatchCounts,
        fold_in: FoldIn,
        weights_from: String,
    ) -> ImportSummary {
        ImportSummary {
            factors: path.display().to_string(),
            files: factors
                .files
                .iter()
                .map(|f| {
                    f.file_name()
                        .map_or_else(|| f.display().to_string(), |n| n.to_string_lossy().into())
                })
                .collect(),
            rows: factors.ids.len(),
            dim: factors.dim,
            id_type: factors.id_type.clone(),
            value_type: factors.value_type.clone(),
            matched: matched.clone(),
            fold_in,
            weights_from,
        }
    }

    /// The import in one paragraph, for the report, the card and the log.
    pub fn paragraph(&self) -> String {
        let m = &self.matched;
        format!(
            "Item factors imported from `{}` ({} file{}, {} rows of dimension {}; id {}, values \
             {}). Of the {} items in the cleaned orders, {} had no factors and were left out \
             with their {} purchase lines{}; {} factor rows of items not in the orders were \
             ignored{}.",
            self.factors,
            self.files.len(),
            if self.files.len() == 1 { "" } else { "s" },
            self.rows,
            self.dim,
            self.id_type,
            self.value_type,
            m.n_ordered_items,
            m.n_items_without_factors,
            m.rows_dropped,
            examples_suffix(&m.items_without_factors_examples),
            m.n_factors_not_ordered,
            examples_suffix(&m.factors_not_ordered_examples),
        )
    }
}

fn examples_suffix(examples: &[String]) -> String {
    if examples.is_empty() {
        String::new()
    } else {
        format!(" (e.g. {})", quoted(examples))
    }
}

/// What the report and the model card say in place of figures.
pub const NOT_EVALUATED: &str = "imported factors: not evaluated by Cove";

#[cfg(test)]
mod tests {
    use super::*;

    fn orders() -> Transactions {
        crate::data::transactions_from_rows(
            "1,A,a,1,2011-01-01 10:00,1.0,c1,UK\n\
             1,B,b,1,2011-01-01 10:00,2.0,c1,UK\n\
             2,C,c,2,2011-01-02 10:00,3.0,c2,France\n\
             3,D,d,1,2011-01-03 10:00,4.0,c3,UK\n\
             3,A,a,1,2011-01-03 10:00,1.0,c3,UK\n",
        )
    }

    fn given(ids: &[&str]) -> GivenFactors {
        GivenFactors {
            dim: 2,
            ids: ids.iter().map(|s| s.to_string()).collect(),
            values: (0..ids.len() * 2).map(|v| v as f32).collect(),
            files: vec![PathBuf::from("f.parquet")],
            id_type: "BYTE_ARRAY (STRING)".into(),
            value_type: "FLOAT".into(),
        }
    }

    #[test]
    fn items_without_factors_are_dropped_with_their_rows_and_indices_renumbered() {
        let data = orders();
        // A, B and D have factors; C (customer c2, France) does not; Z is no item.
        let matched = match_orders(&data, &given(&["Z", "D", "A", "B"])).unwrap();
        let codes: Vec<&str> = matched.data.items.iter().map(|i| i.code.as_str()).collect();
        assert_eq!(codes, ["A", "B", "D"]);
        // Rows follow the items' new order: A is factor row 2, B 3, D 1.
        assert_eq!(matched.values, [4.0, 5.0, 6.0, 7.0, 2.0, 3.0]);
        assert_eq!(matched.data.customers, ["c1", "c3"]);
        assert_eq!(matched.data.countries, ["UK"]);
        assert_eq!(matched.data.invoices, ["1", "3"]);
        assert_eq!(matched.data.purchases.len(), 4);
        for p in &matched.data.purchases {
            assert!((p.customer_idx as usize) < 2 && (p.item_idx as usize) < 3);
        }
        assert_eq!(
            matched.counts,
            MatchCounts {
                n_ordered_items: 4,
                n_items_without_factors: 1,
                items_without_factors_examples: vec!["C".into()],
                rows_dropped: 1,
                n_factors_not_ordered: 1,
                factors_not_ordered_examples: vec!["Z".into()],
            }
        );
        let report = &matched.data.report;
        assert_eq!(report.rows_kept, 4);
        assert_eq!(report.dropped_by(DropRule::NoImportedFactors), 1);
        assert!((report.revenue_kept - 8.0).abs() < 1e-9);
    }

    #[test]
    fn fewer_than_half_matched_is_an_error_with_examples_of_both_sides() {
        let error = match_orders(&orders(), &given(&["A", "0", "1", "2", "3"])).unwrap_err();
        assert_eq!(
            error,
            FactorsError::IdsDoNotMatch {
                n_ordered: 4,
                n_matched: 1,
                ordered_examples: vec!["B".into(), "C".into(), "D".into()],
                factor_examples: vec!["0".into(), "1".into(), "2".into()],
            }
        );
        let text = error.to_string();
        assert!(
            text.contains("'B', 'C', 'D'") && text.contains("StringIndexer"),
            "{text}"
        );
        // Exactly half is enough.
        match_orders(&orders(), &given(&["A", "B"])).unwrap();
    }

    #[test]
    fn spark_regularisation_is_scaled_by_the_median_basket_of_distinct_items() {
        let data = orders();
        // Distinct items per customer: c1 2, c2 1, c3 2: the median is 2.
        let fold_in = FoldIn::spark(Some(0.5), Some(10.0), &data).unwrap();
        assert_eq!(fold_in.median_items, 2);
        assert_eq!(fold_in.lambda, 1.0);
        assert_eq!(fold_in.alpha, 2.0, "10 / a purchase line's weight of 5");
        let defaults = FoldIn::spark(None, None, &data).unwrap();
        assert_eq!(
            (defaults.reg_param, defaults.spark_alpha),
            (SPARK_DEFAULT_REG_PARAM, SPARK_DEFAULT_ALPHA)
        );
        assert!(!defaults.reg_param_given);
        assert!(FoldIn::spark(Some(0.0), None, &data).is_err());
        assert!(FoldIn::spark(None, Some(f64::NAN), &data).is_err());
    }
}
