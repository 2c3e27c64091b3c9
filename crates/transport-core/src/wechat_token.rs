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
//!   token out; with [`TokenSources::shared`], every source keeps its token in a
//!   [`TokenStore`].
//! - [`TokenStore`] and [`SharedTokenSource`]: one token for many processes. The store (the
//!   journal's `wechat_tokens` table on PostgreSQL, say) holds each app's token and its expiry
//!   and an exclusive refresh lock per app. A process reads the stored token while it is fresh;
//!   when it is missing, expiring or just rejected, the process takes the lock, reads again
//!   (another process may have refreshed while it waited) and only then fetches, stores the
//!   new token and releases the lock. So one process fetches and the others read its token:
//!   processes never invalidate each other's tokens.
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
use crate::{ExposeSecret, HttpClient, SecretString, SystemClock, decode_json};
use order_domain::Clock;

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

    /// Fetches a new token from the endpoint, bypassing the cache: with `force_refresh` on the
    /// stable endpoint WeChat replaces the token still valid. For [`SharedTokenSource`], which
    /// keeps tokens in a [`TokenStore`] instead of this source's cache.
    pub async fn fetch_token(&self, force_refresh: bool) -> Result<FetchedToken, PlatformError> {
        self.fetch_reply(force_refresh).await
    }

    async fn fetch(&self, force_refresh: bool) -> Result<Cached, PlatformError> {
        let f = self.fetch_reply(force_refresh).await?;
        Ok(Cached {
            token: f.token,
            refresh_at: Instant::now() + f.ttl.saturating_sub(self.margin),
        })
    }

    async fn fetch_reply(&self, force_refresh: bool) -> Result<FetchedToken, PlatformError> {
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
                Ok(FetchedToken {
                    token: SecretString::from(token),
                    ttl,
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

/// A token just fetched from the endpoint and how long WeChat says it lives (`expires_in`).
#[derive(Clone)]
pub struct FetchedToken {
    /// The token.
    pub token: SecretString,
    /// Its lifetime from now.
    pub ttl: Duration,
}

impl fmt::Debug for FetchedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchedToken")
            .field("token", &"[REDACTED]")
            .field("ttl", &self.ttl)
            .finish()
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

/// One token source per (token URL, app id), handed out as a shared `Arc<dyn TokenSource>`:
/// every client of one app asks the same source, so one token serves them all. Cheap to clone
/// (clones share the sources).
///
/// [`TokenSources::new`] gives in-process [`AppSecretTokenSource`]s (one process per app);
/// [`TokenSources::shared`] wraps each in a [`SharedTokenSource`] over a [`TokenStore`], so
/// that any number of processes share each app's token.
#[derive(Debug, Clone, Default)]
pub struct TokenSources {
    sources: Arc<StdMutex<SourceMap>>,
    store: Option<Arc<dyn TokenStore>>,
}

/// Sources by (token URL, app id).
type SourceMap = HashMap<(String, String), Arc<dyn TokenSource>>;

impl TokenSources {
    /// An empty set of in-process sources.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set whose sources keep their tokens in `store`, shared with other processes.
    pub fn shared(store: Arc<dyn TokenStore>) -> Self {
        TokenSources {
            sources: Arc::default(),
            store: Some(store),
        }
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
                let fetcher = AppSecretTokenSource::at(
                    http.clone(),
                    base_url,
                    endpoint,
                    appid,
                    secret.clone(),
                );
                match &self.store {
                    None => Arc::new(fetcher),
                    Some(store) => Arc::new(SharedTokenSource::new(fetcher, Arc::clone(store))),
                }
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

// ------------------------------------------------------------------------ shared token store

/// A token as a [`TokenStore`] keeps it: the token and when it expires (Unix milliseconds,
/// wall clock, so that processes on several machines agree).
#[derive(Clone)]
pub struct StoredToken {
    /// The token.
    pub token: SecretString,
    /// When WeChat stops accepting it, in Unix milliseconds.
    pub expires_at_ms: i64,
}

impl fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredToken")
            .field("token", &"[REDACTED]")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

/// The cause of a [`TokenStoreError`] (the store's own error, a database driver's say).
pub type TokenStoreCause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A [`TokenStore`] failed (its database is unreachable, say). Neither the context nor the
/// cause contains a token.
#[derive(Debug, thiserror::Error)]
#[error("the shared token store failed: {context}")]
pub struct TokenStoreError {
    context: String,
    #[source]
    source: Option<TokenStoreCause>,
}

impl TokenStoreError {
    /// A failure while doing `context`, caused by `source`.
    pub fn new(context: impl Into<String>, source: impl Into<TokenStoreCause>) -> Self {
        TokenStoreError {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// What the store was doing.
    pub fn context(&self) -> &str {
        &self.context
    }
}

impl From<TokenStoreError> for PlatformError {
    /// A store failure is transient for the call that needed the token: nothing was sent.
    fn from(e: TokenStoreError) -> Self {
        let mut text = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        PlatformError::new(PlatformErrorKind::Transient, None, text)
    }
}

/// Where processes keep the apps' tokens, with an exclusive refresh lock per app. See
/// [`SharedTokenSource`] for the protocol.
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The stored token of `appid`, if any (fresh or not).
    async fn get(&self, appid: &str) -> Result<Option<StoredToken>, TokenStoreError>;

    /// Takes the refresh lock of `appid`, waiting while another holder (in this process or
    /// another) has it. The lock is released when the returned [`TokenLock`] is stored or
    /// dropped, and when the holding process dies.
    async fn lock(&self, appid: &str) -> Result<Box<dyn TokenLock>, TokenStoreError>;
}

/// The held refresh lock of one app (see [`TokenStore::lock`]).
#[async_trait]
pub trait TokenLock: Send {
    /// The stored token, read under the lock: it includes what the previous holder stored.
    async fn current(&mut self) -> Result<Option<StoredToken>, TokenStoreError>;

    /// Stores `token` as the app's token and releases the lock.
    async fn store(self: Box<Self>, token: &StoredToken) -> Result<(), TokenStoreError>;
}

/// A [`TokenSource`] that keeps its app's token in a [`TokenStore`] shared by many processes,
/// fetching with an [`AppSecretTokenSource`] only under the store's lock.
///
/// - [`token`](TokenSource::token): the token cached in this process while it is fresh (until
///   the source's margin before expiry); else the stored one if fresh; else, under the lock,
///   the stored one if another process refreshed it meanwhile, else a fetched one, stored
///   before the lock is released.
/// - [`refresh`](TokenSource::refresh) after a rejection: a cached or stored token other than
///   the rejected one if fresh; else, under the lock, the same check again and only then a
///   fetch (on the stable endpoint, forced when it hands out the rejected token again).
///
/// Callers in one process are single-flight (one asks the store, the others wait for its
/// answer); across processes the store's lock makes one fetch serve all.
pub struct SharedTokenSource {
    fetcher: AppSecretTokenSource,
    store: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
    cached: Mutex<Option<StoredToken>>,
}

impl fmt::Debug for SharedTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedTokenSource")
            .field("fetcher", &self.fetcher)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl SharedTokenSource {
    /// Tokens of `fetcher`'s app kept in `store`, with the system clock.
    pub fn new(fetcher: AppSecretTokenSource, store: Arc<dyn TokenStore>) -> Self {
        SharedTokenSource {
            fetcher,
            store,
            clock: Arc::new(SystemClock),
            cached: Mutex::new(None),
        }
    }

    /// With another wall clock (for tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Whether `t` is still usable: more than the fetcher's margin before its expiry.
    fn fresh(&self, t: &StoredToken) -> bool {
        let margin = i64::try_from(self.fetcher.margin.as_millis()).unwrap_or(i64::MAX);
        self.clock.now().as_millis() < t.expires_at_ms.saturating_sub(margin)
    }

    fn usable(&self, t: &StoredToken, rejected: Option<&SecretString>) -> bool {
        self.fresh(t) && rejected.is_none_or(|r| t.token.expose_secret() != r.expose_secret())
    }

    /// The cached, stored or (under the lock) fetched token, other than `rejected`.
    async fn obtain(&self, rejected: Option<&SecretString>) -> Result<SecretString, PlatformError> {
        let mut cached = self.cached.lock().await;
        if let Some(t) = cached.as_ref()
            && self.usable(t, rejected)
        {
            return Ok(t.token.clone());
        }
        let appid = self.fetcher.appid();
        if let Some(t) = self.store.get(appid).await?
            && self.usable(&t, rejected)
        {
            let token = t.token.clone();
            *cached = Some(t);
            return Ok(token);
        }
        let mut lock = self.store.lock(appid).await?;
        if let Some(t) = lock.current().await?
            && self.usable(&t, rejected)
        {
            // Another process refreshed while we waited for the lock: use theirs.
            drop(lock);
            let token = t.token.clone();
            *cached = Some(t);
            return Ok(token);
        }
        let mut fetched = self.fetcher.fetch_token(false).await?;
        if self.fetcher.endpoint == TokenEndpoint::Stable
            && rejected.is_some_and(|r| fetched.token.expose_secret() == r.expose_secret())
        {
            // The stable endpoint still hands out the refused token: force a new one.
            fetched = self.fetcher.fetch_token(true).await?;
        }
        let ttl_ms = i64::try_from(fetched.ttl.as_millis()).unwrap_or(i64::MAX);
        let stored = StoredToken {
            token: fetched.token,
            expires_at_ms: self.clock.now().as_millis().saturating_add(ttl_ms),
        };
        lock.store(&stored).await?;
        tracing::debug!(appid, "stored a fetched access token for every process");
        let token = stored.token.clone();
        *cached = Some(stored);
        Ok(token)
    }
}

#[async_trait]
impl TokenSource for SharedTokenSource {
    async fn token(&self) -> Result<SecretString, PlatformError> {
        self.obtain(None).await
    }

    async fn refresh(&self, rejected: &SecretString) -> Result<SecretString, PlatformError> {
        self.obtain(Some(rejected)).await
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

    /// A store whose database is unreachable.
    #[derive(Debug)]
    struct Unreachable;

    #[async_trait]
    impl TokenStore for Unreachable {
        async fn get(&self, _appid: &str) -> Result<Option<StoredToken>, TokenStoreError> {
            Err(TokenStoreError::new(
                "reading the token",
                std::io::Error::other("connection refused"),
            ))
        }
        async fn lock(&self, _appid: &str) -> Result<Box<dyn TokenLock>, TokenStoreError> {
            Err(TokenStoreError::new(
                "locking the token",
                std::io::Error::other("connection refused"),
            ))
        }
    }

    #[tokio::test]
    async fn a_failing_store_is_a_transient_error_naming_its_cause_and_no_secret() {
        let http = HttpClient::new(&crate::HttpConfig::default()).unwrap();
        let fetcher = AppSecretTokenSource::new(
            http,
            "http://127.0.0.1:9",
            "wx1",
            SecretString::from("app-secret-xyz"),
        );
        let source = SharedTokenSource::new(fetcher, Arc::new(Unreachable));
        let e = source.token().await.unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::Transient);
        assert_eq!(
            e.message(),
            "the shared token store failed: reading the token: connection refused"
        );
        let shown = format!("{e} {e:?} {source:?}");
        assert!(!shown.contains("app-secret-xyz"), "{shown}");
        let stored = StoredToken {
            token: SecretString::from("tok-123"),
            expires_at_ms: 1,
        };
        assert!(!format!("{stored:?}").contains("tok-123"));
    }
}
