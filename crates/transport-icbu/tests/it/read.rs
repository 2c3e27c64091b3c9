//! The ICBU seller's order read (`alibaba.seller.order.get`) over real HTTP against the TOP
//! emulator.

use std::time::Duration;
use transport_core::ClientConfig as _;

use order_domain::{
    Amendment, Amount, Order, OrderId, OrderPlatform, OrderSource, OrderStatus, PlatformErrorKind,
    ShipmentDate, plan,
};
use order_sandbox::{IcbuOrder, IcbuSettings, Sandbox};
use serde_json::{Value, json};
use transport_core::{HttpClient, HttpConfig, RetryPolicy, SecretString};
use transport_icbu::{IcbuClient, IcbuConfig, IcbuPlatform, SignMethod};

/// Above 2^53, like real trade ids.
const TRADE: &str = "24668306501026709";
/// 2^53 + 1: a product id a float would round.
const BIG_PRODUCT: u64 = 9_007_199_254_740_993;
const VERSION: &str = "1576114051021";

fn retry(attempts: u32, base: Duration) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        base_delay: base,
        max_delay: base * 4,
        jitter: false,
        ..RetryPolicy::default()
    }
}

/// The order's terms as a modify would have set them.
fn terms() -> Value {
    json!({
        "trade_id": TRADE,
        "logistics_detail": {
            "shipment_address": {"zip": "10001", "country": "United States of America",
                "address": "Bank of new york", "city": "New York", "contact_person": "james",
                "province_code": "NY",
                "telephone": {"area": "212", "country": "1", "number": "5550100"}},
            "shipment_method": "sea", "trade_term": "FOB", "carrier": "DHL", "carrier_code": "DHL",
            "shipment_date": {"duration": 5, "type": "relative"}
        },
        "payment_detail": {"shipment_fee": "20", "total_amount": "220", "product_amount": "200",
            "initial_amount": "150", "currency": "USD"},
        "product_list": [
            {"product_id": BIG_PRODUCT, "name": "helloworld", "sku_id": "-1", "unit": "set",
             "quantity": "100", "unit_price_str": "2"}
        ],
        "remark": "尽快发货"
    })
}

async fn sandbox(settings: IcbuSettings) -> Sandbox {
    let sb = Sandbox::builder()
        .seed(9)
        .icbu(settings)
        .start()
        .await
        .expect("sandbox starts");
    let mut o = IcbuOrder::unpaid(TRADE, VERSION);
    o.last_modify = Some(terms());
    sb.icbu().unwrap().seed_order(o);
    sb
}

fn platform_with(sb: &Sandbox, session: &str, retry: RetryPolicy) -> IcbuPlatform {
    let config = IcbuConfig::new(
        "icbu-app",
        SecretString::from("icbu-secret"),
        SecretString::from(session.to_owned()),
    )
    .with_base_url(sb.icbu().unwrap().base_url())
    .with_sign_method(SignMethod::HmacSha256)
    .with_rate_limit(None)
    .with_retry(retry);
    IcbuPlatform::new(IcbuClient::new(
        HttpClient::new(&HttpConfig::default()).unwrap(),
        config,
    ))
}

fn platform(sb: &Sandbox) -> IcbuPlatform {
    platform_with(sb, "icbu-session", retry(3, Duration::from_millis(1)))
}

fn trade() -> OrderId {
    OrderId::new(TRADE).unwrap()
}

fn amount(s: &str) -> Amount {
    Amount::parse(s).unwrap()
}

async fn fetch(p: &IcbuPlatform) -> Order {
    OrderSource::fetch(p, &trade()).await.unwrap()
}

fn outcomes(sb: &Sandbox) -> Vec<String> {
    sb.icbu()
        .unwrap()
        .calls_for(TRADE)
        .into_iter()
        .map(|c| c.outcome)
        .collect()
}

#[tokio::test]
async fn read_maps_status_lines_payment_logistics_address_version_and_big_ids() {
    let sb = sandbox(IcbuSettings::default()).await;
    let o = fetch(&platform(&sb)).await;
    assert_eq!(o.id().as_str(), TRADE);
    assert_eq!(o.status(), &OrderStatus::AwaitingPayment);
    assert_eq!(o.currency().to_string(), "USD");
    assert_eq!(o.revision().version.as_ref().unwrap().as_str(), VERSION);
    assert_eq!(o.revision().count, 0);
    let line = &o.lines()[0];
    assert_eq!(line.product().unwrap().as_str(), "9007199254740993");
    assert_eq!(line.sku().unwrap().as_str(), "-1");
    assert_eq!(line.id().as_str(), "9007199254740993:-1");
    assert_eq!(line.quantity().to_string(), "100");
    assert_eq!(
        line.unit_price(),
        Some(amount("2").in_currency(o.currency()))
    );
    assert_eq!(
        line.original_total(),
        amount("200").in_currency(o.currency())
    );
    assert_eq!(line.current_total(), line.original_total());
    assert_eq!(o.freight_current(), amount("20").in_currency(o.currency()));
    let pay = o.payment().unwrap();
    assert_eq!(
        (pay.products, pay.freight, pay.total, pay.initial),
        (amount("200"), amount("20"), amount("220"), amount("150"))
    );
    let l = o.logistics().unwrap();
    assert_eq!(l.shipment_method.as_deref(), Some("sea"));
    assert_eq!(l.trade_term.as_deref(), Some("FOB"));
    assert_eq!(l.carrier.as_deref(), Some("DHL"));
    assert_eq!(l.shipment_date, Some(ShipmentDate::DaysAfterPayment(5)));
    let a = o.address().unwrap();
    assert_eq!(a.receiver.as_deref(), Some("james"));
    assert_eq!(a.zip.as_deref(), Some("10001"));
    // Only `province_code` on the wire: it names the province (the modify call's one field).
    assert_eq!(a.province.as_deref(), Some("NY"));
    assert_eq!(a.province_code, None);
    assert_eq!(
        a.telephone.as_ref().unwrap().number.as_deref(),
        Some("5550100")
    );
    assert_eq!(o.remarks().unwrap().order.as_deref(), Some("尽快发货"));
    assert_eq!(outcomes(&sb), ["read"]);
}

fn cheaper() -> Amendment {
    serde_json::from_value(json!({
        "items": [{"product": BIG_PRODUCT.to_string(), "sku": "-1", "name": "helloworld",
                   "unit": "set", "quantity": "100", "unit_price": "1.5"}],
        "payment": {"products": "150", "freight": "20", "total": "170", "initial": "100"}
    }))
    .unwrap()
}

#[tokio::test]
async fn a_read_after_a_change_shows_the_target_and_the_next_version_token() {
    let sb = sandbox(IcbuSettings::default()).await;
    let p = platform(&sb);
    let before = fetch(&p).await;
    let pl = plan(&before, &cheaper(), OrderPlatform::policy(&p)).unwrap();
    p.apply(&before, &pl).await.unwrap();
    let after = fetch(&p).await;
    assert_eq!(
        after.revision().version.as_ref().unwrap().as_str(),
        "1576114051022"
    );
    let items = pl.items().unwrap();
    assert_eq!(after.lines().len(), items.len());
    for (line, item) in after.lines().iter().zip(items) {
        assert_eq!(
            line.unit_price(),
            item.unit_price.map(|u| u.in_currency(after.currency())),
            "line {}",
            line.id()
        );
        assert_eq!(line.quantity(), item.quantity, "line {}", line.id());
    }
    assert_eq!(after.payment(), pl.payment());
    assert_eq!(after.logistics(), before.logistics(), "restated unchanged");
    assert_eq!(after.address(), before.address(), "restated unchanged");
    // The stale snapshot's token is refused; the read's token is accepted.
    let again: Amendment = serde_json::from_value(json!({"remarks": {"order": "x"}})).unwrap();
    let stale = plan(&before, &again, OrderPlatform::policy(&p)).unwrap();
    let e = p.apply(&before, &stale).await.unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::Conflict);
    let fresh = plan(&after, &again, OrderPlatform::policy(&p)).unwrap();
    p.apply(&after, &fresh).await.unwrap();
}

#[tokio::test]
async fn an_unknown_trade_is_not_found() {
    let sb = sandbox(IcbuSettings::default()).await;
    let e = OrderSource::fetch(&platform(&sb), &OrderId::new("404404").unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::NotFound);
    assert_eq!(e.code(), Some("ORDER_NOT_EXIST"));
}

#[tokio::test]
async fn a_bad_session_is_unauthorised_and_kept_out_of_the_error() {
    let sb = sandbox(IcbuSettings::default()).await;
    let p = platform_with(&sb, "stolen-session", retry(3, Duration::from_millis(1)));
    let e = OrderSource::fetch(&p, &trade()).await.unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::Unauthorised);
    let text = format!("{e} {e:?}");
    assert!(!text.contains("stolen-session"), "{text}");
    assert!(!text.contains("icbu-secret"), "{text}");
}

#[tokio::test]
async fn the_app_call_limit_is_retried() {
    let sb = sandbox(IcbuSettings {
        rate_limit_per_second: Some(1),
        ..IcbuSettings::default()
    })
    .await;
    let p = platform_with(&sb, "icbu-session", retry(5, Duration::from_millis(400)));
    fetch(&p).await;
    fetch(&p).await;
    let seen = outcomes(&sb);
    assert_eq!(seen.first().map(String::as_str), Some("read"));
    assert!(seen.iter().any(|o| o == "rate_limited"), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("read"));
}

#[tokio::test]
async fn a_change_acknowledged_without_apply_reads_back_unchanged() {
    let sb = sandbox(IcbuSettings::default()).await;
    let p = platform(&sb);
    let before = fetch(&p).await;
    sb.icbu().unwrap().ack_without_apply(1);
    let pl = plan(&before, &cheaper(), OrderPlatform::policy(&p)).unwrap();
    p.apply(&before, &pl).await.unwrap();
    assert_eq!(fetch(&p).await, before);
}
