//! Wire types of the three Channels calls. Amounts are integer fen; ids are sent as decimal
//! strings (as the published examples send them) and read from numbers or strings, exactly.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use transport_core::lenient::{i64_lenient, opt_i64_lenient, u64_lenient};

/// Writes a `u64` id as a JSON string, exactly.
fn id_as_string<S: Serializer>(id: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

/// `bool` that also accepts `0`/`1` (WeChat writes flags either way).
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        B(bool),
        N(i64),
    }
    Ok(Option::<Flag>::deserialize(d)?.map(|f| match f {
        Flag::B(b) => b,
        Flag::N(n) => n != 0,
    }))
}

/// The body of `POST /channels/ec/order/price/update`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceUpdateRequest {
    /// The order.
    #[serde(serialize_with = "id_as_string", deserialize_with = "u64_lenient")]
    pub order_id: u64,
    /// Every SKU line whose total differs from its original (each change replaces the
    /// earlier ones).
    pub change_order_infos: Vec<ChangeOrderInfo>,
    /// Whether the freight is stated.
    pub change_express: bool,
    /// New freight in fen; sent whenever it is `Some` (a `0` is sent, not dropped).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_i64_lenient"
    )]
    pub express_fee: Option<i64>,
}

/// One SKU line's new total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeOrderInfo {
    /// Product of the line.
    #[serde(serialize_with = "id_as_string", deserialize_with = "u64_lenient")]
    pub product_id: u64,
    /// SKU of the line.
    #[serde(serialize_with = "id_as_string", deserialize_with = "u64_lenient")]
    pub sku_id: u64,
    /// The line's new **total** in fen (not a unit price, not a difference).
    #[serde(deserialize_with = "i64_lenient")]
    pub change_price: i64,
}

/// The body of `POST /channels/ec/order/address/update`: the whole new address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressUpdateRequest {
    /// The order.
    #[serde(serialize_with = "id_as_string", deserialize_with = "u64_lenient")]
    pub order_id: u64,
    /// The new address.
    pub user_address: UserAddress,
}

/// An address on the wire (`user_address`, and `delivery_info.address_info` in reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAddress {
    /// Receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province_name: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city_name: Option<String>,
    /// District.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub county_name: Option<String>,
    /// Street address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail_info: Option<String>,
    /// Country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub national_code: Option<String>,
    /// Receiver's phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tel_number: Option<String>,
    /// House number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub house_number: Option<String>,
    /// Phone for virtual goods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_order_tel_number: Option<String>,
}

/// The body of `POST /channels/ec/order/get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GetOrderRequest {
    /// The order, sent as a string.
    #[serde(serialize_with = "id_as_string")]
    pub order_id: u64,
}

/// A successful reply (`errcode` 0), with the body kept verbatim (secrets redacted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// `errcode` (0).
    pub errcode: i64,
    /// `errmsg`, verbatim.
    pub errmsg: String,
    /// The reply body as received.
    pub raw: String,
}

/// The `{errcode, errmsg}` envelope; unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    #[serde(default, deserialize_with = "opt_i64_lenient")]
    pub errcode: Option<i64>,
    #[serde(default)]
    pub errmsg: Option<String>,
}

/// The `order/get` reply's order, as far as the transport reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChannelsOrder {
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
    /// What the line costs now, fen (*assumed*).
    #[serde(default, deserialize_with = "opt_i64_lenient")]
    pub real_price: Option<i64>,
    /// Product title.
    #[serde(default)]
    pub title: Option<String>,
}

/// `order_detail.price_info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PriceInfo {
    /// Freight now, fen.
    #[serde(default, deserialize_with = "opt_i64_lenient")]
    pub freight: Option<i64>,
    /// Order total now, fen.
    #[serde(default, deserialize_with = "opt_i64_lenient")]
    pub order_price: Option<i64>,
    /// Whether the freight was changed.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub is_change_freight: Option<bool>,
    /// Freight before the change, fen (*assumed*).
    #[serde(default, deserialize_with = "opt_i64_lenient")]
    pub change_freight: Option<i64>,
}

/// `order_detail.delivery_info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct DeliveryInfo {
    /// The delivery address.
    #[serde(default)]
    pub address_info: Option<UserAddress>,
}

/// The `order/get` reply body.
#[derive(Debug, Deserialize)]
pub(crate) struct GetOrderReply {
    pub order: Option<ChannelsOrder>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sent_as_strings_and_read_from_either_form_exactly() {
        let req = PriceUpdateRequest {
            order_id: 3_705_115_058_471_208_928,
            change_order_infos: vec![ChangeOrderInfo {
                product_id: 9_007_199_254_740_993,
                sku_id: u64::MAX,
                change_price: 300,
            }],
            change_express: true,
            express_fee: Some(0),
        };
        let s = serde_json::to_string(&req).unwrap();
        assert_eq!(
            s,
            r#"{"order_id":"3705115058471208928","change_order_infos":[{"product_id":"9007199254740993","sku_id":"18446744073709551615","change_price":300}],"change_express":true,"express_fee":0}"#
        );
        assert_eq!(serde_json::from_str::<PriceUpdateRequest>(&s).unwrap(), req);
        let numbers = r#"{"order_id":3705115058471208928,"change_order_infos":[{"product_id":9007199254740993,"sku_id":18446744073709551615,"change_price":"300"}],"change_express":true,"express_fee":0}"#;
        assert_eq!(
            serde_json::from_str::<PriceUpdateRequest>(numbers).unwrap(),
            req
        );
    }

    #[test]
    fn a_read_order_accepts_number_or_string_ids_and_flags() {
        let o: ChannelsOrder = serde_json::from_str(
            r#"{"order_id":"3705115058471208928","status":10,"order_detail":{
                "product_infos":[{"product_id":1,"sku_id":"2","sku_cnt":3,"sale_price":100,"real_price":250}],
                "price_info":{"freight":0,"is_change_freight":1,"change_freight":500},
                "delivery_info":{"address_info":{"user_name":"陈","tel_number":"1"}}}}"#,
        )
        .unwrap();
        assert_eq!(o.order_id, 3_705_115_058_471_208_928);
        assert_eq!(o.order_detail.price_info.is_change_freight, Some(true));
        assert_eq!(o.order_detail.product_infos[0].real_price, Some(250));
    }
}
