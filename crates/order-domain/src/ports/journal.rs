//! The journal port: the durable record of every amendment and inbound message.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::amendment::Amendment;
use crate::ids::{IdempotencyKey, OrderId, ShopId};
use crate::order::Order;
use crate::plan::{Plan, Rejection};
use crate::ports::clock::Timestamp;
use crate::ports::platform::{PlatformError, PlatformErrorKind, Receipt};

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
    /// Refused by the platform (it said no: a rule, a wrong state, an unknown order, a bad
    /// request or credentials), or its reply could not be understood. Final.
    Failed,
    /// Acknowledged, and a platform message or a read of the order confirmed the target; or
    /// left in doubt by a crash and found applied by a read ([`Outcome::ConfirmedByRead`]).
    Confirmed,
    /// A platform message or a read of the order contradicted it: the platform said success
    /// but the order does not show the target.
    Flagged,
    /// Not delivered: the platform was unreachable, timed out, answered 5xx, limited the rate
    /// or ran out of quota, after the transport's retries. Nothing was applied (or, after a
    /// timeout, possibly was, and a resend is harmless: amendments are absolute), so it is not
    /// finished: the next run sends it again.
    Undelivered,
    /// A resend (after an interrupted run had sent it without recording the reply) that the
    /// platform refused as stale: the first send probably landed, and reading the order is
    /// what settles it. Final: sending it again would be refused the same way.
    InDoubt,
}

impl AmendmentState {
    /// Whether an outcome is recorded, so that a resume must not send it again.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            AmendmentState::Planned | AmendmentState::Sent | AmendmentState::Undelivered
        )
    }

    /// Every state, in declaration order.
    pub const ALL: [AmendmentState; 9] = [
        AmendmentState::Planned,
        AmendmentState::Sent,
        AmendmentState::Acknowledged,
        AmendmentState::Rejected,
        AmendmentState::Failed,
        AmendmentState::Confirmed,
        AmendmentState::Flagged,
        AmendmentState::Undelivered,
        AmendmentState::InDoubt,
    ];

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
            AmendmentState::Undelivered => "undelivered",
            AmendmentState::InDoubt => "in_doubt",
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
    /// Failed at the platform or on the way (verbatim error) after retries: `failed` when the
    /// platform said no, `undelivered` when it never answered (see [`Outcome::state`]).
    Failed(PlatformError),
    /// A resend refused as stale ([`PlatformErrorKind::Conflict`]): the first send probably
    /// landed. Recorded `in_doubt`, with the platform's error verbatim.
    StaleResend(PlatformError),
    /// Left `sent` by an interrupted run, then read back showing the plan's target: applied,
    /// nothing resent. Carries the order as read. Recorded `confirmed`.
    ConfirmedByRead(Box<Order>),
}

impl Outcome {
    /// The outcome of a send that failed with `error`; `resent` when an interrupted earlier
    /// run had already sent the same amendment. A resend refused as a conflict is in doubt
    /// (the first send probably changed the order), not failed.
    pub fn failure(error: PlatformError, resent: bool) -> Outcome {
        if resent && error.kind() == PlatformErrorKind::Conflict {
            Outcome::StaleResend(error)
        } else {
            Outcome::Failed(error)
        }
    }

    /// The state this outcome puts an amendment in. A failure is `undelivered` when the
    /// platform never said no ([`undelivered`]), `failed` otherwise.
    pub fn state(&self) -> AmendmentState {
        match self {
            Outcome::Acknowledged(_) => AmendmentState::Acknowledged,
            Outcome::Rejected(_) => AmendmentState::Rejected,
            Outcome::Failed(e) if undelivered(e.kind()) => AmendmentState::Undelivered,
            Outcome::Failed(_) => AmendmentState::Failed,
            Outcome::StaleResend(_) => AmendmentState::InDoubt,
            Outcome::ConfirmedByRead(_) => AmendmentState::Confirmed,
        }
    }
}

/// Whether a failure of this kind means the amendment did not reach the platform (or reached
/// it without an answer): transient failures (connection refused, timeouts, 5xx, busy),
/// rate limits and an exhausted quota, once the transport's retries are spent. Sending again
/// later can succeed, so such an amendment is not finished. Every other kind is the platform
/// saying no (or an answer that could not be read), and is final.
pub fn undelivered(kind: PlatformErrorKind) -> bool {
    kind.retryable() || kind == PlatformErrorKind::QuotaExhausted
}

/// What [`Journal::begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// New: the intent is now recorded as planned.
    New,
    /// Recorded earlier and not finished (planned, sent or undelivered): send it (again).
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

/// What decoding a message gave, stored with it by [`Journal::record_decoded_message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageDecoding {
    /// The message is about this order.
    Order(OrderId),
    /// It could not be decoded: a dead letter, with the reason.
    DeadLetter(String),
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

/// The cause of a storage failure, kept as the journal implementation's own error (a database
/// driver's, an IO error) without naming its type here: the port stays free of IO crates.
pub type StorageCause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A journal failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The storage failed (IO, database). Neither the context nor the cause contains
    /// credentials.
    #[error("journal storage failed: {context}")]
    Storage {
        /// What the journal was doing.
        context: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<StorageCause>,
    },
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
    /// The journal is held by another process (a SQLite journal is used by one process at a
    /// time). Nothing was opened.
    #[error(
        "the journal {journal} is in use by {holder}; wait for it to finish (one process at a time)"
    )]
    Locked {
        /// The journal (its file).
        journal: String,
        /// Who holds it, as it wrote itself into the lock file (`pid 4242 on host-a`).
        holder: String,
    },
    /// [`Journal::begin`] with an idempotency key already recorded for a different amendment
    /// (another shop, order or target). The recorded one stands; nothing was written. This is
    /// an error in the caller's input, not in the journal.
    #[error("idempotency key {key} is already recorded for a different amendment ({recorded})")]
    KeyReused {
        /// The key.
        key: String,
        /// What it is recorded for.
        recorded: String,
    },
}

impl JournalError {
    /// A storage failure with its cause.
    pub fn storage(context: impl Into<String>, source: impl Into<StorageCause>) -> JournalError {
        JournalError::Storage {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// A storage failure with no underlying error (a closed journal, a lost task).
    pub fn storage_context(context: impl Into<String>) -> JournalError {
        JournalError::Storage {
            context: context.into(),
            source: None,
        }
    }
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

    /// Marks an acknowledged amendment `confirmed` or `flagged` by a read of the order (no
    /// message involved), with a note saying what the read showed when it is flagged.
    async fn confirm_by_read(
        &self,
        key: &IdempotencyKey,
        state: AmendmentState,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<(), JournalError>;

    /// How many amendments of `shop` the journal holds as applied to `order` (acknowledged,
    /// confirmed or flagged): the revision count of a platform whose read does not carry it.
    async fn applied_revisions(&self, shop: &ShopId, order: &OrderId) -> Result<u32, JournalError> {
        let n = self
            .amendments(Some(order))
            .await?
            .iter()
            .filter(|r| {
                &r.intent.shop == shop
                    && matches!(
                        r.state,
                        AmendmentState::Acknowledged
                            | AmendmentState::Confirmed
                            | AmendmentState::Flagged
                    )
            })
            .count();
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Amendments, newest first; only those of `order` when given.
    async fn amendments(
        &self,
        order: Option<&OrderId>,
    ) -> Result<Vec<AmendmentRecord>, JournalError>;

    /// Stores an inbound message durably, or reports it as a duplicate.
    async fn record_message(&self, message: &InboundRecord) -> Result<MessageInsert, JournalError>;

    /// Stores an inbound message durably together with what decoding it gave (its order, or
    /// why it is a dead letter), or reports it as a duplicate and leaves the stored one as it
    /// is. The same as [`record_message`] followed by [`message_decoded`] or [`dead_letter`],
    /// but the journals make it one write (one commit), with no moment where the message is
    /// stored undecoded. The default makes the two writes.
    ///
    /// [`record_message`]: Journal::record_message
    /// [`message_decoded`]: Journal::message_decoded
    /// [`dead_letter`]: Journal::dead_letter
    async fn record_decoded_message(
        &self,
        message: &InboundRecord,
        decoding: &MessageDecoding,
    ) -> Result<MessageInsert, JournalError> {
        let inserted = self.record_message(message).await?;
        if let MessageInsert::New(id) = inserted {
            match decoding {
                MessageDecoding::Order(order) => self.message_decoded(id, order).await?,
                MessageDecoding::DeadLetter(reason) => self.dead_letter(id, reason).await?,
            }
        }
        Ok(inserted)
    }

    /// Notes which order a stored message concerns (after decoding).
    async fn message_decoded(&self, id: i64, order: &OrderId) -> Result<(), JournalError>;

    /// Dead-letters a stored message that could not be decoded, with the reason.
    async fn dead_letter(&self, id: i64, reason: &str) -> Result<(), JournalError>;

    /// Stored messages, newest first; dead letters only when `dead_letters_only`.
    async fn messages(&self, dead_letters_only: bool) -> Result<Vec<MessageRecord>, JournalError>;

    /// The stored messages decoded as being about `order` (see [`message_decoded`]), newest
    /// first: what stands in for an order read on a platform without one (vv-tool's 1688
    /// messages). The default filters [`messages`]; journals with an index override it.
    ///
    /// [`message_decoded`]: Journal::message_decoded
    /// [`messages`]: Journal::messages
    async fn messages_for_order(
        &self,
        order: &OrderId,
    ) -> Result<Vec<MessageRecord>, JournalError> {
        let mut all = self.messages(false).await?;
        all.retain(|m| m.order.as_ref() == Some(order));
        Ok(all)
    }

    /// Makes everything committed so far readable from the journal's main storage alone (a
    /// database file without its write-ahead log), e.g. at the end of a batch. Every write is
    /// already durable when it returns; this only moves it. Nothing to do by default.
    async fn checkpoint(&self) -> Result<(), JournalError> {
        Ok(())
    }
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
