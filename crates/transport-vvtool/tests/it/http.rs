//! vv-tool transport over real HTTP against the `order-sandbox` emulator, plus canned replies
//! for the envelope codes the emulator never sends.

use std::time::Duration;
use transport_core::ClientConfig as _;

use order_domain::{
    Amendment, Order, OrderPlatform, PlatformError, PlatformErrorKind, ViolationCode, plan,
};
use order_sandbox::{
    Fault, Sandbox, VvtoolBusyReply, VvtoolEmulator, VvtoolOrder, VvtoolSettings, VvtoolToken,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use transport_core::{HttpClient, HttpConfig, RetryPolicy, SecretString};
use transport_vvtool::{
    EntryDiscount, ModifyOrderPriceFailure, ModifyOrderPriceRefusal, ModifyOrderPriceRequest,
    ModifyOrderPriceResultError, VvtoolClient, VvtoolConfig, VvtoolPlatform,
};

const TOKEN: &str = "vv-sandbox-token";
const SHOP: &str = "sandbox-shop";
const ORDER_ID: u64 = 2_198_111_437_768_747_370; // above 2^53
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

async fn sandbox(settings: VvtoolSettings) -> (Sandbox, VvtoolEmulator) {
    let sb = Sandbox::builder()
        .seed(42)
        .vvtool(settings)
        .start()
        .await
        .unwrap();
    let em = sb.vvtool().unwrap().clone();
    (sb, em)
}

fn config(base_url: String, token: &str) -> VvtoolConfig {
    VvtoolConfig::new(SecretString::from(token))
        .with_base_url(base_url)
        .with_rate_limit(None)
        .with_retry(fast_retry(4))
}

fn client(em: &VvtoolEmulator) -> VvtoolClient {
    VvtoolClient::new(http(), config(em.base_url(), TOKEN))
}

/// Emulator order: entries E1 (100.00), E2 (50.00), E3 (20.00, closed); carriage 5.00.
fn seed(em: &VvtoolEmulator) {
    let mut o = VvtoolOrder::awaiting_payment(
        ORDER_ID,
        SHOP,
        500,
        &[(E1, 10_000), (E2, 5_000), (E3, 2_000)],
    );
    o.entries[2].closed = true;
    em.seed_order(o);
}

/// The domain's snapshot of the same order.
fn order() -> Order {
    serde_json::from_str(&format!(
        r#"{{"id": "{ORDER_ID}", "status": "awaiting_payment", "currency": "CNY", "trade_type": "6",
            "lines": [
              {{"id": "{E1}", "original_total": "100.00"}},
              {{"id": "{E2}", "original_total": "50.00"}},
              {{"id": "{E3}", "original_total": "20.00", "closed": true}}
            ],
            "freight": {{"original": "5.00"}}}}"#
    ))
    .unwrap()
}

fn amend(json: &str) -> Amendment {
    serde_json::from_str(json).unwrap()
}

fn req(order_id: u64, carriage: i64, discounts: &[(u64, i64)]) -> ModifyOrderPriceRequest {
    ModifyOrderPriceRequest {
        shop_id: SHOP.into(),
        order_id,
        carriage,
        entry_discounts: discounts
            .iter()
            .map(|&(id, discount)| EntryDiscount { id, discount })
            .collect(),
    }
}

fn assert_no_secret(e: &(impl std::fmt::Display + std::fmt::Debug), token: &str) {
    let text = format!("{e} {e:?}");
    assert!(!text.contains(token), "token leaked: {text}");
}

/// Sends `request`, expects an error, returns it with the number of calls the emulator saw.
async fn refused(
    em: &VvtoolEmulator,
    c: &VvtoolClient,
    request: &ModifyOrderPriceRequest,
) -> (PlatformError, u64) {
    let before = em.stats().total_requests;
    let e = c.modify_order_price(request).await.unwrap_err();
    assert_no_secret(&e, TOKEN);
    (e.into(), em.stats().total_requests - before)
}

#[tokio::test]
async fn plan_applied_end_to_end_with_cost_and_zero_carriage() {
    let (_sb, em) = sandbox(VvtoolSettings::default()).await;
    seed(&em);
    let platform = VvtoolPlatform::new(client(&em), SHOP);
    assert_eq!(platform.name(), "vvtool-1688");
    let o = order();
    let p = plan(
        &o,
        &amend(&format!(
            r#"{{"lines": {{"{E1}": "80.00"}}, "freight": "0"}}"#
        )),
        platform.policy(),
    )
    .unwrap();
    let receipt = platform.apply(&o, &p).await.unwrap();
    assert_eq!(receipt.cost.as_deref(), Some("1"));
    let now = em.order(ORDER_ID).unwrap();
    assert_eq!(
        now.carriage, 0,
        "carriage 0 was sent (the emulator requires the field)"
    );
    assert_eq!(now.entries[0].discount, -2000);
    assert_eq!(now.entries[1].discount, 0);
    assert_eq!(now.changes, 1);
    // The closed entry was not sent (the emulator refuses closed entries).
    assert_eq!(
        em.calls()[0].order_id.as_deref(),
        Some("2198111437768747370")
    );
}

#[tokio::test]
async fn freight_not_in_the_plan_keeps_the_current_carriage() {
    let (_sb, em) = sandbox(VvtoolSettings::default()).await;
    seed(&em);
    let platform = VvtoolPlatform::new(client(&em), SHOP);
    let o = order();
    let p = plan(
        &o,
        &amend(&format!(r#"{{"lines": {{"{E2}": "45.00"}}}}"#)),
        platform.policy(),
    )
    .unwrap();
    platform.apply(&o, &p).await.unwrap();
    let now = em.order(ORDER_ID).unwrap();
    assert_eq!(now.carriage, 500);
    assert_eq!(now.entries[1].discount, -500);
}

#[tokio::test]
async fn a_raise_is_refused_before_any_request() {
    let (_sb, em) = sandbox(VvtoolSettings::default()).await;
    seed(&em);
    let platform = VvtoolPlatform::new(client(&em), SHOP);
    let r = plan(
        &order(),
        &amend(&format!(r#"{{"lines": {{"{E1}": "100.01"}}}}"#)),
        platform.policy(),
    )
    .unwrap_err();
    assert!(r.has(ViolationCode::PriceRaiseForbidden));
    assert_eq!(em.stats().total_requests, 0);
}

#[tokio::test]
async fn business_errors_map_and_are_not_retried() {
    let (_sb, em) = sandbox(VvtoolSettings::default()).await;
    seed(&em);
    let mut paid = VvtoolOrder::awaiting_payment(7, SHOP, 0, &[(71, 1000)]);
    paid.status = "waitsellersend".into();
    em.seed_order(paid);
    let mut wrong_type = VvtoolOrder::awaiting_payment(8, SHOP, 0, &[(81, 1000)]);
    wrong_type.trade_type = 7;
    em.seed_order(wrong_type);
    let c = client(&em);
    // A business refusal is the result table's variant.
    let e = c
        .modify_order_price(&req(1, 0, &[(1, -1)]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            ModifyOrderPriceFailure::Refused {
                error: ModifyOrderPriceRefusal::Result(
                    ModifyOrderPriceResultError::OrderNotExist { .. }
                ),
                ..
            }
        ),
        "{e:?}"
    );
    let cases = [
        (
            req(1, 0, &[(1, -1)]),
            "FAIL_BIZ_TRADING_ORDER_NOT_EXIST",
            PlatformErrorKind::NotFound,
        ),
        (
            req(7, 0, &[(71, -1)]),
            "FAIL_BIZ_TRADING_ORDER_STATUS_ERROR",
            PlatformErrorKind::WrongState,
        ),
        (
            req(8, 0, &[(81, -1)]),
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
            req(ORDER_ID, 500, &[(42, -1)]),
            "FAIL_BIZ_TRADING_INVALID_PARAM",
            PlatformErrorKind::InvalidRequest,
        ),
        (
            req(ORDER_ID, -1, &[]),
            "FAIL_BIZ_TRADING_INVALID_PARAM",
            PlatformErrorKind::InvalidRequest,
        ),
    ];
    for (request, code, kind) in cases {
        let (e, calls) = refused(&em, &c, &request).await;
        assert_eq!(e.code(), Some(code), "{e}");
        assert_eq!(e.kind(), kind, "{e}");
        assert!(!e.message().is_empty(), "result_msg kept verbatim");
        assert_eq!(calls, 1, "{code} must not be retried");
    }
    assert_eq!(em.order(ORDER_ID).unwrap().changes, 0);
}

#[tokio::test]
async fn system_error_and_busy_envelopes_are_retried_to_success_and_bounded() {
    for busy in [
        VvtoolBusyReply::Envelope202,
        VvtoolBusyReply::Timeout101,
        VvtoolBusyReply::SystemError,
    ] {
        let (_sb, em) = sandbox(VvtoolSettings {
            busy_reply: busy,
            ..VvtoolSettings::default()
        })
        .await;
        seed(&em);
        let c = client(&em); // 4 attempts
        em.fail_next(Fault::Busy, 2);
        c.modify_order_price(&req(ORDER_ID, 500, &[(E1, -100)]))
            .await
            .unwrap();
        assert_eq!(em.stats().total_requests, 3, "{busy:?}");

        em.fail_next(Fault::Busy, 10);
        let (e, calls) = refused(&em, &c, &req(ORDER_ID, 500, &[(E1, -200)])).await;
        assert_eq!(e.kind(), PlatformErrorKind::Transient, "{busy:?}: {e}");
        let expected = match busy {
            VvtoolBusyReply::Envelope202 => "202",
            VvtoolBusyReply::Timeout101 => "101",
            _ => "FAIL_BIZ_TRADING_SYSTEM_ERROR",
        };
        assert_eq!(e.code(), Some(expected));
        assert_eq!(calls, 4, "bounded by max_attempts");
    }
}

#[tokio::test]
async fn permission_quota_and_unauthorised_shop() {
    let settings = VvtoolSettings {
        tokens: vec![
            VvtoolToken {
                token: TOKEN.into(),
                shops: vec![SHOP.into()],
                quota: Some(1),
                permitted: true,
            },
            VvtoolToken {
                token: "vv-noperm".into(),
                shops: vec![SHOP.into()],
                quota: None,
                permitted: false,
            },
        ],
        ..VvtoolSettings::default()
    };
    let (_sb, em) = sandbox(settings).await;
    seed(&em);

    // No permission for the interface (204, first meaning).
    let noperm = VvtoolClient::new(http(), config(em.base_url(), "vv-noperm"));
    let before = em.stats().total_requests;
    let e = noperm
        .modify_order_price(&req(ORDER_ID, 500, &[(E1, -1)]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("204"));
    assert_eq!(e.kind(), PlatformErrorKind::Unauthorised);
    assert_eq!(em.stats().total_requests - before, 1);
    assert_no_secret(&e, "vv-noperm");
    // The typed client names the envelope code; the domain gets the same as a PlatformError.
    let ModifyOrderPriceFailure::Refused {
        error: ModifyOrderPriceRefusal::Envelope(error),
        domain,
    } = &e
    else {
        panic!("an envelope refusal: {e:?}");
    };
    assert_eq!(error.code(), "204");
    assert_eq!(PlatformError::from(e.clone()), **domain);

    // Shop not authorised (302): the link is kept as detail.
    let c = client(&em);
    let mut other_shop = req(ORDER_ID, 500, &[(E1, -1)]);
    other_shop.shop_id = "other-shop".into();
    let (e, calls) = refused(&em, &c, &other_shop).await;
    assert_eq!(e.code(), Some("302"));
    assert_eq!(e.kind(), PlatformErrorKind::Unauthorised);
    assert_eq!(
        e.detail(),
        Some("https://sandbox.vv-tool.invalid/authorize?shop=other-shop")
    );
    assert!(e.to_string().contains("authorize?shop=other-shop"));
    assert_eq!(calls, 1);

    // Quota of one call: the first succeeds, the second is QuotaExhausted (204, second meaning).
    c.modify_order_price(&req(ORDER_ID, 500, &[(E1, -1)]))
        .await
        .unwrap();
    let (e, calls) = refused(&em, &c, &req(ORDER_ID, 500, &[(E1, -2)])).await;
    assert_eq!(e.code(), Some("204"));
    assert_eq!(e.kind(), PlatformErrorKind::QuotaExhausted);
    assert!(!e.retryable());
    assert_eq!(calls, 1);

    // An unknown token: 204 with a message the page does not list keeps code and message.
    let bad = VvtoolClient::new(http(), config(em.base_url(), "vv-unknown-token"));
    let e = bad
        .modify_order_price(&req(ORDER_ID, 500, &[(E1, -1)]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("204"));
    assert!(e.message().contains("access_token"), "{e}");
    assert!(!e.retryable());
    assert_no_secret(&e, "vv-unknown-token");
}

/// Serves `body` as the reply to every request on a loopback port.
async fn canned(body: &'static str) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = s.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn envelope_codes_the_emulator_never_sends() {
    let cases = [
        (
            r#"{"code":100,"msg":"请求参数错误","msec":1,"time":1617270403,"data":null}"#,
            "100",
            PlatformErrorKind::InvalidRequest,
        ),
        (
            r#"{"code":103,"msg":"旺旺账号不存在","msec":1,"time":1617270403}"#,
            "103",
            PlatformErrorKind::NotFound,
        ),
        (
            r#"{"code":200,"msg":"系统错误,请联系客服","msec":1,"time":1617270403}"#,
            "200",
            PlatformErrorKind::Protocol,
        ),
        (
            r#"{"code":203,"msg":"暂不支持当前接口","msec":1,"time":1617270403}"#,
            "203",
            PlatformErrorKind::Protocol,
        ),
        (
            r#"{"code":"999","msg":"新的错误","msec":1,"time":1617270403}"#,
            "999",
            PlatformErrorKind::Protocol,
        ),
        (
            r#"{"code":302,"msg":"未授权店铺","data":{"url":"https://vv-tool.example/auth?x=1"}}"#,
            "302",
            PlatformErrorKind::Unauthorised,
        ),
    ];
    for (body, code, kind) in cases {
        let base = canned(body).await;
        let c = VvtoolClient::new(http(), config(base, TOKEN));
        let e = c
            .modify_order_price(&req(ORDER_ID, 0, &[]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(code), "{e}");
        assert_eq!(e.kind(), kind, "{e}");
        assert!(!e.message().is_empty());
        assert_no_secret(&e, TOKEN);
        if code == "302" {
            assert_eq!(e.detail(), Some("https://vv-tool.example/auth?x=1"));
        }
    }
    // Success with extra fields and a string cost.
    let base = canned(r#"{"code":0,"msg":"操作成功","msec":1469,"time":1617270403,"data":{"success":true,"withholding_money":"2","new":1}}"#).await;
    let c = VvtoolClient::new(http(), config(base, TOKEN));
    let r = c.modify_order_price(&req(ORDER_ID, 0, &[])).await.unwrap();
    assert_eq!(r.withholding_money.as_deref(), Some("2"));
    assert_eq!(r.msec, Some(1469));
    // Code 0 without data, or data without success: protocol errors.
    for body in [
        r#"{"code":0,"msg":"操作成功"}"#,
        r#"{"code":0,"msg":"操作成功","data":{"withholding_money":1}}"#,
        r#"{"msg":"no code"}"#,
    ] {
        let c = VvtoolClient::new(http(), config(canned(body).await, TOKEN));
        let e = c
            .modify_order_price(&req(ORDER_ID, 0, &[]))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::Protocol, "{body}: {e}");
    }
}

#[tokio::test]
async fn transport_faults_are_retried_to_success() {
    let (_sb, em) = sandbox(VvtoolSettings::default()).await;
    seed(&em);
    let c = VvtoolClient::new(
        http(),
        config(em.base_url(), TOKEN).with_retry(fast_retry(5)),
    );
    em.fail_next(Fault::Http500, 2);
    em.fail_next(Fault::DropConnection, 1);
    c.modify_order_price(&req(ORDER_ID, 400, &[(E1, -300)]))
        .await
        .unwrap();
    let outcomes: Vec<String> = em.calls().into_iter().map(|c| c.outcome).collect();
    assert_eq!(
        outcomes,
        [
            "fault:http500",
            "fault:http500",
            "fault:drop_connection",
            "ok"
        ]
    );
    assert_eq!(em.order(ORDER_ID).unwrap().entries[0].discount, -300);
}

#[tokio::test]
async fn malformed_and_truncated_replies_are_protocol_errors() {
    let (_sb, em) = sandbox(VvtoolSettings::default()).await;
    seed(&em);
    let c = client(&em);
    for fault in [Fault::MalformedBody, Fault::TruncatedBody] {
        em.fail_next(fault, 1);
        let (e, calls) = refused(&em, &c, &req(ORDER_ID, 500, &[(E1, -1)])).await;
        assert_eq!(e.kind(), PlatformErrorKind::Protocol, "{fault:?}: {e}");
        assert_eq!(calls, 1, "a protocol error is not retried");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturating_burst_never_gets_a_rate_limit_reply() {
    let (_sb, em) = sandbox(VvtoolSettings::default()).await; // 10/s per token
    seed(&em);
    let c = VvtoolClient::new(
        http(),
        config(em.base_url(), TOKEN)
            .with_rate_limit(Some(10))
            .with_retry(RetryPolicy::never()),
    );
    let mut tasks = Vec::new();
    for i in 0..20i64 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.modify_order_price(&req(ORDER_ID, 500, &[(E1, -i)])).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let stats = em.stats();
    assert_eq!(stats.total_requests, 20);
    assert_eq!(stats.rate_limited, 0);
}

#[tokio::test]
async fn an_unpaced_burst_gets_the_rate_limit_reply_as_retryable() {
    let (_sb, em) = sandbox(VvtoolSettings {
        rate_limit_per_second: Some(2),
        ..VvtoolSettings::default()
    })
    .await;
    seed(&em);
    let c = VvtoolClient::new(
        http(),
        config(em.base_url(), TOKEN).with_retry(RetryPolicy::never()),
    );
    let mut last = None;
    for _ in 0..4 {
        if let Err(e) = c.modify_order_price(&req(ORDER_ID, 500, &[(E1, -1)])).await {
            last = Some(e);
        }
    }
    let e = last.expect("4 unpaced calls against 2/s");
    assert_eq!(e.code(), Some("202"));
    assert!(e.retryable());
    assert!(em.stats().rate_limited > 0);
}

#[tokio::test]
async fn token_never_in_errors_or_debug() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let c = VvtoolClient::new(http(), config(base, TOKEN).with_retry(fast_retry(2)));
    let e = c
        .modify_order_price(&req(ORDER_ID, 0, &[]))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::Transient);
    assert_no_secret(&e, TOKEN);
    assert!(!format!("{c:?}").contains(TOKEN));
    assert!(!format!("{:?}", config("x".into(), TOKEN)).contains(TOKEN));
}
