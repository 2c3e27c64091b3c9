//! The policy of Alibaba.com ICBU's `alibaba.trade.order.modify`, transcribed from
//! `docs/platforms/alibaba-icbu.md`.

use order_domain::{AddressField, ItemField, LinePriceForm, LogisticsField, Part, Policy};

/// Alibaba.com ICBU `alibaba.trade.order.modify`: every request carries the full logistics
/// detail, payment breakdown and product list; the breakdown must add up; the version token
/// is carried when known.
pub fn policy() -> Policy {
    Policy::permissive("alibaba-icbu")
        .with_changeable([
            Part::Freight,
            Part::Address,
            Part::Logistics,
            Part::Items,
            Part::Remarks,
            Part::Payment,
        ])
        .with_always_sent([Part::Address, Part::Logistics, Part::Items, Part::Payment])
        .with_line_price_form(LinePriceForm::UnitPrice)
        .with_address_required([
            AddressField::Zip,
            AddressField::Country,
            AddressField::Street,
            AddressField::City,
            AddressField::Receiver,
            AddressField::Telephone,
        ])
        .with_logistics_required([
            LogisticsField::ShipmentMethod,
            LogisticsField::TradeTerm,
            LogisticsField::ShipmentDate,
        ])
        .with_items_full_replacement(true)
        .with_item_required([ItemField::Name, ItemField::Unit, ItemField::UnitPrice])
        .with_payment_must_add_up(true)
}
