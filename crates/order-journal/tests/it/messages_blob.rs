//! Migration 0004 (`messages.raw` as a BLOB) on a journal written before it: every message,
//! id and reconciliation survives, text bodies become their UTF-8 bytes, and a body that is not
//! UTF-8 can then be stored byte for byte.

use sqlx::{Connection, Row, SqliteConnection};

const BEFORE: [&str; 3] = [
    include_str!("../../migrations/sqlite/0001_journal.sql"),
    include_str!("../../migrations/sqlite/0002_drop_unused_shop_order_index.sql"),
    include_str!("../../migrations/sqlite/0003_revisions_without_key_index.sql"),
];
const MIGRATION_0004: &str = include_str!("../../migrations/sqlite/0004_messages_raw_blob.sql");

#[tokio::test]
async fn migration_0004_keeps_every_message_and_reconciliation_and_stores_bytes_verbatim() {
    let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
    sqlx::raw_sql("PRAGMA foreign_keys = ON")
        .execute(&mut conn)
        .await
        .unwrap();
    for sql in BEFORE {
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    }
    sqlx::raw_sql(
        "INSERT INTO amendments (idempotency_key, shop, order_id, amendment, order_snapshot, \
             plan, next_revision, state, outcome, recorded_at, updated_at) \
         VALUES ('k1', 's', 'o1', '{}', '{}', '{}', 1, 'confirmed', '{}', 1, 2); \
         INSERT INTO messages (id, dedup_key, source, raw, received_at, order_id) \
         VALUES (7, 'n-1', '1688-push', '{\"改价\":1}', 5, 'o1'); \
         INSERT INTO messages (id, dedup_key, source, raw, received_at, dead_letter_reason) \
         VALUES (9, 'n-2', '1688-push', 'not json', 6, 'cannot decode'); \
         INSERT INTO reconciliations (idempotency_key, message_id, state, at) \
         VALUES ('k1', 7, 'confirmed', 8);",
    )
    .execute(&mut conn)
    .await
    .unwrap();

    // As the migrator runs it: in one transaction, foreign keys enforced.
    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql(MIGRATION_0004)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let rows = sqlx::query(
        "SELECT id, dedup_key, raw, typeof(raw) AS t, order_id, dead_letter_reason \
         FROM messages ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let got: Vec<(i64, String, Vec<u8>, String)> = rows
        .iter()
        .map(|r| (r.get("id"), r.get("dedup_key"), r.get("raw"), r.get("t")))
        .collect();
    assert_eq!(
        got,
        [
            (
                7,
                "n-1".to_owned(),
                "{\"改价\":1}".as_bytes().to_vec(),
                "blob".to_owned()
            ),
            (9, "n-2".to_owned(), b"not json".to_vec(), "blob".to_owned()),
        ]
    );
    assert_eq!(
        rows[0].get::<Option<String>, _>("order_id").as_deref(),
        Some("o1")
    );
    assert_eq!(
        rows[1]
            .get::<Option<String>, _>("dead_letter_reason")
            .as_deref(),
        Some("cannot decode")
    );
    let reconciled: i64 =
        sqlx::query_scalar("SELECT message_id FROM reconciliations WHERE idempotency_key = 'k1'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(reconciled, 7);
    let violations = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(violations.is_empty());

    // Bytes that are not UTF-8 are kept as they are.
    let gbk = vec![0xC4_u8, 0xE3, 0xBA, 0xC3, 0xFF];
    sqlx::query(
        "INSERT INTO messages (dedup_key, source, raw, received_at) VALUES ('n-3', 'x', $1, 9)",
    )
    .bind(&gbk)
    .execute(&mut conn)
    .await
    .unwrap();
    let back: Vec<u8> = sqlx::query_scalar("SELECT raw FROM messages WHERE dedup_key = 'n-3'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(back, gbk);
}
