//! The PostgreSQL implementation of the journal port, for many processes on many machines.

use sqlx::postgres::{PgPool, PgPoolOptions};

use order_domain::JournalError;

use crate::redact::redact;
use crate::sqlite::storage;

/// The embedded schema migrations (`crates/order-journal/migrations/postgres/`).
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections a journal keeps to the server at most.
pub const PG_MAX_CONNECTIONS: u32 = 16;

/// The journal on PostgreSQL. Cheap to clone (it shares one connection pool). Any number of
/// processes may open the same database.
#[derive(Debug, Clone)]
pub struct PostgresJournal {
    pool: PgPool,
}

impl PostgresJournal {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and migrates the
    /// schema (migrations take PostgreSQL's advisory lock, so processes opening one database
    /// at once migrate it once).
    pub async fn open(url: &str) -> Result<Self, JournalError> {
        let pool = PgPoolOptions::new()
            .max_connections(PG_MAX_CONNECTIONS)
            .connect(url)
            .await
            .map_err(|e| storage(&format!("cannot open the journal at `{url}`"), e))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| storage("cannot migrate the journal", e))?;
        tracing::debug!(url = %redact(url), "journal opened");
        Ok(PostgresJournal { pool })
    }

    /// The connection pool (for the queue and the shared state kept beside the journal).
    #[allow(dead_code)] // used by the queue and the shared state, being written
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
