//! The typed client's error: transport-core's [`OperationFailure`] over the operation's two
//! generated tables (smithy-rs style). The [`OrderPlatform`](order_domain::OrderPlatform)
//! implementation converts it into the domain's [`PlatformError`](order_domain::PlatformError).

use transport_core::failure::OperationFailure;
pub(crate) use transport_core::failure::retried;

use crate::generated::errors::{ModifyOrderPriceError, ModifyOrderPriceResultError};

/// A vv-tool refusal, typed: it refuses at two levels.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModifyOrderPriceRefusal {
    /// vv-tool answered with a non-zero envelope `code`.
    Envelope(ModifyOrderPriceError),
    /// 1688 refused the change (`data.success` false, its `result_code`).
    Result(ModifyOrderPriceResultError),
}

/// Why a [`VvtoolClient::modify_order_price`](crate::VvtoolClient::modify_order_price) call
/// failed: a typed [`ModifyOrderPriceRefusal`] (`Refused`), or no answer to type
/// (`Unanswered`).
pub type ModifyOrderPriceFailure = OperationFailure<ModifyOrderPriceRefusal>;
