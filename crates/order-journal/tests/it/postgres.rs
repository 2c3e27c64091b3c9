//! The PostgreSQL journal against a throwaway cluster (`pg-throwaway`).

use order_domain::JournalError;
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
