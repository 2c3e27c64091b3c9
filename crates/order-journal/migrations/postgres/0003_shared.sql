-- State shared by the processes of one PostgreSQL journal (issue 17): WeChat access tokens
-- and the receivers' replay nonces.

-- One WeChat access token per app, fetched by one process under the advisory transaction lock
-- of its app id and read by every other. `expires_at` is Unix milliseconds (wall clock).
-- The token is a credential: only the journal's database role may read this table.
CREATE TABLE wechat_tokens (
    app_id     TEXT PRIMARY KEY,
    token      TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    fetched_at BIGINT NOT NULL
);

-- Nonces (replay keys) the receivers have taken, until the message's freshness window ends
-- (`expires_at`, Unix milliseconds); a replay after that is refused as stale anyway, so
-- expired rows are pruned.
CREATE TABLE nonces (
    nonce      TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX nonces_by_expiry ON nonces (expires_at);
