//! State that the processes of one PostgreSQL journal share beside the journal proper:
//! WeChat access tokens ([`SharedTokens`]) and the receivers' replay nonces ([`SharedNonces`]).
//!
//! Both are plain tables (`migrations/postgres/0003_shared.sql`) on the journal's connection
//! pool; they answer in [`JournalError`]s and know nothing of the transports, which adapt
//! them to their own ports (`transport_core::wechat_token::TokenStore`,
//! `transport_1688_push::NonceStore`) in `order-app`.
//!
//! - **Tokens.** [`SharedTokens::get`] reads an app's token and expiry. [`SharedTokens::lock`]
//!   opens a transaction and takes the app's advisory transaction lock
//!   (`pg_advisory_xact_lock`), waiting while another process holds it; the held
//!   [`TokenRefreshLock`] reads the stored token again and stores a new one, and the lock is
//!   released when it commits, when it is dropped (the transaction rolls back) or when its
//!   connection dies. So one process fetches a token while the others wait and then read it.
//! - **Nonces.** [`SharedNonces::claim`] is an `INSERT .. ON CONFLICT .. DO UPDATE .. WHERE`:
//!   the nonce is taken if it is new or its earlier use has expired, and among concurrent
//!   claims (on any number of processes) exactly one wins. Concurrent claims of one process
//!   share one multi-row statement and its commit (`pg_nonces.rs`). Expired rows are pruned
//!   at most once per [`NONCE_PRUNE_EVERY_MS`] per process. [`SharedNonces::message_stored`]
//!   tells whether a message (by dedup key) is in the journal, so that a receiver can accept
//!   the redelivery of a message whose nonce was taken but whose storing failed.
//!
//! Tokens are [`SecretString`]s in memory, and the types here never print them.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use order_domain::JournalError;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgPool, Postgres};
use sqlx::{Row, Transaction};

use crate::pg_nonces::NonceClaimer;
use crate::postgres::PostgresJournal;
use crate::sqlite::storage;

/// How often (at most, per process) [`SharedNonces::claim`] deletes expired nonces.
pub const NONCE_PRUNE_EVERY_MS: i64 = 60_000;

/// An app's access token as stored: the token and its expiry (Unix milliseconds).
#[derive(Clone)]
pub struct StoredAppToken {
    /// The token.
    pub token: SecretString,
    /// When it expires, Unix milliseconds.
    pub expires_at_ms: i64,
}

impl fmt::Debug for StoredAppToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredAppToken")
            .field("token", &"[REDACTED]")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

/// The WeChat access tokens of a PostgreSQL journal (`wechat_tokens`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct SharedTokens {
    pool: PgPool,
}

/// The advisory lock key of an app's token: a 64-bit hash of a namespaced app id (two apps
/// hashing alike would only refresh one after the other).
const TOKEN_LOCK_KEY: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended('ordermod:wechat_token:' || $1, 0))";

impl SharedTokens {
    /// The stored token of `app_id`, if any (fresh or not).
    pub async fn get(&self, app_id: &str) -> Result<Option<StoredAppToken>, JournalError> {
        read_token(&self.pool, app_id)
            .await
            .map_err(|e| storage(&format!("cannot read the token of app {app_id}"), e))
    }

    /// Takes the refresh lock of `app_id` (waiting while another holder has it) in a new
    /// transaction.
    pub async fn lock(&self, app_id: &str) -> Result<TokenRefreshLock, JournalError> {
        let context = format!("cannot take the token refresh lock of app {app_id}");
        let mut tx = self.pool.begin().await.map_err(|e| storage(&context, e))?;
        sqlx::query(TOKEN_LOCK_KEY)
            .bind(app_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| storage(&context, e))?;
        Ok(TokenRefreshLock {
            tx,
            app_id: app_id.to_owned(),
        })
    }
}

async fn read_token<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    app_id: &str,
) -> Result<Option<StoredAppToken>, sqlx::Error> {
    let row = sqlx::query("SELECT token, expires_at FROM wechat_tokens WHERE app_id = $1")
        .bind(app_id)
        .fetch_optional(executor)
        .await?;
    row.map(|r| {
        Ok(StoredAppToken {
            token: SecretString::from(r.try_get::<String, _>("token")?),
            expires_at_ms: r.try_get("expires_at")?,
        })
    })
    .transpose()
}

/// The held refresh lock of one app's token: a transaction holding the app's advisory lock.
/// Released by [`store`](Self::store) (commit) or when dropped (rollback).
pub struct TokenRefreshLock {
    tx: Transaction<'static, Postgres>,
    app_id: String,
}

impl fmt::Debug for TokenRefreshLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRefreshLock")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl TokenRefreshLock {
    /// The stored token, read under the lock (it includes what the previous holder stored).
    pub async fn current(&mut self) -> Result<Option<StoredAppToken>, JournalError> {
        read_token(&mut *self.tx, &self.app_id)
            .await
            .map_err(|e| storage(&format!("cannot read the token of app {}", self.app_id), e))
    }

    /// Stores `token` as the app's token (fetched at `now_ms`) and releases the lock.
    pub async fn store(mut self, token: &StoredAppToken, now_ms: i64) -> Result<(), JournalError> {
        let context = format!("cannot store the token of app {}", self.app_id);
        sqlx::query(
            "INSERT INTO wechat_tokens (app_id, token, expires_at, fetched_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (app_id) DO UPDATE SET token = EXCLUDED.token, \
             expires_at = EXCLUDED.expires_at, fetched_at = EXCLUDED.fetched_at",
        )
        .bind(&self.app_id)
        .bind(token.token.expose_secret())
        .bind(token.expires_at_ms)
        .bind(now_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| storage(&context, e))?;
        self.tx.commit().await.map_err(|e| storage(&context, e))
    }
}

/// The receivers' replay nonces of a PostgreSQL journal (`nonces`), and the look-up of stored
/// messages. Clones share the prune clock.
#[derive(Debug, Clone)]
pub struct SharedNonces {
    pool: PgPool,
    claimer: NonceClaimer,
    last_prune_ms: Arc<AtomicI64>,
}

impl SharedNonces {
    /// Takes `nonce` until `expires_at_ms` and returns `true`, or returns `false` when it was
    /// taken before and that use has not expired at `now_ms`. Atomic across processes.
    pub async fn claim(
        &self,
        nonce: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<bool, JournalError> {
        self.prune(now_ms).await?;
        self.claimer.claim(nonce, now_ms, expires_at_ms).await
    }

    /// Deletes the nonces expired at `now_ms`, unless this process did so less than
    /// [`NONCE_PRUNE_EVERY_MS`] ago.
    async fn prune(&self, now_ms: i64) -> Result<(), JournalError> {
        let last = self.last_prune_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < NONCE_PRUNE_EVERY_MS
            || self
                .last_prune_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return Ok(());
        }
        let gone = sqlx::query("DELETE FROM nonces WHERE expires_at < $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await
            .map_err(|e| storage("cannot prune expired nonces", e))?;
        tracing::debug!(pruned = gone.rows_affected(), "expired nonces pruned");
        Ok(())
    }

    /// Whether the journal holds a message with `dedup_key`.
    pub async fn message_stored(&self, dedup_key: &str) -> Result<bool, JournalError> {
        sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM messages WHERE dedup_key = $1)")
            .bind(dedup_key)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| storage("cannot look a message up", e))
    }

    /// How many nonces are held (expired ones not yet pruned included).
    pub async fn count(&self) -> Result<i64, JournalError> {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM nonces")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| storage("cannot count nonces", e))
    }
}

impl PostgresJournal {
    /// The WeChat access tokens kept in this journal's database.
    pub fn shared_tokens(&self) -> SharedTokens {
        SharedTokens {
            pool: self.pool().clone(),
        }
    }

    /// The receivers' nonces kept in this journal's database.
    pub fn shared_nonces(&self) -> SharedNonces {
        SharedNonces {
            pool: self.pool().clone(),
            claimer: self.nonce_claimer().clone(),
            last_prune_ms: Arc::default(),
        }
    }
}
