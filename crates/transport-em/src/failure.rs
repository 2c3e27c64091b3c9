//! The typed client's error: transport-core's [`OperationFailure`] over the generated
//! [`TradeModifyError`] table (smithy-rs style). The
//! [`OrderPlatform`](order_domain::OrderPlatform) implementation converts it into the domain's
//! [`PlatformError`](order_domain::PlatformError).

use transport_core::failure::OperationFailure;
pub(crate) use transport_core::failure::retried;

use crate::generated::errors::TradeModifyError;

/// Why a [`EmClient::modify_trade`](crate::EmClient::modify_trade) call failed: EM answered
/// with a non-zero `statusCode` (`Refused`, typed), or there was no answer to type
/// (`Unanswered`).
pub type TradeModifyFailure = OperationFailure<TradeModifyError>;
