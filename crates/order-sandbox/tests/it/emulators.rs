//! Interoperability tests of the emulators over real HTTP.

use std::time::{Duration, Instant};

use order_sandbox::{
    EmSettings, EmSignScheme, EmTrade, Fault, FaultProfile, IcbuOrder, IcbuSettings, Sandbox,
    VvtoolBusyReply, VvtoolOrder, VvtoolSettings, VvtoolToken, WechatOrder, WechatQuota,
    WechatSettings,
};
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    // reqwest 0.13 has no crypto provider of its own (decision D14). These tests speak plain
    // HTTP, so the client gets a TLS configuration with no roots: loading the system's roots
    // for every client would cost tens of milliseconds per request and skew the rate tests.
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default protocol versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .expect("client")
}

async fn json_of(resp: reqwest::Response) -> Value {
    let text = resp.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

// ---------------------------------------------------------------- WeChat

const BIG: u64 = 2_198_111_437_768_747_370; // above 2^53

async fn wechat_sandbox(settings: WechatSettings) -> Sandbox {
    Sandbox::builder()
        .seed(7)
        .wechat(settings)
        .start()
        .await
        .expect("start")
}

async fn wx_token(base: &str, appid: &str, secret: &str) -> Value {
    let url =
        format!("{base}/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}");
    json_of(client().get(url).send().await.expect("send")).await
}

async fn wx_change(base: &str, token: &str, body: &Value) -> Value {
    let url = format!("{base}/product/order/change_order_price?access_token={token}");
    json_of(client().post(url).json(body).send().await.expect("send")).await
}

fn wx_order() -> WechatOrder {
    WechatOrder::awaiting_payment(BIG, 500, &[(1, 11, 3000), (2, 22, 2000)])
}

#[tokio::test]
async fn wechat_change_price_succeeds_and_is_absolute() {
    let sb = wechat_sandbox(WechatSettings::default()).await;
    let wx = sb.wechat().unwrap();
    wx.seed_order(wx_order());
    let base = wx.base_url();
    let tok = wx_token(&base, "wx-sandbox-app", "sandbox-secret").await;
    assert_eq!(tok["expires_in"], 7200);
    let token = tok["access_token"].as_str().unwrap().to_owned();

    // Raw JSON text so the id travels as an exact 64-bit integer literal.
    let body: Value = serde_json::from_str(&format!(
        r#"{{"order_id": {BIG}, "change_express": true, "express_fee": 0,
            "change_order_infos": [{{"product_id": 1, "sku_id": 11, "change_price": 2500}}]}}"#
    ))
    .unwrap();
    let r = wx_change(&base, &token, &body).await;
    assert_eq!(r, json!({"errcode": 0, "errmsg": "ok"}));
    // The same request again yields the same state (absolute totals), revision 2.
    let r = wx_change(&base, &token, &body).await;
    assert_eq!(r["errcode"], 0);
    let o = wx.order(BIG).unwrap();
    assert_eq!(o.lines[0].current_total, 2500);
    assert_eq!(o.lines[1].current_total, 2000, "unnamed line unchanged");
    assert_eq!(o.express_fee, 0);
    assert_eq!(o.revisions, 2);

    // Ids as strings are accepted; change_express=false leaves freight alone.
    let body = json!({"order_id": BIG.to_string(), "change_express": false, "express_fee": 100,
        "change_order_infos": [{"product_id": "2", "sku_id": "22", "change_price": "1500"}]});
    assert_eq!(wx_change(&base, &token, &body).await["errcode"], 0);
    let o = wx.order(BIG).unwrap();
    assert_eq!((o.lines[1].current_total, o.express_fee), (1500, 0));

    let key = BIG.to_string();
    let stats = wx.stats();
    assert_eq!(stats.total_requests, 3);
    assert_eq!(stats.changes_per_order[&key], 3);
    assert_eq!(
        stats.moves_per_order[&key], 2,
        "the identical second request re-stated the state without moving it"
    );
    assert_eq!(wx.calls_for(&key).len(), 3);
    assert!(wx.calls_for("999").is_empty());
}

#[tokio::test]
async fn wechat_token_lifecycle() {
    let sb = wechat_sandbox(WechatSettings::default()).await;
    let wx = sb.wechat().unwrap();
    wx.seed_order(wx_order());
    let base = wx.base_url();
    let body = json!({"order_id": BIG, "change_express": false, "change_order_infos": []});

    let bad = wx_token(&base, "wx-sandbox-app", "wrong").await;
    assert_eq!(bad["errcode"], 40125);

    let t1 = wx_token(&base, "wx-sandbox-app", "sandbox-secret").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let t2 = wx_token(&base, "wx-sandbox-app", "sandbox-secret").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(t1, t2);
    assert_eq!(
        wx_change(&base, &t1, &body).await["errcode"],
        40001,
        "superseded"
    );
    assert_eq!(wx_change(&base, &t2, &body).await["errcode"], 0);
    assert_eq!(wx_change(&base, "nope", &body).await["errcode"], 40014);
    assert_eq!(
        wx_change(&base, &"x".repeat(513), &body).await["errcode"],
        -2
    );

    // stable_token keeps the current token unless forced.
    let stable = |force: bool| {
        let base = base.clone();
        async move {
            let url = format!("{base}/cgi-bin/stable_token");
            let body = json!({"grant_type": "client_credential", "appid": "wx-sandbox-app",
                "secret": "sandbox-secret", "force_refresh": force});
            json_of(client().post(url).json(&body).send().await.unwrap()).await["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    assert_eq!(stable(false).await, t2);
    let t3 = stable(true).await;
    assert_ne!(t3, t2);

    wx.expire_tokens();
    assert_eq!(wx_change(&base, &t3, &body).await["errcode"], 42001);
    let t4 = wx.issue_token("wx-sandbox-app").unwrap();
    wx.invalidate_tokens();
    assert_eq!(wx_change(&base, &t4, &body).await["errcode"], 40001);
    assert_eq!(
        wx.order(BIG).unwrap().revisions,
        1,
        "only the t2 call applied"
    );
}

#[tokio::test]
async fn wechat_business_errors_leave_state_alone() {
    let sb = wechat_sandbox(WechatSettings::default()).await;
    let wx = sb.wechat().unwrap();
    wx.seed_order(wx_order());
    let mut paid = WechatOrder::awaiting_payment(2, 0, &[(1, 1, 100)]);
    paid.status = "paid".into();
    wx.seed_order(paid);
    let mut worn = WechatOrder::awaiting_payment(3, 0, &[(1, 1, 100)]);
    worn.revisions = 50;
    wx.seed_order(worn);
    let base = wx.base_url();
    let token = wx.issue_token("wx-sandbox-app").unwrap();
    let line =
        |p: u64, s: u64, price: i64| json!({"product_id": p, "sku_id": s, "change_price": price});
    let req = |id: u64, express: Option<i64>, infos: Vec<Value>| {
        let mut b = json!({"order_id": id, "change_express": express.is_some(), "change_order_infos": infos});
        if let Some(e) = express {
            b["express_fee"] = json!(e);
        }
        b
    };
    let cases = [
        (req(999, None, vec![]), 100002),
        (req(2, None, vec![line(1, 1, 50)]), 101100),
        (req(3, None, vec![line(1, 1, 50)]), 108022),
        (req(BIG, None, vec![line(1, 11, 3001)]), 108021),
        (req(BIG, Some(501), vec![]), 108021),
        (
            req(BIG, Some(0), vec![line(1, 11, 0), line(2, 22, 0)]),
            108023,
        ),
        (req(BIG, None, vec![line(9, 99, 10)]), 9401020),
        (req(BIG, None, vec![line(1, 11, -5)]), 9401020),
        (
            json!({"change_express": false, "change_order_infos": []}),
            9401020,
        ),
        (json!({"order_id": BIG, "change_order_infos": []}), 9401020),
    ];
    for (body, code) in cases {
        assert_eq!(
            wx_change(&base, &token, &body).await["errcode"],
            code,
            "{body}"
        );
    }
    let url = format!("{base}/product/order/change_order_price?access_token={token}");
    let r = json_of(client().post(url).body("{not json").send().await.unwrap()).await;
    assert_eq!(r["errcode"], 9401020);

    let noperm = wx.issue_token("wx-sandbox-noperm").unwrap();
    let r = wx_change(&base, &noperm, &req(BIG, None, vec![line(1, 11, 10)])).await;
    assert_eq!(r["errcode"], 9401021);

    assert_eq!(
        wx.order(BIG).unwrap(),
        wx_order(),
        "no rejected call changed the order"
    );
    assert!(wx.stats().changes_per_order.is_empty());
}

#[tokio::test]
async fn wechat_rate_limit_per_appid() {
    let settings = WechatSettings {
        rate_limit_per_second: Some(1),
        ..WechatSettings::default()
    };
    let sb = wechat_sandbox(settings).await;
    let wx = sb.wechat().unwrap();
    wx.seed_order(wx_order());
    let token = wx.issue_token("wx-sandbox-app").unwrap();
    let body = json!({"order_id": BIG, "change_express": false, "change_order_infos": []});
    let mut limited = 0;
    for _ in 0..6 {
        let r = wx_change(&wx.base_url(), &token, &body).await;
        if r["errcode"] == 45011 {
            assert_eq!(r["errmsg"], "api minute-quota reach limit", "{r}");
            limited += 1;
        } else {
            assert_eq!(r["errcode"], 0);
        }
    }
    assert!(limited >= 3, "burst of 6 against 1/s: {limited} limited");
    assert_eq!(wx.stats().rate_limited, limited);
    // Lifting the limit.
    let sb = wechat_sandbox(WechatSettings {
        rate_limit_per_second: None,
        ..WechatSettings::default()
    })
    .await;
    let wx = sb.wechat().unwrap();
    wx.seed_order(wx_order());
    let token = wx.issue_token("wx-sandbox-app").unwrap();
    for _ in 0..30 {
        assert_eq!(wx_change(&wx.base_url(), &token, &body).await["errcode"], 0);
    }
    assert_eq!(wx.stats().rate_limited, 0);
}

#[tokio::test]
async fn wechat_daily_quota_answers_45009_until_cleared() {
    let sb = wechat_sandbox(WechatSettings {
        rate_limit_per_second: None,
        daily_quota: Some(2),
        ..WechatSettings::default()
    })
    .await;
    let wx = sb.wechat().unwrap();
    wx.seed_order(wx_order());
    let base = wx.base_url();
    let token = wx.issue_token("wx-sandbox-app").unwrap();
    let body = json!({"order_id": BIG, "change_express": true, "express_fee": 400,
        "change_order_infos": []});
    assert_eq!(wx_change(&base, &token, &body).await["errcode"], 0);
    assert_eq!(wx_change(&base, &token, &body).await["errcode"], 0);
    for _ in 0..2 {
        let r = wx_change(&base, &token, &body).await;
        assert_eq!(
            r,
            json!({"errcode": 45009, "errmsg": "reach max api daily quota limit"})
        );
    }
    assert_eq!(
        wx.order(BIG).unwrap().revisions,
        2,
        "refused calls change nothing"
    );

    // clear_quota: only with the app's own token and appid.
    let clear = |appid: &'static str| {
        let url = format!("{base}/cgi-bin/clear_quota?access_token={token}");
        async move {
            json_of(
                client()
                    .post(url)
                    .json(&json!({ "appid": appid }))
                    .send()
                    .await
                    .expect("send"),
            )
            .await
        }
    };
    assert_eq!(clear("wx-other").await["errcode"], 40013);
    assert_eq!(clear("wx-sandbox-app").await["errcode"], 0);
    assert_eq!(wx_change(&base, &token, &body).await["errcode"], 0);
    assert_eq!(wx.order(BIG).unwrap().revisions, 3);
}

#[tokio::test]
async fn wechat_scripted_quota_replies_change_nothing() {
    let sb = wechat_sandbox(WechatSettings::default()).await;
    let wx = sb.wechat().unwrap();
    wx.seed_order(wx_order());
    let base = wx.base_url();
    let token = wx.issue_token("wx-sandbox-app").unwrap();
    let body = json!({"order_id": BIG, "change_express": true, "express_fee": 400,
        "change_order_infos": []});
    wx.exceed_quota(WechatQuota::Daily, 1);
    let admin = client()
        .post(format!("{base}/__admin/quota"))
        .json(&json!({"quota": "minute", "count": 2}))
        .send()
        .await
        .expect("send");
    assert_eq!(admin.status().as_u16(), 204);
    let mut got = Vec::new();
    for _ in 0..4 {
        let r = wx_change(&base, &token, &body).await;
        got.push((r["errcode"].clone(), r["errmsg"].clone()));
    }
    assert_eq!(
        got,
        [
            (json!(45009), json!("reach max api daily quota limit")),
            (json!(45011), json!("api minute-quota reach limit")),
            (json!(45011), json!("api minute-quota reach limit")),
            (json!(0), json!("ok")),
        ]
    );
    let o = wx.order(BIG).unwrap();
    assert_eq!((o.revisions, o.express_fee), (1, 400));
    let outcomes: Vec<String> = wx.calls().into_iter().map(|c| c.outcome).collect();
    assert_eq!(
        outcomes,
        ["quota:daily", "quota:minute", "quota:minute", "ok"]
    );
}

#[tokio::test]
async fn wechat_scripted_faults_of_every_kind() {
    let sb = wechat_sandbox(WechatSettings::default()).await;
    let wx = sb.wechat().unwrap();
    wx.seed_order(wx_order());
    let token = wx.issue_token("wx-sandbox-app").unwrap();
    let url = format!(
        "{}/product/order/change_order_price?access_token={token}",
        wx.base_url()
    );
    let body = json!({"order_id": BIG, "change_express": false,
        "change_order_infos": [{"product_id": 1, "sku_id": 11, "change_price": 100}]});
    let send = || client().post(&url).json(&body).send();

    wx.fail_next(Fault::Http500, 1);
    assert_eq!(send().await.unwrap().status(), 500);

    wx.fail_next(Fault::Busy, 1);
    assert_eq!(json_of(send().await.unwrap()).await["errcode"], -1);

    wx.fail_next(Fault::DropConnection, 1);
    let dropped = match send().await {
        Err(_) => true,
        Ok(r) => r.text().await.is_err(),
    };
    assert!(dropped, "client must see the connection drop");

    wx.fail_next(Fault::TruncatedBody, 1);
    let r = send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        text.starts_with('{') && serde_json::from_str::<Value>(&text).is_err(),
        "{text}"
    );

    wx.fail_next(Fault::MalformedBody, 1);
    let r = send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(serde_json::from_str::<Value>(&r.text().await.unwrap()).is_err());

    assert_eq!(
        wx.order(BIG).unwrap(),
        wx_order(),
        "faulted calls change nothing"
    );

    wx.fail_next(Fault::Latency(150), 1);
    let t = Instant::now();
    assert_eq!(json_of(send().await.unwrap()).await["errcode"], 0);
    assert!(t.elapsed() >= Duration::from_millis(150));
    assert_eq!(wx.order(BIG).unwrap().revisions, 1);

    wx.fail_next(Fault::DropAfterApply, 1);
    let dropped = match send().await {
        Err(_) => true,
        Ok(r) => r.text().await.is_err(),
    };
    assert!(dropped);
    assert_eq!(
        wx.order(BIG).unwrap().revisions,
        2,
        "applied before the drop"
    );

    let stats = wx.stats();
    assert_eq!(stats.faults_injected, 7);
    assert_eq!(stats.total_requests, 7);
    let outcomes: Vec<String> = wx.calls().into_iter().map(|c| c.outcome).collect();
    assert_eq!(
        outcomes,
        [
            "fault:http500",
            "fault:busy",
            "fault:drop_connection",
            "fault:truncated_body",
            "fault:malformed_body",
            "ok",
            "fault:drop_after_apply"
        ]
    );
}

async fn random_fault_outcomes(seed: u64) -> Vec<String> {
    let profile = FaultProfile {
        http500: 200,
        busy: 200,
        malformed_body: 100,
        ..FaultProfile::default()
    };
    let sb = Sandbox::builder()
        .seed(seed)
        .wechat(WechatSettings {
            faults: profile,
            rate_limit_per_second: None,
            ..WechatSettings::default()
        })
        .start()
        .await
        .unwrap();
    let wx = sb.wechat().unwrap();
    wx.seed_order(wx_order());
    let token = wx.issue_token("wx-sandbox-app").unwrap();
    let body = json!({"order_id": BIG, "change_express": false, "change_order_infos": []});
    let url = format!(
        "{}/product/order/change_order_price?access_token={token}",
        wx.base_url()
    );
    for _ in 0..40 {
        let _ = client().post(&url).json(&body).send().await.unwrap();
    }
    wx.calls().into_iter().map(|c| c.outcome).collect()
}

#[tokio::test]
async fn random_faults_repeat_for_the_same_seed() {
    let a = random_fault_outcomes(42).await;
    let b = random_fault_outcomes(42).await;
    let c = random_fault_outcomes(43).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    let faults = a.iter().filter(|o| o.starts_with("fault:")).count();
    assert!(
        (8..=32).contains(&faults),
        "about half of 40 calls faulted, got {faults}"
    );
}

#[tokio::test]
async fn admin_endpoints_over_http() {
    let sb = wechat_sandbox(WechatSettings::default()).await;
    let wx = sb.wechat().unwrap();
    let base = wx.base_url();
    let c = client();
    let seed = json!({"order_id": 77, "original_express_fee": 10, "express_fee": 10,
        "lines": [{"product_id": 1, "sku_id": 2, "original_total": 100, "current_total": 100}]});
    let r = c
        .post(format!("{base}/__admin/orders"))
        .json(&seed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let o = json_of(
        c.get(format!("{base}/__admin/orders/77"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(o["status"], "awaiting_payment");
    assert_eq!(o["revisions"], 0);
    let r = c
        .get(format!("{base}/__admin/orders/78"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let r = c
        .post(format!("{base}/__admin/faults"))
        .json(&json!({"fault": {"kind": "busy"}, "count": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let token = wx.issue_token("wx-sandbox-app").unwrap();
    let body = json!({"order_id": 77, "change_express": false,
        "change_order_infos": [{"product_id": 1, "sku_id": 2, "change_price": 90}]});
    for expect in [-1, -1, 0] {
        assert_eq!(wx_change(&base, &token, &body).await["errcode"], expect);
    }
    let stats = json_of(c.get(format!("{base}/__admin/stats")).send().await.unwrap()).await;
    assert_eq!(stats["total_requests"], 3);
    assert_eq!(stats["faults_injected"], 2);
    assert_eq!(stats["requests_per_order"]["77"], 3);
    assert_eq!(stats["changes_per_order"]["77"], 1);
    let calls = json_of(
        c.get(format!("{base}/__admin/calls?order_id=77"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(calls.as_array().unwrap().len(), 3);
    assert_eq!(calls[2]["outcome"], "ok");
    assert_eq!(calls[2]["credential"], "wx-sandbox-app");
}

// ---------------------------------------------------------------- vv-tool

const VV_ORDER: u64 = 2_198_111_437_768_747_370;
const VV_ENTRY: u64 = 2_198_111_437_768_747_371;
const VV_ENTRY2: u64 = 2_198_111_437_768_747_372;

fn vv_settings() -> VvtoolSettings {
    VvtoolSettings {
        tokens: vec![
            VvtoolToken {
                token: "tok-ok".into(),
                shops: vec!["shop-a".into()],
                quota: None,
                permitted: true,
            },
            VvtoolToken {
                token: "tok-noperm".into(),
                shops: vec!["shop-a".into()],
                quota: None,
                permitted: false,
            },
            VvtoolToken {
                token: "tok-quota".into(),
                shops: vec!["shop-a".into()],
                quota: Some(1),
                permitted: true,
            },
        ],
        rate_limit_per_second: None,
        ..VvtoolSettings::default()
    }
}

async fn vv_sandbox(settings: VvtoolSettings) -> Sandbox {
    let sb = Sandbox::builder()
        .seed(1)
        .vvtool(settings)
        .start()
        .await
        .unwrap();
    let vv = sb.vvtool().unwrap();
    let mut order = VvtoolOrder::awaiting_payment(
        VV_ORDER,
        "shop-a",
        800,
        &[(VV_ENTRY, 10_000), (VV_ENTRY2, 5_000)],
    );
    order.entries.push(order_sandbox::VvtoolEntry {
        id: 3,
        original_amount: 100,
        discount: 0,
        closed: true,
    });
    vv.seed_order(order);
    let mut paid = VvtoolOrder::awaiting_payment(5, "shop-a", 0, &[(51, 100)]);
    paid.status = "waitsellersend".into();
    vv.seed_order(paid);
    let mut typed = VvtoolOrder::awaiting_payment(7, "shop-a", 0, &[(71, 100)]);
    typed.trade_type = 7;
    vv.seed_order(typed);
    sb
}

async fn vv_call(base: &str, token: &str, body: &str) -> Value {
    let r = client()
        .post(format!("{base}/tool/erps/1688modify-order-price"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    json_of(r).await
}

fn vv_body(order: u64, carriage: i64, discounts: &[(u64, i64)]) -> String {
    let list: Vec<String> = discounts
        .iter()
        .map(|(id, d)| format!(r#"{{"id": {id}, "discount": {d}}}"#))
        .collect();
    format!(
        r#"{{"shop_id": "shop-a", "order_id": {order}, "carriage": {carriage}, "entry_discounts": [{}]}}"#,
        list.join(",")
    )
}

#[tokio::test]
async fn vvtool_modify_price_replaces_discounts() {
    let sb = vv_sandbox(vv_settings()).await;
    let vv = sb.vvtool().unwrap();
    let base = vv.base_url();
    let body = vv_body(VV_ORDER, 0, &[(VV_ENTRY, -2000)]);
    let r = vv_call(&base, "tok-ok", &body).await;
    assert_eq!(r["code"], 0);
    assert_eq!(r["msg"], "操作成功");
    assert_eq!(r["data"], json!({"success": true, "withholding_money": 1}));
    assert!(r["time"].as_i64().unwrap() > 1_600_000_000);
    let r = vv_call(&base, "tok-ok", &body).await;
    assert_eq!(r["data"]["success"], true);
    let o = vv.order(VV_ORDER).unwrap();
    assert_eq!(o.entries[0].discount, -2000, "replaced, not accumulated");
    assert_eq!(o.entries[1].discount, 0);
    assert_eq!(o.carriage, 0);
    assert_eq!(o.changes, 2);
    assert_eq!(o.total(), 8_000 + 5_000);

    // entry_discounts as a JSON string, as the upstream 1688 API takes it.
    let list = format!(r#"[{{"id":{VV_ENTRY2},"discount":-500}}]"#);
    let body = json!({"shop_id": "shop-a", "order_id": VV_ORDER.to_string(), "carriage": 300,
        "entry_discounts": list})
    .to_string();
    assert_eq!(
        vv_call(&base, "tok-ok", &body).await["data"]["success"],
        true
    );
    let o = vv.order(VV_ORDER).unwrap();
    assert_eq!(
        (o.entries[0].discount, o.entries[1].discount, o.carriage),
        (-2000, -500, 300)
    );
    let stats = vv.stats();
    assert_eq!(stats.changes_per_order[&VV_ORDER.to_string()], 3);
    assert_eq!(
        stats.moves_per_order[&VV_ORDER.to_string()],
        2,
        "the identical second request moved nothing"
    );
}

#[tokio::test]
async fn vvtool_envelope_errors() {
    let sb = vv_sandbox(vv_settings()).await;
    let vv = sb.vvtool().unwrap();
    let base = vv.base_url();
    let body = vv_body(VV_ORDER, 800, &[(VV_ENTRY, -1)]);

    let r = vv_call(&base, "unknown", &body).await;
    assert_eq!(r["code"], 204);
    let r = vv_call(&base, "tok-noperm", &body).await;
    assert_eq!(
        (r["code"].clone(), r["msg"].clone()),
        (
            json!(204),
            json!("请求异常:无该接口权限,请前往官网开通正式接口。")
        )
    );
    assert_eq!(vv_call(&base, "tok-quota", &body).await["code"], 0);
    let r = vv_call(&base, "tok-quota", &body).await;
    assert_eq!(r["code"], 204);
    assert_eq!(r["msg"], "请求异常:API 调用次数不足,请前往网站兑换次数。");
    assert_eq!(vv.quota_used("tok-quota"), 1);

    let other_shop = body.replace("shop-a", "shop-b");
    let r = vv_call(&base, "tok-ok", &other_shop).await;
    assert_eq!(r["code"], 302);
    assert_eq!(r["msg"], "未授权店铺");
    assert!(
        r["data"]["auth_url"]
            .as_str()
            .unwrap()
            .ends_with("?shop=shop-b")
    );

    for bad in [
        "not json".to_owned(),
        json!({"shop_id": "shop-a", "order_id": 1, "entry_discounts": []}).to_string(),
        json!({"shop_id": "shop-a", "order_id": 1, "carriage": 1, "entry_discounts": "[oops"})
            .to_string(),
    ] {
        assert_eq!(vv_call(&base, "tok-ok", &bad).await["code"], 100, "{bad}");
    }
    assert_eq!(
        vv.order(VV_ORDER).unwrap().changes,
        1,
        "only the tok-quota call applied"
    );
}

#[tokio::test]
async fn vvtool_business_errors() {
    let sb = vv_sandbox(vv_settings()).await;
    let vv = sb.vvtool().unwrap();
    let base = vv.base_url();
    let cases = [
        (vv_body(404, 0, &[]), "FAIL_BIZ_TRADING_ORDER_NOT_EXIST"),
        (
            vv_body(5, 0, &[(51, -1)]),
            "FAIL_BIZ_TRADING_ORDER_STATUS_ERROR",
        ),
        (
            vv_body(7, 0, &[(71, -1)]),
            "FAIL_BIZ_TRADING_MODIFY_PRICE_ERROR",
        ),
        (
            vv_body(VV_ORDER, 0, &[(VV_ENTRY, 1)]),
            "FAIL_BIZ_TRADING_MODIFY_PRICE_ERROR",
        ),
        (
            vv_body(VV_ORDER, 0, &[(3, -1)]),
            "FAIL_BIZ_TRADING_ORDER_ENTRY_STATUS_ERROR",
        ),
        (
            vv_body(VV_ORDER, 0, &[(VV_ENTRY + 9, -1)]),
            "FAIL_BIZ_TRADING_INVALID_PARAM",
        ),
        (
            vv_body(VV_ORDER, 0, &[(VV_ENTRY, -10_001)]),
            "FAIL_BIZ_TRADING_INVALID_PARAM",
        ),
    ];
    for (body, code) in cases {
        let r = vv_call(&base, "tok-ok", &body).await;
        assert_eq!(r["code"], 0, "{body}");
        assert_eq!(r["data"]["success"], false, "{body}");
        assert_eq!(r["data"]["result_code"], code, "{body}");
        assert!(
            r["data"]["result_msg"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let o = vv.order(VV_ORDER).unwrap();
    assert_eq!((o.changes, o.carriage, o.entries[0].discount), (0, 800, 0));
}

#[tokio::test]
async fn vvtool_rate_limit_and_busy_replies() {
    let sb = vv_sandbox(VvtoolSettings {
        rate_limit_per_second: Some(10),
        ..vv_settings()
    })
    .await;
    let vv = sb.vvtool().unwrap();
    let body = vv_body(VV_ORDER, 800, &[]);
    let mut limited = 0;
    for _ in 0..30 {
        let r = vv_call(&vv.base_url(), "tok-ok", &body).await;
        if r["code"] == 202 {
            assert!(r["msg"].as_str().unwrap().contains("频率"));
            limited += 1;
        }
    }
    assert!(limited >= 5, "30 calls against 10/s: {limited} limited");
    assert_eq!(vv.stats().rate_limited, limited);

    for (style, code, result) in [
        (VvtoolBusyReply::Envelope202, 202, None),
        (VvtoolBusyReply::Timeout101, 101, None),
        (
            VvtoolBusyReply::SystemError,
            0,
            Some("FAIL_BIZ_TRADING_SYSTEM_ERROR"),
        ),
    ] {
        let sb = vv_sandbox(VvtoolSettings {
            busy_reply: style,
            ..vv_settings()
        })
        .await;
        let vv = sb.vvtool().unwrap();
        vv.fail_next(Fault::Busy, 1);
        let body = vv_body(VV_ORDER, 0, &[(VV_ENTRY, -5)]);
        let r = vv_call(&vv.base_url(), "tok-ok", &body).await;
        assert_eq!(r["code"], code);
        if let Some(rc) = result {
            assert_eq!(r["data"]["success"], false);
            assert_eq!(r["data"]["result_code"], rc);
        }
        assert_eq!(vv.order(VV_ORDER).unwrap().changes, 0);
        assert_eq!(vv.calls()[0].outcome, "fault:busy");
    }
}

// ---------------------------------------------------------------- EM franchiser

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Independent implementation of the documented default EM recipe.
fn em_sign(params: &[(&str, String)], secret: &str, plain: bool) -> String {
    use md5::{Digest, Md5};
    let mut p: Vec<_> = params.iter().filter(|(_, v)| !v.is_empty()).collect();
    p.sort_by(|a, b| a.0.cmp(b.0));
    let mut s = p
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    if plain {
        s.push_str(secret);
    } else {
        s.push_str("&key=");
        s.push_str(secret);
    }
    hex::encode_upper(Md5::digest(s.as_bytes()))
}

#[test]
fn em_signature_golden() {
    let data = r#"{"tradeno":"DD1","remark":"物流备注"}"#;
    let params: Vec<(String, String)> = vec![
        ("timestamp".into(), "1700000000".into()),
        ("request_data".into(), data.into()),
        ("appid".into(), "em-app".into()),
        ("sign".into(), "ignored".into()),
        ("empty".into(), String::new()),
    ];
    let s = EmSignScheme::AmpersandKey.string_to_sign(&params, "em-secret");
    assert_eq!(
        s,
        format!("appid=em-app&request_data={data}&timestamp=1700000000&key=em-secret")
    );
    assert_eq!(
        EmSignScheme::AmpersandKey.sign(&params, "em-secret"),
        "4E0E85F374AB39BDD7FDAE40708CBB6F"
    );
    assert_eq!(
        EmSignScheme::PlainSecret.sign(&params, "em-secret"),
        "87D83505265B17CE751986CEA192BFC9"
    );
}

async fn em_sandbox(settings: EmSettings) -> Sandbox {
    let sb = Sandbox::builder()
        .seed(3)
        .em(settings)
        .start()
        .await
        .unwrap();
    let em = sb.em().unwrap();
    em.seed_order(EmTrade::new("DD1", &[("ERP_1113005", 3)]));
    em.set_stock("ERP_1113005", 2);
    em.set_stock("ERP_1113004", 5);
    sb
}

struct EmCall<'a> {
    appid: &'a str,
    secret: &'a str,
    timestamp: i64,
    plain: bool,
    json_body: bool,
    tamper: bool,
}

impl Default for EmCall<'_> {
    fn default() -> Self {
        Self {
            appid: "em-app",
            secret: "em-secret",
            timestamp: now(),
            plain: false,
            json_body: false,
            tamper: false,
        }
    }
}

async fn em_call(base: &str, data: &Value, how: EmCall<'_>) -> Value {
    let mut params = vec![
        ("appid", how.appid.to_owned()),
        ("timestamp", how.timestamp.to_string()),
        ("request_data", data.to_string()),
    ];
    let mut sign = em_sign(&params, how.secret, how.plain);
    if how.tamper {
        sign = sign.replace('A', "B");
        params[2].1 = params[2].1.replace("DD1", "DD2");
    }
    params.push(("sign", sign));
    let url = format!("{base}/franchiser/api/trade/modify");
    let req = if how.json_body {
        let obj: serde_json::Map<String, Value> = params
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect();
        client().post(url).json(&obj)
    } else {
        client().post(url).form(&params)
    };
    json_of(req.send().await.unwrap()).await
}

#[tokio::test]
async fn em_modify_succeeds_with_chinese_values_form_and_json() {
    let sb = em_sandbox(EmSettings::default()).await;
    let em = sb.em().unwrap();
    let base = em.base_url();
    let data = json!({
        "tradeno": "DD1", "warehouseid": "5", "provincename": "上海", "cityname": "上海市",
        "distrctname": "嘉定区", "address": "商城路 738 号", "receivername": "张三",
        "mobile": "18800000000", "transportway": "2", "logisticscompanyid": 10,
        "deliverydate": "2024-09-28", "traderemark": "订单备注 & 特殊=字符",
        "logisticscarnumber": "沪A888888",
        "items": [{"outerpcode": "ERP_1113005", "mainmeasunitqty": "1", "remark": "3 个改成 1 个"},
                  {"outerpcode": "ERP_1113004", "mainmeasunitqty": 4}]
    });
    let r = em_call(&base, &data, EmCall::default()).await;
    assert_eq!(
        r,
        json!({"statusCode": 0, "message": "修改成功", "data": "DD1"})
    );
    let t = em.order("DD1").unwrap();
    assert_eq!(
        (t.provincename.as_str(), t.distrctname.as_str()),
        ("上海", "嘉定区")
    );
    assert_eq!(
        (t.warehouseid, t.transportway, t.logisticscompanyid),
        (5, 2, 10)
    );
    assert_eq!(t.traderemark, "订单备注 & 特殊=字符");
    assert_eq!(t.items.len(), 2);
    assert_eq!(t.revisions, 1);
    assert_eq!(em.stock("ERP_1113005"), 4, "2 released by the replacement");
    assert_eq!(em.stock("ERP_1113004"), 1);

    // JSON body with the same four keys; items keep their reservation when unchanged.
    let data = json!({"tradeno": "DD1", "remark": "物流备注",
        "items": [{"outerpcode": "ERP_1113005", "mainmeasunitqty": 1},
                  {"outerpcode": "ERP_1113004", "mainmeasunitqty": 4}]});
    let how = EmCall {
        json_body: true,
        ..EmCall::default()
    };
    assert_eq!(em_call(&base, &data, how).await["statusCode"], 0);
    assert_eq!((em.stock("ERP_1113005"), em.stock("ERP_1113004")), (4, 1));
    assert_eq!(em.order("DD1").unwrap().remark, "物流备注");
    assert_eq!(em.stats().changes_per_order["DD1"], 2);
    assert_eq!(em.stats().moves_per_order["DD1"], 2);
    // The same request once more re-states the trade: a revision, but no move.
    let how = EmCall {
        json_body: true,
        ..EmCall::default()
    };
    assert_eq!(em_call(&base, &data, how).await["statusCode"], 0);
    assert_eq!(em.order("DD1").unwrap().revisions, 3);
    assert_eq!(em.stats().changes_per_order["DD1"], 3);
    assert_eq!(em.stats().moves_per_order["DD1"], 2);
}

#[tokio::test]
async fn em_rejections() {
    let sb = em_sandbox(EmSettings::default()).await;
    let em = sb.em().unwrap();
    let base = em.base_url();
    let before = em.order("DD1").unwrap();
    let d = |extra: Value| {
        let mut v = json!({"tradeno": "DD1"});
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    };
    let cases = [
        (
            d(json!({"provincename": "上海", "cityname": "上海市"})),
            1002,
        ),
        (
            d(json!({"items": [{"outerpcode": "ERP_1113005", "mainmeasunitqty": 6}]})),
            -10,
        ),
        (
            d(json!({"items": [{"outerpcode": "ERP_UNKNOWN", "mainmeasunitqty": 1}]})),
            -10,
        ),
        (d(json!({"transportway": 6})), 1005),
        (d(json!({"transportway": 2, "logisticscompanyid": 5})), 1005),
        (d(json!({"transportway": 4})), 1005),
        (d(json!({"transportway": 1, "logisticscompanyid": 8})), 1005),
        (d(json!({"deliverydate": "2024-02-30"})), 1005),
        (
            d(json!({"items": [{"outerpcode": "ERP_1113005", "mainmeasunitqty": "0"}]})),
            1005,
        ),
        (d(json!({"items": []})), 1005),
        (json!({"tradeno": "NOPE"}), 1006),
        (json!({"warehouseid": 1}), 1005),
    ];
    for (data, code) in &cases {
        let r = em_call(&base, data, EmCall::default()).await;
        assert_eq!(r["statusCode"], *code, "{data}");
        assert_eq!(r["data"], Value::Null);
    }
    let r = em_call(&base, &cases[1].0, EmCall::default()).await;
    assert_eq!(r["message"], "产品[ERP_1113005]库存不足");

    let ok = d(json!({"remark": "x"}));
    let bad = [
        EmCall {
            tamper: true,
            ..EmCall::default()
        },
        EmCall {
            secret: "wrong",
            ..EmCall::default()
        },
        EmCall {
            plain: true,
            ..EmCall::default()
        },
    ];
    for how in bad {
        assert_eq!(em_call(&base, &ok, how).await["statusCode"], 1001);
    }
    let stale = EmCall {
        timestamp: now() - 301,
        ..EmCall::default()
    };
    assert_eq!(em_call(&base, &ok, stale).await["statusCode"], 1004);
    let unknown = EmCall {
        appid: "someone",
        ..EmCall::default()
    };
    assert_eq!(em_call(&base, &ok, unknown).await["statusCode"], 1003);
    assert_eq!(em.order("DD1").unwrap(), before);
    assert_eq!((em.stock("ERP_1113005"), em.stock("ERP_1113004")), (2, 5));

    // The plain-secret recipe is switchable.
    let sb = em_sandbox(EmSettings {
        sign_scheme: EmSignScheme::PlainSecret,
        ..EmSettings::default()
    })
    .await;
    let em = sb.em().unwrap();
    let plain = EmCall {
        plain: true,
        ..EmCall::default()
    };
    assert_eq!(em_call(&em.base_url(), &ok, plain).await["statusCode"], 0);
    assert_eq!(
        em_call(&em.base_url(), &ok, EmCall::default()).await["statusCode"],
        1001
    );
}

#[tokio::test]
async fn em_rate_limit_and_busy() {
    let sb = em_sandbox(EmSettings {
        rate_limit_per_second: Some(1),
        ..EmSettings::default()
    })
    .await;
    let em = sb.em().unwrap();
    let data = json!({"tradeno": "DD1", "remark": "r"});
    em.fail_next(Fault::Busy, 1);
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(em_call(&em.base_url(), &data, EmCall::default()).await["statusCode"].clone());
    }
    assert_eq!(codes[0], -1, "busy");
    assert!(codes[1..].iter().all(|c| *c == 1008), "{codes:?}");
    let s = em.stats();
    assert_eq!((s.rate_limited, s.faults_injected), (3, 1));
    assert_eq!(em.order("DD1").unwrap().revisions, 0);
    // Lifting the limit lets a success through at once.
    let sb = em_sandbox(EmSettings {
        rate_limit_per_second: None,
        ..EmSettings::default()
    })
    .await;
    let em = sb.em().unwrap();
    for _ in 0..5 {
        assert_eq!(
            em_call(&em.base_url(), &data, EmCall::default()).await["statusCode"],
            0
        );
    }
    assert_eq!(em.order("DD1").unwrap().revisions, 5);
}

// ---------------------------------------------------------------- ICBU

#[test]
fn top_signature_golden() {
    let mut params: Vec<(String, String)> = [
        ("method", "alibaba.trade.order.modify"),
        ("app_key", "icbu-app"),
        ("session", "icbu-session"),
        ("timestamp", "2023-11-15 06:13:20"),
        ("format", "json"),
        ("v", "2.0"),
        ("sign_method", "md5"),
        ("param_order_modify", r#"{"remark":"中文备注"}"#),
        ("partner_id", ""),
        ("sign", "whatever"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        order_sandbox::icbu::top_timestamp(1_700_000_000),
        "2023-11-15 06:13:20"
    );
    let sign = order_sandbox::icbu::top_sign;
    assert_eq!(
        sign(&params, "icbu-secret", "md5").unwrap(),
        "FBA2A2C5C53AEC90251966A4AD2ED152"
    );
    params[6].1 = "hmac".into();
    assert_eq!(
        sign(&params, "icbu-secret", "hmac").unwrap(),
        "FB10E72A3FFF922A4D86DBA0938308CE"
    );
    params[6].1 = "hmac-sha256".into();
    assert_eq!(
        sign(&params, "icbu-secret", "hmac-sha256").unwrap(),
        "95417E59E1F5799C3580398CE91AE8D52CCECBE0306D8D9211BEDE582002F87B"
    );
    assert!(sign(&params, "icbu-secret", "sha1").is_none());
}

/// Independent TOP signer for the tests.
fn top_sign_test(params: &[(String, String)], secret: &str, method: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    use md5::{Digest, Md5};
    let mut p: Vec<_> = params.iter().filter(|(_, v)| !v.is_empty()).collect();
    p.sort();
    let s: String = p.iter().map(|(k, v)| format!("{k}{v}")).collect();
    match method {
        "md5" => hex::encode_upper(Md5::digest(format!("{secret}{s}{secret}").as_bytes())),
        "hmac" => {
            let mut m = Hmac::<Md5>::new_from_slice(secret.as_bytes()).unwrap();
            m.update(s.as_bytes());
            hex::encode_upper(m.finalize().into_bytes())
        }
        _ => {
            let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            m.update(s.as_bytes());
            hex::encode_upper(m.finalize().into_bytes())
        }
    }
}

const TRADE: &str = "24668306501026709";

fn icbu_param(version: Option<&str>) -> Value {
    let mut p = json!({
        "trade_id": TRADE,
        "logistics_detail": {
            "shipment_address": {"zip": "461670", "country": "United States of America",
                "address": "Bank of new york", "city": "New York", "contact_person": "james",
                "telephone": {"area": "0512", "country": "86", "number": "13890876543"}},
            "shipment_method": "sea", "trade_term": "FOB",
            "shipment_date": {"duration": 5, "type": "absolute"}
        },
        "payment_detail": {"shipment_fee": "20", "total_amount": "300.3", "product_amount": "200.3",
            "shipment_insurance_fee": "80", "initial_amount": "150", "value_add_service_amount": "0",
            "tax_amount": "0", "currency": "USD"},
        "product_list": [
            {"name": "helloworld", "sku_id": "-1", "unit": "set", "quantity": "100", "unit_price_str": "2"},
            {"name": "螺丝", "sku_id": "7", "unit": "件", "quantity": "3", "unit_price_str": "0.1"}
        ],
        "remark": "中文备注:尽快发货"
    });
    if let Some(v) = version {
        p["version"] = json!(v);
    }
    p
}

struct TopCall<'a> {
    app_key: &'a str,
    secret: &'a str,
    session: &'a str,
    sign_method: &'a str,
    timestamp: i64,
    in_query: bool,
}

impl Default for TopCall<'_> {
    fn default() -> Self {
        Self {
            app_key: "icbu-app",
            secret: "icbu-secret",
            session: "icbu-session",
            sign_method: "md5",
            timestamp: now(),
            in_query: false,
        }
    }
}

async fn top_call(base: &str, param: Option<&Value>, how: TopCall<'_>) -> Value {
    let mut params: Vec<(String, String)> = [
        ("method", "alibaba.trade.order.modify".to_owned()),
        ("app_key", how.app_key.to_owned()),
        ("session", how.session.to_owned()),
        (
            "timestamp",
            order_sandbox::icbu::top_timestamp(how.timestamp),
        ),
        ("format", "json".to_owned()),
        ("v", "2.0".to_owned()),
        ("sign_method", how.sign_method.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(p) = param {
        params.push(("param_order_modify".into(), p.to_string()));
    }
    let sign = top_sign_test(&params, how.secret, how.sign_method);
    params.push(("sign".into(), sign));
    let url = format!("{base}/router/rest");
    let req = if how.in_query {
        client().post(url).query(&params)
    } else {
        client().post(url).form(&params)
    };
    json_of(req.send().await.unwrap()).await
}

async fn icbu_sandbox(settings: IcbuSettings) -> Sandbox {
    let sb = Sandbox::builder()
        .seed(4)
        .icbu(settings)
        .start()
        .await
        .unwrap();
    sb.icbu()
        .unwrap()
        .seed_order(IcbuOrder::unpaid(TRADE, "1576114051021"));
    sb
}

#[tokio::test]
async fn icbu_modify_succeeds_with_every_sign_method() {
    let sb = icbu_sandbox(IcbuSettings::default()).await;
    let ic = sb.icbu().unwrap();
    let base = ic.base_url();
    let r = top_call(
        &base,
        Some(&icbu_param(Some("1576114051021"))),
        TopCall::default(),
    )
    .await;
    let result = &r["alibaba_trade_order_modify_response"]["result"];
    assert_eq!(result["success"], true, "{r}");
    assert_eq!(result["value"]["trade_id"], TRADE);
    assert!(result["value"]["pay_url"].as_str().unwrap().contains(TRADE));
    assert!(r["alibaba_trade_order_modify_response"]["request_id"].is_string());
    let o = ic.order(TRADE).unwrap();
    assert_eq!((o.version.as_str(), o.revisions), ("1576114051022", 1));
    assert_eq!(o.last_modify.unwrap()["remark"], "中文备注:尽快发货");

    for (method, in_query) in [("hmac", false), ("hmac-sha256", false), ("md5", true)] {
        let how = TopCall {
            sign_method: method,
            in_query,
            ..TopCall::default()
        };
        let r = top_call(&base, Some(&icbu_param(None)), how).await;
        assert_eq!(
            r["alibaba_trade_order_modify_response"]["result"]["success"], true,
            "{method}: {r}"
        );
    }
    assert_eq!(ic.order(TRADE).unwrap().revisions, 4);
    assert_eq!(ic.stats().changes_per_order[TRADE], 4);

    // The admin endpoint exposes the advanced version.
    let o = json_of(
        client()
            .get(format!("{base}/__admin/orders/{TRADE}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(o["version"], "1576114051025");
}

#[tokio::test]
async fn icbu_gateway_errors() {
    let sb = icbu_sandbox(IcbuSettings::default()).await;
    let ic = sb.icbu().unwrap();
    let base = ic.base_url();
    let p = icbu_param(None);
    let err = |r: &Value| r["error_response"].clone();

    let e = err(&top_call(
        &base,
        Some(&p),
        TopCall {
            secret: "nope",
            ..TopCall::default()
        },
    )
    .await);
    assert_eq!(
        (e["code"].clone(), e["msg"].clone()),
        (json!(25), json!("Invalid signature"))
    );
    assert!(e["request_id"].is_string());

    let e = err(&top_call(
        &base,
        Some(&p),
        TopCall {
            session: "other",
            ..TopCall::default()
        },
    )
    .await);
    assert_eq!(e["code"], 27);
    ic.expire_session("icbu-session");
    let e = err(&top_call(&base, Some(&p), TopCall::default()).await);
    assert_eq!(
        (e["code"].clone(), e["sub_code"].clone()),
        (json!(27), json!("session-expired"))
    );

    let sb = icbu_sandbox(IcbuSettings::default()).await;
    let ic = sb.icbu().unwrap();
    let base = ic.base_url();
    let stale = TopCall {
        timestamp: now() - 11 * 60,
        ..TopCall::default()
    };
    assert_eq!(err(&top_call(&base, Some(&p), stale).await)["code"], 31);
    let e = err(&top_call(
        &base,
        Some(&p),
        TopCall {
            app_key: "x",
            ..TopCall::default()
        },
    )
    .await);
    assert_eq!(e["code"], 29);

    let e = err(&top_call(&base, None, TopCall::default()).await);
    assert_eq!(
        (
            e["code"].clone(),
            e["sub_code"].clone(),
            e["sub_msg"].clone()
        ),
        (json!(50), json!("isv.invalid-parameter"), json!("非法参数"))
    );
    let mut missing = p.clone();
    missing["logistics_detail"]["shipment_address"]
        .as_object_mut()
        .unwrap()
        .remove("zip");
    let e = err(&top_call(&base, Some(&missing), TopCall::default()).await);
    assert_eq!(
        (e["code"].clone(), e["sub_code"].clone()),
        (json!(15), json!("isv.missing-parameter"))
    );
    assert!(
        e["sub_msg"]
            .as_str()
            .unwrap()
            .contains("shipment_address.zip")
    );
    let mut invalid = p.clone();
    invalid["payment_detail"]["tax_amount"] = json!("abc");
    let e = err(&top_call(&base, Some(&invalid), TopCall::default()).await);
    assert_eq!(
        (e["code"].clone(), e["sub_code"].clone()),
        (json!(15), json!("isv.invalid-parameter"))
    );
    assert_eq!(ic.order(TRADE).unwrap().revisions, 0);

    // Codes as strings when configured.
    let sb = icbu_sandbox(IcbuSettings {
        code_as_string: true,
        ..IcbuSettings::default()
    })
    .await;
    let base = sb.icbu().unwrap().base_url();
    let e = err(&top_call(
        &base,
        Some(&p),
        TopCall {
            secret: "nope",
            ..TopCall::default()
        },
    )
    .await);
    assert_eq!(e["code"], "25");
}

#[tokio::test]
async fn icbu_business_rules() {
    let sb = icbu_sandbox(IcbuSettings::default()).await;
    let ic = sb.icbu().unwrap();
    let base = ic.base_url();
    let mut unknown = icbu_param(None);
    unknown["trade_id"] = json!("1");
    let mut stale = icbu_param(Some("1"));
    stale["trade_id"] = json!(TRADE);
    let mut total = icbu_param(None);
    total["payment_detail"]["total_amount"] = json!("300.30000001");
    let mut product = icbu_param(None);
    product["product_list"][1]["unit_price_str"] = json!("0.11");
    let mut initial = icbu_param(None);
    initial["payment_detail"]["initial_amount"] = json!("300.31");
    for (p, code) in [
        (unknown, "ORDER_NOT_EXIST"),
        (stale, "ORDER_VERSION_CONFLICT"),
        (total, "TOTAL_AMOUNT_MISMATCH"),
        (product, "PRODUCT_AMOUNT_MISMATCH"),
        (initial, "INITIAL_AMOUNT_EXCEEDS_TOTAL"),
    ] {
        let r = top_call(&base, Some(&p), TopCall::default()).await;
        let result = &r["alibaba_trade_order_modify_response"]["result"];
        assert_eq!(result["success"], false, "{code}: {r}");
        assert_eq!(result["error_code"], code);
        assert!(
            result["error_message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    assert_eq!(ic.order(TRADE).unwrap().version, "1576114051021");
    // Equal amounts written differently ("300.30" vs "300.3") are equal decimals.
    let mut same = icbu_param(None);
    same["payment_detail"]["total_amount"] = json!("300.30");
    let r = top_call(&base, Some(&same), TopCall::default()).await;
    assert_eq!(
        r["alibaba_trade_order_modify_response"]["result"]["success"],
        true
    );
}

#[tokio::test]
async fn icbu_rate_limit_and_busy() {
    let sb = icbu_sandbox(IcbuSettings {
        rate_limit_per_second: Some(1),
        ..IcbuSettings::default()
    })
    .await;
    let ic = sb.icbu().unwrap();
    ic.fail_next(Fault::Busy, 1);
    let mut errs = Vec::new();
    for _ in 0..4 {
        let r = top_call(&ic.base_url(), Some(&icbu_param(None)), TopCall::default()).await;
        errs.push(r["error_response"].clone());
    }
    assert_eq!(
        (errs[0]["code"].clone(), errs[0]["sub_code"].clone()),
        (json!(15), json!("isp.service-unavailable"))
    );
    for e in &errs[1..] {
        assert_eq!(e["code"], 7);
        assert_eq!(e["sub_code"], "accesscontrol.limited-by-app-access-count");
    }
    assert_eq!(ic.stats().rate_limited, 3);
    assert_eq!(ic.order(TRADE).unwrap().revisions, 0);
}

#[tokio::test]
async fn all_platforms_start_together() {
    let sb = Sandbox::builder()
        .seed(9)
        .all_platforms()
        .start()
        .await
        .unwrap();
    let urls = [
        sb.wechat().unwrap().base_url(),
        sb.vvtool().unwrap().base_url(),
        sb.em().unwrap().base_url(),
        sb.icbu().unwrap().base_url(),
    ];
    for u in &urls {
        assert!(u.starts_with("http://127.0.0.1:"), "{u}");
        let r = client()
            .get(format!("{u}/__admin/stats"))
            .send()
            .await
            .unwrap();
        assert_eq!(json_of(r).await["total_requests"], 0);
    }
    let mut dedup = urls.to_vec();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 4);
    // Seeding and reading back over the admin API, for every platform.
    let seeds = [
        (
            &urls[1],
            format!(
                r#"{{"order_id": {VV_ORDER}, "shop_id": "s", "original_carriage": 0, "carriage": 0,
                    "entries": [{{"id": {VV_ENTRY}, "original_amount": 100}}]}}"#
            ),
            VV_ORDER.to_string(),
        ),
        (
            &urls[2],
            r#"{"tradeno": "DD9", "items": [{"outerpcode": "P", "mainmeasunitqty": 2}]}"#
                .to_owned(),
            "DD9".to_owned(),
        ),
        (
            &urls[3],
            format!(r#"{{"trade_id": "{TRADE}"}}"#),
            TRADE.to_owned(),
        ),
    ];
    for (url, seed, id) in seeds {
        let r = client()
            .post(format!("{url}/__admin/orders"))
            .body(seed)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let text = client()
            .get(format!("{url}/__admin/orders/{id}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains(&id), "exact id round trip: {text}");
    }
    let vv = sb.vvtool().unwrap().order(VV_ORDER).unwrap();
    assert_eq!(
        (vv.status.as_str(), vv.trade_type, vv.entries[0].id),
        ("waitbuyerpay", 6, VV_ENTRY)
    );
    assert_eq!(sb.icbu().unwrap().order(TRADE).unwrap().version, "1");
    let r = client()
        .post(format!("{}/__admin/stock", urls[2]))
        .json(&json!({"P": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await, json!({"P": 7}));
    assert_eq!(sb.em().unwrap().stock("P"), 7);
    let none = Sandbox::builder()
        .wechat(WechatSettings::default())
        .start()
        .await
        .unwrap();
    assert!(none.icbu().is_none());
}

// ------------------------------------------------- acknowledged without apply (--confirm)

/// The last call-log outcome for `order`.
fn last_outcome(calls: &[order_sandbox::CallRecord]) -> (&str, bool) {
    let c = calls.last().expect("a call");
    (c.outcome.as_str(), c.applied)
}

#[tokio::test]
async fn wechat_acknowledges_a_change_without_applying_it_and_the_read_shows_the_old_state() {
    let sb = wechat_sandbox(WechatSettings::default()).await;
    let wx = sb.wechat().unwrap();
    wx.seed_order(wx_order());
    let base = wx.base_url();
    // Scripted through the admin endpoint, as `ordermod sandbox` users do.
    let r = client()
        .post(format!("{base}/__admin/faults"))
        .json(&json!({"ack_without_apply": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let token = wx_token(&base, "wx-sandbox-app", "sandbox-secret").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"order_id": BIG, "change_express": true, "express_fee": 0,
        "change_order_infos": [{"product_id": 1, "sku_id": 11, "change_price": 1000}]});
    assert_eq!(wx_change(&base, &token, &body).await["errcode"], 0);
    assert_eq!(
        wx.order(BIG).unwrap(),
        wx_order(),
        "acknowledged, not applied"
    );
    assert_eq!(
        last_outcome(&wx.calls_for(&BIG.to_string())),
        ("fault:ack_without_apply", false)
    );
    let read = json_of(
        client()
            .post(format!("{base}/product/order/get?access_token={token}"))
            .json(&json!({"order_id": BIG}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let order = &read["order"];
    assert_eq!(order["order_id"], json!(BIG), "the id stays exact");
    assert_eq!(order["status"], 10);
    assert_eq!(
        order["order_detail"]["product_infos"][0]["real_price"],
        3000
    );
    assert_eq!(order["order_detail"]["price_info"]["freight"], 500);
    assert_eq!(order["order_detail"]["price_info"]["order_price"], 5500);
    // The next change applies, and the read shows it.
    assert_eq!(wx_change(&base, &token, &body).await["errcode"], 0);
    let o = wx.order(BIG).unwrap();
    assert_eq!((o.lines[0].current_total, o.express_fee), (1000, 0));
    let read = json_of(
        client()
            .post(format!("{base}/product/order/get?access_token={token}"))
            .json(&json!({"order_id": BIG}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let price = &read["order"]["order_detail"]["price_info"];
    assert_eq!(
        (
            &price["order_price"],
            &price["freight"],
            &price["is_change_freight"]
        ),
        (&json!(3000), &json!(0), &json!(true))
    );
    let unknown = json_of(
        client()
            .post(format!("{base}/product/order/get?access_token={token}"))
            .json(&json!({"order_id": BIG + 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(unknown["errcode"], 100002);
}

#[tokio::test]
async fn vvtool_acknowledges_a_change_without_applying_it() {
    let sb = vv_sandbox(vv_settings()).await;
    let vv = sb.vvtool().unwrap();
    let before = vv.order(VV_ORDER).unwrap();
    vv.ack_without_apply(1);
    let body = vv_body(VV_ORDER, 0, &[(VV_ENTRY, -2000)]);
    let r = vv_call(&vv.base_url(), "tok-ok", &body).await;
    assert_eq!(
        (&r["code"], &r["data"]["success"]),
        (&json!(0), &json!(true))
    );
    assert_eq!(vv.order(VV_ORDER).unwrap(), before);
    assert_eq!(
        last_outcome(&vv.calls_for(&VV_ORDER.to_string())),
        ("fault:ack_without_apply", false)
    );
    vv_call(&vv.base_url(), "tok-ok", &body).await;
    assert_eq!(vv.order(VV_ORDER).unwrap().entries[0].discount, -2000);
}

#[tokio::test]
async fn em_acknowledges_a_change_without_applying_it() {
    let sb = em_sandbox(EmSettings::default()).await;
    let em = sb.em().unwrap();
    let before = em.order("DD1").unwrap();
    em.ack_without_apply(1);
    let data = json!({"tradeno": "DD1", "remark": "物流备注"});
    let r = em_call(&em.base_url(), &data, EmCall::default()).await;
    assert_eq!(
        r,
        json!({"statusCode": 0, "message": "修改成功", "data": "DD1"})
    );
    assert_eq!(em.order("DD1").unwrap(), before);
    assert_eq!(
        last_outcome(&em.calls_for("DD1")),
        ("fault:ack_without_apply", false)
    );
    em_call(&em.base_url(), &data, EmCall::default()).await;
    assert_eq!(em.order("DD1").unwrap().remark, "物流备注");
}

#[tokio::test]
async fn icbu_acknowledges_a_change_without_applying_it_and_keeps_the_version() {
    let sb = icbu_sandbox(IcbuSettings::default()).await;
    let ic = sb.icbu().unwrap();
    let before = ic.order(TRADE).unwrap();
    ic.ack_without_apply(1);
    let param = icbu_param(Some("1576114051021"));
    let r = top_call(&ic.base_url(), Some(&param), TopCall::default()).await;
    let result = &r["alibaba_trade_order_modify_response"]["result"];
    assert_eq!(result["success"], true, "{r}");
    assert_eq!(result["value"]["trade_id"], TRADE);
    assert_eq!(ic.order(TRADE).unwrap(), before, "version not bumped");
    assert_eq!(
        last_outcome(&ic.calls_for(TRADE)),
        ("fault:ack_without_apply", false)
    );
    top_call(&ic.base_url(), Some(&param), TopCall::default()).await;
    assert_eq!(ic.order(TRADE).unwrap().version, "1576114051022");
}

#[tokio::test]
async fn channels_acknowledges_a_change_without_applying_it() {
    let sb = Sandbox::builder()
        .seed(5)
        .channels(order_sandbox::ChannelsSettings::default())
        .start()
        .await
        .unwrap();
    let ch = sb.channels().unwrap();
    let order = order_sandbox::ChannelsOrder::awaiting_payment(BIG, 500, &[(1, 11, 2, 1500)]);
    ch.seed_order(order.clone());
    let base = ch.base_url();
    let token = wx_token(&base, "wx-sandbox-app", "sandbox-secret").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    ch.ack_without_apply(1);
    let body = json!({"order_id": BIG.to_string(), "change_express": false,
        "change_order_infos": [{"product_id": "1", "sku_id": "11", "change_price": 2000}]});
    let change = |body: Value| {
        let url = format!("{base}/channels/ec/order/price/update?access_token={token}");
        async move { json_of(client().post(url).json(&body).send().await.unwrap()).await }
    };
    assert_eq!(change(body.clone()).await["errcode"], 0);
    assert_eq!(ch.order(BIG).unwrap(), order);
    assert_eq!(
        last_outcome(&ch.calls_for(&BIG.to_string())),
        ("fault:ack_without_apply", false)
    );
    assert_eq!(change(body).await["errcode"], 0);
    assert_eq!(ch.order(BIG).unwrap().lines[0].current_total, 2000);
}

#[tokio::test]
async fn open1688_acknowledges_a_change_without_applying_it() {
    let sb = Sandbox::builder()
        .seed(6)
        .open1688(order_sandbox::Open1688Settings::default())
        .start()
        .await
        .unwrap();
    let op = sb.open1688().unwrap();
    let order = order_sandbox::Open1688Order::awaiting_payment(BIG, 800, &[(BIG + 1, 10_000)]);
    op.seed_order(order.clone());
    let path = "param2/1/cn.alibaba.open/trade.order.modifyOrderPrice/1688-app";
    let url = format!("{}/{path}", op.gateway_url());
    let modify = || {
        let mut params: Vec<(String, String)> = [
            ("access_token", "1688-token".to_owned()),
            ("_aop_timestamp", (now() * 1000).to_string()),
            ("orderId", BIG.to_string()),
            ("carriage", "0".to_owned()),
            (
                "entryDiscounts",
                format!(r#"[{{"id":{},"discount":-2000}}]"#, BIG + 1),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let sign = order_sandbox::open1688::aop_sign("1688-secret", path, &params);
        params.push(("_aop_signature".into(), sign));
        let req = client().post(url.clone()).form(&params);
        async move { json_of(req.send().await.unwrap()).await }
    };
    op.ack_without_apply(1);
    assert_eq!(modify().await, json!({"result": true}));
    assert_eq!(op.order(BIG).unwrap(), order);
    assert_eq!(
        last_outcome(&op.calls_for(&BIG.to_string())),
        ("fault:ack_without_apply", false)
    );
    assert_eq!(modify().await, json!({"result": true}));
    assert_eq!(op.order(BIG).unwrap().carriage, 0);
}
