-- Channel performance reports (README "Channel reports").

-- What the buyer pays for the whole order in minor units of `currency`, when the platform
-- reports it; and when the order was placed (the platform's time when it says, else when it
-- was first booked), by which reports put an order in a period.
ALTER TABLE orders ADD COLUMN total_minor BIGINT;
ALTER TABLE orders ADD COLUMN placed_at BIGINT;
UPDATE orders SET placed_at = created_at;
CREATE INDEX orders_placed_at ON orders (placed_at, channel_id);

-- What each channel was shown of each listing over time: one row each time the quantity a
-- channel confirmed for a listing differs from the one recorded before (`listings.shown_quantity`),
-- written in the transaction that records the confirmation. Rows are keyed by the listing's
-- small integer `history_key`, not its ids, to keep them narrow (README: about 100 bytes a row with its index).
ALTER TABLE listings ADD COLUMN shown_quantity BIGINT;
-- A sequence's default (not an identity column) keeps it nullable, as SQLite's is; every
-- listing gets one, those there now included.
CREATE SEQUENCE listings_history_key_seq;
ALTER TABLE listings ADD COLUMN history_key BIGINT DEFAULT nextval('listings_history_key_seq');
CREATE UNIQUE INDEX listings_history_key ON listings (history_key);

CREATE TABLE listing_shown_history (
    history_key BIGINT NOT NULL,
    shown_at    BIGINT NOT NULL,
    quantity    BIGINT NOT NULL,
    PRIMARY KEY (history_key, shown_at)
);
