//! Wire types of `alibaba.trade.order.modify`: `param_order_modify` and the replies.
//!
//! Amounts and quantities are decimal **strings** in major units of `payment_detail.currency`,
//! kept as text so they never pass through floating point.

use std::collections::BTreeMap;

use order_domain::{PlatformError, PlatformErrorKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use transport_core::protocol_error;

use crate::failure::{OrderModifyFailure, OrderModifyRefusal};
use crate::generated::errors::{OrderModifyGatewayError, OrderModifyResultError};
use crate::generated::params;

/// `param_order_modify`: the whole new terms of the order (full replacement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderModifyRequest {
    /// The order (a long id, as text).
    pub trade_id: String,
    /// Logistics terms.
    pub logistics_detail: LogisticsDetail,
    /// Payment breakdown.
    pub payment_detail: PaymentDetail,
    /// Order remark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// Every product of the order.
    pub product_list: Vec<Product>,
    /// The order version read before the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl OrderModifyRequest {
    /// A request from its required parts.
    pub fn new(
        trade_id: impl Into<String>,
        logistics_detail: LogisticsDetail,
        payment_detail: PaymentDetail,
        product_list: Vec<Product>,
    ) -> Self {
        OrderModifyRequest {
            trade_id: trade_id.into(),
            logistics_detail,
            payment_detail,
            remark: None,
            product_list,
            version: None,
        }
    }

    /// The `param_order_modify` text that is sent and signed.
    pub fn to_param(&self) -> Result<String, PlatformError> {
        serde_json::to_string(self).map_err(|e| {
            PlatformError::new(
                PlatformErrorKind::InvalidRequest,
                None,
                format!("param_order_modify could not be encoded: {e}"),
            )
        })
    }
}

/// `logistics_detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogisticsDetail {
    /// Where the goods go.
    pub shipment_address: ShipmentAddress,
    /// How the goods ship (sea, air, express...).
    pub shipment_method: String,
    /// Trade term (an Incoterm, e.g. FOB).
    pub trade_term: String,
    /// Carrier name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// Carrier code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier_code: Option<String>,
    /// When the goods ship.
    pub shipment_date: ShipmentDate,
    /// Fulfilment channel (e.g. `TAD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfillment_channel: Option<String>,
}

impl LogisticsDetail {
    /// Logistics from the required parts.
    pub fn new(
        shipment_address: ShipmentAddress,
        shipment_method: impl Into<String>,
        trade_term: impl Into<String>,
        shipment_date: ShipmentDate,
    ) -> Self {
        LogisticsDetail {
            shipment_address,
            shipment_method: shipment_method.into(),
            trade_term: trade_term.into(),
            carrier: None,
            carrier_code: None,
            shipment_date,
            fulfillment_channel: None,
        }
    }
}

/// `shipment_address`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentAddress {
    /// Postcode.
    pub zip: String,
    /// Country name.
    pub country: String,
    /// Street address.
    pub address: String,
    /// City.
    pub city: String,
    /// Province or state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province_code: Option<String>,
    /// City code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city_code: Option<String>,
    /// Consignee.
    pub contact_person: String,
    /// Consignee phone.
    pub telephone: Phone,
    /// Fax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fax: Option<Phone>,
    /// Alternative address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternate_address: Option<String>,
}

/// `telephone` and `fax`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone {
    /// Area code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    /// Country calling code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
}

impl Phone {
    /// A phone from its parts.
    pub fn new(area: Option<String>, country: Option<String>, number: Option<String>) -> Self {
        Phone {
            area,
            country,
            number,
        }
    }
}

/// `shipment_date`: days after payment (`duration`) or an absolute `date`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentDate {
    /// Days after the advance or balance payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u32>,
    /// Absolute date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<DateVo>,
    /// Which applies (e.g. `absolute`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl ShipmentDate {
    /// Ship `days` after payment.
    pub fn after_days(days: u32) -> Self {
        ShipmentDate {
            duration: Some(days),
            ..ShipmentDate::default()
        }
    }

    /// Ship on `yyyy-MM-dd` (`type` = `absolute`).
    pub fn on(date: impl Into<String>) -> Self {
        ShipmentDate {
            duration: None,
            date: Some(DateVo {
                format_date: Some(date.into()),
                time_stamp: None,
            }),
            kind: Some("absolute".to_owned()),
        }
    }
}

/// `date` of a shipment date.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateVo {
    /// `yyyy-MM-dd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_date: Option<String>,
    /// The date as a number (unit not documented by the platform).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_stamp: Option<i64>,
}

/// `payment_detail`: decimal strings in major units of `currency`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDetail {
    /// Freight.
    pub shipment_fee: String,
    /// Order total = products + freight + insurance + value-added services + tax.
    pub total_amount: String,
    /// Goods total = Σ quantity × unit price.
    pub product_amount: String,
    /// Shipping insurance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment_insurance_fee: Option<String>,
    /// Advance payment, 0 to the total.
    pub initial_amount: String,
    /// Value-added services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_add_service_amount: Option<String>,
    /// Tax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_amount: Option<String>,
    /// ISO 4217 code; USD when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// One entry of `product_list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Product id (a number on the wire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<u64>,
    /// Product name.
    pub name: String,
    /// SKU id; `-1` for a product without SKUs.
    pub sku_id: String,
    /// Unit of the quantity (e.g. `set`).
    pub unit: String,
    /// Quantity, a decimal string.
    pub quantity: String,
    /// Unit price, a decimal string in major units.
    pub unit_price_str: String,
    /// Currency of the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Encrypted product id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypt_product_id: Option<String>,
    /// Extension attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,
}

/// A successful modification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrderModified {
    /// `value.trade_id`.
    pub trade_id: Option<String>,
    /// `value.pay_url`.
    pub pay_url: Option<String>,
    /// The reply body, verbatim.
    pub raw_reply: String,
}

/// Text of a JSON scalar: strings as they are, numbers as their literal (exact with
/// `arbitrary_precision`), anything else none.
fn scalar_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A JSON object read into `T`. serde's derived structs also accept a JSON array, field by
/// field; this reads objects only, so a reply of the wrong shape is a protocol error rather
/// than a positional misreading.
#[derive(Debug)]
struct Obj<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Only<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Only<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Only(std::marker::PhantomData)).map(Obj)
    }
}

/// A TOP reply: the operation's response or the gateway's `error_response`; other fields are
/// ignored. Field names are the generated `params` constants (pinned by a test).
#[derive(Debug, Deserialize)]
struct TopReply {
    #[serde(default)]
    alibaba_trade_order_modify_response: Option<Obj<ModifyResponse>>,
    #[serde(default)]
    error_response: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct ModifyResponse {
    #[serde(default)]
    result: Option<Obj<ModifyResult>>,
}

/// `result`: loosely typed on the wire (`success` a bool or its text, codes numbers or text,
/// `value` an object or not), so the scalars are kept as JSON and read by [`scalar_text`].
#[derive(Debug, Deserialize)]
struct ModifyResult {
    #[serde(default)]
    success: Option<Value>,
    #[serde(default)]
    error_code: Option<Value>,
    #[serde(default)]
    error_message: Option<Value>,
    #[serde(default)]
    value: Option<Value>,
}

/// Decodes a gateway reply: the normal envelope, a `result.success = false` business error, or
/// an `error_response`. A body that is none of these is a `Protocol` error.
pub fn decode_reply(body: &[u8], secrets: &[&str]) -> Result<OrderModified, OrderModifyFailure> {
    let reply: Obj<TopReply> = serde_json::from_slice(body)
        .map_err(|e| protocol_error(&format!("TOP reply is not JSON ({e})"), body, secrets))?;
    let reply = reply.0;
    if let Some(err) = reply.error_response {
        let Value::Object(err) = err else {
            return Err(
                protocol_error("TOP error_response is not an object", body, secrets).into(),
            );
        };
        return Err(gateway_error(&err, body, secrets));
    }
    let result = reply
        .alibaba_trade_order_modify_response
        .and_then(|r| r.0.result)
        .map(|r| r.0);
    let Some(result) = result else {
        return Err(protocol_error(
            "TOP reply has neither alibaba_trade_order_modify_response.result nor error_response",
            body,
            secrets,
        )
        .into());
    };
    let success = match &result.success {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s == "true" => true,
        Some(Value::String(s)) if s == "false" => false,
        _ => {
            return Err(protocol_error("TOP result has no boolean success", body, secrets).into());
        }
    };
    if !success {
        let code = scalar_text(result.error_code.as_ref()).unwrap_or_default();
        let message = scalar_text(result.error_message.as_ref()).unwrap_or_default();
        return Err(result_error(&code, &message));
    }
    let value = result.value.as_ref().and_then(Value::as_object);
    Ok(OrderModified {
        trade_id: value.and_then(|v| scalar_text(v.get(params::reply::TRADE_ID))),
        pay_url: value.and_then(|v| scalar_text(v.get(params::reply::PAY_URL))),
        // serde_json skips unknown fields without checking their UTF-8: lossy, then.
        raw_reply: String::from_utf8_lossy(body).into_owned(),
    })
}

/// A business failure (`result.success = false`), classified by the generated table.
pub fn result_error(code: &str, message: &str) -> OrderModifyFailure {
    let error = OrderModifyResultError::from_reply(code.trim(), message);
    let domain = error.clone().into_platform_error();
    OrderModifyFailure::refused(OrderModifyRefusal::Result(error), domain)
}

/// A gateway `error_response`, classified by the generated table and refined by `sub_code`:
///
/// - `sub_code` starting with `isp.` (the platform's own service failing, e.g.
///   `isp.service-unavailable`) → `Transient`, whatever the code;
/// - `sub_code` naming a limit (`isv.*-limit`, `accesscontrol.limited-*`) → `RateLimited`;
/// - code 15 with `sub_code` `isv.invalid-parameter` / `isv.missing-parameter` →
///   `InvalidRequest`.
///
/// The message is `sub_msg` when present, else `msg`; the detail keeps `msg`, `sub_code`,
/// `sub_msg` and `request_id`.
pub fn gateway_error(
    err: &Map<String, Value>,
    body: &[u8],
    secrets: &[&str],
) -> OrderModifyFailure {
    use params::error_response as f;
    let Some(code) = scalar_text(err.get(f::CODE)).filter(|c| !c.trim().is_empty()) else {
        return protocol_error("TOP error_response has no code", body, secrets).into();
    };
    let code = code.trim().to_owned();
    let msg = scalar_text(err.get(f::MSG)).unwrap_or_default();
    let sub_code = scalar_text(err.get(f::SUB_CODE)).filter(|s| !s.is_empty());
    let sub_msg = scalar_text(err.get(f::SUB_MSG)).filter(|s| !s.is_empty());
    let request_id = scalar_text(err.get(f::REQUEST_ID)).filter(|s| !s.is_empty());
    let message = sub_msg.clone().unwrap_or_else(|| msg.clone());

    let generated = OrderModifyGatewayError::from_reply(&code, &message);
    let mut kind = generated.kind();
    if let Some(sc) = sub_code.as_deref() {
        if sc.starts_with("isp.") {
            kind = PlatformErrorKind::Transient;
        } else if sc.contains("-limit") || sc.contains(".limited") {
            kind = PlatformErrorKind::RateLimited;
        } else if matches!(
            generated,
            OrderModifyGatewayError::RemoteServiceError { .. }
        ) && (sc.ends_with("invalid-parameter") || sc.ends_with("missing-parameter"))
        {
            kind = PlatformErrorKind::InvalidRequest;
        }
    }
    let mut detail = vec![format!("msg: {msg}")];
    if let Some(sc) = &sub_code {
        detail.push(format!("sub_code: {sc}"));
    }
    if let Some(sm) = &sub_msg {
        detail.push(format!("sub_msg: {sm}"));
    }
    if let Some(r) = &request_id {
        detail.push(format!("request_id: {r}"));
    }
    let domain = PlatformError::new(kind, Some(generated.code().to_owned()), message)
        .with_detail(detail.join("; "));
    OrderModifyFailure::refused(OrderModifyRefusal::Gateway(generated), domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> PlatformError {
        decode_reply(body.as_bytes(), &[]).unwrap_err().into()
    }

    #[test]
    fn success_envelope() {
        let body = r#"{"alibaba_trade_order_modify_response":{"result":{"success":true,"value":{"trade_id":24668306501026709,"pay_url":"cashier.alibaba.com"}},"request_id":"r1"}}"#;
        let ok = decode_reply(body.as_bytes(), &[]).unwrap();
        assert_eq!(ok.trade_id.as_deref(), Some("24668306501026709"));
        assert_eq!(ok.pay_url.as_deref(), Some("cashier.alibaba.com"));
        assert_eq!(ok.raw_reply, body);
    }

    #[test]
    fn business_failures() {
        let e = err(
            r#"{"alibaba_trade_order_modify_response":{"result":{"success":false,"error_code":"400","error_message":"invalid request"}}}"#,
        );
        assert_eq!(e.kind(), PlatformErrorKind::InvalidRequest);
        assert_eq!(e.code(), Some("400"));
        assert_eq!(e.message(), "invalid request");

        let e = err(
            r#"{"alibaba_trade_order_modify_response":{"result":{"success":false,"error_code":"ORDER_VERSION_CONFLICT","error_message":"version 1 is stale"}}}"#,
        );
        assert_eq!(e.kind(), PlatformErrorKind::Conflict);
        assert_eq!(e.code(), Some("ORDER_VERSION_CONFLICT"));

        let e = err(
            r#"{"alibaba_trade_order_modify_response":{"result":{"success":false,"error_code":"WHATEVER","error_message":"新的"}}}"#,
        );
        assert_eq!(e.kind(), PlatformErrorKind::Protocol);
        assert_eq!(e.message(), "新的");
    }

    #[test]
    fn gateway_codes_number_or_string() {
        let cases = [
            (r#"25"#, None, PlatformErrorKind::Unauthorised),
            (
                r#""27""#,
                Some("session-expired"),
                PlatformErrorKind::Unauthorised,
            ),
            (
                r#"7"#,
                Some("accesscontrol.limited-by-app-access-count"),
                PlatformErrorKind::RateLimited,
            ),
            (
                r#""15""#,
                Some("isp.service-unavailable"),
                PlatformErrorKind::Transient,
            ),
            (
                r#"15"#,
                Some("isv.missing-parameter"),
                PlatformErrorKind::InvalidRequest,
            ),
            (
                r#"15"#,
                Some("isv.trade-refused"),
                PlatformErrorKind::RejectedByRule,
            ),
            (
                r#"50"#,
                Some("isv.invalid-parameter"),
                PlatformErrorKind::InvalidRequest,
            ),
            (r#"99"#, None, PlatformErrorKind::Protocol),
        ];
        for (code, sub, kind) in cases {
            let sub = sub.map_or(String::new(), |s| {
                format!(r#","sub_code":"{s}","sub_msg":"非法参数""#)
            });
            let body = format!(
                r#"{{"error_response":{{"code":{code},"msg":"Remote service error"{sub},"request_id":"abc"}}}}"#
            );
            let e = err(&body);
            assert_eq!(e.kind(), kind, "{body}");
            assert_eq!(e.code(), Some(code.trim_matches('"')), "{body}");
            assert!(e.detail().unwrap().contains("request_id: abc"));
            if !sub.is_empty() {
                assert_eq!(e.message(), "非法参数");
                assert!(e.detail().unwrap().contains("sub_code: "));
            } else {
                assert_eq!(e.message(), "Remote service error");
            }
        }
    }

    #[test]
    fn odd_replies_are_read_by_serde_alone() {
        // The derived field names are the page's.
        assert_eq!(params::RESPONSE_KEY, "alibaba_trade_order_modify_response");
        assert_eq!(params::error_response::ERROR_RESPONSE, "error_response");
        assert_eq!(
            (
                params::reply::RESULT,
                params::reply::SUCCESS,
                params::reply::VALUE
            ),
            ("result", "success", "value")
        );
        assert_eq!(
            (params::reply::ERROR_CODE, params::reply::ERROR_MESSAGE),
            ("error_code", "error_message")
        );
        const R: &str = "alibaba_trade_order_modify_response";
        // (body, trade_id, pay_url) of successes; unknown fields are ignored.
        let ok: &[(String, Option<&str>, Option<&str>)] = &[
            (
                format!(
                    r#"{{"{R}":{{"result":{{"success":true,"value":{{"trade_id":24668306501026709,"pay_url":"cashier.alibaba.com","new":1}}}},"request_id":"r1"}},"x":[1]}}"#
                ),
                Some("24668306501026709"),
                Some("cashier.alibaba.com"),
            ),
            (
                format!(r#"{{"{R}":{{"result":{{"success":true}}}}}}"#),
                None,
                None,
            ),
            (
                format!(r#"{{"{R}":{{"result":{{"success":true,"value":null}}}}}}"#),
                None,
                None,
            ),
            (
                format!(r#"{{"{R}":{{"result":{{"success":true,"value":[1]}}}}}}"#),
                None,
                None,
            ),
            (
                format!(
                    r#"{{"{R}":{{"result":{{"success":"true","value":{{"trade_id":"\u0031"}}}}}}}}"#
                ),
                Some("1"),
                None,
            ),
            (
                format!(
                    r#"{{"{R}":{{"result":{{"success":true,"value":{{"trade_id":18446744073709551616}}}}}}}}"#
                ),
                Some("18446744073709551616"),
                None,
            ),
        ];
        for (body, trade_id, pay_url) in ok {
            let r = decode_reply(body.as_bytes(), &[]).unwrap();
            assert_eq!(r.trade_id.as_deref(), *trade_id, "{body}");
            assert_eq!(r.pay_url.as_deref(), *pay_url, "{body}");
            assert_eq!(&r.raw_reply, body, "raw body kept");
        }
        let e = err(&format!(
            r#"{{"{R}":{{"result":{{"success":false,"error_code":"400","error_message":"bad"}}}}}}"#
        ));
        assert_eq!((e.code(), e.message()), (Some("400"), "bad"));
        let e = err(
            r#"{"error_response":{"code":"27","msg":"Invalid session","sub_code":"session-expired","request_id":"abc"}}"#,
        );
        assert_eq!(e.code(), Some("27"));
        // Shapes that are not a TOP reply are Protocol, whatever nests where.
        for body in [
            format!(r#"{{"{R}":{{"result":{{"success":1}}}}}}"#),
            format!(r#"{{"{R}":{{"result":[true]}}}}"#),
            format!(r#"{{"{R}":[{{"success":true}}]}}"#),
            r#"[{"result":{"success":true}}]"#.to_owned(),
            format!(r#"{{"{R}":{{"result":{{"success":true}}}},"error_response":[]}}"#),
            format!(
                r#"{{"{R}":{{"result":{{"success":true}}}},"{R}":{{"result":{{"success":false}}}}}}"#
            ),
            format!(r#"{{"{R}":{{"result":{{"success":true}}}}}} x"#),
        ] {
            assert_eq!(err(&body).kind(), PlatformErrorKind::Protocol, "{body}");
        }
    }

    #[test]
    fn bad_bodies_are_protocol_errors() {
        for body in [
            "",
            "not json",
            r#"{"alibaba_trade_order_modify_response":{"result":{"succ"#,
            r#"{"something_else":{}}"#,
            r#"{"error_response":{"msg":"no code"}}"#,
            r#"{"alibaba_trade_order_modify_response":{"result":{"value":{}}}}"#,
        ] {
            assert_eq!(err(body).kind(), PlatformErrorKind::Protocol, "{body}");
        }
    }

    #[test]
    fn request_serialises_the_seed_shape() {
        let mut addr = ShipmentAddress {
            zip: "461670".into(),
            country: "United States of America".into(),
            address: "Bank of new york".into(),
            city: "New York".into(),
            contact_person: "james".into(),
            telephone: Phone::new(
                Some("0512".into()),
                Some("86".into()),
                Some("13890876543".into()),
            ),
            ..ShipmentAddress::default()
        };
        addr.province_code = Some("California".into());
        let mut logistics =
            LogisticsDetail::new(addr, "sea", "FOB", ShipmentDate::on("2019-11-11"));
        logistics.carrier = Some("DHL".into());
        let payment = PaymentDetail {
            shipment_fee: "20".into(),
            total_amount: "220".into(),
            product_amount: "200".into(),
            initial_amount: "150".into(),
            currency: Some("USD".into()),
            ..PaymentDetail::default()
        };
        let product = Product {
            product_id: Some(62_337_348_461),
            name: "helloworld".into(),
            sku_id: "-1".into(),
            unit: "set".into(),
            quantity: "100".into(),
            unit_price_str: "2".into(),
            ..Product::default()
        };
        let mut req =
            OrderModifyRequest::new("24668306501026709", logistics, payment, vec![product]);
        req.version = Some("1576114051021".into());
        req.remark = Some("备注".into());
        let text = req.to_param().unwrap();
        assert_eq!(
            text,
            r#"{"trade_id":"24668306501026709","logistics_detail":{"shipment_address":{"zip":"461670","country":"United States of America","address":"Bank of new york","city":"New York","province_code":"California","contact_person":"james","telephone":{"area":"0512","country":"86","number":"13890876543"}},"shipment_method":"sea","trade_term":"FOB","carrier":"DHL","shipment_date":{"date":{"format_date":"2019-11-11"},"type":"absolute"}},"payment_detail":{"shipment_fee":"20","total_amount":"220","product_amount":"200","initial_amount":"150","currency":"USD"},"remark":"备注","product_list":[{"product_id":62337348461,"name":"helloworld","sku_id":"-1","unit":"set","quantity":"100","unit_price_str":"2"}],"version":"1576114051021"}"#
        );
        let back: OrderModifyRequest = serde_json::from_str(&text).unwrap();
        assert_eq!(back, req);
    }
}
