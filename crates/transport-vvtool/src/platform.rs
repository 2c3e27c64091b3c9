//! [`VvtoolPlatform`]: the [`OrderPlatform`] port over [`VvtoolClient`].

use async_trait::async_trait;
use order_domain::{
    Money, Order, OrderLine, OrderPlatform, Plan, PlatformError, PlatformErrorKind, Policy, Receipt,
};

use transport_core::{invalid_request, minor_units, numeric_id};

use crate::client::VvtoolClient;
use crate::wire::{EntryDiscount, ModifyOrderPriceRequest};

/// The platform named in id errors.
const PLATFORM: &str = "1688";

/// 1688 through vv-tool as an [`OrderPlatform`] with [`policy()`](crate::policy()), for one shop.
#[derive(Debug, Clone)]
pub struct VvtoolPlatform {
    client: VvtoolClient,
    shop_id: String,
    policy: Policy,
}

impl VvtoolPlatform {
    /// The platform for `shop_id` over `client` (share one client between the shops of a token).
    pub fn new(client: VvtoolClient, shop_id: impl Into<String>) -> Self {
        VvtoolPlatform {
            client,
            shop_id: shop_id.into(),
            policy: crate::policy(),
        }
    }

    /// The typed client.
    pub fn client(&self) -> &VvtoolClient {
        &self.client
    }

    /// The vv-tool shop id.
    pub fn shop_id(&self) -> &str {
        &self.shop_id
    }
}

/// Encodes `plan` for `order` as a vv-tool request for `shop_id`, without sending it.
///
/// - `order_id`: the order id as `u64`;
/// - `carriage`: the plan's freight target in fen, or the order's current freight when the plan
///   does not set freight (the operation always requires it); `0` is sent;
/// - `entry_discounts`: one per open line, `target - original` in signed fen (the discount
///   replaces earlier ones, so unnamed lines restate their current discount). When the plan
///   sets no line prices, the order's open lines restate their current discounts.
///
/// As a last guard, a positive discount (a raise) is refused (`RejectedByRule`) before
/// anything is sent; a non-numeric id or sub-fen amount is an `InvalidRequest` naming it.
pub fn encode(
    order: &Order,
    plan: &Plan,
    shop_id: &str,
) -> Result<ModifyOrderPriceRequest, PlatformError> {
    let oid = plan.order().as_str();
    let order_id = numeric_id(oid, "order id", oid, PLATFORM)?;
    let carriage = match plan.freight() {
        Some(f) => minor_units(f.target(), "freight", oid)?,
        None => minor_units(order.freight_current(), "freight", oid)?,
    };
    let entry_discounts = if plan.lines().is_empty() {
        let open = || order.lines().iter().filter(|l| !l.is_closed());
        // Every delta first (an arithmetic error is reported before any entry's), then the
        // entries, as with the plan's lines.
        for l in open() {
            line_delta(l, oid)?;
        }
        let mut entries = Vec::with_capacity(order.lines().len());
        for l in open() {
            entries.push(entry(l.id().as_str(), line_delta(l, oid)?, oid)?);
        }
        entries
    } else {
        plan.lines()
            .iter()
            .map(|l| entry(l.line().as_str(), l.delta_vs_original(), oid))
            .collect::<Result<Vec<_>, _>>()?
    };
    Ok(ModifyOrderPriceRequest {
        shop_id: shop_id.to_owned(),
        order_id,
        carriage,
        entry_discounts,
    })
}

/// `current - original` of an order line.
fn line_delta(l: &OrderLine, oid: &str) -> Result<Money, PlatformError> {
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

#[async_trait]
impl OrderPlatform for VvtoolPlatform {
    fn name(&self) -> &str {
        &self.policy.name
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    async fn apply(&self, order: &Order, plan: &Plan) -> Result<Receipt, PlatformError> {
        let req = encode(order, plan, &self.shop_id)?;
        let reply = self.client.modify_order_price(&req).await?;
        let receipt = Receipt::new(reply.raw);
        Ok(match reply.withholding_money {
            Some(cost) => receipt.with_cost(cost),
            None => receipt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use order_domain::{Amendment, plan};

    const ORDER: &str = r#"{"id": "2198111437768747370", "status": "awaiting_payment",
        "currency": "CNY", "trade_type": "6",
        "lines": [
          {"id": "2198111437768747371", "original_total": "100.00", "current_total": "90.00"},
          {"id": "2198111437768747372", "original_total": "50.00"},
          {"id": "2198111437768747373", "original_total": "20.00", "closed": true}
        ],
        "freight": {"original": "5.00", "current": "3.00"}}"#;

    fn order() -> Order {
        serde_json::from_str(ORDER).unwrap()
    }

    #[test]
    fn every_open_line_gets_its_signed_delta_and_zero_carriage_is_kept() {
        let o = order();
        let a: Amendment =
            serde_json::from_str(r#"{"lines": {"2198111437768747372": "45.50"}, "freight": "0"}"#)
                .unwrap();
        let p = plan(&o, &a, &crate::policy()).unwrap();
        let req = encode(&o, &p, "shop-1").unwrap();
        assert_eq!(req.order_id, 2_198_111_437_768_747_370);
        assert_eq!(req.carriage, 0);
        assert_eq!(
            req.entry_discounts,
            vec![
                EntryDiscount {
                    id: 2_198_111_437_768_747_371,
                    discount: -1000
                },
                EntryDiscount {
                    id: 2_198_111_437_768_747_372,
                    discount: -450
                },
            ]
        );
        assert!(
            serde_json::to_string(&req)
                .unwrap()
                .contains(r#""carriage":0"#)
        );
    }

    #[test]
    fn freight_not_in_plan_sends_the_current_freight() {
        let o = order();
        let a: Amendment =
            serde_json::from_str(r#"{"lines": {"2198111437768747371": "80.00"}}"#).unwrap();
        let req = encode(&o, &plan(&o, &a, &crate::policy()).unwrap(), "s").unwrap();
        assert_eq!(req.carriage, 300);
        assert_eq!(req.entry_discounts[0].discount, -2000);
    }

    #[test]
    fn freight_only_plan_restates_current_discounts_of_open_lines() {
        let o = order();
        let a: Amendment = serde_json::from_str(r#"{"freight": "1.00"}"#).unwrap();
        let req = encode(&o, &plan(&o, &a, &crate::policy()).unwrap(), "s").unwrap();
        assert_eq!(req.carriage, 100);
        assert_eq!(
            req.entry_discounts,
            vec![
                EntryDiscount {
                    id: 2_198_111_437_768_747_371,
                    discount: -1000
                },
                EntryDiscount {
                    id: 2_198_111_437_768_747_372,
                    discount: 0
                },
            ]
        );
    }

    #[test]
    fn non_numeric_ids_name_the_culprit() {
        let o: Order = serde_json::from_str(&ORDER.replace("2198111437768747372", "E-2")).unwrap();
        let a: Amendment = serde_json::from_str(r#"{"lines": {"E-2": "45.00"}}"#).unwrap();
        let e = encode(&o, &plan(&o, &a, &crate::policy()).unwrap(), "s").unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::InvalidRequest);
        assert!(e.message().contains("E-2"), "{e}");
    }
}
