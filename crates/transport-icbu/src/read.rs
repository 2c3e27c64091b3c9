//! The seller's order read, `alibaba.seller.order.get`: its wire types, the reply decoding and
//! the mapping to the domain snapshot (see "Read" on `docs/platforms/alibaba-icbu.md`).

use order_domain::{
    Address, Amount, CalendarDate, Currency, FreightSpec, LineId, Logistics, Order, OrderId,
    OrderLineSpec, OrderSpec, OrderStatus, PaymentBreakdown, Phone as DomainPhone, PlatformError,
    PlatformErrorKind, ProductRef, Quantity, Remarks, RevisionState, ShipmentDate, SkuRef,
    VersionToken,
};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use transport_core::protocol_error;

use crate::failure::OrderModifyFailure;
use crate::generated::params;
use crate::wire::{gateway_error, result_error};

/// A JSON scalar read as text: a string as is, a number as written (ids beyond 2^53 stay exact).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Text(s)),
            Value::Number(n) => Ok(Text(n.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected text or a number, got {other}"
            ))),
        }
    }
}

/// An amount as the read writes it: `{amount, currency}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct MoneyVo {
    /// Decimal text in major units.
    pub amount: Text,
    /// ISO currency code.
    #[serde(default)]
    pub currency: Option<String>,
}

/// A phone in parts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PhoneVo {
    /// Country calling code.
    #[serde(default)]
    pub country: Option<Text>,
    /// Area code.
    #[serde(default)]
    pub area: Option<Text>,
    /// Number.
    #[serde(default)]
    pub number: Option<Text>,
}

/// `shipping_address`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ShippingAddress {
    /// Receiver.
    #[serde(default)]
    pub contact_person: Option<String>,
    /// Country name.
    #[serde(default)]
    pub country: Option<String>,
    /// Province name.
    #[serde(default)]
    pub province: Option<String>,
    /// Province code.
    #[serde(default)]
    pub province_code: Option<String>,
    /// City name.
    #[serde(default)]
    pub city: Option<String>,
    /// City code.
    #[serde(default)]
    pub city_code: Option<String>,
    /// Street address.
    #[serde(default)]
    pub address: Option<String>,
    /// Alternate address line.
    #[serde(default)]
    pub alternate_address: Option<String>,
    /// Postal code.
    #[serde(default)]
    pub zip: Option<Text>,
    /// Telephone.
    #[serde(default)]
    pub telephone: Option<PhoneVo>,
    /// Mobile.
    #[serde(default)]
    pub mobile: Option<PhoneVo>,
    /// Fax.
    #[serde(default)]
    pub fax: Option<PhoneVo>,
}

/// A date as `{format_date, timestamp}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct DateVo {
    /// The date as text (`yyyy-MM-dd` when set by a modify).
    #[serde(default)]
    pub format_date: Option<String>,
}

/// `shipment_date`: days after payment (`duration`) or an absolute `date`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ShipmentDateVo {
    /// `relative` or `absolute`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Days after payment.
    #[serde(default)]
    pub duration: Option<Text>,
    /// The date.
    #[serde(default)]
    pub date: Option<DateVo>,
}

/// `carrier`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Carrier {
    /// Carrier code.
    #[serde(default)]
    pub code: Option<String>,
    /// Carrier name.
    #[serde(default)]
    pub name: Option<String>,
}

/// One product of the order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SellerProduct {
    /// Product id.
    #[serde(default)]
    pub product_id: Option<Text>,
    /// SKU id (`-1` for none).
    #[serde(default)]
    pub sku_id: Option<Text>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Unit.
    #[serde(default)]
    pub unit: Option<String>,
    /// Quantity (decimal text).
    pub quantity: Text,
    /// Unit price.
    pub unit_price: MoneyVo,
}

/// `order_products`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OrderProducts {
    /// The products.
    #[serde(default)]
    pub trade_ecology_order_product: Vec<SellerProduct>,
}

/// The read's order (`value`), as far as the transport reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SellerOrder {
    /// Trade id.
    pub trade_id: Text,
    /// Status text (`unpay`, `trade_success`...).
    #[serde(default)]
    pub trade_status: Option<String>,
    /// The version token the modify takes (*assumed*).
    #[serde(default)]
    pub contract_version: Option<Text>,
    /// Products.
    #[serde(default)]
    pub order_products: OrderProducts,
    /// Value of the products.
    #[serde(default)]
    pub product_total_amount: Option<MoneyVo>,
    /// Freight.
    #[serde(default)]
    pub shipment_fee: Option<MoneyVo>,
    /// Shipment insurance.
    #[serde(default)]
    pub shipment_insurance_fee: Option<MoneyVo>,
    /// Value-added services (*assumed* name).
    #[serde(default)]
    pub value_add_service_amount: Option<MoneyVo>,
    /// Tax (*assumed* name).
    #[serde(default)]
    pub tax_amount: Option<MoneyVo>,
    /// Order total.
    #[serde(default)]
    pub total_amount: Option<MoneyVo>,
    /// Initial payment (*assumed*).
    #[serde(default)]
    pub advance_amount: Option<MoneyVo>,
    /// Delivery address.
    #[serde(default)]
    pub shipping_address: Option<ShippingAddress>,
    /// Shipment method.
    #[serde(default)]
    pub shipment_method: Option<String>,
    /// Trade term.
    #[serde(default)]
    pub trade_term: Option<String>,
    /// Carrier.
    #[serde(default)]
    pub carrier: Option<Carrier>,
    /// Shipment date.
    #[serde(default)]
    pub shipment_date: Option<ShipmentDateVo>,
    /// Fulfillment channel.
    #[serde(default)]
    pub fulfillment_channel: Option<String>,
    /// Order remark.
    #[serde(default)]
    pub remark: Option<String>,
}

#[derive(Deserialize)]
struct ReadReply {
    #[serde(default)]
    error_response: Option<Value>,
    #[serde(default)]
    alibaba_seller_order_get_response: Option<ReadBody>,
}

#[derive(Deserialize)]
struct ReadBody {
    #[serde(default)]
    value: Option<SellerOrder>,
    #[serde(default)]
    result: Option<ReadResult>,
}

#[derive(Deserialize)]
struct ReadResult {
    #[serde(default)]
    success: Option<Value>,
    #[serde(default)]
    value: Option<SellerOrder>,
    #[serde(default)]
    error_code: Option<Text>,
    #[serde(default)]
    error_message: Option<Text>,
}

/// Decodes a read reply: the order, a `result.success = false` business error, or a gateway
/// `error_response` (classified as for the modify). Anything else is a `Protocol` error.
pub fn decode_read_reply(body: &[u8], secrets: &[&str]) -> Result<SellerOrder, OrderModifyFailure> {
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(protocol_error("TOP reply is not a JSON object", body, secrets).into());
    }
    let reply: ReadReply = serde_json::from_slice(body).map_err(|e| {
        protocol_error(
            &format!("TOP read reply is not the expected JSON ({e})"),
            body,
            secrets,
        )
    })?;
    if let Some(err) = reply.error_response {
        let Value::Object(err) = err else {
            return Err(
                protocol_error("TOP error_response is not an object", body, secrets).into(),
            );
        };
        return Err(gateway_error(&err, body, secrets));
    }
    let Some(r) = reply.alibaba_seller_order_get_response else {
        return Err(protocol_error(
            &format!(
                "TOP reply has neither {} nor error_response",
                params::READ_RESPONSE_KEY
            ),
            body,
            secrets,
        )
        .into());
    };
    if let Some(v) = r.value {
        return Ok(v);
    }
    let Some(result) = r.result else {
        return Err(protocol_error("TOP read reply has no value", body, secrets).into());
    };
    let success = matches!(&result.success, Some(Value::Bool(true)))
        || matches!(&result.success, Some(Value::String(s)) if s == "true");
    match (success, result.value) {
        (true, Some(v)) => Ok(v),
        (true, None) => Err(protocol_error("TOP read result has no value", body, secrets).into()),
        (false, _) => Err(result_error(
            &result.error_code.unwrap_or_default().0,
            &result.error_message.unwrap_or_default().0,
        )),
    }
}

/// The domain status of a read `trade_status` (mapping on the platform page).
pub fn status(text: &str) -> OrderStatus {
    match text.trim() {
        "unpay" => OrderStatus::AwaitingPayment,
        "paid" | "undeliver" => OrderStatus::Paid,
        "delivering" | "wait_buyer_receive" => OrderStatus::Shipped,
        "trade_success" => OrderStatus::Completed,
        "trade_close" | "trade_closed" | "cancel" => OrderStatus::Closed,
        other => OrderStatus::Other(other.to_owned()),
    }
}

fn protocol(oid: &str, why: impl std::fmt::Display) -> PlatformError {
    PlatformError::new(
        PlatformErrorKind::Protocol,
        Some("protocol".to_owned()),
        format!("order {oid}: {why}"),
    )
}

fn amount(m: &MoneyVo, field: &str, oid: &str) -> Result<Amount, PlatformError> {
    Amount::parse(m.amount.0.trim()).map_err(|e| protocol(oid, format_args!("{field}: {e}")))
}

fn opt_amount(
    m: Option<&MoneyVo>,
    field: &str,
    oid: &str,
) -> Result<Option<Amount>, PlatformError> {
    m.map(|m| amount(m, field, oid)).transpose()
}

fn text(t: Option<&Text>) -> Option<String> {
    t.map(|t| t.0.clone()).filter(|s| !s.trim().is_empty())
}

fn phone(p: &PhoneVo) -> DomainPhone {
    DomainPhone {
        country: text(p.country.as_ref()),
        area: text(p.area.as_ref()),
        number: text(p.number.as_ref()),
    }
}

fn address(a: &ShippingAddress) -> Address {
    // The modify call has one field for the province or state, `province_code`, which carries
    // the name when no code is known (see `docs/platforms/alibaba-icbu.md`); a read that
    // gives only that field names the province, and a code equal to the name is no code.
    let province = a.province.clone().or_else(|| a.province_code.clone());
    let province_code = a
        .province_code
        .clone()
        .filter(|c| Some(c) != province.as_ref());
    Address {
        receiver: a.contact_person.clone(),
        mobile: a.mobile.as_ref().and_then(|m| text(m.number.as_ref())),
        telephone: a.telephone.as_ref().map(phone),
        fax: a.fax.as_ref().map(phone),
        country: a.country.clone(),
        province,
        province_code,
        city: a.city.clone(),
        city_code: a.city_code.clone(),
        district: None,
        street: a.address.clone(),
        zip: text(a.zip.as_ref()),
        alternate: a.alternate_address.clone(),
    }
}

fn shipment_date(d: &ShipmentDateVo, oid: &str) -> Result<Option<ShipmentDate>, PlatformError> {
    if let Some(date) = d.date.as_ref().and_then(|d| d.format_date.as_deref()) {
        let day = date.get(..10).unwrap_or(date);
        return day
            .parse::<CalendarDate>()
            .map(|c| Some(ShipmentDate::On(c)))
            .map_err(|e| protocol(oid, format_args!("shipment_date: {e}")));
    }
    match &d.duration {
        Some(t) => {
            t.0.trim()
                .parse::<u32>()
                .map(|n| Some(ShipmentDate::DaysAfterPayment(n)))
                .map_err(|e| protocol(oid, format_args!("shipment_date.duration: {e}")))
        }
        None => Ok(None),
    }
}

/// Maps a read order to the domain snapshot (mapping on the platform page). The revision count
/// is 0 (the read does not carry it); the version token is `contract_version`.
pub fn to_order(o: &SellerOrder) -> Result<Order, PlatformError> {
    let oid = o.trade_id.0.trim().to_owned();
    let currency = o
        .total_amount
        .as_ref()
        .and_then(|t| t.currency.as_deref())
        .unwrap_or(params::DEFAULT_CURRENCY)
        .parse::<Currency>()
        .map_err(|e| protocol(&oid, e))?;
    let mut lines = Vec::with_capacity(o.order_products.trade_ecology_order_product.len());
    for p in &o.order_products.trade_ecology_order_product {
        let product = text(p.product_id.as_ref());
        let sku = text(p.sku_id.as_ref()).unwrap_or_else(|| "-1".to_owned());
        let lid = format!("{}:{sku}", product.as_deref().unwrap_or("-"));
        let quantity: Quantity =
            serde_json::from_value(Value::String(p.quantity.0.trim().to_owned()))
                .map_err(|e| protocol(&oid, format_args!("line {lid}: quantity: {e}")))?;
        let unit = amount(&p.unit_price, "unit_price", &oid)?;
        let total = unit
            .in_currency(currency)
            .checked_mul(quantity.value())
            .and_then(|m| Amount::new(m.amount()))
            .map_err(|e| protocol(&oid, format_args!("line {lid}: total: {e}")))?;
        lines.push(OrderLineSpec {
            id: LineId::new(lid.clone()).map_err(|e| protocol(&oid, e))?,
            product: product
                .map(ProductRef::new)
                .transpose()
                .map_err(|e| protocol(&oid, e))?,
            sku: Some(SkuRef::new(sku).map_err(|e| protocol(&oid, e))?),
            name: p.name.clone(),
            unit: p.unit.clone(),
            quantity,
            unit_price: Some(unit),
            original_total: total,
            current_total: None,
            closed: false,
        });
    }
    let freight = opt_amount(o.shipment_fee.as_ref(), "shipment_fee", &oid)?;
    let payment = match (
        opt_amount(
            o.product_total_amount.as_ref(),
            "product_total_amount",
            &oid,
        )?,
        opt_amount(o.total_amount.as_ref(), "total_amount", &oid)?,
    ) {
        (Some(products), Some(total)) => Some(PaymentBreakdown {
            products,
            freight: freight.unwrap_or(Amount::ZERO),
            insurance: opt_amount(
                o.shipment_insurance_fee.as_ref(),
                "shipment_insurance_fee",
                &oid,
            )?,
            value_added_services: opt_amount(
                o.value_add_service_amount.as_ref(),
                "value_add_service_amount",
                &oid,
            )?,
            tax: opt_amount(o.tax_amount.as_ref(), "tax_amount", &oid)?,
            total,
            initial: opt_amount(o.advance_amount.as_ref(), "advance_amount", &oid)?
                .unwrap_or(Amount::ZERO),
        }),
        _ => None,
    };
    let logistics = Logistics {
        shipment_method: o.shipment_method.clone(),
        trade_term: o.trade_term.clone(),
        carrier: o.carrier.as_ref().and_then(|c| c.name.clone()),
        carrier_code: o.carrier.as_ref().and_then(|c| c.code.clone()),
        fulfillment_channel: o.fulfillment_channel.clone(),
        shipment_date: o
            .shipment_date
            .as_ref()
            .map(|d| shipment_date(d, &oid))
            .transpose()?
            .flatten(),
        ..Logistics::default()
    };
    let version = text(o.contract_version.as_ref())
        .map(VersionToken::new)
        .transpose()
        .map_err(|e| protocol(&oid, e))?;
    let spec = OrderSpec {
        id: OrderId::new(oid.clone()).map_err(|e| protocol(&oid, e))?,
        status: status(o.trade_status.as_deref().unwrap_or_default()),
        currency,
        trade_type: None,
        lines,
        freight: freight.map(|f| FreightSpec {
            original: f,
            current: None,
        }),
        revision: RevisionState { count: 0, version },
        address: o.shipping_address.as_ref().map(address),
        logistics: (logistics != Logistics::default()).then_some(logistics),
        delivery_date: None,
        remarks: o.remark.clone().map(|r| Remarks {
            order: Some(r),
            logistics: None,
        }),
        payment,
    };
    Order::try_from(spec).map_err(|e| protocol(&oid, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUE: &str = r#"{"trade_id": 24668306501026709, "trade_status": "unpay",
        "contract_version": 12345432,
        "order_products": {"trade_ecology_order_product": [{"product_id": "123423", "sku_id": "33",
            "name": "test", "unit": "piece", "quantity": "12.0000",
            "unit_price": {"amount": "1.25", "currency": "USD"}}]},
        "product_total_amount": {"amount": "15.00", "currency": "USD"},
        "shipment_fee": {"amount": "5", "currency": "USD"},
        "total_amount": {"amount": "20", "currency": "USD"},
        "shipment_date": {"type": "absolute", "date": {"format_date": "2026-12-01", "timestamp": 1}}}"#;

    #[test]
    fn the_value_is_read_at_the_top_or_under_result_and_numbers_stay_exact() {
        for body in [
            format!(r#"{{"alibaba_seller_order_get_response": {{"value": {VALUE}}}}}"#),
            format!(
                r#"{{"alibaba_seller_order_get_response": {{"result": {{"success": "true", "value": {VALUE}}}}}}}"#
            ),
        ] {
            let o = decode_read_reply(body.as_bytes(), &[]).unwrap();
            assert_eq!(o.trade_id.0, "24668306501026709");
            let order = to_order(&o).unwrap();
            assert_eq!(
                order.revision().version.as_ref().unwrap().as_str(),
                "12345432"
            );
            assert_eq!(order.lines()[0].original_total().to_string(), "15.00");
            assert_eq!(
                order.logistics().unwrap().shipment_date,
                Some(ShipmentDate::On("2026-12-01".parse().unwrap()))
            );
        }
    }

    #[test]
    fn refusals_are_classified_and_odd_bodies_are_protocol_errors() {
        let e = decode_read_reply(
            br#"{"alibaba_seller_order_get_response": {"result": {"success": false, "error_code": "ORDER_NOT_EXIST", "error_message": "gone"}}}"#,
            &[],
        )
        .unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::NotFound);
        let e = decode_read_reply(
            br#"{"error_response": {"code": 27, "msg": "Invalid session", "sub_code": "invalid-sessionkey"}}"#,
            &[],
        )
        .unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::Unauthorised);
        for body in [&b"<html>"[..], b"[]", br#"{"other": 1}"#] {
            let e = decode_read_reply(body, &[]).unwrap_err();
            assert_eq!(e.kind(), PlatformErrorKind::Protocol);
        }
    }

    #[test]
    fn statuses_map_to_the_domain() {
        assert_eq!(status("unpay"), OrderStatus::AwaitingPayment);
        assert_eq!(status("trade_success"), OrderStatus::Completed);
        assert_eq!(status("trade_close"), OrderStatus::Closed);
        assert_eq!(status("odd"), OrderStatus::Other("odd".into()));
    }
}
