//! The item list: taken from the amendment, or rebuilt from the order's open lines when the
//! policy sends it every time, and checked against the policy.

use crate::amendment::{Amendment, Item, Part};
use crate::money::{Amount, Currency};
use crate::order::Order;
use crate::policy::{ItemField, Policy};

use super::not_blank;
use super::rejection::{Collector, ViolationCode};

/// The item list to send, checked.
pub(super) fn items(
    order: &Order,
    amendment: &Amendment,
    policy: &Policy,
    c: &mut Collector,
) -> Option<Vec<Item>> {
    let items = match &amendment.items {
        Some(items) => Some(items.clone()),
        None if policy.always_sent.contains(&Part::Items) => Some(items_from_lines(order)),
        None => None,
    };
    if let Some(items) = &items {
        check_items(
            items,
            amendment.items.is_some(),
            order.currency(),
            policy,
            c,
        );
    }
    items
}

fn items_from_lines(order: &Order) -> Vec<Item> {
    order
        .lines()
        .iter()
        .filter(|l| !l.is_closed())
        .filter_map(|l| {
            Some(Item {
                product: l.product()?.clone(),
                sku: l.sku().cloned(),
                name: l.name().map(str::to_owned),
                unit: l.unit().map(str::to_owned),
                quantity: l.quantity(),
                unit_price: l.unit_price().and_then(|u| Amount::new(u.amount()).ok()),
                remark: None,
            })
        })
        .collect()
}

fn check_items(
    items: &[Item],
    from_amendment: bool,
    cur: Currency,
    policy: &Policy,
    c: &mut Collector,
) {
    if policy.items_full_replacement && items.is_empty() {
        c.push(
            "items",
            ViolationCode::ItemsEmpty,
            "the item list replaces the whole order and must not be empty",
        );
    }
    for (i, item) in items.iter().enumerate() {
        let at = |f: &str| format!("items[{i}].{f}");
        if policy.whole_quantities && !item.quantity.is_whole() {
            c.push(
                at("quantity"),
                ViolationCode::ItemsQuantityNotWhole,
                format!(
                    "quantity {} of {} must be a whole number",
                    item.quantity, item.product
                ),
            );
        }
        for &field in &policy.item_required {
            if !item_has(item, field) {
                let whence = if from_amendment {
                    ""
                } else {
                    " (taken from the order snapshot)"
                };
                c.push(
                    at(field.as_str()),
                    ViolationCode::ItemsFieldMissing,
                    format!(
                        "{} needs the {field} of {}{whence}",
                        policy.name, item.product
                    ),
                );
            }
        }
        if let Some(u) = item.unit_price {
            c.money(format_args!("items[{i}].unit_price"), u, cur);
        }
    }
}

fn item_has(item: &Item, field: ItemField) -> bool {
    match field {
        ItemField::Name => item.name.as_deref().is_some_and(not_blank),
        ItemField::Unit => item.unit.as_deref().is_some_and(not_blank),
        ItemField::UnitPrice => item.unit_price.is_some(),
        ItemField::Sku => item.sku.is_some(),
    }
}
