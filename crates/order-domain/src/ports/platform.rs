//! The outbound port: a platform that applies plans to orders.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ids::VersionToken;
use crate::order::Order;
use crate::plan::Plan;
use crate::policy::Policy;

/// What kind of failure a platform reported, independent of the platform's own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlatformErrorKind {
    /// The platform refused the change under one of its business rules (raise, limit, zero total).
    RejectedByRule,
    /// The request was malformed or had a wrong parameter.
    InvalidRequest,
    /// The order (or shop, or line) does not exist.
    NotFound,
    /// The order is in a state that does not allow the change.
    WrongState,
    /// Credentials are wrong, expired, or lack permission.
    Unauthorised,
    /// Too many requests; retry later.
    RateLimited,
    /// The paid call quota is used up; retrying does not help until it is topped up.
    QuotaExhausted,
    /// A passing failure (system busy, timeout, 5xx); retry.
    Transient,
    /// The order changed underneath (stale version).
    Conflict,
    /// The reply could not be understood (malformed, truncated, unexpected shape).
    Protocol,
}

impl PlatformErrorKind {
    /// Whether retrying the same request can succeed: transient failures and rate limits.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            PlatformErrorKind::Transient | PlatformErrorKind::RateLimited
        )
    }

    /// Stable snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PlatformErrorKind::RejectedByRule => "rejected_by_rule",
            PlatformErrorKind::InvalidRequest => "invalid_request",
            PlatformErrorKind::NotFound => "not_found",
            PlatformErrorKind::WrongState => "wrong_state",
            PlatformErrorKind::Unauthorised => "unauthorised",
            PlatformErrorKind::RateLimited => "rate_limited",
            PlatformErrorKind::QuotaExhausted => "quota_exhausted",
            PlatformErrorKind::Transient => "transient",
            PlatformErrorKind::Conflict => "conflict",
            PlatformErrorKind::Protocol => "protocol",
        }
    }
}

impl fmt::Display for PlatformErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure reported by (or while talking to) a platform.
///
/// Keeps the platform's own code and message verbatim (often Chinese). Never contains a
/// secret: transports redact before building one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct PlatformError {
    kind: PlatformErrorKind,
    code: Option<String>,
    message: String,
    retry_after: Option<Duration>,
    detail: Option<String>,
}

impl PlatformError {
    /// A new error of `kind` with the platform's `code` and `message` as received.
    pub fn new(kind: PlatformErrorKind, code: Option<String>, message: impl Into<String>) -> Self {
        PlatformError {
            kind,
            code,
            message: message.into(),
            retry_after: None,
            detail: None,
        }
    }

    /// Adds how long the platform asked us to wait.
    #[must_use]
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// Adds a detail worth keeping (an authorisation link, a sub-code, a request id).
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The kind.
    pub fn kind(&self) -> PlatformErrorKind {
        self.kind
    }
    /// The platform's code, verbatim.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }
    /// The platform's message, verbatim.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// How long to wait before retrying, when the platform said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
    /// Extra detail.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
    /// Whether retrying can succeed.
    pub fn retryable(&self) -> bool {
        self.kind.retryable()
    }
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(code) = &self.code {
            write!(f, " [{code}]")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

/// What the platform said when it accepted a change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Receipt {
    /// The platform's reply body, verbatim (secrets never appear in replies we keep).
    pub raw_reply: String,
    /// A reference the platform returned (EM echoes the trade number, ICBU the trade id).
    pub reference: Option<String>,
    /// The order's new version token, when the platform reports it.
    pub version: Option<VersionToken>,
    /// What the call cost, in the platform's unit (vv-tool `withholding_money`, in points).
    pub cost: Option<String>,
    /// A payment link the platform returned (ICBU `pay_url`).
    pub payment_url: Option<String>,
}

impl Receipt {
    /// A receipt carrying the raw reply.
    pub fn new(raw_reply: impl Into<String>) -> Self {
        Receipt {
            raw_reply: raw_reply.into(),
            ..Receipt::default()
        }
    }
    /// With the platform's reference.
    #[must_use]
    pub fn with_reference(mut self, r: impl Into<String>) -> Self {
        self.reference = Some(r.into());
        self
    }
    /// With the order's new version.
    #[must_use]
    pub fn with_version(mut self, v: VersionToken) -> Self {
        self.version = Some(v);
        self
    }
    /// With the call's cost.
    #[must_use]
    pub fn with_cost(mut self, c: impl Into<String>) -> Self {
        self.cost = Some(c.into());
        self
    }
    /// With a payment link.
    #[must_use]
    pub fn with_payment_url(mut self, u: impl Into<String>) -> Self {
        self.payment_url = Some(u.into());
        self
    }
}

/// A platform operation that changes orders.
///
/// # Error contract
/// `apply` returns `Err(PlatformError)` for every failure, classified by
/// [`PlatformErrorKind`]; the platform's code and message are verbatim and contain no secret.
/// Implementations do not retry non-retryable kinds; they may retry retryable ones internally
/// within a bounded budget and then report the last error. Because a plan states an absolute
/// end state, calling `apply` again with the same plan after an unknown outcome (timeout,
/// dropped connection) is safe.
#[async_trait]
pub trait OrderPlatform: Send + Sync + fmt::Debug {
    /// The platform's name, as in the config (`wechat-shop`, `vvtool-1688`, ...).
    fn name(&self) -> &str;

    /// The platform's rules; plans given to [`apply`](Self::apply) were made with it.
    fn policy(&self) -> &Policy;

    /// Sends `plan` for `order` and returns the platform's receipt.
    async fn apply(&self, order: &Order, plan: &Plan) -> Result<Receipt, PlatformError>;
}
