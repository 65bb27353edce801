-- Credentials a connector renews itself (TikTok Shop's refreshed token pair), one value per
-- channel, opaque to the ledger: a restart or another replica reads the newest.
CREATE TABLE channel_credentials (
    channel_id TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
