//! The four outbound platforms driven through `Arc<dyn OrderPlatform>` alone, against one
//! sandbox: plan with each platform's own policy, apply, and read the emulators' state back.

use std::sync::Arc;
use std::time::Duration;
use transport_core::ClientConfig as _;

use order_domain::{Amendment, Order, OrderPlatform, Receipt, plan};
use order_sandbox::{EmTrade, IcbuOrder, Sandbox, VvtoolOrder, WechatOrder};
use serde_json::json;
use transport_core::{HttpClient, HttpConfig, RetryPolicy, SecretString};
use transport_em::{EmClient, EmConfig, EmPlatform};
use transport_icbu::{IcbuClient, IcbuConfig, IcbuPlatform};
use transport_vvtool::{VvtoolClient, VvtoolConfig, VvtoolPlatform};
use transport_wechat_shop::{WechatConfig, WechatShopClient, WechatShopPlatform};

fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        jitter: false,
        ..RetryPolicy::default()
    }
}

/// One platform, one order snapshot, one amendment.
struct Case {
    platform: Arc<dyn OrderPlatform>,
    order: Order,
    set: Amendment,
}

fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("the JSON in this test is valid")
}

fn platforms(sb: &Sandbox, http: &HttpClient) -> Vec<Case> {
    let wechat = sb.wechat().expect("wechat enabled");
    wechat.seed_order(WechatOrder::awaiting_payment(1001, 500, &[(1, 11, 3000)]));
    let vvtool = sb.vvtool().expect("vvtool enabled");
    vvtool.seed_order(VvtoolOrder::awaiting_payment(
        2_198_111_437_768_747_370,
        "sandbox-shop",
        500,
        &[(2_198_111_437_768_747_371, 10_000)],
    ));
    let em = sb.em().expect("em enabled");
    em.seed_order(EmTrade::new("DD202409260001", &[("ERP_1", 2)]));
    em.set_stock("ERP_1", 10);
    let icbu = sb.icbu().expect("icbu enabled");
    icbu.seed_order(IcbuOrder::unpaid("24668306501026709", "1"));

    vec![
        Case {
            platform: Arc::new(WechatShopPlatform::new(WechatShopClient::new(
                http.clone(),
                WechatConfig::new("wx-sandbox-app", SecretString::from("sandbox-secret"))
                    .with_base_url(wechat.base_url())
                    .with_rate_limit(None)
                    .with_retry(retry()),
            ))),
            order: from_json(json!({
                "id": "1001", "status": "awaiting_payment", "currency": "CNY",
                "lines": [{"id": "L1", "product": "1", "sku": "11", "original_total": "30.00"}],
                "freight": {"original": "5.00"}
            })),
            set: from_json(json!({"lines": {"L1": "25.50"}, "freight": "0"})),
        },
        Case {
            platform: Arc::new(VvtoolPlatform::new(
                VvtoolClient::new(
                    http.clone(),
                    VvtoolConfig::new(SecretString::from("vv-sandbox-token"))
                        .with_base_url(vvtool.base_url())
                        .with_rate_limit(None)
                        .with_retry(retry()),
                ),
                "sandbox-shop",
            )),
            order: from_json(json!({
                "id": "2198111437768747370", "status": "awaiting_payment", "currency": "CNY",
                "trade_type": "6",
                "lines": [{"id": "2198111437768747371", "original_total": "100.00"}],
                "freight": {"original": "5.00"}
            })),
            set: from_json(json!({"lines": {"2198111437768747371": "80.00"}, "freight": "0"})),
        },
        Case {
            platform: Arc::new(EmPlatform::new(EmClient::new(
                http.clone(),
                EmConfig::new(em.base_url(), "em-app", SecretString::from("em-secret"))
                    .with_rate_limit(None)
                    .with_retry(retry()),
            ))),
            order: from_json(json!({
                "id": "DD202409260001", "status": "awaiting_payment", "currency": "CNY",
                "lines": [{"id": "L1", "product": "ERP_1", "quantity": "2",
                           "original_total": "20.00"}]
            })),
            set: from_json(json!({
                "address": {"receiver": "张三", "province": "上海", "city": "上海市",
                            "district": "嘉定区", "street": "商城路 738 号"},
                "items": [{"product": "ERP_1", "quantity": "5"}],
                "remarks": {"order": "周末送达"}
            })),
        },
        Case {
            platform: Arc::new(IcbuPlatform::new(IcbuClient::new(
                http.clone(),
                IcbuConfig::new(
                    "icbu-app",
                    SecretString::from("icbu-secret"),
                    SecretString::from("icbu-session"),
                )
                .with_base_url(icbu.base_url())
                .with_rate_limit(None)
                .with_retry(retry()),
            ))),
            order: from_json(json!({
                "id": "24668306501026709", "status": "awaiting_payment", "currency": "USD",
                "lines": [{"id": "L1", "product": "62337348461", "name": "helloworld",
                           "unit": "set", "quantity": "100", "unit_price": "2",
                           "original_total": "200"}],
                "freight": {"original": "20"},
                "revision": {"version": "1"},
                "address": {"receiver": "james", "country": "United States of America",
                            "city": "New York", "street": "Bank of new york", "zip": "10001",
                            "telephone": {"number": "2125550100"}},
                "logistics": {"shipment_method": "sea", "trade_term": "FOB",
                              "shipment_date": {"days_after_payment": 5}},
                "payment": {"products": "200", "freight": "20", "total": "220",
                            "initial": "150"}
            })),
            set: from_json(json!({
                "payment": {"products": "200", "freight": "10", "total": "210", "initial": "100"},
                "remarks": {"order": "请尽快发货"}
            })),
        },
    ]
}

#[tokio::test]
async fn every_outbound_platform_applies_a_plan_through_the_port() {
    let sb = Sandbox::builder()
        .seed(11)
        .all_platforms()
        .start()
        .await
        .expect("sandbox starts");
    let http = HttpClient::new(&HttpConfig::default()).expect("http client");
    let cases = platforms(&sb, &http);

    let mut names = Vec::new();
    let mut receipts: Vec<Receipt> = Vec::new();
    for case in &cases {
        let name = case.platform.name().to_owned();
        let p = plan(&case.order, &case.set, case.platform.policy())
            .unwrap_or_else(|r| panic!("{name}: {r}"));
        let receipt = case
            .platform
            .apply(&case.order, &p)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!receipt.raw_reply.is_empty(), "{name}");
        names.push(name);
        receipts.push(receipt);
    }
    assert_eq!(
        names,
        [
            "wechat-shop",
            "vvtool-1688",
            "em-franchiser",
            "alibaba-icbu"
        ]
    );

    // Each emulator took exactly one call and shows the change.
    let wechat = sb.wechat().unwrap();
    assert_eq!(wechat.stats().total_requests, 1);
    let w = wechat.order(1001).unwrap();
    assert_eq!((w.lines[0].current_total, w.express_fee), (2550, 0));

    let vvtool = sb.vvtool().unwrap();
    assert_eq!(vvtool.stats().total_requests, 1);
    let v = vvtool.order(2_198_111_437_768_747_370).unwrap();
    assert_eq!((v.entries[0].discount, v.carriage), (-2000, 0));

    let em = sb.em().unwrap();
    assert_eq!(em.stats().total_requests, 1);
    let t = em.order("DD202409260001").unwrap();
    assert_eq!(
        (t.distrctname.as_str(), t.traderemark.as_str()),
        ("嘉定区", "周末送达")
    );
    assert_eq!(t.items[0].mainmeasunitqty, 5);
    assert_eq!(receipts[2].reference.as_deref(), Some("DD202409260001"));

    let icbu = sb.icbu().unwrap();
    assert_eq!(icbu.stats().total_requests, 1);
    let i = icbu.order("24668306501026709").unwrap();
    assert_eq!(i.version, "2");
    let sent = i.last_modify.unwrap();
    assert_eq!(sent["payment_detail"]["total_amount"], "210.00");
    assert_eq!(sent["remark"], "请尽快发货");
    assert_eq!(receipts[3].reference.as_deref(), Some("24668306501026709"));
    assert!(receipts[3].payment_url.is_some());
}

#[tokio::test]
async fn every_outbound_platform_reports_failures_through_the_port() {
    let sb = Sandbox::builder()
        .seed(12)
        .all_platforms()
        .start()
        .await
        .expect("sandbox starts");
    let http = HttpClient::new(&HttpConfig::default()).expect("http client");
    let cases = platforms(&sb, &http);

    // The same plans, against orders the emulators do not know: every platform answers with
    // an error carrying its own code and message, not retried, never a panic or a success.
    for case in &cases {
        let name = case.platform.name();
        let unknown: Order = {
            let mut v = serde_json::to_value(order_domain::OrderSpec::from(case.order.clone()))
                .expect("order spec serialises");
            v["id"] = json!("4242424242");
            from_json(v)
        };
        let p = plan(&unknown, &case.set, case.platform.policy())
            .unwrap_or_else(|r| panic!("{name}: {r}"));
        let e = case
            .platform
            .apply(&unknown, &p)
            .await
            .expect_err("the order does not exist on the platform");
        assert!(e.code().is_some(), "{name}: {e}");
        assert!(!e.message().is_empty(), "{name}: {e}");
        assert!(!e.retryable(), "{name}: {e}");
    }
}
