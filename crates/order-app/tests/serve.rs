//! The inbound message receiver over real HTTP on loopback: verification, durable storage,
//! deduplication, dead letters and reconciliation against a SQLite journal.
//!
//! Messages are signed here with an implementation of the reference page's default recipe
//! (`docs/platforms/1688-push.md`) written independently of the decoder.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use async_trait::async_trait;
use md5::{Digest, Md5};
use order_app::config::Config;
use order_app::reconcile;
use order_app::serve::{ReceiverDeps, receiver_router};
use order_domain::{
    Amendment, AmendmentRecord, AmendmentState, Begin, Clock, IdempotencyKey, InboundRecord,
    Intent, Journal, JournalError, MessageDecoder, MessageInsert, MessageRecord, Order, OrderId,
    Outcome, Policy, Receipt, ShopId, Timestamp, plan,
};
use order_journal::SqliteJournal;
use reqwest::StatusCode;
use transport_1688_push::PushDecoder;

const SECRET: &str = "test-secret-1688";
const ACCESS_KEY: &str = "58c0201dfdf148eca63cbf6bb5e7cf03";
const USER_ID: &str = "2100007341207";
const T0: i64 = 1_727_000_000_000;
const ORDER: &str = "58218860983545941";
const L1: &str = "128403042259997715";
const L2: &str = "58218860985545944";

// ------------------------------------------------------------------ signing (independent)

/// The page's default recipe: sorted `key=value` of the four headers and the body, empty values
/// dropped, `&key=SECRET` appended, MD5, upper-case hex.
fn sign(pairs: &[(&str, &str)], body: &str, secret: &str) -> String {
    let mut params: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .chain([("body", body)])
        .filter(|(_, v)| !v.is_empty())
        .collect();
    params.sort();
    let joined = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let digest = Md5::digest(format!("{joined}&key={secret}").as_bytes());
    digest.iter().map(|b| format!("{b:02X}")).collect()
}

#[test]
fn the_test_signer_reproduces_the_pages_golden_example() {
    let sig = sign(
        &[
            ("access-key", "58c0201dfdf148eca63cbf6bb5e7cf03"),
            ("nonce-str", "n-0001"),
            ("timestamp", "1715669977082"),
            ("user-id", "2100007341207"),
        ],
        r#"{"messageType":"ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY"}"#,
        "secretXYZ",
    );
    assert_eq!(sig, "4E8E4B86DDF3780462FA86A6060E29F1");
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

/// A journal that fails `record_message` while `failing` is set, otherwise the SQLite one.
#[derive(Debug)]
struct Flaky {
    inner: Arc<SqliteJournal>,
    failing: AtomicBool,
}

#[async_trait]
impl Journal for Flaky {
    async fn begin(&self, intent: &Intent, now: Timestamp) -> Result<Begin, JournalError> {
        self.inner.begin(intent, now).await
    }
    async fn mark_sent(&self, key: &IdempotencyKey, now: Timestamp) -> Result<(), JournalError> {
        self.inner.mark_sent(key, now).await
    }
    async fn record_outcome(
        &self,
        key: &IdempotencyKey,
        outcome: &Outcome,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        self.inner.record_outcome(key, outcome, now).await
    }
    async fn reconcile(
        &self,
        key: &IdempotencyKey,
        state: AmendmentState,
        message_id: i64,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        self.inner
            .reconcile(key, state, message_id, note, now)
            .await
    }
    async fn amendments(
        &self,
        order: Option<&OrderId>,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        self.inner.amendments(order).await
    }
    async fn record_message(&self, message: &InboundRecord) -> Result<MessageInsert, JournalError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(JournalError::Storage("disk full (simulated)".to_owned()));
        }
        self.inner.record_message(message).await
    }
    async fn message_decoded(&self, id: i64, order: &OrderId) -> Result<(), JournalError> {
        self.inner.message_decoded(id, order).await
    }
    async fn dead_letter(&self, id: i64, reason: &str) -> Result<(), JournalError> {
        self.inner.dead_letter(id, reason).await
    }
    async fn messages(&self, dead_letters_only: bool) -> Result<Vec<MessageRecord>, JournalError> {
        self.inner.messages(dead_letters_only).await
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
    body: &'a str,
    nonce: Option<&'a str>,
    timestamp: i64,
    secret: &'a str,
    omit_user_id: bool,
}

impl<'a> Delivery<'a> {
    fn new(body: &'a str, nonce: Option<&'a str>) -> Self {
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
        let decoder: Arc<dyn MessageDecoder> =
            Arc::new(PushDecoder::with_secret(SECRET.to_owned().into()));
        let clock_dyn: Arc<dyn Clock> = Arc::clone(&clock) as Arc<dyn Clock>;
        let deps = ReceiverDeps::new(decoder, journal, clock_dyn);
        let path = deps.path().to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, receiver_router(deps)).await.unwrap();
        });
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
            .body(d.body.to_owned());
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
        let planned = plan(&order, &amendment, &Policy::vvtool_1688());
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
    assert_eq!(stored[0].record.dedup_key, "n-1");
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
    let decoder: Arc<dyn MessageDecoder> =
        Arc::new(PushDecoder::with_secret(SECRET.to_owned().into()));
    let deps = ReceiverDeps::new(decoder, Arc::clone(&journal) as Arc<dyn Journal>, clock)
        .with_path("/in")
        .with_max_body_bytes(100);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, receiver_router(deps)).await.unwrap() });
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
    // Without a nonce the body is the dedup key; a later re-push is signed anew (no replay).
    assert_eq!(h.post(&Delivery::new(&body, None)).await.0, StatusCode::OK);
    h.clock.0.store(T0 + 1_000, Ordering::SeqCst);
    let mut again = Delivery::new(&body, None);
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
        inner: Arc::clone(&sqlite),
        failing: AtomicBool::new(true),
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
