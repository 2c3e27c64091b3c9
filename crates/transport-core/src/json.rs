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

/// A JSON object read into `T`, and nothing else: a derived struct alone would also read a
/// JSON array, field by field in order. For typed readers of replies that must be objects.
///
/// ```
/// use transport_core::json::Object;
/// #[derive(serde::Deserialize)]
/// struct R { code: i64 }
/// let r: Object<R> = serde_json::from_str(r#"{"code": 0}"#).unwrap();
/// assert_eq!(r.0.code, 0);
/// assert!(serde_json::from_str::<Object<R>>("[0]").is_err());
/// assert!(serde_json::from_str::<R>("[0]").is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Object<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Object)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A JSON string whose text is not needed: reading it checks the type and keeps nothing.
///
/// ```
/// use transport_core::json::AnyString;
/// assert!(serde_json::from_str::<AnyString>(r#""x\n""#).is_ok());
/// assert!(serde_json::from_str::<AnyString>("1").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnyString;

impl<'de> Deserialize<'de> for AnyString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = AnyString;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<AnyString, E> {
                Ok(AnyString)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
