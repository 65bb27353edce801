-- The channel's health as the sync leader sees it, published with its push activity so that
-- every replica's channel status shows it: degraded (1) or not (0), and how many of the
-- channel's stock messages the bus dead-lettered. `NULL` until a leader publishes them.
ALTER TABLE channel_push_activity ADD COLUMN degraded BIGINT;
ALTER TABLE channel_push_activity ADD COLUMN bus_dead_lettered BIGINT;
