//! The read port: a platform that reports an order's current state.

use std::fmt;

use async_trait::async_trait;

use crate::ids::OrderId;
use crate::order::Order;
use crate::ports::platform::PlatformError;

/// A platform operation that reads one order as it stands now.
///
/// # Error contract
/// `fetch` returns `Ok(order)` with the platform's current state mapped to the domain snapshot
/// (original and current amounts, lines, status, and the version token where the platform has
/// one), or `Err(PlatformError)` classified like [`OrderPlatform::apply`]'s errors:
/// `NotFound` when the platform says the order does not exist (or is not this shop's),
/// `Unauthorised`, `RateLimited`, `QuotaExhausted`, `Transient` and `Protocol` as usual. The
/// platform's code and message are verbatim and contain no secret. Reading never changes the
/// order, so implementations may retry retryable kinds within a bounded budget; reads share the
/// shop's rate limit with writes unless the platform documents a separate quota.
///
/// Where the platform's read does not carry a value the snapshot needs (WeChat's revision
/// count, say), the implementation leaves the domain's neutral value and documents it; the
/// caller fills it from its own records.
///
/// [`OrderPlatform::apply`]: crate::ports::platform::OrderPlatform::apply
#[async_trait]
pub trait OrderSource: Send + Sync + fmt::Debug {
    /// The platform's name, as in the config (`wechat-shop`, `alibaba-icbu`, ...).
    fn name(&self) -> &str;

    /// Reads order `id` as it stands on the platform now.
    async fn fetch(&self, id: &OrderId) -> Result<Order, PlatformError>;
}
