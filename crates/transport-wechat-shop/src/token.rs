//! Access tokens: the [`TokenSource`] trait and the default [`AppSecretTokenSource`].

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use order_domain::{PlatformError, PlatformErrorKind};
use tokio::sync::Mutex;
use tokio::time::Instant;
use transport_core::{ExposeSecret, HttpClient, SecretString, decode_json};

use crate::generated::errors::ChangeOrderPriceError;
use crate::wire::TokenReply;

/// Where access tokens come from.
///
/// The client asks [`token`](Self::token) before each call. When WeChat rejects a token
/// (errcodes 40001, 42001, 40014) the client calls [`refresh`](Self::refresh) with the rejected
/// token and retries the call once. Plug in your own implementation to share one token between
/// servers (a central token service, the `stable_token` endpoint), so that servers do not
/// invalidate each other's tokens.
#[async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// A token believed valid.
    async fn token(&self) -> Result<SecretString, PlatformError>;

    /// A token other than `rejected`, which the platform just refused. Implementations should
    /// return a newer token already obtained by a concurrent caller rather than fetch again.
    async fn refresh(&self, rejected: &SecretString) -> Result<SecretString, PlatformError>;
}

/// A token that never changes, for tests and for callers that manage tokens themselves.
/// `refresh` fails with `Unauthorised`.
#[derive(Debug, Clone)]
pub struct StaticToken(pub SecretString);

#[async_trait]
impl TokenSource for StaticToken {
    async fn token(&self) -> Result<SecretString, PlatformError> {
        Ok(self.0.clone())
    }
    async fn refresh(&self, _rejected: &SecretString) -> Result<SecretString, PlatformError> {
        Err(PlatformError::new(
            PlatformErrorKind::Unauthorised,
            None,
            "the configured access token was rejected and cannot be refreshed",
        ))
    }
}

struct Cached {
    token: SecretString,
    refresh_at: Instant,
}

/// Fetches tokens with the app's id and secret from
/// `GET {base_url}{token_path}?grant_type=client_credential&appid=..&secret=..` and caches each
/// until `margin` before its `expires_in`.
///
/// Fetches are single-flight: concurrent callers wait for the one fetch in progress and share
/// its token. Note that every fetch invalidates the app's previous token for every server; run
/// one token source per app (or plug in a shared one).
pub struct AppSecretTokenSource {
    http: HttpClient,
    url: String,
    appid: String,
    secret: SecretString,
    margin: Duration,
    cached: Mutex<Option<Cached>>,
}

impl fmt::Debug for AppSecretTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppSecretTokenSource")
            .field("url", &self.url)
            .field("appid", &self.appid)
            .field("secret", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// Default token path.
pub const TOKEN_PATH: &str = "/cgi-bin/token";

impl AppSecretTokenSource {
    /// A source for `appid` at `base_url` (path [`TOKEN_PATH`]), refreshing 5 minutes before
    /// expiry.
    pub fn new(http: HttpClient, base_url: &str, appid: &str, secret: SecretString) -> Self {
        AppSecretTokenSource {
            http,
            url: transport_core::endpoint(base_url, TOKEN_PATH),
            appid: appid.to_owned(),
            secret,
            margin: Duration::from_secs(300),
            cached: Mutex::new(None),
        }
    }

    /// With another token URL (base and path).
    #[must_use]
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// With another safety margin before expiry.
    #[must_use]
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    async fn fetch(&self) -> Result<Cached, PlatformError> {
        let secret = self.secret.expose_secret();
        let secrets = [secret];
        let req = self.http.inner().get(&self.url).query(&[
            ("grant_type", "client_credential"),
            ("appid", self.appid.as_str()),
            ("secret", secret),
        ]);
        let reply = self
            .http
            .send(req, &secrets)
            .await?
            .error_for_status(&secrets)?;
        let r: TokenReply = decode_json(reply.body(), &secrets)?;
        match (r.access_token, r.errcode) {
            (Some(token), None | Some(0)) if !token.is_empty() => {
                let ttl = Duration::from_secs(
                    r.expires_in
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or(7200),
                );
                tracing::debug!(appid = %self.appid, ttl_s = ttl.as_secs(), "fetched access token");
                Ok(Cached {
                    token: SecretString::from(token),
                    refresh_at: Instant::now() + ttl.saturating_sub(self.margin),
                })
            }
            (_, Some(code)) if code != 0 => {
                // Codes the change_order_price page documents keep their kinds (busy, rate
                // limit); any other refusal of the token endpoint is a credential problem
                // (unknown appid, wrong secret, IP not allowed).
                let msg = transport_core::redact_text(&r.errmsg.unwrap_or_default(), &secrets);
                let e = ChangeOrderPriceError::from_reply(&code.to_string(), &msg);
                let e = match e {
                    ChangeOrderPriceError::Unknown { code, message } => {
                        PlatformError::new(PlatformErrorKind::Unauthorised, Some(code), message)
                    }
                    known => known.into_platform_error(),
                };
                Err(e.with_detail(format!("token endpoint, appid {}", self.appid)))
            }
            _ => Err(transport_core::protocol_error(
                "token reply has neither access_token nor errcode",
                reply.body(),
                &secrets,
            )),
        }
    }
}

#[async_trait]
impl TokenSource for AppSecretTokenSource {
    async fn token(&self) -> Result<SecretString, PlatformError> {
        let mut guard = self.cached.lock().await;
        if let Some(c) = guard.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let fresh = self.fetch().await?;
        let token = fresh.token.clone();
        *guard = Some(fresh);
        Ok(token)
    }

    async fn refresh(&self, rejected: &SecretString) -> Result<SecretString, PlatformError> {
        let mut guard = self.cached.lock().await;
        if let Some(c) = guard.as_ref()
            && c.token.expose_secret() != rejected.expose_secret()
            && Instant::now() < c.refresh_at
        {
            // Someone refreshed while we waited: use theirs.
            return Ok(c.token.clone());
        }
        let fresh = self.fetch().await?;
        let token = fresh.token.clone();
        *guard = Some(fresh);
        Ok(token)
    }
}
