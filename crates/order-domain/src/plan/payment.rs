//! The payment breakdown: resolved like the other always-sent parts, consistent with the
//! freight the amendment sets, and adding up where the policy says it must.

use std::cmp::Ordering;

use crate::amendment::{Amendment, Item, Part, PaymentBreakdown};
use crate::money::{Amount, Currency, Money};
use crate::order::Order;
use crate::policy::Policy;

use super::rejection::{Collector, ViolationCode};
use super::resolve;

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
