//! The plan a transport encodes: per-line and freight targets, totals and the parts to send.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::amendment::{Address, Item, Logistics, Part, PaymentBreakdown, Remarks};
use crate::date::CalendarDate;
use crate::ids::{LineId, OrderId, ProductRef, SkuRef, VersionToken};
use crate::money::{Currency, Money};
use crate::order::Order;

/// The plan for one line: its original, current and target totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinePlan {
    pub(super) line: LineId,
    pub(super) product: Option<ProductRef>,
    pub(super) sku: Option<SkuRef>,
    pub(super) original: Money,
    pub(super) current: Money,
    pub(super) target: Money,
    pub(super) named: bool,
    /// Unnamed, but sent with its current total because the policy restates such lines.
    #[serde(default)]
    pub(super) restated: bool,
}

impl LinePlan {
    /// The line.
    pub fn line(&self) -> &LineId {
        &self.line
    }
    /// The line's product, if known.
    pub fn product(&self) -> Option<&ProductRef> {
        self.product.as_ref()
    }
    /// The line's SKU, if known.
    pub fn sku(&self) -> Option<&SkuRef> {
        self.sku.as_ref()
    }
    /// Total when the order was placed.
    pub fn original(&self) -> Money {
        self.original
    }
    /// Total now.
    pub fn current(&self) -> Money {
        self.current
    }
    /// Total after the change (the current total for lines the amendment does not name).
    pub fn target(&self) -> Money {
        self.target
    }
    /// Whether the amendment named this line.
    pub fn is_named(&self) -> bool {
        self.named
    }
    /// Whether the line is restated unnamed: the policy's platform would otherwise undo its
    /// earlier change ([`UnnamedLines::Restate`](crate::UnnamedLines::Restate)).
    pub fn is_restated(&self) -> bool {
        self.restated
    }
    /// Whether the request carries this line: named, or restated.
    pub fn is_sent(&self) -> bool {
        self.named || self.restated
    }
    /// `target - original`: the signed amount 1688 expects per entry.
    pub fn delta_vs_original(&self) -> Money {
        // Same currency by construction and both fit in a Decimal; fall back to zero.
        self.target
            .checked_sub(self.original)
            .unwrap_or(Money::zero(self.target.currency()))
    }
    /// `target - current`: what this revision changes.
    pub fn delta_vs_current(&self) -> Money {
        self.target
            .checked_sub(self.current)
            .unwrap_or(Money::zero(self.target.currency()))
    }
    /// Whether this revision changes the line.
    pub fn is_changed(&self) -> bool {
        self.target != self.current
    }
}

/// The plan for freight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreightPlan {
    pub(super) original: Money,
    pub(super) current: Money,
    pub(super) target: Money,
}

impl FreightPlan {
    /// Freight when the order was placed.
    pub fn original(&self) -> Money {
        self.original
    }
    /// Freight now.
    pub fn current(&self) -> Money {
        self.current
    }
    /// Freight after the change.
    pub fn target(&self) -> Money {
        self.target
    }
    /// `target - original`.
    pub fn delta_vs_original(&self) -> Money {
        self.target
            .checked_sub(self.original)
            .unwrap_or(Money::zero(self.target.currency()))
    }
    /// `target - current`.
    pub fn delta_vs_current(&self) -> Money {
        self.target
            .checked_sub(self.current)
            .unwrap_or(Money::zero(self.target.currency()))
    }
}

/// A validated change, ready for a transport to encode.
///
/// ```
/// use order_domain::{plan, Amendment, Order, Part, Policy, PriceDirection};
/// let lower_only = Policy::permissive("lower-only")
///     .with_changeable([Part::LinePrices])
///     .with_price_direction(PriceDirection::LowerOnly);
/// let order: Order = serde_json::from_str(r#"{"id": "1001", "status": "awaiting_payment",
///     "currency": "CNY", "lines": [{"id": "L1", "original_total": "10.00"}],
///     "freight": {"original": "6.00"}}"#).unwrap();
/// let amendment: Amendment = serde_json::from_str(r#"{"lines": {"L1": "8.00"}}"#).unwrap();
/// let p = plan(&order, &amendment, &lower_only).unwrap();
/// assert_eq!(p.lines()[0].delta_vs_original().to_minor().unwrap(), -200);
/// assert_eq!(p.new_total().to_string(), "14.00");
/// assert_eq!(p.next_revision(), 1);
///
/// let raise: Amendment = serde_json::from_str(r#"{"lines": {"L1": "12.00"}}"#).unwrap();
/// let rejection = plan(&order, &raise, &lower_only).unwrap_err();
/// assert_eq!(rejection.violations[0].code.as_str(), "price.raise_forbidden");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub(super) order: OrderId,
    pub(super) policy: Cow<'static, str>,
    pub(super) currency: Currency,
    pub(super) parts: Vec<Part>,
    pub(super) lines: Vec<LinePlan>,
    pub(super) freight: Option<FreightPlan>,
    pub(super) previous_total: Money,
    pub(super) new_total: Money,
    pub(super) address: Option<Address>,
    pub(super) logistics: Option<Logistics>,
    pub(super) delivery_date: Option<CalendarDate>,
    pub(super) items: Option<Vec<Item>>,
    pub(super) remarks: Option<Remarks>,
    pub(super) payment: Option<PaymentBreakdown>,
    pub(super) next_revision: u32,
    pub(super) version: Option<VersionToken>,
}

impl Plan {
    /// The order.
    pub fn order(&self) -> &OrderId {
        &self.order
    }
    /// The policy's name.
    pub fn policy(&self) -> &str {
        &self.policy
    }
    /// The order's currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }
    /// Parts the amendment sets (whether or not their values differ from now).
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }
    /// Every open line with its target (its current total when unnamed); empty when the
    /// amendment sets no line prices and the policy has no line to restate.
    pub fn lines(&self) -> &[LinePlan] {
        &self.lines
    }
    /// The lines the amendment named.
    pub fn named_lines(&self) -> impl Iterator<Item = &LinePlan> {
        self.lines.iter().filter(|l| l.named)
    }
    /// The lines a request must carry: the named ones and, where the policy restates unnamed
    /// lines, every other line whose current total differs from its original (with its
    /// current total as target).
    pub fn sent_lines(&self) -> impl Iterator<Item = &LinePlan> {
        self.lines.iter().filter(|l| l.is_sent())
    }
    /// Freight, when the amendment sets it.
    pub fn freight(&self) -> Option<&FreightPlan> {
        self.freight.as_ref()
    }
    /// Order total before this revision, computed like [`new_total`](Plan::new_total): the
    /// payment total (insurance, services and tax included) when the plan sends a payment
    /// breakdown, lines plus freight otherwise.
    pub fn previous_total(&self) -> Money {
        self.previous_total
    }
    /// Order total after this revision: what the platform ends with.
    pub fn new_total(&self) -> Money {
        self.new_total
    }
    /// The address to send, when set or always sent.
    pub fn address(&self) -> Option<&Address> {
        self.address.as_ref()
    }
    /// The logistics to send, when set or always sent.
    pub fn logistics(&self) -> Option<&Logistics> {
        self.logistics.as_ref()
    }
    /// The delivery date to send.
    pub fn delivery_date(&self) -> Option<CalendarDate> {
        self.delivery_date
    }
    /// The full item list to send, when set or always sent.
    pub fn items(&self) -> Option<&[Item]> {
        self.items.as_deref()
    }
    /// Remarks to send.
    pub fn remarks(&self) -> Option<&Remarks> {
        self.remarks.as_ref()
    }
    /// Payment breakdown to send, when set or always sent.
    pub fn payment(&self) -> Option<&PaymentBreakdown> {
        self.payment.as_ref()
    }
    /// The revision number this plan becomes once applied.
    pub fn next_revision(&self) -> u32 {
        self.next_revision
    }
    /// The version token to carry, if any.
    pub fn version(&self) -> Option<&VersionToken> {
        self.version.as_ref()
    }

    /// True when applying the plan would change nothing the platform holds: sending it would
    /// only spend a revision.
    pub fn is_noop_for(&self, order: &Order) -> bool {
        self.lines.iter().all(|l| !l.is_changed())
            && self.freight.is_none_or(|f| f.target == f.current)
            && self
                .address
                .as_ref()
                .is_none_or(|a| Some(a) == order.address())
            && self
                .logistics
                .as_ref()
                .is_none_or(|l| Some(l) == order.logistics())
            && self
                .delivery_date
                .is_none_or(|d| Some(d) == order.delivery_date())
            && self
                .remarks
                .as_ref()
                .is_none_or(|r| Some(r) == order.remarks())
            && self
                .payment
                .as_ref()
                .is_none_or(|p| Some(p) == order.payment())
            && self
                .items
                .as_ref()
                .is_none_or(|items| items_match_lines(items, order))
    }
}

fn items_match_lines(items: &[Item], order: &Order) -> bool {
    let open: Vec<_> = order.lines().iter().filter(|l| !l.is_closed()).collect();
    items.len() == open.len()
        && items.iter().zip(open).all(|(i, l)| {
            l.product() == Some(&i.product)
                && i.quantity == l.quantity()
                && (i.sku.is_none() || i.sku.as_ref() == l.sku())
                && i.unit_price
                    .is_none_or(|u| Some(u.in_currency(order.currency())) == l.unit_price())
        })
}
