//! # transport-icbu
//!
//! Alibaba.com (ICBU) TOP `alibaba.trade.order.modify` for ordermod, in two layers:
//!
//! 1. [`IcbuClient`]: the typed TOP client, usable on its own. It posts the form `method`,
//!    `app_key`, `session`, `timestamp` (`yyyy-MM-dd HH:mm:ss` in GMT+8, computed from the
//!    injected UTC clock), `format=json`, `v=2.0`, `sign_method`, `sign` and
//!    `param_order_modify` (the JSON text of an [`OrderModifyRequest`]) to
//!    `{base_url}/router/rest`, signs it per [`sign`] (md5, hmac or hmac-sha256), paces calls
//!    per app key, retries retryable failures, and decodes the reply into [`OrderModified`] or
//!    a [`PlatformError`](order_domain::PlatformError).
//! 2. [`IcbuPlatform`]: the [`OrderPlatform`](order_domain::OrderPlatform) port with
//!    [`policy()`](crate::policy()): every request carries the
//!    full address, logistics, product list and payment breakdown, money as decimal strings
//!    in the order's currency with the currency named, and the order's version.
//! 3. The [`OrderSource`](order_domain::OrderSource) port on the same [`IcbuPlatform`]:
//!    `alibaba.seller.order.get` ([`IcbuClient::get_order`]), mapped by [`read::to_order`] to the
//!    domain snapshot with the version token (`contract_version`) the next modify needs.
//!
//! ## Errors
//!
//! | reply | kind |
//! |---|---|
//! | `result.success = false` | by `error_code`, from the generated `OrderModifyResultError` (code and message verbatim) |
//! | `error_response` code 25 / 27 | `Unauthorised` |
//! | `error_response` code 7, or a `sub_code` naming a limit | `RateLimited` (retried) |
//! | `error_response` with a `sub_code` `isp.*` (service unavailable) | `Transient` (retried) |
//! | `error_response` code 15 with `isv.invalid-parameter` / `isv.missing-parameter`, code 50 | `InvalidRequest` |
//! | `error_response` code 15 otherwise | `RejectedByRule` |
//! | undocumented code | `Protocol`, code and message kept |
//! | not JSON, truncated, unknown shape | `Protocol` |
//!
//! A gateway error's message is `sub_msg` (else `msg`); its detail keeps `msg`, `sub_code`,
//! `sub_msg` and `request_id`. `code` is decoded whether it arrives as a number or a string.
//!
//! The reference page is `docs/platforms/alibaba-icbu.md`; [`generated`] is produced from it
//! by `cargo xtask codegen`.
//!
//! ```no_run
//! use transport_core::{HttpClient, HttpConfig, SecretString};
//! use transport_icbu::{
//!     IcbuClient, IcbuConfig, LogisticsDetail, OrderModifyRequest, PaymentDetail, Phone,
//!     Product, ShipmentAddress, ShipmentDate, SignMethod,
//! };
//!
//! # async fn demo() -> Result<(), order_domain::PlatformError> {
//! let http = HttpClient::new(&HttpConfig::default())?;
//! let config = IcbuConfig::new(
//!     "12345678",
//!     SecretString::from("app-secret".to_owned()),
//!     SecretString::from("seller-session".to_owned()),
//! )
//! .with_sign_method(SignMethod::HmacSha256);
//! let top = IcbuClient::new(http, config);
//!
//! let address = ShipmentAddress {
//!     zip: "461670".into(),
//!     country: "United States of America".into(),
//!     address: "Bank of new york".into(),
//!     city: "New York".into(),
//!     contact_person: "james".into(),
//!     telephone: Phone::new(None, Some("1".into()), Some("2125550100".into())),
//!     ..ShipmentAddress::default()
//! };
//! let logistics = LogisticsDetail::new(address, "sea", "FOB", ShipmentDate::after_days(5));
//! let payment = PaymentDetail {
//!     shipment_fee: "20".into(),
//!     product_amount: "200".into(),
//!     total_amount: "220".into(),
//!     initial_amount: "150".into(),
//!     currency: Some("USD".into()),
//!     ..PaymentDetail::default()
//! };
//! let product = Product {
//!     name: "helloworld".into(),
//!     sku_id: "-1".into(),
//!     unit: "set".into(),
//!     quantity: "100".into(),
//!     unit_price_str: "2".into(),
//!     ..Product::default()
//! };
//! let mut change = OrderModifyRequest::new("24668306501026709", logistics, payment, vec![product]);
//! change.remark = Some("请尽快发货".into());
//! change.version = Some("1576114051021".into());
//! let done = top.modify_order(&change).await?;
//! println!("changed {:?}, pay at {:?}", done.trade_id, done.pay_url);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod client;
mod failure;
#[allow(missing_docs)]
pub mod generated;
mod platform;
pub mod policy;
pub mod read;
mod source;
pub use policy::policy;
pub mod sign;
mod wire;

pub use client::{DEFAULT_BASE_URL, DEFAULT_PATH, IcbuClient, IcbuConfig, SystemClock};
pub use failure::{OrderModifyFailure, OrderModifyRefusal};
pub use generated::errors::{OrderModifyGatewayError, OrderModifyResultError};
pub use platform::{IcbuPlatform, param_from_plan, request_from_plan};
pub use sign::{SignMethod, top_timestamp};
/// The config builders (`with_base_url`, `with_rate_limit`, `with_retry`, `with_limiter`, …).
pub use transport_core::ClientConfig;
pub use wire::{
    DateVo, LogisticsDetail, OrderModified, OrderModifyRequest, PaymentDetail, Phone, Product,
    ShipmentAddress, ShipmentDate, decode_reply, gateway_error, result_error,
};
