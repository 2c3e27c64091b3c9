//! The amendment: the desired end state of an order, never a delta.
//!
//! Every part is optional; a part that is present states the whole desired value of that part
//! (all line totals named, the full address, the full item list...). Because an amendment is
//! absolute, sending it twice is harmless by construction. An amendment is plain data: every
//! rule is checked by [`plan`](crate::plan::plan) against the order and the platform's
//! [`Policy`](crate::Policy), which reports all violations at once.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::date::CalendarDate;
use crate::ids::{LineId, ProductRef, SkuRef, VersionToken};
use crate::money::Amount;
use crate::order::Quantity;

/// A telephone or fax number in parts (ICBU).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phone {
    /// Country calling code, e.g. `86`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Area code, e.g. `0512`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    /// The number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
}

/// A delivery address. Which parts a platform needs is the policy's business.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Receiver or contact person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    /// Receiver's mobile number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    /// Telephone in parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone: Option<Phone>,
    /// Fax in parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fax: Option<Phone>,
    /// Country name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Province (or state) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
    /// Province code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province_code: Option<String>,
    /// City name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// City code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city_code: Option<String>,
    /// District name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    /// Street address: road, number, building.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    /// An alternate address line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternate: Option<String>,
}

/// When goods ship (ICBU): a number of days after payment, or an absolute date.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ShipmentDate {
    /// Ship this many days after the (initial) payment.
    DaysAfterPayment(u32),
    /// Ship on this date.
    On(CalendarDate),
}

/// Logistics: how the goods travel. EM uses transport way and company ids; ICBU uses shipment
/// method, trade term and carrier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logistics {
    /// Shipping warehouse (EM `warehouseid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    /// Transport way (EM: 1 green-feather delivery, 2 dedicated logistics, 3 pick-up,
    /// 4 express, 5 other).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_way: Option<u8>,
    /// Logistics company id (EM, required for ways 2 and 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<u32>,
    /// Logistics contact person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// Logistics contact's mobile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_mobile: Option<String>,
    /// Vehicle plate number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub car_number: Option<String>,
    /// Shipment method (ICBU: sea, air, express...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment_method: Option<String>,
    /// Trade term (ICBU: FOB, CIF...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_term: Option<String>,
    /// Carrier name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// Carrier code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier_code: Option<String>,
    /// Fulfillment channel (ICBU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfillment_channel: Option<String>,
    /// Shipment date (ICBU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment_date: Option<ShipmentDate>,
}

/// Free-text remarks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remarks {
    /// Remark on the order as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// Remark for the logistics provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logistics: Option<String>,
}

/// One entry of a full item list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// The product (EM: the ERP code `outerpcode`; ICBU: product id).
    pub product: ProductRef,
    /// SKU (ICBU `sku_id`, `-1` for none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<SkuRef>,
    /// Product name (ICBU requires it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Unit (ICBU requires it: `set`, `piece`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Quantity.
    pub quantity: Quantity,
    /// Unit price in the order's currency (ICBU requires it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Amount>,
    /// Remark for this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
}

/// A payment breakdown (ICBU), amounts in the order's currency.
///
/// The platform requires `total = products + freight + insurance + value_added_services + tax`,
/// `products = Σ quantity × unit price` and `initial <= total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentBreakdown {
    /// Value of the products.
    pub products: Amount,
    /// Freight (shipment fee).
    pub freight: Amount,
    /// Shipment insurance; zero when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurance: Option<Amount>,
    /// Value-added services; zero when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_added_services: Option<Amount>,
    /// Tax; zero when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax: Option<Amount>,
    /// The order total.
    pub total: Amount,
    /// The initial payment (deposit).
    pub initial: Amount,
}

/// One part of an amendment, for policies and violations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Per-line totals.
    LinePrices,
    /// Freight.
    Freight,
    /// Delivery address.
    Address,
    /// Logistics.
    Logistics,
    /// Delivery date.
    DeliveryDate,
    /// The item list.
    Items,
    /// Remarks.
    Remarks,
    /// Payment breakdown.
    Payment,
}

impl Part {
    /// The field name used in the JSON form and in violations.
    pub const fn field(self) -> &'static str {
        match self {
            Part::LinePrices => "lines",
            Part::Freight => "freight",
            Part::Address => "address",
            Part::Logistics => "logistics",
            Part::DeliveryDate => "delivery_date",
            Part::Items => "items",
            Part::Remarks => "remarks",
            Part::Payment => "payment",
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.field())
    }
}

/// The desired end state of an order (the `set` object of an amendment line).
///
/// ```
/// use order_domain::Amendment;
/// let a: Amendment = serde_json::from_str(r#"{ "lines": { "E1": "8.00" }, "freight": "0" }"#).unwrap();
/// assert_eq!(a.parts().len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Amendment {
    /// New totals of the named lines; lines not named keep their current totals.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lines: BTreeMap<LineId, Amount>,
    /// New freight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freight: Option<Amount>,
    /// The full new address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// The full new logistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logistics: Option<Logistics>,
    /// New delivery date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_date: Option<CalendarDate>,
    /// The full new item list (replaces the old one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<Item>>,
    /// New remarks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remarks: Option<Remarks>,
    /// New payment breakdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentBreakdown>,
    /// The version the caller expects the order to be at; a different current version makes
    /// the amendment stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<VersionToken>,
}

impl Amendment {
    /// The parts this amendment sets, in a fixed order.
    pub fn parts(&self) -> Vec<Part> {
        let mut parts = Vec::new();
        if !self.lines.is_empty() {
            parts.push(Part::LinePrices);
        }
        if self.freight.is_some() {
            parts.push(Part::Freight);
        }
        if self.address.is_some() {
            parts.push(Part::Address);
        }
        if self.logistics.is_some() {
            parts.push(Part::Logistics);
        }
        if self.delivery_date.is_some() {
            parts.push(Part::DeliveryDate);
        }
        if self.items.is_some() {
            parts.push(Part::Items);
        }
        if self.remarks.is_some() {
            parts.push(Part::Remarks);
        }
        if self.payment.is_some() {
            parts.push(Part::Payment);
        }
        parts
    }
}
