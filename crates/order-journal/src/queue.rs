//! The work queue beside the PostgreSQL journal: amendments waiting for a worker, the live
//! workers, and which worker holds which credential (migration `postgres/0002_queue.sql`).
//!
//! - **Queue order, one order at a time.** Rows are applied in the order they were queued
//!   (`id`). A row is claimable only when no earlier row of the same shop and order is
//!   unfinished, so the amendments of one order run one at a time, in order, whatever the
//!   number of workers.
//! - **Claims** lock rows with `FOR UPDATE SKIP LOCKED` (concurrent claimers never wait for
//!   each other nor take the same row) and give them to the claimer under a lease. A row whose
//!   lease expired (its worker died) is claimable again: the next claimer takes it over, and
//!   the journal's in-doubt rules settle an amendment that was left `sent`.
//! - **Finishing** a row is refused to a worker that lost it (its lease expired and another
//!   worker took it over): the one that holds it records the outcome.
//! - **Credential leases**: one worker at a time holds a credential; [`Queue::acquire_credential`]
//!   takes a free or expired one (and says how long ago its previous holder stopped),
//!   [`Queue::heartbeat`] renews the worker and everything it holds.
//! - **One clock.** Every time (leases, heartbeats) is the database server's clock
//!   (`clock_timestamp()`), so workers on machines whose clocks differ agree on who holds what.
//!   A lease of zero expires at once (tests use it to simulate a dead worker without waiting).
//!
//! ```no_run
//! # async fn demo() -> Result<(), order_domain::JournalError> {
//! use std::time::Duration;
//! use order_journal::{NewItem, PostgresJournal};
//! let journal = PostgresJournal::open("postgres://ordermod@db/ordermod").await?;
//! let queue = journal.queue();
//! queue.enqueue(&[NewItem { key: "k1", shop: "wechat-a", order_id: "1",
//!                           fingerprint: "auto-…", line: "{…}" }]).await?;
//! let lease = Duration::from_secs(30);
//! for row in queue.claim("worker-1", &["wechat-a".to_owned()], 8, lease).await? {
//!     // ... apply row.line, then:
//!     queue.finish("worker-1", row.id, "applied").await?;
//! }
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use order_domain::JournalError;
use sqlx::Row;
use sqlx::postgres::PgPool;

use crate::postgres::PostgresJournal;
use crate::sqlite::storage;

/// The database server's clock in milliseconds since the Unix epoch (an SQL expression).
macro_rules! now_ms {
    () => {
        "(extract(epoch from clock_timestamp()) * 1000)::bigint"
    };
}

/// Rows inserted by one statement of [`Queue::enqueue`].
const ENQUEUE_CHUNK: usize = 1000;

/// The queue, the live workers and the credential leases of one PostgreSQL journal. Cheap to
/// clone (it shares the journal's connection pool).
#[derive(Debug, Clone)]
pub struct Queue {
    pool: PgPool,
}

impl PostgresJournal {
    /// The work queue kept beside this journal (same database, same pool).
    pub fn queue(&self) -> Queue {
        Queue {
            pool: self.pool().clone(),
        }
    }
}

/// An amendment to queue.
#[derive(Debug, Clone, Copy)]
pub struct NewItem<'a> {
    /// Its idempotency key (unique in the queue).
    pub key: &'a str,
    /// The shop.
    pub shop: &'a str,
    /// The order.
    pub order_id: &'a str,
    /// What it asks, independent of how it is written (the same key with another fingerprint
    /// is a key reused for a different amendment).
    pub fingerprint: &'a str,
    /// The amendment line (JSON, key included), handed back to the worker that claims it.
    pub line: &'a str,
}

/// What [`Queue::enqueue`] did with one item.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Enqueued {
    /// Queued now (or queued again: its earlier run ended `undelivered`, which a re-run sends).
    New,
    /// The same amendment is queued or done already; nothing changed.
    AlreadyQueued,
    /// The key is queued for another amendment; nothing changed.
    KeyReused {
        /// The shop of the queued amendment.
        shop: String,
        /// Its order.
        order_id: String,
    },
}

/// A row given to a worker by [`Queue::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The row's place in the queue.
    pub id: i64,
    /// The amendment's idempotency key.
    pub key: String,
    /// The shop.
    pub shop: String,
    /// The order.
    pub order_id: String,
    /// The amendment line (JSON), as queued.
    pub line: String,
    /// Claims of this row so far, this one included: more than one means a worker that held it
    /// died or lost it (the amendment may be `sent` in the journal).
    pub attempts: i32,
}

/// A worker as [`Queue::workers`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// The worker's id.
    pub id: String,
    /// Its host name.
    pub host: String,
    /// Its process id.
    pub pid: i64,
    /// When it started (milliseconds since the epoch, server clock).
    pub started_at: i64,
    /// Its last heartbeat.
    pub heartbeat_at: i64,
    /// Whether its heartbeat is still current (false: it died or lost the database).
    pub live: bool,
    /// The credentials it holds under a live lease, in name order.
    pub credentials: Vec<String>,
}

/// The queue's rows of one shop, by state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopQueue {
    /// Waiting for a worker.
    pub queued: u64,
    /// Claimed under a live lease.
    pub in_flight: u64,
    /// Claimed under an expired lease (its worker died): the next claim takes it over.
    pub expired: u64,
    /// Finished rows by outcome (`applied`, `rejected`, `in_doubt`, ...).
    pub done: BTreeMap<String, u64>,
}

/// What a worker's heartbeat found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// Live workers, this one included.
    pub live_workers: u64,
    /// The credentials this worker still holds (its leases renewed); one it held before and
    /// that is missing was lost (its lease expired and another worker took it).
    pub held: Vec<String>,
}

impl Queue {
    /// The queue of an open PostgreSQL journal's pool.
    pub fn new(pool: PgPool) -> Self {
        Queue { pool }
    }

    /// Queues `items` in their order, each unless its key is queued already: an item whose
    /// key is queued with the same fingerprint is [`Enqueued::AlreadyQueued`] (or queued again
    /// when its run ended `undelivered`), with another fingerprint [`Enqueued::KeyReused`].
    /// Returns one answer per item. Safe to run concurrently with claims and other enqueues.
    pub async fn enqueue(&self, items: &[NewItem<'_>]) -> Result<Vec<Enqueued>, JournalError> {
        let mut out = Vec::with_capacity(items.len());
        for chunk in items.chunks(ENQUEUE_CHUNK) {
            out.extend(self.enqueue_chunk(chunk).await?);
        }
        Ok(out)
    }

    async fn enqueue_chunk(&self, items: &[NewItem<'_>]) -> Result<Vec<Enqueued>, JournalError> {
        // The first item of each key is inserted; a repeat within the chunk is compared with it.
        let mut first: HashMap<&str, usize> = HashMap::new();
        let mut unique = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if !first.contains_key(item.key) {
                first.insert(item.key, i);
                unique.push(*item);
            }
        }
        fn col<'a>(items: &[NewItem<'a>], f: fn(&NewItem<'a>) -> &'a str) -> Vec<String> {
            items.iter().map(|i| f(i).to_owned()).collect()
        }
        let keys = col(&unique, |i| i.key);
        let inserted: Vec<String> = sqlx::query_scalar(concat!(
            "INSERT INTO queue (idempotency_key, shop, order_id, fingerprint, line, state, \
             enqueued_at) \
             SELECT k, s, o, f, l, 'queued', ",
            now_ms!(),
            " FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) \
             WITH ORDINALITY AS t(k, s, o, f, l, n) ORDER BY n \
             ON CONFLICT (idempotency_key) DO UPDATE SET state = 'queued', outcome = NULL, \
             finished_at = NULL, enqueued_at = EXCLUDED.enqueued_at \
             WHERE queue.state = 'done' AND queue.outcome = 'undelivered' \
             AND queue.fingerprint = EXCLUDED.fingerprint \
             RETURNING idempotency_key"
        ))
        .bind(&keys)
        .bind(col(&unique, |i| i.shop))
        .bind(col(&unique, |i| i.order_id))
        .bind(col(&unique, |i| i.fingerprint))
        .bind(col(&unique, |i| i.line))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| storage("cannot queue amendments", e))?;
        let inserted: std::collections::HashSet<String> = inserted.into_iter().collect();
        let others: Vec<String> = keys
            .iter()
            .filter(|k| !inserted.contains(*k))
            .cloned()
            .collect();
        let mut existing: HashMap<String, (String, String, String)> = HashMap::new();
        if !others.is_empty() {
            let rows = sqlx::query(
                "SELECT idempotency_key, shop, order_id, fingerprint FROM queue \
                 WHERE idempotency_key = ANY($1)",
            )
            .bind(&others)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| storage("cannot read the queue", e))?;
            for r in rows {
                existing.insert(
                    get(&r, "idempotency_key")?,
                    (
                        get(&r, "shop")?,
                        get(&r, "order_id")?,
                        get(&r, "fingerprint")?,
                    ),
                );
            }
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let first_i = first.get(item.key).copied().unwrap_or(i);
            let answer = if first_i == i && inserted.contains(item.key) {
                Enqueued::New
            } else {
                // Compared with what holds the key: the queued row, or this chunk's first item.
                let (shop, order_id, fingerprint) = match existing.get(item.key) {
                    Some((s, o, f)) => (s.as_str(), o.as_str(), f.as_str()),
                    None => {
                        let f = &items[first_i];
                        (f.shop, f.order_id, f.fingerprint)
                    }
                };
                if fingerprint == item.fingerprint {
                    Enqueued::AlreadyQueued
                } else {
                    Enqueued::KeyReused {
                        shop: shop.to_owned(),
                        order_id: order_id.to_owned(),
                    }
                }
            };
            out.push(answer);
        }
        Ok(out)
    }

    /// Claims up to `limit` rows of `shops` for `worker` under a lease of `lease`, in queue
    /// order: rows waiting, and rows whose lease expired (taken over). A row is claimable only
    /// when no earlier row of its order is unfinished. Rows another claimer is locking are
    /// skipped, not waited for.
    pub async fn claim(
        &self,
        worker: &str,
        shops: &[String],
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Claimed>, JournalError> {
        if shops.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(concat!(
            "WITH candidates AS ( \
               SELECT q.id FROM queue q \
               WHERE q.shop = ANY($1) AND q.state <> 'done' \
                 AND (q.state = 'queued' OR q.lease_until <= ",
            now_ms!(),
            ") \
                 AND NOT EXISTS (SELECT 1 FROM queue e WHERE e.shop = q.shop \
                     AND e.order_id = q.order_id AND e.id < q.id AND e.state <> 'done') \
               ORDER BY q.id LIMIT $2 FOR UPDATE SKIP LOCKED) \
             UPDATE queue SET state = 'claimed', owner = $3, attempts = queue.attempts + 1, \
               lease_until = ",
            now_ms!(),
            " + $4 \
             FROM candidates WHERE queue.id = candidates.id \
             RETURNING queue.id, queue.idempotency_key, queue.shop, queue.order_id, \
               queue.line, queue.attempts"
        ))
        .bind(shops)
        .bind(i64::from(limit))
        .bind(worker)
        .bind(millis(lease))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| storage("cannot claim queued amendments", e))?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(Claimed {
                    id: get(r, "id")?,
                    key: get(r, "idempotency_key")?,
                    shop: get(r, "shop")?,
                    order_id: get(r, "order_id")?,
                    line: get(r, "line")?,
                    attempts: get(r, "attempts")?,
                })
            })
            .collect::<Result<Vec<_>, JournalError>>()?;
        out.sort_by_key(|c| c.id);
        Ok(out)
    }

    /// Records the outcome of a row `worker` holds and finishes it. False when the worker no
    /// longer holds it (its lease expired and another worker claimed it): nothing is changed.
    pub async fn finish(&self, worker: &str, id: i64, outcome: &str) -> Result<bool, JournalError> {
        let done = sqlx::query(concat!(
            "UPDATE queue SET state = 'done', outcome = $3, owner = NULL, lease_until = NULL, \
             finished_at = ",
            now_ms!(),
            " WHERE id = $1 AND owner = $2 AND state = 'claimed'"
        ))
        .bind(id)
        .bind(worker)
        .bind(outcome)
        .execute(&self.pool)
        .await
        .map_err(|e| storage("cannot record a queued amendment's outcome", e))?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives back a row `worker` holds without an outcome (queued again, first in its order's
    /// line). False when it no longer holds it.
    pub async fn release(&self, worker: &str, id: i64) -> Result<bool, JournalError> {
        let done = sqlx::query(
            "UPDATE queue SET state = 'queued', owner = NULL, lease_until = NULL \
             WHERE id = $1 AND owner = $2 AND state = 'claimed'",
        )
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await
        .map_err(|e| storage("cannot release a queued amendment", e))?;
        Ok(done.rows_affected() == 1)
    }

    /// Renews `worker`: its heartbeat (registering it on first call), the leases of the rows it
    /// holds and of the credentials it holds, each to `lease` from now. One transaction.
    pub async fn heartbeat(
        &self,
        worker: &str,
        host: &str,
        pid: u32,
        lease: Duration,
    ) -> Result<Heartbeat, JournalError> {
        let fail = |e| storage("cannot renew the worker's leases", e);
        let lease = millis(lease);
        let mut tx = self.pool.begin().await.map_err(fail)?;
        sqlx::query(concat!(
            "INSERT INTO workers (id, host, pid, started_at, heartbeat_at, expires_at) \
             VALUES ($1, $2, $3, ",
            now_ms!(),
            ", ",
            now_ms!(),
            ", ",
            now_ms!(),
            " + $4) ON CONFLICT (id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at, \
             expires_at = EXCLUDED.expires_at"
        ))
        .bind(worker)
        .bind(host)
        .bind(i64::from(pid))
        .bind(lease)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        sqlx::query(concat!(
            "UPDATE queue SET lease_until = ",
            now_ms!(),
            " + $2 WHERE owner = $1 AND state = 'claimed'"
        ))
        .bind(worker)
        .bind(lease)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        let mut held: Vec<String> = sqlx::query_scalar(concat!(
            "UPDATE credential_leases SET expires_at = ",
            now_ms!(),
            " + $2 WHERE owner = $1 RETURNING credential"
        ))
        .bind(worker)
        .bind(lease)
        .fetch_all(&mut *tx)
        .await
        .map_err(fail)?;
        held.sort();
        let live: i64 = sqlx::query_scalar(concat!(
            "SELECT COUNT(*) FROM workers WHERE expires_at > ",
            now_ms!()
        ))
        .fetch_one(&mut *tx)
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        Ok(Heartbeat {
            live_workers: u64::try_from(live).unwrap_or(0),
            held,
        })
    }

    /// Takes `credential` for `worker` under a lease of `lease` when it is free, expired, or
    /// already `worker`'s. `None` when another worker holds it; else how long ago the previous
    /// holder's lease ended (released or expired), `None` inside when nobody held it before or
    /// `worker` already held it: a new holder waits out what is left of a quota window, so that
    /// its first requests and the previous holder's last ones never meet in one window.
    pub async fn acquire_credential(
        &self,
        worker: &str,
        credential: &str,
        lease: Duration,
    ) -> Result<Option<Option<Duration>>, JournalError> {
        let got: Option<(Option<i64>,)> = sqlx::query_as(concat!(
            "INSERT INTO credential_leases (credential, owner, acquired_at, expires_at) \
             VALUES ($1, $2, ",
            now_ms!(),
            ", ",
            now_ms!(),
            " + $3) ON CONFLICT (credential) DO UPDATE SET owner = EXCLUDED.owner, \
             acquired_at = CASE WHEN credential_leases.owner = EXCLUDED.owner \
                 THEN credential_leases.acquired_at ELSE EXCLUDED.acquired_at END, \
             previous_end = CASE WHEN credential_leases.owner = EXCLUDED.owner \
                 THEN NULL ELSE credential_leases.expires_at END, \
             expires_at = EXCLUDED.expires_at \
             WHERE credential_leases.owner IS NULL \
                OR credential_leases.owner = EXCLUDED.owner \
                OR credential_leases.expires_at <= EXCLUDED.acquired_at \
             RETURNING acquired_at - previous_end"
        ))
        .bind(credential)
        .bind(worker)
        .bind(millis(lease))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| storage("cannot take a credential lease", e))?;
        Ok(got
            .map(|(since,)| since.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0)))))
    }

    /// Gives up `credential` if `worker` holds it. True when it did.
    pub async fn release_credential(
        &self,
        worker: &str,
        credential: &str,
    ) -> Result<bool, JournalError> {
        let done = sqlx::query(concat!(
            "UPDATE credential_leases SET owner = NULL, expires_at = ",
            now_ms!(),
            " WHERE credential = $1 AND owner = $2"
        ))
        .bind(credential)
        .bind(worker)
        .execute(&self.pool)
        .await
        .map_err(|e| storage("cannot release a credential lease", e))?;
        Ok(done.rows_affected() == 1)
    }

    /// `worker` stops: its credentials are released, the rows it still holds are queued
    /// again, and it is no longer counted as live. One transaction.
    pub async fn leave(&self, worker: &str) -> Result<(), JournalError> {
        let fail = |e| storage("cannot unregister the worker", e);
        let mut tx = self.pool.begin().await.map_err(fail)?;
        sqlx::query(concat!(
            "UPDATE credential_leases SET owner = NULL, expires_at = ",
            now_ms!(),
            " WHERE owner = $1"
        ))
        .bind(worker)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        sqlx::query(
            "UPDATE queue SET state = 'queued', owner = NULL, lease_until = NULL \
             WHERE owner = $1 AND state = 'claimed'",
        )
        .bind(worker)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        sqlx::query("DELETE FROM workers WHERE id = $1")
            .bind(worker)
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        tx.commit().await.map_err(fail)
    }

    /// The shops with unfinished rows (waiting or claimed), in name order.
    pub async fn shops_with_work(&self) -> Result<Vec<String>, JournalError> {
        sqlx::query_scalar("SELECT DISTINCT shop FROM queue WHERE state <> 'done' ORDER BY shop")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| storage("cannot read the queue", e))
    }

    /// Unfinished rows (waiting or claimed, by anyone).
    pub async fn unfinished(&self) -> Result<u64, JournalError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM queue WHERE state <> 'done'")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| storage("cannot read the queue", e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The queue per shop, in shop name order.
    pub async fn by_shop(&self) -> Result<BTreeMap<String, ShopQueue>, JournalError> {
        let rows = sqlx::query(concat!(
            "SELECT shop, CASE WHEN state = 'claimed' AND lease_until <= ",
            now_ms!(),
            " THEN 'expired' ELSE state END AS st, outcome, COUNT(*) AS n \
             FROM queue GROUP BY 1, 2, 3"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| storage("cannot read the queue", e))?;
        let mut out: BTreeMap<String, ShopQueue> = BTreeMap::new();
        for r in rows {
            let shop: String = get(&r, "shop")?;
            let state: String = get(&r, "st")?;
            let outcome: Option<String> = get(&r, "outcome")?;
            let n = u64::try_from(get::<i64>(&r, "n")?).unwrap_or(0);
            let s = out.entry(shop).or_default();
            match (state.as_str(), outcome) {
                ("queued", _) => s.queued += n,
                ("claimed", _) => s.in_flight += n,
                ("expired", _) => s.expired += n,
                (_, Some(o)) => *s.done.entry(o).or_default() += n,
                (_, None) => {}
            }
        }
        Ok(out)
    }

    /// Every registered worker (live or not), with the credentials each holds, by id.
    pub async fn workers(&self) -> Result<Vec<WorkerInfo>, JournalError> {
        let fail = |e| storage("cannot read the workers", e);
        let rows = sqlx::query(concat!(
            "SELECT w.id, w.host, w.pid, w.started_at, w.heartbeat_at, w.expires_at > ",
            now_ms!(),
            " AS live, COALESCE(ARRAY_AGG(c.credential ORDER BY c.credential) \
               FILTER (WHERE c.credential IS NOT NULL), '{}') AS credentials \
             FROM workers w LEFT JOIN credential_leases c ON c.owner = w.id AND c.expires_at > ",
            now_ms!(),
            " GROUP BY w.id ORDER BY w.id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(fail)?;
        rows.iter()
            .map(|r| {
                Ok(WorkerInfo {
                    id: get(r, "id")?,
                    host: get(r, "host")?,
                    pid: get(r, "pid")?,
                    started_at: get(r, "started_at")?,
                    heartbeat_at: get(r, "heartbeat_at")?,
                    live: get(r, "live")?,
                    credentials: get(r, "credentials")?,
                })
            })
            .collect()
    }

    /// The live holder of each credential under lease, by credential.
    pub async fn credential_holders(&self) -> Result<BTreeMap<String, String>, JournalError> {
        let rows = sqlx::query(concat!(
            "SELECT credential, owner FROM credential_leases WHERE owner IS NOT NULL \
             AND expires_at > ",
            now_ms!()
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| storage("cannot read the credential leases", e))?;
        rows.iter()
            .map(|r| Ok((get(r, "credential")?, get(r, "owner")?)))
            .collect()
    }
}

/// A lease in milliseconds (saturating: a lease of centuries is a lease forever).
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

fn get<'r, T>(row: &'r sqlx::postgres::PgRow, column: &str) -> Result<T, JournalError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column)
        .map_err(|e| storage(&format!("cannot read the queue's column `{column}`"), e))
}
