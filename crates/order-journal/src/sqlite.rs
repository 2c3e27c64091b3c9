//! The SQLite implementation of the journal port.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use order_domain::ports::journal::MessageDecoding;
use order_domain::{
    AmendmentRecord, AmendmentState, Begin, IdempotencyKey, InboundRecord, Intent, Journal,
    JournalError, MessageInsert, MessageRecord, OrderId, Outcome, ShopId, Timestamp,
};
use serde::Serialize;
use sqlx::ConnectOptions as _;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use crate::lock::{HolderLock, acquire};
use crate::ops::{Answer, Op};
use crate::reads::Reads;
use crate::redact::redact;
use crate::rows::sql;
use crate::writer::{WriteConnection, Writer};

/// The embedded schema migrations (`crates/order-journal/migrations/sqlite/`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another connection's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in the read pool of a file-backed journal (WAL lets readers run beside the
/// writer). Writes go through one more connection of their own, owned by the group-commit
/// writer. An in-memory journal uses exactly one connection for both.
pub const MAX_CONNECTIONS: u32 = 4;

/// The page cache of the write connection, in KiB (SQLite's default is 2,000 KiB). The
/// writer's inserts land on pages spread over the idempotency-key indexes; once those outgrow
/// the cache, every insert reads pages back from the file. 32 MiB holds the indexes of about
/// 100,000 amendments; SQLite fills the cache only as the journal grows.
pub const WRITE_CACHE_KIB: i64 = 32 * 1024;

/// Log pages after which a commit copies the write-ahead log back into the database file
/// (SQLite's default is 1,000, 4 MiB). A checkpoint reads every logged page back, writes the
/// latest version of each into the file and syncs it, inside the commit that triggered it; the
/// more pages a checkpoint covers, the more repeated writes of the same hot pages (the table's
/// tail, the state index) it folds into one. 10,000 pages is about 40 MiB of log.
pub const WAL_CHECKPOINT_PAGES: u32 = 10_000;

/// One revision an acknowledged amendment created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevisionRecord {
    /// The shop.
    pub shop: ShopId,
    /// The order.
    pub order: OrderId,
    /// The revision number (1 for the first change).
    pub revision: u32,
    /// The amendment that created it.
    pub key: IdempotencyKey,
    /// When its acknowledgement was recorded.
    pub applied_at: Timestamp,
}

/// SQLite's settings for a journal connection, as read back by [`SqliteJournal::settings`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageSettings {
    /// `wal` for a file (`memory` for an in-memory journal, which has no file to log to).
    pub journal_mode: String,
    /// `full`: every commit is synced before it returns.
    pub synchronous: String,
    /// Foreign keys are enforced.
    pub foreign_keys: bool,
    /// How long a statement waits for a lock, in milliseconds.
    pub busy_timeout_ms: i64,
}

/// The journal on SQLite. Cheap to clone (it shares one connection pool).
///
/// See the crate documentation for durability and portability notes.
#[derive(Debug, Clone)]
pub struct SqliteJournal {
    /// Reads.
    pool: SqlitePool,
    /// Writes, committed in groups (see the crate documentation).
    writer: Writer,
    /// The file's process lock, held until [`SqliteJournal::close`] (or the last clone is
    /// dropped); `None` in memory and for a read-only view.
    lock: Arc<Mutex<Option<HolderLock>>>,
}

/// What the group-commit writer has done so far, from [`SqliteJournal::write_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct WriteStats {
    /// Write calls handed to the writer.
    pub submitted: u64,
    /// Write calls answered after their transaction committed (or failed on their own).
    pub writes: u64,
    /// Transactions those writes took: fewer than `writes` when concurrent writes shared one
    /// commit.
    pub transactions: u64,
    /// Groups in which a write failed, so that each of its writes was run again alone.
    pub regrouped: u64,
}

/// A storage failure: what the journal was doing (credentials redacted), and the cause.
pub(crate) fn storage(
    context: &str,
    err: impl std::error::Error + Send + Sync + 'static,
) -> JournalError {
    JournalError::storage(redact(context), err)
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// The connection options every journal connection shares (durability, busy timeout, foreign
/// keys), from an `sqlite:` URL.
fn connect_options(url: &str) -> Result<SqliteConnectOptions, JournalError> {
    if !url.starts_with("sqlite:") {
        return Err(JournalError::storage_context(redact(&format!(
            "the journal needs an `sqlite:` URL (`sqlite://ordermod.db`, `sqlite::memory:`), \
             got `{url}`"
        ))));
    }
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(|e| storage(&format!("invalid journal URL `{url}`"), e))?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true))
}

impl SqliteJournal {
    /// Opens (creating the file if missing) and migrates the journal at `url`, e.g.
    /// `sqlite://ordermod.db`, `sqlite:///var/lib/ordermod/journal.db`, or `sqlite::memory:`
    /// for a private in-memory journal (one connection, kept open for the pool's life).
    ///
    /// A file journal is held by one process at a time: this takes an exclusive OS lock on
    /// `<file>.lock` first (writing this process's id and host into it) and keeps it until
    /// [`close`](Self::close); when another process holds it, nothing is opened and the error
    /// is [`JournalError::Locked`], naming the journal and the holder. Migrations run under the
    /// lock, so two processes never race to create the schema.
    ///
    /// Sets WAL journal mode, `synchronous = FULL`, a [`BUSY_TIMEOUT`] and foreign keys, and
    /// starts the group-commit writer on the current tokio runtime (on its own connection,
    /// with a page cache of [`WRITE_CACHE_KIB`], for a file).
    pub async fn open(url: &str) -> Result<Self, JournalError> {
        let options = connect_options(url)?.create_if_missing(true);
        let in_memory = is_in_memory(url);
        let lock = if in_memory {
            None
        } else {
            Some(acquire(options.get_filename())?)
        };
        let pool_options = if in_memory {
            // An in-memory database lives as long as a connection to it: keep exactly one,
            // forever (a second connection would see a different, empty database or contend
            // on shared-cache table locks that ignore the busy timeout).
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            // No ping before each read: a connection to a local file cannot go stale, and the
            // ping is one more round trip to the connection's worker thread per read (issue 17
            // intake profile).
            SqlitePoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .test_before_acquire(false)
        };
        let pool = pool_options
            .connect_with(options.clone())
            .await
            .map_err(|e| storage(&format!("cannot open the journal at `{url}`"), e))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| storage("cannot migrate the journal", e))?;
        let write_connection = if in_memory {
            WriteConnection::Shared(pool.clone())
        } else {
            let options = options
                .pragma("cache_size", format!("-{WRITE_CACHE_KIB}"))
                .pragma("wal_autocheckpoint", WAL_CHECKPOINT_PAGES.to_string());
            let conn = options
                .connect()
                .await
                .map_err(|e| storage(&format!("cannot open the journal at `{url}`"), e))?;
            WriteConnection::Own(conn, Box::new(options))
        };
        let writer = Writer::spawn(write_connection);
        tracing::debug!(url = %redact(url), "journal opened");
        Ok(SqliteJournal {
            pool,
            writer,
            lock: Arc::new(Mutex::new(lock)),
        })
    }

    /// Opens an existing file journal to read it (`ordermod journal`), beside a process that
    /// may hold it for writing: no lock, no migration, nothing created; writes fail.
    pub async fn open_read_only(url: &str) -> Result<Self, JournalError> {
        if is_in_memory(url) {
            return Err(JournalError::storage_context(
                "an in-memory journal holds nothing to read from another process",
            ));
        }
        let options = connect_options(url)?.read_only(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| storage(&format!("cannot open the journal at `{url}`"), e))?;
        let writer = Writer::spawn(WriteConnection::Shared(pool.clone()));
        Ok(SqliteJournal {
            pool,
            writer,
            lock: Arc::new(Mutex::new(None)),
        })
    }

    /// What the group-commit writer has done since the journal was opened (for diagnostics
    /// and tests: `transactions` below `writes` means writes shared commits).
    pub fn write_stats(&self) -> WriteStats {
        let c = self.writer.counters();
        let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        WriteStats {
            submitted: get(&c.submitted),
            writes: get(&c.writes),
            transactions: get(&c.transactions),
            regrouped: get(&c.regrouped),
        }
    }

    async fn write(&self, op: Op) -> Result<Answer, JournalError> {
        self.writer.write(op).await
    }

    /// The connection settings in force, read back from SQLite (for diagnostics and to
    /// check the durability guarantees).
    pub async fn settings(&self) -> Result<StorageSettings, JournalError> {
        let fail = |e: sqlx::Error| storage("cannot read the journal settings", e);
        let mut conn = self.pool.acquire().await.map_err(fail)?;
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .map_err(fail)?;
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .map_err(fail)?;
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await
            .map_err(fail)?;
        let busy_timeout_ms: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await
            .map_err(fail)?;
        Ok(StorageSettings {
            journal_mode: journal_mode.to_ascii_lowercase(),
            synchronous: match synchronous {
                0 => "off".to_owned(),
                1 => "normal".to_owned(),
                2 => "full".to_owned(),
                3 => "extra".to_owned(),
                n => n.to_string(),
            },
            foreign_keys: foreign_keys == 1,
            busy_timeout_ms,
        })
    }

    /// A private in-memory journal, for tests and dry runs.
    pub async fn in_memory() -> Result<Self, JournalError> {
        SqliteJournal::open("sqlite::memory:").await
    }

    /// Lets the writes already handed over commit, copies the write-ahead log into the
    /// database file (`PRAGMA wal_checkpoint(TRUNCATE)`, so the `.db` file alone holds
    /// everything), closes every connection, waiting for them to be returned, and releases the
    /// file's process lock. Later calls fail with a storage error.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
        self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn reads(&self) -> Reads<'_, Sqlite> {
        Reads(&self.pool)
    }

    /// One page of amendments, newest first (by recorded time, then key): at most `limit`,
    /// only those of `order` when given, only `state` when given, and only those after `after`
    /// (the last record of the previous page) in that order. Keyset paging over the
    /// `amendments_by_recorded` / `amendments_by_order` indexes: each page costs its own rows,
    /// whatever the journal's size, and no read holds a snapshot between pages.
    pub async fn amendments_page(
        &self,
        order: Option<&OrderId>,
        state: Option<AmendmentState>,
        after: Option<&AmendmentRecord>,
        limit: u32,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        self.reads()
            .amendments_page(order, state, after, limit)
            .await
    }

    /// Amendments the platform acknowledged that no inbound message confirmed or flagged yet
    /// (state `acknowledged`), oldest first: the reconciliation backlog.
    pub async fn unconfirmed_acknowledged(&self) -> Result<Vec<AmendmentRecord>, JournalError> {
        self.reads()
            .amendments(sql::UNCONFIRMED_ACKNOWLEDGED, None)
            .await
    }

    /// Amendments of `order` the platform acknowledged, whether since confirmed or flagged or
    /// not (states `acknowledged`, `confirmed`, `flagged`), latest revision first: what an
    /// inbound message about the order is reconciled against.
    pub async fn acknowledged_for_order(
        &self,
        order: &OrderId,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        self.reads()
            .amendments(sql::ACKNOWLEDGED_FOR_ORDER, Some(order))
            .await
    }

    /// How many amendments are in each state; every state, in the port's order, zeros
    /// included.
    pub async fn counts_by_state(&self) -> Result<Vec<(AmendmentState, u64)>, JournalError> {
        self.reads().counts_by_state().await
    }

    /// The stored message with `dedup_key`, if any (what a duplicate delivery refers to).
    pub async fn message_by_dedup_key(
        &self,
        dedup_key: &str,
    ) -> Result<Option<MessageRecord>, JournalError> {
        self.reads().message_by_dedup_key(dedup_key).await
    }

    /// How many messages are stored, and how many of them are dead letters.
    pub async fn message_counts(&self) -> Result<(u64, u64), JournalError> {
        self.reads().message_counts().await
    }

    /// The revisions recorded for `order`, oldest first.
    pub async fn revisions(&self, order: &OrderId) -> Result<Vec<RevisionRecord>, JournalError> {
        self.reads().revisions(order).await
    }
}

#[async_trait]
impl Journal for SqliteJournal {
    async fn begin(&self, intent: &Intent, now: Timestamp) -> Result<Begin, JournalError> {
        self.write(Op::begin(intent, now)?).await?.into_begin()
    }

    async fn mark_sent(&self, key: &IdempotencyKey, now: Timestamp) -> Result<(), JournalError> {
        self.write(Op::mark_sent(key, now)).await?.into_done()
    }

    async fn record_outcome(
        &self,
        key: &IdempotencyKey,
        outcome: &Outcome,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        self.write(Op::record_outcome(key, outcome, now)?)
            .await?
            .into_done()
    }

    async fn reconcile(
        &self,
        key: &IdempotencyKey,
        state: AmendmentState,
        message_id: i64,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        self.write(Op::reconcile(key, state, Some(message_id), note, now)?)
            .await?
            .into_done()
    }

    async fn confirm_by_read(
        &self,
        key: &IdempotencyKey,
        state: AmendmentState,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        self.write(Op::reconcile(key, state, None, note, now)?)
            .await?
            .into_done()
    }

    async fn amendments(
        &self,
        order: Option<&OrderId>,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        self.reads().amendments_of(order).await
    }

    async fn record_message(&self, message: &InboundRecord) -> Result<MessageInsert, JournalError> {
        self.write(Op::record_message(message))
            .await?
            .into_message()
    }

    /// One write: the message's row is inserted with its order or dead-letter reason, as one
    /// operation of the writer's next group.
    async fn record_decoded_message(
        &self,
        message: &InboundRecord,
        decoding: &MessageDecoding,
    ) -> Result<MessageInsert, JournalError> {
        self.write(Op::record_decoded_message(message, decoding))
            .await?
            .into_message()
    }

    async fn message_decoded(&self, id: i64, order: &OrderId) -> Result<(), JournalError> {
        self.write(Op::message_decoded(id, order))
            .await?
            .into_done()
    }

    async fn dead_letter(&self, id: i64, reason: &str) -> Result<(), JournalError> {
        self.write(Op::dead_letter(id, reason)).await?.into_done()
    }

    async fn checkpoint(&self) -> Result<(), JournalError> {
        self.writer.checkpoint().await
    }

    async fn messages(&self, dead_letters_only: bool) -> Result<Vec<MessageRecord>, JournalError> {
        self.reads().all_messages(dead_letters_only).await
    }

    async fn messages_for_order(
        &self,
        order: &OrderId,
    ) -> Result<Vec<MessageRecord>, JournalError> {
        self.reads()
            .messages(sql::MESSAGES_FOR_ORDER, Some(order))
            .await
    }
}
