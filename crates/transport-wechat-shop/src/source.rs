//! The [`OrderSource`] port on [`WechatShopPlatform`], the struct that is also its
//! [`OrderPlatform`](order_domain::OrderPlatform), so the app holds one object for both.

use async_trait::async_trait;
use order_domain::{Order, OrderId, OrderSource, PlatformError};
use transport_core::numeric_id;

use crate::platform::WechatShopPlatform;
use crate::read::to_order;

#[async_trait]
impl OrderSource for WechatShopPlatform {
    fn name(&self) -> &str {
        order_domain::OrderPlatform::name(self)
    }

    /// Reads the order through `product/order/get`. The snapshot's revision count is 0: the
    /// read does not carry it, and the caller fills it from its journal.
    async fn fetch(&self, id: &OrderId) -> Result<Order, PlatformError> {
        let oid = id.as_str();
        let order_id = numeric_id(oid, "order id", oid, "WeChat")?;
        let read = self.client().get_order(order_id).await?;
        to_order(&read)
    }
}
