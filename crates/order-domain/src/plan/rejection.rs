//! What a refusal says: stable violation codes, violations, the rejection, and the collector
//! the checks write into.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::OrderId;
use crate::money::{Amount, Currency, Money, MoneyError};
use crate::order::Order;
use crate::policy::Policy;

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

/// Gathers every violation, so a rejection lists them all at once.
#[derive(Default)]
pub(super) struct Collector {
    violations: Vec<Violation>,
}

impl Collector {
    pub(super) fn push(
        &mut self,
        field: impl Into<String>,
        code: ViolationCode,
        message: impl Into<String>,
    ) {
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
    pub(super) fn money(
        &mut self,
        field: impl fmt::Display,
        a: Amount,
        currency: Currency,
    ) -> Money {
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

    /// `Ok` when nothing was violated, else the rejection with every violation sorted and
    /// without duplicates.
    pub(super) fn finish(self, order: &Order, policy: &Policy) -> Result<(), Rejection> {
        if self.violations.is_empty() {
            return Ok(());
        }
        let mut violations = self.violations;
        violations.sort();
        violations.dedup();
        Err(Rejection {
            order: order.id().clone(),
            policy: policy.name.to_string(),
            violations,
        })
    }
}
