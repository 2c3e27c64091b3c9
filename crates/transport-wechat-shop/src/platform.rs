//! [`WechatShopPlatform`]: the [`OrderPlatform`] port over [`WechatShopClient`].

use async_trait::async_trait;
use order_domain::{
    Money, Order, OrderPlatform, Plan, PlatformError, PlatformErrorKind, Policy, Receipt,
};

use transport_core::{invalid_request, minor_units, numeric_id};

use crate::client::WechatShopClient;
use crate::generated::params;
use crate::wire::{ChangeOrderInfo, ChangeOrderPriceRequest};

/// The platform named in id errors.
const PLATFORM: &str = "WeChat";

/// WeChat Shop as an [`OrderPlatform`] with [`policy()`](crate::policy()).
#[derive(Debug, Clone)]
pub struct WechatShopPlatform {
    client: WechatShopClient,
    policy: Policy,
}

impl WechatShopPlatform {
    /// The platform over `client`.
    pub fn new(client: WechatShopClient) -> Self {
        WechatShopPlatform {
            client,
            policy: crate::policy(),
        }
    }

    /// The typed client.
    pub fn client(&self) -> &WechatShopClient {
        &self.client
    }
}

fn raises(target: Money, original: Money) -> bool {
    matches!(
        target.checked_cmp(&original),
        Ok(std::cmp::Ordering::Greater)
    )
}

/// Encodes `plan` for `order` as a `change_order_price` request, without sending it.
///
/// - `order_id`: the order id as `u64`;
/// - one `change_order_infos` entry per line the amendment named, with the line's product and
///   SKU ids and its target total in fen;
/// - `change_express` is true when the plan sets freight, with `express_fee` its target in fen
///   (`0` included).
///
/// As a last guard before anything is sent, the request is refused (`RejectedByRule`) when the
/// plan would exceed the 50-revision limit or raise a line or the freight above its original,
/// and (`InvalidRequest`) when an id is not numeric or an amount has sub-fen precision.
pub fn encode(order: &Order, plan: &Plan) -> Result<ChangeOrderPriceRequest, PlatformError> {
    let oid = plan.order().as_str();
    let order_id = numeric_id(oid, "order id", oid, PLATFORM)?;
    if plan.next_revision() > params::REVISION_LIMIT
        || order.revision().count >= params::REVISION_LIMIT
    {
        return Err(PlatformError::new(
            PlatformErrorKind::RejectedByRule,
            None,
            format!(
                "order {oid}: already changed {} times; WeChat allows {} changes before payment",
                order.revision().count,
                params::REVISION_LIMIT
            ),
        ));
    }
    let mut infos = Vec::with_capacity(plan.lines().len());
    for line in plan.sent_lines() {
        let lid = line.line().as_str();
        if raises(line.target(), line.original()) {
            return Err(PlatformError::new(
                PlatformErrorKind::RejectedByRule,
                None,
                format!("order {oid}: line {lid}: WeChat only lowers prices"),
            ));
        }
        let product = line
            .product()
            .ok_or_else(|| invalid_request(format!("order {oid}: line {lid} has no product id")))?;
        let sku = line
            .sku()
            .ok_or_else(|| invalid_request(format!("order {oid}: line {lid} has no SKU id")))?;
        infos.push(ChangeOrderInfo {
            product_id: numeric_id(
                product.as_str(),
                format_args!("line {lid} product id"),
                oid,
                PLATFORM,
            )?,
            sku_id: numeric_id(
                sku.as_str(),
                format_args!("line {lid} SKU id"),
                oid,
                PLATFORM,
            )?,
            change_price: minor_units(line.target(), format_args!("line {lid} total"), oid)?,
        });
    }
    let express_fee = match plan.freight() {
        Some(f) => {
            if raises(f.target(), f.original()) {
                return Err(PlatformError::new(
                    PlatformErrorKind::RejectedByRule,
                    None,
                    format!("order {oid}: freight: WeChat only lowers prices"),
                ));
            }
            Some(minor_units(f.target(), "freight", oid)?)
        }
        None => None,
    };
    Ok(ChangeOrderPriceRequest {
        order_id,
        change_express: express_fee.is_some(),
        express_fee,
        change_order_infos: infos,
    })
}

#[async_trait]
impl OrderPlatform for WechatShopPlatform {
    fn name(&self) -> &str {
        &self.policy.name
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    async fn apply(&self, order: &Order, plan: &Plan) -> Result<Receipt, PlatformError> {
        let req = encode(order, plan)?;
        let reply = self.client.change_order_price(&req).await?;
        Ok(Receipt::new(reply.raw))
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
          {"id": "L1", "product": "9007199254740993", "sku": "18446744073709551615", "original_total": "30.00"},
          {"id": "L2", "product": "2", "sku": "22", "original_total": "10.00"}
        ],
        "freight": {"original": "5.00"}}"#;

    #[test]
    fn named_lines_only_with_totals_in_fen_and_zero_freight_sent() {
        let o = order(ORDER);
        let a: Amendment =
            serde_json::from_str(r#"{"lines": {"L1": "25.50"}, "freight": "0"}"#).unwrap();
        let p = plan(&o, &a, &crate::policy()).unwrap();
        let req = encode(&o, &p).unwrap();
        assert_eq!(req.order_id, 3_705_115_058_471_208_928);
        assert!(req.change_express);
        assert_eq!(req.express_fee, Some(0));
        assert_eq!(
            req.change_order_infos,
            vec![ChangeOrderInfo {
                product_id: 9_007_199_254_740_993,
                sku_id: u64::MAX,
                change_price: 2550
            }]
        );
        let wire = serde_json::to_string(&req).unwrap();
        assert!(wire.contains(r#""express_fee":0"#), "{wire}");
    }

    #[test]
    fn no_freight_means_change_express_false() {
        let o = order(ORDER);
        let a: Amendment = serde_json::from_str(r#"{"lines": {"L2": "9.99"}}"#).unwrap();
        let req = encode(&o, &plan(&o, &a, &crate::policy()).unwrap()).unwrap();
        assert!(!req.change_express);
        assert_eq!(req.express_fee, None);
        assert_eq!(req.change_order_infos[0].change_price, 999);
    }

    #[test]
    fn non_numeric_ids_are_invalid_requests_naming_the_culprit() {
        let o = order(&ORDER.replace("3705115058471208928", "WX-1"));
        let a: Amendment = serde_json::from_str(r#"{"lines": {"L2": "9.99"}}"#).unwrap();
        let e = encode(&o, &plan(&o, &a, &crate::policy()).unwrap()).unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::InvalidRequest);
        assert!(e.message().contains("WX-1"), "{e}");

        let o = order(&ORDER.replace(r#""product": "2", "sku": "22", "#, ""));
        let e = encode(&o, &plan(&o, &a, &crate::policy()).unwrap()).unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::InvalidRequest);
        assert!(e.message().contains("line L2"), "{e}");
    }
}
