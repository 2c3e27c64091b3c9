//! The SQLite implementation of the journal port.

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use order_domain::{
    AmendmentRecord, AmendmentState, Begin, IdempotencyKey, InboundRecord, Intent, Journal,
    JournalError, MessageInsert, MessageRecord, OrderId, Outcome, ShopId, Timestamp,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

use crate::redact::redact;

/// The embedded schema migrations (`crates/order-journal/migrations/`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long a statement waits for another connection's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in the pool of a file-backed journal (WAL lets readers run beside the writer;
/// writes are serialised by SQLite). An in-memory journal always uses exactly one.
pub const MAX_CONNECTIONS: u32 = 4;

/// SQLite's statement to start a transaction that takes the write lock at once, so a
/// read-then-write transaction never fails on a stale snapshot. (PostgreSQL: plain `BEGIN`.)
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// Every state, in the order of the port's enum.
const ALL_STATES: [AmendmentState; 7] = [
    AmendmentState::Planned,
    AmendmentState::Sent,
    AmendmentState::Acknowledged,
    AmendmentState::Rejected,
    AmendmentState::Failed,
    AmendmentState::Confirmed,
    AmendmentState::Flagged,
];

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
    pool: SqlitePool,
}

fn storage(context: &str, err: impl Display) -> JournalError {
    JournalError::Storage(redact(&format!("{context}: {err}")))
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

fn parse_state(key: &str, text: &str) -> Result<AmendmentState, JournalError> {
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

/// What the platform said, verbatim, for the `platform_reply` column.
fn platform_reply(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Acknowledged(receipt) => Some(receipt.raw_reply.clone()),
        Outcome::Failed(error) => Some(error.to_string()),
        Outcome::Rejected(_) => None,
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
    /// Sets WAL journal mode, `synchronous = FULL`, a [`BUSY_TIMEOUT`] and foreign keys.
    pub async fn open(url: &str) -> Result<Self, JournalError> {
        if !url.starts_with("sqlite:") {
            return Err(storage(
                "the journal needs an `sqlite:` URL (`sqlite://ordermod.db`, `sqlite::memory:`)",
                format_args!("got `{url}`"),
            ));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| storage(&format!("invalid journal URL `{url}`"), e))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool_options = if is_in_memory(url) {
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
            .connect_with(options)
            .await
            .map_err(|e| storage(&format!("cannot open the journal at `{url}`"), e))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| storage("cannot migrate the journal", e))?;
        tracing::debug!(url = %redact(url), "journal opened");
        Ok(SqliteJournal { pool })
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

    /// Closes every connection, waiting for them to be returned (checkpoints the WAL when the
    /// last one closes). Later calls fail with a storage error.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn state_of(&self, key: &str) -> Result<Option<AmendmentState>, JournalError> {
        let row = sqlx::query("SELECT state FROM amendments WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| storage("cannot read an amendment's state", e))?;
        row.map(|r| {
            let text: String = r
                .try_get("state")
                .map_err(|e| storage("cannot read an amendment's state", e))?;
            parse_state(key, &text)
        })
        .transpose()
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
                " LEFT JOIN revisions r ON r.idempotency_key = a.idempotency_key",
                " WHERE a.order_id = $1",
                " AND a.state IN ('acknowledged', 'confirmed', 'flagged')",
                " ORDER BY COALESCE(r.revision, 0) DESC, a.recorded_at DESC,",
                " a.idempotency_key DESC"
            ),
            Some(order.as_str()),
        )
        .await
    }

    /// How many amendments are in each state; all seven states, in the port's order, zeros
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

#[async_trait]
impl Journal for SqliteJournal {
    async fn begin(&self, intent: &Intent, now: Timestamp) -> Result<Begin, JournalError> {
        let key = intent.key.as_str();
        let amendment = to_json("the amendment", &intent.amendment)?;
        let order = to_json("the order snapshot", &intent.order)?;
        let (plan, rejection, next_revision) = match &intent.plan {
            Ok(plan) => (
                Some(to_json("the plan", plan)?),
                None,
                Some(i64::from(plan.next_revision())),
            ),
            Err(rejection) => (None, Some(to_json("the rejection", rejection)?), None),
        };
        // The insert decides atomically which caller is first; the others read the state.
        let inserted = sqlx::query(
            "INSERT INTO amendments (idempotency_key, shop, order_id, amendment, order_snapshot, \
             plan, rejection, next_revision, state, recorded_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'planned', $9, $9) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(key)
        .bind(intent.shop.as_str())
        .bind(intent.order.id().as_str())
        .bind(&amendment)
        .bind(&order)
        .bind(&plan)
        .bind(&rejection)
        .bind(next_revision)
        .bind(now.as_millis())
        .execute(&self.pool)
        .await
        .map_err(|e| storage("cannot record an intent", e))?;
        if inserted.rows_affected() == 1 {
            return Ok(Begin::New);
        }
        let row = sqlx::query("SELECT state, amendment FROM amendments WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| storage("cannot read an amendment's state", e))?
            .ok_or_else(|| JournalError::Missing(key.to_owned()))?;
        let read = |e: sqlx::Error| storage("cannot read an amendment's state", e);
        let state = parse_state(key, &row.try_get::<String, _>("state").map_err(read)?)?;
        if row.try_get::<String, _>("amendment").map_err(read)? != amendment {
            tracing::warn!(
                key,
                %state,
                "idempotency key reused with a different amendment; the recorded one stands"
            );
        }
        Ok(if state.is_final() {
            Begin::Finished(state)
        } else {
            Begin::Unfinished(state)
        })
    }

    async fn mark_sent(&self, key: &IdempotencyKey, now: Timestamp) -> Result<(), JournalError> {
        let updated = sqlx::query(
            "UPDATE amendments SET state = 'sent', updated_at = $1 \
             WHERE idempotency_key = $2 AND state IN ('planned', 'sent')",
        )
        .bind(now.as_millis())
        .bind(key.as_str())
        .execute(&self.pool)
        .await
        .map_err(|e| storage("cannot mark an amendment sent", e))?;
        if updated.rows_affected() == 1 {
            return Ok(());
        }
        match self.state_of(key.as_str()).await? {
            None => Err(JournalError::Missing(key.to_string())),
            Some(state) => Err(JournalError::Conflict {
                key: key.to_string(),
                reason: format!("it is already {state}; a finished amendment is not sent again"),
            }),
        }
    }

    async fn record_outcome(
        &self,
        key: &IdempotencyKey,
        outcome: &Outcome,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        let k = key.as_str();
        let outcome_json = to_json("the outcome", outcome)?;
        let reply = platform_reply(outcome);
        let state = outcome.state();
        let fail = |e: sqlx::Error| storage("cannot record an outcome", e);

        let mut tx = self.pool.begin_with(BEGIN_WRITE).await.map_err(fail)?;
        let updated = sqlx::query(
            "UPDATE amendments SET state = $1, outcome = $2, platform_reply = $3, updated_at = $4 \
             WHERE idempotency_key = $5 AND state IN ('planned', 'sent')",
        )
        .bind(state.as_str())
        .bind(&outcome_json)
        .bind(&reply)
        .bind(now.as_millis())
        .bind(k)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;

        if updated.rows_affected() == 1 {
            if state == AmendmentState::Acknowledged {
                // The revision the platform now holds: the one planned, or the one after the
                // last recorded if another amendment of the same snapshot got there first.
                let row = sqlx::query(
                    "SELECT a.shop, a.order_id, a.next_revision, \
                     (SELECT COALESCE(MAX(r.revision), 0) FROM revisions r \
                      WHERE r.shop = a.shop AND r.order_id = a.order_id) AS last_revision \
                     FROM amendments a WHERE a.idempotency_key = $1",
                )
                .bind(k)
                .fetch_one(&mut *tx)
                .await
                .map_err(fail)?;
                let shop: String = row.try_get("shop").map_err(fail)?;
                let order: String = row.try_get("order_id").map_err(fail)?;
                let planned: Option<i64> = row.try_get("next_revision").map_err(fail)?;
                let last: i64 = row.try_get("last_revision").map_err(fail)?;
                let revision = planned.unwrap_or(0).max(last + 1);
                sqlx::query(
                    "INSERT INTO revisions (shop, order_id, revision, idempotency_key, applied_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING",
                )
                .bind(&shop)
                .bind(&order)
                .bind(revision)
                .bind(k)
                .bind(now.as_millis())
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
            }
            tx.commit().await.map_err(fail)?;
            return Ok(());
        }

        // Nothing changed: find out why, inside the same transaction.
        let row = sqlx::query("SELECT state, outcome FROM amendments WHERE idempotency_key = $1")
            .bind(k)
            .fetch_optional(&mut *tx)
            .await
            .map_err(fail)?;
        tx.rollback().await.map_err(fail)?;
        let Some(row) = row else {
            return Err(JournalError::Missing(k.to_owned()));
        };
        let recorded_state = parse_state(k, &row.try_get::<String, _>("state").map_err(fail)?)?;
        let recorded: Option<String> = row.try_get("outcome").map_err(fail)?;
        if recorded.as_deref() == Some(outcome_json.as_str()) {
            // The same outcome again (a resume after a crash between the platform's reply
            // and the caller's next step): already durable, nothing to do.
            return Ok(());
        }
        Err(JournalError::Conflict {
            key: k.to_owned(),
            reason: format!(
                "it is already {recorded_state} with a different outcome; refusing to record {state}"
            ),
        })
    }

    async fn reconcile(
        &self,
        key: &IdempotencyKey,
        state: AmendmentState,
        message_id: i64,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        let k = key.as_str();
        if !matches!(state, AmendmentState::Confirmed | AmendmentState::Flagged) {
            return Err(JournalError::Conflict {
                key: k.to_owned(),
                reason: format!("reconciliation confirms or flags; it cannot set {state}"),
            });
        }
        let fail = |e: sqlx::Error| storage("cannot record a reconciliation", e);
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await.map_err(fail)?;
        let updated = sqlx::query(
            "UPDATE amendments SET state = $1, note = $2, updated_at = $3 \
             WHERE idempotency_key = $4 AND state IN ('acknowledged', 'confirmed', 'flagged')",
        )
        .bind(state.as_str())
        .bind(note)
        .bind(now.as_millis())
        .bind(k)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        if updated.rows_affected() != 1 {
            tx.rollback().await.map_err(fail)?;
            return match self.state_of(k).await? {
                None => Err(JournalError::Missing(k.to_owned())),
                Some(recorded) => Err(JournalError::Conflict {
                    key: k.to_owned(),
                    reason: format!(
                        "it is {recorded}; only an acknowledged amendment can be reconciled"
                    ),
                }),
            };
        }
        let inserted = sqlx::query(
            "INSERT INTO reconciliations (idempotency_key, message_id, state, note, at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(k)
        .bind(message_id)
        .bind(state.as_str())
        .bind(note)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
                tx.rollback().await.map_err(fail)?;
                return Err(JournalError::Missing(format!("message {message_id}")));
            }
            Err(e) => return Err(fail(e)),
        }
        tx.commit().await.map_err(fail)?;
        Ok(())
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
        let fail = |e: sqlx::Error| storage("cannot record a message", e);
        let inserted = sqlx::query(
            "INSERT INTO messages (dedup_key, source, raw, received_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
        )
        .bind(&message.dedup_key)
        .bind(&message.source)
        .bind(&message.raw)
        .bind(message.received_at.as_millis())
        .fetch_optional(&self.pool)
        .await
        .map_err(fail)?;
        if let Some(row) = inserted {
            return Ok(MessageInsert::New(row.try_get("id").map_err(fail)?));
        }
        let existing = sqlx::query("SELECT id FROM messages WHERE dedup_key = $1")
            .bind(&message.dedup_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(fail)?
            .ok_or_else(|| JournalError::Missing(format!("message {}", message.dedup_key)))?;
        Ok(MessageInsert::Duplicate(
            existing.try_get("id").map_err(fail)?,
        ))
    }

    async fn message_decoded(&self, id: i64, order: &OrderId) -> Result<(), JournalError> {
        let updated = sqlx::query("UPDATE messages SET order_id = $1 WHERE id = $2")
            .bind(order.as_str())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| storage("cannot note a decoded message", e))?;
        if updated.rows_affected() == 0 {
            return Err(JournalError::Missing(format!("message {id}")));
        }
        Ok(())
    }

    async fn dead_letter(&self, id: i64, reason: &str) -> Result<(), JournalError> {
        let updated = sqlx::query("UPDATE messages SET dead_letter_reason = $1 WHERE id = $2")
            .bind(reason)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| storage("cannot dead-letter a message", e))?;
        if updated.rows_affected() == 0 {
            return Err(JournalError::Missing(format!("message {id}")));
        }
        Ok(())
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
}
