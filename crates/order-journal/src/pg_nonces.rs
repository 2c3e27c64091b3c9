//! Grouped nonce claims on PostgreSQL ([`SharedNonces::claim`](crate::SharedNonces::claim)):
//! every receiver takes one nonce per message, which as a statement of its own cost a commit
//! (a WAL flush) per message. Inserter tasks like those of [`crate::pg_messages`] take all
//! pending claims and make them with ONE statement, committed on its own before any caller is
//! answered:
//!
//! ```sql
//! INSERT INTO nonces (nonce, expires_at) SELECT * FROM UNNEST($1, $2)
//! ON CONFLICT (nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at
//!     WHERE nonces.expires_at < $3 RETURNING nonce
//! ```
//!
//! A claim is won exactly when its nonce comes back. The rules of a single claim hold:
//! - the same nonce twice in one group: only its first claim goes into the statement (a
//!   statement cannot update a row twice); the later ones lose, as they would after it;
//! - `$3`, the moment an earlier use counts as expired, is the earliest `now` of the group, so
//!   a use that expired within the group's few milliseconds may be refused, never a use still
//!   in force taken (a replay is never accepted);
//! - rows go in nonce order, so two receivers' groups take their row locks in the same order
//!   and cannot deadlock; a claim on another transaction's uncommitted nonce waits for it.
//!
//! A failed statement fails no caller on behalf of another: the group is run again one claim
//! at a time.

use std::collections::HashSet;
use std::sync::Arc;

use order_domain::JournalError;
use sqlx::postgres::PgPool;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::sqlite::storage;

/// Most claims made by one statement.
const MAX_CLAIM_GROUP: usize = 256;
/// Claimer tasks (one collects while another waits for its commit).
const CLAIMERS: usize = 4;
/// Claims waiting for a claimer at most; callers wait for room beyond it.
const CLAIM_QUEUE: usize = 4 * MAX_CLAIM_GROUP;

const CLAIM_ONE: &str = "INSERT INTO nonces (nonce, expires_at) VALUES ($1, $2) \
     ON CONFLICT (nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at \
     WHERE nonces.expires_at < $3 \
     RETURNING nonce";

const CLAIM_GROUP: &str = "INSERT INTO nonces (nonce, expires_at) \
     SELECT * FROM UNNEST($1::text[], $2::bigint[]) \
     ON CONFLICT (nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at \
     WHERE nonces.expires_at < $3 \
     RETURNING nonce";

/// One claim: nonce, now, expiry (Unix milliseconds).
#[derive(Debug)]
struct Claim {
    nonce: String,
    now_ms: i64,
    expires_at_ms: i64,
}

type Reply = oneshot::Sender<Result<bool, JournalError>>;

/// The callers' handle on the claimer tasks. Cheap to clone; the tasks end when every handle
/// is dropped.
#[derive(Debug, Clone)]
pub(crate) struct NonceClaimer {
    tx: mpsc::Sender<(Claim, Reply)>,
}

fn closed() -> JournalError {
    JournalError::storage_context("the journal is closed")
}

impl NonceClaimer {
    /// Starts the claimer tasks on the current tokio runtime.
    pub(crate) fn spawn(pool: PgPool) -> NonceClaimer {
        let (tx, rx) = mpsc::channel(CLAIM_QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..CLAIMERS {
            tokio::spawn(run(pool.clone(), Arc::clone(&rx)));
        }
        NonceClaimer { tx }
    }

    /// Takes `nonce` until `expires_at_ms` (`true`), or finds it in force at `now_ms`
    /// (`false`); answers once the group's statement committed.
    pub(crate) async fn claim(
        &self,
        nonce: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<bool, JournalError> {
        let (reply, answer) = oneshot::channel();
        let claim = Claim {
            nonce: nonce.to_owned(),
            now_ms,
            expires_at_ms,
        };
        self.tx.send((claim, reply)).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

async fn run(pool: PgPool, rx: Arc<Mutex<mpsc::Receiver<(Claim, Reply)>>>) {
    loop {
        // Whatever is waiting, up to a group, once at least one is (0: the channel closed).
        let mut group = Vec::with_capacity(MAX_CLAIM_GROUP);
        if rx.lock().await.recv_many(&mut group, MAX_CLAIM_GROUP).await == 0 {
            return;
        }
        let claims: Vec<&Claim> = group.iter().map(|(c, _)| c).collect();
        match claim_group(&pool, &claims).await {
            Ok(won) => {
                for ((_, reply), won) in group.into_iter().zip(won) {
                    let _ = reply.send(Ok(won));
                }
            }
            Err(e) => {
                tracing::warn!(
                    claims = group.len(),
                    "a grouped nonce claim failed ({e}); claiming each alone"
                );
                for (claim, reply) in group {
                    let _ = reply.send(claim_alone(&pool, &claim).await);
                }
            }
        }
    }
}

async fn claim_alone(pool: &PgPool, c: &Claim) -> Result<bool, JournalError> {
    let won = sqlx::query(CLAIM_ONE)
        .bind(&c.nonce)
        .bind(c.expires_at_ms)
        .bind(c.now_ms)
        .fetch_optional(pool)
        .await
        .map_err(|e| storage("cannot record a nonce", e))?;
    Ok(won.is_some())
}

/// Makes `claims` with one statement; whether each was won, in order.
async fn claim_group(pool: &PgPool, claims: &[&Claim]) -> Result<Vec<bool>, sqlx::Error> {
    // The first claim of each nonce goes into the statement, in nonce order.
    let mut seen = HashSet::new();
    let mut first: Vec<&Claim> = claims
        .iter()
        .copied()
        .filter(|c| seen.insert(c.nonce.as_str()))
        .collect();
    first.sort_by(|a, b| a.nonce.cmp(&b.nonce));
    let nonces: Vec<&str> = first.iter().map(|c| c.nonce.as_str()).collect();
    let expiries: Vec<i64> = first.iter().map(|c| c.expires_at_ms).collect();
    let now = claims.iter().map(|c| c.now_ms).min().unwrap_or(0);
    let won: Vec<String> = sqlx::query_scalar(CLAIM_GROUP)
        .bind(&nonces)
        .bind(&expiries)
        .bind(now)
        .fetch_all(pool)
        .await?;
    let mut won: HashSet<String> = won.into_iter().collect();
    // A nonce won is won by its first claim only (`remove`): the later ones are replays.
    Ok(claims.iter().map(|c| won.remove(&c.nonce)).collect())
}
