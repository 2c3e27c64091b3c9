//! WeChat Shop transport over real HTTP against the `order-sandbox` emulator.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use transport_core::ClientConfig as _;

use async_trait::async_trait;
use order_domain::{
    Amendment, Order, OrderPlatform, PlatformError, PlatformErrorKind, ViolationCode, plan,
};
use order_sandbox::{
    Fault, Sandbox, WechatApp, WechatEmulator, WechatOrder, WechatQuota, WechatSettings,
};
use transport_core::{HttpClient, HttpConfig, RetryPolicy, SecretString};
use transport_wechat_shop::{
    ChangeOrderInfo, ChangeOrderPriceError, ChangeOrderPriceFailure, ChangeOrderPriceRequest,
    StaticToken, TokenSource, WechatConfig, WechatShopClient, WechatShopPlatform,
};

const APPID: &str = "wx-sandbox-app";
const SECRET: &str = "sandbox-secret";
const BIG_ORDER: u64 = 3_705_115_058_471_208_928;
const BIG_PRODUCT: u64 = 9_007_199_254_740_993; // 2^53 + 1
const BIG_SKU: u64 = 18_446_744_073_709_551_615; // u64::MAX

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

async fn sandbox(settings: WechatSettings) -> (Sandbox, WechatEmulator) {
    let sb = Sandbox::builder()
        .seed(42)
        .wechat(settings)
        .start()
        .await
        .unwrap();
    let em = sb.wechat().unwrap().clone();
    (sb, em)
}

fn config(em: &WechatEmulator, appid: &str) -> WechatConfig {
    WechatConfig::new(appid, SecretString::from(SECRET))
        .with_base_url(em.base_url())
        .with_rate_limit(None)
        .with_retry(fast_retry(4))
}

fn client(em: &WechatEmulator) -> WechatShopClient {
    WechatShopClient::new(http(), config(em, APPID))
}

/// Emulator order 1001: lines (1, 11, 30.00) and (2, 22, 20.00), freight 5.00.
fn seed_1001(em: &WechatEmulator) {
    em.seed_order(WechatOrder::awaiting_payment(
        1001,
        500,
        &[(1, 11, 3000), (2, 22, 2000)],
    ));
}

/// The domain's snapshot of order 1001 with `count` revisions so far.
fn order_1001(count: u32) -> Order {
    serde_json::from_str(&format!(
        r#"{{"id": "1001", "status": "awaiting_payment", "currency": "CNY",
            "lines": [
              {{"id": "L1", "product": "1", "sku": "11", "original_total": "30.00"}},
              {{"id": "L2", "product": "2", "sku": "22", "original_total": "20.00"}}
            ],
            "freight": {{"original": "5.00"}},
            "revision": {{"count": {count}}}}}"#
    ))
    .unwrap()
}

fn amend(json: &str) -> Amendment {
    serde_json::from_str(json).unwrap()
}

fn req(
    order_id: u64,
    infos: &[(u64, u64, i64)],
    express_fee: Option<i64>,
) -> ChangeOrderPriceRequest {
    ChangeOrderPriceRequest {
        order_id,
        change_express: express_fee.is_some(),
        express_fee,
        change_order_infos: infos
            .iter()
            .map(|&(product_id, sku_id, change_price)| ChangeOrderInfo {
                product_id,
                sku_id,
                change_price,
            })
            .collect(),
    }
}

/// Neither the app secret nor any access token the emulator issued may appear in an error.
fn assert_no_secret(e: &(impl std::fmt::Display + std::fmt::Debug), extra: &[&str]) {
    let text = format!("{e} {e:?}");
    assert!(!text.contains(SECRET), "secret leaked: {text}");
    assert!(!text.contains("sbx_"), "token leaked: {text}");
    for s in extra {
        assert!(!text.contains(s), "{s} leaked: {text}");
    }
}

#[tokio::test]
async fn plan_applied_end_to_end_with_zero_freight_sent() {
    let (_sb, em) = sandbox(WechatSettings::default()).await;
    seed_1001(&em);
    let platform = WechatShopPlatform::new(client(&em));
    assert_eq!(platform.name(), "wechat-shop");
    let order = order_1001(0);
    let p = plan(
        &order,
        &amend(r#"{"lines": {"L1": "25.50"}, "freight": "0"}"#),
        platform.policy(),
    )
    .unwrap();
    let receipt = platform.apply(&order, &p).await.unwrap();
    assert!(
        receipt.raw_reply.contains("\"errcode\":0"),
        "{}",
        receipt.raw_reply
    );
    let now = em.order(1001).unwrap();
    assert_eq!(now.lines[0].current_total, 2550);
    assert_eq!(now.lines[1].current_total, 2000, "unnamed line untouched");
    assert_eq!(now.express_fee, 0, "express_fee 0 was sent and applied");
    assert_eq!(now.revisions, 1);
    // The emulator defaults a missing express_fee to 0 too, so prove 0 travelled: with freight
    // not in the plan, change_express is false and freight stays.
    seed_1001(&em);
    let p = plan(
        &order,
        &amend(r#"{"lines": {"L2": "19.00"}}"#),
        platform.policy(),
    )
    .unwrap();
    platform.apply(&order, &p).await.unwrap();
    assert_eq!(em.order(1001).unwrap().express_fee, 500);
}

#[tokio::test]
async fn ids_above_2_pow_53_survive_the_wire() {
    let (_sb, em) = sandbox(WechatSettings::default()).await;
    em.seed_order(WechatOrder::awaiting_payment(
        BIG_ORDER,
        0,
        &[(BIG_PRODUCT, BIG_SKU, 10_000)],
    ));
    let order: Order = serde_json::from_str(&format!(
        r#"{{"id": "{BIG_ORDER}", "status": "awaiting_payment", "currency": "CNY",
            "lines": [{{"id": "L", "product": "{BIG_PRODUCT}", "sku": "{BIG_SKU}", "original_total": "100.00"}}]}}"#
    ))
    .unwrap();
    let platform = WechatShopPlatform::new(client(&em));
    let p = plan(
        &order,
        &amend(r#"{"lines": {"L": "99.99"}}"#),
        platform.policy(),
    )
    .unwrap();
    platform.apply(&order, &p).await.unwrap();
    let now = em.order(BIG_ORDER).unwrap();
    assert_eq!(now.lines[0].current_total, 9_999);
    assert_eq!(
        em.calls()[0].order_id.as_deref(),
        Some("3705115058471208928")
    );
}

#[tokio::test]
async fn the_51st_change_is_refused_by_the_domain_then_by_the_emulator_if_forced() {
    let (_sb, em) = sandbox(WechatSettings::default()).await;
    let mut o = WechatOrder::awaiting_payment(1001, 500, &[(1, 11, 3000), (2, 22, 2000)]);
    o.revisions = 50;
    em.seed_order(o);
    let platform = WechatShopPlatform::new(client(&em));

    // The snapshot says 50: the plan is refused and nothing is sent.
    let rejection = plan(
        &order_1001(50),
        &amend(r#"{"lines": {"L1": "25.00"}}"#),
        platform.policy(),
    )
    .unwrap_err();
    assert!(rejection.has(ViolationCode::RevisionLimitReached));
    assert_eq!(em.stats().total_requests, 0);

    // A stale snapshot (49) lets the plan through; the emulator refuses with 108022, once.
    let order = order_1001(49);
    let p = plan(
        &order,
        &amend(r#"{"lines": {"L1": "25.00"}}"#),
        platform.policy(),
    )
    .unwrap();
    let e = platform.apply(&order, &p).await.unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::RejectedByRule);
    assert_eq!(e.code(), Some("108022"));
    assert_eq!(em.stats().total_requests, 1);
    assert_no_secret(&e, &[]);
}

#[tokio::test]
async fn a_raise_is_refused_before_any_request() {
    let (_sb, em) = sandbox(WechatSettings::default()).await;
    seed_1001(&em);
    let policy = transport_wechat_shop::policy();
    let r = plan(
        &order_1001(0),
        &amend(r#"{"lines": {"L1": "30.01"}}"#),
        &policy,
    )
    .unwrap_err();
    assert!(r.has(ViolationCode::PriceRaiseForbidden));
    let r = plan(&order_1001(0), &amend(r#"{"freight": "6.00"}"#), &policy).unwrap_err();
    assert!(r.has(ViolationCode::PriceRaiseForbidden));
    assert_eq!(em.stats().total_requests, 0);
}

/// Runs `request` once through a client with `retry`, and returns the error and the number of
/// business calls the emulator saw.
async fn refused(
    em: &WechatEmulator,
    client: &WechatShopClient,
    request: &ChangeOrderPriceRequest,
) -> (PlatformError, u64) {
    let before = em.stats().total_requests;
    let e = client.change_order_price(request).await.unwrap_err();
    assert_no_secret(&e, &[]);
    (e.into(), em.stats().total_requests - before)
}

#[tokio::test]
async fn every_documented_business_errcode_maps_and_is_not_retried() {
    let (_sb, em) = sandbox(WechatSettings::default()).await;
    seed_1001(&em);
    let mut paid = WechatOrder::awaiting_payment(1002, 500, &[(1, 11, 3000)]);
    paid.status = "paid".into();
    em.seed_order(paid);
    let mut at_limit = WechatOrder::awaiting_payment(1003, 500, &[(1, 11, 3000)]);
    at_limit.revisions = 50;
    em.seed_order(at_limit);
    let c = client(&em);

    let cases: Vec<(ChangeOrderPriceRequest, &str, PlatformErrorKind)> = vec![
        (
            req(1001, &[(9, 99, 100)], None),
            "9401020",
            PlatformErrorKind::InvalidRequest,
        ),
        (
            req(1002, &[(1, 11, 100)], None),
            "101100",
            PlatformErrorKind::WrongState,
        ),
        (
            req(1001, &[(1, 11, 3001)], None),
            "108021",
            PlatformErrorKind::RejectedByRule,
        ),
        (
            req(1001, &[], Some(501)),
            "108021",
            PlatformErrorKind::RejectedByRule,
        ),
        (
            req(1003, &[(1, 11, 100)], None),
            "108022",
            PlatformErrorKind::RejectedByRule,
        ),
        (
            req(1001, &[(1, 11, 0), (2, 22, 0)], Some(0)),
            "108023",
            PlatformErrorKind::RejectedByRule,
        ),
        (
            req(999_999, &[(1, 11, 100)], None),
            "100002",
            PlatformErrorKind::NotFound,
        ),
    ];
    for (request, code, kind) in cases {
        let (e, calls) = refused(&em, &c, &request).await;
        assert_eq!(e.code(), Some(code), "{e}");
        assert_eq!(e.kind(), kind, "{e}");
        assert!(!e.message().is_empty(), "errmsg kept verbatim");
        assert_eq!(calls, 1, "{code} must not be retried");
    }
    assert_eq!(em.order(1001).unwrap().revisions, 0, "nothing applied");
}

#[tokio::test]
async fn no_permission_is_unauthorised() {
    let (_sb, em) = sandbox(WechatSettings::default()).await;
    seed_1001(&em);
    let c = WechatShopClient::new(http(), config(&em, "wx-sandbox-noperm"));
    let (e, calls) = refused(&em, &c, &req(1001, &[(1, 11, 100)], None)).await;
    assert_eq!(e.code(), Some("9401021"));
    assert_eq!(e.kind(), PlatformErrorKind::Unauthorised);
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn the_typed_client_returns_the_generated_error_and_the_platform_gets_a_platform_error() {
    let (_sb, em) = sandbox(WechatSettings::default()).await;
    let mut paid = WechatOrder::awaiting_payment(1002, 500, &[(1, 11, 3000)]);
    paid.status = "paid".into();
    em.seed_order(paid);
    let c = client(&em);
    let e = c
        .change_order_price(&req(1002, &[(1, 11, 100)], None))
        .await
        .unwrap_err();
    let ChangeOrderPriceFailure::Refused { error, domain } = &e else {
        panic!("a refusal: {e:?}");
    };
    assert!(
        matches!(error, ChangeOrderPriceError::OrderNotAwaitingPayment { .. }),
        "{error:?}"
    );
    assert_eq!(error.code(), "101100");
    assert_eq!(domain.kind(), PlatformErrorKind::WrongState);
    assert_eq!(PlatformError::from(e.clone()), **domain);
    // An undocumented code is the generated enum's catch-all, code and message verbatim.
    let c = WechatShopClient::with_token_source(
        http(),
        config(&em, APPID),
        Arc::new(StaticToken(SecretString::from(""))),
    );
    let e = c
        .change_order_price(&req(1002, &[(1, 11, 100)], None))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            ChangeOrderPriceFailure::Refused {
                error: ChangeOrderPriceError::Unknown { code, .. },
                ..
            } if code == "41001"
        ),
        "{e:?}"
    );
    // No platform answer: the domain's error as it came, untyped.
    em.fail_next(Fault::Http500, 10);
    let e = client(&em)
        .change_order_price(&req(1002, &[(1, 11, 100)], None))
        .await
        .unwrap_err();
    assert!(matches!(e, ChangeOrderPriceFailure::Unanswered(_)), "{e:?}");
    assert_eq!(e.kind(), PlatformErrorKind::Transient);
    em.clear_faults();
}

#[tokio::test]
async fn token_too_long_and_undocumented_codes() {
    let (_sb, em) = sandbox(WechatSettings::default()).await;
    seed_1001(&em);
    let long = "t".repeat(600);
    let c = WechatShopClient::with_token_source(
        http(),
        config(&em, APPID),
        Arc::new(StaticToken(SecretString::from(long.clone()))),
    );
    let (e, calls) = refused(&em, &c, &req(1001, &[(1, 11, 100)], None)).await;
    assert_eq!(e.code(), Some("-2"));
    assert_eq!(e.kind(), PlatformErrorKind::InvalidRequest);
    assert_eq!(calls, 1);
    assert_no_secret(&e, &[&long]);

    // 41001 (token missing) is not in the page's table: code and message are kept.
    let c = WechatShopClient::with_token_source(
        http(),
        config(&em, APPID),
        Arc::new(StaticToken(SecretString::from(""))),
    );
    let (e, calls) = refused(&em, &c, &req(1001, &[(1, 11, 100)], None)).await;
    assert_eq!(e.code(), Some("41001"));
    assert!(e.message().contains("access_token missing"), "{e}");
    assert!(!e.retryable());
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn system_busy_is_retried_to_success_and_bounded() {
    let (_sb, em) = sandbox(WechatSettings::default()).await;
    seed_1001(&em);
    let c = client(&em); // 4 attempts
    em.fail_next(Fault::Busy, 2);
    c.change_order_price(&req(1001, &[(1, 11, 2900)], None))
        .await
        .unwrap();
    assert_eq!(em.stats().total_requests, 3);

    em.fail_next(Fault::Busy, 10);
    let (e, calls) = refused(&em, &c, &req(1001, &[(1, 11, 2800)], None)).await;
    assert_eq!(e.code(), Some("-1"));
    assert_eq!(e.kind(), PlatformErrorKind::Transient);
    assert_eq!(calls, 4, "bounded by max_attempts");
    em.clear_faults();
}

#[tokio::test]
async fn daily_quota_45009_is_quota_exhausted_never_retried_and_says_when_it_resets() {
    let (_sb, em) = sandbox(WechatSettings::default()).await;
    seed_1001(&em);
    let c = client(&em); // 4 attempts
    // Fetch the token first so only business calls are counted.
    c.change_order_price(&req(1001, &[(1, 11, 2900)], None))
        .await
        .unwrap();
    em.exceed_quota(WechatQuota::Daily, 3);
    let (e, calls) = refused(&em, &c, &req(1001, &[(1, 11, 2800)], None)).await;
    assert_eq!(e.code(), Some("45009"));
    assert_eq!(e.kind(), PlatformErrorKind::QuotaExhausted);
    assert!(!e.retryable());
    assert_eq!(calls, 1, "a used-up daily quota is not retried");
    assert_eq!(e.message(), "reach max api daily quota limit");
    let detail = e.detail().expect("the merchant is told what to do");
    assert!(detail.contains("next day"), "{detail}");
    assert!(detail.contains("/cgi-bin/clear_quota"), "{detail}");
    assert_eq!(em.order(1001).unwrap().lines[0].current_total, 2900);
}

#[tokio::test]
async fn minute_quota_45011_is_rate_limited_and_retried_to_success() {
    let (_sb, em) = sandbox(WechatSettings::default()).await;
    seed_1001(&em);
    let c = client(&em); // 4 attempts
    c.change_order_price(&req(1001, &[(1, 11, 2900)], None))
        .await
        .unwrap();
    let before = em.stats().total_requests;
    em.exceed_quota(WechatQuota::Minute, 2);
    c.change_order_price(&req(1001, &[(1, 11, 2800)], None))
        .await
        .unwrap();
    assert_eq!(
        em.stats().total_requests - before,
        3,
        "two 45011, then success"
    );
    assert_eq!(em.order(1001).unwrap().lines[0].current_total, 2800);

    em.exceed_quota(WechatQuota::Minute, 10);
    let (e, calls) = refused(&em, &c, &req(1001, &[(1, 11, 2700)], None)).await;
    assert_eq!(e.code(), Some("45011"));
    assert_eq!(e.kind(), PlatformErrorKind::RateLimited);
    assert!(e.retryable());
    assert_eq!(calls, 4, "bounded by max_attempts");
}

#[tokio::test]
async fn transport_faults_are_retried_to_success() {
    let (_sb, em) = sandbox(WechatSettings::default()).await;
    seed_1001(&em);
    let c = WechatShopClient::new(http(), config(&em, APPID).with_retry(fast_retry(5)));
    em.fail_next(Fault::Http500, 2);
    em.fail_next(Fault::DropConnection, 1);
    c.change_order_price(&req(1001, &[(1, 11, 2900)], None))
        .await
        .unwrap();
    assert_eq!(em.stats().total_requests, 4);
    assert_eq!(em.order(1001).unwrap().lines[0].current_total, 2900);
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
}

#[tokio::test]
async fn malformed_and_truncated_replies_are_protocol_errors() {
    let (_sb, em) = sandbox(WechatSettings::default()).await;
    seed_1001(&em);
    let c = client(&em);
    for fault in [Fault::MalformedBody, Fault::TruncatedBody] {
        em.fail_next(fault, 1);
        let (e, calls) = refused(&em, &c, &req(1001, &[(1, 11, 2900)], None)).await;
        assert_eq!(e.kind(), PlatformErrorKind::Protocol, "{fault:?}: {e}");
        assert_eq!(calls, 1, "a protocol error is not retried");
    }
}

#[tokio::test]
async fn token_refreshed_once_on_40001_and_42001_then_success() {
    let (_sb, em) = sandbox(WechatSettings::default()).await;
    seed_1001(&em);
    let c = client(&em);
    c.change_order_price(&req(1001, &[(1, 11, 2900)], None))
        .await
        .unwrap();
    em.invalidate_tokens();
    c.change_order_price(&req(1001, &[(1, 11, 2800)], None))
        .await
        .unwrap();
    em.expire_tokens();
    c.change_order_price(&req(1001, &[(1, 11, 2700)], None))
        .await
        .unwrap();
    let outcomes: Vec<String> = em.calls().into_iter().map(|c| c.outcome).collect();
    assert_eq!(
        outcomes,
        ["ok", "rejected:40001", "ok", "rejected:42001", "ok"]
    );
    assert_eq!(em.order(1001).unwrap().lines[0].current_total, 2700);
}

/// A token source that never has a valid token and counts refreshes.
#[derive(Debug, Default)]
struct BadTokens {
    refreshes: AtomicU32,
}

#[async_trait]
impl TokenSource for BadTokens {
    async fn token(&self) -> Result<SecretString, PlatformError> {
        Ok(SecretString::from("bogus-token-1"))
    }
    async fn refresh(&self, _rejected: &SecretString) -> Result<SecretString, PlatformError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        Ok(SecretString::from("bogus-token-2"))
    }
}

#[tokio::test]
async fn a_failed_refresh_ends_as_unauthorised_after_exactly_one_retry() {
    let (_sb, em) = sandbox(WechatSettings::default()).await;
    seed_1001(&em);
    let tokens = Arc::new(BadTokens::default());
    let c = WechatShopClient::with_token_source(http(), config(&em, APPID), tokens.clone());
    let (e, calls) = refused(&em, &c, &req(1001, &[(1, 11, 100)], None)).await;
    assert_eq!(e.code(), Some("40014"));
    assert_eq!(e.kind(), PlatformErrorKind::Unauthorised);
    assert_eq!(tokens.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(calls, 2, "the call and its one resend");
    assert_no_secret(&e, &["bogus-token"]);
}

#[tokio::test]
async fn wrong_secret_fails_at_the_token_endpoint_without_leaking_it() {
    let (_sb, em) = sandbox(WechatSettings::default()).await;
    seed_1001(&em);
    let mut cfg = config(&em, APPID);
    cfg.secret = SecretString::from("wrong-secret-xyz");
    let c = WechatShopClient::new(http(), cfg);
    let (e, calls) = refused(&em, &c, &req(1001, &[(1, 11, 100)], None)).await;
    assert_eq!(e.kind(), PlatformErrorKind::Unauthorised);
    assert_eq!(e.code(), Some("40125"));
    assert_eq!(calls, 0, "never reached the business endpoint");
    assert_no_secret(&e, &["wrong-secret-xyz"]);
    assert!(!format!("{c:?}").contains("wrong-secret-xyz"));
}

#[tokio::test]
async fn emulator_rate_limit_reaches_the_caller_only_when_the_client_does_not_pace() {
    let settings = WechatSettings {
        rate_limit_per_second: Some(2),
        ..WechatSettings::default()
    };
    let (_sb, em) = sandbox(settings).await;
    seed_1001(&em);
    let c = WechatShopClient::new(http(), config(&em, APPID).with_retry(RetryPolicy::never()));
    let mut last = None;
    for _ in 0..4 {
        if let Err(e) = c
            .change_order_price(&req(1001, &[(1, 11, 2900)], None))
            .await
        {
            last = Some(e);
        }
    }
    let e = last.expect("4 unpaced calls against 2/s");
    assert_eq!(e.code(), Some("45011"));
    assert_eq!(e.kind(), PlatformErrorKind::RateLimited);
    assert!(e.retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturating_burst_never_gets_a_rate_limit_reply() {
    let (_sb, em) = sandbox(WechatSettings::default()).await; // 20/s per appid
    for i in 0..30u64 {
        em.seed_order(WechatOrder::awaiting_payment(5000 + i, 0, &[(1, 11, 1000)]));
    }
    let c = WechatShopClient::new(
        http(),
        config(&em, APPID)
            .with_rate_limit(Some(20))
            .with_retry(RetryPolicy::never()),
    );
    // Fetch the token first so the burst measures the business endpoint only.
    c.change_order_price(&req(5000, &[(1, 11, 999)], None))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 1..30u64 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.change_order_price(&req(5000 + i, &[(1, 11, 900)], None))
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let stats = em.stats();
    assert_eq!(stats.total_requests, 30);
    assert_eq!(stats.rate_limited, 0);
}

#[tokio::test]
async fn connection_failures_never_show_secrets() {
    // A port nobody listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let cfg = WechatConfig::new(APPID, SecretString::from(SECRET))
        .with_base_url(base.clone())
        .with_retry(fast_retry(2));
    // Token endpoint unreachable (its URL carries the secret).
    let c = WechatShopClient::new(http(), cfg.clone());
    let e = c
        .change_order_price(&req(1, &[(1, 1, 1)], None))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::Transient);
    assert_no_secret(&e, &[]);
    // Business endpoint unreachable (its URL carries the token).
    let c = WechatShopClient::with_token_source(
        http(),
        cfg,
        Arc::new(StaticToken(SecretString::from("sbx_static_token"))),
    );
    let e = c
        .change_order_price(&req(1, &[(1, 1, 1)], None))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::Transient);
    assert_no_secret(&e, &[]);
    assert!(!format!("{c:?}").contains(SECRET));
}

#[tokio::test]
async fn concurrent_callers_share_one_token_fetch() {
    let (_sb, em) = sandbox(WechatSettings {
        apps: vec![WechatApp {
            appid: APPID.into(),
            secret: SECRET.into(),
            permitted: true,
        }],
        ..WechatSettings::default()
    })
    .await;
    seed_1001(&em);
    let c = client(&em);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.change_order_price(&req(1001, &[(1, 11, 2900)], None))
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // Had two callers each fetched a token, the first token would have been superseded and
    // some call would have seen 40001.
    assert!(em.calls().iter().all(|c| c.outcome == "ok"));
}
