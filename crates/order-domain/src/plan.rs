//! Planning: turning an order snapshot, an amendment and a policy into a plan or a rejection.
//!
//! [`plan`] is a pure function. It resolves the amendment against the order (absolute targets,
//! deltas against the original and the current state, the new total, the next revision) and
//! checks every rule of the policy, collecting all violations instead of stopping at the first.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::amendment::{Address, Amendment, Item, Logistics, Part, PaymentBreakdown, Remarks};
use crate::date::CalendarDate;
use crate::ids::{LineId, OrderId, ProductRef, SkuRef, VersionToken};
use crate::money::{Amount, Currency, Money, MoneyError};
use crate::order::{Order, OrderStatus};
use crate::policy::{Policy, PriceDirection};

/// A stable code for one kind of violation. The text form (`price.raise_forbidden`) is part of
/// the public contract: reports and journals store it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ViolationCode {
    /// The amendment sets nothing.
    #[serde(rename = "amendment.empty")]
    AmendmentEmpty,
    /// The platform cannot change this part.
    #[serde(rename = "part.unsupported")]
    PartUnsupported,
    /// The platform needs this part in every request and neither the amendment nor the order
    /// snapshot has it.
    #[serde(rename = "part.required")]
    PartRequired,
    /// The order's status does not allow changes.
    #[serde(rename = "status.not_allowed")]
    StatusNotAllowed,
    /// The order's trade type does not allow changes.
    #[serde(rename = "trade_type.not_allowed")]
    TradeTypeNotAllowed,
    /// The platform restricts trade types and the order snapshot has none.
    #[serde(rename = "trade_type.missing")]
    TradeTypeMissing,
    /// The order reached the platform's revision limit.
    #[serde(rename = "revision.limit_reached")]
    RevisionLimitReached,
    /// The amendment names a line the order does not have.
    #[serde(rename = "line.unknown")]
    LineUnknown,
    /// The amendment names a closed line.
    #[serde(rename = "line.closed")]
    LineClosed,
    /// The amount would end above the original where only lowering is allowed.
    #[serde(rename = "price.raise_forbidden")]
    PriceRaiseForbidden,
    /// The amount has more decimals than the currency's minor unit.
    #[serde(rename = "amount.precision")]
    AmountPrecision,
    /// The amount is too large to send.
    #[serde(rename = "amount.overflow")]
    AmountOverflow,
    /// The order total would become zero where the platform forbids it.
    #[serde(rename = "total.zero_forbidden")]
    TotalZeroForbidden,
    /// Province, city and district must be given together.
    #[serde(rename = "address.region_partial")]
    AddressRegionPartial,
    /// A required address field is missing.
    #[serde(rename = "address.field_missing")]
    AddressFieldMissing,
    /// The transport way is not one the platform knows.
    #[serde(rename = "logistics.way_invalid")]
    LogisticsWayInvalid,
    /// A logistics company is given without a transport way.
    #[serde(rename = "logistics.way_required")]
    LogisticsWayRequired,
    /// The transport way requires a logistics company.
    #[serde(rename = "logistics.company_required")]
    LogisticsCompanyRequired,
    /// The logistics company is not allowed for the transport way.
    #[serde(rename = "logistics.company_not_allowed")]
    LogisticsCompanyNotAllowed,
    /// The transport way takes no logistics company.
    #[serde(rename = "logistics.company_unexpected")]
    LogisticsCompanyUnexpected,
    /// A required logistics field is missing.
    #[serde(rename = "logistics.field_missing")]
    LogisticsFieldMissing,
    /// The full item list is empty.
    #[serde(rename = "items.empty")]
    ItemsEmpty,
    /// A quantity must be a whole number.
    #[serde(rename = "items.quantity_not_whole")]
    ItemsQuantityNotWhole,
    /// A required item field is missing.
    #[serde(rename = "items.field_missing")]
    ItemsFieldMissing,
    /// The payment total is not the sum of its parts.
    #[serde(rename = "payment.total_mismatch")]
    PaymentTotalMismatch,
    /// The product amount is not the sum of quantity times unit price.
    #[serde(rename = "payment.products_mismatch")]
    PaymentProductsMismatch,
    /// The initial payment is above the total.
    #[serde(rename = "payment.initial_above_total")]
    PaymentInitialAboveTotal,
    /// The amendment states two different freights.
    #[serde(rename = "payment.freight_conflict")]
    PaymentFreightConflict,
    /// The platform needs the order's version token and none is known.
    #[serde(rename = "version.missing")]
    VersionMissing,
    /// The order is no longer at the version the amendment expects.
    #[serde(rename = "version.stale")]
    VersionStale,
}

impl ViolationCode {
    /// The stable text form, e.g. `price.raise_forbidden`.
    pub fn as_str(self) -> &'static str {
        use ViolationCode::*;
        match self {
            AmendmentEmpty => "amendment.empty",
            PartUnsupported => "part.unsupported",
            PartRequired => "part.required",
            StatusNotAllowed => "status.not_allowed",
            TradeTypeNotAllowed => "trade_type.not_allowed",
            TradeTypeMissing => "trade_type.missing",
            RevisionLimitReached => "revision.limit_reached",
            LineUnknown => "line.unknown",
            LineClosed => "line.closed",
            PriceRaiseForbidden => "price.raise_forbidden",
            AmountPrecision => "amount.precision",
            AmountOverflow => "amount.overflow",
            TotalZeroForbidden => "total.zero_forbidden",
            AddressRegionPartial => "address.region_partial",
            AddressFieldMissing => "address.field_missing",
            LogisticsWayInvalid => "logistics.way_invalid",
            LogisticsWayRequired => "logistics.way_required",
            LogisticsCompanyRequired => "logistics.company_required",
            LogisticsCompanyNotAllowed => "logistics.company_not_allowed",
            LogisticsCompanyUnexpected => "logistics.company_unexpected",
            LogisticsFieldMissing => "logistics.field_missing",
            ItemsEmpty => "items.empty",
            ItemsQuantityNotWhole => "items.quantity_not_whole",
            ItemsFieldMissing => "items.field_missing",
            PaymentTotalMismatch => "payment.total_mismatch",
            PaymentProductsMismatch => "payment.products_mismatch",
            PaymentInitialAboveTotal => "payment.initial_above_total",
            PaymentFreightConflict => "payment.freight_conflict",
            VersionMissing => "version.missing",
            VersionStale => "version.stale",
        }
    }
}

impl fmt::Display for ViolationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken rule: a stable code, the field path, and a sentence a merchant understands.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Violation {
    /// Field path, e.g. `lines[E1]`, `freight`, `logistics.company`.
    pub field: String,
    /// Stable code.
    pub code: ViolationCode,
    /// Explanation for people.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.field, self.message, self.code)
    }
}

/// Why an amendment cannot be planned: every violation at once, sorted by field and code so
/// the result does not depend on the order in which parts were written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct Rejection {
    /// The order.
    pub order: OrderId,
    /// The platform policy that refused.
    pub policy: String,
    /// All violations, sorted, without duplicates.
    pub violations: Vec<Violation>,
}

impl Rejection {
    /// True when a violation with `code` is present.
    pub fn has(&self, code: ViolationCode) -> bool {
        self.violations.iter().any(|v| v.code == code)
    }

    /// The codes, in order.
    pub fn codes(&self) -> Vec<ViolationCode> {
        self.violations.iter().map(|v| v.code).collect()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "order {} cannot be changed on {}: ",
            self.order, self.policy
        )?;
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

/// The plan for one line: its original, current and target totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinePlan {
    line: LineId,
    product: Option<ProductRef>,
    sku: Option<SkuRef>,
    original: Money,
    current: Money,
    target: Money,
    named: bool,
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
    original: Money,
    current: Money,
    target: Money,
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
/// use order_domain::{plan, Amendment, Order, Policy};
/// let order: Order = serde_json::from_str(r#"{"id": "1001", "status": "awaiting_payment",
///     "currency": "CNY", "lines": [{"id": "L1", "original_total": "10.00"}],
///     "freight": {"original": "6.00"}}"#).unwrap();
/// let amendment: Amendment = serde_json::from_str(r#"{"lines": {"L1": "8.00"}}"#).unwrap();
/// let p = plan(&order, &amendment, &Policy::wechat_shop()).unwrap();
/// assert_eq!(p.lines()[0].delta_vs_original().to_minor().unwrap(), -200);
/// assert_eq!(p.new_total().to_string(), "14.00");
/// assert_eq!(p.next_revision(), 1);
///
/// let raise: Amendment = serde_json::from_str(r#"{"lines": {"L1": "12.00"}}"#).unwrap();
/// let rejection = plan(&order, &raise, &Policy::wechat_shop()).unwrap_err();
/// assert_eq!(rejection.violations[0].code.as_str(), "price.raise_forbidden");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    order: OrderId,
    policy: Cow<'static, str>,
    currency: Currency,
    parts: Vec<Part>,
    lines: Vec<LinePlan>,
    freight: Option<FreightPlan>,
    previous_total: Money,
    new_total: Money,
    address: Option<Address>,
    logistics: Option<Logistics>,
    delivery_date: Option<CalendarDate>,
    items: Option<Vec<Item>>,
    remarks: Option<Remarks>,
    payment: Option<PaymentBreakdown>,
    next_revision: u32,
    version: Option<VersionToken>,
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
    /// Every open line with its target; empty when the amendment sets no line prices.
    pub fn lines(&self) -> &[LinePlan] {
        &self.lines
    }
    /// The lines the amendment named.
    pub fn named_lines(&self) -> impl Iterator<Item = &LinePlan> {
        self.lines.iter().filter(|l| l.named)
    }
    /// Freight, when the amendment sets it.
    pub fn freight(&self) -> Option<&FreightPlan> {
        self.freight.as_ref()
    }
    /// Order total before this revision.
    pub fn previous_total(&self) -> Money {
        self.previous_total
    }
    /// Order total after this revision.
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

/// The field path `lines[<id>]`, formatted only when a violation names it.
#[derive(Clone, Copy)]
struct LineField<'a>(&'a LineId);

impl fmt::Display for LineField<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lines[{}]", self.0)
    }
}

struct Collector {
    violations: Vec<Violation>,
}

impl Collector {
    fn push(&mut self, field: impl Into<String>, code: ViolationCode, message: impl Into<String>) {
        self.violations.push(Violation {
            field: field.into(),
            code,
            message: message.into(),
        });
    }

    /// Converts an amendment amount into money of the order's currency, recording a violation
    /// when it is finer than the minor unit or too large.
    ///
    /// `field` is only formatted when a violation is recorded.
    fn money(&mut self, field: impl fmt::Display, a: Amount, currency: Currency) -> Money {
        let m = a.in_currency(currency);
        match m.to_minor() {
            Ok(_) => {}
            Err(MoneyError::SubMinorPrecision { exponent, .. }) => self.push(
                field.to_string(),
                ViolationCode::AmountPrecision,
                format!("{a} has more than {exponent} decimals, which {currency} does not allow"),
            ),
            Err(_) => self.push(
                field.to_string(),
                ViolationCode::AmountOverflow,
                format!("{a} is too large"),
            ),
        }
        m
    }
}

/// Plans `amendment` against `order` under `policy`.
///
/// Returns the plan, or a [`Rejection`] listing every violation. Pure: no IO, no clock.
pub fn plan(order: &Order, amendment: &Amendment, policy: &Policy) -> Result<Plan, Rejection> {
    let cur = order.currency();
    let mut c = Collector {
        violations: Vec::new(),
    };
    let parts = amendment.parts();

    if parts.is_empty() {
        c.push(
            "set",
            ViolationCode::AmendmentEmpty,
            "the amendment does not set anything",
        );
    }
    for part in &parts {
        if !policy.can_change(*part) {
            c.push(
                part.field(),
                ViolationCode::PartUnsupported,
                format!("{} cannot change the {}", policy.name, part_words(*part)),
            );
        }
    }
    check_order_state(order, policy, &mut c);

    // Version token: carried when known; a different expected version means the caller planned
    // against an older state.
    let version = match (&amendment.version, &order.revision().version) {
        (Some(expected), Some(current)) if expected != current => {
            c.push(
                "version",
                ViolationCode::VersionStale,
                format!("the order is at version {current}, not {expected}: read it again"),
            );
            Some(current.clone())
        }
        (_, Some(current)) => Some(current.clone()),
        (expected, None) => expected.clone(),
    };
    if policy.version_token_required && version.is_none() {
        c.push(
            "version",
            ViolationCode::VersionMissing,
            "the platform needs the order's version",
        );
    }

    // Line prices.
    let mut lines = Vec::with_capacity(if amendment.lines.is_empty() {
        0
    } else {
        order.lines().len()
    });
    if !amendment.lines.is_empty() {
        for (id, amount) in &amendment.lines {
            let field = LineField(id);
            let target = c.money(field, *amount, cur);
            match order.line(id) {
                None => c.push(
                    field.to_string(),
                    ViolationCode::LineUnknown,
                    format!("order has no line {id}"),
                ),
                Some(line) if line.is_closed() && policy.closed_lines_excluded => c.push(
                    field.to_string(),
                    ViolationCode::LineClosed,
                    format!("line {id} is closed and can no longer be changed"),
                ),
                Some(line) => {
                    if policy.price_direction == PriceDirection::LowerOnly
                        && target.checked_cmp(&line.original_total()) == Ok(Ordering::Greater)
                    {
                        c.push(
                            field.to_string(),
                            ViolationCode::PriceRaiseForbidden,
                            format!(
                                "{} only lowers prices: {target} is above the original {}",
                                policy.name,
                                line.original_total()
                            ),
                        );
                    }
                }
            }
        }
        for line in order.lines().iter().filter(|l| !l.is_closed()) {
            let named = amendment.lines.get(line.id());
            lines.push(LinePlan {
                line: line.id().clone(),
                product: line.product().cloned(),
                sku: line.sku().cloned(),
                original: line.original_total(),
                current: line.current_total(),
                target: named.map_or(line.current_total(), |a| a.in_currency(cur)),
                named: named.is_some(),
            });
        }
    }

    // Freight.
    let freight = amendment.freight.map(|a| {
        let target = c.money("freight", a, cur);
        if policy.price_direction == PriceDirection::LowerOnly
            && target.checked_cmp(&order.freight_original()) == Ok(Ordering::Greater)
        {
            c.push(
                "freight",
                ViolationCode::PriceRaiseForbidden,
                format!(
                    "{} only lowers freight: {target} is above the original {}",
                    policy.name,
                    order.freight_original()
                ),
            );
        }
        FreightPlan {
            original: order.freight_original(),
            current: order.freight_current(),
            target,
        }
    });

    let previous_total = order.total().unwrap_or(Money::zero(cur));
    // `lines` is empty or holds the open lines in the order's order, one each.
    let line_targets = order
        .lines()
        .iter()
        .filter(|l| !l.is_closed())
        .enumerate()
        .map(|(i, l)| lines.get(i).map_or(l.current_total(), LinePlan::target));
    let price_total = Money::sum(cur, line_targets)
        .and_then(|t| t.checked_add(freight.map_or(order.freight_current(), |f| f.target)))
        .unwrap_or(previous_total);
    if !policy.zero_total_allowed
        && (!lines.is_empty() || freight.is_some())
        && price_total.is_zero()
    {
        c.push(
            "total",
            ViolationCode::TotalZeroForbidden,
            "the order total would become zero",
        );
    }

    let address = resolve(
        Part::Address,
        amendment.address.as_ref(),
        order.address(),
        policy,
        &mut c,
    );
    if let Some(a) = &amendment.address {
        check_address(a, policy, &mut c);
    }
    if let Some(a) = &address {
        for field in &policy.address_required {
            if !address_has(a, field) {
                c.push(
                    format!("address.{field}"),
                    ViolationCode::AddressFieldMissing,
                    format!("{} needs the address's {field}", policy.name),
                );
            }
        }
    }

    let logistics = resolve(
        Part::Logistics,
        amendment.logistics.as_ref(),
        order.logistics(),
        policy,
        &mut c,
    );
    if let Some(l) = &amendment.logistics {
        check_logistics(l, order.logistics(), policy, &mut c);
    }
    if let Some(l) = &logistics {
        for field in &policy.logistics_required {
            if !logistics_has(l, field) {
                c.push(
                    format!("logistics.{field}"),
                    ViolationCode::LogisticsFieldMissing,
                    format!("{} needs the logistics' {field}", policy.name),
                );
            }
        }
    }

    let items = match &amendment.items {
        Some(items) => Some(items.clone()),
        None if policy.always_sent.contains(&Part::Items) => Some(items_from_lines(order)),
        None => None,
    };
    if let Some(items) = &items {
        check_items(items, amendment.items.is_some(), cur, policy, &mut c);
    }

    let payment = resolve(
        Part::Payment,
        amendment.payment.as_ref(),
        order.payment(),
        policy,
        &mut c,
    );
    if let (Some(f), Some(p)) = (amendment.freight, &payment)
        && f.value() != p.freight.value()
    {
        c.push(
            "payment.freight",
            ViolationCode::PaymentFreightConflict,
            format!("freight {f} and payment freight {} disagree", p.freight),
        );
    }
    if let (true, Some(p)) = (policy.payment_must_add_up, &payment) {
        check_payment(p, items.as_deref(), cur, &mut c);
    }

    let new_total = payment
        .as_ref()
        .map_or(price_total, |p| p.total.in_currency(cur));

    if c.violations.is_empty() {
        Ok(Plan {
            order: order.id().clone(),
            policy: policy.name.clone(),
            currency: cur,
            parts,
            lines,
            freight,
            previous_total,
            new_total,
            address,
            logistics,
            delivery_date: amendment.delivery_date,
            items,
            remarks: amendment.remarks.clone(),
            payment,
            next_revision: order.revision().count.saturating_add(1),
            version,
        })
    } else {
        let mut violations = c.violations;
        violations.sort();
        violations.dedup();
        Err(Rejection {
            order: order.id().clone(),
            policy: policy.name.to_string(),
            violations,
        })
    }
}

fn part_words(part: Part) -> &'static str {
    match part {
        Part::LinePrices => "line prices",
        Part::Freight => "freight",
        Part::Address => "address",
        Part::Logistics => "logistics",
        Part::DeliveryDate => "delivery date",
        Part::Items => "item list",
        Part::Remarks => "remarks",
        Part::Payment => "payment breakdown",
    }
}

fn check_order_state(order: &Order, policy: &Policy, c: &mut Collector) {
    let status_ok = match &policy.allowed_statuses {
        Some(allowed) => allowed.contains(order.status()),
        None => *order.status() != OrderStatus::Closed,
    };
    if !status_ok {
        c.push(
            "order.status",
            ViolationCode::StatusNotAllowed,
            format!(
                "{} does not change orders that are {}",
                policy.name,
                order.status()
            ),
        );
    }
    if let Some(types) = &policy.allowed_trade_types {
        match order.trade_type() {
            None => c.push(
                "order.trade_type",
                ViolationCode::TradeTypeMissing,
                format!(
                    "{} only changes some trade types; the order snapshot has none",
                    policy.name
                ),
            ),
            Some(t) if !types.iter().any(|a| a == t) => c.push(
                "order.trade_type",
                ViolationCode::TradeTypeNotAllowed,
                format!(
                    "{} only changes trade types {}; this order is type {t}",
                    policy.name,
                    types.join(", ")
                ),
            ),
            Some(_) => {}
        }
    }
    if let Some(limit) = policy.revision_limit
        && order.revision().count >= limit
    {
        c.push(
            "revision",
            ViolationCode::RevisionLimitReached,
            format!(
                "the order was already changed {limit} times, the most {} allows",
                policy.name
            ),
        );
    }
}

/// The value of an always-sent part: the amendment's, else the order's current one.
fn resolve<T: Clone>(
    part: Part,
    set: Option<&T>,
    current: Option<&T>,
    policy: &Policy,
    c: &mut Collector,
) -> Option<T> {
    match (set, policy.always_sent.contains(&part)) {
        (Some(v), _) => Some(v.clone()),
        (None, true) => {
            if current.is_none() {
                c.push(
                    part.field(),
                    ViolationCode::PartRequired,
                    format!(
                        "{} needs the order's {} in every change; give it in the amendment or the order",
                        policy.name,
                        part_words(part)
                    ),
                );
            }
            current.cloned()
        }
        (None, false) => None,
    }
}

fn check_address(a: &Address, policy: &Policy, c: &mut Collector) {
    if policy.address_region_all_or_nothing {
        let given = [&a.province, &a.city, &a.district]
            .iter()
            .filter(|p| p.is_some())
            .count();
        if given != 0 && given != 3 {
            c.push(
                "address",
                ViolationCode::AddressRegionPartial,
                "province, city and district must be given together",
            );
        }
    }
}

/// `!s.trim().is_empty()`, stopping at the first character that is not white space.
fn not_blank(s: &str) -> bool {
    !s.chars().all(char::is_whitespace)
}

fn address_has(a: &Address, field: &str) -> bool {
    let present = |v: &Option<String>| v.as_deref().is_some_and(not_blank);
    match field {
        "receiver" => present(&a.receiver),
        "mobile" => present(&a.mobile),
        "telephone" => a.telephone.as_ref().is_some_and(|t| present(&t.number)),
        "country" => present(&a.country),
        "province" => present(&a.province),
        "city" => present(&a.city),
        "district" => present(&a.district),
        "street" => present(&a.street),
        "zip" => present(&a.zip),
        _ => true,
    }
}

fn logistics_has(l: &Logistics, field: &str) -> bool {
    let present = |v: &Option<String>| v.as_deref().is_some_and(not_blank);
    match field {
        "shipment_method" => present(&l.shipment_method),
        "trade_term" => present(&l.trade_term),
        "shipment_date" => l.shipment_date.is_some(),
        "carrier" => present(&l.carrier),
        "warehouse" => present(&l.warehouse),
        "transport_way" => l.transport_way.is_some(),
        _ => true,
    }
}

fn check_logistics(l: &Logistics, current: Option<&Logistics>, policy: &Policy, c: &mut Collector) {
    let Some(rules) = &policy.logistics_rules else {
        return;
    };
    let way = l.transport_way.or(current.and_then(|x| x.transport_way));
    let company = l.company.filter(|&id| id != 0);
    match way {
        Some(w) if !rules.ways.contains(&w) => c.push(
            "logistics.transport_way",
            ViolationCode::LogisticsWayInvalid,
            format!("transport way {w} is not one of {:?}", rules.ways),
        ),
        Some(w) => match (rules.companies_for(w), company) {
            (Some(_), None) => c.push(
                "logistics.company",
                ViolationCode::LogisticsCompanyRequired,
                format!("transport way {w} needs a logistics company"),
            ),
            (Some(allowed), Some(id)) if !allowed.contains(&id) => c.push(
                "logistics.company",
                ViolationCode::LogisticsCompanyNotAllowed,
                format!("logistics company {id} is not one of {allowed:?} for transport way {w}"),
            ),
            (None, Some(id)) => c.push(
                "logistics.company",
                ViolationCode::LogisticsCompanyUnexpected,
                format!("transport way {w} takes no logistics company, but {id} is given"),
            ),
            _ => {}
        },
        None if company.is_some() => c.push(
            "logistics.transport_way",
            ViolationCode::LogisticsWayRequired,
            "a logistics company needs a transport way",
        ),
        None => {}
    }
}

fn items_from_lines(order: &Order) -> Vec<Item> {
    order
        .lines()
        .iter()
        .filter(|l| !l.is_closed())
        .filter_map(|l| {
            Some(Item {
                product: l.product()?.clone(),
                sku: l.sku().cloned(),
                name: l.name().map(str::to_owned),
                unit: l.unit().map(str::to_owned),
                quantity: l.quantity(),
                unit_price: l.unit_price().and_then(|u| Amount::new(u.amount()).ok()),
                remark: None,
            })
        })
        .collect()
}

fn check_items(
    items: &[Item],
    from_amendment: bool,
    cur: Currency,
    policy: &Policy,
    c: &mut Collector,
) {
    if policy.items_full_replacement && items.is_empty() {
        c.push(
            "items",
            ViolationCode::ItemsEmpty,
            "the item list replaces the whole order and must not be empty",
        );
    }
    for (i, item) in items.iter().enumerate() {
        let at = |f: &str| format!("items[{i}].{f}");
        if policy.whole_quantities && !item.quantity.is_whole() {
            c.push(
                at("quantity"),
                ViolationCode::ItemsQuantityNotWhole,
                format!(
                    "quantity {} of {} must be a whole number",
                    item.quantity, item.product
                ),
            );
        }
        for field in &policy.item_required {
            let present = match *field {
                "name" => item.name.as_deref().is_some_and(not_blank),
                "unit" => item.unit.as_deref().is_some_and(not_blank),
                "unit_price" => item.unit_price.is_some(),
                "sku" => item.sku.is_some(),
                _ => true,
            };
            if !present {
                let whence = if from_amendment {
                    ""
                } else {
                    " (taken from the order snapshot)"
                };
                c.push(
                    at(field),
                    ViolationCode::ItemsFieldMissing,
                    format!(
                        "{} needs the {field} of {}{whence}",
                        policy.name, item.product
                    ),
                );
            }
        }
        if let Some(u) = item.unit_price {
            c.money(format_args!("items[{i}].unit_price"), u, cur);
        }
    }
}

fn check_payment(p: &PaymentBreakdown, items: Option<&[Item]>, cur: Currency, c: &mut Collector) {
    let zero = Amount::ZERO;
    let products = c.money("payment.products", p.products, cur);
    let freight = c.money("payment.freight", p.freight, cur);
    let insurance = c.money("payment.insurance", p.insurance.unwrap_or(zero), cur);
    let vas = c.money(
        "payment.value_added_services",
        p.value_added_services.unwrap_or(zero),
        cur,
    );
    let tax = c.money("payment.tax", p.tax.unwrap_or(zero), cur);
    let total = c.money("payment.total", p.total, cur);
    let initial = c.money("payment.initial", p.initial, cur);

    if let Ok(sum) = Money::sum(cur, [products, freight, insurance, vas, tax])
        && sum != total
    {
        c.push(
                "payment.total",
                ViolationCode::PaymentTotalMismatch,
                format!(
                    "total {total} is not products {products} + freight {freight} + insurance {insurance} + services {vas} + tax {tax} = {sum}"
                ),
            );
    }
    if let Some(items) = items {
        let lines: Option<Vec<Money>> = items
            .iter()
            .map(|i| {
                i.unit_price
                    .and_then(|u| u.in_currency(cur).checked_mul(i.quantity.value()).ok())
            })
            .collect();
        if let Some(Ok(sum)) = lines.map(|l| Money::sum(cur, l))
            && sum != products
        {
            c.push(
                "payment.products",
                ViolationCode::PaymentProductsMismatch,
                format!("products {products} is not the sum of quantity × unit price, {sum}"),
            );
        }
    }
    if initial.checked_cmp(&total) == Ok(Ordering::Greater) {
        c.push(
            "payment.initial",
            ViolationCode::PaymentInitialAboveTotal,
            format!("initial payment {initial} is above the total {total}"),
        );
    }
}
