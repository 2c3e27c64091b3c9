//! Interoperability tests of the emulators over real HTTP.

use std::time::{Duration, Instant};

use order_sandbox::{
    Fault, FaultProfile, Sandbox, VvtoolBusyReply, VvtoolOrder, VvtoolSettings, VvtoolToken,
    WechatOrder, WechatSettings,
};
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::new()
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
        rate_limit_per_second: Some(3),
        ..WechatSettings::default()
    };
    let sb = wechat_sandbox(settings).await;
    let wx = sb.wechat().unwrap();
    wx.seed_order(wx_order());
    let token = wx.issue_token("wx-sandbox-app").unwrap();
    let body = json!({"order_id": BIG, "change_express": false, "change_order_infos": []});
    let mut limited = 0;
    for _ in 0..8 {
        let r = wx_change(&wx.base_url(), &token, &body).await;
        if r["errcode"] == 45009 {
            limited += 1;
        } else {
            assert_eq!(r["errcode"], 0);
        }
    }
    assert!(limited >= 4, "burst of 8 against 3/s: {limited} limited");
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
    assert_eq!(vv.stats().changes_per_order[&VV_ORDER.to_string()], 3);
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
    for _ in 0..20 {
        let r = vv_call(&vv.base_url(), "tok-ok", &body).await;
        if r["code"] == 202 {
            assert!(r["msg"].as_str().unwrap().contains("频率"));
            limited += 1;
        }
    }
    assert!(limited >= 5, "20 calls against 10/s: {limited} limited");
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
