//! Wire types of `trade/modify`: the `request_data` object and the reply.

use order_domain::{PlatformError, PlatformErrorKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use transport_core::protocol_error;

use crate::failure::TradeModifyFailure;
use crate::generated::errors::TradeModifyError;
use crate::generated::params;

/// The `request_data` JSON object. Every field but `tradeno` is optional and left out of the
/// JSON when absent: EM changes only the fields that are sent (the item list, when sent,
/// replaces the whole list).
///
/// Field names are EM's, spelling included (`distrctname`). Ids and quantities travel as JSON
/// integers, as the page's field table declares them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeModifyRequest {
    /// Order number (required).
    pub tradeno: String,
    /// Shipping warehouse id (from EM's warehouse list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouseid: Option<u64>,
    /// Transport way: 1 own delivery, 2 dedicated logistics, 3 pick-up, 4 express, 5 other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transportway: Option<u8>,
    /// Logistics company; required for ways 2 and 4, left out otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logisticscompanyid: Option<u32>,
    /// Consignee name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receivername: Option<String>,
    /// Consignee mobile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    /// Province (with city and district, all or none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provincename: Option<String>,
    /// City (with province and district, all or none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cityname: Option<String>,
    /// District (EM's spelling; with province and city, all or none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distrctname: Option<String>,
    /// Street and number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Delivery date, `yyyy-MM-dd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliverydate: Option<String>,
    /// Logistics remark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// Order remark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traderemark: Option<String>,
    /// Logistics contact person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logisticscontact: Option<String>,
    /// Vehicle plate number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logisticscarnumber: Option<String>,
    /// Logistics contact's mobile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logisticsmobile: Option<String>,
    /// The full item list (every line of the order), when the items change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<TradeModifyItem>>,
}

impl TradeModifyRequest {
    /// A request for `tradeno` that changes nothing yet; set the fields to change.
    pub fn new(tradeno: impl Into<String>) -> Self {
        TradeModifyRequest {
            tradeno: tradeno.into(),
            ..TradeModifyRequest::default()
        }
    }

    /// The `request_data` text that is sent and signed, with ids and quantities as JSON
    /// integers.
    pub fn to_request_data(&self) -> Result<String, PlatformError> {
        self.to_request_data_as(EmNumberStyle::Integers)
    }

    /// The `request_data` text in the given number style.
    pub fn to_request_data_as(&self, style: EmNumberStyle) -> Result<String, PlatformError> {
        encode_request_data(self, style)
    }
}

/// The `request_data` text of `data` (a [`TradeModifyRequest`] or its borrowed form) in `style`.
pub(crate) fn encode_request_data<T: Serialize>(
    data: &T,
    style: EmNumberStyle,
) -> Result<String, PlatformError> {
    let encode_failed = |e: serde_json::Error| {
        PlatformError::new(
            PlatformErrorKind::InvalidRequest,
            None,
            format!("request_data could not be encoded: {e}"),
        )
    };
    match style {
        EmNumberStyle::Integers => serde_json::to_string(data).map_err(encode_failed),
        EmNumberStyle::Strings => {
            let mut v = serde_json::to_value(data).map_err(encode_failed)?;
            numbers_to_strings(&mut v);
            serde_json::to_string(&v).map_err(encode_failed)
        }
    }
}

/// How the integer fields of `request_data` (`warehouseid`, `transportway`,
/// `logisticscompanyid`, `items[].mainmeasunitqty`) are written.
///
/// EM's field table declares them integers while its published example sends them as JSON
/// strings (`"warehouseid": "5"`); which one a given EM deployment insists on is not published,
/// so it is configurable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum EmNumberStyle {
    /// JSON integers, as the field table declares (`"mainmeasunitqty": 10`). The default.
    #[default]
    Integers,
    /// JSON strings, as the published example (`"mainmeasunitqty": "10"`).
    Strings,
}

fn numbers_to_strings(v: &mut Value) {
    match v {
        Value::Number(n) => *v = Value::String(n.to_string()),
        Value::Array(a) => a.iter_mut().for_each(numbers_to_strings),
        Value::Object(o) => o.values_mut().for_each(numbers_to_strings),
        _ => {}
    }
}

/// One entry of the item list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeModifyItem {
    /// ERP product code.
    pub outerpcode: String,
    /// Quantity in the product's main unit, a whole number.
    pub mainmeasunitqty: u64,
    /// Line remark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
}

impl TradeModifyItem {
    /// An item line without remark.
    pub fn new(outerpcode: impl Into<String>, mainmeasunitqty: u64) -> Self {
        TradeModifyItem {
            outerpcode: outerpcode.into(),
            mainmeasunitqty,
            remark: None,
        }
    }

    /// With a line remark.
    #[must_use]
    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }
}

/// A successful `trade/modify` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TradeModified {
    /// The order number EM echoed in `data`.
    pub tradeno: Option<String>,
    /// EM's message (`修改成功`), verbatim.
    pub message: String,
    /// The reply body, verbatim.
    pub raw_reply: String,
}

fn code_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// The reply object `{statusCode, message, data}`; unknown fields are ignored. The three are
/// loosely typed on the wire (a code as a number or text, `data` the order number as text or a
/// number), so each is kept as JSON and read below, never through `f64`.
#[derive(Debug, Deserialize)]
struct Reply {
    #[serde(rename = "statusCode", default)]
    status_code: Option<Value>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    data: Option<Value>,
}

/// Decodes a reply body: `statusCode` 0 is success; any other code becomes the generated
/// [`TradeModifyError`] (code and message verbatim) as a [`PlatformError`]; a body that is not a
/// JSON object with a `statusCode` is a `Protocol` error.
///
/// `statusCode` is read leniently (a JSON number or a numeric string), and unknown fields are
/// ignored.
pub fn decode_reply(body: &[u8], secrets: &[&str]) -> Result<TradeModified, TradeModifyFailure> {
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(protocol_error("EM reply is not a JSON object", body, secrets).into());
    }
    let reply: Reply = serde_json::from_slice(body)
        .map_err(|e| protocol_error(&format!("EM reply is not JSON ({e})"), body, secrets))?;
    let Some(code) = reply.status_code.as_ref().and_then(code_text) else {
        return Err(protocol_error("EM reply has no usable statusCode", body, secrets).into());
    };
    let message = match reply.message {
        Some(Value::String(s)) => s,
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    if code == params::SUCCESS_STATUS_CODE.to_string() {
        let tradeno = match reply.data {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        Ok(TradeModified {
            tradeno,
            message,
            // serde_json skips unknown fields without checking their UTF-8: lossy, then.
            raw_reply: String::from_utf8_lossy(body).into_owned(),
        })
    } else {
        let error = TradeModifyError::from_reply(&code, &message);
        let domain = error.clone().into_platform_error();
        Err(TradeModifyFailure::Refused {
            error,
            domain: Box::new(domain),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_are_left_out_and_names_are_ems() {
        let mut r = TradeModifyRequest::new("DD1");
        r.distrctname = Some("嘉定区".into());
        r.transportway = Some(2);
        r.logisticscompanyid = Some(10);
        r.items = Some(vec![TradeModifyItem::new("ERP_1", 3).with_remark("备注")]);
        assert_eq!(
            r.to_request_data().unwrap(),
            r#"{"tradeno":"DD1","transportway":2,"logisticscompanyid":10,"distrctname":"嘉定区","items":[{"outerpcode":"ERP_1","mainmeasunitqty":3,"remark":"备注"}]}"#
        );
        assert_eq!(
            TradeModifyRequest::new("DD2").to_request_data().unwrap(),
            r#"{"tradeno":"DD2"}"#
        );
    }

    #[test]
    fn string_number_style_follows_the_published_example() {
        let mut r = TradeModifyRequest::new("DD1");
        r.warehouseid = Some(5);
        r.items = Some(vec![TradeModifyItem::new("ERP_1", 10)]);
        let v: Value =
            serde_json::from_str(&r.to_request_data_as(EmNumberStyle::Strings).unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"tradeno": "DD1", "warehouseid": "5",
                "items": [{"outerpcode": "ERP_1", "mainmeasunitqty": "10"}]})
        );
    }

    #[test]
    fn success_reply_carries_the_trade_number() {
        let body = r#"{"statusCode":0,"message":"修改成功","data":"DD202409260001","extra":1}"#;
        let ok = decode_reply(body.as_bytes(), &[]).unwrap();
        assert_eq!(ok.tradeno.as_deref(), Some("DD202409260001"));
        assert_eq!(ok.message, "修改成功");
        assert_eq!(ok.raw_reply, body);
    }

    #[test]
    fn documented_failures_keep_code_and_message() {
        let e = decode_reply(
            r#"{"statusCode":1002,"message":"修改三级地址时,省市区名称均不能为空","data":null}"#
                .as_bytes(),
            &[],
        )
        .unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::InvalidRequest);
        assert_eq!(e.code(), Some("1002"));
        assert_eq!(e.message(), "修改三级地址时,省市区名称均不能为空");

        let e = decode_reply(
            r#"{"statusCode":"-10","message":"产品[ERP_1113005]库存不足","data":null}"#.as_bytes(),
            &[],
        )
        .unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::RejectedByRule);
        assert_eq!(e.code(), Some("-10"));
        assert!(e.message().contains("ERP_1113005"));
    }

    #[test]
    fn undocumented_code_is_kept_raw() {
        let e = decode_reply(
            r#"{"statusCode":4711,"message":"奇怪","data":null}"#.as_bytes(),
            &[],
        )
        .unwrap_err();
        assert_eq!(e.code(), Some("4711"));
        assert_eq!(e.message(), "奇怪");
    }

    #[test]
    fn odd_replies_are_read_by_serde_alone() {
        assert_eq!(params::reply::STATUS_CODE, "statusCode");
        // (body, trade number, message) of successes.
        let ok: &[(&[u8], Option<&str>, &str)] = &[
            (br#"{"statusCode":0}"#, None, ""),
            (
                br#"{"statusCode":0,"message":null,"data":null,"x":[1,{"y":2.5}]}"#,
                None,
                "",
            ),
            (br#"{"statusCode":0,"message":"ok","data":""}"#, None, "ok"),
            (
                br#"{"statusCode":0,"message":"ok","data":12345678901234567890}"#,
                Some("12345678901234567890"),
                "ok",
            ),
            (
                br#"{"statusCode":0,"message":"ok","data":true}"#,
                None,
                "ok",
            ),
            (
                br#"{"statusCode":0,"message":"\u4fee\"","data":"D\u0044"}"#,
                Some("DD"),
                "修\"",
            ),
            (
                br#"{"statusCode":0,"message":7,"data":"D"}"#,
                Some("D"),
                "7",
            ),
            (
                br#"{"statusCode":"0","message":"ok","data":"D"}"#,
                Some("D"),
                "ok",
            ),
            (
                br#"{"statusCode":" 0 ","message":"ok","data":"D"}"#,
                Some("D"),
                "ok",
            ),
        ];
        for &(body, tradeno, message) in ok {
            let r = decode_reply(body, &[]).unwrap();
            let text = String::from_utf8_lossy(body);
            assert_eq!(r.tradeno.as_deref(), tradeno, "{text}");
            assert_eq!(r.message, message, "{text}");
            assert_eq!(r.raw_reply, text, "raw body kept");
        }
        // A code that is not 0, whatever its form, is a refusal with the code verbatim.
        for (body, code) in [
            (
                &br#"{"statusCode":0.0,"message":"ok","data":"D"}"#[..],
                "0.0",
            ),
            (br#"{"statusCode":-0,"message":"ok","data":"D"}"#, "-0"),
            (
                br#"{"statusCode":18446744073709551616}"#,
                "18446744073709551616",
            ),
        ] {
            let e = decode_reply(body, &[]).unwrap_err();
            assert_eq!(e.code(), Some(code), "{}", String::from_utf8_lossy(body));
        }
        for body in [
            &br#"{"statusCode":null}"#[..],
            br#"{"statusCode":0,"statusCode":5,"message":"ok"}"#,
            br#"[0,"ok","D"]"#,
            br#"{"statusCode":0} x"#,
        ] {
            let e = decode_reply(body, &["em-secret"]).unwrap_err();
            assert_eq!(
                e.kind(),
                PlatformErrorKind::Protocol,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn bad_bodies_are_protocol_errors() {
        for body in [
            "",
            "<html>busy</html>",
            r#"{"statusCode":0,"mess"#,
            "[1,2]",
            r#"{"message":"x"}"#,
        ] {
            let e = decode_reply(body.as_bytes(), &[]).unwrap_err();
            assert_eq!(e.kind(), PlatformErrorKind::Protocol, "{body}");
        }
    }
}
