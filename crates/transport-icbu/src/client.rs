//! The typed TOP client for `alibaba.trade.order.modify`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use order_domain::{Clock, Timestamp};
use transport_core::{
    ClientConfig, ClientSettings, ExposeSecret, HttpClient, RateLimiter, SecretString,
};

use crate::failure::{OrderModifyFailure, retried};
use crate::generated::params;
use crate::read::{SellerOrder, decode_read_reply};
use crate::sign::{SignMethod, sign, top_timestamp};
use crate::wire::{OrderModified, OrderModifyRequest, decode_reply};

/// Default gateway base URL (the path [`DEFAULT_PATH`] is appended).
pub const DEFAULT_BASE_URL: &str = "https://eco.taobao.com";
/// Default gateway path.
pub const DEFAULT_PATH: &str = "/router/rest";
/// `format`.
const FORMAT_JSON: &str = "json";
/// Where `timestamp` is in the form.
const TIMESTAMP_AT: usize = 3;

pub use transport_core::SystemClock;

/// Settings of one TOP app acting for one seller.
// Debug is derived: `SecretString` prints `[REDACTED]`, never its value, and
// `ClientSettings` masks credentials in the base URL.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IcbuConfig {
    /// Where, how fast and how patiently the client sends: gateway base URL
    /// ([`DEFAULT_BASE_URL`] by default) and path ([`DEFAULT_PATH`]), requests per second for
    /// this app key or its shared limiter, retries.
    pub settings: ClientSettings,
    /// TOP app key.
    pub app_key: String,
    /// TOP app secret (never sent, never in errors or logs).
    pub app_secret: SecretString,
    /// The seller's session (authorisation); sent and signed, never in errors or logs.
    pub session: SecretString,
    /// `sign_method`.
    pub sign_method: SignMethod,
    /// Optional `partner_id` system parameter.
    pub partner_id: Option<String>,
}

impl IcbuConfig {
    /// Defaults: the default gateway, `hmac-sha256`, 10 requests per second (*assumed*; TOP
    /// limits vary per app), the default retry policy.
    pub fn new(
        app_key: impl Into<String>,
        app_secret: SecretString,
        session: SecretString,
    ) -> Self {
        IcbuConfig {
            settings: ClientSettings::new(DEFAULT_BASE_URL, DEFAULT_PATH).with_rate_limit(Some(10)),
            app_key: app_key.into(),
            app_secret,
            session,
            sign_method: SignMethod::default(),
            partner_id: None,
        }
    }

    /// With another sign method.
    #[must_use]
    pub fn with_sign_method(mut self, m: SignMethod) -> Self {
        self.sign_method = m;
        self
    }
}

impl ClientConfig for IcbuConfig {
    fn settings_mut(&mut self) -> &mut ClientSettings {
        &mut self.settings
    }
}

/// Client of `alibaba.trade.order.modify`, usable on its own.
///
/// Each attempt takes a fresh GMT+8 `timestamp` from the clock, signs every parameter and posts
/// the form to `{base_url}{path}`; calls are paced per app key and retryable failures (timeouts,
/// 5xx, call limits, `isp.*` service errors) are retried within the configured budget.
#[derive(Clone)]
pub struct IcbuClient {
    http: HttpClient,
    config: IcbuConfig,
    url: String,
    limiter: RateLimiter,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for IcbuClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IcbuClient")
            .field("url", &self.url)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl IcbuClient {
    /// A client on the shared `http` client.
    pub fn new(http: HttpClient, config: IcbuConfig) -> Self {
        let url = config.settings.url();
        let limiter = config.settings.limiter();
        IcbuClient {
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

    /// The key this client's requests take their slots under (the app key).
    pub fn limiter_key(&self) -> &str {
        &self.config.app_key
    }

    /// With another clock (tests, replays).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The gateway URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The configuration.
    pub fn config(&self) -> &IcbuConfig {
        &self.config
    }

    /// The signed form of one attempt at `now`, `sign` last. Only the timestamp and the
    /// signature are new strings; everything else is borrowed.
    pub fn signed_form<'a>(
        &'a self,
        param: &'a str,
        now: Timestamp,
    ) -> Vec<(&'static str, Cow<'a, str>)> {
        let ts = top_timestamp(now);
        let (fields, n) = self.unsigned(param, &ts);
        let signature = sign(
            &fields[..n],
            self.config.app_secret.expose_secret(),
            self.config.sign_method,
        );
        let (fields, n) = self.unsigned(param, "");
        let mut form = Vec::with_capacity(n + 1);
        for (k, v) in &fields[..n] {
            form.push((*k, Cow::Borrowed(*v)));
        }
        form[TIMESTAMP_AT].1 = Cow::Owned(ts);
        form.push(("sign", Cow::Owned(signature)));
        form
    }

    /// The parameters that are signed and sent, in the order they are sent, and how many
    /// there are (`partner_id`, last, only when configured).
    fn unsigned<'b>(
        &'b self,
        param: &'b str,
        timestamp: &'b str,
    ) -> ([(&'static str, &'b str); 9], usize) {
        let partner = self.config.partner_id.as_deref();
        let fields = [
            ("method", params::METHOD),
            ("app_key", self.config.app_key.as_str()),
            ("session", self.config.session.expose_secret()),
            ("timestamp", timestamp),
            ("format", FORMAT_JSON),
            ("v", params::API_VERSION),
            ("sign_method", self.config.sign_method.as_str()),
            (params::PARAM_ORDER_MODIFY, param),
            ("partner_id", partner.unwrap_or_default()),
        ];
        (fields, if partner.is_some() { 9 } else { 8 })
    }

    /// Sends one modification and returns the platform's acknowledgement, or the failure: a
    /// gateway refusal typed by the generated
    /// [`OrderModifyGatewayError`](crate::OrderModifyGatewayError), a business refusal typed by
    /// [`OrderModifyResultError`](crate::OrderModifyResultError) (codes and messages verbatim),
    /// or a failure with no platform answer; no secret or session in any text.
    pub async fn modify_order(
        &self,
        req: &OrderModifyRequest,
    ) -> Result<OrderModified, OrderModifyFailure> {
        self.modify_order_param(&req.trade_id, &req.to_param()?)
            .await
    }

    /// [`modify_order`](Self::modify_order) with the request already written as its
    /// `param_order_modify` JSON text (for example by
    /// [`param_from_plan`](crate::param_from_plan)); `trade_id` only names the order in logs.
    pub async fn modify_order_param(
        &self,
        trade_id: &str,
        param: &str,
    ) -> Result<OrderModified, OrderModifyFailure> {
        let secrets = [
            self.config.app_secret.expose_secret(),
            self.config.session.expose_secret(),
        ];
        retried(&self.config.settings.retry, || async {
            self.limiter.until_ready(&self.config.app_key).await;
            let form = self.signed_form(param, self.clock.now());
            let reply = self
                .http
                .send(self.http.inner().post(&self.url).form(&form), &secrets)
                .await?
                .error_for_status(&secrets)?;
            let result = decode_reply(reply.body(), &secrets);
            if let Err(e) = &result {
                tracing::debug!(trade_id, error = %e, "TOP alibaba.trade.order.modify failed");
            }
            result
        })
        .await
    }
}

impl IcbuClient {
    /// The signed form of one read of `trade_id` at `now`, `sign` last.
    pub fn signed_read_form(&self, trade_id: &str, now: Timestamp) -> Vec<(&'static str, String)> {
        let ts = top_timestamp(now);
        let mut form: Vec<(&'static str, String)> = vec![
            ("method", params::READ_METHOD.to_owned()),
            ("app_key", self.config.app_key.clone()),
            ("session", self.config.session.expose_secret().to_owned()),
            ("timestamp", ts),
            ("format", FORMAT_JSON.to_owned()),
            ("v", params::API_VERSION.to_owned()),
            ("sign_method", self.config.sign_method.as_str().to_owned()),
            (params::READ_PARAM, trade_id.to_owned()),
        ];
        if let Some(p) = &self.config.partner_id {
            form.push(("partner_id", p.clone()));
        }
        let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let signature = sign(
            &fields,
            self.config.app_secret.expose_secret(),
            self.config.sign_method,
        );
        form.push(("sign", signature));
        form
    }

    /// Reads one order through `alibaba.seller.order.get`: same gateway, signature, pacing
    /// (reads share the app key's limiter with the modify) and retries as the modify; gateway
    /// errors and `result.success = false` are classified by the same tables.
    pub async fn get_order(&self, trade_id: &str) -> Result<SellerOrder, OrderModifyFailure> {
        let secrets = [
            self.config.app_secret.expose_secret(),
            self.config.session.expose_secret(),
        ];
        retried(&self.config.settings.retry, || async {
            self.limiter.until_ready(&self.config.app_key).await;
            let form = self.signed_read_form(trade_id, self.clock.now());
            let reply = self
                .http
                .send(self.http.inner().post(&self.url).form(&form), &secrets)
                .await?
                .error_for_status(&secrets)?;
            let result = decode_read_reply(reply.body(), &secrets);
            if let Err(e) = &result {
                tracing::debug!(trade_id, error = %e, "TOP alibaba.seller.order.get failed");
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
    fn the_client_paces_with_the_limiter_given_in_its_settings() {
        let shared = RateLimiter::per_second(Some(3));
        let config = IcbuConfig::new("key", SecretString::from("s"), SecretString::from("t"))
            .with_limiter(shared.clone());
        let c = IcbuClient::new(
            HttpClient::new(&transport_core::HttpConfig::default()).unwrap(),
            config,
        );
        assert!(c.limiter().same_as(&shared));
    }

    #[test]
    fn config_debug_shows_no_secret_nor_password_in_the_base_url() {
        let config = IcbuConfig::new(
            "key",
            SecretString::from("S3CRET"),
            SecretString::from("SESS10N"),
        )
        .with_base_url("https://u:PASSW0RD@top.example");
        let shown = format!("{config:?}");
        for secret in ["PASSW0RD", "S3CRET", "SESS10N"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("top.example"), "{shown}");
    }

    #[test]
    fn default_gateway_matches_the_reference_page() {
        assert_eq!(
            format!("{DEFAULT_BASE_URL}{DEFAULT_PATH}"),
            params::DEFAULT_GATEWAY_URL
        );
    }
}
