//! vv-tool emulator of the 1688 "modify order price" operation:
//! `POST /tool/erps/1688modify-order-price` with `Authorization: Bearer <token>`.
//!
//! Every reply is the vv-tool envelope `{"code", "msg", "msec", "time", "data"}`.
//!
//! | envelope code | when |
//! |---|---|
//! | 0 | the call reached 1688; `data.success` tells whether the price changed |
//! | 100 | bad parameters (body not JSON, missing or mistyped field) |
//! | 101 | injected [`Fault::Busy`] when [`VvtoolBusyReply::Timeout101`] is chosen |
//! | 202 | injected busy ([`VvtoolBusyReply::Envelope202`], the default), and the rate limit (*assumed*: the document publishes no reply for it; message `请求过于频繁,超过频率限制(10 次/秒)`) |
//! | 204 | token lacks the interface permission, call quota exhausted, and (*assumed*) missing or unknown token with message `请求异常:access_token 无效或缺失。` |
//! | 302 | shop not authorised for the token; `data` is `{"auth_url": "<auth_url_base>?shop=<shop_id>"}` |
//!
//! Business failures (`code` 0, `data = {"success": false, "result_code", "result_msg"}`):
//! `FAIL_BIZ_TRADING_ORDER_NOT_EXIST` (unknown order, or an order of another shop),
//! `FAIL_BIZ_TRADING_ORDER_STATUS_ERROR` (status is not `waitbuyerpay`),
//! `FAIL_BIZ_TRADING_MODIFY_PRICE_ERROR` (a positive discount, or trade type not 6, 8, 9, 10),
//! `FAIL_BIZ_TRADING_ORDER_ENTRY_STATUS_ERROR` (a closed entry),
//! `FAIL_BIZ_TRADING_INVALID_PARAM` (unknown entry, an entry made negative, negative carriage),
//! `FAIL_BIZ_TRADING_SYSTEM_ERROR` (injected busy with [`VvtoolBusyReply::SystemError`]).
//!
//! Semantics: a discount is signed fen against the entry's original amount and replaces the
//! entry's earlier discount; entries not named keep theirs; `carriage` is the new freight in fen
//! (0 allowed, raising it is allowed since the document only forbids raising prices).
//! Every reply with envelope code 0 costs one unit of the token's quota (when it has one) and
//! reports `withholding_money`.
//!
//! Checks run in this order: token, rate limit, fault, permission, quota, body, shop, business.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::common::{
    ACK_WITHOUT_APPLY, AdminResult, Core, Fault, FaultProfile, admin_error, admin_not_found,
    apply_latency, dropped_connection, json_i64, json_text, json_u64, transport_fault_reply,
    unix_now,
};
use crate::price1688;

/// Order status in which 1688 accepts a price change.
pub const WAIT_BUYER_PAY: &str = "waitbuyerpay";

/// One vv-tool access token and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VvtoolToken {
    /// The bearer token.
    pub token: String,
    /// Shop ids the token is authorised for.
    pub shops: Vec<String>,
    /// Calls left (`None` = unlimited).
    pub quota: Option<u64>,
    /// Whether the token has the interface permission.
    pub permitted: bool,
}

/// How an injected [`Fault::Busy`] is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum VvtoolBusyReply {
    /// Envelope code 202 "系统错误,请稍后再试".
    #[default]
    Envelope202,
    /// Envelope code 101 "请求超时,请重试".
    Timeout101,
    /// Envelope code 0 with `data.result_code = FAIL_BIZ_TRADING_SYSTEM_ERROR`.
    SystemError,
}

/// Settings of the vv-tool emulator.
///
/// Defaults: token `vv-sandbox-token` (shop `sandbox-shop`, unlimited quota, permitted);
/// 10 calls per second per token (as documented); `withholding_money` 1; authorisation links
/// under `https://sandbox.vv-tool.invalid/authorize`.
#[derive(Debug, Clone)]
pub struct VvtoolSettings {
    /// Known tokens.
    pub tokens: Vec<VvtoolToken>,
    /// Calls per second per token; `None` lifts the limit.
    pub rate_limit_per_second: Option<u32>,
    /// Cost reported in `data.withholding_money` per charged call.
    pub withholding_money: i64,
    /// Base of the authorisation link in 302 replies.
    pub auth_url_base: String,
    /// How injected busy faults are answered.
    pub busy_reply: VvtoolBusyReply,
    /// Random fault profile.
    pub faults: FaultProfile,
    /// Port to bind on 127.0.0.1 (0 = any free port).
    pub port: u16,
}

impl Default for VvtoolSettings {
    fn default() -> Self {
        Self {
            tokens: vec![VvtoolToken {
                token: "vv-sandbox-token".into(),
                shops: vec!["sandbox-shop".into()],
                quota: None,
                permitted: true,
            }],
            rate_limit_per_second: Some(10),
            withholding_money: 1,
            auth_url_base: "https://sandbox.vv-tool.invalid/authorize".into(),
            busy_reply: VvtoolBusyReply::default(),
            faults: FaultProfile::none(),
            port: 0,
        }
    }
}

/// One entry (sub-order) of a 1688 order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VvtoolEntry {
    /// Entry id.
    pub id: u64,
    /// Amount when ordered, fen.
    pub original_amount: i64,
    /// Current discount against the original, signed fen.
    #[serde(default)]
    pub discount: i64,
    /// Closed or deleted entries refuse discounts.
    #[serde(default)]
    pub closed: bool,
}

/// A 1688 order as the emulator holds it; also the JSON of `POST /__admin/orders`.
///
/// ```json
/// {"order_id": 2198111437768747370, "shop_id": "sandbox-shop", "status": "waitbuyerpay",
///  "trade_type": 6, "original_carriage": 500, "carriage": 500,
///  "entries": [{"id": 2198111437768747371, "original_amount": 10000, "discount": 0, "closed": false}],
///  "changes": 0}
/// ```
/// `status` defaults to `waitbuyerpay`, `trade_type` to 6, `changes` to 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VvtoolOrder {
    /// Order id.
    pub order_id: u64,
    /// Shop the order belongs to.
    pub shop_id: String,
    /// 1688 status text; only `waitbuyerpay` accepts changes.
    #[serde(default = "default_status")]
    pub status: String,
    /// 1688 trade type; only 6, 8, 9, 10 accept changes.
    #[serde(default = "default_trade_type")]
    pub trade_type: u32,
    /// Freight when ordered, fen.
    pub original_carriage: i64,
    /// Freight now, fen.
    pub carriage: i64,
    /// Entries.
    pub entries: Vec<VvtoolEntry>,
    /// Successful changes so far.
    #[serde(default)]
    pub changes: u64,
}

fn default_status() -> String {
    WAIT_BUYER_PAY.to_owned()
}

fn default_trade_type() -> u32 {
    6
}

impl VvtoolOrder {
    /// An order awaiting payment, trade type 6, with entries `(id, original amount fen)`.
    pub fn awaiting_payment(
        order_id: u64,
        shop_id: &str,
        carriage: i64,
        entries: &[(u64, i64)],
    ) -> Self {
        Self {
            order_id,
            shop_id: shop_id.to_owned(),
            status: default_status(),
            trade_type: 6,
            original_carriage: carriage,
            carriage,
            entries: entries
                .iter()
                .map(|&(id, original_amount)| VvtoolEntry {
                    id,
                    original_amount,
                    discount: 0,
                    closed: false,
                })
                .collect(),
            changes: 0,
        }
    }

    /// Current total: Σ (original + discount) over open entries, plus carriage, fen.
    pub fn total(&self) -> i64 {
        self.entries
            .iter()
            .filter(|e| !e.closed)
            .map(|e| e.original_amount + e.discount)
            .sum::<i64>()
            + self.carriage
    }
}

#[derive(Debug, Default)]
struct VvState {
    orders: HashMap<u64, VvtoolOrder>,
    quota_used: HashMap<String, u64>,
}

#[derive(Debug)]
struct Inner {
    settings: VvtoolSettings,
    core: Arc<Core>,
    state: Mutex<VvState>,
    base_url: Mutex<String>,
}

/// Handle to a running vv-tool emulator (cheap to clone).
#[derive(Debug, Clone)]
pub struct VvtoolEmulator {
    inner: Arc<Inner>,
}

impl_common_handle!(VvtoolEmulator);

impl VvtoolEmulator {
    /// The next `n` changes that pass the gateway, signature and permission checks are
    /// acknowledged as successful **without** changing the order (a read or the state shows
    /// the old values; the call log says `fault:ack_without_apply`). Also
    /// `POST /__admin/faults` `{"ack_without_apply": n}`.
    pub fn ack_without_apply(&self, n: usize) {
        self.inner.core.ack_without_apply(n);
    }
}

fn envelope(code: i64, msg: &str, started: Instant, data: Value) -> Response {
    json_text(
        StatusCode::OK,
        json!({
            "code": code,
            "msg": msg,
            "msec": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "time": unix_now(),
            "data": data,
        })
        .to_string(),
    )
}

enum Outcome {
    Envelope(i64, String, Value),
    Business(Result<(), (&'static str, String)>),
    /// A valid change acknowledged without applying it.
    Acked,
}

impl VvtoolEmulator {
    pub(crate) fn new(settings: VvtoolSettings, seed: u64) -> Self {
        let core = Core::new(seed, 0x5656_544F_4F4C, settings.faults);
        Self {
            inner: Arc::new(Inner {
                settings,
                core,
                state: Mutex::new(VvState::default()),
                base_url: Mutex::new(String::new()),
            }),
        }
    }

    pub(crate) fn set_base_url(&self, url: String) {
        *self
            .inner
            .base_url
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = url;
    }

    fn state(&self) -> MutexGuard<'_, VvState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn router(&self) -> Router {
        Router::new()
            .route("/tool/erps/1688modify-order-price", post(modify_price))
            .route("/__admin/orders", post(admin_seed))
            .route("/__admin/orders/{id}", get(admin_order))
            .merge(admin_common_routes!(VvtoolEmulator))
            .with_state(self.clone())
    }

    /// Adds or replaces an order.
    pub fn seed_order(&self, order: VvtoolOrder) {
        self.state().orders.insert(order.order_id, order);
    }

    /// Current state of an order.
    pub fn order(&self, order_id: u64) -> Option<VvtoolOrder> {
        self.state().orders.get(&order_id).cloned()
    }

    /// Quota units consumed so far by `token`.
    pub fn quota_used(&self, token: &str) -> u64 {
        self.state().quota_used.get(token).copied().unwrap_or(0)
    }

    fn charge(&self, token: &VvtoolToken) -> bool {
        let mut st = self.state();
        let used = st.quota_used.entry(token.token.clone()).or_default();
        if token.quota.is_some_and(|q| *used >= q) {
            return false;
        }
        *used += 1;
        true
    }

    fn process(&self, token: &VvtoolToken, body: &[u8]) -> Outcome {
        let bad = |what: &str| Outcome::Envelope(100, format!("请求参数错误:{what}"), Value::Null);
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return bad("请求体不是 JSON");
        };
        let Some(shop_id) = v.get("shop_id").and_then(Value::as_str) else {
            return bad("shop_id");
        };
        let Some(order_id) = v.get("order_id").and_then(json_u64) else {
            return bad("order_id");
        };
        let Some(carriage) = v.get("carriage").and_then(json_i64) else {
            return bad("carriage");
        };
        let list = match v.get("entry_discounts") {
            Some(Value::Array(a)) => a.clone(),
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Array(a)) => a,
                _ => return bad("entry_discounts"),
            },
            _ => return bad("entry_discounts"),
        };
        let mut discounts = Vec::with_capacity(list.len());
        for (i, d) in list.iter().enumerate() {
            let id = d.get("id").and_then(json_u64);
            let discount = d.get("discount").and_then(json_i64);
            match (id, discount) {
                (Some(id), Some(discount)) => discounts.push((id, discount)),
                _ => return bad(&format!("entry_discounts[{i}]")),
            }
        }
        if !token.shops.iter().any(|s| s == shop_id) {
            let url = format!("{}?shop={shop_id}", self.inner.settings.auth_url_base);
            return Outcome::Envelope(302, "未授权店铺".into(), json!({ "auth_url": url }));
        }
        if !self.charge(token) {
            return Outcome::Envelope(
                204,
                "请求异常:API 调用次数不足,请前往网站兑换次数。".into(),
                Value::Null,
            );
        }
        if self.inner.core.take_ack_without_apply() {
            return Outcome::Acked;
        }
        Outcome::Business(self.apply(shop_id, order_id, carriage, &discounts))
    }

    fn apply(
        &self,
        shop_id: &str,
        order_id: u64,
        carriage: i64,
        discounts: &[(u64, i64)],
    ) -> Result<(), (&'static str, String)> {
        let mut st = self.state();
        let order = st
            .orders
            .get_mut(&order_id)
            .filter(|o| o.shop_id == shop_id)
            .ok_or(("FAIL_BIZ_TRADING_ORDER_NOT_EXIST", "订单不存在".to_owned()))?;
        price1688::check_order(&order.status, &order.trade_type.to_string(), carriage)?;
        let mut next = order.clone();
        let entries = next
            .entries
            .iter_mut()
            .map(|e| price1688::Entry {
                id: e.id,
                original_amount: e.original_amount,
                closed: e.closed,
                discount: &mut e.discount,
            })
            .collect();
        price1688::discount(entries, discounts)?;
        next.carriage = carriage;
        let moved = next != *order;
        next.changes += 1;
        *order = next;
        if moved {
            self.inner.core.moved(&order_id.to_string());
        }
        Ok(())
    }
}

async fn modify_price(
    State(em): State<VvtoolEmulator>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let order_key = parsed
        .as_ref()
        .and_then(|v| v.get("order_id"))
        .and_then(json_u64)
        .map(|n| n.to_string());
    let order_key = order_key.as_deref();
    let core = &em.inner.core;
    let seq = core.count_request(order_key);
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    let token = bearer.and_then(|b| em.inner.settings.tokens.iter().find(|t| t.token == b));
    let Some(token) = token else {
        core.record(seq, order_key, bearer, "rejected:204", false);
        return envelope(
            204,
            "请求异常:access_token 无效或缺失。",
            started,
            Value::Null,
        );
    };
    let cred = Some(token.token.as_str());
    if !core.admit(&token.token, em.inner.settings.rate_limit_per_second) {
        core.record(seq, order_key, cred, "rate_limited", false);
        return envelope(
            202,
            "请求过于频繁,超过频率限制(10 次/秒)",
            started,
            Value::Null,
        );
    }
    let fault = core.next_fault();
    if let Some(f) = fault {
        let sample = json!({"code": 0, "msg": "操作成功", "msec": 3, "time": unix_now(),
            "data": {"success": true, "withholding_money": 1}});
        if let Some(r) = transport_fault_reply(f, &sample) {
            core.record(seq, order_key, cred, format!("fault:{}", f.name()), false);
            return r;
        }
        if f == Fault::Busy {
            core.record(seq, order_key, cred, "fault:busy", false);
            return match em.inner.settings.busy_reply {
                VvtoolBusyReply::Envelope202 => {
                    envelope(202, "系统错误,请稍后再试", started, Value::Null)
                }
                VvtoolBusyReply::Timeout101 => {
                    envelope(101, "请求超时,请重试", started, Value::Null)
                }
                VvtoolBusyReply::SystemError => envelope(
                    0,
                    "操作成功",
                    started,
                    json!({"success": false, "result_code": "FAIL_BIZ_TRADING_SYSTEM_ERROR",
                        "result_msg": "系统错误,请稍后重试",
                        "withholding_money": em.inner.settings.withholding_money}),
                ),
            };
        }
        apply_latency(fault).await;
    }
    let outcome = if token.permitted {
        em.process(token, &body)
    } else {
        Outcome::Envelope(
            204,
            "请求异常:无该接口权限,请前往官网开通正式接口。".into(),
            Value::Null,
        )
    };
    let (label, applied) = match &outcome {
        Outcome::Envelope(c, _, _) => (format!("rejected:{c}"), false),
        Outcome::Business(Ok(())) => ("ok".to_owned(), true),
        Outcome::Acked => (ACK_WITHOUT_APPLY.to_owned(), false),
        Outcome::Business(Err((c, _))) => (format!("rejected:{c}"), false),
    };
    let label = if fault == Some(Fault::DropAfterApply) {
        "fault:drop_after_apply".to_owned()
    } else {
        label
    };
    core.record(seq, order_key, cred, label, applied);
    if fault == Some(Fault::DropAfterApply) {
        return dropped_connection();
    }
    let money = em.inner.settings.withholding_money;
    match outcome {
        Outcome::Envelope(c, m, d) => envelope(c, &m, started, d),
        Outcome::Business(Ok(())) | Outcome::Acked => envelope(
            0,
            "操作成功",
            started,
            json!({"success": true, "withholding_money": money}),
        ),
        Outcome::Business(Err((code, msg))) => envelope(
            0,
            "操作成功",
            started,
            json!({"success": false, "result_code": code, "result_msg": msg,
                "withholding_money": money}),
        ),
    }
}

async fn admin_seed(State(em): State<VvtoolEmulator>, body: Bytes) -> AdminResult {
    Ok(match serde_json::from_slice::<VvtoolOrder>(&body) {
        Ok(o) => {
            let id = o.order_id;
            em.seed_order(o);
            (StatusCode::CREATED, axum::Json(em.order(id))).into_response()
        }
        Err(e) => admin_error(e),
    })
}

async fn admin_order(State(em): State<VvtoolEmulator>, Path(id): Path<String>) -> AdminResult {
    Ok(match id.parse::<u64>().ok().and_then(|id| em.order(id)) {
        Some(o) => axum::Json(o).into_response(),
        None => admin_not_found(),
    })
}
