//! From bytes to a [`DecodedMessage`]: strict JSON first, then the documented repair, then a
//! typed, exact reading, then the domain [`Order`].
//!
//! Field names documented in `docs/platforms/1688-push.md` come from the generated
//! [`message`](crate::generated::params::message) constants; the few fields read beyond that
//! table (contacts, receiver, logistics details) are spelled here.

use order_domain::{
    Amount, Currency, FreightSpec, LineId, MessageError, Money, Order, OrderId, OrderLineSpec,
    OrderSpec, OrderStatus, ProductRef, Quantity, RevisionState, SkuRef, Timestamp,
};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::generated::params::message as msg;
use crate::message::{
    BaseInfo, Contact, LogisticsItem, NativeLogistics, OrderRateInfo, PriceModifiedMessage,
    ProductItem, ReceiverInfo, SkuInfo, TradeTerm,
};
use crate::repair::{self, Repair, RepairKind};
use crate::walk::{Log, Obj, malformed};

/// A decoded message: the typed message, the order snapshot it describes, and every repair
/// that was needed to read it (empty for a well-formed message).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodedMessage {
    /// The message, typed and exact.
    pub message: PriceModifiedMessage,
    /// The order as the message describes it.
    pub order: Order,
    /// Deviations from a strict reading, in the order they were made.
    pub repairs: Vec<Repair>,
}

/// Decodes a pushed message body.
///
/// Never panics, whatever the bytes; a body that cannot be decoded gives
/// [`MessageError::Malformed`] naming where (`line L, column C` for JSON syntax, a JSON path
/// such as `$.messageBody.baseInfo.totalAmount` for content) and why.
pub fn decode_message(body: &[u8]) -> Result<DecodedMessage, MessageError> {
    let mut log = Log::default();
    let value = parse(body, &mut log)?;
    let message = read_message(&value, &mut log)?;
    let order = to_order(&message, &mut log)?;
    Ok(DecodedMessage {
        message,
        order,
        repairs: log.repairs,
    })
}

/// serde_json's message without its trailing ` at line L column C`.
fn reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

fn parse(body: &[u8], log: &mut Log) -> Result<Value, MessageError> {
    let strict_err = match serde_json::from_slice::<Value>(body) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let Some(escaped) = repair::escape_controls_in_strings(body) else {
        let at = repair::offset_of(body, strict_err.line(), strict_err.column());
        return Err(malformed(
            repair::line_col(body, at),
            format!("invalid JSON: {}", reason(&strict_err)),
        ));
    };
    match serde_json::from_slice::<Value>(&escaped.text) {
        Ok(v) => {
            let r = escaped.repair(body);
            log.record(r.kind, r.at, r.detail);
            Ok(v)
        }
        Err(e) => {
            let at = repair::offset_of(&escaped.text, e.line(), e.column());
            Err(malformed(
                repair::line_col(body, escaped.original_offset(at)),
                format!(
                    "invalid JSON even after escaping raw control characters in strings: {}",
                    reason(&e)
                ),
            ))
        }
    }
}

fn read_message(v: &Value, log: &mut Log) -> Result<PriceModifiedMessage, MessageError> {
    let root = Obj::root(v)?;
    let message_type = root.required_text(msg::MESSAGE_TYPE)?;
    let timestamp_raw = root.text(msg::TIMESTAMP)?;
    let timestamp = timestamp_raw
        .as_deref()
        .and_then(|t| t.trim().parse::<i64>().ok())
        .map(Timestamp::from_millis);
    if let (Some(raw), None) = (&timestamp_raw, timestamp) {
        log.record(
            RepairKind::UnparsedTime,
            root.path_of(msg::TIMESTAMP),
            format!("`{raw}` is not Unix milliseconds; kept as raw text"),
        );
    }
    let body = root.required_obj(msg::MESSAGE_BODY)?;
    let base_info = read_base_info(&body.required_obj(msg::BASE_INFO)?, log)?;
    let native_logistics = body
        .obj(msg::NATIVE_LOGISTICS)?
        .map(|o| read_logistics(&o, log))
        .transpose()?;
    let product_items = body
        .objs(msg::PRODUCT_ITEMS)?
        .iter()
        .map(|o| read_item(o, log))
        .collect::<Result<_, _>>()?;
    let trade_terms = body
        .objs(msg::TRADE_TERMS)?
        .iter()
        .map(|o| {
            Ok(TradeTerm {
                phase: o.id(msg::PHASE)?,
                pay_status: o.text(msg::PAY_STATUS)?,
                pay_way: o.text("payWay")?,
                pay_time: o.time(msg::PAY_TIME, log)?,
                phas_amount: o.yuan(msg::PHAS_AMOUNT)?,
            })
        })
        .collect::<Result<_, MessageError>>()?;
    let order_rate_info = body
        .obj(msg::ORDER_RATE_INFO)?
        .map(|o| {
            Ok::<_, MessageError>(OrderRateInfo {
                buyer_rate_status: o.int("buyerRateStatus")?,
                seller_rate_status: o.int("sellerRateStatus")?,
            })
        })
        .transpose()?;
    Ok(PriceModifiedMessage {
        message_type,
        message_platform: root.int(msg::MESSAGE_PLATFORM)?,
        timestamp,
        timestamp_raw,
        base_info,
        native_logistics,
        product_items,
        trade_terms,
        order_rate_info,
    })
}

fn read_contact(o: &Obj<'_>) -> Result<Contact, MessageError> {
    Ok(Contact {
        name: o.text(msg::NAME)?,
        phone: o.text("phone")?,
        mobile: o.text("mobile")?,
        email: o.text("email")?,
        im_in_platform: o.text("imInPlatform")?,
        company_name: o.text("companyName")?,
    })
}

fn read_base_info(o: &Obj<'_>, log: &mut Log) -> Result<BaseInfo, MessageError> {
    let (id, id_numeric) = o.twin_id(msg::ID, msg::ID_OF_STR, log)?;
    let id = id.ok_or_else(|| {
        malformed(
            o.path_of(msg::ID_OF_STR),
            "the order has neither `idOfStr` nor `id`",
        )
    })?;
    Ok(BaseInfo {
        id,
        id_numeric,
        status: o.required_text(msg::STATUS)?,
        trade_type: o.text(msg::TRADE_TYPE)?,
        business_type: o.text(msg::BUSINESS_TYPE)?,
        total_amount: o.required_yuan(msg::TOTAL_AMOUNT)?,
        sum_product_payment: o.yuan(msg::SUM_PRODUCT_PAYMENT)?,
        shipping_fee: o.required_yuan(msg::SHIPPING_FEE)?,
        discount: o.fen(msg::DISCOUNT)?,
        refund: o.yuan(msg::REFUND)?,
        refund_payment: o.fen(msg::REFUND_PAYMENT)?,
        refund_status: o.text(msg::REFUND_STATUS)?,
        create_time: o.time(msg::CREATE_TIME, log)?,
        modify_time: o.time(msg::MODIFY_TIME, log)?,
        pay_time: o.time(msg::PAY_TIME, log)?,
        all_delivered_time: o.time("allDeliveredTime", log)?,
        buyer_id: o.text(msg::BUYER_ID)?,
        seller_id: o.text(msg::SELLER_ID)?,
        buyer_user_id: o.id(msg::BUYER_USER_ID)?,
        seller_user_id: o.id(msg::SELLER_USER_ID)?,
        buyer_login_id: o.text("buyerLoginId")?,
        seller_login_id: o.text("sellerLoginId")?,
        alipay_trade_id: o.text("alipayTradeId")?,
        step_pay_all: o.boolean("stepPayAll")?,
        buyer_contact: o
            .obj("buyerContact")?
            .map(|c| read_contact(&c))
            .transpose()?,
        seller_contact: o
            .obj("sellerContact")?
            .map(|c| read_contact(&c))
            .transpose()?,
        receiver_info: o
            .obj(msg::RECEIVER_INFO)?
            .map(|r| {
                Ok::<_, MessageError>(ReceiverInfo {
                    to_full_name: r.text("toFullName")?,
                    to_division_code: r.text("toDivisionCode")?,
                    to_post: r.text("toPost")?,
                    to_town_code: r.text("toTownCode")?,
                    to_area: r.text("toArea")?,
                    to_mobile: r.text("toMobile")?,
                    to_phone: r.text("toPhone")?,
                })
            })
            .transpose()?,
    })
}

fn read_logistics(o: &Obj<'_>, log: &mut Log) -> Result<NativeLogistics, MessageError> {
    let logistics_items = o
        .objs(msg::LOGISTICS_ITEMS)?
        .iter()
        .map(|i| {
            let raw = i.text(msg::SUB_ITEM_IDS)?;
            let sub_item_ids = raw
                .as_deref()
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            Ok(LogisticsItem {
                id: i.id(msg::ID)?,
                logistics_code: i.text("logisticsCode")?,
                logistics_bill_no: i.text("logisticsBillNo")?,
                logistics_company_name: i.text("logisticsCompanyName")?,
                kind: i.text(msg::TYPE)?,
                status: i.text(msg::STATUS)?,
                delivered_time: i.time("deliveredTime", log)?,
                gmt_create: i.time("gmtCreate", log)?,
                gmt_modified: i.time("gmtModified", log)?,
                from_phone: i.text("fromPhone")?,
                from_mobile: i.text("fromMobile")?,
                sub_item_ids,
                sub_item_ids_raw: raw,
            })
        })
        .collect::<Result<_, MessageError>>()?;
    Ok(NativeLogistics {
        address: o.text("address")?,
        area: o.text("area")?,
        area_code: o.text("areaCode")?,
        city: o.text("city")?,
        province: o.text("province")?,
        town: o.text("town")?,
        town_code: o.text("townCode")?,
        zip: o.text("zip")?,
        contact_person: o.text("contactPerson")?,
        mobile: o.text("mobile")?,
        telephone: o.text("telephone")?,
        logistics_items,
    })
}

fn read_item(o: &Obj<'_>, log: &mut Log) -> Result<ProductItem, MessageError> {
    let (mut sub_item_id, sub_item_id_numeric) =
        o.twin_id(msg::SUB_ITEM_ID, msg::SUB_ITEM_ID_STRING, log)?;
    let product_snapshot_url = o.text("productSnapshotUrl")?;
    if o.id(msg::SUB_ITEM_ID_STRING)?.is_none()
        && let Some(numeric) = &sub_item_id_numeric
    {
        sub_item_id = Some(check_numeric_entry_id(
            numeric,
            product_snapshot_url.as_deref(),
            o.path_of(msg::SUB_ITEM_ID),
            log,
        ));
    }
    Ok(ProductItem {
        sub_item_id,
        sub_item_id_numeric,
        product_id: o.id(msg::PRODUCT_ID)?,
        sku_id: o.id(msg::SKU_ID)?,
        spec_id: o.text(msg::SPEC_ID)?,
        name: o.text(msg::NAME)?,
        unit: o.text(msg::UNIT)?,
        quantity: o.decimal(msg::QUANTITY)?,
        quantity_factor: o.decimal("quantityFactor")?,
        price: o.yuan(msg::PRICE)?,
        item_amount: o.yuan(msg::ITEM_AMOUNT)?,
        entry_discount: o.fen(msg::ENTRY_DISCOUNT)?,
        refund: o.yuan(msg::REFUND)?,
        status: o.text(msg::STATUS)?,
        status_str: o.text(msg::STATUS_STR)?,
        kind: o.text(msg::TYPE)?,
        refund_status: o.text(msg::REFUND_STATUS)?,
        refund_id: o.text("refundId")?,
        logistics_status: o.int("logisticsStatus")?,
        product_img_url: o.texts("productImgUrl")?,
        product_snapshot_url,
        sku_infos: o
            .objs("skuInfos")?
            .iter()
            .map(|s| {
                Ok(SkuInfo {
                    name: s.text(msg::NAME)?,
                    value: s.text("value")?,
                })
            })
            .collect::<Result<_, MessageError>>()?,
        gmt_create: o.time("gmtCreate", log)?,
        gmt_modified: o.time("gmtModified", log)?,
        gmt_pay_expire_time: o.time("gmtPayExpireTime", log)?,
    })
}

/// The largest integer below which every integer survives a round trip through an IEEE double.
const EXACT_IN_F64: u64 = 1 << 53;

/// An entry id given only as a number (`subItemID` without `subItemIDString`). Upstream
/// producers round such numbers through a double, so one above 2^53 may be wrong in its last
/// digits. The same entry's `productSnapshotUrl` usually names it exactly (`order_entry_id`):
/// that id is used when it differs, and the recovery is recorded. Without it, the number is
/// kept but flagged as unreliable, never silently trusted.
fn check_numeric_entry_id(
    numeric: &str,
    snapshot_url: Option<&str>,
    at: String,
    log: &mut Log,
) -> String {
    let from_url = snapshot_url.and_then(order_entry_id);
    match from_url {
        Some(exact) if exact == numeric => numeric.to_owned(),
        Some(exact) => {
            log.record(
                RepairKind::RecoveredId,
                at,
                format!(
                    "numeric id {numeric} has no subItemIDString and disagrees with \
                     productSnapshotUrl's order_entry_id `{exact}`; the URL's id is used"
                ),
            );
            exact.to_owned()
        }
        None => {
            let exact_as_double = numeric.parse::<u64>().is_ok_and(|n| n <= EXACT_IN_F64);
            if !exact_as_double {
                log.record(
                    RepairKind::UnreliableId,
                    at,
                    format!(
                        "numeric id {numeric} is above 2^53, has no subItemIDString and no \
                         productSnapshotUrl order_entry_id to check it against; it may have \
                         been rounded through a double and is kept unverified"
                    ),
                );
            }
            numeric.to_owned()
        }
    }
}

/// The `order_entry_id` query parameter of a 1688 snapshot URL, when it is all digits. The
/// URL is read as text (the documents show such URLs with a stray space after `https:`).
fn order_entry_id(url: &str) -> Option<&str> {
    let (_, query) = url.split_once('?')?;
    let query = query.split('#').next().unwrap_or_default();
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "order_entry_id")
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
}

/// The normalised status of a 1688 order status (`baseInfo.status`).
///
/// | 1688 | domain |
/// |---|---|
/// | `waitbuyerpay` | awaiting payment |
/// | `waitsellersend` | paid |
/// | `waitbuyerreceive`, `send_goods_but_not_fund` | shipped |
/// | `success`, `confirm_goods`, `confirm_goods_and_has_subsidy`, `confirm_goods_but_not_fund` | completed |
/// | `cancel`, `terminated` | closed |
/// | anything else | `Other(raw)` |
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

fn amount(m: Money, at: &str) -> Result<Amount, MessageError> {
    Amount::new(m.amount()).map_err(|e| malformed(at, e.to_string()))
}

fn to_order(m: &PriceModifiedMessage, log: &mut Log) -> Result<Order, MessageError> {
    let base = "$.messageBody.baseInfo";
    let id = OrderId::new(m.base_info.id.clone())
        .map_err(|e| malformed(format!("{base}.idOfStr"), e.to_string()))?;
    let mut lines = Vec::with_capacity(m.product_items.len());
    for (i, item) in m.product_items.iter().enumerate() {
        lines.push(to_line(item, i, log)?);
    }
    let freight = amount(m.base_info.shipping_fee, &format!("{base}.shippingFee"))?;
    let spec = OrderSpec {
        id,
        status: map_status(&m.base_info.status),
        currency: Currency::Cny,
        trade_type: m.base_info.trade_type.clone(),
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
    Order::from_spec(spec).map_err(|e| malformed(format!("{base} ({})", e.field), e.problem))
}

/// One entry as a domain line. Reading of the amounts:
/// - current total = `itemAmount` (the entry total after its discount);
/// - `entryDiscount` is the signed discount in fen already applied to the entry (1688 states
///   it against the entry's original amount, negative lowers the price), so
///   original total = `itemAmount` − `entryDiscount`;
/// - when `itemAmount` is absent it is derived as `price` × `quantity` + `entryDiscount` and
///   the derivation is recorded as a repair.
fn to_line(item: &ProductItem, i: usize, log: &mut Log) -> Result<OrderLineSpec, MessageError> {
    let at = format!("$.messageBody.productItems[{i}]");
    let id_text = item.sub_item_id.clone().ok_or_else(|| {
        malformed(
            format!("{at}.subItemIDString"),
            "the entry has neither `subItemIDString` nor `subItemID`",
        )
    })?;
    let id = LineId::new(id_text)
        .map_err(|e| malformed(format!("{at}.subItemIDString"), e.to_string()))?;
    let product = item
        .product_id
        .clone()
        .map(ProductRef::new)
        .transpose()
        .map_err(|e| malformed(format!("{at}.productID"), e.to_string()))?;
    let sku = item
        .sku_id
        .clone()
        .map(SkuRef::new)
        .transpose()
        .map_err(|e| malformed(format!("{at}.skuID"), e.to_string()))?;
    let quantity = Quantity::new(item.quantity.unwrap_or(Decimal::ONE))
        .map_err(|e| malformed(format!("{at}.quantity"), e.to_string()))?;
    let discount = item
        .entry_discount
        .unwrap_or_else(|| Money::zero(Currency::Cny));
    let overflow = |field: &str| malformed(format!("{at}.{field}"), "amount overflows");
    let current = match item.item_amount {
        Some(a) => a,
        None => {
            let Some(price) = item.price else {
                return Err(malformed(
                    format!("{at}.itemAmount"),
                    "the entry has neither `itemAmount` nor `price`",
                ));
            };
            let derived = price
                .checked_mul(quantity.value())
                .and_then(|t| t.checked_add(discount))
                .map_err(|_| overflow("itemAmount"))?;
            log.record(
                RepairKind::DerivedAmount,
                format!("{at}.itemAmount"),
                format!("absent; derived as price × quantity + entryDiscount = {derived}"),
            );
            derived
        }
    };
    let original = current
        .checked_sub(discount)
        .map_err(|_| overflow("entryDiscount"))?;
    Ok(OrderLineSpec {
        id,
        product,
        sku,
        name: item.name.clone(),
        unit: item.unit.clone(),
        quantity,
        unit_price: item
            .price
            .map(|p| amount(p, &format!("{at}.price")))
            .transpose()?,
        original_total: amount(original, &format!("{at}.entryDiscount"))?,
        current_total: Some(amount(current, &format!("{at}.itemAmount"))?),
        closed: matches!(item.status.as_deref(), Some("cancel" | "terminated")),
    })
}
