//! Processes side by side on one PostgreSQL journal (issue 17): WeChat tokens shared through
//! the journal, and receivers behind a load balancer. Each "process" is its own set of
//! objects (its own journal handle and connection pool, HTTP client, token sources or
//! receiver) on one fresh database of the throwaway cluster, talking real HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use md5::{Digest as _, Md5};
use order_app::config::Config;
use order_app::registry::{PgTokenStore, PlatformFactory};
use order_app::serve::{PgNonceStore, ReceiverDeps, serve_on};
use order_domain::{Journal, OrderId, OrderSource};
use order_journal::{AnyJournal, PostgresJournal};

use crate::support::Flaky;
use order_sandbox::{ChannelsEmulator, ChannelsOrder, ChannelsSettings, Sandbox};
use reqwest::StatusCode;
use sha2::Sha256;
use transport_1688_push::{Md5LengthPrefixed, PushDecoder};

// ------------------------------------------------------------------ tokens across processes

const APPID: &str = "wx-sandbox-app";
const ORDER: u64 = 3_705_115_058_471_208_928;

async fn channels_sandbox() -> (Sandbox, ChannelsEmulator) {
    let settings = ChannelsSettings {
        rate_limit_per_second: None,
        ..ChannelsSettings::default()
    };
    let sb = Sandbox::builder()
        .seed(17)
        .channels(settings)
        .start()
        .await
        .unwrap();
    let em = sb.channels().unwrap().clone();
    em.seed_order(ChannelsOrder::awaiting_payment(
        ORDER,
        500,
        &[(1, 11, 2, 1500)],
    ));
    (sb, em)
}

/// The order read of a Channels shop built by one process's registry, its tokens kept in the
/// journal at `journal_url`.
async fn process(journal_url: &str, em: &ChannelsEmulator) -> Arc<dyn OrderSource> {
    let journal = PostgresJournal::open(journal_url).await.unwrap();
    let config = Config::parse(&format!(
        r#"
[journal]
url = "sqlite::memory:"

[[shop]]
id = "ch-main"
platform = "wechat-channels"
base_url = "{}"
rate_limit_per_second = 1000
[shop.credentials]
appid = "{APPID}"
secret_env = "CH_SECRET"
"#,
        em.base_url()
    ))
    .unwrap();
    let env: BTreeMap<String, String> = [("CH_SECRET".to_owned(), "sandbox-secret".to_owned())]
        .into_iter()
        .collect();
    let mut factory = PlatformFactory::new(order_app::http_client().unwrap())
        .with_token_store(Arc::new(PgTokenStore::new(journal.shared_tokens())));
    let shop = &config.shops[0];
    let (_, source) = factory
        .build_with_source(shop, &shop.resolve_secrets(&env).unwrap())
        .unwrap();
    source.unwrap()
}

/// `n` order reads at once, alternating between the processes' sources; every one succeeds.
async fn read_at_once(sources: &[Arc<dyn OrderSource>], n: usize) {
    let mut reads = tokio::task::JoinSet::new();
    for i in 0..n {
        let source = Arc::clone(&sources[i % sources.len()]);
        reads.spawn(async move {
            source
                .fetch(&OrderId::new(ORDER.to_string()).unwrap())
                .await
        });
    }
    for read in reads.join_all().await {
        read.unwrap();
    }
}

#[tokio::test]
async fn two_processes_fetch_a_token_once_and_refresh_a_rejected_one_once() {
    let (_sb, em) = channels_sandbox().await;
    let url = pg_throwaway::shared().fresh_database();
    let sources = [process(&url, &em).await, process(&url, &em).await];

    // 16 callers across both processes, none holding a token yet: one fetch serves them all
    // (the plain endpoint invalidates the previous token on every fetch, so a second fetch
    // would also have shown as refused calls and more fetches).
    read_at_once(&sources, 16).await;
    assert_eq!(em.token_fetches(), 1, "one fetch for both processes");
    assert_eq!(em.tokens_issued(), 1);

    // WeChat refuses the token (40001): every caller of both processes is refused once, and
    // one of them refreshes it; the others read the refreshed token from the journal.
    em.invalidate_tokens();
    read_at_once(&sources, 16).await;
    assert_eq!(em.token_fetches(), 2, "one refresh for both processes");
    assert_eq!(em.tokens_issued(), 2);
    let refused = em
        .calls()
        .iter()
        .filter(|c| c.outcome.starts_with("rejected:"))
        .count();
    assert!(
        (1..=16).contains(&refused),
        "each caller is refused at most once: {refused}"
    );

    // A third process starting now reads the stored token instead of fetching.
    let third = process(&url, &em).await;
    read_at_once(&[third], 4).await;
    assert_eq!(em.token_fetches(), 2);
}

// ------------------------------------------------------------------ receivers side by side

const SECRET: &str = "replica-secret";

/// The receiver's default recipe (`docs/receiver.md`), written independently of the decoder:
/// the four headers and the body, sorted by key, each `key=LEN:value`, joined with `&`,
/// `&key=SECRET` appended, MD5, upper-case hex.
fn sign(pairs: &[(&str, &str)], body: &[u8]) -> String {
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
    s.extend_from_slice(format!("key={SECRET}").as_bytes());
    Md5::digest(&s).iter().map(|b| format!("{b:02X}")).collect()
}

fn now_ms() -> i64 {
    use order_domain::Clock as _;
    order_app::SystemClock.now().as_millis()
}

/// A price-modified message about order `n`.
fn body(n: u64) -> String {
    format!(
        r#"{{"messageType":"ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY","timestamp":"{}","messageBody":{{"baseInfo":{{"idOfStr":"{}","status":"waitbuyerpay","totalAmount":6.3,"shippingFee":6,"sumProductPayment":0.3}},"productItems":[{{"subItemIDString":"128403042259997715","quantity":1,"price":0.3,"itemAmount":0.3}}]}}}}"#,
        now_ms(),
        58_218_860_983_545_941u64 + n
    )
}

/// The journal's identity of a body (the receiver's documented dedup key).
fn dedup_key(body: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body.as_bytes())))
}

fn http() -> reqwest::Client {
    transport_core::install_crypto_provider();
    reqwest::Client::new()
}

/// Posts `body` signed with `nonce` to `url`.
async fn deliver(client: &reqwest::Client, url: &str, body: &str, nonce: &str) -> StatusCode {
    let ts = now_ms().to_string();
    let pairs = [
        ("access-key", "replica-access-key"),
        ("nonce-str", nonce),
        ("timestamp", ts.as_str()),
        ("user-id", "replica-user"),
    ];
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .header("signature", sign(&pairs, body.as_bytes()));
    for (k, v) in pairs {
        req = req.header(k, v);
    }
    req.body(body.to_owned()).send().await.unwrap().status()
}

/// One `ordermod serve` replica: its own journal handle on the database at `db`, its own
/// decoder (nonces in that journal), served over loopback HTTP.
struct Replica {
    url: String,
    failing: Arc<AtomicBool>,
}

async fn replica(db: &str) -> Replica {
    let journal = AnyJournal::open(db).await.unwrap();
    let nonces = journal.as_postgres().unwrap().shared_nonces();
    let failing = Arc::new(AtomicBool::new(false));
    let journal: Arc<dyn Journal> = Arc::new(Flaky {
        inner: Arc::new(journal),
        failing: Arc::clone(&failing),
        reads: Arc::default(),
    });
    let decoder = PushDecoder::new(Arc::new(Md5LengthPrefixed::new(SECRET.to_owned().into())))
        .with_nonce_store(Arc::new(PgNonceStore::new(nonces.clone())));
    let deps = ReceiverDeps::new(Arc::new(decoder), journal, Arc::new(order_app::SystemClock))
        .with_shared_journal(nonces);
    let path = deps.path().to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_on(listener, deps, std::future::pending()));
    Replica {
        url: format!("http://{addr}{path}"),
        failing,
    }
}

/// The dedup keys of the messages stored in the journal at `db`.
async fn stored(db: &str) -> Vec<String> {
    let journal = AnyJournal::open(db).await.unwrap();
    journal
        .messages(false)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.record.dedup_key)
        .collect()
}

#[tokio::test]
async fn a_message_delivered_to_two_replicas_at_once_is_stored_once() {
    let db = pg_throwaway::shared().fresh_database();
    let (a, b) = (replica(&db).await, replica(&db).await);
    let client = http();
    // Each message reaches both replicas at once, as a platform retry through a load balancer
    // does: signed again, with a nonce of its own.
    let mut deliveries = tokio::task::JoinSet::new();
    for n in 0..20 {
        let text = body(n);
        for (i, url) in [&a.url, &b.url].into_iter().enumerate() {
            let (client, url, text) = (client.clone(), url.clone(), text.clone());
            deliveries
                .spawn(async move { deliver(&client, &url, &text, &format!("n{n}-{i}")).await });
        }
    }
    for status in deliveries.join_all().await {
        assert_eq!(status, StatusCode::OK);
    }
    let keys = stored(&db).await;
    assert_eq!(keys.len(), 20, "each message stored once");
    assert_eq!(keys.iter().collect::<BTreeSet<_>>().len(), 20);
}

#[tokio::test]
async fn a_nonce_replayed_to_another_replica_is_refused() {
    let db = pg_throwaway::shared().fresh_database();
    let (a, b) = (replica(&db).await, replica(&db).await);
    let client = http();
    let text = body(1);
    assert_eq!(
        deliver(&client, &a.url, &text, "once").await,
        StatusCode::OK
    );
    assert_eq!(
        deliver(&client, &b.url, &text, "once").await,
        StatusCode::CONFLICT
    );
    assert_eq!(
        deliver(&client, &a.url, &text, "once").await,
        StatusCode::CONFLICT
    );
    // The same replayed request sent to both replicas at once: neither accepts it.
    let (ra, rb) = tokio::join!(
        deliver(&client, &a.url, &text, "once"),
        deliver(&client, &b.url, &text, "once")
    );
    assert_eq!((ra, rb), (StatusCode::CONFLICT, StatusCode::CONFLICT));
    assert_eq!(stored(&db).await, [dedup_key(&text)]);
}

#[tokio::test]
async fn a_delivery_one_replica_could_not_store_is_accepted_again_by_another() {
    let db = pg_throwaway::shared().fresh_database();
    let (a, b) = (replica(&db).await, replica(&db).await);
    let client = http();
    let text = body(2);
    // Replica a takes the nonce, then cannot store the message: 503, the platform retries.
    a.failing.store(true, Ordering::SeqCst);
    assert_eq!(
        deliver(&client, &a.url, &text, "retried").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(stored(&db).await.is_empty());
    // The retry, with the same nonce, lands on replica b: the nonce was taken but nothing was
    // stored under it, so b accepts and stores the message.
    assert_eq!(
        deliver(&client, &b.url, &text, "retried").await,
        StatusCode::OK
    );
    assert_eq!(stored(&db).await, [dedup_key(&text)]);
    // Now it is stored, the same nonce is a replay on either replica.
    a.failing.store(false, Ordering::SeqCst);
    for url in [&a.url, &b.url] {
        assert_eq!(
            deliver(&client, url, &text, "retried").await,
            StatusCode::CONFLICT
        );
    }
}

#[tokio::test]
async fn every_message_answered_200_by_any_replica_is_in_the_journal() {
    let db = pg_throwaway::shared().fresh_database();
    let (a, b) = (replica(&db).await, replica(&db).await);
    // Replica a's journal connection is broken for the whole run.
    a.failing.store(true, Ordering::SeqCst);
    let client = http();
    let mut deliveries = tokio::task::JoinSet::new();
    for n in 0..40u64 {
        let text = body(100 + n);
        // Every message goes to a first and is retried on b, each twice with one nonce
        // (a replay) and once re-signed, all at once.
        for (url, nonce) in [
            (&a.url, format!("r{n}")),
            (&b.url, format!("r{n}")),
            (&b.url, format!("r{n}")),
            (&a.url, format!("s{n}")),
        ] {
            let (client, url, text) = (client.clone(), url.clone(), text.clone());
            deliveries.spawn(async move {
                let status = deliver(&client, &url, &text, &nonce).await;
                (status, dedup_key(&text))
            });
        }
    }
    let answers = deliveries.join_all().await;
    let keys: BTreeSet<String> = stored(&db).await.into_iter().collect();
    let mut answered_200 = BTreeSet::new();
    for (status, key) in &answers {
        assert!(
            [
                StatusCode::OK,
                StatusCode::CONFLICT,
                StatusCode::SERVICE_UNAVAILABLE
            ]
            .contains(status),
            "{status}"
        );
        if *status == StatusCode::OK {
            assert!(keys.contains(key), "answered 200 but not stored: {key}");
            answered_200.insert(key.clone());
        }
    }
    // Only b can store, and each message reaches b twice under one nonce: the first of the
    // two to be checked is accepted, whoever took the nonce (a stores nothing under it), so
    // every message is answered 200 at least once, and stored.
    assert_eq!(answered_200.len(), 40);
    assert_eq!(keys.len(), 40);
}

#[tokio::test]
async fn a_receiver_holding_its_journal_alone_reads_amendments_only_for_amended_orders() {
    let client = http();
    for declared in [false, true] {
        let reads = Arc::new(AtomicUsize::new(0));
        let journal = Arc::new(Flaky {
            inner: Arc::new(AnyJournal::open("sqlite::memory:").await.unwrap()),
            failing: Arc::default(),
            reads: Arc::clone(&reads),
        });
        let decoder = PushDecoder::new(Arc::new(Md5LengthPrefixed::new(SECRET.to_owned().into())));
        let mut deps = ReceiverDeps::new(
            Arc::new(decoder),
            Arc::clone(&journal) as Arc<dyn Journal>,
            Arc::new(order_app::SystemClock),
        );
        if declared {
            // Only the order of body(7) has amendments (as `ordermod serve` on SQLite learns
            // from the journal at start).
            let amended = (58_218_860_983_545_941u64 + 7).to_string();
            deps = deps.with_amended_orders([amended].into_iter().collect());
        }
        let path = deps.path().to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{path}", listener.local_addr().unwrap());
        tokio::spawn(serve_on(listener, deps, std::future::pending()));
        for n in [1, 7, 8] {
            let status = deliver(&client, &url, &body(n), &format!("k{declared}{n}")).await;
            assert_eq!(status, StatusCode::OK);
        }
        let stored = journal.messages(false).await.unwrap();
        assert_eq!(stored.len(), 3);
        assert!(stored.iter().all(|m| m.order.is_some()), "all decoded");
        let expected = if declared { 1 } else { 3 };
        assert_eq!(
            reads.load(Ordering::SeqCst),
            expected,
            "declared: {declared}"
        );
    }
}
