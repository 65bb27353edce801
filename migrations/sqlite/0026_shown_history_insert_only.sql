-- The shown history becomes insert-only (README "Channel reports", "Cost of the history").
--
-- A listing's current stretch, still open, lives on the listing: `shown_quantity` (already
-- there) and `shown_since`, when the channel started showing it; NULL before the first
-- confirmation. `record_pushed` writes a history row only when that stretch closes, with its
-- start and end, so no history row is ever updated.
ALTER TABLE listings ADD COLUMN shown_since INTEGER;

-- An open row that is not its listing's last (only a clock that went back leaves one) ends
-- where the next row starts, as 0022 ended the rows then.
UPDATE listing_shown_history SET until_at = (
    SELECT MIN(n.shown_at) FROM listing_shown_history n
    WHERE n.history_key = listing_shown_history.history_key
    AND n.shown_at > listing_shown_history.shown_at
)
WHERE until_at IS NULL AND EXISTS (
    SELECT 1 FROM listing_shown_history n
    WHERE n.history_key = listing_shown_history.history_key
    AND n.shown_at > listing_shown_history.shown_at
);

-- Each listing's open row moves to the listing; the closed rows stay.
UPDATE listings SET shown_quantity = h.quantity, shown_since = h.shown_at
FROM listing_shown_history h
WHERE h.history_key = listings.history_key AND h.until_at IS NULL;

-- SQLite cannot make a column NOT NULL in place: the closed rows move to a table that says so.
CREATE TABLE listing_shown_history_closed (
    history_key INTEGER NOT NULL,
    shown_at    INTEGER NOT NULL,
    quantity    INTEGER NOT NULL,
    until_at    INTEGER NOT NULL,
    PRIMARY KEY (history_key, shown_at)
) WITHOUT ROWID;
INSERT INTO listing_shown_history_closed (history_key, shown_at, quantity, until_at)
SELECT history_key, shown_at, quantity, until_at FROM listing_shown_history
WHERE until_at IS NOT NULL;
DROP TABLE listing_shown_history;
ALTER TABLE listing_shown_history_closed RENAME TO listing_shown_history;
