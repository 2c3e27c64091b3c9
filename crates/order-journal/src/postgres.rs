//! The PostgreSQL implementation of the journal port, for many processes on many machines.
//!
//! Every write is one sqlx transaction (`pool.begin()` .. `commit()`), committed before the
//! call returns (PostgreSQL's `synchronous_commit` makes a commit durable), except message
//! inserts: concurrent ones are grouped into one multi-row statement that commits on its own
//! the same way ([`crate::pg_messages`]). The rules are
//! those of the SQLite journal ([`crate::ops`]); only the SQL and the locking differ:
//! transactions run at PostgreSQL's default `READ COMMITTED`, where each statement sees what
//! was committed before it started, an `UPDATE .. WHERE state IN (..)` waits for a concurrent
//! writer of the same row and re-checks its condition, and `INSERT .. ON CONFLICT DO NOTHING`
//! waits for a concurrent insert of the same key to commit. The one read-then-write that
//! spans rows (an acknowledgement appending the order's next revision) takes a transaction
//! advisory lock on the order first ([`REVISION_LOCK`]), so concurrent acknowledgements of one
//! order, from any number of processes, number their revisions one after the other.

use async_trait::async_trait;
use order_domain::ports::journal::MessageDecoding;
use order_domain::{
    AmendmentRecord, AmendmentState, Begin, IdempotencyKey, InboundRecord, Intent, Journal,
    JournalError, MessageInsert, MessageRecord, OrderId, Outcome, Timestamp,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, Postgres};

use crate::apply::apply;
use crate::ops::{Answer, Op};
use crate::pg_messages::{MessageInsertStats, MessageInserter};
use crate::pg_nonces::NonceClaimer;
use crate::reads::Reads;
use crate::redact::redact;
use crate::rows::sql;
use crate::sqlite::{RevisionRecord, storage};

/// The embedded schema migrations (`crates/order-journal/migrations/postgres/`).
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections a journal keeps to the server at most.
pub const PG_MAX_CONNECTIONS: u32 = 16;

/// The journal on PostgreSQL. Cheap to clone (it shares one connection pool). Any number of
/// processes may open the same database.
#[derive(Debug, Clone)]
pub struct PostgresJournal {
    pool: PgPool,
    /// Message inserts, grouped ([`crate::pg_messages`]).
    inserter: MessageInserter,
    /// Nonce claims, grouped ([`crate::pg_nonces`]).
    claimer: NonceClaimer,
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
        let inserter = MessageInserter::spawn(pool.clone());
        let claimer = NonceClaimer::spawn(pool.clone());
        Ok(PostgresJournal {
            pool,
            inserter,
            claimer,
        })
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
        match apply::<Postgres>(&mut tx, &op).await.map_err(fail)? {
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

    /// The grouped nonce claims of this journal's receivers.
    pub(crate) fn nonce_claimer(&self) -> &NonceClaimer {
        &self.claimer
    }

    /// Grouped message inserts so far: messages, and the statements that stored them.
    pub fn message_insert_stats(&self) -> MessageInsertStats {
        self.inserter.stats()
    }

    fn reads(&self) -> Reads<'_, Postgres> {
        Reads(&self.pool)
    }

    /// One page of amendments, newest first: as [`SqliteJournal::amendments_page`](crate::SqliteJournal::amendments_page).
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

    /// The reconciliation backlog (state `acknowledged`), oldest first.
    pub async fn unconfirmed_acknowledged(&self) -> Result<Vec<AmendmentRecord>, JournalError> {
        self.reads()
            .amendments(sql::UNCONFIRMED_ACKNOWLEDGED, None)
            .await
    }

    /// Amendments of `order` the platform acknowledged (acknowledged, confirmed, flagged),
    /// latest revision first.
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

    /// The stored message with `dedup_key`, if any.
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
        self.reads().amendments_of(order).await
    }

    async fn record_message(&self, message: &InboundRecord) -> Result<MessageInsert, JournalError> {
        self.inserter
            .insert(Op::record_message(message))
            .await?
            .into_message()
    }

    /// One write: the message's row is inserted with its order or dead-letter reason, in the
    /// next grouped insert.
    async fn record_decoded_message(
        &self,
        message: &InboundRecord,
        decoding: &MessageDecoding,
    ) -> Result<MessageInsert, JournalError> {
        self.inserter
            .insert(Op::record_decoded_message(message, decoding))
            .await?
            .into_message()
    }

    async fn message_decoded(&self, id: i64, order: &OrderId) -> Result<(), JournalError> {
        self.run(Op::message_decoded(id, order)).await?.into_done()
    }

    async fn dead_letter(&self, id: i64, reason: &str) -> Result<(), JournalError> {
        self.run(Op::dead_letter(id, reason)).await?.into_done()
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
