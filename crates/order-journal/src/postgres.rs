//! The PostgreSQL implementation of the journal port, for many processes on many machines.
//!
//! Every write is one sqlx transaction (`pool.begin()` .. `commit()`), committed before the
//! call returns (PostgreSQL's `synchronous_commit` makes a commit durable). The rules are
//! those of the SQLite journal ([`crate::ops`]); only the SQL and the locking differ:
//! transactions run at PostgreSQL's default `READ COMMITTED`, where each statement sees what
//! was committed before it started, an `UPDATE .. WHERE state IN (..)` waits for a concurrent
//! writer of the same row and re-checks its condition, and `INSERT .. ON CONFLICT DO NOTHING`
//! waits for a concurrent insert of the same key to commit. The one read-then-write that
//! spans rows (an acknowledgement appending the order's next revision) takes a transaction
//! advisory lock on the order first ([`REVISION_LOCK`]), so concurrent acknowledgements of one
//! order, from any number of processes, number their revisions one after the other.

use async_trait::async_trait;
use order_domain::{
    AmendmentRecord, AmendmentState, Begin, IdempotencyKey, InboundRecord, Intent, Journal,
    JournalError, MessageInsert, MessageRecord, OrderId, Outcome, Timestamp,
};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, Postgres};

use crate::ops::{self, Answer, Op};
use crate::redact::redact;
use crate::rows::{
    AmendmentRow, MessageRow, RecordedIntent, RecordedOutcome, RevisionRow, page_query, records,
    sql, state_counts,
};
use crate::sqlite::{RevisionRecord, storage};

/// The embedded schema migrations (`crates/order-journal/migrations/postgres/`).
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections a journal keeps to the server at most.
pub const PG_MAX_CONNECTIONS: u32 = 16;

/// The first key of the transaction advisory lock (`pg_advisory_xact_lock(int, int)`) that an
/// acknowledgement takes on its order before it appends the order's next revision; the second
/// key is `hashtext(shop || '/' || order_id)`. (A hash collision between two orders only makes
/// them wait for each other.) Other advisory locks of ordermod use other first keys.
pub const REVISION_LOCK: i32 = 0x0017_0001;

/// The journal on PostgreSQL. Cheap to clone (it shares one connection pool). Any number of
/// processes may open the same database.
#[derive(Debug, Clone)]
pub struct PostgresJournal {
    pool: PgPool,
}

fn connect_options(url: &str) -> Result<PgConnectOptions, JournalError> {
    url.parse::<PgConnectOptions>()
        .map_err(|e| storage(&format!("invalid journal URL `{url}`"), e))
}

impl PostgresJournal {
    /// Connects to `url` (`postgres://user:password@host:port/database`, with
    /// `?sslmode=require` and the other libpq parameters sqlx accepts) and migrates the schema
    /// (migrations take PostgreSQL's advisory lock, so processes opening one database at once
    /// migrate it once). The role needs `CREATE` on the database for the first migration.
    pub async fn open(url: &str) -> Result<Self, JournalError> {
        let journal = Self::connect(url).await?;
        MIGRATOR
            .run(&journal.pool)
            .await
            .map_err(|e| storage("cannot migrate the journal", e))?;
        tracing::debug!(url = %redact(url), "journal opened");
        Ok(journal)
    }

    /// Connects to `url` without migrating: to read a journal another process writes (and
    /// migrated), e.g. `ordermod journal`. Writes work too (PostgreSQL needs no lock).
    pub async fn open_read_only(url: &str) -> Result<Self, JournalError> {
        Self::connect(url).await
    }

    async fn connect(url: &str) -> Result<Self, JournalError> {
        let pool = PgPoolOptions::new()
            .max_connections(PG_MAX_CONNECTIONS)
            .connect_with(connect_options(url)?)
            .await
            .map_err(|e| storage(&format!("cannot open the journal at `{url}`"), e))?;
        Ok(PostgresJournal { pool })
    }

    /// The connection pool (for the queue and the shared state kept beside the journal).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection, waiting for them to be returned. Later calls fail with a
    /// storage error.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Runs `op` in a transaction of its own: committed when it answers, rolled back when it
    /// refuses the change or fails.
    async fn run(&self, op: Op) -> Result<Answer, JournalError> {
        let context = op.context();
        let fail = |e: sqlx::Error| storage(context, e);
        let mut tx = self.pool.begin().await.map_err(fail)?;
        match apply(&mut tx, &op).await.map_err(fail)? {
            Ok(answer) => {
                tx.commit().await.map_err(fail)?;
                Ok(answer)
            }
            Err(refusal) => {
                tx.rollback().await.map_err(fail)?;
                Err(refusal)
            }
        }
    }

    async fn amendments_where(
        &self,
        query: &'static str,
        order: Option<&OrderId>,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        let mut q = sqlx::query_as::<Postgres, AmendmentRow>(query);
        if let Some(order) = order {
            q = q.bind(order.as_str());
        }
        let rows = q
            .fetch_all(&self.pool)
            .await
            .map_err(|e| storage("cannot list amendments", e))?;
        records(rows)
    }

    async fn messages_where(
        &self,
        query: &'static str,
        order: Option<&OrderId>,
    ) -> Result<Vec<MessageRecord>, JournalError> {
        let mut q = sqlx::query_as::<Postgres, MessageRow>(query);
        if let Some(order) = order {
            q = q.bind(order.as_str());
        }
        let rows = q
            .fetch_all(&self.pool)
            .await
            .map_err(|e| storage("cannot list messages", e))?;
        records(rows)
    }

    /// One page of amendments, newest first: as [`SqliteJournal::amendments_page`](crate::SqliteJournal::amendments_page).
    pub async fn amendments_page(
        &self,
        order: Option<&OrderId>,
        state: Option<AmendmentState>,
        after: Option<&AmendmentRecord>,
        limit: u32,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        let mut q = page_query::<Postgres>(order, state, after, limit);
        let rows = q
            .build_query_as::<AmendmentRow>()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| storage("cannot list amendments", e))?;
        records(rows)
    }

    /// The reconciliation backlog (state `acknowledged`), oldest first.
    pub async fn unconfirmed_acknowledged(&self) -> Result<Vec<AmendmentRecord>, JournalError> {
        self.amendments_where(sql::UNCONFIRMED_ACKNOWLEDGED, None)
            .await
    }

    /// Amendments of `order` the platform acknowledged (acknowledged, confirmed, flagged),
    /// latest revision first.
    pub async fn acknowledged_for_order(
        &self,
        order: &OrderId,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        self.amendments_where(sql::ACKNOWLEDGED_FOR_ORDER, Some(order))
            .await
    }

    /// How many amendments are in each state; every state, in the port's order, zeros
    /// included.
    pub async fn counts_by_state(&self) -> Result<Vec<(AmendmentState, u64)>, JournalError> {
        let rows = sqlx::query_as::<Postgres, (String, i64)>(sql::COUNTS_BY_STATE)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| storage("cannot count amendments", e))?;
        state_counts(rows)
    }

    /// The stored message with `dedup_key`, if any.
    pub async fn message_by_dedup_key(
        &self,
        dedup_key: &str,
    ) -> Result<Option<MessageRecord>, JournalError> {
        sqlx::query_as::<Postgres, MessageRow>(sql::MESSAGE_BY_DEDUP_KEY)
            .bind(dedup_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| storage("cannot read a message", e))?
            .map(MessageRecord::try_from)
            .transpose()
    }

    /// How many messages are stored, and how many of them are dead letters.
    pub async fn message_counts(&self) -> Result<(u64, u64), JournalError> {
        let (total, dead) = sqlx::query_as::<Postgres, (i64, i64)>(sql::MESSAGE_COUNTS)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| storage("cannot count messages", e))?;
        Ok((
            u64::try_from(total).unwrap_or(0),
            u64::try_from(dead).unwrap_or(0),
        ))
    }

    /// The revisions recorded for `order`, oldest first.
    pub async fn revisions(&self, order: &OrderId) -> Result<Vec<RevisionRecord>, JournalError> {
        let rows = sqlx::query_as::<Postgres, RevisionRow>(sql::REVISIONS)
            .bind(order.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| storage("cannot list revisions", e))?;
        records(rows)
    }
}

/// Runs one operation inside the open transaction: its answer (`Err` for a refusal, having
/// written nothing that must stay), or the database's error.
async fn apply(
    conn: &mut PgConnection,
    op: &Op,
) -> Result<Result<Answer, JournalError>, sqlx::Error> {
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
            // The insert decides which caller is first (a concurrent insert of the key makes
            // it wait for that one's commit); the others read the state.
            let inserted = sqlx::query(sql::INSERT_AMENDMENT)
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
                .await?;
            if inserted.rows_affected() == 1 {
                return Ok(Ok(Answer::Begin(Begin::New)));
            }
            let recorded = sqlx::query_as::<Postgres, RecordedIntent>(sql::RECORDED_INTENT)
                .bind(key)
                .fetch_optional(&mut *conn)
                .await?;
            Ok(match recorded {
                None => Err(JournalError::Missing(key.clone())),
                Some(recorded) => {
                    ops::begin_again(key, &recorded, (shop, order_id, amendment)).map(Answer::Begin)
                }
            })
        }
        Op::MarkSent { key, now } => {
            let updated = sqlx::query(sql::MARK_SENT)
                .bind(now)
                .bind(key)
                .execute(&mut *conn)
                .await?;
            if updated.rows_affected() == 1 {
                return Ok(Ok(Answer::Done));
            }
            let state = state_of(conn, key, false).await?;
            Ok(Err(ops::not_sent(key, state.as_deref())))
        }
        Op::RecordOutcome {
            key,
            state,
            outcome,
            reply,
            now,
        } => record_outcome(conn, key, *state, outcome, reply.as_deref(), *now).await,
        Op::Reconcile {
            key,
            state,
            message_id,
            note,
            now,
        } => reconcile(conn, key, *state, *message_id, note.as_deref(), *now).await,
        Op::RecordMessage {
            dedup_key,
            source,
            raw,
            received_at,
        } => {
            // A concurrent insert of the same key (another receiver) makes this one wait for
            // its commit, then do nothing; the first id is then read.
            let inserted: Option<i64> = sqlx::query_scalar(sql::INSERT_MESSAGE)
                .bind(dedup_key)
                .bind(source)
                .bind(raw)
                .bind(received_at)
                .fetch_optional(&mut *conn)
                .await?;
            if let Some(id) = inserted {
                return Ok(Ok(Answer::Message(MessageInsert::New(id))));
            }
            let first: Option<i64> = sqlx::query_scalar(sql::MESSAGE_ID)
                .bind(dedup_key)
                .fetch_optional(&mut *conn)
                .await?;
            Ok(match first {
                Some(id) => Ok(Answer::Message(MessageInsert::Duplicate(id))),
                None => Err(JournalError::Missing(format!("message {dedup_key}"))),
            })
        }
        Op::MessageDecoded { id, order } => {
            let updated = sqlx::query(sql::MESSAGE_DECODED)
                .bind(order)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            Ok(ops::done_or_missing_message(updated.rows_affected(), *id))
        }
        Op::DeadLetter { id, reason } => {
            let updated = sqlx::query(sql::DEAD_LETTER)
                .bind(reason)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            Ok(ops::done_or_missing_message(updated.rows_affected(), *id))
        }
    }
}

/// The recorded state of `key`, if any; with `FOR UPDATE` when `lock` (the row stays locked
/// until the transaction ends).
async fn state_of(
    conn: &mut PgConnection,
    key: &str,
    lock: bool,
) -> Result<Option<String>, sqlx::Error> {
    let query = if lock {
        "SELECT state FROM amendments WHERE idempotency_key = $1 FOR UPDATE"
    } else {
        sql::STATE_OF
    };
    sqlx::query_scalar(query)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
}

async fn record_outcome(
    conn: &mut PgConnection,
    key: &str,
    state: AmendmentState,
    outcome: &str,
    reply: Option<&str>,
    now: i64,
) -> Result<Result<Answer, JournalError>, sqlx::Error> {
    // Locks the amendment's row; a concurrent outcome for the same key waits, then finds the
    // state changed and matches nothing.
    let updated: Option<(String, String)> = sqlx::query_as(sql::RECORD_OUTCOME)
        .bind(state.as_str())
        .bind(outcome)
        .bind(reply)
        .bind(now)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;

    if let Some((shop, order_id)) = updated {
        if matches!(
            state,
            AmendmentState::Acknowledged | AmendmentState::Confirmed
        ) {
            // (Confirmed here: left in doubt and found applied by a read.) One acknowledgement
            // of this order at a time appends its revision: the lock is held until commit, and
            // the insert's snapshot, taken after the lock, sees the revisions committed before.
            sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2 || '/' || $3))")
                .bind(REVISION_LOCK)
                .bind(&shop)
                .bind(&order_id)
                .execute(&mut *conn)
                .await?;
            sqlx::query(sql::APPEND_REVISION)
                .bind(key)
                .bind(now)
                .execute(&mut *conn)
                .await?;
        }
        return Ok(Ok(Answer::Done));
    }

    // Nothing changed: find out why (nothing was written).
    let recorded = sqlx::query_as::<Postgres, RecordedOutcome>(sql::RECORDED_OUTCOME)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(ops::outcome_again(key, recorded.as_ref(), outcome, state))
}

async fn reconcile(
    conn: &mut PgConnection,
    key: &str,
    state: AmendmentState,
    message_id: Option<i64>,
    note: Option<&str>,
    now: i64,
) -> Result<Result<Answer, JournalError>, sqlx::Error> {
    // Every refusal is decided before anything is written; the row stays locked so that the
    // state checked is the state changed.
    let recorded = state_of(conn, key, true).await?;
    if let Err(refusal) = ops::may_reconcile(key, recorded.as_deref()) {
        return Ok(Err(refusal));
    }
    if let Some(message_id) = message_id {
        let message: Option<i64> = sqlx::query_scalar(sql::MESSAGE_EXISTS)
            .bind(message_id)
            .fetch_optional(&mut *conn)
            .await?;
        if message.is_none() {
            return Ok(Err(JournalError::Missing(format!("message {message_id}"))));
        }
    }
    sqlx::query(sql::SET_RECONCILED)
        .bind(state.as_str())
        .bind(note)
        .bind(now)
        .bind(key)
        .execute(&mut *conn)
        .await?;
    // A confirmation by read has no message: the amendment's state and note are its record.
    let Some(message_id) = message_id else {
        return Ok(Ok(Answer::Done));
    };
    sqlx::query(sql::INSERT_RECONCILIATION)
        .bind(key)
        .bind(message_id)
        .bind(state.as_str())
        .bind(note)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(Ok(Answer::Done))
}

#[async_trait]
impl Journal for PostgresJournal {
    async fn begin(&self, intent: &Intent, now: Timestamp) -> Result<Begin, JournalError> {
        self.run(Op::begin(intent, now)?).await?.into_begin()
    }

    async fn mark_sent(&self, key: &IdempotencyKey, now: Timestamp) -> Result<(), JournalError> {
        self.run(Op::mark_sent(key, now)).await?.into_done()
    }

    async fn record_outcome(
        &self,
        key: &IdempotencyKey,
        outcome: &Outcome,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        self.run(Op::record_outcome(key, outcome, now)?)
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
        self.run(Op::reconcile(key, state, Some(message_id), note, now)?)
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
        self.run(Op::reconcile(key, state, None, note, now)?)
            .await?
            .into_done()
    }

    async fn amendments(
        &self,
        order: Option<&OrderId>,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        match order {
            Some(order) => {
                self.amendments_where(sql::AMENDMENTS_OF_ORDER, Some(order))
                    .await
            }
            None => self.amendments_where(sql::AMENDMENTS, None).await,
        }
    }

    async fn record_message(&self, message: &InboundRecord) -> Result<MessageInsert, JournalError> {
        self.run(Op::record_message(message)).await?.into_message()
    }

    async fn message_decoded(&self, id: i64, order: &OrderId) -> Result<(), JournalError> {
        self.run(Op::message_decoded(id, order)).await?.into_done()
    }

    async fn dead_letter(&self, id: i64, reason: &str) -> Result<(), JournalError> {
        self.run(Op::dead_letter(id, reason)).await?.into_done()
    }

    async fn messages(&self, dead_letters_only: bool) -> Result<Vec<MessageRecord>, JournalError> {
        let query = if dead_letters_only {
            sql::DEAD_LETTERS
        } else {
            sql::MESSAGES
        };
        self.messages_where(query, None).await
    }

    async fn messages_for_order(
        &self,
        order: &OrderId,
    ) -> Result<Vec<MessageRecord>, JournalError> {
        self.messages_where(sql::MESSAGES_FOR_ORDER, Some(order))
            .await
    }
}
