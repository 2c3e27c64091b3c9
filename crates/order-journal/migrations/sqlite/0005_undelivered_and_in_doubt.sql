-- Two more amendment states (issue 12): `undelivered` (a failure that never reached the
-- platform, or got no answer: the next run sends it again) and `in_doubt` (a resend refused as
-- stale: the first send probably landed). `undelivered` keeps the failure as its outcome until
-- the amendment is sent again.
--
-- SQLite cannot change a CHECK constraint, so `amendments` is rebuilt. Its children
-- (`revisions`, `reconciliations`) reference it by name, and dropping a parent with children
-- fails with foreign keys on (even deferred: the implicit delete is counted), so they are
-- copied aside, dropped, and rebuilt after the parent: every row is kept, inside the one
-- transaction the migration runs in. Valid PostgreSQL too (which could instead replace the
-- constraint with ALTER TABLE .. DROP CONSTRAINT / ADD CONSTRAINT).
CREATE TABLE revisions_0005 AS SELECT * FROM revisions;
CREATE TABLE reconciliations_0005 AS SELECT * FROM reconciliations;
DROP TABLE reconciliations;
DROP TABLE revisions;

CREATE TABLE amendments_0005 (
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
INSERT INTO amendments_0005 SELECT idempotency_key, shop, order_id, amendment, order_snapshot,
    plan, rejection, next_revision, state, outcome, platform_reply, note, recorded_at, updated_at
    FROM amendments;
DROP TABLE amendments;
ALTER TABLE amendments_0005 RENAME TO amendments;
CREATE INDEX amendments_by_order ON amendments (order_id, recorded_at);
CREATE INDEX amendments_by_state ON amendments (state, recorded_at);
-- Keyset pages of `ordermod journal`, newest first.
CREATE INDEX amendments_by_recorded ON amendments (recorded_at, idempotency_key);

CREATE TABLE revisions (
    shop            TEXT NOT NULL,
    order_id        TEXT NOT NULL,
    revision        BIGINT NOT NULL CHECK (revision > 0),
    idempotency_key TEXT NOT NULL REFERENCES amendments (idempotency_key),
    applied_at      BIGINT NOT NULL,
    PRIMARY KEY (shop, order_id, revision)
);
INSERT INTO revisions (shop, order_id, revision, idempotency_key, applied_at)
    SELECT shop, order_id, revision, idempotency_key, applied_at FROM revisions_0005;
DROP TABLE revisions_0005;

CREATE TABLE reconciliations (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL REFERENCES amendments (idempotency_key),
    message_id      BIGINT NOT NULL REFERENCES messages (id),
    state           TEXT NOT NULL CHECK (state IN ('confirmed', 'flagged')),
    note            TEXT,
    at              BIGINT NOT NULL
);
INSERT INTO reconciliations (id, idempotency_key, message_id, state, note, at)
    SELECT id, idempotency_key, message_id, state, note, at FROM reconciliations_0005;
DROP TABLE reconciliations_0005;
CREATE INDEX reconciliations_by_key ON reconciliations (idempotency_key);
CREATE INDEX reconciliations_by_message ON reconciliations (message_id);
