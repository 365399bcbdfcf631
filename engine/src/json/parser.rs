//! JSON text to [`Value`]: the engine's own parser (RFC 8259).
//!
//! It replaces serde_json's deserializer in the engine's reading path, which
//! in the browser's wasm module cost its parser, its visitor machinery and its
//! error type (about 4 KB gzipped) for what is a few hundred lines here.
//!
//! What it accepts and what it makes of it are serde_json's (without its
//! `float_roundtrip` feature), which the engine used before and still writes
//! with; a property test compares the two on random documents
//! (`tests/props.rs`):
//!
//! - an integer without fraction or exponent that fits a u64 is
//!   [`Value::Unsigned`], a negative one that fits an i64 is
//!   [`Value::Negative`], any other number [`Value::Float`] (`-0` too);
//! - a float is its decimal significand (the first 19 or so digits; the
//!   rest only scale it) as an f64, times or over the power of ten rounded
//!   to an f64: correctly rounded for up to 15 significant digits and
//!   exponents within ±22, which is every number the engine's writers
//!   produce, and bit for bit serde_json's reading everywhere;
//! - a number too large for an f64 is refused, one too small is zero;
//! - strings must be UTF-8 without control characters, escapes are the six
//!   of JSON plus `\uXXXX` with paired surrogates (a lone one is refused);
//! - whitespace is space, tab, line feed and carriage return; anything after
//!   the value but whitespace is refused;
//! - arrays and objects nest at most [`MAX_DEPTH`] levels deep, so hostile
//!   input cannot exhaust the stack.
//!
//! Errors say what was wrong and where, as "… at line L column C".

use super::{JsonError, Value};

/// How many arrays and objects may enclose a value (serde_json's limit too).
pub const MAX_DEPTH: usize = 127;

/// Powers of ten that an f64 holds exactly.
const EXACT_POWERS: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Parses bytes as one JSON value.
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut parser = Parser {
        bytes,
        at: 0,
        depth: 0,
    };
    let value = parser.value()?;
    parser.skip_whitespace();
    if parser.at < bytes.len() {
        return Err(parser.error("trailing characters"));
    }
    Ok(value)
}

struct Parser<'a> {
    bytes: &'a [u8],
    /// The next byte to read.
    at: usize,
    /// How many arrays and objects enclose the value being read.
    depth: usize,
}

impl Parser<'_> {
    /// A syntax error at the current position.
    fn error(&self, problem: &str) -> JsonError {
        let before = &self.bytes[..self.at.min(self.bytes.len())];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let column = 1 + before.iter().rev().take_while(|&&b| b != b'\n').count();
        JsonError {
            syntax: true,
            ..JsonError::new(format!("{problem} at line {line} column {column}"))
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// The next byte, consumed.
    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Result<Value, JsonError> {
        self.skip_whitespace();
        match self.peek() {
            None => Err(self.error("the text ends before a value")),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a value")),
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, JsonError> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("expected a value"))
        }
    }

    /// The elements of an array or object (its opening byte is next), each
    /// read by `element`, up to the `close` byte.
    fn elements(
        &mut self,
        close: u8,
        expected: &str,
        mut element: impl FnMut(&mut Self) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        if self.depth == MAX_DEPTH {
            return Err(self.error("arrays and objects nest too deeply"));
        }
        self.depth += 1;
        self.at += 1;
        self.skip_whitespace();
        if self.peek() == Some(close) {
            self.at += 1;
        } else {
            loop {
                element(self)?;
                if !self.separator(close, expected)? {
                    break;
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// After an element: true when another follows, false at `close`.
    fn separator(&mut self, close: u8, expected: &str) -> Result<bool, JsonError> {
        self.skip_whitespace();
        match self.next() {
            Some(b',') => Ok(true),
            Some(byte) if byte == close => Ok(false),
            None => Err(self.error("the text ends inside an array or object")),
            Some(_) => {
                self.at -= 1;
                Err(self.error(expected))
            }
        }
    }

    fn array(&mut self) -> Result<Value, JsonError> {
        let mut elements = Vec::new();
        self.elements(b']', "expected `,` or `]`", |parser| {
            elements.push(parser.value()?);
            Ok(())
        })?;
        Ok(Value::Array(elements))
    }

    fn object(&mut self) -> Result<Value, JsonError> {
        let mut entries = Vec::new();
        self.elements(b'}', "expected `,` or `}`", |parser| {
            parser.skip_whitespace();
            if parser.peek() != Some(b'"') {
                return Err(parser.error("expected a key (a string)"));
            }
            let key = parser.string()?;
            parser.skip_whitespace();
            if parser.next() != Some(b':') {
                parser.at -= 1;
                return Err(parser.error("expected `:`"));
            }
            entries.push((key, parser.value()?));
            Ok(())
        })?;
        super::object(entries).map_err(|problem| self.error(&problem))
    }

    /// A string (its opening quote is next).
    fn string(&mut self) -> Result<String, JsonError> {
        self.at += 1;
        let mut text: Vec<u8> = Vec::new();
        loop {
            let start = self.at;
            while let Some(byte) = self.peek() {
                if byte == b'"' || byte == b'\\' || byte < 0x20 {
                    break;
                }
                self.at += 1;
            }
            text.extend_from_slice(&self.bytes[start..self.at]);
            match self.next() {
                Some(b'"') => break,
                Some(b'\\') => self.escape(&mut text)?,
                Some(_) => {
                    self.at -= 1;
                    return Err(self.error("a control character in a string"));
                }
                None => return Err(self.error("the text ends inside a string")),
            }
        }
        String::from_utf8(text).map_err(|_| self.error("a string is not UTF-8"))
    }

    /// One escape (after its backslash), appended to `text` as UTF-8.
    fn escape(&mut self, text: &mut Vec<u8>) -> Result<(), JsonError> {
        let byte = match self.next() {
            Some(b'"') => b'"',
            Some(b'\\') => b'\\',
            Some(b'/') => b'/',
            Some(b'b') => 0x08,
            Some(b'f') => 0x0c,
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(b'u') => {
                let unit = self.hex4()?;
                let code = match unit {
                    0xD800..=0xDBFF => {
                        if !self.bytes[self.at..].starts_with(b"\\u") {
                            return Err(self.error("a lone surrogate in a \\u escape"));
                        }
                        self.at += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(self.error("a lone surrogate in a \\u escape"));
                        }
                        0x1_0000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    0xDC00..=0xDFFF => {
                        return Err(self.error("a lone surrogate in a \\u escape"));
                    }
                    _ => unit,
                };
                // Every value left is a scalar value: surrogates were paired.
                let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                text.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                return Ok(());
            }
            _ => return Err(self.error("an invalid escape")),
        };
        text.push(byte);
        Ok(())
    }

    /// The four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut unit = 0;
        for _ in 0..4 {
            let digit = match self.next() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(self.error("an invalid \\u escape")),
            };
            unit = unit * 16 + u32::from(digit);
        }
        Ok(unit)
    }

    /// The digits at the current position as `significand` continued: how
    /// many there were, and how many did not fit a u64 (they only scale).
    fn digits(&mut self, significand: &mut u64) -> (i32, i32) {
        let (mut count, mut dropped) = (0, 0);
        while let Some(byte @ b'0'..=b'9') = self.peek() {
            self.at += 1;
            count += 1;
            let digit = u64::from(byte - b'0');
            match significand
                .checked_mul(10)
                .and_then(|s| s.checked_add(digit))
            {
                Some(next) if dropped == 0 => *significand = next,
                _ => dropped += 1,
            }
        }
        (count, dropped)
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let positive = self.peek() != Some(b'-');
        if !positive {
            self.at += 1;
        }
        let mut significand = 0;
        let integer_start = self.at;
        let (integer_digits, mut exponent) = self.digits(&mut significand);
        if integer_digits == 0 {
            return Err(self.error("an invalid number"));
        }
        if integer_digits > 1 && self.bytes[integer_start] == b'0' {
            self.at = integer_start + 1;
            return Err(self.error("an invalid number (a leading zero)"));
        }
        let mut float = exponent != 0;
        if self.peek() == Some(b'.') {
            self.at += 1;
            let (fraction_digits, dropped) = self.digits(&mut significand);
            if fraction_digits == 0 {
                return Err(self.error("an invalid number (no digit after `.`)"));
            }
            exponent -= fraction_digits - dropped;
            float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            let positive_exponent = match self.peek() {
                Some(b'-') => {
                    self.at += 1;
                    false
                }
                Some(b'+') => {
                    self.at += 1;
                    true
                }
                _ => true,
            };
            let mut written = 0u64;
            let (exponent_digits, dropped) = self.digits(&mut written);
            if exponent_digits == 0 {
                return Err(self.error("an invalid number (no digit in the exponent)"));
            }
            let written = if dropped > 0 {
                i32::MAX
            } else {
                i32::try_from(written).unwrap_or(i32::MAX)
            };
            exponent = if positive_exponent {
                exponent.saturating_add(written)
            } else {
                exponent.saturating_sub(written)
            };
            float = true;
        }
        if !float {
            return Ok(if positive {
                Value::Unsigned(significand)
            } else {
                match 0i64.checked_sub_unsigned(significand) {
                    Some(negative) if negative < 0 => Value::Negative(negative),
                    _ => Value::Float(-(significand as f64)),
                }
            });
        }
        let magnitude =
            scale(significand, exponent).ok_or_else(|| self.error("a number out of range"))?;
        Ok(Value::Float(if positive { magnitude } else { -magnitude }))
    }
}

/// `significand · 10^exponent` as serde_json computes it: the significand as
/// an f64 times or over the power of ten rounded to an f64, and over 1e308
/// as often as the exponent needs below -308; `None` when it overflows.
fn scale(significand: u64, mut exponent: i32) -> Option<f64> {
    let mut x = significand as f64;
    while exponent < -MAX_POWER {
        // Not only a shortcut: an exponent of -2^31 would loop millions of
        // times, but any significand is zero after three divisions.
        if x == 0.0 {
            return Some(x);
        }
        x /= power_of_ten(MAX_POWER);
        exponent += MAX_POWER;
    }
    if x == 0.0 {
        return Some(x);
    }
    if exponent > MAX_POWER {
        return None;
    }
    if exponent >= 0 {
        x *= power_of_ten(exponent);
    } else {
        x /= power_of_ten(-exponent);
    }
    x.is_finite().then_some(x)
}

/// The largest power of ten below f64::MAX.
const MAX_POWER: i32 = 308;

/// 10^n rounded to the nearest f64 (ties to even), for n in 0..=308: what
/// the literal `1eN` is. Beyond the exact powers it is 5^n, computed exactly
/// in a small big integer and rounded, times 2^n; a few microseconds, on a
/// path only exponents beyond ±22 take. (serde_json keeps a table of all 309,
/// 2.5 KB the browser's module does not need.)
fn power_of_ten(n: i32) -> f64 {
    let n = n.clamp(0, MAX_POWER) as usize;
    if let Some(&exact) = EXACT_POWERS.get(n) {
        return exact;
    }
    // 5^n in little-endian 32-bit limbs.
    let mut limbs: Vec<u32> = vec![1];
    for _ in 0..n {
        let mut carry = 0u64;
        for limb in &mut limbs {
            let product = u64::from(*limb) * 5 + carry;
            *limb = product as u32;
            carry = product >> 32;
        }
        if carry > 0 {
            limbs.push(carry as u32);
        }
    }
    // Its top 64 bits, and whether any bit below them is set.
    let top_limb = limbs.len() - 1;
    let lead = limbs[top_limb].leading_zeros();
    let bits = 32 * limbs.len() as u32 - lead;
    let limb = |i: usize| limbs.get(i).map_or(0u64, |&l| u64::from(l));
    let window = (limb(top_limb) << 32 | limb(top_limb.wrapping_sub(1))) << lead;
    let next = limb(top_limb.wrapping_sub(2)) << lead;
    let top = window | next >> 32;
    let below_window =
        (next as u32) != 0 || limbs[..top_limb.saturating_sub(2)].iter().any(|&l| l != 0);
    // 53 bits of mantissa, rounded to nearest, ties to even.
    let mut mantissa = top >> 11;
    let rest = top & 0x7ff;
    let round_up = rest > 0x400 || (rest == 0x400 && (below_window || mantissa & 1 == 1));
    if round_up {
        mantissa += 1;
    }
    // mantissa · 2^(bits - 53) · 2^n, each factor exact (5^308 < 2^716).
    let scale_bits = bits as i32 - 53 + n as i32;
    mantissa as f64 * f64::from_bits(((1023 + scale_bits) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reading the engine had before: serde_json's parser through the
    /// strict visitor (repeated keys refused), trailing text refused.
    fn serde_reading(bytes: &[u8]) -> Option<Value> {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let value = Value::deserialize_strict(&mut deserializer).ok()?;
        deserializer.end().ok()?;
        Some(value)
    }

    /// Equal, with floats compared bit for bit (so `-0.0` is not `0.0`).
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
            (Value::Array(xs), Value::Array(ys)) => {
                xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
            }
            (Value::Object(xs), Value::Object(ys)) => {
                xs.len() == ys.len()
                    && xs
                        .iter()
                        .zip(ys)
                        .all(|((kx, x), (ky, y))| kx == ky && same(x, y))
            }
            _ => a == b,
        }
    }

    fn agrees(text: &[u8]) -> Result<(), String> {
        let ours = parse(text);
        let theirs = serde_reading(text);
        match (&ours, &theirs) {
            (Ok(a), Some(b)) if same(a, b) => Ok(()),
            (Err(error), None) if error.is_syntax() => Ok(()),
            _ => Err(format!(
                "{:?}: ours {ours:?}, serde_json {theirs:?}",
                String::from_utf8_lossy(text)
            )),
        }
    }

    #[test]
    fn it_reads_what_serde_json_read() {
        let cases: &[&str] = &[
            "0",
            "-0",
            "-0.0",
            "7",
            "-7",
            "1.5",
            "-1.5e3",
            "2E-2",
            "1e+2",
            "0.1",
            "0.30000000000000004",
            "123456789012345678901234567890",
            "1.23456789012345678901234567890",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1e308",
            "1.7976931348623157e308",
            "5e-324",
            "1e-400",
            "-1e-400",
            "1e-99999999999",
            "-5e-2147483648",
            "0e99999999999",
            "1e22",
            "3.0e-22",
            "true",
            "false",
            "null",
            r#""""#,
            r#""a\"b\\c\/d\b\f\n\r\t""#,
            r#""\u00e9\u20AC\ud83d\ude00""#,
            "\"é€😀\"",
            "[]",
            "[ ]",
            "{}",
            " { } ",
            r#"{"b":1,"a":[true,null,{"c":"d"}]}"#,
            " \t\r\n[1 , 2 ]\n",
            // Refused, by both.
            "",
            " ",
            "01",
            "-",
            "-a",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "1e400",
            "-1e400",
            "1e99999999999",
            "tru",
            "truex",
            "nul",
            "[1,]",
            "[1 2]",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "{1:2}",
            "{\"a\":1,\"a\":2}",
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\ud800\u0041""#,
            r#""\x""#,
            r#""\u12""#,
            "\"a\u{1}b\"",
            "\"abc",
            "[1",
            "{\"a\":",
            "1 2",
            "[]]",
            "NaN",
            "Infinity",
            "\u{feff}1",
        ];
        for case in cases {
            agrees(case.as_bytes()).unwrap();
        }
        // Not UTF-8 inside and outside a string.
        agrees(b"\"\xff\"").unwrap();
        agrees(b"\xff").unwrap();
    }

    #[test]
    fn nesting_is_limited_and_never_exhausts_the_stack() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(parse(nested(MAX_DEPTH).as_bytes()).is_ok());
        let error = parse(nested(MAX_DEPTH + 1).as_bytes()).unwrap_err();
        assert!(
            error.is_syntax() && error.problem.contains("too deeply"),
            "{error}"
        );
        agrees(nested(MAX_DEPTH).as_bytes()).unwrap();
        agrees(nested(MAX_DEPTH + 1).as_bytes()).unwrap();
        // Hostile: a megabyte of openings.
        assert!(parse("[{\"a\":".repeat(200_000).as_bytes()).is_err());
    }

    #[test]
    fn powers_of_ten_are_the_literals() {
        for n in 0..=MAX_POWER {
            let literal: f64 = format!("1e{n}").parse().unwrap();
            assert_eq!(power_of_ten(n).to_bits(), literal.to_bits(), "10^{n}");
        }
    }

    #[test]
    fn errors_say_where() {
        let error = parse(b"{\n  \"a\": [1, 2,, 3]\n}").unwrap_err();
        assert_eq!(error.problem, "expected a value at line 2 column 14");
        assert_eq!(
            parse(b"[1] x").unwrap_err().problem,
            "trailing characters at line 1 column 5"
        );
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod props {
        use super::agrees;
        use proptest::prelude::*;

        /// Pieces of JSON text, valid and not, to be strung together.
        fn token() -> impl Strategy<Value = &'static str> {
            prop::sample::select(vec![
                "{",
                "}",
                "[",
                "]",
                ",",
                ":",
                " ",
                "\n",
                "\"a\"",
                "\"b\"",
                "\"\\u00e9\"",
                "\"\\ud83d\\ude00\"",
                "\"\\ud800\"",
                "\"\\n\"",
                "\"\u{1}\"",
                "\"é\"",
                "\"",
                "\\",
                "0",
                "1",
                "-",
                "-0",
                "01",
                "1.",
                ".5",
                "1.5",
                "2e3",
                "1e-7",
                "e",
                "E+",
                "18446744073709551616",
                "-9223372036854775809",
                "1e400",
                "1e-400",
                "0.30000000000000004",
                "true",
                "false",
                "null",
                "nul",
                "x",
            ])
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4000))]

            #[test]
            fn token_soup_reads_as_serde_json_read_it(
                tokens in prop::collection::vec(token(), 1..24)
            ) {
                let text = tokens.concat();
                prop_assert!(agrees(text.as_bytes()).is_ok(), "{}", agrees(text.as_bytes()).unwrap_err());
            }

            #[test]
            fn numbers_read_as_serde_json_read_them(
                significand in any::<u64>(),
                fraction in 0u32..30,
                exponent in -330i32..330,
                negative in any::<bool>(),
            ) {
                let digits = significand.to_string();
                let split = digits.len().saturating_sub(fraction as usize).max(1);
                let (integer, decimals) = digits.split_at(split);
                let sign = if negative { "-" } else { "" };
                let point = if decimals.is_empty() { String::new() } else { format!(".{decimals}") };
                for text in [
                    format!("{sign}{integer}{point}"),
                    format!("{sign}{integer}{point}e{exponent}"),
                    format!("{sign}0.{digits}E+{}", exponent.rem_euclid(30)),
                ] {
                    prop_assert!(agrees(text.as_bytes()).is_ok(), "{}", agrees(text.as_bytes()).unwrap_err());
                }
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
                let _ = super::super::parse(&bytes);
            }
        }
    }
}
