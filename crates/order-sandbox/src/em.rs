//! EM franchiser ERP emulator: `POST /franchiser/api/trade/modify`.
//!
//! The request is form-encoded (`appid`, `timestamp`, `sign`, `request_data`), or a JSON object
//! with the same four keys (`request_data` may then be a string or an object; an object is
//! signed as its compact serde_json text with keys in byte order).
//!
//! Signature (the platform does not publish it; this is the sandbox's documented default,
//! [`EmSignScheme::AmpersandKey`]): every parameter except `sign` and except empty values,
//! sorted by key in byte order, joined as `key=value` with `&`, then `&key=<secret>` appended;
//! MD5 of the UTF-8 bytes, upper-case hex. Example input:
//! `appid=em-app&request_data={...}&timestamp=1700000000&key=em-secret`.
//! [`EmSignScheme::PlainSecret`] appends the secret itself with no `&key=`.
//!
//! Replies are `{"statusCode", "message", "data"}`:
//!
//! | statusCode | when | source |
//! |---|---|---|
//! | 0 | success, `data` = the trade number | documented |
//! | 1002 | some but not all of province, city, district given | documented |
//! | -10 | stock short: `产品[<code>]库存不足` | documented |
//! | -1 | injected busy: `系统繁忙,请稍后再试` | *assumed* |
//! | 1001 | bad signature: `签名错误` | *assumed* |
//! | 1003 | unknown appid: `appid 不存在` | *assumed* |
//! | 1004 | timestamp missing or more than 300 s away: `时间戳无效或已过期` | *assumed* |
//! | 1005 | bad parameters: `参数错误:<detail>` | *assumed* |
//! | 1006 | unknown trade: `订单[<tradeno>]不存在` | *assumed* |
//! | 1008 | rate limit per appid exceeded: `请求过于频繁,请稍后再试` | *assumed* |
//!
//! Stock is global per product code (not per warehouse). Seeded trades' items count as already
//! reserved. The item list is a full replacement: for each product, the new quantity minus the
//! quantity this trade already holds must be available; on success stock moves accordingly.
//!
//! Checks run in this order: appid, rate limit, fault, timestamp, signature, request data,
//! trade, address, logistics, items and stock.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common::{
    ACK_WITHOUT_APPLY, AdminResult, Core, Fault, FaultProfile, admin_error, admin_not_found,
    apply_latency, dropped_connection, json_text, json_u64, parse_date, parse_pairs, sign_matches,
    transport_fault_reply, unix_now, upper_hex,
};

/// How the EM `sign` is computed (the platform does not publish its recipe).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EmSignScheme {
    /// `k1=v1&k2=v2&key=SECRET`, MD5, upper-case hex (the default).
    #[default]
    AmpersandKey,
    /// `k1=v1&k2=v2SECRET`, MD5, upper-case hex.
    PlainSecret,
}

impl EmSignScheme {
    /// The exact string that is hashed, from parameters (with or without `sign`).
    pub fn string_to_sign(&self, params: &[(String, String)], secret: &str) -> String {
        let mut sorted: Vec<&(String, String)> = params
            .iter()
            .filter(|(k, v)| k != "sign" && !v.is_empty())
            .collect();
        sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let joined = sorted
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        match self {
            EmSignScheme::AmpersandKey => format!("{joined}&key={secret}"),
            EmSignScheme::PlainSecret => format!("{joined}{secret}"),
        }
    }

    /// The signature: MD5 of [`Self::string_to_sign`], upper-case hex.
    pub fn sign(&self, params: &[(String, String)], secret: &str) -> String {
        upper_hex(&Md5::digest(self.string_to_sign(params, secret).as_bytes()))
    }
}

/// One EM partner (appid and secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmApp {
    /// The appid.
    pub appid: String,
    /// The signing secret.
    pub secret: String,
}

/// Settings of the EM emulator.
///
/// Defaults: app `em-app` / `em-secret`; [`EmSignScheme::AmpersandKey`]; timestamps within
/// 300 s; 20 calls per second per appid (*assumed*, the document publishes no limit).
#[derive(Debug, Clone)]
pub struct EmSettings {
    /// Known partners.
    pub apps: Vec<EmApp>,
    /// Signature recipe.
    pub sign_scheme: EmSignScheme,
    /// Largest accepted distance between `timestamp` and now, seconds.
    pub max_skew_secs: i64,
    /// Calls per second per appid; `None` lifts the limit.
    pub rate_limit_per_second: Option<u32>,
    /// Random fault profile.
    pub faults: FaultProfile,
    /// Port to bind on 127.0.0.1 (0 = any free port).
    pub port: u16,
}

impl Default for EmSettings {
    fn default() -> Self {
        Self {
            apps: vec![EmApp {
                appid: "em-app".into(),
                secret: "em-secret".into(),
            }],
            sign_scheme: EmSignScheme::AmpersandKey,
            max_skew_secs: 300,
            rate_limit_per_second: Some(20),
            faults: FaultProfile::none(),
            port: 0,
        }
    }
}

/// One item line of an EM trade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmItem {
    /// ERP product code.
    pub outerpcode: String,
    /// Quantity in the main unit, a positive whole number.
    pub mainmeasunitqty: u64,
    /// Line remark.
    #[serde(default)]
    pub remark: String,
}

/// An EM trade as the emulator holds it; also the JSON of `POST /__admin/orders`.
///
/// Every field except `tradeno` defaults (empty text, 0, no items).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmTrade {
    /// Trade number.
    pub tradeno: String,
    /// Shipping warehouse id.
    pub warehouseid: u64,
    /// Transport way 1..=5 (0 = unset).
    pub transportway: u64,
    /// Logistics company id (0 = none).
    pub logisticscompanyid: u64,
    /// Receiver name.
    pub receivername: String,
    /// Receiver mobile.
    pub mobile: String,
    /// Province name.
    pub provincename: String,
    /// City name.
    pub cityname: String,
    /// District name (the platform's spelling).
    pub distrctname: String,
    /// Street address.
    pub address: String,
    /// Delivery date `yyyy-MM-dd`.
    pub deliverydate: String,
    /// Logistics remark.
    pub remark: String,
    /// Trade remark.
    pub traderemark: String,
    /// Logistics contact.
    pub logisticscontact: String,
    /// Vehicle plate.
    pub logisticscarnumber: String,
    /// Logistics contact mobile.
    pub logisticsmobile: String,
    /// Items (full list).
    pub items: Vec<EmItem>,
    /// Successful modifications so far.
    pub revisions: u64,
}

impl EmTrade {
    /// A trade with the given items `(code, quantity)` and nothing else set.
    pub fn new(tradeno: &str, items: &[(&str, u64)]) -> Self {
        Self {
            tradeno: tradeno.to_owned(),
            items: items
                .iter()
                .map(|&(c, q)| EmItem {
                    outerpcode: c.to_owned(),
                    mainmeasunitqty: q,
                    remark: String::new(),
                })
                .collect(),
            ..Self::default()
        }
    }
}

#[derive(Debug, Default)]
struct EmState {
    trades: HashMap<String, EmTrade>,
    stock: BTreeMap<String, u64>,
}

#[derive(Debug)]
struct Inner {
    settings: EmSettings,
    core: Arc<Core>,
    state: Mutex<EmState>,
    base_url: Mutex<String>,
}

/// Handle to a running EM emulator (cheap to clone).
#[derive(Debug, Clone)]
pub struct EmEmulator {
    inner: Arc<Inner>,
}

impl_common_handle!(EmEmulator);

impl EmEmulator {
    /// The next `n` changes that pass the gateway, signature and permission checks are
    /// acknowledged as successful **without** changing the order (a read or the state shows
    /// the old values; the call log says `fault:ack_without_apply`). Also
    /// `POST /__admin/faults` `{"ack_without_apply": n}`.
    pub fn ack_without_apply(&self, n: usize) {
        self.inner.core.ack_without_apply(n);
    }
}

type EmError = (i64, String);

fn reply(code: i64, message: &str, data: Value) -> Response {
    json_text(
        StatusCode::OK,
        json!({ "statusCode": code, "message": message, "data": data }).to_string(),
    )
}

fn text_field(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

impl EmEmulator {
    pub(crate) fn new(settings: EmSettings, seed: u64) -> Self {
        let core = Core::new(seed, 0x454D_4652_414E, settings.faults);
        Self {
            inner: Arc::new(Inner {
                settings,
                core,
                state: Mutex::new(EmState::default()),
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

    fn state(&self) -> MutexGuard<'_, EmState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn router(&self) -> Router {
        Router::new()
            .route("/franchiser/api/trade/modify", post(modify))
            .route("/__admin/orders", post(admin_seed))
            .route("/__admin/orders/{id}", get(admin_order))
            .route("/__admin/stock", get(admin_stock_get).post(admin_stock_set))
            .merge(admin_common_routes!(EmEmulator))
            .with_state(self.clone())
    }

    /// Adds or replaces a trade (its items count as reserved stock).
    pub fn seed_order(&self, trade: EmTrade) {
        self.state().trades.insert(trade.tradeno.clone(), trade);
    }

    /// Current state of a trade.
    pub fn order(&self, tradeno: &str) -> Option<EmTrade> {
        self.state().trades.get(tradeno).cloned()
    }

    /// Sets the available (unreserved) stock of a product code.
    pub fn set_stock(&self, outerpcode: &str, available: u64) {
        self.state().stock.insert(outerpcode.to_owned(), available);
    }

    /// Available (unreserved) stock of a product code (0 if unknown).
    pub fn stock(&self, outerpcode: &str) -> u64 {
        self.state().stock.get(outerpcode).copied().unwrap_or(0)
    }

    /// All stock levels.
    pub fn stock_levels(&self) -> BTreeMap<String, u64> {
        self.state().stock.clone()
    }

    fn apply(&self, data: &Value) -> Result<String, EmError> {
        let bad = |what: &str| (1005, format!("参数错误:{what}"));
        let obj = data
            .as_object()
            .ok_or_else(|| bad("request_data 不是 JSON 对象"))?;
        let get_text = |k: &str| -> Result<Option<String>, EmError> {
            match obj.get(k) {
                None => Ok(None),
                Some(v) => text_field(v).map(Some).ok_or_else(|| bad(k)),
            }
        };
        let get_num = |k: &str| -> Result<Option<u64>, EmError> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(v) => json_u64(v).map(Some).ok_or_else(|| bad(k)),
            }
        };
        let tradeno = get_text("tradeno")?
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad("tradeno"))?;
        let mut st = self.state();
        let trade = st
            .trades
            .get(&tradeno)
            .ok_or_else(|| (1006, format!("订单[{tradeno}]不存在")))?;
        let mut next = trade.clone();

        // Address: all three names or none.
        let parts = ["provincename", "cityname", "distrctname"]
            .map(|k| get_text(k).map(|v| v.filter(|s| !s.is_empty())));
        let [p, c, d] = parts;
        let (p, c, d) = (p?, c?, d?);
        match (p, c, d) {
            (None, None, None) => {}
            (Some(p), Some(c), Some(d)) => {
                next.provincename = p;
                next.cityname = c;
                next.distrctname = d;
            }
            _ => return Err((1002, "修改三级地址时,省市区名称均不能为空".into())),
        }
        for (k, slot) in [
            ("receivername", &mut next.receivername),
            ("mobile", &mut next.mobile),
            ("address", &mut next.address),
            ("remark", &mut next.remark),
            ("traderemark", &mut next.traderemark),
            ("logisticscontact", &mut next.logisticscontact),
            ("logisticscarnumber", &mut next.logisticscarnumber),
            ("logisticsmobile", &mut next.logisticsmobile),
        ] {
            if let Some(v) = get_text(k)? {
                *slot = v;
            }
        }
        if let Some(w) = get_num("warehouseid")? {
            if w == 0 {
                return Err(bad("warehouseid"));
            }
            next.warehouseid = w;
        }
        if let Some(date) = get_text("deliverydate")?.filter(|s| !s.is_empty()) {
            if parse_date(&date).is_none() {
                return Err(bad("deliverydate 须为 yyyy-MM-dd"));
            }
            next.deliverydate = date;
        }
        let way = get_num("transportway")?;
        if let Some(w) = way {
            if !(1..=5).contains(&w) {
                return Err(bad("transportway 须为 1 到 5"));
            }
            next.transportway = w;
        }
        let company = get_num("logisticscompanyid")?;
        if way.is_some() || company.is_some() {
            let company = company.unwrap_or(0);
            let allowed: &[u64] = match next.transportway {
                2 => &[6, 7, 9, 10, 11],
                4 => &[5, 8],
                _ => &[0],
            };
            if !allowed.contains(&company) {
                return Err(bad("logisticscompanyid 与 transportway 不匹配"));
            }
            next.logisticscompanyid = company;
        }

        let mut moves: Vec<(String, u64, u64)> = Vec::new();
        if let Some(items) = obj.get("items") {
            let Value::Array(list) = items else {
                return Err(bad("items"));
            };
            if list.is_empty() {
                return Err(bad("items 不能为空"));
            }
            let mut new_items = Vec::with_capacity(list.len());
            for (i, it) in list.iter().enumerate() {
                let code = it
                    .get("outerpcode")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| bad(&format!("items[{i}].outerpcode")))?;
                let qty = it
                    .get("mainmeasunitqty")
                    .and_then(json_u64)
                    .filter(|q| *q > 0)
                    .ok_or_else(|| bad(&format!("items[{i}].mainmeasunitqty")))?;
                let remark = match it.get("remark") {
                    None => String::new(),
                    Some(v) => text_field(v).ok_or_else(|| bad(&format!("items[{i}].remark")))?,
                };
                new_items.push(EmItem {
                    outerpcode: code.to_owned(),
                    mainmeasunitqty: qty,
                    remark,
                });
            }
            let sum = |items: &[EmItem]| {
                let mut m: BTreeMap<String, u64> = BTreeMap::new();
                for it in items {
                    *m.entry(it.outerpcode.clone()).or_default() += it.mainmeasunitqty;
                }
                m
            };
            let old = sum(&trade.items);
            let new = sum(&new_items);
            for (code, &want) in &new {
                let held = old.get(code).copied().unwrap_or(0);
                let free = st.stock.get(code).copied().unwrap_or(0);
                if want > held && want - held > free {
                    return Err((-10, format!("产品[{code}]库存不足")));
                }
            }
            for code in old.keys().chain(new.keys()) {
                let held = old.get(code).copied().unwrap_or(0);
                let want = new.get(code).copied().unwrap_or(0);
                moves.push((code.clone(), held, want));
            }
            next.items = new_items;
        }
        moves.sort();
        moves.dedup();
        for (code, held, want) in moves {
            let free = st.stock.entry(code).or_default();
            *free = *free + held - want;
        }
        let moved = st.trades.get(&tradeno) != Some(&next);
        next.revisions += 1;
        st.trades.insert(tradeno.clone(), next);
        if moved {
            self.inner.core.moved(&tradeno);
        }
        Ok(tradeno)
    }
}

/// Reads the four parameters from a form or JSON body.
fn read_params(headers: &HeaderMap, body: &[u8]) -> Option<Vec<(String, String)>> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|c| c.contains("json"));
    if is_json {
        let v: Value = serde_json::from_slice(body).ok()?;
        let obj = v.as_object()?;
        Some(
            obj.iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect(),
        )
    } else {
        Some(parse_pairs(std::str::from_utf8(body).ok()?))
    }
}

async fn modify(State(em): State<EmEmulator>, headers: HeaderMap, body: Bytes) -> Response {
    let params = read_params(&headers, &body).unwrap_or_default();
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let data: Option<Value> = get("request_data").and_then(|t| serde_json::from_str(t).ok());
    let order_key = data
        .as_ref()
        .and_then(|d| d.get("tradeno"))
        .and_then(text_field)
        .filter(|s| !s.is_empty());
    let order_key = order_key.as_deref();
    let core = &em.inner.core;
    let seq = core.count_request(order_key);
    let appid = get("appid").unwrap_or_default();
    let Some(app) = em.inner.settings.apps.iter().find(|a| a.appid == appid) else {
        core.record(seq, order_key, None, "rejected:1003", false);
        return reply(1003, "appid 不存在", Value::Null);
    };
    let cred = Some(app.appid.as_str());
    if !core.admit(&app.appid, em.inner.settings.rate_limit_per_second) {
        core.record(seq, order_key, cred, "rate_limited", false);
        return reply(1008, "请求过于频繁,请稍后再试", Value::Null);
    }
    let fault = core.next_fault();
    if let Some(f) = fault {
        let sample = json!({"statusCode": 0, "message": "修改成功", "data": order_key});
        if let Some(r) = transport_fault_reply(f, &sample) {
            core.record(seq, order_key, cred, format!("fault:{}", f.name()), false);
            return r;
        }
        if f == Fault::Busy {
            core.record(seq, order_key, cred, "fault:busy", false);
            return reply(-1, "系统繁忙,请稍后再试", Value::Null);
        }
        apply_latency(fault).await;
    }
    let result = check_and_apply(
        &em,
        app,
        &params,
        get("timestamp"),
        get("sign"),
        data.as_ref(),
    );
    let acked = matches!(result, Ok((_, true)));
    let applied = result.is_ok() && !acked;
    let outcome = match (&result, fault) {
        (_, Some(Fault::DropAfterApply)) => "fault:drop_after_apply".to_owned(),
        (Ok(_), _) if acked => ACK_WITHOUT_APPLY.to_owned(),
        (Ok(_), _) => "ok".to_owned(),
        (Err((c, _)), _) => format!("rejected:{c}"),
    };
    core.record(seq, order_key, cred, outcome, applied);
    if fault == Some(Fault::DropAfterApply) {
        return dropped_connection();
    }
    match result {
        Ok((t, _)) => reply(0, "修改成功", Value::String(t)),
        Err((c, m)) => reply(c, &m, Value::Null),
    }
}

fn check_and_apply(
    em: &EmEmulator,
    app: &EmApp,
    params: &[(String, String)],
    timestamp: Option<&str>,
    sign: Option<&str>,
    data: Option<&Value>,
) -> Result<(String, bool), EmError> {
    let ts = timestamp.and_then(|t| t.trim().parse::<i64>().ok());
    if ts.is_none_or(|t| (unix_now() - t).abs() > em.inner.settings.max_skew_secs) {
        return Err((1004, "时间戳无效或已过期".into()));
    }
    let expected = em.inner.settings.sign_scheme.sign(params, &app.secret);
    if !sign.is_some_and(|s| sign_matches(s, &expected)) {
        return Err((1001, "签名错误".into()));
    }
    let data = data.ok_or_else(|| (1005, "参数错误:request_data 不是合法 JSON".to_owned()))?;
    if em.inner.core.take_ack_without_apply() {
        let trade = data.get("tradeno").and_then(text_field).unwrap_or_default();
        return Ok((trade, true));
    }
    em.apply(data).map(|t| (t, false))
}

async fn admin_seed(State(em): State<EmEmulator>, body: Bytes) -> AdminResult {
    Ok(match serde_json::from_slice::<EmTrade>(&body) {
        Ok(t) if !t.tradeno.is_empty() => {
            let id = t.tradeno.clone();
            em.seed_order(t);
            (StatusCode::CREATED, axum::Json(em.order(&id))).into_response()
        }
        Ok(_) => admin_error("tradeno is required"),
        Err(e) => admin_error(e),
    })
}

async fn admin_order(State(em): State<EmEmulator>, Path(id): Path<String>) -> AdminResult {
    Ok(match em.order(&id) {
        Some(o) => axum::Json(o).into_response(),
        None => admin_not_found(),
    })
}

async fn admin_stock_get(State(em): State<EmEmulator>) -> AdminResult {
    Ok(axum::Json(em.stock_levels()).into_response())
}

async fn admin_stock_set(State(em): State<EmEmulator>, body: Bytes) -> AdminResult {
    Ok(
        match serde_json::from_slice::<BTreeMap<String, u64>>(&body) {
            Ok(levels) => {
                for (code, qty) in levels {
                    em.set_stock(&code, qty);
                }
                axum::Json(em.stock_levels()).into_response()
            }
            Err(e) => admin_error(e),
        },
    )
}
