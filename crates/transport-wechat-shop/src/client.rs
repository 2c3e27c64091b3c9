//! The typed client of `change_order_price`.

use std::fmt;
use std::sync::Arc;

use order_domain::PlatformError;
use transport_core::{
    ClientConfig, ClientSettings, ExposeSecret, HttpClient, RateLimiter, RetryPolicy, SecretString,
    protocol_error,
};

use crate::failure::{ChangeOrderPriceFailure, retried};
use crate::generated::errors::ChangeOrderPriceError;
use crate::generated::params;
use crate::read::{GetOrderReply, GetOrderRequest, ShopOrder};
use crate::token::{AppSecretTokenSource, TokenSource};
use crate::wire::{ChangeOrderPriceRequest, Envelope, Reply};

/// Settings of a [`WechatShopClient`]. Build with [`WechatConfig::new`] and adjust the fields.
// Debug is derived: `SecretString` prints `[REDACTED]`, never its value, and
// `ClientSettings` masks credentials in the base URL.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WechatConfig {
    /// Where, how fast and how patiently the client sends: base URL (default
    /// `https://api.weixin.qq.com`), path of the price change (default
    /// `/product/order/change_order_price`), calls per second for this app or its shared
    /// limiter, and retries of retryable failures (system busy, rate limit, transport errors).
    /// The default rate `Some(20)` is *assumed*: WeChat publishes daily quotas, not a
    /// per-second rate; set it to your app's real rate.
    pub settings: ClientSettings,
    /// Path of the order read, default `/product/order/get`.
    pub get_path: String,
    /// The app id (also the rate limiter's key).
    pub appid: String,
    /// The app secret (used by the default token source only).
    pub secret: SecretString,
}

impl WechatConfig {
    /// Defaults for `appid` and `secret`.
    pub fn new(appid: impl Into<String>, secret: SecretString) -> Self {
        WechatConfig {
            settings: ClientSettings::new(params::DEFAULT_BASE_URL, params::PATH)
                .with_rate_limit(Some(20)),
            get_path: params::GET_PATH.to_owned(),
            appid: appid.into(),
            secret,
        }
    }
}

impl ClientConfig for WechatConfig {
    fn settings_mut(&mut self) -> &mut ClientSettings {
        &mut self.settings
    }
}

/// Client of WeChat Shop `change_order_price`. Cheap to clone (clones share the HTTP pool, the
/// rate limiter and the token source).
///
/// Each call waits for the app's rate limiter, sends the request with a token from the
/// [`TokenSource`], refreshes the token and resends once on errcodes 40001, 42001 and 40014, and
/// retries retryable failures (errcode -1, the minute quota 45011, timeouts, 5xx) under the
/// [`RetryPolicy`]. The daily quota (45009) is `QuotaExhausted` and never retried.
#[derive(Clone)]
pub struct WechatShopClient {
    http: HttpClient,
    url: String,
    get_url: String,
    appid: String,
    secret: SecretString,
    retry: RetryPolicy,
    limiter: RateLimiter,
    tokens: Arc<dyn TokenSource>,
}

impl fmt::Debug for WechatShopClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatShopClient")
            .field("url", &self.url)
            .field("appid", &self.appid)
            .field("retry", &self.retry)
            .field("limiter", &self.limiter)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl WechatShopClient {
    /// A client that fetches its own tokens with the app id and secret
    /// ([`AppSecretTokenSource`] at `{base_url}/cgi-bin/token`).
    pub fn new(http: HttpClient, config: WechatConfig) -> Self {
        let tokens = Arc::new(AppSecretTokenSource::new(
            http.clone(),
            &config.settings.base_url,
            &config.appid,
            config.secret.clone(),
        ));
        Self::with_token_source(http, config, tokens)
    }

    /// A client that takes its tokens from `tokens` (a central token service, for example).
    pub fn with_token_source(
        http: HttpClient,
        config: WechatConfig,
        tokens: Arc<dyn TokenSource>,
    ) -> Self {
        WechatShopClient {
            url: config.settings.url(),
            get_url: transport_core::endpoint(&config.settings.base_url, &config.get_path),
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

    /// Changes an unpaid order's prices. `Ok` only for errcode 0; every other errcode is a
    /// [`ChangeOrderPriceFailure::Refused`] carrying the generated [`ChangeOrderPriceError`]
    /// (the platform's code and message verbatim) and its domain classification; failures with
    /// no platform answer are [`ChangeOrderPriceFailure::Unanswered`].
    pub async fn change_order_price(
        &self,
        req: &ChangeOrderPriceRequest,
    ) -> Result<Reply, ChangeOrderPriceFailure> {
        let body = serde_json::to_vec(req).map_err(|e| {
            PlatformError::new(
                order_domain::PlatformErrorKind::InvalidRequest,
                None,
                format!("request could not be encoded: {e}"),
            )
        })?;
        retried(&self.retry, || self.attempt(&self.url, req.order_id, &body)).await
    }

    /// One attempt at `url` (the change or the read): token, send, and on a token errcode one
    /// refresh and resend.
    async fn attempt(
        &self,
        url: &str,
        order_id: u64,
        body: &[u8],
    ) -> Result<Reply, ChangeOrderPriceFailure> {
        let token = self.tokens.token().await?;
        match self.send_once(url, &token, body).await? {
            Ok(reply) => Ok(reply),
            Err((code, _)) if params::TOKEN_REFRESH_ERRCODES.contains(&code) => {
                tracing::info!(appid = %self.appid, order_id, url, errcode = code, "access token refused; refreshing once");
                let fresh = self.tokens.refresh(&token).await?;
                match self.send_once(url, &fresh, body).await? {
                    Ok(reply) => Ok(reply),
                    Err((code, msg)) => Err(self.error(code, &msg, &fresh)),
                }
            }
            Err((code, msg)) => Err(self.error(code, &msg, &token)),
        }
    }

    fn error(&self, code: i64, msg: &str, token: &SecretString) -> ChangeOrderPriceFailure {
        reply_error(
            code,
            msg,
            &[token.expose_secret(), self.secret.expose_secret()],
        )
    }

    /// Sends once to `url`. Outer `Err`: transport or protocol failure; inner `Err`: a non-zero
    /// errcode.
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

impl WechatShopClient {
    /// Reads one order (`product/order/get`). Same pacing, token refresh and retries as the
    /// change; errcodes are classified by the same table (`100002` is `NotFound`).
    pub async fn get_order(&self, order_id: u64) -> Result<ShopOrder, PlatformError> {
        let body = serde_json::to_vec(&GetOrderRequest { order_id }).map_err(|e| {
            PlatformError::new(
                order_domain::PlatformErrorKind::InvalidRequest,
                None,
                format!("request could not be encoded: {e}"),
            )
        })?;
        let reply = transport_core::with_retries(&self.retry, || async {
            self.attempt(&self.get_url, order_id, &body)
                .await
                .map_err(PlatformError::from)
        })
        .await?;
        let secrets = [self.secret.expose_secret()];
        let r: GetOrderReply = transport_core::decode_json(reply.raw.as_bytes(), &secrets)?;
        r.order.ok_or_else(|| {
            protocol_error(
                "product/order/get reply has no order",
                reply.raw.as_bytes(),
                &secrets,
            )
        })
    }
}

/// Reads a `change_order_price` reply body.
///
/// Outer `Err`: the body is not a WeChat reply (a `Protocol` error with a redacted snippet).
/// Inner `Err`: a non-zero errcode with its message, for the caller to classify (token errcodes
/// mean "refresh and resend"; [`reply_error`] classifies the rest). `secrets` are redacted from
/// everything kept.
pub fn decode_reply(
    body: &[u8],
    secrets: &[&str],
) -> Result<Result<Reply, (i64, String)>, PlatformError> {
    // A derived struct would also accept a JSON array, field by field: refuse it first.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(protocol_error("reply is not a JSON object", body, secrets));
    }
    let env: Envelope = serde_json::from_slice(body).map_err(|e| {
        protocol_error(
            &format!("reply is not the expected JSON ({e})"),
            body,
            secrets,
        )
    })?;
    let Some(code) = env.errcode else {
        return Err(protocol_error("reply has no errcode", body, secrets));
    };
    let errmsg = env.errmsg.unwrap_or_default();
    if code == params::SUCCESS_ERRCODE {
        // serde_json skips unknown fields without checking their UTF-8: lossy, then.
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
/// platform's message.
pub fn reply_error(code: i64, message: &str, secrets: &[&str]) -> ChangeOrderPriceFailure {
    let msg = transport_core::redact_text(message, secrets);
    let error = ChangeOrderPriceError::from_reply(&code.to_string(), &msg);
    let domain = error.clone().into_platform_error();
    // A used-up daily quota needs the merchant: say when it comes back and how to reset it.
    let domain = if matches!(error, ChangeOrderPriceError::DailyQuotaExhausted { .. }) {
        domain.with_detail(error.merchant_action())
    } else {
        domain
    };
    ChangeOrderPriceFailure::Refused {
        error,
        domain: Box::new(domain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_paces_with_the_limiter_given_in_its_settings() {
        let shared = RateLimiter::per_second(Some(3));
        let c = WechatShopClient::new(
            HttpClient::new(&transport_core::HttpConfig::default()).unwrap(),
            WechatConfig::new("wx1", SecretString::from("s")).with_limiter(shared.clone()),
        );
        assert!(c.limiter().same_as(&shared));
    }

    #[test]
    fn config_debug_shows_no_secret_nor_password_in_the_base_url() {
        let config = WechatConfig::new("wx1", SecretString::from("S3CRET"))
            .with_base_url("https://u:PASSW0RD@wx.example");
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("PASSW0RD") && !shown.contains("S3CRET"),
            "{shown}"
        );
        assert!(shown.contains("wx.example"), "{shown}");
    }

    #[test]
    fn decode_reply_reads_errcodes_as_numbers_or_text_and_keeps_the_message() {
        let ok = decode_reply(br#"{"errcode":0,"errmsg":"ok"}"#, &[])
            .unwrap()
            .unwrap();
        assert_eq!((ok.errcode, ok.errmsg.as_str()), (0, "ok"));
        let refused = decode_reply(
            r#"{"errcode":"108022","errmsg":"改价次数超限"}"#.as_bytes(),
            &[],
        )
        .unwrap();
        assert_eq!(refused.unwrap_err(), (108_022, "改价次数超限".to_owned()));
        let e = reply_error(108_022, "改价次数超限 token=sbx_secret", &["sbx_secret"]);
        assert_eq!(e.code(), Some("108022"));
        assert!(!e.to_string().contains("sbx_secret"), "{e}");
        let e = decode_reply(b"{}", &[]).unwrap_err();
        assert_eq!(e.kind(), order_domain::PlatformErrorKind::Protocol);
    }

    #[test]
    fn odd_replies_are_read_by_serde_alone() {
        // Unknown fields are ignored, errcodes come as numbers or text.
        let ok = decode_reply(
            br#"{"errmsg":"ok","extra":{"a":[1,2.5,"x"]},"errcode":0,"id":18446744073709551615}"#,
            &[],
        )
        .unwrap()
        .unwrap();
        assert_eq!((ok.errcode, ok.errmsg.as_str()), (0, "ok"));
        assert!(ok.raw.contains("18446744073709551615"), "raw body kept");
        let ok = decode_reply(br#"{"errcode":"0","errmsg":null}"#, &[])
            .unwrap()
            .unwrap();
        assert_eq!(ok.errmsg, "");
        // Escaped messages are decoded; secrets are kept out of the raw body.
        let refused =
            decode_reply(br#"{"errcode":" 108022 ","errmsg":"\u6539\u4ef7"}"#, &[]).unwrap();
        assert_eq!(refused.unwrap_err(), (108_022, "改价".to_owned()));
        let ok = decode_reply(
            br#"{"errcode":0,"errmsg":"ok","t":"sbx_secret"}"#,
            &["sbx_secret"],
        )
        .unwrap()
        .unwrap();
        assert!(!ok.raw.contains("sbx_secret"), "{}", ok.raw);
        // Bytes that are not UTF-8 in an ignored field: read, and kept lossily.
        let ok = decode_reply(b"{\"errcode\":0,\"x\":\"\xff\"}", &[])
            .unwrap()
            .unwrap();
        assert!(ok.raw.contains('\u{fffd}'), "{}", ok.raw);
        // Anything that is not a WeChat envelope is Protocol, with the body in the message.
        for body in [
            &b"<html>busy</html>"[..],
            br#"{"errcode":0,"errmsg":"ok""#,
            br#"{"errcode":0} x"#,
            br#"{"errcode":1.5}"#,
            br#"{"errcode":true}"#,
            br#"{"errcode":null,"errmsg":"ok"}"#,
            br#"{"errcode":0,"errmsg":1}"#,
            b"",
            b"[0]",
        ] {
            let e = decode_reply(body, &[]).unwrap_err();
            assert_eq!(
                e.kind(),
                order_domain::PlatformErrorKind::Protocol,
                "{}",
                String::from_utf8_lossy(body)
            );
            if body.starts_with(b"<html>") {
                assert!(e.message().contains("<html>busy</html>"), "{e}");
            }
        }
    }
}
