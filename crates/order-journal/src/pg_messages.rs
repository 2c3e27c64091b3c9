//! Grouped message inserts on PostgreSQL: what the SQLite writer's group commit does for
//! SQLite, for the receiver's busiest write.
//!
//! A few inserter tasks ([`INSERTERS`]) take the message inserts of every concurrent caller
//! from one channel; each takes all that are pending (up to [`MAX_MESSAGE_GROUP`]) and stores
//! them with ONE statement, a multi-row `INSERT .. SELECT FROM UNNEST(..) ON CONFLICT
//! (dedup_key) DO NOTHING RETURNING ..`, which PostgreSQL commits on its own (one WAL flush,
//! durable with `synchronous_commit`) before it answers; only then is each caller answered.
//! While one inserter waits for its commit, the next one collects the following group.
//!
//! Duplicates keep their meaning: a key already stored (by this process, another receiver, or
//! earlier in the same group) is not inserted again and its caller gets
//! [`MessageInsert::Duplicate`] with the first id; a conflicting insert of another
//! transaction in flight makes the statement wait for that one's commit, as a single insert
//! would. A group's rows are inserted in dedup-key order, so two receivers' groups that
//! share keys take their row locks in the same order and cannot deadlock.
//!
//! A database error fails no caller on behalf of another: the group is run again one message
//! at a time, each with its own answer or error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use order_domain::JournalError;
use sqlx::postgres::PgPool;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::apply::apply;
use crate::ops::{self, Answer, Op, message_key as dedup_key};
use crate::sqlite::storage;

/// Most messages stored by one statement.
pub const MAX_MESSAGE_GROUP: usize = 256;

/// Inserter tasks: while one waits for its statement's commit, another collects the next group.
const INSERTERS: usize = 4;

/// Inserts waiting for an inserter at most (callers wait for room beyond it; nothing is dropped).
const MESSAGE_QUEUE: usize = 4 * MAX_MESSAGE_GROUP;

const INSERT_GROUP: &str = "INSERT INTO messages (dedup_key, source, raw, received_at, order_id, \
     dead_letter_reason) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::bytea[], $4::bigint[], $5::text[], $6::text[]) \
     ON CONFLICT (dedup_key) DO NOTHING RETURNING id, dedup_key";

const IDS_OF: &str = "SELECT id, dedup_key FROM messages WHERE dedup_key = ANY($1::text[])";

type Reply = oneshot::Sender<Result<Answer, JournalError>>;

/// What the grouped message inserts have done so far, from
/// [`PostgresJournal::message_insert_stats`](crate::PostgresJournal::message_insert_stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageInsertStats {
    /// Message inserts answered.
    pub messages: u64,
    /// Statements (each its own commit) that stored them: fewer than `messages` when
    /// concurrent messages shared one.
    pub statements: u64,
}

/// Counters: messages answered, and the statements that stored them.
#[derive(Debug, Default)]
pub(crate) struct MessageCounters {
    pub(crate) messages: AtomicU64,
    pub(crate) statements: AtomicU64,
}

/// The callers' handle on the inserter tasks. Cheap to clone; the tasks end when every handle
/// is dropped.
#[derive(Debug, Clone)]
pub(crate) struct MessageInserter {
    tx: mpsc::Sender<(Op, Reply)>,
    counters: Arc<MessageCounters>,
}

fn closed() -> JournalError {
    JournalError::storage_context("the journal is closed")
}

impl MessageInserter {
    /// Starts the inserter tasks on the current tokio runtime.
    pub(crate) fn spawn(pool: PgPool) -> MessageInserter {
        let (tx, rx) = mpsc::channel(MESSAGE_QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let counters = Arc::new(MessageCounters::default());
        for _ in 0..INSERTERS {
            tokio::spawn(run(pool.clone(), Arc::clone(&rx), Arc::clone(&counters)));
        }
        MessageInserter { tx, counters }
    }

    /// Stores `op` (an [`Op::RecordMessage`]) in the next group; answers once that group's
    /// statement committed.
    pub(crate) async fn insert(&self, op: Op) -> Result<Answer, JournalError> {
        debug_assert!(matches!(op, Op::RecordMessage { .. }));
        let (reply, answer) = oneshot::channel();
        self.tx.send((op, reply)).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    pub(crate) fn stats(&self) -> MessageInsertStats {
        MessageInsertStats {
            messages: self.counters.messages.load(Ordering::Relaxed),
            statements: self.counters.statements.load(Ordering::Relaxed),
        }
    }
}

async fn run(
    pool: PgPool,
    rx: Arc<Mutex<mpsc::Receiver<(Op, Reply)>>>,
    counters: Arc<MessageCounters>,
) {
    loop {
        // Whatever is waiting, up to a group, once at least one is (0: the channel closed).
        let mut group = Vec::with_capacity(MAX_MESSAGE_GROUP);
        if rx
            .lock()
            .await
            .recv_many(&mut group, MAX_MESSAGE_GROUP)
            .await
            == 0
        {
            return;
        }
        let ops: Vec<&Op> = group.iter().map(|(op, _)| op).collect();
        match insert_group(&pool, &ops).await {
            Ok(answers) => {
                counters.statements.fetch_add(1, Ordering::Relaxed);
                counters
                    .messages
                    .fetch_add(group.len() as u64, Ordering::Relaxed);
                for ((_, reply), answer) in group.into_iter().zip(answers) {
                    let _ = reply.send(answer);
                }
            }
            Err(e) => {
                tracing::warn!(
                    messages = group.len(),
                    "a grouped message insert failed ({e}); storing each alone"
                );
                for (op, reply) in group {
                    let answer = insert_alone(&pool, &op).await;
                    counters.statements.fetch_add(1, Ordering::Relaxed);
                    counters.messages.fetch_add(1, Ordering::Relaxed);
                    let _ = reply.send(answer);
                }
            }
        }
    }
}

/// One message in a statement of its own (committed on its own).
async fn insert_alone(pool: &PgPool, op: &Op) -> Result<Answer, JournalError> {
    let fail = |e: sqlx::Error| storage(op.context(), e);
    let mut conn = pool.acquire().await.map_err(fail)?;
    apply::<sqlx::Postgres>(&mut *conn, op)
        .await
        .map_err(fail)?
}

/// Stores `ops` with one statement; each op's answer, in order.
async fn insert_group(
    pool: &PgPool,
    ops: &[&Op],
) -> Result<Vec<Result<Answer, JournalError>>, sqlx::Error> {
    let mut rows: Vec<&Op> = ops.to_vec();
    rows.sort_by(|a, b| dedup_key(a).cmp(dedup_key(b)));
    let (mut keys, mut sources, mut raws, mut received) = (vec![], vec![], vec![], vec![]);
    let (mut orders, mut reasons) = (vec![], vec![]);
    for op in rows {
        if let Op::RecordMessage {
            dedup_key,
            source,
            raw,
            received_at,
            order,
            dead_letter_reason,
        } = op
        {
            keys.push(dedup_key.as_str());
            sources.push(source.as_str());
            raws.push(raw.as_slice());
            received.push(*received_at);
            orders.push(order.as_deref());
            reasons.push(dead_letter_reason.as_deref());
        }
    }
    let inserted: Vec<(i64, String)> = sqlx::query_as(INSERT_GROUP)
        .bind(&keys)
        .bind(&sources)
        .bind(&raws)
        .bind(&received)
        .bind(&orders)
        .bind(&reasons)
        .fetch_all(pool)
        .await?;
    let new: std::collections::HashSet<&str> = inserted.iter().map(|(_, k)| k.as_str()).collect();
    let missing: Vec<&str> = ops
        .iter()
        .map(|op| dedup_key(op))
        .filter(|k| !new.contains(k))
        .collect();
    let stored_before: Vec<(i64, String)> = if missing.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(IDS_OF)
            .bind(&missing)
            .fetch_all(pool)
            .await?
    };
    Ok(ops::grouped_message_answers(ops, inserted, stored_before))
}
