//! # order-journal
//!
//! The durable journal of ordermod: every amendment's intent before it is sent, its outcome
//! after, the order revisions it created, and every inbound platform message, stored verbatim.
//! The domain's [`Journal`](order_domain::Journal) port has two implementations with one set of
//! rules (checked by one contract test suite run against both):
//!
//! - [`SqliteJournal`]: a file (or memory), one process at a time. The default.
//! - [`PostgresJournal`]: a PostgreSQL database, any number of processes on any machines.
//!
//! [`AnyJournal`] opens either by the URL's scheme; `ordermod` uses it.
//!
//! ```no_run
//! use order_domain::{Begin, Journal, Outcome, Receipt, Timestamp};
//! use order_journal::SqliteJournal;
//!
//! # async fn demo(intent: order_domain::Intent) -> Result<(), order_domain::JournalError> {
//! let journal = SqliteJournal::open("sqlite://ordermod.db").await?;
//! let now = Timestamp::from_millis(1_727_000_000_000);
//! match journal.begin(&intent, now).await? {
//!     Begin::New | Begin::Unfinished(_) => {
//!         journal.mark_sent(&intent.key, now).await?;
//!         // ... send the plan to the platform, then:
//!         let receipt = Receipt::new(r#"{"success":true,"message":"改价成功"}"#);
//!         journal.record_outcome(&intent.key, &Outcome::Acknowledged(receipt), now).await?;
//!     }
//!     Begin::Finished(state) => println!("{} is already {state}", intent.key),
//! }
//! for (state, n) in journal.counts_by_state().await? {
//!     println!("{state}: {n}");
//! }
//! # Ok(()) }
//! ```
//!
//! ## Durability (SQLite)
//! The database runs in WAL mode with `synchronous = FULL`: every commit syncs the write-ahead
//! log before the call returns, so a write survives a crash or power loss right after the call
//! returns (the [`Journal`](order_domain::Journal) error contract). `NORMAL` would be faster
//! but may lose the last commits on power loss, which could double a send on resume. A busy
//! timeout ([`BUSY_TIMEOUT`]) makes a reader wait for the writer instead of failing, and
//! foreign keys are enforced. [`Journal::checkpoint`](order_domain::Journal::checkpoint) (at the
//! end of a batch) and [`SqliteJournal::close`] copy the log into the database file
//! (`wal_checkpoint(TRUNCATE)`), so that the `.db` file alone holds every run.
//!
//! ## One process at a time (SQLite)
//! A file journal is held by one process: [`SqliteJournal::open`] takes an exclusive OS lock
//! on `<db>.lock` (writing `pid N on HOST` into it) before it connects or migrates, so two
//! processes can neither interleave sends nor race to create the schema; the second gets
//! [`JournalError::Locked`](order_domain::JournalError::Locked) naming the file and the holder.
//! [`SqliteJournal::open_read_only`] reads beside the holder, without the lock.
//!
//! ## Group commit (SQLite)
//! Writes (`begin`, `mark_sent`, `record_outcome`, `reconcile`, `record_message`,
//! `record_decoded_message`, `message_decoded`, `dead_letter`) go to one writer task with a connection of its own. It takes
//! every write that is waiting (up to [`MAX_GROUP`]), runs them in order in one sqlx transaction
//! that takes the write lock first (`BEGIN IMMEDIATE`), commits it with one sync of the log, and
//! only then answers each caller: no call returns before its own write is durable, but concurrent
//! callers (a batch's amendments in flight, a receiver's connections) share one sync instead of
//! queueing for one each. A write that refuses the change (`Missing`, `Conflict`) writes nothing
//! and leaves its group alone; a write that fails in the database (or a failed commit) rolls the
//! group back, and each of its writes is then run alone in its own transaction, so the failure
//! stays with the write that caused it. [`SqliteJournal::write_stats`] counts writes and the
//! transactions they took. Callers hand their writes over through a bounded channel of
//! [`WRITE_QUEUE`] writes: when it is full, a caller waits (back-pressure), nothing is dropped.
//!
//! Reads use a pool of [`MAX_CONNECTIONS`] other connections and see committed data only, so a
//! read after a write returned sees that write. The write connection keeps a page cache of
//! [`WRITE_CACHE_KIB`] so that the idempotency-key indexes stay in memory as the journal grows,
//! and checkpoints the log every [`WAL_CHECKPOINT_PAGES`] pages instead of SQLite's 1,000.
//! [`SqliteJournal::settings`] reads the settings back from SQLite.
//!
//! ## Grouped message inserts and nonce claims (PostgreSQL)
//! A receiver's two writes per message are grouped the same way on PostgreSQL: concurrent
//! message inserts of one process share one multi-row `INSERT .. SELECT FROM UNNEST(..)`
//! statement ([`MAX_MESSAGE_GROUP`] rows at most, [`PostgresJournal::message_insert_stats`]),
//! and concurrent nonce claims ([`SharedNonces::claim`]) another; each statement commits on
//! its own (durable with `synchronous_commit`) before any of its callers is answered.
//!
//! Every write runs inside a transaction whose first statement takes the write lock, so it never
//! fails on a stale read snapshot.
//!
//! ## Semantics
//! - `begin` is one `INSERT .. ON CONFLICT DO NOTHING`: among concurrent callers with one key,
//!   exactly one gets `Begin::New`; the others read the recorded state (`Unfinished` for
//!   planned, sent or undelivered, `Finished` otherwise). A key recorded for another shop,
//!   order or target is refused with `JournalError::KeyReused` (the recorded one stands; the
//!   same target written differently, `8.0` and `8.00`, is the same amendment).
//! - An outcome's state comes from [`Outcome::state`](order_domain::Outcome::state): a failure
//!   that never reached the platform is `undelivered` and not final (`mark_sent` takes it back
//!   to `sent`, clearing the outcome, and the next run sends it); a resend refused as stale is
//!   `in_doubt`. Any other outcome is final: recording the same outcome again is a no-op (a
//!   resume may do it), a different one is refused with `JournalError::Conflict`, as is
//!   `mark_sent` on a finished amendment. `Missing` names an unknown key or message id.
//! - An acknowledged outcome appends the order's next revision: the one the plan expected, or
//!   the one after the last recorded when another amendment of the same snapshot came first.
//! - `reconcile` moves an acknowledged amendment to confirmed or flagged; a later message may
//!   move it again (the latest reconciliation sets the state and note; every one is kept in
//!   the `reconciliations` table). Other amendments are refused with `Conflict`.
//! - Messages dedupe by `dedup_key`: a duplicate reports the first one's id and keeps its body.
//!
//! ## Exactness
//! Amounts are stored only inside the domain's JSON forms (`{"amount":"0.30","currency":"CNY"}`)
//! kept as `TEXT`, never as `REAL`; identifiers (19-digit order ids included) are text.
//! Platform replies are kept verbatim (Chinese text included).
//!
//! ## PostgreSQL
//! [`PostgresJournal`] keeps the same tables (`migrations/postgres/`) and rules. Every write is
//! one transaction, committed before the call returns (durable with the server's default
//! `synchronous_commit = on`). Processes never wait for each other except on the same rows:
//! the first `begin` of a key and the first delivery of a message are decided by the database
//! (`INSERT .. ON CONFLICT DO NOTHING`), an outcome by a conditional `UPDATE`, and the next
//! revision of an order under a transaction advisory lock on that order ([`REVISION_LOCK`]).
//! Each process keeps at most [`PG_MAX_CONNECTIONS`] connections.
//!
//! To point ordermod at your own server:
//!
//! 1. Create a role and a database, e.g. `CREATE ROLE ordermod LOGIN PASSWORD '…';` and
//!    `CREATE DATABASE ordermod OWNER ordermod;`. The role needs `CREATE` on the database (an
//!    owner has it) the first time a process opens it: that process creates the tables,
//!    recording the migrations in `_sqlx_migrations` (under an advisory lock, so processes
//!    starting together migrate once). Later versions add migrations the same way.
//! 2. Use the URL `postgres://ordermod:PASSWORD@HOST:5432/ordermod` (`postgresql://` too), with
//!    libpq's parameters after `?`: `sslmode=require` encrypts the connection,
//!    `sslmode=verify-full&sslrootcert=/etc/ordermod/db-ca.pem` also checks the server's
//!    certificate (TLS through rustls on `ring`, with the operating system's roots by default).
//! 3. Keep the password out of shared files: the URL is read from the configuration or
//!    `--journal`; every error and log line shows it as `postgres://***@HOST..`.
//!
//! ## URLs
//! `sqlite://ordermod.db` (relative), `sqlite:///var/lib/ordermod/j.db` (absolute),
//! `sqlite::memory:` (private, one connection kept open for the journal's life; the file is
//! created if missing, its directory must exist); `postgres://USER:PASSWORD@HOST:PORT/DB`.
//! [`AnyJournal::open`] refuses any other scheme, naming these forms.
//!
//! ## One schema, two engines
//! The rules are written once (the write operations and what they refuse), and so are the
//! typed rows (`#[derive(sqlx::FromRow)]`) and the SQL text, in `$n`-placeholder SQL both
//! engines accept; each backend only runs it. JSON is kept as `TEXT` on both (PostgreSQL's
//! `JSONB` would rewrite the text), message bodies as bytes.
//!
//! ## Errors
//! Storage failures become [`JournalError::Storage`](order_domain::JournalError::Storage): what
//! the journal was doing, with any URL user information redacted ([`redact_url`]), and the
//! database's own error as its `#[source]` (neither SQLite's nor PostgreSQL's errors carry the
//! connection's password).
//!
//! ## Reading large journals
//! [`SqliteJournal::amendments_page`] (and [`PostgresJournal::amendments_page`]) reads keyset pages, newest first (optionally of one order
//! or one state), each costing only its own rows; `ordermod journal` shows and streams the
//! journal with it.
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod any;
mod apply;
mod lock;
mod ops;
mod pg_messages;
mod pg_nonces;
mod postgres;
mod queue;
mod reads;
mod redact;
mod rows;
mod shared;
mod sqlite;
mod writer;

pub use any::AnyJournal;
pub use apply::REVISION_LOCK;
pub use pg_messages::{MAX_MESSAGE_GROUP, MessageInsertStats};
pub use postgres::{PG_MAX_CONNECTIONS, PostgresJournal};
pub use queue::{Acquired, Claimed, Enqueued, Heartbeat, NewItem, Queue, ShopQueue, WorkerInfo};
pub use redact::{redact, redact_url};
pub use shared::{
    NONCE_PRUNE_EVERY_MS, SharedNonces, SharedTokens, StoredAppToken, TokenRefreshLock,
};
pub use sqlite::{
    BUSY_TIMEOUT, MAX_CONNECTIONS, RevisionRecord, SqliteJournal, StorageSettings,
    WAL_CHECKPOINT_PAGES, WRITE_CACHE_KIB, WriteStats,
};
pub use writer::{MAX_GROUP, WRITE_QUEUE};
