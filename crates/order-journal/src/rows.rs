//! Typed rows (`#[derive(sqlx::FromRow)]`), shared by both backends: the columns a query
//! reads, and their conversion into the port's records, written once.

use order_domain::{
    AmendmentRecord, AmendmentState, IdempotencyKey, InboundRecord, Intent, JournalError,
    MessageRecord, OrderId, Outcome, ShopId, Timestamp,
};
use serde::de::DeserializeOwned;

use crate::sqlite::RevisionRecord;

/// The columns [`AmendmentRow`] reads, from `amendments` aliased as `a`.
macro_rules! amendment_columns {
    () => {
        "a.idempotency_key, a.shop, a.order_snapshot, a.amendment, a.plan, a.rejection, \
         a.state, a.outcome, a.note, a.recorded_at, a.updated_at"
    };
}

/// A record that cannot be read back as the port's type.
pub(crate) fn corrupt(key: &str, reason: impl std::fmt::Display) -> JournalError {
    JournalError::Corrupt {
        key: key.to_owned(),
        reason: reason.to_string(),
    }
}

fn from_json<T: DeserializeOwned>(key: &str, what: &str, text: &str) -> Result<T, JournalError> {
    serde_json::from_str(text).map_err(|e| corrupt(key, format!("{what}: {e}")))
}

/// A stored state name as the port's state.
pub(crate) fn parse_state(key: &str, text: &str) -> Result<AmendmentState, JournalError> {
    AmendmentState::ALL
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| corrupt(key, format!("unknown state `{text}`")))
}

/// One row of `amendments` ([`amendment_columns!`]).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AmendmentRow {
    idempotency_key: String,
    shop: String,
    order_snapshot: String,
    amendment: String,
    plan: Option<String>,
    rejection: Option<String>,
    state: String,
    outcome: Option<String>,
    note: Option<String>,
    recorded_at: i64,
    updated_at: i64,
}

impl TryFrom<AmendmentRow> for AmendmentRecord {
    type Error = JournalError;

    fn try_from(row: AmendmentRow) -> Result<Self, JournalError> {
        let k = row.idempotency_key.as_str();
        let key = IdempotencyKey::new(k).map_err(|e| corrupt(k, e))?;
        let shop = ShopId::new(row.shop).map_err(|e| corrupt(k, e))?;
        let order = from_json(k, "order snapshot", &row.order_snapshot)?;
        let amendment = from_json(k, "amendment", &row.amendment)?;
        let plan = match (row.plan, row.rejection) {
            (Some(plan), None) => Ok(from_json(k, "plan", &plan)?),
            (None, Some(rejection)) => Err(from_json(k, "rejection", &rejection)?),
            _ => return Err(corrupt(k, "needs exactly one of plan and rejection")),
        };
        let state = parse_state(k, &row.state)?;
        let outcome = row
            .outcome
            .map(|o| from_json::<Outcome>(k, "outcome", &o))
            .transpose()?;
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
            note: row.note,
            recorded_at: Timestamp::from_millis(row.recorded_at),
            updated_at: Timestamp::from_millis(row.updated_at),
        })
    }
}

/// One row of `messages`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MessageRow {
    id: i64,
    dedup_key: String,
    source: String,
    raw: Vec<u8>,
    received_at: i64,
    order_id: Option<String>,
    dead_letter_reason: Option<String>,
}

impl TryFrom<MessageRow> for MessageRecord {
    type Error = JournalError;

    fn try_from(row: MessageRow) -> Result<Self, JournalError> {
        let id = row.id;
        let order = row
            .order_id
            .map(|o| OrderId::new(o).map_err(|e| corrupt(&format!("message {id}"), e)))
            .transpose()?;
        Ok(MessageRecord {
            id,
            record: InboundRecord {
                dedup_key: row.dedup_key,
                source: row.source,
                raw: row.raw,
                received_at: Timestamp::from_millis(row.received_at),
            },
            order,
            dead_letter_reason: row.dead_letter_reason,
        })
    }
}

/// One row of `revisions`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RevisionRow {
    shop: String,
    order_id: String,
    revision: i64,
    idempotency_key: String,
    applied_at: i64,
}

impl TryFrom<RevisionRow> for RevisionRecord {
    type Error = JournalError;

    fn try_from(row: RevisionRow) -> Result<Self, JournalError> {
        let k = row.idempotency_key.as_str();
        Ok(RevisionRecord {
            shop: ShopId::new(row.shop).map_err(|e| corrupt(k, e))?,
            order: OrderId::new(row.order_id).map_err(|e| corrupt(k, e))?,
            revision: u32::try_from(row.revision).map_err(|e| corrupt(k, e))?,
            applied_at: Timestamp::from_millis(row.applied_at),
            key: IdempotencyKey::new(k).map_err(|e| corrupt(k, e))?,
        })
    }
}

/// Rows converted into records, the first failure stopping.
pub(crate) fn records<R, T>(rows: Vec<R>) -> Result<Vec<T>, JournalError>
where
    T: TryFrom<R, Error = JournalError>,
{
    rows.into_iter().map(T::try_from).collect()
}

/// What `begin` reads back when the key is recorded already.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RecordedIntent {
    pub(crate) state: String,
    pub(crate) shop: String,
    pub(crate) order_id: String,
    pub(crate) amendment: String,
}

/// What `record_outcome` reads back when the update changed nothing.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RecordedOutcome {
    pub(crate) state: String,
    pub(crate) outcome: Option<String>,
}

/// Counts per state, every state in the port's order, zeros included.
pub(crate) fn state_counts(
    rows: Vec<(String, i64)>,
) -> Result<Vec<(AmendmentState, u64)>, JournalError> {
    let mut counts: Vec<(AmendmentState, u64)> = AmendmentState::ALL.map(|s| (s, 0)).to_vec();
    for (text, n) in rows {
        let state = parse_state("(count)", &text)?;
        if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == state) {
            slot.1 = u64::try_from(n).unwrap_or(0);
        }
    }
    Ok(counts)
}

/// The query of one page of amendments, newest first (see `amendments_page`): only the
/// conditions asked for, so that the database picks the index that serves them; every value a
/// bound parameter.
pub(crate) fn page_query<DB>(
    order: Option<&OrderId>,
    state: Option<AmendmentState>,
    after: Option<&AmendmentRecord>,
    limit: u32,
) -> sqlx::QueryBuilder<DB>
where
    DB: sqlx::Database,
    DB::Arguments: Default,
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut q = sqlx::QueryBuilder::new(concat!(
        "SELECT ",
        amendment_columns!(),
        " FROM amendments a WHERE 1 = 1"
    ));
    if let Some(order) = order {
        q.push(" AND a.order_id = ")
            .push_bind(order.as_str().to_owned());
    }
    if let Some(state) = state {
        q.push(" AND a.state = ")
            .push_bind(state.as_str().to_owned());
    }
    if let Some(after) = after {
        let t = after.recorded_at.as_millis();
        q.push(" AND (a.recorded_at < ")
            .push_bind(t)
            .push(" OR (a.recorded_at = ")
            .push_bind(t)
            .push(" AND a.idempotency_key < ")
            .push_bind(after.intent.key.as_str().to_owned())
            .push("))");
    }
    q.push(" ORDER BY a.recorded_at DESC, a.idempotency_key DESC LIMIT ")
        .push_bind(i64::from(limit));
    q
}

/// The read queries, in SQL both backends accept (`$n` placeholders), written once.
pub(crate) mod sql {
    /// Every amendment, newest first.
    pub(crate) const AMENDMENTS: &str = concat!(
        "SELECT ",
        amendment_columns!(),
        " FROM amendments a ORDER BY a.recorded_at DESC, a.idempotency_key DESC"
    );
    /// The amendments of order `$1`, newest first.
    pub(crate) const AMENDMENTS_OF_ORDER: &str = concat!(
        "SELECT ",
        amendment_columns!(),
        " FROM amendments a WHERE a.order_id = $1",
        " ORDER BY a.recorded_at DESC, a.idempotency_key DESC"
    );
    /// The reconciliation backlog, oldest first.
    pub(crate) const UNCONFIRMED_ACKNOWLEDGED: &str = concat!(
        "SELECT ",
        amendment_columns!(),
        " FROM amendments a WHERE a.state = 'acknowledged'",
        " ORDER BY a.recorded_at ASC, a.idempotency_key ASC"
    );
    /// The applied amendments of order `$1`, latest revision first.
    pub(crate) const ACKNOWLEDGED_FOR_ORDER: &str = concat!(
        "SELECT ",
        amendment_columns!(),
        " FROM amendments a",
        " LEFT JOIN revisions r ON r.shop = a.shop AND r.order_id = a.order_id",
        " AND r.idempotency_key = a.idempotency_key",
        " WHERE a.order_id = $1",
        " AND a.state IN ('acknowledged', 'confirmed', 'flagged')",
        " ORDER BY COALESCE(r.revision, 0) DESC, a.recorded_at DESC,",
        " a.idempotency_key DESC"
    );
    /// `(state, count)` for every state present.
    pub(crate) const COUNTS_BY_STATE: &str =
        "SELECT state, COUNT(*) AS n FROM amendments GROUP BY state";
    /// Every message, newest first.
    pub(crate) const MESSAGES: &str = "SELECT id, dedup_key, source, raw, received_at, order_id, \
         dead_letter_reason FROM messages ORDER BY received_at DESC, id DESC";
    /// The dead letters, newest first.
    pub(crate) const DEAD_LETTERS: &str = "SELECT id, dedup_key, source, raw, received_at, \
         order_id, dead_letter_reason FROM messages WHERE dead_letter_reason IS NOT NULL \
         ORDER BY received_at DESC, id DESC";
    /// The messages of order `$1`, newest first.
    pub(crate) const MESSAGES_FOR_ORDER: &str = "SELECT id, dedup_key, source, raw, \
         received_at, order_id, dead_letter_reason FROM messages WHERE order_id = $1 \
         ORDER BY received_at DESC, id DESC";
    /// The message with dedup key `$1`.
    pub(crate) const MESSAGE_BY_DEDUP_KEY: &str = "SELECT id, dedup_key, source, raw, \
         received_at, order_id, dead_letter_reason FROM messages WHERE dedup_key = $1";
    /// `(total, dead letters)`.
    pub(crate) const MESSAGE_COUNTS: &str =
        "SELECT COUNT(*) AS total, COUNT(dead_letter_reason) AS dead FROM messages";
    /// The revisions of order `$1`, oldest first.
    pub(crate) const REVISIONS: &str = "SELECT shop, order_id, revision, idempotency_key, \
         applied_at FROM revisions WHERE order_id = $1 ORDER BY shop ASC, revision ASC";

    // The writes.

    /// Records an intent as planned unless its key is recorded (`$9`: now); returns the key
    /// when it did.
    pub(crate) const INSERT_AMENDMENT: &str = "INSERT INTO amendments (idempotency_key, shop, \
         order_id, amendment, order_snapshot, plan, rejection, next_revision, state, \
         recorded_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'planned', $9, $9) \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key";
    /// What key `$1` is recorded for ([`super::RecordedIntent`]).
    pub(crate) const RECORDED_INTENT: &str =
        "SELECT state, shop, order_id, amendment FROM amendments WHERE idempotency_key = $1";
    /// Marks `$2` sent at `$1` unless it is finished; returns the key when it did.
    pub(crate) const MARK_SENT: &str = "UPDATE amendments SET state = 'sent', outcome = NULL, \
         updated_at = $1 WHERE idempotency_key = $2 \
         AND state IN ('planned', 'sent', 'undelivered') RETURNING idempotency_key";
    /// The state of `$1`.
    pub(crate) const STATE_OF: &str = "SELECT state FROM amendments WHERE idempotency_key = $1";
    /// Records the outcome of `$5` unless it has a final one; returns its shop and order.
    pub(crate) const RECORD_OUTCOME: &str = "UPDATE amendments SET state = $1, outcome = $2, \
         platform_reply = $3, updated_at = $4 WHERE idempotency_key = $5 \
         AND state IN ('planned', 'sent', 'undelivered') RETURNING shop, order_id";
    /// The state and outcome of `$1` ([`super::RecordedOutcome`]).
    pub(crate) const RECORDED_OUTCOME: &str =
        "SELECT state, outcome FROM amendments WHERE idempotency_key = $1";
    /// Appends the revision acknowledged amendment `$1` created, applied at `$2`: the one
    /// planned, or the one after the last recorded if another amendment of the same snapshot
    /// got there first.
    pub(crate) const APPEND_REVISION: &str = "INSERT INTO revisions (shop, order_id, revision, \
         idempotency_key, applied_at) \
         SELECT a.shop, a.order_id, \
         CASE WHEN COALESCE(a.next_revision, 0) > (SELECT COALESCE(MAX(r.revision), 0) \
           FROM revisions r WHERE r.shop = a.shop AND r.order_id = a.order_id) \
         THEN a.next_revision \
         ELSE (SELECT COALESCE(MAX(r.revision), 0) + 1 \
           FROM revisions r WHERE r.shop = a.shop AND r.order_id = a.order_id) END, \
         a.idempotency_key, $2 \
         FROM amendments a WHERE a.idempotency_key = $1";
    /// Whether message `$1` exists.
    pub(crate) const MESSAGE_EXISTS: &str = "SELECT id FROM messages WHERE id = $1";
    /// Sets the reconciled state `$1` and note `$2` of `$4` at `$3`.
    pub(crate) const SET_RECONCILED: &str =
        "UPDATE amendments SET state = $1, note = $2, updated_at = $3 WHERE idempotency_key = $4";
    /// Keeps a reconciliation by a message.
    pub(crate) const INSERT_RECONCILIATION: &str = "INSERT INTO reconciliations \
         (idempotency_key, message_id, state, note, at) VALUES ($1, $2, $3, $4, $5)";
    /// Stores a message (`$1`..`$4`) with its decoded order `$5` or dead-letter reason `$6`
    /// (either may be null) unless its dedup key is stored; returns the new id.
    pub(crate) const INSERT_MESSAGE: &str = "INSERT INTO messages (dedup_key, source, raw, \
         received_at, order_id, dead_letter_reason) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (dedup_key) DO NOTHING RETURNING id";
    /// The id of the message with dedup key `$1`.
    pub(crate) const MESSAGE_ID: &str = "SELECT id FROM messages WHERE dedup_key = $1";
    /// Notes the order `$1` of message `$2`; returns its id when it exists.
    pub(crate) const MESSAGE_DECODED: &str =
        "UPDATE messages SET order_id = $1 WHERE id = $2 RETURNING id";
    /// Dead-letters message `$2` with reason `$1`; returns its id when it exists.
    pub(crate) const DEAD_LETTER: &str =
        "UPDATE messages SET dead_letter_reason = $1 WHERE id = $2 RETURNING id";
}
