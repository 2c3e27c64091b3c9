//! Per-credential rate limiting.
//!
//! A [`RateLimiter`] paces requests per credential id (an appid, a shop token id) so that the
//! platform's quota is used fully without ever provoking its rate-limit reply. It is a GCRA
//! limiter (`governor`) with a burst of one by default: requests leave at most once per
//! `1/rate` seconds per key, which keeps any emulated or real token bucket of capacity `rate`
//! from ever running dry. Clones share state, so every client using the same credential should
//! share one limiter (clone it).
//!
//! ```
//! # async fn demo() {
//! use transport_core::RateLimiter;
//! let limiter = RateLimiter::per_second(Some(10));
//! limiter.until_ready("appid-1").await; // returns at once, then paces at 10/s per key
//! assert!(RateLimiter::unlimited().is_unlimited());
//! # }
//! ```

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Jitter, Quota};

/// Paces requests per credential id. `Clone` is cheap and shares the state.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    jitter: Duration,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limited", &self.inner.is_some())
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
            inner: Some(Arc::new(governor::RateLimiter::keyed(quota))),
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

    /// Waits until a request for credential `key` may be sent, and takes its slot.
    pub async fn until_ready(&self, key: &str) {
        if let Some(l) = &self.inner {
            let key = key.to_owned();
            if self.jitter.is_zero() {
                l.until_key_ready(&key).await;
            } else {
                l.until_key_ready_with_jitter(&key, Jitter::up_to(self.jitter))
                    .await;
            }
        }
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
}
