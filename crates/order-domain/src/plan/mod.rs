//! Planning: turning an order snapshot, an amendment and a policy into a plan or a rejection.
//!
//! [`plan`] is a pure function. It resolves the amendment against the order (absolute targets,
//! deltas against the original and the current state, the new total, the next revision) and
//! checks every rule of the policy, collecting all violations instead of stopping at the first.
//!
//! One module per concern: `prices` for lines, freight and totals, `order_state` for
//! status, trade type, revisions and the version token, `delivery` for address and logistics,
//! `items`, `payment`, and the result types in `output` and `rejection`.

mod delivery;
mod items;
mod order_state;
mod output;
mod payment;
mod prices;
mod rejection;

pub use output::{FreightPlan, LinePlan, Plan};
pub use rejection::{Rejection, Violation, ViolationCode};

use crate::amendment::{Amendment, Part};
use crate::money::Money;
use crate::order::Order;
use crate::policy::Policy;

use rejection::Collector;

/// Plans `amendment` against `order` under `policy`.
///
/// Returns the plan, or a [`Rejection`] listing every violation. Pure: no IO, no clock.
pub fn plan(order: &Order, amendment: &Amendment, policy: &Policy) -> Result<Plan, Rejection> {
    let cur = order.currency();
    let mut c = Collector::default();
    let parts = amendment.parts();
    check_parts(&parts, policy, &mut c);
    order_state::check(order, policy, &mut c);
    let version = order_state::version(order, amendment, policy, &mut c);

    let lines = prices::line_plans(order, amendment, policy, &mut c);
    let freight = prices::freight_plan(order, amendment, policy, &mut c);
    let price_total_now = order.total().unwrap_or(Money::zero(cur));
    let price_total = prices::price_total(order, &lines, freight.as_ref(), price_total_now);
    let changes_prices = !lines.is_empty() || freight.is_some();
    prices::check_zero_total(price_total, changes_prices, policy, &mut c);

    let address = delivery::address(order, amendment, policy, &mut c);
    let logistics = delivery::logistics(order, amendment, policy, &mut c);
    let items = items::items(order, amendment, policy, &mut c);
    let payment = payment::payment(order, amendment, items.as_deref(), policy, &mut c);
    let (previous_total, new_total) =
        payment::totals(order, payment.as_ref(), price_total_now, price_total);

    c.finish(order, policy)?;
    Ok(Plan {
        order: order.id().clone(),
        policy: policy.name.clone(),
        currency: cur,
        parts,
        lines,
        freight,
        previous_total,
        new_total,
        address,
        logistics,
        delivery_date: amendment.delivery_date,
        items,
        remarks: amendment.remarks.clone(),
        payment,
        next_revision: order.revision().count.saturating_add(1),
        version,
    })
}

/// The amendment must set something, and only parts the policy can change.
fn check_parts(parts: &[Part], policy: &Policy, c: &mut Collector) {
    if parts.is_empty() {
        c.push(
            "set",
            ViolationCode::AmendmentEmpty,
            "the amendment does not set anything",
        );
    }
    for &part in parts {
        if !policy.can_change(part) {
            c.push(
                part.field(),
                ViolationCode::PartUnsupported,
                format!("{} cannot change the {}", policy.name, part_words(part)),
            );
        }
    }
}

fn part_words(part: Part) -> &'static str {
    match part {
        Part::LinePrices => "line prices",
        Part::Freight => "freight",
        Part::Address => "address",
        Part::Logistics => "logistics",
        Part::DeliveryDate => "delivery date",
        Part::Items => "item list",
        Part::Remarks => "remarks",
        Part::Payment => "payment breakdown",
    }
}

/// The value of an always-sent part: the amendment's, else the order's current one.
fn resolve<T: Clone>(
    part: Part,
    set: Option<&T>,
    current: Option<&T>,
    policy: &Policy,
    c: &mut Collector,
) -> Option<T> {
    match (set, policy.always_sent.contains(&part)) {
        (Some(v), _) => Some(v.clone()),
        (None, true) => {
            if current.is_none() {
                c.push(
                    part.field(),
                    ViolationCode::PartRequired,
                    format!(
                        "{} needs the order's {} in every change; give it in the amendment or the order",
                        policy.name,
                        part_words(part)
                    ),
                );
            }
            current.cloned()
        }
        (None, false) => None,
    }
}

/// `!s.trim().is_empty()`, stopping at the first character that is not white space.
fn not_blank(s: &str) -> bool {
    !s.chars().all(char::is_whitespace)
}
