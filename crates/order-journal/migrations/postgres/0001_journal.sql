-- The ordermod journal on PostgreSQL: the same tables, columns and rules as the SQLite journal
-- after its migrations 0001-0005 (`../sqlite/`), written once in their final form.
--
-- * Ids are `BIGINT GENERATED ALWAYS AS IDENTITY` (SQLite's rowid alias elsewhere).
-- * JSON is kept as TEXT on purpose (not JSONB): the stored text is exactly what was written,
--   key order and number text included, so money read back is bit-for-bit the domain's
--   decimal text. Money is never stored as REAL / DOUBLE PRECISION.
-- * A message body is BYTEA: the bytes as received, UTF-8 or not.
-- * Timestamps are milliseconds since the Unix epoch, UTC, as BIGINT.

CREATE TABLE amendments (
    idempotency_key TEXT PRIMARY KEY,
    shop            TEXT NOT NULL,
    order_id        TEXT NOT NULL,
    amendment       TEXT NOT NULL,
    order_snapshot  TEXT NOT NULL,
    plan            TEXT,
    rejection       TEXT,
    next_revision   BIGINT,
    state           TEXT NOT NULL CHECK (state IN (
                        'planned', 'sent', 'acknowledged', 'rejected', 'failed',
                        'confirmed', 'flagged', 'undelivered', 'in_doubt')),
    outcome         TEXT,
    platform_reply  TEXT,
    note            TEXT,
    recorded_at     BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CHECK ((plan IS NULL) <> (rejection IS NULL)),
    CHECK ((outcome IS NULL) = (state IN ('planned', 'sent')))
);
CREATE INDEX amendments_by_order ON amendments (order_id, recorded_at);
CREATE INDEX amendments_by_state ON amendments (state, recorded_at);
CREATE INDEX amendments_by_recorded ON amendments (recorded_at, idempotency_key);

CREATE TABLE revisions (
    shop            TEXT NOT NULL,
    order_id        TEXT NOT NULL,
    revision        BIGINT NOT NULL CHECK (revision > 0),
    idempotency_key TEXT NOT NULL REFERENCES amendments (idempotency_key),
    applied_at      BIGINT NOT NULL,
    PRIMARY KEY (shop, order_id, revision)
);

CREATE TABLE messages (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedup_key          TEXT NOT NULL UNIQUE,
    source             TEXT NOT NULL,
    raw                BYTEA NOT NULL,
    received_at        BIGINT NOT NULL,
    order_id           TEXT,
    dead_letter_reason TEXT
);
CREATE INDEX messages_by_order ON messages (order_id);
CREATE INDEX messages_by_received ON messages (received_at);
CREATE INDEX messages_dead_letters ON messages (received_at) WHERE dead_letter_reason IS NOT NULL;

CREATE TABLE reconciliations (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key TEXT NOT NULL REFERENCES amendments (idempotency_key),
    message_id      BIGINT NOT NULL REFERENCES messages (id),
    state           TEXT NOT NULL CHECK (state IN ('confirmed', 'flagged')),
    note            TEXT,
    at              BIGINT NOT NULL
);
CREATE INDEX reconciliations_by_key ON reconciliations (idempotency_key);
CREATE INDEX reconciliations_by_message ON reconciliations (message_id);
