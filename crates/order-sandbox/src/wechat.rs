//! WeChat Shop emulator: access tokens, `POST /product/order/change_order_price` and the order
//! read `POST /product/order/get`.
//!
//! The read answers from the emulator's state: status `10` (awaiting payment), `20` (`paid`),
//! `30` (`shipped`), `100` (`completed`), `250` (`closed`/`cancelled`), or a numeric status
//! text as is; each SKU line with `sku_cnt` 1 and `sale_price` its original total (the emulator
//! holds line totals, not unit prices), `real_price` its total now; `price_info` with
//! `product_price`, `order_price` (the total now), `freight`, `discounted_price`,
//! `is_discounted`, `is_change_freight` and `change_freight` (the original freight); and the
//! address set by [`WechatEmulator::set_address`], if any. Unknown order: 100002. The read goes
//! through the same token, quota, rate and fault checks as the change, and never changes state.
//! [`WechatEmulator::ack_without_apply`] makes the next changes answer 0 without applying.
//!
//! Wire behaviour (all amounts are integer fen, ids are 64-bit integers, strings accepted):
//!
//! | errcode | when |
//! |---|---|
//! | 0 | success |
//! | -1 | injected [`Fault::Busy`] ("system busy") |
//! | -2 | access token longer than 512 characters |
//! | 40001 | token superseded by a newer one, or [`WechatEmulator::invalidate_tokens`] |
//! | 40014 | unknown access token |
//! | 41001 | access token missing |
//! | 42001 | token expired (TTL passed, or [`WechatEmulator::expire_tokens`]) |
//! | 40013 / 40125 / 40002 | token endpoint: unknown appid / wrong secret / wrong grant type |
//! | 45009 | daily quota: more business calls today than [`WechatSettings::daily_quota`] allows (until [`WechatEmulator::clear_quota`] or `POST /cgi-bin/clear_quota`), or scripted with [`WechatEmulator::exceed_quota`] |
//! | 45011 | minute quota: more calls than the per-appid rate limit allows, or scripted |
//! | 100002 | unknown order |
//! | 101100 | order not awaiting payment |
//! | 108021 | a line total above its original total, or freight above the original freight |
//! | 108022 | order already changed 50 times |
//! | 108023 | resulting order total is 0 |
//! | 9401020 | malformed body, missing field, unknown SKU line, negative amount |
//! | 9401021 | the appid has no permission for the operation |
//!
//! Checks run in this order: token, scripted quota replies, daily quota, rate limit, fault,
//! permission, body, then business rules. 45009 is the interface's daily call quota ("reach max
//! api daily quota limit": retrying today does not help); 45011 is the short-term frequency
//! limit ("api minute-quota reach limit": slow down and retry).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::common::{
    ACK_WITHOUT_APPLY, AdminResult, Core, Fault, FaultProfile, admin_error, admin_not_found,
    apply_latency, dropped_connection, json_text, json_u64, parse_pairs, splitmix64,
    transport_fault_reply,
};

/// The status string of an order that can still be re-priced.
pub const AWAITING_PAYMENT: &str = "awaiting_payment";

/// Most price changes WeChat accepts for one order before payment.
pub const MAX_REVISIONS: u32 = 50;

/// One WeChat app (appid and secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WechatApp {
    /// The appid.
    pub appid: String,
    /// The app secret.
    pub secret: String,
    /// Whether the app may call `change_order_price` (otherwise errcode 9401021).
    pub permitted: bool,
}

/// Settings of the WeChat Shop emulator.
///
/// Defaults: app `wx-sandbox-app` / `sandbox-secret` (permitted) and app `wx-sandbox-noperm` /
/// `sandbox-secret` (no permission for the price change); 20 calls per second per appid
/// (an assumed figure: WeChat publishes daily quotas, not a per-second rate); tokens live 7200 s.
#[derive(Debug, Clone)]
pub struct WechatSettings {
    /// Known apps.
    pub apps: Vec<WechatApp>,
    /// Calls per second per appid on the business endpoint (errcode 45011 beyond it); `None`
    /// lifts the limit.
    pub rate_limit_per_second: Option<u32>,
    /// Business calls per appid before errcode 45009 (the daily quota) until the quota is
    /// cleared; `None` (the default) never exhausts it.
    pub daily_quota: Option<u64>,
    /// Lifetime of an access token.
    pub token_ttl: Duration,
    /// Random fault profile.
    pub faults: FaultProfile,
    /// Port to bind on 127.0.0.1 (0 = any free port).
    pub port: u16,
}

impl Default for WechatSettings {
    fn default() -> Self {
        Self {
            apps: vec![
                WechatApp {
                    appid: "wx-sandbox-app".into(),
                    secret: "sandbox-secret".into(),
                    permitted: true,
                },
                WechatApp {
                    appid: "wx-sandbox-noperm".into(),
                    secret: "sandbox-secret".into(),
                    permitted: false,
                },
            ],
            rate_limit_per_second: Some(20),
            daily_quota: None,
            token_ttl: Duration::from_secs(7200),
            faults: FaultProfile::none(),
            port: 0,
        }
    }
}

/// WeChat's call quotas, as [`WechatEmulator::exceed_quota`] scripts them; JSON `"daily"` or
/// `"minute"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WechatQuota {
    /// The interface's daily call quota: errcode 45009.
    Daily,
    /// The short-term (minute) frequency limit: errcode 45011.
    Minute,
}

impl WechatQuota {
    /// The errcode WeChat answers.
    pub fn errcode(self) -> i64 {
        match self {
            WechatQuota::Daily => 45009,
            WechatQuota::Minute => 45011,
        }
    }

    /// The errmsg WeChat answers.
    pub fn errmsg(self) -> &'static str {
        match self {
            WechatQuota::Daily => "reach max api daily quota limit",
            WechatQuota::Minute => "api minute-quota reach limit",
        }
    }

    fn outcome(self) -> &'static str {
        match self {
            WechatQuota::Daily => "quota:daily",
            WechatQuota::Minute => "quota:minute",
        }
    }
}

/// One SKU line of a WeChat order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WechatLine {
    /// Product id.
    pub product_id: u64,
    /// SKU id.
    pub sku_id: u64,
    /// Line total when the order was placed, fen.
    pub original_total: u64,
    /// Line total now, fen.
    pub current_total: u64,
}

/// A WeChat order as the emulator holds it; also the JSON of `POST /__admin/orders`.
///
/// ```json
/// {"order_id": 123, "status": "awaiting_payment", "original_express_fee": 500, "express_fee": 500,
///  "lines": [{"product_id": 1, "sku_id": 2, "original_total": 1000, "current_total": 1000}],
///  "revisions": 0}
/// ```
/// `status` defaults to `awaiting_payment` and `revisions` to 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WechatOrder {
    /// Order id.
    pub order_id: u64,
    /// `awaiting_payment` or any other text (which refuses changes).
    #[serde(default = "default_status")]
    pub status: String,
    /// Freight when the order was placed, fen.
    pub original_express_fee: u64,
    /// Freight now, fen.
    pub express_fee: u64,
    /// SKU lines.
    pub lines: Vec<WechatLine>,
    /// Successful price changes so far.
    #[serde(default)]
    pub revisions: u32,
}

fn default_status() -> String {
    AWAITING_PAYMENT.to_owned()
}

impl WechatOrder {
    /// An order awaiting payment with freight `express_fee` and lines `(product, sku, total)`.
    pub fn awaiting_payment(order_id: u64, express_fee: u64, lines: &[(u64, u64, u64)]) -> Self {
        Self {
            order_id,
            status: AWAITING_PAYMENT.to_owned(),
            original_express_fee: express_fee,
            express_fee,
            lines: lines
                .iter()
                .map(|&(product_id, sku_id, total)| WechatLine {
                    product_id,
                    sku_id,
                    original_total: total,
                    current_total: total,
                })
                .collect(),
            revisions: 0,
        }
    }

    /// Sum of current line totals plus current freight, fen.
    pub fn total(&self) -> u64 {
        self.lines.iter().map(|l| l.current_total).sum::<u64>() + self.express_fee
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenState {
    Valid,
    Expired,
    Invalidated,
}

#[derive(Debug, Clone)]
struct TokenInfo {
    appid: String,
    issued: Instant,
    state: TokenState,
}

#[derive(Debug, Default)]
struct WechatState {
    tokens: HashMap<String, TokenInfo>,
    current: HashMap<String, String>,
    issued: u64,
    orders: HashMap<u64, WechatOrder>,
    /// Replies scripted by [`WechatEmulator::exceed_quota`], next first.
    quota_replies: std::collections::VecDeque<WechatQuota>,
    /// Business calls counted against the daily quota, per appid.
    daily_calls: HashMap<String, u64>,
    /// Delivery addresses the read reports, per order.
    addresses: HashMap<u64, WechatAddress>,
}

/// A delivery address as the read reports it (`delivery_info.address_info`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WechatAddress {
    /// Receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province_name: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city_name: Option<String>,
    /// District.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub county_name: Option<String>,
    /// Street address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail_info: Option<String>,
    /// Country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub national_code: Option<String>,
    /// Phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tel_number: Option<String>,
}

/// The read's status code of an emulator status text.
fn status_code(status: &str) -> u64 {
    match status {
        AWAITING_PAYMENT => 10,
        "paid" => 20,
        "shipped" => 30,
        "completed" => 100,
        "closed" | "cancelled" => 250,
        other => other.parse().unwrap_or(0),
    }
}

#[derive(Debug)]
struct Inner {
    settings: WechatSettings,
    seed: u64,
    core: Arc<Core>,
    state: Mutex<WechatState>,
    base_url: Mutex<String>,
}

/// Handle to a running WeChat Shop emulator (cheap to clone).
#[derive(Debug, Clone)]
pub struct WechatEmulator {
    inner: Arc<Inner>,
}

impl_common_handle!(WechatEmulator);

type ApiError = (i64, String);

fn err(code: i64, msg: &str) -> ApiError {
    (code, msg.to_owned())
}

fn reply(code: i64, msg: &str) -> Response {
    json_text(
        StatusCode::OK,
        json!({ "errcode": code, "errmsg": msg }).to_string(),
    )
}

impl WechatEmulator {
    pub(crate) fn new(settings: WechatSettings, seed: u64) -> Self {
        let core = Core::new(seed, 0x5745_4348_4154, settings.faults);
        Self {
            inner: Arc::new(Inner {
                settings,
                seed,
                core,
                state: Mutex::new(WechatState::default()),
                base_url: Mutex::new(String::new()),
            }),
        }
    }

    fn core(&self) -> &Core {
        &self.inner.core
    }

    pub(crate) fn set_base_url(&self, url: String) {
        *self
            .inner
            .base_url
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = url;
    }

    fn state(&self) -> MutexGuard<'_, WechatState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn router(&self) -> Router {
        Router::new()
            .route("/cgi-bin/token", get(token_get))
            .route("/cgi-bin/stable_token", post(stable_token))
            .route("/cgi-bin/clear_quota", post(clear_quota))
            .route("/product/order/change_order_price", post(change_price))
            .route("/product/order/get", post(order_get))
            .route("/__admin/orders", post(admin_seed))
            .route("/__admin/orders/{id}", get(admin_order))
            .route("/__admin/tokens/expire", post(admin_expire))
            .route("/__admin/tokens/invalidate", post(admin_invalidate))
            .route("/__admin/quota", post(admin_quota))
            .merge(admin_common_routes!(WechatEmulator))
            .with_state(self.clone())
    }

    /// Adds or replaces an order.
    pub fn seed_order(&self, order: WechatOrder) {
        self.state().orders.insert(order.order_id, order);
    }

    /// Current state of an order.
    pub fn order(&self, order_id: u64) -> Option<WechatOrder> {
        self.state().orders.get(&order_id).cloned()
    }

    /// Sets the delivery address `product/order/get` reports for `order_id`.
    pub fn set_address(&self, order_id: u64, address: WechatAddress) {
        self.state().addresses.insert(order_id, address);
    }

    /// The next `n` price changes that pass the token, quota, rate, fault and permission
    /// checks answer errcode 0 **without** changing the order (a read shows the old state).
    /// Also `POST /__admin/faults` `{"ack_without_apply": n}`.
    pub fn ack_without_apply(&self, n: usize) {
        self.inner.core.ack_without_apply(n);
    }

    /// The `product/order/get` reply for the order the body names.
    fn read(&self, body: Option<&Value>) -> Result<Value, ApiError> {
        let order_id = body
            .and_then(|b| b.get("order_id"))
            .and_then(json_u64)
            .ok_or_else(|| err(9401020, "invalid parameter: order_id"))?;
        let st = self.state();
        let o = st
            .orders
            .get(&order_id)
            .ok_or_else(|| err(100002, "order not exist"))?;
        let originals: u64 = o.lines.iter().map(|l| l.original_total).sum();
        let before = originals + o.original_express_fee;
        let discount = before.saturating_sub(o.total());
        let products: Vec<Value> = o
            .lines
            .iter()
            .map(|l| {
                json!({
                    "product_id": l.product_id,
                    "sku_id": l.sku_id,
                    "sku_cnt": 1,
                    "sale_price": l.original_total,
                    "real_price": l.current_total,
                })
            })
            .collect();
        let mut detail = json!({
            "product_infos": products,
            "price_info": {
                "product_price": originals,
                "order_price": o.total(),
                "freight": o.express_fee,
                "discounted_price": discount,
                "is_discounted": discount > 0,
                "is_change_freight": o.express_fee != o.original_express_fee,
                "change_freight": o.original_express_fee,
            },
        });
        if let Some(a) = st.addresses.get(&order_id) {
            detail["delivery_info"] = json!({ "address_info": a });
        }
        Ok(json!({
            "errcode": 0,
            "errmsg": "ok",
            "order": {
                "order_id": o.order_id,
                "status": status_code(&o.status),
                "order_detail": detail,
            },
        }))
    }

    /// The next `n` business calls with a valid token are answered with `quota`'s errcode
    /// (45009 or 45011) and change nothing. Also `POST /__admin/quota`
    /// `{"quota": "daily"|"minute", "count": n}`.
    pub fn exceed_quota(&self, quota: WechatQuota, n: usize) {
        let mut st = self.state();
        st.quota_replies.extend(std::iter::repeat_n(quota, n));
    }

    /// Resets `appid`'s daily quota count (what `POST /cgi-bin/clear_quota` does).
    pub fn clear_quota(&self, appid: &str) {
        self.state().daily_calls.remove(appid);
    }

    /// Answers a scripted quota reply, else counts the call against `appid`'s daily quota and
    /// answers 45009 once it is spent.
    fn quota_reply(&self, appid: &str) -> Option<WechatQuota> {
        let mut st = self.state();
        if let Some(q) = st.quota_replies.pop_front() {
            return Some(q);
        }
        let limit = self.inner.settings.daily_quota?;
        let used = st.daily_calls.entry(appid.to_owned()).or_default();
        if *used >= limit {
            return Some(WechatQuota::Daily);
        }
        *used += 1;
        None
    }

    /// Marks every issued token expired: its next use answers errcode 42001.
    pub fn expire_tokens(&self) {
        for t in self.state().tokens.values_mut() {
            if t.state == TokenState::Valid {
                t.state = TokenState::Expired;
            }
        }
    }

    /// Marks every issued token invalid: its next use answers errcode 40001.
    pub fn invalidate_tokens(&self) {
        for t in self.state().tokens.values_mut() {
            t.state = TokenState::Invalidated;
        }
    }

    /// Issues a fresh token for `appid` in-process (like `/cgi-bin/token`, invalidating the
    /// previous one). `None` for an unknown appid.
    pub fn issue_token(&self, appid: &str) -> Option<String> {
        self.inner
            .settings
            .apps
            .iter()
            .any(|a| a.appid == appid)
            .then(|| {
                let mut st = self.state();
                self.new_token(&mut st, appid)
            })
    }

    fn new_token(&self, st: &mut WechatState, appid: &str) -> String {
        st.issued += 1;
        let a = splitmix64(self.inner.seed ^ st.issued.wrapping_mul(0x1234_5678_9ABC));
        let b = splitmix64(a ^ st.issued);
        let token = format!("sbx_{:016x}{:016x}_{}", a, b, st.issued);
        if let Some(old) = st.current.insert(appid.to_owned(), token.clone())
            && let Some(info) = st.tokens.get_mut(&old)
        {
            info.state = TokenState::Invalidated;
        }
        st.tokens.insert(
            token.clone(),
            TokenInfo {
                appid: appid.to_owned(),
                issued: Instant::now(),
                state: TokenState::Valid,
            },
        );
        token
    }

    fn check_credentials(
        &self,
        grant_type: Option<&str>,
        appid: Option<&str>,
        secret: Option<&str>,
    ) -> Result<String, ApiError> {
        if grant_type != Some("client_credential") {
            return Err(err(40002, "invalid grant_type"));
        }
        let appid = appid.unwrap_or_default();
        let Some(app) = self.inner.settings.apps.iter().find(|a| a.appid == appid) else {
            return Err(err(40013, "invalid appid"));
        };
        use subtle::ConstantTimeEq;
        let ok: bool = app
            .secret
            .as_bytes()
            .ct_eq(secret.unwrap_or_default().as_bytes())
            .into();
        if !ok {
            return Err(err(40125, "invalid appsecret"));
        }
        Ok(app.appid.clone())
    }

    fn check_token(&self, token: Option<&str>) -> Result<String, ApiError> {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Err(err(41001, "access_token missing"));
        };
        if token.chars().count() > 512 {
            return Err(err(-2, "token too long"));
        }
        let st = self.state();
        let Some(info) = st.tokens.get(token) else {
            return Err(err(40014, "invalid access_token"));
        };
        let expired = info.issued.elapsed() >= self.inner.settings.token_ttl;
        match info.state {
            TokenState::Invalidated => Err(err(
                40001,
                "invalid credential, access_token is invalid or not latest",
            )),
            TokenState::Expired => Err(err(42001, "access_token expired")),
            TokenState::Valid if expired => Err(err(42001, "access_token expired")),
            TokenState::Valid => Ok(info.appid.clone()),
        }
    }

    fn apply(&self, body: Option<&Value>) -> Result<(), ApiError> {
        let bad = |what: &str| err(9401020, &format!("invalid parameter: {what}"));
        let body = body.ok_or_else(|| bad("body is not JSON"))?;
        let order_id = body
            .get("order_id")
            .and_then(json_u64)
            .ok_or_else(|| bad("order_id"))?;
        let change_express = body
            .get("change_express")
            .and_then(Value::as_bool)
            .ok_or_else(|| bad("change_express"))?;
        let express_fee = match body.get("express_fee") {
            None | Some(Value::Null) => 0,
            Some(v) => json_u64(v).ok_or_else(|| bad("express_fee"))?,
        };
        let Some(Value::Array(infos)) = body.get("change_order_infos") else {
            return Err(bad("change_order_infos"));
        };
        let mut changes = Vec::with_capacity(infos.len());
        for (i, info) in infos.iter().enumerate() {
            let field = |name: &str| {
                info.get(name)
                    .and_then(json_u64)
                    .ok_or_else(|| bad(&format!("change_order_infos[{i}].{name}")))
            };
            changes.push((
                field("product_id")?,
                field("sku_id")?,
                field("change_price")?,
            ));
        }

        let mut st = self.state();
        let order = st
            .orders
            .get_mut(&order_id)
            .ok_or_else(|| err(100002, "order not exist"))?;
        if order.status != AWAITING_PAYMENT {
            return Err(err(
                101100,
                "order is not awaiting payment, price cannot change",
            ));
        }
        if order.revisions >= MAX_REVISIONS {
            return Err(err(108022, "order price already changed 50 times"));
        }
        let mut next = order.clone();
        for &(product, sku, price) in &changes {
            let line = next
                .lines
                .iter_mut()
                .find(|l| l.product_id == product && l.sku_id == sku)
                .ok_or_else(|| bad(&format!("unknown sku {product}/{sku}")))?;
            if price > line.original_total {
                return Err(err(108021, "new price exceeds the original price"));
            }
            line.current_total = price;
        }
        if change_express {
            if express_fee > order.original_express_fee {
                return Err(err(
                    108021,
                    "new express fee exceeds the original express fee",
                ));
            }
            next.express_fee = express_fee;
        }
        if next.total() == 0 {
            return Err(err(108023, "order price after change is 0"));
        }
        let moved = next != *order;
        next.revisions += 1;
        *order = next;
        if moved {
            self.inner.core.moved(&order_id.to_string());
        }
        Ok(())
    }
}

async fn token_get(State(em): State<WechatEmulator>, uri: Uri) -> Response {
    let q: HashMap<String, String> = parse_pairs(uri.query().unwrap_or("")).into_iter().collect();
    match em.check_credentials(
        q.get("grant_type").map(String::as_str),
        q.get("appid").map(String::as_str),
        q.get("secret").map(String::as_str),
    ) {
        Ok(appid) => {
            let mut st = em.state();
            let token = em.new_token(&mut st, &appid);
            token_reply(&em, &token)
        }
        Err((c, m)) => reply(c, &m),
    }
}

fn token_reply(em: &WechatEmulator, token: &str) -> Response {
    json_text(
        StatusCode::OK,
        json!({ "access_token": token, "expires_in": em.inner.settings.token_ttl.as_secs() })
            .to_string(),
    )
}

async fn stable_token(State(em): State<WechatEmulator>, body: Bytes) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return reply(47001, "data format error");
    };
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    match em.check_credentials(s("grant_type"), s("appid"), s("secret")) {
        Ok(appid) => {
            let force = v
                .get("force_refresh")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let mut st = em.state();
            let ttl = em.inner.settings.token_ttl;
            let current = st.current.get(&appid).cloned().filter(|t| {
                st.tokens
                    .get(t)
                    .is_some_and(|i| i.state == TokenState::Valid && i.issued.elapsed() < ttl)
            });
            let token = match current {
                Some(t) if !force => t,
                _ => em.new_token(&mut st, &appid),
            };
            token_reply(&em, &token)
        }
        Err((c, m)) => reply(c, &m),
    }
}

async fn change_price(State(em): State<WechatEmulator>, uri: Uri, body: Bytes) -> Response {
    let q: HashMap<String, String> = parse_pairs(uri.query().unwrap_or("")).into_iter().collect();
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let order_key = parsed
        .as_ref()
        .and_then(|v| v.get("order_id"))
        .and_then(json_u64)
        .map(|n| n.to_string());
    let order_key = order_key.as_deref();
    let core = em.core();
    let seq = core.count_request(order_key);
    let appid = match em.check_token(q.get("access_token").map(String::as_str)) {
        Ok(a) => a,
        Err((c, m)) => {
            core.record(seq, order_key, None, format!("rejected:{c}"), false);
            return reply(c, &m);
        }
    };
    let cred = Some(appid.as_str());
    if let Some(q) = em.quota_reply(&appid) {
        core.record(seq, order_key, cred, q.outcome(), false);
        return reply(q.errcode(), q.errmsg());
    }
    if !core.admit(&appid, em.inner.settings.rate_limit_per_second) {
        core.record(seq, order_key, cred, "rate_limited", false);
        let q = WechatQuota::Minute;
        return reply(q.errcode(), q.errmsg());
    }
    let fault = core.next_fault();
    if let Some(f) = fault {
        let sample = json!({ "errcode": 0, "errmsg": "ok" });
        if let Some(r) = transport_fault_reply(f, &sample) {
            core.record(seq, order_key, cred, format!("fault:{}", f.name()), false);
            return r;
        }
        if f == Fault::Busy {
            core.record(seq, order_key, cred, "fault:busy", false);
            return reply(-1, "system error");
        }
        apply_latency(fault).await;
    }
    let permitted = em
        .inner
        .settings
        .apps
        .iter()
        .any(|a| a.appid == appid && a.permitted);
    if permitted && core.take_ack_without_apply() {
        core.record(seq, order_key, cred, ACK_WITHOUT_APPLY, false);
        return reply(0, "ok");
    }
    let result = if permitted {
        em.apply(parsed.as_ref())
    } else {
        Err(err(9401021, "api unauthorized"))
    };
    let applied = result.is_ok();
    let outcome = match (&result, fault) {
        (_, Some(Fault::DropAfterApply)) => "fault:drop_after_apply".to_owned(),
        (Ok(()), _) => "ok".to_owned(),
        (Err((c, _)), _) => format!("rejected:{c}"),
    };
    core.record(seq, order_key, cred, outcome, applied);
    if fault == Some(Fault::DropAfterApply) {
        return dropped_connection();
    }
    match result {
        Ok(()) => reply(0, "ok"),
        Err((c, m)) => reply(c, &m),
    }
}

/// `POST /product/order/get`: the same checks as the change, then the order from state.
async fn order_get(State(em): State<WechatEmulator>, uri: Uri, body: Bytes) -> Response {
    let q: HashMap<String, String> = parse_pairs(uri.query().unwrap_or("")).into_iter().collect();
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let order_key = parsed
        .as_ref()
        .and_then(|v| v.get("order_id"))
        .and_then(json_u64)
        .map(|n| n.to_string());
    let order_key = order_key.as_deref();
    let core = em.core();
    let seq = core.count_request(order_key);
    let appid = match em.check_token(q.get("access_token").map(String::as_str)) {
        Ok(a) => a,
        Err((c, m)) => {
            core.record(seq, order_key, None, format!("rejected:{c}"), false);
            return reply(c, &m);
        }
    };
    let cred = Some(appid.as_str());
    if let Some(q) = em.quota_reply(&appid) {
        core.record(seq, order_key, cred, q.outcome(), false);
        return reply(q.errcode(), q.errmsg());
    }
    if !core.admit(&appid, em.inner.settings.rate_limit_per_second) {
        core.record(seq, order_key, cred, "rate_limited", false);
        let q = WechatQuota::Minute;
        return reply(q.errcode(), q.errmsg());
    }
    let fault = core.next_fault();
    if let Some(f) = fault {
        let sample = json!({ "errcode": 0, "errmsg": "ok", "order": {} });
        if let Some(r) = transport_fault_reply(f, &sample) {
            core.record(seq, order_key, cred, format!("fault:{}", f.name()), false);
            return r;
        }
        if f == Fault::Busy {
            core.record(seq, order_key, cred, "fault:busy", false);
            return reply(-1, "system error");
        }
        apply_latency(fault).await;
    }
    let permitted = em
        .inner
        .settings
        .apps
        .iter()
        .any(|a| a.appid == appid && a.permitted);
    let result = if permitted {
        em.read(parsed.as_ref())
    } else {
        Err(err(9401021, "api unauthorized"))
    };
    match result {
        Ok(v) => {
            core.record(seq, order_key, cred, "read", false);
            json_text(StatusCode::OK, v.to_string())
        }
        Err((c, m)) => {
            core.record(seq, order_key, cred, format!("rejected:{c}"), false);
            reply(c, &m)
        }
    }
}

async fn admin_seed(State(em): State<WechatEmulator>, body: Bytes) -> AdminResult {
    Ok(match serde_json::from_slice::<WechatOrder>(&body) {
        Ok(o) => {
            let id = o.order_id;
            em.seed_order(o);
            (StatusCode::CREATED, axum::Json(em.order(id))).into_response()
        }
        Err(e) => admin_error(e),
    })
}

async fn admin_order(State(em): State<WechatEmulator>, Path(id): Path<String>) -> AdminResult {
    Ok(match id.parse::<u64>().ok().and_then(|id| em.order(id)) {
        Some(o) => axum::Json(o).into_response(),
        None => admin_not_found(),
    })
}

async fn admin_expire(State(em): State<WechatEmulator>) -> AdminResult {
    em.expire_tokens();
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn admin_invalidate(State(em): State<WechatEmulator>) -> AdminResult {
    em.invalidate_tokens();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /cgi-bin/clear_quota?access_token=…` with `{"appid": "…"}`: resets that app's daily
/// quota. The token must be valid and belong to the app (else errcode 40013, invalid appid).
async fn clear_quota(State(em): State<WechatEmulator>, uri: Uri, body: Bytes) -> Response {
    let q: HashMap<String, String> = parse_pairs(uri.query().unwrap_or("")).into_iter().collect();
    let owner = match em.check_token(q.get("access_token").map(String::as_str)) {
        Ok(a) => a,
        Err((c, m)) => return reply(c, &m),
    };
    let appid = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("appid").and_then(Value::as_str).map(str::to_owned));
    match appid {
        Some(a) if a == owner => {
            em.clear_quota(&a);
            reply(0, "ok")
        }
        _ => reply(40013, "invalid appid"),
    }
}

#[derive(Deserialize)]
struct QuotaRequest {
    quota: WechatQuota,
    #[serde(default = "one")]
    count: usize,
}

fn one() -> usize {
    1
}

async fn admin_quota(State(em): State<WechatEmulator>, body: Bytes) -> AdminResult {
    Ok(match serde_json::from_slice::<QuotaRequest>(&body) {
        Ok(r) => {
            em.exceed_quota(r.quota, r.count);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => admin_error(e),
    })
}
