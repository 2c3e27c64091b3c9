//! The state processes share beside a PostgreSQL journal: WeChat tokens under a refresh lock
//! and the receivers' nonces. Each test opens its own journal handles ("processes") on one
//! fresh database of the throwaway cluster.

use std::time::Duration;

use order_journal::{PostgresJournal, StoredAppToken};
use secrecy::{ExposeSecret, SecretString};

async fn processes_on(url: &str) -> (PostgresJournal, PostgresJournal) {
    let a = PostgresJournal::open(url).await.unwrap();
    let b = PostgresJournal::open(url).await.unwrap();
    (a, b)
}

async fn two_processes() -> (PostgresJournal, PostgresJournal) {
    processes_on(&pg_throwaway::shared().fresh_database()).await
}

/// Waits until a session of the database at `url` waits for an advisory lock.
async fn until_someone_waits_for_a_lock(url: &str) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    pool.close().await;
}

fn token(text: &str, expires_at_ms: i64) -> StoredAppToken {
    StoredAppToken {
        token: SecretString::from(text.to_owned()),
        expires_at_ms,
    }
}

#[tokio::test]
async fn a_nonce_is_won_by_exactly_one_of_many_concurrent_claims_across_processes() {
    let (a, b) = two_processes().await;
    let (na, nb) = (a.shared_nonces(), b.shared_nonces());
    let mut claims = tokio::task::JoinSet::new();
    for i in 0..32 {
        let n = if i % 2 == 0 { na.clone() } else { nb.clone() };
        claims.spawn(async move { n.claim("nonce:n-1", 1_000, 2_000).await.unwrap() });
    }
    let won = claims.join_all().await.into_iter().filter(|w| *w).count();
    assert_eq!(won, 1);
    assert!(!nb.claim("nonce:n-1", 1_500, 2_500).await.unwrap());
    assert!(na.claim("nonce:n-2", 1_500, 2_500).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_of_many_nonces_on_two_processes_are_each_won_exactly_once() {
    let (a, b) = two_processes().await;
    let (na, nb) = (a.shared_nonces(), b.shared_nonces());
    let mut claims = tokio::task::JoinSet::new();
    // Each nonce claimed three times at once, twice by one process (so within one group).
    for i in 0..100 {
        for n in [na.clone(), nb.clone(), na.clone()] {
            claims.spawn(async move {
                let nonce = format!("nonce:m-{i}");
                (i, n.claim(&nonce, 1_000, 2_000).await.unwrap())
            });
        }
    }
    let mut wins = vec![0; 100];
    for (i, won) in claims.join_all().await {
        wins[i] += usize::from(won);
    }
    assert!(wins.iter().all(|w| *w == 1), "{wins:?}");
    assert_eq!(na.count().await.unwrap(), 100);
}

#[tokio::test]
async fn an_expired_nonce_may_be_taken_again_and_expired_rows_are_pruned() {
    let (a, b) = two_processes().await;
    let (na, nb) = (a.shared_nonces(), b.shared_nonces());
    // Nothing is pruned within a minute of the (test) epoch.
    assert!(na.claim("nonce:old", 1_000, 2_000).await.unwrap());
    assert!(nb.claim("nonce:young", 1_000, 500_000).await.unwrap());
    // Past its expiry the old nonce is taken again (its window has passed).
    assert!(na.claim("nonce:old", 2_001, 3_000).await.unwrap());
    assert!(!na.claim("nonce:old", 2_500, 3_500).await.unwrap());
    assert_eq!(na.count().await.unwrap(), 2);
    // A minute later a process prunes the rows expired by then, and only those.
    let later = 2_001 + order_journal::NONCE_PRUNE_EVERY_MS;
    assert!(na.claim("nonce:new", later, later + 1_000).await.unwrap());
    assert_eq!(
        na.count().await.unwrap(),
        2,
        "old pruned, young and new kept"
    );
    assert!(!nb.claim("nonce:young", later, later + 1_000).await.unwrap());
}

#[tokio::test]
async fn a_token_stored_under_the_lock_is_read_by_the_process_that_waited_for_it() {
    let url = pg_throwaway::shared().fresh_database();
    let (a, b) = processes_on(&url).await;
    let (ta, tb) = (a.shared_tokens(), b.shared_tokens());
    assert!(ta.get("wx1").await.unwrap().is_none());
    let mut held = ta.lock("wx1").await.unwrap();
    assert!(held.current().await.unwrap().is_none());
    // The other process asks for the lock while it is held: it waits.
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    let waiter = tokio::spawn(async move {
        let mut lock = tb.lock("wx1").await.unwrap();
        tx.send(()).unwrap();
        let seen = lock.current().await.unwrap();
        drop(lock);
        seen
    });
    // (If the lock did not exclude, the waiter would never wait: fail instead of hanging.)
    tokio::time::timeout(
        Duration::from_secs(60),
        until_someone_waits_for_a_lock(&url),
    )
    .await
    .expect("the second process never waited for the held lock");
    // Another app's lock is independent of wx1's.
    drop(ta.lock("wx2").await.unwrap());
    assert!(rx.try_recv().is_err(), "the waiter took a held lock");
    held.store(&token("TOKEN-1", 9_000), 1_000).await.unwrap();
    let seen = waiter.await.unwrap().unwrap();
    assert_eq!(seen.token.expose_secret(), "TOKEN-1");
    assert_eq!(seen.expires_at_ms, 9_000);
    let read = ta.get("wx1").await.unwrap().unwrap();
    assert_eq!(read.token.expose_secret(), "TOKEN-1");
}

#[tokio::test]
async fn a_dropped_lock_stores_nothing_and_lets_the_next_holder_in() {
    let (a, b) = two_processes().await;
    let (ta, tb) = (a.shared_tokens(), b.shared_tokens());
    let mut first = ta.lock("wx1").await.unwrap();
    first.current().await.unwrap();
    drop(first);
    let next = tokio::time::timeout(Duration::from_secs(30), tb.lock("wx1"))
        .await
        .expect("the lock of a dropped holder is released")
        .unwrap();
    next.store(&token("TOKEN-2", 9_000), 1_000).await.unwrap();
    assert_eq!(
        ta.get("wx1").await.unwrap().unwrap().token.expose_secret(),
        "TOKEN-2"
    );
}

#[tokio::test]
async fn stored_tokens_never_show_in_debug_output() {
    let (a, _b) = two_processes().await;
    let tokens = a.shared_tokens();
    let lock = tokens.lock("wx1").await.unwrap();
    let t = token("SECRET-TOKEN-TEXT", 9_000);
    let shown = format!("{t:?} {lock:?} {tokens:?}");
    lock.store(&t, 1_000).await.unwrap();
    let read = tokens.get("wx1").await.unwrap();
    let shown = format!("{shown} {read:?}");
    assert!(!shown.contains("SECRET-TOKEN-TEXT"), "{shown}");
}

#[tokio::test]
async fn message_stored_sees_a_message_recorded_by_another_process() {
    use order_domain::{InboundRecord, Journal, Timestamp};
    let (a, b) = two_processes().await;
    let nonces = b.shared_nonces();
    assert!(!nonces.message_stored("sha256:abc").await.unwrap());
    let record = InboundRecord {
        dedup_key: "sha256:abc".to_owned(),
        source: "1688-push".to_owned(),
        raw: b"{}".to_vec(),
        received_at: Timestamp::from_millis(1_000),
    };
    a.record_message(&record).await.unwrap();
    assert!(nonces.message_stored("sha256:abc").await.unwrap());
    assert!(!nonces.message_stored("sha256:abd").await.unwrap());
}
