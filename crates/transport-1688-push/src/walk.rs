//! A small typed reader over a parsed JSON value that knows where it is (JSON path), reads
//! numbers from their literal text (the workspace enables serde_json's `arbitrary_precision`),
//! treats `null` as absent and records every tolerance as a [`Repair`].

use order_domain::{Currency, MessageError, Money};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::repair::{Repair, RepairKind};
use crate::time::PlatformTime;

pub(crate) fn malformed(at: impl Into<String>, reason: impl Into<String>) -> MessageError {
    MessageError::Malformed {
        at: at.into(),
        reason: reason.into(),
    }
}

/// Repairs recorded while reading.
#[derive(Debug, Default)]
pub(crate) struct Log {
    pub(crate) repairs: Vec<Repair>,
}

impl Log {
    pub(crate) fn record(&mut self, kind: RepairKind, at: String, detail: String) {
        tracing::warn!(?kind, %at, %detail, "1688 push message repaired");
        self.repairs.push(Repair { kind, at, detail });
    }
}

/// Exact decimal from a JSON number's literal text or a decimal string. Exponent notation is
/// read exactly too; anything else (or more than 28 significant digits) is refused.
pub(crate) fn exact_decimal(text: &str) -> Option<Decimal> {
    let t = text.strip_prefix('+').unwrap_or(text);
    let body = t.strip_prefix('-').unwrap_or(t);
    let first_ok = body.bytes().next().is_some_and(|b| b.is_ascii_digit());
    let chars_ok = body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !first_ok || !chars_ok || body.ends_with('.') {
        return None;
    }
    if t.contains(['e', 'E']) {
        Decimal::from_scientific(t).ok()
    } else {
        Decimal::from_str_exact(t).ok()
    }
}

/// The literal text of a scalar: a string as is, a number as written.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object and its path.
#[derive(Debug, Clone)]
pub(crate) struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    pub(crate) fn root(v: &'a Value) -> Result<Obj<'a>, MessageError> {
        match v {
            Value::Object(map) => Ok(Obj {
                map,
                path: "$".to_owned(),
            }),
            other => Err(malformed(
                "$",
                format!("expected a JSON object, found {}", kind_of(other)),
            )),
        }
    }

    pub(crate) fn path_of(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn wrong(&self, key: &str, expected: &str, found: &Value) -> MessageError {
        malformed(
            self.path_of(key),
            format!("expected {expected}, found {}", kind_of(found)),
        )
    }

    /// Text; a number or boolean is taken as its literal text (platforms flip these).
    pub(crate) fn text(&self, key: &str) -> Result<Option<String>, MessageError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(v) => scalar_text(v)
                .map(Some)
                .ok_or_else(|| self.wrong(key, "text", v)),
        }
    }

    /// Required text.
    pub(crate) fn required_text(&self, key: &str) -> Result<String, MessageError> {
        self.text(key)?
            .ok_or_else(|| malformed(self.path_of(key), "required field is missing"))
    }

    /// An integer id from a number (exact digits, never through `f64`) or a string.
    pub(crate) fn id(&self, key: &str) -> Result<Option<String>, MessageError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                let t = n.to_string();
                if t.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(Some(t))
                } else {
                    Err(malformed(
                        self.path_of(key),
                        format!("expected an integer id, found `{t}`"),
                    ))
                }
            }
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.wrong(key, "an id (number or text)", v)),
        }
    }

    /// An id given twice, as a number (`num_key`, possibly corrupted upstream by a float round
    /// trip) and as text (`str_key`, authoritative). A disagreement is recorded.
    pub(crate) fn twin_id(
        &self,
        num_key: &str,
        str_key: &str,
        log: &mut Log,
    ) -> Result<(Option<String>, Option<String>), MessageError> {
        let num = self.id(num_key)?;
        let text = self.id(str_key)?;
        if let (Some(n), Some(t)) = (&num, &text)
            && n != t
        {
            log.record(
                RepairKind::IdDisagreement,
                self.path_of(num_key),
                format!("numeric id {n} disagrees with {str_key} `{t}`; the text form wins"),
            );
        }
        Ok((text.or_else(|| num.clone()), num))
    }

    /// An exact decimal from a number's literal text or a decimal string.
    pub(crate) fn decimal(&self, key: &str) -> Result<Option<Decimal>, MessageError> {
        match self.get(key) {
            None => Ok(None),
            Some(v @ (Value::Number(_) | Value::String(_))) => {
                let t = scalar_text(v).unwrap_or_default();
                exact_decimal(t.trim()).map(Some).ok_or_else(|| {
                    malformed(
                        self.path_of(key),
                        format!("`{t}` is not an exact decimal number"),
                    )
                })
            }
            Some(v) => Err(self.wrong(key, "a decimal number", v)),
        }
    }

    /// An amount in yuan (decimal major units), exact.
    pub(crate) fn yuan(&self, key: &str) -> Result<Option<Money>, MessageError> {
        Ok(self
            .decimal(key)?
            .map(|d| Money::from_decimal(d, Currency::Cny)))
    }

    /// A required amount in yuan.
    pub(crate) fn required_yuan(&self, key: &str) -> Result<Money, MessageError> {
        self.yuan(key)?
            .ok_or_else(|| malformed(self.path_of(key), "required amount is missing"))
    }

    /// An integer.
    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>, MessageError> {
        match self.get(key) {
            None => Ok(None),
            Some(v @ (Value::Number(_) | Value::String(_))) => {
                let t = scalar_text(v).unwrap_or_default();
                t.trim()
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| malformed(self.path_of(key), format!("`{t}` is not an integer")))
            }
            Some(v) => Err(self.wrong(key, "an integer", v)),
        }
    }

    /// An amount in integer fen (minor units), exact.
    pub(crate) fn fen(&self, key: &str) -> Result<Option<Money>, MessageError> {
        Ok(self.int(key)?.map(|f| Money::from_minor(f, Currency::Cny)))
    }

    /// A boolean (`true`/`false`, or the strings `"true"`/`"false"`).
    pub(crate) fn boolean(&self, key: &str) -> Result<Option<bool>, MessageError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(v) => Err(self.wrong(key, "a boolean", v)),
        }
    }

    /// A 1688 time; an unparseable one keeps its raw text and is recorded.
    pub(crate) fn time(
        &self,
        key: &str,
        log: &mut Log,
    ) -> Result<Option<PlatformTime>, MessageError> {
        let Some(raw) = self.text(key)? else {
            return Ok(None);
        };
        let t = PlatformTime::parse(&raw);
        if !t.is_parsed() {
            log.record(
                RepairKind::UnparsedTime,
                self.path_of(key),
                format!("`{raw}` is not yyyyMMddHHmmssSSS+offset; kept as raw text"),
            );
        }
        Ok(Some(t))
    }

    /// A nested object.
    pub(crate) fn obj(&self, key: &str) -> Result<Option<Obj<'a>>, MessageError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                map,
                path: self.path_of(key),
            })),
            Some(v) => Err(self.wrong(key, "an object", v)),
        }
    }

    /// A required nested object.
    pub(crate) fn required_obj(&self, key: &str) -> Result<Obj<'a>, MessageError> {
        self.obj(key)?
            .ok_or_else(|| malformed(self.path_of(key), "required object is missing"))
    }

    /// An array of objects (absent or `null` is empty).
    pub(crate) fn objs(&self, key: &str) -> Result<Vec<Obj<'a>>, MessageError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Object(map) => Ok(Obj {
                        map,
                        path: format!("{}[{i}]", self.path_of(key)),
                    }),
                    other => Err(malformed(
                        format!("{}[{i}]", self.path_of(key)),
                        format!("expected an object, found {}", kind_of(other)),
                    )),
                })
                .collect(),
            Some(v) => Err(self.wrong(key, "an array of objects", v)),
        }
    }

    /// An array of texts (absent or `null` is empty).
    pub(crate) fn texts(&self, key: &str) -> Result<Vec<String>, MessageError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter(|(_, v)| !v.is_null())
                .map(|(i, v)| {
                    scalar_text(v).ok_or_else(|| {
                        malformed(
                            format!("{}[{i}]", self.path_of(key)),
                            format!("expected text, found {}", kind_of(v)),
                        )
                    })
                })
                .collect(),
            Some(v) => Err(self.wrong(key, "an array of texts", v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_decimals() {
        assert_eq!(
            exact_decimal("0.3").map(|d| d.to_string()),
            Some("0.3".into())
        );
        assert_eq!(exact_decimal("6").map(|d| d.to_string()), Some("6".into()));
        assert_eq!(
            exact_decimal("1.5e2").map(|d| d.to_string()),
            Some("150".into())
        );
        assert_eq!(
            exact_decimal("-0.05").map(|d| d.to_string()),
            Some("-0.05".into())
        );
        for odd in [
            "1e99999999999999999999",
            "1e-99999999999999999999",
            "9e28",
            "1e-28",
            "1e-29",
            "79228162514264337593543950336",
            "-1E+5",
            "1e",
            "1e+",
            "0.0000000000000000000000000001e-5",
        ] {
            let _ = exact_decimal(odd); // must not panic
        }
        for bad in [
            "",
            ".5",
            "5.",
            "NaN",
            "1,0",
            "0x1",
            "--1",
            "99999999999999999999999999999999",
        ] {
            assert!(exact_decimal(bad).is_none(), "{bad}");
        }
    }
}
