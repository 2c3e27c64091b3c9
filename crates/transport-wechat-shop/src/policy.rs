//! The policy of WeChat Shop's `change_order_price`, transcribed from
//! `docs/platforms/wechat-shop.md`.

use order_domain::{LinePriceForm, OrderStatus, Part, Policy, PriceDirection, UnnamedLines};

/// WeChat Shop `change_order_price`: absolute line totals in fen, lower only (against the
/// original), the order total must stay above zero, at most 50 revisions, only while the
/// order awaits payment.
///
/// Seed 001 says both that an item left out of the request keeps its price and that every
/// earlier revision is void once a new one succeeds. Under the second reading a line lowered
/// earlier and left out would revert, so every line whose current total differs from its
/// original is restated ([`UnnamedLines::Restate`]): the order ends in the planned state under
/// either reading.
pub fn policy() -> Policy {
    Policy::permissive("wechat-shop")
        .with_changeable([Part::LinePrices, Part::Freight])
        .with_price_direction(PriceDirection::LowerOnly)
        .with_zero_total_allowed(false)
        .with_line_price_form(LinePriceForm::AbsoluteLineTotal)
        .with_unnamed_lines(UnnamedLines::Restate)
        .with_revision_limit(50)
        .with_allowed_statuses([OrderStatus::AwaitingPayment])
}
