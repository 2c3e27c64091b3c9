//! The inbound message receiver behind `ordermod serve`: an HTTP endpoint that platforms (the
//! 1688 push aggregator) `POST` order messages to. See `docs/receiver.md`.
//!
//! For every request, in this order:
//!
//! | condition | reply | journal |
//! |---|---|---|
//! | more connections than the limit | `503` | nothing |
//! | body not received within the body timeout | `408` | nothing |
//! | body larger than the limit (default 1 MiB) | `413` | nothing |
//! | a required header missing or empty, timestamp not Unix ms | `400` | nothing |
//! | signature does not verify | `401` | nothing |
//! | timestamp outside the freshness window | `400` | nothing |
//! | the nonce store cannot be read or written | `503` | nothing; delivering again is accepted |
//! | nonce already seen in the window | `409` | nothing (the first delivery is stored) |
//! | the journal cannot store the message | `503` | nothing; delivering again is accepted |
//! | a duplicate of a stored message (same body digest) | `200` | nothing more |
//! | stored, cannot be decoded | `200` | stored and dead-lettered with the reason |
//! | stored and decoded | `200` | stored, order noted, acknowledged amendments reconciled |
//!
//! A `200` is only ever sent after [`Journal::record_message`] returned: never without a durable
//! record.
//!
//! ## Receivers side by side
//! Several `ordermod serve` processes may share one PostgreSQL journal behind a load balancer
//! ([`ReceiverDeps::with_shared_journal`], which `ordermod serve` sets for a `postgres://`
//! journal): their decoders take nonces in the journal's `nonces` table ([`PgNonceStore`]), so
//! a nonce used on one replica is refused on every other, and messages dedupe in the journal
//! by body digest, so a message delivered to two replicas is stored once. A nonce counts as
//! used only once its message is stored: when a delivery's nonce is found taken but the
//! journal holds no message with its body (the replica that took it failed to store it and
//! answered `503`), the delivery is accepted and stored; so the platform's redelivery, on any
//! replica, is never refused for the nonce of a delivery nobody stored. Replies are JSON: `{"success":true}` or `{"success":false,"message":"..."}`; every
//! refusal is a [`ReceiveError`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use order_app::serve::{ReceiverDeps, receiver_router};
//! use transport_1688_push::PushDecoder;
//!
//! # async fn demo(app: order_app::App) -> std::io::Result<()> {
//! let decoder = Arc::new(PushDecoder::with_secret("secret".into()));
//! let router = receiver_router(ReceiverDeps::from_app(&app, decoder));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, router).await
//! # }
//! ```

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use order_domain::ports::journal::MessageDecoding;
use order_domain::{
    Clock, InboundRecord, Journal, JournalError, MessageDecoder, MessageError, MessageInsert,
    Timestamp,
};
use secrecy::SecretString;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use transport_1688_push::{
    Md5LengthPrefixed, PushConfig, PushDecoder, SignatureScheme, SignedParts,
};

use crate::app::{App, AppError, open_journal};
use crate::config::{Config, ConfigError, Env};
use crate::reconcile;
use order_journal::{AnyJournal, PostgresJournal, SharedNonces, SqliteJournal};
use transport_1688_push::{NonceStore, NonceStoreError};

/// Address `ordermod serve` listens on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8688";
/// Path of the endpoint by default.
pub const DEFAULT_PATH: &str = "/1688/messages";
/// Body size limit by default (1 MiB, as the reference page says).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// The fixed, documented secret of `ordermod serve --sandbox` (never use it for real traffic).
pub const SANDBOX_SECRET: &str = "ordermod-sandbox-secret";
/// Time a connection has to send a request's headers, and to stay idle between requests, by
/// default (10 s).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a request has to send its body by default (30 s).
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once by default; more are answered `503`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// How many verified-but-unstored deliveries the receiver remembers (see [`ReceiverDeps`]).
const PENDING_CAPACITY: usize = 10_000;
/// Locks that keep two reconciliations of one order from interleaving; an order always takes
/// the same one (by a hash of its id), so messages about different orders rarely wait for
/// each other.
const RECONCILE_STRIPES: usize = 64;

/// What the receiver needs: the decoder of the platform's messages, the journal and the clock
/// (normally the [`App`]'s), the endpoint path and the body limit.
///
/// A message's identity is a digest of its raw body: the same bytes delivered twice are stored
/// once, whatever their nonces; the nonce only guards against replays within the freshness
/// window. Deliveries that verified but could not be stored (a `503`) are remembered in memory
/// by body digest, so the platform's redelivery is accepted although the decoder already
/// consumed its nonce; clones share that memory.
///
/// Messages are handled concurrently (their journal writes share commits); reconciliations of
/// one order run one at a time.
#[derive(Clone)]
pub struct ReceiverDeps {
    decoder: Arc<dyn MessageDecoder>,
    journal: Arc<dyn Journal>,
    clock: Arc<dyn Clock>,
    path: String,
    max_body_bytes: usize,
    header_timeout: Duration,
    body_timeout: Duration,
    max_connections: usize,
    unstored: Arc<Mutex<Unstored>>,
    /// The shared journal's look-up of stored messages, when replicas share it.
    shared: Option<SharedNonces>,
    /// When set, the only orders that have amendments: messages about other orders skip the
    /// reconciliation read (see [`ReceiverDeps::with_amended_orders`]).
    amended: Option<Arc<HashSet<String>>>,
    reconciling: Arc<[tokio::sync::Mutex<()>]>,
}

impl fmt::Debug for ReceiverDeps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverDeps")
            .field("decoder", &self.decoder)
            .field("journal", &self.journal)
            .field("path", &self.path)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("header_timeout", &self.header_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl ReceiverDeps {
    /// Deps with the default path ([`DEFAULT_PATH`]) and body limit ([`DEFAULT_MAX_BODY_BYTES`]).
    pub fn new(
        decoder: Arc<dyn MessageDecoder>,
        journal: Arc<dyn Journal>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        ReceiverDeps {
            decoder,
            journal,
            clock,
            path: DEFAULT_PATH.to_owned(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            unstored: Arc::default(),
            shared: None,
            amended: None,
            reconciling: (0..RECONCILE_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }

    /// Deps on the app's journal and clock.
    pub fn from_app(app: &App, decoder: Arc<dyn MessageDecoder>) -> Self {
        ReceiverDeps::new(decoder, Arc::clone(app.journal()), Arc::clone(app.clock()))
    }

    /// Serves the endpoint at `path` (must start with `/`).
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Refuses bodies larger than `bytes` with `413`.
    #[must_use]
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Closes a connection that has not sent a request's headers within `timeout`, including
    /// one idle between requests (used by [`serve_on`]).
    #[must_use]
    pub fn with_header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// Answers `408` when the body has not arrived within `timeout`.
    #[must_use]
    pub fn with_body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// Serves at most `n` (at least 1) connections at once (used by [`serve_on`]).
    #[must_use]
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Shares the journal with other receivers (replicas): a delivery whose nonce was taken
    /// (on any replica) is accepted when `nonces`' journal holds no message with its body,
    /// since no replica stored it. Give the decoder a [`PgNonceStore`] on the same journal.
    #[must_use]
    pub fn with_shared_journal(mut self, nonces: SharedNonces) -> Self {
        self.shared = Some(nonces);
        self
    }

    /// Declares `orders` the only orders with amendments in the journal for as long as the
    /// receiver runs, so that a message about any other order is stored and decoded without
    /// the reconciliation's read of its amendments (there is nothing to reconcile).
    ///
    /// Only true when no other process adds amendments while the receiver runs: on a SQLite
    /// journal, which one process holds at a time (`ordermod serve` sets it there, from
    /// [`amended_orders`]); never on a journal shared with workers.
    #[must_use]
    pub fn with_amended_orders(mut self, orders: HashSet<String>) -> Self {
        self.amended = Some(Arc::new(orders));
        self
    }

    /// Whether a message about `order` may have amendments to reconcile.
    fn may_reconcile(&self, order: &order_domain::OrderId) -> bool {
        self.amended
            .as_ref()
            .is_none_or(|orders| orders.contains(order.as_str()))
    }

    /// The endpoint path.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn unstored(&self) -> MutexGuard<'_, Unstored> {
        self.unstored.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lock that serialises the reconciliations of `order`.
    fn reconcile_lock(&self, order: &order_domain::OrderId) -> &tokio::sync::Mutex<()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        order.as_str().hash(&mut h);
        let i = usize::try_from(h.finish() % self.reconciling.len() as u64).unwrap_or(0);
        &self.reconciling[i]
    }
}

/// Verified deliveries whose storing failed, by body digest, oldest evicted first.
#[derive(Debug, Default)]
struct Unstored {
    digests: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

impl Unstored {
    fn remember(&mut self, digest: [u8; 32]) {
        if self.digests.insert(digest) {
            self.order.push_back(digest);
        }
        while self.order.len() > PENDING_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.digests.remove(&old);
            }
        }
    }

    fn contains(&self, digest: &[u8; 32]) -> bool {
        self.digests.contains(digest)
    }

    fn forget(&mut self, digest: &[u8; 32]) {
        if self.digests.remove(digest) {
            self.order.retain(|d| d != digest);
        }
    }
}

/// The receiver's routes: `POST {path}` with the body limit applied. Mount it anywhere.
pub fn receiver_router(deps: ReceiverDeps) -> Router {
    let limit = deps.max_body_bytes;
    let path = deps.path.clone();
    Router::new()
        .route(&path, post(receive))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(Arc::new(deps))
}

/// Binds `addr` and serves the receiver until Ctrl-C or SIGTERM.
pub async fn serve(addr: SocketAddr, deps: ReceiverDeps) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, path = %deps.path, "receiver listening");
    serve_on(listener, deps, shutdown_signal()).await
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves the receiver on a bound listener until `shutdown` completes, then lets the requests
/// in progress finish.
///
/// Each connection has [`ReceiverDeps::with_header_timeout`] to send a request's headers (also
/// while idle between requests: an idle connection is closed after it) and
/// [`ReceiverDeps::with_body_timeout`] to send the body (`408` after it). At most
/// [`ReceiverDeps::with_max_connections`] connections are served at once; a connection beyond
/// that is answered `503` and closed, and a warning is logged.
pub async fn serve_on(
    listener: TcpListener,
    deps: ReceiverDeps,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let header_timeout = deps.header_timeout;
    let max_connections = deps.max_connections;
    let router = receiver_router(deps);
    let permits = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: say so, and back off instead of spinning.
                    tracing::error!("receiver cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(header_timeout);
        let io = hyper_util::rt::TokioIo::new(stream);
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tracing::warn!(
                %peer,
                max_connections,
                "receiver connection limit reached; answering 503"
            );
            http.keep_alive(false);
            let busy = hyper::service::service_fn(|_req| async {
                Ok::<_, std::convert::Infallible>(ReceiveError::Busy.into_response())
            });
            let conn = http.serve_connection(io, busy);
            tokio::spawn(async move {
                let _ = tokio::time::timeout(header_timeout, conn).await;
            });
            continue;
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let conn = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "receiver connection ended: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Why the receiver refused a delivery; each case is one reply (see the module's table).
/// Replies are `{"success":false,"message":"..."}` with the status of [`ReceiveError::status`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError {
    /// The body is larger than the limit (`413`).
    #[error("body larger than the limit of {0} bytes")]
    TooLarge(usize),
    /// The body did not arrive within the body timeout (`408`).
    #[error("the body did not arrive within {0} ms")]
    BodyTimeout(u128),
    /// The body could not be read (`400`).
    #[error("cannot read the body: {0}")]
    BadBody(String),
    /// The signature does not verify (`401`).
    #[error(transparent)]
    BadSignature(MessageError),
    /// The nonce was used within the freshness window (`409`).
    #[error("replayed: {0} was already used")]
    Replayed(String),
    /// A header is missing or malformed, or the timestamp is stale (`400`).
    #[error(transparent)]
    Refused(MessageError),
    /// The journal could not store the message (`503`); delivering it again is accepted.
    #[error("the message could not be stored; deliver it again later")]
    Unstored(#[source] order_domain::JournalError),
    /// The nonce store failed (`503`); delivering it again is accepted.
    #[error("the message could not be checked; deliver it again later")]
    Unchecked(#[source] MessageError),
    /// Too many connections (`503`).
    #[error("the receiver is busy; deliver it again later")]
    Busy,
}

impl ReceiveError {
    /// The HTTP status of the reply.
    pub fn status(&self) -> StatusCode {
        match self {
            ReceiveError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ReceiveError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ReceiveError::BadBody(_) | ReceiveError::Refused(_) => StatusCode::BAD_REQUEST,
            ReceiveError::BadSignature(_) => StatusCode::UNAUTHORIZED,
            ReceiveError::Replayed(_) => StatusCode::CONFLICT,
            ReceiveError::Unstored(_) | ReceiveError::Unchecked(_) | ReceiveError::Busy => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

impl From<MessageError> for ReceiveError {
    fn from(e: MessageError) -> Self {
        match e {
            MessageError::BadSignature => ReceiveError::BadSignature(e),
            MessageError::Replayed(nonce) => ReceiveError::Replayed(nonce),
            MessageError::Unavailable(_) => ReceiveError::Unchecked(e),
            other => ReceiveError::Refused(other),
        }
    }
}

impl IntoResponse for ReceiveError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "success": false, "message": self.to_string() });
        (self.status(), axum::Json(body)).into_response()
    }
}

/// The reply to a stored message.
fn stored() -> Response {
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({ "success": true })),
    )
        .into_response()
}

/// The identity of a message: a digest of its raw body. The nonce is not an identity (a
/// platform may reuse one outside the freshness window); the body carries the message's own
/// type, order and timestamp.
fn dedup_key(digest: &[u8; 32]) -> String {
    format!("sha256:{}", hex::encode(digest))
}

async fn receive(
    State(deps): State<Arc<ReceiverDeps>>,
    request: Request,
) -> Result<Response, ReceiveError> {
    let headers = request.headers().clone();
    let body =
        match tokio::time::timeout(deps.body_timeout, Bytes::from_request(request, &())).await {
            Err(_) => {
                tracing::warn!("message refused: the body did not arrive in time");
                return Err(ReceiveError::BodyTimeout(deps.body_timeout.as_millis()));
            }
            Ok(Err(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ReceiveError::TooLarge(deps.max_body_bytes));
            }
            Ok(Err(e)) => return Err(ReceiveError::BadBody(e.body_text())),
            Ok(Ok(b)) => b,
        };
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| {
            std::str::from_utf8(v.as_bytes())
                .ok()
                .map(|v| (k.as_str().to_owned(), v.to_owned()))
        })
        .collect();
    let now = deps.clock.now();
    let digest: [u8; 32] = Sha256::digest(&body).into();
    let dedup_key = dedup_key(&digest);
    match deps.decoder.verify(&pairs, &body, now).await {
        Ok(_) => {}
        // Replicas: the nonce counts as used only if its message is stored (the journal, which
        // every replica sees, replaces this process's memory of unstored deliveries).
        Err(MessageError::Replayed(nonce)) if let Some(shared) = &deps.shared => {
            match shared.message_stored(&dedup_key).await {
                // A replica took the nonce but stored nothing (it answered 503): take it now.
                Ok(false) => {
                    tracing::info!(dedup_key, "nonce taken by an unstored delivery; accepted");
                }
                Ok(true) => {
                    tracing::warn!("message refused: replayed nonce {nonce}");
                    return Err(ReceiveError::Replayed(nonce));
                }
                Err(e) => {
                    tracing::error!(dedup_key, "cannot look a replayed message up: {e}");
                    return Err(ReceiveError::Unstored(e));
                }
            }
        }
        // The first delivery verified but was not stored (we replied 503): take it now.
        Err(MessageError::Replayed(_)) if deps.unstored().contains(&digest) => {}
        Err(e) => {
            tracing::warn!("message refused: {e}");
            return Err(e.into());
        }
    }
    let record = InboundRecord {
        dedup_key: dedup_key.clone(),
        source: deps.decoder.source().to_owned(),
        raw: body.to_vec(),
        received_at: now,
    };
    // Decoding reads only the body, so it is done before storing: the message goes into the
    // journal with its order (or its dead-letter reason) in one write, one commit.
    let decoded = match std::str::from_utf8(&body) {
        Ok(_) => deps.decoder.decode(&body),
        Err(e) => Err(MessageError::Malformed {
            at: format!("byte {}", e.valid_up_to()),
            reason: "the body is not UTF-8 (stored verbatim)".to_owned(),
        }),
    };
    let decoding = match &decoded {
        Ok(event) => MessageDecoding::Order(event.order.id().clone()),
        Err(e) => MessageDecoding::DeadLetter(e.to_string()),
    };
    let id = match deps
        .journal
        .record_decoded_message(&record, &decoding)
        .await
    {
        Ok(MessageInsert::New(id)) => id,
        Ok(MessageInsert::Duplicate(id)) => {
            tracing::info!(id, dedup_key, "duplicate message; already stored");
            deps.unstored().forget(&digest);
            return Ok(stored());
        }
        Err(e) => {
            tracing::error!(dedup_key, "cannot store message: {e}");
            deps.unstored().remember(digest);
            return Err(ReceiveError::Unstored(e));
        }
    };
    deps.unstored().forget(&digest);
    match decoded {
        Err(e) => tracing::warn!(id, "message dead-lettered: {e}"),
        Ok(event) => {
            if deps.may_reconcile(event.order.id()) {
                let _one_at_a_time = deps.reconcile_lock(event.order.id()).lock().await;
                if let Err(e) =
                    reconcile::reconcile_event(deps.journal.as_ref(), id, &event, deps.clock.now())
                        .await
                {
                    tracing::error!(id, "reconciliation failed: {e}");
                }
            }
        }
    }
    Ok(stored())
}

/// A [`NonceStore`] in a PostgreSQL journal's `nonces` table, shared by every receiver on
/// that journal: a nonce taken on one replica is refused on the others (see
/// [`SharedNonces::claim`]).
#[derive(Debug, Clone)]
pub struct PgNonceStore(SharedNonces);

impl PgNonceStore {
    /// The store of `nonces`' journal.
    pub fn new(nonces: SharedNonces) -> Self {
        PgNonceStore(nonces)
    }
}

#[async_trait::async_trait]
impl NonceStore for PgNonceStore {
    async fn check_and_record(
        &self,
        nonce: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, NonceStoreError> {
        self.0
            .claim(nonce, now.as_millis(), expires_at.as_millis())
            .await
            .map_err(|e| NonceStoreError::new("cannot take a nonce in the journal", e))
    }
}

// ------------------------------------------------------------------ configuration and CLI

/// The `[receiver]` section of the config:
///
/// ```toml
/// [receiver]
/// listen = "127.0.0.1:8688"            # optional
/// path = "/1688/messages"              # optional
/// max_body_bytes = 1048576             # optional
/// max_skew_ms = 300000                 # optional, the freshness window
/// header_timeout_ms = 10000            # optional, also the idle time allowed between requests
/// body_timeout_ms = 30000              # optional
/// max_connections = 256                # optional
/// secret_env = "ORDERMOD_1688_PUSH_SECRET"
/// ```
///
/// A secret written inline (`secret = "..."`) is refused, like the shops' credentials.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "RawReceiver")]
pub struct ReceiverConfig {
    /// Listen address.
    pub listen: Option<SocketAddr>,
    /// Endpoint path.
    pub path: Option<String>,
    /// Body size limit in bytes.
    pub max_body_bytes: Option<usize>,
    /// Freshness window of the `timestamp` header, in milliseconds.
    pub max_skew_ms: Option<u64>,
    /// Time to send a request's headers (and to stay idle between requests), in milliseconds.
    pub header_timeout_ms: Option<u64>,
    /// Time to send a request's body, in milliseconds.
    pub body_timeout_ms: Option<u64>,
    /// Connections served at once.
    pub max_connections: Option<usize>,
    /// The environment variable holding the shared signing secret.
    pub secret_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReceiver {
    #[serde(default)]
    listen: Option<SocketAddr>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    max_body_bytes: Option<usize>,
    #[serde(default)]
    max_skew_ms: Option<u64>,
    #[serde(default)]
    header_timeout_ms: Option<u64>,
    #[serde(default)]
    body_timeout_ms: Option<u64>,
    #[serde(default)]
    max_connections: Option<usize>,
    #[serde(default)]
    secret_env: Option<String>,
    #[serde(default)]
    secret: Option<toml::Value>,
}

impl TryFrom<RawReceiver> for ReceiverConfig {
    type Error = String;

    fn try_from(r: RawReceiver) -> Result<Self, String> {
        if r.secret.is_some() {
            return Err("receiver.secret is a secret written inline; secrets are only read from \
                 the environment: write `secret_env = \"VARIABLE_NAME\"` instead and set that variable"
                .to_owned());
        }
        if let Some(p) = &r.path
            && !p.starts_with('/')
        {
            return Err(format!("receiver.path `{p}` must start with `/`"));
        }
        if r.max_body_bytes == Some(0) {
            return Err("receiver.max_body_bytes must be at least 1".to_owned());
        }
        for (name, value) in [
            ("max_skew_ms", r.max_skew_ms),
            ("header_timeout_ms", r.header_timeout_ms),
            ("body_timeout_ms", r.body_timeout_ms),
            (
                "max_connections",
                r.max_connections
                    .map(|n| u64::try_from(n).unwrap_or(u64::MAX)),
            ),
        ] {
            if value == Some(0) {
                return Err(format!("receiver.{name} must be at least 1"));
            }
        }
        if r.secret_env.as_deref() == Some("") {
            return Err("receiver.secret_env must name an environment variable".to_owned());
        }
        if let Some(v) = &r.secret_env
            && !crate::config::is_variable_name(v)
        {
            return Err(crate::config::ConfigError::NotAVariableName {
                place: "[receiver]".to_owned(),
                key: "secret_env".to_owned(),
            }
            .to_string());
        }
        Ok(ReceiverConfig {
            listen: r.listen,
            path: r.path,
            max_body_bytes: r.max_body_bytes,
            max_skew_ms: r.max_skew_ms,
            header_timeout_ms: r.header_timeout_ms,
            body_timeout_ms: r.body_timeout_ms,
            max_connections: r.max_connections,
            secret_env: r.secret_env,
        })
    }
}

impl ReceiverConfig {
    /// Reads the signing secret from the variable `secret_env` names.
    pub fn resolve_secret(&self, env: &dyn Env) -> Result<SecretString, ServeError> {
        let var = self.secret_env.as_deref().ok_or(ServeError::NoSecret)?;
        match env.var(var) {
            Some(v) if !v.is_empty() => Ok(SecretString::from(v)),
            _ => Err(ServeError::MissingEnv(var.to_owned())),
        }
    }
}

/// Why `ordermod serve` could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The config is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The config has no `[receiver]` section.
    #[error(
        "{0} has no [receiver] section: add one with `secret_env = \"VARIABLE_NAME\"` (see docs/receiver.md), or try `ordermod serve --sandbox`"
    )]
    NoReceiver(String),
    /// The `[receiver]` section names no secret.
    #[error(
        "[receiver] has no secret_env: name the environment variable holding the signing secret"
    )]
    NoSecret,
    /// The secret's variable is not set.
    #[error("environment variable `{0}` (named by receiver.secret_env) is not set")]
    MissingEnv(String),
    /// The journal could not be opened.
    #[error(transparent)]
    App(#[from] AppError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the receiver failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Arguments of `ordermod serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Config file (TOML) with the journal and the [receiver] section.
    #[arg(
        long,
        short = 'c',
        env = "ORDERMOD_CONFIG",
        default_value = "ordermod.toml"
    )]
    pub config: PathBuf,
    /// Address to listen on, overriding the config (default 127.0.0.1:8688).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Journal URL, overriding the config (`sqlite://FILE`, or `postgres://…` for receivers
    /// side by side on one journal); in --sandbox mode the default is a private in-memory
    /// journal.
    #[arg(long)]
    pub journal: Option<String>,
    /// Try it without a config: sign with the fixed test secret `ordermod-sandbox-secret` and
    /// print a ready-to-run curl command.
    #[arg(long)]
    pub sandbox: bool,
}

/// Runs `ordermod serve` until Ctrl-C: prints the listen address (and in sandbox mode the
/// secret and a signed curl example) on standard output.
pub async fn run(args: ServeArgs, env: &dyn Env) -> Result<(), ServeError> {
    let (receiver, journal_url, secret) = if args.sandbox {
        let url = args.journal.unwrap_or_else(|| "sqlite::memory:".to_owned());
        (
            ReceiverConfig::default(),
            url,
            SecretString::from(SANDBOX_SECRET),
        )
    } else {
        let config = Config::load(&args.config)?;
        let receiver = config
            .receiver
            .clone()
            .ok_or_else(|| ServeError::NoReceiver(args.config.display().to_string()))?;
        let secret = receiver.resolve_secret(env)?;
        let url = args
            .journal
            .unwrap_or_else(|| config.journal_url().to_owned());
        (receiver, url, secret)
    };
    let ReceiverJournal {
        journal,
        shared,
        amended,
    } = open_receiver_journal(&journal_url).await?;
    let app = App::builder().journal(journal).build()?;
    let mut push = PushConfig::default();
    if let Some(ms) = receiver.max_skew_ms {
        push = push.with_max_skew_ms(ms);
    }
    let mut decoder = PushDecoder::new(Arc::new(Md5LengthPrefixed::new(secret))).with_config(push);
    if let Some(nonces) = &shared {
        decoder = decoder.with_nonce_store(Arc::new(PgNonceStore::new(nonces.clone())));
    }
    let path = receiver
        .path
        .clone()
        .unwrap_or_else(|| DEFAULT_PATH.to_owned());
    let mut deps = ReceiverDeps::from_app(&app, Arc::new(decoder));
    if let Some(nonces) = shared {
        deps = deps.with_shared_journal(nonces);
    }
    // A journal this process holds alone gains no amendment while it serves.
    if let Some(orders) = amended {
        deps = deps.with_amended_orders(orders);
    }
    let deps = deps
        .with_path(path.clone())
        .with_max_body_bytes(receiver.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES))
        .with_header_timeout(
            receiver
                .header_timeout_ms
                .map_or(DEFAULT_HEADER_TIMEOUT, Duration::from_millis),
        )
        .with_body_timeout(
            receiver
                .body_timeout_ms
                .map_or(DEFAULT_BODY_TIMEOUT, Duration::from_millis),
        )
        .with_max_connections(receiver.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS));
    let addr = match args.listen.or(receiver.listen) {
        Some(a) => a,
        None => DEFAULT_LISTEN
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let bound = listener.local_addr()?;
    let url = format!("http://{bound}{path}");
    let mut out = std::io::stdout().lock();
    writeln!(out, "receiving on {url}")?;
    writeln!(out, "journal: {}", order_journal::redact_url(&journal_url))?;
    if args.sandbox {
        writeln!(
            out,
            "sandbox: messages are signed with the test secret `{SANDBOX_SECRET}`"
        )?;
        writeln!(
            out,
            "try (valid for 5 minutes):\n{}",
            sandbox_curl(&url, app.clock().now())
        )?;
    }
    writeln!(out, "press Ctrl-C to stop")?;
    out.flush()?;
    drop(out);
    serve_on(listener, deps, shutdown_signal()).await?;
    Ok(())
}

/// The orders that have amendments in `journal` (every record read at once: for small or
/// in-memory journals; [`open_receiver_journal`] pages through a SQLite file instead).
pub async fn amended_orders(journal: &dyn Journal) -> Result<HashSet<String>, JournalError> {
    Ok(journal
        .amendments(None)
        .await?
        .into_iter()
        .map(|r| r.intent.order.id().as_str().to_owned())
        .collect())
}

/// Amendments read per page when collecting a SQLite journal's amended orders.
const AMENDED_PAGE: u32 = 1_000;

/// The orders that have amendments in a SQLite journal, read a page at a time so that a large
/// journal costs its order ids in memory, not its records.
async fn amended_orders_paged(journal: &SqliteJournal) -> Result<HashSet<String>, JournalError> {
    let mut orders = HashSet::new();
    let mut after = None;
    loop {
        let page = journal
            .amendments_page(None, None, after.as_ref(), AMENDED_PAGE)
            .await?;
        orders.extend(page.iter().map(|r| r.intent.order.id().as_str().to_owned()));
        match page.into_iter().last() {
            Some(last) => after = Some(last),
            None => return Ok(orders),
        }
    }
}

/// What the receiver's journal URL opened: the journal, and either the nonces replicas share
/// (PostgreSQL) or the orders with amendments (a journal this process holds alone).
struct ReceiverJournal {
    journal: Arc<dyn Journal>,
    shared: Option<SharedNonces>,
    amended: Option<HashSet<String>>,
}

/// Opens the receiver's journal at `url`.
async fn open_receiver_journal(url: &str) -> Result<ReceiverJournal, AppError> {
    let failed = |source| AppError::Journal {
        url: order_journal::redact_url(url),
        source,
    };
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("postgres" | "postgresql") => {
            let journal = AnyJournal::open(url).await.map_err(failed)?;
            let shared = journal.as_postgres().map(PostgresJournal::shared_nonces);
            Ok(ReceiverJournal {
                journal: Arc::new(journal),
                shared,
                amended: None,
            })
        }
        Some("sqlite") => {
            let journal = SqliteJournal::open(url).await.map_err(failed)?;
            let amended = amended_orders_paged(&journal).await.map_err(failed)?;
            Ok(ReceiverJournal {
                journal: Arc::new(journal),
                shared: None,
                amended: Some(amended),
            })
        }
        _ => {
            let journal = open_journal(url).await?;
            let amended = amended_orders(journal.as_ref()).await.map_err(failed)?;
            Ok(ReceiverJournal {
                journal,
                shared: None,
                amended: Some(amended),
            })
        }
    }
}

/// A curl command posting a small price-modified message signed with [`SANDBOX_SECRET`].
pub fn sandbox_curl(url: &str, now: Timestamp) -> String {
    let body = r#"{"messageType":"ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY","timestamp":"NOW","messageBody":{"baseInfo":{"idOfStr":"58218860983545941","status":"waitbuyerpay","totalAmount":6.3,"shippingFee":6,"sumProductPayment":0.3},"productItems":[{"subItemIDString":"128403042259997715","quantity":1,"price":0.3,"itemAmount":0.3}]}}"#
        .replace("NOW", &now.as_millis().to_string());
    let headers: Vec<(String, String)> = [
        ("access-key", "sandbox-access-key"),
        ("nonce-str", &format!("sandbox-{}", now.as_millis())),
        ("timestamp", &now.as_millis().to_string()),
        ("user-id", "sandbox-user"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let scheme = Md5LengthPrefixed::new(SecretString::from(SANDBOX_SECRET));
    let signature = hex::encode_upper(scheme.expected_digest(&SignedParts {
        headers: &headers,
        body: body.as_bytes(),
    }));
    let mut cmd = format!("curl -sS -X POST '{url}' -H 'content-type: application/json'");
    for (k, v) in &headers {
        cmd.push_str(&format!(" -H '{k}: {v}'"));
    }
    cmd.push_str(&format!(
        " -H 'signature: {signature}' --data-binary '{body}'"
    ));
    cmd
}
