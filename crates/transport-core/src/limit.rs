//! Per-credential rate limiting: one limiter per credential, shared.
//!
//! A [`RateLimiter`] paces requests per credential id (an appid, a shop token id) so that the
//! platform's quota is used fully without ever provoking its rate-limit reply. It is a GCRA
//! limiter (`governor`) with a burst of one by default: requests leave at most once per
//! `1/rate` seconds per key, which keeps any emulated or real token bucket of capacity `rate`
//! from ever running dry. Clones share state.
//!
//! A credential's quota is one quota, whatever the number of shops or components that use it,
//! so a process holds **one limiter per credential** and hands clones of it to everything that
//! sends with that credential. [`RateLimiters`] is that registry: the first caller creates a
//! credential's limiter at its rate, later callers get the same instance (and can compare
//! [`RateLimiter::rate`] with theirs to refuse a conflicting configuration).
//!
//! Two users of one limiter, one slot per request: a caller that must know a request's slot
//! before the request leaves (ordermod's app records an amendment as sent only once its slot
//! is due) takes it with [`RateLimiter::reserve`]; the transport's client then calls
//! [`RateLimiter::until_ready`] as always, which uses a slot reserved within the last
//! [`RESERVATION_TTL`] instead of taking another. Requests never outnumber slots; a reserved
//! slot left unused (the request failed before it was sent) lapses after the TTL.
//!
//! ```
//! # async fn demo() {
//! use transport_core::{RateLimiter, RateLimiters};
//! let limiters = RateLimiters::new();
//! let for_app = limiters.for_credential("appid-1", Some(10));
//! let for_client = limiters.for_credential("appid-1", Some(10)); // the same limiter
//! for_app.reserve("appid-1").await; // the app waits for the slot and records `sent`
//! for_client.until_ready("appid-1").await; // the client uses that slot: no second wait
//! assert!(RateLimiter::unlimited().is_unlimited());
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Jitter, Quota};

/// How long a slot taken by [`RateLimiter::reserve`] waits for its request.
pub const RESERVATION_TTL: Duration = Duration::from_secs(1);

/// Paces requests per credential id. `Clone` is cheap and shares the state.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Option<Arc<Shared>>,
    jitter: Duration,
}

struct Shared {
    gcra: DefaultKeyedRateLimiter<String>,
    rate: NonZeroU32,
    /// Slots taken by `reserve` and not yet used, per key, oldest first.
    reserved: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("per_second", &self.rate())
            .field("jitter", &self.jitter)
            .finish()
    }
}

impl RateLimiter {
    /// `rate` requests per second per key with a burst of one; `None` (or `Some(0)`) means
    /// unlimited. The default jitter is 1% of the interval between requests.
    pub fn per_second(rate: Option<u32>) -> Self {
        match rate.and_then(NonZeroU32::new) {
            Some(r) => Self::with_burst(r, NonZeroU32::MIN),
            None => Self::unlimited(),
        }
    }

    /// `rate` requests per second per key, allowing `burst` requests at once after idling.
    pub fn with_burst(rate: NonZeroU32, burst: NonZeroU32) -> Self {
        let quota = Quota::per_second(rate).allow_burst(burst);
        let jitter = quota.replenish_interval() / 100;
        RateLimiter {
            inner: Some(Arc::new(Shared {
                gcra: governor::RateLimiter::keyed(quota),
                rate,
                reserved: Mutex::new(HashMap::new()),
            })),
            jitter,
        }
    }

    /// No pacing at all.
    pub fn unlimited() -> Self {
        RateLimiter {
            inner: None,
            jitter: Duration::ZERO,
        }
    }

    /// Sets the maximum random delay added when a caller has to wait (spreads callers that
    /// would otherwise wake at the same instant).
    #[must_use]
    pub fn with_jitter(mut self, max: Duration) -> Self {
        self.jitter = max;
        self
    }

    /// True when this limiter never waits.
    pub fn is_unlimited(&self) -> bool {
        self.inner.is_none()
    }

    /// Requests per second per key; `None` when unlimited.
    pub fn rate(&self) -> Option<NonZeroU32> {
        self.inner.as_ref().map(|s| s.rate)
    }

    /// Whether `self` and `other` are the same limiter (clones of one), sharing their slots.
    pub fn same_as(&self, other: &RateLimiter) -> bool {
        match (&self.inner, &other.inner) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    /// Waits until a request for credential `key` may be sent, and takes its slot, unless a
    /// slot reserved for `key` by [`reserve`](Self::reserve) within [`RESERVATION_TTL`] is
    /// waiting: then that one is used and nothing is waited for.
    pub async fn until_ready(&self, key: &str) {
        let Some(shared) = &self.inner else { return };
        if shared.take_reserved(key) {
            return;
        }
        self.wait_for_slot(shared, key).await;
    }

    /// Waits until a request for credential `key` may be sent and takes its slot for a request
    /// that follows shortly: the next [`until_ready`](Self::until_ready) for `key` on this
    /// limiter (or a clone) uses it instead of waiting for another.
    pub async fn reserve(&self, key: &str) {
        let Some(shared) = &self.inner else { return };
        self.wait_for_slot(shared, key).await;
        shared
            .lock()
            .entry(key.to_owned())
            .or_default()
            .push_back(Instant::now());
    }

    async fn wait_for_slot(&self, shared: &Shared, key: &str) {
        let key = key.to_owned();
        if self.jitter.is_zero() {
            shared.gcra.until_key_ready(&key).await;
        } else {
            shared
                .gcra
                .until_key_ready_with_jitter(&key, Jitter::up_to(self.jitter))
                .await;
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.reserved.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Uses the oldest live reservation of `key`; lapsed ones are dropped.
    fn take_reserved(&self, key: &str) -> bool {
        let mut map = self.lock();
        let Some(queue) = map.get_mut(key) else {
            return false;
        };
        let now = Instant::now();
        let mut found = false;
        while let Some(at) = queue.pop_front() {
            if now.saturating_duration_since(at) <= RESERVATION_TTL {
                found = true;
                break;
            }
        }
        if queue.is_empty() {
            map.remove(key);
        }
        found
    }
}

/// One [`RateLimiter`] per credential for a whole process (see the [module docs](self)).
/// `Clone` is cheap and shares the registry.
#[derive(Clone, Default)]
pub struct RateLimiters {
    by_credential: Arc<Mutex<HashMap<String, RateLimiter>>>,
}

impl std::fmt::Debug for RateLimiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.by_credential.lock().map_or(0, |m| m.len());
        f.debug_struct("RateLimiters")
            .field("credentials", &n)
            .finish()
    }
}

impl RateLimiters {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The limiter of `credential` (name it so that two platforms cannot collide, e.g.
    /// `"wechat:wx123"`). The first call creates it at `rate` per second (see
    /// [`RateLimiter::per_second`]); every later call returns the same limiter, whatever rate
    /// it passes: compare [`RateLimiter::rate`] to detect a conflicting configuration.
    pub fn for_credential(&self, credential: &str, rate: Option<u32>) -> RateLimiter {
        self.by_credential
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(credential.to_owned())
            .or_insert_with(|| RateLimiter::per_second(rate))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn paces_per_key_and_keys_are_independent() {
        let l = RateLimiter::per_second(Some(50)).with_jitter(Duration::ZERO);
        let start = Instant::now();
        for _ in 0..3 {
            l.until_ready("a").await;
        }
        // Three requests at 50/s with burst 1: at least two 20 ms intervals.
        assert!(
            start.elapsed() >= Duration::from_millis(38),
            "{:?}",
            start.elapsed()
        );
        let t = Instant::now();
        l.until_ready("b").await;
        assert!(t.elapsed() < Duration::from_millis(15));
    }

    #[tokio::test]
    async fn unlimited_never_waits() {
        let l = RateLimiter::per_second(None);
        assert!(l.is_unlimited());
        assert!(RateLimiter::per_second(Some(0)).is_unlimited());
        let t = Instant::now();
        for _ in 0..1000 {
            l.until_ready("x").await;
        }
        assert!(t.elapsed() < Duration::from_millis(100));
    }

    /// Whether `fut` finishes on its first poll, i.e. without waiting for anything.
    fn ready_at_once<F: std::future::Future>(fut: F) -> bool {
        let mut fut = std::pin::pin!(fut);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        fut.as_mut().poll(&mut cx).is_ready()
    }

    #[tokio::test]
    async fn a_reserved_slot_is_used_by_the_next_request_not_taken_twice() {
        let limiters = RateLimiters::new();
        let app = limiters.for_credential("wechat:wx1", Some(1));
        let client = limiters.for_credential("wechat:wx1", Some(5));
        assert!(app.same_as(&client), "one limiter per credential");
        assert_eq!(client.rate(), NonZeroU32::new(1), "the first rate decides");
        let app = app.with_jitter(Duration::ZERO);
        let client = client.with_jitter(Duration::ZERO);

        // 1/s, burst 1: the first slot is free, the app takes it ahead.
        assert!(ready_at_once(app.reserve("wx1")));
        // The client's request uses that slot instead of waiting for the next one.
        assert!(ready_at_once(client.until_ready("wx1")));
        // A second request has no reservation and must wait for the next slot.
        assert!(!ready_at_once(client.until_ready("wx1")));
        // Other credentials have their own limiter.
        let other = limiters.for_credential("wechat:wx2", Some(1));
        assert!(!other.same_as(&client));
        assert!(ready_at_once(other.until_ready("wx2")));
    }

    #[test]
    fn a_lapsed_reservation_is_not_used() {
        let l = RateLimiter::per_second(Some(1));
        let shared = l.inner.as_ref().unwrap();
        let long_ago = Instant::now()
            .checked_sub(RESERVATION_TTL * 2)
            .expect("the clock is past 2 s");
        shared
            .lock()
            .entry("k".into())
            .or_default()
            .push_back(long_ago);
        assert!(!shared.take_reserved("k"));
        assert!(
            shared.lock().is_empty(),
            "the lapsed reservation is dropped"
        );
    }
}
