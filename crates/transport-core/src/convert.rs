//! Plan-to-wire conversions every transport needs, with errors that name the order and field.

use std::fmt;

use order_domain::{Money, PlatformError, PlatformErrorKind};

/// An `InvalidRequest` error raised before anything is sent (no platform code).
pub fn invalid_request(message: impl Into<String>) -> PlatformError {
    PlatformError::new(PlatformErrorKind::InvalidRequest, None, message)
}

/// `m` in exact minor units (fen, cents); sub-minor precision or overflow is an
/// `InvalidRequest` naming `order` and `field`.
///
/// `field` is only formatted when there is an error, so a caller can pass
/// `format_args!("line {id} total")` without building a string for every call.
pub fn minor_units(m: Money, field: impl fmt::Display, order: &str) -> Result<i64, PlatformError> {
    m.to_minor()
        .map_err(|e| invalid_request(format!("order {order}: {field}: {e}")))
}

/// A platform id sent as a 64-bit integer, parsed exactly from its text (never through a
/// float); anything else is an `InvalidRequest` naming `order`, `field` and the platform.
///
/// Like [`minor_units`], `field` is only formatted for the error.
pub fn numeric_id(
    text: &str,
    field: impl fmt::Display,
    order: &str,
    platform: &str,
) -> Result<u64, PlatformError> {
    if let Some(n) = plain_digits(text.as_bytes()) {
        return Ok(n);
    }
    text.trim().parse::<u64>().map_err(|_| {
        invalid_request(format!(
            "order {order}: {field} `{text}` is not a {platform} numeric id"
        ))
    })
}

/// The value of 1 to 19 ASCII digits (always a `u64`), eight at a time; none for anything
/// else. Ids nearly always are such text, so `trim` and `parse` are left for the rest.
fn plain_digits(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    let head = b.len() % 8;
    let mut n = 0;
    for &d in &b[..head] {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(d - b'0');
    }
    for chunk in b[head..].chunks_exact(8) {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(chunk);
        n = n * 100_000_000 + eight_digits(u64::from_le_bytes(bytes))?;
    }
    Some(n)
}

/// Eight ASCII digits read as one little-endian word, combined pairwise (SWAR).
fn eight_digits(word: u64) -> Option<u64> {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    // Every byte is 0x30..=0x39: its high nibble is 3, and adding 6 does not carry into it.
    if word & HIGH != ZEROS || word.wrapping_add(0x0606_0606_0606_0606) & HIGH != ZEROS {
        return None;
    }
    let d = word - ZEROS;
    let pairs = (d * 10 + (d >> 8)) & 0x00FF_00FF_00FF_00FF;
    let quads = (pairs * 100 + (pairs >> 16)) & 0x0000_FFFF_0000_FFFF;
    Some((quads * 10_000 + (quads >> 32)) & 0xFFFF_FFFF)
}

#[cfg(test)]
mod tests {
    use order_domain::Currency;

    use super::*;

    #[test]
    fn conversions_are_exact_and_errors_name_order_and_field() {
        assert_eq!(
            numeric_id("2198111437768747370", "order_id", "o1", "1688"),
            Ok(2_198_111_437_768_747_370)
        );
        let e = numeric_id("E-1", "entry", "o1", "1688").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid_request: order o1: entry `E-1` is not a 1688 numeric id"
        );
        let m = Money::parse("2.995", Currency::Cny).unwrap();
        let e = minor_units(m, "lines[L1]", "o1").unwrap_err();
        assert!(e.message().starts_with("order o1: lines[L1]: "), "{e}");
        assert_eq!(
            minor_units(Money::parse("2.99", Currency::Cny).unwrap(), "x", "o"),
            Ok(299)
        );
        for text in [
            "0",
            "007",
            "9999999999999999999",
            "18446744073709551615",
            " 12 ",
            "+5",
        ] {
            assert_eq!(
                numeric_id(text, "f", "o", "p").ok(),
                text.trim().parse::<u64>().ok(),
                "{text}"
            );
        }
        let mut texts: Vec<String> = Vec::new();
        for len in 1..=21 {
            let digits: String = "9081726354".chars().cycle().skip(len).take(len).collect();
            texts.push(digits.clone());
            for (i, c) in ["/", ":", " ", "a", "\u{0}", "é"].iter().enumerate() {
                let at = (len * 7 + i) % len;
                let mut t = digits.clone();
                t.replace_range(at..at + 1, c);
                texts.push(t);
            }
        }
        for t in &texts {
            assert_eq!(
                numeric_id(t, "f", "o", "p").ok(),
                t.trim().parse::<u64>().ok(),
                "{t:?}"
            );
        }
        for bad in ["", "18446744073709551616", "-1", "1.0", "1 2", "１２"] {
            assert!(numeric_id(bad, "f", "o", "p").is_err(), "{bad}");
        }
        let lid = "L1";
        let e = numeric_id("x", format_args!("line {lid} entry id"), "o1", "1688").unwrap_err();
        assert_eq!(
            e.message(),
            "order o1: line L1 entry id `x` is not a 1688 numeric id"
        );
    }
}
