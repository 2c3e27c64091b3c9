//! The Channels shop's rules as an [`order_domain::Policy`].

use order_domain::{
    AddressField, LinePriceForm, OrderStatus, Part, Policy, PriceDirection, UnnamedLines,
};

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
    Policy::permissive("wechat-channels")
        .with_changeable([Part::LinePrices, Part::Freight, Part::Address])
        .with_price_direction(PriceDirection::LowerOnly)
        .with_zero_total_allowed(false)
        .with_line_price_form(LinePriceForm::AbsoluteLineTotal)
        .with_unnamed_lines(UnnamedLines::Restate)
        .with_revision_limit(params::REVISION_LIMIT)
        .with_allowed_statuses(address_statuses())
        .with_address_required([
            AddressField::Receiver,
            AddressField::Province,
            AddressField::City,
            AddressField::Street,
            AddressField::Mobile,
        ])
}
