//! Whether the order may change at all: status, trade type, revision count, version token.

use crate::amendment::Amendment;
use crate::ids::VersionToken;
use crate::order::{Order, OrderStatus};
use crate::policy::Policy;

use super::rejection::{Collector, ViolationCode};

/// The order's status, trade type and revision count against the policy.
pub(super) fn check(order: &Order, policy: &Policy, c: &mut Collector) {
    let status_ok = match &policy.allowed_statuses {
        Some(allowed) => allowed.contains(order.status()),
        None => *order.status() != OrderStatus::Closed,
    };
    if !status_ok {
        c.push(
            "order.status",
            ViolationCode::StatusNotAllowed,
            format!(
                "{} does not change orders that are {}",
                policy.name,
                order.status()
            ),
        );
    }
    if let Some(types) = &policy.allowed_trade_types {
        match order.trade_type() {
            None => c.push(
                "order.trade_type",
                ViolationCode::TradeTypeMissing,
                format!(
                    "{} only changes some trade types; the order snapshot has none",
                    policy.name
                ),
            ),
            Some(t) if !types.iter().any(|a| a == t) => c.push(
                "order.trade_type",
                ViolationCode::TradeTypeNotAllowed,
                format!(
                    "{} only changes trade types {}; this order is type {t}",
                    policy.name,
                    types.join(", ")
                ),
            ),
            Some(_) => {}
        }
    }
    if let Some(limit) = policy.revision_limit
        && order.revision().count >= limit
    {
        c.push(
            "revision",
            ViolationCode::RevisionLimitReached,
            format!(
                "the order was already changed {limit} times, the most {} allows",
                policy.name
            ),
        );
    }
}

/// The version token to carry: the order's when known. A different expected version means the
/// caller planned against an older state.
pub(super) fn version(
    order: &Order,
    amendment: &Amendment,
    policy: &Policy,
    c: &mut Collector,
) -> Option<VersionToken> {
    let version = match (&amendment.version, &order.revision().version) {
        (Some(expected), Some(current)) if expected != current => {
            c.push(
                "version",
                ViolationCode::VersionStale,
                format!("the order is at version {current}, not {expected}: read it again"),
            );
            Some(current.clone())
        }
        (_, Some(current)) => Some(current.clone()),
        (expected, None) => expected.clone(),
    };
    if policy.version_token_required && version.is_none() {
        c.push(
            "version",
            ViolationCode::VersionMissing,
            "the platform needs the order's version",
        );
    }
    version
}
