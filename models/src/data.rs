//! Reading a shop's transaction export and cleaning it by stated rules.
//!
//! The input is a CSV file (plain or gzip, detected from its first two bytes)
//! with a header row. [`ColumnMap`] names the header of each column the trainer
//! reads and the field delimiter; its defaults fit the UCI Online Retail export.
//! Header names are matched after trimming, ignoring case.
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

use crate::dates;

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
    /// `M/D/YYYY[ H:MM]`; a date alone is midnight.
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
    /// The field delimiter (`,` by default; `;`, tab and `|` are common).
    pub delimiter: u8,
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
            delimiter: b',',
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
}

impl DropRule {
    /// Every rule, in checking order.
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

/// One row that could not be parsed, kept as an example for the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BadRow {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
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
#[derive(Debug)]
pub struct MalformedFile {
    /// 1-based line number, when known.
    pub line: Option<u64>,
    /// The column (header name or 1-based field number), when known.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for MalformedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.line, &self.column) {
            (Some(line), Some(column)) => {
                write!(f, "line {line}, column {column}: {}", self.message)
            }
            (Some(line), None) => write!(f, "line {line}: {}", self.message),
            _ => write!(f, "{}", self.message),
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
struct ColumnPositions {
    invoice: Option<usize>,
    item: usize,
    description: Option<usize>,
    quantity: usize,
    date: usize,
    unit_price: usize,
    customer: usize,
    country: Option<usize>,
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

fn locate_columns(
    header: &csv::StringRecord,
    map: &ColumnMap,
) -> Result<ColumnPositions, MalformedFile> {
    let fields: Vec<String> = header.iter().map(str::to_owned).collect();
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
        match position_of(&fields, name) {
            Ok(Some(idx)) => found[slot] = Some(idx),
            Ok(None) if *required => {
                missing.push(name.to_string());
                let hint = suggestion(&fields, name)
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
        if required.iter().all(|&slot| found[slot].is_none()) {
            let line = fields.join(&(map.delimiter as char).to_string());
            for other in [b';', b'\t', b'|', b','] {
                if other == map.delimiter {
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
            line: Some(1),
            column: Some(missing.join(", ")),
            message,
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

/// Reads and cleans a transactions CSV from any reader.
///
/// `on_row` is called once per data row read (for a progress bar).
pub fn read_transactions(
    reader: impl Read,
    map: &ColumnMap,
    rules: &CleaningRules,
    mut on_row: impl FnMut(u64),
) -> Result<Transactions, MalformedFile> {
    let breaks = Rc::new(RefCell::new(LineBreaks::default()));
    let mut csv_reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .delimiter(map.delimiter)
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
            column: None,
            message: "the file is empty (no header row)".into(),
        });
    }
    let pos = locate_columns(&header, map)?;
    let column_name = |idx: usize| header[idx].trim().trim_start_matches('\u{feff}').to_owned();
    let (quantity_name, price_name, date_name) = (
        column_name(pos.quantity),
        column_name(pos.unit_price),
        column_name(pos.date),
    );
    let mut defaults = Vec::new();
    if pos.invoice.is_none() {
        defaults.push(format!(
            "no invoice column '{}': an order is one customer's lines at one time, and no row is a \
             cancellation",
            map.invoice.name
        ));
    }
    if pos.description.is_none() {
        defaults.push(format!(
            "no title column '{}': an item's title is its code",
            map.description.name
        ));
    }
    let default_country = match (pos.country, &map.default_country) {
        (Some(idx), Some(named)) => {
            return Err(MalformedFile {
                line: Some(1),
                column: Some(column_name(idx)),
                message: format!(
                    "the file has a country column, so a country for every row ('{named}') would \
                     disagree with it; leave the country out"
                ),
            })
        }
        (Some(_), None) => String::new(),
        (None, named) => {
            let country = named.as_deref().unwrap_or(UNKNOWN_COUNTRY).to_owned();
            defaults.push(format!(
                "no country column '{}': every row's country is '{country}'",
                map.country.name
            ));
            country
        }
    };

    let mut kept = Kept::default();
    // Rows whose code has no digit wait until the file is read: whether such
    // codes are fees or the shop's own product codes depends on how many
    // there are ([`DIGITLESS_FEE_SHARE`]).
    let mut digitless: Vec<CleanRow<String>> = Vec::new();
    let mut digitless_codes: std::collections::HashSet<String> = Default::default();
    let mut report = CleaningReport::default();
    let mut dropped: HashMap<DropRule, u64> = HashMap::new();

    let mut record = csv::StringRecord::new();
    loop {
        match csv_reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(err) => {
                let line = line_of(err.position());
                return Err(csv_error(err, line, report.rows_read));
            }
        }
        report.rows_read += 1;
        on_row(report.rows_read);
        let line = line_of(record.position()).unwrap_or(report.rows_read + 1);
        let bad = |column: &str, value: &str, reason: &'static str| BadRow {
            line,
            column: column.to_owned(),
            value: value.to_owned(),
            reason,
        };

        let quantity_raw = record[pos.quantity].trim();
        let price_raw = record[pos.unit_price].trim();
        let date_raw = record[pos.date].trim();
        let parsed = (|| {
            let quantity: f64 = quantity_raw
                .parse()
                .map_err(|_| bad(&quantity_name, quantity_raw, "a number"))?;
            let unit_price: f64 = price_raw
                .parse()
                .map_err(|_| bad(&price_name, price_raw, "a number"))?;
            if !quantity.is_finite() || !unit_price.is_finite() {
                return Err(bad(&quantity_name, quantity_raw, "a finite number"));
            }
            let minute = dates::parse_minutes(date_raw).ok_or_else(|| {
                bad(
                    &date_name,
                    date_raw,
                    "a date 'YYYY-MM-DD[ HH:MM[:SS]]' or 'M/D/YYYY[ H:MM]'",
                )
            })?;
            Ok((quantity, unit_price, minute))
        })();
        let (quantity, unit_price, minute) = match parsed {
            Ok(values) => values,
            Err(bad_row) => {
                report.rows_unparsable += 1;
                if report.unparsable_examples.len() < MAX_BAD_ROW_EXAMPLES {
                    report.unparsable_examples.push(bad_row);
                }
                continue;
            }
        };
        report.revenue_read += quantity * unit_price;

        let invoice = pos.invoice.map_or("", |idx| record[idx].trim());
        let code = record[pos.item].trim();
        let customer = normalise_customer(&record[pos.customer]);
        let rule = if invoice.starts_with('C') || invoice.starts_with('c') {
            Some(DropRule::Cancellation)
        } else if customer.is_empty() {
            Some(DropRule::MissingCustomer)
        } else if quantity <= 0.0 {
            Some(DropRule::NonPositiveQuantity)
        } else if unit_price <= 0.0 {
            Some(DropRule::NonPositivePrice)
        } else if rules.is_non_product(code) {
            Some(DropRule::NonProductCode)
        } else {
            None
        };
        if let Some(rule) = rule {
            *dropped.entry(rule).or_default() += 1;
            continue;
        }

        // Without a title column the code is the title.
        let row = CleanRow {
            invoice,
            code,
            title: pos.description.map_or(code, |idx| record[idx].trim()),
            customer,
            country: pos
                .country
                .map_or(default_country.as_str(), |idx| record[idx].trim()),
            quantity,
            unit_price,
            minute,
        };
        if code.bytes().any(|b| b.is_ascii_digit()) {
            kept.push(&row, pos.invoice.is_some());
        } else {
            digitless_codes.insert(code.to_owned());
            digitless.push(CleanRow {
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
        });
    }

    let n_codes = kept.items.names.len() + digitless_codes.len();
    if (digitless_codes.len() as f64) < DIGITLESS_FEE_SHARE * n_codes as f64 {
        *dropped.entry(DropRule::NonProductCode).or_default() += digitless.len() as u64;
    } else {
        for row in &digitless {
            kept.push(row, pos.invoice.is_some());
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
    report.revenue_kept = revenue;
    report.rows_kept = purchases.len() as u64;
    report.defaults = defaults;
    report.dropped = DropRule::ALL
        .iter()
        .map(|rule| (*rule, dropped.get(rule).copied().unwrap_or(0)))
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

/// Reads and cleans a transactions CSV file (plain or gzip).
pub fn read_transactions_file(
    path: &Path,
    map: &ColumnMap,
    rules: &CleaningRules,
    on_row: impl FnMut(u64),
) -> anyhow::Result<Transactions> {
    use anyhow::Context;
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
        },
        csv::ErrorKind::Utf8 { err: utf8, .. } => MalformedFile {
            line,
            column: Some(format!("{}", utf8.field() + 1)),
            message: "the field is not valid UTF-8".into(),
        },
        csv::ErrorKind::Io(io) => MalformedFile {
            // An IO error has no position; the next line is where it stopped.
            line: Some(line.unwrap_or(rows_read + 2)),
            column: None,
            message: format!(
                "the file could not be read past {rows_read} data rows (truncated or corrupt?): {io}"
            ),
        },
        _ => MalformedFile {
            line,
            column: None,
            message: err.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Issue 24: `--delimiter`, and a hint when the header splits by another.
    #[test]
    fn issue_24_delimiters() {
        let semicolons =
            "InvoiceNo;StockCode;Description;Quantity;InvoiceDate;UnitPrice;CustomerID;Country\n\
                          1;A1;Mug, blue;2;2011-03-04 10:00;3.5;u1;France\n";
        let err = error_with(semicolons, &ColumnMap::default());
        assert!(err.message.contains("pass --delimiter ';'"), "{err}");
        let map = ColumnMap {
            delimiter: b';',
            ..ColumnMap::default()
        };
        let got = read_with(semicolons, &map).unwrap();
        assert_eq!(got.items[0].title, "Mug, blue");

        let tabs = semicolons.replace(';', "\t");
        let err = error_with(&tabs, &ColumnMap::default());
        assert!(err.message.contains("pass --delimiter tab"), "{err}");
        let map = ColumnMap {
            delimiter: b'\t',
            ..ColumnMap::default()
        };
        assert_eq!(read_with(&tabs, &map).unwrap().purchases.len(), 1);
        // A wrong header that no other delimiter explains gets no hint.
        let err = error_with("a;b\n1;2\n", &ColumnMap::default());
        assert!(!err.message.contains("--delimiter"), "{err}");
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
