//! In-memory implementations of the ports, for tests and for embedders who want to try the use
//! cases without a database or a platform. Neither is durable.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use order_domain::{
    AmendmentRecord, AmendmentState, Begin, IdempotencyKey, InboundRecord, Intent, Journal,
    JournalError, MessageInsert, MessageRecord, Order, OrderId, OrderPlatform, Outcome, Plan,
    PlatformError, PlatformErrorKind, Policy, Receipt, Timestamp,
};

#[derive(Debug, Default)]
struct JournalState {
    /// Records in insertion order; `index` maps keys to positions.
    records: Vec<AmendmentRecord>,
    index: HashMap<IdempotencyKey, usize>,
    messages: Vec<MessageRecord>,
}

/// A [`Journal`] in memory.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    state: Mutex<JournalState>,
}

impl MemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, JournalState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn missing(key: &IdempotencyKey) -> JournalError {
    JournalError::Missing(key.to_string())
}

#[async_trait]
impl Journal for MemoryJournal {
    async fn begin(&self, intent: &Intent, now: Timestamp) -> Result<Begin, JournalError> {
        let mut st = self.lock();
        if let Some(&i) = st.index.get(&intent.key) {
            let state = st.records[i].state;
            return Ok(if state.is_final() {
                Begin::Finished(state)
            } else {
                Begin::Unfinished(state)
            });
        }
        let pos = st.records.len();
        st.records.push(AmendmentRecord {
            intent: intent.clone(),
            state: AmendmentState::Planned,
            outcome: None,
            note: None,
            recorded_at: now,
            updated_at: now,
        });
        st.index.insert(intent.key.clone(), pos);
        Ok(Begin::New)
    }

    async fn mark_sent(&self, key: &IdempotencyKey, now: Timestamp) -> Result<(), JournalError> {
        let mut st = self.lock();
        let i = *st.index.get(key).ok_or_else(|| missing(key))?;
        let r = &mut st.records[i];
        if !r.state.is_final() {
            r.state = AmendmentState::Sent;
            r.updated_at = now;
        }
        Ok(())
    }

    async fn record_outcome(
        &self,
        key: &IdempotencyKey,
        outcome: &Outcome,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        let mut st = self.lock();
        let i = *st.index.get(key).ok_or_else(|| missing(key))?;
        let r = &mut st.records[i];
        r.state = outcome.state();
        r.outcome = Some(outcome.clone());
        r.updated_at = now;
        Ok(())
    }

    async fn reconcile(
        &self,
        key: &IdempotencyKey,
        state: AmendmentState,
        _message_id: i64,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        let mut st = self.lock();
        let i = *st.index.get(key).ok_or_else(|| missing(key))?;
        let r = &mut st.records[i];
        r.state = state;
        r.note = note.map(str::to_owned);
        r.updated_at = now;
        Ok(())
    }

    async fn amendments(
        &self,
        order: Option<&OrderId>,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        let st = self.lock();
        Ok(st
            .records
            .iter()
            .rev()
            .filter(|r| order.is_none_or(|o| r.intent.order.id() == o))
            .cloned()
            .collect())
    }

    async fn record_message(&self, message: &InboundRecord) -> Result<MessageInsert, JournalError> {
        let mut st = self.lock();
        if let Some(m) = st
            .messages
            .iter()
            .find(|m| m.record.dedup_key == message.dedup_key)
        {
            return Ok(MessageInsert::Duplicate(m.id));
        }
        let id = i64::try_from(st.messages.len()).unwrap_or(i64::MAX - 1) + 1;
        st.messages.push(MessageRecord {
            id,
            record: message.clone(),
            order: None,
            dead_letter_reason: None,
        });
        Ok(MessageInsert::New(id))
    }

    async fn message_decoded(&self, id: i64, order: &OrderId) -> Result<(), JournalError> {
        let mut st = self.lock();
        let m = st
            .messages
            .iter_mut()
            .find(|m| m.id == id)
            .ok_or_else(|| JournalError::Missing(format!("message {id}")))?;
        m.order = Some(order.clone());
        Ok(())
    }

    async fn dead_letter(&self, id: i64, reason: &str) -> Result<(), JournalError> {
        let mut st = self.lock();
        let m = st
            .messages
            .iter_mut()
            .find(|m| m.id == id)
            .ok_or_else(|| JournalError::Missing(format!("message {id}")))?;
        m.dead_letter_reason = Some(reason.to_owned());
        Ok(())
    }

    async fn messages(&self, dead_letters_only: bool) -> Result<Vec<MessageRecord>, JournalError> {
        let st = self.lock();
        Ok(st
            .messages
            .iter()
            .rev()
            .filter(|m| !dead_letters_only || m.dead_letter_reason.is_some())
            .cloned()
            .collect())
    }
}

/// An [`OrderPlatform`] in memory: holds orders, checks every plan against its policy (as the
/// platform would), applies it with [`Order::with_revision`] and counts applied changes.
///
/// Orders it does not hold yet are taken from the snapshot of the first plan that names them,
/// so a batch works without seeding; [`MemoryPlatform::order`] shows the state afterwards.
#[derive(Debug)]
pub struct MemoryPlatform {
    name: String,
    policy: Policy,
    orders: Mutex<HashMap<OrderId, (Order, u64)>>,
    failures: Mutex<Vec<PlatformError>>,
}

impl MemoryPlatform {
    /// A platform named after `policy`.
    pub fn new(policy: Policy) -> Self {
        MemoryPlatform {
            name: policy.name.to_string(),
            policy,
            orders: Mutex::new(HashMap::new()),
            failures: Mutex::new(Vec::new()),
        }
    }

    /// Makes the next `apply` calls fail with these errors, in order.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = PlatformError>) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(errors);
    }

    /// The order as the platform holds it now, and how many changes were applied to it.
    pub fn order(&self, id: &OrderId) -> Option<(Order, u64)> {
        self.orders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }
}

#[async_trait]
impl OrderPlatform for MemoryPlatform {
    fn name(&self) -> &str {
        &self.name
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    async fn apply(&self, order: &Order, plan: &Plan) -> Result<Receipt, PlatformError> {
        {
            let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            if !f.is_empty() {
                return Err(f.remove(0));
            }
        }
        let mut orders = self.orders.lock().unwrap_or_else(|e| e.into_inner());
        let entry = orders
            .entry(order.id().clone())
            .or_insert_with(|| (order.clone(), 0));
        // Re-plan against the platform's own state, as a real platform checks its rules.
        let target = order_domain::Amendment {
            lines: plan
                .named_lines()
                .map(|l| {
                    (
                        l.line().clone(),
                        order_domain::Amount::new(l.target().amount())
                            .unwrap_or(order_domain::Amount::ZERO),
                    )
                })
                .collect(),
            ..order_domain::Amendment::default()
        };
        if !target.lines.is_empty()
            && let Err(r) = order_domain::plan(&entry.0, &target, &self.policy)
        {
            return Err(PlatformError::new(
                PlatformErrorKind::RejectedByRule,
                Some("memory.rule".into()),
                r.to_string(),
            ));
        }
        entry.0 = entry.0.with_revision(plan, None);
        entry.1 += 1;
        Ok(Receipt::new(format!(
            "{{\"ok\":true,\"order\":\"{}\",\"revision\":{}}}",
            order.id(),
            entry.0.revision().count
        )))
    }
}
