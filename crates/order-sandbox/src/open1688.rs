//! 1688 open platform emulator: the price change and the seller's order read.
//!
//! `POST /openapi/param2/{version}/{namespace}/{api}/{app_key}`, form-encoded (query
//! parameters are accepted too; the body wins), serving
//!
//! - `param2/1/cn.alibaba.open/trade.order.modifyOrderPrice/{app_key}` with `orderId`,
//!   `carriage` (fen, the freight after the change) and `entryDiscounts` (a JSON string of
//!   `[{id, discount}]`, signed fen against the entry's original amount, replacing its earlier
//!   discount; entries not named keep theirs). Reply `{"result", "resultCode"?, "resultMsg"?}`.
//! - `param2/1/com.alibaba.trade/alibaba.trade.get.sellerView/{app_key}` with `webSite=1688` and
//!   `orderId`. Reply `{"success": "true", "result": {"baseInfo", "productItems"}}` in the 1688
//!   order units: `shippingFee`, `totalAmount`, `sumProductPayment`, `itemAmount`, `price` in
//!   yuan, `entryDiscount` in fen; ids as numbers and as strings (`idOfStr`, `subItemIDString`).
//!
//! Every call carries `access_token`, `_aop_timestamp` (ms, at most
//! [`Open1688Settings::max_skew_ms`] from now) and `_aop_signature`, which this module verifies
//! with its own code ([`aop_sign`]): HMAC-SHA1 under the app secret over the URL path (without
//! `/openapi/`) followed by the sorted `key + value` strings of every other parameter;
//! upper-case hex, compared in constant time.
//!
//! Gateway refusals are HTTP 400 with `{"error_code", "error_message"}`:
//!
//! | error_code | when | source |
//! |---|---|---|
//! | `gw.AppKeyNotFound` | unknown app key in the path | seen in public integrations |
//! | `gw.APIACLDecline` | an API this emulator does not serve | seen in public integrations |
//! | `gw.QosAppFrequencyLimit` | rate limit per app key | seen in public integrations |
//! | `gw.NoUsageLeftError` | the app's call allowance ([`Open1688App::quota`]) used up | seen in public integrations |
//! | `gw.ServiceUnavailable` | injected [`Fault::Busy`] with [`Open1688BusyReply::Gateway`] | *assumed* |
//! | `gw.TimestampInvalid` | `_aop_timestamp` missing, not a number or too far from now | *assumed* |
//! | `gw.SignatureInvalid` | `_aop_signature` missing or wrong | seen in public integrations |
//! | `gw.AccessTokenInvalid` | `access_token` missing or not one of the app's | *assumed* |
//! | `gw.MissingParameter` | a business parameter missing or malformed | *assumed* |
//!
//! Business failures of the price change (`result: false`): `FAIL_BIZ_TRADING_ORDER_NOT_EXIST`,
//! `FAIL_BIZ_TRADING_ORDER_STATUS_ERROR` (not `waitbuyerpay`), `FAIL_BIZ_TRADING_MODIFY_PRICE_ERROR`
//! (a positive discount, or trade type not 6, 8, 9, 10), `FAIL_BIZ_TRADING_ORDER_ENTRY_STATUS_ERROR`
//! (a closed entry), `FAIL_BIZ_TRADING_INVALID_PARAM` (unknown entry, an entry made negative,
//! negative carriage), `FAIL_BIZ_TRADING_SYSTEM_ERROR` (injected busy with
//! [`Open1688BusyReply::SystemError`]). A read of an unknown order answers
//! `{"success": "false", "errorCode": "ORDER_NOT_EXIST"}` (*assumed*).
//!
//! Checks run in this order: API, app key, rate limit, fault, allowance, timestamp, signature,
//! token, parameters, business.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, KeyInit, Mac};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha1::Sha1;

use crate::common::{
    ACK_WITHOUT_APPLY, AdminResult, Core, Fault, FaultProfile, admin_error, admin_not_found,
    apply_latency, dropped_connection, json_i64, json_text, json_u64, parse_pairs, sign_matches,
    transport_fault_reply, upper_hex,
};
use crate::price1688;

/// Order status in which 1688 accepts a price change.
pub const WAIT_BUYER_PAY: &str = "waitbuyerpay";

/// Namespace and name of the price change.
pub const MODIFY_PRICE: (&str, &str) = ("cn.alibaba.open", "trade.order.modifyOrderPrice");

/// Namespace and name of the seller's order read.
pub const SELLER_VIEW: (&str, &str) = ("com.alibaba.trade", "alibaba.trade.get.sellerView");

/// `_aop_signature` of a call to `url_path` (e.g. `param2/1/system/currentTime/1000000a1b2`)
/// with `params`; an `_aop_signature` entry is skipped. Upper-case hex.
pub fn aop_sign(secret: &str, url_path: &str, params: &[(String, String)]) -> String {
    let mut parts: Vec<String> = params
        .iter()
        .filter(|(k, _)| k != "_aop_signature")
        .map(|(k, v)| format!("{k}{v}"))
        .collect();
    parts.sort();
    // HMAC accepts keys of any length.
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(url_path.as_bytes());
    for p in &parts {
        mac.update(p.as_bytes());
    }
    upper_hex(&mac.finalize().into_bytes())
}

/// One application of the open platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Open1688App {
    /// The app key (last segment of the path).
    pub app_key: String,
    /// The app secret (signing key).
    pub secret: String,
    /// Sellers' access tokens valid for this app.
    pub tokens: Vec<String>,
    /// Calls allowed in all (`None` = unlimited); past it, `gw.NoUsageLeftError`.
    #[serde(default)]
    pub quota: Option<u64>,
}

/// How an injected [`Fault::Busy`] is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Open1688BusyReply {
    /// Gateway refusal `gw.ServiceUnavailable` (*assumed* code).
    #[default]
    Gateway,
    /// A price change answered `result: false`, `resultCode: FAIL_BIZ_TRADING_SYSTEM_ERROR`
    /// (a read is answered as [`Open1688BusyReply::Gateway`]).
    SystemError,
}

/// Settings of the 1688 open platform emulator.
///
/// Defaults: app `1688-app` / `1688-secret` with token `1688-token`, unlimited allowance;
/// 10 calls per second per app key (*assumed*); timestamps within 10 minutes.
#[derive(Debug, Clone)]
pub struct Open1688Settings {
    /// Known apps.
    pub apps: Vec<Open1688App>,
    /// Calls per second per app key; `None` lifts the limit.
    pub rate_limit_per_second: Option<u32>,
    /// Largest accepted distance between `_aop_timestamp` and now, milliseconds.
    pub max_skew_ms: i64,
    /// How injected busy faults are answered.
    pub busy_reply: Open1688BusyReply,
    /// Random fault profile.
    pub faults: FaultProfile,
    /// Port to bind on 127.0.0.1 (0 = any free port).
    pub port: u16,
}

impl Default for Open1688Settings {
    fn default() -> Self {
        Self {
            apps: vec![Open1688App {
                app_key: "1688-app".into(),
                secret: "1688-secret".into(),
                tokens: vec!["1688-token".into()],
                quota: None,
            }],
            rate_limit_per_second: Some(10),
            max_skew_ms: 600_000,
            busy_reply: Open1688BusyReply::default(),
            faults: FaultProfile::none(),
            port: 0,
        }
    }
}

/// One entry (sub-order) of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Open1688Entry {
    /// Entry id (up to 19 digits).
    pub id: u64,
    /// Amount when ordered, fen.
    pub original_amount: i64,
    /// Current discount against the original, signed fen.
    #[serde(default)]
    pub discount: i64,
    /// Quantity.
    #[serde(default = "one")]
    pub quantity: u32,
    /// Product name.
    #[serde(default)]
    pub name: Option<String>,
    /// Closed entries (status `cancel`) refuse discounts.
    #[serde(default)]
    pub closed: bool,
}

fn one() -> u32 {
    1
}

/// An order as the emulator holds it; also the JSON of `POST /__admin/orders`.
///
/// ```json
/// {"order_id": 2198111437768747370, "status": "waitbuyerpay", "trade_type": "6",
///  "carriage": 500, "entries": [{"id": 2198111437768747371, "original_amount": 10000}]}
/// ```
/// `status` defaults to `waitbuyerpay`, `trade_type` to `"6"`, `changes` to 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Open1688Order {
    /// Order id (up to 19 digits).
    pub order_id: u64,
    /// 1688 status text; only `waitbuyerpay` accepts changes.
    #[serde(default = "default_status")]
    pub status: String,
    /// 1688 trade type; only 6, 8, 9, 10 accept changes.
    #[serde(default = "default_trade_type")]
    pub trade_type: String,
    /// Freight now, fen.
    pub carriage: i64,
    /// Entries.
    pub entries: Vec<Open1688Entry>,
    /// Successful changes so far.
    #[serde(default)]
    pub changes: u64,
}

fn default_status() -> String {
    WAIT_BUYER_PAY.to_owned()
}

fn default_trade_type() -> String {
    "6".to_owned()
}

impl Open1688Order {
    /// An order awaiting payment, trade type 6, with entries `(id, original amount fen)`.
    pub fn awaiting_payment(order_id: u64, carriage: i64, entries: &[(u64, i64)]) -> Self {
        Self {
            order_id,
            status: default_status(),
            trade_type: default_trade_type(),
            carriage,
            entries: entries
                .iter()
                .map(|&(id, original_amount)| Open1688Entry {
                    id,
                    original_amount,
                    discount: 0,
                    quantity: 1,
                    name: None,
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

    /// The seller's view of the order, in the 1688 units (yuan decimals, fen discounts).
    fn view(&self) -> Value {
        let items: Vec<Value> = self
            .entries
            .iter()
            .map(|e| {
                let amount = e.original_amount + e.discount;
                let q = i64::from(e.quantity.max(1));
                json!({
                    "subItemID": e.id,
                    "subItemIDString": e.id.to_string(),
                    "itemAmount": yuan(amount),
                    "price": yuan_decimal(Decimal::new(e.original_amount, 2) / Decimal::from(q)),
                    "quantity": e.quantity,
                    "entryDiscount": e.discount,
                    "status": if e.closed { "cancel" } else { self.status.as_str() },
                    "name": e.name,
                })
            })
            .collect();
        let products: i64 = self
            .entries
            .iter()
            .filter(|e| !e.closed)
            .map(|e| e.original_amount + e.discount)
            .sum();
        json!({
            "baseInfo": {
                "id": self.order_id,
                "idOfStr": self.order_id.to_string(),
                "status": self.status,
                "tradeType": self.trade_type,
                "shippingFee": yuan(self.carriage),
                "sumProductPayment": yuan(products),
                "totalAmount": yuan(self.total()),
                "discount": 0,
            },
            "productItems": items,
        })
    }
}

/// Fen as a yuan JSON number with its exact literal (`615` → `6.15`, `600` → `6`).
fn yuan(fen: i64) -> Value {
    yuan_decimal(Decimal::new(fen, 2))
}

fn yuan_decimal(d: Decimal) -> Value {
    let text = d.round_dp(2).normalize().to_string();
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

#[derive(Debug, Default)]
struct OpenState {
    orders: HashMap<u64, Open1688Order>,
    used: HashMap<String, u64>,
}

#[derive(Debug)]
struct Inner {
    settings: Open1688Settings,
    core: Arc<Core>,
    state: Mutex<OpenState>,
    base_url: Mutex<String>,
}

/// Handle to a running 1688 open platform emulator (cheap to clone).
#[derive(Debug, Clone)]
pub struct Open1688Emulator {
    inner: Arc<Inner>,
}

impl_common_handle!(Open1688Emulator);

impl Open1688Emulator {
    /// The next `n` changes that pass the gateway, signature and permission checks are
    /// acknowledged as successful **without** changing the order (a read or the state shows
    /// the old values; the call log says `fault:ack_without_apply`). Also
    /// `POST /__admin/faults` `{"ack_without_apply": n}`.
    pub fn ack_without_apply(&self, n: usize) {
        self.inner.core.ack_without_apply(n);
    }
}

/// What a call came to.
enum Outcome {
    Gateway(&'static str, String),
    Modified,
    Refused(&'static str, String),
    View(Value),
    NotFound(String),
}

fn gateway(code: &'static str, msg: impl Into<String>) -> Outcome {
    Outcome::Gateway(code, msg.into())
}

impl Open1688Emulator {
    pub(crate) fn new(settings: Open1688Settings, seed: u64) -> Self {
        let core = Core::new(seed, 0x3136_3838_4F50, settings.faults);
        Self {
            inner: Arc::new(Inner {
                settings,
                core,
                state: Mutex::new(OpenState::default()),
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

    /// The gateway base a client is configured with: [`base_url`](Self::base_url) + `/openapi`.
    pub fn gateway_url(&self) -> String {
        format!("{}/openapi", self.base_url())
    }

    fn state(&self) -> MutexGuard<'_, OpenState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn router(&self) -> Router {
        Router::new()
            .route(
                "/openapi/param2/{version}/{namespace}/{api}/{app_key}",
                post(call),
            )
            .route("/__admin/orders", post(admin_seed))
            .route("/__admin/orders/{id}", get(admin_order))
            .merge(admin_common_routes!(Open1688Emulator))
            .with_state(self.clone())
    }

    /// Adds or replaces an order.
    pub fn seed_order(&self, order: Open1688Order) {
        self.state().orders.insert(order.order_id, order);
    }

    /// Current state of an order.
    pub fn order(&self, order_id: u64) -> Option<Open1688Order> {
        self.state().orders.get(&order_id).cloned()
    }

    /// Calls counted against `app_key`'s allowance so far.
    pub fn used(&self, app_key: &str) -> u64 {
        self.state().used.get(app_key).copied().unwrap_or(0)
    }

    /// Counts one call against the app's allowance; `false` when it is used up.
    fn charge(&self, app: &Open1688App) -> bool {
        let mut st = self.state();
        let used = st.used.entry(app.app_key.clone()).or_default();
        if app.quota.is_some_and(|q| *used >= q) {
            return false;
        }
        *used += 1;
        true
    }

    fn check_signed(
        &self,
        app: &Open1688App,
        path: &str,
        params: &[(String, String)],
    ) -> Result<(), Outcome> {
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let now = i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0),
        )
        .unwrap_or(i64::MAX);
        let ts = get("_aop_timestamp").and_then(|t| t.trim().parse::<i64>().ok());
        if ts.is_none_or(|t| (now - t).abs() > self.inner.settings.max_skew_ms) {
            return Err(gateway(
                "gw.TimestampInvalid",
                "_aop_timestamp is missing or out of range",
            ));
        }
        let expected = aop_sign(&app.secret, path, params);
        match get("_aop_signature") {
            Some(sig) if sign_matches(sig, &expected) => {}
            _ => return Err(gateway("gw.SignatureInvalid", "Signature invalid")),
        }
        match get("access_token") {
            Some(t) if app.tokens.iter().any(|k| k == t) => Ok(()),
            _ => Err(gateway(
                "gw.AccessTokenInvalid",
                "access_token is missing, invalid or expired",
            )),
        }
    }

    fn modify(&self, params: &[(String, String)]) -> Outcome {
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let missing = |what: &str| {
            gateway(
                "gw.MissingParameter",
                format!("required parameter missing or malformed: {what}"),
            )
        };
        let Some(order_id) = get("orderId").and_then(|v| v.trim().parse::<u64>().ok()) else {
            return missing("orderId");
        };
        let Some(carriage) = get("carriage").and_then(|v| v.trim().parse::<i64>().ok()) else {
            return missing("carriage");
        };
        let Some(Value::Array(list)) =
            get("entryDiscounts").and_then(|v| serde_json::from_str::<Value>(v).ok())
        else {
            return missing("entryDiscounts");
        };
        let mut discounts = Vec::with_capacity(list.len());
        for (i, d) in list.iter().enumerate() {
            match (
                d.get("id").and_then(json_u64),
                d.get("discount").and_then(json_i64),
            ) {
                (Some(id), Some(discount)) => discounts.push((id, discount)),
                _ => return missing(&format!("entryDiscounts[{i}]")),
            }
        }
        match self.apply(order_id, carriage, &discounts) {
            Ok(()) => Outcome::Modified,
            Err((code, msg)) => Outcome::Refused(code, msg),
        }
    }

    fn apply(
        &self,
        order_id: u64,
        carriage: i64,
        discounts: &[(u64, i64)],
    ) -> Result<(), (&'static str, String)> {
        let mut st = self.state();
        let order = st
            .orders
            .get_mut(&order_id)
            .ok_or(("FAIL_BIZ_TRADING_ORDER_NOT_EXIST", "订单不存在".to_owned()))?;
        price1688::check_order(&order.status, &order.trade_type, carriage)?;
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

    fn view(&self, params: &[(String, String)]) -> Outcome {
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        if get("webSite") != Some("1688") {
            return gateway(
                "gw.MissingParameter",
                "required parameter missing or malformed: webSite",
            );
        }
        let Some(order_id) = get("orderId").and_then(|v| v.trim().parse::<u64>().ok()) else {
            return gateway(
                "gw.MissingParameter",
                "required parameter missing or malformed: orderId",
            );
        };
        match self.state().orders.get(&order_id) {
            Some(o) => Outcome::View(o.view()),
            None => Outcome::NotFound(format!("订单 {order_id} 不存在")),
        }
    }
}

fn gateway_reply(code: &str, msg: &str) -> Response {
    json_text(
        StatusCode::BAD_REQUEST,
        json!({"error_code": code, "error_message": msg, "exception": msg}).to_string(),
    )
}

async fn call(
    State(em): State<Open1688Emulator>,
    Path((version, namespace, api, app_key)): Path<(String, String, String, String)>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let mut params = parse_pairs(uri.query().unwrap_or(""));
    let form = parse_pairs(std::str::from_utf8(&body).unwrap_or(""));
    params.retain(|(k, _)| !form.iter().any(|(fk, _)| fk == k));
    params.extend(form);
    let order_key = params
        .iter()
        .find(|(k, _)| k == "orderId")
        .and_then(|(_, v)| v.trim().parse::<u64>().ok())
        .map(|n| n.to_string());
    let order_key = order_key.as_deref();
    let core = &em.inner.core;
    let seq = core.count_request(order_key);
    let is_modify = (namespace.as_str(), api.as_str()) == MODIFY_PRICE;
    let is_view = (namespace.as_str(), api.as_str()) == SELLER_VIEW;
    if version != "1" || !(is_modify || is_view) {
        core.record(seq, order_key, None, "rejected:gw.APIACLDecline", false);
        return gateway_reply("gw.APIACLDecline", "AppKey is not allowed(acl)");
    }
    let Some(app) = em.inner.settings.apps.iter().find(|a| a.app_key == app_key) else {
        core.record(seq, order_key, None, "rejected:gw.AppKeyNotFound", false);
        return gateway_reply("gw.AppKeyNotFound", "AppKey not found");
    };
    let cred = Some(app.app_key.as_str());
    if !core.admit(&app.app_key, em.inner.settings.rate_limit_per_second) {
        core.record(seq, order_key, cred, "rate_limited", false);
        return gateway_reply(
            "gw.QosAppFrequencyLimit",
            "App call exceeds limited frequency",
        );
    }
    let fault = core.next_fault();
    if let Some(f) = fault {
        let sample = json!({"result": true});
        if let Some(r) = transport_fault_reply(f, &sample) {
            core.record(seq, order_key, cred, format!("fault:{}", f.name()), false);
            return r;
        }
        if f == Fault::Busy {
            core.record(seq, order_key, cred, "fault:busy", false);
            return match em.inner.settings.busy_reply {
                Open1688BusyReply::SystemError if is_modify => json_text(
                    StatusCode::OK,
                    json!({"result": false, "resultCode": "FAIL_BIZ_TRADING_SYSTEM_ERROR",
                        "resultMsg": "系统错误,请稍后重试"})
                    .to_string(),
                ),
                _ => gateway_reply("gw.ServiceUnavailable", "服务暂不可用,请稍后重试"),
            };
        }
        apply_latency(fault).await;
    }
    if !em.charge(app) {
        core.record(seq, order_key, cred, "rejected:gw.NoUsageLeftError", false);
        return gateway_reply("gw.NoUsageLeftError", "SLA bill has no usage left");
    }
    let path = format!("param2/{version}/{namespace}/{api}/{app_key}");
    let checked = em.check_signed(app, &path, &params);
    let acked = checked.is_ok() && is_modify && core.take_ack_without_apply();
    let outcome = match checked {
        Err(o) => o,
        Ok(()) if acked => Outcome::Modified,
        Ok(()) if is_modify => em.modify(&params),
        Ok(()) => em.view(&params),
    };
    let (label, applied) = match &outcome {
        Outcome::Gateway(code, _) | Outcome::Refused(code, _) => {
            (format!("rejected:{code}"), false)
        }
        Outcome::Modified => ("ok".to_owned(), true),
        Outcome::View(_) => ("read".to_owned(), false),
        Outcome::NotFound(_) => ("rejected:ORDER_NOT_EXIST".to_owned(), false),
    };
    let (label, applied) = if acked {
        (ACK_WITHOUT_APPLY.to_owned(), false)
    } else {
        (label, applied)
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
    match outcome {
        Outcome::Gateway(code, msg) => gateway_reply(code, &msg),
        Outcome::Modified => json_text(StatusCode::OK, json!({"result": true}).to_string()),
        Outcome::Refused(code, msg) => json_text(
            StatusCode::OK,
            json!({"result": false, "resultCode": code, "resultMsg": msg}).to_string(),
        ),
        Outcome::View(v) => json_text(
            StatusCode::OK,
            json!({"success": "true", "result": v}).to_string(),
        ),
        Outcome::NotFound(msg) => json_text(
            StatusCode::OK,
            json!({"success": "false", "errorCode": "ORDER_NOT_EXIST", "errorMessage": msg})
                .to_string(),
        ),
    }
}

async fn admin_seed(State(em): State<Open1688Emulator>, body: Bytes) -> AdminResult {
    Ok(match serde_json::from_slice::<Open1688Order>(&body) {
        Ok(o) => {
            let id = o.order_id;
            em.seed_order(o);
            (StatusCode::CREATED, axum::Json(em.order(id))).into_response()
        }
        Err(e) => admin_error(e),
    })
}

async fn admin_order(State(em): State<Open1688Emulator>, Path(id): Path<String>) -> AdminResult {
    Ok(match id.parse::<u64>().ok().and_then(|id| em.order(id)) {
        Some(o) => axum::Json(o).into_response(),
        None => admin_not_found(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn published_vectors() {
        assert_eq!(
            aop_sign("test123", "param2/1/system/currentTime/1000000a1b2", &[]),
            "33E54F4F7B989E3E0E912D3FBD2F1A03CA7CCE88"
        );
        let params = owned(&[
            ("access_token", "tok-abc"),
            ("_aop_datatype", "application/json"),
            ("_aop_timestamp", "1700000000000"),
            ("page", "1"),
            ("pageSize", "20"),
        ]);
        assert_eq!(
            aop_sign(
                "secretXYZ",
                "param2/1/com.alibaba.trade/alibaba.trade.getBuyerOrderList/1234567",
                &params
            ),
            "D01C12C8FCD4B59367FFDD51E1DEC31C7C237A4C"
        );
    }

    #[test]
    fn yuan_keeps_the_exact_literal() {
        assert_eq!(yuan(615).to_string(), "6.15");
        assert_eq!(yuan(600).to_string(), "6");
        assert_eq!(yuan(30).to_string(), "0.3");
    }
}
