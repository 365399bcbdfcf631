//! Reading a shop's transaction export and cleaning it by stated rules.
//!
//! The input is a CSV file (plain or gzip, detected from its first two bytes)
//! with a header row, or a Parquet file (detected from its first four bytes,
//! `PAR1`; read by the `parquet_input` module). [`ColumnMap`] names the
//! header of each column the trainer reads, the field delimiter (detected
//! when not given) and the date format; its defaults fit the UCI Online
//! Retail export. Header names are matched after trimming, ignoring case.
//!
//! Both readers turn a row into `Cell`s (text from a CSV; numbers, times or
//! text from Parquet) and hand it to one `Cleaner`, which parses the
//! values and applies the rules below, so the two cannot drift apart.
//!
//! Five columns are required: customer, item, quantity, date and unit price
//! (price feeds the price tiers and the revenue checks, quantity the
//! confidence of a purchase line). Three are optional, with stated defaults:
//! without an invoice column an order is one customer's lines at one time
//! (and no row is a cancellation); without a country column every row is
//! [`ColumnMap::default_country`] (`unknown` unless named); without a title
//! column an item's title is its code. An optional column the user named
//! explicitly ([`OptionalColumn::named`]) must be in the header, so a typo is
//! an error rather than a silently missing column.
//!
//! Two kinds of problem are kept apart, in the way ripgrep separates fatal
//! errors from messages:
//!
//! - A *malformed file* (no header, a required column missing, a row with the
//!   wrong number of fields, bytes that are not UTF-8) stops the run with an
//!   error naming the line and the column.
//! - A *bad row* (a value that does not parse, such as a quantity of `abc`) is
//!   skipped and counted, with the first few examples kept for the report. If
//!   more than [`MAX_BAD_ROW_FRACTION`] of the rows are bad, the column mapping is
//!   almost certainly wrong, and the run stops with the first bad row's line
//!   and column.
//!
//! Rows that parse are then checked against the cleaning rules in a fixed order;
//! a dropped row is counted under the first rule it breaks ([`DropRule`]).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use serde::Serialize;

use crate::dates::DateFormat;

mod parquet_input;
pub(crate) use parquet_input::{is_integer_annotation, logical_name};

/// Above this fraction of unparsable rows the file is treated as malformed.
pub const MAX_BAD_ROW_FRACTION: f64 = 0.05;

/// How many examples of bad rows the report keeps.
const MAX_BAD_ROW_EXAMPLES: usize = 10;

/// How to read a shop's export: the header names of the columns the trainer
/// reads, and the field delimiter. Columns not named here are ignored. A name
/// matches a header field after trimming both, ignoring ASCII case (an exact
/// match wins over a case-insensitive one).
#[derive(Debug, Clone, Serialize)]
pub struct ColumnMap {
    /// The order (invoice) id. A leading `C` marks a cancellation. Optional:
    /// without it, one customer's lines at one time are one order.
    pub invoice: OptionalColumn,
    /// The product code (SKU).
    pub item: String,
    /// The product title. May be empty. Optional: without it, the title is
    /// the product code.
    pub description: OptionalColumn,
    /// Units bought; non-positive values are returns or adjustments.
    pub quantity: String,
    /// The order time: `YYYY-MM-DD[ HH:MM[:SS]]` (or with `T`) or
    /// `M/D/YYYY[ H:MM]`, or in [`ColumnMap::date_format`]; a date alone is
    /// midnight.
    pub date: String,
    /// The price of one unit, in the shop's currency.
    pub unit_price: String,
    /// The customer id. Empty for guest orders. `17850.0` and `17850` are the same.
    pub customer: String,
    /// The shipping country. Optional: without it, every row is
    /// [`ColumnMap::default_country`].
    pub country: OptionalColumn,
    /// The country of every row of a file without a country column (`None`:
    /// [`UNKNOWN_COUNTRY`]). Naming one for a file that has the column is an
    /// error: the two would disagree.
    pub default_country: Option<String>,
    /// The field delimiter of a CSV (`None`: detected among `,`, `;`, tab
    /// and `|` from the header and the first rows; `,` when none fits).
    pub delimiter: Option<u8>,
    /// How the date column's text is read (a CSV's, or a Parquet string
    /// column's).
    #[serde(skip)]
    pub date_format: DateFormat,
}

impl ColumnMap {
    /// The header names of the eight columns, in [`FLAGS`] order.
    fn names(&self) -> [&str; 8] {
        [
            &self.invoice.name,
            &self.item,
            &self.description.name,
            &self.quantity,
            &self.date,
            &self.unit_price,
            &self.customer,
            &self.country.name,
        ]
    }
}

/// The country of every row when the file has no country column and none
/// was named.
pub const UNKNOWN_COUNTRY: &str = "unknown";

/// The header name of an optional column.
#[derive(Debug, Clone, Serialize)]
pub struct OptionalColumn {
    /// The header name to look for.
    pub name: String,
    /// The user named the column: then the header must have it. An unnamed
    /// (default) column the header lacks is simply absent.
    pub named: bool,
}

impl OptionalColumn {
    /// A default name, which the file may lack.
    pub fn default_name(name: &str) -> Self {
        OptionalColumn {
            name: name.to_owned(),
            named: false,
        }
    }

    /// A name the user gave, which the file must have.
    pub fn named(name: &str) -> Self {
        OptionalColumn {
            name: name.to_owned(),
            named: true,
        }
    }
}

impl Default for ColumnMap {
    fn default() -> Self {
        ColumnMap {
            invoice: OptionalColumn::default_name("InvoiceNo"),
            item: "StockCode".into(),
            description: OptionalColumn::default_name("Description"),
            quantity: "Quantity".into(),
            date: "InvoiceDate".into(),
            unit_price: "UnitPrice".into(),
            customer: "CustomerID".into(),
            country: OptionalColumn::default_name("Country"),
            default_country: None,
            delimiter: None,
            date_format: DateFormat::Automatic,
        }
    }
}

/// The cleaning rules, in the order they are checked. A row is counted under the
/// first rule it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum DropRule {
    /// The invoice id starts with `C` (a cancellation).
    Cancellation,
    /// The customer id is empty, so the row cannot be tied to a shopper.
    MissingCustomer,
    /// Quantity ≤ 0 (returns and stock adjustments that are not cancellations).
    NonPositiveQuantity,
    /// Unit price ≤ 0 (free samples, write-offs, data errors).
    NonPositivePrice,
    /// A code that is not a product: a gift voucher (`gift_…`), a code listed
    /// in [`CleaningRules::extra_non_product_codes`], or — in a shop whose
    /// product codes carry digits — a code without one (POST, DOT, M, D, S,
    /// BANK CHARGES, AMAZONFEE, CRUK, …: fees and postage stand out there).
    /// A shop whose codes are words (`banana`, `whole-milk`) keeps them: codes
    /// without a digit are dropped only when they are fewer than
    /// [`DIGITLESS_FEE_SHARE`] of the distinct codes.
    NonProductCode,
    /// The item has no factors among those given to `cove-train import`
    /// (`crate::import`). Checked after cleaning, by the import only, so it
    /// is not among [`DropRule::ALL`].
    NoImportedFactors,
}

impl DropRule {
    /// Every rule of the cleaning step, in checking order.
    pub const ALL: [DropRule; 5] = [
        DropRule::Cancellation,
        DropRule::MissingCustomer,
        DropRule::NonPositiveQuantity,
        DropRule::NonPositivePrice,
        DropRule::NonProductCode,
    ];

    /// One sentence stating the rule, for the printed and JSON reports.
    pub fn statement(self) -> &'static str {
        match self {
            DropRule::Cancellation => "invoice id starts with 'C' (cancellation)",
            DropRule::MissingCustomer => "customer id is empty",
            DropRule::NonPositiveQuantity => "quantity <= 0",
            DropRule::NonPositivePrice => "unit price <= 0",
            DropRule::NonProductCode => {
                "stock code is not a product: it starts with 'gift_' (gift voucher), is listed \
                 with --non-product-code, or has no digit where almost every code has one \
                 (POST, DOT, M, D, BANK CHARGES, AMAZONFEE, CRUK, PADS, ...)"
            }
            DropRule::NoImportedFactors => "the item has no imported factors (cove-train import)",
        }
    }
}

/// Codes without a digit are fees, postage or adjustments, not products,
/// when fewer than this share of a shop's distinct codes lack a digit (its
/// product codes are numbers); a shop with more has product codes that are
/// words, and keeps them.
pub const DIGITLESS_FEE_SHARE: f64 = 0.05;

/// A row that passed the row-by-row drop rules, before it is interned.
struct CleanRow<S> {
    invoice: S,
    code: S,
    title: S,
    customer: S,
    country: S,
    quantity: f64,
    unit_price: f64,
    minute: i64,
}

/// The kept rows, interned.
#[derive(Default)]
struct Kept {
    items: Interner,
    customers: Interner,
    countries: Interner,
    invoices: Interner,
    /// Per item, the description counts, to pick the most frequent title.
    title_counts: Vec<HashMap<String, u32>>,
    title_first: Vec<Vec<String>>,
    purchases: Vec<Purchase>,
    revenue: f64,
}

impl Kept {
    fn push<S: AsRef<str>>(&mut self, row: &CleanRow<S>, has_invoice: bool) {
        let code = row.code.as_ref();
        let item_idx = self.items.intern(code);
        if item_idx as usize == self.title_counts.len() {
            self.title_counts.push(HashMap::new());
            self.title_first.push(Vec::new());
        }
        let title = row.title.as_ref();
        if !title.is_empty() {
            let counts = &mut self.title_counts[item_idx as usize];
            if !counts.contains_key(title) {
                self.title_first[item_idx as usize].push(title.to_owned());
            }
            *counts.entry(title.to_owned()).or_default() += 1;
        }
        let customer = row.customer.as_ref();
        let invoice_idx = if has_invoice {
            self.invoices.intern(row.invoice.as_ref())
        } else {
            // One customer's lines at one time are one order.
            self.invoices.intern(&format!("{customer}@{}", row.minute))
        };
        self.purchases.push(Purchase {
            invoice_idx,
            customer_idx: self.customers.intern(customer),
            item_idx,
            country_idx: self.countries.intern(row.country.as_ref()),
            quantity: row.quantity as f32,
            unit_price: row.unit_price as f32,
            minute: row.minute,
        });
        self.revenue += row.quantity * row.unit_price;
    }
}

/// Options of the cleaning step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CleaningRules {
    /// Codes that contain a digit but are still not products (compared
    /// case-insensitively), for shops whose fee codes have digits.
    pub extra_non_product_codes: Vec<String>,
}

impl CleaningRules {
    fn is_non_product(&self, code: &str) -> bool {
        if code.len() >= 5 && code[..5].eq_ignore_ascii_case("gift_") {
            return true;
        }
        self.extra_non_product_codes
            .iter()
            .any(|extra| extra.eq_ignore_ascii_case(code))
    }
}

/// What a position in a file counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A CSV's physical lines; the header is line 1.
    #[default]
    Line,
    /// A Parquet file's data rows; the first is row 1.
    Row,
}

impl Unit {
    fn is_line(&self) -> bool {
        *self == Unit::Line
    }

    fn word(self) -> &'static str {
        match self {
            Unit::Line => "line",
            Unit::Row => "row",
        }
    }
}

/// One row that could not be parsed, kept as an example for the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BadRow {
    /// 1-based line number in a CSV (the header is line 1), or row number
    /// in a Parquet file ([`BadRow::unit`]).
    pub line: u64,
    /// What `line` counts.
    #[serde(skip_serializing_if = "Unit::is_line")]
    pub unit: Unit,
    /// The header name of the column that failed.
    pub column: String,
    /// The offending value.
    pub value: String,
    /// What was expected.
    pub reason: &'static str,
}

/// What the cleaning step read, dropped and kept, rule by rule.
#[derive(Debug, Clone, Serialize, Default)]
pub struct CleaningReport {
    /// What was read and how: CSV with its delimiter (given or detected),
    /// or Parquet with its row groups.
    pub source: String,
    /// The optional columns the file lacks, each with the default used
    /// instead (one sentence each; empty when the file has all eight).
    pub defaults: Vec<String>,
    /// Data rows read (the header is not counted).
    pub rows_read: u64,
    /// Rows skipped because a value did not parse.
    pub rows_unparsable: u64,
    /// The first few unparsable rows.
    pub unparsable_examples: Vec<BadRow>,
    /// Rows dropped, per rule, in checking order.
    pub dropped: Vec<(DropRule, u64)>,
    /// Rows kept.
    pub rows_kept: u64,
    /// Sum of quantity × unit price over every parsed row, before cleaning.
    pub revenue_read: f64,
    /// Sum of quantity × unit price over the kept rows.
    pub revenue_kept: f64,
}

impl CleaningReport {
    /// How many rows the given rule dropped.
    pub fn dropped_by(&self, rule: DropRule) -> u64 {
        self.dropped
            .iter()
            .find(|(r, _)| *r == rule)
            .map_or(0, |(_, n)| *n)
    }
}

impl fmt::Display for CleaningReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for default in &self.defaults {
            writeln!(f, "{default}")?;
        }
        writeln!(f, "rows read:            {:>9}", self.rows_read)?;
        writeln!(f, "rows unparsable:      {:>9}", self.rows_unparsable)?;
        for (rule, n) in &self.dropped {
            writeln!(f, "dropped {:>9}  {}", n, rule.statement())?;
        }
        write!(f, "rows kept:            {:>9}", self.rows_kept)
    }
}

/// One kept purchase line, with every id replaced by a dense index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Purchase {
    /// Index into [`Transactions::invoices`].
    pub invoice_idx: u32,
    /// Index into [`Transactions::customers`].
    pub customer_idx: u32,
    /// Index into [`Transactions::items`].
    pub item_idx: u32,
    /// Index into [`Transactions::countries`].
    pub country_idx: u32,
    /// Units bought, > 0.
    pub quantity: f32,
    /// Price of one unit, > 0.
    pub unit_price: f32,
    /// Minutes since 1970-01-01 00:00 (the export's local time, no zone).
    pub minute: i64,
}

/// A product as seen in the kept rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemInfo {
    /// The shop's product code.
    pub code: String,
    /// The most frequent non-empty description (ties: the first seen).
    pub title: String,
}

/// The cleaned transactions. Rows keep the file's order.
#[derive(Debug, Clone, Default)]
pub struct Transactions {
    /// Kept purchase lines.
    pub purchases: Vec<Purchase>,
    /// Products, indexed by `Purchase::item_idx`.
    pub items: Vec<ItemInfo>,
    /// Customer ids, normalised (`17850.0` → `17850`).
    pub customers: Vec<String>,
    /// Country names.
    pub countries: Vec<String>,
    /// Invoice ids.
    pub invoices: Vec<String>,
    /// What was read, dropped and kept.
    pub report: CleaningReport,
}

/// A malformed file: where, and what.
#[derive(Debug, Default)]
pub struct MalformedFile {
    /// 1-based line number (or row number, [`MalformedFile::unit`]), when known.
    pub line: Option<u64>,
    /// The column (header name or 1-based field number), when known.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
    /// Which kind of fault, for code that matches on it.
    pub kind: MalformedKind,
    /// What `line` counts.
    pub unit: Unit,
}

/// The kinds of malformed file that callers may want to tell apart.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub enum MalformedKind {
    /// The layout: the header, the columns, a row's fields, the bytes.
    #[default]
    Layout,
    /// More than [`MAX_BAD_ROW_FRACTION`] of the rows have a value that
    /// does not parse.
    TooManyBadRows,
    /// `--date-format` matched none of the date column's values.
    DateFormatMatchesNothing {
        /// The format given.
        format: String,
    },
    /// A Parquet column's type cannot hold what the column is mapped to (a
    /// date column of booleans, a nested column).
    ColumnType {
        /// Its physical type (`BOOLEAN`, `INT64`, `BYTE_ARRAY`, …).
        physical: String,
        /// Its logical type (`TIMESTAMP(MICROS)`, `STRING`, …), if any.
        logical: Option<String>,
    },
    /// A Parquet file the reader cannot read (corrupt, or a compression
    /// this build does not have).
    Parquet,
}

impl fmt::Display for MalformedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = self.unit.word();
        match (&self.line, &self.column) {
            (Some(line), Some(column)) => {
                write!(f, "{unit} {line}, column {column}: {}", self.message)
            }
            (Some(line), None) => write!(f, "{unit} {line}: {}", self.message),
            (None, Some(column)) => write!(f, "column {column}: {}", self.message),
            (None, None) => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for MalformedFile {}

/// Opens a file, transparently decompressing gzip (detected by its magic bytes).
pub fn open_maybe_gzip(path: &Path) -> std::io::Result<Box<dyn Read>> {
    let mut file = File::open(path)?;
    let mut magic = [0u8; 2];
    let n_magic = file.read(&mut magic)?;
    let file = File::open(path)?;
    if n_magic == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(
            file,
        ))))
    } else {
        Ok(Box::new(BufReader::new(file)))
    }
}

/// Interns strings into dense indices, in order of first appearance.
#[derive(Default)]
struct Interner {
    index_of: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&idx) = self.index_of.get(name) {
            return idx;
        }
        let idx = self.names.len() as u32;
        self.index_of.insert(name.to_owned(), idx);
        self.names.push(name.to_owned());
        idx
    }
}

/// The positions of the mapped columns in the header (`None`: an optional
/// column the file lacks).
pub(crate) struct ColumnPositions {
    pub(crate) invoice: Option<usize>,
    pub(crate) item: usize,
    pub(crate) description: Option<usize>,
    pub(crate) quantity: usize,
    pub(crate) date: usize,
    pub(crate) unit_price: usize,
    pub(crate) customer: usize,
    pub(crate) country: Option<usize>,
}

/// A header field as names are compared: trimmed, without a byte-order
/// mark, lower case.
fn comparable(name: &str) -> String {
    name.trim()
        .trim_start_matches('\u{feff}')
        .trim()
        .to_ascii_lowercase()
}

/// The position of `name` among `fields`: an exact match (after trimming),
/// else the one field equal ignoring case. `Err` lists the fields that match
/// ignoring case when more than one does.
fn position_of(fields: &[String], name: &str) -> Result<Option<usize>, Vec<String>> {
    let trimmed = name.trim();
    if let Some(idx) = fields
        .iter()
        .position(|f| f.trim().trim_start_matches('\u{feff}').trim() == trimmed)
    {
        return Ok(Some(idx));
    }
    let wanted = comparable(name);
    let matches: Vec<usize> = (0..fields.len())
        .filter(|&idx| comparable(&fields[idx]) == wanted)
        .collect();
    match matches.as_slice() {
        [] => Ok(None),
        [idx] => Ok(Some(*idx)),
        _ => Err(matches.iter().map(|&idx| fields[idx].clone()).collect()),
    }
}

/// Levenshtein distance, for suggesting a header field close to a missing name.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous_diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous_diagonal + usize::from(ca != *cb);
            previous_diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// The header field most like `name` (ignoring case, spaces, `_` and `-`),
/// when it is close enough to be a likely typo or another spelling.
fn suggestion<'a>(fields: &'a [String], name: &str) -> Option<&'a str> {
    let squash = |text: &str| -> String {
        comparable(text)
            .chars()
            .filter(|c| !matches!(c, ' ' | '_' | '-'))
            .collect()
    };
    let wanted = squash(name);
    fields
        .iter()
        .map(|field| (edit_distance(&squash(field), &wanted), field))
        .filter(|(distance, _)| *distance <= 2.max(wanted.len() / 4))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, field)| field.as_str())
}

/// The CLI flag that names each column, for messages.
const FLAGS: [&str; 8] = [
    "--col-invoice",
    "--col-item",
    "--col-description",
    "--col-quantity",
    "--col-date",
    "--col-price",
    "--col-customer",
    "--col-country",
];

/// How a delimiter is written on the command line.
fn delimiter_flag(delimiter: u8) -> String {
    match delimiter {
        b'\t' => "tab".into(),
        other => format!("'{}'", other as char),
    }
}

/// Finds the mapped columns among a header's (or a Parquet schema's)
/// `fields`. Every missing column is named in one error, with suggestions;
/// `delimiter` (a CSV's) lets the error say when another delimiter would
/// have found them.
pub(crate) fn locate_columns(
    fields: &[String],
    map: &ColumnMap,
    delimiter: Option<u8>,
    unit: Unit,
) -> Result<ColumnPositions, MalformedFile> {
    // (header name, must be present), in FLAGS order.
    let wanted: [(&str, bool); 8] = [
        (&map.invoice.name, map.invoice.named),
        (&map.item, true),
        (&map.description.name, map.description.named),
        (&map.quantity, true),
        (&map.date, true),
        (&map.unit_price, true),
        (&map.customer, true),
        (&map.country.name, map.country.named),
    ];
    let mut found = [None; 8];
    let mut problems = Vec::new();
    let mut missing = Vec::new();
    for (slot, ((name, required), flag)) in wanted.iter().zip(FLAGS).enumerate() {
        match position_of(fields, name) {
            Ok(Some(idx)) => found[slot] = Some(idx),
            Ok(None) if *required => {
                missing.push(name.to_string());
                let hint = suggestion(fields, name)
                    .map(|field| format!(" (did you mean '{field}'? pass {flag} '{field}')"))
                    .unwrap_or_else(|| format!(" ({flag} names it)"));
                problems.push(format!("'{name}'{hint}"));
            }
            Ok(None) => {}
            Err(matches) => {
                missing.push(name.to_string());
                problems.push(format!(
                    "'{name}' matches {} ignoring case (pass {flag} with the exact name)",
                    matches
                        .iter()
                        .map(|m| format!("'{m}'"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ));
            }
        }
    }
    if !problems.is_empty() {
        let mut message = format!(
            "the header lacks {} needed column{}: {}; the header's columns are: {}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems.join(", "),
            fields
                .iter()
                .map(|f| format!("'{f}'"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        // None of the required columns found: perhaps the delimiter is wrong.
        // (Their slots in `wanted`: item, quantity, date, price, customer.)
        let required = [1, 3, 4, 5, 6];
        let delimiter = delimiter.filter(|_| required.iter().all(|&slot| found[slot].is_none()));
        if let Some(delimiter) = delimiter {
            let line = fields.join(&(delimiter as char).to_string());
            for other in [b';', b'\t', b'|', b','] {
                if other == delimiter {
                    continue;
                }
                let split: Vec<String> = line.split(other as char).map(str::to_owned).collect();
                let n_found = required
                    .iter()
                    .filter(|&&slot| matches!(position_of(&split, wanted[slot].0), Ok(Some(_))))
                    .count();
                if n_found > 0 {
                    message.push_str(&format!(
                        "; split by {} the header has {n_found} of them: pass --delimiter {}",
                        delimiter_flag(other),
                        delimiter_flag(other)
                    ));
                    break;
                }
            }
        }
        return Err(MalformedFile {
            line: (unit == Unit::Line).then_some(1),
            column: Some(missing.join(", ")),
            message,
            ..MalformedFile::default()
        });
    }
    let [invoice, Some(item), description, Some(quantity), Some(date), Some(unit_price), Some(customer), country] =
        found
    else {
        unreachable!("every required column was found above");
    };
    Ok(ColumnPositions {
        invoice,
        item,
        description,
        quantity,
        date,
        unit_price,
        customer,
        country,
    })
}

/// The line breaks of a stream, recorded as its bytes pass to the CSV reader,
/// so that a record's byte offset can be turned into its line number. The CSV
/// reader's own line count counts only `\n` and sees a CRLF line's `\n` as the
/// start of the next record, so it named the first data row of a CRLF file
/// "line 1"; here `\r\n`, `\n` and a lone `\r` are each one break.
#[derive(Default)]
struct LineBreaks {
    /// `(first byte, one past the last byte)` of each break not yet passed
    /// by a record, in stream order. Only the reader's look-ahead (a buffer)
    /// is held.
    pending: VecDeque<(u64, u64)>,
    /// Breaks before every pending one.
    passed: u64,
    /// Bytes seen.
    offset: u64,
    /// The offset of a `\r` whose next byte has not been seen yet.
    carriage_return: Option<u64>,
}

impl LineBreaks {
    fn see(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            let at = self.offset;
            self.offset += 1;
            if let Some(cr) = self.carriage_return.take() {
                if byte == b'\n' {
                    self.pending.push_back((cr, at + 1));
                    continue;
                }
                self.pending.push_back((cr, cr + 1));
            }
            match byte {
                b'\r' => self.carriage_return = Some(at),
                b'\n' => self.pending.push_back((at, at + 1)),
                _ => {}
            }
        }
    }

    /// The 1-based line of a record that starts at byte `offset`: breaks
    /// before it, and the breaks it starts with (a CRLF's `\n`, blank lines),
    /// which the CSV reader skips. Offsets must not decrease between calls.
    fn line_at(&mut self, offset: u64) -> u64 {
        let mut at = offset;
        while let Some(&(start, end)) = self.pending.front() {
            if start > at {
                break;
            }
            at = at.max(end);
            self.passed += 1;
            self.pending.pop_front();
        }
        self.passed + 1
    }
}

/// A reader that records the line breaks of what it reads.
struct BreakRecorder<R> {
    inner: R,
    breaks: Rc<RefCell<LineBreaks>>,
}

impl<R: Read> Read for BreakRecorder<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.breaks.borrow_mut().see(&buf[..n]);
        Ok(n)
    }
}

/// `17850.0` and `17850` name the same customer.
fn normalise_customer(raw: &str) -> &str {
    let trimmed = raw.trim();
    trimmed.strip_suffix(".0").unwrap_or(trimmed)
}

/// What a reader found in one cell of a mapped column, before the cleaning
/// step parses it. A CSV's fields are all text; a Parquet column gives
/// numbers and times already typed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cell<'a> {
    /// Text, trimmed by the cleaning step: a CSV field, a Parquet string, or
    /// a Parquet integer id written out.
    Text(&'a str),
    /// A number stored as one (Parquet integers, floats and decimals).
    Number(f64),
    /// A time stored as one (Parquet timestamps and dates), in minutes
    /// since the epoch.
    Minute(i64),
    /// No value (a Parquet null, or an optional column the file lacks): an
    /// id or a title is then empty, as an empty CSV field is; a number or a
    /// date makes the row bad.
    Null,
}

impl Cell<'_> {
    /// The cell as an id or a title: trimmed text, empty for a null.
    fn text(&self) -> &str {
        match self {
            Cell::Text(text) => text.trim(),
            _ => "",
        }
    }

    /// The cell as it is shown in a bad row's example.
    fn shown(&self) -> String {
        match self {
            Cell::Text(text) => text.trim().to_owned(),
            Cell::Number(number) => number.to_string(),
            Cell::Minute(minute) => minute.to_string(),
            Cell::Null => "null".to_owned(),
        }
    }
}

/// One data row's cells in the mapped columns, in whatever file it came from.
pub(crate) struct RowCells<'a> {
    pub(crate) invoice: Cell<'a>,
    pub(crate) item: Cell<'a>,
    pub(crate) description: Cell<'a>,
    pub(crate) quantity: Cell<'a>,
    pub(crate) date: Cell<'a>,
    pub(crate) unit_price: Cell<'a>,
    pub(crate) customer: Cell<'a>,
    pub(crate) country: Cell<'a>,
}

/// A number written as text. With `decimal_comma` (a file whose fields are
/// not separated by commas), `3,50` is 3.5: one comma and no point.
fn parse_number(text: &str, decimal_comma: bool) -> Option<f64> {
    if let Ok(number) = text.parse() {
        return Some(number);
    }
    // Digits on both sides of the one comma, and no point: `3,50`, `-0,5`.
    let (whole, fraction) = text.split_once(',')?;
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let whole_digits = whole.strip_prefix('-').unwrap_or(whole);
    if decimal_comma && digits(whole_digits) && digits(fraction) {
        return format!("{whole}.{fraction}").parse().ok();
    }
    None
}

/// The header names of the columns that hold values to parse, for bad rows.
pub(crate) struct ValueColumns {
    pub(crate) quantity: String,
    pub(crate) unit_price: String,
    pub(crate) date: String,
}

/// The columns a file has, what stands for those it lacks, and the
/// sentences that say so.
pub(crate) struct FileColumns {
    /// The file has an invoice column (else one customer's lines at one time
    /// are one order).
    has_invoice: bool,
    /// The file has a title column (else an item's title is its code).
    has_description: bool,
    /// The country of every row, when the file has no country column.
    default_country: Option<String>,
    /// One sentence per optional column the file lacks.
    defaults: Vec<String>,
}

impl FileColumns {
    /// Checks the optional columns found against the map: a country for
    /// every row of a file that has a country column is refused.
    /// `column_name` gives a column's name as the file writes it.
    pub(crate) fn new(
        positions: &ColumnPositions,
        map: &ColumnMap,
        column_name: impl Fn(usize) -> String,
        unit: Unit,
    ) -> Result<FileColumns, MalformedFile> {
        let mut defaults = Vec::new();
        if positions.invoice.is_none() {
            defaults.push(format!(
                "no invoice column '{}': an order is one customer's lines at one time, and no row \
                 is a cancellation",
                map.invoice.name
            ));
        }
        if positions.description.is_none() {
            defaults.push(format!(
                "no title column '{}': an item's title is its code",
                map.description.name
            ));
        }
        let default_country = match (positions.country, &map.default_country) {
            (Some(idx), Some(named)) => {
                return Err(MalformedFile {
                    line: (unit == Unit::Line).then_some(1),
                    column: Some(column_name(idx)),
                    message: format!(
                        "the file has a country column, so a country for every row ('{named}') \
                         would disagree with it; leave the country out"
                    ),
                    ..MalformedFile::default()
                })
            }
            (Some(_), None) => None,
            (None, named) => {
                let country = named.as_deref().unwrap_or(UNKNOWN_COUNTRY).to_owned();
                defaults.push(format!(
                    "no country column '{}': every row's country is '{country}'",
                    map.country.name
                ));
                Some(country)
            }
        };
        Ok(FileColumns {
            has_invoice: positions.invoice.is_some(),
            has_description: positions.description.is_some(),
            default_country,
            defaults,
        })
    }
}

/// The cleaning step, fed one row at a time by either reader (CSV or
/// Parquet): it parses the values, applies the drop rules in order, keeps
/// the rest, and at the end checks the share of bad rows and the codes
/// without a digit. There is one implementation of the rules, whatever the
/// file.
pub(crate) struct Cleaner<'a> {
    rules: &'a CleaningRules,
    date_format: &'a DateFormat,
    /// `3,50` is a number (a file not separated by commas).
    decimal_comma: bool,
    columns: FileColumns,
    names: ValueColumns,
    unit: Unit,
    kept: Kept,
    /// Rows whose code has no digit wait until the file is read: whether
    /// such codes are fees or the shop's own product codes depends on how
    /// many there are ([`DIGITLESS_FEE_SHARE`]).
    digitless: Vec<CleanRow<String>>,
    digitless_codes: std::collections::HashSet<String>,
    report: CleaningReport,
    dropped: HashMap<DropRule, u64>,
    /// Dates that parsed, and the first that did not: a `--date-format`
    /// that matches no value is a wrong format, not a file of bad rows.
    dates_parsed: u64,
    first_bad_date: Option<BadRow>,
}

impl<'a> Cleaner<'a> {
    pub(crate) fn new(
        rules: &'a CleaningRules,
        date_format: &'a DateFormat,
        decimal_comma: bool,
        columns: FileColumns,
        names: ValueColumns,
        unit: Unit,
    ) -> Self {
        Cleaner {
            rules,
            date_format,
            decimal_comma,
            columns,
            names,
            unit,
            kept: Kept::default(),
            digitless: Vec::new(),
            digitless_codes: Default::default(),
            report: CleaningReport::default(),
            dropped: HashMap::new(),
            dates_parsed: 0,
            first_bad_date: None,
        }
    }

    /// Counts a data row read; returns how many have been read.
    pub(crate) fn count_row(&mut self) -> u64 {
        self.report.rows_read += 1;
        self.report.rows_read
    }

    /// The row's quantity, unit price and minute, or why it is bad.
    fn values(&mut self, line: u64, row: &RowCells<'_>) -> Result<(f64, f64, i64), BadRow> {
        let unit = self.unit;
        let bad = |column: &str, cell: &Cell<'_>, reason: &'static str| BadRow {
            line,
            unit,
            column: column.to_owned(),
            value: cell.shown(),
            reason,
        };
        let number = |cell: &Cell<'_>, column: &str| match cell {
            Cell::Text(text) => parse_number(text.trim(), self.decimal_comma)
                .ok_or_else(|| bad(column, cell, "a number")),
            Cell::Number(number) => Ok(*number),
            Cell::Minute(_) | Cell::Null => Err(bad(column, cell, "a number")),
        };
        let quantity = number(&row.quantity, &self.names.quantity)?;
        let unit_price = number(&row.unit_price, &self.names.unit_price)?;
        if !quantity.is_finite() || !unit_price.is_finite() {
            return Err(bad(&self.names.quantity, &row.quantity, "a finite number"));
        }
        let minute = match row.date {
            Cell::Text(text) => self.date_format.parse(text),
            Cell::Minute(minute) => Some(minute),
            Cell::Number(_) | Cell::Null => None,
        };
        let Some(minute) = minute else {
            let bad_date = bad(&self.names.date, &row.date, self.date_format.expected());
            self.first_bad_date.get_or_insert_with(|| bad_date.clone());
            return Err(bad_date);
        };
        self.dates_parsed += 1;
        Ok((quantity, unit_price, minute))
    }

    /// Parses one row and applies the rules; `line` is its line (CSV) or
    /// row (Parquet) for a bad row's example.
    pub(crate) fn take(&mut self, line: u64, row: &RowCells<'_>) {
        let (quantity, unit_price, minute) = match self.values(line, row) {
            Ok(values) => values,
            Err(bad_row) => {
                self.report.rows_unparsable += 1;
                if self.report.unparsable_examples.len() < MAX_BAD_ROW_EXAMPLES {
                    self.report.unparsable_examples.push(bad_row);
                }
                return;
            }
        };
        self.report.revenue_read += quantity * unit_price;

        let invoice = row.invoice.text();
        let code = row.item.text();
        let customer = normalise_customer(row.customer.text());
        let rule = if invoice.starts_with('C') || invoice.starts_with('c') {
            Some(DropRule::Cancellation)
        } else if customer.is_empty() {
            Some(DropRule::MissingCustomer)
        } else if quantity <= 0.0 {
            Some(DropRule::NonPositiveQuantity)
        } else if unit_price <= 0.0 {
            Some(DropRule::NonPositivePrice)
        } else if self.rules.is_non_product(code) {
            Some(DropRule::NonProductCode)
        } else {
            None
        };
        if let Some(rule) = rule {
            *self.dropped.entry(rule).or_default() += 1;
            return;
        }

        let row = CleanRow {
            invoice,
            code,
            // Without a title column the code is the title.
            title: if self.columns.has_description {
                row.description.text()
            } else {
                code
            },
            customer,
            country: self
                .columns
                .default_country
                .as_deref()
                .unwrap_or_else(|| row.country.text()),
            quantity,
            unit_price,
            minute,
        };
        if code.bytes().any(|b| b.is_ascii_digit()) {
            self.kept.push(&row, self.columns.has_invoice);
        } else {
            self.digitless_codes.insert(code.to_owned());
            self.digitless.push(CleanRow {
                invoice: row.invoice.to_owned(),
                code: row.code.to_owned(),
                title: row.title.to_owned(),
                customer: row.customer.to_owned(),
                country: row.country.to_owned(),
                quantity,
                unit_price,
                minute,
            });
        }
    }

    /// The cleaned transactions, or the file's fault when too many rows are
    /// bad or the `--date-format` matched no date. `source` says what was
    /// read and how (for the printed report).
    pub(crate) fn finish(mut self, source: String) -> Result<Transactions, MalformedFile> {
        if let (Some(format), 0, Some(first)) = (
            self.date_format.text(),
            self.dates_parsed,
            &self.first_bad_date,
        ) {
            return Err(MalformedFile {
                line: Some(first.line),
                column: Some(first.column.clone()),
                message: format!(
                    "no date matches --date-format '{format}': the first value is '{}' \
                     (chrono's strftime specifiers: %d day, %m month, %Y year, %H:%M time)",
                    first.value
                ),
                kind: MalformedKind::DateFormatMatchesNothing {
                    format: format.to_owned(),
                },
                unit: self.unit,
            });
        }
        let report = &mut self.report;
        if report.rows_read > 0
            && report.rows_unparsable as f64 > MAX_BAD_ROW_FRACTION * report.rows_read as f64
        {
            let first = &report.unparsable_examples[0];
            return Err(MalformedFile {
                line: Some(first.line),
                column: Some(first.column.clone()),
                message: format!(
                    "{} of {} rows do not parse (more than {:.0}%; is the column mapping right?); \
                     first: '{}' is not {}",
                    report.rows_unparsable,
                    report.rows_read,
                    MAX_BAD_ROW_FRACTION * 100.0,
                    first.value,
                    first.reason
                ),
                kind: MalformedKind::TooManyBadRows,
                unit: self.unit,
            });
        }

        let mut kept = self.kept;
        let n_codes = kept.items.names.len() + self.digitless_codes.len();
        if (self.digitless_codes.len() as f64) < DIGITLESS_FEE_SHARE * n_codes as f64 {
            *self.dropped.entry(DropRule::NonProductCode).or_default() +=
                self.digitless.len() as u64;
        } else {
            for row in &self.digitless {
                kept.push(row, self.columns.has_invoice);
            }
        }
        let Kept {
            items,
            customers,
            countries,
            invoices,
            title_counts,
            title_first,
            purchases,
            revenue,
        } = kept;
        let mut report = self.report;
        report.revenue_kept = revenue;
        report.rows_kept = purchases.len() as u64;
        report.defaults = self.columns.defaults;
        report.source = source;
        report.dropped = DropRule::ALL
            .iter()
            .map(|rule| (*rule, self.dropped.get(rule).copied().unwrap_or(0)))
            .collect();
        let items = items
            .names
            .into_iter()
            .enumerate()
            .map(|(idx, code)| {
                // The most frequent title; ties go to the first seen.
                let counts = &title_counts[idx];
                let mut best: Option<(&String, u32)> = None;
                for title in &title_first[idx] {
                    let n = counts[title];
                    if best.is_none_or(|(_, best_n)| n > best_n) {
                        best = Some((title, n));
                    }
                }
                ItemInfo {
                    title: best.map(|(t, _)| t.clone()).unwrap_or_default(),
                    code,
                }
            })
            .collect();
        Ok(Transactions {
            purchases,
            items,
            customers: customers.names,
            countries: countries.names,
            invoices: invoices.names,
            report,
        })
    }
}

/// The delimiters tried when none is given, in order of preference.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// How many bytes of a CSV are read ahead to detect its delimiter, and how
/// many of their data rows are looked at.
const DETECT_BYTES: usize = 64 * 1024;
const DETECT_ROWS: usize = 20;

/// The delimiter that splits the header and the first data rows of `head`
/// into one number of fields, more than one, with how many rows it looked
/// at. When several do, the one whose header holds more of the mapped
/// columns wins, then the one with more fields, then the first in
/// [`DELIMITERS`]. `complete` says `head` is the whole file (else its last,
/// perhaps cut, line is not looked at).
fn detect_delimiter(head: &[u8], complete: bool, map: &ColumnMap) -> Option<(u8, usize)> {
    let head = if complete {
        head
    } else {
        // Up to the last line break: the last line may be cut.
        let end = head.iter().rposition(|&b| b == b'\n' || b == b'\r')?;
        &head[..end]
    };
    let names = map.names();
    let mut best: Option<(usize, usize, u8, usize)> = None;
    for delimiter in DELIMITERS {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(head);
        let mut record = csv::ByteRecord::new();
        let mut header = Vec::new();
        let mut lengths = Vec::new();
        let mut at_end = false;
        while lengths.len() <= DETECT_ROWS {
            match reader.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => {
                    at_end = true;
                    break;
                }
                Err(_) => break,
            }
            if lengths.is_empty() {
                header = record
                    .iter()
                    .map(|field| String::from_utf8_lossy(field).into_owned())
                    .collect();
            }
            lengths.push(record.len());
        }
        // The last record of a cut read-ahead may itself be cut (a quoted
        // field with a line break): it is not looked at.
        if at_end && !complete && lengths.len() > 1 {
            lengths.pop();
        }
        let n_fields = lengths.first().copied().unwrap_or(0);
        if n_fields < 2 || lengths.iter().any(|&n| n != n_fields) {
            continue;
        }
        let n_rows = lengths.len();
        let n_named = names
            .iter()
            .filter(|name| matches!(position_of(&header, name), Ok(Some(_))))
            .count();
        let candidate = (n_named, n_fields, delimiter, n_rows - 1);
        if best.is_none_or(|(b_named, b_fields, ..)| (n_named, n_fields) > (b_named, b_fields)) {
            best = Some(candidate);
        }
    }
    best.map(|(_, _, delimiter, n_data_rows)| (delimiter, n_data_rows))
}

/// A reader that first gives back the bytes read ahead (and the error that
/// stopped them, if any), then the rest of the stream.
struct ReadAhead<R> {
    head: std::io::Cursor<Vec<u8>>,
    error: Option<std::io::Error>,
    rest: R,
}

impl<R: Read> ReadAhead<R> {
    /// Reads up to `n` bytes ahead; the file is complete when fewer came
    /// without an error.
    fn new(mut rest: R, n: usize) -> (Self, bool) {
        let mut head = vec![0; n];
        let mut filled = 0;
        let mut error = None;
        while filled < n {
            match rest.read(&mut head[filled..]) {
                Ok(0) => break,
                Ok(k) => filled += k,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => {
                    error = Some(err);
                    break;
                }
            }
        }
        head.truncate(filled);
        let complete = filled < n && error.is_none();
        (
            ReadAhead {
                head: std::io::Cursor::new(head),
                error,
                rest,
            },
            complete,
        )
    }
}

impl<R: Read> Read for ReadAhead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.head.read(buf)?;
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        if let Some(err) = self.error.take() {
            return Err(err);
        }
        self.rest.read(buf)
    }
}

/// Reads and cleans a transactions CSV from any reader.
///
/// The delimiter is [`ColumnMap::delimiter`], or when that is `None` the
/// one [`detect_delimiter`] finds (`,` when none is found).
/// `on_row` is called once per data row read (for a progress bar).
pub fn read_transactions(
    reader: impl Read,
    map: &ColumnMap,
    rules: &CleaningRules,
    mut on_row: impl FnMut(u64),
) -> Result<Transactions, MalformedFile> {
    let (reader, complete) = ReadAhead::new(reader, DETECT_BYTES);
    let (delimiter, source) = match map.delimiter {
        Some(delimiter) => (
            delimiter,
            format!(
                "CSV, fields separated by {} (--delimiter)",
                delimiter_flag(delimiter)
            ),
        ),
        None => match detect_delimiter(reader.head.get_ref(), complete, map) {
            Some((delimiter, n_rows)) => (
                delimiter,
                format!(
                    "CSV, fields separated by {} (detected from the header and {n_rows} data \
                     rows; --delimiter overrides)",
                    delimiter_flag(delimiter)
                ),
            ),
            None => (
                b',',
                "CSV, fields separated by ',' (no delimiter among , ; tab | splits the header \
                 and the first rows evenly; --delimiter names one)"
                    .to_owned(),
            ),
        },
    };
    let breaks = Rc::new(RefCell::new(LineBreaks::default()));
    let mut csv_reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .delimiter(delimiter)
        .from_reader(BreakRecorder {
            inner: reader,
            breaks: Rc::clone(&breaks),
        });
    let line_of =
        |position: Option<&csv::Position>| position.map(|p| breaks.borrow_mut().line_at(p.byte()));
    let header = match csv_reader.headers() {
        Ok(header) => header.clone(),
        Err(err) => {
            let line = line_of(err.position());
            return Err(csv_error(err, line, 0));
        }
    };
    if header.is_empty() {
        return Err(MalformedFile {
            line: Some(1),
            message: "the file is empty (no header row)".into(),
            ..MalformedFile::default()
        });
    }
    let fields: Vec<String> = header.iter().map(str::to_owned).collect();
    let pos = locate_columns(&fields, map, Some(delimiter), Unit::Line)?;
    let column_name = |idx: usize| header[idx].trim().trim_start_matches('\u{feff}').to_owned();
    let names = ValueColumns {
        quantity: column_name(pos.quantity),
        unit_price: column_name(pos.unit_price),
        date: column_name(pos.date),
    };
    let columns = FileColumns::new(&pos, map, column_name, Unit::Line)?;
    let mut cleaner = Cleaner::new(
        rules,
        &map.date_format,
        delimiter != b',',
        columns,
        names,
        Unit::Line,
    );

    let mut record = csv::StringRecord::new();
    loop {
        match csv_reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(err) => {
                let line = line_of(err.position());
                return Err(csv_error(err, line, cleaner.report.rows_read));
            }
        }
        let rows_read = cleaner.count_row();
        on_row(rows_read);
        let line = line_of(record.position()).unwrap_or(rows_read + 1);
        let cell = |idx: Option<usize>| idx.map_or(Cell::Null, |idx| Cell::Text(&record[idx]));
        let row = RowCells {
            invoice: cell(pos.invoice),
            item: cell(Some(pos.item)),
            description: cell(pos.description),
            quantity: cell(Some(pos.quantity)),
            date: cell(Some(pos.date)),
            unit_price: cell(Some(pos.unit_price)),
            customer: cell(Some(pos.customer)),
            country: cell(pos.country),
        };
        cleaner.take(line, &row);
    }
    cleaner.finish(source)
}

/// Reads and cleans a transactions file: Parquet (detected by its magic
/// bytes `PAR1`) or CSV, plain or gzip.
pub fn read_transactions_file(
    path: &Path,
    map: &ColumnMap,
    rules: &CleaningRules,
    on_row: impl FnMut(u64),
) -> anyhow::Result<Transactions> {
    use anyhow::Context;
    let mut magic = [0u8; 4];
    let n_magic = File::open(path)
        .and_then(|mut file| file.read(&mut magic))
        .with_context(|| format!("opening {}", path.display()))?;
    if n_magic == 4 && &magic == parquet_input::MAGIC {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        return parquet_input::read_parquet(file, map, rules, on_row)
            .with_context(|| format!("reading {}", path.display()));
    }
    let reader = open_maybe_gzip(path).with_context(|| format!("opening {}", path.display()))?;
    read_transactions(reader, map, rules, on_row)
        .with_context(|| format!("reading {}", path.display()))
}

/// A CSV reader's error as a malformed file; `line` is the line of the
/// record it names ([`LineBreaks::line_at`]).
fn csv_error(err: csv::Error, line: Option<u64>, rows_read: u64) -> MalformedFile {
    match err.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => MalformedFile {
            line,
            column: Some(format!("{}", (*len).min(*expected_len) + 1)),
            message: format!("the row has {len} fields but the header has {expected_len}"),
            ..MalformedFile::default()
        },
        csv::ErrorKind::Utf8 { err: utf8, .. } => MalformedFile {
            line,
            column: Some(format!("{}", utf8.field() + 1)),
            message: "the field is not valid UTF-8 (a Latin-1 or Windows-1252 export? save it \
                      as UTF-8, for example with `iconv -f latin1 -t utf-8`)"
                .into(),
            ..MalformedFile::default()
        },
        csv::ErrorKind::Io(io) => MalformedFile {
            // An IO error has no position; the next line is where it stopped.
            line: Some(line.unwrap_or(rows_read + 2)),
            column: None,
            message: format!(
                "the file could not be read past {rows_read} data rows (truncated or corrupt?): {io}"
            ),
            ..MalformedFile::default()
        },
        _ => MalformedFile {
            line,
            column: None,
            message: err.to_string(),
            ..MalformedFile::default()
        },
    }
}

/// Test shops: `rows` (lines in the default Online Retail layout, each
/// ending with a newline) under the default header, read and cleaned with
/// the default rules.
#[cfg(test)]
pub(crate) fn transactions_from_rows(rows: &str) -> Transactions {
    let text = format!(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n{rows}"
    );
    read_transactions(
        text.as_bytes(),
        &ColumnMap::default(),
        &CleaningRules::default(),
        |_| {},
    )
    .expect("a test shop in the default layout reads")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dates;

    const HEADER: &str =
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n";

    /// Reads `rows` (after the default header) and checks the kept count and the
    /// per-rule drop counts, in `DropRule::ALL` order.
    fn check(rows: &str, kept: u64, dropped: [u64; 5], unparsable: u64) {
        let text = format!("{HEADER}{rows}");
        let got = read_transactions(
            text.as_bytes(),
            &ColumnMap::default(),
            &CleaningRules::default(),
            |_| {},
        )
        .unwrap();
        let got_dropped: Vec<u64> = DropRule::ALL
            .iter()
            .map(|r| got.report.dropped_by(*r))
            .collect();
        assert_eq!(
            (
                got.report.rows_kept,
                got_dropped,
                got.report.rows_unparsable
            ),
            (kept, dropped.to_vec(), unparsable),
            "rows:\n{rows}"
        );
        assert_eq!(got.purchases.len() as u64, kept);
    }

    const GOOD: &str =
        "536365,85123A,WHITE HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n";

    #[test]
    fn cleaning_rules_table() {
        check(GOOD, 1, [0, 0, 0, 0, 0], 0);
        // Cancellation wins over every other rule.
        check(
            "C536379,85123A,X,-1,2010-12-01 09:41:00,2.55,,United Kingdom\n",
            0,
            [1, 0, 0, 0, 0],
            0,
        );
        check(
            "536365,85123A,X,6,2010-12-01 08:26:00,2.55,,United Kingdom\n",
            0,
            [0, 1, 0, 0, 0],
            0,
        );
        check(
            "536365,85123A,X,0,2010-12-01 08:26:00,2.55,1,UK\n536365,85123A,X,-3,2010-12-01 08:26:00,2.55,1,UK\n",
            0,
            [0, 0, 2, 0, 0],
            0,
        );
        check(
            "536365,85123A,X,1,2010-12-01 08:26:00,0,1,UK\n536365,85123A,X,1,2010-12-01 08:26:00,-11062.06,1,UK\n",
            0,
            [0, 0, 0, 2, 0],
            0,
        );
        let non_products = [
            "POST",
            "DOT",
            "M",
            "m",
            "D",
            "S",
            "BANK CHARGES",
            "AMAZONFEE",
            "CRUK",
            "PADS",
            "DCGSSGIRL",
            "gift_0001_40",
        ];
        // Among 20 numbered products, one code without a digit is a fee.
        let products: String = (0..20)
            .map(|i| format!("536365,{}A,X,1,2010-12-01 08:26:00,1.0,1,UK\n", 10_000 + i))
            .collect();
        for code in non_products {
            check(
                &format!("{products}536365,{code},X,1,2010-12-01 08:26:00,18.0,1,UK\n"),
                20,
                [0, 0, 0, 0, 1],
                0,
            );
        }
        // A shop whose product codes are words keeps them; a voucher is
        // still not a product.
        check(
            "1,banana,X,1,2010-12-01 08:26:00,0.5,1,UK\n1,whole-milk,X,1,2010-12-01 08:26:00,1.1,1,UK\n\
             1,gift_0001_40,X,1,2010-12-01 08:26:00,40,1,UK\n",
            2,
            [0, 0, 0, 0, 1],
            0,
        );
        // Codes with a digit and a letter suffix are products.
        check(
            "536365,15056BL,X,1,2010-12-01 08:26:00,5.95,1,UK\n",
            1,
            [0; 5],
            0,
        );
    }

    #[test]
    fn bad_values_are_counted_not_fatal() {
        let mut rows = String::new();
        for _ in 0..40 {
            rows.push_str(GOOD);
        }
        rows.push_str("536365,85123A,X,six,2010-12-01 08:26:00,2.55,1,UK\n");
        rows.push_str("536365,85123A,X,6,yesterday,2.55,1,UK\n");
        check(&rows, 40, [0; 5], 2);
        let text = format!("{HEADER}{rows}");
        let got = read_transactions(
            text.as_bytes(),
            &ColumnMap::default(),
            &CleaningRules::default(),
            |_| {},
        )
        .unwrap();
        let examples = &got.report.unparsable_examples;
        assert_eq!(examples[0].line, 42);
        assert_eq!(examples[0].column, "Quantity");
        assert_eq!(examples[1].line, 43);
        assert_eq!(examples[1].column, "InvoiceDate");
    }

    fn malformed(text: &str) -> MalformedFile {
        read_transactions(
            text.as_bytes(),
            &ColumnMap::default(),
            &CleaningRules::default(),
            |_| {},
        )
        .unwrap_err()
    }

    #[test]
    fn malformed_files_name_line_and_column() {
        let err = malformed(&format!("{HEADER}{GOOD}536366,1,2\n"));
        assert_eq!(err.line, Some(3));
        assert_eq!(err.column.as_deref(), Some("4"));

        let err = malformed("InvoiceNo,StockCode\n1,2\n");
        assert_eq!(err.line, Some(1));
        assert_eq!(
            err.column.as_deref(),
            Some("Quantity, InvoiceDate, UnitPrice, CustomerID")
        );

        let err = malformed("");
        assert_eq!(err.line, Some(1));

        // Every row unparsable: the mapping is wrong, so it is fatal.
        let err = malformed(&format!(
            "{HEADER}536365,85123A,X,6,2010-12-01 08:26:00,cheap,1,UK\n"
        ));
        assert_eq!(err.line, Some(2));
        assert_eq!(err.column.as_deref(), Some("UnitPrice"));
    }

    #[test]
    fn customer_ids_and_titles_are_normalised() {
        let rows = "1,A1,first,1,2010-12-01 08:26:00,1,17850.0,UK\n\
                    2,A1,second,1,2010-12-01 08:26:00,1,17850,UK\n\
                    3,A1,second,1,2010-12-01 08:26:00,1,12,UK\n\
                    4,A1,,1,2010-12-01 08:26:00,1,12,UK\n";
        let got = read_transactions(
            format!("{HEADER}{rows}").as_bytes(),
            &ColumnMap::default(),
            &CleaningRules::default(),
            |_| {},
        )
        .unwrap();
        assert_eq!(got.customers, vec!["17850", "12"]);
        assert_eq!(got.items[0].title, "second");
    }

    #[test]
    fn a_custom_column_mapping_reads_another_export() {
        let text = "order,sku,name,qty,time,price,shopper,ship_to\n\
                    o1,SKU1,Mug,2,2011-03-04 10:00,3.5,u1,France\n";
        let map = ColumnMap {
            invoice: OptionalColumn::named("order"),
            item: "sku".into(),
            description: OptionalColumn::named("name"),
            quantity: "qty".into(),
            date: "time".into(),
            unit_price: "price".into(),
            customer: "shopper".into(),
            country: OptionalColumn::named("ship_to"),
            ..ColumnMap::default()
        };
        let got =
            read_transactions(text.as_bytes(), &map, &CleaningRules::default(), |_| {}).unwrap();
        assert_eq!(got.purchases.len(), 1);
        assert_eq!(got.countries, vec!["France"]);
    }

    /// Reads `text` with `map`, or the error's line, column and message.
    fn read_with(text: &str, map: &ColumnMap) -> Result<Transactions, MalformedFile> {
        read_transactions(text.as_bytes(), map, &CleaningRules::default(), |_| {})
    }

    fn error_with(text: &str, map: &ColumnMap) -> MalformedFile {
        match read_with(text, map) {
            Ok(_) => panic!("read without error:\n{text}"),
            Err(err) => err,
        }
    }

    /// Issue 24: five columns are required; invoice, title and country may be absent.
    #[test]
    fn issue_24_a_file_without_invoice_title_or_country() {
        let text = "Quantity,InvoiceDate,UnitPrice,CustomerID,StockCode\n\
                    1,2011-03-04 10:00,3.5,u1,A1\n\
                    2,2011-03-04 10:00,3.5,u1,B2\n\
                    1,2011-03-05 10:00,3.5,u1,A1\n\
                    1,2011-03-04 10:00,3.5,u2,A1\n";
        let got = read_with(text, &ColumnMap::default()).unwrap();
        assert_eq!(got.purchases.len(), 4);
        // An order is one customer's lines at one time: u1's two lines at
        // 10:00 on the 4th are one order, the 5th another, u2's a third.
        assert_eq!(got.invoices.len(), 3);
        assert_eq!(got.purchases[0].invoice_idx, got.purchases[1].invoice_idx);
        assert_eq!(got.countries, vec![UNKNOWN_COUNTRY]);
        assert_eq!(got.items[0].title, "A1");
        assert_eq!(got.report.defaults.len(), 3, "{:?}", got.report.defaults);
        assert!(got
            .report
            .to_string()
            .contains("no country column 'Country'"));

        let map = ColumnMap {
            default_country: Some("DE".into()),
            ..ColumnMap::default()
        };
        assert_eq!(read_with(text, &map).unwrap().countries, vec!["DE"]);
        // A country for every row of a file that has a country column is refused.
        let err = error_with(&format!("{HEADER}{GOOD}"), &map);
        assert_eq!(
            (err.line, err.column.as_deref()),
            (Some(1), Some("Country"))
        );
        // An optional column the user named must be there.
        let map = ColumnMap {
            country: OptionalColumn::named("ship_to"),
            ..ColumnMap::default()
        };
        let err = error_with(text, &map);
        assert!(err.message.contains("'ship_to'"), "{err}");
        // The default file has no defaults to report.
        let got = read_with(&format!("{HEADER}{GOOD}"), &ColumnMap::default()).unwrap();
        assert!(got.report.defaults.is_empty());
    }

    /// Issue 24: names match ignoring case and spaces around them; every
    /// missing column is named in one error, with the header's columns.
    #[test]
    fn issue_24_header_names_ignore_case_and_all_missing_are_reported() {
        let text =
            " invoiceno ,STOCKCODE,description,quantity,invoicedate,unitprice,customerid,country\n\
                    1,A1,Mug,2,2011-03-04 10:00,3.5,u1,France\n";
        let got = read_with(text, &ColumnMap::default()).unwrap();
        assert_eq!(got.purchases.len(), 1);
        assert_eq!(got.items[0].title, "Mug");

        let err = error_with(
            "Invoice,Customer ID,Item,Qty\n1,u1,A1,2\n",
            &ColumnMap::default(),
        );
        assert_eq!(err.line, Some(1));
        assert_eq!(
            err.column.as_deref(),
            Some("StockCode, Quantity, InvoiceDate, UnitPrice, CustomerID")
        );
        for part in [
            "lacks 5 needed columns",
            "'CustomerID' (did you mean 'Customer ID'? pass --col-customer 'Customer ID')",
            "'InvoiceDate' (--col-date names it)",
            "the header's columns are: 'Invoice', 'Customer ID', 'Item', 'Qty'",
        ] {
            assert!(err.message.contains(part), "{part}\nnot in: {err}");
        }
        // Two fields equal but for case: the exact one wins, else it is ambiguous.
        let text = "StockCode,stockcode,Quantity,InvoiceDate,UnitPrice,CustomerID\n\
                    A1,B2,1,2011-03-04,1,u1\n";
        let got = read_with(text, &ColumnMap::default()).unwrap();
        assert_eq!(got.items[0].code, "A1");
        let map = ColumnMap {
            item: "STOCKCODE".into(),
            ..ColumnMap::default()
        };
        let err = error_with(text, &map);
        assert!(
            err.message.contains("matches 'StockCode' and 'stockcode'"),
            "{err}"
        );
    }

    /// Issue 24: without `--delimiter` the delimiter is detected; a given
    /// one wins, and a wrong one gets a hint.
    #[test]
    fn issue_24_delimiters() {
        let semicolons =
            "InvoiceNo;StockCode;Description;Quantity;InvoiceDate;UnitPrice;CustomerID;Country\n\
                          1;A1;Mug, blue;2;2011-03-04 10:00;3.5;u1;France\n";
        let got = read_with(semicolons, &ColumnMap::default()).unwrap();
        assert_eq!(got.items[0].title, "Mug, blue");
        assert!(
            got.report.source.contains("separated by ';' (detected"),
            "{}",
            got.report.source
        );
        let comma = ColumnMap {
            delimiter: Some(b','),
            ..ColumnMap::default()
        };
        let err = error_with(semicolons, &comma);
        assert!(err.message.contains("pass --delimiter ';'"), "{err}");

        let tabs = semicolons.replace(';', "\t");
        let got = read_with(&tabs, &ColumnMap::default()).unwrap();
        assert!(got.report.source.contains("separated by tab (detected"));
        let pipes = semicolons.replace(';', "|");
        assert_eq!(
            read_with(&pipes, &ColumnMap::default())
                .unwrap()
                .purchases
                .len(),
            1
        );
        let err = error_with(&tabs, &comma);
        assert!(err.message.contains("pass --delimiter tab"), "{err}");
        // A wrong header that no other delimiter explains gets no hint.
        let err = error_with("a;b\n1;2\n", &comma);
        assert!(!err.message.contains("--delimiter"), "{err}");
        // Commas inside the header's names do not split it evenly with the
        // rows: the semicolons that do win.
        let text = "CustomerID;StockCode;Quantity;InvoiceDate;UnitPrice;note, free text\n\
                    u1;A1;1;2011-03-04;1.5;a, b, c\n";
        let got = read_with(text, &ColumnMap::default()).unwrap();
        assert!(got.report.source.contains("';'"), "{}", got.report.source);
        // A CSV whose comma fields contain semicolons stays a comma file.
        let text = format!("{HEADER}536365,85123A,\"A;B;C\",6,2010-12-01 08:26:00,2.55,17850,UK\n");
        let got = read_with(&text, &ColumnMap::default()).unwrap();
        assert_eq!(got.items[0].title, "A;B;C");
        assert!(got.report.source.contains("','"), "{}", got.report.source);
        // Rows that no delimiter splits evenly: ',' and the layout error.
        let err = error_with("a,b,c\n1,2\n", &ColumnMap::default());
        assert_eq!(err.line, Some(1), "{err}");
    }

    /// Issue 24: detection looks at the header and the first data rows, and
    /// does not need the whole file in its read-ahead.
    #[test]
    fn issue_24_delimiter_detection_reads_ahead_only() {
        let row = "u1;A1;1;2011-03-04;3,50\n";
        let text = format!(
            "CustomerID;StockCode;Quantity;InvoiceDate;UnitPrice\n{}",
            row.repeat(DETECT_BYTES / row.len() + 100)
        );
        let got = read_with(&text, &ColumnMap::default()).unwrap();
        assert_eq!(
            got.report.rows_read as usize,
            DETECT_BYTES / row.len() + 100
        );
        assert_eq!(got.report.rows_unparsable, 0);
        assert!(got.report.source.contains("';'"), "{}", got.report.source);
        assert!(
            got.report
                .source
                .contains(&format!("{DETECT_ROWS} data rows")),
            "{}",
            got.report.source
        );
    }

    /// Issue 24: `3,50` is 3.5 in a file not separated by commas; in a comma
    /// file a quoted `3,50` is a bad value, not 350 or 3.5.
    #[test]
    fn issue_24_decimal_commas() {
        let text = "CustomerID;StockCode;Quantity;InvoiceDate;UnitPrice\n\
                    u1;A1;2;2011-03-04;3,50\n\
                    u1;A2;1,5;2011-03-04;0,25\n\
                    u1;A3;1;2011-03-04;12.5\n";
        let got = read_with(text, &ColumnMap::default()).unwrap();
        let prices: Vec<f32> = got.purchases.iter().map(|p| p.unit_price).collect();
        assert_eq!(prices, vec![3.5, 0.25, 12.5]);
        assert_eq!(got.purchases[1].quantity, 1.5);
        assert!((got.report.revenue_read - (7.0 + 0.375 + 12.5)).abs() < 1e-9);
        for not_a_number in ["1,234,5", "1.234,50", "3,"] {
            assert_eq!(parse_number(not_a_number, true), None, "{not_a_number}");
        }
        assert_eq!(parse_number("3,50", false), None);

        let mut rows = String::new();
        for _ in 0..40 {
            rows.push_str(GOOD);
        }
        rows.push_str("536365,85123A,X,6,2010-12-01 08:26:00,\"2,55\",1,UK\n");
        let got = read_with(&format!("{HEADER}{rows}"), &ColumnMap::default()).unwrap();
        assert_eq!(got.report.rows_unparsable, 1);
        assert_eq!(got.report.unparsable_examples[0].value, "2,55");
    }

    /// Issue 24: `--date-format` reads day-first dates; a value that does not
    /// match is a bad row; a format that matches no value is a malformed file
    /// naming the column, the format and the first value.
    #[test]
    fn issue_24_date_format() {
        let day_first = ColumnMap {
            date_format: DateFormat::strftime("%d/%m/%Y %H:%M").unwrap(),
            ..ColumnMap::default()
        };
        let mut rows = String::new();
        for day in 1..=28 {
            rows.push_str(&format!("1,A1,X,1,{day:02}/03/2011 10:00,1.0,u1,UK\n"));
        }
        let got = read_with(&format!("{HEADER}{rows}"), &day_first).unwrap();
        let first = got.purchases[0].minute;
        assert_eq!(first, dates::parse_minutes("2011-03-01 10:00").unwrap());
        assert_eq!(
            got.purchases[12].minute,
            dates::parse_minutes("2011-03-13 10:00").unwrap()
        );
        // Without the format, 13/03/2011 is no month-first date: all the
        // rows from the 13th on are bad, and too many to go on.
        let err = error_with(&format!("{HEADER}{rows}"), &ColumnMap::default());
        assert_eq!(err.kind, MalformedKind::TooManyBadRows, "{err}");
        assert_eq!(err.line, Some(14));

        // One value in another format is a bad row, counted with its example.
        let mut with_one_bad = rows.clone();
        with_one_bad.push_str("1,A1,X,1,2011-03-29 10:00,1.0,u1,UK\n");
        let got = read_with(&format!("{HEADER}{with_one_bad}"), &day_first).unwrap();
        assert_eq!(got.report.rows_unparsable, 1);
        let bad = &got.report.unparsable_examples[0];
        assert_eq!((bad.line, bad.column.as_str()), (30, "InvoiceDate"));
        assert_eq!(bad.reason, "a date in the --date-format");

        // A format that matches nothing is the file's fault, not 28 bad rows.
        let iso_rows = "1,A1,X,1,2011-03-04 10:00,1.0,u1,UK\n";
        let err = error_with(&format!("{HEADER}{iso_rows}"), &day_first);
        assert_eq!(
            err.kind,
            MalformedKind::DateFormatMatchesNothing {
                format: "%d/%m/%Y %H:%M".into()
            }
        );
        assert_eq!(
            (err.line, err.column.as_deref()),
            (Some(2), Some("InvoiceDate"))
        );
        for part in ["'%d/%m/%Y %H:%M'", "'2011-03-04 10:00'"] {
            assert!(err.to_string().contains(part), "{part} not in: {err}");
        }
    }

    /// Issue 24: a Latin-1 export (a `é` as the single byte 0xE9) is a
    /// malformed file naming the line and the column, and saying what to do.
    #[test]
    fn issue_24_a_latin1_file_is_a_clear_error() {
        let mut bytes = HEADER.as_bytes().to_vec();
        bytes.extend_from_slice(GOOD.as_bytes());
        bytes.extend_from_slice(b"536365,85123A,CAF\xc9 CUP,6,2010-12-01 08:26:00,2.55,17850,UK\n");
        let err = read_transactions(
            bytes.as_slice(),
            &ColumnMap::default(),
            &CleaningRules::default(),
            |_| {},
        )
        .unwrap_err();
        assert_eq!((err.line, err.column.as_deref()), (Some(3), Some("3")));
        assert!(err.message.contains("not valid UTF-8"), "{err}");
        assert!(err.message.contains("Latin-1"), "{err}");
    }

    /// Issue 24: a date alone is midnight.
    #[test]
    fn issue_24_date_only_values() {
        let rows = "1,A1,X,1,2017-01-28,1.0,u1,UK\n2,A1,X,1,11/1/2000,1.0,u1,UK\n";
        let got = read_with(&format!("{HEADER}{rows}"), &ColumnMap::default()).unwrap();
        let days: Vec<i64> = got.purchases.iter().map(|p| p.minute).collect();
        assert_eq!(
            days,
            vec![
                dates::days_from_civil(2017, 1, 28) * dates::MINUTES_PER_DAY,
                dates::days_from_civil(2000, 11, 1) * dates::MINUTES_PER_DAY
            ]
        );
    }

    /// Issue 24: a data row's error names its line (the header is line 1),
    /// whatever the line ends: LF, CRLF, CR, blank lines, quoted line breaks.
    #[test]
    fn issue_24_bad_rows_name_their_line() {
        let bad = "536365,85123A,X,six,2010-12-01 08:26:00,2.55,1,UK";
        let good = GOOD.trim_end();
        let header = HEADER.trim_end();
        let multi_line = "536365,85123A,\"two\nlines\",6,2010-12-01 08:26:00,2.55,17850.0,UK";
        for (lines, ending, expected) in [
            (vec![header, bad], "\n", 2),
            (vec![header, bad], "\r\n", 2),
            (vec![header, bad], "\r", 2),
            (vec![header, good, good, bad], "\r\n", 4),
            (vec![header, good, "", good, bad], "\r\n", 5),
            (vec![header, multi_line, bad], "\n", 4),
            (vec![header, multi_line, bad], "\r\n", 4),
        ] {
            let text = lines.join(ending) + ending;
            let err = error_with(&text, &ColumnMap::default());
            assert_eq!(err.line, Some(expected), "{text:?}: {err}");
            assert_eq!(err.column.as_deref(), Some("Quantity"));
        }
        // A row with too few fields, in a CRLF file.
        let text = format!("{header}\r\n{good}\r\n1,2\r\n");
        let err = error_with(&text, &ColumnMap::default());
        assert_eq!(err.line, Some(3), "{err}");
    }
}
