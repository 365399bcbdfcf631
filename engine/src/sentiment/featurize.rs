//! The one tokenizer and featurizer of review text, shared by the trainer and
//! the engine so that the two can never drift apart.
//!
//! Text becomes a sparse vector of hashed n-gram counts:
//!
//! 1. **Bounding.** Only the first [`FeaturizerSpec::max_chars`] characters
//!    are read (the result says when text was cut), and words longer than
//!    [`MAX_WORD_CHARS`] contribute only their first characters to character
//!    n-grams, so the work is bounded for any input size.
//! 2. **Normalising.** Characters are lower-cased with Unicode's rules
//!    (`char::to_lowercase`); apostrophes (`'`, `’`) are dropped inside words
//!    (`don't` → `dont`); control characters, zero-width joiners and variation
//!    selectors are ignored.
//! 3. **Tokenising.** A word is a run of Unicode alphanumeric characters (any
//!    script; a run of Chinese or Japanese is one word, which the character
//!    n-grams then split). Every other non-space character (`!`, `?`, an
//!    emoji) is a token of its own.
//! 4. **Hashing.** Word n-grams (1 to [`FeaturizerSpec::word_ngrams`] tokens)
//!    and character n-grams of each word wrapped as `<word>`
//!    ([`FeaturizerSpec::char_ngram_min`] to `char_ngram_max` characters) are
//!    hashed (FNV-1a, then a murmur3 finaliser, with a distinct seed per kind
//!    of feature) into `2^hash_bits` buckets.
//! 5. **Weighting.** Each bucket's count c becomes 1 + ln c, and the vector is
//!    scaled to unit Euclidean length.
//!
//! Everything is integer work or f64 arithmetic in a fixed order, so a native
//! build and a wasm build give the same bits.

use serde::Serialize;

use crate::Error;

/// Words longer than this many characters only give character n-grams of
/// their first `MAX_WORD_CHARS` characters.
pub const MAX_WORD_CHARS: usize = 48;

/// The largest `max_chars` a bundle may ask for.
pub const MAX_INPUT_CHARS: usize = 65_536;

/// The largest `hash_bits` a bundle may ask for (2^24 buckets).
pub const MAX_HASH_BITS: u32 = 24;

/// The longest word and character n-grams a bundle may ask for.
pub const MAX_NGRAM: usize = 8;

/// How text becomes features. Stored in the sentiment bundle's manifest, so a
/// model always runs with the featurizer it was trained with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeaturizerSpec {
    /// The number of hash buckets is `2^hash_bits`.
    pub hash_bits: u32,
    /// Word n-grams of 1 to this many tokens (0 turns word features off).
    pub word_ngrams: usize,
    /// The shortest character n-gram (0 turns character features off).
    pub char_ngram_min: usize,
    /// The longest character n-gram.
    pub char_ngram_max: usize,
    /// Only the first this many characters of a text are read.
    pub max_chars: usize,
}

impl Default for FeaturizerSpec {
    fn default() -> Self {
        FeaturizerSpec {
            hash_bits: 17,
            word_ngrams: 2,
            char_ngram_min: 3,
            char_ngram_max: 5,
            max_chars: 4096,
        }
    }
}

impl FeaturizerSpec {
    /// The number of hash buckets, `2^hash_bits`.
    pub fn n_buckets(&self) -> usize {
        1usize << self.hash_bits
    }

    /// Checks every value against its limit; a bundle's spec is checked when
    /// it loads.
    pub fn validate(&self) -> Result<(), Error> {
        let field = |name: &str, reason: String| Err(Error::manifest(name, reason));
        if self.hash_bits == 0 || self.hash_bits > MAX_HASH_BITS {
            return field(
                "featurizer.hash_bits",
                format!("{} is not in 1..={MAX_HASH_BITS}", self.hash_bits),
            );
        }
        if self.word_ngrams > MAX_NGRAM {
            return field(
                "featurizer.word_ngrams",
                format!("{} is above {MAX_NGRAM}", self.word_ngrams),
            );
        }
        if self.char_ngram_min > self.char_ngram_max || self.char_ngram_max > MAX_NGRAM {
            return field(
                "featurizer.char_ngram_min",
                format!(
                    "{}..={} is not a range within 0..={MAX_NGRAM}",
                    self.char_ngram_min, self.char_ngram_max
                ),
            );
        }
        if self.word_ngrams == 0 && self.char_ngram_min == 0 {
            return field("featurizer", "no kind of feature is turned on".into());
        }
        if self.max_chars == 0 || self.max_chars > MAX_INPUT_CHARS {
            return field(
                "featurizer.max_chars",
                format!("{} is not in 1..={MAX_INPUT_CHARS}", self.max_chars),
            );
        }
        Ok(())
    }
}

/// A text's sparse feature vector: bucket indices in ascending order, each
/// once, with their weights (unit Euclidean length in total).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    /// Bucket indices, ascending and distinct, each below `2^hash_bits`.
    pub indices: Vec<u32>,
    /// The weight of each bucket, in the order of `indices`.
    pub values: Vec<f64>,
    /// Number of tokens (words and symbols) read.
    pub n_tokens: usize,
    /// Whether the text was longer than `max_chars` and cut.
    pub truncated: bool,
}

/// One token of normalised text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A run of alphanumeric characters, lower-cased.
    Word(String),
    /// A single symbol or punctuation character.
    Symbol(char),
}

impl Token {
    fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Token::Word(word) => std::borrow::Cow::Borrowed(word),
            Token::Symbol(symbol) => std::borrow::Cow::Owned(symbol.to_string()),
        }
    }
}

/// Characters that never form a token: they only shape how others render.
fn is_ignored(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}' | '\u{FE00}'..='\u{FE0F}' | '\u{2060}' | '\u{FEFF}'
        )
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{02BC}')
}

/// Splits text into normalised tokens, reading at most `max_chars`
/// characters. Returns the tokens and whether the text was cut.
fn tokenize(text: &str, max_chars: usize) -> (Vec<Token>, bool) {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut truncated = false;
    for (count, c) in text.chars().enumerate() {
        if count == max_chars {
            truncated = true;
            // A word cut in the middle is dropped rather than read as another word.
            if c.is_alphanumeric() || is_apostrophe(c) {
                word.clear();
            }
            break;
        }
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else if is_apostrophe(c) && !word.is_empty() {
            // Dropped inside a word: "don't" reads as "dont".
        } else if is_ignored(c) {
        } else {
            if !word.is_empty() {
                tokens.push(Token::Word(std::mem::take(&mut word)));
            }
            if !c.is_whitespace() && !is_apostrophe(c) {
                tokens.push(Token::Symbol(c));
            }
        }
    }
    if !word.is_empty() {
        tokens.push(Token::Word(word));
    }
    (tokens, truncated)
}

const SEED_WORD: u32 = 0x9e37_79b9;
const SEED_CHAR: u32 = 0x85eb_ca6b;
const SEPARATOR: u8 = 0x1f;

/// FNV-1a over the parts (separated by a unit separator byte), then the
/// murmur3 finaliser so every bit of the bucket index is mixed.
fn hash_parts<'a>(seed: u32, parts: impl Iterator<Item = &'a [u8]>) -> u32 {
    let mut hash = 0x811c_9dc5u32 ^ seed;
    for (position, part) in parts.enumerate() {
        if position > 0 {
            hash = (hash ^ u32::from(SEPARATOR)).wrapping_mul(0x0100_0193);
        }
        for byte in part {
            hash = (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193);
        }
    }
    hash ^= hash >> 16;
    hash = hash.wrapping_mul(0x85eb_ca6b);
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(0xc2b2_ae35);
    hash ^ (hash >> 16)
}

/// Turns text into its feature vector. Any string gives a result; text with no
/// token (empty, only spaces) gives an empty vector.
pub fn featurize(spec: &FeaturizerSpec, text: &str) -> Features {
    let (tokens, truncated) = tokenize(text, spec.max_chars);
    let mask = (spec.n_buckets() - 1) as u32;
    let mut buckets: Vec<u32> = Vec::new();

    let texts: Vec<std::borrow::Cow<'_, str>> = tokens.iter().map(Token::text).collect();
    for n in 1..=spec.word_ngrams {
        for window in texts.windows(n) {
            let seed = SEED_WORD.wrapping_add(n as u32);
            buckets.push(hash_parts(seed, window.iter().map(|t| t.as_bytes())) & mask);
        }
    }

    if spec.char_ngram_min > 0 {
        let mut wrapped: Vec<char> = Vec::with_capacity(MAX_WORD_CHARS + 2);
        let mut utf8 = [0u8; 4 * MAX_NGRAM];
        for token in &tokens {
            let Token::Word(word) = token else { continue };
            wrapped.clear();
            wrapped.push('<');
            wrapped.extend(word.chars().take(MAX_WORD_CHARS));
            wrapped.push('>');
            for n in spec.char_ngram_min..=spec.char_ngram_max {
                for window in wrapped.windows(n) {
                    let mut len = 0;
                    for c in window {
                        len += c.encode_utf8(&mut utf8[len..]).len();
                    }
                    let seed = SEED_CHAR.wrapping_add(n as u32);
                    buckets.push(hash_parts(seed, std::iter::once(&utf8[..len])) & mask);
                }
            }
        }
    }

    buckets.sort_unstable();
    let mut indices = Vec::new();
    let mut values = Vec::new();
    let mut position = 0;
    while position < buckets.len() {
        let bucket = buckets[position];
        let run = buckets[position..]
            .iter()
            .take_while(|b| **b == bucket)
            .count();
        indices.push(bucket);
        values.push(1.0 + (run as f64).ln());
        position += run;
    }
    let norm = values.iter().map(|v| v * v).sum::<f64>().sqrt();
    if norm > 0.0 {
        for value in &mut values {
            *value /= norm;
        }
    }
    Features {
        indices,
        values,
        n_tokens: tokens.len(),
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        tokenize(text, 1000)
            .0
            .iter()
            .map(|t| t.text().into_owned())
            .collect()
    }

    #[test]
    fn tokens_are_lower_cased_words_and_single_symbols() {
        assert_eq!(
            words("Don't LOVE it!!  Größe 38 😀"),
            ["dont", "love", "it", "!", "!", "größe", "38", "😀"]
        );
        assert_eq!(words("ÉTÉ"), ["été"]);
        // Scripts without spaces form one word; zero-width characters vanish.
        assert_eq!(words("很好看\u{200B}。"), ["很好看", "。"]);
        assert_eq!(words("👍\u{FE0F}"), ["👍"]);
        assert_eq!(words("  \t\n "), Vec::<String>::new());
    }

    #[test]
    fn vectors_are_sorted_distinct_unit_length_and_in_range() {
        let spec = FeaturizerSpec::default();
        for text in ["love love love this dress", "很好看", "😀😀😀", "a", "!"] {
            let features = featurize(&spec, text);
            assert!(!features.indices.is_empty(), "{text}");
            assert!(features.indices.windows(2).all(|w| w[0] < w[1]));
            assert!(features
                .indices
                .iter()
                .all(|i| (*i as usize) < spec.n_buckets()));
            let norm: f64 = features.values.iter().map(|v| v * v).sum();
            assert!((norm - 1.0).abs() < 1e-12, "{text}: {norm}");
        }
        let empty = featurize(&spec, " \u{200B} ");
        assert!(empty.indices.is_empty() && empty.n_tokens == 0);
    }

    #[test]
    fn normalisation_makes_case_and_apostrophes_equal() {
        let spec = FeaturizerSpec::default();
        assert_eq!(
            featurize(&spec, "I DON'T like it"),
            featurize(&spec, "i don’t like it")
        );
        assert_ne!(
            featurize(&spec, "i like it"),
            featurize(&spec, "i dislike it")
        );
    }

    #[test]
    fn huge_text_is_cut_at_max_chars_and_a_cut_word_is_dropped() {
        let spec = FeaturizerSpec {
            max_chars: 10,
            ..FeaturizerSpec::default()
        };
        let features = featurize(&spec, "good dress and more words");
        assert!(features.truncated);
        assert_eq!(
            features,
            Features {
                truncated: true,
                ..featurize(&spec, "good dress")
            }
        );
        let huge = "x".repeat(10_000_000);
        let features = featurize(&FeaturizerSpec::default(), &huge);
        assert!(features.truncated && features.indices.is_empty());
        let long_word = "y".repeat(4000);
        let features = featurize(&FeaturizerSpec::default(), &long_word);
        assert!(!features.truncated);
        // 1 word n-gram, and at most MAX_WORD_CHARS + 2 character n-grams per length.
        assert!(features.indices.len() <= 1 + 3 * (MAX_WORD_CHARS + 2));
    }

    #[test]
    fn specs_out_of_range_are_refused() {
        let good = FeaturizerSpec::default();
        assert!(good.validate().is_ok());
        for bad in [
            FeaturizerSpec {
                hash_bits: 0,
                ..good.clone()
            },
            FeaturizerSpec {
                hash_bits: 25,
                ..good.clone()
            },
            FeaturizerSpec {
                word_ngrams: 9,
                ..good.clone()
            },
            FeaturizerSpec {
                char_ngram_min: 6,
                char_ngram_max: 5,
                ..good.clone()
            },
            FeaturizerSpec {
                word_ngrams: 0,
                char_ngram_min: 0,
                char_ngram_max: 0,
                ..good.clone()
            },
            FeaturizerSpec {
                max_chars: 0,
                ..good.clone()
            },
        ] {
            assert_eq!(
                bad.validate().unwrap_err().code(),
                "bundle_manifest_value",
                "{bad:?}"
            );
        }
    }
}
