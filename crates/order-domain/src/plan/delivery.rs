//! Where the goods go: the address and the logistics, with the policy's rules for each.

use crate::amendment::{Address, Amendment, Logistics, Part};
use crate::order::Order;
use crate::policy::{AddressField, LogisticsField, Policy};

use super::rejection::{Collector, ViolationCode};
use super::{not_blank, resolve};

/// The address to send (the amendment's, or the order's when the policy always sends it),
/// checked against the policy.
pub(super) fn address(
    order: &Order,
    amendment: &Amendment,
    policy: &Policy,
    c: &mut Collector,
) -> Option<Address> {
    let address = resolve(
        Part::Address,
        amendment.address.as_ref(),
        order.address(),
        policy,
        c,
    );
    if let Some(a) = &amendment.address {
        check_address(a, policy, c);
    }
    if let Some(a) = &address {
        for &field in &policy.address_required {
            if !address_has(a, field) {
                c.push(
                    format!("address.{field}"),
                    ViolationCode::AddressFieldMissing,
                    format!("{} needs the address's {field}", policy.name),
                );
            }
        }
    }
    address
}

/// The logistics to send (the amendment's, or the order's when the policy always sends them),
/// checked against the policy.
pub(super) fn logistics(
    order: &Order,
    amendment: &Amendment,
    policy: &Policy,
    c: &mut Collector,
) -> Option<Logistics> {
    let logistics = resolve(
        Part::Logistics,
        amendment.logistics.as_ref(),
        order.logistics(),
        policy,
        c,
    );
    if let Some(l) = &amendment.logistics {
        check_logistics(l, order.logistics(), policy, c);
    }
    if let Some(l) = &logistics {
        for &field in &policy.logistics_required {
            if !logistics_has(l, field) {
                c.push(
                    format!("logistics.{field}"),
                    ViolationCode::LogisticsFieldMissing,
                    format!("{} needs the logistics' {field}", policy.name),
                );
            }
        }
    }
    logistics
}

fn check_address(a: &Address, policy: &Policy, c: &mut Collector) {
    if policy.address_region_all_or_nothing {
        let given = [&a.province, &a.city, &a.district]
            .iter()
            .filter(|p| p.is_some())
            .count();
        if given != 0 && given != 3 {
            c.push(
                "address",
                ViolationCode::AddressRegionPartial,
                "province, city and district must be given together",
            );
        }
    }
}

fn address_has(a: &Address, field: AddressField) -> bool {
    let present = |v: &Option<String>| v.as_deref().is_some_and(not_blank);
    match field {
        AddressField::Receiver => present(&a.receiver),
        AddressField::Mobile => present(&a.mobile),
        AddressField::Telephone => a.telephone.as_ref().is_some_and(|t| present(&t.number)),
        AddressField::Country => present(&a.country),
        AddressField::Province => present(&a.province),
        AddressField::City => present(&a.city),
        AddressField::District => present(&a.district),
        AddressField::Street => present(&a.street),
        AddressField::Zip => present(&a.zip),
    }
}

fn logistics_has(l: &Logistics, field: LogisticsField) -> bool {
    let present = |v: &Option<String>| v.as_deref().is_some_and(not_blank);
    match field {
        LogisticsField::ShipmentMethod => present(&l.shipment_method),
        LogisticsField::TradeTerm => present(&l.trade_term),
        LogisticsField::ShipmentDate => l.shipment_date.is_some(),
        LogisticsField::Carrier => present(&l.carrier),
        LogisticsField::Warehouse => present(&l.warehouse),
        LogisticsField::TransportWay => l.transport_way.is_some(),
    }
}

fn check_logistics(l: &Logistics, current: Option<&Logistics>, policy: &Policy, c: &mut Collector) {
    let Some(rules) = &policy.logistics_rules else {
        return;
    };
    let way = l.transport_way.or(current.and_then(|x| x.transport_way));
    let company = l.company.filter(|&id| id != 0);
    match way {
        Some(w) if !rules.ways.contains(&w) => c.push(
            "logistics.transport_way",
            ViolationCode::LogisticsWayInvalid,
            format!("transport way {w} is not one of {:?}", rules.ways),
        ),
        Some(w) => match (rules.companies_for(w), company) {
            (Some(_), None) => c.push(
                "logistics.company",
                ViolationCode::LogisticsCompanyRequired,
                format!("transport way {w} needs a logistics company"),
            ),
            (Some(allowed), Some(id)) if !allowed.contains(&id) => c.push(
                "logistics.company",
                ViolationCode::LogisticsCompanyNotAllowed,
                format!("logistics company {id} is not one of {allowed:?} for transport way {w}"),
            ),
            (None, Some(id)) => c.push(
                "logistics.company",
                ViolationCode::LogisticsCompanyUnexpected,
                format!("transport way {w} takes no logistics company, but {id} is given"),
            ),
            _ => {}
        },
        None if company.is_some() => c.push(
            "logistics.transport_way",
            ViolationCode::LogisticsWayRequired,
            "a logistics company needs a transport way",
        ),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::amendment::{Amendment, Part};
    use crate::order::Order;
    use crate::plan::{ViolationCode, plan};
    use crate::policy::{AddressField, LogisticsField, Policy};

    #[test]
    fn required_fields_are_named_in_violations_by_their_wire_names() {
        let order: Order = serde_json::from_str(
            r#"{"id": "1", "status": "awaiting_payment", "currency": "CNY",
                "lines": [{"id": "L1", "original_total": "1"}]}"#,
        )
        .unwrap();
        let a: Amendment = serde_json::from_str(
            r#"{"address": {"city": "c", "zip": "  "}, "logistics": {"carrier": "DHL"}}"#,
        )
        .unwrap();
        let policy = Policy::permissive("fields")
            .with_changeable([Part::Address, Part::Logistics])
            .with_address_required([AddressField::City, AddressField::Zip])
            .with_logistics_required([LogisticsField::Carrier, LogisticsField::TradeTerm]);
        let r = plan(&order, &a, &policy).unwrap_err();
        let named: Vec<_> = r
            .violations
            .iter()
            .map(|v| (v.field.as_str(), v.code))
            .collect();
        assert_eq!(
            named,
            [
                ("address.zip", ViolationCode::AddressFieldMissing),
                ("logistics.trade_term", ViolationCode::LogisticsFieldMissing),
            ]
        );
    }
}
