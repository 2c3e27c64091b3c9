//! [`Open1688Platform`]: the [`OrderPlatform`] and [`OrderSource`] ports over [`Open1688Client`].

use async_trait::async_trait;
use order_domain::{
    Amount, Currency, FreightSpec, LineId, Money, Order, OrderId, OrderLine, OrderLineSpec,
    OrderPlatform, OrderSource, OrderSpec, OrderStatus, Plan, PlatformError, PlatformErrorKind,
    Policy, ProductRef, Quantity, Receipt, RevisionState, SkuRef,
};
use rust_decimal::Decimal;
use transport_core::{invalid_request, minor_units, numeric_id};

use crate::client::Open1688Client;
use crate::wire::{EntryDiscount, ModifyOrderPriceRequest, ProductItem, TradeInfo};

/// The platform's name in the config and in errors.
pub const NAME: &str = "alibaba-1688";

/// The platform named in id errors.
const PLATFORM: &str = "1688";

/// The 1688 open platform as an [`OrderPlatform`] (price change) and [`OrderSource`] (the
/// seller's order read) for one seller, with the shared 1688 [`policy`](crate::policy()).
#[derive(Debug, Clone)]
pub struct Open1688Platform {
    client: Open1688Client,
    policy: Policy,
}

impl Open1688Platform {
    /// The platform over `client` (one per seller's access token).
    pub fn new(client: Open1688Client) -> Self {
        Open1688Platform {
            client,
            policy: crate::policy::policy(),
        }
    }

    /// The typed client.
    pub fn client(&self) -> &Open1688Client {
        &self.client
    }
}

/// Encodes `plan` for `order` as a price change, without sending it.
///
/// - `orderId`: the order id as `u64` (checked digits, never a float);
/// - `carriage`: the plan's freight target in fen, or the order's current freight when the
///   plan leaves freight alone (the operation requires it); `0` is sent;
/// - `entryDiscounts`: one per open line, `target − original` in signed fen. A discount
///   replaces the entry's earlier one, so a line the plan does not change restates its current
///   discount (never `0`, never left out). When the plan names no line, every open line
///   restates its current discount.
///
/// As a last guard a raise (positive discount) is refused (`RejectedByRule`) before anything is
/// sent; a non-numeric id or a sub-fen amount is an `InvalidRequest` naming it.
pub fn encode(order: &Order, plan: &Plan) -> Result<ModifyOrderPriceRequest, PlatformError> {
    let oid = plan.order().as_str();
    let order_id = numeric_id(oid, "order id", oid, PLATFORM)?;
    let carriage = match plan.freight() {
        Some(f) => minor_units(f.target(), "freight", oid)?,
        None => minor_units(order.freight_current(), "freight", oid)?,
    };
    let entry_discounts = if plan.lines().is_empty() {
        order
            .lines()
            .iter()
            .filter(|l| !l.is_closed())
            .map(|l| entry(l.id().as_str(), current_delta(l, oid)?, oid))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        plan.lines()
            .iter()
            .map(|l| entry(l.line().as_str(), l.delta_vs_original(), oid))
            .collect::<Result<Vec<_>, _>>()?
    };
    Ok(ModifyOrderPriceRequest {
        order_id,
        carriage,
        entry_discounts,
    })
}

/// `current − original` of an order line.
fn current_delta(l: &OrderLine, oid: &str) -> Result<Money, PlatformError> {
    l.current_total()
        .checked_sub(l.original_total())
        .map_err(|e| invalid_request(format!("order {oid}: line {}: {e}", l.id())))
}

/// The entry of line `lid` with signed `delta`; a raise is refused.
fn entry(lid: &str, delta: Money, oid: &str) -> Result<EntryDiscount, PlatformError> {
    let discount = minor_units(delta, format_args!("line {lid} discount"), oid)?;
    if discount > 0 {
        return Err(PlatformError::new(
            PlatformErrorKind::RejectedByRule,
            None,
            format!("order {oid}: line {lid}: 1688 only lowers prices"),
        ));
    }
    Ok(EntryDiscount {
        id: numeric_id(lid, format_args!("line {lid} entry id"), oid, PLATFORM)?,
        discount,
    })
}

/// The normalised status of a 1688 order status (`baseInfo.status`), as for the pushed order
/// message: `waitbuyerpay` awaiting payment, `waitsellersend` paid, `waitbuyerreceive` and
/// `send_goods_but_not_fund` shipped, `success` and `confirm_goods*` completed, `cancel` and
/// `terminated` closed, anything else kept verbatim.
pub fn map_status(raw: &str) -> OrderStatus {
    match raw {
        "waitbuyerpay" => OrderStatus::AwaitingPayment,
        "waitsellersend" => OrderStatus::Paid,
        "waitbuyerreceive" | "send_goods_but_not_fund" => OrderStatus::Shipped,
        "success"
        | "confirm_goods"
        | "confirm_goods_and_has_subsidy"
        | "confirm_goods_but_not_fund" => OrderStatus::Completed,
        "cancel" | "terminated" => OrderStatus::Closed,
        other => OrderStatus::Other(other.to_owned()),
    }
}

/// A `Protocol` error about the read's field `at`.
fn bad_read(at: &str, problem: impl std::fmt::Display) -> PlatformError {
    PlatformError::new(
        PlatformErrorKind::Protocol,
        None,
        format!("sellerView reply: {at}: {problem}"),
    )
}

/// Maps a seller's view of an order to the domain snapshot.
///
/// A line's current total is `itemAmount` (yuan), its original total `itemAmount −
/// entryDiscount` (the discount is signed fen against the original); without `itemAmount` the
/// current total is `price × quantity + entryDiscount`. Entries `cancel` or `terminated` are
/// closed. Freight (`shippingFee`) is both original and current: the read does not carry the
/// freight before a change. Ids are the string forms when present.
pub fn to_order(info: &TradeInfo) -> Result<Order, PlatformError> {
    let base = &info.base_info;
    let id_text = base
        .order_id()
        .ok_or_else(|| bad_read("result.baseInfo.idOfStr", "the order has no id"))?;
    let id = OrderId::new(id_text).map_err(|e| bad_read("result.baseInfo.idOfStr", e))?;
    let lines = info
        .product_items
        .iter()
        .enumerate()
        .map(|(i, item)| to_line(item, i))
        .collect::<Result<Vec<_>, _>>()?;
    let freight = base.shipping_fee.unwrap_or(Amount::ZERO);
    let spec = OrderSpec {
        id,
        status: map_status(&base.status),
        currency: Currency::Cny,
        trade_type: base.trade_type.clone(),
        lines,
        freight: Some(FreightSpec {
            original: freight,
            current: Some(freight),
        }),
        revision: RevisionState::default(),
        address: None,
        logistics: None,
        delivery_date: None,
        remarks: None,
        payment: None,
    };
    Order::from_spec(spec).map_err(|e| bad_read(&format!("result ({})", e.field), e.problem))
}

fn to_line(item: &ProductItem, i: usize) -> Result<OrderLineSpec, PlatformError> {
    let at = |field: &str| format!("result.productItems[{i}].{field}");
    let id_text = item
        .entry_id()
        .ok_or_else(|| bad_read(&at("subItemIDString"), "the entry has no id"))?;
    let id = LineId::new(id_text).map_err(|e| bad_read(&at("subItemIDString"), e))?;
    let product = item
        .product_id
        .clone()
        .map(ProductRef::new)
        .transpose()
        .map_err(|e| bad_read(&at("productID"), e))?;
    let sku = item
        .sku_id
        .clone()
        .map(SkuRef::new)
        .transpose()
        .map_err(|e| bad_read(&at("skuID"), e))?;
    let quantity = Quantity::new(item.quantity.map_or(Decimal::ONE, |q| q.value()))
        .map_err(|e| bad_read(&at("quantity"), e))?;
    let discount = Money::from_minor(item.entry_discount.unwrap_or(0), Currency::Cny);
    let current = match item.item_amount {
        Some(a) => a.in_currency(Currency::Cny),
        None => {
            let price = item.price.ok_or_else(|| {
                bad_read(
                    &at("itemAmount"),
                    "the entry has neither itemAmount nor price",
                )
            })?;
            price
                .in_currency(Currency::Cny)
                .checked_mul(quantity.value())
                .and_then(|t| t.checked_add(discount))
                .map_err(|e| bad_read(&at("itemAmount"), e))?
        }
    };
    let original = current
        .checked_sub(discount)
        .map_err(|e| bad_read(&at("entryDiscount"), e))?;
    let amount =
        |m: Money, field: &str| Amount::new(m.amount()).map_err(|e| bad_read(&at(field), e));
    Ok(OrderLineSpec {
        id,
        product,
        sku,
        name: item.name.clone(),
        unit: item.unit.clone(),
        quantity,
        unit_price: item.price,
        original_total: amount(original, "entryDiscount")?,
        current_total: Some(amount(current, "itemAmount")?),
        closed: matches!(item.status.as_deref(), Some("cancel" | "terminated")),
    })
}

#[async_trait]
impl OrderPlatform for Open1688Platform {
    fn name(&self) -> &str {
        NAME
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    async fn apply(&self, order: &Order, plan: &Plan) -> Result<Receipt, PlatformError> {
        let req = encode(order, plan)?;
        let reply = self.client.modify_order_price(&req).await?;
        Ok(Receipt::new(reply.raw))
    }
}

#[async_trait]
impl OrderSource for Open1688Platform {
    fn name(&self) -> &str {
        NAME
    }

    async fn fetch(&self, id: &OrderId) -> Result<Order, PlatformError> {
        // Checked before the call: a non-numeric id is not a 1688 order.
        numeric_id(id.as_str(), "order id", id.as_str(), PLATFORM)?;
        let info = self.client.seller_view(id.as_str()).await?;
        to_order(&info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::decode_seller_view_reply;

    /// The order of seed 002 (trimmed to the fields read), as a sellerView reply.
    const SEED_002: &str = r#"{"success": "true", "result": {
        "baseInfo": {"id": 58218860983545944, "idOfStr": "58218860983545941",
            "status": "waitbuyerreceive", "tradeType": "50060", "shippingFee": 6,
            "totalAmount": 6.15, "sumProductPayment": 0.3, "discount": 0},
        "productItems": [
          {"itemAmount": 0.3, "price": 0.3, "productID": 547486647009, "quantity": 1,
           "skuID": 3315536521048, "status": "waitsellersend", "subItemID": 128403042259997710,
           "unit": "箱", "entryDiscount": 0, "subItemIDString": "128403042259997715"},
          {"itemAmount": 0.05, "price": 0.1, "quantity": 1, "status": "waitbuyerreceive",
           "subItemID": 58218860985545944, "entryDiscount": -5},
          {"itemAmount": 0.05, "price": 0.1, "quantity": 1, "status": "cancel",
           "subItemID": 58218860986545944, "entryDiscount": 0}
        ]}}"#;

    #[test]
    fn seed_002_maps_with_string_ids_and_mixed_units() {
        let info = decode_seller_view_reply(SEED_002.as_bytes(), &[]).unwrap();
        let o = to_order(&info).unwrap();
        let cny = |s: &str| Money::parse(s, Currency::Cny).unwrap();
        assert_eq!(o.id().as_str(), "58218860983545941", "idOfStr wins over id");
        assert_eq!(o.status(), &OrderStatus::Shipped);
        assert_eq!(o.trade_type(), Some("50060"));
        assert_eq!(o.freight_current(), cny("6"));
        let l = o.lines();
        assert_eq!(
            l[0].id().as_str(),
            "128403042259997715",
            "subItemIDString wins"
        );
        assert_eq!(
            l[1].id().as_str(),
            "58218860985545944",
            "the number's literal, exactly"
        );
        assert_eq!(
            (l[0].original_total(), l[0].current_total()),
            (cny("0.3"), cny("0.3"))
        );
        // entryDiscount is fen against the original: 0.05 now, 0.10 originally.
        assert_eq!(
            (l[1].original_total(), l[1].current_total()),
            (cny("0.1"), cny("0.05"))
        );
        assert!(l[2].is_closed() && !l[1].is_closed());
        assert_eq!(l[0].product().map(|p| p.as_str()), Some("547486647009"));
        assert_eq!(l[0].unit(), Some("箱"));
    }

    #[test]
    fn an_order_without_an_id_is_a_protocol_error() {
        let body = r#"{"success":"true","result":{"baseInfo":{"status":"waitbuyerpay"}}}"#;
        let info = decode_seller_view_reply(body.as_bytes(), &[]).unwrap();
        let e = to_order(&info).unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::Protocol);
        assert!(e.message().contains("idOfStr"), "{e}");
    }
}
