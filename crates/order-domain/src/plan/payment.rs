//! The payment breakdown: resolved like the other always-sent parts, consistent with the
//! freight the amendment sets, and adding up where the policy says it must.

use std::cmp::Ordering;

use crate::amendment::{Amendment, Item, Part, PaymentBreakdown};
use crate::money::{Amount, Currency, Money};
use crate::order::Order;
use crate::policy::Policy;

use super::rejection::{Collector, ViolationCode};
use super::resolve;

/// The order's total before and after the plan, computed the same way, as
/// `(previous, new)`.
///
/// With a payment breakdown to send, the platform's total includes insurance, services and
/// tax: after is the breakdown's total; before is the order snapshot's breakdown total or,
/// when the snapshot has none, its lines and freight now plus the sent breakdown's insurance,
/// services and tax (taken as unchanged, since nothing else states them). Without a
/// breakdown both are lines plus freight.
pub(super) fn totals(
    order: &Order,
    payment: Option<&PaymentBreakdown>,
    lines_and_freight_now: Money,
    lines_and_freight_after: Money,
) -> (Money, Money) {
    let cur = order.currency();
    let Some(p) = payment else {
        return (lines_and_freight_now, lines_and_freight_after);
    };
    let previous = match order.payment() {
        Some(before) => before.total.in_currency(cur),
        None => {
            let extras = [p.insurance, p.value_added_services, p.tax]
                .into_iter()
                .flatten()
                .map(|a| a.in_currency(cur));
            Money::sum(cur, extras)
                .and_then(|e| e.checked_add(lines_and_freight_now))
                .unwrap_or(lines_and_freight_now)
        }
    };
    (previous, p.total.in_currency(cur))
}

/// The payment breakdown to send, checked.
pub(super) fn payment(
    order: &Order,
    amendment: &Amendment,
    items: Option<&[Item]>,
    policy: &Policy,
    c: &mut Collector,
) -> Option<PaymentBreakdown> {
    let payment = resolve(
        Part::Payment,
        amendment.payment.as_ref(),
        order.payment(),
        policy,
        c,
    );
    if let (Some(f), Some(p)) = (amendment.freight, &payment)
        && f.value() != p.freight.value()
    {
        c.push(
            "payment.freight",
            ViolationCode::PaymentFreightConflict,
            format!("freight {f} and payment freight {} disagree", p.freight),
        );
    }
    if let (true, Some(p)) = (policy.payment_must_add_up, &payment) {
        check_payment(p, items, order.currency(), c);
    }
    payment
}

fn check_payment(p: &PaymentBreakdown, items: Option<&[Item]>, cur: Currency, c: &mut Collector) {
    let zero = Amount::ZERO;
    let products = c.money("payment.products", p.products, cur);
    let freight = c.money("payment.freight", p.freight, cur);
    let insurance = c.money("payment.insurance", p.insurance.unwrap_or(zero), cur);
    let vas = c.money(
        "payment.value_added_services",
        p.value_added_services.unwrap_or(zero),
        cur,
    );
    let tax = c.money("payment.tax", p.tax.unwrap_or(zero), cur);
    let total = c.money("payment.total", p.total, cur);
    let initial = c.money("payment.initial", p.initial, cur);

    if let Ok(sum) = Money::sum(cur, [products, freight, insurance, vas, tax])
        && sum != total
    {
        c.push(
                "payment.total",
                ViolationCode::PaymentTotalMismatch,
                format!(
                    "total {total} is not products {products} + freight {freight} + insurance {insurance} + services {vas} + tax {tax} = {sum}"
                ),
            );
    }
    if let Some(items) = items {
        let lines: Option<Vec<Money>> = items
            .iter()
            .map(|i| {
                i.unit_price
                    .and_then(|u| u.in_currency(cur).checked_mul(i.quantity.value()).ok())
            })
            .collect();
        if let Some(Ok(sum)) = lines.map(|l| Money::sum(cur, l))
            && sum != products
        {
            c.push(
                "payment.products",
                ViolationCode::PaymentProductsMismatch,
                format!("products {products} is not the sum of quantity × unit price, {sum}"),
            );
        }
    }
    if initial.checked_cmp(&total) == Ok(Ordering::Greater) {
        c.push(
            "payment.initial",
            ViolationCode::PaymentInitialAboveTotal,
            format!("initial payment {initial} is above the total {total}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::amendment::{Amendment, Part};
    use crate::order::Order;
    use crate::plan::plan;
    use crate::policy::Policy;

    /// Lines 200 and freight 20, with or without the platform's payment breakdown (insurance
    /// 80, total 300).
    fn order(with_payment: bool) -> Order {
        let payment = if with_payment {
            r#", "payment": {"products": "200", "freight": "20", "insurance": "80",
                 "total": "300", "initial": "0"}"#
        } else {
            ""
        };
        serde_json::from_str(&format!(
            r#"{{"id": "1", "status": "awaiting_payment", "currency": "USD",
                "lines": [{{"id": "L1", "product": "P1", "quantity": "100", "unit_price": "2",
                           "original_total": "200"}}],
                "freight": {{"original": "20"}}{payment}}}"#
        ))
        .unwrap()
    }

    fn freight_drop() -> Amendment {
        serde_json::from_str(
            r#"{"freight": "15", "payment": {"products": "200", "freight": "15",
                "insurance": "80", "total": "295", "initial": "0"}}"#,
        )
        .unwrap()
    }

    fn sends_payment() -> Policy {
        Policy::permissive("payment-always")
            .with_changeable([Part::Freight, Part::Payment])
            .with_always_sent([Part::Payment])
            .with_payment_must_add_up(true)
    }

    #[test]
    fn a_freight_drop_with_insurance_is_shown_as_a_drop_not_a_rise() {
        for with_payment in [false, true] {
            let p = plan(&order(with_payment), &freight_drop(), &sends_payment()).unwrap();
            assert_eq!(p.previous_total().to_string(), "300.00", "{with_payment}");
            assert_eq!(p.new_total().to_string(), "295.00", "{with_payment}");
        }
    }

    #[test]
    fn without_a_breakdown_both_totals_are_lines_and_freight() {
        let only_freight = Policy::permissive("freight").with_changeable([Part::Freight]);
        let a: Amendment = serde_json::from_str(r#"{"freight": "15"}"#).unwrap();
        let p = plan(&order(true), &a, &only_freight).unwrap();
        assert_eq!(p.previous_total().to_string(), "220.00");
        assert_eq!(p.new_total().to_string(), "215.00");
    }
}
