//! [`IcbuPlatform`]: the [`OrderPlatform`] port on top of [`IcbuClient`].

use async_trait::async_trait;
use order_domain::{
    Address, Amount, Currency, Item, Logistics, Money, Order, OrderPlatform, PaymentBreakdown,
    Plan, PlatformError, Policy, Receipt, ShipmentDate as DomainShipmentDate,
};

use transport_core::invalid_request;

use crate::client::IcbuClient;
use crate::wire::{
    LogisticsDetail, OrderModifyRequest, PaymentDetail, Phone, Product, ShipmentAddress,
    ShipmentDate,
};

/// Alibaba.com ICBU as an [`OrderPlatform`], with [`Policy::alibaba_icbu`].
#[derive(Debug, Clone)]
pub struct IcbuPlatform {
    client: IcbuClient,
    policy: Policy,
}

impl IcbuPlatform {
    /// The platform over `client`, with the ICBU policy.
    pub fn new(client: IcbuClient) -> Self {
        IcbuPlatform {
            client,
            policy: Policy::alibaba_icbu(),
        }
    }

    /// With an adjusted policy (it must stay within what ICBU accepts).
    #[must_use]
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// The typed client.
    pub fn client(&self) -> &IcbuClient {
        &self.client
    }
}

#[async_trait]
impl OrderPlatform for IcbuPlatform {
    fn name(&self) -> &str {
        "alibaba-icbu"
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    async fn apply(&self, order: &Order, plan: &Plan) -> Result<Receipt, PlatformError> {
        let req = request_from_plan(order, plan)?;
        let done = self.client.modify_order(&req).await?;
        let mut receipt = Receipt::new(done.raw_reply);
        if let Some(t) = done.trade_id {
            receipt = receipt.with_reference(t);
        }
        if let Some(u) = done.pay_url {
            receipt = receipt.with_payment_url(u);
        }
        Ok(receipt)
    }
}

fn some_text(v: &Option<String>) -> Option<String> {
    v.as_ref().filter(|s| !s.trim().is_empty()).cloned()
}

fn required(v: &Option<String>, what: &str) -> Result<String, PlatformError> {
    some_text(v).ok_or_else(|| invalid_request(format!("ICBU needs the {what}")))
}

/// The money text of `a` in `cur`: major units with the currency's decimals (`20.00`).
fn money(a: Amount, cur: Currency) -> String {
    a.in_currency(cur).to_string()
}

/// `param_order_modify` for `plan`: the full address, logistics, product list and payment
/// breakdown (the ICBU policy makes the plan carry them always), amounts as decimal strings in
/// the order's currency, the currency named, and the order's version.
///
/// Checked again before sending (`InvalidRequest`, no code): every always-sent part present,
/// the breakdown adds up, required address, logistics and item fields present, and remarks
/// limited to the order remark (ICBU has no logistics remark).
///
/// Items: a numeric product reference becomes `product_id`, any other text
/// `encrypt_product_id`; no SKU becomes `sku_id` `-1`.
pub fn request_from_plan(order: &Order, plan: &Plan) -> Result<OrderModifyRequest, PlatformError> {
    let cur = order.currency();
    let address = plan
        .address()
        .ok_or_else(|| invalid_request("ICBU needs the full shipment address in every change"))?;
    let logistics = plan
        .logistics()
        .ok_or_else(|| invalid_request("ICBU needs the full logistics in every change"))?;
    let items = plan
        .items()
        .ok_or_else(|| invalid_request("ICBU needs the full product list in every change"))?;
    let payment = plan
        .payment()
        .ok_or_else(|| invalid_request("ICBU needs the payment breakdown in every change"))?;
    if items.is_empty() {
        return Err(invalid_request("ICBU needs at least one product"));
    }

    let logistics_detail = LogisticsDetail {
        carrier: some_text(&logistics.carrier),
        carrier_code: some_text(&logistics.carrier_code),
        fulfillment_channel: some_text(&logistics.fulfillment_channel),
        ..LogisticsDetail::new(
            shipment_address(address)?,
            required(&logistics.shipment_method, "shipment method")?,
            required(&logistics.trade_term, "trade term")?,
            shipment_date(logistics)?,
        )
    };
    let payment_detail = payment_detail(payment, cur)?;
    let product_list = items
        .iter()
        .map(|i| product(i, cur))
        .collect::<Result<Vec<_>, _>>()?;

    let mut req = OrderModifyRequest::new(
        plan.order().as_str(),
        logistics_detail,
        payment_detail,
        product_list,
    );
    match plan.remarks() {
        Some(r) => {
            if some_text(&r.logistics).is_some() {
                return Err(invalid_request(
                    "ICBU has no logistics remark; put it in the order remark",
                ));
            }
            req.remark = r.order.clone();
        }
        // The request replaces the order's terms: keep the current remark rather than risk
        // clearing it.
        None => req.remark = order.remarks().and_then(|r| some_text(&r.order)),
    }
    req.version = plan.version().map(|v| v.as_str().to_owned());
    Ok(req)
}

fn phone(p: &order_domain::Phone) -> Phone {
    Phone::new(
        some_text(&p.area),
        some_text(&p.country),
        some_text(&p.number),
    )
}

fn shipment_address(a: &Address) -> Result<ShipmentAddress, PlatformError> {
    let telephone = match (&a.telephone, some_text(&a.mobile)) {
        (Some(t), _) if some_text(&t.number).is_some() => phone(t),
        (_, Some(mobile)) => Phone::new(None, None, Some(mobile)),
        _ => return Err(invalid_request("ICBU needs the consignee's telephone")),
    };
    Ok(ShipmentAddress {
        zip: required(&a.zip, "address's zip")?,
        country: required(&a.country, "address's country")?,
        address: required(&a.street, "street address")?,
        city: required(&a.city, "address's city")?,
        province_code: some_text(&a.province_code).or_else(|| some_text(&a.province)),
        city_code: some_text(&a.city_code),
        contact_person: required(&a.receiver, "consignee (contact person)")?,
        telephone,
        fax: a.fax.as_ref().map(phone),
        alternate_address: some_text(&a.alternate),
    })
}

fn shipment_date(l: &Logistics) -> Result<ShipmentDate, PlatformError> {
    match &l.shipment_date {
        Some(DomainShipmentDate::DaysAfterPayment(d)) => Ok(ShipmentDate::after_days(*d)),
        Some(DomainShipmentDate::On(date)) => Ok(ShipmentDate::on(date.to_string())),
        None => Err(invalid_request("ICBU needs the shipment date")),
    }
}

fn payment_detail(p: &PaymentBreakdown, cur: Currency) -> Result<PaymentDetail, PlatformError> {
    let m = |a: Amount| a.in_currency(cur);
    let zero = Amount::ZERO;
    let parts = [
        m(p.products),
        m(p.freight),
        m(p.insurance.unwrap_or(zero)),
        m(p.value_added_services.unwrap_or(zero)),
        m(p.tax.unwrap_or(zero)),
    ];
    let sum = Money::sum(cur, parts)
        .map_err(|e| invalid_request(format!("payment breakdown cannot be added up: {e}")))?;
    if sum != m(p.total) {
        return Err(invalid_request(format!(
            "payment total {} is not the sum of its parts, {sum}",
            m(p.total)
        )));
    }
    if p.initial.value() > p.total.value() {
        return Err(invalid_request(format!(
            "initial payment {} is above the total {}",
            m(p.initial),
            m(p.total)
        )));
    }
    Ok(PaymentDetail {
        shipment_fee: money(p.freight, cur),
        total_amount: money(p.total, cur),
        product_amount: money(p.products, cur),
        shipment_insurance_fee: p.insurance.map(|a| money(a, cur)),
        initial_amount: money(p.initial, cur),
        value_add_service_amount: p.value_added_services.map(|a| money(a, cur)),
        tax_amount: p.tax.map(|a| money(a, cur)),
        currency: Some(cur.code().to_owned()),
    })
}

fn product(i: &Item, cur: Currency) -> Result<Product, PlatformError> {
    let reference = i.product.as_str();
    let (product_id, encrypt_product_id) = match reference.parse::<u64>() {
        Ok(id) => (Some(id), None),
        Err(_) => (None, Some(reference.to_owned())),
    };
    let unit_price = i
        .unit_price
        .ok_or_else(|| invalid_request(format!("ICBU needs the unit price of {reference}")))?;
    Ok(Product {
        product_id,
        name: required(&i.name, &format!("name of {reference}"))?,
        sku_id: i
            .sku
            .as_ref()
            .map_or_else(|| "-1".to_owned(), |s| s.as_str().to_owned()),
        unit: required(&i.unit, &format!("unit of {reference}"))?,
        quantity: i.quantity.to_string(),
        unit_price_str: money(unit_price, cur),
        currency: Some(cur.code().to_owned()),
        encrypt_product_id,
        properties: None,
    })
}
