//! The order read, `product/order/get`: its wire types and the mapping to the domain snapshot
//! (see "Read" on `docs/platforms/wechat-shop.md`).

use order_domain::{
    Address, Amount, Currency, FreightSpec, LineId, Money, Order, OrderId, OrderLineSpec,
    OrderSpec, OrderStatus, PlatformError, PlatformErrorKind, ProductRef, Quantity, RevisionState,
    SkuRef,
};
use serde::{Deserialize, Deserializer, Serialize};
use transport_core::lenient::{i64_lenient, opt_i64_lenient, u64_lenient};

use crate::generated::params;

/// The body of `POST /product/order/get`: the id as a JSON integer, exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GetOrderRequest {
    /// The order.
    pub order_id: u64,
}

/// `bool` that also accepts `0`/`1` (WeChat writes flags either way).
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        B(bool),
        N(i64),
    }
    Ok(match Option::<Flag>::deserialize(d)? {
        None => None,
        Some(Flag::B(b)) => Some(b),
        Some(Flag::N(n)) => Some(n != 0),
    })
}

/// The `order/get` reply's order, as far as the transport reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ShopOrder {
    /// The order id (number or string).
    #[serde(deserialize_with = "u64_lenient")]
    pub order_id: u64,
    /// Status code (10 awaiting payment, 20 awaiting shipment, ...).
    #[serde(deserialize_with = "i64_lenient")]
    pub status: i64,
    /// Details.
    #[serde(default)]
    pub order_detail: OrderDetail,
}

/// `order.order_detail`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OrderDetail {
    /// SKU lines.
    #[serde(default)]
    pub product_infos: Vec<ProductInfo>,
    /// Amounts.
    #[serde(default)]
    pub price_info: PriceInfo,
    /// Delivery.
    #[serde(default)]
    pub delivery_info: Option<DeliveryInfo>,
}

/// One SKU line of a read order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProductInfo {
    /// Product.
    #[serde(deserialize_with = "u64_lenient")]
    pub product_id: u64,
    /// SKU.
    #[serde(deserialize_with = "u64_lenient")]
    pub sku_id: u64,
    /// Quantity.
    #[serde(deserialize_with = "i64_lenient")]
    pub sku_cnt: i64,
    /// Unit price when ordered, fen.
    #[serde(deserialize_with = "i64_lenient")]
    pub sale_price: i64,
    /// The line's total now, fen (*assumed*).
    #[serde(default, deserialize_with = "opt_i64_lenient")]
    pub real_price: Option<i64>,
    /// Product title.
    #[serde(default)]
    pub title: Option<String>,
}

/// `order_detail.price_info`, amounts in fen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PriceInfo {
    /// Goods total before changes.
    #[serde(default, deserialize_with = "opt_i64_lenient")]
    pub product_price: Option<i64>,
    /// Order total now.
    #[serde(default, deserialize_with = "opt_i64_lenient")]
    pub order_price: Option<i64>,
    /// Freight now.
    #[serde(default, deserialize_with = "opt_i64_lenient")]
    pub freight: Option<i64>,
    /// Discount amount.
    #[serde(default, deserialize_with = "opt_i64_lenient")]
    pub discounted_price: Option<i64>,
    /// Whether a discount applies.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub is_discounted: Option<bool>,
    /// Whether the freight was changed (*assumed*).
    #[serde(default, deserialize_with = "lenient_bool")]
    pub is_change_freight: Option<bool>,
    /// Freight before the change (*assumed*).
    #[serde(default, deserialize_with = "opt_i64_lenient")]
    pub change_freight: Option<i64>,
}

/// `order_detail.delivery_info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct DeliveryInfo {
    /// The delivery address.
    #[serde(default)]
    pub address_info: Option<AddressInfo>,
}

/// `delivery_info.address_info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AddressInfo {
    /// Receiver.
    #[serde(default)]
    pub user_name: Option<String>,
    /// Postal code.
    #[serde(default)]
    pub postal_code: Option<String>,
    /// Province.
    #[serde(default)]
    pub province_name: Option<String>,
    /// City.
    #[serde(default)]
    pub city_name: Option<String>,
    /// District.
    #[serde(default)]
    pub county_name: Option<String>,
    /// Street address.
    #[serde(default)]
    pub detail_info: Option<String>,
    /// Country code.
    #[serde(default)]
    pub national_code: Option<String>,
    /// Receiver's phone.
    #[serde(default)]
    pub tel_number: Option<String>,
}

/// The `order/get` reply body.
#[derive(Debug, Deserialize)]
pub(crate) struct GetOrderReply {
    pub order: Option<ShopOrder>,
}

/// The domain status of a WeChat Shop status code.
pub fn status(code: i64) -> OrderStatus {
    let known = |c: u32| i64::from(c) == code;
    if known(params::STATUS_AWAITING_PAYMENT) {
        OrderStatus::AwaitingPayment
    } else if known(params::STATUS_AWAITING_SHIPMENT) {
        OrderStatus::Paid
    } else if known(params::STATUS_AWAITING_RECEIPT) {
        OrderStatus::Shipped
    } else if known(params::STATUS_COMPLETED) {
        OrderStatus::Completed
    } else if known(params::STATUS_CANCELLED_AFTER_SALE) || known(params::STATUS_CANCELLED) {
        OrderStatus::Closed
    } else {
        OrderStatus::Other(code.to_string())
    }
}

/// A read address as the domain's.
pub fn address(w: &AddressInfo) -> Address {
    Address {
        receiver: w.user_name.clone(),
        mobile: w.tel_number.clone(),
        province: w.province_name.clone(),
        city: w.city_name.clone(),
        district: w.county_name.clone(),
        street: w.detail_info.clone(),
        zip: w.postal_code.clone(),
        ..Address::default()
    }
}

fn protocol(oid: &str, why: impl std::fmt::Display) -> PlatformError {
    PlatformError::new(
        PlatformErrorKind::Protocol,
        Some("protocol".to_owned()),
        format!("order {oid}: {why}"),
    )
}

fn fen(amount: i64, field: &str, oid: &str) -> Result<Amount, PlatformError> {
    if amount < 0 {
        return Err(protocol(
            oid,
            format_args!("{field}: negative amount {amount}"),
        ));
    }
    Amount::new(Money::from_minor(amount, Currency::Cny).amount())
        .map_err(|e| protocol(oid, format_args!("{field}: {e}")))
}

/// Maps a read order to the domain snapshot (mapping on the platform page). The revision count
/// is 0: the read does not carry it, and the caller fills it from its journal.
pub fn to_order(o: &ShopOrder) -> Result<Order, PlatformError> {
    let oid = o.order_id.to_string();
    let d = &o.order_detail;
    let mut lines = Vec::with_capacity(d.product_infos.len());
    for p in &d.product_infos {
        let lid = format!("{}:{}", p.product_id, p.sku_id);
        let qty = u32::try_from(p.sku_cnt)
            .ok()
            .and_then(|n| Quantity::whole(n).ok())
            .ok_or_else(|| protocol(&oid, format_args!("line {lid}: quantity {}", p.sku_cnt)))?;
        let original = p
            .sale_price
            .checked_mul(p.sku_cnt)
            .ok_or_else(|| protocol(&oid, format_args!("line {lid}: total overflows")))?;
        lines.push(OrderLineSpec {
            id: LineId::new(lid.clone()).map_err(|e| protocol(&oid, e))?,
            product: Some(
                ProductRef::new(p.product_id.to_string()).map_err(|e| protocol(&oid, e))?,
            ),
            sku: Some(SkuRef::new(p.sku_id.to_string()).map_err(|e| protocol(&oid, e))?),
            name: p.title.clone(),
            unit: None,
            quantity: qty,
            unit_price: Some(fen(p.sale_price, "sale_price", &oid)?),
            original_total: fen(original, "line total", &oid)?,
            current_total: p
                .real_price
                .map(|r| fen(r, "real_price", &oid))
                .transpose()?,
            closed: false,
        });
    }
    let freight_now = d.price_info.freight.unwrap_or(0);
    let freight_original = match (d.price_info.is_change_freight, d.price_info.change_freight) {
        (Some(true), Some(before)) => before,
        _ => freight_now,
    };
    let spec = OrderSpec {
        id: OrderId::new(oid.clone()).map_err(|e| protocol(&oid, e))?,
        status: status(o.status),
        currency: Currency::Cny,
        trade_type: None,
        lines,
        freight: Some(FreightSpec {
            original: fen(freight_original, "change_freight", &oid)?,
            current: Some(fen(freight_now, "freight", &oid)?),
        }),
        revision: RevisionState::default(),
        address: d
            .delivery_info
            .as_ref()
            .and_then(|i| i.address_info.as_ref())
            .map(address),
        logistics: None,
        delivery_date: None,
        remarks: None,
        payment: None,
    };
    Order::try_from(spec).map_err(|e| protocol(&oid, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: &str = r#"{"order_id":3705115058471208928,"status":10,"order_detail":{
        "product_infos":[
          {"product_id":9007199254740993,"sku_id":"18446744073709551615","sku_cnt":3,"sale_price":1000,"real_price":2500,"title":"健身环"},
          {"product_id":2,"sku_id":22,"sku_cnt":1,"sale_price":1000}],
        "price_info":{"product_price":4000,"order_price":3500,"freight":0,"discounted_price":0,"is_discounted":false,"is_change_freight":1,"change_freight":500},
        "delivery_info":{"address_info":{"user_name":"陈先生","province_name":"广东","city_name":"广州","county_name":"海珠区","detail_info":"大塘","tel_number":"24534252","postal_code":"510000"}}}}"#;

    #[test]
    fn a_read_maps_lines_freight_address_and_big_ids_exactly() {
        let o: ShopOrder = serde_json::from_str(READ).unwrap();
        assert_eq!(o.order_id, 3_705_115_058_471_208_928);
        let order = to_order(&o).unwrap();
        assert_eq!(order.id().as_str(), "3705115058471208928");
        assert_eq!(order.status(), &OrderStatus::AwaitingPayment);
        assert_eq!(order.revision().count, 0);
        let l1 = &order.lines()[0];
        assert_eq!(l1.id().as_str(), "9007199254740993:18446744073709551615");
        assert_eq!(l1.product().unwrap().as_str(), "9007199254740993");
        assert_eq!(l1.sku().unwrap().as_str(), "18446744073709551615");
        assert_eq!(l1.original_total().to_string(), "30.00");
        assert_eq!(l1.current_total().to_string(), "25.00");
        let l2 = &order.lines()[1];
        assert_eq!(l2.current_total(), l2.original_total());
        assert_eq!(order.freight_original().to_string(), "5.00");
        assert_eq!(order.freight_current().to_string(), "0.00");
        let a = order.address().unwrap();
        assert_eq!(a.receiver.as_deref(), Some("陈先生"));
        assert_eq!(a.district.as_deref(), Some("海珠区"));
        assert_eq!(a.mobile.as_deref(), Some("24534252"));
    }

    #[test]
    fn published_statuses_map_to_the_domain() {
        assert_eq!(status(10), OrderStatus::AwaitingPayment);
        assert_eq!(status(20), OrderStatus::Paid);
        assert_eq!(status(30), OrderStatus::Shipped);
        assert_eq!(status(100), OrderStatus::Completed);
        assert_eq!(status(200), OrderStatus::Closed);
        assert_eq!(status(250), OrderStatus::Closed);
        assert_eq!(status(11), OrderStatus::Other("11".into()));
    }

    #[test]
    fn negative_amounts_are_protocol_errors() {
        let o: ShopOrder =
            serde_json::from_str(&READ.replace("\"real_price\":2500", "\"real_price\":-1"))
                .unwrap();
        let e = to_order(&o).unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::Protocol);
        assert!(e.message().contains("real_price"), "{e}");
    }

    #[test]
    fn the_request_writes_the_id_as_an_exact_integer() {
        let s = serde_json::to_string(&GetOrderRequest { order_id: u64::MAX }).unwrap();
        assert_eq!(s, r#"{"order_id":18446744073709551615}"#);
    }
}
