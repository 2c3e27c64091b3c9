//! Machinery shared by every emulator: faults, deterministic randomness, rate limiting,
//! statistics, the call log and the HTTP plumbing for replies that are not ordinary JSON.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// A fault the sandbox can inject into a call of a platform's business endpoint.
///
/// Token and admin endpoints are never faulted. A faulted call does not change order state,
/// except [`Fault::DropAfterApply`], and [`Fault::Latency`], which only delays a call that is
/// then handled normally.
///
/// JSON form (admin endpoint): `{"kind":"latency","value":250}`, `{"kind":"http500"}`,
/// `{"kind":"busy"}`, `{"kind":"drop_connection"}`, `{"kind":"truncated_body"}`,
/// `{"kind":"malformed_body"}`, `{"kind":"drop_after_apply"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Fault {
    /// Wait this many milliseconds, then handle the call normally.
    Latency(u64),
    /// HTTP 500 with a plain-text body.
    Http500,
    /// The platform's own "system busy" reply (see each emulator's docs).
    Busy,
    /// Close the connection without sending any reply.
    DropConnection,
    /// HTTP 200 carrying a syntactically valid JSON reply cut in the middle.
    TruncatedBody,
    /// HTTP 200 carrying a body that is not JSON.
    MalformedBody,
    /// Apply the change to the order, then close the connection without a reply.
    DropAfterApply,
}

impl Fault {
    /// Short stable name used in the call log and stats.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Latency(_) => "latency",
            Fault::Http500 => "http500",
            Fault::Busy => "busy",
            Fault::DropConnection => "drop_connection",
            Fault::TruncatedBody => "truncated_body",
            Fault::MalformedBody => "malformed_body",
            Fault::DropAfterApply => "drop_after_apply",
        }
    }
}

/// Probabilities of random faults, each in parts per thousand (0 = never, 1000 = always).
///
/// Per call one number in `0..1000` is drawn from a seeded generator (`fastrand`) keyed by the builder
/// seed, the platform and the emulator's business-call counter, so the same seed and the same
/// call order give the same faults. The kinds are tried in field order and their ranges are
/// stacked, so the sum should stay at or below 1000.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultProfile {
    /// Per-mille chance of [`Fault::Latency`].
    pub latency: u16,
    /// Delay used by random latency faults, in milliseconds.
    pub latency_ms: u64,
    /// Per-mille chance of [`Fault::Http500`].
    pub http500: u16,
    /// Per-mille chance of [`Fault::Busy`].
    pub busy: u16,
    /// Per-mille chance of [`Fault::DropConnection`].
    pub drop_connection: u16,
    /// Per-mille chance of [`Fault::TruncatedBody`].
    pub truncated_body: u16,
    /// Per-mille chance of [`Fault::MalformedBody`].
    pub malformed_body: u16,
    /// Per-mille chance of [`Fault::DropAfterApply`].
    pub drop_after_apply: u16,
}

impl FaultProfile {
    /// No random faults.
    pub fn none() -> Self {
        Self::default()
    }

    fn pick(&self, draw: u16) -> Option<Fault> {
        let table = [
            (self.latency, Fault::Latency(self.latency_ms)),
            (self.http500, Fault::Http500),
            (self.busy, Fault::Busy),
            (self.drop_connection, Fault::DropConnection),
            (self.truncated_body, Fault::TruncatedBody),
            (self.malformed_body, Fault::MalformedBody),
            (self.drop_after_apply, Fault::DropAfterApply),
        ];
        let mut edge: u32 = 0;
        for (p, fault) in table {
            edge += u32::from(p);
            if u32::from(draw) < edge {
                return Some(fault);
            }
        }
        None
    }
}

/// A well-mixed 64-bit value keyed by `z`: the first draw of `fastrand`'s generator seeded
/// with it (the workspace's one seeded generator, decision D6).
pub(crate) fn splitmix64(z: u64) -> u64 {
    fastrand::Rng::with_seed(z).u64(..)
}

/// Counters of one emulator, also served as JSON by `GET /__admin/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Every request to the business endpoint (faulted, limited and rejected ones included).
    pub total_requests: u64,
    /// Requests to the business endpoint per order id (only when the order id could be read).
    pub requests_per_order: BTreeMap<String, u64>,
    /// Successful changes per order id (the revision count the sandbox applied).
    pub changes_per_order: BTreeMap<String, u64>,
    /// Successful changes per order id that moved the order's state (prices, freight,
    /// address, items, version); a change that re-states the current state counts in
    /// `changes_per_order` only.
    #[serde(default)]
    pub moves_per_order: BTreeMap<String, u64>,
    /// Rate-limit replies sent.
    pub rate_limited: u64,
    /// Faults injected (scripted and random, latency included).
    pub faults_injected: u64,
}

/// One entry of an emulator's call log (business endpoint only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Position of the call among all business calls of this emulator, from 1.
    pub seq: u64,
    /// The order id the call named, when it could be read.
    pub order_id: Option<String>,
    /// The credential that made the call (token, appid, app key), when known.
    pub credential: Option<String>,
    /// What happened: `"ok"`, `"read"` (a WeChat Shop read), `"rejected:<code>"`, `"rate_limited"`,
    /// `"fault:<name>"` (`"fault:ack_without_apply"` for a change acknowledged unapplied), or (WeChat)
    /// `"quota:daily"` / `"quota:minute"` for a scripted or exhausted quota.
    pub outcome: String,
    /// Whether the call changed the order.
    pub applied: bool,
}

/// Token bucket per credential: capacity = rate, refilled continuously at `rate` per second.
#[derive(Debug, Default)]
struct Bucket {
    /// Available capacity in nanotokens (1 token = 1e9).
    nanotokens: u128,
    last: Option<Instant>,
}

const NANO: u128 = 1_000_000_000;

/// Mutable part of [`Core`].
#[derive(Debug, Default)]
pub(crate) struct CoreState {
    pub stats: Stats,
    pub calls: Vec<CallRecord>,
    scripted: VecDeque<Fault>,
    buckets: HashMap<String, Bucket>,
    draws: u64,
    pub profile: FaultProfile,
    /// Changes still to acknowledge without applying (see [`Core::take_ack_without_apply`]).
    ack_without_apply: usize,
}

/// State every emulator shares: stats, faults, limiter, call log.
#[derive(Debug)]
pub(crate) struct Core {
    seed: u64,
    salt: u64,
    state: Mutex<CoreState>,
}

impl Core {
    pub(crate) fn new(seed: u64, salt: u64, profile: FaultProfile) -> Arc<Self> {
        Arc::new(Self {
            seed,
            salt,
            state: Mutex::new(CoreState {
                profile,
                ..CoreState::default()
            }),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, CoreState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a business request and returns its sequence number.
    pub(crate) fn count_request(&self, order_id: Option<&str>) -> u64 {
        let mut st = self.lock();
        st.stats.total_requests += 1;
        if let Some(id) = order_id {
            *st.stats
                .requests_per_order
                .entry(id.to_owned())
                .or_default() += 1;
        }
        st.stats.total_requests
    }

    /// Takes one token for `credential`; `false` means the call is over the limit.
    pub(crate) fn admit(&self, credential: &str, rate: Option<u32>) -> bool {
        let Some(rate) = rate else { return true };
        let now = Instant::now();
        let cap = u128::from(rate) * NANO;
        let mut st = self.lock();
        let b = st.buckets.entry(credential.to_owned()).or_default();
        match b.last {
            None => b.nanotokens = cap,
            Some(last) => {
                let elapsed = now.saturating_duration_since(last).as_nanos();
                b.nanotokens = (b.nanotokens + elapsed * u128::from(rate)).min(cap);
            }
        }
        b.last = Some(now);
        if b.nanotokens >= NANO {
            b.nanotokens -= NANO;
            true
        } else {
            st.stats.rate_limited += 1;
            false
        }
    }

    /// The fault for the next business call, scripted ones first, then random ones.
    pub(crate) fn next_fault(&self) -> Option<Fault> {
        let mut st = self.lock();
        let fault = if let Some(f) = st.scripted.pop_front() {
            Some(f)
        } else {
            st.draws += 1;
            let r = splitmix64(self.seed ^ splitmix64(self.salt.wrapping_add(st.draws)));
            let draw = u16::try_from(r % 1000).unwrap_or(0);
            st.profile.pick(draw)
        };
        if fault.is_some() {
            st.stats.faults_injected += 1;
        }
        fault
    }

    pub(crate) fn script(&self, fault: Fault, n: usize) {
        let mut st = self.lock();
        for _ in 0..n {
            st.scripted.push_back(fault);
        }
    }

    pub(crate) fn clear_faults(&self) {
        let mut st = self.lock();
        st.scripted.clear();
        st.ack_without_apply = 0;
    }

    /// The next `n` change calls that get past the token, quota, rate and fault checks are
    /// acknowledged as successful **without** changing the order (reads are not counted), so
    /// a read-back shows the old state: the "platform said success but the order does not
    /// show it" failure a `--confirm` run must flag. Adds to any still pending.
    pub(crate) fn ack_without_apply(&self, n: usize) {
        let mut st = self.lock();
        st.ack_without_apply = st.ack_without_apply.saturating_add(n);
    }

    /// Whether this change call is to be acknowledged without applying; takes one of the
    /// pending acknowledgements. Emulators log such a call as `fault:ack_without_apply`, not
    /// applied.
    pub(crate) fn take_ack_without_apply(&self) -> bool {
        let mut st = self.lock();
        if st.ack_without_apply > 0 {
            st.ack_without_apply -= 1;
            st.stats.faults_injected += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn set_profile(&self, profile: FaultProfile) {
        self.lock().profile = profile;
    }

    pub(crate) fn record(
        &self,
        seq: u64,
        order_id: Option<&str>,
        credential: Option<&str>,
        outcome: impl Into<String>,
        applied: bool,
    ) {
        let mut st = self.lock();
        if applied && let Some(id) = order_id {
            *st.stats.changes_per_order.entry(id.to_owned()).or_default() += 1;
        }
        st.calls.push(CallRecord {
            seq,
            order_id: order_id.map(str::to_owned),
            credential: credential.map(str::to_owned),
            outcome: outcome.into(),
            applied,
        });
    }

    /// Notes that a successful change of `order_id` moved its state.
    pub(crate) fn moved(&self, order_id: &str) {
        *self
            .lock()
            .stats
            .moves_per_order
            .entry(order_id.to_owned())
            .or_default() += 1;
    }

    pub(crate) fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    pub(crate) fn calls(&self) -> Vec<CallRecord> {
        self.lock().calls.clone()
    }

    pub(crate) fn calls_for(&self, order_id: &str) -> Vec<CallRecord> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.order_id.as_deref() == Some(order_id))
            .cloned()
            .collect()
    }
}

/// A body that fails on its first poll, so hyper closes the connection without a reply.
struct BrokenBody;

impl http_body::Body for BrokenBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "sandbox fault: connection dropped",
        ))))
    }
}

/// A response whose body errors at once: the client sees the connection close with no reply.
pub(crate) fn dropped_connection() -> Response {
    let mut r = Response::new(Body::new(BrokenBody));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// JSON reply with status 200 from already-encoded text.
pub(crate) fn json_text(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        text,
    )
        .into_response()
}

/// The reply for a fault that replaces the real reply (not Latency, Busy or DropAfterApply).
/// `sample` is a valid JSON reply of the platform, used to build the truncated body.
pub(crate) fn transport_fault_reply(fault: Fault, sample: &serde_json::Value) -> Option<Response> {
    match fault {
        Fault::Http500 => Some(
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain")],
                "500 Internal Server Error (sandbox fault)",
            )
                .into_response(),
        ),
        Fault::DropConnection => Some(dropped_connection()),
        Fault::TruncatedBody => {
            let text = sample.to_string();
            let cut = text.len() / 2;
            let mut cut_at = cut;
            while !text.is_char_boundary(cut_at) {
                cut_at -= 1;
            }
            Some(json_text(StatusCode::OK, text[..cut_at].to_owned()))
        }
        Fault::MalformedBody => Some(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
                "<html><body>502 Bad Gateway (sandbox fault)</body></html>",
            )
                .into_response(),
        ),
        Fault::Latency(_) | Fault::Busy | Fault::DropAfterApply => None,
    }
}

/// Sleeps for a latency fault.
pub(crate) async fn apply_latency(fault: Option<Fault>) {
    if let Some(Fault::Latency(ms)) = fault {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// Body of `POST /__admin/faults`.
///
/// Either `{"fault": <Fault>, "count": n}` to script the next `n` calls (count defaults to 1),
/// or `{"profile": <FaultProfile>}` to replace the random profile, or `{"clear": true}` to drop
/// scripted faults (and pending acknowledgements without apply) still pending, or
/// `{"ack_without_apply": n}` to acknowledge the next `n` changes without applying them (reads
/// do not count). Keys may be combined.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FaultRequest {
    /// Fault to script.
    #[serde(default)]
    pub fault: Option<Fault>,
    /// How many of the next calls get `fault`.
    #[serde(default)]
    pub count: Option<usize>,
    /// New random fault profile.
    #[serde(default)]
    pub profile: Option<FaultProfile>,
    /// Drop pending scripted faults first.
    #[serde(default)]
    pub clear: bool,
    /// Acknowledge the next this many changes without applying them.
    #[serde(default)]
    pub ack_without_apply: Option<usize>,
}

pub(crate) fn apply_fault_request(core: &Core, req: FaultRequest) {
    if req.clear {
        core.clear_faults();
    }
    if let Some(p) = req.profile {
        core.set_profile(p);
    }
    if let Some(f) = req.fault {
        core.script(f, req.count.unwrap_or(1));
    }
    if let Some(n) = req.ack_without_apply {
        core.ack_without_apply(n);
    }
}

/// The call-log outcome of a change acknowledged without being applied.
pub(crate) const ACK_WITHOUT_APPLY: &str = "fault:ack_without_apply";

/// Handler result type for admin endpoints.
pub(crate) type AdminResult = Result<Response, Infallible>;

/// `{"error": msg}` with status 400.
pub(crate) fn admin_error(msg: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({ "error": msg.to_string() })),
    )
        .into_response()
}

/// `{"error": "not found"}` with status 404.
pub(crate) fn admin_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({ "error": "not found" })),
    )
        .into_response()
}

/// Current Unix time in seconds.
pub(crate) fn unix_now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A fixed zone `offset_secs` east of UTC (`None` beyond jiff's ±25:59:59).
fn fixed_zone(offset_secs: i64) -> Option<jiff::tz::TimeZone> {
    let secs = i32::try_from(offset_secs).ok()?;
    Some(jiff::tz::TimeZone::fixed(
        jiff::tz::Offset::from_seconds(secs).ok()?,
    ))
}

/// Whether `s` has exactly the shape of `pattern`, where `9` stands for an ASCII digit and any
/// other byte for itself: the platforms' formats have fixed widths, which `strptime` alone does
/// not insist on.
fn has_shape(s: &str, pattern: &str) -> bool {
    s.len() == pattern.len()
        && s.bytes().zip(pattern.bytes()).all(|(c, p)| match p {
            b'9' => c.is_ascii_digit(),
            _ => c == p,
        })
}

/// Parses `yyyy-MM-dd` strictly into a civil date.
pub(crate) fn parse_date(s: &str) -> Option<jiff::civil::Date> {
    if !has_shape(s, "9999-99-99") {
        return None;
    }
    jiff::civil::Date::strptime("%Y-%m-%d", s).ok()
}

/// Parses `yyyy-MM-dd HH:mm:ss` taken in the zone `offset_secs` east of UTC into Unix seconds.
pub(crate) fn parse_datetime(s: &str, offset_secs: i64) -> Option<i64> {
    if !has_shape(s, "9999-99-99 99:99:99") {
        return None;
    }
    let civil = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", s).ok()?;
    let zoned = civil.to_zoned(fixed_zone(offset_secs)?).ok()?;
    Some(zoned.timestamp().as_second())
}

/// Formats Unix seconds as `yyyy-MM-dd HH:mm:ss` in the zone `offset_secs` east of UTC; empty
/// for a time or offset outside jiff's range (years -9999 to 9999).
pub fn format_datetime(unix: i64, offset_secs: i64) -> String {
    let (Ok(t), Some(zone)) = (jiff::Timestamp::from_second(unix), fixed_zone(offset_secs)) else {
        return String::new();
    };
    t.to_zoned(zone).strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// Reads a JSON value that may be a number or a string holding a number, as `u64`, exactly.
pub(crate) fn json_u64(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Number(n) => n.as_u64().or_else(|| n.to_string().parse().ok()),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Reads a JSON value that may be a number or a string holding a number, as `i64`, exactly.
pub(crate) fn json_i64(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.to_string().parse().ok()),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Binds `127.0.0.1:port` and serves `router` in a background task; returns the bound port.
pub(crate) async fn serve(
    router: axum::Router,
    port: u16,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "sandbox server stopped");
        }
    });
    Ok((addr, handle))
}

/// Decodes `application/x-www-form-urlencoded` text (also a URL query) into pairs, in order.
pub(crate) fn parse_pairs(text: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len()
                    && s.is_char_boundary(i + 1)
                    && s.is_char_boundary(i + 3) =>
                {
                    match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                        Ok(v) => {
                            out.push(v);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// Upper-case hex of bytes.
pub(crate) fn upper_hex(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

/// Constant-time comparison of a received hex signature (any case) with the expected one.
pub(crate) fn sign_matches(received: &str, expected_upper: &str) -> bool {
    use subtle::ConstantTimeEq;
    let r = received.trim().to_ascii_uppercase();
    r.len() == expected_upper.len() && bool::from(r.as_bytes().ct_eq(expected_upper.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GMT8: i64 = 8 * 3600;

    #[test]
    fn top_timestamps_round_trip_in_gmt8() {
        // 1_700_000_000 is 2023-11-14T22:13:20Z.
        assert_eq!(format_datetime(1_700_000_000, GMT8), "2023-11-15 06:13:20");
        assert_eq!(format_datetime(1_700_000_000, 0), "2023-11-14 22:13:20");
        assert_eq!(
            parse_datetime("2023-11-15 06:13:20", GMT8),
            Some(1_700_000_000)
        );
        assert_eq!(parse_datetime("1970-01-01 08:00:00", GMT8), Some(0));
    }

    #[test]
    fn dates_and_times_are_read_strictly() {
        assert!(parse_date("2024-02-29").is_some());
        for bad in [
            "2023-02-29",
            "2024-2-29",
            "2024-02-29 ",
            "２０２４-02-29",
            "2024/02/29",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        for bad in [
            "2023-11-15 6:13:20",
            "2023-11-15T06:13:20",
            " 2023-11-15 06:13:20",
            "2023-11-15 24:00:00",
            "2023-02-30 00:00:00",
        ] {
            assert_eq!(parse_datetime(bad, GMT8), None, "{bad}");
        }
    }
}
