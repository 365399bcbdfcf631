//! Reading JSON documents into the engine's types, by hand.
//!
//! The engine's inputs (the bundle manifest above all) used to be read with
//! serde's derived `Deserialize`. Each derived type is compiled once more for
//! every deserializer it meets, and in the browser's wasm build those copies
//! were the largest single part of the module (about 40% of it). Here a
//! document is parsed once into a [`Value`] by the engine's own parser
//! ([`parser`]; serde_json's was the one deserializer left before it), and then
//! taken apart field by field with [`Fields`]: a few hundred bytes of code per
//! type instead of kilobytes.
//! [`Value`] is the engine's own (objects are sorted vectors, not the
//! `BTreeMap` of `serde_json::Value`), which keeps map code out of the wasm.
//!
//! The rules are those the derived readers had: every field named in the
//! schema must be present unless the reader asks for it as optional, a value
//! of the wrong type is refused, and a field the reader did not take is an
//! unknown field and refused too ([`Fields::finish`]). Numbers keep their
//! meaning: an integer field refuses `1.5` and `-1`, a float field takes `2`.
//! Errors name the path to the offending value (`items[3].price`), which the
//! derived readers could not.
//!
//! Values are moved out of the parsed document, never copied, so a large
//! manifest costs one parse and no second copy of its strings.

use std::fmt;

mod parser;

pub use parser::{parse, MAX_DEPTH};

/// A parsed JSON value. Objects hold their entries sorted by key, with no
/// key twice (the parser refuses a repeated key).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits a u64.
    Unsigned(u64),
    /// A negative integer that fits an i64.
    Negative(i64),
    /// Any other number (always finite).
    Float(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object, sorted by key.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// Reads a value from any serde deserializer, refusing repeated keys (what
    /// `deserialize_through!` builds on).
    pub fn deserialize_strict<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }

    /// The number as f64 (integers too), or `None` for anything else.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Unsigned(n) => Some(n as f64),
            Value::Negative(n) => Some(n as f64),
            Value::Float(x) => Some(x),
            _ => None,
        }
    }

    /// The number when it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Unsigned(n) => Some(n),
            _ => None,
        }
    }

    /// The number when it is an integer that fits an i64.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Unsigned(n) => i64::try_from(n).ok(),
            Value::Negative(n) => Some(n),
            _ => None,
        }
    }
}

/// Why a document was refused: where the offending value is and what was wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonError {
    /// The path to the offending value, innermost step first. Steps are added
    /// as the error travels out of the reader, so reading a valid document
    /// builds no paths at all.
    steps: Vec<Step>,
    /// What was wrong with it.
    pub problem: String,
    /// Whether the bytes were not JSON at all (rather than JSON of the wrong shape).
    syntax: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

impl JsonError {
    /// An error about the value being read (the readers add the path).
    pub fn new(problem: impl Into<String>) -> JsonError {
        JsonError {
            steps: Vec::new(),
            problem: problem.into(),
            syntax: false,
        }
    }

    /// Whether the bytes were not JSON at all, rather than JSON of the wrong shape.
    pub fn is_syntax(&self) -> bool {
        self.syntax
    }

    /// The same error, one step deeper: inside the field `key`.
    pub fn at(mut self, key: &str) -> JsonError {
        self.steps.push(Step::Key(key.to_string()));
        self
    }

    fn at_index(mut self, index: usize) -> JsonError {
        self.steps.push(Step::Index(index));
        self
    }

    /// The path of the offending value (`"items[3].price"`), empty for the
    /// document itself.
    pub fn path(&self) -> String {
        let mut path = String::new();
        for step in self.steps.iter().rev() {
            match step {
                Step::Key(key) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Step::Index(index) => {
                    path.push('[');
                    path.push_str(&index.to_string());
                    path.push(']');
                }
            }
        }
        path
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path();
        if path.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "{path}: {}", self.problem)
        }
    }
}

impl std::error::Error for JsonError {}

/// A JSON value whose objects have no repeated keys.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Strict, D::Error> {
        Value::deserialize_strict(deserializer).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(if n >= 0 {
            Value::Unsigned(n as u64)
        } else {
            Value::Negative(n)
        })
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Unsigned(n))
    }

    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        // JSON text has no NaN or infinity, so every parsed float is finite.
        Ok(Value::Float(x))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut elements = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(Strict(element)) = seq.next_element()? {
            elements.push(element);
        }
        Ok(Value::Array(elements))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries: Vec<(String, Value)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(value) = map.next_value()?;
            entries.push((key, value));
        }
        object(entries).map_err(serde::de::Error::custom)
    }
}

/// An object of these entries, sorted by key; refused (with the reason) when
/// a key is repeated: which of the two a reader would see is not something to
/// leave to chance.
fn object(mut entries: Vec<(String, Value)>) -> Result<Value, String> {
    // Sorted (stably) for lookups; a repeated key then sits beside itself.
    // Documents written from structs or maps often come sorted already.
    if !entries.is_sorted_by(|a, b| a.0 <= b.0) {
        crate::order::sort_by(&mut entries, |a, b| a.0.cmp(&b.0));
    }
    if let Some(pair) = entries.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(format!("the key {} is repeated", text_of(&pair[0].0)));
    }
    Ok(Value::Object(entries))
}

/// Parses bytes as a JSON object and returns its fields.
pub fn parse_object(bytes: &[u8]) -> Result<Fields, JsonError> {
    Fields::new(parse(bytes)?)
}

/// The fields of one JSON object, taken one by one.
pub struct Fields {
    /// The object's entries, sorted by key; a taken entry is `None`.
    entries: Vec<(String, Option<Value>)>,
}

fn expected(what: &str) -> JsonError {
    JsonError::new(format!("expected {what}"))
}

impl Fields {
    /// The fields of `value`, which must be an object.
    pub fn new(value: Value) -> Result<Fields, JsonError> {
        match value {
            Value::Object(entries) => Ok(Fields {
                entries: entries
                    .into_iter()
                    .map(|(key, value)| (key, Some(value)))
                    .collect(),
            }),
            _ => Err(expected("an object")),
        }
    }

    /// Takes the field `key` out of the object, if it is there and not taken.
    fn remove(&mut self, key: &str) -> Option<Value> {
        let position = self
            .entries
            .binary_search_by(|(entry_key, _)| entry_key.as_str().cmp(key))
            .ok()?;
        self.entries[position].1.take()
    }

    /// Takes a field that may be absent (`null` counts as absent).
    pub fn optional(&mut self, key: &str) -> Option<Value> {
        match self.remove(key) {
            None | Some(Value::Null) => None,
            Some(value) => Some(value),
        }
    }

    /// Takes a required field and reads it with `read`.
    pub fn take<T>(
        &mut self,
        key: &str,
        read: impl FnOnce(Value) -> Result<T, JsonError>,
    ) -> Result<T, JsonError> {
        match self.remove(key) {
            Some(value) => read(value).map_err(|e| e.at(key)),
            None => Err(JsonError::new("is missing").at(key)),
        }
    }

    /// Takes a field that may be absent (or `null`) and reads it with `read`
    /// when present.
    pub fn take_optional<T>(
        &mut self,
        key: &str,
        read: impl FnOnce(Value) -> Result<T, JsonError>,
    ) -> Result<Option<T>, JsonError> {
        match self.optional(key) {
            Some(value) => read(value).map(Some).map_err(|e| e.at(key)),
            None => Ok(None),
        }
    }

    /// Takes a required string.
    pub fn string(&mut self, key: &str) -> Result<String, JsonError> {
        self.take(key, string)
    }

    /// Takes a required number (an integer is taken as a float).
    pub fn f64(&mut self, key: &str) -> Result<f64, JsonError> {
        self.take(key, f64)
    }

    /// Takes a required number as f32 (rounded from its f64 value).
    pub fn f32(&mut self, key: &str) -> Result<f32, JsonError> {
        self.take(key, f64).map(|x| x as f32)
    }

    /// Takes a required non-negative integer.
    pub fn u64(&mut self, key: &str) -> Result<u64, JsonError> {
        self.take(key, u64)
    }

    /// Takes a required non-negative integer that fits a u32.
    pub fn u32(&mut self, key: &str) -> Result<u32, JsonError> {
        self.take(key, u32)
    }

    /// Takes a required non-negative integer that fits a usize.
    pub fn usize(&mut self, key: &str) -> Result<usize, JsonError> {
        self.take(key, usize)
    }

    /// Takes a required integer.
    pub fn i64(&mut self, key: &str) -> Result<i64, JsonError> {
        self.take(key, i64)
    }

    /// Takes a required boolean.
    pub fn bool(&mut self, key: &str) -> Result<bool, JsonError> {
        self.take(key, bool)
    }

    /// Takes a required array and reads each element with `read`.
    pub fn array<T>(
        &mut self,
        key: &str,
        read: impl FnMut(Value) -> Result<T, JsonError>,
    ) -> Result<Vec<T>, JsonError> {
        self.take(key, |value| array(value, read))
    }

    /// Takes a required array of strings.
    pub fn strings(&mut self, key: &str) -> Result<Vec<String>, JsonError> {
        self.array(key, string)
    }

    /// Takes a required array of numbers.
    pub fn f64s(&mut self, key: &str) -> Result<Vec<f64>, JsonError> {
        self.array(key, f64)
    }

    /// Reads every remaining field with `read`, as `(key, value)` pairs in key
    /// order, and leaves none: for objects that are maps rather than records.
    pub fn entries<T>(
        mut self,
        mut read: impl FnMut(Value) -> Result<T, JsonError>,
    ) -> Result<Vec<(String, T)>, JsonError> {
        let entries = std::mem::take(&mut self.entries);
        let mut out = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            if let Some(value) = value {
                let read_value = read(value).map_err(|e| e.at(&key))?;
                out.push((key, read_value));
            }
        }
        Ok(out)
    }

    /// Refuses the object when a field was not taken: an unknown field means
    /// the document was written for another schema.
    pub fn finish(self) -> Result<(), JsonError> {
        match self.entries.iter().find(|(_, value)| value.is_some()) {
            None => Ok(()),
            Some((key, _)) => Err(JsonError::new("is an unknown field").at(key)),
        }
    }
}

/// Reads a string value.
pub fn string(value: Value) -> Result<String, JsonError> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err(expected("a string")),
    }
}

/// Reads a boolean.
pub fn bool(value: Value) -> Result<bool, JsonError> {
    match value {
        Value::Bool(b) => Ok(b),
        _ => Err(expected("true or false")),
    }
}

/// Reads a number (an integer is taken as a float).
pub fn f64(value: Value) -> Result<f64, JsonError> {
    value.as_f64().ok_or_else(|| expected("a number"))
}

/// Reads a non-negative integer.
pub fn u64(value: Value) -> Result<u64, JsonError> {
    value
        .as_u64()
        .ok_or_else(|| expected("a non-negative integer"))
}

/// Reads a non-negative integer that fits a u32.
pub fn u32(value: Value) -> Result<u32, JsonError> {
    value
        .as_u64()
        .and_then(|x| u32::try_from(x).ok())
        .ok_or_else(|| expected("an integer in 0..=4294967295"))
}

/// Reads a non-negative integer that fits a usize.
pub fn usize(value: Value) -> Result<usize, JsonError> {
    value
        .as_u64()
        .and_then(|x| usize::try_from(x).ok())
        .ok_or_else(|| expected("a non-negative integer"))
}

/// Reads a non-negative integer that fits a u8.
pub fn u8(value: Value) -> Result<u8, JsonError> {
    value
        .as_u64()
        .and_then(|x| u8::try_from(x).ok())
        .ok_or_else(|| expected("an integer in 0..=255"))
}

/// Reads an integer.
pub fn i64(value: Value) -> Result<i64, JsonError> {
    value.as_i64().ok_or_else(|| expected("an integer"))
}

/// Reads an array, each element with `read`.
pub fn array<T>(
    value: Value,
    mut read: impl FnMut(Value) -> Result<T, JsonError>,
) -> Result<Vec<T>, JsonError> {
    let Value::Array(elements) = value else {
        return Err(expected("an array"));
    };
    let mut out = Vec::with_capacity(elements.len());
    for (index, element) in elements.into_iter().enumerate() {
        out.push(read(element).map_err(|e| e.at_index(index))?);
    }
    Ok(out)
}

/// Reads an array of exactly `N` elements.
pub fn fixed<T: Copy, const N: usize>(
    value: Value,
    read: impl FnMut(Value) -> Result<T, JsonError>,
) -> Result<[T; N], JsonError> {
    let elements = array(value, read)?;
    <[T; N]>::try_from(elements.as_slice())
        .map_err(|_| JsonError::new(format!("expected an array of {N} elements")))
}

/// Reads one of the given names (a unit enum's JSON form) as its position.
pub fn one_of(value: Value, names: &[&str]) -> Result<usize, JsonError> {
    let text = string(value)?;
    names.iter().position(|name| *name == text).ok_or_else(|| {
        JsonError::new(format!(
            "{} is not one of {}",
            text_of(&text),
            text_of(names)
        ))
    })
}

/// A value as JSON text, for messages: `"a\\"b"` for a string, `[3,4]` or
/// `["a","b"]` for a list. Messages quote names and values with this rather
/// than `{:?}`: Debug formatting would add some 2 KB to the browser's module,
/// and the JSON serializer is in it anyway. Control characters and quotes
/// come out escaped, so a hostile name cannot forge a line of a log.
pub fn text_of<T: serde::Serialize + ?Sized>(value: &T) -> String {
    // Strings, numbers and lists of them always serialize.
    serde_json::to_string(value).unwrap_or_default()
}

/// Implements serde's `Deserialize` for a type through its one reader, for the
/// crates around the engine that read it with serde (the edge's shop file,
/// the simulator's), so that every reader of the type applies the same rules.
/// The engine itself never goes through it: in its wasm builds the impl is
/// not reached and costs nothing.
macro_rules! deserialize_through {
    ($type:ty, $read:expr) => {
        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = $crate::json::Value::deserialize_strict(deserializer)?;
                let read: fn($crate::json::Value) -> Result<$type, $crate::json::JsonError> = $read;
                read(value).map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use deserialize_through;

/// A number as text for messages and reasons: the shortest digits that read
/// back as the same number (the form the engine's JSON output uses), or
/// `NaN`, `inf`, `-inf`. The engine writes floats into text only through
/// this and [`fixed_text`]: core's float formatting (`{}` on an `f64`) would
/// add some 20 KB to the browser's wasm module.
pub fn number_text(x: f64) -> String {
    match serde_json::Number::from_f64(x) {
        Some(number) => number.to_string(),
        None if x.is_nan() => "NaN".into(),
        None if x > 0.0 => "inf".into(),
        None => "-inf".into(),
    }
}

/// A number rounded to `decimals` places (at most 6), with exactly that many
/// digits after the point (`12.30`); halves round away from zero. Numbers
/// too large for that fall back to [`number_text`].
pub fn fixed_text(x: f64, decimals: u32) -> String {
    let decimals = decimals.min(6);
    let scale = 10u64.pow(decimals);
    let scaled = (x.abs() * scale as f64).round();
    if !scaled.is_finite() || scaled >= 1e18 {
        return number_text(x);
    }
    let scaled = scaled as u64;
    let sign = if x < 0.0 && scaled > 0 { "-" } else { "" };
    let whole = scaled / scale;
    if decimals == 0 {
        return format!("{sign}{whole}");
    }
    let fraction = (scaled % scale).to_string();
    let zeros = "0".repeat(decimals as usize - fraction.len());
    format!("{sign}{whole}.{zeros}{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_text_without_core_float_formatting() {
        assert_eq!(number_text(0.1), "0.1");
        assert_eq!(number_text(-2.0), "-2.0");
        assert_eq!(number_text(1e300), "1e+300");
        assert_eq!(number_text(f64::NAN), "NaN");
        assert_eq!(number_text(f64::INFINITY), "inf");
        assert_eq!(number_text(f64::NEG_INFINITY), "-inf");
        assert_eq!(fixed_text(12.345, 2), "12.35");
        assert_eq!(fixed_text(12.3, 2), "12.30");
        assert_eq!(fixed_text(0.0004, 3), "0.000");
        assert_eq!(fixed_text(-0.0004, 3), "0.000");
        assert_eq!(fixed_text(-1.5, 0), "-2");
        assert_eq!(fixed_text(0.98765, 3), "0.988");
        assert_eq!(fixed_text(1e20, 2), "1e+20");
        assert_eq!(fixed_text(f64::NAN, 2), "NaN");
    }

    #[test]
    fn objects_are_sorted_and_a_repeated_key_is_refused() {
        let Value::Object(entries) = parse(br#"{"b": 1, "a": [true, null], "c": -3}"#).unwrap()
        else {
            panic!("not an object");
        };
        let keys: Vec<&str> = entries.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        let error = parse(br#"{"a": 1, "b": {"x": 1, "x": 2}}"#).unwrap_err();
        assert!(
            error.is_syntax() && error.problem.contains("\"x\" is repeated"),
            "{error}"
        );
        // Many keys: the check sorts once rather than comparing every pair.
        let many: String = (0..200_000).map(|i| format!("\"k{i}\":{i},")).collect();
        let text = format!("{{{many}\"k7\":0}}");
        assert!(parse(text.as_bytes())
            .unwrap_err()
            .problem
            .contains("\"k7\""));
    }

    #[test]
    fn integers_keep_their_meaning() {
        let read = |text: &str| parse(text.as_bytes()).unwrap();
        assert_eq!(read("18446744073709551615").as_u64(), Some(u64::MAX));
        assert_eq!(read("-5").as_u64(), None);
        assert_eq!(read("-5").as_i64(), Some(-5));
        assert_eq!(read("18446744073709551615").as_i64(), None);
        assert_eq!(read("1.5").as_u64(), None);
        assert_eq!(read("2").as_f64(), Some(2.0));
        assert_eq!(read("\"2\"").as_f64(), None);
    }
}
