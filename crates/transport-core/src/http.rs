//! The shared HTTP client.
//!
//! [`HttpClient`] wraps one `reqwest::Client` (rustls with the `ring` provider, connection
//! pool), built once from an
//! [`HttpConfig`] and cloned wherever needed (a clone shares the pool). Defaults: 5 s connect
//! timeout, 30 s total timeout, idle connections kept 90 s (at most 32 per host), redirects not
//! followed (a redirect could carry a token in the URL to another host), proxies taken from
//! `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` unless disabled, and loopback addresses
//! (`localhost`, `127.0.0.1`, `::1`) never proxied.
//!
//! [`HttpClient::send`] sends a request, reads the whole body, and returns an [`HttpReply`]
//! whatever the status; every transport failure becomes a redacted
//! [`PlatformError`] (see [`crate::error`]).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use order_domain::PlatformError;
use reqwest::header::RETRY_AFTER;
use reqwest::{NoProxy, Proxy, StatusCode};

use crate::error::{from_reqwest, from_status};

type Bytes = Vec<u8>;

/// Loopback hosts that are never sent through a proxy.
pub const LOOPBACK: &str = "localhost,127.0.0.1,::1";

/// Joins a configured base URL and an operation path with exactly one `/` between them,
/// whether or not the base ends with one or the path starts with one.
///
/// ```
/// use transport_core::endpoint;
/// assert_eq!(endpoint("http://127.0.0.1:8/", "/router/rest"), "http://127.0.0.1:8/router/rest");
/// assert_eq!(endpoint("http://127.0.0.1:8", "router/rest"), "http://127.0.0.1:8/router/rest");
/// ```
pub fn endpoint(base_url: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base_url.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Settings of the shared client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, reply body included.
    pub timeout: Duration,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
    /// Idle connections kept per host.
    pub pool_max_idle_per_host: usize,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Take proxies from the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, and
    /// `NO_PROXY` for exceptions). Loopback is never proxied either way.
    pub proxy_from_env: bool,
    /// An explicit proxy for every request (except loopback), overriding the environment.
    pub proxy: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 32,
            user_agent: concat!("ordermod/", env!("CARGO_PKG_VERSION")).to_owned(),
            proxy_from_env: true,
            proxy: None,
        }
    }
}

impl HttpConfig {
    /// With a total request timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// With a connect timeout.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Without any proxy.
    #[must_use]
    pub fn without_proxy(mut self) -> Self {
        self.proxy_from_env = false;
        self.proxy = None;
        self
    }
}

/// A whole reply: status, `Retry-After` when given, and the body.
#[derive(Debug, Clone)]
pub struct HttpReply {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Bytes,
}

impl HttpReply {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// `Retry-After` in seconds, when the server sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// `Ok(self)` for 2xx statuses, else the status mapped to a `PlatformError` (see
    /// [`crate::error`]), keeping a redacted snippet of the body.
    pub fn error_for_status(self, secrets: &[&str]) -> Result<Self, PlatformError> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(from_status(
                self.status.as_u16(),
                self.retry_after,
                &self.body,
                secrets,
            ))
        }
    }
}

/// Installs `ring` as the process's rustls crypto provider, unless a provider is installed
/// already (then that one is kept). reqwest 0.13 is built without a provider of its own
/// (decision D14) and panics when `reqwest::Client::new()` runs before one is installed, so
/// code that builds a `reqwest::Client` directly (tests, load generators) calls this first.
/// [`HttpClient`] does not need it: it brings its own TLS configuration. Idempotent and cheap.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err only when another thread installed a provider in between: that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The process's TLS client configuration: rustls on `ring`, safe default protocol versions,
/// and the operating system's verifier and roots (`rustls-platform-verifier`). Built once:
/// loading the system roots takes tens of milliseconds, and every [`HttpClient`] shares it.
fn tls_config() -> Result<rustls::ClientConfig, PlatformError> {
    static CONFIG: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = rustls_platform_verifier::Verifier::new(Arc::clone(&provider))
                .map_err(|e| format!("TLS setup failed: the system's certificate roots: {e}"))?;
            Ok(rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup failed: {e}"))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth())
        })
        .clone()
        .map_err(crate::convert::invalid_request)
}

/// One `reqwest::Client` for the whole process; `Clone` shares its connection pool.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
}

impl HttpClient {
    /// Builds the client. Fails (as `InvalidRequest`) only on an unusable proxy URL or TLS
    /// setup.
    pub fn new(config: &HttpConfig) -> Result<Self, PlatformError> {
        let mut b = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config()?)
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .user_agent(config.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            // Disable reqwest's own proxy detection; proxies are added explicitly below with
            // loopback excluded.
            .no_proxy();
        for p in proxies(config)? {
            b = b.proxy(p);
        }
        let client = b.build().map_err(|e| from_reqwest(e, &[]))?;
        Ok(HttpClient { client })
    }

    /// The underlying `reqwest::Client`, to build requests with.
    pub fn inner(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `request` and reads the whole reply. Connection failures, timeouts and
    /// unreadable bodies become redacted `PlatformError`s; any HTTP status is returned as an
    /// [`HttpReply`] (check it with [`HttpReply::error_for_status`] or decode a platform error
    /// envelope first).
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        secrets: &[&str],
    ) -> Result<HttpReply, PlatformError> {
        let resp = request.send().await.map_err(|e| from_reqwest(e, secrets))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = resp
            .bytes()
            .await
            .map_err(|e| from_reqwest(e, secrets))?
            .to_vec();
        Ok(HttpReply {
            status,
            retry_after,
            body,
        })
    }
}

fn proxies(config: &HttpConfig) -> Result<Vec<Proxy>, PlatformError> {
    let env = |k: &str| {
        std::env::var(k)
            .or_else(|_| std::env::var(k.to_lowercase()))
            .ok()
            .filter(|v| !v.trim().is_empty())
    };
    let no_proxy = || {
        let extra = env("NO_PROXY").unwrap_or_default();
        NoProxy::from_string(&format!("{LOOPBACK},{extra}"))
    };
    let bad = |e: reqwest::Error| from_reqwest(e, &[]);
    let mut out = Vec::new();
    if let Some(url) = &config.proxy {
        out.push(Proxy::all(url.as_str()).map_err(bad)?.no_proxy(no_proxy()));
        return Ok(out);
    }
    if !config.proxy_from_env {
        return Ok(out);
    }
    if let Some(url) = env("HTTPS_PROXY") {
        out.push(
            Proxy::https(url.as_str())
                .map_err(bad)?
                .no_proxy(no_proxy()),
        );
    }
    if let Some(url) = env("HTTP_PROXY") {
        out.push(Proxy::http(url.as_str()).map_err(bad)?.no_proxy(no_proxy()));
    }
    if let Some(url) = env("ALL_PROXY") {
        out.push(Proxy::all(url.as_str()).map_err(bad)?.no_proxy(no_proxy()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use order_domain::PlatformErrorKind;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// Serves one raw HTTP reply on a loopback port and returns the base URL.
    async fn one_shot(reply: &'static [u8]) -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(reply).await;
            let _ = s.shutdown().await;
        });
        format!("http://{addr}")
    }

    fn client() -> HttpClient {
        HttpClient::new(&HttpConfig::default().with_timeout(Duration::from_secs(5))).unwrap()
    }

    #[tokio::test]
    async fn reads_a_reply_and_its_retry_after() {
        let base =
            one_shot(b"HTTP/1.1 429 Too Many\r\nRetry-After: 3\r\nContent-Length: 4\r\n\r\nslow")
                .await;
        let c = client();
        let r = c.send(c.inner().get(&base), &[]).await.unwrap();
        assert_eq!(r.status().as_u16(), 429);
        assert_eq!(r.body(), b"slow");
        let e = r.error_for_status(&[]).unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::RateLimited);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
    }

    #[tokio::test]
    async fn truncated_body_is_protocol() {
        let base = one_shot(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"errcode\":0").await;
        let c = client();
        let e = c.send(c.inner().get(&base), &[]).await.unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::Protocol, "{e}");
    }

    #[tokio::test]
    async fn connection_refused_is_transient_and_never_shows_the_token() {
        // Bind then drop to get a port nobody listens on.
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let url = format!("http://{addr}/cgi-bin/x?access_token=TOKEN-42&appid=a");
        let c = client();
        let e = c
            .send(c.inner().get(&url), &["TOKEN-42"])
            .await
            .unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::Transient);
        assert!(e.retryable());
        assert!(!format!("{e} {e:?}").contains("TOKEN-42"), "{e:?}");
    }

    #[tokio::test]
    async fn timeout_is_transient() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (_s, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        let c = HttpClient::new(&HttpConfig::default().with_timeout(Duration::from_millis(200)))
            .unwrap();
        let url = format!("http://{addr}/x?token=T0K");
        let e = c.send(c.inner().get(&url), &[]).await.unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::Transient);
        assert!(e.message().contains("timed out"), "{e}");
        assert!(!format!("{e:?}").contains("T0K"));
    }

    #[test]
    fn explicit_proxy_builds_and_bad_proxy_fails_cleanly() {
        let cfg = HttpConfig {
            proxy: Some("http://proxy.invalid:3128".into()),
            ..HttpConfig::default()
        };
        assert!(HttpClient::new(&cfg).is_ok());
        assert!(HttpClient::new(&HttpConfig::default().without_proxy()).is_ok());
    }
}
