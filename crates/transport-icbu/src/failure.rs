//! The typed client's error: transport-core's [`OperationFailure`] over the operation's two
//! generated tables (smithy-rs style). The [`OrderPlatform`](order_domain::OrderPlatform)
//! implementation converts it into the domain's [`PlatformError`](order_domain::PlatformError).

use transport_core::failure::OperationFailure;
pub(crate) use transport_core::failure::retried;

use crate::generated::errors::{OrderModifyGatewayError, OrderModifyResultError};

/// An ICBU refusal, typed: ICBU refuses at two levels.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrderModifyRefusal {
    /// The TOP gateway answered with an `error_response`.
    Gateway(OrderModifyGatewayError),
    /// The operation refused the change (`result.success` false).
    Result(OrderModifyResultError),
}

/// Why a [`IcbuClient::modify_order`](crate::IcbuClient::modify_order) call failed: a typed
/// [`OrderModifyRefusal`] (`Refused`), or no answer to type (`Unanswered`).
pub type OrderModifyFailure = OperationFailure<OrderModifyRefusal>;
