//! # rules-1688
//!
//! 1688's rules for changing an order's prices, as an [`order_domain::Policy`], defined once
//! for every transport that reaches 1688 (`transport-vvtool` through the vv-tool aggregator,
//! and 1688's own open platform). This crate is not a transport: it depends on `order-domain`
//! only and does no IO.
//!
//! The rules transcribe `docs/platforms/vvtool-1688.md` and seed 002: signed per-entry
//! discounts in fen against the original, replacing earlier discounts (so a line lowered
//! earlier and not named now is restated with its current discount); lower only; closed
//! entries excluded; only while the order awaits payment; only trade types 6, 8, 9 and 10.
#![warn(missing_docs)]

use order_domain::{LinePriceForm, OrderStatus, Part, Policy, PriceDirection, UnnamedLines};

/// The name of 1688's modify-price operation, as plans and rejections show it.
pub const NAME: &str = "1688";

/// 1688's modify-price rules.
///
/// ```
/// use order_domain::{OrderStatus, Part};
/// let p = rules_1688::policy();
/// assert!(p.can_change(Part::LinePrices));
/// assert!(!p.can_change(Part::Address));
/// assert_eq!(p.allowed_statuses, Some(vec![OrderStatus::AwaitingPayment]));
/// ```
pub fn policy() -> Policy {
    Policy::permissive(NAME)
        .with_changeable([Part::LinePrices, Part::Freight])
        .with_price_direction(PriceDirection::LowerOnly)
        .with_line_price_form(LinePriceForm::SignedDeltaAgainstOriginal)
        .with_unnamed_lines(UnnamedLines::Restate)
        .with_allowed_statuses([OrderStatus::AwaitingPayment])
        .with_allowed_trade_types(["6", "8", "9", "10"])
        .with_closed_lines_excluded(true)
}
