-- Webhook answers per channel, minute (since the epoch) and HTTP status, added up by every
-- replica a few times a minute, so that the channel status shows the whole cluster's last hour.
-- Rows older than an hour are pruned.
CREATE TABLE webhook_answer_counts (
    channel_id TEXT NOT NULL,
    minute     BIGINT NOT NULL,
    status     BIGINT NOT NULL,
    count      BIGINT NOT NULL,
    PRIMARY KEY (channel_id, minute, status)
);

CREATE INDEX webhook_answer_counts_minute ON webhook_answer_counts (minute);
