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
//! through a database error. A database error anywhere in a group (or a failed `COMMIT`) rolls
//! the whole group back and runs each of its operations again alone, each in its own
//! transaction, so one failing operation gets its own error and never fails or loses the others.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use order_domain::{Amendment, AmendmentState, Begin, JournalError, MessageInsert};
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::{Connection as _, Row as _};
use tokio::sync::{mpsc, oneshot};

use crate::sqlite::{parse_state, storage};

/// Most write operations committed in one transaction. A larger group would make its first
/// caller wait longer for the commit; more callers than this simply form the next group.
pub const MAX_GROUP: usize = 256;

/// SQLite's statement to start a transaction that takes the write lock at once.
/// (PostgreSQL: plain `BEGIN`.)
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// One write operation, with everything it needs owned (it crosses to the writer task).
#[derive(Debug)]
pub(crate) enum Op {
    Begin {
        key: String,
        shop: String,
        order_id: String,
        amendment: String,
        order_snapshot: String,
        plan: Option<String>,
        rejection: Option<String>,
        next_revision: Option<i64>,
        now: i64,
    },
    MarkSent {
        key: String,
        now: i64,
    },
    RecordOutcome {
        key: String,
        state: AmendmentState,
        outcome: String,
        reply: Option<String>,
        now: i64,
    },
    /// By a stored message (`message_id`), or by a read of the order (`None`).
    Reconcile {
        key: String,
        state: AmendmentState,
        message_id: Option<i64>,
        note: Option<String>,
        now: i64,
    },
    RecordMessage {
        dedup_key: String,
        source: String,
        raw: Vec<u8>,
        received_at: i64,
    },
    MessageDecoded {
        id: i64,
        order: String,
    },
    DeadLetter {
        id: i64,
        reason: String,
    },
}

/// What a write operation answers once its transaction committed.
#[derive(Debug)]
pub(crate) enum Answer {
    Begin(Begin),
    Done,
    Message(MessageInsert),
}

/// How an operation ended inside a transaction: a domain answer (committed with the others, or
/// nothing written), or a database error that aborts the transaction.
enum Ran {
    Answer(Result<Answer, JournalError>),
    Failed(sqlx::Error),
}

impl From<sqlx::Error> for Ran {
    fn from(e: sqlx::Error) -> Self {
        Ran::Failed(e)
    }
}

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
    /// A connection of its own (a file journal: readers use the pool beside it).
    Own(SqliteConnection),
    /// The pool's one connection, shared with readers (an in-memory journal, which lives in
    /// exactly one connection).
    Shared(SqlitePool),
}

/// The callers' handle on the writer task. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    tx: mpsc::UnboundedSender<Msg>,
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
        let (tx, rx) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        tokio::spawn(run(conn, rx, Arc::clone(&counters)));
        Writer { tx, counters }
    }

    /// Runs `op` in the next group and returns once that group committed (or `op` failed).
    pub(crate) async fn write(&self, op: Op) -> Result<Answer, JournalError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Msg::Write(op, reply)).map_err(|_| closed())?;
        self.counters.submitted.fetch_add(1, Ordering::Relaxed);
        answer.await.map_err(|_| closed())?
    }

    /// Lets the writer commit every operation sent before, then copies the write-ahead log
    /// into the database file and empties it (`PRAGMA wal_checkpoint(TRUNCATE)`).
    pub(crate) async fn checkpoint(&self) -> Result<(), JournalError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Msg::Checkpoint(reply)).map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Lets the writer finish every operation sent before, checkpoints the log into the
    /// database file, then stops it and closes its connection. Later writes fail with a
    /// storage error.
    pub(crate) async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Close(done)).is_ok() {
            let _ = wait.await;
        }
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }
}

async fn run(mut conn: WriteConnection, mut rx: mpsc::UnboundedReceiver<Msg>, c: Arc<Counters>) {
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
    if let WriteConnection::Own(mut own) = conn {
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
        WriteConnection::Own(own) => checkpoint_own(own).await,
        WriteConnection::Shared(_) => Ok(()),
    }
}

/// Runs `group` in one transaction and answers every caller; on a database error, runs each
/// operation alone instead.
async fn commit_group(conn: &mut WriteConnection, group: &mut Vec<(Op, Reply)>, c: &Counters) {
    let mut pooled;
    let conn: &mut SqliteConnection = match conn {
        WriteConnection::Own(own) => own,
        WriteConnection::Shared(pool) => match pool.acquire().await {
            Ok(p) => {
                pooled = p;
                &mut pooled
            }
            Err(e) => {
                let e = Arc::new(e);
                for (_, reply) in group.drain(..) {
                    let _ = reply.send(Err(storage("cannot reach the journal", Arc::clone(&e))));
                }
                return;
            }
        },
    };
    match together(conn, group).await {
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
            rollback(conn).await;
            if group.len() > 1 {
                tracing::debug!(
                    n = group.len(),
                    "a write failed inside a group ({e}); committing each write alone"
                );
                c.regrouped.fetch_add(1, Ordering::Relaxed);
            }
            for (op, reply) in group.drain(..) {
                let answer = alone(conn, &op).await;
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
    /// An operation or the commit failed; the transaction must be rolled back.
    Failed(sqlx::Error),
}

/// Every operation of `group` in one transaction, committed; the answers in order.
async fn together(
    conn: &mut SqliteConnection,
    group: &[(Op, Reply)],
) -> Result<Vec<Result<Answer, JournalError>>, Together> {
    let started = std::time::Instant::now();
    sqlx::query(BEGIN_WRITE)
        .execute(&mut *conn)
        .await
        .map_err(Together::NoLock)?;
    let locked = started.elapsed();
    let mut answers = Vec::with_capacity(group.len());
    for (op, _) in group {
        match apply(conn, op).await {
            Ran::Answer(a) => answers.push(a),
            Ran::Failed(e) => return Err(Together::Failed(e)),
        }
    }
    let ran = started.elapsed();
    sqlx::query("COMMIT")
        .execute(&mut *conn)
        .await
        .map_err(Together::Failed)?;
    tracing::trace!(
        writes = group.len(),
        begin_us = locked.as_micros(),
        run_us = (ran - locked).as_micros(),
        commit_us = (started.elapsed() - ran).as_micros(),
        "group committed"
    );
    Ok(answers)
}

/// One operation in a transaction of its own.
async fn alone(conn: &mut SqliteConnection, op: &Op) -> Result<Answer, JournalError> {
    let context = op.context();
    if let Err(e) = sqlx::query(BEGIN_WRITE).execute(&mut *conn).await {
        return Err(storage(context, e));
    }
    let answer = match apply(conn, op).await {
        Ran::Answer(a) => a,
        Ran::Failed(e) => {
            rollback(conn).await;
            return Err(storage(context, e));
        }
    };
    match sqlx::query("COMMIT").execute(&mut *conn).await {
        Ok(_) => answer,
        Err(e) => {
            rollback(conn).await;
            Err(storage(context, e))
        }
    }
}

/// Rolls back the open transaction, if SQLite has not already (some errors roll back the
/// whole transaction by themselves; then `ROLLBACK` says there is none, which is fine).
async fn rollback(conn: &mut SqliteConnection) {
    if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
        tracing::debug!("rollback: {e}");
    }
}

impl Op {
    /// What the operation does, for error texts.
    fn context(&self) -> &'static str {
        match self {
            Op::Begin { .. } => "cannot record an intent",
            Op::MarkSent { .. } => "cannot mark an amendment sent",
            Op::RecordOutcome { .. } => "cannot record an outcome",
            Op::Reconcile { .. } => "cannot record a reconciliation",
            Op::RecordMessage { .. } => "cannot record a message",
            Op::MessageDecoded { .. } => "cannot note a decoded message",
            Op::DeadLetter { .. } => "cannot dead-letter a message",
        }
    }
}

/// Runs one operation inside the open transaction. A domain answer that refuses the change
/// (`Missing`, `Conflict`) is only ever given before anything was written, so it needs no
/// rollback.
async fn apply(conn: &mut SqliteConnection, op: &Op) -> Ran {
    match op {
        Op::Begin {
            key,
            shop,
            order_id,
            amendment,
            order_snapshot,
            plan,
            rejection,
            next_revision,
            now,
        } => {
            // The insert decides which caller is first; the others read the state.
            let inserted = match sqlx::query(
                "INSERT INTO amendments (idempotency_key, shop, order_id, amendment, \
                 order_snapshot, plan, rejection, next_revision, state, recorded_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'planned', $9, $9) \
                 ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .bind(key)
            .bind(shop)
            .bind(order_id)
            .bind(amendment)
            .bind(order_snapshot)
            .bind(plan)
            .bind(rejection)
            .bind(next_revision)
            .bind(now)
            .execute(&mut *conn)
            .await
            {
                Ok(r) => r,
                Err(e) => return e.into(),
            };
            if inserted.rows_affected() == 1 {
                return Ran::Answer(Ok(Answer::Begin(Begin::New)));
            }
            let row = match sqlx::query(
                "SELECT state, shop, order_id, amendment FROM amendments \
                 WHERE idempotency_key = $1",
            )
            .bind(key)
            .fetch_optional(&mut *conn)
            .await
            {
                Ok(Some(row)) => row,
                Ok(None) => return Ran::Answer(Err(JournalError::Missing(key.clone()))),
                Err(e) => return e.into(),
            };
            let read = |col: &str| row.try_get::<String, _>(col);
            let (state, rec_shop, rec_order, recorded) = match (
                read("state"),
                read("shop"),
                read("order_id"),
                read("amendment"),
            ) {
                (Ok(s), Ok(sh), Ok(o), Ok(a)) => (s, sh, o, a),
                (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => {
                    return e.into();
                }
            };
            let state = match parse_state(key, &state) {
                Ok(s) => s,
                Err(e) => return Ran::Answer(Err(e)),
            };
            match same_amendment(
                key,
                (&rec_shop, &rec_order, &recorded),
                (shop, order_id, amendment),
            ) {
                Ok(true) => {}
                Ok(false) => {
                    return Ran::Answer(Err(JournalError::KeyReused {
                        key: key.clone(),
                        recorded: format!("shop {rec_shop} order {rec_order}: {recorded}"),
                    }));
                }
                Err(e) => return Ran::Answer(Err(e)),
            }
            Ran::Answer(Ok(Answer::Begin(if state.is_final() {
                Begin::Finished(state)
            } else {
                Begin::Unfinished(state)
            })))
        }
        Op::MarkSent { key, now } => {
            let updated = match sqlx::query(
                "UPDATE amendments SET state = 'sent', outcome = NULL, updated_at = $1 \
                 WHERE idempotency_key = $2 AND state IN ('planned', 'sent', 'undelivered')",
            )
            .bind(now)
            .bind(key)
            .execute(&mut *conn)
            .await
            {
                Ok(r) => r,
                Err(e) => return e.into(),
            };
            if updated.rows_affected() == 1 {
                return Ran::Answer(Ok(Answer::Done));
            }
            match state_of(conn, key).await {
                Err(e) => e.into(),
                Ok(Err(e)) => Ran::Answer(Err(e)),
                Ok(Ok(None)) => Ran::Answer(Err(JournalError::Missing(key.clone()))),
                Ok(Ok(Some(state))) => Ran::Answer(Err(JournalError::Conflict {
                    key: key.clone(),
                    reason: format!(
                        "it is already {state}; a finished amendment is not sent again"
                    ),
                })),
            }
        }
        Op::RecordOutcome {
            key,
            state,
            outcome,
            reply,
            now,
        } => record_outcome(conn, key, *state, outcome, reply.as_deref(), *now)
            .await
            .unwrap_or_else(Ran::Failed),
        Op::Reconcile {
            key,
            state,
            message_id,
            note,
            now,
        } => reconcile(conn, key, *state, *message_id, note.as_deref(), *now)
            .await
            .unwrap_or_else(Ran::Failed),
        Op::RecordMessage {
            dedup_key,
            source,
            raw,
            received_at,
        } => {
            let inserted = match sqlx::query(
                "INSERT INTO messages (dedup_key, source, raw, received_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
            )
            .bind(dedup_key)
            .bind(source)
            .bind(raw)
            .bind(received_at)
            .fetch_optional(&mut *conn)
            .await
            {
                Ok(r) => r,
                Err(e) => return e.into(),
            };
            if let Some(row) = inserted {
                return match row.try_get("id") {
                    Ok(id) => Ran::Answer(Ok(Answer::Message(MessageInsert::New(id)))),
                    Err(e) => e.into(),
                };
            }
            match sqlx::query("SELECT id FROM messages WHERE dedup_key = $1")
                .bind(dedup_key)
                .fetch_optional(&mut *conn)
                .await
            {
                Err(e) => e.into(),
                Ok(None) => Ran::Answer(Err(JournalError::Missing(format!("message {dedup_key}")))),
                Ok(Some(row)) => match row.try_get("id") {
                    Ok(id) => Ran::Answer(Ok(Answer::Message(MessageInsert::Duplicate(id)))),
                    Err(e) => e.into(),
                },
            }
        }
        Op::MessageDecoded { id, order } => {
            match sqlx::query("UPDATE messages SET order_id = $1 WHERE id = $2")
                .bind(order)
                .bind(id)
                .execute(&mut *conn)
                .await
            {
                Err(e) => e.into(),
                Ok(r) if r.rows_affected() == 0 => {
                    Ran::Answer(Err(JournalError::Missing(format!("message {id}"))))
                }
                Ok(_) => Ran::Answer(Ok(Answer::Done)),
            }
        }
        Op::DeadLetter { id, reason } => {
            match sqlx::query("UPDATE messages SET dead_letter_reason = $1 WHERE id = $2")
                .bind(reason)
                .bind(id)
                .execute(&mut *conn)
                .await
            {
                Err(e) => e.into(),
                Ok(r) if r.rows_affected() == 0 => {
                    Ran::Answer(Err(JournalError::Missing(format!("message {id}"))))
                }
                Ok(_) => Ran::Answer(Ok(Answer::Done)),
            }
        }
    }
}

/// Whether a recorded amendment (shop, order, amendment JSON) is the one asked again: the
/// same shop and order and an equal target (amounts compare by value, so `8.0` and `8.00` are
/// the same target).
fn same_amendment(
    key: &str,
    recorded: (&str, &str, &str),
    asked: (&str, &str, &str),
) -> Result<bool, JournalError> {
    if recorded.0 != asked.0 || recorded.1 != asked.1 {
        return Ok(false);
    }
    if recorded.2 == asked.2 {
        return Ok(true);
    }
    let parse = |text: &str| {
        serde_json::from_str::<Amendment>(text).map_err(|e| JournalError::Corrupt {
            key: key.to_owned(),
            reason: format!("amendment: {e}"),
        })
    };
    Ok(parse(recorded.2)? == parse(asked.2)?)
}

/// The recorded state of `key`, if any.
async fn state_of(
    conn: &mut SqliteConnection,
    key: &str,
) -> Result<Result<Option<AmendmentState>, JournalError>, sqlx::Error> {
    let row = sqlx::query("SELECT state FROM amendments WHERE idempotency_key = $1")
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        None => Ok(None),
        Some(r) => parse_state(key, &r.try_get::<String, _>("state")?).map(Some),
    })
}

async fn record_outcome(
    conn: &mut SqliteConnection,
    key: &str,
    state: AmendmentState,
    outcome: &str,
    reply: Option<&str>,
    now: i64,
) -> Result<Ran, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE amendments SET state = $1, outcome = $2, platform_reply = $3, updated_at = $4 \
         WHERE idempotency_key = $5 AND state IN ('planned', 'sent', 'undelivered')",
    )
    .bind(state.as_str())
    .bind(outcome)
    .bind(reply)
    .bind(now)
    .bind(key)
    .execute(&mut *conn)
    .await?;

    if updated.rows_affected() == 1 {
        if matches!(
            state,
            AmendmentState::Acknowledged | AmendmentState::Confirmed
        ) {
            // (Confirmed here: left in doubt and found applied by a read.)
            // The revision the platform now holds: the one planned, or the one after the last
            // recorded if another amendment of the same snapshot got there first. Once per
            // key: only the update above, from planned or sent, gets here.
            sqlx::query(
                "INSERT INTO revisions (shop, order_id, revision, idempotency_key, applied_at) \
                 SELECT a.shop, a.order_id, \
                 CASE WHEN COALESCE(a.next_revision, 0) > (SELECT COALESCE(MAX(r.revision), 0) \
                   FROM revisions r WHERE r.shop = a.shop AND r.order_id = a.order_id) \
                 THEN a.next_revision \
                 ELSE (SELECT COALESCE(MAX(r.revision), 0) + 1 \
                   FROM revisions r WHERE r.shop = a.shop AND r.order_id = a.order_id) END, \
                 a.idempotency_key, $2 \
                 FROM amendments a WHERE a.idempotency_key = $1",
            )
            .bind(key)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        return Ok(Ran::Answer(Ok(Answer::Done)));
    }

    // Nothing changed: find out why (nothing was written).
    let row = sqlx::query("SELECT state, outcome FROM amendments WHERE idempotency_key = $1")
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(Ran::Answer(Err(JournalError::Missing(key.to_owned()))));
    };
    let recorded_state = match parse_state(key, &row.try_get::<String, _>("state")?) {
        Ok(s) => s,
        Err(e) => return Ok(Ran::Answer(Err(e))),
    };
    let recorded: Option<String> = row.try_get("outcome")?;
    if recorded.as_deref() == Some(outcome) {
        // The same outcome again (a resume after a crash between the platform's reply and the
        // caller's next step): already durable, nothing to do.
        return Ok(Ran::Answer(Ok(Answer::Done)));
    }
    Ok(Ran::Answer(Err(JournalError::Conflict {
        key: key.to_owned(),
        reason: format!(
            "it is already {recorded_state} with a different outcome; refusing to record {state}"
        ),
    })))
}

async fn reconcile(
    conn: &mut SqliteConnection,
    key: &str,
    state: AmendmentState,
    message_id: Option<i64>,
    note: Option<&str>,
    now: i64,
) -> Result<Ran, sqlx::Error> {
    // Every refusal is decided before anything is written.
    let recorded = match state_of(conn, key).await? {
        Ok(s) => s,
        Err(e) => return Ok(Ran::Answer(Err(e))),
    };
    match recorded {
        None => return Ok(Ran::Answer(Err(JournalError::Missing(key.to_owned())))),
        Some(
            AmendmentState::Acknowledged | AmendmentState::Confirmed | AmendmentState::Flagged,
        ) => {}
        Some(recorded) => {
            return Ok(Ran::Answer(Err(JournalError::Conflict {
                key: key.to_owned(),
                reason: format!(
                    "it is {recorded}; only an acknowledged amendment can be reconciled"
                ),
            })));
        }
    }
    if let Some(message_id) = message_id {
        let message = sqlx::query("SELECT id FROM messages WHERE id = $1")
            .bind(message_id)
            .fetch_optional(&mut *conn)
            .await?;
        if message.is_none() {
            return Ok(Ran::Answer(Err(JournalError::Missing(format!(
                "message {message_id}"
            )))));
        }
    }
    sqlx::query(
        "UPDATE amendments SET state = $1, note = $2, updated_at = $3 \
         WHERE idempotency_key = $4",
    )
    .bind(state.as_str())
    .bind(note)
    .bind(now)
    .bind(key)
    .execute(&mut *conn)
    .await?;
    // A confirmation by read has no message: the amendment's state and note are its record.
    let Some(message_id) = message_id else {
        return Ok(Ran::Answer(Ok(Answer::Done)));
    };
    sqlx::query(
        "INSERT INTO reconciliations (idempotency_key, message_id, state, note, at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(key)
    .bind(message_id)
    .bind(state.as_str())
    .bind(note)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(Ran::Answer(Ok(Answer::Done)))
}
