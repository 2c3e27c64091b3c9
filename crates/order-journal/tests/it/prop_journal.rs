//! Properties of the journal under arbitrary call sequences.
//!
//! Each property runs on SQLite in memory and on PostgreSQL. Each test builds one tokio runtime
//! and one journal (in memory, or one database on the throwaway cluster) and reuses them across
//! cases; every case uses keys and an order of its own, so cases stay cheap and independent.
//! The number of cases follows `PROPTEST_CASES` (the default config reads it).

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use order_domain::{
    Amendment, AmendmentState, Begin, IdempotencyKey, InboundRecord, Intent, Journal, JournalError,
    MessageInsert, Order, Outcome, PlatformError, PlatformErrorKind, Receipt, ShopId, Timestamp,
    plan,
};
use order_journal::AnyJournal;
use proptest::prelude::*;
use tokio::runtime::Runtime;

const LINE_ID: &str = "2198111437768747371";

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
});

static CASE: AtomicU64 = AtomicU64::new(0);

fn journal() -> AnyJournal {
    RUNTIME
        .block_on(AnyJournal::open("sqlite::memory:"))
        .unwrap()
}

/// A journal on a database of its own on the throwaway PostgreSQL cluster.
fn postgres_journal() -> AnyJournal {
    let url = pg_throwaway::shared().fresh_database();
    RUNTIME.block_on(AnyJournal::open(&url)).unwrap()
}

/// An intent on an order of its own case, so each case's checks read only its own rows.
fn intent(case: u64, key: &str) -> Intent {
    let order: Order = serde_json::from_str(&format!(
        r#"{{
            "id": "21981114377{case:08}", "status": "awaiting_payment", "currency": "CNY",
            "trade_type": "6",
            "lines": [{{ "id": "{LINE_ID}", "original_total": "100.30" }}]
        }}"#
    ))
    .unwrap();
    let amendment: Amendment =
        serde_json::from_str(&format!(r#"{{ "lines": {{ "{LINE_ID}": "0.30" }} }}"#)).unwrap();
    let plan = plan(&order, &amendment, &rules_1688::policy());
    Intent {
        key: IdempotencyKey::new(key).unwrap(),
        shop: ShopId::new("vv-main").unwrap(),
        order,
        amendment,
        plan,
    }
}

/// One call against the journal, on one of a few keys.
#[derive(Debug, Clone)]
enum Op {
    Begin(usize),
    MarkSent(usize),
    Outcome(usize, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4usize).prop_map(Op::Begin),
        (0..4usize).prop_map(Op::MarkSent),
        (0..4usize, 0..3u8).prop_map(|(k, o)| Op::Outcome(k, o)),
    ]
}

fn outcome(kind: u8, intent: &Intent) -> Outcome {
    match kind {
        0 => Outcome::Acknowledged(Receipt::new("{\"msg\":\"改价成功\",\"fee\":\"0.30\"}")),
        1 => Outcome::Failed(PlatformError::new(
            PlatformErrorKind::Transient,
            Some("isp.timeout".into()),
            "系统繁忙",
        )),
        _ => match &intent.plan {
            Err(r) => Outcome::Rejected(r.clone()),
            Ok(_) => Outcome::Failed(PlatformError::new(
                PlatformErrorKind::RejectedByRule,
                None,
                "不允许",
            )),
        },
    }
}

fn is_conflict<T>(r: &Result<T, JournalError>) -> bool {
    matches!(r, Err(JournalError::Conflict { .. }))
}

fn is_missing<T>(r: &Result<T, JournalError>) -> bool {
    matches!(r, Err(JournalError::Missing(_)))
}

static BEGIN_OUTCOME_JOURNAL: LazyLock<AnyJournal> = LazyLock::new(journal);
static MESSAGE_JOURNAL: LazyLock<AnyJournal> = LazyLock::new(journal);
static PG_BEGIN_OUTCOME_JOURNAL: LazyLock<AnyJournal> = LazyLock::new(postgres_journal);
static PG_MESSAGE_JOURNAL: LazyLock<AnyJournal> = LazyLock::new(postgres_journal);

proptest! {
    #![proptest_config(ProptestConfig::default())]

    /// Whatever the sequence of begin / mark_sent / record_outcome calls, each key follows the
    /// journal's rules: a final outcome (acknowledged, rejected, failed) is kept once recorded
    /// (the same again is a no-op, another a conflict, as is marking it sent); an undelivered
    /// one (a transient failure) is not final: marking the amendment sent clears it and any
    /// outcome may follow. `begin` reports the state, and each acknowledgement makes one
    /// revision.
    #[test]
    fn prop_each_key_keeps_exactly_one_final_outcome(ops in prop::collection::vec(op(), 1..24)) {
        each_key_keeps_exactly_one_final_outcome(&BEGIN_OUTCOME_JOURNAL, &ops)?;
    }

    /// The same on PostgreSQL.
    #[test]
    fn prop_each_key_keeps_exactly_one_final_outcome_on_postgres(
        ops in prop::collection::vec(op(), 1..24)
    ) {
        each_key_keeps_exactly_one_final_outcome(&PG_BEGIN_OUTCOME_JOURNAL, &ops)?;
    }

    /// Messages dedupe by key: the first insert of a key is new, every later one reports the
    /// first one's id, and exactly one row is stored per key, with the first body.
    #[test]
    fn prop_messages_dedupe_by_key(keys in prop::collection::vec(0..6u8, 1..24)) {
        messages_dedupe_by_key(&MESSAGE_JOURNAL, &keys)?;
    }

    /// The same on PostgreSQL.
    #[test]
    fn prop_messages_dedupe_by_key_on_postgres(keys in prop::collection::vec(0..6u8, 1..24)) {
        messages_dedupe_by_key(&PG_MESSAGE_JOURNAL, &keys)?;
    }
}

fn each_key_keeps_exactly_one_final_outcome(
    j: &AnyJournal,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let case = CASE.fetch_add(1, Ordering::Relaxed);
    let intents: Vec<Intent> = (0..4)
        .map(|k| intent(case, &format!("c{case}-k{k}")))
        .collect();
    RUNTIME.block_on(async {
        // The model: each begun key's state and recorded outcome.
        let mut model: BTreeMap<usize, (AmendmentState, Option<Outcome>)> = BTreeMap::new();
        for (t, op) in ops.iter().enumerate() {
            let now = Timestamp::from_millis(i64::try_from(t).unwrap());
            match *op {
                Op::Begin(k) => {
                    let got = j.begin(&intents[k], now).await.unwrap();
                    let expected = match model.get(&k) {
                        None => {
                            model.insert(k, (AmendmentState::Planned, None));
                            Begin::New
                        }
                        Some((s, _)) if s.is_final() => Begin::Finished(*s),
                        Some((s, _)) => Begin::Unfinished(*s),
                    };
                    prop_assert_eq!(got, expected);
                }
                Op::MarkSent(k) => {
                    let got = j.mark_sent(&intents[k].key, now).await;
                    match model.get_mut(&k) {
                        None => prop_assert!(is_missing(&got), "expected missing, got {:?}", got),
                        Some((s, _)) if s.is_final() => {
                            prop_assert!(is_conflict(&got), "expected a conflict, got {:?}", got);
                        }
                        Some(m) => {
                            prop_assert!(got.is_ok());
                            *m = (AmendmentState::Sent, None);
                        }
                    }
                }
                Op::Outcome(k, kind) => {
                    let o = outcome(kind, &intents[k]);
                    let got = j.record_outcome(&intents[k].key, &o, now).await;
                    match model.get_mut(&k) {
                        None => prop_assert!(is_missing(&got), "expected missing, got {:?}", got),
                        Some((s, recorded)) if s.is_final() => {
                            if recorded.as_ref() == Some(&o) {
                                prop_assert!(got.is_ok());
                            } else {
                                prop_assert!(
                                    is_conflict(&got),
                                    "expected a conflict, got {:?}",
                                    got
                                );
                            }
                        }
                        Some(m) => {
                            prop_assert!(got.is_ok(), "{:?}", got);
                            *m = (o.state(), Some(o));
                        }
                    }
                }
            }
        }
        let order = intents[0].order.id().clone();
        let records = j.amendments(Some(&order)).await.unwrap();
        let revisions = j.revisions(&order).await.unwrap();
        for (k, i) in intents.iter().enumerate() {
            let mine: Vec<_> = records.iter().filter(|r| r.intent.key == i.key).collect();
            prop_assert_eq!(mine.len(), usize::from(model.contains_key(&k)));
            if let Some(r) = mine.first() {
                let (state, outcome) = &model[&k];
                prop_assert_eq!(&r.outcome, outcome);
                prop_assert_eq!(r.state, *state);
                if let Some(o) = &r.outcome {
                    prop_assert_eq!(r.state, o.state());
                }
            }
            let acked = matches!(model.get(&k), Some((AmendmentState::Acknowledged, _)));
            let revs = revisions.iter().filter(|r| r.key == i.key).count();
            prop_assert_eq!(revs, usize::from(acked));
        }
        Ok(())
    })
}

fn messages_dedupe_by_key(j: &AnyJournal, keys: &[u8]) -> Result<(), TestCaseError> {
    let case = CASE.fetch_add(1, Ordering::Relaxed);
    RUNTIME.block_on(async {
        let (before, _) = j.message_counts().await.unwrap();
        let mut ids: BTreeMap<u8, (i64, String)> = BTreeMap::new();
        for (t, k) in keys.iter().enumerate() {
            let raw = format!("{{\"n\":{t},\"text\":\"改价\"}}");
            let message = InboundRecord {
                dedup_key: format!("c{case}-m{k}"),
                source: "1688-push".into(),
                raw: raw.clone().into_bytes(),
                received_at: Timestamp::from_millis(i64::try_from(t).unwrap()),
            };
            match j.record_message(&message).await.unwrap() {
                MessageInsert::New(id) => {
                    prop_assert!(!ids.contains_key(k));
                    ids.insert(*k, (id, raw));
                }
                MessageInsert::Duplicate(id) => {
                    prop_assert_eq!(ids.get(k).map(|(i, _)| *i), Some(id));
                }
            }
        }
        let (after, _) = j.message_counts().await.unwrap();
        prop_assert_eq!(after, before + u64::try_from(ids.len()).unwrap());
        for (k, (id, raw)) in &ids {
            let stored = j
                .message_by_dedup_key(&format!("c{case}-m{k}"))
                .await
                .unwrap();
            let stored = stored.expect("a stored message");
            prop_assert_eq!(stored.id, *id);
            prop_assert_eq!(&stored.record.raw, raw.as_bytes());
        }
        Ok(())
    })
}
