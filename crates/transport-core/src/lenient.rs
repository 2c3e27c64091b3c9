//! Exact, lenient readers for integers that a platform sends as JSON numbers in one reply and
//! as strings in the next. Ids above 2^53 never pass through `f64`: the workspace enables
//! `serde_json/arbitrary_precision`, so a number keeps its decimal text. Use them with
//! `#[serde(deserialize_with = "...")]`.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn parse<T: std::str::FromStr>(v: &Value) -> Option<T> {
    match v {
        Value::Number(n) => n.to_string().parse().ok(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A `u64` from a number or a numeric string.
pub fn u64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = Value::deserialize(d)?;
    parse(&v).ok_or_else(|| D::Error::custom(format!("expected a u64, found {v}")))
}

/// An `i64` from a number or a numeric string.
pub fn i64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = Value::deserialize(d)?;
    parse(&v).ok_or_else(|| D::Error::custom(format!("expected an i64, found {v}")))
}

/// An optional `i64` (absent or `null` is `None`) from a number or a numeric string; use with
/// `#[serde(default)]`.
pub fn opt_i64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => parse(&v)
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected an i64, found {v}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Id {
        #[serde(deserialize_with = "u64_lenient")]
        id: u64,
        #[serde(default, deserialize_with = "opt_i64_lenient")]
        n: Option<i64>,
    }

    #[test]
    fn exact_above_2_pow_53_as_number_or_text() {
        for text in [
            r#"{"id": 9007199254740993}"#,
            r#"{"id": "9007199254740993"}"#,
            r#"{"id": " 9007199254740993 ", "n": null}"#,
        ] {
            let v: Id = serde_json::from_str(text).unwrap();
            assert_eq!(v.id, 9_007_199_254_740_993, "{text}");
            assert_eq!(v.n, None);
        }
        let v: Id = serde_json::from_str(r#"{"id": 18446744073709551615, "n": "-7"}"#).unwrap();
        assert_eq!((v.id, v.n), (u64::MAX, Some(-7)));
        for bad in [
            r#"{"id": 1.5}"#,
            r#"{"id": -1}"#,
            r#"{"id": "x"}"#,
            r#"{"id": 1, "n": true}"#,
        ] {
            assert!(serde_json::from_str::<Id>(bad).is_err(), "{bad}");
        }
    }
}
