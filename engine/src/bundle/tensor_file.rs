//! Reading a safetensors file: the tensor half of a bundle.
//!
//! The format (huggingface/safetensors): an 8-byte little-endian header
//! length N, N bytes of JSON — `{"name": {"dtype": "F32", "shape": [n, d],
//! "data_offsets": [begin, end]}, …, "__metadata__": {…}}` — then the data,
//! every tensor's bytes at its offsets.
//!
//! The writer is the `safetensors` crate (`BundleBuilder`, natively). The
//! reader is this module, because the crate's reader decodes its header with
//! serde derives (and `flatten`, which buffers the whole header), and in the
//! browser's wasm module that decoding cost more than this file. It applies
//! the crate's checks: a header that fits the file and is a JSON object, known
//! dtypes, offsets in order that tile the data exactly with no gap or
//! overlap, and a byte length equal to the shape's element count times the
//! dtype's size. The builder's output is read back by this reader in the
//! engine's tests, so writer and reader cannot drift apart unnoticed.

use crate::json::{self, Fields, JsonError, Value};
use crate::Error;

/// The longest header accepted, as in the `safetensors` crate (100 MB).
const MAX_HEADER_LEN: usize = 100_000_000;

/// The dtypes of the format and their sizes in bytes.
const DTYPE_SIZES: [(&str, usize); 13] = [
    ("BOOL", 1),
    ("U8", 1),
    ("I8", 1),
    ("F8_E5M2", 1),
    ("F8_E4M3", 1),
    ("I16", 2),
    ("U16", 2),
    ("F16", 2),
    ("BF16", 2),
    ("I32", 4),
    ("U32", 4),
    ("F32", 4),
    ("F64", 8),
];

/// One tensor's entry in the header.
struct Entry {
    name: String,
    dtype: &'static str,
    /// The dtype's size in bytes.
    dtype_size: usize,
    shape: Vec<usize>,
    begin: usize,
    end: usize,
}

/// A parsed tensor file: the header's entries and the data they point into.
pub(crate) struct TensorFile<'data> {
    entries: Vec<Entry>,
    data: &'data [u8],
}

/// One tensor: its dtype (the format's spelling, "F32"), shape and bytes.
pub(crate) struct TensorView<'file, 'data> {
    pub(crate) dtype: &'static str,
    pub(crate) shape: &'file [usize],
    pub(crate) data: &'data [u8],
}

fn syntax(message: impl Into<String>) -> Error {
    Error::TensorFileSyntax {
        message: message.into(),
    }
}

impl<'data> TensorFile<'data> {
    /// Parses and checks a tensor file.
    pub(crate) fn parse(bytes: &'data [u8]) -> Result<TensorFile<'data>, Error> {
        let Some((length, rest)) = bytes.split_first_chunk::<8>() else {
            return Err(syntax("shorter than its 8-byte header length"));
        };
        let header_len = u64::from_le_bytes(*length);
        let header_len = usize::try_from(header_len)
            .ok()
            .filter(|len| *len <= MAX_HEADER_LEN && *len <= rest.len())
            .ok_or_else(|| syntax(format!("a header of {header_len} bytes does not fit")))?;
        let (header, data) = rest.split_at(header_len);
        if header.first() != Some(&b'{') {
            return Err(syntax("the header is not a JSON object"));
        }
        let fields = json::parse_object(header).map_err(|e| syntax(format!("header: {e}")))?;
        let mut entries = read_entries(fields).map_err(|e| syntax(format!("header: {e}")))?;

        crate::order::sort_by_key(&mut entries, |entry| (entry.begin, entry.end));
        let mut expected_begin = 0;
        for entry in &entries {
            if entry.begin != expected_begin || entry.end < entry.begin {
                return Err(syntax(format!(
                    "tensor {}: its offsets leave a gap or overlap",
                    json::text_of(&entry.name)
                )));
            }
            let n_bytes = entry
                .shape
                .iter()
                .try_fold(entry.dtype_size, |bytes, dim| bytes.checked_mul(*dim));
            if n_bytes != Some(entry.end - entry.begin) {
                return Err(syntax(format!(
                    "tensor {}: its shape does not match its byte length",
                    json::text_of(&entry.name)
                )));
            }
            expected_begin = entry.end;
        }
        if expected_begin != data.len() {
            return Err(syntax(format!(
                "the tensors cover {expected_begin} bytes of {} of data",
                data.len()
            )));
        }
        Ok(TensorFile { entries, data })
    }

    /// The tensors' names, in the order of their data.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|entry| entry.name.as_str())
    }

    /// The tensor named `name`.
    pub(crate) fn tensor(&self, name: &str) -> Option<TensorView<'_, 'data>> {
        self.entries
            .iter()
            .find(|entry| entry.name == name)
            .map(|entry| TensorView {
                dtype: entry.dtype,
                shape: &entry.shape,
                // In bounds: `parse` checked that the entries tile the data.
                data: &self.data[entry.begin..entry.end],
            })
    }
}

fn read_entries(fields: Fields) -> Result<Vec<Entry>, JsonError> {
    let mut entries = Vec::new();
    for (name, value) in fields.entries(Ok)? {
        if name == "__metadata__" {
            // Free-form text, which the engine does not use.
            Fields::new(value)?.entries(json::string)?;
            continue;
        }
        let entry = read_entry(name.clone(), value).map_err(|e| e.at(&name))?;
        entries.push(entry);
    }
    Ok(entries)
}

fn read_entry(name: String, value: Value) -> Result<Entry, JsonError> {
    let mut fields = Fields::new(value)?;
    let (dtype, dtype_size) = fields.take("dtype", |value| {
        let text = json::string(value)?;
        DTYPE_SIZES
            .iter()
            .find(|(known, _)| *known == text)
            .copied()
            .ok_or_else(|| JsonError::new(format!("{} is not a dtype", json::text_of(&text))))
    })?;
    let shape = fields.array("shape", json::usize)?;
    let [begin, end] = fields.take("data_offsets", |value| json::fixed(value, json::usize))?;
    fields.finish()?;
    Ok(Entry {
        name,
        dtype,
        dtype_size,
        shape,
        begin,
        end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file with this header JSON and `data_len` bytes of data.
    fn file(header: &str, data_len: usize) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend(std::iter::repeat_n(7u8, data_len));
        bytes
    }

    #[test]
    fn reads_what_the_safetensors_crate_writes() {
        let a: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let b = vec![3u8, 4, 5];
        let tensors = vec![
            (
                "b",
                safetensors::tensor::TensorView::new(safetensors::Dtype::I8, vec![3], &b).unwrap(),
            ),
            (
                "a",
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1, 2], &a)
                    .unwrap(),
            ),
        ];
        let metadata = Some(
            [("note".to_string(), "x".to_string())]
                .into_iter()
                .collect(),
        );
        let bytes = safetensors::serialize(tensors, metadata).unwrap();
        let parsed = TensorFile::parse(&bytes).unwrap();
        let mut names: Vec<&str> = parsed.names().collect();
        names.sort();
        assert_eq!(names, ["a", "b"]);
        let view = parsed.tensor("a").unwrap();
        assert_eq!(
            (view.dtype, view.shape, view.data),
            ("F32", &[1usize, 2][..], &a[..])
        );
        assert_eq!(parsed.tensor("b").unwrap().data, &b[..]);
        assert!(parsed.tensor("c").is_none());
    }

    #[test]
    fn hostile_files_are_refused_with_a_typed_error() {
        let one = r#""t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("short length", vec![1, 0, 0]),
            ("header longer than the file", {
                let mut bytes = 1000u64.to_le_bytes().to_vec();
                bytes.extend_from_slice(b"{}");
                bytes
            }),
            (
                "header length near u64::MAX",
                u64::MAX.to_le_bytes().to_vec(),
            ),
            ("not an object", file("[1, 2]", 0)),
            ("not JSON", file("{oops", 0)),
            ("repeated tensor", file(&format!("{{{one},{one}}}"), 8)),
            (
                "unknown dtype",
                file(
                    r#"{"t":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}}"#,
                    2,
                ),
            ),
            (
                "shape and bytes disagree",
                file(
                    r#"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
                    8,
                ),
            ),
            (
                "offsets reversed",
                file(
                    r#"{"t":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}"#,
                    4,
                ),
            ),
            (
                "gap before",
                file(
                    r#"{"t":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}"#,
                    4,
                ),
            ),
            (
                "overlap",
                file(
                    r#"{"s":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"t":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}"#,
                    4,
                ),
            ),
            ("data past the tensors", file(&format!("{{{one}}}"), 9)),
            ("data short of the tensors", file(&format!("{{{one}}}"), 7)),
            (
                "offsets overflow",
                file(
                    r#"{"t":{"dtype":"F64","shape":[4611686018427387904,4],"data_offsets":[0,0]}}"#,
                    0,
                ),
            ),
            (
                "unknown field",
                file(
                    r#"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}}"#,
                    1,
                ),
            ),
            ("metadata not text", file(r#"{"__metadata__":{"a":1}}"#, 0)),
            (
                "negative offset",
                file(
                    r#"{"t":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}"#,
                    1,
                ),
            ),
        ];
        for (what, bytes) in cases {
            match TensorFile::parse(&bytes) {
                Err(error) => assert_eq!(error.code(), "bundle_tensor_syntax", "{what}: {error}"),
                Ok(_) => panic!("{what}: accepted"),
            }
        }
        // An empty file with an empty header is a valid file with no tensors.
        assert_eq!(
            TensorFile::parse(&file("{}", 0)).unwrap().names().count(),
            0
        );
    }
}
