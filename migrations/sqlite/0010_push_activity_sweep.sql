-- The sweep the leader's pusher is making of the channel (start-up or resume; `NULL` when none
-- runs) and when its last sweep finished, so that every replica's channel status shows a sweep
-- of a large catalog and how far it got. Times are unix milliseconds UTC.
ALTER TABLE channel_push_activity ADD COLUMN sweep_cause TEXT;
ALTER TABLE channel_push_activity ADD COLUMN sweep_started_at BIGINT;
ALTER TABLE channel_push_activity ADD COLUMN sweep_skus BIGINT;
ALTER TABLE channel_push_activity ADD COLUMN last_sweep_done_at BIGINT;
