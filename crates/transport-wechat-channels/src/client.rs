//! The typed client of the three Channels calls.

use std::fmt;
use std::sync::Arc;

use order_domain::{PlatformError, PlatformErrorKind};
use serde::Serialize;
use transport_core::wechat_token::{AppSecretTokenSource, TokenSource};
use transport_core::{
    ClientConfig, ClientSettings, ExposeSecret, HttpClient, RateLimiter, RetryPolicy, SecretString,
    decode_json, protocol_error, with_retries,
};

use crate::generated::errors::ChannelsError;
use crate::generated::params;
use crate::wire::{
    AddressUpdateRequest, ChannelsOrder, Envelope, GetOrderReply, GetOrderRequest,
    PriceUpdateRequest, Reply,
};

/// Settings of a [`ChannelsClient`]. Build with [`ChannelsConfig::new`] and adjust the fields.
// Debug is derived: `SecretString` prints `[REDACTED]`, never its value, and
// `ClientSettings` masks credentials in the base URL.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ChannelsConfig {
    /// Where, how fast and how patiently the client sends: base URL (default
    /// `https://api.weixin.qq.com`), path of the price change (default
    /// `/channels/ec/order/price/update`), calls per second for this app or its shared
    /// limiter, and retries of retryable failures (system busy, minute quota, transport
    /// errors). The default rate `Some(20)` is *assumed*: WeChat publishes daily and minute
    /// quotas, not a per-second rate.
    pub settings: ClientSettings,
    /// Path of the address change, default `/channels/ec/order/address/update`.
    pub address_path: String,
    /// Path of the order read, default `/channels/ec/order/get`.
    pub get_path: String,
    /// The app id (also the rate limiter's key).
    pub appid: String,
    /// The app secret (used by the default token source only).
    pub secret: SecretString,
}

impl ChannelsConfig {
    /// Defaults for `appid` and `secret`.
    pub fn new(appid: impl Into<String>, secret: SecretString) -> Self {
        ChannelsConfig {
            settings: ClientSettings::new(params::DEFAULT_BASE_URL, params::PRICE_PATH)
                .with_rate_limit(Some(20)),
            address_path: params::ADDRESS_PATH.to_owned(),
            get_path: params::GET_PATH.to_owned(),
            appid: appid.into(),
            secret,
        }
    }
}

impl ClientConfig for ChannelsConfig {
    fn settings_mut(&mut self) -> &mut ClientSettings {
        &mut self.settings
    }
}

/// Client of the Channels order calls. Cheap to clone (clones share the HTTP pool, the rate
/// limiter and the token source).
///
/// Each call waits for the app's rate limiter, sends with a token from the [`TokenSource`],
/// refreshes the token and resends once on errcodes 40001, 42001 and 40014, and retries
/// retryable failures (errcode -1, 45011, timeouts, 5xx) under the [`RetryPolicy`]. Errcode
/// 45009 (daily quota) is `QuotaExhausted` and never retried.
#[derive(Clone)]
pub struct ChannelsClient {
    http: HttpClient,
    price_url: String,
    address_url: String,
    get_url: String,
    appid: String,
    secret: SecretString,
    retry: RetryPolicy,
    limiter: RateLimiter,
    tokens: Arc<dyn TokenSource>,
}

impl fmt::Debug for ChannelsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelsClient")
            .field("price_url", &self.price_url)
            .field("appid", &self.appid)
            .field("retry", &self.retry)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl ChannelsClient {
    /// A client that fetches its own tokens with the app id and secret
    /// ([`AppSecretTokenSource`] at `{base_url}/cgi-bin/token`). To share one token with other
    /// shops of the app, use [`with_token_source`](Self::with_token_source) with a source from
    /// [`TokenSources`](transport_core::wechat_token::TokenSources).
    pub fn new(http: HttpClient, config: ChannelsConfig) -> Self {
        let tokens = Arc::new(AppSecretTokenSource::new(
            http.clone(),
            &config.settings.base_url,
            &config.appid,
            config.secret.clone(),
        ));
        Self::with_token_source(http, config, tokens)
    }

    /// A client that takes its tokens from `tokens`.
    pub fn with_token_source(
        http: HttpClient,
        config: ChannelsConfig,
        tokens: Arc<dyn TokenSource>,
    ) -> Self {
        let url = |path: &str| transport_core::endpoint(&config.settings.base_url, path);
        ChannelsClient {
            price_url: config.settings.url(),
            address_url: url(&config.address_path),
            get_url: url(&config.get_path),
            limiter: config.settings.limiter(),
            retry: config.settings.retry,
            appid: config.appid,
            secret: config.secret,
            tokens,
            http,
        }
    }

    /// The limiter this client paces with (clones share its slots), for a caller that takes
    /// a request's slot ahead with [`RateLimiter::reserve`].
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// The key this client's requests take their slots under (the app id).
    pub fn limiter_key(&self) -> &str {
        &self.appid
    }

    /// The app id.
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// Changes an unpaid order's line totals and freight.
    pub async fn update_price(&self, req: &PriceUpdateRequest) -> Result<Reply, PlatformError> {
        self.call(&self.price_url, req.order_id, req).await
    }

    /// Submits a new address for an unshipped order. Success means *submitted*: the buyer may
    /// have to agree before the address changes.
    pub async fn update_address(&self, req: &AddressUpdateRequest) -> Result<Reply, PlatformError> {
        self.call(&self.address_url, req.order_id, req).await
    }

    /// Reads one order.
    pub async fn get_order(&self, order_id: u64) -> Result<ChannelsOrder, PlatformError> {
        let reply = self
            .call(&self.get_url, order_id, &GetOrderRequest { order_id })
            .await?;
        let secrets = [self.secret.expose_secret()];
        let r: GetOrderReply = decode_json(reply.raw.as_bytes(), &secrets)?;
        r.order.ok_or_else(|| {
            protocol_error(
                "order/get reply has no order",
                reply.raw.as_bytes(),
                &secrets,
            )
        })
    }

    async fn call<T: Serialize>(
        &self,
        url: &str,
        order_id: u64,
        req: &T,
    ) -> Result<Reply, PlatformError> {
        let body = serde_json::to_vec(req).map_err(|e| {
            PlatformError::new(
                PlatformErrorKind::InvalidRequest,
                None,
                format!("request could not be encoded: {e}"),
            )
        })?;
        with_retries(&self.retry, || self.attempt(url, order_id, &body)).await
    }

    /// One attempt: token, send, and on a token errcode one refresh and resend.
    async fn attempt(&self, url: &str, order_id: u64, body: &[u8]) -> Result<Reply, PlatformError> {
        let token = self.tokens.token().await?;
        match self.send_once(url, &token, body).await? {
            Ok(reply) => Ok(reply),
            Err((code, _)) if params::TOKEN_REFRESH_ERRCODES.contains(&code) => {
                tracing::info!(appid = %self.appid, order_id, errcode = code, "access token refused; refreshing once");
                let fresh = self.tokens.refresh(&token).await?;
                match self.send_once(url, &fresh, body).await? {
                    Ok(reply) => Ok(reply),
                    Err((code, msg)) => Err(self.error(code, &msg, &fresh)),
                }
            }
            Err((code, msg)) => Err(self.error(code, &msg, &token)),
        }
    }

    fn error(&self, code: i64, msg: &str, token: &SecretString) -> PlatformError {
        reply_error(
            code,
            msg,
            &[token.expose_secret(), self.secret.expose_secret()],
        )
    }

    /// Sends once. Outer `Err`: transport or protocol failure; inner `Err`: a non-zero errcode.
    async fn send_once(
        &self,
        url: &str,
        token: &SecretString,
        body: &[u8],
    ) -> Result<Result<Reply, (i64, String)>, PlatformError> {
        self.limiter.until_ready(&self.appid).await;
        let secrets = [token.expose_secret(), self.secret.expose_secret()];
        let req = self
            .http
            .inner()
            .post(url)
            .query(&[(params::query::ACCESS_TOKEN, token.expose_secret())])
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        let reply = self.http.send(req, &secrets).await?;
        let status = reply.status();
        match decode_reply(reply.body(), &secrets) {
            // A non-2xx status without a WeChat envelope is judged by its status.
            Err(_) if !status.is_success() => Err(reply
                .error_for_status(&secrets)
                .err()
                .unwrap_or_else(|| protocol_error("unexpected status", b"", &secrets))),
            decoded => decoded,
        }
    }
}

/// Reads a reply body of any of the three calls.
///
/// Outer `Err`: the body is not a WeChat reply (a `Protocol` error with a redacted snippet).
/// Inner `Err`: a non-zero errcode with its message. `secrets` are redacted from everything
/// kept.
pub fn decode_reply(
    body: &[u8],
    secrets: &[&str],
) -> Result<Result<Reply, (i64, String)>, PlatformError> {
    let env: Envelope = decode_json(body, secrets)?;
    let Some(code) = env.errcode else {
        return Err(protocol_error("reply has no errcode", body, secrets));
    };
    let errmsg = env.errmsg.unwrap_or_default();
    if code == params::SUCCESS_ERRCODE {
        Ok(Ok(Reply {
            errcode: code,
            errmsg,
            raw: transport_core::redact_text(&String::from_utf8_lossy(body), secrets),
        }))
    } else {
        Ok(Err((code, errmsg)))
    }
}

/// Classifies a non-zero errcode through the generated table, redacting `secrets` from the
/// platform's message. The daily quota (45009) carries what the merchant can do in its detail.
pub fn reply_error(code: i64, message: &str, secrets: &[&str]) -> PlatformError {
    let msg = transport_core::redact_text(message, secrets);
    let e = ChannelsError::from_reply(&code.to_string(), &msg);
    let action = e.merchant_action();
    let quota = matches!(e, ChannelsError::DailyQuotaExhausted { .. });
    let pe = e.into_platform_error();
    if quota {
        pe.with_detail(format!(
            "the daily call quota of this interface is used up; it resets the next day. {action}"
        ))
    } else {
        pe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_paces_with_the_limiter_given_in_its_settings() {
        let shared = RateLimiter::per_second(Some(3));
        let c = ChannelsClient::new(
            HttpClient::new(&transport_core::HttpConfig::default()).unwrap(),
            ChannelsConfig::new("wx1", SecretString::from("s")).with_limiter(shared.clone()),
        );
        assert!(c.limiter().same_as(&shared));
    }

    #[test]
    fn config_debug_shows_no_secret_nor_password_in_the_base_url() {
        let config = ChannelsConfig::new("wx1", SecretString::from("S3CRET"))
            .with_base_url("https://u:PASSW0RD@wx.example");
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("PASSW0RD") && !shown.contains("S3CRET"),
            "{shown}"
        );
        assert!(shown.contains("wx.example"), "{shown}");
    }

    #[test]
    fn quota_codes_are_classified_with_what_the_merchant_can_do() {
        let e = reply_error(45009, "reach max api daily quota limit", &[]);
        assert_eq!(e.kind(), PlatformErrorKind::QuotaExhausted);
        assert!(!e.kind().retryable());
        assert_eq!(e.message(), "reach max api daily quota limit");
        let detail = e.detail().unwrap_or_default();
        assert!(detail.contains("next day"), "{detail}");
        assert!(detail.contains("/cgi-bin/clear_quota"), "{detail}");
        let e = reply_error(45011, "api minute-quota reach limit", &[]);
        assert_eq!(e.kind(), PlatformErrorKind::RateLimited);
        assert!(e.kind().retryable());
    }

    #[test]
    fn decode_reply_reads_codes_as_numbers_or_text_and_redacts() {
        let ok = decode_reply(br#"{"errcode":0,"errmsg":"ok","x":1}"#, &[])
            .unwrap()
            .unwrap();
        assert_eq!((ok.errcode, ok.errmsg.as_str()), (0, "ok"));
        let refused = decode_reply(br#"{"errcode":"108022","errmsg":"m"}"#, &[]).unwrap();
        assert_eq!(refused.unwrap_err(), (108_022, "m".to_owned()));
        let e = reply_error(40097, "invalid args token=sbx_secret", &["sbx_secret"]);
        assert_eq!(e.code(), Some("40097"));
        assert!(!e.to_string().contains("sbx_secret"), "{e}");
        let e = decode_reply(b"{}", &[]).unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::Protocol);
    }
}
