//! # order-bench
//!
//! The per-amendment CPU path of each outbound platform, as plain functions the criterion
//! benchmark (`benches/amend.rs`) measures and the unit tests below prove working:
//!
//! - **full path**: [`order_domain::plan`] of the amendment under the platform's policy, the
//!   transport's public encoder (domain plan → wire request), the wire request's JSON text, the
//!   platform's signature over the signed form, and the transport's decoder run on a canned
//!   success reply. No network: this is exactly the CPU work one amendment costs the client.
//!   EM and ICBU write the JSON text straight from the plan (`request_data_from_plan`,
//!   `param_from_plan`), as their `OrderPlatform` implementations do; the text is the one the
//!   owned wire request serializes to.
//! - **floor**: bare `serde_json` encoding of the same wire request plus
//!   [`transport_core::sign::hmac_sha256`] of those bytes, the least any JSON-over-HTTP client
//!   with a signature could do.
//!
//! `cargo xtask bench` runs the `full` benchmarks and prints `client_us/<platform>`
//! (informational). The floor is kept for comparison by hand; its ratio is no longer a target.
//!
//! The crate's binaries are the load generators: `intake-load` (the receiver) and `bare-send`
//! (the bare client of `batch_vs_bare`, which records and replays `ordermod apply`'s requests).
//!
//! WeChat Shop, WeChat Channels and vv-tool sign nothing (an access token in the query, a
//! bearer token in a header), so their "sign" step is empty; their replies are read with the
//! transports' own public `decode_reply`. The 1688 open platform signs the form with
//! `_aop_signature` (HMAC-SHA1, `Open1688Client::signed_form`).

use order_domain::{Amendment, Order, Policy, Timestamp, plan};
use transport_core::ClientConfig as _;
use transport_core::{HttpClient, HttpConfig, PlatformError, SecretString};

/// The platforms measured, in print order.
pub const PLATFORMS: [&str; 6] = [
    "wechat_shop",
    "vvtool_1688",
    "em_franchiser",
    "alibaba_icbu",
    "wechat_channels",
    "alibaba_1688",
];

/// Key of the floor's HMAC (any 32 bytes; the cost of HMAC does not depend on the key).
const FLOOR_KEY: &[u8] = b"bench-floor-key-0123456789abcdef";

/// One platform's canned amendment, its transport client pieces and a canned success reply.
pub struct Case {
    /// One of [`PLATFORMS`].
    pub name: &'static str,
    order: Order,
    amendment: Amendment,
    policy: Policy,
    reply: &'static [u8],
    signer: Signer,
}

enum Signer {
    Wechat,
    Vvtool,
    Em(Box<transport_em::EmClient>),
    Icbu(Box<transport_icbu::IcbuClient>),
    Channels,
    Open1688(Box<transport_1688_open::Open1688Client>),
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> T {
    match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => unreachable!("canned {what} is valid JSON: {e}"),
    }
}

fn http() -> HttpClient {
    match HttpClient::new(&HttpConfig::default()) {
        Ok(h) => h,
        Err(e) => unreachable!("an HTTP client builds without network: {e}"),
    }
}

impl Case {
    /// Every measured platform's case. Builds one HTTP client (never used to send).
    pub fn all() -> Vec<Case> {
        let http = http();
        vec![
            Case {
                name: "wechat_shop",
                order: parse(
                    "order",
                    r#"{"id": "3712345678901234567", "status": "awaiting_payment", "currency": "CNY",
                        "lines": [{"id": "a", "product": "1234", "sku": "5678", "original_total": "59.80"},
                                  {"id": "b", "product": "1235", "sku": "5679", "original_total": "20.00"}],
                        "freight": {"original": "8.00"}, "revision": {"count": 3}}"#,
                ),
                amendment: parse(
                    "amendment",
                    r#"{"lines": {"a": "49.90", "b": "18.00"}, "freight": "0"}"#,
                ),
                policy: transport_wechat_shop::policy(),
                reply: br#"{"errcode":0,"errmsg":"ok"}"#,
                signer: Signer::Wechat,
            },
            Case {
                name: "vvtool_1688",
                order: parse(
                    "order",
                    r#"{"id": "2198111437768747370", "status": "awaiting_payment", "currency": "CNY", "trade_type": "6",
                        "lines": [{"id": "2198111437768747371", "original_total": "100.00"},
                                  {"id": "2198111437768747372", "original_total": "30.00", "current_total": "28.00"},
                                  {"id": "2198111437768747373", "original_total": "5.00", "closed": true}],
                        "freight": {"original": "12.00"}}"#,
                ),
                amendment: parse(
                    "amendment",
                    r#"{"lines": {"2198111437768747371": "90.00"}, "freight": "10.00"}"#,
                ),
                policy: transport_vvtool::policy(),
                reply: br#"{"code":0,"msg":"ok","msec":12,"time":1700000000,"data":{"success":true,"withholding_money":"0.5"}}"#,
                signer: Signer::Vvtool,
            },
            Case {
                name: "em_franchiser",
                order: parse(
                    "order",
                    r#"{"id": "DD202409260001", "status": "paid", "currency": "CNY",
                        "lines": [{"id": "1", "product": "ERP_1113005", "quantity": "3", "original_total": "30"}]}"#,
                ),
                amendment: parse(
                    "amendment",
                    r#"{"address": {"province": "上海", "city": "上海市", "district": "嘉定区", "street": "商城路123123", "receiver": "hanson", "mobile": "18817834074"},
                        "logistics": {"transport_way": 4, "company": 8}, "delivery_date": "2024-09-28",
                        "items": [{"product": "ERP_1113005", "quantity": 1}]}"#,
                ),
                policy: transport_em::policy(),
                reply: r#"{"statusCode":0,"message":"修改成功","data":"DD202409260001"}"#.as_bytes(),
                signer: Signer::Em(Box::new(transport_em::EmClient::new(
                    http.clone(),
                    transport_em::EmConfig::new(
                        "http://127.0.0.1:9",
                        "em-app-01",
                        SecretString::from("em-secret".to_owned()),
                    ),
                ))),
            },
            Case {
                name: "alibaba_icbu",
                order: parse(
                    "order",
                    r#"{"id": "24668306501026709", "status": "awaiting_payment", "currency": "USD",
                        "lines": [{"id": "p1", "product": "62337348461", "sku": "-1", "name": "helloworld", "unit": "set",
                                   "quantity": "100", "unit_price": "2", "original_total": "200"}],
                        "address": {"receiver": "james", "telephone": {"number": "13890876543"}, "country": "United States of America",
                                    "city": "New York", "street": "Bank of new york", "zip": "461670"},
                        "logistics": {"shipment_method": "sea", "trade_term": "FOB", "shipment_date": {"days_after_payment": 5}},
                        "revision": {"version": "1576114051021"}}"#,
                ),
                amendment: parse(
                    "amendment",
                    r#"{"payment": {"products": "200", "freight": "20", "insurance": "80", "total": "300", "initial": "150"}}"#,
                ),
                policy: transport_icbu::policy(),
                reply: br#"{"alibaba_trade_order_modify_response":{"result":{"success":true,"value":{"trade_id":24668306501026709,"pay_url":"cashier.alibaba.com"}},"request_id":"r1"}}"#,
                signer: Signer::Icbu(Box::new(transport_icbu::IcbuClient::new(
                    http.clone(),
                    transport_icbu::IcbuConfig::new(
                        "12345678",
                        SecretString::from("app-secret".to_owned()),
                        SecretString::from("seller-session".to_owned()),
                    )
                    .with_base_url("http://127.0.0.1:9"),
                ))),
            },
            Case {
                name: "wechat_channels",
                order: parse(
                    "order",
                    r#"{"id": "3720000000000000011", "status": "awaiting_payment", "currency": "CNY",
                        "lines": [{"id": "a", "product": "30000000010", "sku": "40000000010", "quantity": "2", "original_total": "59.80"},
                                  {"id": "b", "product": "30000000011", "sku": "40000000011", "quantity": "1", "original_total": "20.00"}],
                        "freight": {"original": "8.00"}}"#,
                ),
                amendment: parse(
                    "amendment",
                    r#"{"lines": {"a": "49.90", "b": "18.00"}, "freight": "0"}"#,
                ),
                policy: transport_wechat_channels::policy(),
                reply: br#"{"errcode":0,"errmsg":"ok"}"#,
                signer: Signer::Channels,
            },
            Case {
                name: "alibaba_1688",
                order: parse(
                    "order",
                    r#"{"id": "2298111437768740010", "status": "awaiting_payment", "currency": "CNY", "trade_type": "6",
                        "lines": [{"id": "2298111437768740011", "original_total": "100.00"},
                                  {"id": "2298111437768740012", "original_total": "30.00", "current_total": "28.00"},
                                  {"id": "2298111437768740013", "original_total": "5.00", "closed": true}],
                        "freight": {"original": "12.00"}}"#,
                ),
                amendment: parse(
                    "amendment",
                    r#"{"lines": {"2298111437768740011": "90.00"}, "freight": "10.00"}"#,
                ),
                policy: transport_1688_open::policy(),
                reply: br#"{"result":true,"resultCode":"SUCCESS","resultMsg":"ok"}"#,
                signer: Signer::Open1688(Box::new(transport_1688_open::Open1688Client::new(
                    http,
                    transport_1688_open::Open1688Config::new(
                        "1688-app",
                        SecretString::from("1688-secret".to_owned()),
                        SecretString::from("1688-token".to_owned()),
                    )
                    .with_base_url("http://127.0.0.1:9"),
                ))),
            },
        ]
    }

    /// The full client path for one amendment; returns a byte count so nothing is optimised
    /// away.
    pub fn full(&self) -> Result<usize, PlatformError> {
        let p = plan(&self.order, &self.amendment, &self.policy).map_err(|r| {
            PlatformError::new(
                order_domain::PlatformErrorKind::InvalidRequest,
                None,
                format!("canned amendment refused: {:?}", r.codes()),
            )
        })?;
        match &self.signer {
            Signer::Wechat => {
                let req = transport_wechat_shop::encode(&self.order, &p)?;
                let body = serde_json::to_vec(&req).map_err(encode_error)?;
                let secrets = ["token-secret", "app-secret"];
                let reply = transport_wechat_shop::decode_reply(self.reply, &secrets)?.map_err(
                    |(code, msg)| transport_wechat_shop::reply_error(code, &msg, &secrets),
                )?;
                Ok(body.len() + reply.raw.len())
            }
            Signer::Vvtool => {
                let req = transport_vvtool::encode(&self.order, &p, "vv-shop-1")?;
                let body = serde_json::to_vec(&req).map_err(encode_error)?;
                let reply = transport_vvtool::decode_reply(self.reply, &["vv-token"])?;
                Ok(body.len() + reply.raw.len())
            }
            Signer::Em(client) => {
                // What `EmPlatform::apply` does: the plan written as `request_data` text.
                let data = transport_em::request_data_from_plan(
                    &self.order,
                    &p,
                    client.config().number_style,
                )?;
                let form = client.signed_form(&data, 1_727_251_200);
                let done = transport_em::decode_reply(self.reply, &["em-secret"])?;
                Ok(form_len(&form[..]) + done.raw_reply.len())
            }
            Signer::Icbu(client) => {
                // What `IcbuPlatform::apply` does: the plan written as `param_order_modify` text.
                let param = transport_icbu::param_from_plan(&self.order, &p)?;
                let form = client.signed_form(&param, Timestamp::from_millis(1_727_251_200_000));
                let done =
                    transport_icbu::decode_reply(self.reply, &["app-secret", "seller-session"])?;
                Ok(form_len(&form) + done.raw_reply.len())
            }
            Signer::Channels => {
                // No address change has been made to the canned order.
                let req = transport_wechat_channels::encode(&self.order, &p, 0)?;
                let body = match &req {
                    transport_wechat_channels::Request::Price(r) => serde_json::to_vec(r),
                    transport_wechat_channels::Request::Address(r) => serde_json::to_vec(r),
                }
                .map_err(encode_error)?;
                let secrets = ["token-secret", "app-secret"];
                let reply = transport_wechat_channels::decode_reply(self.reply, &secrets)?
                    .map_err(|(code, msg)| {
                        transport_wechat_channels::reply_error(code, &msg, &secrets)
                    })?;
                Ok(body.len() + reply.raw.len())
            }
            Signer::Open1688(client) => {
                // What `Open1688Platform::apply` does: the plan as the business parameters,
                // then the signed form.
                let req = transport_1688_open::encode(&self.order, &p)?;
                let path = transport_1688_open::url_path(
                    transport_1688_open::generated::params::MODIFY_PRICE_VERSION,
                    transport_1688_open::generated::params::MODIFY_PRICE_NAMESPACE,
                    transport_1688_open::generated::params::MODIFY_PRICE_API,
                    client.app_key(),
                );
                let form = client.signed_form(
                    &path,
                    &req.params(),
                    Timestamp::from_millis(1_727_251_200_000),
                );
                let done = transport_1688_open::decode_modify_reply(
                    self.reply,
                    &["1688-secret", "1688-token"],
                )?;
                Ok(form_len(&form) + done.raw.len())
            }
        }
    }

    /// The wire request of this case, encoded once, for the floor.
    pub fn floor_input(&self) -> Result<FloorInput, PlatformError> {
        let p = plan(&self.order, &self.amendment, &self.policy).map_err(|r| {
            PlatformError::new(
                order_domain::PlatformErrorKind::InvalidRequest,
                None,
                format!("canned amendment refused: {:?}", r.codes()),
            )
        })?;
        Ok(match &self.signer {
            Signer::Wechat => FloorInput::Wechat(transport_wechat_shop::encode(&self.order, &p)?),
            Signer::Vvtool => {
                FloorInput::Vvtool(transport_vvtool::encode(&self.order, &p, "vv-shop-1")?)
            }
            Signer::Em(_) => {
                FloorInput::Em(Box::new(transport_em::request_from_plan(&self.order, &p)?))
            }
            Signer::Icbu(_) => FloorInput::Icbu(Box::new(transport_icbu::request_from_plan(
                &self.order,
                &p,
            )?)),
            Signer::Channels => match transport_wechat_channels::encode(&self.order, &p, 0)? {
                transport_wechat_channels::Request::Price(r) => FloorInput::Channels(Box::new(r)),
                transport_wechat_channels::Request::Address(_) => {
                    return Err(PlatformError::new(
                        order_domain::PlatformErrorKind::InvalidRequest,
                        None,
                        "the canned Channels amendment is a price change",
                    ));
                }
            },
            Signer::Open1688(_) => {
                FloorInput::Open1688(Box::new(transport_1688_open::encode(&self.order, &p)?))
            }
        })
    }
}

/// A wire request made ahead of time, for [`FloorInput::floor`].
#[derive(Debug, Clone)]
pub enum FloorInput {
    /// WeChat Shop `change_order_price`.
    Wechat(transport_wechat_shop::ChangeOrderPriceRequest),
    /// vv-tool `1688modify-order-price`.
    Vvtool(transport_vvtool::ModifyOrderPriceRequest),
    /// EM `trade/modify` `request_data`.
    Em(Box<transport_em::TradeModifyRequest>),
    /// ICBU `param_order_modify`.
    Icbu(Box<transport_icbu::OrderModifyRequest>),
    /// WeChat Channels `price/update`.
    Channels(Box<transport_wechat_channels::PriceUpdateRequest>),
    /// 1688 open platform `trade.order.modifyOrderPrice` (its `entryDiscounts`).
    Open1688(Box<transport_1688_open::ModifyOrderPriceRequest>),
}

impl FloorInput {
    /// Bare `serde_json` encoding of the request plus HMAC-SHA256 of the bytes.
    pub fn floor(&self) -> usize {
        let bytes = match self {
            FloorInput::Wechat(r) => serde_json::to_vec(r),
            FloorInput::Vvtool(r) => serde_json::to_vec(r),
            FloorInput::Em(r) => serde_json::to_vec(r),
            FloorInput::Icbu(r) => serde_json::to_vec(r),
            FloorInput::Channels(r) => serde_json::to_vec(r),
            FloorInput::Open1688(r) => serde_json::to_vec(&r.params()),
        }
        .unwrap_or_default();
        let mac = transport_core::sign::hmac_sha256(FLOOR_KEY, &bytes);
        bytes.len() + usize::from(mac[0])
    }
}

fn form_len<V: AsRef<str>>(form: &[(&'static str, V)]) -> usize {
    form.iter().map(|(k, v)| k.len() + v.as_ref().len()).sum()
}

fn encode_error(e: serde_json::Error) -> PlatformError {
    PlatformError::new(
        order_domain::PlatformErrorKind::InvalidRequest,
        None,
        format!("request could not be encoded: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_runs_its_full_path_and_floor() {
        let cases = Case::all();
        assert_eq!(
            cases.iter().map(|c| c.name).collect::<Vec<_>>(),
            PLATFORMS.to_vec()
        );
        for c in &cases {
            let n = c.full().unwrap_or_else(|e| panic!("{}: {e}", c.name));
            assert!(n > 0, "{}", c.name);
            let floor = c
                .floor_input()
                .unwrap_or_else(|e| panic!("{}: {e}", c.name));
            assert!(floor.floor() > 0, "{}", c.name);
        }
    }

    #[test]
    fn the_full_path_sends_the_bytes_of_the_floors_wire_request() {
        for c in Case::all() {
            let p = plan(&c.order, &c.amendment, &c.policy).expect("plan");
            match (&c.signer, c.floor_input().expect("floor")) {
                (Signer::Em(client), FloorInput::Em(req)) => assert_eq!(
                    transport_em::request_data_from_plan(
                        &c.order,
                        &p,
                        client.config().number_style
                    ),
                    req.to_request_data_as(client.config().number_style)
                ),
                (Signer::Icbu(_), FloorInput::Icbu(req)) => assert_eq!(
                    transport_icbu::param_from_plan(&c.order, &p),
                    req.to_param()
                ),
                _ => {}
            }
        }
    }
}
