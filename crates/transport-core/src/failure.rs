//! The typed clients' error, once for every transport (smithy-rs style): the platform's refusal
//! typed by the transport's generated table, or a failure that got no platform answer.
//!
//! A transport names its operation's failure as an alias,
//! `pub type TradeModifyFailure = OperationFailure<TradeModifyError>;`, where `E` is the
//! generated per-operation error enum (or the transport's own enum over two of them when the
//! platform refuses at two levels, an envelope and a result). The
//! [`OrderPlatform`](order_domain::OrderPlatform) implementation converts it into the domain's
//! [`PlatformError`] with `From`.
//!
//! ```
//! use transport_core::failure::OperationFailure;
//! use transport_core::{PlatformError, PlatformErrorKind};
//!
//! #[derive(Debug, Clone, PartialEq, Eq)]
//! enum ChangePriceError { PriceRaised }
//!
//! let domain = PlatformError::new(PlatformErrorKind::RejectedByRule, Some("1001".into()), "raise");
//! let f: OperationFailure<ChangePriceError> = OperationFailure::Refused {
//!     error: ChangePriceError::PriceRaised,
//!     domain: Box::new(domain.clone()),
//! };
//! assert_eq!(f.code(), Some("1001"));
//! assert_eq!(f.to_string(), domain.to_string());
//! assert_eq!(PlatformError::from(f), domain);
//! ```

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use order_domain::{PlatformError, PlatformErrorKind};

use crate::retry::{RetryPolicy, with_retries};

/// Why a typed client's operation failed; `E` is the operation's typed refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OperationFailure<E> {
    /// The platform answered with a refusal.
    #[error("{domain}")]
    Refused {
        /// The refusal, typed: a variant per documented code, `Unknown` with the code and
        /// message verbatim for the rest.
        error: E,
        /// Its classification for the domain (kind, retry, detail); boxed to keep the
        /// failure small.
        domain: Box<PlatformError>,
    },
    /// No platform answer to type: connection, timeout, HTTP status, unreadable reply, an
    /// invalid request caught before sending.
    #[error(transparent)]
    Unanswered(#[from] PlatformError),
}

impl<E> OperationFailure<E> {
    /// A refusal: the typed `error` and its domain classification.
    pub fn refused(error: E, domain: PlatformError) -> Self {
        OperationFailure::Refused {
            error,
            domain: Box::new(domain),
        }
    }

    /// The typed refusal, when the platform answered with one.
    pub fn refusal(&self) -> Option<&E> {
        match self {
            OperationFailure::Refused { error, .. } => Some(error),
            OperationFailure::Unanswered(_) => None,
        }
    }

    /// The domain's view of the failure.
    pub fn platform_error(&self) -> &PlatformError {
        match self {
            OperationFailure::Refused { domain, .. } => domain.as_ref(),
            OperationFailure::Unanswered(e) => e,
        }
    }

    /// The domain's classification.
    pub fn kind(&self) -> PlatformErrorKind {
        self.platform_error().kind()
    }

    /// The platform's code (or transport-core's `transport`, `protocol`, `http.<status>`).
    pub fn code(&self) -> Option<&str> {
        self.platform_error().code()
    }

    /// The platform's message, verbatim and redacted.
    pub fn message(&self) -> &str {
        self.platform_error().message()
    }

    /// Extra detail (a link, a merchant action, a sub-code).
    pub fn detail(&self) -> Option<&str> {
        self.platform_error().detail()
    }

    /// Whether retrying can succeed.
    pub fn retryable(&self) -> bool {
        self.platform_error().retryable()
    }
}

impl<E> From<OperationFailure<E>> for PlatformError {
    fn from(f: OperationFailure<E>) -> Self {
        match f {
            OperationFailure::Refused { domain, .. } => *domain,
            OperationFailure::Unanswered(e) => e,
        }
    }
}

/// [`with_retries`] over attempts that fail with an [`OperationFailure`]: retry decisions follow
/// the domain classification, and the last attempt's typed failure is what the caller gets.
pub async fn retried<T, E, F, Fut>(
    policy: &RetryPolicy,
    mut op: F,
) -> Result<T, OperationFailure<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, OperationFailure<E>>>,
{
    let last = Mutex::new(None);
    let result = with_retries(policy, || {
        let attempt = op();
        let last = &last;
        async move {
            attempt.await.map_err(|f| {
                let e = f.platform_error().clone();
                *last.lock().unwrap_or_else(PoisonError::into_inner) = Some(f);
                e
            })
        }
    })
    .await;
    result.map_err(
        |e| match last.into_inner().unwrap_or_else(PoisonError::into_inner) {
            Some(f) if *f.platform_error() == e => f,
            _ => OperationFailure::Unanswered(e),
        },
    )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Typed {
        Busy,
        Raise,
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        }
    }

    #[tokio::test]
    async fn retried_returns_the_last_attempts_typed_refusal() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = retried(&policy(), || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                Err(if n < 2 {
                    OperationFailure::refused(
                        Typed::Busy,
                        PlatformError::new(PlatformErrorKind::Transient, Some("busy".into()), "b"),
                    )
                } else {
                    OperationFailure::refused(
                        Typed::Raise,
                        PlatformError::new(
                            PlatformErrorKind::RejectedByRule,
                            Some("raise".into()),
                            "r",
                        ),
                    )
                })
            }
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let f = r.unwrap_err();
        assert_eq!(f.refusal(), Some(&Typed::Raise));
        assert_eq!(f.code(), Some("raise"));
    }

    #[tokio::test]
    async fn a_refusal_that_is_not_retryable_is_tried_once() {
        let calls = AtomicU32::new(0);
        let r: Result<(), OperationFailure<Typed>> = retried(&policy(), || {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                Err(OperationFailure::refused(
                    Typed::Raise,
                    PlatformError::new(PlatformErrorKind::RejectedByRule, None, "r"),
                ))
            }
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(!r.unwrap_err().retryable());
    }
}
