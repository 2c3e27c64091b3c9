//! Scaffolding every platform client shares, so each transport does not repeat it.
//!
//! [`ClientSettings`] holds what every client is configured with besides its own credentials
//! and wire options: where requests go (`base_url` + `path`), how fast (a rate, or a shared
//! [`RateLimiter`] from [`RateLimiters`](crate::RateLimiters)), and how patiently
//! ([`RetryPolicy`]). It has one set of builder methods and a `Debug` that redacts the base URL
//! (a password or token in it shows as `***`). A transport's config embeds it next to its own
//! fields and prints its secrets with [`Masked`].
//!
//! ```
//! use transport_core::client::{ClientSettings, Masked};
//! use transport_core::{RateLimiters, RetryPolicy, SecretString};
//!
//! #[derive(Debug)]
//! struct ShopConfig {
//!     settings: ClientSettings,
//!     appid: String,
//!     #[allow(dead_code)]
//!     secret: SecretString,
//! }
//!
//! let limiters = RateLimiters::new();
//! let settings = ClientSettings::new("https://api.example.com/", "/order/change")
//!     .with_rate_limit(Some(10))
//!     .with_retry(RetryPolicy::never())
//!     .with_limiter(limiters.for_credential("shop:wx1", Some(10)));
//! assert_eq!(settings.url(), "https://api.example.com/order/change");
//! assert!(settings.limiter().same_as(&limiters.for_credential("shop:wx1", None)));
//! assert_eq!(format!("{:?}", Masked), "***");
//! ```

use std::fmt;

use crate::http::endpoint;
use crate::limit::RateLimiter;
use crate::redact::redact_url;
use crate::retry::RetryPolicy;

/// Prints `***` under `Debug`: for a secret field in a hand-written `Debug`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Masked;

impl fmt::Debug for Masked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a client sends, how fast and how patiently; see the [module docs](self).
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientSettings {
    /// Base URL of the platform (scheme, host, port, optional prefix).
    pub base_url: String,
    /// Path of the operation under the base URL.
    pub path: String,
    /// Requests per second for the credential; `None` = unlimited. Ignored when a shared
    /// limiter is given ([`with_limiter`](Self::with_limiter)).
    pub rate_limit_per_second: Option<u32>,
    /// Retries of retryable failures.
    pub retry: RetryPolicy,
    /// The credential's shared limiter, when the caller holds one.
    pub limiter: Option<RateLimiter>,
}

impl ClientSettings {
    /// `base_url` and `path`, unlimited rate, the default retry policy, no shared limiter.
    pub fn new(base_url: impl Into<String>, path: impl Into<String>) -> Self {
        ClientSettings {
            base_url: base_url.into(),
            path: path.into(),
            rate_limit_per_second: None,
            retry: RetryPolicy::default(),
            limiter: None,
        }
    }

    /// With another operation path.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// With another rate limit (requests per second; `None` = unlimited).
    #[must_use]
    pub fn with_rate_limit(mut self, per_second: Option<u32>) -> Self {
        self.rate_limit_per_second = per_second;
        self
    }

    /// With another retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Paced by `limiter`, the credential's one limiter (see
    /// [`RateLimiters`](crate::RateLimiters)), instead of a limiter of the client's own.
    #[must_use]
    pub fn with_limiter(mut self, limiter: RateLimiter) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// The operation's URL: `base_url` and `path` joined by exactly one `/`.
    pub fn url(&self) -> String {
        endpoint(&self.base_url, &self.path)
    }

    /// The limiter the client paces with: the shared one when given, else a new one at
    /// `rate_limit_per_second`.
    pub fn limiter(&self) -> RateLimiter {
        self.limiter
            .clone()
            .unwrap_or_else(|| RateLimiter::per_second(self.rate_limit_per_second))
    }
}

/// A transport's configuration built around [`ClientSettings`]: the builders every transport
/// config offers for its settings, written once. A config implements [`settings_mut`]
/// (Self::settings_mut) and gets the rest.
pub trait ClientConfig: Sized {
    /// The client settings inside the configuration.
    fn settings_mut(&mut self) -> &mut ClientSettings;

    /// With other client settings (base URL, path, rate, limiter, retries) in one go.
    #[must_use]
    fn with_settings(mut self, settings: ClientSettings) -> Self {
        *self.settings_mut() = settings;
        self
    }

    /// With another base URL (an emulator, a gateway).
    #[must_use]
    fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.settings_mut().base_url = base_url.into();
        self
    }

    /// With another operation path.
    #[must_use]
    fn with_path(mut self, path: impl Into<String>) -> Self {
        self.settings_mut().path = path.into();
        self
    }

    /// With another rate limit (requests per second; `None` = unlimited).
    #[must_use]
    fn with_rate_limit(mut self, per_second: Option<u32>) -> Self {
        self.settings_mut().rate_limit_per_second = per_second;
        self
    }

    /// With another retry policy.
    #[must_use]
    fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.settings_mut().retry = retry;
        self
    }

    /// Paced by `limiter`, the credential's one limiter shared with every other user of its
    /// quota (see [`RateLimiters`](crate::RateLimiters)).
    #[must_use]
    fn with_limiter(mut self, limiter: RateLimiter) -> Self {
        self.settings_mut().limiter = Some(limiter);
        self
    }
}

impl fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSettings")
            .field("base_url", &redact_url(&self.base_url))
            .field("path", &self.path)
            .field("rate_limit_per_second", &self.rate_limit_per_second)
            .field("retry", &self.retry)
            .field("shared_limiter", &self.limiter.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_password_or_token_in_the_base_url() {
        let s = ClientSettings::new("https://u:PASSW0RD@h.example/api?access_token=TOK3N", "/x");
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("PASSW0RD") && !shown.contains("TOK3N"),
            "{shown}"
        );
        assert!(shown.contains("h.example"), "{shown}");
        assert_eq!(
            ClientSettings::new("http://127.0.0.1:8/", "/x").url(),
            "http://127.0.0.1:8/x"
        );
    }

    #[test]
    fn the_limiter_is_the_shared_one_when_given_else_one_at_the_rate() {
        let shared = RateLimiter::per_second(Some(3));
        let s = ClientSettings::new("http://127.0.0.1:1", "p").with_rate_limit(Some(50));
        assert_eq!(s.limiter().rate().map(|r| r.get()), Some(50));
        assert!(!s.limiter().same_as(&shared));
        let s = s.with_limiter(shared.clone());
        assert!(s.limiter().same_as(&shared));
        assert!(ClientSettings::new("h", "p").limiter().is_unlimited());
    }
}
