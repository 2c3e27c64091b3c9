//! Wire types of `change_order_price` and the token endpoint.

use serde::{Deserialize, Serialize};

use transport_core::lenient::{i64_lenient, opt_i64_lenient, u64_lenient};

/// The body of `POST /product/order/change_order_price`. Amounts are integer fen; ids are
/// written as JSON integers exactly (values above 2^53 included) and read from numbers or
/// strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeOrderPriceRequest {
    /// The order.
    #[serde(deserialize_with = "u64_lenient")]
    pub order_id: u64,
    /// Whether the freight changes too.
    pub change_express: bool,
    /// New freight in fen; sent whenever it is `Some` (a `0` is sent, not dropped).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_i64_lenient"
    )]
    pub express_fee: Option<i64>,
    /// The SKU lines whose total changes; lines not listed keep their price.
    pub change_order_infos: Vec<ChangeOrderInfo>,
}

/// One SKU line's new total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeOrderInfo {
    /// Product of the line.
    #[serde(deserialize_with = "u64_lenient")]
    pub product_id: u64,
    /// SKU of the line.
    #[serde(deserialize_with = "u64_lenient")]
    pub sku_id: u64,
    /// The line's new **total** in fen (not a unit price, not a difference).
    #[serde(deserialize_with = "i64_lenient")]
    pub change_price: i64,
}

/// A successful reply (`errcode` 0), with the body kept verbatim.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_above_2_pow_53_are_written_and_read_exactly() {
        let req = ChangeOrderPriceRequest {
            order_id: 3_705_115_058_471_208_928,
            change_express: true,
            express_fee: Some(0),
            change_order_infos: vec![ChangeOrderInfo {
                product_id: 9_007_199_254_740_993,
                sku_id: u64::MAX,
                change_price: 300,
            }],
        };
        let s = serde_json::to_string(&req).unwrap();
        assert_eq!(
            s,
            r#"{"order_id":3705115058471208928,"change_express":true,"express_fee":0,"change_order_infos":[{"product_id":9007199254740993,"sku_id":18446744073709551615,"change_price":300}]}"#
        );
        assert_eq!(
            serde_json::from_str::<ChangeOrderPriceRequest>(&s).unwrap(),
            req
        );
        let as_strings = r#"{"order_id":"3705115058471208928","change_express":true,"express_fee":"0",
            "change_order_infos":[{"product_id":"9007199254740993","sku_id":"18446744073709551615","change_price":"300"}]}"#;
        assert_eq!(
            serde_json::from_str::<ChangeOrderPriceRequest>(as_strings).unwrap(),
            req
        );
    }

    #[test]
    fn express_fee_absent_when_none() {
        let req = ChangeOrderPriceRequest {
            order_id: 1,
            change_express: false,
            express_fee: None,
            change_order_infos: vec![],
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"order_id":1,"change_express":false,"change_order_infos":[]}"#
        );
    }

    #[test]
    fn envelope_accepts_string_codes_and_extra_fields() {
        let e: Envelope =
            serde_json::from_str(r#"{"errcode":"108022","errmsg":"x","new":[1]}"#).unwrap();
        assert_eq!(e.errcode, Some(108_022));
        assert_eq!(e.errmsg.as_deref(), Some("x"));
    }
}
