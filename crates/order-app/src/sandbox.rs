//! `--sandbox` mode: shops mapped to platforms by convention, the emulators of `order-sandbox`,
//! and the conversion of domain orders into each emulator's seed format (the sandbox knows no
//! domain types, so the conversion lives here).
//!
//! ## Which platform serves a sandbox shop
//! 1. the line's `platform` key when present (`wechat-shop`, `vvtool-1688`, `em-franchiser`,
//!    `alibaba-icbu`, `alibaba-1688`, `wechat-channels`);
//! 2. otherwise the shop name's prefix: `wechat-`, `vvtool-`, `em-`, `icbu-`, `1688-`,
//!    `channels-` (e.g. `wechat-main`, `vvtool-sh`, `em-north`, `icbu-export`, `1688-main`,
//!    `channels-main`).
//!
//! A shop that matches neither is an input error for its lines.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use order_domain::{
    Amendment, Journal, Money, Order, OrderId, OrderPlatform, OrderStatus, Plan, PlatformError,
    PlatformErrorKind, Policy, Receipt, ShopId,
};
use order_sandbox::{
    ChannelsAddress, ChannelsEmulator, ChannelsLine, ChannelsOrder, ChannelsSettings, EmApp,
    EmEmulator, EmSettings, EmTrade, IcbuApp, IcbuEmulator, IcbuOrder, IcbuSettings, Open1688App,
    Open1688Emulator, Open1688Entry, Open1688Order, Open1688Settings, Sandbox, VvtoolEmulator,
    VvtoolEntry, VvtoolOrder, VvtoolSettings, VvtoolToken, WechatApp, WechatEmulator, WechatLine,
    WechatOrder, WechatSettings,
};

use crate::app::{App, AppError, http_client};
use crate::config::Config;
use crate::input::{InputItem, LineReader, OrderRef};
use crate::registry::{PlatformFactory, PlatformKind};

/// The platform serving `shop` in sandbox mode (see the module docs).
pub fn platform_of(shop: &ShopId, platform: Option<&str>) -> Result<PlatformKind, String> {
    match platform {
        Some(name) => {
            PlatformKind::from_name(name).ok_or_else(|| format!("unknown platform `{name}`"))
        }
        None => PlatformKind::from_sandbox_shop(shop).ok_or_else(|| {
            format!(
                "sandbox shop `{shop}` names no platform: start its name with wechat-, vvtool-, em-, icbu-, 1688- or channels-, or add a \"platform\" key to the line"
            )
        }),
    }
}

/// Reads `path` once and collects the shops it names with their sandbox platforms (lines that
/// cannot be read or mapped are left for the batch to report).
pub async fn scan_shops(path: &Path) -> std::io::Result<BTreeMap<ShopId, PlatformKind>> {
    let mut shops = BTreeMap::new();
    if path == Path::new("-") {
        return Ok(shops);
    }
    let f = tokio::fs::File::open(path).await?;
    let mut r = LineReader::new(tokio::io::BufReader::with_capacity(64 * 1024, f));
    while let Some(item) = r.next().await? {
        if let InputItem::Amendment { amendment, .. } = item
            && !shops.contains_key(&amendment.shop)
            && let Ok(kind) = platform_of(&amendment.shop, amendment.platform.as_deref())
        {
            shops.insert(amendment.shop.clone(), kind);
        }
    }
    Ok(shops)
}

fn minor_u64(m: Money, what: &str) -> Result<u64, String> {
    let v = m.to_minor().map_err(|e| format!("{what}: {e}"))?;
    u64::try_from(v).map_err(|_| format!("{what}: {m} is negative"))
}

fn minor_i64(m: Money, what: &str) -> Result<i64, String> {
    m.to_minor().map_err(|e| format!("{what}: {e}"))
}

fn id_u64(text: &str, what: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .map_err(|_| format!("{what} `{text}` is not a 64-bit number"))
}

/// The WeChat Shop emulator's form of `order`: numeric order, product and SKU ids; amounts in
/// fen; closed lines left out (WeChat has none).
pub fn wechat_seed(order: &Order) -> Result<WechatOrder, String> {
    let lines = order
        .lines()
        .iter()
        .filter(|l| !l.is_closed())
        .map(|l| {
            let product = l
                .product()
                .ok_or_else(|| format!("line {} has no product id", l.id()))?;
            Ok(WechatLine {
                product_id: id_u64(product.as_str(), "product id")?,
                sku_id: match l.sku() {
                    Some(s) => id_u64(s.as_str(), "sku id")?,
                    None => 0,
                },
                original_total: minor_u64(l.original_total(), "original_total")?,
                current_total: minor_u64(l.current_total(), "current_total")?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(WechatOrder {
        order_id: id_u64(order.id().as_str(), "order id")?,
        status: match order.status() {
            OrderStatus::AwaitingPayment => "awaiting_payment".into(),
            OrderStatus::Paid => "paid".into(),
            OrderStatus::Shipped => "shipped".into(),
            OrderStatus::Completed => "completed".into(),
            OrderStatus::Closed => "closed".into(),
            OrderStatus::Other(s) => s.clone(),
        },
        original_express_fee: minor_u64(order.freight_original(), "freight.original")?,
        express_fee: minor_u64(order.freight_current(), "freight.current")?,
        lines,
        revisions: order.revision().count,
    })
}

/// The WeChat Channels emulator's form of `order`: numeric ids; each line as quantity × unit
/// price in fen (quantity 1 and the line total when the total does not divide evenly); status
/// codes 10, 20, 30, 100, 250; closed lines left out.
pub fn channels_seed(order: &Order) -> Result<ChannelsOrder, String> {
    let lines = order
        .lines()
        .iter()
        .filter(|l| !l.is_closed())
        .map(|l| {
            let product = l
                .product()
                .ok_or_else(|| format!("line {} has no product id", l.id()))?;
            let total = minor_u64(l.original_total(), "original_total")?;
            let qty = l
                .quantity()
                .is_whole()
                .then(|| l.quantity().to_string().parse::<u64>().ok())
                .flatten()
                .filter(|&q| q > 0 && total % q == 0)
                .unwrap_or(1);
            Ok(ChannelsLine {
                product_id: id_u64(product.as_str(), "product id")?,
                sku_id: match l.sku() {
                    Some(s) => id_u64(s.as_str(), "sku id")?,
                    None => 0,
                },
                sku_cnt: qty,
                sale_price: total / qty,
                current_total: minor_u64(l.current_total(), "current_total")?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let address = order
        .address()
        .map(|a| ChannelsAddress {
            user_name: a.receiver.clone(),
            postal_code: a.zip.clone(),
            province_name: a.province.clone(),
            city_name: a.city.clone(),
            county_name: a.district.clone(),
            detail_info: a.street.clone(),
            tel_number: a.mobile.clone(),
            ..ChannelsAddress::default()
        })
        .unwrap_or_default();
    Ok(ChannelsOrder {
        order_id: id_u64(order.id().as_str(), "order id")?,
        status: match order.status() {
            OrderStatus::AwaitingPayment => 10,
            OrderStatus::Paid => 20,
            OrderStatus::Shipped => 30,
            OrderStatus::Completed => 100,
            OrderStatus::Closed => 250,
            OrderStatus::Other(s) => s.parse().unwrap_or(0),
        },
        original_freight: minor_u64(order.freight_original(), "freight.original")?,
        freight: minor_u64(order.freight_current(), "freight.current")?,
        lines,
        address,
        price_changes: order.revision().count,
        address_changes: 0,
    })
}

/// The vv-tool (1688) emulator's form of `order` for vv-tool shop `shop_id`: entries by id with
/// signed discounts against their originals, in fen; 1688 status texts.
pub fn vvtool_seed(order: &Order, shop_id: &str) -> Result<VvtoolOrder, String> {
    let entries = order
        .lines()
        .iter()
        .map(|l| {
            let original = minor_i64(l.original_total(), "original_total")?;
            Ok(VvtoolEntry {
                id: id_u64(l.id().as_str(), "line id")?,
                original_amount: original,
                discount: minor_i64(l.current_total(), "current_total")? - original,
                closed: l.is_closed(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(VvtoolOrder {
        order_id: id_u64(order.id().as_str(), "order id")?,
        shop_id: shop_id.to_owned(),
        status: match order.status() {
            OrderStatus::AwaitingPayment => "waitbuyerpay".into(),
            OrderStatus::Paid => "waitsellersend".into(),
            OrderStatus::Shipped => "waitbuyerreceive".into(),
            OrderStatus::Completed => "success".into(),
            OrderStatus::Closed => "cancel".into(),
            OrderStatus::Other(s) => s.clone(),
        },
        trade_type: match order.trade_type() {
            Some(t) => t
                .parse()
                .map_err(|_| format!("trade type `{t}` is not a number"))?,
            None => 0,
        },
        original_carriage: minor_i64(order.freight_original(), "freight.original")?,
        carriage: minor_i64(order.freight_current(), "freight.current")?,
        entries,
        changes: u64::from(order.revision().count),
    })
}

/// The 1688 open platform emulator's form of `order`: entries by id with signed discounts
/// against their originals, in fen; 1688 status texts; the trade type as text.
pub fn open1688_seed(order: &Order) -> Result<Open1688Order, String> {
    let entries = order
        .lines()
        .iter()
        .map(|l| {
            let original = minor_i64(l.original_total(), "original_total")?;
            let q = l.quantity().value();
            Ok(Open1688Entry {
                id: id_u64(l.id().as_str(), "line id")?,
                original_amount: original,
                discount: minor_i64(l.current_total(), "current_total")? - original,
                quantity: q.to_string().parse().unwrap_or(1),
                name: l.name().map(str::to_owned),
                closed: l.is_closed(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Open1688Order {
        order_id: id_u64(order.id().as_str(), "order id")?,
        status: match order.status() {
            OrderStatus::AwaitingPayment => "waitbuyerpay".into(),
            OrderStatus::Paid => "waitsellersend".into(),
            OrderStatus::Shipped => "waitbuyerreceive".into(),
            OrderStatus::Completed => "success".into(),
            OrderStatus::Closed => "cancel".into(),
            OrderStatus::Other(s) => s.clone(),
        },
        trade_type: order.trade_type().unwrap_or_default().to_owned(),
        carriage: minor_i64(order.freight_current(), "freight.current")?,
        entries,
        changes: u64::from(order.revision().count),
    })
}

/// The EM emulator's form of `order`: trade number, items by product code with whole
/// quantities, address, logistics, delivery date and remarks.
pub fn em_seed(order: &Order) -> Result<EmTrade, String> {
    let mut t = EmTrade {
        tradeno: order.id().to_string(),
        ..EmTrade::default()
    };
    for l in order.lines().iter().filter(|l| !l.is_closed()) {
        let code = l
            .product()
            .ok_or_else(|| format!("line {} has no product code", l.id()))?;
        let q = l.quantity().value();
        let qty = q
            .to_string()
            .parse::<u64>()
            .map_err(|_| format!("line {}: quantity {q} is not a whole number", l.id()))?;
        t.items.push(order_sandbox::EmItem {
            outerpcode: code.to_string(),
            mainmeasunitqty: qty,
            remark: String::new(),
        });
    }
    if let Some(a) = order.address() {
        t.receivername = a.receiver.clone().unwrap_or_default();
        t.mobile = a.mobile.clone().unwrap_or_default();
        t.provincename = a.province.clone().unwrap_or_default();
        t.cityname = a.city.clone().unwrap_or_default();
        t.distrctname = a.district.clone().unwrap_or_default();
        t.address = a.street.clone().unwrap_or_default();
    }
    if let Some(l) = order.logistics() {
        t.warehouseid = l
            .warehouse
            .as_deref()
            .and_then(|w| w.parse().ok())
            .unwrap_or(0);
        t.transportway = l.transport_way.map_or(0, u64::from);
        t.logisticscompanyid = l.company.map_or(0, u64::from);
        t.logisticscontact = l.contact.clone().unwrap_or_default();
        t.logisticsmobile = l.contact_mobile.clone().unwrap_or_default();
        t.logisticscarnumber = l.car_number.clone().unwrap_or_default();
    }
    if let Some(d) = order.delivery_date() {
        t.deliverydate = d.to_string();
    }
    if let Some(r) = order.remarks() {
        t.traderemark = r.order.clone().unwrap_or_default();
        t.remark = r.logistics.clone().unwrap_or_default();
    }
    t.revisions = u64::from(order.revision().count);
    Ok(t)
}

/// The ICBU emulator's form of `order`: trade id, `unpay` while awaiting payment, and the
/// version token (`1` when the snapshot has none).
pub fn icbu_seed(order: &Order) -> IcbuOrder {
    IcbuOrder {
        trade_id: order.id().to_string(),
        status: match order.status() {
            OrderStatus::AwaitingPayment => "unpay".into(),
            OrderStatus::Paid => "paid".into(),
            OrderStatus::Shipped => "shipped".into(),
            OrderStatus::Completed => "completed".into(),
            OrderStatus::Closed => "closed".into(),
            OrderStatus::Other(s) => s.clone(),
        },
        version: order
            .revision()
            .version
            .as_ref()
            .map_or_else(|| "1".to_owned(), ToString::to_string),
        revisions: u64::from(order.revision().count),
        last_modify: icbu_terms(order),
    }
}

/// The order's terms as the emulator keeps them (the last accepted `param_order_modify`), so
/// its order read shows the snapshot's products, payment, address and logistics. Built by the
/// transport's own encoder from a plan that restates the order (its freight set to what it
/// is); `None` when the snapshot cannot be planned (the emulator then reads back no terms).
fn icbu_terms(order: &Order) -> Option<serde_json::Value> {
    let restate: Amendment = serde_json::from_value(
        serde_json::json!({ "freight": order.freight_current().amount().to_string() }),
    )
    .ok()?;
    let plan = order_domain::plan(order, &restate, &transport_icbu::policy()).ok()?;
    let param = transport_icbu::param_from_plan(order, &plan).ok()?;
    serde_json::from_str(&param).ok()
}

/// The order `--sandbox` seeds for a line that gives only order `id` (the emulators must
/// hold it to be read): deterministic, so a rerun finds the same order. Status awaiting
/// payment; one line per line the amendment names (or one line when it names none), each
/// with an original total of 100.00 (1,000.00 USD on ICBU) and quantity 1; freight 10.00;
/// CNY (USD on ICBU); 1688 trade type 6. Line ids follow each platform's read: WeChat Shop and
/// Channels `PRODUCT:SKU` (numbers; a named id of another form is refused), 1688 entry ids
/// (numbers), EM `ID-0` with product `EM-0000`, ICBU `ID-0` (with the address, logistics,
/// payment breakdown and version 1 that ICBU states in every change).
pub fn order_for_id(kind: PlatformKind, id: &OrderId, set: &Amendment) -> Result<Order, String> {
    use serde_json::json;
    let named: Vec<String> = set.lines.keys().map(ToString::to_string).collect();
    let (currency, each) = match kind {
        PlatformKind::AlibabaIcbu => ("USD", "1000.00"),
        _ => ("CNY", "100.00"),
    };
    let default_line = match kind {
        PlatformKind::WechatShop | PlatformKind::WechatChannels => {
            "10000000001:20000000001".to_owned()
        }
        PlatformKind::Vvtool1688 | PlatformKind::Alibaba1688 => "1".to_owned(),
        PlatformKind::EmFranchiser | PlatformKind::AlibabaIcbu => format!("{id}-0"),
    };
    let ids = if named.is_empty() {
        vec![default_line]
    } else {
        named
    };
    let lines: Vec<serde_json::Value> = ids
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut line = json!({"id": l, "original_total": each});
            match kind {
                PlatformKind::WechatShop | PlatformKind::WechatChannels => {
                    let (p, s) = l.split_once(':').ok_or_else(|| {
                        format!("line id `{l}` is not PRODUCT:SKU, as WeChat reads name lines")
                    })?;
                    line["product"] = json!(p);
                    line["sku"] = json!(s);
                }
                PlatformKind::EmFranchiser => line["product"] = json!(format!("EM-{i:04}")),
                PlatformKind::AlibabaIcbu => {
                    line["product"] = json!(format!("16000000000{i:02}"));
                    line["sku"] = json!("-1");
                    line["name"] = json!(format!("Sample product {i}"));
                    line["unit"] = json!("piece");
                    line["unit_price"] = json!(each);
                }
                PlatformKind::Vvtool1688 | PlatformKind::Alibaba1688 => {
                    line["product"] = json!("600000000000");
                }
            }
            Ok(line)
        })
        .collect::<Result<_, String>>()?;
    let mut spec = json!({
        "id": id.as_str(),
        "status": "awaiting_payment",
        "currency": currency,
        "lines": lines,
        "freight": {"original": "10.00"},
    });
    if matches!(kind, PlatformKind::Vvtool1688 | PlatformKind::Alibaba1688) {
        spec["trade_type"] = json!("6");
    }
    if kind == PlatformKind::AlibabaIcbu {
        // ICBU states the whole order in every change: address, logistics, payment.
        let n = i64::try_from(ids.len()).map_err(|e| e.to_string())?;
        let products = Money::from_minor(100_000 * n, order_domain::Currency::Usd);
        let total = products
            .checked_add(Money::from_minor(1_000, order_domain::Currency::Usd))
            .map_err(|e| e.to_string())?;
        spec["address"] = json!({"receiver": "Jane Doe", "province": "CA",
            "city": "San Francisco", "street": "1 Market St", "zip": "94105", "country": "US",
            "telephone": {"country": "1", "area": "415", "number": "5550100"}});
        spec["logistics"] = json!({"shipment_method": "sea", "trade_term": "FOB",
            "shipment_date": {"days_after_payment": 30}});
        spec["payment"] = json!({"products": products.amount().to_string(), "freight": "10.00",
            "total": total.amount().to_string(), "initial": total.amount().to_string()});
        spec["revision"] = json!({"count": 0, "version": "1"});
    }
    serde_json::from_value(spec).map_err(|e| e.to_string())
}

/// Stock the EM emulator is given for every product code of a seeded order.
const EM_SANDBOX_STOCK: u64 = 1_000_000;

/// Seeds `order` into the emulator serving `kind` for `shop`, unless the emulator already holds
/// it (a second amendment to the same order must see the first one's result).
pub fn seed_order(
    sb: &Sandbox,
    kind: PlatformKind,
    shop: &ShopId,
    order: &Order,
) -> Result<(), String> {
    let off = |name: &str| format!("the {name} emulator is not running");
    match kind {
        PlatformKind::WechatShop => {
            let em = sb.wechat().ok_or_else(|| off("WeChat Shop"))?;
            let seed = wechat_seed(order)?;
            if em.order(seed.order_id).is_none() {
                em.seed_order(seed);
            }
        }
        PlatformKind::Vvtool1688 => {
            let em = sb.vvtool().ok_or_else(|| off("vv-tool"))?;
            let seed = vvtool_seed(order, shop.as_str())?;
            if em.order(seed.order_id).is_none() {
                em.seed_order(seed);
            }
        }
        PlatformKind::EmFranchiser => {
            let em = sb.em().ok_or_else(|| off("EM"))?;
            let seed = em_seed(order)?;
            if em.order(&seed.tradeno).is_none() {
                for item in &seed.items {
                    if em.stock(&item.outerpcode) < EM_SANDBOX_STOCK {
                        em.set_stock(&item.outerpcode, EM_SANDBOX_STOCK);
                    }
                }
                em.seed_order(seed);
            }
        }
        PlatformKind::AlibabaIcbu => {
            let em = sb.icbu().ok_or_else(|| off("ICBU"))?;
            let seed = icbu_seed(order);
            if em.order(&seed.trade_id).is_none() {
                em.seed_order(seed);
            }
        }
        PlatformKind::Alibaba1688 => {
            let em = sb.open1688().ok_or_else(|| off("1688 open platform"))?;
            let seed = open1688_seed(order)?;
            if em.order(seed.order_id).is_none() {
                em.seed_order(seed);
            }
        }
        PlatformKind::WechatChannels => {
            let em = sb.channels().ok_or_else(|| off("WeChat Channels"))?;
            let seed = channels_seed(order)?;
            if em.order(seed.order_id).is_none() {
                em.seed_order(seed);
            }
        }
    }
    Ok(())
}

/// `(key, value)` pairs of credentials.
type Pairs = Vec<(&'static str, String)>;

/// Emulator credentials of one sandbox shop: the plain values and the secrets, which the
/// sandbox config names through `*_env` variables.
fn sandbox_credentials(kind: PlatformKind, shop: &ShopId) -> (Pairs, Pairs) {
    let s = shop.as_str();
    match kind {
        PlatformKind::WechatShop | PlatformKind::WechatChannels => (
            vec![("appid", format!("sbx-{s}"))],
            vec![("secret", format!("sandbox-secret-{s}"))],
        ),
        PlatformKind::Vvtool1688 => (
            vec![("shop_id", s.to_owned())],
            vec![("token", format!("sandbox-token-{s}"))],
        ),
        PlatformKind::EmFranchiser => (
            vec![("appid", format!("sbx-{s}"))],
            vec![("secret", format!("sandbox-secret-{s}"))],
        ),
        PlatformKind::AlibabaIcbu => (
            vec![("app_key", format!("sbx-{s}"))],
            vec![
                ("secret", format!("sandbox-secret-{s}")),
                ("session", format!("sandbox-session-{s}")),
            ],
        ),
        PlatformKind::Alibaba1688 => (
            vec![("app_key", format!("sbx-{s}"))],
            vec![
                ("secret", format!("sandbox-secret-{s}")),
                ("access_token", format!("sandbox-token-{s}")),
            ],
        ),
    }
}

/// The environment variable that carries `secret` of sandbox `shop`.
fn env_name(shop: &ShopId, secret: &str) -> String {
    let s: String = shop
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("ORDERMOD_SANDBOX_{s}_{}", secret.to_ascii_uppercase())
}

/// The shops `ordermod sandbox` always serves, one per platform.
pub fn default_shops() -> BTreeMap<ShopId, PlatformKind> {
    PlatformKind::ALL
        .into_iter()
        .filter_map(|k| {
            let name = format!("{}main", k.sandbox_prefix());
            ShopId::new(name).ok().map(|id| (id, k))
        })
        .collect()
}

/// Running emulators of every platform, with credentials for a set of shops.
pub struct SandboxRun {
    sandbox: Arc<Sandbox>,
    shops: BTreeMap<ShopId, PlatformKind>,
}

impl fmt::Debug for SandboxRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxRun")
            .field("shops", &self.shops)
            .finish_non_exhaustive()
    }
}

impl SandboxRun {
    /// Starts all five emulators on loopback (any free ports), with an app, token or session
    /// for each of `shops` and each platform's default rate limit. Needs a tokio runtime.
    pub async fn start(
        shops: &BTreeMap<ShopId, PlatformKind>,
        seed: u64,
    ) -> std::io::Result<SandboxRun> {
        SandboxRun::start_on(shops, seed, None).await
    }

    /// Like [`start`](Self::start), on fixed ports when `base_port` is given: WeChat Shop on
    /// `base_port`, vv-tool on `+1`, EM on `+2`, ICBU on `+3`, the 1688 open platform on `+4`,
    /// WeChat Channels on `+5`.
    pub async fn start_on(
        shops: &BTreeMap<ShopId, PlatformKind>,
        seed: u64,
        base_port: Option<u16>,
    ) -> std::io::Result<SandboxRun> {
        let mut wechat = WechatSettings::default();
        let mut vvtool = VvtoolSettings::default();
        let mut em = EmSettings::default();
        let mut icbu = IcbuSettings::default();
        let mut open1688 = Open1688Settings::default();
        let mut channels = ChannelsSettings::default();
        if let Some(p) = base_port {
            let port = |n: u16| {
                p.checked_add(n).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("base port {p} leaves no room for five emulators"),
                    )
                })
            };
            wechat.port = port(0)?;
            vvtool.port = port(1)?;
            em.port = port(2)?;
            icbu.port = port(3)?;
            open1688.port = port(4)?;
            channels.port = port(5)?;
        }
        for (shop, kind) in shops {
            let (plain, secrets) = sandbox_credentials(*kind, shop);
            let p = |k: &str| {
                plain
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let sec = |k: &str| {
                secrets
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            match kind {
                PlatformKind::WechatShop => wechat.apps.push(WechatApp {
                    appid: p("appid"),
                    secret: sec("secret"),
                    permitted: true,
                }),
                PlatformKind::Vvtool1688 => vvtool.tokens.push(VvtoolToken {
                    token: sec("token"),
                    shops: vec![p("shop_id")],
                    quota: None,
                    permitted: true,
                }),
                PlatformKind::EmFranchiser => em.apps.push(EmApp {
                    appid: p("appid"),
                    secret: sec("secret"),
                }),
                PlatformKind::WechatChannels => channels.apps.push(WechatApp {
                    appid: p("appid"),
                    secret: sec("secret"),
                    permitted: true,
                }),
                PlatformKind::AlibabaIcbu => icbu.apps.push(IcbuApp {
                    app_key: p("app_key"),
                    secret: sec("secret"),
                    sessions: vec![sec("session")],
                }),
                PlatformKind::Alibaba1688 => open1688.apps.push(Open1688App {
                    app_key: p("app_key"),
                    secret: sec("secret"),
                    tokens: vec![sec("access_token")],
                    quota: None,
                }),
            }
        }
        let sandbox = Sandbox::builder()
            .seed(seed)
            .wechat(wechat)
            .vvtool(vvtool)
            .em(em)
            .icbu(icbu)
            .open1688(open1688)
            .channels(channels)
            .start()
            .await?;
        Ok(SandboxRun {
            sandbox: Arc::new(sandbox),
            shops: shops.clone(),
        })
    }

    /// The running emulators (for their state, stats and call logs).
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The shops this run has credentials for.
    pub fn shops(&self) -> &BTreeMap<ShopId, PlatformKind> {
        &self.shops
    }

    fn base_url(&self, kind: PlatformKind) -> String {
        let sb = &self.sandbox;
        match kind {
            PlatformKind::WechatShop => sb.wechat().map(WechatEmulator::base_url),
            PlatformKind::Vvtool1688 => sb.vvtool().map(VvtoolEmulator::base_url),
            PlatformKind::EmFranchiser => sb.em().map(EmEmulator::base_url),
            PlatformKind::AlibabaIcbu => sb.icbu().map(IcbuEmulator::base_url),
            PlatformKind::Alibaba1688 => sb.open1688().map(Open1688Emulator::gateway_url),
            PlatformKind::WechatChannels => sb.channels().map(ChannelsEmulator::base_url),
        }
        .unwrap_or_default()
    }

    /// Rate limit of each emulator (calls per second per credential).
    fn rate(kind: PlatformKind) -> Option<u32> {
        match kind {
            PlatformKind::WechatShop => WechatSettings::default().rate_limit_per_second,
            PlatformKind::Vvtool1688 => VvtoolSettings::default().rate_limit_per_second,
            PlatformKind::EmFranchiser => EmSettings::default().rate_limit_per_second,
            PlatformKind::AlibabaIcbu => IcbuSettings::default().rate_limit_per_second,
            PlatformKind::Alibaba1688 => Open1688Settings::default().rate_limit_per_second,
            PlatformKind::WechatChannels => ChannelsSettings::default().rate_limit_per_second,
        }
    }

    /// A config file for these emulators: every shop with its base URL, rate limit and
    /// credentials (secrets through `*_env`; see [`env`](Self::env)), and `journal_url`.
    pub fn config_toml(&self, journal_url: &str) -> String {
        let mut out = format!("[journal]\nurl = \"{journal_url}\"\n");
        for (shop, kind) in &self.shops {
            let _ = write!(
                out,
                "\n[[shop]]\nid = \"{shop}\"\nplatform = \"{kind}\"\nbase_url = \"{}\"\n",
                self.base_url(*kind)
            );
            if let Some(r) = Self::rate(*kind) {
                let _ = writeln!(out, "rate_limit_per_second = {r}");
            }
            out.push_str("[shop.credentials]\n");
            let (plain, secrets) = sandbox_credentials(*kind, shop);
            for (k, v) in plain {
                let _ = writeln!(out, "{k} = \"{v}\"");
            }
            for (k, _) in secrets {
                let _ = writeln!(out, "{k}_env = \"{}\"", env_name(shop, k));
            }
        }
        out
    }

    /// The environment variables the sandbox config names, with the emulators' secrets.
    pub fn env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for (shop, kind) in &self.shops {
            for (k, v) in sandbox_credentials(*kind, shop).1 {
                env.insert(env_name(shop, k), v);
            }
        }
        env
    }

    /// The app for `apply --sandbox`: each shop's real transport, built from
    /// [`config_toml`](Self::config_toml) through the platform registry exactly as from a user's
    /// config, wrapped so that each order is seeded into its emulator before it is sent.
    pub fn app(&self, journal: Arc<dyn Journal>) -> Result<App, AppError> {
        let config = Config::parse(&self.config_toml("sqlite::memory:"))?;
        let env = self.env();
        let mut factory = PlatformFactory::new(http_client()?);
        let mut b = App::builder().journal(journal);
        for shop in &config.shops {
            let credentials = shop.resolve_secrets(&env)?;
            let (inner, source) = factory.build_with_source(shop, &credentials)?;
            if let Some(source) = source {
                b = b.source(shop.id.clone(), source);
            }
            if let Some(pacer) = factory.pacer(&shop.id) {
                b = b.pace(shop.id.clone(), pacer);
            }
            b = b.shop(
                shop.id.clone(),
                Arc::new(Seeding {
                    inner,
                    sandbox: self.sandbox.clone(),
                    kind: shop.platform,
                    shop: shop.id.clone(),
                }),
            );
        }
        b.build()
    }

    /// Seeds the emulators with the orders of a JSON Lines file whose shops this run serves;
    /// returns how many orders were seeded.
    pub async fn seed_from_file(&self, path: &Path) -> std::io::Result<u64> {
        let f = tokio::fs::File::open(path).await?;
        let mut r = LineReader::new(tokio::io::BufReader::new(f));
        let mut n = 0;
        while let Some(item) = r.next().await? {
            let InputItem::Amendment { amendment, .. } = item else {
                continue;
            };
            let Some(kind) = self.shops.get(&amendment.shop) else {
                continue;
            };
            let order = match &amendment.order {
                OrderRef::Snapshot(o) => Ok((**o).clone()),
                OrderRef::Id(id) => order_for_id(*kind, id, &amendment.set),
            };
            if order
                .and_then(|o| seed_order(&self.sandbox, *kind, &amendment.shop, &o))
                .is_ok()
            {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Base URLs, credentials, a matching config and the environment to set.
    pub fn describe(&self) -> String {
        let mut out = String::from("emulators (loopback):\n");
        for kind in PlatformKind::ALL {
            let _ = writeln!(out, "  {:<14} {}", kind.name(), self.base_url(kind));
        }
        out.push_str("\ncredentials:\n");
        for (shop, kind) in &self.shops {
            let (plain, secrets) = sandbox_credentials(*kind, shop);
            let all: Vec<String> = plain
                .iter()
                .chain(secrets.iter())
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(out, "  {shop} ({kind}): {}", all.join(", "));
        }
        let _ = write!(
            out,
            "\n# ordermod.toml for these emulators\n{}\n# environment (sandbox secrets only)\n",
            self.config_toml("sqlite://ordermod-sandbox.db")
        );
        for (k, v) in self.env() {
            let _ = writeln!(out, "export {k}={v}");
        }
        out
    }
}

/// A sandbox platform: seeds the order into its emulator, then sends through the real transport.
struct Seeding {
    inner: Arc<dyn OrderPlatform>,
    sandbox: Arc<Sandbox>,
    kind: PlatformKind,
    shop: ShopId,
}

impl fmt::Debug for Seeding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seeding")
            .field("inner", &self.inner)
            .field("shop", &self.shop)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl OrderPlatform for Seeding {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn policy(&self) -> &Policy {
        self.inner.policy()
    }

    async fn apply(&self, order: &Order, plan: &Plan) -> Result<Receipt, PlatformError> {
        seed_order(&self.sandbox, self.kind, &self.shop, order).map_err(|m| {
            PlatformError::new(
                PlatformErrorKind::InvalidRequest,
                Some("sandbox.seed".into()),
                format!("the sandbox cannot hold this order: {m}"),
            )
        })?;
        self.inner.apply(order, plan).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The orders `--sandbox` seeds for the lines of `examples/by-id.jsonl` are plannable as
    /// the lines ask (EM's is refused before any seed: it has no read), and the same id always
    /// gives the same order.
    #[test]
    fn the_orders_seeded_for_the_by_id_example_plan_as_its_lines_ask() {
        let text = include_str!("../../../examples/by-id.jsonl");
        let mut planned = 0;
        for (i, raw) in text.lines().enumerate() {
            if raw.trim().is_empty() || raw.starts_with('#') {
                continue;
            }
            let line = crate::input::parse_line(i as u64 + 1, raw).unwrap();
            assert!(line.snapshot().is_none(), "line {}: only an id", i + 1);
            let kind = PlatformKind::from_sandbox_shop(&line.shop).unwrap();
            if kind == PlatformKind::EmFranchiser {
                continue;
            }
            let order = order_for_id(kind, line.order_id(), &line.set).unwrap();
            assert_eq!(
                order,
                order_for_id(kind, line.order_id(), &line.set).unwrap()
            );
            let plan = order_domain::plan(&order, &line.set, &kind.policy());
            assert!(plan.is_ok(), "line {} on {kind}: {plan:?}", i + 1);
            planned += 1;
        }
        assert_eq!(
            planned, 4,
            "WeChat Shop, ICBU, 1688 open platform, Channels"
        );
    }
}
