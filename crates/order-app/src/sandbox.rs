//! `--sandbox` mode: shops mapped to platforms by convention, the emulators of `order-sandbox`,
//! and the conversion of domain orders into each emulator's seed format (the sandbox knows no
//! domain types, so the conversion lives here).
//!
//! ## Which platform serves a sandbox shop
//! 1. the line's `platform` key when present (`wechat-shop`, `vvtool-1688`, `em-franchiser`,
//!    `alibaba-icbu`);
//! 2. otherwise the shop name's prefix: `wechat-`, `vvtool-`, `em-`, `icbu-`
//!    (e.g. `wechat-main`, `vvtool-sh`, `em-north`, `icbu-export`).
//!
//! A shop that matches neither is an input error for its lines.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use order_domain::{Journal, Money, Order, OrderPlatform, OrderStatus, ShopId};
use order_sandbox::{
    Sandbox, VvtoolEntry, VvtoolOrder, VvtoolSettings, VvtoolToken, WechatLine, WechatOrder,
    WechatSettings,
};

use crate::app::{App, AppError};
use crate::input::{InputItem, LineReader};
use crate::memory::MemoryPlatform;
use crate::registry::PlatformKind;

/// The platform serving `shop` in sandbox mode (see the module docs).
pub fn platform_of(shop: &ShopId, platform: Option<&str>) -> Result<PlatformKind, String> {
    match platform {
        Some(name) => {
            PlatformKind::from_name(name).ok_or_else(|| format!("unknown platform `{name}`"))
        }
        None => PlatformKind::from_sandbox_shop(shop).ok_or_else(|| {
            format!(
                "sandbox shop `{shop}` names no platform: start its name with wechat-, vvtool-, em- or icbu-, or add a \"platform\" key to the line"
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

/// A sandbox run for `apply --sandbox`: one platform per shop.
pub struct SandboxRun {
    sandbox: Option<Sandbox>,
    shops: BTreeMap<ShopId, Arc<dyn OrderPlatform>>,
}

impl std::fmt::Debug for SandboxRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxRun")
            .field("shops", &self.shops.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The vv-tool shop id a sandbox shop uses (its own name).
fn vv_shop(shop: &ShopId) -> String {
    shop.to_string()
}

impl SandboxRun {
    /// Starts platforms for `shops`.
    pub async fn start(shops: &BTreeMap<ShopId, PlatformKind>) -> std::io::Result<SandboxRun> {
        let platforms = shops
            .iter()
            .map(|(id, kind)| {
                (
                    id.clone(),
                    Arc::new(MemoryPlatform::new(kind.policy())) as Arc<dyn OrderPlatform>,
                )
            })
            .collect();
        Ok(SandboxRun {
            sandbox: None,
            shops: platforms,
        })
    }

    /// Starts every emulator, with vv-tool tokens for the default sandbox shop.
    pub async fn start_all(seed: u64) -> std::io::Result<SandboxRun> {
        let sandbox = Sandbox::builder()
            .seed(seed)
            .wechat(WechatSettings::default())
            .vvtool(vvtool_settings(&[]))
            .start()
            .await?;
        Ok(SandboxRun {
            sandbox: Some(sandbox),
            shops: BTreeMap::new(),
        })
    }

    /// Seeds the emulators with the orders of a JSON Lines file; returns how many were seeded.
    pub async fn seed_from_file(&self, path: &Path) -> std::io::Result<u64> {
        let Some(sb) = &self.sandbox else {
            return Ok(0);
        };
        let f = tokio::fs::File::open(path).await?;
        let mut r = LineReader::new(tokio::io::BufReader::new(f));
        let mut n = 0;
        while let Some(item) = r.next().await? {
            let InputItem::Amendment { amendment, .. } = item else {
                continue;
            };
            let Ok(kind) = platform_of(&amendment.shop, amendment.platform.as_deref()) else {
                continue;
            };
            if seed_order(sb, kind, &amendment.shop, &amendment.order).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// The app over this run's platforms and `journal`.
    pub fn app(&self, journal: Arc<dyn Journal>) -> Result<App, AppError> {
        let mut b = App::builder().journal(journal);
        for (id, p) in &self.shops {
            b = b.shop(id.clone(), p.clone());
        }
        b.build()
    }

    /// Base URLs, credentials and a matching config snippet.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let Some(sb) = &self.sandbox else {
            return out;
        };
        let mut config = String::from("[journal]\nurl = \"sqlite://ordermod-sandbox.db\"\n");
        let mut exports = String::new();
        if let Some(w) = sb.wechat() {
            let _ = writeln!(out, "wechat-shop   {}", w.base_url());
            let app = &WechatSettings::default().apps[0];
            let _ = writeln!(out, "  appid {} secret {}", app.appid, app.secret);
            let _ = write!(
                config,
                "\n[[shop]]\nid = \"wechat-main\"\nplatform = \"wechat-shop\"\nbase_url = \"{}\"\n[shop.credentials]\nappid = \"{}\"\nsecret_env = \"ORDERMOD_SANDBOX_WECHAT_SECRET\"\n",
                w.base_url(),
                app.appid
            );
            let _ = writeln!(
                exports,
                "export ORDERMOD_SANDBOX_WECHAT_SECRET={}",
                app.secret
            );
        }
        if let Some(v) = sb.vvtool() {
            let _ = writeln!(out, "vvtool-1688   {}", v.base_url());
            let t = &vvtool_settings(&[]).tokens[0];
            let _ = writeln!(out, "  token {} shops {}", t.token, t.shops.join(", "));
            let _ = write!(
                config,
                "\n[[shop]]\nid = \"vvtool-main\"\nplatform = \"vvtool-1688\"\nbase_url = \"{}\"\n[shop.credentials]\nshop_id = \"vvtool-main\"\ntoken_env = \"ORDERMOD_SANDBOX_VVTOOL_TOKEN\"\n",
                v.base_url()
            );
            let _ = writeln!(exports, "export ORDERMOD_SANDBOX_VVTOOL_TOKEN={}", t.token);
        }
        let _ = write!(
            out,
            "\n# ordermod.toml for these emulators\n{config}\n# environment\n{exports}"
        );
        out
    }
}

/// vv-tool settings whose token is authorised for the default shop and `shops`.
fn vvtool_settings(shops: &[String]) -> VvtoolSettings {
    let mut s = VvtoolSettings::default();
    let mut names = vec!["sandbox-shop".to_owned(), "vvtool-main".to_owned()];
    names.extend(shops.iter().cloned());
    if let Some(t) = s.tokens.first_mut() {
        t.shops = names;
    } else {
        s.tokens.push(VvtoolToken {
            token: "vv-sandbox-token".into(),
            shops: names,
            quota: None,
            permitted: true,
        });
    }
    s
}

/// Seeds `order` into the emulator of `kind`, unless the emulator already holds it.
pub fn seed_order(
    sb: &Sandbox,
    kind: PlatformKind,
    shop: &ShopId,
    order: &Order,
) -> Result<(), String> {
    match kind {
        PlatformKind::WechatShop => {
            let em = sb.wechat().ok_or("the WeChat emulator is not running")?;
            let seed = wechat_seed(order)?;
            if em.order(seed.order_id).is_none() {
                em.seed_order(seed);
            }
            Ok(())
        }
        PlatformKind::Vvtool1688 => {
            let em = sb.vvtool().ok_or("the vv-tool emulator is not running")?;
            let seed = vvtool_seed(order, &vv_shop(shop))?;
            if em.order(seed.order_id).is_none() {
                em.seed_order(seed);
            }
            Ok(())
        }
        PlatformKind::EmFranchiser | PlatformKind::AlibabaIcbu => {
            Err(format!("no {kind} emulator in this build"))
        }
    }
}
