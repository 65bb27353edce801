-- How often a booking changed what a channel shows of a listing by itself (a sale or a
-- cancellation there): bumped together with forgetting `last_pushed_quantity`. A push records
-- the channel's confirmation only if the generation is still the one it read, so a push in
-- flight during such a booking cannot write back a quantity the channel no longer shows.
ALTER TABLE listings ADD COLUMN pushed_generation BIGINT NOT NULL DEFAULT 0;
