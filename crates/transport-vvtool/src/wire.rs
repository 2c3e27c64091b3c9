//! Wire types of `POST /tool/erps/1688modify-order-price`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use transport_core::lenient::{i64_lenient, opt_i64_lenient, u64_lenient};

/// The request body. Amounts are integer fen; ids are written as JSON integers exactly (up to
/// 19 digits, above 2^53) and read from numbers or strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModifyOrderPriceRequest {
    /// vv-tool id of the authorised shop.
    pub shop_id: String,
    /// The 1688 order.
    #[serde(deserialize_with = "u64_lenient")]
    pub order_id: u64,
    /// Freight after the change, in fen; always sent (`0` included).
    #[serde(deserialize_with = "i64_lenient")]
    pub carriage: i64,
    /// One entry per open order entry; sent as a JSON array.
    pub entry_discounts: Vec<EntryDiscount>,
}

/// The discount of one order entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryDiscount {
    /// The entry (sub-order) id.
    #[serde(deserialize_with = "u64_lenient")]
    pub id: u64,
    /// Signed fen against the entry's **original** amount (negative lowers); replaces any
    /// earlier discount of the entry.
    #[serde(deserialize_with = "i64_lenient")]
    pub discount: i64,
}

/// A successful reply: envelope `code` 0 and `data.success` true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifyOrderPriceReply {
    /// What the call cost (`data.withholding_money`, vv-tool points), as sent.
    pub withholding_money: Option<String>,
    /// Time vv-tool spent (`msec`).
    pub msec: Option<i64>,
    /// The reply body as received.
    pub raw: String,
}

/// The envelope `{code, msg, msec, time, data}`; unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    #[serde(default, deserialize_with = "opt_i64_lenient")]
    pub code: Option<i64>,
    #[serde(default)]
    pub msg: Option<String>,
    #[serde(default, deserialize_with = "opt_i64_lenient")]
    pub msec: Option<i64>,
    #[serde(default)]
    pub data: Option<Value>,
}

/// `data` of a handled call.
#[derive(Debug, Deserialize)]
pub(crate) struct Data {
    #[serde(default)]
    pub success: Option<Value>,
    #[serde(default)]
    pub result_code: Option<String>,
    #[serde(default)]
    pub result_msg: Option<String>,
    #[serde(default)]
    pub withholding_money: Option<Value>,
}

impl Data {
    /// `success` as a bool, accepting `true`/`false` and their string forms.
    pub fn success(&self) -> Option<bool> {
        match self.success.as_ref()? {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// `withholding_money` as its text (number or string), never through `f64`.
    pub fn cost(&self) -> Option<String> {
        match self.withholding_money.as_ref()? {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        }
    }
}

/// The authorisation link of a `302` reply: `data.auth_url` (or any `http(s)` text in `data`),
/// else a link inside `msg`.
pub(crate) fn auth_link(data: Option<&Value>, msg: &str) -> Option<String> {
    fn find(v: &Value) -> Option<String> {
        match v {
            Value::String(s) if s.starts_with("http://") || s.starts_with("https://") => {
                Some(s.clone())
            }
            Value::Object(m) => m
                .get("auth_url")
                .and_then(find)
                .or_else(|| m.values().find_map(find)),
            Value::Array(a) => a.iter().find_map(find),
            _ => None,
        }
    }
    data.and_then(find).or_else(|| {
        let start = msg.find("http")?;
        let link: String = msg[start..]
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '<' | '>' | ','))
            .collect();
        Some(link)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_form_keeps_big_ids_and_zero_carriage() {
        let req = ModifyOrderPriceRequest {
            shop_id: "daa-16165961198".into(),
            order_id: 2_198_111_437_768_747_370,
            carriage: 0,
            entry_discounts: vec![EntryDiscount {
                id: 2_198_111_437_768_747_371,
                discount: -20,
            }],
        };
        let s = serde_json::to_string(&req).unwrap();
        assert_eq!(
            s,
            r#"{"shop_id":"daa-16165961198","order_id":2198111437768747370,"carriage":0,"entry_discounts":[{"id":2198111437768747371,"discount":-20}]}"#
        );
        assert_eq!(
            serde_json::from_str::<ModifyOrderPriceRequest>(&s).unwrap(),
            req
        );
        let strings = r#"{"shop_id":"daa-16165961198","order_id":"2198111437768747370","carriage":"0",
            "entry_discounts":[{"id":"2198111437768747371","discount":"-20"}]}"#;
        assert_eq!(
            serde_json::from_str::<ModifyOrderPriceRequest>(strings).unwrap(),
            req
        );
    }

    #[test]
    fn data_reads_lenient_success_and_exact_cost() {
        let d: Data =
            serde_json::from_str(r#"{"success":"true","withholding_money":12.50}"#).unwrap();
        assert_eq!(d.success(), Some(true));
        assert_eq!(d.cost().as_deref(), Some("12.50"));
    }

    #[test]
    fn auth_link_from_data_or_message() {
        let data: Value = serde_json::from_str(r#"{"auth_url":"https://x/auth?shop=1"}"#).unwrap();
        assert_eq!(
            auth_link(Some(&data), "").as_deref(),
            Some("https://x/auth?shop=1")
        );
        let data: Value = serde_json::from_str(r#"{"qr":{"link":"http://q/1"}}"#).unwrap();
        assert_eq!(auth_link(Some(&data), "").as_deref(), Some("http://q/1"));
        assert_eq!(
            auth_link(None, "未授权店铺 https://vv/a?s=2 扫码").as_deref(),
            Some("https://vv/a?s=2")
        );
        assert_eq!(auth_link(None, "未授权店铺"), None);
    }
}
