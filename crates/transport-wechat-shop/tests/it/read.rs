//! The WeChat Shop order read (`product/order/get`) over real HTTP against the emulator.

use std::time::Duration;
use transport_core::ClientConfig as _;

use order_domain::{
    Amendment, Money, Order, OrderId, OrderPlatform, OrderSource, OrderStatus, PlatformErrorKind,
    plan,
};
use order_sandbox::wechat::WechatAddress;
use order_sandbox::{Sandbox, WechatEmulator, WechatOrder, WechatQuota, WechatSettings};
use transport_core::{HttpClient, HttpConfig, RetryPolicy, SecretString};
use transport_wechat_shop::{WechatConfig, WechatShopClient, WechatShopPlatform};

const APPID: &str = "wx-sandbox-app";
const SECRET: &str = "sandbox-secret";
const BIG_ORDER: u64 = 3_705_115_058_471_208_928;
const BIG_PRODUCT: u64 = 9_007_199_254_740_993; // 2^53 + 1
const BIG_SKU: u64 = 18_446_744_073_709_551_615; // u64::MAX

async fn sandbox() -> (Sandbox, WechatEmulator) {
    let sb = Sandbox::builder()
        .seed(7)
        .wechat(WechatSettings::default())
        .start()
        .await
        .unwrap();
    let em = sb.wechat().unwrap().clone();
    (sb, em)
}

fn platform(em: &WechatEmulator, appid: &str) -> WechatShopPlatform {
    let http =
        HttpClient::new(&HttpConfig::default().with_timeout(Duration::from_secs(10))).unwrap();
    let config = WechatConfig::new(appid, SecretString::from(SECRET))
        .with_base_url(em.base_url())
        .with_rate_limit(None)
        .with_retry(RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        });
    WechatShopPlatform::new(WechatShopClient::new(http, config))
}

/// Order BIG_ORDER: (BIG_PRODUCT, BIG_SKU, 30.00), (2, 22, 20.00), (3, 33, 10.00); freight 5.00.
fn seed_big(em: &WechatEmulator) {
    em.seed_order(WechatOrder::awaiting_payment(
        BIG_ORDER,
        500,
        &[(BIG_PRODUCT, BIG_SKU, 3000), (2, 22, 2000), (3, 33, 1000)],
    ));
}

fn id(n: u64) -> OrderId {
    OrderId::new(n.to_string()).unwrap()
}

fn money(s: &str) -> Money {
    Money::parse(s, order_domain::Currency::Cny).unwrap()
}

async fn fetch(p: &WechatShopPlatform, n: u64) -> Order {
    OrderSource::fetch(p, &id(n)).await.unwrap()
}

#[tokio::test]
async fn read_maps_status_lines_freight_address_and_ids_above_2_pow_53() {
    let (_sb, em) = sandbox().await;
    seed_big(&em);
    em.set_address(
        BIG_ORDER,
        WechatAddress {
            user_name: Some("陈先生".into()),
            province_name: Some("广东".into()),
            city_name: Some("广州".into()),
            county_name: Some("海珠区".into()),
            detail_info: Some("大塘 1 号".into()),
            tel_number: Some("13800000000".into()),
            postal_code: Some("510000".into()),
            ..WechatAddress::default()
        },
    );
    let p = platform(&em, APPID);
    let o = fetch(&p, BIG_ORDER).await;
    assert_eq!(o.id().as_str(), "3705115058471208928");
    assert_eq!(o.status(), &OrderStatus::AwaitingPayment);
    assert_eq!(o.revision().count, 0, "the read carries no revision count");
    let l1 = &o.lines()[0];
    assert_eq!(l1.product().unwrap().as_str(), "9007199254740993");
    assert_eq!(l1.sku().unwrap().as_str(), "18446744073709551615");
    assert_eq!(l1.original_total(), money("30.00"));
    assert_eq!(l1.current_total(), money("30.00"));
    assert_eq!(o.freight_original(), money("5.00"));
    assert_eq!(o.freight_current(), money("5.00"));
    let a = o.address().unwrap();
    assert_eq!(a.receiver.as_deref(), Some("陈先生"));
    assert_eq!(a.district.as_deref(), Some("海珠区"));
    assert_eq!(a.street.as_deref(), Some("大塘 1 号"));
    assert_eq!(a.mobile.as_deref(), Some("13800000000"));
    assert_eq!(a.zip.as_deref(), Some("510000"));
}

#[tokio::test]
async fn read_statuses_follow_the_emulator_state() {
    let (_sb, em) = sandbox().await;
    let p = platform(&em, APPID);
    for (text, want) in [
        ("paid", OrderStatus::Paid),
        ("shipped", OrderStatus::Shipped),
        ("completed", OrderStatus::Completed),
        ("closed", OrderStatus::Closed),
    ] {
        let mut o = WechatOrder::awaiting_payment(7, 0, &[(1, 1, 100)]);
        o.status = text.into();
        em.seed_order(o);
        assert_eq!(fetch(&p, 7).await.status(), &want, "{text}");
    }
}

#[tokio::test]
async fn a_read_after_a_change_equals_the_plans_target_for_every_line() {
    let (_sb, em) = sandbox().await;
    seed_big(&em);
    let p = platform(&em, APPID);
    // An earlier change lowered line 3 and the freight; this one names line 1 only.
    let first: Amendment =
        serde_json::from_str(r#"{"lines": {"3:33": "8.00"}, "freight": "4.00"}"#).unwrap();
    let before = fetch(&p, BIG_ORDER).await;
    let pl = plan(&before, &first, OrderPlatform::policy(&p)).unwrap();
    p.apply(&before, &pl).await.unwrap();
    let mid = fetch(&p, BIG_ORDER).await;
    assert_eq!(mid.lines()[2].current_total(), money("8.00"));
    assert_eq!(mid.lines()[2].original_total(), money("10.00"));
    assert_eq!(mid.freight_current(), money("4.00"));
    assert_eq!(mid.freight_original(), money("5.00"));

    let second: Amendment = serde_json::from_str(&format!(
        r#"{{"lines": {{"{BIG_PRODUCT}:{BIG_SKU}": "25.50"}}}}"#
    ))
    .unwrap();
    let pl = plan(&mid, &second, OrderPlatform::policy(&p)).unwrap();
    p.apply(&mid, &pl).await.unwrap();
    let after = fetch(&p, BIG_ORDER).await;
    for line in after.lines() {
        let target = pl
            .lines()
            .iter()
            .find(|l| l.line() == line.id())
            .map(|l| l.target())
            .unwrap_or_else(|| {
                mid.lines()
                    .iter()
                    .find(|m| m.id() == line.id())
                    .unwrap()
                    .current_total()
            });
        assert_eq!(line.current_total(), target, "line {}", line.id());
    }
    assert_eq!(after.lines()[0].current_total(), money("25.50"));
    assert_eq!(after.lines()[2].current_total(), money("8.00"));
    assert_eq!(after.freight_current(), money("4.00"));
    let held = em.order(BIG_ORDER).unwrap();
    assert_eq!(
        held.total(),
        2550 + 2000 + 800 + 400,
        "order price on the emulator"
    );
}

#[tokio::test]
async fn an_unknown_order_is_not_found() {
    let (_sb, em) = sandbox().await;
    let e = OrderSource::fetch(&platform(&em, APPID), &id(BIG_ORDER + 1))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::NotFound);
    assert_eq!(e.code(), Some("100002"));
}

#[tokio::test]
async fn a_stale_token_is_refreshed_and_the_read_resent() {
    let (_sb, em) = sandbox().await;
    seed_big(&em);
    let p = platform(&em, APPID);
    fetch(&p, BIG_ORDER).await;
    em.invalidate_tokens();
    fetch(&p, BIG_ORDER).await;
    em.expire_tokens();
    fetch(&p, BIG_ORDER).await;
    let outcomes: Vec<String> = em
        .calls_for(&BIG_ORDER.to_string())
        .into_iter()
        .map(|c| c.outcome)
        .collect();
    assert_eq!(
        outcomes,
        ["read", "rejected:40001", "read", "rejected:42001", "read"]
    );
}

#[tokio::test]
async fn an_app_without_permission_is_unauthorised() {
    let (_sb, em) = sandbox().await;
    seed_big(&em);
    let e = OrderSource::fetch(&platform(&em, "wx-sandbox-noperm"), &id(BIG_ORDER))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::Unauthorised);
}

#[tokio::test]
async fn the_minute_quota_is_retried_and_the_daily_quota_is_not() {
    let (_sb, em) = sandbox().await;
    seed_big(&em);
    let p = platform(&em, APPID);
    em.exceed_quota(WechatQuota::Minute, 2);
    fetch(&p, BIG_ORDER).await;
    assert_eq!(em.calls_for(&BIG_ORDER.to_string()).len(), 3);
    em.exceed_quota(WechatQuota::Daily, 1);
    let e = OrderSource::fetch(&p, &id(BIG_ORDER)).await.unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::QuotaExhausted);
    assert_eq!(em.calls_for(&BIG_ORDER.to_string()).len(), 4);
}

#[tokio::test]
async fn a_change_acknowledged_without_apply_reads_back_unchanged() {
    let (_sb, em) = sandbox().await;
    seed_big(&em);
    let p = platform(&em, APPID);
    let before = fetch(&p, BIG_ORDER).await;
    em.ack_without_apply(1);
    let a: Amendment = serde_json::from_str(r#"{"lines": {"2:22": "15.00"}}"#).unwrap();
    let pl = plan(&before, &a, OrderPlatform::policy(&p)).unwrap();
    p.apply(&before, &pl).await.unwrap();
    let after = fetch(&p, BIG_ORDER).await;
    assert_eq!(after, before, "acknowledged, not applied");
    let last = em.calls_for(&BIG_ORDER.to_string());
    assert!(
        last.iter()
            .any(|c| c.outcome == "fault:ack_without_apply" && !c.applied),
        "{last:?}"
    );
    // The next change applies again.
    p.apply(&before, &pl).await.unwrap();
    assert_eq!(
        fetch(&p, BIG_ORDER).await.lines()[1].current_total(),
        money("15.00")
    );
}
