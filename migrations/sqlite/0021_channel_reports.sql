-- Channel performance reports (README "Channel reports").

-- What the buyer pays for the whole order in minor units of `currency`, when the platform
-- reports it; and when the order was placed (the platform's time when it says, else when it
-- was first booked), by which reports put an order in a period.
ALTER TABLE orders ADD COLUMN total_minor INTEGER;
ALTER TABLE orders ADD COLUMN placed_at INTEGER;
UPDATE orders SET placed_at = created_at;
CREATE INDEX orders_placed_at ON orders (placed_at, channel_id);

-- What each channel was shown of each listing over time: one row each time the quantity a
-- channel confirmed for a listing differs from the one recorded before (`listings.shown_quantity`),
-- written in the transaction that records the confirmation. Rows are keyed by the listing's
-- small integer `history_key`, not its ids, to keep them narrow. SQLite cannot add a column
-- with a non-constant default: a trigger gives each new listing the largest key + 1 (SQLite has
-- one writer at a time), and the rows there are now take their rowid.
ALTER TABLE listings ADD COLUMN shown_quantity INTEGER;
ALTER TABLE listings ADD COLUMN history_key INTEGER;
UPDATE listings SET history_key = rowid;
CREATE UNIQUE INDEX listings_history_key ON listings (history_key);
CREATE TRIGGER listings_history_key AFTER INSERT ON listings WHEN NEW.history_key IS NULL
BEGIN
    UPDATE listings SET history_key = (SELECT COALESCE(MAX(history_key), 0) + 1 FROM listings)
    WHERE channel_id = NEW.channel_id AND listing_id = NEW.listing_id;
END;

CREATE TABLE listing_shown_history (
    history_key INTEGER NOT NULL,
    shown_at    INTEGER NOT NULL,
    quantity    INTEGER NOT NULL,
    PRIMARY KEY (history_key, shown_at)
) WITHOUT ROWID;
