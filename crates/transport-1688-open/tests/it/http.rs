//! The 1688 open platform transport over real HTTP against the `order-sandbox` emulator.

use std::sync::Arc;
use std::time::Duration;
use transport_core::ClientConfig as _;

use order_domain::{
    Amendment, Clock, Currency, FixedClock, LineId, Money, Order, OrderId, OrderPlatform,
    OrderSource, OrderStatus, PlatformError, PlatformErrorKind, Timestamp, ViolationCode, plan,
};
use order_sandbox::{
    Fault, Open1688App, Open1688BusyReply, Open1688Emulator, Open1688Order, Open1688Settings,
    Sandbox, open1688::aop_sign,
};
use transport_1688_open::{
    EntryDiscount, ModifyOrderPriceRequest, Open1688Client, Open1688Config, Open1688Platform,
    aop_signature, decode_modify_reply, encode, url_path,
};
use transport_core::{HttpClient, HttpConfig, RetryPolicy, SecretString};

const APP_KEY: &str = "1688-app";
const SECRET: &str = "1688-secret";
const TOKEN: &str = "1688-token";
const ORDER_ID: u64 = 2_198_111_437_768_747_370; // 19 digits, above 2^53
const E1: u64 = 2_198_111_437_768_747_371;
const E2: u64 = 2_198_111_437_768_747_372;
const E3: u64 = 2_198_111_437_768_747_373;

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        ..RetryPolicy::default()
    }
}

fn http() -> HttpClient {
    HttpClient::new(&HttpConfig::default().with_timeout(Duration::from_secs(10))).unwrap()
}

async fn sandbox(settings: Open1688Settings) -> (Sandbox, Open1688Emulator) {
    let sb = Sandbox::builder()
        .seed(7)
        .open1688(settings)
        .start()
        .await
        .unwrap();
    let em = sb.open1688().unwrap().clone();
    (sb, em)
}

fn config(em: &Open1688Emulator, app_key: &str, secret: &str, token: &str) -> Open1688Config {
    Open1688Config::new(
        app_key,
        SecretString::from(secret),
        SecretString::from(token),
    )
    .with_base_url(em.gateway_url())
    .with_rate_limit(None)
    .with_retry(fast_retry(4))
}

fn client(em: &Open1688Emulator) -> Open1688Client {
    Open1688Client::new(http(), config(em, APP_KEY, SECRET, TOKEN))
}

/// Entries E1 (100.00), E2 (50.00), E3 (20.00, closed); carriage 5.00.
fn seed(em: &Open1688Emulator) {
    let mut o =
        Open1688Order::awaiting_payment(ORDER_ID, 500, &[(E1, 10_000), (E2, 5_000), (E3, 2_000)]);
    o.entries[2].closed = true;
    em.seed_order(o);
}

fn amend(json: &str) -> Amendment {
    serde_json::from_str(json).unwrap()
}

fn req(order_id: u64, carriage: i64, discounts: &[(u64, i64)]) -> ModifyOrderPriceRequest {
    ModifyOrderPriceRequest {
        order_id,
        carriage,
        entry_discounts: discounts
            .iter()
            .map(|&(id, discount)| EntryDiscount { id, discount })
            .collect(),
    }
}

fn assert_no_secret(e: &PlatformError) {
    let text = format!("{e} {e:?}");
    assert!(!text.contains(TOKEN), "token leaked: {text}");
    assert!(!text.contains(SECRET), "secret leaked: {text}");
}

/// Sends `request`, expects an error, returns it with the number of calls the emulator saw.
async fn refused(
    em: &Open1688Emulator,
    c: &Open1688Client,
    request: &ModifyOrderPriceRequest,
) -> (PlatformError, u64) {
    let before = em.stats().total_requests;
    let e = c.modify_order_price(request).await.unwrap_err();
    assert_no_secret(&e);
    (e, em.stats().total_requests - before)
}

fn owned(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn golden_vectors_agree_in_the_transport_and_the_emulator() {
    let path = "param2/1/system/currentTime/1000000a1b2";
    let v1 = "33E54F4F7B989E3E0E912D3FBD2F1A03CA7CCE88";
    assert_eq!(aop_signature("test123", path, &[]), v1);
    assert_eq!(aop_sign("test123", path, &[]), v1);

    let path = "param2/1/com.alibaba.trade/alibaba.trade.getBuyerOrderList/1234567";
    let params = [
        ("access_token", "tok-abc"),
        ("_aop_datatype", "application/json"),
        ("_aop_timestamp", "1700000000000"),
        ("page", "1"),
        ("pageSize", "20"),
    ];
    let v2 = "D01C12C8FCD4B59367FFDD51E1DEC31C7C237A4C";
    assert_eq!(aop_signature("secretXYZ", path, &params), v2);
    assert_eq!(aop_sign("secretXYZ", path, &owned(&params)), v2);

    let chinese = [
        ("orderId", "2198111437768747370"),
        ("memo", "改价说明：包邮，减二十元"),
        ("access_token", "tok-abc"),
    ];
    let path = url_path(
        1,
        "cn.alibaba.open",
        "trade.order.modifyOrderPrice",
        "1234567",
    );
    assert_eq!(
        aop_signature("secretXYZ", &path, &chinese),
        aop_sign("secretXYZ", &path, &owned(&chinese))
    );
}

/// Posts `form` to `path` on the emulator and returns the reply body.
async fn post_form(em: &Open1688Emulator, path: &str, form: &[(&'static str, String)]) -> Vec<u8> {
    let url = format!("{}/{path}", em.gateway_url());
    transport_core::install_crypto_provider();
    reqwest::Client::new()
        .post(url)
        .form(form)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn a_chinese_parameter_signs_identically_in_the_transport_and_the_emulator() {
    let (_sb, em) = sandbox(Open1688Settings::default()).await;
    seed(&em);
    let c = client(&em);
    let path = url_path(
        1,
        "cn.alibaba.open",
        "trade.order.modifyOrderPrice",
        APP_KEY,
    );
    let mut business = req(ORDER_ID, 300, &[(E1, -100)]).params();
    business.push(("memo", "改价说明：包邮，减一元".to_owned()));
    let now = Timestamp::from_millis(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap(),
    );
    let form = c.signed_form(&path, &business, now);
    // The emulator's own code accepts the transport's signature over the Chinese value...
    let body = post_form(&em, &path, &form).await;
    decode_modify_reply(&body, &[]).unwrap();
    assert_eq!(em.order(ORDER_ID).unwrap().entries[0].discount, -100);
    // ...and refuses it once that value changes by one character.
    let mut tampered = form.clone();
    for (k, v) in &mut tampered {
        if *k == "memo" {
            *v = "改价说明：包邮，减二元".to_owned();
        }
    }
    let e = decode_modify_reply(&post_form(&em, &path, &tampered).await, &[]).unwrap_err();
    assert_eq!(e.code(), Some("gw.SignatureInvalid"));
}

/// The domain's snapshot of the seeded order, read through the `OrderSource` port.
async fn fetched(platform: &Open1688Platform) -> Order {
    OrderSource::fetch(platform, &OrderId::new(ORDER_ID.to_string()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn plan_applied_end_to_end_with_zero_carriage_and_19_digit_ids() {
    let (_sb, em) = sandbox(Open1688Settings::default()).await;
    seed(&em);
    let platform = Open1688Platform::new(client(&em));
    assert_eq!(OrderPlatform::name(&platform), "alibaba-1688");
    let o = fetched(&platform).await;
    let p = plan(
        &o,
        &amend(&format!(
            r#"{{"lines": {{"{E1}": "80.00"}}, "freight": "0"}}"#
        )),
        platform.policy(),
    )
    .unwrap();
    platform.apply(&o, &p).await.unwrap();
    let now = em.order(ORDER_ID).unwrap();
    assert_eq!(
        now.carriage, 0,
        "carriage 0 was sent (the emulator requires it)"
    );
    assert_eq!(now.entries[0].discount, -2000);
    assert_eq!(now.entries[1].discount, 0);
    assert_eq!(now.changes, 1);
    // The 19-digit id reached the emulator exactly (a float would have changed its last digits).
    let calls = em.calls();
    assert_eq!(
        calls.last().unwrap().order_id.as_deref(),
        Some("2198111437768747370")
    );
    assert_eq!(calls.last().unwrap().outcome, "ok");
}

#[tokio::test]
async fn an_unnamed_entry_keeps_its_earlier_discount() {
    let (_sb, em) = sandbox(Open1688Settings::default()).await;
    let mut o = Open1688Order::awaiting_payment(ORDER_ID, 500, &[(E1, 10_000), (E2, 5_000)]);
    o.entries[1].discount = -500; // E2 lowered earlier: 45.00 now
    em.seed_order(o);
    let platform = Open1688Platform::new(client(&em));
    let snapshot = fetched(&platform).await;
    let p = plan(
        &snapshot,
        &amend(&format!(r#"{{"lines": {{"{E1}": "90.00"}}}}"#)),
        platform.policy(),
    )
    .unwrap();
    // E2 is restated with its current discount, not left out and not 0...
    let request = encode(&snapshot, &p).unwrap();
    assert_eq!(
        request.entry_discounts,
        vec![
            EntryDiscount {
                id: E1,
                discount: -1000
            },
            EntryDiscount {
                id: E2,
                discount: -500
            },
        ]
    );
    assert_eq!(
        request.carriage, 500,
        "freight not in the plan: the current one"
    );
    // ...so after the change E2 still costs 45.00.
    platform.apply(&snapshot, &p).await.unwrap();
    let now = em.order(ORDER_ID).unwrap();
    assert_eq!(now.entries[0].discount, -1000);
    assert_eq!(now.entries[1].discount, -500);
    let after = fetched(&platform).await;
    let e2 = after.line(&LineId::new(E2.to_string()).unwrap()).unwrap();
    assert_eq!(
        e2.current_total(),
        Money::parse("45", Currency::Cny).unwrap()
    );
    assert_eq!(
        e2.original_total(),
        Money::parse("50", Currency::Cny).unwrap()
    );
}

#[tokio::test]
async fn a_raise_is_refused_with_zero_calls() {
    let (_sb, em) = sandbox(Open1688Settings::default()).await;
    seed(&em);
    let platform = Open1688Platform::new(client(&em));
    let o = fetched(&platform).await;
    let reads = em.stats().total_requests;
    let r = plan(
        &o,
        &amend(&format!(r#"{{"lines": {{"{E1}": "100.01"}}}}"#)),
        platform.policy(),
    )
    .unwrap_err();
    assert!(r.has(ViolationCode::PriceRaiseForbidden));
    // The encoder's own guard refuses a raise even under a permissive plan.
    let mut permissive = transport_1688_open::policy();
    permissive.price_direction = order_domain::PriceDirection::Any;
    let p = plan(
        &o,
        &amend(&format!(r#"{{"lines": {{"{E1}": "100.01"}}}}"#)),
        &permissive,
    )
    .unwrap();
    let e = platform.apply(&o, &p).await.unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::RejectedByRule);
    assert_eq!(em.stats().total_requests, reads, "no call was made");
}

#[tokio::test]
async fn the_read_maps_the_order() {
    let (_sb, em) = sandbox(Open1688Settings::default()).await;
    let mut o = Open1688Order::awaiting_payment(ORDER_ID, 615, &[(E1, 30), (E2, 10), (E3, 10)]);
    o.trade_type = "8".into();
    o.entries[1].discount = -5;
    o.entries[1].quantity = 2;
    o.entries[2].closed = true;
    em.seed_order(o);
    let platform = Open1688Platform::new(client(&em));
    let order = fetched(&platform).await;
    let cny = |s: &str| Money::parse(s, Currency::Cny).unwrap();
    assert_eq!(order.id().as_str(), "2198111437768747370");
    assert_eq!(order.status(), &OrderStatus::AwaitingPayment);
    assert_eq!(order.trade_type(), Some("8"));
    assert_eq!(order.freight_current(), cny("6.15"));
    assert_eq!(order.freight_original(), cny("6.15"));
    let ids: Vec<&str> = order.lines().iter().map(|l| l.id().as_str()).collect();
    assert_eq!(
        ids,
        [
            "2198111437768747371",
            "2198111437768747372",
            "2198111437768747373"
        ]
    );
    let l1 = &order.lines()[0];
    assert_eq!(
        (l1.original_total(), l1.current_total()),
        (cny("0.3"), cny("0.3"))
    );
    let l2 = &order.lines()[1];
    assert_eq!(
        (l2.original_total(), l2.current_total()),
        (cny("0.1"), cny("0.05"))
    );
    assert_eq!(l2.quantity().value().to_string(), "2");
    assert!(order.lines()[2].is_closed());
    assert!(!l1.is_closed());

    // An unknown order is NotFound, with the code verbatim.
    let e = OrderSource::fetch(&platform, &OrderId::new("2198111437768747999").unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::NotFound);
    assert_eq!(e.code(), Some("ORDER_NOT_EXIST"));
}

#[tokio::test]
async fn each_business_result_code_maps_and_is_not_retried() {
    let (_sb, em) = sandbox(Open1688Settings::default()).await;
    seed(&em);
    let mut paid = Open1688Order::awaiting_payment(ORDER_ID + 10, 0, &[(E1 + 10, 100)]);
    paid.status = "waitsellersend".into();
    em.seed_order(paid);
    let mut other_type = Open1688Order::awaiting_payment(ORDER_ID + 20, 0, &[(E1 + 20, 100)]);
    other_type.trade_type = "50060".into();
    em.seed_order(other_type);
    let c = client(&em);
    let cases = [
        (
            req(ORDER_ID + 1, 0, &[]),
            "FAIL_BIZ_TRADING_ORDER_NOT_EXIST",
            PlatformErrorKind::NotFound,
        ),
        (
            req(ORDER_ID + 10, 0, &[(E1 + 10, -1)]),
            "FAIL_BIZ_TRADING_ORDER_STATUS_ERROR",
            PlatformErrorKind::WrongState,
        ),
        (
            req(ORDER_ID + 20, 0, &[(E1 + 20, -1)]),
            "FAIL_BIZ_TRADING_MODIFY_PRICE_ERROR",
            PlatformErrorKind::RejectedByRule,
        ),
        (
            req(ORDER_ID, 500, &[(E1, 1)]),
            "FAIL_BIZ_TRADING_MODIFY_PRICE_ERROR",
            PlatformErrorKind::RejectedByRule,
        ),
        (
            req(ORDER_ID, 500, &[(E3, -1)]),
            "FAIL_BIZ_TRADING_ORDER_ENTRY_STATUS_ERROR",
            PlatformErrorKind::Conflict,
        ),
        (
            req(ORDER_ID, 500, &[(E1 + 100, -1)]),
            "FAIL_BIZ_TRADING_INVALID_PARAM",
            PlatformErrorKind::InvalidRequest,
        ),
    ];
    for (request, code, kind) in cases {
        let (e, calls) = refused(&em, &c, &request).await;
        assert_eq!(e.code(), Some(code), "{e}");
        assert_eq!(e.kind(), kind, "{code}");
        assert!(!e.message().is_empty(), "message kept verbatim");
        assert_eq!(calls, 1, "{code} is not retried");
    }
    assert_eq!(em.order(ORDER_ID).unwrap().changes, 0);
}

#[tokio::test]
async fn system_error_and_busy_gateway_are_retried_to_success() {
    for busy in [Open1688BusyReply::SystemError, Open1688BusyReply::Gateway] {
        let (_sb, em) = sandbox(Open1688Settings {
            busy_reply: busy,
            ..Open1688Settings::default()
        })
        .await;
        seed(&em);
        em.fail_next(Fault::Busy, 2);
        client(&em)
            .modify_order_price(&req(ORDER_ID, 500, &[(E1, -1)]))
            .await
            .unwrap();
        assert_eq!(em.stats().total_requests, 3, "{busy:?}");
        // With no retries the failure surfaces as transient, with its code.
        em.fail_next(Fault::Busy, 1);
        let c = Open1688Client::new(
            http(),
            config(&em, APP_KEY, SECRET, TOKEN).with_retry(RetryPolicy::never()),
        );
        let (e, _) = refused(&em, &c, &req(ORDER_ID, 500, &[(E1, -1)])).await;
        assert_eq!(e.kind(), PlatformErrorKind::Transient);
        let code = match busy {
            Open1688BusyReply::SystemError => "FAIL_BIZ_TRADING_SYSTEM_ERROR",
            Open1688BusyReply::Gateway => "gw.ServiceUnavailable",
        };
        assert_eq!(e.code(), Some(code));
    }
}

#[tokio::test]
async fn each_gateway_error_maps() {
    let (_sb, em) = sandbox(Open1688Settings {
        apps: vec![
            Open1688App {
                app_key: APP_KEY.into(),
                secret: SECRET.into(),
                tokens: vec![TOKEN.into()],
                quota: None,
            },
            Open1688App {
                app_key: "spent-app".into(),
                secret: SECRET.into(),
                tokens: vec![TOKEN.into()],
                quota: Some(0),
            },
        ],
        ..Open1688Settings::default()
    })
    .await;
    seed(&em);
    let r = req(ORDER_ID, 500, &[(E1, -1)]);
    let never =
        |cfg: Open1688Config| Open1688Client::new(http(), cfg.with_retry(RetryPolicy::never()));
    let cases = [
        (
            never(config(&em, "nobody", SECRET, TOKEN)),
            "gw.AppKeyNotFound",
            PlatformErrorKind::Unauthorised,
        ),
        (
            never(config(&em, APP_KEY, "wrong-secret", TOKEN)),
            "gw.SignatureInvalid",
            PlatformErrorKind::Unauthorised,
        ),
        (
            never(config(&em, APP_KEY, SECRET, "wrong-token")),
            "gw.AccessTokenInvalid",
            PlatformErrorKind::Unauthorised,
        ),
        (
            never(config(&em, "spent-app", SECRET, TOKEN)),
            "gw.NoUsageLeftError",
            PlatformErrorKind::QuotaExhausted,
        ),
        (
            never(config(&em, APP_KEY, SECRET, TOKEN)).with_clock(Arc::new(FixedClock(
                Timestamp::from_millis(1_700_000_000_000),
            ))),
            "gw.TimestampInvalid",
            PlatformErrorKind::InvalidRequest,
        ),
    ];
    for (c, code, kind) in cases {
        let (e, calls) = refused(&em, &c, &r).await;
        assert_eq!(e.code(), Some(code), "{e}");
        assert_eq!(e.kind(), kind, "{code}");
        assert_eq!(calls, 1);
    }

    // A request missing a business parameter, signed correctly.
    let c = client(&em);
    let path = url_path(
        1,
        "cn.alibaba.open",
        "trade.order.modifyOrderPrice",
        APP_KEY,
    );
    let mut business = r.params();
    business.retain(|(k, _)| *k != "entryDiscounts");
    let form = c.signed_form(&path, &business, Clock::now(&transport_core::SystemClock));
    let e = decode_modify_reply(&post_form(&em, &path, &form).await, &[]).unwrap_err();
    assert_eq!(e.code(), Some("gw.MissingParameter"));
    assert_eq!(e.kind(), PlatformErrorKind::InvalidRequest);

    // An API the app may not call.
    let path = url_path(1, "cn.alibaba.open", "trade.order.cancel", APP_KEY);
    let form = c.signed_form(&path, &business, Clock::now(&transport_core::SystemClock));
    let e = decode_modify_reply(&post_form(&em, &path, &form).await, &[]).unwrap_err();
    assert_eq!(e.code(), Some("gw.APIACLDecline"));
    assert_eq!(e.kind(), PlatformErrorKind::Unauthorised);
}

#[tokio::test]
async fn an_unpaced_burst_gets_the_frequency_limit_as_retryable() {
    let (_sb, em) = sandbox(Open1688Settings {
        rate_limit_per_second: Some(2),
        ..Open1688Settings::default()
    })
    .await;
    seed(&em);
    let c = Open1688Client::new(
        http(),
        config(&em, APP_KEY, SECRET, TOKEN).with_retry(RetryPolicy::never()),
    );
    let mut last = None;
    for _ in 0..4 {
        if let Err(e) = c.modify_order_price(&req(ORDER_ID, 500, &[(E1, -1)])).await {
            last = Some(e);
        }
    }
    let e = last.expect("4 unpaced calls against 2/s");
    assert_eq!(e.code(), Some("gw.QosAppFrequencyLimit"));
    assert_eq!(e.kind(), PlatformErrorKind::RateLimited);
    assert!(e.retryable());
}

#[tokio::test]
async fn transport_faults_are_retried_and_bad_bodies_are_protocol_errors() {
    let (_sb, em) = sandbox(Open1688Settings::default()).await;
    seed(&em);
    let c = client(&em);
    em.fail_next(Fault::Http500, 1);
    em.fail_next(Fault::DropConnection, 1);
    c.modify_order_price(&req(ORDER_ID, 400, &[(E1, -300)]))
        .await
        .unwrap();
    let outcomes: Vec<String> = em.calls().into_iter().map(|c| c.outcome).collect();
    assert_eq!(outcomes, ["fault:http500", "fault:drop_connection", "ok"]);
    assert_eq!(em.order(ORDER_ID).unwrap().entries[0].discount, -300);
    for fault in [Fault::MalformedBody, Fault::TruncatedBody] {
        em.fail_next(fault, 1);
        let (e, calls) = refused(&em, &c, &req(ORDER_ID, 500, &[(E1, -1)])).await;
        assert_eq!(e.kind(), PlatformErrorKind::Protocol, "{fault:?}: {e}");
        assert_eq!(calls, 1, "a protocol error is not retried");
    }
}

#[tokio::test]
async fn secrets_never_in_errors_or_debug() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/openapi", l.local_addr().unwrap());
    drop(l);
    let cfg = Open1688Config::new(
        APP_KEY,
        SecretString::from(SECRET),
        SecretString::from(TOKEN),
    )
    .with_base_url(base)
    .with_rate_limit(None)
    .with_retry(fast_retry(2));
    let c = Open1688Client::new(http(), cfg.clone());
    let e = c
        .modify_order_price(&req(ORDER_ID, 0, &[]))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::Transient);
    assert_no_secret(&e);
    for text in [format!("{c:?}"), format!("{cfg:?}")] {
        assert!(!text.contains(TOKEN) && !text.contains(SECRET), "{text}");
    }
    let p = Open1688Platform::new(c);
    assert!(!format!("{p:?}").contains(TOKEN));
}
