//! Content-addressed ids for manifests, computed over the manifest's bytes.
//!
//! A manifest names itself: its `model_id` is a prefix (`"cove-"`,
//! `"cove-sentiment-"`) and [`ID_DIGITS`] lower-case hex digits, the start of
//! the sha256 of the manifest's own bytes with those digits read as `0`s.
//! The manifest pins the tensor file by its sha256, so one id addresses both
//! parts, and changing any byte of the manifest (a weight, a title, even its
//! whitespace) changes the id.
//!
//! The id is found in the bytes as the one JSON string that is the prefix and
//! [`ID_DIGITS`] hex digits. Hashing the bytes as they are, rather than a
//! re-serialization of the parsed manifest (schema 2), keeps the manifest's
//! serializer out of the browser's module and spares the loader rebuilding a
//! large manifest's text just to hash it.

use std::ops::Range;

use sha2::{Digest, Sha256};

use super::manifest::hex;
use crate::Error;

/// Hex digits after the prefix of an id.
pub const ID_DIGITS: usize = 32;

/// Where the id's digits sit in `text`: the range of the only JSON string
/// literal that is `prefix` and [`ID_DIGITS`] lower-case hex digits.
fn id_digits(text: &[u8], prefix: &str) -> Result<Range<usize>, Error> {
    let literal_len = 1 + prefix.len() + ID_DIGITS + 1;
    let mut found: Option<Range<usize>> = None;
    let mut rest = 0;
    while let Some(offset) = text[rest..].iter().position(|b| *b == b'"') {
        let start = rest + offset;
        rest = start + 1;
        let Some(candidate) = text.get(start..start + literal_len) else {
            break;
        };
        let digits = &candidate[1 + prefix.len()..literal_len - 1];
        let is_id = candidate[1..].starts_with(prefix.as_bytes())
            && candidate[literal_len - 1] == b'"'
            && digits
                .iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
        if !is_id {
            continue;
        }
        if found.is_some() {
            return Err(Error::manifest(
                "model_id",
                format!("the manifest holds more than one string of the form {prefix}<{ID_DIGITS} hex digits>"),
            ));
        }
        let digits_start = start + 1 + prefix.len();
        found = Some(digits_start..digits_start + ID_DIGITS);
        // The closing quote cannot open the next string.
        rest = start + literal_len;
    }
    found.ok_or_else(|| {
        Error::manifest(
            "model_id",
            format!("the manifest holds no id of the form {prefix}<{ID_DIGITS} hex digits>"),
        )
    })
}

/// The id the bytes imply, with the digits at `digits` read as `0`s.
fn implied_id(text: &[u8], digits: Range<usize>, prefix: &str) -> String {
    let digest = Sha256::new()
        .chain_update(&text[..digits.start])
        .chain_update([b'0'; ID_DIGITS])
        .chain_update(&text[digits.end..])
        .finalize();
    let mut id = String::from(prefix);
    // The first ID_DIGITS hex digits: those of the first ID_DIGITS / 2 bytes
    // (slicing the hex text instead would link core's string-slicing panic).
    id.push_str(&hex(&digest[..ID_DIGITS / 2]));
    id
}

/// Names a serialized manifest whose `model_id` holds any id of the form
/// `prefix` and [`ID_DIGITS`] hex digits (a placeholder, or the id of the
/// manifest before an edit): writes the id its content implies in place and
/// returns it.
pub fn seal_manifest(text: &mut [u8], prefix: &str) -> Result<String, Error> {
    let digits = id_digits(text, prefix)?;
    let id = implied_id(text, digits.clone(), prefix);
    text[digits].copy_from_slice(&id.as_bytes()[prefix.len()..]);
    Ok(id)
}

/// A placeholder id for a manifest about to be sealed with [`seal_manifest`].
pub fn placeholder_id(prefix: &str) -> String {
    let mut id = String::from(prefix);
    id.push_str(&"0".repeat(ID_DIGITS));
    id
}

/// Checks that `stated`, the manifest's parsed `model_id`, is the id its bytes
/// imply.
pub(crate) fn check_content_id(text: &[u8], prefix: &str, stated: &str) -> Result<(), Error> {
    let digits = id_digits(text, prefix)?;
    let derived = implied_id(text, digits.clone(), prefix);
    let in_text = &text[digits.start - prefix.len()..digits.end];
    if derived != stated || in_text != stated.as_bytes() {
        return Err(Error::ModelIdMismatch {
            stated: stated.to_string(),
            derived,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(text: &str) -> (String, Vec<u8>) {
        let mut bytes = text.as_bytes().to_vec();
        let id = seal_manifest(&mut bytes, "cove-").unwrap();
        (id, bytes)
    }

    #[test]
    fn a_sealed_manifest_checks_and_any_edit_breaks_it() {
        let placeholder = placeholder_id("cove-");
        let (id, bytes) = sealed(&format!(r#"{{"model_id": "{placeholder}", "x": 1.5}}"#));
        assert!(id.starts_with("cove-") && id.len() == 5 + ID_DIGITS);
        assert_ne!(id, placeholder);
        check_content_id(&bytes, "cove-", &id).unwrap();
        // Resealing what is sealed gives the same id: the digits are read as 0s.
        let mut again = bytes.clone();
        assert_eq!(seal_manifest(&mut again, "cove-").unwrap(), id);
        assert_eq!(again, bytes);
        // One byte anywhere else, whitespace included, changes the id.
        for edit in [r#""x": 1.6"#, r#""x":  1.5"#] {
            let text = String::from_utf8(bytes.clone()).unwrap();
            let edited = text.replace(r#""x": 1.5"#, edit);
            let error = check_content_id(edited.as_bytes(), "cove-", &id).unwrap_err();
            assert_eq!(error.code(), "bundle_model_id", "{edit}");
        }
        // A stated id that is not the one in the text is refused.
        let error = check_content_id(&bytes, "cove-", &placeholder).unwrap_err();
        assert_eq!(error.code(), "bundle_model_id");
    }

    #[test]
    fn an_id_missing_or_given_twice_is_refused() {
        let one = placeholder_id("cove-");
        for text in [
            r#"{"model_id": "cove-123"}"#.to_string(),
            format!(r#"{{"model_id": "{}"}}"#, one.to_uppercase()),
            format!(r#"{{"model_id": "{one}", "title": "{one}"}}"#),
            format!(r#"{{"model_id": "{one}"#),
            String::new(),
        ] {
            let error = check_content_id(text.as_bytes(), "cove-", &one).unwrap_err();
            assert_eq!(error.code(), "bundle_manifest_value", "{text}");
            let mut bytes = text.into_bytes();
            assert!(seal_manifest(&mut bytes, "cove-").is_err());
        }
        // Another prefix's id is not this prefix's id.
        let sentiment = placeholder_id("cove-sentiment-");
        let text = format!(r#"{{"model_id": "{sentiment}"}}"#);
        assert!(check_content_id(text.as_bytes(), "cove-", &sentiment).is_err());
        let (id, bytes) = {
            let mut bytes = text.into_bytes();
            let id = seal_manifest(&mut bytes, "cove-sentiment-").unwrap();
            (id, bytes)
        };
        check_content_id(&bytes, "cove-sentiment-", &id).unwrap();
    }
}
