//! The journal port: the durable record of every amendment and inbound message.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::amendment::Amendment;
use crate::ids::{IdempotencyKey, OrderId, ShopId};
use crate::order::Order;
use crate::plan::{Plan, Rejection};
use crate::ports::clock::Timestamp;
use crate::ports::platform::{PlatformError, Receipt};

/// Where an amendment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmendmentState {
    /// Planned and recorded; nothing sent yet.
    Planned,
    /// Sent; the outcome is not recorded (a crash here means: send again, it is absolute).
    Sent,
    /// The platform accepted it.
    Acknowledged,
    /// Refused by a rule, before sending (a rejection) or by the platform.
    Rejected,
    /// Failed at the platform or on the way, after retries.
    Failed,
    /// Acknowledged, and a platform message confirmed the new prices.
    Confirmed,
    /// A platform message contradicted it.
    Flagged,
}

impl AmendmentState {
    /// Whether an outcome is recorded, so that a resume must not send it again.
    pub fn is_final(self) -> bool {
        !matches!(self, AmendmentState::Planned | AmendmentState::Sent)
    }

    /// Stable snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AmendmentState::Planned => "planned",
            AmendmentState::Sent => "sent",
            AmendmentState::Acknowledged => "acknowledged",
            AmendmentState::Rejected => "rejected",
            AmendmentState::Failed => "failed",
            AmendmentState::Confirmed => "confirmed",
            AmendmentState::Flagged => "flagged",
        }
    }
}

impl fmt::Display for AmendmentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amendment as recorded before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// Idempotency key.
    pub key: IdempotencyKey,
    /// The shop.
    pub shop: ShopId,
    /// The order snapshot the amendment was planned against.
    pub order: Order,
    /// What was asked.
    pub amendment: Amendment,
    /// The plan, or the rejection.
    pub plan: Result<Plan, Rejection>,
}

/// How an amendment ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "detail")]
pub enum Outcome {
    /// The platform accepted it.
    Acknowledged(Receipt),
    /// Refused by a rule before sending.
    Rejected(Rejection),
    /// Failed at the platform (verbatim error) after retries.
    Failed(PlatformError),
}

impl Outcome {
    /// The state this outcome puts an amendment in.
    pub fn state(&self) -> AmendmentState {
        match self {
            Outcome::Acknowledged(_) => AmendmentState::Acknowledged,
            Outcome::Rejected(_) => AmendmentState::Rejected,
            Outcome::Failed(_) => AmendmentState::Failed,
        }
    }
}

/// What [`Journal::begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// New: the intent is now recorded as planned.
    New,
    /// Recorded earlier and not finished (planned or sent): send it (again).
    Unfinished(AmendmentState),
    /// Recorded earlier with an outcome: do not send again.
    Finished(AmendmentState),
}

/// One amendment's history, for `ordermod journal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmendmentRecord {
    /// The intent.
    pub intent: Intent,
    /// Current state.
    pub state: AmendmentState,
    /// The outcome, once known.
    pub outcome: Option<Outcome>,
    /// Note from reconciliation (why it was flagged).
    pub note: Option<String>,
    /// When it was recorded.
    pub recorded_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// An inbound platform message as received, before or without decoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundRecord {
    /// Deduplication key (e.g. the signed nonce, or a digest of the body).
    pub dedup_key: String,
    /// Platform the message came from, e.g. `1688-push`.
    pub source: String,
    /// The raw body, byte for byte (it need not be UTF-8); see [`InboundRecord::raw_text`].
    /// Serialised as a string when it is UTF-8, else as an array of byte values.
    #[serde(with = "raw_body")]
    pub raw: Vec<u8>,
    /// When it was received.
    pub received_at: Timestamp,
}

/// The serde form of a raw body: a string when it is UTF-8 (the usual case, readable in
/// `ordermod journal --json`), else an array of byte values, so no byte is lost either way.
mod raw_body {
    use serde::{Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(raw: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(raw) {
            Ok(text) => s.serialize_str(text),
            Err(_) => raw.serialize(s),
        }
    }

    struct RawVisitor;

    impl<'de> serde::de::Visitor<'de> for RawVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or an array of byte values")
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
            Ok(v.as_bytes().to_vec())
        }

        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

impl InboundRecord {
    /// The raw body as text for display: invalid UTF-8 shows as U+FFFD (the stored bytes are
    /// unchanged).
    pub fn raw_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.raw)
    }
}

/// What [`Journal::record_message`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageInsert {
    /// Stored for the first time, with its row id.
    New(i64),
    /// Already stored: acknowledge, do not process again.
    Duplicate(i64),
}

/// A stored inbound message and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Row id.
    pub id: i64,
    /// The message as received.
    pub record: InboundRecord,
    /// The order it concerns, once decoded.
    pub order: Option<OrderId>,
    /// Why it could not be decoded, for dead letters.
    pub dead_letter_reason: Option<String>,
}

/// A journal failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The storage failed (IO, database). The text never contains credentials.
    #[error("journal storage failed: {0}")]
    Storage(String),
    /// A stored record could not be read back.
    #[error("journal record {key} is corrupt: {reason}")]
    Corrupt {
        /// The record.
        key: String,
        /// Why.
        reason: String,
    },
    /// A record that must exist does not.
    #[error("no journal record for {0}")]
    Missing(String),
    /// The record exists, but its state refuses the change: a second, different outcome for
    /// a finished amendment, marking a finished amendment as sent, or reconciling one that was
    /// never acknowledged. The recorded state is kept; nothing was written.
    #[error("journal record {key} refuses the change: {reason}")]
    Conflict {
        /// The record.
        key: String,
        /// Why, naming the recorded state.
        reason: String,
    },
}

/// The durable record of amendments and inbound messages.
///
/// # Error contract
/// Every method either completes durably (the write survives a crash right after it returns)
/// or returns [`JournalError`]; callers stop sending when the journal fails, because an
/// unrecorded send could be doubled on resume.
#[async_trait]
pub trait Journal: Send + Sync + fmt::Debug {
    /// Records the intent if new; otherwise reports what is recorded for its key.
    async fn begin(&self, intent: &Intent, now: Timestamp) -> Result<Begin, JournalError>;

    /// Marks the amendment as sent (before the request leaves).
    async fn mark_sent(&self, key: &IdempotencyKey, now: Timestamp) -> Result<(), JournalError>;

    /// Records the outcome, verbatim.
    async fn record_outcome(
        &self,
        key: &IdempotencyKey,
        outcome: &Outcome,
        now: Timestamp,
    ) -> Result<(), JournalError>;

    /// Marks an acknowledged amendment confirmed or flagged by an inbound message.
    async fn reconcile(
        &self,
        key: &IdempotencyKey,
        state: AmendmentState,
        message_id: i64,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<(), JournalError>;

    /// Amendments, newest first; only those of `order` when given.
    async fn amendments(
        &self,
        order: Option<&OrderId>,
    ) -> Result<Vec<AmendmentRecord>, JournalError>;

    /// Stores an inbound message durably, or reports it as a duplicate.
    async fn record_message(&self, message: &InboundRecord) -> Result<MessageInsert, JournalError>;

    /// Notes which order a stored message concerns (after decoding).
    async fn message_decoded(&self, id: i64, order: &OrderId) -> Result<(), JournalError>;

    /// Dead-letters a stored message that could not be decoded, with the reason.
    async fn dead_letter(&self, id: i64, reason: &str) -> Result<(), JournalError>;

    /// Stored messages, newest first; dead letters only when `dead_letters_only`.
    async fn messages(&self, dead_letters_only: bool) -> Result<Vec<MessageRecord>, JournalError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_body_is_json_text_when_utf8_and_bytes_otherwise_losing_nothing() {
        let mut record = InboundRecord {
            dedup_key: "k".to_owned(),
            source: "1688-push".to_owned(),
            raw: "{\"改价\":1}".as_bytes().to_vec(),
            received_at: Timestamp::from_millis(0),
        };
        let v = serde_json::to_value(&record).unwrap();
        assert_eq!(v["raw"], "{\"改价\":1}");
        assert_eq!(serde_json::from_value::<InboundRecord>(v).unwrap(), record);
        record.raw = vec![0xC4, 0xE3, 0xFF];
        let v = serde_json::to_value(&record).unwrap();
        assert_eq!(v["raw"], serde_json::json!([0xC4, 0xE3, 0xFF]));
        assert_eq!(serde_json::from_value::<InboundRecord>(v).unwrap(), record);
    }
}
