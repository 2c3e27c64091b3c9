//! # order-domain
//!
//! The pure core of ordermod: exact [`Money`], text identifiers, the [`Order`] snapshot, the
//! absolute [`Amendment`], the [`Policy`] type (each platform's policy lives in its transport
//! crate), the pure [`plan`] function with its
//! [`Rejection`]s, revisions ([`Order::with_revision`]) and the ports adapters implement
//! ([`OrderPlatform`], [`Journal`], [`Clock`], [`MessageDecoder`]).
//!
//! This crate does no IO and depends on no IO crate (architecture invariant 1), and no amount
//! ever passes through `f64` (invariant 2).
//!
//! ```
//! use order_domain::{plan, Amendment, Order, Part, Policy, PriceDirection, ViolationCode};
//!
//! // Each transport crate defines its platform's policy; this one is built here.
//! let policy = Policy::permissive("lower-only")
//!     .with_changeable([Part::LinePrices, Part::Freight])
//!     .with_price_direction(PriceDirection::LowerOnly)
//!     .with_zero_total_allowed(false);
//!
//! let order: Order = serde_json::from_str(r#"{
//!     "id": "2198111437768747370", "status": "awaiting_payment", "currency": "CNY",
//!     "trade_type": "6",
//!     "lines": [{ "id": "2198111437768747371", "original_total": "100.00" }],
//!     "freight": { "original": "2.00" }
//! }"#).unwrap();
//! let set: Amendment = serde_json::from_str(r#"{ "lines": { "2198111437768747371": "80.00" }, "freight": "0" }"#).unwrap();
//!
//! let p = plan(&order, &set, &policy).unwrap();
//! assert_eq!(p.lines()[0].delta_vs_original().to_minor().unwrap(), -2000); // fen, signed
//! assert_eq!(p.new_total().to_string(), "80.00");
//!
//! // This policy refuses a zero total; every violation is listed at once.
//! let zero: Amendment = serde_json::from_str(r#"{ "lines": { "2198111437768747371": "0" }, "freight": "0" }"#).unwrap();
//! let r = plan(&order, &zero, &policy).unwrap_err();
//! assert!(r.has(ViolationCode::TotalZeroForbidden));
//! ```
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod amendment;
mod date;
mod ids;
mod money;
mod order;
mod plan;
mod policy;
pub mod ports;

pub use amendment::{
    Address, Amendment, Item, Logistics, Part, PaymentBreakdown, Phone, Remarks, ShipmentDate,
};
pub use date::{CalendarDate, DateError};
pub use ids::{IdError, IdempotencyKey, LineId, OrderId, ProductRef, ShopId, SkuRef, VersionToken};
pub use money::{Amount, Currency, Money, MoneyError};
pub use order::{
    FreightSpec, Order, OrderError, OrderLine, OrderLineSpec, OrderSpec, OrderStatus, Quantity,
    QuantityError, RevisionState,
};
pub use plan::{FreightPlan, LinePlan, Plan, Rejection, Violation, ViolationCode, plan};
pub use policy::{
    AddressField, ItemField, LinePriceForm, LogisticsField, LogisticsRules, Policy, PriceDirection,
    UnnamedLines,
};
pub use ports::clock::{Clock, FixedClock, Timestamp};
pub use ports::journal::{
    AmendmentRecord, AmendmentState, Begin, InboundRecord, Intent, Journal, JournalError,
    MessageInsert, MessageRecord, Outcome, StorageCause, undelivered,
};
pub use ports::message::{InboundEvent, MessageDecoder, MessageError, Verified};
pub use ports::platform::{OrderPlatform, PlatformError, PlatformErrorKind, Receipt};
pub use ports::source::OrderSource;
