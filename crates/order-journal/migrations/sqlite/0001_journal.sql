-- The ordermod journal: amendments, revisions, inbound messages and reconciliations.
--
-- Portability to PostgreSQL: the SQL below uses only types and statements both accept
-- (TEXT, BIGINT, INTEGER, CHECK, REFERENCES, ON CONFLICT upserts, partial indexes, RETURNING).
-- Differences a PostgreSQL migration must make, and nothing else:
--   * `id INTEGER PRIMARY KEY` (SQLite's 64-bit rowid alias, assigned on insert) becomes
--     `id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY`. No table relies on AUTOINCREMENT:
--     ids are only required to be unique, and ordering uses the explicit time columns first.
--   * JSON is kept as TEXT on purpose (not JSONB): the stored text is exactly what was
--     written, key order and number text included, so money read back is bit-for-bit the
--     domain's decimal text. Money is never stored as REAL / DOUBLE PRECISION.
-- Timestamps are milliseconds since the Unix epoch, UTC, as BIGINT.

-- One row per amendment, keyed by its idempotency key.
CREATE TABLE amendments (
    idempotency_key TEXT PRIMARY KEY,
    shop            TEXT NOT NULL,
    order_id        TEXT NOT NULL,
    -- The amendment as asked (JSON, the domain's serde form).
    amendment       TEXT NOT NULL,
    -- The order snapshot it was planned against (JSON).
    order_snapshot  TEXT NOT NULL,
    -- Exactly one of plan / rejection (JSON).
    plan            TEXT,
    rejection       TEXT,
    -- The revision number the plan expects to create (NULL for a rejection).
    next_revision   BIGINT,
    state           TEXT NOT NULL CHECK (state IN (
                        'planned', 'sent', 'acknowledged', 'rejected', 'failed',
                        'confirmed', 'flagged')),
    -- The outcome (JSON, the domain's `Outcome` serde form), once known.
    outcome         TEXT,
    -- What the platform said, verbatim: the receipt's raw reply, or the platform error.
    platform_reply  TEXT,
    -- Reconciliation note (why it was flagged).
    note            TEXT,
    recorded_at     BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CHECK ((plan IS NULL) <> (rejection IS NULL)),
    CHECK ((outcome IS NULL) = (state IN ('planned', 'sent')))
);

CREATE INDEX amendments_by_order ON amendments (order_id, recorded_at);
CREATE INDEX amendments_by_shop_order ON amendments (shop, order_id);
CREATE INDEX amendments_by_state ON amendments (state, recorded_at);

-- One row per acknowledged amendment: the order's revision it became.
CREATE TABLE revisions (
    shop            TEXT NOT NULL,
    order_id        TEXT NOT NULL,
    revision        BIGINT NOT NULL CHECK (revision > 0),
    idempotency_key TEXT NOT NULL UNIQUE REFERENCES amendments (idempotency_key),
    applied_at      BIGINT NOT NULL,
    PRIMARY KEY (shop, order_id, revision)
);

-- Inbound platform messages, stored verbatim before they are acknowledged.
CREATE TABLE messages (
    id                 INTEGER PRIMARY KEY,
    dedup_key          TEXT NOT NULL UNIQUE,
    source             TEXT NOT NULL,
    raw                TEXT NOT NULL,
    received_at        BIGINT NOT NULL,
    order_id           TEXT,
    dead_letter_reason TEXT
);

CREATE INDEX messages_by_order ON messages (order_id);
CREATE INDEX messages_by_received ON messages (received_at);
CREATE INDEX messages_dead_letters ON messages (received_at) WHERE dead_letter_reason IS NOT NULL;

-- Every reconciliation of an acknowledged amendment against an inbound message.
CREATE TABLE reconciliations (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL REFERENCES amendments (idempotency_key),
    message_id      BIGINT NOT NULL REFERENCES messages (id),
    state           TEXT NOT NULL CHECK (state IN ('confirmed', 'flagged')),
    note            TEXT,
    at              BIGINT NOT NULL
);

CREATE INDEX reconciliations_by_key ON reconciliations (idempotency_key);
CREATE INDEX reconciliations_by_message ON reconciliations (message_id);
