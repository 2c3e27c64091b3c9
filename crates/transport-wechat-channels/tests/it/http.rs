//! WeChat Channels transport over real HTTP against the `order-sandbox` emulator.

use std::sync::Arc;
use std::time::Duration;
use transport_core::ClientConfig as _;

use async_trait::async_trait;
use order_domain::{
    Amendment, Order, OrderId, OrderPlatform, OrderSource, OrderStatus, PlatformError,
    PlatformErrorKind, PriceDirection, ViolationCode, plan,
};
use order_sandbox::{
    ChannelsAddress, ChannelsEmulator, ChannelsOrder, ChannelsSettings, Fault, Sandbox,
};
use transport_core::wechat_token::{
    AppSecretTokenSource, TokenEndpoint, TokenSource, TokenSources,
};
use transport_core::{ExposeSecret, HttpClient, HttpConfig, RetryPolicy, SecretString};
use transport_wechat_channels::{
    AddressUpdateRequest, ChangeOrderInfo, ChannelsClient, ChannelsConfig, ChannelsError,
    ChannelsPlatform, PriceUpdateRequest, UserAddress, policy,
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

async fn sandbox(settings: ChannelsSettings) -> (Sandbox, ChannelsEmulator) {
    let sb = Sandbox::builder()
        .seed(7)
        .channels(settings)
        .start()
        .await
        .unwrap();
    let em = sb.channels().unwrap().clone();
    (sb, em)
}

fn config(em: &ChannelsEmulator, appid: &str) -> ChannelsConfig {
    ChannelsConfig::new(appid, SecretString::from(SECRET))
        .with_base_url(em.base_url())
        .with_rate_limit(None)
        .with_retry(fast_retry(4))
}

fn client(em: &ChannelsEmulator) -> ChannelsClient {
    ChannelsClient::new(http(), config(em, APPID))
}

fn platform(em: &ChannelsEmulator) -> ChannelsPlatform {
    ChannelsPlatform::new(client(em))
}

fn address() -> ChannelsAddress {
    ChannelsAddress {
        user_name: Some("陈先生".into()),
        province_name: Some("广东省".into()),
        city_name: Some("广州市".into()),
        county_name: Some("海珠区".into()),
        detail_info: Some("大塘路 1 号".into()),
        tel_number: Some("13800000000".into()),
        postal_code: Some("510000".into()),
        ..ChannelsAddress::default()
    }
}

/// Order `BIG_ORDER`: 2 × 15.00 of (BIG_PRODUCT, BIG_SKU) and 1 × 20.00 of (2, 22), freight
/// 5.00, with an address.
fn seed_big(em: &ChannelsEmulator, status: u32) {
    let mut o = ChannelsOrder::awaiting_payment(
        BIG_ORDER,
        500,
        &[(BIG_PRODUCT, BIG_SKU, 2, 1500), (2, 22, 1, 2000)],
    );
    o.status = status;
    o.address = address();
    em.seed_order(o);
}

fn amend(json: &str) -> Amendment {
    serde_json::from_str(json).unwrap()
}

fn oid(id: u64) -> OrderId {
    OrderId::new(id.to_string()).unwrap()
}

fn calls(em: &ChannelsEmulator) -> usize {
    em.calls().len()
}

fn price_req(order_id: u64, infos: &[(u64, u64, i64)], fee: Option<i64>) -> PriceUpdateRequest {
    PriceUpdateRequest {
        order_id,
        change_order_infos: infos
            .iter()
            .map(|&(product_id, sku_id, change_price)| ChangeOrderInfo {
                product_id,
                sku_id,
                change_price,
            })
            .collect(),
        change_express: fee.is_some(),
        express_fee: fee,
    }
}

/// Neither the app secret nor any token the emulator issued may appear in an error.
fn assert_no_secret(e: &PlatformError) {
    let text = format!("{e} {e:?}");
    assert!(!text.contains(SECRET), "secret leaked: {text}");
    assert!(!text.contains("sbx_ch_"), "token leaked: {text}");
}

#[tokio::test]
async fn the_read_maps_status_lines_prices_and_address_with_ids_above_2_pow_53_intact() {
    let (_sb, em) = sandbox(ChannelsSettings::default()).await;
    seed_big(&em, 10);
    let c = client(&em);
    // Lower the big line to 25.00 and the freight to 3.00 first.
    c.update_price(&price_req(
        BIG_ORDER,
        &[(BIG_PRODUCT, BIG_SKU, 2500)],
        Some(300),
    ))
    .await
    .unwrap();
    let o = platform(&em).fetch(&oid(BIG_ORDER)).await.unwrap();
    assert_eq!(o.id().as_str(), "3705115058471208928");
    assert_eq!(*o.status(), OrderStatus::AwaitingPayment);
    let big = &o.lines()[0];
    assert_eq!(big.id().as_str(), "9007199254740993:18446744073709551615");
    assert_eq!(big.product().unwrap().as_str(), "9007199254740993");
    assert_eq!(big.sku().unwrap().as_str(), "18446744073709551615");
    assert_eq!(big.quantity().to_string(), "2");
    assert_eq!(big.unit_price().unwrap().to_string(), "15.00");
    assert_eq!(big.original_total().to_string(), "30.00");
    assert_eq!(big.current_total().to_string(), "25.00");
    assert_eq!(o.lines()[1].current_total().to_string(), "20.00");
    assert_eq!(o.freight_original().to_string(), "5.00");
    assert_eq!(o.freight_current().to_string(), "3.00");
    assert_eq!(o.total().unwrap().to_string(), "48.00");
    let a = o.address().unwrap();
    assert_eq!(a.receiver.as_deref(), Some("陈先生"));
    assert_eq!(a.district.as_deref(), Some("海珠区"));
    assert_eq!(a.street.as_deref(), Some("大塘路 1 号"));
    assert_eq!(a.mobile.as_deref(), Some("13800000000"));
    assert_eq!(o.revision().count, 0, "the read carries no change count");

    for (code, status) in [
        (20, OrderStatus::Paid),
        (30, OrderStatus::Shipped),
        (100, OrderStatus::Completed),
        (250, OrderStatus::Closed),
    ] {
        seed_big(&em, code);
        let o = platform(&em).fetch(&oid(BIG_ORDER)).await.unwrap();
        assert_eq!(*o.status(), status, "status {code}");
    }
    let e = platform(&em).fetch(&oid(42)).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (PlatformErrorKind::NotFound, Some("100002"))
    );
}

#[tokio::test]
async fn a_price_change_restates_what_earlier_changes_lowered() {
    let (_sb, em) = sandbox(ChannelsSettings::default()).await;
    seed_big(&em, 10);
    let p = platform(&em);
    let o = p.fetch(&oid(BIG_ORDER)).await.unwrap();
    let first = plan(
        &o,
        &amend(r#"{"lines": {"9007199254740993:18446744073709551615": "25.00"}}"#),
        &policy(),
    )
    .unwrap();
    p.apply(&o, &first).await.unwrap();
    // A freight-only change: on the platform it replaces the earlier change, so the big line
    // must be stated again or it would return to 30.00.
    let o = p.fetch(&oid(BIG_ORDER)).await.unwrap();
    let second = plan(&o, &amend(r#"{"freight": "0"}"#), &policy()).unwrap();
    p.apply(&o, &second).await.unwrap();
    let now = em.order(BIG_ORDER).unwrap();
    assert_eq!(now.lines[0].current_total, 2500, "the earlier change kept");
    assert_eq!(now.lines[1].current_total, 2000);
    assert_eq!(now.freight, 0);
    assert_eq!(now.price_changes, 2);
}

#[tokio::test]
async fn an_address_change_sends_the_whole_address_and_the_sixth_is_refused_before_sending() {
    let (_sb, em) = sandbox(ChannelsSettings::default()).await;
    seed_big(&em, 20);
    let p = platform(&em);
    let o = p.fetch(&oid(BIG_ORDER)).await.unwrap();
    for n in 1..=5 {
        let a = amend(&format!(
            r#"{{"address": {{"receiver": "王{n}", "mobile": "139", "province": "浙江省", "city": "杭州市", "street": "文三路 {n} 号"}}}}"#
        ));
        let pl = plan(&o, &a, &policy()).unwrap();
        p.apply(&o, &pl).await.unwrap();
        let held = em.order(BIG_ORDER).unwrap().address;
        assert_eq!(held.user_name.as_deref(), Some(format!("王{n}").as_str()));
        assert_eq!(held.county_name, None, "the whole address is replaced");
    }
    assert_eq!(calls(&em), 6, "one read and five changes");
    let a = amend(
        r#"{"address": {"receiver": "王6", "mobile": "139", "province": "浙江省", "city": "杭州市", "street": "文三路 6 号"}}"#,
    );
    let e = p
        .apply(&o, &plan(&o, &a, &policy()).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::RejectedByRule);
    assert!(e.message().contains('5'), "{e}");
    assert_eq!(calls(&em), 6, "refused before sending");
    assert_eq!(p.address_changes(&oid(BIG_ORDER)), 5);

    // A shipped order: the policy lets the plan through (its status list is the union); the
    // platform refuses the address without a call.
    seed_big(&em, 30);
    let shipped = p.fetch(&oid(BIG_ORDER)).await.unwrap();
    let before = calls(&em);
    let mut lax = policy();
    lax.allowed_statuses = None;
    let e = ChannelsPlatform::new(client(&em))
        .apply(&shipped, &plan(&shipped, &a, &lax).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::WrongState);
    assert_eq!(calls(&em), before);
}

#[tokio::test]
async fn the_50_change_limit_a_raise_and_prices_with_the_address_are_refused_with_zero_calls() {
    let (_sb, em) = sandbox(ChannelsSettings::default()).await;
    seed_big(&em, 10);
    let p = platform(&em);
    let o = p.fetch(&oid(BIG_ORDER)).await.unwrap();
    let before = calls(&em);

    // 50 changes so far: the policy rejects the plan, and the platform refuses it even when a
    // plan was made under a policy without the limit.
    let mut spec = order_domain::OrderSpec::from(o.clone());
    spec.revision.count = 50;
    let fifty = Order::try_from(spec).unwrap();
    let lower = amend(r#"{"lines": {"2:22": "19.00"}}"#);
    let r = plan(&fifty, &lower, &policy()).unwrap_err();
    assert!(r.has(ViolationCode::RevisionLimitReached), "{r:?}");
    let mut lax = policy();
    lax.revision_limit = None;
    let e = p
        .apply(&fifty, &plan(&fifty, &lower, &lax).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::RejectedByRule);
    assert!(e.message().contains("50"), "{e}");

    // A raise: rejected by the policy, and by the platform under a policy that allows it.
    let raise = amend(r#"{"lines": {"2:22": "21.00"}}"#);
    assert!(plan(&o, &raise, &policy()).is_err());
    let mut any = policy();
    any.price_direction = PriceDirection::Any;
    let e = p
        .apply(&o, &plan(&o, &raise, &any).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::RejectedByRule);
    assert!(e.message().contains("only lowers"), "{e}");

    // Prices and the address together need two calls.
    let both = amend(
        r#"{"lines": {"2:22": "19.00"}, "address": {"receiver": "王", "mobile": "139", "province": "浙江省", "city": "杭州市", "street": "文三路"}}"#,
    );
    let e = p
        .apply(&o, &plan(&o, &both, &policy()).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::RejectedByRule);

    assert_eq!(calls(&em), before, "nothing was sent");
    assert_eq!(em.order(BIG_ORDER).unwrap().price_changes, 0);
}

/// A token source that hands out one fixed token, also on refresh.
#[derive(Debug)]
struct Fixed(SecretString);

#[async_trait]
impl TokenSource for Fixed {
    async fn token(&self) -> Result<SecretString, PlatformError> {
        Ok(self.0.clone())
    }
    async fn refresh(&self, _rejected: &SecretString) -> Result<SecretString, PlatformError> {
        Ok(self.0.clone())
    }
}

fn with_tokens(em: &ChannelsEmulator, tokens: Arc<dyn TokenSource>) -> ChannelsClient {
    ChannelsClient::with_token_source(http(), config(em, APPID), tokens)
}

async fn issued_token(em: &ChannelsEmulator) -> SecretString {
    AppSecretTokenSource::new(http(), &em.base_url(), APPID, SecretString::from(SECRET))
        .token()
        .await
        .unwrap()
}

/// Asserts `e` carries `code` with the kind the generated table gives it.
fn assert_classified(e: &PlatformError, code: &str) {
    assert_eq!(e.code(), Some(code), "{e}");
    assert_eq!(
        e.kind(),
        ChannelsError::from_reply(code, "").kind(),
        "code {code}: {e}"
    );
    assert!(!e.message().is_empty(), "the platform's message is kept");
    assert_no_secret(e);
}

#[tokio::test]
async fn every_errcode_of_the_page_reaches_the_caller_classified() {
    let settings = ChannelsSettings {
        daily_quota: Some(1000),
        ..ChannelsSettings::default()
    };
    let (_sb, em) = sandbox(settings).await;
    seed_big(&em, 10);
    let c = client(&em);
    let ok_req = price_req(BIG_ORDER, &[(2, 22, 1900)], None);

    // -1: busy, retried, then given up.
    em.fail_next(Fault::Busy, 10);
    let once = ChannelsClient::new(http(), config(&em, APPID).with_retry(fast_retry(2)));
    assert_classified(&once.update_price(&ok_req).await.unwrap_err(), "-1");
    em.clear_faults();

    // Token codes, with a source that cannot do better than the refused token.
    let real = issued_token(&em).await;
    em.invalidate_tokens();
    let stale = with_tokens(&em, Arc::new(Fixed(real.clone())));
    assert_classified(&stale.update_price(&ok_req).await.unwrap_err(), "40001");
    let fresh = issued_token(&em).await;
    em.expire_tokens();
    let expired = with_tokens(&em, Arc::new(Fixed(fresh)));
    assert_classified(&expired.update_price(&ok_req).await.unwrap_err(), "42001");
    let bogus = with_tokens(&em, Arc::new(Fixed(SecretString::from("not-a-token"))));
    assert_classified(&bogus.update_price(&ok_req).await.unwrap_err(), "40014");
    let empty = with_tokens(&em, Arc::new(Fixed(SecretString::from(""))));
    assert_classified(&empty.update_price(&ok_req).await.unwrap_err(), "41001");

    // 45009 and 45011 are scripted here; their retry behaviour has its own tests.
    em.reply_next(45009, "reach max api daily quota limit", 1);
    assert_classified(&c.update_price(&ok_req).await.unwrap_err(), "45009");
    em.reply_next(45011, "api minute-quota reach limit", 2); // both attempts of `once`
    assert_classified(&once.update_price(&ok_req).await.unwrap_err(), "45011");

    // 48001: an app without the permission.
    let noperm = ChannelsClient::new(http(), config(&em, "wx-sandbox-noperm"));
    assert_classified(&noperm.update_price(&ok_req).await.unwrap_err(), "48001");

    // The business codes, sent raw past the transport's own checks.
    let cases: [(PriceUpdateRequest, &str); 4] = [
        (price_req(BIG_ORDER, &[(2, 23, 100)], None), "40097"),
        (price_req(42, &[(2, 22, 100)], None), "100002"),
        (price_req(BIG_ORDER, &[(2, 22, 2001)], None), "108021"),
        (
            price_req(BIG_ORDER, &[(BIG_PRODUCT, BIG_SKU, 0), (2, 22, 0)], Some(0)),
            "108023",
        ),
    ];
    for (req, code) in cases {
        assert_classified(&c.update_price(&req).await.unwrap_err(), code);
    }
    seed_big(&em, 20);
    assert_classified(&c.update_price(&ok_req).await.unwrap_err(), "101100");
    let mut fifty = ChannelsOrder::awaiting_payment(BIG_ORDER, 500, &[(2, 22, 1, 2000)]);
    fifty.price_changes = 50;
    em.seed_order(fifty);
    assert_classified(&c.update_price(&ok_req).await.unwrap_err(), "108022");
    // The address call's refusal of a shipped order.
    seed_big(&em, 30);
    let addr = AddressUpdateRequest {
        order_id: BIG_ORDER,
        user_address: UserAddress {
            user_name: Some("王".into()),
            province_name: Some("浙江省".into()),
            city_name: Some("杭州市".into()),
            detail_info: Some("文三路".into()),
            tel_number: Some("139".into()),
            ..UserAddress::default()
        },
    };
    assert_classified(&c.update_address(&addr).await.unwrap_err(), "40097");
}

#[tokio::test]
async fn the_token_is_refreshed_once_on_40001_and_on_42001_then_the_call_passes() {
    let (_sb, em) = sandbox(ChannelsSettings::default()).await;
    seed_big(&em, 10);
    let c = client(&em);
    c.get_order(BIG_ORDER).await.unwrap();
    assert_eq!(em.tokens_issued(), 1);
    em.invalidate_tokens();
    c.get_order(BIG_ORDER).await.unwrap();
    assert_eq!(em.tokens_issued(), 2, "one refresh after 40001");
    em.expire_tokens();
    c.get_order(BIG_ORDER).await.unwrap();
    assert_eq!(em.tokens_issued(), 3, "one refresh after 42001");
    let outcomes: Vec<String> = em.calls().into_iter().map(|c| c.outcome).collect();
    assert_eq!(
        outcomes,
        ["ok", "rejected:40001", "ok", "rejected:42001", "ok"]
    );
}

#[tokio::test]
async fn the_daily_quota_fails_once_without_a_retry_and_says_how_it_resets() {
    let settings = ChannelsSettings {
        daily_quota: Some(1),
        ..ChannelsSettings::default()
    };
    let (_sb, em) = sandbox(settings).await;
    seed_big(&em, 10);
    let c = client(&em); // four attempts allowed
    c.get_order(BIG_ORDER).await.unwrap();
    let e = c
        .update_price(&price_req(BIG_ORDER, &[(2, 22, 1900)], None))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PlatformErrorKind::QuotaExhausted);
    assert_eq!(e.code(), Some("45009"));
    assert_eq!(e.message(), "reach max api daily quota limit");
    let detail = e.detail().unwrap();
    assert!(
        detail.contains("next day") && detail.contains("/cgi-bin/clear_quota"),
        "{detail}"
    );
    assert_eq!(calls(&em), 2, "the refused call was sent once");
}

#[tokio::test]
async fn the_minute_quota_is_retried_after_a_pause_and_then_passes() {
    let (_sb, em) = sandbox(ChannelsSettings::default()).await;
    seed_big(&em, 10);
    em.reply_next(45011, "api minute-quota reach limit", 2);
    let c = client(&em);
    c.update_price(&price_req(BIG_ORDER, &[(2, 22, 1900)], None))
        .await
        .unwrap();
    assert_eq!(calls(&em), 3, "two refusals, then the change");
    assert_eq!(em.order(BIG_ORDER).unwrap().lines[1].current_total, 1900);

    // The emulator's own rate answers 45011 to an unpaced client; retries get through.
    let settings = ChannelsSettings {
        rate_limit_per_second: Some(2),
        ..ChannelsSettings::default()
    };
    let (_sb2, em2) = sandbox(settings).await;
    seed_big(&em2, 10);
    let patient = ChannelsClient::new(
        http(),
        config(&em2, APPID).with_retry(RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_millis(800),
            jitter: false,
            ..RetryPolicy::default()
        }),
    );
    for _ in 0..4 {
        patient.get_order(BIG_ORDER).await.unwrap();
    }
    assert!(
        em2.calls().iter().any(|c| c.outcome == "rate_limited"),
        "the burst met the limit"
    );
}

#[tokio::test]
async fn two_shops_of_one_app_share_one_token() {
    let (_sb, em) = sandbox(ChannelsSettings::default()).await;
    seed_big(&em, 10);
    let http = http();
    let tokens = TokenSources::new();
    let secret = SecretString::from(SECRET);
    let shop = |_: u8| {
        let source = tokens.get(&http, &em.base_url(), TokenEndpoint::Stable, APPID, &secret);
        ChannelsClient::with_token_source(http.clone(), config(&em, APPID), source)
    };
    let (a, b) = (shop(1), shop(2));
    a.get_order(BIG_ORDER).await.unwrap();
    b.get_order(BIG_ORDER).await.unwrap();
    a.get_order(BIG_ORDER).await.unwrap();
    assert_eq!(em.token_fetches(), 1, "one fetch served both shops");
    assert_eq!(tokens.len(), 1);

    // After a refusal the stable endpoint is forced to issue a new token, once.
    em.invalidate_tokens();
    b.get_order(BIG_ORDER).await.unwrap();
    a.get_order(BIG_ORDER).await.unwrap();
    assert_eq!(em.tokens_issued(), 2);
    let outcomes: Vec<String> = em.calls().into_iter().map(|c| c.outcome).collect();
    assert_eq!(outcomes, ["ok", "ok", "ok", "rejected:40001", "ok", "ok"]);
}

#[tokio::test]
async fn errors_and_debug_output_carry_no_secret() {
    let (_sb, em) = sandbox(ChannelsSettings::default()).await;
    let mut cfg = config(&em, APPID);
    cfg.secret = SecretString::from("wrong-secret-xyz");
    let c = ChannelsClient::new(http(), cfg);
    let e = c.get_order(1).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (PlatformErrorKind::Unauthorised, Some("40125"))
    );
    assert!(!format!("{e} {e:?} {c:?}").contains("wrong-secret-xyz"));
    assert_eq!(calls(&em), 0, "never reached the business endpoint");
    let token = issued_token(&em).await;
    em.reply_next(40097, &format!("invalid args {}", token.expose_secret()), 1);
    let e = with_tokens(&em, Arc::new(Fixed(token)))
        .get_order(1)
        .await
        .unwrap_err();
    assert_no_secret(&e);
}

#[tokio::test]
async fn a_stable_token_the_platform_still_refuses_is_replaced_by_a_forced_refresh() {
    let (_sb, em) = sandbox(ChannelsSettings::default()).await;
    seed_big(&em, 10);
    let source: Arc<dyn TokenSource> = Arc::new(AppSecretTokenSource::at(
        http(),
        &em.base_url(),
        TokenEndpoint::Stable,
        APPID,
        SecretString::from(SECRET),
    ));
    let c = with_tokens(&em, source);
    c.get_order(BIG_ORDER).await.unwrap();
    // The token is still the current one for the token endpoint, but the call refuses it.
    em.reply_next(
        40001,
        "invalid credential, access_token is invalid or not latest",
        1,
    );
    c.get_order(BIG_ORDER).await.unwrap();
    assert_eq!(
        em.token_fetches(),
        3,
        "first fetch, unforced refetch, forced refetch"
    );
    assert_eq!(
        em.tokens_issued(),
        2,
        "the forced refetch issued a new token"
    );
}
