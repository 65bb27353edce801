-- The fingerprint (SHA-256 of the canonical request) of each operator stock change, under the
-- journal key it was written with, so that a key sent again with a different request is refused
-- instead of answered "already applied". Written in the same transaction as the movement.
-- Changes made before this table existed have no fingerprint and replay as before.
CREATE TABLE request_fingerprints (
    idempotency_key TEXT PRIMARY KEY,
    fingerprint     TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

-- Housekeeping prunes by age, a bounded batch at a time: each batch is found by an index.
CREATE INDEX webhook_deliveries_received ON webhook_deliveries (received_at);
CREATE INDEX bus_messages_dead ON bus_messages (dead_at) WHERE dead_at IS NOT NULL;
CREATE INDEX resync_jobs_finished ON resync_jobs (finished_at) WHERE finished_at IS NOT NULL;
