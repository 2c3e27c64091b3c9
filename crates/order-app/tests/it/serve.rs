//! The inbound message receiver over real HTTP on loopback: verification, durable storage,
//! deduplication, dead letters and reconciliation against a SQLite journal.
//!
//! Messages are signed here with an implementation of the reference page's default recipe
//! (`docs/platforms/1688-push.md`) written independently of the decoder.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use md5::{Digest, Md5};
use order_app::config::Config;
use order_app::reconcile;
use order_app::serve::{ReceiverDeps, receiver_router, serve_on};
use order_domain::{
    Amendment, AmendmentRecord, AmendmentState, Begin, Clock, IdempotencyKey, Intent, Journal,
    MessageDecoder, Order, OrderId, Outcome, Receipt, ShopId, Timestamp, plan,
};
use order_journal::SqliteJournal;

use crate::support::Flaky;
use reqwest::StatusCode;
use sha2::Sha256;
use transport_1688_push::{Md5LengthPrefixed, PushDecoder, SignatureScheme, SignedParts};

const SECRET: &str = "test-secret-1688";
const ACCESS_KEY: &str = "58c0201dfdf148eca63cbf6bb5e7cf03";
const USER_ID: &str = "2100007341207";
const T0: i64 = 1_727_000_000_000;
const ORDER: &str = "58218860983545941";
const L1: &str = "128403042259997715";
const L2: &str = "58218860985545944";

// ------------------------------------------------------------------ signing (independent)

/// The receiver's default recipe (`docs/receiver.md`): the four headers and the body, every
/// one required, sorted by key, each written `key=LEN:value` (LEN in bytes), joined with `&`,
/// `&key=SECRET` appended, MD5, upper-case hex.
fn sign(pairs: &[(&str, &str)], body: &[u8], secret: &str) -> String {
    let mut params: Vec<(&str, &[u8])> = pairs
        .iter()
        .map(|(k, v)| (*k, v.as_bytes()))
        .chain([("body", body)])
        .collect();
    params.sort();
    let mut s = Vec::new();
    for (k, v) in params {
        s.extend_from_slice(format!("{k}={}:", v.len()).as_bytes());
        s.extend_from_slice(v);
        s.push(b'&');
    }
    s.extend_from_slice(format!("key={secret}").as_bytes());
    let digest = Md5::digest(&s);
    digest.iter().map(|b| format!("{b:02X}")).collect()
}

const GOLDEN_HEADERS: [(&str, &str); 4] = [
    ("access-key", "58c0201dfdf148eca63cbf6bb5e7cf03"),
    ("nonce-str", "n-0001"),
    ("timestamp", "1715669977082"),
    ("user-id", "2100007341207"),
];
const GOLDEN_BODY: &str = r#"{"messageType":"ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY"}"#;
/// MD5 of the documented string to sign, computed with python3's hashlib.
const GOLDEN_SIGNATURE: &str = "B59A1D2B38CEAD1361D5F30AA3BA04D0";

#[test]
fn the_test_signer_reproduces_the_documented_golden_example() {
    let sig = sign(&GOLDEN_HEADERS, GOLDEN_BODY.as_bytes(), "secretXYZ");
    assert_eq!(sig, GOLDEN_SIGNATURE);
}

#[test]
fn the_default_recipe_signs_the_documented_length_prefixed_string() {
    let headers: Vec<(String, String)> = GOLDEN_HEADERS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let parts = SignedParts {
        headers: &headers,
        body: GOLDEN_BODY.as_bytes(),
    };
    let scheme = Md5LengthPrefixed::new("secretXYZ".to_owned().into());
    assert_eq!(
        String::from_utf8(scheme.canonical(&parts)).unwrap(),
        r#"access-key=32:58c0201dfdf148eca63cbf6bb5e7cf03&body=53:{"messageType":"ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY"}&nonce-str=6:n-0001&timestamp=13:1715669977082&user-id=13:2100007341207"#
    );
    assert_eq!(
        hex::encode_upper(scheme.expected_digest(&parts)),
        GOLDEN_SIGNATURE
    );
}

fn decoder() -> Arc<dyn MessageDecoder> {
    Arc::new(PushDecoder::new(Arc::new(Md5LengthPrefixed::new(
        SECRET.to_owned().into(),
    ))))
}

// ------------------------------------------------------------------ fixtures

/// A seed-like price-modified message for [`ORDER`]: L1 0.30, L2 0.05, freight 6, pushed at
/// `sent_ms`.
fn seed_message(l1: &str, sent_ms: i64) -> String {
    format!(
        r#"{{"messageType":"ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY","messagePlatform":1,"timestamp":"{sent_ms}",
"messageBody":{{"baseInfo":{{"id":58218860983545944,"idOfStr":"{ORDER}","status":"waitbuyerpay","tradeType":"50060",
"totalAmount":6.35,"sumProductPayment":0.35,"shippingFee":6,"discount":0,"buyerID":"b2b-2248544159"}},
"productItems":[
{{"subItemID":128403042259997710,"subItemIDString":"{L1}","name":"测试扫码购富光勿拍2L*6件","quantity":1,"unit":"箱","price":{l1},"itemAmount":{l1},"entryDiscount":0}},
{{"subItemID":58218860985545944,"subItemIDString":"{L2}","name":"鞋子","quantity":1,"unit":"双","price":0.1,"itemAmount":0.05,"entryDiscount":0}}],
"tradeTerms":[{{"payStatus":"2","phasAmount":6.35,"phase":655062941545941}}]}}}}"#
    )
}

/// A clock the test moves.
#[derive(Debug)]
struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}

struct Harness {
    url: String,
    journal: Arc<SqliteJournal>,
    clock: Arc<TestClock>,
    client: reqwest::Client,
}

/// One delivery: body, optional nonce, header timestamp and signing secret.
struct Delivery<'a> {
    body: &'a [u8],
    nonce: Option<&'a str>,
    timestamp: i64,
    secret: &'a str,
    omit_user_id: bool,
}

impl<'a> Delivery<'a> {
    fn new(body: &'a str, nonce: Option<&'a str>) -> Self {
        Delivery::bytes(body.as_bytes(), nonce)
    }

    fn bytes(body: &'a [u8], nonce: Option<&'a str>) -> Self {
        Delivery {
            body,
            nonce,
            timestamp: T0,
            secret: SECRET,
            omit_user_id: false,
        }
    }
}

impl Harness {
    async fn start() -> Harness {
        let journal = Arc::new(SqliteJournal::in_memory().await.unwrap());
        Harness::start_on(Arc::clone(&journal) as Arc<dyn Journal>, journal).await
    }

    /// Serves a fresh decoder (empty nonce memory, as after a restart) on `journal`, whose
    /// SQLite store is `sqlite` (for inspection).
    async fn start_on(journal: Arc<dyn Journal>, sqlite: Arc<SqliteJournal>) -> Harness {
        let clock = Arc::new(TestClock(AtomicI64::new(T0)));
        let decoder = decoder();
        let clock_dyn: Arc<dyn Clock> = Arc::clone(&clock) as Arc<dyn Clock>;
        let deps = ReceiverDeps::new(decoder, journal, clock_dyn);
        let path = deps.path().to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, receiver_router(deps)).await.unwrap();
        });
        transport_core::install_crypto_provider();
        Harness {
            url: format!("http://{addr}{path}"),
            journal: sqlite,
            clock,
            client: reqwest::Client::new(),
        }
    }

    async fn post(&self, d: &Delivery<'_>) -> (StatusCode, serde_json::Value) {
        let ts = d.timestamp.to_string();
        let mut pairs = vec![("access-key", ACCESS_KEY), ("timestamp", ts.as_str())];
        if !d.omit_user_id {
            pairs.push(("user-id", USER_ID));
        }
        if let Some(n) = d.nonce {
            pairs.push(("nonce-str", n));
        }
        let signature = sign(&pairs, d.body, d.secret);
        let mut req = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("signature", signature)
            .body(d.body.to_vec());
        for (k, v) in &pairs {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap();
        (status, body)
    }

    /// (messages stored, dead letters)
    async fn counts(&self) -> (u64, u64) {
        self.journal.message_counts().await.unwrap()
    }

    /// Journals an amendment of [`ORDER`] (L1 from 12.00, L2 from 0.10, freight from 8) setting
    /// `amendment`, acknowledged by the platform, recorded at `at`.
    async fn acknowledged(&self, key: &str, order_id: &str, amendment: &str, at: i64) {
        let order: Order = serde_json::from_str(&format!(
            r#"{{ "id": "{order_id}", "status": "awaiting_payment", "currency": "CNY",
                 "trade_type": "6",
                 "lines": [ {{ "id": "{L1}", "original_total": "12.00" }},
                            {{ "id": "{L2}", "original_total": "0.10" }} ],
                 "freight": {{ "original": "8" }} }}"#
        ))
        .unwrap();
        let amendment: Amendment = serde_json::from_str(amendment).unwrap();
        let planned = plan(&order, &amendment, &transport_vvtool::policy());
        assert!(planned.is_ok(), "{planned:?}");
        let key = IdempotencyKey::new(key).unwrap();
        let intent = Intent {
            key: key.clone(),
            shop: ShopId::new("vv-main").unwrap(),
            order,
            amendment,
            plan: planned,
        };
        let at = Timestamp::from_millis(at);
        assert_eq!(self.journal.begin(&intent, at).await.unwrap(), Begin::New);
        self.journal.mark_sent(&key, at).await.unwrap();
        self.journal
            .record_outcome(
                &key,
                &Outcome::Acknowledged(Receipt::new(r#"{"success":true}"#)),
                at,
            )
            .await
            .unwrap();
    }

    async fn amendment(&self, key: &str) -> AmendmentRecord {
        self.journal
            .amendments(None)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.intent.key.as_str() == key)
            .unwrap()
    }
}

fn refused(body: &serde_json::Value) -> bool {
    body["success"] == serde_json::json!(false) && body["message"].is_string()
}

// ------------------------------------------------------------------ verification

#[tokio::test]
async fn a_good_message_is_stored_once_decoded_and_acknowledged() {
    let h = Harness::start().await;
    let body = seed_message("0.3", T0);
    let (status, reply) = h.post(&Delivery::new(&body, Some("n-1"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply, serde_json::json!({ "success": true }));
    assert_eq!(h.counts().await, (1, 0));
    let stored = h.journal.messages(false).await.unwrap();
    assert_eq!(
        stored[0].record.raw,
        body.as_bytes(),
        "the raw body is kept verbatim"
    );
    assert_eq!(stored[0].record.source, "1688-push");
    assert_eq!(
        stored[0].record.dedup_key,
        format!("sha256:{}", hex::encode(Sha256::digest(body.as_bytes()))),
        "a message is identified by its content"
    );
    assert_eq!(stored[0].record.received_at, Timestamp::from_millis(T0));
    assert_eq!(stored[0].order.as_ref().map(OrderId::as_str), Some(ORDER));
}

#[tokio::test]
async fn a_bad_signature_is_refused_with_401_and_nothing_is_stored() {
    let h = Harness::start().await;
    let body = seed_message("0.3", T0);
    let mut d = Delivery::new(&body, Some("n-1"));
    d.secret = "not-the-secret";
    let (status, reply) = h.post(&d).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(refused(&reply), "{reply}");
    assert_eq!(h.counts().await, (0, 0));
}

#[tokio::test]
async fn a_missing_header_is_refused_with_400_and_nothing_is_stored() {
    let h = Harness::start().await;
    let body = seed_message("0.3", T0);
    let mut d = Delivery::new(&body, Some("n-1"));
    d.omit_user_id = true;
    let (status, reply) = h.post(&d).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        reply["message"].as_str().unwrap().contains("user-id"),
        "{reply}"
    );
    assert_eq!(h.counts().await, (0, 0));
}

#[tokio::test]
async fn a_stale_timestamp_is_refused_either_way_and_nothing_is_stored() {
    let h = Harness::start().await;
    let body = seed_message("0.3", T0);
    for (nonce, ts) in [("old", T0 - 300_001), ("future", T0 + 300_001)] {
        let mut d = Delivery::new(&body, Some(nonce));
        d.timestamp = ts;
        let (status, reply) = h.post(&d).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{nonce}");
        assert!(refused(&reply), "{reply}");
    }
    assert_eq!(h.counts().await, (0, 0));
    // At the edge of the window it is fresh.
    let mut d = Delivery::new(&body, Some("edge"));
    d.timestamp = T0 - 300_000;
    assert_eq!(h.post(&d).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_replayed_nonce_is_refused_and_the_message_stays_stored_once() {
    let h = Harness::start().await;
    let body = seed_message("0.3", T0);
    assert_eq!(
        h.post(&Delivery::new(&body, Some("n-1"))).await.0,
        StatusCode::OK
    );
    // The same nonce again, on a different (correctly signed) body and a later timestamp.
    let other = seed_message("0.2", T0);
    let mut d = Delivery::new(&other, Some("n-1"));
    d.timestamp = T0 + 1;
    let (status, reply) = h.post(&d).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        reply["message"].as_str().unwrap().contains("n-1"),
        "{reply}"
    );
    assert_eq!(h.counts().await, (1, 0));
    assert_eq!(
        h.journal.messages(false).await.unwrap()[0].record.raw,
        body.as_bytes()
    );
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_and_nothing_is_stored() {
    let h = Harness::start().await;
    let padding = " ".repeat(1024 * 1024);
    let body = format!("{}{padding}", seed_message("0.3", T0));
    let (status, reply) = h.post(&Delivery::new(&body, Some("big"))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(refused(&reply), "{reply}");
    assert_eq!(h.counts().await, (0, 0));
}

#[tokio::test]
async fn the_body_limit_is_configurable() {
    let journal = Arc::new(SqliteJournal::in_memory().await.unwrap());
    let clock: Arc<dyn Clock> = Arc::new(TestClock(AtomicI64::new(T0)));
    let deps = ReceiverDeps::new(decoder(), Arc::clone(&journal) as Arc<dyn Journal>, clock)
        .with_path("/in")
        .with_max_body_bytes(100);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, receiver_router(deps)).await.unwrap() });
    transport_core::install_crypto_provider();
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/in"))
        .body("x".repeat(101))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(journal.message_counts().await.unwrap(), (0, 0));
}

// ------------------------------------------------------------------ storage

#[tokio::test]
async fn malformed_json_signed_correctly_is_stored_as_a_dead_letter_with_its_reason() {
    let h = Harness::start().await;
    let body = r#"{"messageType":"ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY","messageBody":{"baseInfo":"#;
    let (status, reply) = h.post(&Delivery::new(body, Some("bad-json"))).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "stored: the platform must not resend it"
    );
    assert_eq!(reply, serde_json::json!({ "success": true }));
    assert_eq!(h.counts().await, (1, 1));
    let dead = h.journal.messages(true).await.unwrap();
    assert_eq!(dead[0].record.raw, body.as_bytes());
    let reason = dead[0].dead_letter_reason.as_deref().unwrap();
    assert!(reason.contains("cannot decode"), "{reason}");
    assert_eq!(dead[0].order, None);
}

#[tokio::test]
async fn a_message_is_stored_with_its_order_or_dead_letter_reason_in_one_journal_write() {
    let h = Harness::start().await;
    let good = seed_message("0.3", T0);
    assert_eq!(
        h.post(&Delivery::new(&good, Some("one-a"))).await.0,
        StatusCode::OK
    );
    let stats = h.journal.write_stats();
    assert_eq!(
        stats.writes, 1,
        "storing and decoding a message is one journal write: {stats:?}"
    );
    let bad = r#"{"messageType":"ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY","messageBody":{"baseInfo":"#;
    assert_eq!(
        h.post(&Delivery::new(bad, Some("one-b"))).await.0,
        StatusCode::OK
    );
    let stats = h.journal.write_stats();
    assert_eq!(
        stats.writes, 2,
        "a dead letter is one journal write too: {stats:?}"
    );
    let stored = h.journal.messages(false).await.unwrap();
    let good = stored
        .iter()
        .find(|m| m.record.raw == good.as_bytes())
        .unwrap();
    assert_eq!(good.order.as_ref().map(OrderId::as_str), Some(ORDER));
    let bad = stored
        .iter()
        .find(|m| m.record.raw == bad.as_bytes())
        .unwrap();
    assert!(bad.dead_letter_reason.is_some(), "{bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_message_answered_200_under_concurrent_deliveries_is_stored_decoded() {
    let h = Arc::new(Harness::start().await);
    let tasks: Vec<_> = (0..64)
        .map(|n| {
            let h = Arc::clone(&h);
            tokio::spawn(async move {
                // Distinct bodies (the identity), each with its own nonce.
                let body = seed_message("0.3", T0 - n);
                let nonce = format!("conc-{n}");
                let (status, _) = h.post(&Delivery::new(&body, Some(&nonce))).await;
                (status, body)
            })
        })
        .collect();
    let mut answered = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        answered.push(body);
    }
    for body in &answered {
        let key = format!("sha256:{}", hex::encode(Sha256::digest(body.as_bytes())));
        let stored = h.journal.message_by_dedup_key(&key).await.unwrap();
        let stored = stored.unwrap_or_else(|| panic!("a 200'd message is missing: {key}"));
        assert_eq!(stored.record.raw, body.as_bytes());
        assert_eq!(stored.order.as_ref().map(OrderId::as_str), Some(ORDER));
    }
    assert_eq!(h.counts().await, (64, 0));
    assert_eq!(h.journal.write_stats().writes, 64, "one write per message");
}

#[tokio::test]
async fn the_same_message_twice_is_acknowledged_twice_stored_once_and_reconciled_once() {
    let h = Harness::start().await;
    h.acknowledged(
        "k-match",
        ORDER,
        &format!(r#"{{ "lines": {{ "{L1}": "0.30" }}, "freight": "6" }}"#),
        T0 - 60_000,
    )
    .await;
    let body = seed_message("0.3", T0);
    // The body is the identity; a later re-push is signed anew with its own nonce (no replay).
    assert_eq!(
        h.post(&Delivery::new(&body, Some("n-a"))).await.0,
        StatusCode::OK
    );
    h.clock.0.store(T0 + 1_000, Ordering::SeqCst);
    let mut again = Delivery::new(&body, Some("n-b"));
    again.timestamp = T0 + 1_000;
    let (status, reply) = h.post(&again).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply, serde_json::json!({ "success": true }));
    assert_eq!(h.counts().await, (1, 0));
    let a = h.amendment("k-match").await;
    assert_eq!(a.state, AmendmentState::Confirmed);
    assert_eq!(
        a.updated_at,
        Timestamp::from_millis(T0),
        "the duplicate did not reconcile again"
    );
}

#[tokio::test]
async fn a_redelivery_after_a_restart_is_a_duplicate_not_a_new_message() {
    let journal = Arc::new(SqliteJournal::in_memory().await.unwrap());
    let first = Harness::start_on(
        Arc::clone(&journal) as Arc<dyn Journal>,
        Arc::clone(&journal),
    )
    .await;
    let body = seed_message("0.3", T0);
    assert_eq!(
        first.post(&Delivery::new(&body, Some("n-7"))).await.0,
        StatusCode::OK
    );
    // A fresh decoder has not seen the nonce; the journal has.
    let second = Harness::start_on(
        Arc::clone(&journal) as Arc<dyn Journal>,
        Arc::clone(&journal),
    )
    .await;
    assert_eq!(
        second.post(&Delivery::new(&body, Some("n-7"))).await.0,
        StatusCode::OK
    );
    assert_eq!(second.counts().await, (1, 0));
}

#[tokio::test]
async fn a_journal_failure_is_503_and_the_redelivery_is_then_stored() {
    let sqlite = Arc::new(SqliteJournal::in_memory().await.unwrap());
    let flaky = Arc::new(Flaky {
        inner: Arc::clone(&sqlite) as Arc<dyn Journal>,
        failing: Arc::new(AtomicBool::new(true)),
        reads: Arc::default(),
    });
    let h = Harness::start_on(Arc::clone(&flaky) as Arc<dyn Journal>, sqlite).await;
    let body = seed_message("0.3", T0);
    let (status, reply) = h.post(&Delivery::new(&body, Some("n-9"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused(&reply), "{reply}");
    assert_eq!(h.counts().await, (0, 0));
    // The platform delivers the same signed request again (same nonce) once storage is back.
    flaky.failing.store(false, Ordering::SeqCst);
    let (status, _) = h.post(&Delivery::new(&body, Some("n-9"))).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a 503'd message is accepted when delivered again"
    );
    assert_eq!(h.counts().await, (1, 0));
    // After that it is an ordinary replay.
    assert_eq!(
        h.post(&Delivery::new(&body, Some("n-9"))).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(h.counts().await, (1, 0));
}

// ------------------------------------------------------------------ identity, replay, ambiguity

#[tokio::test]
async fn a_new_message_reusing_a_nonce_after_a_restart_is_stored() {
    let journal = Arc::new(SqliteJournal::in_memory().await.unwrap());
    let first = Harness::start_on(
        Arc::clone(&journal) as Arc<dyn Journal>,
        Arc::clone(&journal),
    )
    .await;
    let a = seed_message("0.3", T0);
    assert_eq!(
        first.post(&Delivery::new(&a, Some("n-7"))).await.0,
        StatusCode::OK
    );
    let second = Harness::start_on(
        Arc::clone(&journal) as Arc<dyn Journal>,
        Arc::clone(&journal),
    )
    .await;
    let b = seed_message("0.2", T0);
    assert_eq!(
        second.post(&Delivery::new(&b, Some("n-7"))).await.0,
        StatusCode::OK
    );
    assert_eq!(second.counts().await, (2, 0), "a 200 means stored");
    let raws: Vec<Vec<u8>> = journal
        .messages(false)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.record.raw)
        .collect();
    assert!(
        raws.contains(&b.into_bytes()),
        "the second message is stored"
    );
}

#[tokio::test]
async fn a_new_message_reusing_a_nonce_outside_the_window_is_stored() {
    let h = Harness::start().await;
    let a = seed_message("0.3", T0);
    assert_eq!(
        h.post(&Delivery::new(&a, Some("n-8"))).await.0,
        StatusCode::OK
    );
    let later = T0 + 300_001;
    h.clock.0.store(later, Ordering::SeqCst);
    let b = seed_message("0.2", later);
    let mut d = Delivery::new(&b, Some("n-8"));
    d.timestamp = later;
    assert_eq!(h.post(&d).await.0, StatusCode::OK);
    assert_eq!(h.counts().await, (2, 0), "a 200 means stored");
}

#[tokio::test]
async fn a_missing_nonce_is_refused_with_400_not_signed_as_empty() {
    let h = Harness::start().await;
    let body = seed_message("0.3", T0);
    let (status, reply) = h.post(&Delivery::new(&body, None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        reply["message"].as_str().unwrap().contains("nonce-str"),
        "{reply}"
    );
    assert_eq!(h.counts().await, (0, 0));
}

#[tokio::test]
async fn bytes_moved_between_the_body_and_the_nonce_do_not_verify() {
    let h = Harness::start().await;
    let body = seed_message("0.3", T0);
    let ts = T0.to_string();
    let headers = [
        ("access-key", ACCESS_KEY),
        ("nonce-str", "n-1"),
        ("timestamp", ts.as_str()),
        ("user-id", USER_ID),
    ];
    let signature = sign(&headers, body.as_bytes(), SECRET);
    // The signed body with the nonce's bytes appended, and a shorter nonce: under an
    // undelimited recipe (`body=X&nonce-str=n-1`) this is the same string to sign.
    let moved_body = format!("{body}&nonce-str=n");
    let send = |b: String, nonce: Option<&'static str>| {
        let mut req = h
            .client
            .post(&h.url)
            .header("signature", signature.clone())
            .header("access-key", ACCESS_KEY)
            .header("timestamp", ts.clone())
            .header("user-id", USER_ID)
            .body(b);
        if let Some(n) = nonce {
            req = req.header("nonce-str", n);
        }
        req.send()
    };
    let without_nonce = send(format!("{body}&nonce-str=n-1"), None).await.unwrap();
    assert_eq!(without_nonce.status(), StatusCode::BAD_REQUEST);
    let shifted = send(moved_body, Some("-1")).await.unwrap();
    assert_eq!(shifted.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(h.counts().await, (0, 0));
    // The original still verifies.
    assert_eq!(
        h.post(&Delivery::new(&body, Some("n-1"))).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_non_utf8_body_is_stored_byte_for_byte_and_dead_lettered() {
    let h = Harness::start().await;
    let mut body = br#"{"messageType":"ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY","note":""#.to_vec();
    body.extend_from_slice(&[0xC4, 0xE3, 0xBA, 0xC3, 0xFF]); // GBK text and a stray byte
    body.extend_from_slice(br#""}"#);
    let (status, _) = h.post(&Delivery::bytes(&body, Some("n-gbk"))).await;
    assert_eq!(status, StatusCode::OK);
    let dead = h.journal.messages(true).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].record.raw, body, "no byte replaced");
    assert!(
        dead[0]
            .dead_letter_reason
            .as_deref()
            .unwrap()
            .contains("not UTF-8"),
        "{dead:?}"
    );
}

// ------------------------------------------------------------------ timeouts and limits

/// Serves `deps` with [`serve_on`] (timeouts and the connection limit apply) and returns the
/// address.
async fn serve_limited(deps: ReceiverDeps) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_on(listener, deps, std::future::pending()));
    addr
}

async fn limited_deps() -> ReceiverDeps {
    let journal = Arc::new(SqliteJournal::in_memory().await.unwrap());
    let clock: Arc<dyn Clock> = Arc::new(TestClock(AtomicI64::new(T0)));
    ReceiverDeps::new(decoder(), journal as Arc<dyn Journal>, clock)
}

/// Reads until the server closes the connection; `None` if it is still open after 10 s (the
/// bound only keeps a failing test from hanging).
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    match tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut out),
    )
    .await
    {
        Ok(Ok(_)) => Some(out),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => Some(out),
        Ok(Err(e)) => panic!("read failed: {e}"),
        Err(_) => None,
    }
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_header_timeout() {
    let deps = limited_deps()
        .await
        .with_header_timeout(std::time::Duration::from_millis(200));
    let addr = serve_limited(deps).await;
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let got = read_until_closed(&mut idle).await;
    assert!(got.is_some(), "the idle connection was left open");
}

#[tokio::test]
async fn a_keep_alive_connection_idle_after_a_request_is_closed_after_the_header_timeout() {
    use tokio::io::AsyncWriteExt;
    let deps = limited_deps()
        .await
        .with_header_timeout(std::time::Duration::from_millis(200));
    let addr = serve_limited(deps).await;
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    // An HTTP/1.1 request (keep-alive by default) the receiver answers 400 (no headers).
    conn.write_all(b"POST /1688/messages HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        .await
        .unwrap();
    let got = read_until_closed(&mut conn)
        .await
        .expect("the idle keep-alive connection was left open");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
}

#[tokio::test]
async fn a_slow_body_is_cut_with_408() {
    use tokio::io::AsyncWriteExt;
    let deps = limited_deps()
        .await
        .with_body_timeout(std::time::Duration::from_millis(200));
    let addr = serve_limited(deps).await;
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(
        b"POST /1688/messages HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n{\"partial\":",
    )
    .await
    .unwrap();
    let got = read_until_closed(&mut slow)
        .await
        .expect("the slow body was not cut");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}

#[tokio::test]
async fn a_connection_beyond_the_limit_is_answered_503() {
    use tokio::io::AsyncWriteExt;
    let deps = limited_deps().await.with_max_connections(1);
    let addr = serve_limited(deps).await;
    // The first connection holds the only slot (connections are accepted in order).
    let _holder = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
    second
        .write_all(b"POST /1688/messages HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        .await
        .unwrap();
    let got = read_until_closed(&mut second)
        .await
        .expect("the refused connection was left open");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("busy"), "{text}");
}

// ------------------------------------------------------------------ reconciliation

#[tokio::test]
async fn a_matching_message_confirms_the_acknowledged_amendment() {
    let h = Harness::start().await;
    h.acknowledged(
        "k-match",
        ORDER,
        &format!(r#"{{ "lines": {{ "{L1}": "0.3" }}, "freight": "6.00" }}"#),
        T0 - 60_000,
    )
    .await;
    let body = seed_message("0.30", T0);
    assert_eq!(
        h.post(&Delivery::new(&body, Some("n-1"))).await.0,
        StatusCode::OK
    );
    let a = h.amendment("k-match").await;
    assert_eq!(a.state, AmendmentState::Confirmed);
    assert_eq!(a.note, None);
    assert!(
        h.journal
            .unconfirmed_acknowledged()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_contradicting_message_flags_the_amendment_with_a_note() {
    let h = Harness::start().await;
    h.acknowledged(
        "k-contra",
        ORDER,
        &format!(r#"{{ "lines": {{ "{L1}": "9.80" }} }}"#),
        T0 - 60_000,
    )
    .await;
    let body = seed_message("10.00", T0);
    assert_eq!(
        h.post(&Delivery::new(&body, Some("n-1"))).await.0,
        StatusCode::OK
    );
    let a = h.amendment("k-contra").await;
    assert_eq!(a.state, AmendmentState::Flagged);
    assert_eq!(
        a.note.as_deref(),
        Some(format!("line {L1}: expected 9.80, message says 10.00").as_str())
    );
}

#[tokio::test]
async fn unconfirmed_amendments_are_listed_until_a_message_reconciles_them() {
    let h = Harness::start().await;
    let set_l1 = format!(r#"{{ "lines": {{ "{L1}": "0.30" }} }}"#);
    h.acknowledged("k-this", ORDER, &set_l1, T0 - 60_000).await;
    h.acknowledged("k-other", "2198111437768747370", &set_l1, T0 - 50_000)
        .await;
    let keys = |v: Vec<AmendmentRecord>| {
        v.into_iter()
            .map(|r| r.intent.key.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let journal: Arc<dyn Journal> = Arc::clone(&h.journal) as Arc<dyn Journal>;
    assert_eq!(
        keys(reconcile::unconfirmed(journal.as_ref()).await.unwrap()),
        ["k-this", "k-other"]
    );
    let body = seed_message("0.3", T0);
    assert_eq!(
        h.post(&Delivery::new(&body, Some("n-1"))).await.0,
        StatusCode::OK
    );
    assert_eq!(
        keys(reconcile::unconfirmed(journal.as_ref()).await.unwrap()),
        ["k-other"]
    );
    assert_eq!(
        keys(h.journal.unconfirmed_acknowledged().await.unwrap()),
        ["k-other"]
    );
    // A message for an order without acknowledged amendments is stored and decoded, nothing else.
    let other_order = body.replace(ORDER, "1234567890123456789");
    assert_eq!(
        h.post(&Delivery::new(&other_order, Some("n-2"))).await.0,
        StatusCode::OK
    );
    assert_eq!(h.counts().await, (2, 0));
    assert_eq!(
        h.amendment("k-other").await.state,
        AmendmentState::Acknowledged
    );
}

// ------------------------------------------------------------------ configuration

#[test]
fn the_receiver_section_parses_and_refuses_inline_secrets() {
    let c = Config::parse(
        r#"
[journal]
url = "sqlite://ordermod.db"

[receiver]
listen = "0.0.0.0:9000"
path = "/push"
max_body_bytes = 65536
max_skew_ms = 60000
secret_env = "PUSH_SECRET"
"#,
    )
    .unwrap();
    let r = c.receiver.unwrap();
    assert_eq!(r.listen, Some("0.0.0.0:9000".parse().unwrap()));
    assert_eq!(r.path.as_deref(), Some("/push"));
    assert_eq!(r.max_body_bytes, Some(65536));
    assert_eq!(r.max_skew_ms, Some(60000));
    assert_eq!(r.secret_env.as_deref(), Some("PUSH_SECRET"));

    let e = Config::parse("[receiver]\nsecret = \"hunter2\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("receiver.secret") && e.contains("secret_env"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
    let e = Config::parse("[receiver]\npath = \"push\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("must start with `/`"), "{e}");
    let e = Config::parse("[receiver]\ncolour = \"x\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("colour"), "{e}");
    assert!(Config::parse("").unwrap().receiver.is_none());
}

#[test]
fn the_secret_comes_from_the_named_environment_variable() {
    use secrecy::ExposeSecret;
    use std::collections::BTreeMap;
    let c = Config::parse("[receiver]\nsecret_env = \"PUSH_SECRET\"\n").unwrap();
    let r = c.receiver.unwrap();
    let empty: BTreeMap<String, String> = BTreeMap::new();
    let e = r.resolve_secret(&empty).unwrap_err().to_string();
    assert!(e.contains("PUSH_SECRET"), "{e}");
    let env: BTreeMap<String, String> = [("PUSH_SECRET".to_owned(), "s3".to_owned())].into();
    assert_eq!(r.resolve_secret(&env).unwrap().expose_secret(), "s3");
}
