//! Reading a shop's export from a Parquet file.
//!
//! The file is read row group by row group through the `parquet` crate's
//! record reader, projected on the mapped columns only; the pages of one
//! column chunk are decoded as the rows pass, so memory holds a row group's
//! pages at most, never the whole file. Columns are found by name as a
//! CSV's header fields are ([`locate_columns`]), and each is checked once,
//! before any row is read, against what it is mapped to:
//!
//! - ids and titles (invoice, item, title, customer, country): strings
//!   (`BYTE_ARRAY`, UTF-8 or plain bytes), integers (`INT32`, `INT64`) or
//!   floats holding whole numbers (pandas writes a customer id column with
//!   gaps as doubles: `17850.0` is customer `17850`);
//! - quantity and unit price: `INT32`, `INT64`, `FLOAT`, `DOUBLE`, `DECIMAL`,
//!   or strings parsed as a CSV's are (a decimal comma is read);
//! - the date: `TIMESTAMP` (millis, micros or nanos; a zone-adjusted one is
//!   read in UTC), `DATE` (midnight), the legacy `INT96`, or strings parsed as
//!   a CSV's (honouring `--date-format`).
//!
//! Any other type is a [`MalformedKind::ColumnType`] error naming the column
//! and its physical and logical types. A null is what an empty CSV field is:
//! an empty id (a null customer is dropped by `DropRule::MissingCustomer`;
//! a null invoice is no cancellation; a null title or country is empty), and
//! a bad row in the quantity, the price or the date. The rows then go
//! through the same `Cleaner` as a CSV's.

use std::fs::File;
use std::sync::Arc;

use parquet::basic::{ConvertedType, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::data_type::Decimal;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::Field;
use parquet::schema::types::Type;

use super::{
    locate_columns, Cell, Cleaner, CleaningRules, ColumnMap, FileColumns, MalformedFile,
    MalformedKind, RowCells, Transactions, Unit, ValueColumns,
};

/// The first (and last) four bytes of a Parquet file.
pub(crate) const MAGIC: &[u8; 4] = b"PAR1";

/// What a mapped column holds, from its schema.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ColumnKind {
    /// Strings or bytes, read as text.
    Text,
    /// Integers, written out as text when they are ids.
    Integer,
    /// Floats; whole numbers when they are ids.
    Float,
    /// Decimals (numbers only).
    Decimal,
    /// Timestamps stored as INT64 nanoseconds (the record reader gives them
    /// as plain integers: they have no legacy converted type).
    TimestampNanos,
    /// Timestamps the record reader decodes (millis, micros, INT96), and dates.
    Time,
}

/// What a mapped column is used for, which decides the kinds it accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Id,
    Number,
    Date,
}

impl Role {
    fn accepts(self, kind: ColumnKind) -> bool {
        use ColumnKind::*;
        match self {
            Role::Id => matches!(kind, Text | Integer | Float),
            Role::Number => matches!(kind, Text | Integer | Float | Decimal),
            Role::Date => matches!(kind, Text | TimestampNanos | Time),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Role::Id => "an id or a title must be a string or an integer column",
            Role::Number => {
                "a quantity or a price must be an integer, float, decimal or string column"
            }
            Role::Date => "a date must be a TIMESTAMP, DATE or string column (or the legacy INT96)",
        }
    }
}

/// A logical type as the Parquet format writes it, for messages.
pub(crate) fn logical_name(logical: &LogicalType) -> String {
    let unit = |unit: &TimeUnit| match unit {
        TimeUnit::MILLIS => "MILLIS",
        TimeUnit::MICROS => "MICROS",
        TimeUnit::NANOS => "NANOS",
    };
    match logical {
        LogicalType::String => "STRING".into(),
        LogicalType::Enum => "ENUM".into(),
        LogicalType::Json => "JSON".into(),
        LogicalType::Date => "DATE".into(),
        LogicalType::Decimal(decimal) => {
            format!("DECIMAL({}, {})", decimal.precision, decimal.scale)
        }
        LogicalType::Timestamp(timestamp) => format!("TIMESTAMP({})", unit(&timestamp.unit)),
        LogicalType::Time(time) => format!("TIME({})", unit(&time.unit)),
        LogicalType::Integer(integer) => format!(
            "INT({}, {})",
            integer.bit_width,
            if integer.is_signed {
                "signed"
            } else {
                "unsigned"
            }
        ),
        other => format!("{other:?}").to_uppercase(),
    }
}

/// Whether an INT32 or INT64 column's converted type leaves it a plain
/// integer (not a date, a time or a decimal).
pub(crate) fn is_integer_annotation(converted: ConvertedType) -> bool {
    matches!(
        converted,
        ConvertedType::NONE
            | ConvertedType::INT_8
            | ConvertedType::INT_16
            | ConvertedType::INT_32
            | ConvertedType::INT_64
            | ConvertedType::UINT_8
            | ConvertedType::UINT_16
            | ConvertedType::UINT_32
            | ConvertedType::UINT_64
    )
}

/// The column's kind, or its physical and logical type names when it is
/// none the reader knows (a boolean, a time of day, a nested column).
fn column_kind(field: &Type) -> Result<ColumnKind, (String, Option<String>)> {
    let info = field.get_basic_info();
    let logical = info.logical_type_ref().map(logical_name).or_else(|| {
        (info.converted_type() != ConvertedType::NONE).then(|| format!("{}", info.converted_type()))
    });
    if !field.is_primitive() {
        return Err(("group (a nested column)".into(), logical));
    }
    if info.has_repetition() && info.repetition() == Repetition::REPEATED {
        return Err(("repeated (a list column)".into(), logical));
    }
    let physical = field.get_physical_type();
    let unknown = || Err((format!("{physical}"), logical.clone()));
    let converted = info.converted_type();
    match (physical, info.logical_type_ref(), converted) {
        (PhysicalType::BYTE_ARRAY, Some(LogicalType::Decimal(_)), _)
        | (PhysicalType::FIXED_LEN_BYTE_ARRAY, Some(LogicalType::Decimal(_)), _)
        | (_, _, ConvertedType::DECIMAL) => Ok(ColumnKind::Decimal),
        (
            PhysicalType::BYTE_ARRAY,
            None | Some(LogicalType::String | LogicalType::Enum | LogicalType::Json),
            _,
        ) => Ok(ColumnKind::Text),
        (PhysicalType::INT32, Some(LogicalType::Date), _)
        | (PhysicalType::INT32, None, ConvertedType::DATE) => Ok(ColumnKind::Time),
        (PhysicalType::INT64, Some(LogicalType::Timestamp(timestamp)), _) => {
            Ok(match timestamp.unit {
                TimeUnit::NANOS => ColumnKind::TimestampNanos,
                TimeUnit::MILLIS | TimeUnit::MICROS => ColumnKind::Time,
            })
        }
        (
            PhysicalType::INT64,
            None,
            ConvertedType::TIMESTAMP_MILLIS | ConvertedType::TIMESTAMP_MICROS,
        ) => Ok(ColumnKind::Time),
        (PhysicalType::INT96, None, _) => Ok(ColumnKind::Time),
        (PhysicalType::INT32 | PhysicalType::INT64, None | Some(LogicalType::Integer(_)), _)
            if is_integer_annotation(converted) =>
        {
            Ok(ColumnKind::Integer)
        }
        (PhysicalType::FLOAT | PhysicalType::DOUBLE, None, _) => Ok(ColumnKind::Float),
        _ => unknown(),
    }
}

/// A decimal's value as a float.
fn decimal_value(decimal: &Decimal) -> f64 {
    let bytes = decimal.data();
    // Big-endian two's complement; sign-extended into an i128 when it fits.
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut unscaled: f64 = 0.0;
    if bytes.len() <= 16 {
        let mut wide = [if negative { 0xff } else { 0 }; 16];
        wide[16 - bytes.len()..].copy_from_slice(bytes);
        unscaled = i128::from_be_bytes(wide) as f64;
    } else {
        for &byte in bytes {
            unscaled = unscaled * 256.0 + f64::from(byte);
        }
        if negative {
            unscaled -= 2f64.powi(8 * bytes.len() as i32);
        }
    }
    unscaled / 10f64.powi(decimal.scale())
}

/// A float id as text: a whole number without its `.0`; NaN (pandas' gap)
/// is a null.
fn float_id(value: f64, text: &mut String) -> bool {
    use std::fmt::Write;
    if value.is_nan() {
        return false;
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        let _ = write!(text, "{}", value as i64);
    } else {
        let _ = write!(text, "{value}");
    }
    true
}

/// Minutes since the epoch of a count of `per_minute` units, rounded down.
fn minutes(value: i64, per_minute: i64) -> i64 {
    value.div_euclid(per_minute)
}

/// One field as a cell. `text` is the column's buffer for ids written out;
/// a field of a type that its column's kind does not give is a null.
fn cell<'a>(field: &'a Field, kind: ColumnKind, role: Role, text: &'a mut String) -> Cell<'a> {
    text.clear();
    match (field, role) {
        (Field::Null, _) => Cell::Null,
        (Field::Str(value), _) => Cell::Text(value),
        (Field::Bytes(bytes), _) => match std::str::from_utf8(bytes.data()) {
            Ok(value) => Cell::Text(value),
            // Shown as what it is; it is no valid number or date, and as an
            // id it is kept lossily rather than merged with other ids.
            Err(_) => {
                text.push_str(&String::from_utf8_lossy(bytes.data()));
                Cell::Text(text)
            }
        },
        (Field::Long(value), Role::Date) if kind == ColumnKind::TimestampNanos => {
            Cell::Minute(minutes(*value, 60_000_000_000))
        }
        (Field::TimestampMillis(value), Role::Date) => Cell::Minute(minutes(*value, 60_000)),
        (Field::TimestampMicros(value), Role::Date) => Cell::Minute(minutes(*value, 60_000_000)),
        (Field::Date(days), Role::Date) => {
            Cell::Minute(i64::from(*days) * crate::dates::MINUTES_PER_DAY)
        }
        (field, Role::Id) => {
            use std::fmt::Write;
            let written = match field {
                Field::Byte(v) => write!(text, "{v}").is_ok(),
                Field::Short(v) => write!(text, "{v}").is_ok(),
                Field::Int(v) => write!(text, "{v}").is_ok(),
                Field::Long(v) => write!(text, "{v}").is_ok(),
                Field::UByte(v) => write!(text, "{v}").is_ok(),
                Field::UShort(v) => write!(text, "{v}").is_ok(),
                Field::UInt(v) => write!(text, "{v}").is_ok(),
                Field::ULong(v) => write!(text, "{v}").is_ok(),
                Field::Float(v) => float_id(f64::from(*v), text),
                Field::Double(v) => float_id(*v, text),
                _ => false,
            };
            if written {
                Cell::Text(text)
            } else {
                Cell::Null
            }
        }
        (field, Role::Number) => match field {
            Field::Byte(v) => Cell::Number(f64::from(*v)),
            Field::Short(v) => Cell::Number(f64::from(*v)),
            Field::Int(v) => Cell::Number(f64::from(*v)),
            Field::Long(v) => Cell::Number(*v as f64),
            Field::UByte(v) => Cell::Number(f64::from(*v)),
            Field::UShort(v) => Cell::Number(f64::from(*v)),
            Field::UInt(v) => Cell::Number(f64::from(*v)),
            Field::ULong(v) => Cell::Number(*v as f64),
            Field::Float(v) => Cell::Number(f64::from(*v)),
            Field::Double(v) => Cell::Number(*v),
            Field::Decimal(decimal) => Cell::Number(decimal_value(decimal)),
            _ => Cell::Null,
        },
        (_, Role::Date) => Cell::Null,
    }
}

/// A Parquet library error as a malformed file.
fn parquet_error(err: parquet::errors::ParquetError, row: Option<u64>) -> MalformedFile {
    let text = err.to_string();
    let hint = if text.contains("Disabled feature") || text.contains("not supported") {
        " (this build reads snappy, gzip, LZ4, zstd, Brotli and uncompressed Parquet; rewrite \
         the file with one of them, for example Polars' write_parquet(..., compression=\"snappy\"))"
    } else {
        ""
    };
    MalformedFile {
        line: row,
        column: None,
        message: format!("the Parquet file could not be read: {text}{hint}"),
        kind: MalformedKind::Parquet,
        unit: Unit::Row,
    }
}

/// Reads and cleans a Parquet file of transactions with the same rules as
/// a CSV's. `on_row` is called once per data row read.
pub(crate) fn read_parquet(
    file: File,
    map: &ColumnMap,
    rules: &CleaningRules,
    mut on_row: impl FnMut(u64),
) -> Result<Transactions, MalformedFile> {
    let reader = SerializedFileReader::new(file).map_err(|err| parquet_error(err, None))?;
    let metadata = reader.metadata();
    let schema = metadata.file_metadata().schema_descr();
    let top: Vec<Arc<Type>> = schema.root_schema().get_fields().to_vec();
    let names: Vec<String> = top.iter().map(|field| field.name().to_owned()).collect();
    let positions = locate_columns(&names, map, None, Unit::Row)?;

    // Each mapped column's place in the projected row, its kind and role;
    // a column mapped twice (the title and the code, say) is read once.
    let slots: [(Option<usize>, Role); 8] = [
        (positions.invoice, Role::Id),
        (Some(positions.item), Role::Id),
        (positions.description, Role::Id),
        (Some(positions.quantity), Role::Number),
        (Some(positions.date), Role::Date),
        (Some(positions.unit_price), Role::Number),
        (Some(positions.customer), Role::Id),
        (positions.country, Role::Id),
    ];
    let mut projected: Vec<usize> = slots.iter().filter_map(|(idx, _)| *idx).collect();
    projected.sort_unstable();
    projected.dedup();
    let mut kinds = Vec::with_capacity(slots.len());
    for (idx, role) in slots {
        let Some(idx) = idx else {
            kinds.push(None);
            continue;
        };
        let field = &top[idx];
        let kind = column_kind(field)
            .ok()
            .filter(|kind| role.accepts(*kind))
            .ok_or_else(|| {
                let (physical, logical) = match column_kind(field) {
                    Err(types) => types,
                    Ok(_) => {
                        let info = field.get_basic_info();
                        (
                            format!("{}", field.get_physical_type()),
                            info.logical_type_ref().map(logical_name),
                        )
                    }
                };
                MalformedFile {
                    line: None,
                    column: Some(names[idx].clone()),
                    message: format!(
                        "the column's type is {physical}{}: {}",
                        logical
                            .as_deref()
                            .map(|logical| format!(" ({logical})"))
                            .unwrap_or_default(),
                        role.expected()
                    ),
                    kind: MalformedKind::ColumnType { physical, logical },
                    unit: Unit::Row,
                }
            })?;
        let place = projected
            .iter()
            .position(|&p| p == idx)
            .expect("every mapped column is projected");
        kinds.push(Some((place, kind, role)));
    }
    let projection = Type::group_type_builder(schema.root_schema().name())
        .with_fields(projected.iter().map(|&idx| Arc::clone(&top[idx])).collect())
        .build()
        .map_err(|err| parquet_error(err, None))?;

    let names_of = ValueColumns {
        quantity: names[positions.quantity].clone(),
        unit_price: names[positions.unit_price].clone(),
        date: names[positions.date].clone(),
    };
    let columns = FileColumns::new(&positions, map, |idx| names[idx].clone(), Unit::Row)?;
    let mut cleaner = Cleaner::new(rules, &map.date_format, true, columns, names_of, Unit::Row);
    let mut notes = Vec::new();
    if let (Some(format), Some(Some((_, kind, _)))) = (map.date_format.text(), kinds.get(4)) {
        if *kind != ColumnKind::Text {
            notes.push(format!(
                "; --date-format '{format}' is not used: column '{}' holds times, not text",
                names[positions.date]
            ));
        }
    }

    let n_row_groups = reader.num_row_groups();
    let mut texts: [String; 8] = Default::default();
    for group in 0..n_row_groups {
        let row_group = reader
            .get_row_group(group)
            .map_err(|err| parquet_error(err, Some(cleaner_rows(&cleaner) + 1)))?;
        let rows = RowIter::from_row_group(Some(projection.clone()), row_group.as_ref())
            .map_err(|err| parquet_error(err, Some(cleaner_rows(&cleaner) + 1)))?;
        for row in rows {
            let row = row.map_err(|err| parquet_error(err, Some(cleaner_rows(&cleaner) + 1)))?;
            let fields: Vec<&Field> = row.get_column_iter().map(|(_, field)| field).collect();
            let row_number = cleaner.count_row();
            on_row(row_number);
            let [t0, t1, t2, t3, t4, t5, t6, t7] = &mut texts;
            let mut cells = [t0, t1, t2, t3, t4, t5, t6, t7]
                .into_iter()
                .zip(&kinds)
                .map(|(text, slot)| match slot {
                    Some((place, kind, role)) => cell(fields[*place], *kind, *role, text),
                    None => Cell::Null,
                });
            let mut next = || cells.next().unwrap_or(Cell::Null);
            let cells = RowCells {
                invoice: next(),
                item: next(),
                description: next(),
                quantity: next(),
                date: next(),
                unit_price: next(),
                customer: next(),
                country: next(),
            };
            cleaner.take(row_number, &cells);
        }
    }
    let source = format!(
        "Parquet, {n_row_groups} row group{}{}",
        if n_row_groups == 1 { "" } else { "s" },
        notes.concat()
    );
    cleaner.finish(source)
}

/// Rows read so far, for an error's position.
fn cleaner_rows(cleaner: &Cleaner<'_>) -> u64 {
    cleaner.report.rows_read
}
