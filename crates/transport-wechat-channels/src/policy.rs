//! The Channels shop's rules as an [`order_domain::Policy`].

use order_domain::{LinePriceForm, OrderStatus, Part, Policy, PriceDirection};

use crate::generated::params;

/// Statuses in which the price and freight may change.
pub const PRICE_STATUSES: [OrderStatus; 1] = [OrderStatus::AwaitingPayment];

/// Statuses in which the address may change (unshipped).
pub fn address_statuses() -> [OrderStatus; 2] {
    [OrderStatus::AwaitingPayment, OrderStatus::Paid]
}

/// `wechat-channels`: line totals and freight (absolute, in fen, lower only, total above 0, at
/// most 50 changes, only while awaiting payment) and the whole address (unshipped orders).
///
/// The domain's policy has one status list; it holds the union (awaiting payment or paid), and
/// [`ChannelsPlatform`](crate::ChannelsPlatform) refuses, before sending, a price change of a
/// paid order, an amendment that needs both calls, and a sixth address change.
pub fn policy() -> Policy {
    let mut p = Policy::permissive("wechat-channels");
    p.changeable = vec![Part::LinePrices, Part::Freight, Part::Address];
    p.price_direction = PriceDirection::LowerOnly;
    p.zero_total_allowed = false;
    p.line_price_form = LinePriceForm::AbsoluteLineTotal;
    p.revision_limit = Some(params::REVISION_LIMIT);
    p.allowed_statuses = Some(address_statuses().to_vec());
    p.address_required = vec!["receiver", "province", "city", "street", "mobile"];
    p
}
