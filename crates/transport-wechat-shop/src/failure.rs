//! The typed client's error: the platform's refusal typed by the generated table, or a failure
//! that got no platform answer (smithy-rs style). The [`OrderPlatform`](order_domain::OrderPlatform)
//! implementation converts it into the domain's [`PlatformError`].

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use order_domain::{PlatformError, PlatformErrorKind};
use transport_core::{RetryPolicy, with_retries};

use crate::generated::errors::ChangeOrderPriceError;

/// Why a [`WechatShopClient::change_order_price`](crate::WechatShopClient::change_order_price) call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChangeOrderPriceFailure {
    /// WeChat answered with a non-zero errcode.
    #[error("{domain}")]
    Refused {
        /// The refusal, typed: a variant per documented code, `Unknown` with the code and
        /// message verbatim for the rest.
        error: ChangeOrderPriceError,
        /// Its classification for the domain (kind, retry, detail); boxed to keep the
        /// failure small.
        domain: Box<PlatformError>,
    },
    /// No platform answer to type: connection, timeout, HTTP status, unreadable reply, an
    /// invalid request caught before sending.
    #[error(transparent)]
    Unanswered(#[from] PlatformError),
}

impl ChangeOrderPriceFailure {
    /// The domain's view of the failure.
    pub fn platform_error(&self) -> &PlatformError {
        match self {
            ChangeOrderPriceFailure::Refused { domain, .. } => domain.as_ref(),
            ChangeOrderPriceFailure::Unanswered(e) => e,
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

impl From<ChangeOrderPriceFailure> for PlatformError {
    fn from(f: ChangeOrderPriceFailure) -> Self {
        match f {
            ChangeOrderPriceFailure::Refused { domain, .. } => *domain,
            ChangeOrderPriceFailure::Unanswered(e) => e,
        }
    }
}

/// [`with_retries`] over attempts that fail with a [`ChangeOrderPriceFailure`]: retry decisions follow the
/// domain classification, and the last attempt's typed failure is what the caller gets.
pub(crate) async fn retried<T, F, Fut>(
    policy: &RetryPolicy,
    mut op: F,
) -> Result<T, ChangeOrderPriceFailure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ChangeOrderPriceFailure>>,
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
            _ => ChangeOrderPriceFailure::Unanswered(e),
        },
    )
}
