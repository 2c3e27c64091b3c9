//! Identifiers as text.
//!
//! Platform ids exceed 2^53 (`2198111437768747370`) and some platforms send them as strings,
//! so every id is a checked newtype over text: non-empty, at most 128 bytes, no surrounding
//! white space and no control characters. Transports convert to the wire form (for example
//! an exact `u64`) at the edge.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a text is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The text is empty.
    #[error("{kind} must not be empty")]
    Empty {
        /// Which identifier.
        kind: &'static str,
    },
    /// The text is longer than 128 bytes.
    #[error("{kind} is longer than 128 bytes")]
    TooLong {
        /// Which identifier.
        kind: &'static str,
    },
    /// Leading or trailing white space, or a control character.
    #[error("{kind} `{text}` has surrounding white space or control characters")]
    BadCharacters {
        /// Which identifier.
        kind: &'static str,
        /// The text as given (identifiers are not secret).
        text: String,
    },
}

fn check(kind: &'static str, text: &str) -> Result<(), IdError> {
    if text.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if text.len() > 128 {
        return Err(IdError::TooLong { kind });
    }
    if text.trim() != text || text.chars().any(char::is_control) {
        return Err(IdError::BadCharacters {
            kind,
            text: text.to_owned(),
        });
    }
    Ok(())
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks and wraps `text`.
            pub fn new(text: impl Into<String>) -> Result<Self, IdError> {
                let text = text.into();
                check($kind, &text)?;
                Ok(Self(text))
            }

            /// An id the toolkit derives itself (`{base}#{n}`), cut to the length limit.
            #[allow(dead_code)]
            pub(crate) fn derived(base: &str, n: usize) -> Self {
                let mut text = format!("{base}#{n}");
                while text.len() > 128 {
                    text.remove(0);
                }
                Self(text)
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

text_id!(
    /// A shop (store, account) as configured in ordermod, e.g. `wx-main`.
    ShopId,
    "shop id"
);
text_id!(
    /// An order's id on its platform, e.g. `2198111437768747370` or `DD202409240007`.
    OrderId,
    "order id"
);
text_id!(
    /// A line (entry, sub-order) of an order, e.g. a 1688 entry id or a WeChat SKU line.
    LineId,
    "line id"
);
text_id!(
    /// A product reference: a product id, or an ERP product code such as EM's `outerpcode`.
    ProductRef,
    "product ref"
);
text_id!(
    /// A SKU reference within a product.
    SkuRef,
    "sku ref"
);
text_id!(
    /// An opaque order version token the platform uses to refuse stale changes (ICBU `version`).
    VersionToken,
    "version token"
);
text_id!(
    /// The idempotency key of one amendment: given by the caller or derived from its content.
    IdempotencyKey,
    "idempotency key"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_beyond_two_to_the_53_stay_exact() {
        let id = OrderId::new("2198111437768747370").unwrap();
        assert_eq!(id.as_str(), "2198111437768747370");
        let json = "\"58218860983545941\"";
        let back: OrderId = serde_json::from_str(json).unwrap();
        assert_eq!(back.to_string(), "58218860983545941");
    }

    #[test]
    fn bad_ids_are_refused_with_their_kind() {
        assert_eq!(ShopId::new(""), Err(IdError::Empty { kind: "shop id" }));
        assert!(matches!(
            LineId::new(" L1"),
            Err(IdError::BadCharacters { .. })
        ));
        assert!(matches!(
            OrderId::new("x".repeat(129)),
            Err(IdError::TooLong { .. })
        ));
        assert!(serde_json::from_str::<OrderId>("\"a\\nb\"").is_err());
    }
}
