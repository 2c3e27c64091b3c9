//! Group commit: one task owns the journal's write connection, takes the write operations of
//! every concurrent caller from a channel, runs all that are pending (up to [`MAX_GROUP`]) in
//! one transaction, commits it (one sync of the write-ahead log), and only then answers each
//! caller.
//!
//! Durability is unchanged: a caller's future completes only after the transaction holding its
//! write has committed with `synchronous = FULL`. What changes is that one sync covers many
//! callers' writes, so concurrent amendments and messages share the sync instead of queueing
//! for one each.
//!
//! Isolation between the operations of a group: every operation either returns a domain answer
//! (`Missing`, `Conflict`, a duplicate, an earlier state) having written nothing, or fails only
//! through a database error. A database error anywhere in a group (or a failed commit) rolls
//! the whole group back and runs each of its operations again alone, each in its own
//! transaction, so one failing operation gets its own error and never fails or loses the others.
//!
//! Transactions are sqlx's: [`Connection::begin_with`] with `BEGIN IMMEDIATE` (the write lock
//! is taken first, so a write never fails on a stale read snapshot), [`Transaction::commit`],
//! and an explicit [`Transaction::rollback`] on failure (a dropped transaction rolls back too).
//!
//! Callers reach the writer through a bounded channel of [`WRITE_QUEUE`] operations: when the
//! writer falls behind, a caller waits for room (back-pressure), and nothing is dropped.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use order_domain::JournalError;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqliteConnection, SqlitePool};
use sqlx::{ConnectOptions as _, Connection, QueryBuilder, Row as _, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::apply::apply;
use crate::ops::{self, Answer, Op};
use crate::sqlite::storage;

/// Most write operations committed in one transaction. A larger group would make its first
/// caller wait longer for the commit; more callers than this simply form the next group.
pub const MAX_GROUP: usize = 256;

/// Write operations waiting for the writer at most: four full groups. A caller finding the
/// channel full waits for room (back-pressure on the callers, never a lost write); the bound
/// keeps a burst of callers from queueing without limit in memory while the disk syncs.
pub const WRITE_QUEUE: usize = 4 * MAX_GROUP;

/// SQLite's statement to start a transaction that takes the write lock at once.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

type Reply = oneshot::Sender<Result<Answer, JournalError>>;

enum Msg {
    Write(Op, Reply),
    Checkpoint(oneshot::Sender<Result<(), JournalError>>),
    Close(oneshot::Sender<()>),
}

/// Counters of the writer: operations committed and transactions that committed them.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) submitted: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) transactions: AtomicU64,
    pub(crate) regrouped: AtomicU64,
}

/// The connection the writer writes on.
pub(crate) enum WriteConnection {
    /// A connection of its own (a file journal: readers use the pool beside it), and how to
    /// open it again (after a failure left it in an unknown transaction state).
    Own(SqliteConnection, Box<SqliteConnectOptions>),
    /// The pool's one connection, shared with readers (an in-memory journal, which lives in
    /// exactly one connection).
    Shared(SqlitePool),
}

/// The callers' handle on the writer task. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Msg>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Write(op, _) => f.debug_tuple("Write").field(op).finish(),
            Msg::Checkpoint(_) => f.write_str("Checkpoint"),
            Msg::Close(_) => f.write_str("Close"),
        }
    }
}

fn closed() -> JournalError {
    JournalError::storage_context("the journal is closed")
}

impl Writer {
    /// Starts the writer task on the current tokio runtime.
    pub(crate) fn spawn(conn: WriteConnection) -> Writer {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let counters = Arc::new(Counters::default());
        tokio::spawn(run(conn, rx, Arc::clone(&counters)));
        Writer { tx, counters }
    }

    /// Runs `op` in the next group and returns once that group committed (or `op` failed).
    pub(crate) async fn write(&self, op: Op) -> Result<Answer, JournalError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Write(op, reply))
            .await
            .map_err(|_| closed())?;
        self.counters.submitted.fetch_add(1, Ordering::Relaxed);
        answer.await.map_err(|_| closed())?
    }

    /// Lets the writer commit every operation sent before, then copies the write-ahead log
    /// into the database file and empties it (`PRAGMA wal_checkpoint(TRUNCATE)`).
    pub(crate) async fn checkpoint(&self) -> Result<(), JournalError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Checkpoint(reply))
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Lets the writer finish every operation sent before, checkpoints the log into the
    /// database file, then stops it and closes its connection. Later writes fail with a
    /// storage error.
    pub(crate) async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Close(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }
}

async fn run(mut conn: WriteConnection, mut rx: mpsc::Receiver<Msg>, c: Arc<Counters>) {
    let mut group: Vec<(Op, Reply)> = Vec::with_capacity(MAX_GROUP);
    let mut closing: Option<oneshot::Sender<()>> = None;
    while closing.is_none() {
        let Some(first) = rx.recv().await else { break };
        let mut next = Some(first);
        let mut checkpoint = None;
        // Everything already waiting joins this group: callers that arrived while the last
        // group was being committed.
        while let Some(msg) = next.take() {
            match msg {
                Msg::Write(op, reply) => group.push((op, reply)),
                Msg::Checkpoint(reply) => {
                    checkpoint = Some(reply);
                    break;
                }
                Msg::Close(done) => {
                    closing = Some(done);
                    break;
                }
            }
            if group.len() < MAX_GROUP {
                next = rx.try_recv().ok();
            }
        }
        if !group.is_empty() {
            commit_group(&mut conn, &mut group, &c).await;
        }
        if let Some(reply) = checkpoint {
            let _ = reply.send(checkpoint_log(&mut conn).await);
        }
    }
    rx.close();
    if let WriteConnection::Own(mut own, _) = conn {
        // A clean close leaves the whole journal in the database file (issue 12): the one
        // file a user copies holds every run.
        if let Err(e) = checkpoint_own(&mut own).await {
            tracing::warn!("checkpointing the journal on close: {e}");
        }
        if let Err(e) = own.close().await {
            tracing::warn!("closing the journal's write connection: {e}");
        }
    }
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

/// `PRAGMA wal_checkpoint(TRUNCATE)` on the write connection: every committed page is copied
/// into the database file, which is synced, and the log is emptied. Fails when a reader kept
/// it from completing (its busy flag) past the busy timeout.
async fn checkpoint_own(conn: &mut SqliteConnection) -> Result<(), JournalError> {
    let context = "cannot checkpoint the journal";
    let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| storage(context, e))?;
    let busy: i64 = row.try_get(0).map_err(|e| storage(context, e))?;
    if busy != 0 {
        return Err(JournalError::storage_context(format!(
            "{context}: a reader kept the log from being copied into the database file"
        )));
    }
    Ok(())
}

/// [`checkpoint_own`] for a file journal; nothing for an in-memory one (it has no log).
async fn checkpoint_log(conn: &mut WriteConnection) -> Result<(), JournalError> {
    match conn {
        WriteConnection::Own(own, _) => checkpoint_own(own).await,
        WriteConnection::Shared(_) => Ok(()),
    }
}

/// The write connection for one transaction: the writer's own, or the pool's one.
enum Lease<'a> {
    Own(&'a mut SqliteConnection),
    Pooled(PoolConnection<Sqlite>),
}

impl std::ops::Deref for Lease<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        match self {
            Lease::Own(c) => c,
            Lease::Pooled(c) => c,
        }
    }
}

impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            Lease::Own(c) => c,
            Lease::Pooled(c) => c,
        }
    }
}

impl WriteConnection {
    async fn lease(&mut self) -> Result<Lease<'_>, sqlx::Error> {
        match self {
            WriteConnection::Own(own, _) => Ok(Lease::Own(own)),
            WriteConnection::Shared(pool) => Ok(Lease::Pooled(pool.acquire().await?)),
        }
    }

    /// After a failed transaction: when its rollback failed too (SQLite had already rolled it
    /// back itself, after an IO error or a full disk), sqlx still counts the connection as in
    /// a transaction and would refuse to begin the next one, so the writer's own connection
    /// is replaced by a fresh one. (An in-memory journal lives in its one connection and
    /// keeps it.)
    async fn recover(&mut self) {
        let WriteConnection::Own(own, options) = self else {
            return;
        };
        // The ping runs after any rollback still queued on the connection.
        let _ = own.ping().await;
        if !own.is_in_transaction() {
            return;
        }
        match options.connect().await {
            Ok(fresh) => {
                let stale = std::mem::replace(own, fresh);
                if let Err(e) = stale.close().await {
                    tracing::debug!("closing a stale write connection: {e}");
                }
                tracing::warn!("the journal's write connection was reopened after a failure");
            }
            Err(e) => tracing::warn!("cannot reopen the journal's write connection: {e}"),
        }
    }
}

/// Runs `group` in one transaction and answers every caller; on a database error, runs each
/// operation alone instead.
async fn commit_group(conn: &mut WriteConnection, group: &mut Vec<(Op, Reply)>, c: &Counters) {
    let together = match conn.lease().await {
        Ok(mut lease) => together(&mut lease, group).await,
        Err(e) => Err(Together::NoLock(e)),
    };
    match together {
        Err(Together::NoLock(e)) => {
            // No transaction could start (the lock stayed taken past the busy timeout, or the
            // file is gone): every operation fails alike, none was run.
            let e = Arc::new(e);
            for (op, reply) in group.drain(..) {
                let _ = reply.send(Err(storage(op.context(), Arc::clone(&e))));
            }
        }
        Ok(answers) => {
            c.transactions.fetch_add(1, Ordering::Relaxed);
            c.writes.fetch_add(answers.len() as u64, Ordering::Relaxed);
            for ((_, reply), answer) in group.drain(..).zip(answers) {
                let _ = reply.send(answer);
            }
        }
        Err(Together::Failed(e)) => {
            // Nothing of the group is committed. Each operation alone: the one that failed
            // gets its error, the others are committed and answered.
            conn.recover().await;
            if group.len() > 1 {
                tracing::debug!(
                    n = group.len(),
                    "a write failed inside a group ({e}); committing each write alone"
                );
                c.regrouped.fetch_add(1, Ordering::Relaxed);
            }
            for (op, reply) in group.drain(..) {
                let answer = match conn.lease().await {
                    Ok(mut lease) => alone(&mut lease, &op).await,
                    Err(e) => Err(storage(op.context(), e)),
                };
                if answer.is_err() {
                    conn.recover().await;
                }
                c.transactions.fetch_add(1, Ordering::Relaxed);
                c.writes.fetch_add(1, Ordering::Relaxed);
                let _ = reply.send(answer);
            }
        }
    }
}

/// Why a group could not be committed together.
enum Together {
    /// The transaction could not start; nothing ran.
    NoLock(sqlx::Error),
    /// An operation or the commit failed; the transaction was rolled back.
    Failed(sqlx::Error),
}

/// Every operation of `group` in one transaction, committed; the answers in order.
async fn together(
    conn: &mut SqliteConnection,
    group: &[(Op, Reply)],
) -> Result<Vec<Result<Answer, JournalError>>, Together> {
    let started = std::time::Instant::now();
    let mut tx = conn
        .begin_with(BEGIN_WRITE)
        .await
        .map_err(Together::NoLock)?;
    let locked = started.elapsed();
    let mut answers = Vec::with_capacity(group.len());
    let mut rest = group;
    while !rest.is_empty() {
        // A run of message inserts is one statement; any other operation runs alone.
        let run = rest
            .iter()
            .take_while(|(op, _)| matches!(op, Op::RecordMessage { .. }))
            .count();
        let (ran, result) = if run >= 2 {
            let ops: Vec<&Op> = rest[..run].iter().map(|(op, _)| op).collect();
            (run, insert_messages(&mut tx, &ops).await)
        } else {
            let result = apply::<Sqlite>(&mut tx, &rest[0].0).await;
            (1, result.map(|a| vec![a]))
        };
        match result {
            Ok(a) => answers.extend(a),
            Err(e) => {
                rollback(tx).await;
                return Err(Together::Failed(e));
            }
        }
        rest = &rest[ran..];
    }
    let ran = started.elapsed();
    // A failed commit drops the transaction, which rolls it back.
    tx.commit().await.map_err(Together::Failed)?;
    tracing::trace!(
        writes = group.len(),
        begin_us = locked.as_micros(),
        run_us = (ran - locked).as_micros(),
        commit_us = (started.elapsed() - ran).as_micros(),
        "group committed"
    );
    Ok(answers)
}

/// Message inserts `ops` (each an [`Op::RecordMessage`]) with one multi-row
/// `INSERT .. ON CONFLICT (dedup_key) DO NOTHING RETURNING`, inside the group's transaction:
/// one statement, so one round trip to the connection's thread, instead of one per message.
/// The answers, in order (see [`ops::grouped_message_answers`]).
async fn insert_messages(
    conn: &mut SqliteConnection,
    ops: &[&Op],
) -> Result<Vec<Result<Answer, JournalError>>, sqlx::Error> {
    let mut insert = QueryBuilder::<Sqlite>::new(
        "INSERT INTO messages (dedup_key, source, raw, received_at, order_id, \
         dead_letter_reason) ",
    );
    insert.push_values(ops, |mut row, op| {
        if let Op::RecordMessage {
            dedup_key,
            source,
            raw,
            received_at,
            order,
            dead_letter_reason,
        } = op
        {
            row.push_bind(dedup_key.as_str())
                .push_bind(source.as_str())
                .push_bind(raw.as_slice())
                .push_bind(*received_at)
                .push_bind(order.as_deref())
                .push_bind(dead_letter_reason.as_deref());
        }
    });
    insert.push(" ON CONFLICT (dedup_key) DO NOTHING RETURNING id, dedup_key");
    let inserted: Vec<(i64, String)> = insert.build_query_as().fetch_all(&mut *conn).await?;
    let new: HashSet<&str> = inserted.iter().map(|(_, k)| k.as_str()).collect();
    let missing: Vec<&str> = ops
        .iter()
        .map(|op| ops::message_key(op))
        .filter(|k| !new.contains(k))
        .collect();
    let stored_before: Vec<(i64, String)> = if missing.is_empty() {
        Vec::new()
    } else {
        let mut select =
            QueryBuilder::<Sqlite>::new("SELECT id, dedup_key FROM messages WHERE dedup_key IN (");
        let mut keys = select.separated(", ");
        for k in &missing {
            keys.push_bind(*k);
        }
        select.push(")");
        select.build_query_as().fetch_all(&mut *conn).await?
    };
    Ok(ops::grouped_message_answers(ops, inserted, stored_before))
}

/// One operation in a transaction of its own.
async fn alone(conn: &mut SqliteConnection, op: &Op) -> Result<Answer, JournalError> {
    let context = op.context();
    let mut tx = conn
        .begin_with(BEGIN_WRITE)
        .await
        .map_err(|e| storage(context, e))?;
    match apply::<Sqlite>(&mut tx, op).await {
        Ok(answer) => {
            tx.commit().await.map_err(|e| storage(context, e))?;
            answer
        }
        Err(e) => {
            rollback(tx).await;
            Err(storage(context, e))
        }
    }
}

/// Rolls the transaction back. SQLite may already have (some errors roll back the whole
/// transaction by themselves; then the rollback fails, which [`WriteConnection::recover`]
/// repairs).
async fn rollback(tx: Transaction<'_, Sqlite>) {
    if let Err(e) = tx.rollback().await {
        tracing::debug!("rollback: {e}");
    }
}
