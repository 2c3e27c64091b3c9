-- `messages.raw` as a BLOB: the body exactly as received, byte for byte, whether or not it is
-- UTF-8 (issue 12 item 4: a non-UTF-8 body was stored with U+FFFD in place of its bytes).
-- Decoding is separate; `InboundRecord::raw_text` shows it as text.
--
-- SQLite cannot change a column's type, so the table is rebuilt; every row and id is kept
-- (the stored text becomes its UTF-8 bytes). `reconciliations` refers to `messages (id)` and
-- foreign keys cannot be switched off inside the migration's transaction, so it is set aside
-- first and put back, every row and id kept, once `messages` is whole again: no row is ever
-- left pointing at a missing message.

CREATE TABLE reconciliations_0004 AS SELECT * FROM reconciliations;

DROP TABLE reconciliations;

CREATE TABLE messages_0004 (
    id                 INTEGER PRIMARY KEY,
    dedup_key          TEXT NOT NULL UNIQUE,
    source             TEXT NOT NULL,
    raw                BLOB NOT NULL,
    received_at        BIGINT NOT NULL,
    order_id           TEXT,
    dead_letter_reason TEXT
);

INSERT INTO messages_0004 (id, dedup_key, source, raw, received_at, order_id, dead_letter_reason)
    SELECT id, dedup_key, source, CAST(raw AS BLOB), received_at, order_id, dead_letter_reason
    FROM messages;

DROP TABLE messages;

ALTER TABLE messages_0004 RENAME TO messages;

CREATE INDEX messages_by_order ON messages (order_id);
CREATE INDEX messages_by_received ON messages (received_at);
CREATE INDEX messages_dead_letters ON messages (received_at) WHERE dead_letter_reason IS NOT NULL;

-- As in 0001.
CREATE TABLE reconciliations (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL REFERENCES amendments (idempotency_key),
    message_id      BIGINT NOT NULL REFERENCES messages (id),
    state           TEXT NOT NULL CHECK (state IN ('confirmed', 'flagged')),
    note            TEXT,
    at              BIGINT NOT NULL
);

INSERT INTO reconciliations (id, idempotency_key, message_id, state, note, at)
    SELECT id, idempotency_key, message_id, state, note, at FROM reconciliations_0004;

DROP TABLE reconciliations_0004;

CREATE INDEX reconciliations_by_key ON reconciliations (idempotency_key);
CREATE INDEX reconciliations_by_message ON reconciliations (message_id);
