//! In-memory implementations of the ports, for tests and for embedders who want to try the use
//! cases without a database or a platform. Neither is durable.
//!
//! [`MemoryJournal`] follows the SQLite journal's rules (checked by running the same
//! conformance test against both): an outcome is final (the same one again is a no-op, another
//! is a `Conflict`), a finished amendment is not marked sent again, an undelivered one is, a key
//! recorded for another amendment is `KeyReused`, and only acknowledged amendments are
//! reconciled.

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
            let recorded = &st.records[i];
            // As SQLite: a key recorded for another shop, order or target is refused.
            if recorded.intent.shop != intent.shop
                || recorded.intent.order.id() != intent.order.id()
                || recorded.intent.amendment != intent.amendment
            {
                return Err(JournalError::KeyReused {
                    key: intent.key.to_string(),
                    recorded: format!(
                        "shop {} order {}",
                        recorded.intent.shop,
                        recorded.intent.order.id()
                    ),
                });
            }
            let state = recorded.state;
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
        // As SQLite: only an unfinished amendment is sent; its last failure is cleared.
        if r.state.is_final() {
            return Err(JournalError::Conflict {
                key: key.to_string(),
                reason: format!(
                    "it is already {}; a finished amendment is not sent again",
                    r.state
                ),
            });
        }
        r.state = AmendmentState::Sent;
        r.outcome = None;
        r.updated_at = now;
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
        // As SQLite: an outcome is final; the same one again is a no-op, another is refused.
        if r.state.is_final() {
            if r.outcome.as_ref() == Some(outcome) {
                return Ok(());
            }
            return Err(JournalError::Conflict {
                key: key.to_string(),
                reason: format!(
                    "it is already {} with a different outcome; refusing to record {}",
                    r.state,
                    outcome.state()
                ),
            });
        }
        r.state = outcome.state();
        r.outcome = Some(outcome.clone());
        r.updated_at = now;
        Ok(())
    }

    async fn reconcile(
        &self,
        key: &IdempotencyKey,
        state: AmendmentState,
        message_id: i64,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        let mut st = self.lock();
        // As SQLite: only an acknowledged amendment is confirmed or flagged, by a stored
        // message.
        if !matches!(state, AmendmentState::Confirmed | AmendmentState::Flagged) {
            return Err(JournalError::Conflict {
                key: key.to_string(),
                reason: format!("reconciliation confirms or flags; it cannot set {state}"),
            });
        }
        let i = *st.index.get(key).ok_or_else(|| missing(key))?;
        let recorded = st.records[i].state;
        if !matches!(
            recorded,
            AmendmentState::Acknowledged | AmendmentState::Confirmed | AmendmentState::Flagged
        ) {
            return Err(JournalError::Conflict {
                key: key.to_string(),
                reason: format!(
                    "it is {recorded}; only an acknowledged amendment can be reconciled"
                ),
            });
        }
        if !st.messages.iter().any(|m| m.id == message_id) {
            return Err(JournalError::Missing(format!("message {message_id}")));
        }
        let r = &mut st.records[i];
        r.state = state;
        r.note = note.map(str::to_owned);
        r.updated_at = now;
        Ok(())
    }

    async fn confirm_by_read(
        &self,
        key: &IdempotencyKey,
        state: AmendmentState,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        let mut st = self.lock();
        if !matches!(state, AmendmentState::Confirmed | AmendmentState::Flagged) {
            return Err(JournalError::Conflict {
                key: key.to_string(),
                reason: format!("a read confirms or flags; it cannot set {state}"),
            });
        }
        let i = *st.index.get(key).ok_or_else(|| missing(key))?;
        let recorded = st.records[i].state;
        if !matches!(
            recorded,
            AmendmentState::Acknowledged | AmendmentState::Confirmed | AmendmentState::Flagged
        ) {
            return Err(JournalError::Conflict {
                key: key.to_string(),
                reason: format!(
                    "it is {recorded}; only an acknowledged amendment can be reconciled"
                ),
            });
        }
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

#[cfg(test)]
mod tests {
    use order_domain::{InboundRecord, Journal, JournalError, Outcome, PlatformError, Receipt};

    use super::*;
    use crate::input::parse_line;

    fn intent(order: &str, target: &str) -> Intent {
        let text = format!(
            r#"{{"key":"k-{order}","shop":"wechat-a","order":{{"id":"{order}","status":"awaiting_payment","currency":"CNY","lines":[{{"id":"L1","product":"1","sku":"2","original_total":"10.00"}}],"freight":{{"original":"2.00"}}}},"set":{{"lines":{{"L1":"{target}"}}}}}}"#
        );
        let a = parse_line(1, &text).unwrap();
        Intent {
            key: a.key(),
            shop: a.shop.clone(),
            order: a.snapshot().unwrap().clone(),
            amendment: a.set.clone(),
            plan: order_domain::plan(
                a.snapshot().unwrap(),
                &a.set,
                &transport_wechat_shop::policy(),
            ),
        }
    }

    /// What a call answered, without the wording: `Ok(..)` or the error's variant.
    fn shape<T: std::fmt::Debug>(r: Result<T, JournalError>) -> String {
        match r {
            Ok(v) => format!("Ok({v:?})"),
            Err(JournalError::Conflict { .. }) => "Conflict".into(),
            Err(JournalError::Missing(_)) => "Missing".into(),
            Err(JournalError::KeyReused { .. }) => "KeyReused".into(),
            Err(e) => format!("Err({e})"),
        }
    }

    /// Every rule the batch relies on, asked of a journal; the answers in order.
    async fn script(j: &dyn Journal) -> Vec<String> {
        let t = Timestamp::from_millis;
        let a = intent("1", "8.00");
        let b = intent("2", "8.00");
        let ack = Outcome::Acknowledged(Receipt::new("{}"));
        let down = Outcome::Failed(PlatformError::new(
            PlatformErrorKind::Transient,
            Some("502".into()),
            "bad gateway",
        ));
        let mut out = vec![
            shape(j.begin(&a, t(1)).await),
            shape(j.mark_sent(&a.key, t(2)).await),
            shape(j.record_outcome(&a.key, &ack, t(3)).await),
            shape(j.record_outcome(&a.key, &ack, t(4)).await),
            shape(j.record_outcome(&a.key, &down, t(5)).await),
            shape(j.mark_sent(&a.key, t(6)).await),
            shape(j.begin(&a, t(7)).await),
            shape(j.begin(&intent("1", "7.00"), t(8)).await),
            shape(j.mark_sent(&missing_key(), t(9)).await),
            shape(j.begin(&b, t(10)).await),
            shape(
                j.reconcile(&b.key, AmendmentState::Confirmed, 1, None, t(11))
                    .await,
            ),
            shape(j.mark_sent(&b.key, t(12)).await),
            shape(j.record_outcome(&b.key, &down, t(13)).await),
            shape(j.begin(&b, t(14)).await),
            shape(j.mark_sent(&b.key, t(15)).await),
            shape(j.record_outcome(&b.key, &ack, t(16)).await),
        ];
        let message = InboundRecord {
            dedup_key: "d".into(),
            source: "1688-push".into(),
            raw: "{}".into(),
            received_at: t(17),
        };
        let id = match j.record_message(&message).await.unwrap() {
            order_domain::MessageInsert::New(id) => id,
            other => panic!("{other:?}"),
        };
        out.push(shape(
            j.reconcile(&b.key, AmendmentState::Confirmed, id + 100, None, t(18))
                .await,
        ));
        out.push(shape(
            j.reconcile(&b.key, AmendmentState::Rejected, id, None, t(18))
                .await,
        ));
        out.push(shape(
            j.reconcile(&b.key, AmendmentState::Flagged, id, Some("no"), t(19))
                .await,
        ));
        let states: Vec<AmendmentState> = j
            .amendments(None)
            .await
            .unwrap()
            .iter()
            .map(|r| r.state)
            .collect();
        out.push(format!("{states:?}"));
        out
    }

    fn missing_key() -> IdempotencyKey {
        IdempotencyKey::new("k-none").unwrap()
    }

    #[tokio::test]
    async fn the_memory_journal_answers_every_call_as_the_sqlite_journal_does() {
        let sqlite = order_journal::SqliteJournal::in_memory().await.unwrap();
        let expected = script(&sqlite).await;
        let got = script(&MemoryJournal::new()).await;
        assert_eq!(got, expected);
        // The script does reach the rules it is about.
        assert!(
            expected.iter().filter(|s| *s == "Conflict").count() >= 4,
            "{expected:?}"
        );
        assert!(expected.contains(&"KeyReused".to_owned()), "{expected:?}");
    }
}
