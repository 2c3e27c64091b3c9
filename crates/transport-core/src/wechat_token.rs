//! WeChat app access tokens, shared by every WeChat transport (WeChat Shop, Channels shop).
//!
//! - [`TokenSource`]: where tokens come from. Clients ask [`token`](TokenSource::token) before
//!   each call and [`refresh`](TokenSource::refresh) once when WeChat refuses a token (errcodes
//!   40001, 42001, 40014). Plug in your own to share one token between servers.
//! - [`AppSecretTokenSource`]: the default, fetching with the app id and secret from
//!   `GET /cgi-bin/token` or, with [`TokenEndpoint::Stable`], `POST /cgi-bin/stable_token`;
//!   cached until shortly before expiry, single-flight.
//! - [`StaticToken`]: a fixed token, for tests and callers that manage tokens themselves.
//! - [`TokenSources`]: one source per (token URL, app id), so that two shops of one app (a
//!   WeChat Shop and a Channels shop, say) share one token instead of knocking each other's
//!   token out.
//!
//! Errors of the token endpoint keep WeChat's errcode and errmsg verbatim (secrets redacted):
//! `-1` is `Transient`, `45009` (daily quota) `QuotaExhausted`, `45011` (minute quota)
//! `RateLimited`, anything else `Unauthorised` (unknown appid, wrong secret, IP not allowed).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use async_trait::async_trait;
use order_domain::{PlatformError, PlatformErrorKind};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::lenient::opt_i64_lenient;
use crate::{ExposeSecret, HttpClient, SecretString, decode_json};

/// Path of the plain token endpoint.
pub const TOKEN_PATH: &str = "/cgi-bin/token";
/// Path of the stable token endpoint.
pub const STABLE_TOKEN_PATH: &str = "/cgi-bin/stable_token";
/// Errcodes after which a WeChat client refreshes the token and resends once.
pub const TOKEN_REFRESH_ERRCODES: [i64; 3] = [40001, 42001, 40014];
/// Errcode of the interface's daily call quota.
pub const DAILY_QUOTA_ERRCODE: i64 = 45009;
/// Errcode of the interface's minute quota (short-term frequency limit).
pub const MINUTE_QUOTA_ERRCODE: i64 = 45011;

/// Where access tokens come from.
///
/// When WeChat rejects a token (errcodes 40001, 42001, 40014) the client calls
/// [`refresh`](Self::refresh) with the rejected token and retries the call once. Plug in your
/// own implementation to share one token between servers (a central token service), so that
/// servers do not invalidate each other's tokens.
#[async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// A token believed valid.
    async fn token(&self) -> Result<SecretString, PlatformError>;

    /// A token other than `rejected`, which the platform just refused. Implementations should
    /// return a newer token already obtained by a concurrent caller rather than fetch again.
    async fn refresh(&self, rejected: &SecretString) -> Result<SecretString, PlatformError>;
}

/// A token that never changes. `refresh` fails with `Unauthorised`.
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

/// Which WeChat endpoint an [`AppSecretTokenSource`] asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenEndpoint {
    /// `GET /cgi-bin/token`: every fetch issues a new token and invalidates the previous one.
    Plain,
    /// `POST /cgi-bin/stable_token`: a fetch returns the token still valid; only a forced
    /// refresh (limited by WeChat to about 20 a day, 30 s apart) replaces it.
    Stable,
}

impl TokenEndpoint {
    /// The endpoint's path.
    pub fn path(self) -> &'static str {
        match self {
            TokenEndpoint::Plain => TOKEN_PATH,
            TokenEndpoint::Stable => STABLE_TOKEN_PATH,
        }
    }
}

struct Cached {
    token: SecretString,
    refresh_at: Instant,
}

/// The token endpoint's reply: a token, or an envelope error.
#[derive(Deserialize)]
struct TokenReply {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default, deserialize_with = "opt_i64_lenient")]
    expires_in: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64_lenient")]
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: Option<String>,
}

/// Fetches tokens with the app's id and secret and caches each until `margin` before its
/// `expires_in`.
///
/// Fetches are single-flight: concurrent callers wait for the one fetch in progress and share
/// its token. With [`TokenEndpoint::Plain`] every fetch invalidates the app's previous token
/// for every server; run one source per app (see [`TokenSources`]) or use the stable endpoint.
pub struct AppSecretTokenSource {
    http: HttpClient,
    url: String,
    endpoint: TokenEndpoint,
    appid: String,
    secret: SecretString,
    margin: Duration,
    cached: Mutex<Option<Cached>>,
}

impl fmt::Debug for AppSecretTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppSecretTokenSource")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("appid", &self.appid)
            .field("secret", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl AppSecretTokenSource {
    /// A source for `appid` at `base_url` with the plain endpoint ([`TOKEN_PATH`]), refreshing
    /// 5 minutes before expiry.
    pub fn new(http: HttpClient, base_url: &str, appid: &str, secret: SecretString) -> Self {
        AppSecretTokenSource {
            http,
            url: crate::endpoint(base_url, TOKEN_PATH),
            endpoint: TokenEndpoint::Plain,
            appid: appid.to_owned(),
            secret,
            margin: Duration::from_secs(300),
            cached: Mutex::new(None),
        }
    }

    /// A source for `appid` at `base_url` asking `endpoint` at its usual path.
    pub fn at(
        http: HttpClient,
        base_url: &str,
        endpoint: TokenEndpoint,
        appid: &str,
        secret: SecretString,
    ) -> Self {
        let mut s = Self::new(http, base_url, appid, secret);
        s.url = crate::endpoint(base_url, endpoint.path());
        s.endpoint = endpoint;
        s
    }

    /// With another token URL (base and path), keeping the endpoint kind.
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

    /// The app id.
    pub fn appid(&self) -> &str {
        &self.appid
    }

    async fn fetch(&self, force_refresh: bool) -> Result<Cached, PlatformError> {
        let secret = self.secret.expose_secret();
        let secrets = [secret];
        let req = match self.endpoint {
            TokenEndpoint::Plain => self.http.inner().get(&self.url).query(&[
                ("grant_type", "client_credential"),
                ("appid", self.appid.as_str()),
                ("secret", secret),
            ]),
            TokenEndpoint::Stable => self.http.inner().post(&self.url).json(&serde_json::json!({
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": secret,
                "force_refresh": force_refresh,
            })),
        };
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
                let msg = crate::redact_text(&r.errmsg.unwrap_or_default(), &secrets);
                Err(token_endpoint_error(code, msg)
                    .with_detail(format!("token endpoint, appid {}", self.appid)))
            }
            _ => Err(crate::protocol_error(
                "token reply has neither access_token nor errcode",
                reply.body(),
                &secrets,
            )),
        }
    }
}

/// Classifies an errcode of the token endpoint; the message is kept as given.
pub fn token_endpoint_error(code: i64, message: String) -> PlatformError {
    let kind = match code {
        -1 => PlatformErrorKind::Transient,
        DAILY_QUOTA_ERRCODE => PlatformErrorKind::QuotaExhausted,
        MINUTE_QUOTA_ERRCODE => PlatformErrorKind::RateLimited,
        _ => PlatformErrorKind::Unauthorised,
    };
    PlatformError::new(kind, Some(code.to_string()), message)
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
        let fresh = self.fetch(false).await?;
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
        let mut fresh = self.fetch(false).await?;
        if self.endpoint == TokenEndpoint::Stable
            && fresh.token.expose_secret() == rejected.expose_secret()
        {
            // The stable endpoint still hands out the refused token: force a new one.
            fresh = self.fetch(true).await?;
        }
        let token = fresh.token.clone();
        *guard = Some(fresh);
        Ok(token)
    }
}

/// One [`AppSecretTokenSource`] per (token URL, app id), handed out as a shared
/// `Arc<dyn TokenSource>`: every client of one app asks the same source, so one token serves
/// them all. Cheap to clone (clones share the sources).
#[derive(Debug, Clone, Default)]
pub struct TokenSources {
    sources: Arc<StdMutex<SourceMap>>,
}

/// Sources by (token URL, app id).
type SourceMap = HashMap<(String, String), Arc<AppSecretTokenSource>>;

impl TokenSources {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The source for `appid` at `base_url` and `endpoint`, created on first use. A later call
    /// for the same URL and app returns the same source (its secret is the first one given).
    pub fn get(
        &self,
        http: &HttpClient,
        base_url: &str,
        endpoint: TokenEndpoint,
        appid: &str,
        secret: &SecretString,
    ) -> Arc<dyn TokenSource> {
        let url = crate::endpoint(base_url, endpoint.path());
        let mut map = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((url, appid.to_owned()))
            .or_insert_with(|| {
                Arc::new(AppSecretTokenSource::at(
                    http.clone(),
                    base_url,
                    endpoint,
                    appid,
                    secret.clone(),
                ))
            })
            .clone()
    }

    /// How many distinct sources exist.
    pub fn len(&self) -> usize {
        self.sources.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no source exists yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_endpoint_codes_keep_their_kinds() {
        let e = token_endpoint_error(45009, "reach max api daily quota limit".into());
        assert_eq!(e.kind(), PlatformErrorKind::QuotaExhausted);
        assert_eq!(e.code(), Some("45009"));
        assert_eq!(
            token_endpoint_error(45011, "x".into()).kind(),
            PlatformErrorKind::RateLimited
        );
        assert_eq!(
            token_endpoint_error(-1, "x".into()).kind(),
            PlatformErrorKind::Transient
        );
        assert_eq!(
            token_endpoint_error(40125, "invalid appsecret".into()).kind(),
            PlatformErrorKind::Unauthorised
        );
    }

    #[test]
    fn one_source_per_url_and_app() {
        let http = HttpClient::new(&crate::HttpConfig::default()).unwrap();
        let set = TokenSources::new();
        let s = SecretString::from("s");
        let a = set.get(&http, "http://h", TokenEndpoint::Plain, "wx1", &s);
        let b = set.get(&http, "http://h/", TokenEndpoint::Plain, "wx1", &s);
        let c = set.get(&http, "http://h", TokenEndpoint::Plain, "wx2", &s);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(set.len(), 2);
        assert!(!format!("{a:?}").contains("\"s\""));
    }
}
