//! The typed client of vv-tool "modify order price".

use std::fmt;

use order_domain::{PlatformError, PlatformErrorKind};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use transport_core::sign::{hex_lower, md5};
use transport_core::{
    ClientConfig, ClientSettings, ExposeSecret, HttpClient, RateLimiter, RetryPolicy, SecretString,
    protocol_error, redact_text,
};

use crate::failure::{ModifyOrderPriceFailure, ModifyOrderPriceRefusal, retried};
use crate::generated::errors::{ModifyOrderPriceError, ModifyOrderPriceResultError};
use crate::generated::params;
use crate::wire::{Data, Envelope, ModifyOrderPriceReply, ModifyOrderPriceRequest, auth_link};

/// Settings of a [`VvtoolClient`]. Build with [`VvtoolConfig::new`] and adjust the fields.
// Debug is derived: `SecretString` prints `[REDACTED]`, never its value, and
// `ClientSettings` masks credentials in the base URL.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VvtoolConfig {
    /// Where, how fast and how patiently the client sends: base URL (default
    /// `https://api.vv-tool.com`), path (default `/tool/erps/1688modify-order-price`), calls per
    /// second for this token (default `Some(10)` as documented) or the token's shared limiter,
    /// and retries of retryable failures (101, 202, `FAIL_BIZ_TRADING_SYSTEM_ERROR`, transport).
    pub settings: ClientSettings,
    /// The vv-tool access token, sent as `Authorization: Bearer <token>`.
    pub token: SecretString,
}

impl VvtoolConfig {
    /// Defaults for `token`.
    pub fn new(token: SecretString) -> Self {
        VvtoolConfig {
            settings: ClientSettings::new(params::DEFAULT_BASE_URL, params::PATH)
                .with_rate_limit(Some(params::RATE_LIMIT_PER_SECOND)),
            token,
        }
    }
}

impl ClientConfig for VvtoolConfig {
    fn settings_mut(&mut self) -> &mut ClientSettings {
        &mut self.settings
    }
}

/// Client of vv-tool's 1688 "modify order price". One per token; clones share the HTTP pool
/// and the token's rate limiter, so several shops of one token should share one client.
///
/// Each call waits for the token's rate limiter, sends the request with the bearer token, and
/// retries retryable failures under the [`RetryPolicy`]. Both reply levels are checked: the
/// envelope `code` (classified by the generated [`ModifyOrderPriceError`]; on `302` the
/// authorisation link becomes the error's detail) and, when it is 0, `data.success` and
/// `data.result_code` (classified by the generated [`ModifyOrderPriceResultError`]).
#[derive(Clone)]
pub struct VvtoolClient {
    http: HttpClient,
    url: String,
    token: SecretString,
    key: String,
    retry: RetryPolicy,
    limiter: RateLimiter,
}

impl fmt::Debug for VvtoolClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VvtoolClient")
            .field("url", &self.url)
            .field("credential", &self.key)
            .field("retry", &self.retry)
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl VvtoolClient {
    /// A client for `config`'s token.
    pub fn new(http: HttpClient, config: VvtoolConfig) -> Self {
        // The limiter's key identifies the token without holding it.
        let digest = md5(config.token.expose_secret().as_bytes());
        VvtoolClient {
            url: config.settings.url(),
            limiter: config.settings.limiter(),
            key: format!("vvtool:{}", hex_lower(&digest[..8])),
            token: config.token,
            retry: config.settings.retry,
            http,
        }
    }

    /// The limiter this client paces with (clones share its slots), for a caller that takes
    /// a request's slot ahead with [`RateLimiter::reserve`].
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// The key this client's requests take their slots under (a digest of the token, never the token).
    pub fn limiter_key(&self) -> &str {
        &self.key
    }

    /// Changes an unpaid 1688 order's prices through vv-tool.
    pub async fn modify_order_price(
        &self,
        req: &ModifyOrderPriceRequest,
    ) -> Result<ModifyOrderPriceReply, ModifyOrderPriceFailure> {
        let body = serde_json::to_vec(req).map_err(|e| {
            PlatformError::new(
                PlatformErrorKind::InvalidRequest,
                None,
                format!("request could not be encoded: {e}"),
            )
        })?;
        retried(&self.retry, || self.attempt(&body)).await
    }

    async fn attempt(&self, body: &[u8]) -> Result<ModifyOrderPriceReply, ModifyOrderPriceFailure> {
        self.limiter.until_ready(&self.key).await;
        let token = self.token.expose_secret();
        let secrets = [token];
        let mut auth =
            HeaderValue::from_str(&format!("{}{token}", params::AUTH_SCHEME)).map_err(|_| {
                PlatformError::new(
                    PlatformErrorKind::InvalidRequest,
                    None,
                    "the vv-tool token contains characters not allowed in a header",
                )
            })?;
        auth.set_sensitive(true);
        let req = self
            .http
            .inner()
            .post(&self.url)
            .header(AUTHORIZATION, auth)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        let reply = self.http.send(req, &secrets).await?;
        match decode_reply(reply.body(), &secrets) {
            // A non-2xx status without a vv-tool envelope is judged by its status.
            Err(e) if e.code() == Some("protocol") && !reply.status().is_success() => Err(reply
                .error_for_status(&secrets)
                .err()
                .unwrap_or_else(|| protocol_error("unexpected status", b"", &secrets))
                .into()),
            decoded => decoded,
        }
    }
}

/// Reads a `1688modify-order-price` reply body: the envelope code, then the business result.
///
/// Every failure is classified through the generated tables (envelope and business); a 302
/// keeps the authorisation link, a business failure keeps the call's cost. A body that is not
/// a vv-tool reply is a `Protocol` error with a redacted snippet. `secrets` are redacted from
/// everything kept.
pub fn decode_reply(
    body: &[u8],
    secrets: &[&str],
) -> Result<ModifyOrderPriceReply, ModifyOrderPriceFailure> {
    // A derived struct would also accept a JSON array, field by field: refuse it first.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(protocol_error("reply is not a JSON object", body, secrets).into());
    }
    let env: Envelope = serde_json::from_slice(body).map_err(|e| {
        protocol_error(
            &format!("reply is not the expected JSON ({e})"),
            body,
            secrets,
        )
    })?;
    let Some(code) = env.code else {
        return Err(protocol_error("reply has no code", body, secrets).into());
    };
    let msg = redact_text(env.msg.as_deref().unwrap_or_default(), secrets);
    if code != params::SUCCESS_CODE {
        let error = ModifyOrderPriceError::from_reply(&code.to_string(), &msg);
        let is_302 = matches!(error, ModifyOrderPriceError::ShopNotAuthorised { .. });
        let mut domain = error.clone().into_platform_error();
        if is_302 && let Some(link) = auth_link(env.data.as_ref(), &msg) {
            domain = domain.with_detail(redact_text(&link, secrets));
        }
        return Err(ModifyOrderPriceFailure::refused(
            ModifyOrderPriceRefusal::Envelope(error),
            domain,
        ));
    }
    let data: Data = match env.data {
        Some(v) if v.is_object() => serde_json::from_value(v).map_err(|e| {
            protocol_error(
                &format!("reply data has the wrong shape ({e})"),
                body,
                secrets,
            )
        })?,
        _ => {
            return Err(
                protocol_error("reply has code 0 but no data object", body, secrets).into(),
            );
        }
    };
    match data.success() {
        Some(true) => Ok(ModifyOrderPriceReply {
            withholding_money: data.cost(),
            msec: env.msec,
            // serde_json skips unknown fields without checking their UTF-8: lossy, then.
            raw: redact_text(&String::from_utf8_lossy(body), secrets),
        }),
        Some(false) => {
            let code = data.result_code.as_deref().unwrap_or_default();
            let msg = redact_text(data.result_msg.as_deref().unwrap_or_default(), secrets);
            let error = ModifyOrderPriceResultError::from_reply(code, &msg);
            let mut domain = error.clone().into_platform_error();
            if let Some(cost) = data.cost() {
                domain = domain.with_detail(format!("withholding_money {cost}"));
            }
            Err(ModifyOrderPriceFailure::refused(
                ModifyOrderPriceRefusal::Result(error),
                domain,
            ))
        }
        None => Err(protocol_error("reply data has no boolean success", body, secrets).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_paces_with_the_limiter_given_in_its_settings() {
        let shared = RateLimiter::per_second(Some(3));
        let config = VvtoolConfig::new(SecretString::from("vv-token")).with_limiter(shared.clone());
        let c = VvtoolClient::new(
            HttpClient::new(&transport_core::HttpConfig::default()).unwrap(),
            config,
        );
        assert!(c.limiter().same_as(&shared));
    }

    #[test]
    fn config_debug_shows_no_token_nor_password_in_the_base_url() {
        let config = VvtoolConfig::new(SecretString::from("VV-T0KEN"))
            .with_base_url("https://u:PASSW0RD@vv.example");
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("PASSW0RD") && !shown.contains("VV-T0KEN"),
            "{shown}"
        );
        assert!(shown.contains("vv.example"), "{shown}");
    }

    #[test]
    fn the_default_base_url_is_https() {
        let c = VvtoolConfig::new(SecretString::from("vv-token"));
        assert!(
            c.settings.base_url.starts_with("https://"),
            "{}",
            c.settings.base_url
        );
        assert_eq!(c.settings.base_url, params::DEFAULT_BASE_URL);
    }

    #[test]
    fn odd_replies_are_read_by_serde_alone() {
        // The usual success; unknown fields ignored; the cost kept as its exact text.
        let ok = decode_reply(
            br#"{"code":0,"msg":"ok","msec":12,"time":1700000000,"new":[1,{"a":null}],"data":{"success":true,"withholding_money":"0.5","later":1}}"#,
            &[],
        )
        .unwrap();
        assert_eq!(ok.withholding_money.as_deref(), Some("0.5"));
        assert_eq!(ok.msec, Some(12));
        assert!(ok.raw.contains(r#""later":1"#), "raw body kept: {}", ok.raw);
        for (body, cost) in [
            (&br#"{"code":"0","msec":"7","data":{"success":"TRUE","withholding_money":12.50}}"#[..], Some("12.50")),
            (br#"{"code":0,"data":{"success":true,"withholding_money":18446744073709551616}}"#, Some("18446744073709551616")),
            (br#"{"code":0,"msg":null,"msec":null,"data":{"success":true,"withholding_money":null}}"#, None),
            (br#"{"code":0,"data":{"success":true,"withholding_money":"\u0031"}}"#, Some("1")),
        ] {
            let r = decode_reply(body, &[]).unwrap();
            assert_eq!(r.withholding_money.as_deref(), cost, "{}", String::from_utf8_lossy(body));
        }
        // Bytes that are not UTF-8 in an ignored field: read, and kept lossily.
        let r = decode_reply(
            b"{\"code\":0,\"data\":{\"success\":true},\"x\":\"\xff\"}",
            &[],
        )
        .unwrap();
        assert!(r.raw.contains('\u{fffd}'), "{}", r.raw);
        // Refusals keep the platform's code and message; secrets never reach them.
        let e = decode_reply(
            br#"{"code":0,"data":{"success":false,"result_code":"FAIL_BIZ_TRADING_ORDER_NOT_EXIST","result_msg":"no","withholding_money":"0.1"}}"#,
            &[],
        )
        .unwrap_err();
        assert_eq!(e.code(), Some("FAIL_BIZ_TRADING_ORDER_NOT_EXIST"));
        assert_eq!(e.detail(), Some("withholding_money 0.1"));
        let e = decode_reply(
            br#"{"code":302,"msg":"token=vv-token","data":{"auth_url":"https://x/auth?token=vv-token"}}"#,
            &["vv-token"],
        )
        .unwrap_err();
        assert_eq!(e.code(), Some("302"));
        assert!(!format!("{e} {e:?}").contains("vv-token"), "{e:?}");
        // What is not a vv-tool success or refusal is Protocol, with the body in the message.
        for body in [
            &b"<html>busy</html>"[..],
            br#"{"code":0,"data":{"success":true}"#,
            br#"{"code":0,"data":{"success":true}} x"#,
            br#"{"code":0}"#,
            br#"{"code":0,"data":null}"#,
            br#"{"code":0,"data":[true]}"#,
            br#"{"code":0,"data":{"success":1}}"#,
            br#"{"code":1.5,"data":{"success":true}}"#,
            br#"{"code":0,"msg":5,"data":{"success":true}}"#,
            b"",
            b"[0]",
        ] {
            let e = decode_reply(body, &[]).unwrap_err();
            assert_eq!(
                e.kind(),
                PlatformErrorKind::Protocol,
                "{}",
                String::from_utf8_lossy(body)
            );
            if body.starts_with(b"<html>") {
                assert!(e.message().contains("<html>busy</html>"), "{e}");
            }
        }
    }
}
