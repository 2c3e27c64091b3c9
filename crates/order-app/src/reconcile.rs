//! Reconciliation: does an inbound platform message confirm or contradict the amendments the
//! platform acknowledged for its order?
//!
//! The comparison is pure ([`compare`], [`decide`]) and separate from the journal IO
//! ([`reconcile_event`]):
//!
//! - Only **price targets** are compared: each line the plan *named* (its target line total)
//!   and the freight when the plan set it. Lines the plan did not name are ignored. A named line
//!   the message does not carry is a contradiction. Amounts are compared as exact
//!   [`Money`] values (`9.8` equals `9.80`; `9.80 CNY` never equals `9.80 USD`).
//! - Only amendments in state [`AmendmentState::Acknowledged`] are decided, so each one is
//!   reconciled once: confirmed when every compared target matches, flagged with a note naming
//!   every contradiction (`line X: expected 9.80, message says 10.00`) otherwise.
//! - **Superseded targets are not compared.** Amendments are considered newest first; a line
//!   (or the freight) that a newer acknowledged, confirmed or flagged amendment of the same
//!   order also set is that newer amendment's business, because the message shows the latest
//!   price. An amendment left with nothing to compare stays acknowledged.
//! - **A message older than the amendment decides nothing.** When the message says when it was
//!   sent and that is before the amendment was recorded, it describes the order before the
//!   change and is not compared with it.

use std::collections::BTreeSet;
use std::fmt;

use order_domain::{
    AmendmentRecord, AmendmentState, IdempotencyKey, InboundEvent, Journal, JournalError, LineId,
    Money, Order, Plan, Timestamp,
};

/// What a compared target is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A line's total.
    Line(LineId),
    /// The freight.
    Freight,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Line(id) => write!(f, "line {id}"),
            Target::Freight => f.write_str("freight"),
        }
    }
}

/// One target the message contradicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The line or the freight.
    pub target: Target,
    /// What the amendment set.
    pub expected: Money,
    /// What the message says; `None` when the message does not carry the line.
    pub found: Option<Money>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.found {
            Some(found) if found.currency() != self.expected.currency() => write!(
                f,
                "{}: expected {} {}, message says {} {}",
                self.target,
                self.expected,
                self.expected.currency(),
                found,
                found.currency()
            ),
            Some(found) => write!(
                f,
                "{}: expected {}, message says {found}",
                self.target, self.expected
            ),
            None => write!(
                f,
                "{}: expected {}, message has no such line",
                self.target, self.expected
            ),
        }
    }
}

/// The result of comparing one plan with a message's order snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Comparison {
    /// How many targets were compared (matched or not).
    pub compared: usize,
    /// The targets the message contradicts, in plan order (lines, then freight).
    pub mismatches: Vec<Mismatch>,
}

impl Comparison {
    /// The reconciliation note: every mismatch, joined with `; `.
    pub fn note(&self) -> Option<String> {
        if self.mismatches.is_empty() {
            return None;
        }
        Some(
            self.mismatches
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// Compares a plan's price targets with `snapshot`: every named line's target total with the
/// snapshot's current total of the line of that id, and the freight target (when the plan set
/// one) with the snapshot's current freight. Lines in `skip_lines`, and the freight when
/// `skip_freight`, are not compared.
pub fn compare(
    plan: &Plan,
    snapshot: &Order,
    skip_lines: &BTreeSet<LineId>,
    skip_freight: bool,
) -> Comparison {
    let mut c = Comparison::default();
    for line in plan.named_lines() {
        if skip_lines.contains(line.line()) {
            continue;
        }
        c.compared += 1;
        let found = snapshot.line(line.line()).map(|l| l.current_total());
        if found != Some(line.target()) {
            c.mismatches.push(Mismatch {
                target: Target::Line(line.line().clone()),
                expected: line.target(),
                found,
            });
        }
    }
    if let Some(freight) = plan.freight()
        && !skip_freight
    {
        c.compared += 1;
        let found = snapshot.freight_current();
        if found != freight.target() {
            c.mismatches.push(Mismatch {
                target: Target::Freight,
                expected: freight.target(),
                found: Some(found),
            });
        }
    }
    c
}

/// Why an acknowledged amendment was left as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Its plan sets no line price or freight (only other parts), so prices cannot confirm it.
    NothingComparable,
    /// Every price it set was set again by a newer amendment of the order.
    Superseded,
    /// The message was sent before the amendment was recorded.
    MessageIsOlder,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Skip::NothingComparable => "it sets no line price or freight",
            Skip::Superseded => "every price it set was set again by a newer amendment",
            Skip::MessageIsOlder => "the message was sent before the amendment was recorded",
        })
    }
}

/// What reconciliation decided for one acknowledged amendment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every compared target matches.
    Confirmed,
    /// The message contradicts it; the note names every mismatch.
    Flagged(String),
    /// Left acknowledged.
    Skipped(Skip),
}

/// A verdict for one amendment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The amendment.
    pub key: IdempotencyKey,
    /// What was decided.
    pub verdict: Verdict,
}

/// Decides every acknowledged amendment among `amendments` (records of the message's order,
/// **newest first**; other states are only used to know what supersedes what) against the
/// message's order snapshot. Pure.
pub fn decide(
    snapshot: &Order,
    sent_at: Option<Timestamp>,
    amendments: &[AmendmentRecord],
) -> Vec<Decision> {
    let mut newer_lines: BTreeSet<LineId> = BTreeSet::new();
    let mut newer_freight = false;
    let mut out = Vec::new();
    for r in amendments {
        if r.intent.order.id() != snapshot.id() {
            continue;
        }
        if !matches!(
            r.state,
            AmendmentState::Acknowledged | AmendmentState::Confirmed | AmendmentState::Flagged
        ) {
            continue;
        }
        let Ok(plan) = &r.intent.plan else {
            continue;
        };
        if r.state == AmendmentState::Acknowledged {
            let verdict = if sent_at.is_some_and(|s| s < r.recorded_at) {
                Verdict::Skipped(Skip::MessageIsOlder)
            } else {
                let c = compare(plan, snapshot, &newer_lines, newer_freight);
                match c.note() {
                    Some(note) => Verdict::Flagged(note),
                    None if c.compared > 0 => Verdict::Confirmed,
                    None if plan.named_lines().next().is_none() && plan.freight().is_none() => {
                        Verdict::Skipped(Skip::NothingComparable)
                    }
                    None => Verdict::Skipped(Skip::Superseded),
                }
            };
            out.push(Decision {
                key: r.intent.key.clone(),
                verdict,
            });
        }
        newer_lines.extend(plan.named_lines().map(|l| l.line().clone()));
        newer_freight |= plan.freight().is_some();
    }
    out
}

/// Reconciles a decoded message (stored as `message_id`) with the journal: reads the amendments
/// of its order, [`decide`]s, and records every confirmation and flag. Returns the decisions
/// (skipped ones included). An amendment that another receiver reconciled meanwhile
/// ([`JournalError::Conflict`]) is left as that one recorded it; any other journal failure is
/// returned after the decisions before it were recorded.
pub async fn reconcile_event(
    journal: &dyn Journal,
    message_id: i64,
    event: &InboundEvent,
    now: Timestamp,
) -> Result<Vec<Decision>, JournalError> {
    let order = event.order.id();
    let records = journal.amendments(Some(order)).await?;
    let decisions = decide(&event.order, event.sent_at, &records);
    for d in &decisions {
        let (state, note) = match &d.verdict {
            Verdict::Confirmed => (AmendmentState::Confirmed, None),
            Verdict::Flagged(note) => (AmendmentState::Flagged, Some(note.as_str())),
            Verdict::Skipped(why) => {
                tracing::info!(key = %d.key, order = %order, message_id, "not reconciled: {why}");
                continue;
            }
        };
        match journal
            .reconcile(&d.key, state, message_id, note, now)
            .await
        {
            Ok(()) => {
                if state == AmendmentState::Flagged {
                    tracing::warn!(key = %d.key, order = %order, message_id, note, "amendment flagged");
                } else {
                    tracing::info!(key = %d.key, order = %order, message_id, "amendment confirmed");
                }
            }
            Err(JournalError::Conflict { key, reason }) => {
                tracing::warn!(%key, message_id, "not reconciled: {reason}");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(decisions)
}

/// Amendments the platform acknowledged that no message confirmed or flagged yet, oldest
/// first: the reconciliation backlog `ordermod journal` lists.
pub async fn unconfirmed(journal: &dyn Journal) -> Result<Vec<AmendmentRecord>, JournalError> {
    let mut v: Vec<AmendmentRecord> = journal
        .amendments(None)
        .await?
        .into_iter()
        .filter(|r| r.state == AmendmentState::Acknowledged)
        .collect();
    v.sort_by(|a, b| {
        (a.recorded_at, a.intent.key.as_str()).cmp(&(b.recorded_at, b.intent.key.as_str()))
    });
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use order_domain::{Amendment, Currency, Intent, ShopId, plan};

    const ORDER: &str = "58218860983545941";
    const L1: &str = "128403042259997715";
    const L2: &str = "58218860985545944";

    fn cny(s: &str) -> Money {
        Money::parse(s, Currency::Cny).unwrap()
    }

    fn order(l1: &str, l2: &str, freight: &str) -> Order {
        serde_json::from_str(&format!(
            r#"{{ "id": "{ORDER}", "status": "awaiting_payment", "currency": "CNY", "trade_type": "6",
                 "lines": [
                   {{ "id": "{L1}", "original_total": "{l1}" }},
                   {{ "id": "{L2}", "original_total": "{l2}" }}
                 ],
                 "freight": {{ "original": "{freight}" }} }}"#
        ))
        .unwrap()
    }

    /// An acknowledged record of `amendment` against the order before the change.
    fn record(key: &str, amendment: &str, state: AmendmentState, at: i64) -> AmendmentRecord {
        let before = order("12.00", "0.10", "8");
        let amendment: Amendment = serde_json::from_str(amendment).unwrap();
        let plan = plan(&before, &amendment, &transport_vvtool::policy());
        assert!(plan.is_ok(), "{plan:?}");
        AmendmentRecord {
            intent: Intent {
                key: IdempotencyKey::new(key).unwrap(),
                shop: ShopId::new("vv-main").unwrap(),
                order: before,
                amendment,
                plan,
            },
            state,
            outcome: None,
            note: None,
            recorded_at: Timestamp::from_millis(at),
            updated_at: Timestamp::from_millis(at),
        }
    }

    fn plan_of(r: &AmendmentRecord) -> &Plan {
        r.intent.plan.as_ref().unwrap()
    }

    #[test]
    fn matching_targets_confirm_and_unnamed_lines_are_ignored() {
        let r = record(
            "k1",
            &format!(r#"{{ "lines": {{ "{L1}": "0.3" }}, "freight": "6" }}"#),
            AmendmentState::Acknowledged,
            1,
        );
        // L2 differs from the plan's snapshot (0.10), but the plan did not name it.
        let msg = order("0.30", "0.05", "6.00");
        let c = compare(plan_of(&r), &msg, &BTreeSet::new(), false);
        assert_eq!(c.compared, 2);
        assert!(c.mismatches.is_empty(), "{c:?}");
        let d = decide(&msg, Some(Timestamp::from_millis(2)), &[r]);
        assert_eq!(d[0].verdict, Verdict::Confirmed);
    }

    #[test]
    fn a_contradiction_flags_with_a_note_naming_line_expected_and_found() {
        let r = record(
            "k1",
            &format!(r#"{{ "lines": {{ "{L1}": "9.80" }}, "freight": "6" }}"#),
            AmendmentState::Acknowledged,
            1,
        );
        let msg = order("10.00", "0.10", "0");
        let d = decide(&msg, None, &[r]);
        assert_eq!(
            d[0].verdict,
            Verdict::Flagged(format!(
                "line {L1}: expected 9.80, message says 10.00; freight: expected 6.00, message says 0.00"
            ))
        );
    }

    #[test]
    fn a_named_line_missing_from_the_message_is_a_contradiction() {
        let r = record(
            "k1",
            &format!(r#"{{ "lines": {{ "{L2}": "0.05" }} }}"#),
            AmendmentState::Acknowledged,
            1,
        );
        let msg: Order = serde_json::from_str(&format!(
            r#"{{ "id": "{ORDER}", "status": "awaiting_payment", "currency": "CNY",
                 "lines": [ {{ "id": "{L1}", "original_total": "0.30" }} ],
                 "freight": {{ "original": "8" }} }}"#
        ))
        .unwrap();
        let c = compare(plan_of(&r), &msg, &BTreeSet::new(), false);
        assert_eq!(
            c.mismatches,
            [Mismatch {
                target: Target::Line(LineId::new(L2).unwrap()),
                expected: cny("0.05"),
                found: None
            }]
        );
        assert_eq!(
            c.note().unwrap(),
            format!("line {L2}: expected 0.05, message has no such line")
        );
    }

    #[test]
    fn equality_is_exact_money_not_text() {
        let r = record(
            "k1",
            &format!(r#"{{ "lines": {{ "{L1}": "0.3" }} }}"#),
            AmendmentState::Acknowledged,
            1,
        );
        assert!(
            compare(
                plan_of(&r),
                &order("0.300", "0.10", "8"),
                &BTreeSet::new(),
                false
            )
            .mismatches
            .is_empty()
        );
        let off_by_a_fen = compare(
            plan_of(&r),
            &order("0.31", "0.10", "8"),
            &BTreeSet::new(),
            false,
        );
        assert_eq!(off_by_a_fen.mismatches.len(), 1);
    }

    #[test]
    fn newer_amendments_supersede_older_targets_and_only_acknowledged_ones_are_decided() {
        // Newest first: k3 (confirmed) set L1 again; k2 (acknowledged) set L2; k1 set L1 only.
        let k3 = record(
            "k3",
            &format!(r#"{{ "lines": {{ "{L1}": "0.20" }} }}"#),
            AmendmentState::Confirmed,
            3,
        );
        let k2 = record(
            "k2",
            &format!(r#"{{ "lines": {{ "{L2}": "0.05" }} }}"#),
            AmendmentState::Acknowledged,
            2,
        );
        let k1 = record(
            "k1",
            &format!(r#"{{ "lines": {{ "{L1}": "0.30" }} }}"#),
            AmendmentState::Acknowledged,
            1,
        );
        let msg = order("0.20", "0.05", "8");
        let d = decide(&msg, Some(Timestamp::from_millis(10)), &[k3, k2, k1]);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].key.as_str(), "k2");
        assert_eq!(d[0].verdict, Verdict::Confirmed);
        assert_eq!(d[1].key.as_str(), "k1");
        assert_eq!(d[1].verdict, Verdict::Skipped(Skip::Superseded));
    }

    #[test]
    fn a_message_sent_before_the_amendment_was_recorded_decides_nothing() {
        let r = record(
            "k1",
            &format!(r#"{{ "lines": {{ "{L1}": "9.80" }} }}"#),
            AmendmentState::Acknowledged,
            1_000,
        );
        let msg = order("0.50", "0.10", "8");
        let d = decide(&msg, Some(Timestamp::from_millis(999)), &[r]);
        assert_eq!(d[0].verdict, Verdict::Skipped(Skip::MessageIsOlder));
    }

    #[test]
    fn other_orders_and_unsent_states_are_ignored() {
        let mut r = record(
            "k1",
            &format!(r#"{{ "lines": {{ "{L1}": "9.80" }} }}"#),
            AmendmentState::Sent,
            1,
        );
        let msg = order("0.50", "0.10", "8");
        assert!(decide(&msg, None, std::slice::from_ref(&r)).is_empty());
        r.state = AmendmentState::Acknowledged;
        let other: Order = serde_json::from_str(
            r#"{ "id": "1", "status": "awaiting_payment", "currency": "CNY",
                 "lines": [ { "id": "9", "original_total": "1" } ] }"#,
        )
        .unwrap();
        assert!(decide(&other, None, &[r]).is_empty());
    }
}
