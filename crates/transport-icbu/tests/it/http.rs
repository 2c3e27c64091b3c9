//! transport-icbu over real HTTP against the order-sandbox ICBU TOP emulator.

use std::sync::Arc;
use std::time::Duration;
use transport_core::ClientConfig as _;

use order_domain::{
    Amendment, FixedClock, Order, OrderPlatform, PlatformError, PlatformErrorKind, Receipt,
    Timestamp, ViolationCode, plan,
};
use order_sandbox::{Fault, IcbuOrder, IcbuSettings, Sandbox};
use serde_json::{Value, json};
use transport_core::{HttpClient, HttpConfig, RetryPolicy, SecretString};
use transport_icbu::{
    IcbuClient, IcbuConfig, IcbuPlatform, OrderModifyFailure, OrderModifyRefusal,
    OrderModifyRequest, SignMethod, request_from_plan,
};

const TRADE: &str = "24668306501026709";
const APP_KEY: &str = "icbu-app";
const SECRET: &str = "icbu-secret";
const SESSION: &str = "icbu-session";

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        jitter: false,
        ..RetryPolicy::default()
    }
}

async fn sandbox(settings: IcbuSettings, version: &str) -> Sandbox {
    let sb = Sandbox::builder()
        .seed(4)
        .icbu(settings)
        .start()
        .await
        .expect("sandbox starts");
    sb.icbu()
        .expect("icbu enabled")
        .seed_order(IcbuOrder::unpaid(TRADE, version));
    sb
}

fn config(base: &str, secret: &str, session: &str, method: SignMethod) -> IcbuConfig {
    IcbuConfig::new(
        APP_KEY,
        SecretString::from(secret.to_owned()),
        SecretString::from(session.to_owned()),
    )
    .with_base_url(base)
    .with_sign_method(method)
    .with_rate_limit(None)
    .with_retry(fast_retry())
}

fn client(sb: &Sandbox, method: SignMethod) -> IcbuClient {
    client_from(config(
        &sb.icbu().expect("icbu").base_url(),
        SECRET,
        SESSION,
        method,
    ))
}

fn client_from(config: IcbuConfig) -> IcbuClient {
    IcbuClient::new(
        HttpClient::new(&HttpConfig::default()).expect("http client"),
        config,
    )
}

fn order() -> Order {
    serde_json::from_value(json!({
        "id": TRADE, "status": "awaiting_payment", "currency": "USD",
        "lines": [{
            "id": "L1", "product": "62337348461", "sku": "-1", "name": "helloworld",
            "unit": "set", "quantity": "100", "unit_price": "2", "original_total": "200"
        }],
        "freight": {"original": "20"},
        "revision": {"count": 0, "version": "1"},
        "address": {
            "receiver": "james", "country": "United States of America", "province": "New York",
            "city": "New York", "street": "Bank of new york", "zip": "10001",
            "telephone": {"country": "1", "area": "212", "number": "5550100"}
        },
        "logistics": {"shipment_method": "sea", "trade_term": "FOB", "carrier": "DHL",
                      "shipment_date": {"days_after_payment": 5}},
        "payment": {"products": "200", "freight": "20", "total": "220", "initial": "150"}
    }))
    .expect("order")
}

fn amendment(v: Value) -> Amendment {
    serde_json::from_value(v).expect("amendment")
}

async fn apply_with(
    sb: &Sandbox,
    method: SignMethod,
    set: Value,
) -> Result<Receipt, PlatformError> {
    let o = order();
    let p = plan(&o, &amendment(set), &transport_icbu::policy()).expect("plan");
    let platform: Arc<dyn OrderPlatform> = Arc::new(IcbuPlatform::new(client(sb, method)));
    platform.apply(&o, &p).await
}

async fn apply(sb: &Sandbox, set: Value) -> Result<Receipt, PlatformError> {
    apply_with(sb, SignMethod::HmacSha256, set).await
}

fn calls(sb: &Sandbox) -> u64 {
    sb.icbu().expect("icbu").stats().total_requests
}

fn last_modify(sb: &Sandbox) -> Value {
    sb.icbu()
        .unwrap()
        .order(TRADE)
        .unwrap()
        .last_modify
        .expect("a modification was stored")
}

// ---------------------------------------------------------------- successes per part

#[tokio::test]
async fn logistics_change_is_applied_with_everything_else_in_full() {
    let sb = sandbox(IcbuSettings::default(), "1").await;
    let r = apply(
        &sb,
        json!({"logistics": {"shipment_method": "air", "trade_term": "CIF", "carrier": "FedEx",
               "carrier_code": "FDX", "fulfillment_channel": "TAD",
               "shipment_date": {"on": "2024-10-15"}}}),
    )
    .await
    .expect("applied");
    assert_eq!(r.reference.as_deref(), Some(TRADE));
    assert_eq!(
        r.payment_url.as_deref(),
        Some("https://sandbox.alibaba.invalid/pay?trade_id=24668306501026709")
    );
    let m = last_modify(&sb);
    assert_eq!(
        m["logistics_detail"],
        json!({
            "shipment_address": {
                "zip": "10001", "country": "United States of America",
                "address": "Bank of new york", "city": "New York", "province_code": "New York",
                "contact_person": "james",
                "telephone": {"area": "212", "country": "1", "number": "5550100"}
            },
            "shipment_method": "air", "trade_term": "CIF", "carrier": "FedEx",
            "carrier_code": "FDX",
            "shipment_date": {"date": {"format_date": "2024-10-15"}, "type": "absolute"},
            "fulfillment_channel": "TAD"
        })
    );
    assert_eq!(m["version"], "1");
    assert_eq!(m["payment_detail"]["total_amount"], "220.00");
    let stored = sb.icbu().unwrap().order(TRADE).unwrap();
    assert_eq!((stored.version.as_str(), stored.revisions), ("2", 1));
}

#[tokio::test]
async fn payment_change_travels_as_exact_decimal_strings() {
    let sb = sandbox(IcbuSettings::default(), "1").await;
    apply(
        &sb,
        json!({"payment": {"products": "200", "freight": "35.5", "insurance": "4.50",
               "tax": "0.1", "total": "240.1", "initial": "100"}}),
    )
    .await
    .expect("applied");
    assert_eq!(
        last_modify(&sb)["payment_detail"],
        json!({"shipment_fee": "35.50", "total_amount": "240.10", "product_amount": "200.00",
               "shipment_insurance_fee": "4.50", "initial_amount": "100.00",
               "tax_amount": "0.10", "currency": "USD"})
    );
}

#[tokio::test]
async fn items_change_sends_the_full_product_list() {
    let sb = sandbox(IcbuSettings::default(), "1").await;
    apply(
        &sb,
        json!({
            "items": [
                {"product": "62337348461", "sku": "-1", "name": "helloworld", "unit": "set",
                 "quantity": "150", "unit_price": "1.8"},
                {"product": "XJG87654", "sku": "887", "name": "小部件", "unit": "piece",
                 "quantity": "2.5", "unit_price": "4"}
            ],
            "payment": {"products": "280", "freight": "20", "total": "300", "initial": "150"}
        }),
    )
    .await
    .expect("applied");
    assert_eq!(
        last_modify(&sb)["product_list"],
        json!([
            {"product_id": 62_337_348_461_u64, "name": "helloworld", "sku_id": "-1",
             "unit": "set", "quantity": "150", "unit_price_str": "1.80", "currency": "USD"},
            {"name": "小部件", "sku_id": "887", "unit": "piece", "quantity": "2.5",
             "unit_price_str": "4.00", "currency": "USD", "encrypt_product_id": "XJG87654"}
        ])
    );
}

#[tokio::test]
async fn chinese_remark_is_signed_and_accepted_by_every_sign_method() {
    let sb = sandbox(IcbuSettings::default(), "1").await;
    let remark = "请尽快发货,谢谢!包装要结实 & 单价=2";
    let mut o = order();
    for (i, method) in [SignMethod::Md5, SignMethod::Hmac, SignMethod::HmacSha256]
        .into_iter()
        .enumerate()
    {
        let p = plan(
            &o,
            &amendment(json!({"remarks": {"order": remark}})),
            &transport_icbu::policy(),
        )
        .expect("plan");
        let platform = IcbuPlatform::new(client(&sb, method));
        platform.apply(&o, &p).await.unwrap_or_else(|e| {
            panic!("{method} refused: {e}");
        });
        assert_eq!(last_modify(&sb)["remark"], remark);
        let version = sb.icbu().unwrap().order(TRADE).unwrap().version;
        assert_eq!(version, (i + 2).to_string());
        o = o.with_revision(&p, Some(version.parse().unwrap()));
    }
}

// ---------------------------------------------------------------- refused before sending

#[tokio::test]
async fn breakdown_that_does_not_add_up_is_refused_before_sending() {
    let sb = sandbox(IcbuSettings::default(), "1").await;
    let o = order();
    let r = plan(
        &o,
        &amendment(
            json!({"payment": {"products": "200", "freight": "20", "total": "230", "initial": "150"}}),
        ),
        &transport_icbu::policy(),
    )
    .unwrap_err();
    assert!(r.has(ViolationCode::PaymentTotalMismatch));

    // Under a policy that forgot the rule, the transport still refuses.
    let mut loose = transport_icbu::policy();
    loose.payment_must_add_up = false;
    let p = plan(
        &o,
        &amendment(
            json!({"payment": {"products": "200", "freight": "20", "total": "230", "initial": "150"}}),
        ),
        &loose,
    )
    .expect("loose plan");
    let e = IcbuPlatform::new(client(&sb, SignMethod::Md5))
        .apply(&o, &p)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::InvalidRequest);
    assert_eq!(calls(&sb), 0);
}

#[tokio::test]
async fn current_remark_is_kept_when_the_plan_sets_none() {
    let mut spec = serde_json::to_value(order_domain::OrderSpec::from(order())).unwrap();
    spec["remarks"] = json!({"order": "老客户", "logistics": "not sent"});
    let o: Order = serde_json::from_value(spec).unwrap();
    let p = plan(
        &o,
        &amendment(
            json!({"logistics": {"shipment_method": "air", "trade_term": "FOB",
                                         "shipment_date": {"days_after_payment": 3}}}),
        ),
        &transport_icbu::policy(),
    )
    .expect("plan");
    let req = request_from_plan(&o, &p).expect("request");
    assert_eq!(req.remark.as_deref(), Some("老客户"));
}

#[tokio::test]
async fn logistics_remark_is_refused_not_dropped() {
    let sb = sandbox(IcbuSettings::default(), "1").await;
    let o = order();
    let p = plan(
        &o,
        &amendment(json!({"remarks": {"logistics": "轻放"}})),
        &transport_icbu::policy(),
    )
    .expect("plan");
    let e = request_from_plan(&o, &p).unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::InvalidRequest);
    assert_eq!(calls(&sb), 0);
}

// ---------------------------------------------------------------- emulator-only rules

#[tokio::test]
async fn stale_version_is_a_conflict() {
    let sb = sandbox(IcbuSettings::default(), "7").await;
    let e = apply(&sb, json!({"remarks": {"order": "x"}}))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::Conflict);
    assert_eq!(e.code(), Some("ORDER_VERSION_CONFLICT"));
    assert!(e.message().contains("stale"), "{e}");
    assert_eq!(calls(&sb), 1, "not retried");
}

#[tokio::test]
async fn business_failures_map_to_kinds() {
    let sb = sandbox(IcbuSettings::default(), "1").await;
    let icbu = sb.icbu().unwrap();
    let mut paid = IcbuOrder::unpaid("900", "1");
    paid.status = "paid".into();
    icbu.seed_order(paid);
    let c = client(&sb, SignMethod::Md5);
    let base = request_from_plan(
        &order(),
        &plan(
            &order(),
            &amendment(json!({"remarks": {"order": "x"}})),
            &transport_icbu::policy(),
        )
        .unwrap(),
    )
    .unwrap();

    let mut missing = base.clone();
    missing.trade_id = "404404".into();
    let e = c.modify_order(&missing).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (PlatformErrorKind::NotFound, Some("ORDER_NOT_EXIST"))
    );

    let mut wrong_state = base.clone();
    wrong_state.trade_id = "900".into();
    let e = c.modify_order(&wrong_state).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (
            PlatformErrorKind::WrongState,
            Some("ORDER_STATUS_NOT_MODIFIABLE")
        )
    );

    let mut mismatch = base.clone();
    mismatch.payment_detail.total_amount = "999.00".into();
    let e = c.modify_order(&mismatch).await.unwrap_err();
    assert_eq!(e.code(), Some("TOTAL_AMOUNT_MISMATCH"));
    assert_eq!(e.kind(), PlatformErrorKind::RejectedByRule);
    assert!(e.message().contains("total_amount 999.00"), "{e}");
}

// ---------------------------------------------------------------- gateway replies

#[tokio::test]
async fn invalid_signature_is_unauthorised_whether_code_is_number_or_string() {
    for as_string in [false, true] {
        let settings = IcbuSettings {
            code_as_string: as_string,
            ..IcbuSettings::default()
        };
        let sb = sandbox(settings, "1").await;
        let e = client_from(config(
            &sb.icbu().unwrap().base_url(),
            "wrong-secret",
            SESSION,
            SignMethod::Hmac,
        ))
        .modify_order(&sample_request())
        .await
        .unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::Unauthorised);
        assert_eq!(e.code(), Some("25"));
        assert_eq!(e.message(), "Invalid signature");
        assert_eq!(calls(&sb), 1);
        // The typed client names the gateway code; the domain gets the same as a PlatformError.
        let OrderModifyFailure::Refused {
            error: OrderModifyRefusal::Gateway(error),
            domain,
        } = &e
        else {
            panic!("a gateway refusal: {e:?}");
        };
        assert_eq!(error.code(), "25");
        assert_eq!(PlatformError::from(e.clone()), **domain);
    }
}

#[tokio::test]
async fn invalid_and_expired_sessions_are_unauthorised() {
    let sb = sandbox(IcbuSettings::default(), "1").await;
    let base = sb.icbu().unwrap().base_url();
    let e = client_from(config(&base, SECRET, "not-a-session", SignMethod::Md5))
        .modify_order(&sample_request())
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (PlatformErrorKind::Unauthorised, Some("27"))
    );
    assert!(e.detail().unwrap().contains("invalid-sessionkey"));

    sb.icbu().unwrap().expire_session(SESSION);
    let e = client(&sb, SignMethod::Md5)
        .modify_order(&sample_request())
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (PlatformErrorKind::Unauthorised, Some("27"))
    );
    assert_eq!(e.message(), "session 已过期");
    assert!(e.detail().unwrap().contains("sub_code: session-expired"));
    assert!(e.detail().unwrap().contains("request_id: "));
}

#[tokio::test]
async fn call_limit_is_rate_limited_and_retryable() {
    let settings = IcbuSettings {
        rate_limit_per_second: Some(1),
        ..IcbuSettings::default()
    };
    let sb = sandbox(settings, "1").await;
    let c = client_from(
        config(
            &sb.icbu().unwrap().base_url(),
            SECRET,
            SESSION,
            SignMethod::Md5,
        )
        .with_retry(RetryPolicy::never()),
    );
    let mut limited = None;
    for _ in 0..5 {
        if let Err(e) = c.modify_order(&sample_request()).await
            && e.kind() == PlatformErrorKind::RateLimited
        {
            limited = Some(e);
            break;
        }
    }
    let e = limited.expect("the bucket of 1 ran dry");
    assert_eq!(e.kind(), PlatformErrorKind::RateLimited);
    assert!(e.retryable());
    assert_eq!(e.code(), Some("7"));
    assert!(
        e.detail()
            .unwrap()
            .contains("accesscontrol.limited-by-app-access-count")
    );
}

#[tokio::test]
async fn missing_parameter_is_an_invalid_request_with_sub_code() {
    let sb = sandbox(IcbuSettings::default(), "1").await;
    let mut req = sample_request();
    req.logistics_detail.shipment_address.zip = String::new();
    let e = client(&sb, SignMethod::HmacSha256)
        .modify_order(&req)
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (PlatformErrorKind::InvalidRequest, Some("15"))
    );
    assert_eq!(
        e.message(),
        "缺少必填参数:logistics_detail.shipment_address.zip"
    );
    assert!(
        e.detail()
            .unwrap()
            .contains("sub_code: isv.missing-parameter")
    );
    assert_eq!(calls(&sb), 1);
}

#[tokio::test]
async fn clock_is_injected_and_a_skewed_one_is_refused() {
    let sb = sandbox(IcbuSettings::default(), "1").await;
    let skewed = client(&sb, SignMethod::Md5).with_clock(Arc::new(FixedClock(
        Timestamp::from_millis(1_000_000_000_000),
    )));
    let e = skewed.modify_order(&sample_request()).await.unwrap_err();
    assert_eq!(e.code(), Some("31"));
    assert!(!e.retryable());
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn busy_service_is_retried_to_success() {
    let sb = sandbox(IcbuSettings::default(), "1").await;
    sb.icbu().unwrap().fail_next(Fault::Busy, 1);
    apply(&sb, json!({"remarks": {"order": "重试"}}))
        .await
        .expect("second attempt succeeds");
    assert_eq!(calls(&sb), 2);
}

#[tokio::test]
async fn busy_service_without_retries_is_transient_with_sub_code() {
    let sb = sandbox(IcbuSettings::default(), "1").await;
    sb.icbu().unwrap().fail_next(Fault::Busy, 1);
    let c = client_from(
        config(
            &sb.icbu().unwrap().base_url(),
            SECRET,
            SESSION,
            SignMethod::Md5,
        )
        .with_retry(RetryPolicy::never()),
    );
    let e = c.modify_order(&sample_request()).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (PlatformErrorKind::Transient, Some("15"))
    );
    assert_eq!(e.message(), "服务暂不可用,请稍后重试");
    assert!(e.detail().unwrap().contains("isp.service-unavailable"));
}

#[tokio::test]
async fn http_500_and_dropped_connection_are_retried() {
    let sb = sandbox(IcbuSettings::default(), "1").await;
    sb.icbu().unwrap().fail_next(Fault::Http500, 1);
    sb.icbu().unwrap().fail_next(Fault::DropConnection, 1);
    apply(&sb, json!({"remarks": {"order": "x"}}))
        .await
        .expect("third attempt succeeds");
    assert_eq!(calls(&sb), 3);
}

#[tokio::test]
async fn malformed_and_truncated_replies_are_protocol_errors_sent_once() {
    for fault in [Fault::MalformedBody, Fault::TruncatedBody] {
        let sb = sandbox(IcbuSettings::default(), "1").await;
        sb.icbu().unwrap().fail_next(fault, 1);
        let e = apply(&sb, json!({"remarks": {"order": "x"}}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::Protocol, "{fault:?}");
        assert_eq!(calls(&sb), 1, "{fault:?}");
    }
}

#[tokio::test]
async fn no_secret_or_session_in_any_error_text() {
    let sb = sandbox(IcbuSettings::default(), "1").await;
    let icbu = sb.icbu().unwrap();
    let base = icbu.base_url();
    let mut errors = Vec::new();
    for fault in [
        Fault::Http500,
        Fault::MalformedBody,
        Fault::TruncatedBody,
        Fault::DropConnection,
        Fault::Busy,
    ] {
        icbu.fail_next(fault, 5);
        errors.push(
            apply(&sb, json!({"remarks": {"order": "x"}}))
                .await
                .unwrap_err(),
        );
        icbu.clear_faults();
    }
    errors.push(
        client_from(config(&base, "wrong-secret", SESSION, SignMethod::Md5))
            .modify_order(&sample_request())
            .await
            .unwrap_err()
            .into(),
    );
    icbu.expire_session(SESSION);
    errors.push(
        client(&sb, SignMethod::Md5)
            .modify_order(&sample_request())
            .await
            .unwrap_err()
            .into(),
    );
    errors.push(
        client_from(config(
            "http://127.0.0.1:9",
            SECRET,
            SESSION,
            SignMethod::Md5,
        ))
        .modify_order(&sample_request())
        .await
        .unwrap_err()
        .into(),
    );
    for e in &errors {
        let text = format!("{e} {e:?}");
        for secret in [SECRET, SESSION, "wrong-secret"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
    let c = client(&sb, SignMethod::Md5);
    let dbg = format!("{c:?}");
    assert!(!dbg.contains(SECRET) && !dbg.contains(SESSION), "{dbg}");
}

fn sample_request() -> OrderModifyRequest {
    let o = order();
    let p = plan(
        &o,
        &amendment(json!({"remarks": {"order": "样例"}})),
        &transport_icbu::policy(),
    )
    .expect("plan");
    request_from_plan(&o, &p).expect("request")
}
