-- Jobs of other kinds than resyncs, run by the sync leader like them: listing discovery and
-- the first stock count from a channel (`kind`; their `mode` is `dry_run` or `apply`).
--
-- kind:   `resync` (every job before), `discover` or `channel_count`.
-- params: a catalog job's parameters as JSON (a count's location, the dry run an applying
--         discovery is compared with).
-- pages:  catalog pages read so far (`done` counts the listings read).
-- result: the job's report as JSON once it succeeded (the classification and what was bound,
--         or the counts).
ALTER TABLE resync_jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'resync';
ALTER TABLE resync_jobs ADD COLUMN params TEXT;
ALTER TABLE resync_jobs ADD COLUMN pages BIGINT NOT NULL DEFAULT 0;
ALTER TABLE resync_jobs ADD COLUMN result TEXT;
