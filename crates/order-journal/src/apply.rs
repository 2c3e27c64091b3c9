//! Running a write operation inside an open transaction, written once for both engines.
//!
//! What differs between them is only how a row or an order is kept from changing under the
//! operation until its transaction ends ([`Engine`]): a SQLite transaction holds the
//! database's write lock from its first statement (`BEGIN IMMEDIATE`), so it needs nothing
//! more; a PostgreSQL transaction locks the rows it reads for update and takes an advisory lock
//! on the order whose next revision it appends.

use order_domain::{AmendmentState, Begin, JournalError, MessageInsert};
use sqlx::postgres::Postgres;
use sqlx::sqlite::Sqlite;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use crate::ops::{self, Answer, Op};
use crate::rows::{RecordedIntent, RecordedOutcome, sql};

/// The first key of the transaction advisory lock (`pg_advisory_xact_lock(int, int)`) that an
/// acknowledgement takes on its order on PostgreSQL before it appends the order's next
/// revision; the second key is `hashtext(shop || '/' || order_id)`. (A hash collision between
/// two orders only makes them wait for each other.) Other advisory locks of ordermod use other
/// first keys.
pub const REVISION_LOCK: i32 = 0x0017_0001;

/// How an operation ended inside a transaction: a domain answer (`Ok`: to be committed;
/// `Err`: a refusal, nothing written), or a database error (the outer `Err`) that aborts the
/// transaction.
pub(crate) type Ran = Result<Result<Answer, JournalError>, sqlx::Error>;

/// What an engine does to keep what an operation read from changing until its transaction
/// ends.
pub(crate) trait Engine: sqlx::Database {
    /// Reads the state of amendment `$1`, its row kept from changing.
    const STATE_FOR_UPDATE: &'static str;
    /// Keeps the revisions of order (`$2`, `$3`) from being appended by anyone else (`$1`:
    /// [`REVISION_LOCK`]); `None` when the transaction already excludes every other writer.
    const LOCK_ORDER: Option<&'static str>;
}

impl Engine for Sqlite {
    const STATE_FOR_UPDATE: &'static str = sql::STATE_OF;
    const LOCK_ORDER: Option<&'static str> = None;
}

impl Engine for Postgres {
    const STATE_FOR_UPDATE: &'static str =
        "SELECT state FROM amendments WHERE idempotency_key = $1 FOR UPDATE";
    const LOCK_ORDER: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock($1::integer, hashtext($2 || '/' || $3))");
}

/// Runs one operation inside the open transaction on `conn`. A refusal (`Missing`, `Conflict`,
/// `KeyReused`) is only ever given before anything was written.
pub(crate) async fn apply<DB>(conn: &mut DB::Connection, op: &Op) -> Ran
where
    DB: Engine,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    Option<i64>: for<'q> Encode<'q, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    (String,): for<'r> FromRow<'r, DB::Row>,
    (String, String): for<'r> FromRow<'r, DB::Row>,
    RecordedIntent: for<'r> FromRow<'r, DB::Row>,
    RecordedOutcome: for<'r> FromRow<'r, DB::Row>,
{
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
            // The insert decides which caller is first (on PostgreSQL, a concurrent insert of
            // the key makes it wait for that one's commit); the others read the state.
            let inserted: Option<String> = sqlx::query_scalar::<DB, String>(sql::INSERT_AMENDMENT)
                .bind(key.as_str())
                .bind(shop.as_str())
                .bind(order_id.as_str())
                .bind(amendment.as_str())
                .bind(order_snapshot.as_str())
                .bind(plan.as_deref())
                .bind(rejection.as_deref())
                .bind(*next_revision)
                .bind(*now)
                .fetch_optional(&mut *conn)
                .await?;
            if inserted.is_some() {
                return Ok(Ok(Answer::Begin(Begin::New)));
            }
            let recorded = sqlx::query_as::<DB, RecordedIntent>(sql::RECORDED_INTENT)
                .bind(key.as_str())
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
            let updated: Option<String> = sqlx::query_scalar::<DB, String>(sql::MARK_SENT)
                .bind(*now)
                .bind(key.as_str())
                .fetch_optional(&mut *conn)
                .await?;
            if updated.is_some() {
                return Ok(Ok(Answer::Done));
            }
            let state: Option<String> = sqlx::query_scalar::<DB, String>(sql::STATE_OF)
                .bind(key.as_str())
                .fetch_optional(&mut *conn)
                .await?;
            Ok(Err(ops::not_sent(key, state.as_deref())))
        }
        Op::RecordOutcome {
            key,
            state,
            outcome,
            reply,
            now,
        } => {
            // Locks the amendment's row; a concurrent outcome for the same key waits, then
            // finds the state changed and matches nothing.
            let updated = sqlx::query_as::<DB, (String, String)>(sql::RECORD_OUTCOME)
                .bind(state.as_str())
                .bind(outcome.as_str())
                .bind(reply.as_deref())
                .bind(*now)
                .bind(key.as_str())
                .fetch_optional(&mut *conn)
                .await?;
            let Some((shop, order_id)) = updated else {
                // Nothing changed: find out why (nothing was written).
                let recorded = sqlx::query_as::<DB, RecordedOutcome>(sql::RECORDED_OUTCOME)
                    .bind(key.as_str())
                    .fetch_optional(&mut *conn)
                    .await?;
                return Ok(ops::outcome_again(key, recorded.as_ref(), outcome, *state));
            };
            if matches!(
                state,
                AmendmentState::Acknowledged | AmendmentState::Confirmed
            ) {
                // (Confirmed here: left in doubt and found applied by a read.) One
                // acknowledgement of this order at a time appends its revision: the lock is
                // held until commit, and the insert, a later statement, sees the revisions
                // committed before it was taken.
                if let Some(lock) = DB::LOCK_ORDER {
                    sqlx::query::<DB>(lock)
                        .bind(i64::from(REVISION_LOCK))
                        .bind(shop.as_str())
                        .bind(order_id.as_str())
                        .execute(&mut *conn)
                        .await?;
                }
                sqlx::query::<DB>(sql::APPEND_REVISION)
                    .bind(key.as_str())
                    .bind(*now)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(Ok(Answer::Done))
        }
        Op::Reconcile {
            key,
            state,
            message_id,
            note,
            now,
        } => {
            // Every refusal is decided before anything is written, on a state that cannot
            // change before the transaction ends.
            let recorded: Option<String> = sqlx::query_scalar::<DB, String>(DB::STATE_FOR_UPDATE)
                .bind(key.as_str())
                .fetch_optional(&mut *conn)
                .await?;
            if let Err(refusal) = ops::may_reconcile(key, recorded.as_deref()) {
                return Ok(Err(refusal));
            }
            if let Some(message_id) = message_id {
                let message: Option<i64> = sqlx::query_scalar::<DB, i64>(sql::MESSAGE_EXISTS)
                    .bind(*message_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                if message.is_none() {
                    return Ok(Err(JournalError::Missing(format!("message {message_id}"))));
                }
            }
            sqlx::query::<DB>(sql::SET_RECONCILED)
                .bind(state.as_str())
                .bind(note.as_deref())
                .bind(*now)
                .bind(key.as_str())
                .execute(&mut *conn)
                .await?;
            // A confirmation by read has no message: the amendment's state and note are its
            // record.
            if let Some(message_id) = message_id {
                sqlx::query::<DB>(sql::INSERT_RECONCILIATION)
                    .bind(key.as_str())
                    .bind(*message_id)
                    .bind(state.as_str())
                    .bind(note.as_deref())
                    .bind(*now)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(Ok(Answer::Done))
        }
        Op::RecordMessage {
            dedup_key,
            source,
            raw,
            received_at,
            order,
            dead_letter_reason,
        } => {
            // On PostgreSQL, a concurrent insert of the same key (another receiver) makes this
            // one wait for its commit, then do nothing; the first id is then read.
            let inserted: Option<i64> = sqlx::query_scalar::<DB, i64>(sql::INSERT_MESSAGE)
                .bind(dedup_key.as_str())
                .bind(source.as_str())
                .bind(raw.as_slice())
                .bind(*received_at)
                .bind(order.as_deref())
                .bind(dead_letter_reason.as_deref())
                .fetch_optional(&mut *conn)
                .await?;
            if let Some(id) = inserted {
                return Ok(Ok(Answer::Message(MessageInsert::New(id))));
            }
            let first: Option<i64> = sqlx::query_scalar::<DB, i64>(sql::MESSAGE_ID)
                .bind(dedup_key.as_str())
                .fetch_optional(&mut *conn)
                .await?;
            Ok(match first {
                Some(id) => Ok(Answer::Message(MessageInsert::Duplicate(id))),
                None => Err(JournalError::Missing(format!("message {dedup_key}"))),
            })
        }
        Op::MessageDecoded { id, order } => {
            let updated: Option<i64> = sqlx::query_scalar::<DB, i64>(sql::MESSAGE_DECODED)
                .bind(order.as_str())
                .bind(*id)
                .fetch_optional(&mut *conn)
                .await?;
            Ok(ops::done_or_missing_message(updated, *id))
        }
        Op::DeadLetter { id, reason } => {
            let updated: Option<i64> = sqlx::query_scalar::<DB, i64>(sql::DEAD_LETTER)
                .bind(reason.as_str())
                .bind(*id)
                .fetch_optional(&mut *conn)
                .await?;
            Ok(ops::done_or_missing_message(updated, *id))
        }
    }
}
