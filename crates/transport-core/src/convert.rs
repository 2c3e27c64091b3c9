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
    text.trim().parse::<u64>().map_err(|_| {
        invalid_request(format!(
            "order {order}: {field} `{text}` is not a {platform} numeric id"
        ))
    })
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
