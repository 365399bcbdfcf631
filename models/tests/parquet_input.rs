//! Issue 24: Parquet input. Every file is written here with the `parquet`
//! crate's own writer (no binary fixtures): snappy, gzip and none, several
//! row groups, INT64 ids, TIMESTAMP dates in each unit, DATE, DECIMAL and
//! string columns; wrong column types and nulls. The same shop written as a
//! CSV must read to the same cleaned transactions, rule by rule.

mod common;

use std::path::Path;
use std::sync::Arc;

use cove_models::data::{
    self, CleaningRules, ColumnMap, DropRule, MalformedFile, Transactions, Unit,
};
use cove_models::dates::{self, DateFormat};
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use common::{evaluate_refused, s};

/// One column's values; `None` is a null.
enum Values {
    I64(Vec<Option<i64>>),
    I32(Vec<Option<i32>>),
    F64(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
    Bool(Vec<Option<bool>>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::I64(v) => v.len(),
            Values::I32(v) => v.len(),
            Values::F64(v) => v.len(),
            Values::Text(v) => v.len(),
            Values::Bool(v) => v.len(),
        }
    }
}

/// A column: its name, its type as a schema line writes it
/// (`INT64 (TIMESTAMP(MICROS,false))`) and its values.
struct Column {
    name: &'static str,
    schema_type: &'static str,
    values: Values,
}

fn column(name: &'static str, schema_type: &'static str, values: Values) -> Column {
    Column {
        name,
        schema_type,
        values,
    }
}

/// The non-null values of `range` and the definition levels (1 = a value).
fn present<T: Clone>(values: &[Option<T>], range: std::ops::Range<usize>) -> (Vec<T>, Vec<i16>) {
    let slice = &values[range];
    (
        slice.iter().flatten().cloned().collect(),
        slice.iter().map(|v| i16::from(v.is_some())).collect(),
    )
}

/// Writes `columns` (all OPTIONAL) as a Parquet file with row groups of
/// `rows_per_group` rows.
fn write_parquet(path: &Path, columns: &[Column], rows_per_group: usize, compression: Compression) {
    let fields: String = columns
        .iter()
        .map(|c| {
            let (physical, logical) = c.schema_type.split_once(' ').unwrap_or((c.schema_type, ""));
            format!("OPTIONAL {physical} {} {logical};\n", c.name)
        })
        .collect();
    let schema = Arc::new(parse_message_type(&format!("message shop {{\n{fields}}}")).unwrap());
    let properties = Arc::new(
        WriterProperties::builder()
            .set_compression(compression)
            .build(),
    );
    let file = std::fs::File::create(path).unwrap();
    let mut writer = SerializedFileWriter::new(file, schema, properties).unwrap();
    let n_rows = columns[0].values.len();
    let mut start = 0;
    while start < n_rows {
        let range = start..(start + rows_per_group).min(n_rows);
        let mut group = writer.next_row_group().unwrap();
        for c in columns {
            let mut out = group.next_column().unwrap().unwrap();
            match &c.values {
                Values::I64(v) => {
                    let (values, levels) = present(v, range.clone());
                    out.typed::<Int64Type>()
                        .write_batch(&values, Some(&levels), None)
                        .unwrap();
                }
                Values::I32(v) => {
                    let (values, levels) = present(v, range.clone());
                    out.typed::<Int32Type>()
                        .write_batch(&values, Some(&levels), None)
                        .unwrap();
                }
                Values::F64(v) => {
                    let (values, levels) = present(v, range.clone());
                    out.typed::<DoubleType>()
                        .write_batch(&values, Some(&levels), None)
                        .unwrap();
                }
                Values::Bool(v) => {
                    let (values, levels) = present(v, range.clone());
                    out.typed::<BoolType>()
                        .write_batch(&values, Some(&levels), None)
                        .unwrap();
                }
                Values::Text(v) => {
                    let (values, levels) = present(v, range.clone());
                    let values: Vec<ByteArray> =
                        values.iter().map(|t| ByteArray::from(t.as_str())).collect();
                    out.typed::<ByteArrayType>()
                        .write_batch(&values, Some(&levels), None)
                        .unwrap();
                }
            }
            out.close().unwrap();
        }
        group.close().unwrap();
        start = range.end;
    }
    writer.close().unwrap();
}

/// One generated order line.
struct Line {
    invoice: String,
    code: String,
    title: String,
    quantity: i32,
    /// Minutes since the epoch.
    minute: i64,
    /// Price in cents.
    cents: i32,
    customer: Option<i64>,
    country: &'static str,
}

/// A seeded shop of `n` lines with every kind of row the rules drop:
/// cancellations, guest rows (no customer), returns, free items, postage.
fn shop(n: usize) -> Vec<Line> {
    let mut rng = cove_models::random::SplitMix64::new(7);
    let mut next = move || rng.next_u64();
    let start = dates::parse_minutes("2011-01-03 08:00").unwrap();
    (0..n)
        .map(|i| {
            let roll = next() % 100;
            let item = next() % 60;
            let customer = 12_000 + (next() % 90) as i64;
            Line {
                invoice: if roll < 3 {
                    format!("C{}", 500_000 + i / 4)
                } else {
                    format!("{}", 500_000 + i / 4)
                },
                code: if roll == 50 {
                    "POST".to_owned()
                } else {
                    format!("{}A", 20_000 + item)
                },
                title: format!("ITEM {item}"),
                quantity: if roll == 60 {
                    -2
                } else {
                    1 + (next() % 6) as i32
                },
                minute: start + (i as i64) * 97,
                cents: if roll == 70 {
                    0
                } else {
                    50 + (item as i32) * 35
                },
                customer: (roll % 10 != 9).then_some(customer),
                country: if item % 3 == 0 {
                    "France"
                } else {
                    "United Kingdom"
                },
            }
        })
        .collect()
}

const HEADER: &str =
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country";

fn write_csv(path: &Path, lines: &[Line]) {
    let mut text = format!("{HEADER}\n");
    for l in lines {
        let day = l.minute.div_euclid(dates::MINUTES_PER_DAY);
        let minute = l.minute.rem_euclid(dates::MINUTES_PER_DAY);
        text.push_str(&format!(
            "{},{},{},{},{} {:02}:{:02},{}.{:02},{},{}\n",
            l.invoice,
            l.code,
            l.title,
            l.quantity,
            dates::format_day(day),
            minute / 60,
            minute % 60,
            l.cents / 100,
            l.cents % 100,
            l.customer.map(|c| format!("{c}.0")).unwrap_or_default(),
            l.country
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// The shop's columns as pandas or pyarrow would write them: INT64 customer
/// ids with nulls, a TIMESTAMP in `unit`, a DECIMAL price, an INT32 quantity.
fn shop_columns(lines: &[Line], unit: &str) -> Vec<Column> {
    let per_minute: i64 = match unit {
        "MILLIS" => 60_000,
        "MICROS" => 60_000_000,
        "NANOS" => 60_000_000_000,
        _ => unreachable!(),
    };
    let timestamp_type = match unit {
        "MILLIS" => "INT64 (TIMESTAMP(MILLIS,false))",
        "MICROS" => "INT64 (TIMESTAMP(MICROS,false))",
        _ => "INT64 (TIMESTAMP(NANOS,false))",
    };
    let text =
        |f: &dyn Fn(&Line) -> String| Values::Text(lines.iter().map(|l| Some(f(l))).collect());
    vec![
        column(
            "InvoiceNo",
            "BYTE_ARRAY (STRING)",
            text(&|l| l.invoice.clone()),
        ),
        column(
            "StockCode",
            "BYTE_ARRAY (STRING)",
            text(&|l| l.code.clone()),
        ),
        column(
            "Description",
            "BYTE_ARRAY (STRING)",
            text(&|l| l.title.clone()),
        ),
        column(
            "Quantity",
            "INT32",
            Values::I32(lines.iter().map(|l| Some(l.quantity)).collect()),
        ),
        column(
            "InvoiceDate",
            timestamp_type,
            Values::I64(lines.iter().map(|l| Some(l.minute * per_minute)).collect()),
        ),
        column(
            "UnitPrice",
            "INT32 (DECIMAL(9,2))",
            Values::I32(lines.iter().map(|l| Some(l.cents)).collect()),
        ),
        column(
            "CustomerID",
            "INT64",
            Values::I64(lines.iter().map(|l| l.customer).collect()),
        ),
        column(
            "Country",
            "BYTE_ARRAY (STRING)",
            text(&|l| l.country.to_owned()),
        ),
    ]
}

fn read(path: &Path, map: &ColumnMap) -> anyhow::Result<Transactions> {
    data::read_transactions_file(path, map, &CleaningRules::default(), |_| {})
}

/// The malformed-file error under `read`'s context.
fn malformed(path: &Path, map: &ColumnMap) -> String {
    let err = read(path, map).expect_err("the file was read");
    let inner = err
        .downcast_ref::<MalformedFile>()
        .unwrap_or_else(|| panic!("not a malformed file: {err:#}"));
    format!("{:?}|{inner}", inner.kind)
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    common::temp_dir(&format!("cove-parquet-{name}"))
}

/// The cleaned data, compared field by field.
fn summary(t: &Transactions) -> String {
    let dropped: Vec<u64> = DropRule::ALL
        .iter()
        .map(|rule| t.report.dropped_by(*rule))
        .collect();
    format!(
        "read {} unparsable {} dropped {dropped:?} kept {} revenue {:.2}/{:.2}\n\
         purchases {:?}\nitems {:?}\ncustomers {:?}\ncountries {:?}\ninvoices {:?}",
        t.report.rows_read,
        t.report.rows_unparsable,
        t.report.rows_kept,
        t.report.revenue_read,
        t.report.revenue_kept,
        t.purchases,
        t.items,
        t.customers,
        t.countries,
        t.invoices
    )
}

#[test]
fn issue_24_a_parquet_export_reads_as_its_csv_does() {
    let dir = temp_dir("same");
    let lines = shop(2_500);
    let csv = dir.join("orders.csv");
    write_csv(&csv, &lines);
    let from_csv = read(&csv, &ColumnMap::default()).unwrap();
    // The shop has a row for every rule.
    for rule in [
        DropRule::Cancellation,
        DropRule::MissingCustomer,
        DropRule::NonPositivePrice,
        DropRule::NonProductCode,
    ] {
        assert!(from_csv.report.dropped_by(rule) > 0, "{rule:?}");
    }

    for (unit, compression, name) in [
        ("MICROS", Compression::SNAPPY, "snappy.parquet"),
        ("NANOS", Compression::UNCOMPRESSED, "plain.bin"),
        ("MILLIS", Compression::GZIP(Default::default()), "gzip.data"),
        ("MICROS", Compression::LZ4_RAW, "lz4raw.parquet"),
        ("MILLIS", Compression::LZ4, "lz4.parquet"),
        // Polars writes zstd unless told otherwise.
        (
            "MICROS",
            Compression::ZSTD(Default::default()),
            "zstd.parquet",
        ),
        (
            "NANOS",
            Compression::BROTLI(Default::default()),
            "brotli.parquet",
        ),
    ] {
        let path = dir.join(name);
        write_parquet(&path, &shop_columns(&lines, unit), 700, compression);
        // Several row groups, compressed as asked (the extension is not
        // what tells Parquet from CSV).
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.num_row_groups(), 4);
        assert_eq!(
            reader.metadata().row_group(0).column(0).compression(),
            compression
        );

        let from_parquet = read(&path, &ColumnMap::default()).unwrap();
        assert_eq!(summary(&from_parquet), summary(&from_csv), "{name}");
        assert_eq!(from_parquet.report.source, "Parquet, 4 row groups");
        assert!(from_csv
            .report
            .source
            .starts_with("CSV, fields separated by ','"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Dates as DATE, as day-first text with `--date-format`, and numbers as
/// doubles, decimal-comma text and float ids.
#[test]
fn issue_24_parquet_dates_numbers_and_ids_of_other_types() {
    let dir = temp_dir("types");
    let path = dir.join("orders.parquet");
    let n = 30;
    let day = dates::parse_day("2011-03-04").unwrap();
    write_parquet(
        &path,
        &[
            column(
                "customer",
                "DOUBLE",
                Values::F64((0..n).map(|i| Some(17_850.0 + (i % 3) as f64)).collect()),
            ),
            column(
                "sku",
                "INT64",
                Values::I64((0..n).map(|i| Some(85_123 + i as i64 % 4)).collect()),
            ),
            column(
                "day",
                "INT32 (DATE)",
                Values::I32((0..n).map(|i| Some(day as i32 + i)).collect()),
            ),
            column(
                "when",
                "BYTE_ARRAY (STRING)",
                Values::Text(
                    (0..n)
                        .map(|i| Some(format!("{:02}/03/2011 10:30", 1 + i % 28)))
                        .collect(),
                ),
            ),
            column(
                "qty",
                "DOUBLE",
                Values::F64((0..n).map(|i| Some(1.0 + (i % 2) as f64)).collect()),
            ),
            column(
                "price",
                "BYTE_ARRAY (STRING)",
                Values::Text((0..n).map(|_| Some("3,50".to_owned())).collect()),
            ),
        ],
        7,
        Compression::SNAPPY,
    );
    let map = |date: &str, format: Option<&str>| ColumnMap {
        customer: "Customer".into(),
        item: "SKU".into(),
        quantity: "qty".into(),
        unit_price: "price".into(),
        date: date.into(),
        date_format: format.map_or(DateFormat::Automatic, |f| DateFormat::strftime(f).unwrap()),
        ..ColumnMap::default()
    };
    let got = read(&path, &map("day", None)).unwrap();
    assert_eq!(got.report.rows_kept, n as u64);
    assert_eq!(got.customers, vec!["17850", "17851", "17852"]);
    assert_eq!(got.items[0].code, "85123");
    // Without a title column the title is the code.
    assert_eq!(got.items[0].title, "85123");
    assert_eq!(got.purchases[0].minute, day * dates::MINUTES_PER_DAY);
    assert_eq!(got.purchases[0].unit_price, 3.5);
    assert_eq!(got.purchases[1].quantity, 2.0);
    // An unused --date-format is said, not silently dropped.
    let got = read(&path, &map("day", Some("%d/%m/%Y"))).unwrap();
    assert!(
        got.report
            .source
            .contains("--date-format '%d/%m/%Y' is not used"),
        "{}",
        got.report.source
    );

    // Day-first text dates with --date-format.
    let got = read(&path, &map("when", Some("%d/%m/%Y %H:%M"))).unwrap();
    assert_eq!(got.report.rows_unparsable, 0);
    assert_eq!(
        got.purchases[12].minute,
        dates::parse_minutes("2011-03-13 10:30").unwrap()
    );
    // Without it, 13/03/2011 is no date: too many bad rows, row numbered.
    let err = malformed(&path, &map("when", None));
    assert!(
        err.starts_with("TooManyBadRows|row 13, column when:"),
        "{err}"
    );
    // A format that matches nothing names itself and the first value.
    let err = malformed(&path, &map("when", Some("%Y-%m-%d %H:%M")));
    assert!(err.contains("DateFormatMatchesNothing"), "{err}");
    assert!(
        err.contains("row 1, column when: no date matches --date-format '%Y-%m-%d %H:%M': the first value is '01/03/2011 10:30'"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A column whose type cannot hold what it is mapped to is an error naming
/// the column and its physical and logical types, before any row is read.
#[test]
fn issue_24_parquet_columns_of_the_wrong_type() {
    let dir = temp_dir("wrong");
    let lines = shop(40);
    for (replace, schema_type, values, expected) in [
        (
            "InvoiceDate",
            "BOOLEAN",
            Values::Bool(vec![Some(true); 40]),
            "column InvoiceDate: the column's type is BOOLEAN: a date must be",
        ),
        (
            "InvoiceDate",
            "INT64",
            Values::I64(vec![Some(1_300_000_000); 40]),
            "column InvoiceDate: the column's type is INT64: a date must be",
        ),
        (
            "CustomerID",
            "INT32 (DATE)",
            Values::I32(vec![Some(15_000); 40]),
            "column CustomerID: the column's type is INT32 (DATE): an id or a title must be",
        ),
        (
            "UnitPrice",
            "INT64 (TIMESTAMP(MICROS,true))",
            Values::I64(vec![Some(0); 40]),
            "column UnitPrice: the column's type is INT64 (TIMESTAMP(MICROS)): a quantity or a price must be",
        ),
    ] {
        let path = dir.join(format!("{replace}-{schema_type}.parquet"));
        let columns: Vec<Column> = shop_columns(&lines, "MICROS")
            .into_iter()
            .map(|c| {
                if c.name == replace {
                    column(replace, schema_type, values_clone(&values))
                } else {
                    c
                }
            })
            .collect();
        write_parquet(&path, &columns, 100, Compression::SNAPPY);
        let err = malformed(&path, &ColumnMap::default());
        assert!(err.starts_with("ColumnType"), "{err}");
        assert!(err.contains(expected), "{expected}\nnot in: {err}");
    }

    // Missing columns: all at once, with a suggestion, as for a CSV header.
    let path = dir.join("renamed.parquet");
    let columns: Vec<Column> = shop_columns(&lines, "MICROS")
        .into_iter()
        .map(|mut c| {
            if c.name == "CustomerID" {
                c.name = "customer_id";
            }
            if c.name == "Quantity" {
                c.name = "units";
            }
            c
        })
        .collect();
    write_parquet(&path, &columns, 100, Compression::SNAPPY);
    let err = malformed(&path, &ColumnMap::default());
    for part in [
        "column Quantity, CustomerID: the header lacks 2 needed columns",
        "'CustomerID' (did you mean 'customer_id'? pass --col-customer 'customer_id')",
    ] {
        assert!(err.contains(part), "{part}\nnot in: {err}");
    }
    // The same through the command line, before any training.
    let stderr = evaluate_refused(
        s(&dir.join("InvoiceDate-BOOLEAN.parquet")),
        &dir.join("out"),
        &[],
    );
    assert!(
        stderr.contains("column InvoiceDate: the column's type is BOOLEAN"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn values_clone(values: &Values) -> Values {
    match values {
        Values::I64(v) => Values::I64(v.clone()),
        Values::I32(v) => Values::I32(v.clone()),
        Values::F64(v) => Values::F64(v.clone()),
        Values::Text(v) => Values::Text(v.clone()),
        Values::Bool(v) => Values::Bool(v.clone()),
    }
}

/// Nulls are what empty CSV fields are: a null customer is a guest row
/// (dropped by the missing-customer rule), a null invoice no cancellation,
/// a null quantity or date a bad row numbered by its row.
#[test]
fn issue_24_parquet_nulls_in_ids_and_values() {
    let dir = temp_dir("nulls");
    let lines = shop(200);
    let mut columns = shop_columns(&lines, "MICROS");
    let nulls_at = |values: &mut Values, rows: &[usize]| match values {
        Values::I64(v) => rows.iter().for_each(|&r| v[r] = None),
        Values::I32(v) => rows.iter().for_each(|&r| v[r] = None),
        Values::Text(v) => rows.iter().for_each(|&r| v[r] = None),
        _ => unreachable!(),
    };
    // Row 5 (1-based) and 6 lose their quantity, 150 its date; the first
    // row that the rules keep, from row 10 on, its invoice. Customers are
    // already null in about a tenth of the rows.
    nulls_at(&mut columns[3].values, &[4, 5]);
    nulls_at(&mut columns[4].values, &[149]);
    let kept_row = (9..lines.len())
        .find(|&r| {
            let l = &lines[r];
            l.customer.is_some()
                && !l.invoice.starts_with('C')
                && l.code != "POST"
                && l.quantity > 0
                && l.cents > 0
        })
        .unwrap();
    nulls_at(&mut columns[0].values, &[kept_row]);
    let path = dir.join("nulls.parquet");
    write_parquet(&path, &columns, 64, Compression::SNAPPY);
    let got = read(&path, &ColumnMap::default()).unwrap();
    let guests = lines
        .iter()
        .enumerate()
        .filter(|(row, l)| {
            l.customer.is_none() && !l.invoice.starts_with('C') && ![4, 5, 149].contains(row)
        })
        .count() as u64;
    assert!(guests > 5, "{guests}");
    assert_eq!(got.report.dropped_by(DropRule::MissingCustomer), guests);
    assert_eq!(got.report.rows_unparsable, 3);
    let examples: Vec<(u64, Unit, &str, &str)> = got
        .report
        .unparsable_examples
        .iter()
        .map(|b| (b.line, b.unit, b.column.as_str(), b.value.as_str()))
        .collect();
    assert_eq!(
        examples,
        vec![
            (5, Unit::Row, "Quantity", "null"),
            (6, Unit::Row, "Quantity", "null"),
            (150, Unit::Row, "InvoiceDate", "null"),
        ]
    );
    // The row with a null invoice is kept, under the empty invoice id.
    assert!(
        got.invoices.iter().any(|i| i.is_empty()),
        "{:?}",
        got.invoices
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file that starts with `PAR1` but is cut short is a clear error.
#[test]
fn issue_24_a_truncated_parquet_file() {
    let dir = temp_dir("cut");
    let path = dir.join("orders.parquet");
    write_parquet(
        &path,
        &shop_columns(&shop(100), "MICROS"),
        50,
        Compression::SNAPPY,
    );
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = malformed(&path, &ColumnMap::default());
    assert!(
        err.starts_with("Parquet|the Parquet file could not be read"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
