//! Lenient, exact readers for ids and amounts in replies.
//!
//! Platforms send 64-bit ids as JSON numbers in one API and as strings in the next, and ids
//! above 2^53 must never pass through `f64`. These helpers read either form from its decimal
//! text (the workspace enables `serde_json/arbitrary_precision`, so numbers keep their text).
//! Use them with `#[serde(deserialize_with = "...")]`.
//!
//! ```
//! #[derive(serde::Deserialize)]
//! struct Line {
//!     #[serde(deserialize_with = "transport_core::json::u64_lenient")]
//!     id: u64,
//! }
//! let a: Line = serde_json::from_str(r#"{"id": 2198111437768747370}"#).unwrap();
//! let b: Line = serde_json::from_str(r#"{"id": "2198111437768747370"}"#).unwrap();
//! assert_eq!(a.id, 2198111437768747370);
//! assert_eq!(a.id, b.id);
//! ```

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A `u64` from a JSON value that is a number or a string holding one, exactly.
pub fn value_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.to_string().parse().ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An `i64` from a JSON value that is a number or a string holding one, exactly.
pub fn value_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.to_string().parse().ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Deserializes a `u64` from a number or a numeric string.
pub fn u64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = Value::deserialize(d)?;
    value_u64(&v).ok_or_else(|| D::Error::custom(format!("expected a u64, found {v}")))
}

/// Deserializes an `i64` from a number or a numeric string.
pub fn i64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = Value::deserialize(d)?;
    value_i64(&v).ok_or_else(|| D::Error::custom(format!("expected an i64, found {v}")))
}

/// Deserializes an optional `i64` (absent or `null` is `None`) from a number or a numeric
/// string; use with `#[serde(default)]`.
pub fn opt_i64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => value_i64(&v)
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected an i64, found {v}"))),
    }
}

/// A strict reader of JSON text for the fast paths of reply decoders: it reads the usual
/// shape of a platform's reply without building anything, and gives up (`None`) on whatever
/// it does not handle, for the transport's general reader (serde) to decide.
///
/// It accepts a subset of JSON that serde_json accepts too: strings without escapes or
/// control characters, numbers without exponent, `true`, `false`, `null`, arrays and objects
/// nested at most 32 deep, JSON white space. Anything else (an escape, `1e3`, a trailing comma,
/// text that is not JSON) is `None`. A decoder built on it must give, for every text it
/// accepts, exactly what its general reader gives; the transports check that on corpora of
/// replies.
///
/// ```
/// use transport_core::json::Scan;
/// let mut code = None;
/// let mut scan = Scan::new(r#" {"code": 0, "msg": "ok", "extra": [1, {"a": null}]} "#);
/// scan.object(|key, v| {
///     match key {
///         "code" => code = Some(v.integer()?),
///         _ => v.skip()?,
///     }
///     Some(())
/// })
/// .unwrap();
/// assert!(scan.end().is_some());
/// assert_eq!(code, Some(0));
/// assert!(Scan::new(r#""a\"b""#).string().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct Scan<'a> {
    text: &'a str,
    at: usize,
    depth: u32,
}

/// Where the first `"`, `\\` or control character (below 0x20) of `bytes` is: eight bytes at
/// a time (SWAR), then byte by byte.
fn first_quote_escape_or_control(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte of `w` that is zero; exact for the lowest such byte (a borrow
    // can only mark bytes above it).
    let zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGH;
    let mut at = 0;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let Ok(word) = <[u8; 8]>::try_from(word) else {
            unreachable!("chunks_exact(8) gives blocks of 8")
        };
        let w = u64::from_le_bytes(word);
        let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        let found =
            zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\'))) | below_space;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|i| at + i)
}

/// How deep [`Scan`] follows nested arrays and objects.
const SCAN_MAX_DEPTH: u32 = 32;

impl<'a> Scan<'a> {
    /// A reader at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Scan {
            text,
            at: 0,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_white(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.skip_white();
        (self.peek()? == b).then(|| self.at += 1)
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= SCAN_MAX_DEPTH).then_some(())
    }

    /// An object: `member(key, reader)` is called for each member in order with the reader
    /// at the member's value, which it must read (or [`skip`](Self::skip)). Keys are
    /// handed over as they are; a caller that needs them unique checks that itself.
    pub fn object(
        &mut self,
        mut member: impl FnMut(&'a str, &mut Self) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        self.enter()?;
        self.skip_white();
        if self.peek()? == b'}' {
            self.at += 1;
        } else {
            loop {
                let key = self.string()?;
                self.eat(b':')?;
                member(key, self)?;
                self.skip_white();
                match self.peek()? {
                    b',' => self.at += 1,
                    b'}' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    fn array(&mut self) -> Option<()> {
        self.eat(b'[')?;
        self.enter()?;
        self.skip_white();
        if self.peek()? == b']' {
            self.at += 1;
        } else {
            loop {
                self.skip()?;
                self.skip_white();
                match self.peek()? {
                    b',' => self.at += 1,
                    b']' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// A string without escapes or control characters, as it is in the text.
    pub fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let rest = self.text.as_bytes().get(start..)?;
        let len = first_quote_escape_or_control(rest)?;
        if rest[len] != b'"' {
            return None;
        }
        self.at = start + len + 1;
        // Both ends are at an ASCII quote, so on character boundaries.
        self.text.get(start..start + len)
    }

    /// Whether a string is next.
    pub fn at_string(&mut self) -> bool {
        self.skip_white();
        self.peek() == Some(b'"')
    }

    /// The text of a number without exponent: `-?(0|[1-9][0-9]*)(\.[0-9]+)?`.
    pub fn number(&mut self) -> Option<&'a str> {
        self.skip_white();
        let start = self.at;
        let bytes = self.text.as_bytes();
        let digits = |at: &mut usize| {
            let from = *at;
            while let Some(b'0'..=b'9') = bytes.get(*at) {
                *at += 1;
            }
            *at - from
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                digits(&mut self.at);
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if digits(&mut self.at) == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            return None;
        }
        self.text.get(start..self.at)
    }

    /// An integer in `i64` range, written without fraction or exponent; `-0` is refused
    /// (platforms' readers differ on it).
    pub fn integer(&mut self) -> Option<i64> {
        self.skip_white();
        let bytes = self.text.as_bytes();
        let mut at = self.at;
        let negative = bytes.get(at) == Some(&b'-');
        if negative {
            at += 1;
        }
        let first = at;
        let mut magnitude: u64 = 0;
        while let Some(&d @ b'0'..=b'9') = bytes.get(at) {
            magnitude = magnitude
                .checked_mul(10)?
                .checked_add(u64::from(d - b'0'))?;
            at += 1;
        }
        let digits = at - first;
        // No digits, a leading zero, `-0`, or a fraction or exponent next: not for this reader.
        if digits == 0
            || (digits > 1 && bytes[first] == b'0')
            || (negative && magnitude == 0)
            || matches!(bytes.get(at), Some(b'.' | b'e' | b'E'))
        {
            return None;
        }
        let value = if negative {
            0_i64.checked_sub_unsigned(magnitude)?
        } else {
            i64::try_from(magnitude).ok()?
        };
        self.at = at;
        Some(value)
    }

    /// `true` or `false`.
    pub fn boolean(&mut self) -> Option<bool> {
        self.skip_white();
        let rest = self.text.get(self.at..)?;
        if rest.starts_with("true") {
            self.at += 4;
            Some(true)
        } else if rest.starts_with("false") {
            self.at += 5;
            Some(false)
        } else {
            None
        }
    }

    /// Reads `null` if it is next; false (and nothing read) otherwise.
    pub fn null(&mut self) -> bool {
        self.skip_white();
        let is_null = self
            .text
            .get(self.at..)
            .is_some_and(|r| r.starts_with("null"));
        if is_null {
            self.at += 4;
        }
        is_null
    }

    /// Any value, checked and passed over.
    pub fn skip(&mut self) -> Option<()> {
        self.skip_white();
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|_, v| v.skip()),
            b'[' => self.array(),
            b't' | b'f' => self.boolean().map(drop),
            b'n' => self.null().then_some(()),
            _ => self.number().map(drop),
        }
    }

    /// The end of the text: nothing but white space left.
    pub fn end(mut self) -> Option<()> {
        self.skip_white();
        (self.at == self.text.len()).then_some(())
    }
}

/// Every body one byte away from `seed`: each byte deleted, and each of a set of bytes
/// that matter to JSON inserted before it or put in its place. For the tests that hold a fast
/// path (such as one built on [`Scan`]) to the general reader it stands in front of.
///
/// Test support only, not part of the API: hidden from the docs, and it goes with this module
/// once the transports read replies with serde alone (issue 13).
#[doc(hidden)]
pub fn one_byte_mutations(seed: &[u8]) -> Vec<Vec<u8>> {
    let bytes = b"\"\\,:{}[]0-.e nt\x01\xff";
    let mut out = Vec::new();
    for i in 0..=seed.len() {
        if i < seed.len() {
            let mut m = seed.to_vec();
            m.remove(i);
            out.push(m);
        }
        for &b in bytes {
            let mut m = seed.to_vec();
            m.insert(i, b);
            out.push(m);
            if i < seed.len() {
                let mut m = seed.to_vec();
                m[i] = b;
                out.push(m);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether [`Scan`] reads `text` as one value.
    fn scans(text: &str) -> bool {
        let mut scan = Scan::new(text);
        scan.skip().is_some() && scan.end().is_some()
    }

    #[test]
    fn scan_accepts_only_json_that_serde_json_accepts() {
        let accepted = [
            r#"{}"#,
            r#" { "a" : [ ] , "b" : { } } "#,
            r#"{"a":"é ","b":-0.5,"c":[true,false,null,0,10,-7,"x"]}"#,
            "[1]",
            "\"\"",
            "\t\r\n0\n",
        ];
        let refused = [
            "",
            "{",
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":-}"#,
            r#"{"a":1e3}"#,
            r#"{"a":"\n"}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":tru}"#,
            r#"{"a":nul}"#,
            r#"{a:1}"#,
            r#"[1,]"#,
            r#"{} x"#,
            "\u{feff}{}",
        ];
        for t in accepted {
            assert!(scans(t), "{t:?}");
            assert!(serde_json::from_str::<Value>(t).is_ok(), "{t:?}");
        }
        for t in refused {
            assert!(!scans(t), "{t:?}");
        }
        let deep = format!("{}{}", "[".repeat(33), "]".repeat(33));
        assert!(!scans(&deep));
        assert!(scans(&format!("{}{}", "[".repeat(32), "]".repeat(32))));
    }

    #[test]
    fn special_bytes_are_found_where_they_first_are() {
        let expected = |b: &[u8]| b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
        for len in 0..40 {
            let base: Vec<u8> = "aé~ 价\x7f".bytes().cycle().take(len).collect();
            assert_eq!(
                first_quote_escape_or_control(&base),
                expected(&base),
                "{len}"
            );
            for at in 0..len {
                for special in [b'"', b'\\', 0, 0x1f, b'\n'] {
                    let mut b = base.clone();
                    b[at] = special;
                    assert_eq!(
                        first_quote_escape_or_control(&b),
                        expected(&b),
                        "{len} {at}"
                    );
                    if at + 3 < len {
                        b[at + 3] = b'"';
                        assert_eq!(first_quote_escape_or_control(&b), expected(&b));
                    }
                }
            }
        }
    }

    #[test]
    fn scan_reads_integers_exactly_or_not_at_all() {
        let int = |t: &str| Scan::new(t).integer();
        assert_eq!(int("9223372036854775807"), Some(i64::MAX));
        assert_eq!(int("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(int("9223372036854775808"), None);
        assert_eq!(int("-0"), None);
        assert_eq!(int("1.0"), None);
        assert_eq!(int("0"), Some(0));
    }

    #[test]
    fn exact_above_2_pow_53_in_both_forms() {
        let n: Value = serde_json::from_str("18446744073709551615").unwrap();
        assert_eq!(value_u64(&n), Some(u64::MAX));
        let n: Value = serde_json::from_str("9007199254740993").unwrap();
        assert_eq!(value_u64(&n), Some(9_007_199_254_740_993));
        assert_eq!(
            value_u64(&Value::String(" 58218860983545941 ".into())),
            Some(58_218_860_983_545_941)
        );
        assert_eq!(value_i64(&serde_json::from_str("-20").unwrap()), Some(-20));
        assert_eq!(value_u64(&serde_json::from_str("1.5").unwrap()), None);
        assert_eq!(value_u64(&Value::Bool(true)), None);
    }

    #[test]
    fn optional_form() {
        #[derive(serde::Deserialize)]
        struct R {
            #[serde(default, deserialize_with = "opt_i64_lenient")]
            v: Option<i64>,
        }
        assert_eq!(serde_json::from_str::<R>("{}").unwrap().v, None);
        assert_eq!(serde_json::from_str::<R>(r#"{"v":null}"#).unwrap().v, None);
        assert_eq!(
            serde_json::from_str::<R>(r#"{"v":"7"}"#).unwrap().v,
            Some(7)
        );
        assert!(serde_json::from_str::<R>(r#"{"v":"x"}"#).is_err());
    }
}
