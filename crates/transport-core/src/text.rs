//! [`SmallText`]: short text formatted without a heap allocation, for wire fields that are
//! written from borrowed data (amounts, quantities, dates).

use std::fmt;

/// How many bytes a [`SmallText`] keeps inline; longer text moves to the heap.
const INLINE: usize = 46;

/// Text built with [`fmt::Write`] (`write!`), kept inline when it is short (every amount,
/// quantity and date is) and on the heap otherwise. Serializes as a JSON string, exactly as a
/// `String` with the same text would.
///
/// ```
/// use std::fmt::Write;
/// use transport_core::text::SmallText;
/// let mut t = SmallText::new();
/// write!(t, "{}.{:02}", 12, 5).unwrap();
/// assert_eq!(t.as_str(), "12.05");
/// assert_eq!(serde_json::to_string(&t).unwrap(), r#""12.05""#);
/// assert_eq!(SmallText::display(&"x".repeat(100)).as_str(), "x".repeat(100));
/// ```
#[derive(Clone)]
pub struct SmallText(Repr);

#[derive(Clone)]
enum Repr {
    Inline { buf: [u8; INLINE], len: u8 },
    Heap(String),
}

impl SmallText {
    /// Empty text.
    pub const fn new() -> Self {
        SmallText(Repr::Inline {
            buf: [0; INLINE],
            len: 0,
        })
    }

    /// The `Display` text of `value`.
    pub fn display(value: &impl fmt::Display) -> Self {
        let mut t = SmallText::new();
        // Writing to a `SmallText` never fails; only a `Display` impl could, and then the text
        // written so far is kept, as `ToString` would panic instead.
        let _ = fmt::Write::write_fmt(&mut t, format_args!("{value}"));
        t
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { buf, len } => std::str::from_utf8(&buf[..usize::from(*len)])
                .unwrap_or_else(|_| unreachable!("only whole `str`s are copied in")),
            Repr::Heap(s) => s,
        }
    }
}

impl Default for SmallText {
    fn default() -> Self {
        SmallText::new()
    }
}

impl fmt::Write for SmallText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        match &mut self.0 {
            Repr::Inline { buf, len } => {
                let at = usize::from(*len);
                match buf.get_mut(at..at + s.len()) {
                    Some(dst) => {
                        dst.copy_from_slice(s.as_bytes());
                        // `at + s.len() <= INLINE < 256`.
                        *len = u8::try_from(at + s.len()).unwrap_or(u8::MAX);
                    }
                    None => {
                        let mut heap = String::with_capacity(at + s.len());
                        heap.push_str(self.as_str());
                        heap.push_str(s);
                        self.0 = Repr::Heap(heap);
                    }
                }
            }
            Repr::Heap(h) => h.push_str(s),
        }
        Ok(())
    }
}

impl std::ops::Deref for SmallText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for SmallText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SmallText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for SmallText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SmallText {}

impl serde::Serialize for SmallText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use super::*;

    #[test]
    fn inline_up_to_the_limit_then_heap_with_the_same_text() {
        for n in [0, 1, INLINE - 1, INLINE, INLINE + 1, 300] {
            let text: String = "价a".chars().cycle().take(n).collect();
            let mut t = SmallText::new();
            for c in text.chars() {
                t.write_char(c).unwrap();
            }
            assert_eq!(t.as_str(), text);
            assert_eq!(SmallText::display(&text).as_str(), text);
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                serde_json::to_string(&text).unwrap()
            );
        }
    }
}
