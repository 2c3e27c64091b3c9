//! WeChat Channels shop (微信小店) emulator: access tokens and the order calls
//! `POST /channels/ec/order/price/update`, `/channels/ec/order/address/update` and
//! `/channels/ec/order/get`, all with `?access_token=`.
//!
//! Written from the published Channels pages: amounts are integer fen; ids are 64-bit and
//! accepted as JSON numbers or strings; `order/get` answers ids as numbers, exactly.
//!
//! | errcode | when |
//! |---|---|
//! | 0 | success |
//! | -1 | injected [`Fault::Busy`] ("system busy") |
//! | 40001 | token superseded by a newer one, or [`ChannelsEmulator::invalidate_tokens`] |
//! | 40014 | unknown access token |
//! | 41001 | access token missing |
//! | 42001 | token expired (TTL passed, or [`ChannelsEmulator::expire_tokens`]) |
//! | 40013 / 40125 / 40002 | token endpoint: unknown appid / wrong secret / wrong grant type |
//! | 45009 | the app's daily quota of business calls is used up ([`ChannelsSettings::daily_quota`]) |
//! | 45011 | more calls than the per-appid rate allows (the emulator's stand-in for the minute quota) |
//! | 48001 | the app has no permission for the order calls |
//! | 40097 | malformed body, missing field, unknown SKU line, negative amount; address of a shipped order, sixth address change, required address field missing |
//! | 100002 | unknown order |
//! | 101100 | price change of an order not awaiting payment |
//! | 108021 | a line total above its original total, or freight above the original freight |
//! | 108022 | price already changed 50 times |
//! | 108023 | resulting order total is 0 |
//!
//! Rules of `price/update`: each successful change replaces all earlier ones, so SKU lines not
//! named return to their original total and, without `change_express`, the freight returns to
//! its original; `express_fee` left out with `change_express` counts as 0. Rules of
//! `address/update`: the whole address replaces the old one, only for orders awaiting payment
//! (10) or shipment (20), at most 5 times; the emulator applies it at once (the buyer's
//! confirmation the newer pages describe is not emulated).
//!
//! Checks run in this order: token, rate, daily quota, scripted errcode, fault, permission,
//! body, then business rules.

use std::collections::{HashMap, VecDeque};
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
use crate::wechat::WechatApp;

/// Status of an order awaiting payment.
pub const STATUS_AWAITING_PAYMENT: u32 = 10;
/// Status of a paid order awaiting shipment.
pub const STATUS_AWAITING_SHIPMENT: u32 = 20;
/// Status of a shipped order awaiting receipt.
pub const STATUS_AWAITING_RECEIPT: u32 = 30;
/// Most price changes per order before payment.
pub const MAX_PRICE_CHANGES: u32 = 50;
/// Most address changes per order before shipping.
pub const MAX_ADDRESS_CHANGES: u32 = 5;

/// Settings of the Channels emulator.
///
/// Defaults: app `wx-sandbox-app` / `sandbox-secret` (permitted) and `wx-sandbox-noperm`
/// (no permission); 20 calls per second per appid; no daily quota; tokens live 7200 s.
#[derive(Debug, Clone)]
pub struct ChannelsSettings {
    /// Known apps (`permitted` = may call the order interfaces, otherwise errcode 48001).
    pub apps: Vec<WechatApp>,
    /// Business calls per second per appid; over it the call answers 45011. `None` lifts it.
    pub rate_limit_per_second: Option<u32>,
    /// Business calls per appid for the emulator's lifetime; beyond it every call answers
    /// 45009. `None` = no quota.
    pub daily_quota: Option<u64>,
    /// Lifetime of an access token.
    pub token_ttl: Duration,
    /// Random fault profile.
    pub faults: FaultProfile,
    /// Port to bind on 127.0.0.1 (0 = any free port).
    pub port: u16,
}

impl Default for ChannelsSettings {
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

/// One SKU line of a Channels order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelsLine {
    /// Product id.
    pub product_id: u64,
    /// SKU id.
    pub sku_id: u64,
    /// Quantity.
    pub sku_cnt: u64,
    /// Unit price when ordered, fen.
    pub sale_price: u64,
    /// Line total now, fen (`sale_price × sku_cnt` until changed).
    pub current_total: u64,
}

impl ChannelsLine {
    /// Line total when ordered, fen.
    pub fn original_total(&self) -> u64 {
        self.sale_price.saturating_mul(self.sku_cnt)
    }
}

/// An address as the Channels calls carry it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelsAddress {
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
    /// House number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub house_number: Option<String>,
}

/// A Channels order as the emulator holds it; also the JSON of `POST /__admin/orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelsOrder {
    /// Order id.
    pub order_id: u64,
    /// Status code (10 awaiting payment, 20 awaiting shipment, 30 shipped, ...).
    #[serde(default = "default_status")]
    pub status: u32,
    /// Freight when ordered, fen.
    pub original_freight: u64,
    /// Freight now, fen.
    pub freight: u64,
    /// SKU lines.
    pub lines: Vec<ChannelsLine>,
    /// Delivery address.
    #[serde(default)]
    pub address: ChannelsAddress,
    /// Successful price changes so far.
    #[serde(default)]
    pub price_changes: u32,
    /// Successful address changes so far.
    #[serde(default)]
    pub address_changes: u32,
}

fn default_status() -> u32 {
    STATUS_AWAITING_PAYMENT
}

impl ChannelsOrder {
    /// An order awaiting payment with freight `freight` and lines
    /// `(product, sku, quantity, unit price)`.
    pub fn awaiting_payment(order_id: u64, freight: u64, lines: &[(u64, u64, u64, u64)]) -> Self {
        Self {
            order_id,
            status: STATUS_AWAITING_PAYMENT,
            original_freight: freight,
            freight,
            lines: lines
                .iter()
                .map(|&(product_id, sku_id, sku_cnt, sale_price)| ChannelsLine {
                    product_id,
                    sku_id,
                    sku_cnt,
                    sale_price,
                    current_total: sale_price.saturating_mul(sku_cnt),
                })
                .collect(),
            address: ChannelsAddress::default(),
            price_changes: 0,
            address_changes: 0,
        }
    }

    /// Sum of current line totals plus current freight, fen.
    pub fn total(&self) -> u64 {
        self.lines.iter().map(|l| l.current_total).sum::<u64>() + self.freight
    }

    /// The order as `order/get` answers it.
    fn to_reply(&self) -> Value {
        let product_price: u64 = self.lines.iter().map(ChannelsLine::original_total).sum();
        json!({
            "order_id": self.order_id,
            "status": self.status,
            "order_detail": {
                "product_infos": self.lines.iter().map(|l| json!({
                    "product_id": l.product_id,
                    "sku_id": l.sku_id,
                    "sku_cnt": l.sku_cnt,
                    "sale_price": l.sale_price,
                    "real_price": l.current_total,
                })).collect::<Vec<_>>(),
                "price_info": {
                    "product_price": product_price,
                    "order_price": self.total(),
                    "freight": self.freight,
                    "original_order_price": product_price + self.original_freight,
                    "is_change_freight": self.freight != self.original_freight,
                    "change_freight": self.original_freight,
                },
                "delivery_info": { "address_info": self.address },
            },
        })
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
struct ChannelsState {
    tokens: HashMap<String, TokenInfo>,
    current: HashMap<String, String>,
    issued: u64,
    token_fetches: u64,
    orders: HashMap<u64, ChannelsOrder>,
    used: HashMap<String, u64>,
    scripted: VecDeque<(i64, String)>,
}

#[derive(Debug)]
struct Inner {
    settings: ChannelsSettings,
    seed: u64,
    core: Arc<Core>,
    state: Mutex<ChannelsState>,
    base_url: Mutex<String>,
}

/// Handle to a running Channels emulator (cheap to clone).
#[derive(Debug, Clone)]
pub struct ChannelsEmulator {
    inner: Arc<Inner>,
}

impl_common_handle!(ChannelsEmulator);

impl ChannelsEmulator {
    /// The next `n` changes that pass the gateway, signature and permission checks are
    /// acknowledged as successful **without** changing the order (a read or the state shows
    /// the old values; the call log says `fault:ack_without_apply`). Also
    /// `POST /__admin/faults` `{"ack_without_apply": n}`.
    pub fn ack_without_apply(&self, n: usize) {
        self.inner.core.ack_without_apply(n);
    }
}

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

/// The three business calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Price,
    Address,
    Get,
}

impl ChannelsEmulator {
    pub(crate) fn new(settings: ChannelsSettings, seed: u64) -> Self {
        let core = Core::new(seed, 0x4348_414E_4E45, settings.faults);
        Self {
            inner: Arc::new(Inner {
                settings,
                seed,
                core,
                state: Mutex::new(ChannelsState::default()),
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

    fn state(&self) -> MutexGuard<'_, ChannelsState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn router(&self) -> Router {
        Router::new()
            .route("/cgi-bin/token", get(token_get))
            .route("/cgi-bin/stable_token", post(stable_token))
            .route("/channels/ec/order/price/update", post(price_update))
            .route("/channels/ec/order/address/update", post(address_update))
            .route("/channels/ec/order/get", post(order_get))
            .route("/__admin/orders", post(admin_seed))
            .route("/__admin/orders/{id}", get(admin_order))
            .route("/__admin/tokens/expire", post(admin_expire))
            .route("/__admin/tokens/invalidate", post(admin_invalidate))
            .merge(admin_common_routes!(ChannelsEmulator))
            .with_state(self.clone())
    }

    /// Adds or replaces an order.
    pub fn seed_order(&self, order: ChannelsOrder) {
        self.state().orders.insert(order.order_id, order);
    }

    /// Current state of an order.
    pub fn order(&self, order_id: u64) -> Option<ChannelsOrder> {
        self.state().orders.get(&order_id).cloned()
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

    /// Tokens issued so far by `/cgi-bin/token` and `/cgi-bin/stable_token` (new ones only).
    pub fn tokens_issued(&self) -> u64 {
        self.state().issued
    }

    /// Requests answered by the token endpoints (new or reused tokens alike).
    pub fn token_fetches(&self) -> u64 {
        self.state().token_fetches
    }

    /// The next `n` business calls (after a valid token) answer `code` with `message`, without
    /// touching any order: for codes no rule of the emulator produces on demand.
    pub fn reply_next(&self, code: i64, message: &str, n: usize) {
        let mut st = self.state();
        for _ in 0..n {
            st.scripted.push_back((code, message.to_owned()));
        }
    }

    fn new_token(&self, st: &mut ChannelsState, appid: &str) -> String {
        st.issued += 1;
        let a = splitmix64(self.inner.seed ^ st.issued.wrapping_mul(0x0C4A_1175_0000_0001));
        let b = splitmix64(a ^ st.issued);
        let token = format!("sbx_ch_{a:016x}{b:016x}_{}", st.issued);
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

    /// Spends one call of `appid`'s daily quota; `false` when none is left.
    fn spend_quota(&self, appid: &str) -> bool {
        let Some(quota) = self.inner.settings.daily_quota else {
            return true;
        };
        let mut st = self.state();
        let used = st.used.entry(appid.to_owned()).or_default();
        if *used >= quota {
            return false;
        }
        *used += 1;
        true
    }

    fn price(&self, body: &Value) -> Result<Value, ApiError> {
        let bad = |what: &str| err(40097, &format!("invalid args: {what}"));
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
        if order.status != STATUS_AWAITING_PAYMENT {
            return Err(err(101100, "order is not unpaid, price cannot change"));
        }
        if order.price_changes >= MAX_PRICE_CHANGES {
            return Err(err(108022, "order price changed more than 50 times"));
        }
        // Each change replaces the earlier ones: start from the original amounts.
        let mut next = order.clone();
        for l in &mut next.lines {
            l.current_total = l.original_total();
        }
        next.freight = next.original_freight;
        for &(product, sku, price) in &changes {
            let line = next
                .lines
                .iter_mut()
                .find(|l| l.product_id == product && l.sku_id == sku)
                .ok_or_else(|| bad(&format!("unknown sku {product}/{sku}")))?;
            if price > line.original_total() {
                return Err(err(108021, "price after change exceeds the original price"));
            }
            line.current_total = price;
        }
        if change_express {
            if express_fee > order.original_freight {
                return Err(err(
                    108021,
                    "freight after change exceeds the original freight",
                ));
            }
            next.freight = express_fee;
        }
        if next.total() == 0 {
            return Err(err(108023, "order price after change is 0"));
        }
        let moved = next != *order;
        next.price_changes += 1;
        *order = next;
        if moved {
            self.inner.core.moved(&order_id.to_string());
        }
        Ok(json!({ "errcode": 0, "errmsg": "ok" }))
    }

    fn address(&self, body: &Value) -> Result<Value, ApiError> {
        let bad = |what: &str| err(40097, &format!("invalid args: {what}"));
        let order_id = body
            .get("order_id")
            .and_then(json_u64)
            .ok_or_else(|| bad("order_id"))?;
        let address: ChannelsAddress = body
            .get("user_address")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .ok_or_else(|| bad("user_address"))?;
        let required = [
            ("user_name", &address.user_name),
            ("province_name", &address.province_name),
            ("city_name", &address.city_name),
            ("detail_info", &address.detail_info),
            ("tel_number", &address.tel_number),
        ];
        if let Some((name, _)) = required
            .iter()
            .find(|(_, v)| v.as_deref().is_none_or(|s| s.trim().is_empty()))
        {
            return Err(bad(&format!("user_address.{name}")));
        }
        let mut st = self.state();
        let order = st
            .orders
            .get_mut(&order_id)
            .ok_or_else(|| err(100002, "order not exist"))?;
        if !matches!(
            order.status,
            STATUS_AWAITING_PAYMENT | STATUS_AWAITING_SHIPMENT
        ) {
            return Err(bad("order already shipped, address cannot change"));
        }
        if order.address_changes >= MAX_ADDRESS_CHANGES {
            return Err(bad("address changed 5 times already"));
        }
        let moved = order.address != address;
        order.address = address;
        order.address_changes += 1;
        if moved {
            self.inner.core.moved(&order_id.to_string());
        }
        Ok(json!({ "errcode": 0, "errmsg": "ok" }))
    }

    fn get(&self, body: &Value) -> Result<Value, ApiError> {
        let order_id = body
            .get("order_id")
            .and_then(json_u64)
            .ok_or_else(|| err(40097, "invalid args: order_id"))?;
        let st = self.state();
        let order = st
            .orders
            .get(&order_id)
            .ok_or_else(|| err(100002, "order not exist"))?;
        Ok(json!({ "errcode": 0, "errmsg": "ok", "order": order.to_reply() }))
    }
}

async fn token_get(State(em): State<ChannelsEmulator>, uri: Uri) -> Response {
    let q: HashMap<String, String> = parse_pairs(uri.query().unwrap_or("")).into_iter().collect();
    match em.check_credentials(
        q.get("grant_type").map(String::as_str),
        q.get("appid").map(String::as_str),
        q.get("secret").map(String::as_str),
    ) {
        Ok(appid) => {
            let mut st = em.state();
            st.token_fetches += 1;
            let token = em.new_token(&mut st, &appid);
            token_reply(&em, &token)
        }
        Err((c, m)) => reply(c, &m),
    }
}

fn token_reply(em: &ChannelsEmulator, token: &str) -> Response {
    json_text(
        StatusCode::OK,
        json!({ "access_token": token, "expires_in": em.inner.settings.token_ttl.as_secs() })
            .to_string(),
    )
}

async fn stable_token(State(em): State<ChannelsEmulator>, body: Bytes) -> Response {
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
            st.token_fetches += 1;
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

async fn price_update(State(em): State<ChannelsEmulator>, uri: Uri, body: Bytes) -> Response {
    business(em, Call::Price, uri, body).await
}

async fn address_update(State(em): State<ChannelsEmulator>, uri: Uri, body: Bytes) -> Response {
    business(em, Call::Address, uri, body).await
}

async fn order_get(State(em): State<ChannelsEmulator>, uri: Uri, body: Bytes) -> Response {
    business(em, Call::Get, uri, body).await
}

async fn business(em: ChannelsEmulator, call: Call, uri: Uri, body: Bytes) -> Response {
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
    if !core.admit(&appid, em.inner.settings.rate_limit_per_second) {
        core.record(seq, order_key, cred, "rate_limited", false);
        return reply(45011, "api minute-quota reach limit");
    }
    if !em.spend_quota(&appid) {
        core.record(seq, order_key, cred, "rejected:45009", false);
        return reply(45009, "reach max api daily quota limit");
    }
    let scripted = em.state().scripted.pop_front();
    if let Some((c, m)) = scripted {
        core.record(seq, order_key, cred, format!("rejected:{c}"), false);
        return reply(c, &m);
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
    let acked = permitted && parsed.is_some() && call != Call::Get && core.take_ack_without_apply();
    let result = match (permitted, parsed.as_ref()) {
        (true, Some(_)) if acked => Ok(json!({ "errcode": 0, "errmsg": "ok" })),
        (false, _) => Err(err(48001, "api unauthorized")),
        (true, None) => Err(err(40097, "invalid args: body is not JSON")),
        (true, Some(body)) => match call {
            Call::Price => em.price(body),
            Call::Address => em.address(body),
            Call::Get => em.get(body),
        },
    };
    let applied = result.is_ok() && call != Call::Get && !acked;
    let outcome = match (&result, fault) {
        (Ok(_), _) if acked => ACK_WITHOUT_APPLY.to_owned(),
        (_, Some(Fault::DropAfterApply)) => "fault:drop_after_apply".to_owned(),
        (Ok(_), _) => "ok".to_owned(),
        (Err((c, _)), _) => format!("rejected:{c}"),
    };
    core.record(seq, order_key, cred, outcome, applied);
    if fault == Some(Fault::DropAfterApply) {
        return dropped_connection();
    }
    match result {
        Ok(v) => json_text(StatusCode::OK, v.to_string()),
        Err((c, m)) => reply(c, &m),
    }
}

async fn admin_seed(State(em): State<ChannelsEmulator>, body: Bytes) -> AdminResult {
    Ok(match serde_json::from_slice::<ChannelsOrder>(&body) {
        Ok(o) => {
            let id = o.order_id;
            em.seed_order(o);
            (StatusCode::CREATED, axum::Json(em.order(id))).into_response()
        }
        Err(e) => admin_error(e),
    })
}

async fn admin_order(State(em): State<ChannelsEmulator>, Path(id): Path<String>) -> AdminResult {
    Ok(match id.parse::<u64>().ok().and_then(|id| em.order(id)) {
        Some(o) => axum::Json(o).into_response(),
        None => admin_not_found(),
    })
}

async fn admin_expire(State(em): State<ChannelsEmulator>) -> AdminResult {
    em.expire_tokens();
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn admin_invalidate(State(em): State<ChannelsEmulator>) -> AdminResult {
    em.invalidate_tokens();
    Ok(StatusCode::NO_CONTENT.into_response())
}
