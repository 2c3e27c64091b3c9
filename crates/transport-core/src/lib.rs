//! # transport-core
//!
//! The runtime every `transport-*` crate of ordermod shares. Each module is small and usable on
//! its own:
//!
//! | module | what it gives |
//! |---|---|
//! | [`http`] | [`HttpClient`]: one `reqwest` client per process (rustls on `ring`, see [`install_crypto_provider`], connect and total timeouts, pooled connections, loopback never proxied, redirects off), cheap to clone, and [`HttpClient::send`] which reads a whole reply and maps every failure to a redacted [`PlatformError`]. |
//! | [`client`] | [`ClientSettings`]: what every platform client is configured with (base URL and path, rate or the credential's shared limiter, retry policy) with one set of builder methods and a redacting `Debug`, and [`Masked`] for secret fields in a hand-written `Debug`. |
//! | [`secret`] | [`SecretString`] and [`ExposeSecret`] re-exported from `secrecy`: credentials are held in them so they never reach `Debug`, `Display` or an error. |
//! | [`redact`] | [`redact_url`] (query values of token-like parameters become `***`) and [`redact_text`] (known secret values become `***`). |
//! | [`sign`] | pure digest primitives for platform signatures: MD5, HMAC-MD5, HMAC-SHA1, HMAC-SHA256, upper/lower hex, and [`verify_hex`](sign::verify_hex), a constant-time comparison of a received hex signature. |
//! | [`limit`] | [`RateLimiter`]: per-credential request pacing on `governor`, and [`RateLimiters`], one shared limiter per credential for the whole process (the app's send pacing and the transport's client use the same one; [`RateLimiter::reserve`] takes a request's slot ahead so it is not taken twice). |
//! | [`failure`] | [`OperationFailure`]: the typed clients' error, generic over the operation's generated refusal enum (`Refused` with the typed error and its domain classification, or `Unanswered`), and [`failure::retried`], bounded retries that hand back the last attempt's typed failure. |
//! | [`retry`] | [`RetryPolicy`] and [`with_retries`]: bounded exponential backoff with jitter (`backon`) that retries retryable [`PlatformError`]s only and honours their `retry_after`. |
//! | [`text`] | [`SmallText`](text::SmallText): short wire text (amounts, dates) formatted without a heap allocation. |
//! | [`wechat_token`] | WeChat app access tokens shared by the WeChat transports: [`TokenSource`](wechat_token::TokenSource), [`AppSecretTokenSource`](wechat_token::AppSecretTokenSource) (`/cgi-bin/token` or `/cgi-bin/stable_token`, cached, single-flight) and [`TokenSources`](wechat_token::TokenSources), one source per app. |
//! | [`error`] | conversions from `reqwest` errors, HTTP statuses and undecodable bodies into [`PlatformError`]s, always redacted, with a short snippet of a bad body. |
//!
//! Errors are the domain's [`PlatformError`] throughout, so a transport returns what the
//! [`OrderPlatform`](order_domain::OrderPlatform) port expects without another conversion.
//!
//! ```no_run
//! use std::time::Duration;
//! use transport_core::{HttpClient, HttpConfig, RateLimiter, RetryPolicy, with_retries};
//!
//! # async fn demo() -> Result<(), order_domain::PlatformError> {
//! let http = HttpClient::new(&HttpConfig::default())?;
//! let limiter = RateLimiter::per_second(Some(10));
//! let policy = RetryPolicy::default();
//! let reply = with_retries(&policy, || async {
//!     limiter.until_ready("shop-1").await;
//!     http.send(http.inner().get("http://127.0.0.1:8080/ping"), &[]).await
//! })
//! .await?;
//! assert!(reply.status().is_success());
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod client;
pub mod clock;
pub mod convert;
pub mod error;
pub mod failure;
pub mod http;
pub mod lenient;
pub mod limit;
pub mod redact;
pub mod retry;
pub mod secret;
pub mod sign;
pub mod text;
pub mod wechat_token;

pub use client::{ClientConfig, ClientSettings, Masked};
pub use clock::SystemClock;
pub use convert::{invalid_request, minor_units, numeric_id};
pub use error::{decode_json, from_reqwest, from_status, protocol_error, snippet};
pub use failure::OperationFailure;
pub use http::{HttpClient, HttpConfig, HttpReply, endpoint, install_crypto_provider};
pub use limit::{RateLimiter, RateLimiters};
pub use order_domain::{PlatformError, PlatformErrorKind};
pub use redact::{redact_text, redact_url};
pub use retry::{RetryPolicy, with_retries, with_retries_counted};
pub use secret::{ExposeSecret, SecretString};
