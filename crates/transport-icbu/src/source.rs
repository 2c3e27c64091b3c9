//! The [`OrderSource`] port on [`IcbuPlatform`], the struct that is also its
//! [`OrderPlatform`](order_domain::OrderPlatform), so the app holds one object for both.

use async_trait::async_trait;
use order_domain::{Order, OrderId, OrderSource, PlatformError};

use crate::platform::IcbuPlatform;
use crate::read::to_order;

#[async_trait]
impl OrderSource for IcbuPlatform {
    fn name(&self) -> &str {
        order_domain::OrderPlatform::name(self)
    }

    /// Reads the trade through `alibaba.seller.order.get`. The snapshot carries the version
    /// token (`contract_version`) the next modify needs; its revision count is 0 (the read does
    /// not carry it).
    async fn fetch(&self, id: &OrderId) -> Result<Order, PlatformError> {
        let read = self.client().get_order(id.as_str()).await?;
        to_order(&read)
    }
}
