//! transport-em over real HTTP against the order-sandbox EM emulator.

use std::sync::Arc;
use std::time::Duration;
use transport_core::ClientConfig as _;

use order_domain::{
    Amendment, FixedClock, Order, OrderPlatform, PlatformError, PlatformErrorKind, Timestamp,
    ViolationCode, plan,
};
use order_sandbox::{EmSettings, EmTrade, Fault, Sandbox};
use serde_json::json;
use transport_core::{HttpClient, HttpConfig, RetryPolicy, SecretString};
use transport_em::generated::errors::TradeModifyError;
use transport_em::{
    EmClient, EmConfig, EmNumberStyle, EmPlatform, EmSignScheme, TradeModifyFailure,
    TradeModifyItem, TradeModifyRequest,
};

const TRADE: &str = "DD202409260001";
const APPID: &str = "em-app";
const SECRET: &str = "em-secret";

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        jitter: false,
        ..RetryPolicy::default()
    }
}

async fn sandbox(settings: EmSettings) -> Sandbox {
    let sb = Sandbox::builder()
        .seed(3)
        .em(settings)
        .start()
        .await
        .expect("sandbox starts");
    let em = sb.em().expect("em enabled");
    em.seed_order(EmTrade::new(TRADE, &[("ERP_1", 2), ("ERP_2", 1)]));
    em.set_stock("ERP_1", 10);
    em.set_stock("ERP_2", 0);
    sb
}

fn client_with(base: &str, secret: &str, scheme: EmSignScheme) -> EmClient {
    let http = HttpClient::new(&HttpConfig::default()).expect("http client");
    let config = EmConfig::new(base, APPID, SecretString::from(secret.to_owned()))
        .with_sign_scheme(scheme)
        .with_rate_limit(None)
        .with_retry(fast_retry());
    EmClient::new(http, config)
}

fn platform(sb: &Sandbox) -> EmPlatform {
    EmPlatform::new(client_with(
        &sb.em().expect("em").base_url(),
        SECRET,
        EmSignScheme::default(),
    ))
}

fn order() -> Order {
    serde_json::from_value(json!({
        "id": TRADE, "status": "awaiting_payment", "currency": "CNY",
        "lines": [
            {"id": "L1", "product": "ERP_1", "quantity": "2", "original_total": "20.00"},
            {"id": "L2", "product": "ERP_2", "quantity": "1", "original_total": "5.00"}
        ],
        "logistics": {"warehouse": "22", "transport_way": 5}
    }))
    .expect("order")
}

fn amendment(v: serde_json::Value) -> Amendment {
    serde_json::from_value(v).expect("amendment")
}

async fn apply(
    sb: &Sandbox,
    set: serde_json::Value,
) -> Result<order_domain::Receipt, order_domain::PlatformError> {
    let o = order();
    let p = plan(&o, &amendment(set), &transport_em::policy()).expect("plan");
    let platform: Arc<dyn OrderPlatform> = Arc::new(platform(sb));
    platform.apply(&o, &p).await
}

fn calls(sb: &Sandbox) -> u64 {
    sb.em().expect("em").stats().total_requests
}

// ---------------------------------------------------------------- successes per part

#[tokio::test]
async fn address_change_is_applied() {
    let sb = sandbox(EmSettings::default()).await;
    let r = apply(
        &sb,
        json!({"address": {"receiver": "张三", "mobile": "18817834074", "province": "上海",
               "city": "上海市", "district": "嘉定区", "street": "商城路 738 号"}}),
    )
    .await
    .expect("applied");
    assert_eq!(r.reference.as_deref(), Some(TRADE));
    assert!(r.raw_reply.contains("修改成功"));
    let t = sb.em().unwrap().order(TRADE).unwrap();
    assert_eq!(
        (
            t.receivername.as_str(),
            t.mobile.as_str(),
            t.provincename.as_str()
        ),
        ("张三", "18817834074", "上海")
    );
    assert_eq!(
        (t.cityname.as_str(), t.distrctname.as_str()),
        ("上海市", "嘉定区")
    );
    assert_eq!(t.address, "商城路 738 号");
    assert_eq!(t.items.len(), 2, "items untouched");
}

#[tokio::test]
async fn logistics_change_is_applied_with_company_for_way_2() {
    let sb = sandbox(EmSettings::default()).await;
    apply(
        &sb,
        json!({"logistics": {"warehouse": "5", "transport_way": 2, "company": 10,
               "contact": "hanson-w", "contact_mobile": "18817834074", "car_number": "沪A888888"}}),
    )
    .await
    .expect("applied");
    let t = sb.em().unwrap().order(TRADE).unwrap();
    assert_eq!(
        (t.warehouseid, t.transportway, t.logisticscompanyid),
        (5, 2, 10)
    );
    assert_eq!(t.logisticscontact, "hanson-w");
    assert_eq!(t.logisticsmobile, "18817834074");
    assert_eq!(t.logisticscarnumber, "沪A888888");
}

#[tokio::test]
async fn logistics_way_without_company_leaves_company_out() {
    let sb = sandbox(EmSettings::default()).await;
    apply(&sb, json!({"logistics": {"transport_way": 3}}))
        .await
        .expect("applied");
    let t = sb.em().unwrap().order(TRADE).unwrap();
    assert_eq!((t.transportway, t.logisticscompanyid), (3, 0));
}

#[tokio::test]
async fn delivery_date_change_is_applied() {
    let sb = sandbox(EmSettings::default()).await;
    apply(&sb, json!({"delivery_date": "2024-09-28"}))
        .await
        .expect("applied");
    assert_eq!(
        sb.em().unwrap().order(TRADE).unwrap().deliverydate,
        "2024-09-28"
    );
}

#[tokio::test]
async fn items_are_sent_in_full_with_whole_quantities() {
    let sb = sandbox(EmSettings::default()).await;
    apply(
        &sb,
        json!({"items": [
            {"product": "ERP_1", "quantity": "5", "remark": "接口导入订单-修改明细"},
            {"product": "ERP_2", "quantity": "1"}
        ]}),
    )
    .await
    .expect("applied");
    let em = sb.em().unwrap();
    let t = em.order(TRADE).unwrap();
    let got: Vec<(&str, u64, &str)> = t
        .items
        .iter()
        .map(|i| (i.outerpcode.as_str(), i.mainmeasunitqty, i.remark.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![("ERP_1", 5, "接口导入订单-修改明细"), ("ERP_2", 1, "")]
    );
    assert_eq!(em.stock("ERP_1"), 7, "3 more reserved out of 10");
}

#[tokio::test]
async fn chinese_remarks_are_signed_and_accepted() {
    let sb = sandbox(EmSettings::default()).await;
    apply(
        &sb,
        json!({"remarks": {"order": "订单备注:请周末送达 & 不要=打电话", "logistics": "物流备注:轻放,易碎"}}),
    )
    .await
    .expect("applied");
    let t = sb.em().unwrap().order(TRADE).unwrap();
    assert_eq!(t.traderemark, "订单备注:请周末送达 & 不要=打电话");
    assert_eq!(t.remark, "物流备注:轻放,易碎");
}

#[tokio::test]
async fn plain_secret_scheme_interoperates_when_both_sides_use_it() {
    let settings = EmSettings {
        sign_scheme: order_sandbox::em::EmSignScheme::PlainSecret,
        ..EmSettings::default()
    };
    let sb = sandbox(settings).await;
    let base = sb.em().unwrap().base_url();
    let mut req = TradeModifyRequest::new(TRADE);
    req.traderemark = Some("明文密钥".into());
    client_with(&base, SECRET, EmSignScheme::PlainSecret)
        .modify_trade(&req)
        .await
        .expect("accepted");
    // The default scheme does not match this emulator's.
    let e = client_with(&base, SECRET, EmSignScheme::AmpersandKey)
        .modify_trade(&req)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("1001"));
}

// ---------------------------------------------------------------- refused before sending

#[tokio::test]
async fn domain_rules_refuse_before_anything_is_sent() {
    let sb = sandbox(EmSettings::default()).await;
    let o = order();
    let policy = transport_em::policy();
    let partial = plan(
        &o,
        &amendment(json!({"address": {"province": "上海", "city": "上海市"}})),
        &policy,
    )
    .unwrap_err();
    assert!(partial.has(ViolationCode::AddressRegionPartial));
    let no_company = plan(
        &o,
        &amendment(json!({"logistics": {"transport_way": 2}})),
        &policy,
    )
    .unwrap_err();
    assert!(no_company.has(ViolationCode::LogisticsCompanyRequired));
    let fractional = plan(
        &o,
        &amendment(json!({"items": [{"product": "ERP_1", "quantity": "1.5"}]})),
        &policy,
    )
    .unwrap_err();
    assert!(fractional.has(ViolationCode::ItemsQuantityNotWhole));
    assert_eq!(calls(&sb), 0);
}

#[tokio::test]
async fn the_transport_guards_em_rules_even_under_a_loose_policy() {
    let sb = sandbox(EmSettings::default()).await;
    let mut loose = transport_em::policy();
    loose.whole_quantities = false;
    loose.address_region_all_or_nothing = false;
    loose.logistics_rules = None;
    let o = order();
    let platform = platform(&sb);
    for set in [
        json!({"items": [{"product": "ERP_1", "quantity": "1.5"}]}),
        json!({"address": {"province": "上海"}}),
        json!({"logistics": {"transport_way": 4}}),
        json!({"logistics": {"transport_way": 4, "company": 10}}),
        json!({"logistics": {"transport_way": 3, "company": 10}}),
        json!({"logistics": {"warehouse": "north-1"}}),
    ] {
        let p = plan(&o, &amendment(set.clone()), &loose).expect("loose plan");
        let e = platform.apply(&o, &p).await.unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::InvalidRequest, "{set}");
        assert_eq!(e.code(), None, "{set}");
    }
    assert_eq!(calls(&sb), 0);
}

// ---------------------------------------------------------------- emulator-only rules and replies

#[tokio::test]
async fn stock_shortage_names_the_product() {
    let sb = sandbox(EmSettings::default()).await;
    let e = apply(
        &sb,
        json!({"items": [{"product": "ERP_1", "quantity": "2"}, {"product": "ERP_2", "quantity": "3"}]}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::RejectedByRule);
    assert_eq!(e.code(), Some("-10"));
    assert_eq!(e.message(), "产品[ERP_2]库存不足");
    assert!(!e.retryable());
    assert_eq!(calls(&sb), 1, "not retried");
}

#[tokio::test]
async fn partial_region_sent_raw_gets_1002() {
    let sb = sandbox(EmSettings::default()).await;
    let mut req = TradeModifyRequest::new(TRADE);
    req.provincename = Some("上海".into());
    let e = client_with(
        &sb.em().unwrap().base_url(),
        SECRET,
        EmSignScheme::default(),
    )
    .modify_trade(&req)
    .await
    .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::InvalidRequest);
    assert_eq!(e.code(), Some("1002"));
    assert_eq!(e.message(), "修改三级地址时,省市区名称均不能为空");
    assert_eq!(calls(&sb), 1);
}

#[tokio::test]
async fn undocumented_codes_keep_code_and_message() {
    let sb = sandbox(EmSettings::default()).await;
    let base = sb.em().unwrap().base_url();
    // Wrong secret: the emulator's (undocumented) 1001.
    let e = client_with(&base, "wrong-secret", EmSignScheme::default())
        .modify_trade(&TradeModifyRequest::new(TRADE))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("1001"));
    assert_eq!(e.message(), "签名错误");
    assert_eq!(e.kind(), TradeModifyError::from_reply("1001", "").kind());
    // The typed client names the documented code; the domain gets the same as a PlatformError.
    let TradeModifyFailure::Refused { error, domain } = &e else {
        panic!("a refusal: {e:?}");
    };
    assert!(
        matches!(error, TradeModifyError::InvalidSignature { .. }),
        "{error:?}"
    );
    assert_eq!(PlatformError::from(e.clone()), **domain);
    // Unknown trade: 1006.
    let e = client_with(&base, SECRET, EmSignScheme::default())
        .modify_trade(&TradeModifyRequest::new("DD-NOPE"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("1006"));
    assert_eq!(e.message(), "订单[DD-NOPE]不存在");
}

#[tokio::test]
async fn the_typed_client_sends_ints_and_all_fields() {
    let sb = sandbox(EmSettings::default()).await;
    let mut req = TradeModifyRequest::new(TRADE);
    req.warehouseid = Some(5);
    req.transportway = Some(4);
    req.logisticscompanyid = Some(8);
    req.deliverydate = Some("2024-10-01".into());
    req.items = Some(vec![
        TradeModifyItem::new("ERP_1", 1).with_remark("改成1个"),
        TradeModifyItem::new("ERP_2", 1),
    ]);
    let done = client_with(
        &sb.em().unwrap().base_url(),
        SECRET,
        EmSignScheme::default(),
    )
    .modify_trade(&req)
    .await
    .expect("ok");
    assert_eq!(done.tradeno.as_deref(), Some(TRADE));
    assert_eq!(done.message, "修改成功");
    let t = sb.em().unwrap().order(TRADE).unwrap();
    assert_eq!((t.transportway, t.logisticscompanyid), (4, 8));
    assert_eq!(t.items[0].mainmeasunitqty, 1);
}

#[tokio::test]
async fn string_number_style_is_accepted_too() {
    let sb = sandbox(EmSettings::default()).await;
    let http = HttpClient::new(&HttpConfig::default()).expect("http client");
    let config = EmConfig::new(
        sb.em().unwrap().base_url(),
        APPID,
        SecretString::from(SECRET.to_owned()),
    )
    .with_number_style(EmNumberStyle::Strings)
    .with_retry(fast_retry());
    let mut req = TradeModifyRequest::new(TRADE);
    req.warehouseid = Some(9);
    req.items = Some(vec![
        TradeModifyItem::new("ERP_1", 4),
        TradeModifyItem::new("ERP_2", 1),
    ]);
    EmClient::new(http, config)
        .modify_trade(&req)
        .await
        .expect("accepted");
    let t = sb.em().unwrap().order(TRADE).unwrap();
    assert_eq!((t.warehouseid, t.items[0].mainmeasunitqty), (9, 4));
}

#[tokio::test]
async fn clock_is_injected_and_a_skewed_one_is_refused() {
    let sb = sandbox(EmSettings::default()).await;
    let skewed = client_with(
        &sb.em().unwrap().base_url(),
        SECRET,
        EmSignScheme::default(),
    )
    .with_clock(Arc::new(FixedClock(Timestamp::from_millis(
        1_000_000_000_000,
    ))));
    let e = skewed
        .modify_trade(&TradeModifyRequest::new(TRADE))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("1004"));
    assert_eq!(e.message(), "时间戳无效或已过期");
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn http_500_and_dropped_connections_are_retried_to_success() {
    let sb = sandbox(EmSettings::default()).await;
    let em = sb.em().unwrap();
    em.fail_next(Fault::Http500, 1);
    em.fail_next(Fault::DropConnection, 1);
    apply(&sb, json!({"delivery_date": "2024-09-29"}))
        .await
        .expect("third attempt succeeds");
    assert_eq!(calls(&sb), 3);
    assert_eq!(em.order(TRADE).unwrap().deliverydate, "2024-09-29");
}

#[tokio::test]
async fn busy_reply_follows_the_generated_classification() {
    let sb = sandbox(EmSettings::default()).await;
    let em = sb.em().unwrap();
    em.fail_next(Fault::Busy, 1);
    let result = apply(&sb, json!({"delivery_date": "2024-09-30"})).await;
    // EM's busy code (-1) is not on the reference page yet; the generated table decides.
    if TradeModifyError::from_reply("-1", "").retryable() {
        result.expect("busy is retried to success");
        assert_eq!(calls(&sb), 2);
    } else {
        let e = result.unwrap_err();
        assert_eq!(e.code(), Some("-1"));
        assert_eq!(e.message(), "系统繁忙,请稍后再试");
        assert_eq!(calls(&sb), 1, "a non-retryable reply is sent once");
    }
}

#[tokio::test]
async fn malformed_and_truncated_replies_are_protocol_errors_not_retried() {
    for fault in [Fault::MalformedBody, Fault::TruncatedBody] {
        let sb = sandbox(EmSettings::default()).await;
        sb.em().unwrap().fail_next(fault, 1);
        let e = apply(&sb, json!({"delivery_date": "2024-09-30"}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::Protocol, "{fault:?}");
        assert_eq!(calls(&sb), 1, "{fault:?}");
    }
}

#[tokio::test]
async fn retries_are_bounded() {
    let sb = sandbox(EmSettings::default()).await;
    sb.em().unwrap().fail_next(Fault::Http500, 10);
    let e = apply(&sb, json!({"delivery_date": "2024-09-30"}))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::Transient);
    assert_eq!(calls(&sb), 3, "max_attempts");
}

#[tokio::test]
async fn no_secret_in_any_error_text() {
    let sb = sandbox(EmSettings::default()).await;
    let em = sb.em().unwrap();
    let mut errors = Vec::new();
    for fault in [
        Fault::Http500,
        Fault::MalformedBody,
        Fault::TruncatedBody,
        Fault::DropConnection,
    ] {
        em.fail_next(fault, 5);
        errors.push(
            apply(&sb, json!({"delivery_date": "2024-09-30"}))
                .await
                .unwrap_err(),
        );
        em.clear_faults();
    }
    errors.push(
        client_with(&em.base_url(), "wrong-secret", EmSignScheme::default())
            .modify_trade(&TradeModifyRequest::new(TRADE))
            .await
            .unwrap_err()
            .into(),
    );
    // Unreachable host.
    errors.push(
        client_with("http://127.0.0.1:9", SECRET, EmSignScheme::default())
            .modify_trade(&TradeModifyRequest::new(TRADE))
            .await
            .unwrap_err()
            .into(),
    );
    for e in &errors {
        let text = format!("{e} {e:?}");
        assert!(!text.contains(SECRET), "{text}");
        assert!(!text.contains("wrong-secret"), "{text}");
    }
    let client = client_with(&em.base_url(), SECRET, EmSignScheme::default());
    assert!(!format!("{client:?}").contains(SECRET));
}
