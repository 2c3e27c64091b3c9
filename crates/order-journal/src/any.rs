//! [`AnyJournal`]: the journal on whichever backend its URL names.

use async_trait::async_trait;
use order_domain::ports::journal::MessageDecoding;
use order_domain::{
    AmendmentRecord, AmendmentState, Begin, IdempotencyKey, InboundRecord, Intent, Journal,
    JournalError, MessageInsert, MessageRecord, OrderId, Outcome, ShopId, Timestamp,
};

use crate::postgres::PostgresJournal;
use crate::redact::redact;
use crate::sqlite::{RevisionRecord, SqliteJournal};

/// The journal on SQLite or PostgreSQL, chosen by the URL's scheme. Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> Result<(), order_domain::JournalError> {
/// use order_journal::AnyJournal;
/// let local = AnyJournal::open("sqlite://ordermod.db").await?;
/// let shared = AnyJournal::open("postgres://ordermod:secret@db.internal/ordermod").await?;
/// assert!(local.as_postgres().is_none() && shared.as_postgres().is_some());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub enum AnyJournal {
    /// `sqlite:` URLs: one process at a time.
    Sqlite(SqliteJournal),
    /// `postgres:` / `postgresql:` URLs: any number of processes.
    Postgres(PostgresJournal),
}

/// The backend a URL names.
enum Backend {
    Sqlite,
    Postgres,
}

fn backend(url: &str) -> Result<Backend, JournalError> {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("sqlite") => Ok(Backend::Sqlite),
        Some("postgres" | "postgresql") => Ok(Backend::Postgres),
        _ => Err(JournalError::storage_context(redact(&format!(
            "unsupported journal URL `{url}`: use `sqlite://FILE` (e.g. `sqlite://ordermod.db`, \
             `sqlite:///var/lib/ordermod/journal.db`), `sqlite::memory:`, or \
             `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (`postgresql://` too)"
        )))),
    }
}

/// Runs `$e` on whichever journal `$self` holds, as `$j`.
macro_rules! on_each {
    ($self:expr, $j:ident => $e:expr) => {
        match $self {
            AnyJournal::Sqlite($j) => $e,
            AnyJournal::Postgres($j) => $e,
        }
    };
}

impl AnyJournal {
    /// Opens and migrates the journal at `url`: [`SqliteJournal::open`] for `sqlite:`
    /// (taking the file's process lock), [`PostgresJournal::open`] for `postgres:` and
    /// `postgresql:`. Any other scheme is refused, naming the accepted forms.
    pub async fn open(url: &str) -> Result<Self, JournalError> {
        Ok(match backend(url)? {
            Backend::Sqlite => AnyJournal::Sqlite(SqliteJournal::open(url).await?),
            Backend::Postgres => AnyJournal::Postgres(PostgresJournal::open(url).await?),
        })
    }

    /// Opens the journal at `url` to read it beside the processes writing it: without the
    /// SQLite process lock, and without migrating (either backend).
    pub async fn open_read_only(url: &str) -> Result<Self, JournalError> {
        Ok(match backend(url)? {
            Backend::Sqlite => AnyJournal::Sqlite(SqliteJournal::open_read_only(url).await?),
            Backend::Postgres => AnyJournal::Postgres(PostgresJournal::open_read_only(url).await?),
        })
    }

    /// The PostgreSQL journal, when this is one (the queue and the state shared between
    /// processes live beside it).
    pub fn as_postgres(&self) -> Option<&PostgresJournal> {
        match self {
            AnyJournal::Postgres(j) => Some(j),
            AnyJournal::Sqlite(_) => None,
        }
    }

    /// The SQLite journal, when this is one.
    pub fn as_sqlite(&self) -> Option<&SqliteJournal> {
        match self {
            AnyJournal::Sqlite(j) => Some(j),
            AnyJournal::Postgres(_) => None,
        }
    }

    /// Closes the journal (see [`SqliteJournal::close`], [`PostgresJournal::close`]).
    pub async fn close(&self) {
        on_each!(self, j => j.close().await);
    }

    /// One page of amendments, newest first (see [`SqliteJournal::amendments_page`]).
    pub async fn amendments_page(
        &self,
        order: Option<&OrderId>,
        state: Option<AmendmentState>,
        after: Option<&AmendmentRecord>,
        limit: u32,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        on_each!(self, j => j.amendments_page(order, state, after, limit).await)
    }

    /// The reconciliation backlog, oldest first.
    pub async fn unconfirmed_acknowledged(&self) -> Result<Vec<AmendmentRecord>, JournalError> {
        on_each!(self, j => j.unconfirmed_acknowledged().await)
    }

    /// The applied amendments of `order`, latest revision first.
    pub async fn acknowledged_for_order(
        &self,
        order: &OrderId,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        on_each!(self, j => j.acknowledged_for_order(order).await)
    }

    /// How many amendments are in each state; every state, zeros included.
    pub async fn counts_by_state(&self) -> Result<Vec<(AmendmentState, u64)>, JournalError> {
        on_each!(self, j => j.counts_by_state().await)
    }

    /// The stored message with `dedup_key`, if any.
    pub async fn message_by_dedup_key(
        &self,
        dedup_key: &str,
    ) -> Result<Option<MessageRecord>, JournalError> {
        on_each!(self, j => j.message_by_dedup_key(dedup_key).await)
    }

    /// How many messages are stored, and how many of them are dead letters.
    pub async fn message_counts(&self) -> Result<(u64, u64), JournalError> {
        on_each!(self, j => j.message_counts().await)
    }

    /// The revisions recorded for `order`, oldest first.
    pub async fn revisions(&self, order: &OrderId) -> Result<Vec<RevisionRecord>, JournalError> {
        on_each!(self, j => j.revisions(order).await)
    }
}

impl From<SqliteJournal> for AnyJournal {
    fn from(j: SqliteJournal) -> Self {
        AnyJournal::Sqlite(j)
    }
}

impl From<PostgresJournal> for AnyJournal {
    fn from(j: PostgresJournal) -> Self {
        AnyJournal::Postgres(j)
    }
}

#[async_trait]
impl Journal for AnyJournal {
    async fn begin(&self, intent: &Intent, now: Timestamp) -> Result<Begin, JournalError> {
        on_each!(self, j => j.begin(intent, now).await)
    }

    async fn mark_sent(&self, key: &IdempotencyKey, now: Timestamp) -> Result<(), JournalError> {
        on_each!(self, j => j.mark_sent(key, now).await)
    }

    async fn record_outcome(
        &self,
        key: &IdempotencyKey,
        outcome: &Outcome,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        on_each!(self, j => j.record_outcome(key, outcome, now).await)
    }

    async fn reconcile(
        &self,
        key: &IdempotencyKey,
        state: AmendmentState,
        message_id: i64,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        on_each!(self, j => j.reconcile(key, state, message_id, note, now).await)
    }

    async fn confirm_by_read(
        &self,
        key: &IdempotencyKey,
        state: AmendmentState,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        on_each!(self, j => j.confirm_by_read(key, state, note, now).await)
    }

    async fn applied_revisions(&self, shop: &ShopId, order: &OrderId) -> Result<u32, JournalError> {
        on_each!(self, j => j.applied_revisions(shop, order).await)
    }

    async fn amendments(
        &self,
        order: Option<&OrderId>,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        on_each!(self, j => j.amendments(order).await)
    }

    async fn record_message(&self, message: &InboundRecord) -> Result<MessageInsert, JournalError> {
        on_each!(self, j => j.record_message(message).await)
    }

    async fn record_decoded_message(
        &self,
        message: &InboundRecord,
        decoding: &MessageDecoding,
    ) -> Result<MessageInsert, JournalError> {
        on_each!(self, j => j.record_decoded_message(message, decoding).await)
    }

    async fn message_decoded(&self, id: i64, order: &OrderId) -> Result<(), JournalError> {
        on_each!(self, j => j.message_decoded(id, order).await)
    }

    async fn dead_letter(&self, id: i64, reason: &str) -> Result<(), JournalError> {
        on_each!(self, j => j.dead_letter(id, reason).await)
    }

    async fn messages(&self, dead_letters_only: bool) -> Result<Vec<MessageRecord>, JournalError> {
        on_each!(self, j => j.messages(dead_letters_only).await)
    }

    async fn messages_for_order(
        &self,
        order: &OrderId,
    ) -> Result<Vec<MessageRecord>, JournalError> {
        on_each!(self, j => j.messages_for_order(order).await)
    }

    async fn checkpoint(&self) -> Result<(), JournalError> {
        on_each!(self, j => j.checkpoint().await)
    }
}
