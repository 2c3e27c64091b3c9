//! Policies: what one platform operation accepts, as data.
//!
//! A [`Policy`] is read by [`plan`](crate::plan::plan); nothing platform-specific is hard-coded
//! in the planner. The four constructors transcribe the platforms' documents
//! (`docs/platforms/*.md`); users may start from one and adjust the public fields.

use std::borrow::Cow;

use serde::Serialize;

use crate::amendment::Part;
use crate::order::OrderStatus;

/// Whether prices may go up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceDirection {
    /// A line or freight may not end above its original amount.
    LowerOnly,
    /// Any non-negative amount.
    Any,
}

/// How the platform expresses a line's new price on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinePriceForm {
    /// The line's new total (WeChat Shop `change_price`).
    AbsoluteLineTotal,
    /// A signed amount against the line's original total, replacing earlier ones
    /// (1688 `entry_discounts[].discount`).
    SignedDeltaAgainstOriginal,
    /// A unit price per item (ICBU `unit_price_str`).
    UnitPrice,
}

/// Transport ways and the logistics companies each accepts (EM franchiser).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogisticsRules {
    /// Valid transport ways (EM: 1 to 5).
    pub ways: Vec<u8>,
    /// Ways that require a company, with the companies each accepts. Other ways take none.
    pub companies: Vec<(u8, Vec<u32>)>,
}

impl LogisticsRules {
    /// Companies allowed for `way`, when the way requires one.
    pub fn companies_for(&self, way: u8) -> Option<&[u32]> {
        self.companies
            .iter()
            .find(|(w, _)| *w == way)
            .map(|(_, c)| c.as_slice())
    }
}

/// One platform operation's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Policy {
    /// Platform operation name, e.g. `wechat-shop`.
    pub name: Cow<'static, str>,
    /// Parts this operation can change; any other part in an amendment is a violation.
    pub changeable: Vec<Part>,
    /// Parts the wire request must always carry in full (ICBU sends the whole logistics,
    /// payment and product list every time); the plan resolves them from the amendment or the
    /// order snapshot.
    pub always_sent: Vec<Part>,
    /// Price direction for lines and freight, judged against the originals.
    pub price_direction: PriceDirection,
    /// Whether the order total may become zero.
    pub zero_total_allowed: bool,
    /// How line prices travel on the wire.
    pub line_price_form: LinePriceForm,
    /// Maximum number of revisions (WeChat Shop: 50 before payment).
    pub revision_limit: Option<u32>,
    /// Statuses in which changes are accepted; `None` means any status except closed.
    pub allowed_statuses: Option<Vec<OrderStatus>>,
    /// Trade types in which changes are accepted (1688: 6, 8, 9, 10); `None` means any.
    pub allowed_trade_types: Option<Vec<Cow<'static, str>>>,
    /// Closed lines cannot be named and are left out of requests.
    pub closed_lines_excluded: bool,
    /// Province, city and district must be given together or not at all (EM).
    pub address_region_all_or_nothing: bool,
    /// Address fields that must be present whenever an address is sent.
    pub address_required: Vec<&'static str>,
    /// Logistics rules (EM transport ways and companies).
    pub logistics_rules: Option<LogisticsRules>,
    /// Logistics fields that must be present whenever logistics are sent.
    pub logistics_required: Vec<&'static str>,
    /// The item list replaces the old one and must not be empty.
    pub items_full_replacement: bool,
    /// Quantities must be whole numbers (EM).
    pub whole_quantities: bool,
    /// Item fields that must be present (ICBU: name, unit, unit price).
    pub item_required: Vec<&'static str>,
    /// The payment breakdown must add up (ICBU).
    pub payment_must_add_up: bool,
    /// The order's version token must be known and is carried in the request.
    pub version_token_required: bool,
}

impl Policy {
    /// A policy that changes nothing until fields are set: every part unchangeable, any
    /// direction, no limits. A starting point for a custom platform.
    pub fn permissive(name: impl Into<Cow<'static, str>>) -> Policy {
        Policy {
            name: name.into(),
            changeable: Vec::new(),
            always_sent: Vec::new(),
            price_direction: PriceDirection::Any,
            zero_total_allowed: true,
            line_price_form: LinePriceForm::AbsoluteLineTotal,
            revision_limit: None,
            allowed_statuses: None,
            allowed_trade_types: None,
            closed_lines_excluded: true,
            address_region_all_or_nothing: false,
            address_required: Vec::new(),
            logistics_rules: None,
            logistics_required: Vec::new(),
            items_full_replacement: false,
            whole_quantities: false,
            item_required: Vec::new(),
            payment_must_add_up: false,
            version_token_required: false,
        }
    }

    /// WeChat Shop `change_order_price`: absolute line totals in fen, lower only (against the
    /// original), the order total must stay above zero, at most 50 revisions, only while the
    /// order awaits payment.
    pub fn wechat_shop() -> Policy {
        Policy {
            changeable: vec![Part::LinePrices, Part::Freight],
            price_direction: PriceDirection::LowerOnly,
            zero_total_allowed: false,
            line_price_form: LinePriceForm::AbsoluteLineTotal,
            revision_limit: Some(50),
            allowed_statuses: Some(vec![OrderStatus::AwaitingPayment]),
            ..Policy::permissive("wechat-shop")
        }
    }

    /// 1688 modify price through vv-tool: signed per-entry deltas in fen against the original,
    /// lower only, closed entries excluded, only while awaiting payment, only trade types 6, 8,
    /// 9 and 10.
    pub fn vvtool_1688() -> Policy {
        Policy {
            changeable: vec![Part::LinePrices, Part::Freight],
            price_direction: PriceDirection::LowerOnly,
            line_price_form: LinePriceForm::SignedDeltaAgainstOriginal,
            allowed_statuses: Some(vec![OrderStatus::AwaitingPayment]),
            allowed_trade_types: Some(vec!["6".into(), "8".into(), "9".into(), "10".into()]),
            closed_lines_excluded: true,
            ..Policy::permissive("vvtool-1688")
        }
    }

    /// EM franchiser `trade/modify`: address (province, city and district all or none),
    /// logistics (company required for ways 2 and 4, from the way's set), delivery date,
    /// remarks, and the item list as a full replacement with whole positive quantities.
    pub fn em_franchiser() -> Policy {
        Policy {
            changeable: vec![
                Part::Address,
                Part::Logistics,
                Part::DeliveryDate,
                Part::Items,
                Part::Remarks,
            ],
            address_region_all_or_nothing: true,
            logistics_rules: Some(LogisticsRules {
                ways: vec![1, 2, 3, 4, 5],
                companies: vec![(2, vec![6, 7, 9, 10, 11]), (4, vec![5, 8])],
            }),
            items_full_replacement: true,
            whole_quantities: true,
            ..Policy::permissive("em-franchiser")
        }
    }

    /// Alibaba.com ICBU `alibaba.trade.order.modify`: every request carries the full logistics
    /// detail, payment breakdown and product list; the breakdown must add up; the version
    /// token is carried when known.
    pub fn alibaba_icbu() -> Policy {
        Policy {
            changeable: vec![
                Part::Freight,
                Part::Address,
                Part::Logistics,
                Part::Items,
                Part::Remarks,
                Part::Payment,
            ],
            always_sent: vec![Part::Address, Part::Logistics, Part::Items, Part::Payment],
            line_price_form: LinePriceForm::UnitPrice,
            address_required: vec!["zip", "country", "street", "city", "receiver", "telephone"],
            logistics_required: vec!["shipment_method", "trade_term", "shipment_date"],
            items_full_replacement: true,
            item_required: vec!["name", "unit", "unit_price"],
            payment_must_add_up: true,
            ..Policy::permissive("alibaba-icbu")
        }
    }

    /// Whether `part` can be changed.
    pub fn can_change(&self, part: Part) -> bool {
        self.changeable.contains(&part)
    }
}
