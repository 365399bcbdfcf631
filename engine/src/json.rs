//! Reading JSON documents into the engine's types, by hand.
//!
//! The engine's inputs (the bundle manifest above all) used to be read with
//! serde's derived `Deserialize`. Each derived type is compiled once more for
//! every deserializer it meets, and in the browser's wasm build those copies
//! were the largest single part of the module (about 40% of it). Here a
//! document is parsed once into a [`serde_json::Value`], the one
//! deserializer the engine keeps, and then taken apart field by field with
//! [`Fields`]: a few hundred bytes of code per type instead of kilobytes.
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

use serde_json::{Map, Value};

/// Why a document was refused: where the offending value is and what was wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonError {
    /// The path to the offending value, innermost step first. Steps are added
    /// as the error travels out of the reader, so reading a valid document
    /// builds no paths at all.
    steps: Vec<Step>,
    /// What was wrong with it.
    pub problem: String,
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
        }
    }

    fn at_key(mut self, key: &str) -> JsonError {
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

/// Parses bytes as one JSON value (the parser's message names line and column).
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    serde_json::from_slice(bytes).map_err(|e| JsonError::new(e.to_string()))
}

/// Parses bytes as a JSON object and returns its fields.
pub fn parse_object(bytes: &[u8]) -> Result<Fields, JsonError> {
    Fields::new(parse(bytes)?)
}

/// The fields of one JSON object, taken one by one.
pub struct Fields {
    map: Map<String, Value>,
}

fn expected(what: &str) -> JsonError {
    JsonError::new(format!("expected {what}"))
}

impl Fields {
    /// The fields of `value`, which must be an object.
    pub fn new(value: Value) -> Result<Fields, JsonError> {
        match value {
            Value::Object(map) => Ok(Fields { map }),
            _ => Err(expected("an object")),
        }
    }

    /// Takes a field that may be absent (`null` counts as absent).
    pub fn optional(&mut self, key: &str) -> Option<Value> {
        match self.map.remove(key) {
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
        match self.map.remove(key) {
            Some(value) => read(value).map_err(|e| e.at_key(key)),
            None => Err(JsonError::new("is missing").at_key(key)),
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
            Some(value) => read(value).map(Some).map_err(|e| e.at_key(key)),
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

    /// Takes a required object.
    pub fn object(&mut self, key: &str) -> Result<Fields, JsonError> {
        self.take(key, Fields::new)
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
        let map = std::mem::take(&mut self.map);
        let mut out = Vec::with_capacity(map.len());
        for (key, value) in map {
            let read_value = read(value).map_err(|e| e.at_key(&key))?;
            out.push((key, read_value));
        }
        Ok(out)
    }

    /// Refuses the object when a field was not taken: an unknown field means
    /// the document was written for another schema.
    pub fn finish(self) -> Result<(), JsonError> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(key) => Err(JsonError::new("is an unknown field").at_key(key)),
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
    names
        .iter()
        .position(|name| *name == text)
        .ok_or_else(|| JsonError::new(format!("{text:?} is not one of {names:?}")))
}
