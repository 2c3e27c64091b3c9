//! The typed client's error: transport-core's [`OperationFailure`] over the generated
//! [`ChangeOrderPriceError`] table (smithy-rs style). The
//! [`OrderPlatform`](order_domain::OrderPlatform) implementation converts it into the domain's
//! [`PlatformError`](order_domain::PlatformError).

use transport_core::failure::OperationFailure;
pub(crate) use transport_core::failure::retried;

use crate::generated::errors::ChangeOrderPriceError;

/// Why a [`WechatShopClient::change_order_price`](crate::WechatShopClient::change_order_price)
/// call failed: WeChat answered with a non-zero errcode (`Refused`, typed), or there was no
/// answer to type (`Unanswered`).
pub type ChangeOrderPriceFailure = OperationFailure<ChangeOrderPriceError>;
