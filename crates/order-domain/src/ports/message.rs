//! The inbound port: decoding platform messages that confirm changes.

use std::fmt;

use async_trait::async_trait;

use crate::money::Money;
use crate::order::Order;
use crate::ports::clock::Timestamp;

/// A decoded platform message about an order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboundEvent {
    /// The message type, verbatim (e.g. `ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY`).
    pub message_type: String,
    /// When the platform says it sent the message.
    pub sent_at: Option<Timestamp>,
    /// The order as the message describes it.
    pub order: Order,
    /// The raw message, verbatim.
    pub raw: String,
    /// The order total as the platform states it, when the message carries one (1688's
    /// `totalAmount`). It can differ from `order.total()` (the sum of the lines and freight);
    /// reconciliation should compare against the platform's own figure.
    pub reported_total: Option<Money>,
}

impl InboundEvent {
    /// Builds an event.
    pub fn new(
        message_type: String,
        sent_at: Option<Timestamp>,
        order: Order,
        raw: String,
    ) -> Self {
        InboundEvent {
            message_type,
            sent_at,
            order,
            raw,
            reported_total: None,
        }
    }

    /// The same event with the platform's stated order total.
    pub fn with_reported_total(mut self, total: Money) -> Self {
        self.reported_total = Some(total);
        self
    }
}

/// Why a message was refused or could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// A required header is missing.
    #[error("missing header `{0}`")]
    MissingHeader(String),
    /// The signature does not match.
    #[error("signature does not match")]
    BadSignature,
    /// The timestamp is outside the freshness window.
    #[error("timestamp {sent} is {skew_ms} ms away from now, beyond the {window_ms} ms window")]
    Stale {
        /// The message's timestamp.
        sent: Timestamp,
        /// Distance from now.
        skew_ms: u64,
        /// The window.
        window_ms: u64,
    },
    /// The nonce was seen before.
    #[error("nonce `{0}` was already used")]
    Replayed(String),
    /// The message could not be checked now (the store of used nonces failed); delivering it
    /// again later may succeed. Says what failed, without credentials.
    #[error("the message cannot be checked now: {0}")]
    Unavailable(String),
    /// The body could not be decoded; says where and why.
    #[error("cannot decode message at {at}: {reason}")]
    Malformed {
        /// JSON path or byte offset.
        at: String,
        /// What is wrong.
        reason: String,
    },
}

/// A verified message: its deduplication key and the body to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Key for deduplication (the signed nonce where present).
    pub dedup_key: String,
}

/// Verifies and decodes inbound messages of one platform.
///
/// # Error contract
/// `verify` refuses with [`MessageError::MissingHeader`], [`MessageError::BadSignature`],
/// [`MessageError::Stale`] or [`MessageError::Replayed`], or fails with
/// [`MessageError::Unavailable`] when its nonce store does, and does nothing else; it runs
/// before the message is stored. `decode` never panics, whatever the bytes, and reports
/// [`MessageError::Malformed`] naming where decoding failed.
#[async_trait]
pub trait MessageDecoder: Send + Sync + fmt::Debug {
    /// The source name stored with messages, e.g. `1688-push`.
    fn source(&self) -> &str;

    /// Checks headers (signature, freshness, replay) for `body` at time `now`.
    async fn verify(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now: Timestamp,
    ) -> Result<Verified, MessageError>;

    /// Decodes a verified body into an event.
    fn decode(&self, body: &[u8]) -> Result<InboundEvent, MessageError>;
}
