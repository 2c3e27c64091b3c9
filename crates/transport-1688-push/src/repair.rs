//! Tolerant decoding, made explicit: every deviation from a strict reading is a recorded
//! [`Repair`], never a silent guess.
//!
//! Two kinds of tolerance exist:
//! 1. **Text repair** before parsing. The body is first parsed as strict JSON. Only when that
//!    fails, raw control characters (U+0000..U+001F) that appear *inside string literals* are
//!    escaped (`\n`, `\r`, `\t`, or `\u00XX`) and the text is parsed again. Nothing outside
//!    string literals is touched, no quote is invented, no comma is added: a body broken in any
//!    other way stays [`Malformed`](order_domain::MessageError::Malformed).
//! 2. **Reading choices** while mapping fields, each recorded: an id whose numeric and text
//!    forms disagree (the text wins), a numeric-only entry id recovered from the entry's
//!    `productSnapshotUrl` or flagged as unreliable, a time that does not follow the 1688 format (kept raw).

use std::fmt;

/// What kind of tolerance was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RepairKind {
    /// Raw control characters inside string literals were escaped before parsing.
    EscapedControlCharacters,
    /// A numeric id and its text twin disagreed; the text form was used.
    IdDisagreement,
    /// An entry id given only as a number disagreed with the exact id in the same entry's
    /// `productSnapshotUrl` (`order_entry_id`); the URL's id was used.
    RecoveredId,
    /// An entry id given only as a number above 2^53, with nothing in the message to check it
    /// against: it may have been rounded through a double. It is kept but not to be trusted.
    UnreliableId,
    /// A time did not follow the 1688 format; its raw text was kept.
    UnparsedTime,
    /// An amount was absent and derived from others (documented in the field's doc).
    DerivedAmount,
}

/// One recorded deviation from a strict reading of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// The kind.
    pub kind: RepairKind,
    /// Where: a JSON path (`$.messageBody.baseInfo.id`) or `line L, column C` of the body.
    pub at: String,
    /// What was done, for people.
    pub detail: String,
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} at {}: {}", self.kind, self.at, self.detail)
    }
}

/// One escaped byte: where it was in the original and where its escape is in the repaired text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Escape {
    orig: usize,
    repaired: usize,
    len: usize,
    byte: u8,
}

/// The body after escaping raw control characters inside string literals, with a map back.
#[derive(Debug)]
pub(crate) struct Escaped {
    pub(crate) text: Vec<u8>,
    escapes: Vec<Escape>,
}

/// Escapes raw control characters inside JSON string literals. `None` when there is none.
pub(crate) fn escape_controls_in_strings(body: &[u8]) -> Option<Escaped> {
    let mut out = Vec::with_capacity(body.len() + 16);
    let mut escapes = Vec::new();
    let mut in_string = false;
    let mut backslash = false;
    for (i, &b) in body.iter().enumerate() {
        if in_string {
            if backslash {
                backslash = false;
            } else if b == b'\\' {
                backslash = true;
            } else if b == b'"' {
                in_string = false;
            } else if b < 0x20 {
                let esc: Vec<u8> = match b {
                    b'\n' => b"\\n".to_vec(),
                    b'\r' => b"\\r".to_vec(),
                    b'\t' => b"\\t".to_vec(),
                    _ => format!("\\u{b:04x}").into_bytes(),
                };
                escapes.push(Escape {
                    orig: i,
                    repaired: out.len(),
                    len: esc.len(),
                    byte: b,
                });
                out.extend_from_slice(&esc);
                continue;
            }
        } else if b == b'"' {
            in_string = true;
        }
        out.push(b);
    }
    if escapes.is_empty() {
        None
    } else {
        Some(Escaped { text: out, escapes })
    }
}

impl Escaped {
    /// The recorded repair, naming every escaped character's position in the original body
    /// (the first 10, then a count).
    pub(crate) fn repair(&self, original: &[u8]) -> Repair {
        let first = self.escapes.first().map_or(0, |e| e.orig);
        let listed: Vec<String> = self
            .escapes
            .iter()
            .take(10)
            .map(|e| format!("U+{:04X} at {}", e.byte, line_col(original, e.orig)))
            .collect();
        let more = self.escapes.len().saturating_sub(10);
        let mut detail = format!(
            "escaped {} raw control character(s) inside string literals: {}",
            self.escapes.len(),
            listed.join(", ")
        );
        if more > 0 {
            detail.push_str(&format!(" and {more} more"));
        }
        Repair {
            kind: RepairKind::EscapedControlCharacters,
            at: line_col(original, first),
            detail,
        }
    }

    /// Maps a byte offset of the repaired text back to the original body.
    pub(crate) fn original_offset(&self, repaired: usize) -> usize {
        let idx = self.escapes.partition_point(|e| e.repaired <= repaired);
        if idx == 0 {
            return repaired;
        }
        let e = self.escapes[idx - 1];
        if repaired < e.repaired + e.len {
            e.orig
        } else {
            e.orig + 1 + (repaired - e.repaired - e.len)
        }
    }
}

/// `line L, column C` of byte offset `at` (1-based line; column counted in bytes as serde_json
/// does).
pub(crate) fn line_col(text: &[u8], at: usize) -> String {
    let at = at.min(text.len());
    let before = &text[..at];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    format!("line {line}, column {}", at - start + 1)
}

/// The byte offset of serde_json's (line, column) position in `text`.
pub(crate) fn offset_of(text: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    if line > 1 {
        let mut seen = 1;
        for (i, &b) in text.iter().enumerate() {
            if b == b'\n' {
                seen += 1;
                if seen == line {
                    start = i + 1;
                    break;
                }
            }
        }
    }
    (start + column.saturating_sub(1)).min(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_only_inside_strings() {
        let body = b"{\"a\":\"x\ny\",\n\"b\":\"\\\"\t\"}";
        let e = escape_controls_in_strings(body).unwrap_or_else(|| unreachable!());
        assert_eq!(e.text, b"{\"a\":\"x\\ny\",\n\"b\":\"\\\"\\t\"}".to_vec());
        assert_eq!(e.escapes.len(), 2);
        assert!(escape_controls_in_strings(b"{\"a\":\n1}").is_none());
        // Offsets map back: the byte after the first escape.
        assert_eq!(e.original_offset(0), 0);
        assert_eq!(e.original_offset(7), 7);
        assert_eq!(e.original_offset(8), 7);
        assert_eq!(e.original_offset(9), 8);
    }

    #[test]
    fn line_and_column() {
        let t = b"ab\ncd";
        assert_eq!(line_col(t, 0), "line 1, column 1");
        assert_eq!(line_col(t, 4), "line 2, column 2");
        assert_eq!(offset_of(t, 2, 2), 4);
    }
}
