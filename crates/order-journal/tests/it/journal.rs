//! What only the SQLite journal does: files, the process lock, durability settings, crash
//! recovery, checkpoints, migrations from older schemas. The port's behaviours, common to every
//! backend, are in `contract.rs`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use order_domain::{
    Amendment, AmendmentState, Begin, IdempotencyKey, InboundRecord, Intent, Journal, JournalError,
    MessageInsert, Order, OrderId, Outcome, PlatformError, PlatformErrorKind, Receipt, ShopId,
    Timestamp, plan,
};
use order_journal::SqliteJournal;

pub(crate) const ORDER_ID: &str = "2198111437768747370";
pub(crate) const LINE_ID: &str = "2198111437768747371";

pub(crate) fn order(id: &str) -> Order {
    serde_json::from_str(&format!(
        r#"{{
            "id": "{id}", "status": "awaiting_payment", "currency": "CNY", "trade_type": "6",
            "lines": [{{ "id": "{LINE_ID}", "original_total": "100.30" }}],
            "freight": {{ "original": "6.00" }}
        }}"#
    ))
    .unwrap()
}

/// An intent to set the line to `line_total` and the freight to zero on vv-tool 1688.
pub(crate) fn intent_for(key: &str, order_id: &str, line_total: &str) -> Intent {
    let order = order(order_id);
    let amendment: Amendment = serde_json::from_str(&format!(
        r#"{{ "lines": {{ "{LINE_ID}": "{line_total}" }}, "freight": "0" }}"#
    ))
    .unwrap();
    let plan = plan(&order, &amendment, &rules_1688::policy());
    Intent {
        key: IdempotencyKey::new(key).unwrap(),
        shop: ShopId::new("vv-main").unwrap(),
        order,
        amendment,
        plan,
    }
}

pub(crate) fn intent(key: &str) -> Intent {
    intent_for(key, ORDER_ID, "0.30")
}

pub(crate) fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::new(k).unwrap()
}

pub(crate) fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_727_000_000_000 + ms)
}

pub(crate) fn ack(reply: &str) -> Outcome {
    Outcome::Acknowledged(Receipt::new(reply))
}

pub(crate) fn inbound(dedup: &str, raw: &str, ms: i64) -> InboundRecord {
    InboundRecord {
        dedup_key: dedup.to_owned(),
        source: "1688-push".to_owned(),
        raw: raw.as_bytes().to_vec(),
        received_at: at(ms),
    }
}

async fn memory() -> SqliteJournal {
    SqliteJournal::in_memory().await.unwrap()
}

/// A unique directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "order-journal-{tag}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub(crate) fn url(&self) -> String {
        format!("sqlite://{}", self.0.join("journal.db").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Reads one column of one amendment row directly, bypassing the journal's decoding.
async fn raw_column(url: &str, column: &str, k: &str) -> Option<String> {
    use sqlx::Row;
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let sql = format!("SELECT {column} FROM amendments WHERE idempotency_key = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(k)
        .fetch_one(&pool)
        .await
        .unwrap();
    let value = row.try_get::<Option<String>, _>(0).unwrap();
    pool.close().await;
    value
}

#[tokio::test]
async fn replies_are_stored_verbatim_including_chinese_text() {
    let dir = TempDir::new("verbatim");
    let url = dir.url();
    let j = SqliteJournal::open(&url).await.unwrap();

    let reply = "{\"success\":true,\"message\":\"改价成功，订单金额已更新\",\"withholding_money\":\"0.30\"}\n  ";
    let ok = intent("k-ok");
    j.begin(&ok, at(0)).await.unwrap();
    j.mark_sent(&ok.key, at(1)).await.unwrap();
    j.record_outcome(&ok.key, &ack(reply), at(2)).await.unwrap();

    let error = PlatformError::new(
        PlatformErrorKind::RejectedByRule,
        Some("gw.PriceRaiseForbidden".into()),
        "改价金额不能高于原价（单位：分）",
    )
    .with_detail("request_id=2198111437768747370");
    let bad = intent("k-bad");
    j.begin(&bad, at(3)).await.unwrap();
    j.record_outcome(&bad.key, &Outcome::Failed(error.clone()), at(4))
        .await
        .unwrap();
    j.close().await;

    // The platform_reply column holds the reply byte for byte, and the error's words.
    assert_eq!(
        raw_column(&url, "platform_reply", "k-ok").await.as_deref(),
        Some(reply)
    );
    let stored_error = raw_column(&url, "platform_reply", "k-bad").await.unwrap();
    assert!(stored_error.contains("改价金额不能高于原价（单位：分）"));
    assert!(stored_error.contains("gw.PriceRaiseForbidden"));

    // And the outcomes read back equal.
    let j = SqliteJournal::open(&url).await.unwrap();
    let records = j.amendments(None).await.unwrap();
    let by_key = |k: &str| records.iter().find(|r| r.intent.key.as_str() == k).unwrap();
    assert_eq!(by_key("k-ok").outcome, Some(ack(reply)));
    assert_eq!(by_key("k-bad").outcome, Some(Outcome::Failed(error)));
    j.close().await;
}

#[tokio::test]
async fn money_and_long_ids_are_exact_after_a_round_trip() {
    let dir = TempDir::new("exact");
    let url = dir.url();
    let j = SqliteJournal::open(&url).await.unwrap();
    let i = intent("k-exact");
    let p = i.plan.as_ref().unwrap();
    assert_eq!(p.new_total().to_string(), "0.30");
    j.begin(&i, at(0)).await.unwrap();
    j.close().await;

    // Stored as decimal text inside JSON, never as a float.
    let plan_text = raw_column(&url, "plan", "k-exact").await.unwrap();
    assert!(plan_text.contains("\"0.30\""), "{plan_text}");
    let snapshot = raw_column(&url, "order_snapshot", "k-exact").await.unwrap();
    assert!(snapshot.contains("\"2198111437768747370\""), "{snapshot}");
    // Order amounts are the domain's decimal text (normalised, still exact), never a number.
    assert!(
        snapshot.contains("\"original_total\":\"100.3\""),
        "{snapshot}"
    );

    let j = SqliteJournal::open(&url).await.unwrap();
    let order = OrderId::new(ORDER_ID).unwrap();
    let records = j.amendments(Some(&order)).await.unwrap();
    assert_eq!(records.len(), 1);
    let back = &records[0].intent;
    assert_eq!(back, &i);
    assert_eq!(back.order.id().as_str(), "2198111437768747370");
    let back_plan = back.plan.as_ref().unwrap();
    assert_eq!(back_plan.new_total().to_string(), "0.30");
    assert_eq!(back_plan.new_total().to_minor().unwrap(), 30);
    assert_eq!(
        back_plan.lines()[0].delta_vs_original().to_string(),
        "-100.00"
    );
    j.close().await;
}

#[tokio::test]
async fn a_file_journal_persists_across_reopen() {
    let dir = TempDir::new("reopen");
    let url = dir.url();
    let done = intent("k-done");
    let pending = intent_for("k-pending", "58218860983545941", "50.00");
    {
        let j = SqliteJournal::open(&url).await.unwrap();
        j.begin(&done, at(0)).await.unwrap();
        j.mark_sent(&done.key, at(1)).await.unwrap();
        j.record_outcome(&done.key, &ack("{\"ok\":true}"), at(2))
            .await
            .unwrap();
        j.begin(&pending, at(3)).await.unwrap();
        j.mark_sent(&pending.key, at(4)).await.unwrap();
        j.record_message(&inbound("n-1", "raw", 5)).await.unwrap();
        j.close().await;
    }
    // Reopening runs the migrations again: they are recorded, so nothing is redone.
    let j = SqliteJournal::open(&url).await.unwrap();
    assert_eq!(
        j.begin(&done, at(10)).await.unwrap(),
        Begin::Finished(AmendmentState::Acknowledged)
    );
    assert_eq!(
        j.begin(&pending, at(11)).await.unwrap(),
        Begin::Unfinished(AmendmentState::Sent)
    );
    assert!(matches!(
        j.record_message(&inbound("n-1", "raw", 12)).await.unwrap(),
        MessageInsert::Duplicate(_)
    ));
    assert_eq!(j.amendments(None).await.unwrap().len(), 2);
    j.close().await;
}

#[tokio::test]
async fn a_file_journal_is_durable_wal_with_full_sync() {
    let dir = TempDir::new("settings");
    let j = SqliteJournal::open(&dir.url()).await.unwrap();
    let s = j.settings().await.unwrap();
    assert_eq!(s.journal_mode, "wal");
    assert_eq!(s.synchronous, "full");
    assert!(s.foreign_keys);
    assert_eq!(
        s.busy_timeout_ms,
        i64::try_from(order_journal::BUSY_TIMEOUT.as_millis()).unwrap()
    );
    j.close().await;
    let m = memory().await;
    assert_eq!(m.settings().await.unwrap().synchronous, "full");
}

const CRASH_CHILD: &str = "ORDER_JOURNAL_CRASH_CHILD_URL";
const CRASH_EXIT: i32 = 86;

/// The process dies (no close, no checkpoint, no destructors) right after the calls return;
/// the next open recovers every write from the write-ahead log.
#[tokio::test]
async fn writes_survive_a_crash_right_after_the_call_returns() {
    if let Ok(url) = std::env::var(CRASH_CHILD) {
        let j = SqliteJournal::open(&url).await.unwrap();
        let i = intent("k-crash");
        j.begin(&i, at(0)).await.unwrap();
        j.mark_sent(&i.key, at(1)).await.unwrap();
        j.record_outcome(&i.key, &ack("{\"结果\":\"成功\"}"), at(2))
            .await
            .unwrap();
        j.record_message(&inbound("n-crash", "raw", 3))
            .await
            .unwrap();
        std::process::exit(CRASH_EXIT);
    }
    let dir = TempDir::new("crash");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "journal::writes_survive_a_crash_right_after_the_call_returns",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD, dir.url())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(CRASH_EXIT),
        "the child did not finish its writes"
    );
    // Nothing was checkpointed: the writes are in the log.
    let wal = dir.0.join("journal.db-wal");
    assert!(
        std::fs::metadata(&wal)
            .map(|m| m.len() > 0)
            .unwrap_or(false)
    );

    let j = SqliteJournal::open(&dir.url()).await.unwrap();
    let i = intent("k-crash");
    assert_eq!(
        j.begin(&i, at(10)).await.unwrap(),
        Begin::Finished(AmendmentState::Acknowledged)
    );
    let r = &j.amendments(None).await.unwrap()[0];
    assert_eq!(r.outcome, Some(ack("{\"结果\":\"成功\"}")));
    assert!(matches!(
        j.record_message(&inbound("n-crash", "raw", 11))
            .await
            .unwrap(),
        MessageInsert::Duplicate(_)
    ));
    j.close().await;
}

#[tokio::test]
async fn only_sqlite_urls_are_accepted() {
    let err = SqliteJournal::open("ordermod.db").await.unwrap_err();
    assert!(matches!(err, JournalError::Storage { .. }), "{err}");
}

#[tokio::test]
async fn storage_errors_never_show_credentials() {
    let err = tokio::time::timeout(
        Duration::from_secs(30),
        SqliteJournal::open("postgres://ordermod:hunter2@localhost:5432/missing-dir/db"),
    )
    .await
    .unwrap()
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, JournalError::Storage { .. }), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("postgres://***@localhost"), "{text}");

    // A file that cannot be opened: the error names it, with nothing to hide.
    let err = SqliteJournal::open("sqlite:///nonexistent-dir-for-ordermod/x/journal.db")
        .await
        .unwrap_err();
    assert!(matches!(err, JournalError::Storage { .. }), "{err}");
}

/// A journal written by a build that knew only the first migration opens, gets the later ones,
/// and reads back what it held.
#[tokio::test]
async fn a_journal_from_before_the_later_migrations_is_migrated_and_readable() {
    use sqlx::Connection as _;
    let dir = TempDir::new("old-schema");
    let url = dir.url();
    let first_only = dir.0.join("migrations");
    std::fs::create_dir_all(&first_only).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/migrations/sqlite/0001_journal.sql"
        ),
        first_only.join("0001_journal.sql"),
    )
    .unwrap();
    {
        let options: sqlx::sqlite::SqliteConnectOptions = url
            .parse::<sqlx::sqlite::SqliteConnectOptions>()
            .unwrap()
            .create_if_missing(true);
        let mut c = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::migrate::Migrator::new(first_only.as_path())
            .await
            .unwrap()
            .run(&mut c)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO amendments (idempotency_key, shop, order_id, amendment, order_snapshot, \
             plan, state, outcome, recorded_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, \
             'acknowledged', $7, 1, 2)",
        )
        .bind("k-old")
        .bind("vv-main")
        .bind(ORDER_ID)
        .bind(serde_json::to_string(&intent("k-old").amendment).unwrap())
        .bind(serde_json::to_string(&intent("k-old").order).unwrap())
        .bind(serde_json::to_string(intent("k-old").plan.as_ref().unwrap()).unwrap())
        .bind(serde_json::to_string(&ack("{}")).unwrap())
        .execute(&mut c)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO revisions (shop, order_id, revision, idempotency_key, applied_at) \
             VALUES ('vv-main', $1, 1, 'k-old', 2)",
        )
        .bind(ORDER_ID)
        .execute(&mut c)
        .await
        .unwrap();
        c.close().await.unwrap();
    }
    let j = SqliteJournal::open(&url).await.unwrap();
    assert_eq!(
        j.begin(&intent("k-old"), at(10)).await.unwrap(),
        Begin::Finished(AmendmentState::Acknowledged)
    );
    let records = j
        .amendments(Some(&OrderId::new(ORDER_ID).unwrap()))
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, Some(ack("{}")));
    // The old revision survived the rebuild of `revisions`; the next one follows it.
    let order = OrderId::new(ORDER_ID).unwrap();
    let revisions = j.revisions(&order).await.unwrap();
    assert_eq!(
        revisions
            .iter()
            .map(|r| (r.key.as_str(), r.revision))
            .collect::<Vec<_>>(),
        [("k-old", 1)]
    );
    let next = intent("k-new");
    j.begin(&next, at(11)).await.unwrap();
    j.mark_sent(&next.key, at(12)).await.unwrap();
    j.record_outcome(&next.key, &ack("{\"n\":2}"), at(13))
        .await
        .unwrap();
    let acked = j.acknowledged_for_order(&order).await.unwrap();
    assert_eq!(
        acked
            .iter()
            .map(|r| r.intent.key.as_str())
            .collect::<Vec<_>>(),
        ["k-new", "k-old"],
        "latest revision first"
    );
    assert_eq!(j.revisions(&order).await.unwrap()[1].revision, 2);
    j.close().await;
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'revisions'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(
        indexes.len(),
        1,
        "0003 keeps only the primary key: {indexes:?}"
    );
    let unused: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE name = 'amendments_by_shop_order'",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(unused, 0, "0002 drops the unused index");
}

pub(crate) fn platform_error(kind: PlatformErrorKind, code: &str) -> PlatformError {
    PlatformError::new(kind, Some(code.into()), "平台返回")
}

fn file_of(url: &str) -> PathBuf {
    PathBuf::from(url.strip_prefix("sqlite://").unwrap())
}

#[tokio::test]
async fn a_second_open_of_a_held_journal_fails_naming_the_journal_and_the_holder() {
    let dir = TempDir::new("held");
    let url = dir.url();
    let first = SqliteJournal::open(&url).await.unwrap();
    let err = SqliteJournal::open(&url).await.unwrap_err();
    let JournalError::Locked { journal, holder } = &err else {
        panic!("expected Locked, got {err}");
    };
    assert_eq!(PathBuf::from(journal), file_of(&url));
    assert!(
        holder.contains(&format!("pid {}", std::process::id())),
        "{holder}"
    );
    assert!(err.to_string().contains(journal.as_str()), "{err}");
    // A read-only view does not need the lock.
    let view = SqliteJournal::open_read_only(&url).await.unwrap();
    assert!(view.amendments(None).await.unwrap().is_empty());
    view.close().await;
    // Released on close.
    first.close().await;
    SqliteJournal::open(&url).await.unwrap().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_opens_of_a_fresh_file_do_not_race_the_migrations() {
    for round in 0..8 {
        let dir = TempDir::new("fresh");
        let url = dir.url();
        let (a, b) = tokio::join!(SqliteJournal::open(&url), SqliteJournal::open(&url));
        // One holds the journal; the other is told who does, never a half-made schema.
        let (held, refused) = match (a, b) {
            (Ok(j), Err(e)) | (Err(e), Ok(j)) => (j, e),
            (Ok(_), Ok(_)) => panic!("round {round}: both opened one journal"),
            (Err(a), Err(b)) => panic!("round {round}: both failed: {a}; {b}"),
        };
        assert!(
            matches!(refused, JournalError::Locked { .. }),
            "round {round}: {refused}"
        );
        held.begin(&intent("k"), at(0)).await.unwrap();
        held.close().await;
    }
}

#[tokio::test]
async fn after_a_checkpoint_the_db_file_alone_holds_every_row() {
    let dir = TempDir::new("checkpoint");
    let url = dir.url();
    let j = SqliteJournal::open(&url).await.unwrap();
    for n in 0..20 {
        let i = intent_for(&format!("k-{n}"), &format!("{}", 7000 + n), "0.30");
        j.begin(&i, at(n)).await.unwrap();
        j.mark_sent(&i.key, at(n)).await.unwrap();
        j.record_outcome(&i.key, &ack("{}"), at(n)).await.unwrap();
    }
    j.checkpoint().await.unwrap();
    // Copy the database file without its write-ahead log, while the journal is still open.
    let copy = TempDir::new("checkpoint-copy");
    std::fs::copy(file_of(&url), copy.0.join("journal.db")).unwrap();
    let alone = SqliteJournal::open(&copy.url()).await.unwrap();
    let recs = alone.amendments(None).await.unwrap();
    assert_eq!(recs.len(), 20);
    assert!(recs.iter().all(|r| r.state == AmendmentState::Acknowledged));
    alone.close().await;
    j.close().await;
    // Closing checkpoints too: the log is empty afterwards.
    let wal = PathBuf::from(format!("{}-wal", file_of(&url).display()));
    assert!(
        std::fs::metadata(&wal).map_or(0, |m| m.len()) == 0,
        "the log still holds data after close"
    );
}

#[tokio::test]
async fn a_storage_failure_keeps_the_database_error_as_its_source() {
    let dir = TempDir::new("missing-dir");
    let url = format!("sqlite://{}", dir.0.join("no/such/dir/j.db").display());
    let err = SqliteJournal::open(&url).await.unwrap_err();
    assert!(matches!(err, JournalError::Storage { .. }), "{err}");
    assert!(std::error::Error::source(&err).is_some(), "{err:?}");
}

#[tokio::test]
async fn a_journal_from_before_migration_5_keeps_its_rows_and_takes_the_new_states() {
    let dir = TempDir::new("old-schema");
    let url = dir.url();
    // The schema as migrations 1 to 3 left it, with an acknowledged, reconciled amendment.
    let old = TempDir::new("old-migrations");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for f in std::fs::read_dir(&src).unwrap() {
        let f = f.unwrap();
        let name = f.file_name().into_string().unwrap();
        if name.as_str() < "0004" {
            std::fs::copy(f.path(), old.0.join(&name)).unwrap();
        }
    }
    {
        use sqlx::sqlite::SqliteConnectOptions;
        use std::str::FromStr;
        let options = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        sqlx::migrate::Migrator::new(old.0.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        for sql in [
            "INSERT INTO amendments (idempotency_key, shop, order_id, amendment, order_snapshot, \
             plan, next_revision, state, outcome, platform_reply, recorded_at, updated_at) \
             VALUES ('k-old', 'vv-main', '1', '{}', '{}', '{}', 1, 'confirmed', \
             '{\"outcome\":\"acknowledged\",\"detail\":{\"raw_reply\":\"{}\"}}', '{}', 1, 2)",
            "INSERT INTO revisions (shop, order_id, revision, idempotency_key, applied_at) \
             VALUES ('vv-main', '1', 1, 'k-old', 2)",
            "INSERT INTO messages (id, dedup_key, source, raw, received_at) \
             VALUES (7, 'd', '1688-push', '{}', 3)",
            "INSERT INTO reconciliations (idempotency_key, message_id, state, note, at) \
             VALUES ('k-old', 7, 'confirmed', NULL, 4)",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
    let j = SqliteJournal::open(&url).await.unwrap();
    let revisions = j.revisions(&OrderId::new("1").unwrap()).await.unwrap();
    assert_eq!(revisions.len(), 1);
    assert_eq!(revisions[0].key.as_str(), "k-old");
    j.close().await;
    let count = |table: &'static str| {
        let url = url.clone();
        async move {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let n: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            pool.close().await;
            n
        }
    };
    assert_eq!(count("amendments").await, 1);
    assert_eq!(count("reconciliations").await, 1);
    // The new states are accepted.
    let j = SqliteJournal::open(&url).await.unwrap();
    let i = intent("k-new");
    j.begin(&i, at(0)).await.unwrap();
    j.mark_sent(&i.key, at(1)).await.unwrap();
    let undelivered = Outcome::Failed(platform_error(PlatformErrorKind::Transient, "502"));
    j.record_outcome(&i.key, &undelivered, at(2)).await.unwrap();
    assert_eq!(
        j.begin(&i, at(3)).await.unwrap(),
        Begin::Unfinished(AmendmentState::Undelivered)
    );
    j.close().await;
}

#[tokio::test]
async fn a_page_reads_only_its_own_rows() {
    let dir = TempDir::new("page-rows");
    let url = dir.url();
    let j = SqliteJournal::open(&url).await.unwrap();
    for n in 0..10 {
        let i = intent_for(&format!("k-{n}"), &format!("{}", 9100 + n), "0.30");
        j.begin(&i, at(n)).await.unwrap();
    }
    j.checkpoint().await.unwrap();
    // The oldest row is unreadable: a view that loads every row fails on it, a page does not.
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("UPDATE amendments SET amendment = 'not json' WHERE idempotency_key = 'k-0'")
        .execute(&mut c)
        .await
        .unwrap();
    let page = j.amendments_page(None, None, None, 5).await.unwrap();
    assert_eq!(page.len(), 5);
    assert_eq!(page[0].intent.key.as_str(), "k-9");
    assert!(matches!(
        j.amendments(None).await,
        Err(JournalError::Corrupt { .. })
    ));
    j.close().await;
}
