//! The typed client: one signed, form-encoded `POST` per [`TradeModifyRequest`].

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use order_domain::Clock;
use transport_core::{
    ClientConfig, ClientSettings, ExposeSecret, HttpClient, RateLimiter, SecretString,
};

use crate::failure::{TradeModifyFailure, retried};
use crate::generated::params;
use crate::sign::{EmSignScheme, EmSigner};
use crate::wire::{EmNumberStyle, TradeModified, TradeModifyRequest, decode_reply};

pub use transport_core::SystemClock;

/// Settings of one EM partner account.
// Debug is derived: `SecretString` prints `[REDACTED]`, never its value, and
// `ClientSettings` masks credentials in the base URL.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EmConfig {
    /// Where, how fast and how patiently the client sends: base URL (default
    /// `https://47.101.175.115:7070`, the published host; the document shows `http://`), path
    /// ([`params::PATH`] by default), rate limit or the appid's shared limiter, retries.
    pub settings: ClientSettings,
    /// Partner app id issued by EM.
    pub appid: String,
    /// The app secret; it never travels and never appears in errors or logs.
    pub secret: SecretString,
    /// How `sign` is computed (EM does not publish it; see [`EmSignScheme`]).
    pub sign_scheme: EmSignScheme,
    /// How integer fields of `request_data` are written (see [`EmNumberStyle`]).
    pub number_style: EmNumberStyle,
}

impl EmConfig {
    /// Defaults: the published path, the default sign scheme, 10 requests per second
    /// (*assumed*: EM publishes no limit), the default retry policy, integer numbers.
    pub fn new(
        base_url: impl Into<String>,
        appid: impl Into<String>,
        secret: SecretString,
    ) -> Self {
        EmConfig {
            settings: ClientSettings::new(base_url, params::PATH).with_rate_limit(Some(10)),
            appid: appid.into(),
            secret,
            sign_scheme: EmSignScheme::default(),
            number_style: EmNumberStyle::default(),
        }
    }

    /// With another sign scheme.
    #[must_use]
    pub fn with_sign_scheme(mut self, scheme: EmSignScheme) -> Self {
        self.sign_scheme = scheme;
        self
    }

    /// With another number style for `request_data`.
    #[must_use]
    pub fn with_number_style(mut self, style: EmNumberStyle) -> Self {
        self.number_style = style;
        self
    }
}

impl ClientConfig for EmConfig {
    fn settings_mut(&mut self) -> &mut ClientSettings {
        &mut self.settings
    }
}

/// Client of EM's `trade/modify`, usable on its own.
///
/// Each attempt takes a fresh `timestamp` (Unix seconds from the clock), signs, and posts the
/// form `appid`, `timestamp`, `sign`, `request_data`; calls are paced per appid and retryable
/// failures (timeouts, 5xx, rate limits) are retried within the configured budget.
#[derive(Clone)]
pub struct EmClient {
    http: HttpClient,
    config: EmConfig,
    url: String,
    limiter: RateLimiter,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for EmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmClient")
            .field("url", &self.url)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl EmClient {
    /// A client on the shared `http` client.
    pub fn new(http: HttpClient, config: EmConfig) -> Self {
        let url = config.settings.url();
        let limiter = config.settings.limiter();
        EmClient {
            http,
            config,
            url,
            limiter,
            clock: Arc::new(SystemClock),
        }
    }

    /// The limiter this client paces with (clones share its slots), for a caller that takes
    /// a request's slot ahead with [`RateLimiter::reserve`].
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// The key this client's requests take their slots under (the app id).
    pub fn limiter_key(&self) -> &str {
        &self.config.appid
    }

    /// With another clock (tests, replays).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The endpoint URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The configuration.
    pub fn config(&self) -> &EmConfig {
        &self.config
    }

    /// The form fields of one attempt, `sign` included, at `timestamp` (Unix seconds), in the
    /// order they are sent: `appid`, `timestamp`, `request_data`, `sign`. Only the timestamp
    /// and the signature are new strings; `appid` and `request_data` are borrowed.
    pub fn signed_form<'a>(
        &'a self,
        request_data: &'a str,
        timestamp: i64,
    ) -> [(&'static str, Cow<'a, str>); 4] {
        let ts = timestamp.to_string();
        let sign = self.config.sign_scheme.sign(
            &[
                (params::APPID, self.config.appid.as_str()),
                (params::TIMESTAMP, ts.as_str()),
                (params::REQUEST_DATA, request_data),
            ],
            self.config.secret.expose_secret(),
        );
        [
            (params::APPID, Cow::Borrowed(self.config.appid.as_str())),
            (params::TIMESTAMP, Cow::Owned(ts)),
            (params::REQUEST_DATA, Cow::Borrowed(request_data)),
            (params::SIGN, Cow::Owned(sign)),
        ]
    }

    /// Sends one change and returns EM's acknowledgement, or the failure: EM's refusal typed by
    /// the generated [`TradeModifyError`](crate::TradeModifyError) (code and message verbatim),
    /// or a failure with no EM answer; no secret in any text.
    pub async fn modify_trade(
        &self,
        req: &TradeModifyRequest,
    ) -> Result<TradeModified, TradeModifyFailure> {
        let request_data = req.to_request_data_as(self.config.number_style)?;
        self.modify_trade_data(&req.tradeno, &request_data).await
    }

    /// [`modify_trade`](Self::modify_trade) with the change already written as its
    /// `request_data` text in this client's number style (for example by
    /// [`request_data_from_plan`](crate::request_data_from_plan)); `tradeno` only names the
    /// order in logs.
    pub async fn modify_trade_data(
        &self,
        tradeno: &str,
        request_data: &str,
    ) -> Result<TradeModified, TradeModifyFailure> {
        let secret = self.config.secret.expose_secret();
        let secrets = [secret];
        retried(&self.config.settings.retry, || async {
            self.limiter.until_ready(&self.config.appid).await;
            let form = self.signed_form(request_data, self.clock.now().as_secs());
            let reply = self
                .http
                .send(self.http.inner().post(&self.url).form(&form[..]), &secrets)
                .await?
                .error_for_status(&secrets)?;
            let result = decode_reply(reply.body(), &secrets);
            if let Err(e) = &result {
                tracing::debug!(tradeno, error = %e, "EM trade/modify failed");
            }
            result
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_base_url_is_https() {
        // What the application uses when a shop names no base URL.
        assert!(
            params::DEFAULT_BASE_URL.starts_with("https://"),
            "{}",
            params::DEFAULT_BASE_URL
        );
        let c = EmClient::new(
            HttpClient::new(&transport_core::HttpConfig::default()).unwrap(),
            EmConfig::new(params::DEFAULT_BASE_URL, "app", SecretString::from("s")),
        );
        assert!(
            c.url().starts_with("https://47.101.175.115:7070/"),
            "{}",
            c.url()
        );
    }

    #[test]
    fn the_client_paces_with_the_limiter_given_in_its_settings() {
        let shared = RateLimiter::per_second(Some(3));
        let config = EmConfig::new("http://127.0.0.1:9", "app", SecretString::from("s"))
            .with_limiter(shared.clone());
        let c = EmClient::new(
            HttpClient::new(&transport_core::HttpConfig::default()).unwrap(),
            config,
        );
        assert!(c.limiter().same_as(&shared));
    }

    #[test]
    fn config_debug_shows_no_secret_nor_password_in_the_base_url() {
        let config = EmConfig::new(
            "https://u:PASSW0RD@em.example:7070",
            "app",
            SecretString::from("S3CRET"),
        );
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("PASSW0RD") && !shown.contains("S3CRET"),
            "{shown}"
        );
        assert!(shown.contains("em.example"), "{shown}");
    }
}
