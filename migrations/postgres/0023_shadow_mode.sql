-- Shadow mode (a channel with `mode = "shadow"` is read but never written).
--
-- channel_go_live: the operator's switch of a shadow channel to live, made once through the
-- admin API and seen by every replica; it overrides `mode = "shadow"` until the configuration
-- says `live` (a start with `live` configured deletes it).
CREATE TABLE channel_go_live (
    channel_id   TEXT PRIMARY KEY,
    went_live_at BIGINT NOT NULL
);

-- shadow_listings: per listing of a shadow channel, what omnistock would set (its policy's
-- quantity when the listing was last read), what the channel showed then (NULL: the channel did
-- not report the listing), and since when the two have differed (NULL while they agree).
CREATE TABLE shadow_listings (
    channel_id    TEXT NOT NULL,
    listing_id    TEXT NOT NULL,
    sku           TEXT NOT NULL,
    would_set     BIGINT NOT NULL,
    shown         BIGINT,
    read_at       BIGINT NOT NULL,
    differs_since BIGINT,
    PRIMARY KEY (channel_id, listing_id)
);
