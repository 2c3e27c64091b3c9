//! Prices: each line's and the freight's target, the direction rules, and the totals before
//! and after.

use std::cmp::Ordering;
use std::fmt;

use crate::amendment::Amendment;
use crate::ids::LineId;
use crate::money::{Amount, Money};
use crate::order::{Order, OrderLine};
use crate::policy::{Policy, PriceDirection, UnnamedLines};

use super::output::{FreightPlan, LinePlan};
use super::rejection::{Collector, ViolationCode};

/// The field path `lines[<id>]`, formatted only when a violation names it.
#[derive(Clone, Copy)]
struct LineField<'a>(&'a LineId);

impl fmt::Display for LineField<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lines[{}]", self.0)
    }
}

/// Every open line with its target, in the order's order. Empty when the amendment sets no
/// line prices, unless the policy restates unnamed lines and some line's current total differs
/// from its original: a price change would otherwise undo that line's earlier change. Each
/// named line is checked against the policy.
pub(super) fn line_plans(
    order: &Order,
    amendment: &Amendment,
    policy: &Policy,
    c: &mut Collector,
) -> Vec<LinePlan> {
    for (id, amount) in &amendment.lines {
        check_named_line(order, id, *amount, policy, c);
    }
    let restate = policy.unnamed_lines == UnnamedLines::Restate;
    let open = || order.lines().iter().filter(|l| !l.is_closed());
    let any_to_restate = restate && open().any(differs_from_original);
    if amendment.lines.is_empty() && !(any_to_restate && changes_prices(amendment)) {
        return Vec::new();
    }
    let cur = order.currency();
    open()
        .map(|line| {
            let named = amendment.lines.get(line.id());
            LinePlan {
                line: line.id().clone(),
                product: line.product().cloned(),
                sku: line.sku().cloned(),
                original: line.original_total(),
                current: line.current_total(),
                target: named.map_or(line.current_total(), |a| a.in_currency(cur)),
                named: named.is_some(),
                restated: named.is_none() && restate && differs_from_original(line),
            }
        })
        .collect()
}

/// Whether the amendment changes any price (lines or freight): the requests that restate.
fn changes_prices(amendment: &Amendment) -> bool {
    !amendment.lines.is_empty() || amendment.freight.is_some()
}

fn differs_from_original(line: &OrderLine) -> bool {
    line.current_total() != line.original_total()
}

/// One named line: its amount, that the order has it open, and the price direction.
fn check_named_line(
    order: &Order,
    id: &LineId,
    amount: Amount,
    policy: &Policy,
    c: &mut Collector,
) {
    let field = LineField(id);
    let target = c.money(field, amount, order.currency());
    match order.line(id) {
        None => c.push(
            field.to_string(),
            ViolationCode::LineUnknown,
            format!("order has no line {id}"),
        ),
        Some(line) if line.is_closed() && policy.closed_lines_excluded => c.push(
            field.to_string(),
            ViolationCode::LineClosed,
            format!("line {id} is closed and can no longer be changed"),
        ),
        Some(line) => check_direction(line, target, field, policy, c),
    }
}

fn check_direction(
    line: &OrderLine,
    target: Money,
    field: LineField<'_>,
    policy: &Policy,
    c: &mut Collector,
) {
    if policy.price_direction == PriceDirection::LowerOnly
        && target.checked_cmp(&line.original_total()) == Ok(Ordering::Greater)
    {
        c.push(
            field.to_string(),
            ViolationCode::PriceRaiseForbidden,
            format!(
                "{} only lowers prices: {target} is above the original {}",
                policy.name,
                line.original_total()
            ),
        );
    }
}

/// The freight plan, when the amendment sets freight.
pub(super) fn freight_plan(
    order: &Order,
    amendment: &Amendment,
    policy: &Policy,
    c: &mut Collector,
) -> Option<FreightPlan> {
    let amount = amendment.freight?;
    let target = c.money("freight", amount, order.currency());
    if policy.price_direction == PriceDirection::LowerOnly
        && target.checked_cmp(&order.freight_original()) == Ok(Ordering::Greater)
    {
        c.push(
            "freight",
            ViolationCode::PriceRaiseForbidden,
            format!(
                "{} only lowers freight: {target} is above the original {}",
                policy.name,
                order.freight_original()
            ),
        );
    }
    Some(FreightPlan {
        original: order.freight_original(),
        current: order.freight_current(),
        target,
    })
}

/// The lines' and freight's total after the plan: every open line's target (its current total
/// when the plan holds no line prices) plus the target freight. `fallback` when it overflows.
pub(super) fn price_total(
    order: &Order,
    lines: &[LinePlan],
    freight: Option<&FreightPlan>,
    fallback: Money,
) -> Money {
    // `lines` is empty or holds the open lines in the order's order, one each.
    let line_targets = order
        .lines()
        .iter()
        .filter(|l| !l.is_closed())
        .enumerate()
        .map(|(i, l)| lines.get(i).map_or(l.current_total(), LinePlan::target));
    Money::sum(order.currency(), line_targets)
        .and_then(|t| t.checked_add(freight.map_or(order.freight_current(), |f| f.target)))
        .unwrap_or(fallback)
}

/// Where the platform forbids a zero total, a price change must not reach it.
pub(super) fn check_zero_total(
    price_total: Money,
    changes_prices: bool,
    policy: &Policy,
    c: &mut Collector,
) {
    if !policy.zero_total_allowed && changes_prices && price_total.is_zero() {
        c.push(
            "total",
            ViolationCode::TotalZeroForbidden,
            "the order total would become zero",
        );
    }
}
