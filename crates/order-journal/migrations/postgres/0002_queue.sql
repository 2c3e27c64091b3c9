-- The work queue beside the journal (PostgreSQL only): amendments recorded by
-- `ordermod apply --enqueue` and applied by any number of `ordermod worker` processes,
-- the workers that are alive, and which worker holds which credential.
--
-- Every time is milliseconds since the Unix epoch, UTC, as BIGINT, taken from the database
-- server's clock (`clock_timestamp()`), never a worker's: leases compare against one clock,
-- whatever the machines' clocks say.

-- One row per amendment to apply, in the order it was queued (`id`).
CREATE TABLE queue (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    shop            TEXT NOT NULL,
    order_id        TEXT NOT NULL,
    -- What the amendment asks, independent of how the line was written (the derived key of
    -- shop, order and target state): the same key with another fingerprint is a key reuse.
    fingerprint     TEXT NOT NULL,
    -- The amendment line as JSON, key included.
    line            TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'claimed', 'done')),
    -- The line status of a finished amendment (`applied`, `rejected`, `in_doubt`, ...).
    outcome         TEXT,
    owner           TEXT,
    lease_until     BIGINT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    enqueued_at     BIGINT NOT NULL,
    finished_at     BIGINT,
    CHECK ((state = 'claimed') = (owner IS NOT NULL AND lease_until IS NOT NULL)),
    CHECK ((state = 'done') = (outcome IS NOT NULL))
);
-- Unfinished rows by order, in queue order: what a claim looks at (an earlier unfinished row
-- of the same order holds the later ones back).
CREATE INDEX queue_open_by_order ON queue (shop, order_id, id) WHERE state <> 'done';
CREATE INDEX queue_open ON queue (id) WHERE state <> 'done';
CREATE INDEX queue_by_owner ON queue (owner) WHERE state = 'claimed';

-- Live workers: each renews its row while it runs (heartbeat); a row past `expires_at` is a
-- worker that died or lost the database.
CREATE TABLE workers (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

-- One worker at a time holds a credential (what a shop's rate limiter is keyed on): only the
-- holder sends with it, so its in-process limiter alone keeps the platform's quota. A released
-- lease keeps its row with no owner and `expires_at` at the release; `previous_end` is when the
-- lease before the current holder's ended (released or expired: its holder sent nothing
-- after), NULL when the credential had no holder before, so a new holder knows how long ago
-- the last request with it may have left.
CREATE TABLE credential_leases (
    credential   TEXT PRIMARY KEY,
    owner        TEXT,
    acquired_at  BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    previous_end BIGINT
);
CREATE INDEX credential_leases_by_owner ON credential_leases (owner);
