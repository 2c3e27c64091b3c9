//! The SQLite implementation of the journal port.

use std::fmt::Display;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use order_domain::{
    AmendmentRecord, AmendmentState, Begin, IdempotencyKey, InboundRecord, Intent, Journal,
    JournalError, MessageInsert, MessageRecord, OrderId, Outcome, ShopId, Timestamp,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions as _, Row};

use crate::lock::{HolderLock, acquire};
use crate::redact::redact;
use crate::writer::{Answer, Op, WriteConnection, Writer};

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

/// Every state, in the order of the port's enum.
const ALL_STATES: [AmendmentState; 9] = AmendmentState::ALL;

/// The columns [`amendment_from_row`] reads, from `amendments` aliased as `a`.
macro_rules! amendment_columns {
    () => {
        "a.idempotency_key, a.shop, a.order_snapshot, a.amendment, a.plan, a.rejection, \
         a.state, a.outcome, a.note, a.recorded_at, a.updated_at"
    };
}

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

fn to_json<T: Serialize>(what: &str, value: &T) -> Result<String, JournalError> {
    serde_json::to_string(value).map_err(|e| storage(&format!("cannot encode {what}"), e))
}

fn from_json<T: DeserializeOwned>(key: &str, what: &str, text: &str) -> Result<T, JournalError> {
    serde_json::from_str(text).map_err(|e| JournalError::Corrupt {
        key: key.to_owned(),
        reason: format!("{what}: {e}"),
    })
}

pub(crate) fn parse_state(key: &str, text: &str) -> Result<AmendmentState, JournalError> {
    ALL_STATES
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| JournalError::Corrupt {
            key: key.to_owned(),
            reason: format!("unknown state `{text}`"),
        })
}

fn corrupt(key: &str, reason: impl Display) -> JournalError {
    JournalError::Corrupt {
        key: key.to_owned(),
        reason: reason.to_string(),
    }
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

/// What the platform said, verbatim, for the `platform_reply` column.
fn platform_reply(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Acknowledged(receipt) => Some(receipt.raw_reply.clone()),
        Outcome::Failed(error) | Outcome::StaleResend(error) => Some(error.to_string()),
        Outcome::Rejected(_) | Outcome::ConfirmedByRead(_) => None,
    }
}

fn amendment_from_row(row: &SqliteRow) -> Result<AmendmentRecord, JournalError> {
    let get = |col: &str| -> Result<Option<String>, JournalError> {
        row.try_get::<Option<String>, _>(col)
            .map_err(|e| storage("cannot read an amendment row", e))
    };
    let key_text: String = row
        .try_get("idempotency_key")
        .map_err(|e| storage("cannot read an amendment row", e))?;
    let k = key_text.as_str();
    let need = |col: &str| -> Result<String, JournalError> {
        get(col)?.ok_or_else(|| corrupt(k, format!("{col} is null")))
    };
    let key = IdempotencyKey::new(k).map_err(|e| corrupt(k, e))?;
    let shop = ShopId::new(need("shop")?).map_err(|e| corrupt(k, e))?;
    let order = from_json(k, "order snapshot", &need("order_snapshot")?)?;
    let amendment = from_json(k, "amendment", &need("amendment")?)?;
    let plan = match (get("plan")?, get("rejection")?) {
        (Some(plan), None) => Ok(from_json(k, "plan", &plan)?),
        (None, Some(rejection)) => Err(from_json(k, "rejection", &rejection)?),
        _ => return Err(corrupt(k, "needs exactly one of plan and rejection")),
    };
    let state = parse_state(k, &need("state")?)?;
    let outcome = get("outcome")?
        .map(|o| from_json::<Outcome>(k, "outcome", &o))
        .transpose()?;
    let note = get("note")?;
    let millis = |col: &str| -> Result<Timestamp, JournalError> {
        row.try_get::<i64, _>(col)
            .map(Timestamp::from_millis)
            .map_err(|e| storage("cannot read an amendment row", e))
    };
    Ok(AmendmentRecord {
        intent: Intent {
            key,
            shop,
            order,
            amendment,
            plan,
        },
        state,
        outcome,
        note,
        recorded_at: millis("recorded_at")?,
        updated_at: millis("updated_at")?,
    })
}

fn message_from_row(row: &SqliteRow) -> Result<MessageRecord, JournalError> {
    let read = |e: sqlx::Error| storage("cannot read a message row", e);
    let id: i64 = row.try_get("id").map_err(read)?;
    let order = row
        .try_get::<Option<String>, _>("order_id")
        .map_err(read)?
        .map(|o| OrderId::new(o).map_err(|e| corrupt(&format!("message {id}"), e)))
        .transpose()?;
    Ok(MessageRecord {
        id,
        record: InboundRecord {
            dedup_key: row.try_get("dedup_key").map_err(read)?,
            source: row.try_get("source").map_err(read)?,
            raw: row.try_get("raw").map_err(read)?,
            received_at: Timestamp::from_millis(row.try_get("received_at").map_err(read)?),
        },
        order,
        dead_letter_reason: row.try_get("dead_letter_reason").map_err(read)?,
    })
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
            SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS)
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
            let conn = options
                .pragma("cache_size", format!("-{WRITE_CACHE_KIB}"))
                .pragma("wal_autocheckpoint", WAL_CHECKPOINT_PAGES.to_string())
                .connect()
                .await
                .map_err(|e| storage(&format!("cannot open the journal at `{url}`"), e))?;
            WriteConnection::Own(conn)
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

    async fn amendments_where(
        &self,
        sql: &'static str,
        order: Option<&str>,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        let mut query = sqlx::query(sql);
        if let Some(order) = order {
            query = query.bind(order);
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| storage("cannot list amendments", e))?;
        rows.iter().map(amendment_from_row).collect()
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
        // Only the conditions asked for, so that SQLite picks the index that serves them.
        let mut sql = String::from(concat!(
            "SELECT ",
            amendment_columns!(),
            " FROM amendments a WHERE 1 = 1"
        ));
        let mut n = 0;
        let mut param = || {
            n += 1;
            format!("${n}")
        };
        if order.is_some() {
            sql.push_str(&format!(" AND a.order_id = {}", param()));
        }
        if state.is_some() {
            sql.push_str(&format!(" AND a.state = {}", param()));
        }
        if after.is_some() {
            let (t, k) = (param(), param());
            sql.push_str(&format!(
                " AND (a.recorded_at < {t} OR (a.recorded_at = {t} AND a.idempotency_key < {k}))"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY a.recorded_at DESC, a.idempotency_key DESC LIMIT {}",
            param()
        ));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(order) = order {
            query = query.bind(order.as_str());
        }
        if let Some(state) = state {
            query = query.bind(state.as_str());
        }
        if let Some(after) = after {
            query = query
                .bind(after.recorded_at.as_millis())
                .bind(after.intent.key.as_str());
        }
        let query = query.bind(i64::from(limit));
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| storage("cannot list amendments", e))?;
        rows.iter().map(amendment_from_row).collect()
    }

    /// Amendments the platform acknowledged that no inbound message confirmed or flagged yet
    /// (state `acknowledged`), oldest first: the reconciliation backlog.
    pub async fn unconfirmed_acknowledged(&self) -> Result<Vec<AmendmentRecord>, JournalError> {
        self.amendments_where(
            concat!(
                "SELECT ",
                amendment_columns!(),
                " FROM amendments a WHERE a.state = 'acknowledged'",
                " ORDER BY a.recorded_at ASC, a.idempotency_key ASC"
            ),
            None,
        )
        .await
    }

    /// Amendments of `order` the platform acknowledged, whether since confirmed or flagged or
    /// not (states `acknowledged`, `confirmed`, `flagged`), latest revision first: what an
    /// inbound message about the order is reconciled against.
    pub async fn acknowledged_for_order(
        &self,
        order: &OrderId,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        self.amendments_where(
            concat!(
                "SELECT ",
                amendment_columns!(),
                " FROM amendments a",
                " LEFT JOIN revisions r ON r.shop = a.shop AND r.order_id = a.order_id",
                " AND r.idempotency_key = a.idempotency_key",
                " WHERE a.order_id = $1",
                " AND a.state IN ('acknowledged', 'confirmed', 'flagged')",
                " ORDER BY COALESCE(r.revision, 0) DESC, a.recorded_at DESC,",
                " a.idempotency_key DESC"
            ),
            Some(order.as_str()),
        )
        .await
    }

    /// How many amendments are in each state; every state, in the port's order, zeros
    /// included.
    pub async fn counts_by_state(&self) -> Result<Vec<(AmendmentState, u64)>, JournalError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM amendments GROUP BY state")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| storage("cannot count amendments", e))?;
        let mut counts: Vec<(AmendmentState, u64)> = ALL_STATES.map(|s| (s, 0)).to_vec();
        for row in rows {
            let read = |e: sqlx::Error| storage("cannot count amendments", e);
            let text: String = row.try_get("state").map_err(read)?;
            let n: i64 = row.try_get("n").map_err(read)?;
            let state = parse_state("(count)", &text)?;
            if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == state) {
                slot.1 = u64::try_from(n).unwrap_or(0);
            }
        }
        Ok(counts)
    }

    /// The stored message with `dedup_key`, if any (what a duplicate delivery refers to).
    pub async fn message_by_dedup_key(
        &self,
        dedup_key: &str,
    ) -> Result<Option<MessageRecord>, JournalError> {
        sqlx::query(
            "SELECT id, dedup_key, source, raw, received_at, order_id, dead_letter_reason \
             FROM messages WHERE dedup_key = $1",
        )
        .bind(dedup_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| storage("cannot read a message", e))?
        .as_ref()
        .map(message_from_row)
        .transpose()
    }

    /// How many messages are stored, and how many of them are dead letters.
    pub async fn message_counts(&self) -> Result<(u64, u64), JournalError> {
        let read = |e: sqlx::Error| storage("cannot count messages", e);
        let row = sqlx::query(
            "SELECT COUNT(*) AS total, COUNT(dead_letter_reason) AS dead FROM messages",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(read)?;
        let total: i64 = row.try_get("total").map_err(read)?;
        let dead: i64 = row.try_get("dead").map_err(read)?;
        Ok((
            u64::try_from(total).unwrap_or(0),
            u64::try_from(dead).unwrap_or(0),
        ))
    }

    /// The revisions recorded for `order`, oldest first.
    pub async fn revisions(&self, order: &OrderId) -> Result<Vec<RevisionRecord>, JournalError> {
        let rows = sqlx::query(
            "SELECT shop, order_id, revision, idempotency_key, applied_at FROM revisions \
             WHERE order_id = $1 ORDER BY shop ASC, revision ASC",
        )
        .bind(order.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| storage("cannot list revisions", e))?;
        rows.iter()
            .map(|row| {
                let read = |e: sqlx::Error| storage("cannot read a revision row", e);
                let key: String = row.try_get("idempotency_key").map_err(read)?;
                let shop: String = row.try_get("shop").map_err(read)?;
                let order: String = row.try_get("order_id").map_err(read)?;
                let revision: i64 = row.try_get("revision").map_err(read)?;
                Ok(RevisionRecord {
                    shop: ShopId::new(shop).map_err(|e| corrupt(&key, e))?,
                    order: OrderId::new(order).map_err(|e| corrupt(&key, e))?,
                    revision: u32::try_from(revision).map_err(|e| corrupt(&key, e))?,
                    applied_at: Timestamp::from_millis(row.try_get("applied_at").map_err(read)?),
                    key: IdempotencyKey::new(key.clone()).map_err(|e| corrupt(&key, e))?,
                })
            })
            .collect()
    }
}

fn unexpected(answer: &Answer) -> JournalError {
    JournalError::storage_context(format!(
        "the journal writer gave an unexpected answer: {answer:?}"
    ))
}

#[async_trait]
impl Journal for SqliteJournal {
    async fn begin(&self, intent: &Intent, now: Timestamp) -> Result<Begin, JournalError> {
        let (plan, rejection, next_revision) = match &intent.plan {
            Ok(plan) => (
                Some(to_json("the plan", plan)?),
                None,
                Some(i64::from(plan.next_revision())),
            ),
            Err(rejection) => (None, Some(to_json("the rejection", rejection)?), None),
        };
        let op = Op::Begin {
            key: intent.key.as_str().to_owned(),
            shop: intent.shop.as_str().to_owned(),
            order_id: intent.order.id().as_str().to_owned(),
            amendment: to_json("the amendment", &intent.amendment)?,
            order_snapshot: to_json("the order snapshot", &intent.order)?,
            plan,
            rejection,
            next_revision,
            now: now.as_millis(),
        };
        match self.write(op).await? {
            Answer::Begin(b) => Ok(b),
            other => Err(unexpected(&other)),
        }
    }

    async fn mark_sent(&self, key: &IdempotencyKey, now: Timestamp) -> Result<(), JournalError> {
        let op = Op::MarkSent {
            key: key.as_str().to_owned(),
            now: now.as_millis(),
        };
        match self.write(op).await? {
            Answer::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    async fn record_outcome(
        &self,
        key: &IdempotencyKey,
        outcome: &Outcome,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        let op = Op::RecordOutcome {
            key: key.as_str().to_owned(),
            state: outcome.state(),
            outcome: to_json("the outcome", outcome)?,
            reply: platform_reply(outcome),
            now: now.as_millis(),
        };
        match self.write(op).await? {
            Answer::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    async fn reconcile(
        &self,
        key: &IdempotencyKey,
        state: AmendmentState,
        message_id: i64,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        if !matches!(state, AmendmentState::Confirmed | AmendmentState::Flagged) {
            return Err(JournalError::Conflict {
                key: key.to_string(),
                reason: format!("reconciliation confirms or flags; it cannot set {state}"),
            });
        }
        let op = Op::Reconcile {
            key: key.as_str().to_owned(),
            state,
            message_id: Some(message_id),
            note: note.map(str::to_owned),
            now: now.as_millis(),
        };
        match self.write(op).await? {
            Answer::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    async fn confirm_by_read(
        &self,
        key: &IdempotencyKey,
        state: AmendmentState,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        if !matches!(state, AmendmentState::Confirmed | AmendmentState::Flagged) {
            return Err(JournalError::Conflict {
                key: key.to_string(),
                reason: format!("a read confirms or flags; it cannot set {state}"),
            });
        }
        let op = Op::Reconcile {
            key: key.as_str().to_owned(),
            state,
            message_id: None,
            note: note.map(str::to_owned),
            now: now.as_millis(),
        };
        match self.write(op).await? {
            Answer::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    async fn amendments(
        &self,
        order: Option<&OrderId>,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        match order {
            Some(order) => {
                self.amendments_where(
                    concat!(
                        "SELECT ",
                        amendment_columns!(),
                        " FROM amendments a WHERE a.order_id = $1",
                        " ORDER BY a.recorded_at DESC, a.idempotency_key DESC"
                    ),
                    Some(order.as_str()),
                )
                .await
            }
            None => {
                self.amendments_where(
                    concat!(
                        "SELECT ",
                        amendment_columns!(),
                        " FROM amendments a",
                        " ORDER BY a.recorded_at DESC, a.idempotency_key DESC"
                    ),
                    None,
                )
                .await
            }
        }
    }

    async fn record_message(&self, message: &InboundRecord) -> Result<MessageInsert, JournalError> {
        let op = Op::RecordMessage {
            dedup_key: message.dedup_key.clone(),
            source: message.source.clone(),
            raw: message.raw.clone(),
            received_at: message.received_at.as_millis(),
        };
        match self.write(op).await? {
            Answer::Message(m) => Ok(m),
            other => Err(unexpected(&other)),
        }
    }

    async fn message_decoded(&self, id: i64, order: &OrderId) -> Result<(), JournalError> {
        let op = Op::MessageDecoded {
            id,
            order: order.as_str().to_owned(),
        };
        match self.write(op).await? {
            Answer::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    async fn dead_letter(&self, id: i64, reason: &str) -> Result<(), JournalError> {
        let op = Op::DeadLetter {
            id,
            reason: reason.to_owned(),
        };
        match self.write(op).await? {
            Answer::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    async fn checkpoint(&self) -> Result<(), JournalError> {
        self.writer.checkpoint().await
    }

    async fn messages(&self, dead_letters_only: bool) -> Result<Vec<MessageRecord>, JournalError> {
        let sql = if dead_letters_only {
            "SELECT id, dedup_key, source, raw, received_at, order_id, dead_letter_reason \
             FROM messages WHERE dead_letter_reason IS NOT NULL \
             ORDER BY received_at DESC, id DESC"
        } else {
            "SELECT id, dedup_key, source, raw, received_at, order_id, dead_letter_reason \
             FROM messages ORDER BY received_at DESC, id DESC"
        };
        let rows = sqlx::query(sql)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| storage("cannot list messages", e))?;
        rows.iter().map(message_from_row).collect()
    }

    async fn messages_for_order(
        &self,
        order: &OrderId,
    ) -> Result<Vec<MessageRecord>, JournalError> {
        let rows = sqlx::query(
            "SELECT id, dedup_key, source, raw, received_at, order_id, dead_letter_reason \
             FROM messages WHERE order_id = $1 ORDER BY received_at DESC, id DESC",
        )
        .bind(order.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| storage("cannot list an order's messages", e))?;
        rows.iter().map(message_from_row).collect()
    }
}
