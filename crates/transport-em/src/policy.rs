//! The policy of EM franchiser's `trade/modify`, transcribed from
//! `docs/platforms/em-franchiser.md`.

use order_domain::{LogisticsRules, Part, Policy};

/// EM franchiser `trade/modify`: address (province, city and district all or none),
/// logistics (company required for ways 2 and 4, from the way's set), delivery date,
/// remarks, and the item list as a full replacement with whole positive quantities.
pub fn policy() -> Policy {
    Policy::permissive("em-franchiser")
        .with_changeable([
            Part::Address,
            Part::Logistics,
            Part::DeliveryDate,
            Part::Items,
            Part::Remarks,
        ])
        .with_address_region_all_or_nothing(true)
        .with_logistics_rules(LogisticsRules {
            ways: vec![1, 2, 3, 4, 5],
            companies: vec![(2, vec![6, 7, 9, 10, 11]), (4, vec![5, 8])],
        })
        .with_items_full_replacement(true)
        .with_whole_quantities(true)
}
