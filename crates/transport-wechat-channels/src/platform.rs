//! [`ChannelsPlatform`]: the [`OrderPlatform`] and [`OrderSource`] ports over
//! [`ChannelsClient`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use order_domain::{
    Address, Amount, Currency, FreightSpec, LineId, Money, Order, OrderId, OrderLineSpec,
    OrderPlatform, OrderSource, OrderSpec, OrderStatus, Part, Plan, PlatformError,
    PlatformErrorKind, Policy, ProductRef, Quantity, Receipt, RevisionState, SkuRef,
};
use transport_core::{invalid_request, minor_units, numeric_id};

use crate::client::ChannelsClient;
use crate::generated::params;
use crate::policy::{PRICE_STATUSES, address_statuses, policy};
use crate::wire::{
    AddressUpdateRequest, ChangeOrderInfo, ChannelsOrder, PriceUpdateRequest, UserAddress,
};

/// The platform named in id errors.
const PLATFORM: &str = "WeChat Channels";

/// What one plan becomes on the wire: one of the two write calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `price/update`.
    Price(PriceUpdateRequest),
    /// `address/update`.
    Address(AddressUpdateRequest),
}

/// The WeChat Channels shop as an [`OrderPlatform`] (with [`policy()`](crate::policy())) and an
/// [`OrderSource`].
///
/// It counts the address changes it made per order (shared by clones) to refuse a sixth one
/// before sending; changes made elsewhere are not seen, and the platform refuses those itself.
#[derive(Debug, Clone)]
pub struct ChannelsPlatform {
    client: ChannelsClient,
    policy: Policy,
    address_changes: Arc<Mutex<HashMap<OrderId, u32>>>,
}

impl ChannelsPlatform {
    /// The platform over `client`.
    pub fn new(client: ChannelsClient) -> Self {
        ChannelsPlatform {
            client,
            policy: policy(),
            address_changes: Arc::default(),
        }
    }

    /// The typed client.
    pub fn client(&self) -> &ChannelsClient {
        &self.client
    }

    /// Address changes this platform made to `order` so far.
    pub fn address_changes(&self, order: &OrderId) -> u32 {
        self.address_changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(order)
            .copied()
            .unwrap_or(0)
    }
}

fn refused(message: String) -> PlatformError {
    PlatformError::new(PlatformErrorKind::RejectedByRule, None, message)
}

fn above(target: Money, original: Money) -> bool {
    matches!(
        target.checked_cmp(&original),
        Ok(std::cmp::Ordering::Greater)
    )
}

fn product_and_sku(
    oid: &str,
    lid: &str,
    product: Option<&ProductRef>,
    sku: Option<&SkuRef>,
) -> Result<(u64, u64), PlatformError> {
    let product = product
        .ok_or_else(|| invalid_request(format!("order {oid}: line {lid} has no product id")))?;
    let sku =
        sku.ok_or_else(|| invalid_request(format!("order {oid}: line {lid} has no SKU id")))?;
    Ok((
        numeric_id(
            product.as_str(),
            format_args!("line {lid} product id"),
            oid,
            PLATFORM,
        )?,
        numeric_id(
            sku.as_str(),
            format_args!("line {lid} SKU id"),
            oid,
            PLATFORM,
        )?,
    ))
}

/// Encodes `plan` for `order` as the one call it needs, without sending it.
///
/// `address_changes` is the number of address changes already made to the order.
///
/// Refused before anything is sent (`RejectedByRule` unless said otherwise):
/// - a plan that changes prices or freight **and** the address (two calls, not atomic);
/// - a price change when the order is not awaiting payment (`WrongState`), after 50 changes,
///   raising a line or the freight above its original, or leaving a zero total;
/// - an address change of a shipped order (`WrongState`) or after 5 address changes;
/// - non-numeric ids or sub-fen amounts (`InvalidRequest`).
///
/// A price change states every line whose total differs from its original and the freight
/// when it differs from its original, because each successful change replaces the earlier
/// ones: a line left out would return to its original total.
pub fn encode(order: &Order, plan: &Plan, address_changes: u32) -> Result<Request, PlatformError> {
    let oid = plan.order().as_str();
    let parts = plan.parts();
    let prices = parts
        .iter()
        .any(|p| matches!(p, Part::LinePrices | Part::Freight));
    let address = parts.contains(&Part::Address);
    let order_id = numeric_id(oid, "order id", oid, PLATFORM)?;
    match (prices, address) {
        (true, true) => Err(refused(format!(
            "order {oid}: WeChat Channels changes prices and the address in two separate calls; \
             send the address change as its own amendment"
        ))),
        (true, false) => encode_price(order, plan, order_id).map(Request::Price),
        (false, true) => {
            encode_address(order, plan, order_id, address_changes).map(Request::Address)
        }
        (false, false) => Err(invalid_request(format!(
            "order {oid}: the amendment changes nothing WeChat Channels can change"
        ))),
    }
}

fn encode_price(
    order: &Order,
    plan: &Plan,
    order_id: u64,
) -> Result<PriceUpdateRequest, PlatformError> {
    let oid = plan.order().as_str();
    if !PRICE_STATUSES.contains(order.status()) {
        return Err(PlatformError::new(
            PlatformErrorKind::WrongState,
            None,
            format!(
                "order {oid}: WeChat Channels changes prices only before payment; the order is {}",
                order.status()
            ),
        ));
    }
    if plan.next_revision() > params::REVISION_LIMIT
        || order.revision().count >= params::REVISION_LIMIT
    {
        return Err(refused(format!(
            "order {oid}: already changed {} times; WeChat Channels allows {} changes before payment",
            order.revision().count,
            params::REVISION_LIMIT
        )));
    }
    let mut infos = Vec::new();
    if plan.lines().is_empty() {
        // Freight only: restate the lines earlier changes lowered.
        for line in order.lines().iter().filter(|l| !l.is_closed()) {
            if line.current_total() != line.original_total() {
                let lid = line.id().as_str();
                let (product_id, sku_id) = product_and_sku(oid, lid, line.product(), line.sku())?;
                infos.push(ChangeOrderInfo {
                    product_id,
                    sku_id,
                    change_price: minor_units(
                        line.current_total(),
                        format_args!("line {lid} total"),
                        oid,
                    )?,
                });
            }
        }
    } else {
        for line in plan.lines() {
            let lid = line.line().as_str();
            if above(line.target(), line.original()) {
                return Err(refused(format!(
                    "order {oid}: line {lid}: WeChat Channels only lowers prices"
                )));
            }
            if line.is_named() || line.target() != line.original() {
                let (product_id, sku_id) = product_and_sku(oid, lid, line.product(), line.sku())?;
                infos.push(ChangeOrderInfo {
                    product_id,
                    sku_id,
                    change_price: minor_units(
                        line.target(),
                        format_args!("line {lid} total"),
                        oid,
                    )?,
                });
            }
        }
    }
    let express_fee = match plan.freight() {
        Some(f) => {
            if above(f.target(), f.original()) {
                return Err(refused(format!(
                    "order {oid}: freight: WeChat Channels only lowers prices"
                )));
            }
            Some(minor_units(f.target(), "freight", oid)?)
        }
        // Restate a freight an earlier change lowered.
        None if order.freight_current() != order.freight_original() => {
            Some(minor_units(order.freight_current(), "freight", oid)?)
        }
        None => None,
    };
    if plan.new_total().is_zero() {
        return Err(refused(format!(
            "order {oid}: WeChat Channels keeps the order total above zero"
        )));
    }
    Ok(PriceUpdateRequest {
        order_id,
        change_order_infos: infos,
        change_express: express_fee.is_some(),
        express_fee,
    })
}

fn encode_address(
    order: &Order,
    plan: &Plan,
    order_id: u64,
    address_changes: u32,
) -> Result<AddressUpdateRequest, PlatformError> {
    let oid = plan.order().as_str();
    if !address_statuses().contains(order.status()) {
        return Err(PlatformError::new(
            PlatformErrorKind::WrongState,
            None,
            format!(
                "order {oid}: WeChat Channels changes the address only before shipping; the order is {}",
                order.status()
            ),
        ));
    }
    if address_changes >= params::ADDRESS_CHANGE_LIMIT {
        return Err(refused(format!(
            "order {oid}: the address was already changed {address_changes} times; WeChat Channels allows {}",
            params::ADDRESS_CHANGE_LIMIT
        )));
    }
    let a = plan
        .address()
        .ok_or_else(|| invalid_request(format!("order {oid}: the plan carries no address")))?;
    Ok(AddressUpdateRequest {
        order_id,
        user_address: to_wire(a),
    })
}

/// The domain address as `user_address` (see the platform page for the mapping).
pub fn to_wire(a: &Address) -> UserAddress {
    UserAddress {
        user_name: a.receiver.clone(),
        postal_code: a.zip.clone(),
        province_name: a.province.clone(),
        city_name: a.city.clone(),
        county_name: a.district.clone(),
        detail_info: a.street.clone(),
        national_code: None,
        tel_number: a
            .mobile
            .clone()
            .or_else(|| a.telephone.as_ref().and_then(|t| t.number.clone())),
        house_number: None,
        virtual_order_tel_number: None,
    }
}

/// A wire address as the domain's.
pub fn from_wire(w: &UserAddress) -> Address {
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

/// The domain status of a Channels status code.
pub fn status(code: i64) -> OrderStatus {
    let known = |c: u32| i64::from(c) == code;
    if known(params::STATUS_AWAITING_PAYMENT) {
        OrderStatus::AwaitingPayment
    } else if known(params::STATUS_AWAITING_SHIPMENT) {
        OrderStatus::Paid
    } else if known(params::STATUS_PARTLY_SHIPPED) || known(params::STATUS_AWAITING_RECEIPT) {
        OrderStatus::Shipped
    } else if known(params::STATUS_COMPLETED) {
        OrderStatus::Completed
    } else if known(params::STATUS_CANCELLED_AFTER_SALE) || known(params::STATUS_CANCELLED) {
        OrderStatus::Closed
    } else {
        OrderStatus::Other(code.to_string())
    }
}

fn fen(amount: i64, field: &str, oid: &str) -> Result<Amount, PlatformError> {
    let protocol = |why: String| {
        PlatformError::new(
            PlatformErrorKind::Protocol,
            Some("protocol".to_owned()),
            format!("order {oid}: {field}: {why}"),
        )
    };
    if amount < 0 {
        return Err(protocol(format!("negative amount {amount}")));
    }
    Amount::new(Money::from_minor(amount, Currency::Cny).amount())
        .map_err(|e| protocol(e.to_string()))
}

/// Maps a read order to the domain snapshot (see the platform page for the mapping). The
/// revision count is 0: the read does not carry it.
pub fn to_domain(o: &ChannelsOrder) -> Result<Order, PlatformError> {
    let oid = o.order_id.to_string();
    let protocol = |why: String| {
        PlatformError::new(
            PlatformErrorKind::Protocol,
            Some("protocol".to_owned()),
            format!("order {oid}: {why}"),
        )
    };
    let d = &o.order_detail;
    let mut lines = Vec::with_capacity(d.product_infos.len());
    for p in &d.product_infos {
        let lid = format!("{}:{}", p.product_id, p.sku_id);
        let qty = u32::try_from(p.sku_cnt)
            .ok()
            .and_then(|n| Quantity::whole(n).ok())
            .ok_or_else(|| protocol(format!("line {lid}: quantity {}", p.sku_cnt)))?;
        let original = p
            .sale_price
            .checked_mul(p.sku_cnt)
            .ok_or_else(|| protocol(format!("line {lid}: total overflows")))?;
        lines.push(OrderLineSpec {
            id: LineId::new(lid.clone()).map_err(|e| protocol(e.to_string()))?,
            product: Some(
                ProductRef::new(p.product_id.to_string()).map_err(|e| protocol(e.to_string()))?,
            ),
            sku: Some(SkuRef::new(p.sku_id.to_string()).map_err(|e| protocol(e.to_string()))?),
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
        id: OrderId::new(oid.clone()).map_err(|e| protocol(e.to_string()))?,
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
            .map(from_wire),
        logistics: None,
        delivery_date: None,
        remarks: None,
        payment: None,
    };
    Order::try_from(spec).map_err(|e| protocol(e.to_string()))
}

#[async_trait]
impl OrderPlatform for ChannelsPlatform {
    fn name(&self) -> &str {
        &self.policy.name
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    async fn apply(&self, order: &Order, plan: &Plan) -> Result<Receipt, PlatformError> {
        match encode(order, plan, self.address_changes(plan.order()))? {
            Request::Price(req) => {
                let reply = self.client.update_price(&req).await?;
                Ok(Receipt::new(reply.raw))
            }
            Request::Address(req) => {
                let reply = self.client.update_address(&req).await?;
                *self
                    .address_changes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(plan.order().clone())
                    .or_insert(0) += 1;
                // Submitted, not yet changed: the buyer may have to agree (see the platform page).
                Ok(Receipt::new(reply.raw))
            }
        }
    }
}

#[async_trait]
impl OrderSource for ChannelsPlatform {
    fn name(&self) -> &str {
        &self.policy.name
    }

    async fn fetch(&self, id: &OrderId) -> Result<Order, PlatformError> {
        let oid = id.as_str();
        let order_id = numeric_id(oid, "order id", oid, PLATFORM)?;
        let o = self.client.get_order(order_id).await?;
        to_domain(&o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use order_domain::{Amendment, plan};

    fn order(json: &str) -> Order {
        serde_json::from_str(json).unwrap()
    }

    const ORDER: &str = r#"{"id": "3705115058471208928", "status": "awaiting_payment", "currency": "CNY",
        "lines": [
          {"id": "L1", "product": "9007199254740993", "sku": "18446744073709551615", "original_total": "30.00", "current_total": "20.00"},
          {"id": "L2", "product": "2", "sku": "22", "original_total": "10.00"}
        ],
        "freight": {"original": "5.00", "current": "3.00"}}"#;

    fn amend(json: &str) -> Amendment {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_price_change_restates_every_line_and_the_freight_earlier_changes_lowered() {
        let o = order(ORDER);
        let p = plan(&o, &amend(r#"{"lines": {"L2": "9.00"}}"#), &policy()).unwrap();
        let Request::Price(req) = encode(&o, &p, 0).unwrap() else {
            panic!("a price request")
        };
        let lines: Vec<_> = req
            .change_order_infos
            .iter()
            .map(|i| (i.product_id, i.sku_id, i.change_price))
            .collect();
        assert_eq!(
            lines,
            [(9_007_199_254_740_993, u64::MAX, 2000), (2, 22, 900)],
            "L1 keeps its earlier 20.00, L2 is named"
        );
        assert_eq!((req.change_express, req.express_fee), (true, Some(300)));

        let p = plan(&o, &amend(r#"{"freight": "0"}"#), &policy()).unwrap();
        let Request::Price(req) = encode(&o, &p, 0).unwrap() else {
            panic!("a price request")
        };
        assert_eq!(req.change_order_infos.len(), 1, "L1 restated");
        assert_eq!(req.express_fee, Some(0));
    }

    #[test]
    fn prices_and_address_together_are_refused_as_two_calls() {
        let o = order(ORDER);
        let a = amend(
            r#"{"lines": {"L2": "9.00"}, "address": {"receiver": "陈", "mobile": "138", "province": "广东", "city": "广州", "street": "大塘 1 号"}}"#,
        );
        let e = encode(&o, &plan(&o, &a, &policy()).unwrap(), 0).unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::RejectedByRule);
        assert!(e.message().contains("two separate calls"), "{e}");
    }

    #[test]
    fn a_paid_order_takes_an_address_but_not_a_price() {
        let o = order(&ORDER.replace("awaiting_payment", "paid"));
        let p = plan(&o, &amend(r#"{"lines": {"L2": "9.00"}}"#), &policy()).unwrap();
        let e = encode(&o, &p, 0).unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::WrongState);
        let a = amend(
            r#"{"address": {"receiver": "陈", "mobile": "138", "province": "广东", "city": "广州", "district": "海珠区", "street": "大塘 1 号", "zip": "510000"}}"#,
        );
        let p = plan(&o, &a, &policy()).unwrap();
        let Request::Address(req) = encode(&o, &p, 4).unwrap() else {
            panic!("an address request")
        };
        assert_eq!(req.order_id, 3_705_115_058_471_208_928);
        assert_eq!(req.user_address.county_name.as_deref(), Some("海珠区"));
        assert_eq!(req.user_address.tel_number.as_deref(), Some("138"));
        assert_eq!(from_wire(&req.user_address), a.address.unwrap());
        let e = encode(&o, &p, 5).unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::RejectedByRule);
        assert!(e.message().contains("5 times"), "{e}");
    }

    #[test]
    fn statuses_map_to_the_domain() {
        assert_eq!(status(10), OrderStatus::AwaitingPayment);
        assert_eq!(status(20), OrderStatus::Paid);
        assert_eq!(status(21), OrderStatus::Shipped);
        assert_eq!(status(30), OrderStatus::Shipped);
        assert_eq!(status(100), OrderStatus::Completed);
        assert_eq!(status(200), OrderStatus::Closed);
        assert_eq!(status(250), OrderStatus::Closed);
        assert_eq!(status(12), OrderStatus::Other("12".into()));
    }
}
