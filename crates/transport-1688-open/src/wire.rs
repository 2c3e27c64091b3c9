//! Wire types of `trade.order.modifyOrderPrice` and `alibaba.trade.get.sellerView`, read by
//! serde derive. Ids are kept as their decimal text, yuan amounts are read exactly from their
//! literal ([`Amount`]), fen amounts as integers; nothing passes through `f64`.

use order_domain::Amount;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use transport_core::lenient::opt_i64_lenient;

use crate::generated::params;

/// A price change: the order, the freight after the change and one discount per open entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifyOrderPriceRequest {
    /// The 1688 order (19 digits fit a `u64`, not an `f64`).
    pub order_id: u64,
    /// Freight after the change, in fen; always sent (`0` included).
    pub carriage: i64,
    /// One entry per open order entry.
    pub entry_discounts: Vec<EntryDiscount>,
}

/// The discount of one order entry, as it appears inside `entryDiscounts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EntryDiscount {
    /// The entry (sub-order) id.
    pub id: u64,
    /// Signed fen against the entry's **original** amount (negative lowers); replaces the
    /// entry's earlier discount.
    pub discount: i64,
}

impl ModifyOrderPriceRequest {
    /// The business parameters as sent (before the system ones): `orderId`, `carriage` and
    /// `entryDiscounts` as a JSON string with integer ids.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        // Serializing integers cannot fail.
        let discounts =
            serde_json::to_string(&self.entry_discounts).unwrap_or_else(|_| "[]".to_owned());
        vec![
            (params::ORDER_ID, self.order_id.to_string()),
            (params::CARRIAGE, self.carriage.to_string()),
            (params::ENTRY_DISCOUNTS, discounts),
        ]
    }
}

/// The reply of the price change.
#[derive(Debug, Deserialize)]
pub(crate) struct ModifyReply {
    /// The gateway's refusal: `error_code`.
    #[serde(default, rename = "error_code", deserialize_with = "opt_text")]
    pub gw_code: Option<String>,
    /// The gateway's refusal: `error_message`.
    #[serde(default, rename = "error_message", deserialize_with = "opt_text")]
    pub gw_message: Option<String>,
    #[serde(default, deserialize_with = "opt_flag")]
    pub result: Option<bool>,
    #[serde(default, rename = "resultCode", deserialize_with = "opt_text")]
    pub result_code: Option<String>,
    #[serde(default, rename = "resultMsg", deserialize_with = "opt_text")]
    pub result_msg: Option<String>,
}

/// A successful price change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifyOrderPriceReply {
    /// The reply body as received (secrets masked).
    pub raw: String,
}

/// The reply of the seller's order read.
#[derive(Debug, Deserialize)]
pub(crate) struct SellerViewReply {
    /// The gateway's refusal: `error_code`.
    #[serde(default, rename = "error_code", deserialize_with = "opt_text")]
    pub gw_code: Option<String>,
    /// The gateway's refusal: `error_message`.
    #[serde(default, rename = "error_message", deserialize_with = "opt_text")]
    pub gw_message: Option<String>,
    #[serde(default)]
    pub result: Option<TradeInfo>,
    #[serde(default, deserialize_with = "opt_flag")]
    pub success: Option<bool>,
    #[serde(default, rename = "errorCode", deserialize_with = "opt_text")]
    pub error_code: Option<String>,
    #[serde(default, rename = "errorMessage", deserialize_with = "opt_text")]
    pub error_message: Option<String>,
}

/// An order as the seller sees it (the parts ordermod reads; the rest is ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TradeInfo {
    /// Order-level fields.
    pub base_info: BaseInfo,
    /// The entries.
    #[serde(default)]
    pub product_items: Vec<ProductItem>,
}

/// `result.baseInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BaseInfo {
    /// `idOfStr`, authoritative when present.
    #[serde(default, deserialize_with = "opt_text")]
    pub id_of_str: Option<String>,
    /// `id` as its literal text (possibly float-corrupted upstream).
    #[serde(default, deserialize_with = "opt_text")]
    pub id: Option<String>,
    /// 1688 status text.
    pub status: String,
    /// Trade type (`6`, `8`, `9`, `10` allow price changes).
    #[serde(default, deserialize_with = "opt_text")]
    pub trade_type: Option<String>,
    /// Freight now, yuan.
    #[serde(default)]
    pub shipping_fee: Option<Amount>,
    /// Order total, yuan (kept for reference).
    #[serde(default)]
    pub total_amount: Option<Amount>,
}

impl BaseInfo {
    /// The order id: `idOfStr` when present, else `id`.
    pub fn order_id(&self) -> Option<&str> {
        self.id_of_str.as_deref().or(self.id.as_deref())
    }
}

/// One entry of `result.productItems`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ProductItem {
    /// `subItemIDString`, authoritative when present.
    #[serde(default, rename = "subItemIDString", deserialize_with = "opt_text")]
    pub sub_item_id_string: Option<String>,
    /// `subItemID` as its literal text.
    #[serde(default, rename = "subItemID", deserialize_with = "opt_text")]
    pub sub_item_id: Option<String>,
    /// The entry's total after its discount, yuan.
    #[serde(default)]
    pub item_amount: Option<Amount>,
    /// Unit price, yuan.
    #[serde(default)]
    pub price: Option<Amount>,
    /// Quantity.
    #[serde(default)]
    pub quantity: Option<Amount>,
    /// Discount applied to the entry, signed fen.
    #[serde(default, deserialize_with = "opt_i64_lenient")]
    pub entry_discount: Option<i64>,
    /// Entry status (`cancel`, `terminated` are closed).
    #[serde(default)]
    pub status: Option<String>,
    /// Product id.
    #[serde(default, rename = "productID", deserialize_with = "opt_text")]
    pub product_id: Option<String>,
    /// SKU id.
    #[serde(default, rename = "skuID", deserialize_with = "opt_text")]
    pub sku_id: Option<String>,
    /// Product name.
    #[serde(default)]
    pub name: Option<String>,
    /// Unit of measure.
    #[serde(default)]
    pub unit: Option<String>,
}

impl ProductItem {
    /// The entry id: `subItemIDString` when present, else `subItemID`.
    pub fn entry_id(&self) -> Option<&str> {
        self.sub_item_id_string
            .as_deref()
            .or(self.sub_item_id.as_deref())
    }
}

/// Text or a number kept as its literal text (exact under `arbitrary_precision`); `null` and
/// absent are `None`.
fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected text or a number, found {other}"
        ))),
    }
}

/// `true` / `false`, or their text forms in any case.
fn opt_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected a boolean, found {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_keep_big_ids_and_zero_carriage() {
        let req = ModifyOrderPriceRequest {
            order_id: 2_198_111_437_768_747_370,
            carriage: 0,
            entry_discounts: vec![EntryDiscount {
                id: 2_198_111_437_768_747_371,
                discount: -20,
            }],
        };
        assert_eq!(
            req.params(),
            vec![
                ("orderId", "2198111437768747370".to_owned()),
                ("carriage", "0".to_owned()),
                (
                    "entryDiscounts",
                    r#"[{"id":2198111437768747371,"discount":-20}]"#.to_owned()
                ),
            ]
        );
    }

    #[test]
    fn seller_view_reads_ids_as_text_and_yuan_exactly() {
        let body = r#"{"success":"true","result":{"baseInfo":{"id":58218860983545944,
            "idOfStr":"58218860983545941","status":"waitbuyerpay","tradeType":"6",
            "shippingFee":6,"totalAmount":6.15},
            "productItems":[{"itemAmount":0.3,"price":0.3,"quantity":1,"entryDiscount":0,
            "subItemID":128403042259997710,"subItemIDString":"128403042259997715"},
            {"itemAmount":0.05,"subItemID":58218860985545944,"entryDiscount":-5}]}}"#;
        let r: SellerViewReply = serde_json::from_str(body).unwrap();
        assert_eq!(r.success, Some(true));
        let t = r.result.unwrap();
        assert_eq!(t.base_info.order_id(), Some("58218860983545941"));
        assert_eq!(t.base_info.id.as_deref(), Some("58218860983545944"));
        assert_eq!(t.base_info.total_amount.unwrap().to_string(), "6.15");
        assert_eq!(t.product_items[0].entry_id(), Some("128403042259997715"));
        assert_eq!(t.product_items[1].entry_id(), Some("58218860985545944"));
        assert_eq!(t.product_items[0].item_amount.unwrap().to_string(), "0.3");
        assert_eq!(t.product_items[1].entry_discount, Some(-5));
    }

    #[test]
    fn modify_reply_reads_flags_and_gateway_fields() {
        let r: ModifyReply =
            serde_json::from_str(r#"{"result":"false","resultCode":"X","resultMsg":"no"}"#)
                .unwrap();
        assert_eq!(r.result, Some(false));
        assert_eq!(r.result_code.as_deref(), Some("X"));
        let r: ModifyReply =
            serde_json::from_str(r#"{"error_code":401,"error_message":"need auth"}"#).unwrap();
        assert_eq!(r.gw_code.as_deref(), Some("401"));
        assert_eq!(r.result, None);
    }
}
