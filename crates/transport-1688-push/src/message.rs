//! The price-modified message (`ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY`), typed and exact.
//!
//! Units follow the platform, which mixes them in one object: `totalAmount`,
//! `sumProductPayment`, `shippingFee`, `refund`, `price`, `itemAmount`, `phasAmount` are yuan
//! decimals read from their literal text; `discount`, `entryDiscount`, `refundPayment` are
//! integer fen. Every amount here is a CNY [`Money`], whatever its wire unit.

use order_domain::{Money, Timestamp};
use rust_decimal::Decimal;

use crate::time::PlatformTime;

/// The whole message, with the parts of its body that ordermod reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PriceModifiedMessage {
    /// `messageType`, verbatim.
    pub message_type: String,
    /// `messagePlatform`.
    pub message_platform: Option<i64>,
    /// `timestamp` (Unix milliseconds, as text on the wire), when it parsed.
    pub timestamp: Option<Timestamp>,
    /// `timestamp`, verbatim.
    pub timestamp_raw: Option<String>,
    /// `messageBody.baseInfo`.
    pub base_info: BaseInfo,
    /// `messageBody.nativeLogistics`.
    pub native_logistics: Option<NativeLogistics>,
    /// `messageBody.productItems` (absent or `null` is empty).
    pub product_items: Vec<ProductItem>,
    /// `messageBody.tradeTerms` (absent or `null` is empty).
    pub trade_terms: Vec<TradeTerm>,
    /// `messageBody.orderRateInfo`.
    pub order_rate_info: Option<OrderRateInfo>,
}

/// `baseInfo`: the order header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BaseInfo {
    /// The order id: `idOfStr` when present (authoritative), else `id`.
    pub id: String,
    /// `id` as its exact digits (may be corrupted upstream).
    pub id_numeric: Option<String>,
    /// `status`, verbatim (`waitbuyerpay`, `waitbuyerreceive`, ...).
    pub status: String,
    /// `tradeType`.
    pub trade_type: Option<String>,
    /// `businessType`.
    pub business_type: Option<String>,
    /// `totalAmount` (yuan): the order total after the change.
    pub total_amount: Money,
    /// `sumProductPayment` (yuan).
    pub sum_product_payment: Option<Money>,
    /// `shippingFee` (yuan).
    pub shipping_fee: Money,
    /// `discount` (fen on the wire).
    pub discount: Option<Money>,
    /// `refund` (yuan).
    pub refund: Option<Money>,
    /// `refundPayment` (fen on the wire).
    pub refund_payment: Option<Money>,
    /// `refundStatus`.
    pub refund_status: Option<String>,
    /// `createTime`.
    pub create_time: Option<PlatformTime>,
    /// `modifyTime`.
    pub modify_time: Option<PlatformTime>,
    /// `payTime`.
    pub pay_time: Option<PlatformTime>,
    /// `allDeliveredTime`.
    pub all_delivered_time: Option<PlatformTime>,
    /// `buyerID`.
    pub buyer_id: Option<String>,
    /// `sellerID`.
    pub seller_id: Option<String>,
    /// `buyerUserId`, exact digits.
    pub buyer_user_id: Option<String>,
    /// `sellerUserId`, exact digits.
    pub seller_user_id: Option<String>,
    /// `buyerLoginId`.
    pub buyer_login_id: Option<String>,
    /// `sellerLoginId`.
    pub seller_login_id: Option<String>,
    /// `alipayTradeId`.
    pub alipay_trade_id: Option<String>,
    /// `stepPayAll`.
    pub step_pay_all: Option<bool>,
    /// `buyerContact`.
    pub buyer_contact: Option<Contact>,
    /// `sellerContact`.
    pub seller_contact: Option<Contact>,
    /// `receiverInfo`.
    pub receiver_info: Option<ReceiverInfo>,
}

/// `buyerContact` / `sellerContact`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Contact {
    /// `name`.
    pub name: Option<String>,
    /// `phone`.
    pub phone: Option<String>,
    /// `mobile`.
    pub mobile: Option<String>,
    /// `email`.
    pub email: Option<String>,
    /// `imInPlatform`.
    pub im_in_platform: Option<String>,
    /// `companyName`.
    pub company_name: Option<String>,
}

/// `receiverInfo`: the consignee.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiverInfo {
    /// `toFullName`.
    pub to_full_name: Option<String>,
    /// `toDivisionCode`.
    pub to_division_code: Option<String>,
    /// `toPost`.
    pub to_post: Option<String>,
    /// `toTownCode`.
    pub to_town_code: Option<String>,
    /// `toArea`.
    pub to_area: Option<String>,
    /// `toMobile`.
    pub to_mobile: Option<String>,
    /// `toPhone`.
    pub to_phone: Option<String>,
}

/// `nativeLogistics`: address and shipments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NativeLogistics {
    /// `address`.
    pub address: Option<String>,
    /// `area`.
    pub area: Option<String>,
    /// `areaCode`.
    pub area_code: Option<String>,
    /// `city`.
    pub city: Option<String>,
    /// `province`.
    pub province: Option<String>,
    /// `town`.
    pub town: Option<String>,
    /// `townCode`.
    pub town_code: Option<String>,
    /// `zip`.
    pub zip: Option<String>,
    /// `contactPerson`.
    pub contact_person: Option<String>,
    /// `mobile`.
    pub mobile: Option<String>,
    /// `telephone`.
    pub telephone: Option<String>,
    /// `logisticsItems`.
    pub logistics_items: Vec<LogisticsItem>,
}

/// `logisticsItems[]`: one shipment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogisticsItem {
    /// `id`, exact digits.
    pub id: Option<String>,
    /// `logisticsCode`.
    pub logistics_code: Option<String>,
    /// `logisticsBillNo`.
    pub logistics_bill_no: Option<String>,
    /// `logisticsCompanyName`.
    pub logistics_company_name: Option<String>,
    /// `type`.
    pub kind: Option<String>,
    /// `status`.
    pub status: Option<String>,
    /// `deliveredTime`.
    pub delivered_time: Option<PlatformTime>,
    /// `gmtCreate`.
    pub gmt_create: Option<PlatformTime>,
    /// `gmtModified`.
    pub gmt_modified: Option<PlatformTime>,
    /// `fromPhone`.
    pub from_phone: Option<String>,
    /// `fromMobile`.
    pub from_mobile: Option<String>,
    /// `subItemIds` split on commas, each trimmed of white space (line breaks included).
    pub sub_item_ids: Vec<String>,
    /// `subItemIds`, verbatim.
    pub sub_item_ids_raw: Option<String>,
}

/// `productItems[]`: one order entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProductItem {
    /// The entry id: `subItemIDString` when present (authoritative), else `subItemID`.
    pub sub_item_id: Option<String>,
    /// `subItemID` as its exact digits (may be corrupted upstream).
    pub sub_item_id_numeric: Option<String>,
    /// `productID`, exact digits.
    pub product_id: Option<String>,
    /// `skuID`, exact digits.
    pub sku_id: Option<String>,
    /// `specId`.
    pub spec_id: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `unit`.
    pub unit: Option<String>,
    /// `quantity`, exact.
    pub quantity: Option<Decimal>,
    /// `quantityFactor`, exact.
    pub quantity_factor: Option<Decimal>,
    /// `price` (yuan): unit price.
    pub price: Option<Money>,
    /// `itemAmount` (yuan): the entry total after its discount.
    pub item_amount: Option<Money>,
    /// `entryDiscount` (signed fen on the wire): the discount applied to the entry.
    pub entry_discount: Option<Money>,
    /// `refund` (yuan).
    pub refund: Option<Money>,
    /// `status`.
    pub status: Option<String>,
    /// `statusStr`.
    pub status_str: Option<String>,
    /// `type`.
    pub kind: Option<String>,
    /// `refundStatus`.
    pub refund_status: Option<String>,
    /// `refundId`.
    pub refund_id: Option<String>,
    /// `logisticsStatus`.
    pub logistics_status: Option<i64>,
    /// `productImgUrl`, verbatim (the sample's URLs contain spaces; they are not touched).
    pub product_img_url: Vec<String>,
    /// `productSnapshotUrl`, verbatim.
    pub product_snapshot_url: Option<String>,
    /// `skuInfos`.
    pub sku_infos: Vec<SkuInfo>,
    /// `gmtCreate`.
    pub gmt_create: Option<PlatformTime>,
    /// `gmtModified`.
    pub gmt_modified: Option<PlatformTime>,
    /// `gmtPayExpireTime`.
    pub gmt_pay_expire_time: Option<PlatformTime>,
}

/// `skuInfos[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkuInfo {
    /// `name`.
    pub name: Option<String>,
    /// `value`.
    pub value: Option<String>,
}

/// `tradeTerms[]`: one payment phase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TradeTerm {
    /// `phase`, exact digits.
    pub phase: Option<String>,
    /// `payStatus`.
    pub pay_status: Option<String>,
    /// `payWay`.
    pub pay_way: Option<String>,
    /// `payTime`.
    pub pay_time: Option<PlatformTime>,
    /// `phasAmount` (yuan; spelled so on the wire).
    pub phas_amount: Option<Money>,
}

/// `orderRateInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrderRateInfo {
    /// `buyerRateStatus`.
    pub buyer_rate_status: Option<i64>,
    /// `sellerRateStatus`.
    pub seller_rate_status: Option<i64>,
}
