//! Group commit: concurrent writes share transactions, yet each caller returns only after its
//! own write committed, and one failing write neither fails nor loses the others.
//!
//! To make the grouping deterministic, the tests hold SQLite's write lock from a connection of
//! their own while the journal's callers queue up, then let go: everything queued meanwhile is
//! committed as one group.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use order_domain::{
    Amendment, AmendmentState, Begin, IdempotencyKey, InboundRecord, Intent, Journal, JournalError,
    MessageInsert, Order, Outcome, Receipt, ShopId, Timestamp, plan,
};
use order_journal::{MAX_GROUP, SqliteJournal, WRITE_QUEUE};
use sqlx::{Connection, SqliteConnection};

const LINE_ID: &str = "2198111437768747371";

fn intent(key: &str, order_id: &str) -> Intent {
    let order: Order = serde_json::from_str(&format!(
        r#"{{
            "id": "{order_id}", "status": "awaiting_payment", "currency": "CNY", "trade_type": "6",
            "lines": [{{ "id": "{LINE_ID}", "original_total": "100.30" }}],
            "freight": {{ "original": "6.00" }}
        }}"#
    ))
    .unwrap();
    let amendment: Amendment =
        serde_json::from_str(&format!(r#"{{ "lines": {{ "{LINE_ID}": "50.00" }} }}"#)).unwrap();
    let plan = plan(&order, &amendment, &rules_1688::policy());
    Intent {
        key: IdempotencyKey::new(key).unwrap(),
        shop: ShopId::new("vv-main").unwrap(),
        order,
        amendment,
        plan,
    }
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_727_000_000_000 + ms)
}

fn ack(n: usize) -> Outcome {
    Outcome::Acknowledged(Receipt::new(format!(r#"{{"success":true,"n":{n}}}"#)))
}

fn inbound(dedup: &str) -> InboundRecord {
    InboundRecord {
        dedup_key: dedup.to_owned(),
        source: "1688-push".to_owned(),
        raw: format!(r#"{{"msg":"{dedup}"}}"#).into_bytes(),
        received_at: at(0),
    }
}

/// A unique directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "order-journal-group-{tag}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.0.join("journal.db").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A connection of the test's own, outside the journal: what it sees is committed.
async fn outside(url: &str) -> SqliteConnection {
    SqliteConnection::connect(url).await.unwrap()
}

/// Takes SQLite's write lock from a connection outside the journal, so the journal's writer
/// waits (within its busy timeout) and its callers queue up.
async fn hold_write_lock(url: &str) -> SqliteConnection {
    let mut c = outside(url).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut c)
        .await
        .unwrap();
    c
}

async fn release(mut lock: SqliteConnection) {
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    lock.close().await.unwrap();
}

/// Waits until `n` write calls were handed to the journal's writer.
async fn until_submitted(j: &SqliteJournal, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while j.write_stats().submitted < n {
        assert!(Instant::now() < deadline, "{:?}", j.write_stats());
        tokio::task::yield_now().await;
    }
}

async fn count(c: &mut SqliteConnection, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(c).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_share_commits_and_every_write_survives_a_reopen() {
    const N: usize = 48;
    let dir = TempDir::new("share");
    let url = dir.url();
    let j = Arc::new(SqliteJournal::open(&url).await.unwrap());

    // Each amendment's whole life, concurrently with the others, plus inbound messages.
    let lock = hold_write_lock(&url).await;
    let tasks: Vec<_> = (0..N)
        .map(|n| {
            let j = Arc::clone(&j);
            tokio::spawn(async move {
                let i = intent(&format!("k-{n}"), &format!("{}", 1000 + n));
                assert_eq!(j.begin(&i, at(0)).await.unwrap(), Begin::New);
                j.mark_sent(&i.key, at(1)).await.unwrap();
                j.record_outcome(&i.key, &ack(n), at(2)).await.unwrap();
                j.record_message(&inbound(&format!("m-{n}"))).await.unwrap()
            })
        })
        .collect();
    // Every begin is queued behind the lock before it is let go.
    until_submitted(&j, N as u64).await;
    release(lock).await;
    let mut ids = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            MessageInsert::New(id) => ids.push(id),
            other => panic!("unexpected {other:?}"),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), N);

    let stats = j.write_stats();
    assert_eq!(stats.writes, 4 * N as u64, "{stats:?}");
    assert_eq!(stats.regrouped, 0, "{stats:?}");
    // The N begins queued behind the lock took at most two commits (the writer may have taken
    // the first one before it met the lock); the later rounds group as they meet.
    assert!(stats.transactions < stats.writes / 2, "{stats:?}");
    j.close().await;

    // Everything is there after a reopen.
    let j = SqliteJournal::open(&url).await.unwrap();
    let records = j.amendments(None).await.unwrap();
    assert_eq!(records.len(), N);
    assert!(
        records
            .iter()
            .all(|r| r.state == AmendmentState::Acknowledged)
    );
    for n in 0..N {
        assert_eq!(
            j.begin(&intent(&format!("k-{n}"), &format!("{}", 1000 + n)), at(9))
                .await
                .unwrap(),
            Begin::Finished(AmendmentState::Acknowledged)
        );
    }
    assert_eq!(j.messages(false).await.unwrap().len(), N);
    j.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_write_is_reported_before_its_commit() {
    const N: usize = 32;
    let dir = TempDir::new("before-commit");
    let url = dir.url();
    let j = Arc::new(SqliteJournal::open(&url).await.unwrap());

    let lock = hold_write_lock(&url).await;
    let tasks: Vec<_> = (0..N)
        .map(|n| {
            let (j, url) = (Arc::clone(&j), url.clone());
            tokio::spawn(async move {
                let key = format!("m-{n}");
                let inserted = j.record_message(&inbound(&key)).await.unwrap();
                // The moment the call returns, a connection outside the journal (which sees
                // only committed data) finds the message.
                let mut c = outside(&url).await;
                let seen: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE dedup_key = $1")
                        .bind(&key)
                        .fetch_one(&mut c)
                        .await
                        .unwrap();
                assert_eq!(seen, 1, "{key} returned before it was committed");
                inserted
            })
        })
        .collect();
    until_submitted(&j, N as u64).await;
    // Queued, not committed: nobody has been answered and nothing is visible.
    assert!(tasks.iter().all(|t| !t.is_finished()));
    let mut c = outside(&url).await;
    assert_eq!(count(&mut c, "SELECT COUNT(*) FROM messages").await, 0);
    release(lock).await;
    for t in tasks {
        assert!(matches!(t.await.unwrap(), MessageInsert::New(_)));
    }
    assert_eq!(
        count(&mut c, "SELECT COUNT(*) FROM messages").await,
        N as i64
    );
    j.close().await;
}

/// Queues `N` messages and `N` amendments (one of each poisoned by `trigger`) behind the
/// write lock, lets them commit as one group, and checks that only the poisoned ones failed.
async fn one_failing_write_in_a_group(tag: &str, raise: &str) {
    const N: usize = 16;
    let dir = TempDir::new(tag);
    let url = dir.url();
    let j = Arc::new(SqliteJournal::open(&url).await.unwrap());
    // A write that fails inside SQLite: a message and an amendment named `poison`.
    let mut c = outside(&url).await;
    for sql in [
        format!(
            "CREATE TRIGGER poison_message BEFORE INSERT ON messages \
             WHEN NEW.dedup_key = 'poison' BEGIN SELECT RAISE({raise}, 'injected failure'); END"
        ),
        format!(
            "CREATE TRIGGER poison_amendment BEFORE UPDATE ON amendments \
             WHEN NEW.idempotency_key = 'k-poison' AND NEW.state = 'sent' \
             BEGIN SELECT RAISE({raise}, 'injected failure'); END"
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut c)
            .await
            .unwrap();
    }
    let poisoned = intent("k-poison", "1");
    j.begin(&poisoned, at(0)).await.unwrap();

    let lock = hold_write_lock(&url).await;
    let mut tasks = Vec::new();
    for n in 0..N {
        let j2 = Arc::clone(&j);
        let dedup = if n == N / 2 {
            "poison".to_owned()
        } else {
            format!("m-{n}")
        };
        tasks.push(tokio::spawn(async move {
            j2.record_message(&inbound(&dedup))
                .await
                .map(|_| ())
                .map_err(|e| (dedup, e))
        }));
        let j2 = Arc::clone(&j);
        let key = if n == N / 2 {
            poisoned.key.clone()
        } else {
            IdempotencyKey::new(format!("k-{n}")).unwrap()
        };
        let i = intent(key.as_str(), &format!("{}", 2000 + n));
        tasks.push(tokio::spawn(async move {
            if key.as_str() != "k-poison" {
                j2.begin(&i, at(1))
                    .await
                    .map_err(|e| (key.to_string(), e))?;
            }
            j2.mark_sent(&key, at(2))
                .await
                .map_err(|e| (key.to_string(), e))
        }));
    }
    // Every message and every first write of an amendment queued behind the lock.
    until_submitted(&j, 1 + 2 * N as u64).await;
    release(lock).await;
    let mut failed = Vec::new();
    for t in tasks {
        if let Err((what, e)) = t.await.unwrap() {
            assert!(matches!(e, JournalError::Storage { .. }), "{what}: {e}");
            // The database's own error is kept as the source, not flattened into the text.
            let cause = std::error::Error::source(&e).map(ToString::to_string);
            assert!(
                cause
                    .as_deref()
                    .is_some_and(|c| c.contains("injected failure")),
                "{what}: {e}: {cause:?}"
            );
            failed.push(what);
        }
    }
    failed.sort();
    assert_eq!(failed, ["k-poison", "poison"]);
    let stats = j.write_stats();
    assert!(stats.regrouped >= 1, "{stats:?}");
    j.close().await;

    // After a reopen: every other write is there, the poisoned ones left nothing behind.
    let j = SqliteJournal::open(&url).await.unwrap();
    let messages = j.messages(false).await.unwrap();
    assert_eq!(messages.len(), N - 1);
    assert!(messages.iter().all(|m| m.record.dedup_key != "poison"));
    let records = j.amendments(None).await.unwrap();
    assert_eq!(records.len(), N);
    for r in &records {
        let expected = if r.intent.key.as_str() == "k-poison" {
            AmendmentState::Planned
        } else {
            AmendmentState::Sent
        };
        assert_eq!(r.state, expected, "{}", r.intent.key);
    }
    j.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_failing_in_a_group_does_not_fail_or_lose_the_others() {
    // The failing statement is undone, the transaction stays open.
    one_failing_write_in_a_group("abort", "ABORT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_rolls_back_the_whole_group_does_not_lose_the_others() {
    // SQLite rolls back the whole transaction, every write of the group with it.
    one_failing_write_in_a_group("rollback", "ROLLBACK").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_in_a_group_leave_the_others_alone() {
    let dir = TempDir::new("refusals");
    let url = dir.url();
    let j = Arc::new(SqliteJournal::open(&url).await.unwrap());
    let done = intent("k-done", "1");
    j.begin(&done, at(0)).await.unwrap();
    j.record_outcome(&done.key, &ack(0), at(1)).await.unwrap();

    let lock = hold_write_lock(&url).await;
    let j1 = Arc::clone(&j);
    let unknown = tokio::spawn(async move {
        j1.mark_sent(&IdempotencyKey::new("k-unknown").unwrap(), at(2))
            .await
    });
    let j2 = Arc::clone(&j);
    let key = done.key.clone();
    let finished = tokio::spawn(async move { j2.mark_sent(&key, at(2)).await });
    let j3 = Arc::clone(&j);
    let key = done.key.clone();
    let other_outcome = tokio::spawn(async move { j3.record_outcome(&key, &ack(1), at(2)).await });
    let j4 = Arc::clone(&j);
    let fresh = tokio::spawn(async move {
        let i = intent("k-fresh", "2");
        j4.begin(&i, at(3)).await
    });
    let j5 = Arc::clone(&j);
    let message = tokio::spawn(async move {
        j5.message_decoded(4242, &order_domain::OrderId::new("9").unwrap())
            .await
    });
    until_submitted(&j, 2 + 5).await;
    release(lock).await;

    assert!(matches!(
        unknown.await.unwrap(),
        Err(JournalError::Missing(_))
    ));
    assert!(matches!(
        finished.await.unwrap(),
        Err(JournalError::Conflict { .. })
    ));
    assert!(matches!(
        other_outcome.await.unwrap(),
        Err(JournalError::Conflict { .. })
    ));
    assert_eq!(fresh.await.unwrap().unwrap(), Begin::New);
    assert!(matches!(
        message.await.unwrap(),
        Err(JournalError::Missing(_))
    ));
    // Refusals write nothing and need no regrouping.
    assert_eq!(j.write_stats().regrouped, 0);
    j.close().await;
}

#[tokio::test]
async fn writes_after_close_fail_with_a_storage_error() {
    let dir = TempDir::new("closed");
    let j = SqliteJournal::open(&dir.url()).await.unwrap();
    j.record_message(&inbound("m-1")).await.unwrap();
    j.close().await;
    let err = j.record_message(&inbound("m-2")).await.unwrap_err();
    assert!(matches!(err, JournalError::Storage { .. }), "{err}");
}

/// The writer's channel is bounded: while the writer is stuck behind the write lock, at most
/// the group in its hands ([`MAX_GROUP`]) and a full channel ([`WRITE_QUEUE`]) are handed
/// over; every later caller waits to hand its write over (back-pressure, no unbounded queue),
/// and once the lock is let go every one of them is committed (nothing is dropped).
#[tokio::test(flavor = "current_thread")]
async fn a_full_write_queue_makes_callers_wait_and_loses_nothing() {
    let n = MAX_GROUP + WRITE_QUEUE + 300;
    let dir = TempDir::new("back-pressure");
    let url = dir.url();
    let j = Arc::new(SqliteJournal::open(&url).await.unwrap());
    let lock = hold_write_lock(&url).await;
    let tasks: Vec<_> = (0..n)
        .map(|k| {
            let j = Arc::clone(&j);
            tokio::spawn(async move { j.record_message(&inbound(&format!("bp-{k}"))).await })
        })
        .collect();
    // The channel is full and the writer holds its first group.
    until_submitted(&j, WRITE_QUEUE as u64 + 1).await;
    // Every caller gets its turns to try (on this one thread, a yield runs every ready task).
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    let submitted = j.write_stats().submitted;
    assert!(
        submitted <= (MAX_GROUP + WRITE_QUEUE) as u64,
        "{submitted} writes handed over while the writer was stuck"
    );
    assert!(tasks.iter().all(|t| !t.is_finished()));
    release(lock).await;
    for t in tasks {
        assert!(matches!(t.await.unwrap().unwrap(), MessageInsert::New(_)));
    }
    let mut c = outside(&url).await;
    assert_eq!(
        count(&mut c, "SELECT COUNT(*) FROM messages").await,
        i64::try_from(n).unwrap()
    );
    j.close().await;
}
