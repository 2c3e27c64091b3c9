//! [`EmPlatform`]: the [`OrderPlatform`] port on top of [`EmClient`].

use std::fmt;

use async_trait::async_trait;
use order_domain::{
    Address, CalendarDate, Item, Logistics, Order, OrderPlatform, Plan, PlatformError, Policy,
    Quantity, Receipt, Remarks,
};

use serde::Serialize;
use transport_core::invalid_request;
use transport_core::text::SmallText;

use crate::client::EmClient;
use crate::generated::params;
use crate::wire::{EmNumberStyle, TradeModifyItem, TradeModifyRequest, encode_request_data};

/// EM franchiser as an [`OrderPlatform`], with [`policy()`](crate::policy()).
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
            policy: crate::policy(),
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
        let data = request_data_from_plan(order, plan, self.client.config().number_style)?;
        let done = self
            .client
            .modify_trade_data(plan.order().as_str(), &data)
            .await?;
        let mut receipt = Receipt::new(done.raw_reply);
        if let Some(t) = done.tradeno {
            receipt = receipt.with_reference(t);
        }
        Ok(receipt)
    }
}

/// The text of `v` unless it is missing or empty.
fn text(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// The `request_data` for `plan`: only the parts the plan carries (EM updates only the
/// fields sent), the item list in full.
///
/// Rules EM enforces are checked again here so a plan made under a looser policy fails before
/// anything is sent (`InvalidRequest`, no code): province, city and district all or none; a
/// company for transport ways 2 and 4; whole quantities; a numeric warehouse id.
pub fn request_from_plan(order: &Order, plan: &Plan) -> Result<TradeModifyRequest, PlatformError> {
    request_parts(order, plan).map(RequestParts::into_owned)
}

/// The `request_data` text for `plan` in `style`: exactly
/// [`request_from_plan`]`(order, plan)?.`[`to_request_data_as`](TradeModifyRequest::to_request_data_as)`(style)`,
/// with the same checks and errors, written straight from the order and the plan without
/// building the owned request first. What [`EmPlatform`] sends.
pub fn request_data_from_plan(
    order: &Order,
    plan: &Plan,
    style: EmNumberStyle,
) -> Result<String, PlatformError> {
    encode_request_data(&request_parts(order, plan)?, style)
}

fn request_parts<'a>(order: &'a Order, plan: &'a Plan) -> Result<RequestParts<'a>, PlatformError> {
    let mut req = RequestParts {
        tradeno: plan.order().as_str(),
        ..RequestParts::default()
    };
    if let Some(a) = plan.address() {
        put_address(&mut req, a)?;
    }
    if let Some(l) = plan.logistics() {
        put_logistics(&mut req, l, order.logistics())?;
    }
    if let Some(d) = plan.delivery_date() {
        req.deliverydate = Some(date_text(d));
    }
    if let Some(r) = plan.remarks() {
        put_remarks(&mut req, r);
    }
    if let Some(items) = plan.items() {
        req.items = Some(items_to_wire(items)?);
    }
    Ok(req)
}

fn put_address<'a>(req: &mut RequestParts<'a>, a: &'a Address) -> Result<(), PlatformError> {
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

fn put_logistics<'a>(
    req: &mut RequestParts<'a>,
    l: &'a Logistics,
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

fn put_remarks<'a>(req: &mut RequestParts<'a>, r: &'a Remarks) {
    req.traderemark = r.order.as_deref();
    req.remark = r.logistics.as_deref();
}

fn items_to_wire(items: &[Item]) -> Result<Vec<ItemParts<'_>>, PlatformError> {
    items
        .iter()
        .map(|i| {
            let q = i.quantity;
            let whole = if q.is_whole() { whole_number(q) } else { None };
            let qty = whole.ok_or_else(|| {
                invalid_request(format!(
                    "quantity {q} of {} is not a whole number EM can take",
                    i.product
                ))
            })?;
            Ok(ItemParts {
                outerpcode: i.product.as_str(),
                mainmeasunitqty: qty,
                remark: i.remark.as_deref(),
            })
        })
        .collect()
}

/// `request_data` as borrowed parts: serializes to the JSON of the [`TradeModifyRequest`] it
/// turns into (same field names, order and omissions), which the tests check.
#[derive(Default, Serialize)]
struct RequestParts<'a> {
    tradeno: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    warehouseid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transportway: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logisticscompanyid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    receivername: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mobile: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provincename: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cityname: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    distrctname: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deliverydate: Option<SmallText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remark: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    traderemark: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logisticscontact: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logisticscarnumber: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logisticsmobile: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    items: Option<Vec<ItemParts<'a>>>,
}

#[derive(Serialize)]
struct ItemParts<'a> {
    outerpcode: &'a str,
    mainmeasunitqty: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    remark: Option<&'a str>,
}

fn owned(t: Option<&str>) -> Option<String> {
    t.map(str::to_owned)
}

impl RequestParts<'_> {
    fn into_owned(self) -> TradeModifyRequest {
        TradeModifyRequest {
            tradeno: self.tradeno.to_owned(),
            warehouseid: self.warehouseid,
            transportway: self.transportway,
            logisticscompanyid: self.logisticscompanyid,
            receivername: owned(self.receivername),
            mobile: owned(self.mobile),
            provincename: owned(self.provincename),
            cityname: owned(self.cityname),
            distrctname: owned(self.distrctname),
            address: owned(self.address),
            deliverydate: self.deliverydate.map(|d| d.as_str().to_owned()),
            remark: owned(self.remark),
            traderemark: owned(self.traderemark),
            logisticscontact: owned(self.logisticscontact),
            logisticscarnumber: owned(self.logisticscarnumber),
            logisticsmobile: owned(self.logisticsmobile),
            items: self.items.map(|items| {
                items
                    .into_iter()
                    .map(|i| TradeModifyItem {
                        outerpcode: i.outerpcode.to_owned(),
                        mainmeasunitqty: i.mainmeasunitqty,
                        remark: owned(i.remark),
                    })
                    .collect()
            }),
        }
    }
}

/// `yyyy-MM-dd`, as the date's `Display` writes it, without the formatting machinery.
fn date_text(d: CalendarDate) -> SmallText {
    let (y, m, day) = (d.year(), d.month(), d.day());
    if y > 9999 {
        return SmallText::display(&d);
    }
    let digit = |n: u16| char::from(b'0' + (n % 10) as u8);
    let mut s = SmallText::new();
    let mut push = |c: char| {
        let _ = fmt::Write::write_char(&mut s, c);
    };
    for n in [y / 1000, y / 100, y / 10, y] {
        push(digit(n));
    }
    for n in [m, day] {
        push('-');
        push(digit(u16::from(n / 10)));
        push(digit(u16::from(n)));
    }
    s
}

/// A whole quantity as `u64`, or none when it does not fit.
fn whole_number(q: Quantity) -> Option<u64> {
    let v = q.value();
    if v.scale() == 0 {
        u64::try_from(v.mantissa()).ok()
    } else {
        v.trunc().to_string().parse::<u64>().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_whole_numbers_read_as_their_text() {
        for (y, m, d) in [(2024, 9, 28), (1, 1, 1), (999, 12, 31), (9999, 2, 28)] {
            let date = CalendarDate::new(y, m, d).unwrap();
            assert_eq!(date_text(date).as_str(), date.to_string());
        }
        for text in [
            "1",
            "3",
            "10",
            "3.000",
            "18446744073709551615",
            "18446744073709551616",
        ] {
            let q = Quantity::new(text.parse().unwrap()).unwrap();
            assert_eq!(
                whole_number(q),
                q.value().trunc().to_string().parse::<u64>().ok(),
                "{text}"
            );
        }
    }

    fn em_order(extra: serde_json::Value) -> Order {
        let mut spec = serde_json::json!({
            "id": "DD202409260001", "status": "paid", "currency": "CNY",
            "lines": [{"id": "1", "product": "ERP_1113005", "quantity": "3", "original_total": "30"}],
            "logistics": {"transport_way": 4, "company": 8}
        });
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        serde_json::from_value(spec).unwrap()
    }

    fn em_cases() -> Vec<(Order, Plan)> {
        use order_domain::{Amendment, Part, plan};
        use serde_json::json;
        let amendments = [
            json!({"address": {"province": "上海", "city": "上海市", "district": "嘉定区", "street": "商城路\"1\"",
                   "receiver": "hanson", "mobile": "18817834074"},
                   "logistics": {"transport_way": 4, "company": 8}, "delivery_date": "2024-09-28",
                   "items": [{"product": "ERP_1113005", "quantity": 1}]}),
            json!({"address": {"province": "上海", "city": "", "district": "嘉定区"}}),
            json!({"address": {"province": "", "city": "", "district": "", "receiver": ""}}),
            json!({"logistics": {"warehouse": " 5 ", "transport_way": 2, "company": 10,
                   "contact": "王", "car_number": "沪A", "contact_mobile": ""}}),
            json!({"logistics": {"warehouse": "W5"}}),
            json!({"logistics": {"transport_way": 9}}),
            json!({"logistics": {"transport_way": 4, "company": 6}}),
            json!({"logistics": {"transport_way": 2}}),
            json!({"logistics": {"transport_way": 3, "company": 8}}),
            json!({"logistics": {"company": 8}}),
            json!({"logistics": {"company": 0}}),
            json!({"delivery_date": "0999-01-02"}),
            json!({"remarks": {"order": "订单 & =", "logistics": ""}}),
            json!({"items": [{"product": "A", "quantity": "2.5"}, {"product": "B", "quantity": 1, "remark": "备注"}]}),
            json!({"items": [{"product": "A", "quantity": "18446744073709551616"}]}),
            json!({"items": [{"product": "A", "quantity": "3.000", "remark": ""}]}),
            json!({"items": []}),
        ];
        let mut loose = Policy::permissive("loose");
        loose.changeable = vec![
            Part::Address,
            Part::Logistics,
            Part::DeliveryDate,
            Part::Items,
            Part::Remarks,
        ];
        let mut out = Vec::new();
        for extra in [
            json!({}),
            json!({"logistics": {"transport_way": 2, "company": 10}}),
            json!({"logistics": null}),
        ] {
            let o = em_order(extra);
            for a in &amendments {
                let a: Amendment = serde_json::from_value(a.clone()).unwrap();
                for policy in [crate::policy(), loose.clone()] {
                    if let Ok(p) = plan(&o, &a, &policy) {
                        out.push((o.clone(), p));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn request_data_from_plan_is_the_owned_requests_text_with_the_same_errors() {
        let (mut ok, mut err) = (0, 0);
        for (o, p) in em_cases() {
            for style in [EmNumberStyle::Integers, EmNumberStyle::Strings] {
                let owned = request_from_plan(&o, &p).and_then(|r| r.to_request_data_as(style));
                assert_eq!(request_data_from_plan(&o, &p, style), owned, "{p:?}");
                if owned.is_ok() { ok += 1 } else { err += 1 }
            }
        }
        assert!(ok > 20 && err > 10, "{ok} {err}");
    }
}
