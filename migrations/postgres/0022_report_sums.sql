-- Channel reports without reading every order line or replaying the shown history
-- (README "Channel reports", "Speed").

-- Each order's line sums in listing units, rewritten whenever its lines are written
-- (`ORDER_LINE_SUMS` in src/ledger/booking/rows.rs holds the same expressions): units sold
-- (open + shipped), units returned, Σ unit price × units sold over priced lines, and units sold
-- without a price. Lines without a known SKU count for nothing; of a bundle's component lines
-- only the first (by line id) counts, so the platform's line counts once.
ALTER TABLE orders ADD COLUMN units_sold BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN units_returned BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN lines_revenue_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN unpriced_units BIGINT NOT NULL DEFAULT 0;
UPDATE orders SET (units_sold, units_returned, lines_revenue_minor, unpriced_units) = (
    SELECT
        COALESCE(SUM((l.open_quantity + l.committed_quantity)
            / CASE WHEN l.multiplier > 0 THEN l.multiplier ELSE 1 END), 0),
        COALESCE(SUM(l.returned_quantity / CASE WHEN l.multiplier > 0 THEN l.multiplier ELSE 1 END), 0),
        COALESCE(SUM(CASE WHEN l.unit_price_minor IS NULL THEN 0 ELSE l.unit_price_minor
            * ((l.open_quantity + l.committed_quantity)
            / CASE WHEN l.multiplier > 0 THEN l.multiplier ELSE 1 END) END), 0),
        COALESCE(SUM(CASE WHEN l.unit_price_minor IS NULL THEN (l.open_quantity + l.committed_quantity)
            / CASE WHEN l.multiplier > 0 THEN l.multiplier ELSE 1 END ELSE 0 END), 0)
    FROM order_lines l
    WHERE l.order_id = orders.id AND l.sku IS NOT NULL AND (l.parent_line_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM order_lines s WHERE s.order_id = l.order_id
        AND s.parent_line_id = l.parent_line_id AND s.line_id < l.line_id))
);

-- When each shown-history row stopped holding: the `shown_at` of the listing's next row, written
-- with that row; NULL while it still holds. The report sums each row as a step up at its start
-- and down at its end, and reads the stretches at 0 as rows, without a window over the history.
ALTER TABLE listing_shown_history ADD COLUMN until_at BIGINT;
UPDATE listing_shown_history SET until_at = (
    SELECT MIN(n.shown_at) FROM listing_shown_history n
    WHERE n.history_key = listing_shown_history.history_key
    AND n.shown_at > listing_shown_history.shown_at
);
