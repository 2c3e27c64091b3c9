//! # transport-em
//!
//! EM franchiser ERP `POST /franchiser/api/trade/modify` for ordermod, in two layers:
//!
//! 1. [`EmClient`]: the typed client of the raw operation, usable on its own. It form-encodes
//!    `appid`, `timestamp` (Unix seconds), `sign` and `request_data` (the JSON text of a
//!    [`TradeModifyRequest`]), signs with a pluggable [`EmSignScheme`] (EM does not publish its
//!    recipe; the default is documented in [`sign`]), paces calls per appid, retries retryable
//!    failures, and turns the reply into [`TradeModified`] or a [`PlatformError`](order_domain::PlatformError) carrying EM's
//!    `statusCode` and `message` verbatim (classified by the generated
//!    [`TradeModifyError`](generated::errors::TradeModifyError)).
//! 2. [`EmPlatform`]: the [`OrderPlatform`](order_domain::OrderPlatform) port with
//!    [`policy()`](crate::policy()). From a plan it sends only
//!    the parts the plan carries: address → `receivername`, `mobile`, `provincename`,
//!    `cityname`, `distrctname`, `address`; logistics → `warehouseid`, `transportway`,
//!    `logisticscompanyid` (ways 2 and 4 only), `logisticscontact`, `logisticscarnumber`,
//!    `logisticsmobile`; delivery date → `deliverydate`; remarks → `traderemark` (order) and
//!    `remark` (logistics); items → the full list with whole quantities as integers.
//!
//! The reference page is `docs/platforms/em-franchiser.md`; [`generated`] is produced from it by
//! `cargo xtask codegen`.
//!
//! ```no_run
//! use transport_core::{HttpClient, HttpConfig, SecretString};
//! use transport_em::{EmClient, EmConfig, EmSignScheme, TradeModifyItem, TradeModifyRequest};
//!
//! # async fn demo() -> Result<(), order_domain::PlatformError> {
//! let http = HttpClient::new(&HttpConfig::default())?;
//! let config = EmConfig::new(
//!     "https://47.101.175.115:7070",
//!     "my-appid",
//!     SecretString::from("my-secret".to_owned()),
//! )
//! .with_sign_scheme(EmSignScheme::AmpersandKey);
//! let em = EmClient::new(http, config);
//!
//! let mut change = TradeModifyRequest::new("DD202409260001");
//! change.deliverydate = Some("2024-09-28".into());
//! change.traderemark = Some("请周末送达".into());
//! change.items = Some(vec![TradeModifyItem::new("ERP_1113005", 1)]);
//! let done = em.modify_trade(&change).await?;
//! println!("EM changed {:?}: {}", done.tradeno, done.message);
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
pub use policy::policy;
pub mod sign;
mod wire;

pub use client::{EmClient, EmConfig, SystemClock};
pub use failure::TradeModifyFailure;
pub use generated::errors::TradeModifyError;
pub use platform::{EmPlatform, request_data_from_plan, request_from_plan};
pub use sign::{EmSignScheme, EmSigner, UnknownSignScheme};
/// The config builders (`with_base_url`, `with_rate_limit`, `with_retry`, `with_limiter`, …).
pub use transport_core::ClientConfig;
pub use wire::{EmNumberStyle, TradeModified, TradeModifyItem, TradeModifyRequest, decode_reply};
