//! The typed client of the 1688 open platform: signing, sending and reading replies.

use std::fmt;
use std::sync::Arc;

use order_domain::{Clock, PlatformError, Timestamp};
use transport_core::sign::{hex_lower, md5};
use transport_core::{
    ClientConfig, ClientSettings, ExposeSecret, HttpClient, RateLimiter, RetryPolicy, SecretString,
    SystemClock, decode_json, protocol_error, redact_text, with_retries,
};

use crate::generated::errors::{GatewayError, ModifyPriceResultError, SellerViewError};
use crate::generated::params;
use crate::sign::{aop_signature, url_path};
use crate::wire::{
    ModifyOrderPriceReply, ModifyOrderPriceRequest, ModifyReply, SellerViewReply, TradeInfo,
};

/// Settings of an [`Open1688Client`]. Build with [`Open1688Config::new`] and adjust.
// Debug is derived: `SecretString` prints `[REDACTED]`, never its value, and
// `ClientSettings` masks credentials in the base URL.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Open1688Config {
    /// Where, how fast and how patiently the client sends: the gateway base including
    /// `/openapi` (default `https://gw.open.1688.com/openapi`; the settings' path stays empty,
    /// as each API's signed path is appended to the base), calls per second for this app key
    /// (default `Some(10)`, assumed) or its shared limiter, and retries of retryable failures
    /// (frequency limit, busy, transport failures, 5xx).
    pub settings: ClientSettings,
    /// The application's app key (part of every signed path).
    pub app_key: String,
    /// The application's secret: the signing key, never sent.
    pub app_secret: SecretString,
    /// The seller's access token, sent as `access_token`.
    pub access_token: SecretString,
}

impl Open1688Config {
    /// Defaults for an app key, its secret and a seller's access token.
    pub fn new(
        app_key: impl Into<String>,
        app_secret: SecretString,
        access_token: SecretString,
    ) -> Self {
        Open1688Config {
            settings: ClientSettings::new(params::DEFAULT_BASE_URL, "")
                .with_rate_limit(Some(params::RATE_LIMIT_PER_SECOND)),
            app_key: app_key.into(),
            app_secret,
            access_token,
        }
    }
}

impl ClientConfig for Open1688Config {
    fn settings_mut(&mut self) -> &mut ClientSettings {
        &mut self.settings
    }
}

/// One API of the platform: version, namespace and name.
#[derive(Debug, Clone, Copy)]
struct Api {
    version: u32,
    namespace: &'static str,
    name: &'static str,
}

const MODIFY_PRICE: Api = Api {
    version: params::MODIFY_PRICE_VERSION,
    namespace: params::MODIFY_PRICE_NAMESPACE,
    name: params::MODIFY_PRICE_API,
};

const SELLER_VIEW: Api = Api {
    version: params::SELLER_VIEW_VERSION,
    namespace: params::SELLER_VIEW_NAMESPACE,
    name: params::SELLER_VIEW_API,
};

/// Client of the 1688 open platform for one app key and one seller's access token.
///
/// Each call waits for the app key's rate limiter, signs the form (`access_token`,
/// `_aop_timestamp` from the clock, `_aop_signature`) afresh per attempt, and retries
/// retryable failures under the [`RetryPolicy`]. Gateway refusals (`error_code`) are classified
/// by the generated [`GatewayError`], the price change's business result by
/// [`ModifyPriceResultError`], the read's by [`SellerViewError`]. The secret and the token never
/// appear in an error, a log line or `Debug` output.
#[derive(Clone)]
pub struct Open1688Client {
    http: HttpClient,
    base_url: String,
    app_key: String,
    app_secret: SecretString,
    access_token: SecretString,
    retry: RetryPolicy,
    limiter: RateLimiter,
    limiter_key: String,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Open1688Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Open1688Client")
            .field("base_url", &transport_core::redact_url(&self.base_url))
            .field("app_key", &self.app_key)
            .field("credential", &self.limiter_key)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Open1688Client {
    /// A client for `config`.
    pub fn new(http: HttpClient, config: Open1688Config) -> Self {
        // The token is identified in the limiter's key without being held there.
        let digest = md5(config.access_token.expose_secret().as_bytes());
        Open1688Client {
            http,
            base_url: config.settings.base_url.clone(),
            limiter: config.settings.limiter(),
            retry: config.settings.retry,
            limiter_key: format!("1688-open:{}:{}", config.app_key, hex_lower(&digest[..8])),
            app_key: config.app_key,
            app_secret: config.app_secret,
            access_token: config.access_token,
            clock: Arc::new(SystemClock),
        }
    }

    /// With another clock for `_aop_timestamp` (tests, replays).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The limiter this client paces with (clones share its slots), for a caller that takes
    /// a request's slot ahead with [`RateLimiter::reserve`].
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// The key this client's requests take their slots under (the app key and a digest of the access token).
    pub fn limiter_key(&self) -> &str {
        &self.limiter_key
    }

    /// The app key.
    pub fn app_key(&self) -> &str {
        &self.app_key
    }

    fn secrets(&self) -> [&str; 2] {
        [
            self.access_token.expose_secret(),
            self.app_secret.expose_secret(),
        ]
    }

    /// The signed path of `api` for this app key.
    fn path(&self, api: Api) -> String {
        url_path(api.version, api.namespace, api.name, &self.app_key)
    }

    /// The whole form of one attempt at `now`: `business`, then `access_token`,
    /// `_aop_timestamp` and `_aop_signature`.
    pub fn signed_form(
        &self,
        url_path: &str,
        business: &[(&'static str, String)],
        now: Timestamp,
    ) -> Vec<(&'static str, String)> {
        let mut form: Vec<(&'static str, String)> = Vec::with_capacity(business.len() + 3);
        form.extend(business.iter().cloned());
        form.push((
            params::system::ACCESS_TOKEN,
            self.access_token.expose_secret().to_owned(),
        ));
        form.push((params::AOP_TIMESTAMP, now.as_millis().to_string()));
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let signature = aop_signature(self.app_secret.expose_secret(), url_path, &pairs);
        form.push((params::AOP_SIGNATURE, signature));
        form
    }

    /// Sends one attempt and returns the body of any reply the gateway wrote as JSON
    /// (refusals come with HTTP 400 or 401); other failures become errors.
    async fn attempt(
        &self,
        api: Api,
        business: &[(&'static str, String)],
    ) -> Result<Vec<u8>, PlatformError> {
        self.limiter.until_ready(&self.limiter_key).await;
        let path = self.path(api);
        let form = self.signed_form(&path, business, self.clock.now());
        let url = transport_core::endpoint(&self.base_url, &path);
        let secrets = self.secrets();
        let reply = self
            .http
            .send(self.http.inner().post(&url).form(&form), &secrets)
            .await?;
        let is_json = serde_json::from_slice::<serde::de::IgnoredAny>(reply.body()).is_ok();
        if !reply.status().is_success() && !is_json {
            return Err(reply
                .error_for_status(&secrets)
                .err()
                .unwrap_or_else(|| protocol_error("unexpected status", b"", &secrets)));
        }
        Ok(reply.body().to_vec())
    }

    /// Changes an unpaid order's prices (`trade.order.modifyOrderPrice`).
    pub async fn modify_order_price(
        &self,
        req: &ModifyOrderPriceRequest,
    ) -> Result<ModifyOrderPriceReply, PlatformError> {
        let business = req.params();
        with_retries(&self.retry, || async {
            let body = self.attempt(MODIFY_PRICE, &business).await?;
            decode_modify_reply(&body, &self.secrets())
        })
        .await
    }

    /// Reads order `order_id` as the seller sees it (`alibaba.trade.get.sellerView`).
    pub async fn seller_view(&self, order_id: &str) -> Result<TradeInfo, PlatformError> {
        let business = vec![
            (params::view::WEB_SITE, params::WEB_SITE.to_owned()),
            (params::view::ORDER_ID, order_id.to_owned()),
        ];
        with_retries(&self.retry, || async {
            let body = self.attempt(SELLER_VIEW, &business).await?;
            decode_seller_view_reply(&body, &self.secrets())
        })
        .await
    }
}

/// The gateway's refusal in a reply, if any, classified.
fn gateway_error(
    code: Option<&str>,
    message: Option<&str>,
    secrets: &[&str],
) -> Option<PlatformError> {
    let code = code?;
    let msg = redact_text(message.unwrap_or_default(), secrets);
    Some(GatewayError::from_reply(code, &msg).into_platform_error())
}

/// Reads a `trade.order.modifyOrderPrice` reply: the gateway's refusal, then `result` and
/// `resultCode`. A body of another shape is a `Protocol` error with a redacted snippet.
pub fn decode_modify_reply(
    body: &[u8],
    secrets: &[&str],
) -> Result<ModifyOrderPriceReply, PlatformError> {
    let r: ModifyReply = decode_json(body, secrets)?;
    if let Some(e) = gateway_error(r.gw_code.as_deref(), r.gw_message.as_deref(), secrets) {
        return Err(e);
    }
    match r.result {
        Some(true) => Ok(ModifyOrderPriceReply {
            raw: redact_text(&String::from_utf8_lossy(body), secrets),
        }),
        Some(false) => {
            let msg = redact_text(r.result_msg.as_deref().unwrap_or_default(), secrets);
            Err(ModifyPriceResultError::from_reply(
                r.result_code.as_deref().unwrap_or_default(),
                &msg,
            )
            .into_platform_error())
        }
        None => Err(protocol_error("reply has no boolean result", body, secrets)),
    }
}

/// Reads an `alibaba.trade.get.sellerView` reply: the gateway's refusal, then `success`,
/// `errorCode` and `result`.
pub fn decode_seller_view_reply(body: &[u8], secrets: &[&str]) -> Result<TradeInfo, PlatformError> {
    let r: SellerViewReply = decode_json(body, secrets)?;
    if let Some(e) = gateway_error(r.gw_code.as_deref(), r.gw_message.as_deref(), secrets) {
        return Err(e);
    }
    if r.success == Some(false) || r.error_code.is_some() {
        let msg = redact_text(r.error_message.as_deref().unwrap_or_default(), secrets);
        return Err(
            SellerViewError::from_reply(r.error_code.as_deref().unwrap_or_default(), &msg)
                .into_platform_error(),
        );
    }
    r.result
        .ok_or_else(|| protocol_error("reply has neither result nor error", body, secrets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Open1688Config {
        Open1688Config::new(
            "1234567",
            SecretString::from("S3CRET"),
            SecretString::from("T0KEN"),
        )
        .with_base_url("https://u:PASSW0RD@gw.example/openapi")
    }

    #[test]
    fn the_client_paces_with_the_limiter_given_in_its_settings() {
        let shared = RateLimiter::per_second(Some(3));
        let c = Open1688Client::new(
            HttpClient::new(&transport_core::HttpConfig::default()).unwrap(),
            config().with_limiter(shared.clone()),
        );
        assert!(c.limiter().same_as(&shared));
    }

    #[test]
    fn config_and_client_debug_show_no_secret_nor_password_in_the_base_url() {
        let config = config();
        let client = Open1688Client::new(
            HttpClient::new(&transport_core::HttpConfig::default()).unwrap(),
            config.clone(),
        );
        for shown in [format!("{config:?}"), format!("{client:?}")] {
            for secret in ["PASSW0RD", "S3CRET", "T0KEN"] {
                assert!(!shown.contains(secret), "{shown}");
            }
            assert!(shown.contains("gw.example"), "{shown}");
        }
    }
}
