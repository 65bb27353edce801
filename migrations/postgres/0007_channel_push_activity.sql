-- What the sync leader's pusher of each channel is doing, published by the leader every second
-- so that the channel status of any replica (behind a load balancer) shows it. Times are unix
-- milliseconds UTC.
CREATE TABLE channel_push_activity (
    channel_id        TEXT PRIMARY KEY,
    backlog_skus      BIGINT NOT NULL,
    calls_last_minute BIGINT NOT NULL,
    last_confirmed_at BIGINT,
    last_error_at     BIGINT,
    last_error        TEXT,
    updated_at        BIGINT NOT NULL
);
