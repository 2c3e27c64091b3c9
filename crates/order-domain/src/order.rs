//! The order snapshot: what the platform knows about an order now.
//!
//! An [`Order`] is built from an [`OrderSpec`] (plain data, also its serde form) and checked on
//! the way in: every amount is representable in the order's currency, line ids are unique and
//! quantities positive. After that it cannot change except through [`Order::with_revision`],
//! which applies a [`Plan`](crate::Plan) as the platform would.

use std::collections::BTreeSet;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::amendment::{Address, Item, Logistics, PaymentBreakdown, Remarks};
use crate::date::CalendarDate;
use crate::ids::{LineId, OrderId, ProductRef, SkuRef, VersionToken};
use crate::money::{Amount, Currency, Money};
use crate::plan::Plan;

/// An order's status, normalised across platforms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Placed, not yet paid: the only state in which prices may change on most platforms.
    AwaitingPayment,
    /// Paid, not yet shipped.
    Paid,
    /// Shipped, not yet received.
    Shipped,
    /// Received or otherwise finished.
    Completed,
    /// Cancelled or closed.
    Closed,
    /// A platform state without a normalised equivalent, kept verbatim.
    Other(String),
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderStatus::AwaitingPayment => f.write_str("awaiting payment"),
            OrderStatus::Paid => f.write_str("paid"),
            OrderStatus::Shipped => f.write_str("shipped"),
            OrderStatus::Completed => f.write_str("completed"),
            OrderStatus::Closed => f.write_str("closed"),
            OrderStatus::Other(s) => write!(f, "`{s}`"),
        }
    }
}

/// A positive quantity, exact (EM requires whole numbers; ICBU allows decimal text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct Quantity(Decimal);

impl Quantity {
    /// Checks that `q` is above zero.
    pub fn new(q: Decimal) -> Result<Self, QuantityError> {
        if q <= Decimal::ZERO {
            return Err(QuantityError(q.to_string()));
        }
        Ok(Quantity(q.normalize()))
    }

    /// A whole quantity; zero is refused.
    pub fn whole(n: u32) -> Result<Self, QuantityError> {
        Quantity::new(Decimal::from(n))
    }

    /// The value.
    pub fn value(&self) -> Decimal {
        self.0
    }

    /// True for whole numbers (1, 2, 10), false for 1.5.
    pub fn is_whole(&self) -> bool {
        self.0.fract().is_zero()
    }
}

/// A quantity that is zero or negative.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quantity {0} must be above zero")]
pub struct QuantityError(pub String);

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<Quantity> for String {
    fn from(q: Quantity) -> String {
        q.to_string()
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let q = crate::money::deserialize_exact_decimal(d)?;
        Quantity::new(q).map_err(serde::de::Error::custom)
    }
}

/// Revision state as the platform knows it: how many changes were applied and the version
/// token the next change must carry (where the platform uses one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevisionState {
    /// Applied changes so far (WeChat Shop refuses the 51st).
    #[serde(default)]
    pub count: u32,
    /// The current version token, if the platform versions orders (ICBU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<VersionToken>,
}

/// The plain-data form of an [`OrderLine`]; amounts in the order's currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderLineSpec {
    /// The line's id (1688 entry id, WeChat line key, ...).
    pub id: LineId,
    /// The product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<ProductRef>,
    /// The SKU within the product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<SkuRef>,
    /// Product name, when known (ICBU requests carry it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Unit of measure, when known (ICBU requests carry it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Quantity ordered; 1 when absent.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub quantity: Quantity,
    /// Unit price, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Amount>,
    /// The line's total when the order was placed: prices are always stated against it.
    pub original_total: Amount,
    /// The line's total now; equal to the original when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_total: Option<Amount>,
    /// Closed or deleted lines cannot be changed and are left out of requests.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed: bool,
}

fn one() -> Quantity {
    Quantity(Decimal::ONE)
}

fn is_one(q: &Quantity) -> bool {
    q.0 == Decimal::ONE
}

/// Freight before and after changes, as plain data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreightSpec {
    /// Freight when the order was placed.
    pub original: Amount,
    /// Freight now; equal to the original when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Amount>,
}

/// The plain-data form of an [`Order`], and its JSON form (see `docs/formats.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderSpec {
    /// The order's id on its platform.
    pub id: OrderId,
    /// Normalised status.
    pub status: OrderStatus,
    /// Currency of every amount in the order.
    pub currency: Currency,
    /// Platform trade type where it matters (1688 allows price changes for types 6, 8, 9, 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_type: Option<String>,
    /// The lines.
    pub lines: Vec<OrderLineSpec>,
    /// Freight; zero when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freight: Option<FreightSpec>,
    /// Revisions applied so far.
    #[serde(default)]
    pub revision: RevisionState,
    /// Delivery address now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// Logistics now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logistics: Option<Logistics>,
    /// Delivery date now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_date: Option<CalendarDate>,
    /// Remarks now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remarks: Option<Remarks>,
    /// Payment breakdown now (ICBU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentBreakdown>,
}

/// An order line, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    id: LineId,
    product: Option<ProductRef>,
    sku: Option<SkuRef>,
    name: Option<String>,
    unit: Option<String>,
    quantity: Quantity,
    unit_price: Option<Money>,
    original_total: Money,
    current_total: Money,
    closed: bool,
}

impl OrderLine {
    /// The line's id.
    pub fn id(&self) -> &LineId {
        &self.id
    }
    /// The product, if known.
    pub fn product(&self) -> Option<&ProductRef> {
        self.product.as_ref()
    }
    /// The SKU, if known.
    pub fn sku(&self) -> Option<&SkuRef> {
        self.sku.as_ref()
    }
    /// Product name, if known.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// Unit of measure, if known.
    pub fn unit(&self) -> Option<&str> {
        self.unit.as_deref()
    }
    /// Quantity.
    pub fn quantity(&self) -> Quantity {
        self.quantity
    }
    /// Unit price, if known.
    pub fn unit_price(&self) -> Option<Money> {
        self.unit_price
    }
    /// Total when the order was placed.
    pub fn original_total(&self) -> Money {
        self.original_total
    }
    /// Total now.
    pub fn current_total(&self) -> Money {
        self.current_total
    }
    /// Closed or deleted.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

/// Why an [`OrderSpec`] is not a valid order. Names the order and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("order {order}: {field}: {problem}")]
pub struct OrderError {
    /// The order.
    pub order: String,
    /// The field path, e.g. `lines[L1].original_total`.
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

/// An order snapshot, checked. Its serde form is [`OrderSpec`].
///
/// ```
/// use order_domain::{Order, OrderSpec};
/// let order: Order = serde_json::from_str(r#"{
///     "id": "2198111437768747370", "status": "awaiting_payment", "currency": "CNY",
///     "trade_type": "6",
///     "lines": [{ "id": "E1", "original_total": "10.00" }],
///     "freight": { "original": "6.00" }
/// }"#).unwrap();
/// assert_eq!(order.total().unwrap().to_string(), "16.00");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "OrderSpec", into = "OrderSpec")]
pub struct Order {
    id: OrderId,
    status: OrderStatus,
    currency: Currency,
    trade_type: Option<String>,
    lines: Vec<OrderLine>,
    freight_original: Money,
    freight_current: Money,
    revision: RevisionState,
    address: Option<Address>,
    logistics: Option<Logistics>,
    delivery_date: Option<CalendarDate>,
    remarks: Option<Remarks>,
    payment: Option<PaymentBreakdown>,
}

impl Order {
    /// The order's id.
    pub fn id(&self) -> &OrderId {
        &self.id
    }
    /// Normalised status.
    pub fn status(&self) -> &OrderStatus {
        &self.status
    }
    /// Currency of every amount.
    pub fn currency(&self) -> Currency {
        self.currency
    }
    /// Platform trade type, if given.
    pub fn trade_type(&self) -> Option<&str> {
        self.trade_type.as_deref()
    }
    /// All lines, closed ones included.
    pub fn lines(&self) -> &[OrderLine] {
        &self.lines
    }
    /// A line by id.
    pub fn line(&self, id: &LineId) -> Option<&OrderLine> {
        self.lines.iter().find(|l| &l.id == id)
    }
    /// Freight when the order was placed.
    pub fn freight_original(&self) -> Money {
        self.freight_original
    }
    /// Freight now.
    pub fn freight_current(&self) -> Money {
        self.freight_current
    }
    /// Revision state.
    pub fn revision(&self) -> &RevisionState {
        &self.revision
    }
    /// Address now.
    pub fn address(&self) -> Option<&Address> {
        self.address.as_ref()
    }
    /// Logistics now.
    pub fn logistics(&self) -> Option<&Logistics> {
        self.logistics.as_ref()
    }
    /// Delivery date now.
    pub fn delivery_date(&self) -> Option<CalendarDate> {
        self.delivery_date
    }
    /// Remarks now.
    pub fn remarks(&self) -> Option<&Remarks> {
        self.remarks.as_ref()
    }
    /// Payment breakdown now.
    pub fn payment(&self) -> Option<&PaymentBreakdown> {
        self.payment.as_ref()
    }

    /// The order total now: open lines' current totals plus current freight.
    pub fn total(&self) -> Result<Money, crate::MoneyError> {
        let lines = self
            .lines
            .iter()
            .filter(|l| !l.closed)
            .map(|l| l.current_total);
        Money::sum(self.currency, lines)?.checked_add(self.freight_current)
    }

    /// The order as the platform holds it after `plan` was applied: the plan's targets become
    /// the current state, the revision count advances and the version token becomes
    /// `new_version` (or stays as it was when the platform reports none).
    ///
    /// Because plans state absolute targets against the original, applying revision *n* on
    /// top of revisions 1..n-1 gives the same prices as applying it to the original order.
    pub fn with_revision(&self, plan: &Plan, new_version: Option<VersionToken>) -> Order {
        let mut next = self.clone();
        for lp in plan.lines() {
            if let Some(line) = next.lines.iter_mut().find(|l| &l.id == lp.line()) {
                line.current_total = lp.target();
            }
        }
        if let Some(f) = plan.freight() {
            next.freight_current = f.target();
        }
        if let Some(a) = plan.address() {
            next.address = Some(a.clone());
        }
        if let Some(l) = plan.logistics() {
            next.logistics = Some(l.clone());
        }
        if let Some(d) = plan.delivery_date() {
            next.delivery_date = Some(d);
        }
        if let Some(r) = plan.remarks() {
            next.remarks = Some(r.clone());
        }
        if let Some(p) = plan.payment() {
            next.payment = Some(p.clone());
        }
        if let Some(items) = plan.items() {
            next.lines = items_to_lines(&next, items);
        }
        next.revision.count = plan.next_revision();
        if new_version.is_some() {
            next.revision.version = new_version;
        }
        next
    }

    /// Checks an [`OrderSpec`] and builds the order.
    pub fn from_spec(spec: OrderSpec) -> Result<Order, OrderError> {
        Order::try_from(spec)
    }
}

/// After an item-list replacement, lines follow the items: an item whose product matches an
/// existing line keeps that line's id and prices; new products become new lines.
fn items_to_lines(order: &Order, items: &[Item]) -> Vec<OrderLine> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let existing = order.lines.iter().find(|l| {
                l.product.as_ref() == Some(&item.product)
                    && (item.sku.is_none() || l.sku == item.sku)
            });
            let unit = item.unit_price.map(|u| u.in_currency(order.currency));
            let total = unit
                .and_then(|u| u.checked_mul(item.quantity.value()).ok())
                .or_else(|| existing.map(|l| l.current_total))
                .unwrap_or_else(|| Money::zero(order.currency));
            OrderLine {
                id: existing
                    .map(|l| l.id.clone())
                    .unwrap_or_else(|| LineId::derived(item.product.as_str(), i + 1)),
                product: Some(item.product.clone()),
                sku: item.sku.clone(),
                name: item
                    .name
                    .clone()
                    .or_else(|| existing.and_then(|l| l.name.clone())),
                unit: item
                    .unit
                    .clone()
                    .or_else(|| existing.and_then(|l| l.unit.clone())),
                quantity: item.quantity,
                unit_price: unit.or_else(|| existing.and_then(|l| l.unit_price)),
                original_total: existing.map(|l| l.original_total).unwrap_or(total),
                current_total: total,
                closed: false,
            }
        })
        .collect()
}

impl TryFrom<OrderSpec> for Order {
    type Error = OrderError;

    fn try_from(spec: OrderSpec) -> Result<Self, OrderError> {
        let currency = spec.currency;
        let err = |field: String, problem: String| OrderError {
            order: spec.id.to_string(),
            field,
            problem,
        };
        let exact = |field: String, a: Amount| -> Result<Money, OrderError> {
            let m = a.in_currency(currency);
            m.to_minor().map_err(|e| err(field, e.to_string()))?;
            Ok(m)
        };
        let mut seen = BTreeSet::new();
        let mut lines = Vec::with_capacity(spec.lines.len());
        for l in &spec.lines {
            let at = |f: &str| format!("lines[{}].{f}", l.id);
            if !seen.insert(l.id.clone()) {
                return Err(err(
                    format!("lines[{}]", l.id),
                    "line id appears twice".into(),
                ));
            }
            let original = exact(at("original_total"), l.original_total)?;
            let current = match l.current_total {
                Some(c) => exact(at("current_total"), c)?,
                None => original,
            };
            lines.push(OrderLine {
                id: l.id.clone(),
                product: l.product.clone(),
                sku: l.sku.clone(),
                name: l.name.clone(),
                unit: l.unit.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price.map(|u| u.in_currency(currency)),
                original_total: original,
                current_total: current,
                closed: l.closed,
            });
        }
        let (fo, fc) = match &spec.freight {
            Some(f) => {
                let o = exact("freight.original".into(), f.original)?;
                let c = match f.current {
                    Some(c) => exact("freight.current".into(), c)?,
                    None => o,
                };
                (o, c)
            }
            None => (Money::zero(currency), Money::zero(currency)),
        };
        Ok(Order {
            id: spec.id,
            status: spec.status,
            currency,
            trade_type: spec.trade_type,
            lines,
            freight_original: fo,
            freight_current: fc,
            revision: spec.revision,
            address: spec.address,
            logistics: spec.logistics,
            delivery_date: spec.delivery_date,
            remarks: spec.remarks,
            payment: spec.payment,
        })
    }
}

fn amount(m: Money) -> Amount {
    // Order amounts are checked non-negative on the way in and plans never produce negative
    // targets, so this cannot fail; zero keeps the conversion total without a panic.
    Amount::new(m.amount()).unwrap_or(Amount::ZERO)
}

impl From<Order> for OrderSpec {
    fn from(o: Order) -> OrderSpec {
        let freight = if o.freight_original.is_zero() && o.freight_current.is_zero() {
            None
        } else {
            Some(FreightSpec {
                original: amount(o.freight_original),
                current: (o.freight_current != o.freight_original)
                    .then(|| amount(o.freight_current)),
            })
        };
        OrderSpec {
            id: o.id,
            status: o.status,
            currency: o.currency,
            trade_type: o.trade_type,
            lines: o
                .lines
                .into_iter()
                .map(|l| OrderLineSpec {
                    id: l.id,
                    product: l.product,
                    sku: l.sku,
                    name: l.name,
                    unit: l.unit,
                    quantity: l.quantity,
                    unit_price: l.unit_price.map(amount),
                    original_total: amount(l.original_total),
                    current_total: (l.current_total != l.original_total)
                        .then(|| amount(l.current_total)),
                    closed: l.closed,
                })
                .collect(),
            freight,
            revision: o.revision,
            address: o.address,
            logistics: o.logistics,
            delivery_date: o.delivery_date,
            remarks: o.remarks,
            payment: o.payment,
        }
    }
}
