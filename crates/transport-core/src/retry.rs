//! Bounded retries for retryable platform errors.
//!
//! [`with_retries`] runs an operation, and when it fails with a [`PlatformError`] whose
//! [`retryable()`](PlatformError::retryable) is true (transient failures, rate limits), waits and
//! tries again, up to [`RetryPolicy::max_attempts`] attempts in all. The waits grow
//! exponentially from `base_delay` to `max_delay`, with random jitter (`backon`); when the error
//! carries a `retry_after`, the wait is at least that long. Any other error is returned after
//! the first attempt. Because ordermod's requests state absolute end states, repeating one is
//! safe.
//!
//! ```
//! # async fn demo() {
//! use std::time::Duration;
//! use transport_core::{PlatformError, PlatformErrorKind, RetryPolicy, with_retries_counted};
//! let policy = RetryPolicy { base_delay: Duration::from_millis(1), ..RetryPolicy::default() };
//! let (result, attempts) = with_retries_counted(&policy, || async {
//!     Err::<(), _>(PlatformError::new(PlatformErrorKind::NotFound, None, "no such order"))
//! })
//! .await;
//! assert!(result.is_err());
//! assert_eq!(attempts, 1); // not retryable: tried once
//! # }
//! ```

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use order_domain::PlatformError;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, including the first (1 = never retry).
    pub max_attempts: u32,
    /// Wait before the first retry; doubles on each further retry.
    pub base_delay: Duration,
    /// Upper bound of the exponential wait.
    pub max_delay: Duration,
    /// When a platform asks to wait longer than this (`retry_after`), give up instead of
    /// sleeping.
    pub max_retry_after: Duration,
    /// Add random jitter to the waits.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    /// 4 attempts, 200 ms base, 5 s cap, `retry_after` honoured up to 60 s, jitter on.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(60),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// A policy that tries once and never retries.
    pub fn never() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    fn backoff(&self) -> ExponentialBuilder {
        let b = ExponentialBuilder::default()
            .with_min_delay(self.base_delay)
            .with_max_delay(self.max_delay.max(self.base_delay))
            .with_max_times(self.max_attempts.saturating_sub(1) as usize);
        if self.jitter {
            // backon seeds its jitter generator at random (its `std` feature).
            b.with_jitter()
        } else {
            b
        }
    }
}

/// Runs `op` under `policy`; see the [module docs](self). Attempts are logged with `tracing`.
pub async fn with_retries<F, Fut, T>(policy: &RetryPolicy, op: F) -> Result<T, PlatformError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, PlatformError>>,
{
    with_retries_counted(policy, op).await.0
}

/// Like [`with_retries`], also returning how many attempts were made (at least 1).
pub async fn with_retries_counted<F, Fut, T>(
    policy: &RetryPolicy,
    mut op: F,
) -> (Result<T, PlatformError>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, PlatformError>>,
{
    let attempts = AtomicU32::new(0);
    let max_retry_after = policy.max_retry_after;
    let result = (|| {
        attempts.fetch_add(1, Ordering::Relaxed);
        op()
    })
    .retry(policy.backoff())
    .when(|e: &PlatformError| e.retryable() && e.retry_after().is_none_or(|w| w <= max_retry_after))
    .adjust(|e: &PlatformError, next: Option<Duration>| {
        // `None` means the budget is spent; keep it that way.
        next.map(|d| e.retry_after().map_or(d, |w| w.max(d)))
    })
    .notify(|e: &PlatformError, wait: Duration| {
        tracing::debug!(
            attempt = attempts.load(Ordering::Relaxed),
            kind = %e.kind(),
            code = e.code().unwrap_or(""),
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "retrying after a retryable platform error"
        );
    })
    .await;
    let n = attempts.load(Ordering::Relaxed);
    match &result {
        Ok(_) if n > 1 => tracing::info!(attempts = n, "succeeded after retries"),
        Err(e) if n > 1 => tracing::warn!(attempts = n, error = %e, "gave up after retries"),
        _ => {}
    }
    (result, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use order_domain::PlatformErrorKind;
    use std::sync::atomic::AtomicU32;

    fn fast(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            ..RetryPolicy::default()
        }
    }

    fn err(kind: PlatformErrorKind) -> PlatformError {
        PlatformError::new(kind, Some("x".into()), "m")
    }

    #[tokio::test]
    async fn retryable_is_retried_up_to_the_bound() {
        let calls = AtomicU32::new(0);
        let (r, n) = with_retries_counted(&fast(3), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(err(PlatformErrorKind::Transient))
        })
        .await;
        assert_eq!(r.unwrap_err().kind(), PlatformErrorKind::Transient);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(n, 3);
    }

    #[tokio::test]
    async fn retryable_then_success() {
        let calls = AtomicU32::new(0);
        let r = with_retries(&fast(5), || async {
            let c = calls.fetch_add(1, Ordering::SeqCst);
            if c < 2 {
                Err(err(PlatformErrorKind::RateLimited))
            } else {
                Ok(c)
            }
        })
        .await;
        assert_eq!(r.unwrap(), 2);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn non_retryable_is_called_once() {
        for kind in [
            PlatformErrorKind::RejectedByRule,
            PlatformErrorKind::InvalidRequest,
            PlatformErrorKind::NotFound,
            PlatformErrorKind::WrongState,
            PlatformErrorKind::Unauthorised,
            PlatformErrorKind::QuotaExhausted,
            PlatformErrorKind::Protocol,
            PlatformErrorKind::Conflict,
        ] {
            let calls = AtomicU32::new(0);
            let (r, n) = with_retries_counted(&fast(5), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(err(kind))
            })
            .await;
            assert_eq!(r.unwrap_err().kind(), kind);
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{kind}");
            assert_eq!(n, 1);
        }
    }

    #[tokio::test]
    async fn never_policy_tries_once() {
        let calls = AtomicU32::new(0);
        let _ = with_retries(&RetryPolicy::never(), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(err(PlatformErrorKind::Transient))
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after() {
        let start = tokio::time::Instant::now();
        let calls = AtomicU32::new(0);
        let r = with_retries(&fast(3), || async {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(err(PlatformErrorKind::RateLimited).with_retry_after(Duration::from_secs(7)))
            } else {
                Ok(())
            }
        })
        .await;
        assert!(r.is_ok());
        assert!(
            start.elapsed() >= Duration::from_secs(7),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_beyond_the_cap_gives_up() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy {
            max_retry_after: Duration::from_secs(1),
            ..fast(3)
        };
        let r = with_retries(&policy, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(
                err(PlatformErrorKind::RateLimited).with_retry_after(Duration::from_secs(3600)),
            )
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
