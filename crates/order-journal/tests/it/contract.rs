//! The journal contract: every behaviour of the `Journal` port (and the reads `ordermod` uses
//! beside it), written once and run against every backend: SQLite in memory, SQLite on disk
//! and PostgreSQL (a fresh database on a throwaway cluster, `pg-throwaway`).
//!
//! Each behaviour is an `async fn(&AnyJournal)`; [`contract!`] makes one test per backend of
//! each, named `contract::<backend>::<behaviour>`, on a multi-threaded runtime so that the
//! concurrent behaviours really run side by side (on PostgreSQL, over separate connections).

use std::sync::Arc;

use order_domain::ports::journal::MessageDecoding;
use order_domain::{
    AmendmentState, Begin, InboundRecord, Journal, JournalError, MessageInsert, OrderId, Outcome,
    PlatformError, PlatformErrorKind, ShopId,
};
use order_journal::{AnyJournal, SqliteJournal};

use crate::journal::{
    ORDER_ID, TempDir, ack, at, inbound, intent, intent_for, key, order, platform_error,
};

/// A journal on one backend, and what must live as long as it.
struct Fixture {
    journal: AnyJournal,
    _dir: Option<TempDir>,
}

impl Fixture {
    async fn sqlite_memory() -> Fixture {
        Fixture {
            journal: SqliteJournal::in_memory().await.unwrap().into(),
            _dir: None,
        }
    }

    async fn sqlite_file() -> Fixture {
        let dir = TempDir::new("contract");
        Fixture {
            journal: AnyJournal::open(&dir.url()).await.unwrap(),
            _dir: Some(dir),
        }
    }

    async fn postgres() -> Fixture {
        let url = pg_throwaway::shared().fresh_database();
        let journal = AnyJournal::open(&url).await.unwrap();
        assert!(journal.as_postgres().is_some());
        Fixture {
            journal,
            _dir: None,
        }
    }
}

/// One `#[tokio::test]` per backend for each behaviour named.
macro_rules! contract {
    ($($behaviour:ident),* $(,)?) => {
        contract!(@backend sqlite_memory; $($behaviour),*);
        contract!(@backend sqlite_file; $($behaviour),*);
        contract!(@backend postgres; $($behaviour),*);
    };
    (@backend $backend:ident; $($behaviour:ident),*) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    let f = super::Fixture::$backend().await;
                    super::$behaviour(&f.journal).await;
                    f.journal.close().await;
                }
            )*
        }
    };
}

contract!(
    begin_is_new_then_unfinished_then_finished,
    outcomes_are_final_and_recording_the_same_one_again_is_harmless,
    unknown_keys_and_messages_are_missing,
    a_rejected_intent_round_trips_with_its_rejection,
    money_replies_and_long_ids_round_trip_exactly,
    acknowledged_amendments_become_successive_revisions,
    concurrent_acknowledgements_of_one_order_take_successive_revisions,
    duplicate_messages_report_the_first_id,
    concurrent_duplicates_of_one_message_are_stored_once,
    dead_letters_are_kept_and_listed,
    reconcile_confirms_or_flags_acknowledged_amendments,
    a_later_reconciliation_moves_the_amendment_again,
    concurrent_begins_of_one_key_yield_exactly_one_new,
    concurrent_outcomes_of_one_key_keep_exactly_one,
    concurrent_writers_of_different_amendments_all_land,
    a_failure_that_never_reached_the_platform_is_undelivered_and_sent_again,
    a_resend_refused_as_stale_is_in_doubt_not_failed,
    a_key_reused_for_a_different_amendment_is_refused_and_the_recorded_one_stands,
    pages_of_amendments_cover_every_row_once_newest_first,
    an_in_doubt_amendment_confirmed_by_a_read_is_a_revision_and_is_final,
    a_read_confirms_or_flags_only_acknowledged_amendments_without_a_message,
    an_orders_messages_are_listed_newest_first_and_only_its_own,
    a_raw_body_that_is_not_utf8_is_kept_byte_for_byte,
    a_message_recorded_decoded_is_stored_with_its_order_or_reason,
    a_decoded_message_delivered_again_is_a_duplicate_and_the_stored_one_stands,
    concurrent_decoded_duplicates_of_one_message_are_stored_once,
    concurrent_messages_new_repeated_and_stored_before_each_get_their_answer,
);

async fn money_replies_and_long_ids_round_trip_exactly(j: &AnyJournal) {
    let reply = "{\"success\":true,\"message\":\"改价成功，订单金额已更新\",\"withholding_money\":\"0.30\"}\n  ";
    let ok = intent("k-ok");
    assert_eq!(ok.plan.as_ref().unwrap().new_total().to_string(), "0.30");
    j.begin(&ok, at(0)).await.unwrap();
    j.mark_sent(&ok.key, at(1)).await.unwrap();
    j.record_outcome(&ok.key, &ack(reply), at(2)).await.unwrap();
    let error = PlatformError::new(
        PlatformErrorKind::RejectedByRule,
        Some("gw.PriceRaiseForbidden".into()),
        "改价金额不能高于原价（单位：分）",
    )
    .with_detail("request_id=2198111437768747370");
    let bad = intent_for("k-bad", "2198111437768747999", "0.30");
    j.begin(&bad, at(3)).await.unwrap();
    j.record_outcome(&bad.key, &Outcome::Failed(error.clone()), at(4))
        .await
        .unwrap();

    let order = OrderId::new(ORDER_ID).unwrap();
    let records = j.amendments(Some(&order)).await.unwrap();
    assert_eq!(records.len(), 1);
    let back = &records[0];
    assert_eq!(back.intent, ok);
    assert_eq!(back.outcome, Some(ack(reply)), "the reply byte for byte");
    assert_eq!(back.intent.order.id().as_str(), "2198111437768747370");
    let plan = back.intent.plan.as_ref().unwrap();
    assert_eq!(plan.new_total().to_string(), "0.30");
    assert_eq!(plan.new_total().to_minor().unwrap(), 30);
    assert_eq!(plan.lines()[0].delta_vs_original().to_string(), "-100.00");
    let all = j.amendments(None).await.unwrap();
    let failed = all
        .iter()
        .find(|r| r.intent.key.as_str() == "k-bad")
        .unwrap();
    assert_eq!(failed.outcome, Some(Outcome::Failed(error)));
}

async fn concurrent_acknowledgements_of_one_order_take_successive_revisions(j: &AnyJournal) {
    // Sixteen amendments planned against one snapshot: each expects revision 1.
    let intents: Vec<_> = (0..16)
        .map(|n| {
            intent_for(
                &format!("k-ack-{n:02}"),
                ORDER_ID,
                &format!("{}.00", 50 + n),
            )
        })
        .collect();
    for (n, i) in intents.iter().enumerate() {
        assert_eq!(i.plan.as_ref().unwrap().next_revision(), 1);
        j.begin(i, at(i64::try_from(n).unwrap())).await.unwrap();
        j.mark_sent(&i.key, at(20)).await.unwrap();
    }
    let tasks: Vec<_> = intents
        .iter()
        .map(|i| {
            let (j, k) = (j.clone(), i.key.clone());
            tokio::spawn(async move { j.record_outcome(&k, &ack("{}"), at(30)).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let revisions = j.revisions(&OrderId::new(ORDER_ID).unwrap()).await.unwrap();
    let numbers: Vec<u32> = revisions.iter().map(|r| r.revision).collect();
    assert_eq!(numbers, (1..=16).collect::<Vec<u32>>(), "one after another");
    let mut keys: Vec<&str> = revisions.iter().map(|r| r.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), 16, "one revision per amendment");
    let shop = ShopId::new("vv-main").unwrap();
    let order = OrderId::new(ORDER_ID).unwrap();
    assert_eq!(j.applied_revisions(&shop, &order).await.unwrap(), 16);
}

async fn concurrent_duplicates_of_one_message_are_stored_once(j: &AnyJournal) {
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let j = j.clone();
            let body = format!("{{\"delivery\":{n}}}");
            tokio::spawn(async move { j.record_message(&inbound("nonce-dup", &body, n)).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap().unwrap());
    }
    let new: Vec<i64> = answers
        .iter()
        .filter_map(|a| match a {
            MessageInsert::New(id) => Some(*id),
            MessageInsert::Duplicate(_) => None,
        })
        .collect();
    assert_eq!(new.len(), 1, "{answers:?}");
    assert!(
        answers.iter().all(
            |a| matches!(a, MessageInsert::Duplicate(id) | MessageInsert::New(id) if *id == new[0])
        ),
        "every duplicate names the first id: {answers:?}"
    );
    assert_eq!(j.messages(false).await.unwrap().len(), 1);
    assert_eq!(j.message_counts().await.unwrap(), (1, 0));
}

async fn a_later_reconciliation_moves_the_amendment_again(j: &AnyJournal) {
    let i = intent("k-again");
    j.begin(&i, at(0)).await.unwrap();
    j.record_outcome(&i.key, &ack("{}"), at(1)).await.unwrap();
    let MessageInsert::New(m1) = j.record_message(&inbound("r1", "{}", 2)).await.unwrap() else {
        panic!("expected new");
    };
    let MessageInsert::New(m2) = j.record_message(&inbound("r2", "{}", 3)).await.unwrap() else {
        panic!("expected new");
    };
    j.reconcile(&i.key, AmendmentState::Flagged, m1, Some("85.00"), at(4))
        .await
        .unwrap();
    j.reconcile(&i.key, AmendmentState::Confirmed, m2, None, at(5))
        .await
        .unwrap();
    let r = &j.amendments(None).await.unwrap()[0];
    assert_eq!(r.state, AmendmentState::Confirmed);
    assert_eq!(r.note, None, "the latest reconciliation sets the note");
    assert_eq!(r.updated_at, at(5));
}

async fn concurrent_outcomes_of_one_key_keep_exactly_one(j: &AnyJournal) {
    let i = intent("k-contested");
    j.begin(&i, at(0)).await.unwrap();
    j.mark_sent(&i.key, at(1)).await.unwrap();
    let tasks: Vec<_> = (0..12)
        .map(|n| {
            let (j, k) = (j.clone(), i.key.clone());
            tokio::spawn(async move {
                let outcome = ack(&format!("{{\"writer\":{n}}}"));
                (outcome.clone(), j.record_outcome(&k, &outcome, at(2)).await)
            })
        })
        .collect();
    let mut recorded = Vec::new();
    for t in tasks {
        let (outcome, result) = t.await.unwrap();
        match result {
            Ok(()) => recorded.push(outcome),
            Err(JournalError::Conflict { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(recorded.len(), 1, "exactly one outcome is recorded");
    let r = &j.amendments(None).await.unwrap()[0];
    assert_eq!(r.outcome.as_ref(), Some(&recorded[0]));
    let revisions = j.revisions(&OrderId::new(ORDER_ID).unwrap()).await.unwrap();
    assert_eq!(revisions.len(), 1, "one acknowledgement, one revision");
    // Marking it sent again is refused: it is finished.
    assert!(matches!(
        j.mark_sent(&i.key, at(3)).await,
        Err(JournalError::Conflict { .. })
    ));
}

async fn concurrent_writers_of_different_amendments_all_land(j: &AnyJournal) {
    let tasks: Vec<_> = (0..32)
        .map(|n| {
            let j = j.clone();
            tokio::spawn(async move {
                let i = intent_for(&format!("k-w-{n:02}"), &format!("{}", 4000 + n), "0.30");
                assert_eq!(j.begin(&i, at(n)).await.unwrap(), Begin::New);
                j.mark_sent(&i.key, at(n)).await.unwrap();
                j.record_outcome(&i.key, &ack("{}"), at(n)).await.unwrap();
                let m = inbound(&format!("m-w-{n}"), "{}", n);
                assert!(matches!(
                    j.record_message(&m).await.unwrap(),
                    MessageInsert::New(_)
                ));
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let counts = j.counts_by_state().await.unwrap();
    let acknowledged = counts
        .iter()
        .find(|(s, _)| *s == AmendmentState::Acknowledged)
        .unwrap()
        .1;
    assert_eq!(acknowledged, 32);
    assert_eq!(j.unconfirmed_acknowledged().await.unwrap().len(), 32);
    assert_eq!(j.message_counts().await.unwrap(), (32, 0));
}

async fn a_raw_body_that_is_not_utf8_is_kept_byte_for_byte(j: &AnyJournal) {
    let raw = vec![0xC4, 0xE3, 0xBA, 0xC3, 0x00, 0xFF];
    let message = InboundRecord {
        dedup_key: "gbk".to_owned(),
        source: "1688-push".to_owned(),
        raw: raw.clone(),
        received_at: at(0),
    };
    let MessageInsert::New(id) = j.record_message(&message).await.unwrap() else {
        panic!("expected new");
    };
    let stored = j.message_by_dedup_key("gbk").await.unwrap().unwrap();
    assert_eq!(stored.id, id);
    assert_eq!(stored.record, message);
    assert_eq!(j.messages(false).await.unwrap()[0].record.raw, raw);
}

// The behaviours that were first written for the SQLite journal alone.

async fn begin_is_new_then_unfinished_then_finished(j: &AnyJournal) {
    let i = intent("k-resume");
    assert_eq!(j.begin(&i, at(0)).await.unwrap(), Begin::New);
    assert_eq!(
        j.begin(&i, at(1)).await.unwrap(),
        Begin::Unfinished(AmendmentState::Planned)
    );
    j.mark_sent(&i.key, at(2)).await.unwrap();
    // A crash after marking sent: resume sends again (the amendment is absolute).
    assert_eq!(
        j.begin(&i, at(3)).await.unwrap(),
        Begin::Unfinished(AmendmentState::Sent)
    );
    j.mark_sent(&i.key, at(4)).await.unwrap();
    j.record_outcome(&i.key, &ack("{\"success\":true}"), at(5))
        .await
        .unwrap();
    // A crash after the outcome: resume must not send again.
    assert_eq!(
        j.begin(&i, at(6)).await.unwrap(),
        Begin::Finished(AmendmentState::Acknowledged)
    );

    let records = j.amendments(None).await.unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.intent, i);
    assert_eq!(r.state, AmendmentState::Acknowledged);
    assert_eq!(r.outcome, Some(ack("{\"success\":true}")));
    assert_eq!(r.recorded_at, at(0));
    assert_eq!(r.updated_at, at(5));
}

async fn outcomes_are_final_and_recording_the_same_one_again_is_harmless(j: &AnyJournal) {
    let i = intent("k-final");
    j.begin(&i, at(0)).await.unwrap();
    let failed = Outcome::Failed(PlatformError::new(
        PlatformErrorKind::WrongState,
        Some("500_2".into()),
        "订单状态不允许改价",
    ));
    j.record_outcome(&i.key, &failed, at(1)).await.unwrap();
    // Same outcome again: a resume that re-records it.
    j.record_outcome(&i.key, &failed, at(2)).await.unwrap();
    // A different outcome: refused, the first one stands.
    let err = j
        .record_outcome(&i.key, &ack("{}"), at(3))
        .await
        .unwrap_err();
    assert!(matches!(err, JournalError::Conflict { .. }), "{err}");
    let err = j.mark_sent(&i.key, at(4)).await.unwrap_err();
    assert!(matches!(err, JournalError::Conflict { .. }), "{err}");

    let r = &j.amendments(None).await.unwrap()[0];
    assert_eq!(r.state, AmendmentState::Failed);
    assert_eq!(r.outcome, Some(failed));
    assert_eq!(r.updated_at, at(1));
    assert_eq!(
        j.begin(&i, at(5)).await.unwrap(),
        Begin::Finished(AmendmentState::Failed)
    );
}

async fn unknown_keys_and_messages_are_missing(j: &AnyJournal) {
    let k = key("k-none");
    assert!(matches!(
        j.mark_sent(&k, at(0)).await,
        Err(JournalError::Missing(_))
    ));
    assert!(matches!(
        j.record_outcome(&k, &ack("{}"), at(0)).await,
        Err(JournalError::Missing(_))
    ));
    assert!(matches!(
        j.reconcile(&k, AmendmentState::Confirmed, 1, None, at(0))
            .await,
        Err(JournalError::Missing(_))
    ));
    assert!(matches!(
        j.dead_letter(42, "bad").await,
        Err(JournalError::Missing(_))
    ));
    let order = OrderId::new(ORDER_ID).unwrap();
    assert!(matches!(
        j.message_decoded(42, &order).await,
        Err(JournalError::Missing(_))
    ));
}

async fn a_rejected_intent_round_trips_with_its_rejection(j: &AnyJournal) {
    // Raising the price is refused by vv-tool's lower-only rule.
    let i = intent_for("k-raise", ORDER_ID, "200.00");
    let rejection = i.plan.clone().unwrap_err();
    assert_eq!(j.begin(&i, at(0)).await.unwrap(), Begin::New);
    j.record_outcome(&i.key, &Outcome::Rejected(rejection.clone()), at(1))
        .await
        .unwrap();
    let r = &j.amendments(None).await.unwrap()[0];
    assert_eq!(r.intent.plan, Err(rejection.clone()));
    assert_eq!(r.state, AmendmentState::Rejected);
    assert_eq!(r.outcome, Some(Outcome::Rejected(rejection)));
    assert!(
        j.revisions(&OrderId::new(ORDER_ID).unwrap())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn acknowledged_amendments_become_successive_revisions(j: &AnyJournal) {
    let first = intent_for("k-rev-1", ORDER_ID, "90.00");
    let second = intent_for("k-rev-2", ORDER_ID, "80.00");
    // Both planned against the same snapshot: both expect revision 1.
    assert_eq!(first.plan.as_ref().unwrap().next_revision(), 1);
    assert_eq!(second.plan.as_ref().unwrap().next_revision(), 1);
    for (n, i) in [&first, &second].into_iter().enumerate() {
        let t = i64::try_from(n).unwrap() * 10;
        j.begin(i, at(t)).await.unwrap();
        j.record_outcome(&i.key, &ack("{}"), at(t + 1))
            .await
            .unwrap();
        // Recording the same acknowledgement again adds no revision.
        j.record_outcome(&i.key, &ack("{}"), at(t + 2))
            .await
            .unwrap();
    }
    let order = OrderId::new(ORDER_ID).unwrap();
    let revisions = j.revisions(&order).await.unwrap();
    let got: Vec<(u32, &str)> = revisions
        .iter()
        .map(|r| (r.revision, r.key.as_str()))
        .collect();
    assert_eq!(got, vec![(1, "k-rev-1"), (2, "k-rev-2")]);
    assert_eq!(revisions[1].applied_at, at(11));

    // Latest revision first.
    let acked = j.acknowledged_for_order(&order).await.unwrap();
    let keys: Vec<&str> = acked.iter().map(|r| r.intent.key.as_str()).collect();
    assert_eq!(keys, vec!["k-rev-2", "k-rev-1"]);
}

async fn duplicate_messages_report_the_first_id(j: &AnyJournal) {
    let raw =
        r#"{"type":"ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY","data":{"orderId":2198111437768747370}}"#;
    let first = j.record_message(&inbound("nonce-1", raw, 0)).await.unwrap();
    let MessageInsert::New(id) = first else {
        panic!("expected a new message, got {first:?}");
    };
    let again = j
        .record_message(&inbound("nonce-1", "different body", 5))
        .await
        .unwrap();
    assert_eq!(again, MessageInsert::Duplicate(id));
    let other = j.record_message(&inbound("nonce-2", raw, 1)).await.unwrap();
    assert!(matches!(other, MessageInsert::New(o) if o != id));

    let all = j.messages(false).await.unwrap();
    assert_eq!(all.len(), 2);
    // Newest first; the first body is kept verbatim.
    assert_eq!(all[0].record.dedup_key, "nonce-2");
    assert_eq!(all[1].id, id);
    assert_eq!(all[1].record, inbound("nonce-1", raw, 0));
}

async fn dead_letters_are_kept_and_listed(j: &AnyJournal) {
    let MessageInsert::New(good) = j
        .record_message(&inbound("n-good", "{\"ok\":1}", 0))
        .await
        .unwrap()
    else {
        panic!("expected new");
    };
    let MessageInsert::New(bad) = j
        .record_message(&inbound("n-bad", "不是 JSON", 1))
        .await
        .unwrap()
    else {
        panic!("expected new");
    };
    let order = OrderId::new(ORDER_ID).unwrap();
    j.message_decoded(good, &order).await.unwrap();
    j.dead_letter(bad, "expected value at line 1 column 1")
        .await
        .unwrap();

    let dead = j.messages(true).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, bad);
    assert_eq!(dead[0].record.raw, "不是 JSON".as_bytes());
    assert_eq!(
        dead[0].dead_letter_reason.as_deref(),
        Some("expected value at line 1 column 1")
    );
    let all = j.messages(false).await.unwrap();
    assert_eq!(all.len(), 2);
    let decoded = all.iter().find(|m| m.id == good).unwrap();
    assert_eq!(decoded.order, Some(order));
    assert_eq!(decoded.dead_letter_reason, None);
    assert_eq!(j.message_counts().await.unwrap(), (2, 1));
    let by_key = j.message_by_dedup_key("n-bad").await.unwrap().unwrap();
    assert_eq!(&by_key, &dead[0]);
    assert_eq!(j.message_by_dedup_key("n-none").await.unwrap(), None);
}

async fn reconcile_confirms_or_flags_acknowledged_amendments(j: &AnyJournal) {
    let a = intent_for("k-a", ORDER_ID, "90.00");
    let b = intent_for("k-b", "58218860983545941", "80.00");
    let c = intent_for("k-c", "58218860983545942", "70.00");
    for (n, i) in [&a, &b, &c].into_iter().enumerate() {
        let t = i64::try_from(n).unwrap();
        j.begin(i, at(t)).await.unwrap();
    }
    j.record_outcome(&a.key, &ack("{}"), at(10)).await.unwrap();
    j.record_outcome(&b.key, &ack("{}"), at(11)).await.unwrap();
    let MessageInsert::New(m1) = j.record_message(&inbound("m1", "{}", 20)).await.unwrap() else {
        panic!("expected new");
    };
    let MessageInsert::New(m2) = j.record_message(&inbound("m2", "{}", 21)).await.unwrap() else {
        panic!("expected new");
    };

    let backlog = j.unconfirmed_acknowledged().await.unwrap();
    let keys: Vec<&str> = backlog.iter().map(|r| r.intent.key.as_str()).collect();
    assert_eq!(keys, vec!["k-a", "k-b"]);

    j.reconcile(&a.key, AmendmentState::Confirmed, m1, None, at(30))
        .await
        .unwrap();
    j.reconcile(
        &b.key,
        AmendmentState::Flagged,
        m2,
        Some("message says 85.00, journal says 80.00"),
        at(31),
    )
    .await
    .unwrap();

    // Not acknowledged: refused. Unknown message: missing. Not a reconciliation state: refused.
    assert!(matches!(
        j.reconcile(&c.key, AmendmentState::Confirmed, m1, None, at(32))
            .await,
        Err(JournalError::Conflict { .. })
    ));
    assert!(matches!(
        j.reconcile(&a.key, AmendmentState::Confirmed, 9999, None, at(33))
            .await,
        Err(JournalError::Missing(_))
    ));
    assert!(matches!(
        j.reconcile(&a.key, AmendmentState::Failed, m1, None, at(34))
            .await,
        Err(JournalError::Conflict { .. })
    ));

    let records = j.amendments(None).await.unwrap();
    let by_key = |k: &str| records.iter().find(|r| r.intent.key.as_str() == k).unwrap();
    assert_eq!(by_key("k-a").state, AmendmentState::Confirmed);
    assert_eq!(by_key("k-a").updated_at, at(30));
    assert_eq!(by_key("k-b").state, AmendmentState::Flagged);
    assert_eq!(
        by_key("k-b").note.as_deref(),
        Some("message says 85.00, journal says 80.00")
    );
    assert_eq!(by_key("k-c").state, AmendmentState::Planned);
    // Reconciled amendments keep their acknowledged outcome.
    assert_eq!(by_key("k-a").outcome, Some(ack("{}")));
    assert!(j.unconfirmed_acknowledged().await.unwrap().is_empty());
    let a_order = OrderId::new(ORDER_ID).unwrap();
    assert_eq!(j.acknowledged_for_order(&a_order).await.unwrap().len(), 1);

    let counts = j.counts_by_state().await.unwrap();
    assert_eq!(counts.len(), AmendmentState::ALL.len());
    let count = |s: AmendmentState| counts.iter().find(|(c, _)| *c == s).unwrap().1;
    assert_eq!(count(AmendmentState::Planned), 1);
    assert_eq!(count(AmendmentState::Confirmed), 1);
    assert_eq!(count(AmendmentState::Flagged), 1);
    assert_eq!(count(AmendmentState::Acknowledged), 0);
}

async fn concurrent_begins_of_one_key_yield_exactly_one_new(j: &AnyJournal) {
    let i = Arc::new(intent("k-race"));
    let tasks: Vec<_> = (0..32)
        .map(|n| {
            let (j, i) = (j.clone(), Arc::clone(&i));
            tokio::spawn(async move { j.begin(&i, at(n)).await })
        })
        .collect();
    let mut new = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            Begin::New => new += 1,
            Begin::Unfinished(AmendmentState::Planned) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(new, 1);
    assert_eq!(j.amendments(None).await.unwrap().len(), 1);
}

async fn a_failure_that_never_reached_the_platform_is_undelivered_and_sent_again(j: &AnyJournal) {
    for (k, kind) in [
        ("k-transient", PlatformErrorKind::Transient),
        ("k-rate", PlatformErrorKind::RateLimited),
        ("k-quota", PlatformErrorKind::QuotaExhausted),
    ] {
        let i = intent(k);
        j.begin(&i, at(0)).await.unwrap();
        j.mark_sent(&i.key, at(1)).await.unwrap();
        let failed = Outcome::Failed(platform_error(kind, "503"));
        j.record_outcome(&i.key, &failed, at(2)).await.unwrap();
        // Not finished: the next run sends it again, and may record what the platform says.
        assert_eq!(
            j.begin(&i, at(3)).await.unwrap(),
            Begin::Unfinished(AmendmentState::Undelivered),
            "{k}"
        );
        j.mark_sent(&i.key, at(4)).await.unwrap();
        j.record_outcome(&i.key, &ack("{}"), at(5)).await.unwrap();
        assert_eq!(
            j.begin(&i, at(6)).await.unwrap(),
            Begin::Finished(AmendmentState::Acknowledged),
            "{k}"
        );
    }
    // The platform saying no is final.
    let i = intent("k-refused");
    j.begin(&i, at(0)).await.unwrap();
    j.mark_sent(&i.key, at(1)).await.unwrap();
    let refused = Outcome::Failed(platform_error(PlatformErrorKind::WrongState, "100003"));
    j.record_outcome(&i.key, &refused, at(2)).await.unwrap();
    assert_eq!(
        j.begin(&i, at(3)).await.unwrap(),
        Begin::Finished(AmendmentState::Failed)
    );
    assert!(matches!(
        j.mark_sent(&i.key, at(4)).await,
        Err(JournalError::Conflict { .. })
    ));
}

async fn a_resend_refused_as_stale_is_in_doubt_not_failed(j: &AnyJournal) {
    let conflict = platform_error(PlatformErrorKind::Conflict, "isv.order-version-stale");
    let i = intent("k-stale");
    j.begin(&i, at(0)).await.unwrap();
    j.mark_sent(&i.key, at(1)).await.unwrap();
    // An interrupted run sent it; this run sends it again and the platform refuses it.
    let outcome = Outcome::failure(conflict.clone(), true);
    assert_eq!(outcome, Outcome::StaleResend(conflict.clone()));
    j.record_outcome(&i.key, &outcome, at(2)).await.unwrap();
    assert_eq!(
        j.begin(&i, at(3)).await.unwrap(),
        Begin::Finished(AmendmentState::InDoubt)
    );
    let rec = &j.amendments(None).await.unwrap()[0];
    assert_eq!(rec.state, AmendmentState::InDoubt);
    assert_eq!(rec.outcome, Some(Outcome::StaleResend(conflict.clone())));
    // A conflict on a first send is the platform saying no.
    assert_eq!(
        Outcome::failure(conflict.clone(), false).state(),
        AmendmentState::Failed
    );
}

async fn a_key_reused_for_a_different_amendment_is_refused_and_the_recorded_one_stands(
    j: &AnyJournal,
) {
    j.begin(&intent_for("k-reuse", ORDER_ID, "0.30"), at(0))
        .await
        .unwrap();
    let err = j
        .begin(&intent_for("k-reuse", ORDER_ID, "0.40"), at(1))
        .await
        .unwrap_err();
    assert!(matches!(err, JournalError::KeyReused { .. }), "{err}");
    let other_order = j
        .begin(&intent_for("k-reuse", "2198111437768747999", "0.30"), at(1))
        .await
        .unwrap_err();
    assert!(
        matches!(other_order, JournalError::KeyReused { .. }),
        "{other_order}"
    );
    // The same target written differently is the same amendment.
    assert_eq!(
        j.begin(&intent_for("k-reuse", ORDER_ID, "0.3"), at(2))
            .await
            .unwrap(),
        Begin::Unfinished(AmendmentState::Planned)
    );
    let recs = j.amendments(None).await.unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].intent.amendment, intent("k").amendment);
}

async fn pages_of_amendments_cover_every_row_once_newest_first(j: &AnyJournal) {
    for n in 0..25 {
        // Two amendments per millisecond, so that the key breaks ties.
        let i = intent_for(&format!("k-{n:02}"), &format!("{}", 8000 + n % 3), "0.30");
        j.begin(&i, at(n / 2)).await.unwrap();
    }
    let all = j.amendments(None).await.unwrap();
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = j
            .amendments_page(None, None, after.as_ref(), 10)
            .await
            .unwrap();
        assert!(page.len() <= 10);
        let Some(last) = page.last().cloned() else {
            break;
        };
        paged.extend(page);
        after = Some(last);
    }
    assert_eq!(paged, all);
    // Filtered by order and by state.
    let order = OrderId::new("8001").unwrap();
    let of_order = j
        .amendments_page(Some(&order), None, None, 100)
        .await
        .unwrap();
    assert_eq!(of_order, j.amendments(Some(&order)).await.unwrap());
    let planned = j
        .amendments_page(None, Some(AmendmentState::Planned), None, 5)
        .await
        .unwrap();
    assert_eq!(planned, all[..5]);
    let none = j
        .amendments_page(None, Some(AmendmentState::Acknowledged), None, 5)
        .await
        .unwrap();
    assert!(none.is_empty());
}

async fn an_in_doubt_amendment_confirmed_by_a_read_is_a_revision_and_is_final(j: &AnyJournal) {
    let i = intent("k-read-1");
    j.begin(&i, at(0)).await.unwrap();
    j.mark_sent(&i.key, at(1)).await.unwrap();
    let read = Outcome::ConfirmedByRead(Box::new(order(ORDER_ID)));
    j.record_outcome(&i.key, &read, at(2)).await.unwrap();
    let order_id = OrderId::new(ORDER_ID).unwrap();
    let recs = j.amendments(Some(&order_id)).await.unwrap();
    assert_eq!(recs[0].state, AmendmentState::Confirmed);
    assert_eq!(
        recs[0].outcome.as_ref(),
        Some(&read),
        "the order as read is kept"
    );
    let revisions = j.revisions(&order_id).await.unwrap();
    assert_eq!(revisions.len(), 1, "it landed: one revision");
    // The journal's count, used where a read carries none.
    let shop = ShopId::new("vv-main").unwrap();
    assert_eq!(j.applied_revisions(&shop, &order_id).await.unwrap(), 1);
    let other = ShopId::new("vv-other").unwrap();
    assert_eq!(j.applied_revisions(&other, &order_id).await.unwrap(), 0);
    assert!(matches!(
        j.begin(&i, at(3)).await.unwrap(),
        Begin::Finished(AmendmentState::Confirmed)
    ));
}

async fn a_read_confirms_or_flags_only_acknowledged_amendments_without_a_message(j: &AnyJournal) {
    let i = intent("k-read-2");
    j.begin(&i, at(0)).await.unwrap();
    // Not acknowledged yet: refused, nothing written.
    let e = j
        .confirm_by_read(&i.key, AmendmentState::Confirmed, None, at(1))
        .await
        .unwrap_err();
    assert!(matches!(e, JournalError::Conflict { .. }), "{e:?}");
    j.record_outcome(&i.key, &ack("{}"), at(2)).await.unwrap();
    let e = j
        .confirm_by_read(&i.key, AmendmentState::Failed, None, at(3))
        .await
        .unwrap_err();
    assert!(matches!(e, JournalError::Conflict { .. }), "{e:?}");
    j.confirm_by_read(
        &i.key,
        AmendmentState::Flagged,
        Some("lines[L]: expected 0.30, found 100.30"),
        at(4),
    )
    .await
    .unwrap();
    let recs = j.amendments(None).await.unwrap();
    assert_eq!(recs[0].state, AmendmentState::Flagged);
    assert_eq!(
        recs[0].note.as_deref(),
        Some("lines[L]: expected 0.30, found 100.30")
    );
    assert_eq!(recs[0].updated_at, at(4));
}

async fn an_orders_messages_are_listed_newest_first_and_only_its_own(j: &AnyJournal) {
    let order = OrderId::new(ORDER_ID).unwrap();
    let other = OrderId::new("1").unwrap();
    let mut ids = Vec::new();
    for (n, (dedup, about)) in [("m-1", &order), ("m-2", &other), ("m-3", &order)]
        .into_iter()
        .enumerate()
    {
        let t = i64::try_from(n).unwrap();
        let MessageInsert::New(id) = j.record_message(&inbound(dedup, "{}", t)).await.unwrap()
        else {
            panic!("new")
        };
        j.message_decoded(id, about).await.unwrap();
        ids.push(id);
    }
    // One stored but never decoded: about no order.
    j.record_message(&inbound("m-4", "{", 9)).await.unwrap();
    let got: Vec<i64> = j
        .messages_for_order(&order)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(got, vec![ids[2], ids[0]]);
}

async fn a_message_recorded_decoded_is_stored_with_its_order_or_reason(j: &AnyJournal) {
    let order = OrderId::new(ORDER_ID).unwrap();
    let MessageInsert::New(good) = j
        .record_decoded_message(
            &inbound("d-good", "{\"ok\":1}", 0),
            &MessageDecoding::Order(order.clone()),
        )
        .await
        .unwrap()
    else {
        panic!("expected a new message");
    };
    let MessageInsert::New(bad) = j
        .record_decoded_message(
            &inbound("d-bad", "不是 JSON", 1),
            &MessageDecoding::DeadLetter("expected value at line 1 column 1".to_owned()),
        )
        .await
        .unwrap()
    else {
        panic!("expected a new message");
    };
    let stored = j.message_by_dedup_key("d-good").await.unwrap().unwrap();
    assert_eq!(stored.id, good);
    assert_eq!(stored.record, inbound("d-good", "{\"ok\":1}", 0));
    assert_eq!(stored.order, Some(order.clone()));
    assert_eq!(stored.dead_letter_reason, None);
    let for_order = j.messages_for_order(&order).await.unwrap();
    assert_eq!(
        for_order.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![good]
    );
    let dead = j.messages(true).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, bad);
    assert_eq!(dead[0].record.raw, "不是 JSON".as_bytes());
    assert_eq!(
        dead[0].dead_letter_reason.as_deref(),
        Some("expected value at line 1 column 1")
    );
    assert_eq!(dead[0].order, None);
    assert_eq!(j.message_counts().await.unwrap(), (2, 1));
}

async fn a_decoded_message_delivered_again_is_a_duplicate_and_the_stored_one_stands(
    j: &AnyJournal,
) {
    let order = OrderId::new(ORDER_ID).unwrap();
    let first = j
        .record_decoded_message(
            &inbound("d-dup", "{}", 0),
            &MessageDecoding::Order(order.clone()),
        )
        .await
        .unwrap();
    let MessageInsert::New(id) = first else {
        panic!("expected a new message, got {first:?}");
    };
    let again = j
        .record_decoded_message(
            &inbound("d-dup", "another body", 7),
            &MessageDecoding::DeadLetter("a different decoding".to_owned()),
        )
        .await
        .unwrap();
    assert_eq!(again, MessageInsert::Duplicate(id));
    // A plain store of the same key is a duplicate too.
    assert_eq!(
        j.record_message(&inbound("d-dup", "{}", 9)).await.unwrap(),
        MessageInsert::Duplicate(id)
    );
    let stored = j.message_by_dedup_key("d-dup").await.unwrap().unwrap();
    assert_eq!(stored.record, inbound("d-dup", "{}", 0));
    assert_eq!(stored.order, Some(order));
    assert_eq!(stored.dead_letter_reason, None);
    assert_eq!(j.message_counts().await.unwrap(), (1, 0));
}

async fn concurrent_decoded_duplicates_of_one_message_are_stored_once(j: &AnyJournal) {
    let order = OrderId::new(ORDER_ID).unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let (j, order) = (j.clone(), order.clone());
            tokio::spawn(async move {
                j.record_decoded_message(
                    &inbound("d-race", "{}", n),
                    &MessageDecoding::Order(order),
                )
                .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap().unwrap());
    }
    let new: Vec<i64> = answers
        .iter()
        .filter_map(|a| match a {
            MessageInsert::New(id) => Some(*id),
            MessageInsert::Duplicate(_) => None,
        })
        .collect();
    assert_eq!(new.len(), 1, "{answers:?}");
    assert!(
        answers.iter().all(
            |a| matches!(a, MessageInsert::Duplicate(id) | MessageInsert::New(id) if *id == new[0])
        ),
        "every duplicate names the first id: {answers:?}"
    );
    assert_eq!(j.message_counts().await.unwrap(), (1, 0));
    let stored = j.message_by_dedup_key("d-race").await.unwrap().unwrap();
    assert_eq!(stored.order, Some(order));
}

async fn concurrent_messages_new_repeated_and_stored_before_each_get_their_answer(j: &AnyJournal) {
    // Ten messages stored before; then 40 keys (the ten among them) each delivered twice at
    // once, so that one group holds new keys, repeated keys and keys stored before.
    let mut before = std::collections::HashMap::new();
    for n in 0..10 {
        let MessageInsert::New(id) = j
            .record_message(&inbound(&format!("mix-{n}"), "{}", n))
            .await
            .unwrap()
        else {
            panic!("expected a new message");
        };
        before.insert(n, id);
    }
    let order = OrderId::new(ORDER_ID).unwrap();
    let mut tasks = Vec::new();
    for n in 0..40 {
        for _ in 0..2 {
            let (j, order) = (j.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let m = inbound(&format!("mix-{n}"), "{}", n);
                (
                    n,
                    j.record_decoded_message(&m, &MessageDecoding::Order(order))
                        .await,
                )
            }));
        }
    }
    let mut answers: std::collections::HashMap<i64, Vec<MessageInsert>> = Default::default();
    for t in tasks {
        let (n, a) = t.await.unwrap();
        answers.entry(n).or_default().push(a.unwrap());
    }
    for (n, got) in &answers {
        let stored = j
            .message_by_dedup_key(&format!("mix-{n}"))
            .await
            .unwrap()
            .unwrap();
        if let Some(id) = before.get(n) {
            assert_eq!(got, &vec![MessageInsert::Duplicate(*id); 2], "message {n}");
            assert_eq!(stored.order, None, "a duplicate leaves the stored one: {n}");
        } else {
            let mut got = got.clone();
            got.sort_by_key(|a| matches!(a, MessageInsert::Duplicate(_)));
            assert_eq!(
                got,
                vec![
                    MessageInsert::New(stored.id),
                    MessageInsert::Duplicate(stored.id)
                ],
                "message {n}"
            );
            assert_eq!(stored.order.as_ref(), Some(&order));
        }
    }
    assert_eq!(j.message_counts().await.unwrap(), (40, 0));
}
