//! The input format: JSON Lines, one amendment per line.
//!
//! ```json
//! {"key": "optional", "shop": "wx-main", "platform": "optional", "order": {...}, "set": {...}}
//! ```
//!
//! `order` is the order snapshot ([`Order`]'s serde form), `set` the amendment ([`Amendment`]).
//! `platform` is optional; when given it must agree with the shop's configured platform (and in
//! `--sandbox` mode it selects the platform instead of the shop-name prefix).
//! Empty lines and lines starting with `#` (after white space) are skipped, and so is a UTF-8
//! byte order mark at the start of the input. A line longer than [`MAX_LINE_BYTES`] (1 MiB) is
//! refused as a line error without being held in memory; a key repeated in any object of a
//! line (e.g. a line id named twice in `set.lines`) is refused naming the key; an unknown
//! `platform` is refused as such.
//!
//! The idempotency key, when not given, is derived by [`derive_key`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use order_domain::{Amendment, IdempotencyKey, Order, OrderId, ShopId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One amendment line, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmendmentLine {
    /// The caller's idempotency key, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<IdempotencyKey>,
    /// The shop, as configured.
    pub shop: ShopId,
    /// The platform, optional (see the module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The order: its snapshot, or only its id (then ordermod reads it from the platform).
    pub order: OrderRef,
    /// The desired end state.
    pub set: Amendment,
}

impl AmendmentLine {
    /// The given key, or the derived one.
    pub fn key(&self) -> IdempotencyKey {
        self.key
            .clone()
            .unwrap_or_else(|| derive_key(&self.shop, self.order.id(), &self.set))
    }

    /// The order id.
    pub fn order_id(&self) -> &OrderId {
        self.order.id()
    }

    /// The snapshot the line carries, if any.
    pub fn snapshot(&self) -> Option<&Order> {
        match &self.order {
            OrderRef::Snapshot(o) => Some(o),
            OrderRef::Id(_) => None,
        }
    }
}

/// The `order` of an amendment line: a JSON string is the order's id (the order is read from
/// its platform), an object its snapshot ([`Order`]'s serde form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum OrderRef {
    /// Only the id: read the order from the shop's platform.
    Id(OrderId),
    /// The snapshot, as the caller knows it.
    Snapshot(Box<Order>),
}

impl OrderRef {
    /// The order's id.
    pub fn id(&self) -> &OrderId {
        match self {
            OrderRef::Id(id) => id,
            OrderRef::Snapshot(o) => o.id(),
        }
    }
}

impl<'de> Deserialize<'de> for OrderRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Numbers keep their literal text (`arbitrary_precision`), so nothing is lost here.
        match Value::deserialize(d)? {
            Value::String(id) => OrderId::new(id)
                .map(OrderRef::Id)
                .map_err(serde::de::Error::custom),
            other => serde_json::from_value::<Order>(other)
                .map(|o| OrderRef::Snapshot(Box::new(o)))
                .map_err(serde::de::Error::custom),
        }
    }
}

/// The derived idempotency key: `auto-` followed by the SHA-256, in lower-case hex, of
/// `shop`, a NUL byte, the order id, a NUL byte, and the canonical JSON of `set`
/// (object keys sorted at every level, no white space, amounts as normalised decimal text:
/// `8.00` and `8.0` are both `"8"`).
///
/// The same shop, order and target state always give the same key, on any machine.
pub fn derive_key(shop: &ShopId, order: &OrderId, set: &Amendment) -> IdempotencyKey {
    let canonical = canonical_json(&serde_json::to_value(set).unwrap_or(Value::Null));
    let mut h = Sha256::new();
    h.update(shop.as_str().as_bytes());
    h.update([0]);
    h.update(order.as_str().as_bytes());
    h.update([0]);
    h.update(canonical.as_bytes());
    let text = format!("auto-{}", hex::encode(h.finalize()));
    // 69 ASCII characters: never empty, too long or badly formed.
    IdempotencyKey::new(text).expect("a prefixed hex digest is a valid idempotency key")
}

/// JSON text with object keys sorted at every level and no white space.
pub fn canonical_json(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> =
                    m.iter().map(|(k, v)| (k, sort(v))).collect();
                let mut out = serde_json::Map::new();
                for (k, v) in sorted {
                    out.insert(k.clone(), v);
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    // With or without serde_json's `preserve_order`, insertion in sorted order gives sorted text.
    serde_json::to_string(&sort(v)).unwrap_or_default()
}

/// A line that could not be read as an amendment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputError {
    /// 1-based line number.
    pub line: u64,
    /// The order id, when the line was JSON and had one.
    pub order: Option<String>,
    /// The shop, when readable.
    pub shop: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(o) = &self.order {
            write!(f, " (order {o})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The longest line read, in bytes (1 MiB), without its line break.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Walks a JSON value and fails on the first key repeated within one object.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate key `{}`",
                    key.escape_default()
                )));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }
}

/// Parses one line (`number` is 1-based, for messages).
pub fn parse_line(number: u64, text: &str) -> Result<AmendmentLine, InputError> {
    serde_json::from_str::<UniqueKeys>(text)
        .and_then(|_| serde_json::from_str::<AmendmentLine>(text))
        .and_then(|line| match &line.platform {
            Some(p) if crate::registry::PlatformKind::from_name(p).is_none() => {
                Err(serde::de::Error::custom(format!(
                    "unknown platform `{}` (known: {})",
                    p.escape_default(),
                    crate::registry::PlatformKind::ALL
                        .map(|k| k.name())
                        .join(", ")
                )))
            }
            _ => Ok(line),
        })
        .map_err(|e| {
            let v: Option<Value> = serde_json::from_str(text).ok();
            let field = |path: &[&str]| {
                let mut cur = v.as_ref()?;
                for p in path {
                    cur = cur.get(p)?;
                }
                match cur {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }
            };
            InputError {
                line: number,
                order: field(&["order", "id"]).or_else(|| field(&["order"])),
                shop: field(&["shop"]),
                message: describe_json_error(&e),
            }
        })
}

fn describe_json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    // serde_json appends " at line 1 column N"; the line is always 1 here, the column helps.
    match text.rfind(" at line 1 column ") {
        Some(i) => format!("{} (column {})", &text[..i], &text[i + 18..]),
        None => text,
    }
}

/// One item read from the input.
#[derive(Debug)]
pub enum InputItem {
    /// A parsed amendment.
    Amendment {
        /// 1-based line number.
        line: u64,
        /// The amendment (boxed: orders are large).
        amendment: Box<AmendmentLine>,
    },
    /// A line that could not be parsed.
    Invalid(InputError),
}

/// Reads amendment lines one at a time (the file is never loaded whole).
#[derive(Debug)]
pub struct LineReader<R> {
    reader: R,
    line: u64,
    buf: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// Wraps a buffered reader.
    pub fn new(reader: R) -> Self {
        LineReader {
            reader,
            line: 0,
            buf: Vec::with_capacity(4096),
        }
    }

    /// Reads the next line into `buf`, at most [`MAX_LINE_BYTES`] of it: `Ok(None)` at the end,
    /// `Ok(Some(false))` when the line was longer (the rest is skipped, never stored).
    async fn read_line(&mut self) -> std::io::Result<Option<bool>> {
        self.buf.clear();
        let mut read_any = false;
        let mut too_long = false;
        loop {
            let chunk = self.reader.fill_buf().await?;
            if chunk.is_empty() {
                return Ok(read_any.then_some(!too_long));
            }
            read_any = true;
            let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (&chunk[..=i], true),
                None => (chunk, false),
            };
            let used = part.len();
            if !too_long {
                let body = part.strip_suffix(b"\n").unwrap_or(part);
                let body = body.strip_suffix(b"\r").unwrap_or(body);
                if self.buf.len() + body.len() > MAX_LINE_BYTES {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(part);
                }
            }
            self.reader.consume(used);
            if done {
                return Ok(Some(!too_long));
            }
        }
    }

    /// The next item, `None` at the end; skips blank and `#` comment lines.
    pub async fn next(&mut self) -> std::io::Result<Option<InputItem>> {
        loop {
            let Some(within_limit) = self.read_line().await? else {
                return Ok(None);
            };
            self.line += 1;
            if !within_limit {
                return Ok(Some(InputItem::Invalid(InputError {
                    line: self.line,
                    order: None,
                    shop: None,
                    message: format!(
                        "the line is longer than {MAX_LINE_BYTES} bytes (1 MiB); it was skipped"
                    ),
                })));
            }
            if self.line == 1 && self.buf.starts_with(b"\xEF\xBB\xBF") {
                self.buf.drain(..3);
            }
            let Ok(text) = std::str::from_utf8(&self.buf) else {
                return Ok(Some(InputItem::Invalid(InputError {
                    line: self.line,
                    order: None,
                    shop: None,
                    message: "the line is not valid UTF-8".into(),
                })));
            };
            let text = text.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            return Ok(Some(match parse_line(self.line, text) {
                Ok(a) => InputItem::Amendment {
                    line: self.line,
                    amendment: Box::new(a),
                },
                Err(e) => InputItem::Invalid(e),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"shop":"wechat-a","order":{"id":"1001","status":"awaiting_payment","currency":"CNY","lines":[{"id":"L1","original_total":"10.00"}]},"set":{"lines":{"L1":"8.00"},"freight":"0"}}"#;

    #[test]
    fn derived_keys_are_stable_and_depend_on_shop_order_and_target() {
        let a = parse_line(1, LINE).unwrap();
        let k = a.key();
        assert!(k.as_str().starts_with("auto-"));
        assert_eq!(k.as_str().len(), 69);
        // Neither key order nor trailing zeros in the input matter.
        assert_eq!(
            parse_line(1, &LINE.replace("8.00", "8.0")).unwrap().key(),
            k
        );
        let reordered = r#"{"set":{"freight":"0","lines":{"L1":"8.00"}},"order":{"currency":"CNY","id":"1001","status":"awaiting_payment","lines":[{"id":"L1","original_total":"10.00"}]},"shop":"wechat-a"}"#;
        assert_eq!(parse_line(1, reordered).unwrap().key(), k);
        let other = LINE.replace("8.00", "7.00");
        assert_ne!(parse_line(1, &other).unwrap().key(), k);
        let other_shop = LINE.replace("wechat-a", "wechat-b");
        assert_ne!(parse_line(1, &other_shop).unwrap().key(), k);
        // Pinned, so a change of the recipe is noticed (keys live in journals).
        assert_eq!(
            k.as_str(),
            "auto-".to_owned()
                + &{
                    let mut h = Sha256::new();
                    h.update(b"wechat-a\x001001\x00{\"freight\":\"0\",\"lines\":{\"L1\":\"8\"}}");
                    hex::encode(h.finalize())
                }
        );
    }

    #[test]
    fn a_bad_line_names_its_number_order_and_problem() {
        let bad = LINE.replace("\"set\"", "\"sett\"");
        let e = parse_line(7, &bad).unwrap_err();
        assert_eq!(e.line, 7);
        assert_eq!(e.order.as_deref(), Some("1001"));
        assert!(e.message.contains("sett"), "{}", e.message);
        let e = parse_line(9, "{not json").unwrap_err();
        assert_eq!(e.order, None);
        assert!(e.to_string().starts_with("line 9: "));
    }

    #[tokio::test]
    async fn the_reader_skips_blanks_and_comments_and_counts_lines() {
        let text = format!("# header\n\n{LINE}\nnope\n{LINE}");
        let mut r = LineReader::new(text.as_bytes());
        let mut seen = Vec::new();
        while let Some(item) = r.next().await.unwrap() {
            seen.push(match item {
                InputItem::Amendment { line, .. } => (line, true),
                InputItem::Invalid(e) => (e.line, false),
            });
        }
        assert_eq!(seen, vec![(3, true), (4, false), (5, true)]);
    }

    #[tokio::test]
    async fn a_line_over_one_mib_is_a_line_error_and_the_next_line_is_read() {
        let big = format!("{{\"shop\":\"{}\"}}", "x".repeat(MAX_LINE_BYTES));
        let text = format!("{big}\n{LINE}\n");
        // A small buffer: the long line arrives in many chunks and is never held whole.
        let mut r = LineReader::new(tokio::io::BufReader::with_capacity(1024, text.as_bytes()));
        let Some(InputItem::Invalid(e)) = r.next().await.unwrap() else {
            panic!("the long line was not refused");
        };
        assert_eq!(e.line, 1);
        assert!(e.message.contains("longer than 1048576 bytes"), "{e}");
        assert!(r.buf.capacity() <= 2 * MAX_LINE_BYTES);
        let Some(InputItem::Amendment { line, .. }) = r.next().await.unwrap() else {
            panic!("the next line was not read");
        };
        assert_eq!(line, 2);
        // Exactly at the limit is fine (and reported by the parser, not the reader).
        let exact = "x".repeat(MAX_LINE_BYTES);
        let mut r = LineReader::new(exact.as_bytes());
        let Some(InputItem::Invalid(e)) = r.next().await.unwrap() else {
            panic!()
        };
        assert!(!e.message.contains("longer than"), "{e}");
    }

    #[test]
    fn a_key_repeated_at_any_level_is_refused_naming_it() {
        let twice = LINE.replace(
            r#""lines":{"L1":"8.00"}"#,
            r#""lines":{"L1":"8.00","L1":"7.00"}"#,
        );
        let e = parse_line(4, &twice).unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.message.contains("duplicate key `L1`"), "{}", e.message);
        let top = LINE.replace(
            r#"{"shop":"wechat-a""#,
            r#"{"shop":"wechat-a","shop":"wechat-b""#,
        );
        let e = parse_line(5, &top).unwrap_err();
        assert!(e.message.contains("duplicate key `shop`"), "{}", e.message);
    }

    #[tokio::test]
    async fn a_byte_order_mark_at_the_start_is_skipped() {
        let text = format!("\u{feff}{LINE}\n");
        let mut r = LineReader::new(text.as_bytes());
        assert!(matches!(
            r.next().await.unwrap(),
            Some(InputItem::Amendment { line: 1, .. })
        ));
    }

    #[test]
    fn an_unknown_platform_is_reported_as_such() {
        let line = LINE.replace(
            r#""shop":"wechat-a""#,
            r#""shop":"wechat-a","platform":"wechat""#,
        );
        let e = parse_line(2, &line).unwrap_err();
        assert!(
            e.message.contains("unknown platform `wechat`"),
            "{}",
            e.message
        );
        assert_eq!(e.shop.as_deref(), Some("wechat-a"));
    }
}
