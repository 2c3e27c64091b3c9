//! The journal's reads, written once for both engines over a connection pool.

use order_domain::{AmendmentRecord, AmendmentState, JournalError, MessageRecord, OrderId};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use crate::rows::{AmendmentRow, MessageRow, RevisionRow, page_query, records, sql, state_counts};
use crate::sqlite::{RevisionRecord, storage};

/// The reads of a journal on `DB`, over its pool.
pub(crate) struct Reads<'p, DB: Database>(pub(crate) &'p Pool<DB>);

impl<DB> Reads<'_, DB>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    AmendmentRow: for<'r> FromRow<'r, DB::Row>,
    MessageRow: for<'r> FromRow<'r, DB::Row>,
    RevisionRow: for<'r> FromRow<'r, DB::Row>,
    (String, i64): for<'r> FromRow<'r, DB::Row>,
    (i64, i64): for<'r> FromRow<'r, DB::Row>,
{
    /// The amendments `query` selects, of `order` (its `$1`) when given.
    pub(crate) async fn amendments(
        &self,
        query: &'static str,
        order: Option<&OrderId>,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        let mut q = sqlx::query_as::<DB, AmendmentRow>(query);
        if let Some(order) = order {
            q = q.bind(order.as_str());
        }
        let rows = q
            .fetch_all(self.0)
            .await
            .map_err(|e| storage("cannot list amendments", e))?;
        records(rows)
    }

    /// Every amendment, or those of `order`, newest first.
    pub(crate) async fn amendments_of(
        &self,
        order: Option<&OrderId>,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        match order {
            Some(order) => self.amendments(sql::AMENDMENTS_OF_ORDER, Some(order)).await,
            None => self.amendments(sql::AMENDMENTS, None).await,
        }
    }

    /// The messages `query` selects, of `order` (its `$1`) when given.
    pub(crate) async fn messages(
        &self,
        query: &'static str,
        order: Option<&OrderId>,
    ) -> Result<Vec<MessageRecord>, JournalError> {
        let mut q = sqlx::query_as::<DB, MessageRow>(query);
        if let Some(order) = order {
            q = q.bind(order.as_str());
        }
        let rows = q
            .fetch_all(self.0)
            .await
            .map_err(|e| storage("cannot list messages", e))?;
        records(rows)
    }

    /// Every message (or the dead letters only), newest first.
    pub(crate) async fn all_messages(
        &self,
        dead_letters_only: bool,
    ) -> Result<Vec<MessageRecord>, JournalError> {
        let query = if dead_letters_only {
            sql::DEAD_LETTERS
        } else {
            sql::MESSAGES
        };
        self.messages(query, None).await
    }

    /// One keyset page of amendments (see `SqliteJournal::amendments_page`).
    pub(crate) async fn amendments_page(
        &self,
        order: Option<&OrderId>,
        state: Option<AmendmentState>,
        after: Option<&AmendmentRecord>,
        limit: u32,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        let mut q = page_query::<DB>(order, state, after, limit);
        let rows = q
            .build_query_as::<AmendmentRow>()
            .fetch_all(self.0)
            .await
            .map_err(|e| storage("cannot list amendments", e))?;
        records(rows)
    }

    /// How many amendments are in each state; every state, zeros included.
    pub(crate) async fn counts_by_state(&self) -> Result<Vec<(AmendmentState, u64)>, JournalError> {
        let rows = sqlx::query_as::<DB, (String, i64)>(sql::COUNTS_BY_STATE)
            .fetch_all(self.0)
            .await
            .map_err(|e| storage("cannot count amendments", e))?;
        state_counts(rows)
    }

    /// The stored message with `dedup_key`, if any.
    pub(crate) async fn message_by_dedup_key(
        &self,
        dedup_key: &str,
    ) -> Result<Option<MessageRecord>, JournalError> {
        sqlx::query_as::<DB, MessageRow>(sql::MESSAGE_BY_DEDUP_KEY)
            .bind(dedup_key)
            .fetch_optional(self.0)
            .await
            .map_err(|e| storage("cannot read a message", e))?
            .map(MessageRecord::try_from)
            .transpose()
    }

    /// How many messages are stored, and how many of them are dead letters.
    pub(crate) async fn message_counts(&self) -> Result<(u64, u64), JournalError> {
        let (total, dead) = sqlx::query_as::<DB, (i64, i64)>(sql::MESSAGE_COUNTS)
            .fetch_one(self.0)
            .await
            .map_err(|e| storage("cannot count messages", e))?;
        Ok((
            u64::try_from(total).unwrap_or(0),
            u64::try_from(dead).unwrap_or(0),
        ))
    }

    /// The revisions recorded for `order`, oldest first.
    pub(crate) async fn revisions(
        &self,
        order: &OrderId,
    ) -> Result<Vec<RevisionRecord>, JournalError> {
        let rows = sqlx::query_as::<DB, RevisionRow>(sql::REVISIONS)
            .bind(order.as_str())
            .fetch_all(self.0)
            .await
            .map_err(|e| storage("cannot list revisions", e))?;
        records(rows)
    }
}
