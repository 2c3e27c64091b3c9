//! The PostgreSQL journal against a throwaway cluster (`pg-throwaway`).

use std::collections::HashMap;

use order_domain::ports::journal::MessageDecoding;
use order_domain::{InboundRecord, Journal, JournalError, MessageInsert, OrderId, Timestamp};
use order_journal::PostgresJournal;

#[tokio::test]
async fn processes_opening_one_fresh_database_at_once_migrate_it_once() {
    let url = pg_throwaway::shared().fresh_database();
    let (a, b, c) = tokio::join!(
        PostgresJournal::open(&url),
        PostgresJournal::open(&url),
        PostgresJournal::open(&url)
    );
    for j in [a, b, c] {
        j.unwrap().close().await;
    }
}

#[tokio::test]
async fn a_refused_connection_names_the_journal_without_its_password() {
    let cluster = pg_throwaway::shared();
    let url = format!(
        "postgres://nobody:hunter2@127.0.0.1:{}/no_such_database",
        cluster.port()
    );
    let err = PostgresJournal::open(&url).await.unwrap_err();
    assert!(matches!(err, JournalError::Storage { .. }), "{err}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("postgres://***@127.0.0.1"), "{text}");
}

#[tokio::test]
async fn sslmode_require_asks_the_server_for_tls_and_prefer_falls_back_to_plain() {
    let url = pg_throwaway::shared().fresh_database();
    // The throwaway cluster serves no TLS: `prefer` falls back to plain, `require` refuses.
    PostgresJournal::open(&format!("{url}?sslmode=prefer"))
        .await
        .unwrap()
        .close()
        .await;
    let err = PostgresJournal::open(&format!("{url}?sslmode=require"))
        .await
        .unwrap_err();
    let text = format!("{err} {:?}", std::error::Error::source(&err));
    assert!(matches!(err, JournalError::Storage { .. }), "{text}");
    // The client asked for TLS and the server said no (a build without TLS support fails
    // before asking, with another message).
    assert!(text.contains("server does not support TLS"), "{text}");
}

#[tokio::test]
async fn a_journal_opened_with_a_password_never_shows_it_in_debug_output() {
    let cluster = pg_throwaway::shared();
    let url = cluster.fresh_database();
    // The throwaway cluster trusts local connections, so any password is accepted.
    let with_password = url.replacen("postgres@", "postgres:hunter2@", 1);
    assert!(with_password.contains("hunter2"));
    let j = order_journal::AnyJournal::open(&with_password)
        .await
        .unwrap();
    let shown = format!("{j:?} {:?}", j.as_postgres().unwrap());
    assert!(!shown.contains("hunter2"), "{shown}");
    j.close().await;
}

fn delivery(n: i64) -> InboundRecord {
    InboundRecord {
        dedup_key: format!("sha256:{n:04}"),
        source: "1688-push".to_owned(),
        raw: format!("{{\"n\":{n}}}").into_bytes(),
        received_at: Timestamp::from_millis(n),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_messages_on_two_receivers_share_statements_and_each_is_stored_once() {
    let url = pg_throwaway::shared().fresh_database();
    let a = PostgresJournal::open(&url).await.unwrap();
    let b = PostgresJournal::open(&url).await.unwrap();
    let order = OrderId::new("58218860983545941").unwrap();
    // 200 messages, each delivered to both receivers at once (a retry, a load balancer).
    let mut tasks = Vec::new();
    for n in 0..200 {
        for j in [a.clone(), b.clone()] {
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                let decoding = MessageDecoding::Order(order);
                (n, j.record_decoded_message(&delivery(n), &decoding).await)
            }));
        }
    }
    let mut answers: HashMap<i64, Vec<MessageInsert>> = HashMap::new();
    for t in tasks {
        let (n, answer) = t.await.unwrap();
        answers.entry(n).or_default().push(answer.unwrap());
    }
    for (n, got) in &answers {
        let new: Vec<i64> = got
            .iter()
            .filter_map(|a| match a {
                MessageInsert::New(id) => Some(*id),
                MessageInsert::Duplicate(_) => None,
            })
            .collect();
        assert_eq!(new.len(), 1, "message {n}: {got:?}");
        assert!(
            got.contains(&MessageInsert::Duplicate(new[0])),
            "message {n}: the other delivery names the first id: {got:?}"
        );
    }
    assert_eq!(a.message_counts().await.unwrap(), (200, 0));
    for n in 0..200 {
        let stored = a
            .message_by_dedup_key(&delivery(n).dedup_key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.record, delivery(n));
        assert_eq!(stored.order.as_ref(), Some(&order));
    }
    let (sa, sb) = (a.message_insert_stats(), b.message_insert_stats());
    assert_eq!(sa.messages + sb.messages, 400, "{sa:?} {sb:?}");
    assert!(
        sa.statements + sb.statements < 400,
        "concurrent messages share statements: {sa:?} {sb:?}"
    );
}
