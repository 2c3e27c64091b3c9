//! The work queue, the workers and the credential leases on a throwaway PostgreSQL cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use order_journal::{Enqueued, NewItem, PostgresJournal, Queue};

const LONG: Duration = Duration::from_secs(300);

async fn queue() -> (PostgresJournal, Queue) {
    let url = pg_throwaway::shared().fresh_database();
    let journal = PostgresJournal::open(&url).await.unwrap();
    let queue = journal.queue();
    (journal, queue)
}

/// Items `(key, shop, order, fingerprint)`, each line being its key.
fn items<'a>(rows: &'a [(&'a str, &'a str, &'a str, &'a str)]) -> Vec<NewItem<'a>> {
    rows.iter()
        .map(|(key, shop, order_id, fingerprint)| NewItem {
            key,
            shop,
            order_id,
            fingerprint,
            line: key,
        })
        .collect()
}

fn shops(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn enqueuing_again_queues_nothing_new_and_a_key_reused_for_another_amendment_is_refused() {
    let (_j, q) = queue().await;
    let first = [
        ("k1", "wechat-a", "1", "f1"),
        ("k2", "wechat-a", "2", "f2"),
        // The same key twice in one call: the second is the first one again.
        ("k1", "wechat-a", "1", "f1"),
        // The same key for another amendment in the same call.
        ("k2", "wechat-a", "2", "other"),
    ];
    let got = q.enqueue(&items(&first)).await.unwrap();
    assert_eq!(
        got,
        vec![
            Enqueued::New,
            Enqueued::New,
            Enqueued::AlreadyQueued,
            Enqueued::KeyReused {
                shop: "wechat-a".into(),
                order_id: "2".into()
            }
        ]
    );
    let again = [
        ("k1", "wechat-a", "1", "f1"),
        ("k3", "wechat-b", "3", "f3"),
        ("k2", "wechat-b", "9", "f9"),
    ];
    let got = q.enqueue(&items(&again)).await.unwrap();
    assert_eq!(
        got,
        vec![
            Enqueued::AlreadyQueued,
            Enqueued::New,
            Enqueued::KeyReused {
                shop: "wechat-a".into(),
                order_id: "2".into()
            }
        ]
    );
    assert_eq!(q.unfinished().await.unwrap(), 3);
    let by_shop = q.by_shop().await.unwrap();
    assert_eq!(by_shop["wechat-a"].queued, 2);
    assert_eq!(by_shop["wechat-b"].queued, 1);
}

#[tokio::test]
async fn an_amendment_that_ended_undelivered_is_queued_again_and_others_are_not() {
    let (_j, q) = queue().await;
    let rows = [("k1", "s", "1", "f1"), ("k2", "s", "2", "f2")];
    q.enqueue(&items(&rows)).await.unwrap();
    let claimed = q.claim("w", &shops(&["s"]), 10, LONG).await.unwrap();
    assert!(q.finish("w", claimed[0].id, "undelivered").await.unwrap());
    assert!(q.finish("w", claimed[1].id, "applied").await.unwrap());
    let got = q.enqueue(&items(&rows)).await.unwrap();
    assert_eq!(got, vec![Enqueued::New, Enqueued::AlreadyQueued]);
    let again = q.claim("w", &shops(&["s"]), 10, LONG).await.unwrap();
    assert_eq!(
        again.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(),
        ["k1"]
    );
}

#[tokio::test]
async fn amendments_of_one_order_are_claimed_one_at_a_time_in_queue_order() {
    let (_j, q) = queue().await;
    let rows = [
        ("a1", "s", "A", "a1"),
        ("b1", "s", "B", "b1"),
        ("a2", "s", "A", "a2"),
        ("a3", "s", "A", "a3"),
        ("b2", "s", "B", "b2"),
    ];
    q.enqueue(&items(&rows)).await.unwrap();
    let all = shops(&["s"]);
    let (x, y) = tokio::join!(q.claim("x", &all, 10, LONG), q.claim("y", &all, 10, LONG));
    let mut keys: Vec<String> = x
        .unwrap()
        .into_iter()
        .chain(y.unwrap())
        .map(|c| c.key)
        .collect();
    keys.sort();
    assert_eq!(keys, ["a1", "b1"], "only the first of each order");
    // Nothing else is claimable while they are unfinished.
    assert!(q.claim("z", &all, 10, LONG).await.unwrap().is_empty());
}

/// Two workers drain one queue at once, each claiming a few rows at a time: every row is
/// claimed once, and each order's rows finish in queue order.
#[tokio::test]
async fn two_concurrent_claimers_take_every_row_once_and_keep_each_orders_order() {
    let (_j, q) = queue().await;
    let keys: Vec<(String, String)> = (0..120)
        .map(|n| (format!("k{n:03}"), format!("o{}", n % 7)))
        .collect();
    let new: Vec<NewItem<'_>> = keys
        .iter()
        .map(|(k, o)| NewItem {
            key: k,
            shop: "s",
            order_id: o,
            fingerprint: k,
            line: k,
        })
        .collect();
    q.enqueue(&new).await.unwrap();
    let clock = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let drain = |name: &'static str| {
        let q = q.clone();
        let clock = clock.clone();
        async move {
            let mut finished = Vec::new();
            loop {
                let got = q.claim(name, &shops(&["s"]), 3, LONG).await.unwrap();
                if got.is_empty() {
                    if q.unfinished().await.unwrap() == 0 {
                        return finished;
                    }
                    tokio::task::yield_now().await;
                    continue;
                }
                for c in got {
                    assert_eq!(c.attempts, 1, "{c:?} was claimed before");
                    // The moment it finished, in one order shared by both workers.
                    let at = clock.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    assert!(q.finish(name, c.id, "applied").await.unwrap());
                    finished.push((at, c.id, c.order_id, c.key));
                }
            }
        }
    };
    let (x, y) = tokio::join!(tokio::spawn(drain("x")), tokio::spawn(drain("y")));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert!(
        !x.is_empty() && !y.is_empty(),
        "both worked: {} {}",
        x.len(),
        y.len()
    );
    let mut all: Vec<_> = x.into_iter().chain(y).collect();
    let mut keys_done: Vec<String> = all.iter().map(|(_, _, _, k)| k.clone()).collect();
    keys_done.sort();
    assert_eq!(
        keys_done,
        keys.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()
    );
    // Across both workers, each order's rows finished in queue order.
    all.sort();
    let mut last: BTreeMap<&str, i64> = BTreeMap::new();
    for (_, id, order, _) in &all {
        if let Some(prev) = last.insert(order, *id) {
            assert!(
                prev < *id,
                "order {order}: row {id} finished after row {prev}"
            );
        }
    }
    assert_eq!(q.by_shop().await.unwrap()["s"].done["applied"], 120);
}

#[tokio::test]
async fn a_row_whose_lease_expired_is_taken_over_and_its_first_holder_cannot_finish_it() {
    let (_j, q) = queue().await;
    q.enqueue(&items(&[("k1", "s", "1", "f1"), ("k2", "s", "1", "f2")]))
        .await
        .unwrap();
    let all = shops(&["s"]);
    // A live lease: nobody else gets the row.
    let first = q.claim("dead", &all, 10, LONG).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(q.claim("other", &all, 10, LONG).await.unwrap().is_empty());
    assert!(q.release("dead", first[0].id).await.unwrap());
    // A lease of zero has expired by the next statement: the worker "died".
    let first = q.claim("dead", &all, 10, Duration::ZERO).await.unwrap();
    assert_eq!((first[0].key.as_str(), first[0].attempts), ("k1", 2));
    assert_eq!(q.by_shop().await.unwrap()["s"].expired, 1);
    let taken = q.claim("other", &all, 10, LONG).await.unwrap();
    assert_eq!(taken.len(), 1, "the second row waits for the first");
    assert_eq!((taken[0].key.as_str(), taken[0].attempts), ("k1", 3));
    assert!(!q.finish("dead", first[0].id, "applied").await.unwrap());
    assert!(q.finish("other", taken[0].id, "applied").await.unwrap());
    let next = q.claim("other", &all, 10, LONG).await.unwrap();
    assert_eq!(next[0].key, "k2");
}

#[tokio::test]
async fn a_heartbeat_renews_a_workers_rows_so_they_are_not_taken_over() {
    let (_j, q) = queue().await;
    q.enqueue(&items(&[("k1", "s", "1", "f1")])).await.unwrap();
    let all = shops(&["s"]);
    q.claim("w", &all, 10, Duration::ZERO).await.unwrap();
    let beat = q.heartbeat("w", "host", 1, LONG).await.unwrap();
    assert_eq!(beat.live_workers, 1);
    assert!(q.claim("other", &all, 10, LONG).await.unwrap().is_empty());
    // Leaving gives the row back at once.
    q.leave("w").await.unwrap();
    assert_eq!(q.claim("other", &all, 10, LONG).await.unwrap().len(), 1);
    assert!(q.workers().await.unwrap().is_empty());
}

#[tokio::test]
async fn one_worker_at_a_time_holds_a_credential_until_its_lease_expires_or_it_lets_go() {
    let (_j, q) = queue().await;
    q.heartbeat("a", "h1", 1, LONG).await.unwrap();
    q.heartbeat("b", "h2", 2, LONG).await.unwrap();
    let take = |w: &'static str, lease: Duration| {
        let q = q.clone();
        async move { q.acquire_credential(w, "wechat:app1", lease).await.unwrap() }
    };
    // Nobody held it before: no previous holder to wait for.
    assert_eq!(take("a", LONG).await, Some(None));
    assert_eq!(take("b", LONG).await, None, "a holds it");
    // Taking one's own again renews it.
    assert_eq!(take("a", LONG).await, Some(None));
    assert_eq!(
        q.heartbeat("a", "h1", 1, LONG).await.unwrap().held,
        ["wechat:app1"]
    );
    // a's lease runs out (a lease of zero: expired at once).
    assert_eq!(take("a", Duration::ZERO).await, Some(None));
    assert!(q.credential_holders().await.unwrap().is_empty());
    // b takes it over and learns how long ago a's lease ended.
    let since = take("b", LONG)
        .await
        .expect("free")
        .expect("a held it before");
    assert!(since < LONG, "{since:?}");
    // a learns it lost the credential at its next heartbeat.
    let beat = q.heartbeat("a", "h1", 1, LONG).await.unwrap();
    assert!(beat.held.is_empty(), "{beat:?}");
    assert_eq!(beat.live_workers, 2);
    assert!(!q.release_credential("a", "wechat:app1").await.unwrap());
    assert!(q.release_credential("b", "wechat:app1").await.unwrap());
    assert!(q.credential_holders().await.unwrap().is_empty());
    let since = take("a", LONG)
        .await
        .expect("released")
        .expect("b held it before");
    assert!(since < LONG, "{since:?}");
    let workers = q.workers().await.unwrap();
    let held: BTreeMap<&str, BTreeSet<&str>> = workers
        .iter()
        .map(|w| {
            (
                w.id.as_str(),
                w.credentials.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(held["a"], BTreeSet::from(["wechat:app1"]));
    assert!(held["b"].is_empty());
    assert!(workers.iter().all(|w| w.live));
}

#[tokio::test]
async fn concurrent_takers_of_one_free_credential_get_it_once() {
    let (_j, q) = queue().await;
    let takes = (0..8).map(|n| {
        let q = q.clone();
        tokio::spawn(async move {
            q.acquire_credential(&format!("w{n}"), "em:1", LONG)
                .await
                .unwrap()
                .is_some()
        })
    });
    let mut won = 0;
    for t in takes {
        won += u32::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
}
