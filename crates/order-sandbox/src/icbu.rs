//! Alibaba.com ICBU TOP gateway emulator for `alibaba.trade.order.modify`:
//! `POST /router/rest`, form-encoded (query parameters are accepted too; the body wins).
//!
//! System parameters: `method`, `app_key`, `session`, `timestamp` (`yyyy-MM-dd HH:mm:ss`,
//! GMT+8, at most 10 minutes away), `format=json`, `v=2.0`, `sign_method` (`md5` default,
//! `hmac`, `hmac-sha256`), `sign`; business parameter `param_order_modify` (JSON text).
//!
//! Signature: all parameters except `sign`, empty values skipped, sorted by key in byte order,
//! concatenated `key + value`; `md5`: MD5(secret + s + secret), `hmac`: HMAC-MD5(secret, s),
//! `hmac-sha256`: HMAC-SHA256(secret, s); upper-case hex over UTF-8. See [`top_sign`].
//!
//! Gateway errors `{"error_response": {"code", "msg", "sub_code"?, "sub_msg"?, "request_id"}}`
//! (`code` is a number, or a string when [`IcbuSettings::code_as_string`] is set):
//!
//! | code | msg | sub_code | when | source |
//! |---|---|---|---|---|
//! | 7 | App Call Limited | `accesscontrol.limited-by-app-access-count` | rate limit per app key | platform facts |
//! | 15 | Remote service error | `isp.service-unavailable` | injected busy (sub_msg `服务暂不可用,请稍后重试`) | *assumed* sub_code |
//! | 15 | Remote service error | `isv.missing-parameter` | a required field of `param_order_modify` missing (sub_msg `缺少必填参数:<path>`) | *assumed* sub_code |
//! | 15 | Remote service error | `isv.invalid-parameter` | a field present but invalid (sub_msg `参数格式错误:<path>`) | *assumed* sub_code |
//! | 50 | Remote service error | `isv.invalid-parameter` | `param_order_modify` absent or not a JSON object (sub_msg `非法参数`) | documented example |
//! | 22 | Invalid method | | `method` is not `alibaba.trade.order.modify` | *assumed* (TOP convention) |
//! | 25 | Invalid signature | | signature mismatch | platform facts |
//! | 26 | Missing session | | no `session` | *assumed* (TOP convention) |
//! | 27 | Invalid session | `invalid-sessionkey` / `session-expired` | unknown / expired session | platform facts (`session-expired`) |
//! | 29 | Invalid app Key | | unknown `app_key` | *assumed* (TOP convention) |
//! | 31 | Invalid timestamp | | missing, unparsable, or more than 10 minutes away | *assumed* (TOP convention) |
//! | 40 | Missing required arguments | | missing `sign` | *assumed* (TOP convention) |
//! | 41 | Invalid arguments | | `format` not json, `v` not 2.0, unknown `sign_method` | *assumed* (TOP convention) |
//!
//! Business failures (`result.success = false`, all *assumed* codes):
//! `ORDER_NOT_EXIST`, `ORDER_STATUS_NOT_MODIFIABLE` (status not `unpay`),
//! `ORDER_VERSION_CONFLICT` (the request's `version` differs from the order's),
//! `TOTAL_AMOUNT_MISMATCH` (total ≠ product + shipment + insurance + value-added + tax),
//! `PRODUCT_AMOUNT_MISMATCH` (product amount ≠ Σ quantity × unit price),
//! `INITIAL_AMOUNT_EXCEEDS_TOTAL` (advance payment above the total).
//!
//! On success the order's version advances (a number in text, +1) and the accepted
//! `param_order_modify` is stored; the reply does not carry the version (the platform's does
//! not), read it through [`IcbuEmulator::order`] or `GET /__admin/orders/{trade_id}`.
//!
//! Checks run in this order: method, app key, rate limit, fault, format and version, sign method,
//! timestamp, signature, session, business parameter, business rules.
//!
//! The seller's order read `alibaba.seller.order.get` (business parameter `e_trade_id`, signed
//! like the modify) answers `{"alibaba_seller_order_get_response": {"value": {...},
//! "request_id"}}` from state: `trade_id`, `trade_status` (the order's status), `contract_version`
//! (the version token, which a successful modify advances), and the order's terms from the last
//! accepted (or seeded) `param_order_modify` ([`IcbuOrder::last_modify`]) in the read's shape:
//! `order_products.trade_ecology_order_product[]` (`product_id`, `sku_id`, `name`, `unit`,
//! `quantity`, `unit_price {amount, currency}`), `product_total_amount`, `shipment_fee`,
//! `shipment_insurance_fee`, `value_add_service_amount`, `tax_amount`, `total_amount`,
//! `advance_amount` (the initial payment), `shipping_address`, `shipment_method`, `trade_term`,
//! `carrier {code, name}`, `shipment_date`, `fulfillment_channel` and `remark`. An unknown
//! trade answers `result.success = false` with `ORDER_NOT_EXIST` (*assumed*). A read never
//! changes state; [`IcbuEmulator::ack_without_apply`] affects modifies only.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::common::{
    ACK_WITHOUT_APPLY, AdminResult, Core, Fault, FaultProfile, admin_error, admin_not_found,
    apply_latency, dropped_connection, json_text, parse_datetime, parse_pairs, sign_matches,
    splitmix64, transport_fault_reply, unix_now, upper_hex,
};

/// The TOP method this emulator serves.
pub const METHOD: &str = "alibaba.trade.order.modify";

/// The TOP method of the seller's order read this emulator serves.
pub const READ_METHOD: &str = "alibaba.seller.order.get";

/// Status in which an order can be modified.
pub const UNPAY: &str = "unpay";

/// GMT+8 in seconds, the zone of TOP timestamps.
const GMT8: i64 = 8 * 3600;

/// `yyyy-MM-dd HH:mm:ss` in GMT+8 for Unix seconds, the TOP `timestamp` format.
pub fn top_timestamp(unix_secs: i64) -> String {
    crate::common::format_datetime(unix_secs, GMT8)
}

/// TOP signature over `params` (the `sign` entry and empty values are skipped).
/// `sign_method` is `md5`, `hmac` or `hmac-sha256`; `None` for any other method.
pub fn top_sign(params: &[(String, String)], secret: &str, sign_method: &str) -> Option<String> {
    let mut sorted: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, v)| k != "sign" && !v.is_empty())
        .collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut s = String::new();
    for (k, v) in sorted {
        s.push_str(k);
        s.push_str(v);
    }
    match sign_method {
        "md5" => {
            let mut h = Md5::new();
            h.update(secret.as_bytes());
            h.update(s.as_bytes());
            h.update(secret.as_bytes());
            Some(upper_hex(&h.finalize()))
        }
        "hmac" => {
            let mut m = <Hmac<Md5> as KeyInit>::new_from_slice(secret.as_bytes()).ok()?;
            m.update(s.as_bytes());
            Some(upper_hex(&m.finalize().into_bytes()))
        }
        "hmac-sha256" => {
            let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).ok()?;
            m.update(s.as_bytes());
            Some(upper_hex(&m.finalize().into_bytes()))
        }
        _ => None,
    }
}

/// One TOP application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcbuApp {
    /// The app key.
    pub app_key: String,
    /// The app secret.
    pub secret: String,
    /// Session keys (seller authorisations) valid for this app.
    pub sessions: Vec<String>,
}

/// Settings of the ICBU emulator.
///
/// Defaults: app `icbu-app` / `icbu-secret` with session `icbu-session`; 20 calls per second
/// per app key (*assumed*); timestamps within 600 s; numeric error codes; pay links under
/// `https://sandbox.alibaba.invalid/pay`.
#[derive(Debug, Clone)]
pub struct IcbuSettings {
    /// Known apps.
    pub apps: Vec<IcbuApp>,
    /// Calls per second per app key; `None` lifts the limit.
    pub rate_limit_per_second: Option<u32>,
    /// Largest accepted distance between `timestamp` and now, seconds.
    pub max_skew_secs: i64,
    /// Emit `error_response.code` as a string (as some Alibaba gateways do).
    pub code_as_string: bool,
    /// Base of `pay_url` in success replies (`<base>?trade_id=<id>`).
    pub pay_url_base: String,
    /// Random fault profile.
    pub faults: FaultProfile,
    /// Port to bind on 127.0.0.1 (0 = any free port).
    pub port: u16,
}

impl Default for IcbuSettings {
    fn default() -> Self {
        Self {
            apps: vec![IcbuApp {
                app_key: "icbu-app".into(),
                secret: "icbu-secret".into(),
                sessions: vec!["icbu-session".into()],
            }],
            rate_limit_per_second: Some(20),
            max_skew_secs: 600,
            code_as_string: false,
            pay_url_base: "https://sandbox.alibaba.invalid/pay".into(),
            faults: FaultProfile::none(),
            port: 0,
        }
    }
}

/// An ICBU order as the emulator holds it; also the JSON of `POST /__admin/orders`.
///
/// `{"trade_id": "24668306501026709", "status": "unpay", "version": "1"}` is a complete seed;
/// `status` defaults to `unpay`, `version` to `"1"`, the rest to empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcbuOrder {
    /// Trade id (text; it exceeds 2^53).
    pub trade_id: String,
    /// Status; only `unpay` accepts modifications.
    #[serde(default = "default_status")]
    pub status: String,
    /// Version token (a number in text).
    #[serde(default = "default_version")]
    pub version: String,
    /// Successful modifications so far.
    #[serde(default)]
    pub revisions: u64,
    /// The last accepted `param_order_modify`, as parsed JSON.
    #[serde(default)]
    pub last_modify: Option<Value>,
}

fn default_status() -> String {
    UNPAY.to_owned()
}

fn default_version() -> String {
    "1".to_owned()
}

impl IcbuOrder {
    /// An unpaid order at version `version`.
    pub fn unpaid(trade_id: &str, version: &str) -> Self {
        Self {
            trade_id: trade_id.to_owned(),
            status: default_status(),
            version: version.to_owned(),
            revisions: 0,
            last_modify: None,
        }
    }
}

#[derive(Debug, Default)]
struct IcbuState {
    orders: HashMap<String, IcbuOrder>,
    expired_sessions: Vec<String>,
    request_counter: u64,
}

#[derive(Debug)]
struct Inner {
    settings: IcbuSettings,
    seed: u64,
    core: Arc<Core>,
    state: Mutex<IcbuState>,
    base_url: Mutex<String>,
}

/// Handle to a running ICBU emulator (cheap to clone).
#[derive(Debug, Clone)]
pub struct IcbuEmulator {
    inner: Arc<Inner>,
}

impl_common_handle!(IcbuEmulator);

impl IcbuEmulator {
    /// The next `n` changes that pass the gateway, signature and permission checks are
    /// acknowledged as successful **without** changing the order (a read or the state shows
    /// the old values; the call log says `fault:ack_without_apply`). Also
    /// `POST /__admin/faults` `{"ack_without_apply": n}`.
    pub fn ack_without_apply(&self, n: usize) {
        self.inner.core.ack_without_apply(n);
    }
}

/// A gateway error.
struct GwError {
    code: i64,
    msg: &'static str,
    sub: Option<(&'static str, String)>,
}

fn gw(code: i64, msg: &'static str) -> GwError {
    GwError {
        code,
        msg,
        sub: None,
    }
}

fn gw_sub(code: i64, msg: &'static str, sub_code: &'static str, sub_msg: String) -> GwError {
    GwError {
        code,
        msg,
        sub: Some((sub_code, sub_msg)),
    }
}

enum Outcome {
    Gateway(GwError),
    Business(&'static str, String),
    Ok(String),
}

fn dec(v: Option<&Value>, path: &str, required: bool) -> Result<Decimal, Outcome> {
    match v {
        None | Some(Value::Null) if !required => Ok(Decimal::ZERO),
        None | Some(Value::Null) => Err(missing(path)),
        Some(Value::String(s)) if s.is_empty() && !required => Ok(Decimal::ZERO),
        Some(Value::String(s)) => Decimal::from_str(s.trim()).map_err(|_| invalid(path)),
        Some(Value::Number(n)) => Decimal::from_str(&n.to_string()).map_err(|_| invalid(path)),
        Some(_) => Err(invalid(path)),
    }
}

fn missing(path: &str) -> Outcome {
    Outcome::Gateway(gw_sub(
        15,
        "Remote service error",
        "isv.missing-parameter",
        format!("缺少必填参数:{path}"),
    ))
}

fn invalid(path: &str) -> Outcome {
    Outcome::Gateway(gw_sub(
        15,
        "Remote service error",
        "isv.invalid-parameter",
        format!("参数格式错误:{path}"),
    ))
}

/// Requires a non-empty text (or number) at `obj[key]`.
fn req_text(obj: &Map<String, Value>, key: &str, path: &str) -> Result<String, Outcome> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        None | Some(Value::Null) | Some(Value::String(_)) => Err(missing(path)),
        Some(_) => Err(invalid(path)),
    }
}

fn req_obj<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Map<String, Value>, Outcome> {
    match obj.get(key) {
        Some(Value::Object(o)) => Ok(o),
        None | Some(Value::Null) => Err(missing(path)),
        Some(_) => Err(invalid(path)),
    }
}

impl IcbuEmulator {
    pub(crate) fn new(settings: IcbuSettings, seed: u64) -> Self {
        let core = Core::new(seed, 0x4943_4255_544F, settings.faults);
        Self {
            inner: Arc::new(Inner {
                settings,
                seed,
                core,
                state: Mutex::new(IcbuState::default()),
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

    fn state(&self) -> MutexGuard<'_, IcbuState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn router(&self) -> Router {
        Router::new()
            .route("/router/rest", post(rest))
            .route("/__admin/orders", post(admin_seed))
            .route("/__admin/orders/{id}", get(admin_order))
            .merge(admin_common_routes!(IcbuEmulator))
            .with_state(self.clone())
    }

    /// Adds or replaces an order.
    pub fn seed_order(&self, order: IcbuOrder) {
        self.state().orders.insert(order.trade_id.clone(), order);
    }

    /// Current state of an order (its `version` is the one the next modify must carry).
    pub fn order(&self, trade_id: &str) -> Option<IcbuOrder> {
        self.state().orders.get(trade_id).cloned()
    }

    /// Marks a session key expired: calls with it answer code 27, sub_code `session-expired`.
    pub fn expire_session(&self, session: &str) {
        self.state().expired_sessions.push(session.to_owned());
    }

    fn request_id(&self) -> String {
        let mut st = self.state();
        st.request_counter += 1;
        let r = splitmix64(self.inner.seed ^ st.request_counter.wrapping_mul(0x0049_4342));
        format!("{:x}", r & 0xFFFF_FFFF_FFFF)
    }

    fn error_response(&self, e: &GwError) -> Response {
        let code = if self.inner.settings.code_as_string {
            Value::String(e.code.to_string())
        } else {
            json!(e.code)
        };
        let mut body = json!({ "code": code, "msg": e.msg, "request_id": self.request_id() });
        if let Some((sc, sm)) = &e.sub {
            body["sub_code"] = json!(sc);
            body["sub_msg"] = json!(sm);
        }
        json_text(
            StatusCode::OK,
            json!({ "error_response": body }).to_string(),
        )
    }

    /// The `alibaba.seller.order.get` reply for `trade_id` and its call-log label.
    fn read(&self, trade_id: &str) -> (String, Response) {
        let root = "alibaba_seller_order_get_response";
        let value = self.state().orders.get(trade_id).map(read_value);
        match value {
            Some(v) => (
                "read".to_owned(),
                json_text(
                    StatusCode::OK,
                    json!({ root: { "value": v, "request_id": self.request_id() } }).to_string(),
                ),
            ),
            None => (
                "rejected:ORDER_NOT_EXIST".to_owned(),
                json_text(
                    StatusCode::OK,
                    json!({ root: { "result": {"success": false, "error_code": "ORDER_NOT_EXIST",
                        "error_message": "order does not exist"}, "request_id": self.request_id() } })
                    .to_string(),
                ),
            ),
        }
    }

    fn result_response(&self, result: Value) -> Response {
        json_text(
            StatusCode::OK,
            json!({ "alibaba_trade_order_modify_response": {
                "result": result, "request_id": self.request_id() } })
            .to_string(),
        )
    }

    fn check_gateway(&self, app: &IcbuApp, params: &[(String, String)]) -> Result<(), GwError> {
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        if get("format").is_some_and(|f| !f.is_empty() && f != "json") {
            return Err(gw_sub(
                41,
                "Invalid arguments",
                "isv.invalid-format",
                "format".into(),
            ));
        }
        if get("v").is_some_and(|v| v != "2.0") {
            return Err(gw_sub(
                41,
                "Invalid arguments",
                "isv.invalid-version",
                "v".into(),
            ));
        }
        let method = get("sign_method")
            .filter(|m| !m.is_empty())
            .unwrap_or("md5");
        if !matches!(method, "md5" | "hmac" | "hmac-sha256") {
            return Err(gw_sub(
                41,
                "Invalid arguments",
                "isv.invalid-sign-method",
                "sign_method".into(),
            ));
        }
        let ts = get("timestamp").and_then(|t| parse_datetime(t.trim(), GMT8));
        if ts.is_none_or(|t| (unix_now() - t).abs() > self.inner.settings.max_skew_secs) {
            return Err(gw(31, "Invalid timestamp"));
        }
        let Some(sign) = get("sign").filter(|s| !s.is_empty()) else {
            return Err(gw(40, "Missing required arguments:sign"));
        };
        let expected = top_sign(params, &app.secret, method).unwrap_or_default();
        if !sign_matches(sign, &expected) {
            return Err(gw(25, "Invalid signature"));
        }
        let Some(session) = get("session").filter(|s| !s.is_empty()) else {
            return Err(gw(26, "Missing session"));
        };
        if !app.sessions.iter().any(|s| s == session) {
            return Err(gw_sub(
                27,
                "Invalid session",
                "invalid-sessionkey",
                "session 不存在".into(),
            ));
        }
        if self.state().expired_sessions.iter().any(|s| s == session) {
            return Err(gw_sub(
                27,
                "Invalid session",
                "session-expired",
                "session 已过期".into(),
            ));
        }
        Ok(())
    }

    fn apply(&self, param: Option<&str>) -> Outcome {
        let illegal = || {
            Outcome::Gateway(gw_sub(
                50,
                "Remote service error",
                "isv.invalid-parameter",
                "非法参数".into(),
            ))
        };
        let Some(parsed) = param.and_then(|p| serde_json::from_str::<Value>(p).ok()) else {
            return illegal();
        };
        let Some(p) = parsed.as_object() else {
            return illegal();
        };
        match self.validate_and_apply(p, &parsed) {
            Ok(o) | Err(o) => o,
        }
    }

    fn validate_and_apply(&self, p: &Map<String, Value>, raw: &Value) -> Result<Outcome, Outcome> {
        let trade_id = req_text(p, "trade_id", "trade_id")?;
        let ld = req_obj(p, "logistics_detail", "logistics_detail")?;
        let addr = req_obj(ld, "shipment_address", "logistics_detail.shipment_address")?;
        for k in ["zip", "country", "address", "city", "contact_person"] {
            req_text(addr, k, &format!("logistics_detail.shipment_address.{k}"))?;
        }
        req_obj(
            addr,
            "telephone",
            "logistics_detail.shipment_address.telephone",
        )?;
        req_text(ld, "shipment_method", "logistics_detail.shipment_method")?;
        req_text(ld, "trade_term", "logistics_detail.trade_term")?;
        req_obj(ld, "shipment_date", "logistics_detail.shipment_date")?;

        let pd = req_obj(p, "payment_detail", "payment_detail")?;
        let amount =
            |k: &str, required: bool| dec(pd.get(k), &format!("payment_detail.{k}"), required);
        let shipment_fee = amount("shipment_fee", true)?;
        let total = amount("total_amount", true)?;
        let product_amount = amount("product_amount", true)?;
        let initial = amount("initial_amount", true)?;
        let insurance = amount("shipment_insurance_fee", false)?;
        let value_add = amount("value_add_service_amount", false)?;
        let tax = amount("tax_amount", false)?;
        for (k, d) in [
            ("shipment_fee", shipment_fee),
            ("total_amount", total),
            ("product_amount", product_amount),
            ("initial_amount", initial),
            ("shipment_insurance_fee", insurance),
            ("value_add_service_amount", value_add),
            ("tax_amount", tax),
        ] {
            if d.is_sign_negative() && !d.is_zero() {
                return Err(invalid(&format!("payment_detail.{k}")));
            }
        }

        let list = match p.get("product_list") {
            Some(Value::Array(a)) if !a.is_empty() => a,
            Some(Value::Array(_)) | None | Some(Value::Null) => {
                return Err(missing("product_list"));
            }
            Some(_) => return Err(invalid("product_list")),
        };
        let mut products_sum = Decimal::ZERO;
        for (i, item) in list.iter().enumerate() {
            let Some(item) = item.as_object() else {
                return Err(invalid(&format!("product_list[{i}]")));
            };
            for k in ["name", "sku_id", "unit"] {
                req_text(item, k, &format!("product_list[{i}].{k}"))?;
            }
            let qty = dec(
                item.get("quantity"),
                &format!("product_list[{i}].quantity"),
                true,
            )?;
            let price = dec(
                item.get("unit_price_str"),
                &format!("product_list[{i}].unit_price_str"),
                true,
            )?;
            if qty <= Decimal::ZERO {
                return Err(invalid(&format!("product_list[{i}].quantity")));
            }
            if price.is_sign_negative() && !price.is_zero() {
                return Err(invalid(&format!("product_list[{i}].unit_price_str")));
            }
            let line = qty
                .checked_mul(price)
                .ok_or_else(|| invalid(&format!("product_list[{i}]")))?;
            products_sum = products_sum
                .checked_add(line)
                .ok_or_else(|| invalid("product_list"))?;
        }
        let version = match p.get("version") {
            None | Some(Value::Null) => None,
            Some(v) => Some(match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(invalid("version")),
            }),
        };

        let mut st = self.state();
        let Some(order) = st.orders.get_mut(&trade_id) else {
            return Err(Outcome::Business(
                "ORDER_NOT_EXIST",
                format!("order {trade_id} does not exist"),
            ));
        };
        if order.status != UNPAY {
            return Err(Outcome::Business(
                "ORDER_STATUS_NOT_MODIFIABLE",
                format!("order status {} does not allow modification", order.status),
            ));
        }
        if let Some(v) = version.filter(|v| !v.is_empty())
            && v != order.version
        {
            return Err(Outcome::Business(
                "ORDER_VERSION_CONFLICT",
                format!("version {v} is stale, current version is {}", order.version),
            ));
        }
        let expected_total = [product_amount, shipment_fee, insurance, value_add, tax]
            .into_iter()
            .try_fold(Decimal::ZERO, Decimal::checked_add)
            .ok_or_else(|| invalid("payment_detail"))?;
        if total != expected_total {
            return Err(Outcome::Business(
                "TOTAL_AMOUNT_MISMATCH",
                format!(
                    "total_amount {total} must equal product_amount + shipment_fee + \
                     shipment_insurance_fee + value_add_service_amount + tax_amount = {expected_total}"
                ),
            ));
        }
        if product_amount != products_sum {
            return Err(Outcome::Business(
                "PRODUCT_AMOUNT_MISMATCH",
                format!(
                    "product_amount {product_amount} must equal the sum of quantity x unit_price_str = {products_sum}"
                ),
            ));
        }
        if initial > total {
            return Err(Outcome::Business(
                "INITIAL_AMOUNT_EXCEEDS_TOTAL",
                format!("initial_amount {initial} exceeds total_amount {total}"),
            ));
        }
        let next_version = order
            .version
            .parse::<u64>()
            .map(|n| (n + 1).to_string())
            .unwrap_or_else(|_| format!("{}.1", order.version));
        order.version = next_version;
        order.revisions += 1;
        order.last_modify = Some(raw.clone());
        // Every accepted change moves the order's version.
        self.inner.core.moved(&trade_id);
        Ok(Outcome::Ok(trade_id))
    }
}

/// The read's `value` for `o`: status and version from state, the terms from the last accepted
/// (or seeded) `param_order_modify`, reshaped as the read publishes them.
fn read_value(o: &IcbuOrder) -> Value {
    let empty = Map::new();
    let m = o
        .last_modify
        .as_ref()
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let obj = |v: Option<&Value>| v.and_then(Value::as_object).cloned().unwrap_or_default();
    let ld = obj(m.get("logistics_detail"));
    let pd = obj(m.get("payment_detail"));
    let cur = pd
        .get("currency")
        .and_then(Value::as_str)
        .unwrap_or("USD")
        .to_owned();
    let money = |v: &Value| json!({ "amount": text_of(v), "currency": cur });
    let mut out = Map::new();
    out.insert("trade_id".into(), json!(o.trade_id));
    out.insert("trade_status".into(), json!(o.status));
    out.insert("contract_version".into(), json!(o.version));
    let products: Vec<Value> = m
        .get("product_list")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|p| {
                    let mut e = Map::new();
                    let id = p.get("product_id").or_else(|| p.get("encrypt_product_id"));
                    if let Some(id) = id {
                        e.insert("product_id".into(), json!(text_of(id)));
                    }
                    for k in ["sku_id", "name", "unit", "quantity"] {
                        if let Some(v) = p.get(k) {
                            e.insert(k.into(), json!(text_of(v)));
                        }
                    }
                    if let Some(v) = p.get("unit_price_str") {
                        e.insert("unit_price".into(), money(v));
                    }
                    Value::Object(e)
                })
                .collect()
        })
        .unwrap_or_default();
    out.insert(
        "order_products".into(),
        json!({ "trade_ecology_order_product": products }),
    );
    for (from, to) in [
        ("product_amount", "product_total_amount"),
        ("shipment_fee", "shipment_fee"),
        ("shipment_insurance_fee", "shipment_insurance_fee"),
        ("value_add_service_amount", "value_add_service_amount"),
        ("tax_amount", "tax_amount"),
        ("total_amount", "total_amount"),
        ("initial_amount", "advance_amount"),
    ] {
        if let Some(v) = pd.get(from) {
            out.insert(to.into(), money(v));
        }
    }
    for k in [
        "shipment_address",
        "shipment_method",
        "trade_term",
        "shipment_date",
        "fulfillment_channel",
    ] {
        if let Some(v) = ld.get(k) {
            let key = if k == "shipment_address" {
                "shipping_address"
            } else {
                k
            };
            out.insert(key.into(), v.clone());
        }
    }
    if ld.contains_key("carrier") || ld.contains_key("carrier_code") {
        let mut c = Map::new();
        if let Some(v) = ld.get("carrier_code") {
            c.insert("code".into(), v.clone());
        }
        if let Some(v) = ld.get("carrier") {
            c.insert("name".into(), v.clone());
        }
        out.insert("carrier".into(), Value::Object(c));
    }
    if let Some(r) = m.get("remark") {
        out.insert("remark".into(), r.clone());
    }
    Value::Object(out)
}

/// A JSON scalar as text (numbers written as they came).
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn rest(State(em): State<IcbuEmulator>, uri: Uri, body: Bytes) -> Response {
    let mut params = parse_pairs(uri.query().unwrap_or(""));
    let form = parse_pairs(std::str::from_utf8(&body).unwrap_or(""));
    params.retain(|(k, _)| !form.iter().any(|(fk, _)| fk == k));
    params.extend(form);
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let param = get("param_order_modify");
    let is_read = get("method") == Some(READ_METHOD);
    let order_key = if is_read {
        get("e_trade_id").map(|t| t.trim().to_owned())
    } else {
        param
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .and_then(|v| match v.get("trade_id") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
    };
    let order_key = order_key.as_deref();
    let core = &em.inner.core;
    let seq = core.count_request(order_key);
    if get("method") != Some(METHOD) && !is_read {
        core.record(seq, order_key, None, "rejected:22", false);
        return em.error_response(&gw(22, "Invalid method"));
    }
    let app_key = get("app_key").unwrap_or_default();
    let Some(app) = em.inner.settings.apps.iter().find(|a| a.app_key == app_key) else {
        core.record(seq, order_key, None, "rejected:29", false);
        return em.error_response(&gw(29, "Invalid app Key"));
    };
    let cred = Some(app.app_key.as_str());
    if !core.admit(&app.app_key, em.inner.settings.rate_limit_per_second) {
        core.record(seq, order_key, cred, "rate_limited", false);
        return em.error_response(&gw_sub(
            7,
            "App Call Limited",
            "accesscontrol.limited-by-app-access-count",
            "This ban will last for 1 more seconds".into(),
        ));
    }
    let fault = core.next_fault();
    if let Some(f) = fault {
        let sample = json!({ "alibaba_trade_order_modify_response": {
            "result": {"success": true, "value": {"trade_id": order_key, "pay_url": "x"}},
            "request_id": "0" } });
        if let Some(r) = transport_fault_reply(f, &sample) {
            core.record(seq, order_key, cred, format!("fault:{}", f.name()), false);
            return r;
        }
        if f == Fault::Busy {
            core.record(seq, order_key, cred, "fault:busy", false);
            return em.error_response(&gw_sub(
                15,
                "Remote service error",
                "isp.service-unavailable",
                "服务暂不可用,请稍后重试".into(),
            ));
        }
        apply_latency(fault).await;
    }
    let checked = em.check_gateway(app, &params);
    if is_read {
        return match checked {
            Err(e) => {
                core.record(seq, order_key, cred, format!("rejected:{}", e.code), false);
                em.error_response(&e)
            }
            Ok(()) => {
                let (label, reply) = em.read(order_key.unwrap_or_default());
                core.record(seq, order_key, cred, label, false);
                reply
            }
        };
    }
    let acked = checked.is_ok() && core.take_ack_without_apply();
    let outcome = match checked {
        Err(e) => Outcome::Gateway(e),
        Ok(()) if acked => Outcome::Ok(order_key.unwrap_or_default().to_owned()),
        Ok(()) => em.apply(param),
    };
    let (label, applied) = match &outcome {
        Outcome::Gateway(e) => (
            match &e.sub {
                Some((sc, _)) => format!("rejected:{}:{sc}", e.code),
                None => format!("rejected:{}", e.code),
            },
            false,
        ),
        Outcome::Business(code, _) => (format!("rejected:{code}"), false),
        Outcome::Ok(_) => ("ok".to_owned(), true),
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
        Outcome::Gateway(e) => em.error_response(&e),
        Outcome::Business(code, msg) => {
            em.result_response(json!({"success": false, "error_code": code, "error_message": msg}))
        }
        Outcome::Ok(trade_id) => {
            let pay_url = format!("{}?trade_id={trade_id}", em.inner.settings.pay_url_base);
            em.result_response(json!({"success": true,
                "value": {"trade_id": trade_id, "pay_url": pay_url}}))
        }
    }
}

async fn admin_seed(State(em): State<IcbuEmulator>, body: Bytes) -> AdminResult {
    Ok(match serde_json::from_slice::<IcbuOrder>(&body) {
        Ok(o) => {
            let id = o.trade_id.clone();
            em.seed_order(o);
            (StatusCode::CREATED, axum::Json(em.order(&id))).into_response()
        }
        Err(e) => admin_error(e),
    })
}

async fn admin_order(State(em): State<IcbuEmulator>, Path(id): Path<String>) -> AdminResult {
    Ok(match em.order(&id) {
        Some(o) => axum::Json(o).into_response(),
        None => admin_not_found(),
    })
}
