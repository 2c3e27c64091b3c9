//! [`EmPlatform`]: the [`OrderPlatform`] port on top of [`EmClient`].

use async_trait::async_trait;
use order_domain::{
    Address, Item, Logistics, Order, OrderPlatform, Plan, PlatformError, Policy, Receipt, Remarks,
};

use transport_core::invalid_request;

use crate::client::EmClient;
use crate::generated::params;
use crate::wire::{TradeModifyItem, TradeModifyRequest};

/// EM franchiser as an [`OrderPlatform`], with [`Policy::em_franchiser`].
#[derive(Debug, Clone)]
pub struct EmPlatform {
    client: EmClient,
    policy: Policy,
}

impl EmPlatform {
    /// The platform over `client`, with the EM policy.
    pub fn new(client: EmClient) -> Self {
        EmPlatform {
            client,
            policy: Policy::em_franchiser(),
        }
    }

    /// With an adjusted policy (it must stay within what EM accepts).
    #[must_use]
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// The typed client.
    pub fn client(&self) -> &EmClient {
        &self.client
    }
}

#[async_trait]
impl OrderPlatform for EmPlatform {
    fn name(&self) -> &str {
        "em-franchiser"
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    async fn apply(&self, order: &Order, plan: &Plan) -> Result<Receipt, PlatformError> {
        let req = request_from_plan(order, plan)?;
        let done = self.client.modify_trade(&req).await?;
        let mut receipt = Receipt::new(done.raw_reply);
        if let Some(t) = done.tradeno {
            receipt = receipt.with_reference(t);
        }
        Ok(receipt)
    }
}

fn text(v: &Option<String>) -> Option<String> {
    v.as_ref().filter(|s| !s.is_empty()).cloned()
}

/// The `request_data` for `plan`: only the parts the plan carries (EM updates only the
/// fields sent), the item list in full.
///
/// Rules EM enforces are checked again here so a plan made under a looser policy fails before
/// anything is sent (`InvalidRequest`, no code): province, city and district all or none; a
/// company for transport ways 2 and 4; whole quantities; a numeric warehouse id.
pub fn request_from_plan(order: &Order, plan: &Plan) -> Result<TradeModifyRequest, PlatformError> {
    let mut req = TradeModifyRequest::new(plan.order().as_str());
    if let Some(a) = plan.address() {
        put_address(&mut req, a)?;
    }
    if let Some(l) = plan.logistics() {
        put_logistics(&mut req, l, order.logistics())?;
    }
    if let Some(d) = plan.delivery_date() {
        req.deliverydate = Some(d.to_string());
    }
    if let Some(r) = plan.remarks() {
        put_remarks(&mut req, r);
    }
    if let Some(items) = plan.items() {
        req.items = Some(items_to_wire(items)?);
    }
    Ok(req)
}

fn put_address(req: &mut TradeModifyRequest, a: &Address) -> Result<(), PlatformError> {
    let region = [text(&a.province), text(&a.city), text(&a.district)];
    let given = region.iter().filter(|r| r.is_some()).count();
    if given != 0 && given != 3 {
        return Err(invalid_request(
            "EM needs province, city and district together or none of them".to_owned(),
        ));
    }
    let [p, c, d] = region;
    req.receivername = text(&a.receiver);
    req.mobile = text(&a.mobile);
    req.provincename = p;
    req.cityname = c;
    req.distrctname = d;
    req.address = text(&a.street);
    Ok(())
}

fn put_logistics(
    req: &mut TradeModifyRequest,
    l: &Logistics,
    current: Option<&Logistics>,
) -> Result<(), PlatformError> {
    if let Some(w) = &l.warehouse {
        let id = w.trim().parse::<u64>().map_err(|_| {
            invalid_request(format!(
                "warehouse `{w}` is not an EM warehouse id (a whole number)"
            ))
        })?;
        req.warehouseid = Some(id);
    }
    if let Some(way) = l.transport_way
        && !params::TRANSPORT_WAYS.contains(&way)
    {
        return Err(invalid_request(format!(
            "transport way {way} is not one of {:?}",
            params::TRANSPORT_WAYS
        )));
    }
    req.transportway = l.transport_way;
    let way = l.transport_way.or(current.and_then(|c| c.transport_way));
    let company = l.company.filter(|&c| c != 0);
    match way {
        Some(w) if params::WAYS_REQUIRING_COMPANY.contains(&w) => {
            let allowed = if w == params::TRANSPORT_WAY_EXPRESS {
                params::EXPRESS_COMPANIES
            } else {
                params::DEDICATED_LOGISTICS_COMPANIES
            };
            match company {
                Some(c) if allowed.contains(&c) => req.logisticscompanyid = Some(c),
                Some(c) => {
                    return Err(invalid_request(format!(
                        "logistics company {c} is not one of {allowed:?} for transport way {w}"
                    )));
                }
                None => {
                    return Err(invalid_request(format!(
                        "transport way {w} needs a logistics company"
                    )));
                }
            }
        }
        Some(w) => {
            if let Some(c) = company {
                return Err(invalid_request(format!(
                    "transport way {w} takes no logistics company, but {c} is given"
                )));
            }
        }
        None => {
            if let Some(c) = company {
                return Err(invalid_request(format!(
                    "logistics company {c} needs a transport way"
                )));
            }
        }
    }
    req.logisticscontact = text(&l.contact);
    req.logisticscarnumber = text(&l.car_number);
    req.logisticsmobile = text(&l.contact_mobile);
    Ok(())
}

fn put_remarks(req: &mut TradeModifyRequest, r: &Remarks) {
    req.traderemark = r.order.clone();
    req.remark = r.logistics.clone();
}

fn items_to_wire(items: &[Item]) -> Result<Vec<TradeModifyItem>, PlatformError> {
    items
        .iter()
        .map(|i| {
            let q = i.quantity;
            let whole = if q.is_whole() {
                q.value().trunc().to_string().parse::<u64>().ok()
            } else {
                None
            };
            let qty = whole.ok_or_else(|| {
                invalid_request(format!(
                    "quantity {q} of {} is not a whole number EM can take",
                    i.product
                ))
            })?;
            let mut item = TradeModifyItem::new(i.product.as_str(), qty);
            item.remark = i.remark.clone();
            Ok(item)
        })
        .collect()
}
