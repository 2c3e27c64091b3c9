//! The journal's write operations and their rules, shared by both backends: what each write
//! carries (built once from the port's arguments), what it answers, and the decisions taken
//! on what is recorded (a reused key, a finished amendment, a second outcome). Each backend
//! only runs the SQL.

use order_domain::ports::journal::MessageDecoding;
use order_domain::{
    Amendment, AmendmentState, Begin, IdempotencyKey, InboundRecord, Intent, JournalError,
    MessageInsert, OrderId, Outcome, Timestamp,
};
use serde::Serialize;

use crate::rows::{RecordedIntent, RecordedOutcome, parse_state};
use crate::sqlite::storage;

/// One write operation, with everything it needs owned (it may cross to a writer task).
#[derive(Debug)]
pub(crate) enum Op {
    Begin {
        key: String,
        shop: String,
        order_id: String,
        amendment: String,
        order_snapshot: String,
        plan: Option<String>,
        rejection: Option<String>,
        next_revision: Option<i64>,
        now: i64,
    },
    MarkSent {
        key: String,
        now: i64,
    },
    RecordOutcome {
        key: String,
        state: AmendmentState,
        outcome: String,
        reply: Option<String>,
        now: i64,
    },
    /// By a stored message (`message_id`), or by a read of the order (`None`).
    Reconcile {
        key: String,
        state: AmendmentState,
        message_id: Option<i64>,
        note: Option<String>,
        now: i64,
    },
    RecordMessage {
        dedup_key: String,
        source: String,
        raw: Vec<u8>,
        received_at: i64,
        /// The order it is about, when it was decoded before it was stored.
        order: Option<String>,
        /// Why it could not be decoded, when that was found before it was stored.
        dead_letter_reason: Option<String>,
    },
    MessageDecoded {
        id: i64,
        order: String,
    },
    DeadLetter {
        id: i64,
        reason: String,
    },
}

/// What a write operation answers once its transaction committed.
#[derive(Debug)]
pub(crate) enum Answer {
    Begin(Begin),
    Done,
    Message(MessageInsert),
}

fn to_json<T: Serialize>(what: &str, value: &T) -> Result<String, JournalError> {
    serde_json::to_string(value).map_err(|e| storage(&format!("cannot encode {what}"), e))
}

/// What the platform said, verbatim, for the `platform_reply` column.
fn platform_reply(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Acknowledged(receipt) => Some(receipt.raw_reply.clone()),
        Outcome::Failed(error) | Outcome::StaleResend(error) => Some(error.to_string()),
        Outcome::Rejected(_) | Outcome::ConfirmedByRead(_) => None,
    }
}

impl Op {
    pub(crate) fn begin(intent: &Intent, now: Timestamp) -> Result<Op, JournalError> {
        let (plan, rejection, next_revision) = match &intent.plan {
            Ok(plan) => (
                Some(to_json("the plan", plan)?),
                None,
                Some(i64::from(plan.next_revision())),
            ),
            Err(rejection) => (None, Some(to_json("the rejection", rejection)?), None),
        };
        Ok(Op::Begin {
            key: intent.key.as_str().to_owned(),
            shop: intent.shop.as_str().to_owned(),
            order_id: intent.order.id().as_str().to_owned(),
            amendment: to_json("the amendment", &intent.amendment)?,
            order_snapshot: to_json("the order snapshot", &intent.order)?,
            plan,
            rejection,
            next_revision,
            now: now.as_millis(),
        })
    }

    pub(crate) fn mark_sent(key: &IdempotencyKey, now: Timestamp) -> Op {
        Op::MarkSent {
            key: key.as_str().to_owned(),
            now: now.as_millis(),
        }
    }

    pub(crate) fn record_outcome(
        key: &IdempotencyKey,
        outcome: &Outcome,
        now: Timestamp,
    ) -> Result<Op, JournalError> {
        Ok(Op::RecordOutcome {
            key: key.as_str().to_owned(),
            state: outcome.state(),
            outcome: to_json("the outcome", outcome)?,
            reply: platform_reply(outcome),
            now: now.as_millis(),
        })
    }

    /// A reconciliation by message `message_id`, or by a read of the order (`None`): only to
    /// `confirmed` or `flagged`.
    pub(crate) fn reconcile(
        key: &IdempotencyKey,
        state: AmendmentState,
        message_id: Option<i64>,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<Op, JournalError> {
        if !matches!(state, AmendmentState::Confirmed | AmendmentState::Flagged) {
            let by = if message_id.is_some() {
                "reconciliation confirms"
            } else {
                "a read confirms"
            };
            return Err(JournalError::Conflict {
                key: key.to_string(),
                reason: format!("{by} or flags; it cannot set {state}"),
            });
        }
        Ok(Op::Reconcile {
            key: key.as_str().to_owned(),
            state,
            message_id,
            note: note.map(str::to_owned),
            now: now.as_millis(),
        })
    }

    pub(crate) fn record_message(message: &InboundRecord) -> Op {
        Op::RecordMessage {
            dedup_key: message.dedup_key.clone(),
            source: message.source.clone(),
            raw: message.raw.clone(),
            received_at: message.received_at.as_millis(),
            order: None,
            dead_letter_reason: None,
        }
    }

    /// A message stored with what decoding it gave, in the same row insert.
    pub(crate) fn record_decoded_message(
        message: &InboundRecord,
        decoding: &MessageDecoding,
    ) -> Op {
        let (order, dead_letter_reason) = match decoding {
            MessageDecoding::Order(order) => (Some(order.as_str().to_owned()), None),
            MessageDecoding::DeadLetter(reason) => (None, Some(reason.clone())),
        };
        Op::RecordMessage {
            dedup_key: message.dedup_key.clone(),
            source: message.source.clone(),
            raw: message.raw.clone(),
            received_at: message.received_at.as_millis(),
            order,
            dead_letter_reason,
        }
    }

    pub(crate) fn message_decoded(id: i64, order: &OrderId) -> Op {
        Op::MessageDecoded {
            id,
            order: order.as_str().to_owned(),
        }
    }

    pub(crate) fn dead_letter(id: i64, reason: &str) -> Op {
        Op::DeadLetter {
            id,
            reason: reason.to_owned(),
        }
    }

    /// What the operation does, for error texts.
    pub(crate) fn context(&self) -> &'static str {
        match self {
            Op::Begin { .. } => "cannot record an intent",
            Op::MarkSent { .. } => "cannot mark an amendment sent",
            Op::RecordOutcome { .. } => "cannot record an outcome",
            Op::Reconcile { .. } => "cannot record a reconciliation",
            Op::RecordMessage { .. } => "cannot record a message",
            Op::MessageDecoded { .. } => "cannot note a decoded message",
            Op::DeadLetter { .. } => "cannot dead-letter a message",
        }
    }
}

fn unexpected(answer: &Answer) -> JournalError {
    JournalError::storage_context(format!(
        "the journal writer gave an unexpected answer: {answer:?}"
    ))
}

impl Answer {
    pub(crate) fn into_begin(self) -> Result<Begin, JournalError> {
        match self {
            Answer::Begin(b) => Ok(b),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn into_done(self) -> Result<(), JournalError> {
        match self {
            Answer::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn into_message(self) -> Result<MessageInsert, JournalError> {
        match self {
            Answer::Message(m) => Ok(m),
            other => Err(unexpected(&other)),
        }
    }
}

/// `begin`'s answer for a key already recorded as `recorded`, asked again for `asked` (shop,
/// order id, amendment JSON): `Unfinished` or `Finished` with the recorded state when it is the
/// same amendment, `KeyReused` otherwise.
pub(crate) fn begin_again(
    key: &str,
    recorded: &RecordedIntent,
    asked: (&str, &str, &str),
) -> Result<Begin, JournalError> {
    let state = parse_state(key, &recorded.state)?;
    let same = same_amendment(
        key,
        (&recorded.shop, &recorded.order_id, &recorded.amendment),
        asked,
    )?;
    if !same {
        return Err(JournalError::KeyReused {
            key: key.to_owned(),
            recorded: format!(
                "shop {} order {}: {}",
                recorded.shop, recorded.order_id, recorded.amendment
            ),
        });
    }
    Ok(if state.is_final() {
        Begin::Finished(state)
    } else {
        Begin::Unfinished(state)
    })
}

/// Whether a recorded amendment (shop, order, amendment JSON) is the one asked again: the
/// same shop and order and an equal target (amounts compare by value, so `8.0` and `8.00` are
/// the same target).
fn same_amendment(
    key: &str,
    recorded: (&str, &str, &str),
    asked: (&str, &str, &str),
) -> Result<bool, JournalError> {
    if recorded.0 != asked.0 || recorded.1 != asked.1 {
        return Ok(false);
    }
    if recorded.2 == asked.2 {
        return Ok(true);
    }
    let parse = |text: &str| {
        serde_json::from_str::<Amendment>(text).map_err(|e| JournalError::Corrupt {
            key: key.to_owned(),
            reason: format!("amendment: {e}"),
        })
    };
    Ok(parse(recorded.2)? == parse(asked.2)?)
}

/// `mark_sent` changed nothing: the key is unknown, or its amendment is finished.
pub(crate) fn not_sent(key: &str, recorded: Option<&str>) -> JournalError {
    match recorded.map(|s| parse_state(key, s)) {
        None => JournalError::Missing(key.to_owned()),
        Some(Err(e)) => e,
        Some(Ok(state)) => JournalError::Conflict {
            key: key.to_owned(),
            reason: format!("it is already {state}; a finished amendment is not sent again"),
        },
    }
}

/// `record_outcome` changed nothing (the amendment has an outcome already, or is unknown):
/// the same outcome again is done, a different one is refused.
pub(crate) fn outcome_again(
    key: &str,
    recorded: Option<&RecordedOutcome>,
    outcome: &str,
    state: AmendmentState,
) -> Result<Answer, JournalError> {
    let Some(recorded) = recorded else {
        return Err(JournalError::Missing(key.to_owned()));
    };
    let recorded_state = parse_state(key, &recorded.state)?;
    if recorded.outcome.as_deref() == Some(outcome) {
        // The same outcome again (a resume after a crash between the platform's reply and the
        // caller's next step): already durable, nothing to do.
        return Ok(Answer::Done);
    }
    Err(JournalError::Conflict {
        key: key.to_owned(),
        reason: format!(
            "it is already {recorded_state} with a different outcome; refusing to record {state}"
        ),
    })
}

/// Whether an amendment recorded as `recorded` may be reconciled (acknowledged, confirmed or
/// flagged): `Ok` to go on, or the refusal.
pub(crate) fn may_reconcile(key: &str, recorded: Option<&str>) -> Result<(), JournalError> {
    match recorded.map(|s| parse_state(key, s)).transpose()? {
        None => Err(JournalError::Missing(key.to_owned())),
        Some(
            AmendmentState::Acknowledged | AmendmentState::Confirmed | AmendmentState::Flagged,
        ) => Ok(()),
        Some(recorded) => Err(JournalError::Conflict {
            key: key.to_owned(),
            reason: format!("it is {recorded}; only an acknowledged amendment can be reconciled"),
        }),
    }
}

/// A message update that found the message (`Some`, its id) or not: done, or the message is
/// unknown.
pub(crate) fn done_or_missing_message(
    updated: Option<i64>,
    id: i64,
) -> Result<Answer, JournalError> {
    match updated {
        Some(_) => Ok(Answer::Done),
        None => Err(JournalError::Missing(format!("message {id}"))),
    }
}

/// The dedup key of a message insert (`""` for any other operation).
pub(crate) fn message_key(op: &Op) -> &str {
    match op {
        Op::RecordMessage { dedup_key, .. } => dedup_key,
        _ => "",
    }
}

/// The answers of message inserts `ops` stored by one statement, in order: `inserted` holds
/// the (id, key) rows the statement inserted, `stored_before` the (id, key) of the other keys.
/// The first op of a key the statement inserted is `New`; a later op of the same key, and
/// every op of a key stored before, `Duplicate` with the first id.
pub(crate) fn grouped_message_answers(
    ops: &[&Op],
    inserted: Vec<(i64, String)>,
    stored_before: Vec<(i64, String)>,
) -> Vec<Result<Answer, JournalError>> {
    let mut new: std::collections::HashMap<String, i64> =
        inserted.into_iter().map(|(id, k)| (k, id)).collect();
    let mut first: std::collections::HashMap<String, i64> =
        stored_before.into_iter().map(|(id, k)| (k, id)).collect();
    ops.iter()
        .map(|op| {
            let key = message_key(op);
            if let Some(id) = new.remove(key) {
                first.insert(key.to_owned(), id);
                Ok(Answer::Message(MessageInsert::New(id)))
            } else if let Some(id) = first.get(key) {
                Ok(Answer::Message(MessageInsert::Duplicate(*id)))
            } else {
                Err(JournalError::Missing(format!("message {key}")))
            }
        })
        .collect()
}
