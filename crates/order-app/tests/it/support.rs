//! Test doubles shared by the receiver's tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use order_domain::{
    AmendmentRecord, AmendmentState, Begin, IdempotencyKey, InboundRecord, Intent, Journal,
    JournalError, MessageInsert, MessageRecord, OrderId, Outcome, Timestamp,
};

/// A journal that fails `record_message` while `failing` is set and counts the reconciliation's
/// reads (`amendments`); everything else goes to `inner` unchanged.
#[derive(Debug)]
pub(crate) struct Flaky {
    pub(crate) inner: Arc<dyn Journal>,
    pub(crate) failing: Arc<AtomicBool>,
    /// Calls of `amendments` (the reconciliation's read).
    pub(crate) reads: Arc<AtomicUsize>,
}

#[async_trait]
impl Journal for Flaky {
    async fn begin(&self, intent: &Intent, now: Timestamp) -> Result<Begin, JournalError> {
        self.inner.begin(intent, now).await
    }
    async fn mark_sent(&self, key: &IdempotencyKey, now: Timestamp) -> Result<(), JournalError> {
        self.inner.mark_sent(key, now).await
    }
    async fn record_outcome(
        &self,
        key: &IdempotencyKey,
        outcome: &Outcome,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        self.inner.record_outcome(key, outcome, now).await
    }
    async fn reconcile(
        &self,
        key: &IdempotencyKey,
        state: AmendmentState,
        message_id: i64,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        self.inner
            .reconcile(key, state, message_id, note, now)
            .await
    }
    async fn confirm_by_read(
        &self,
        key: &IdempotencyKey,
        state: AmendmentState,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        self.inner.confirm_by_read(key, state, note, now).await
    }
    async fn amendments(
        &self,
        order: Option<&OrderId>,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.amendments(order).await
    }
    async fn record_message(&self, message: &InboundRecord) -> Result<MessageInsert, JournalError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(JournalError::storage_context(
                "the journal is unreachable (simulated)",
            ));
        }
        self.inner.record_message(message).await
    }
    async fn message_decoded(&self, id: i64, order: &OrderId) -> Result<(), JournalError> {
        self.inner.message_decoded(id, order).await
    }
    async fn dead_letter(&self, id: i64, reason: &str) -> Result<(), JournalError> {
        self.inner.dead_letter(id, reason).await
    }
    async fn messages(&self, dead_letters_only: bool) -> Result<Vec<MessageRecord>, JournalError> {
        self.inner.messages(dead_letters_only).await
    }
}
