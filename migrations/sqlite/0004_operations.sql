-- Operators' controls: resync jobs, dead letters, reconciliation records.

-- A resync job: `push` (send every listing in scope) or `reconcile` (read the channel, push the
-- differences). Progress is written as the job runs; `heartbeat_at` says a live process still
-- runs it, so a job whose process died is found and marked `interrupted`.
CREATE TABLE resync_jobs (
    id           TEXT PRIMARY KEY,
    channel_id   TEXT,
    -- JSON array of SKUs; NULL means every SKU.
    skus         TEXT,
    mode         TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    state        TEXT NOT NULL,
    total        BIGINT NOT NULL DEFAULT 0,
    done         BIGINT NOT NULL DEFAULT 0,
    pushed       BIGINT NOT NULL DEFAULT 0,
    drifts       BIGINT NOT NULL DEFAULT 0,
    errors       BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT,
    restarted_from TEXT,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT,
    heartbeat_at BIGINT NOT NULL
);

CREATE INDEX resync_jobs_created ON resync_jobs (created_at);
CREATE INDEX resync_jobs_active ON resync_jobs (state);

-- A listing update the channel refused for good; the pusher skips the listing until an operator
-- retries or discards it.
CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id  TEXT NOT NULL,
    listing_id  TEXT NOT NULL,
    sku         TEXT NOT NULL,
    quantity    BIGINT NOT NULL,
    error       TEXT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (channel_id, listing_id)
);

-- The last reconciliation of each channel, for the channel status.
CREATE TABLE channel_reconciliations (
    channel_id  TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL,
    finished_at BIGINT NOT NULL,
    drifts      BIGINT NOT NULL
);

-- When each channel's order poll last succeeded, for the channel status.
CREATE TABLE channel_polls (
    channel_id TEXT PRIMARY KEY,
    polled_at  BIGINT NOT NULL
);
