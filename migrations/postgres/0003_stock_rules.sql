-- Stock rules: bundles and multipacks, per-listing policy overrides, the channel's return rule.

-- What one unit of a listing takes from stock: one row per item (a multipack is one row with
-- quantity N, a bundle one row per component). `listings.sku` and `listings.multiplier` stay the
-- listing's first component, for readers that know only single-item listings.
CREATE TABLE listing_components (
    channel_id TEXT NOT NULL,
    listing_id TEXT NOT NULL,
    sku        TEXT NOT NULL REFERENCES items (sku),
    quantity   BIGINT NOT NULL,
    PRIMARY KEY (channel_id, listing_id, sku),
    FOREIGN KEY (channel_id, listing_id) REFERENCES listings (channel_id, listing_id)
);

CREATE INDEX listing_components_sku ON listing_components (sku);

INSERT INTO listing_components (channel_id, listing_id, sku, quantity)
SELECT channel_id, listing_id, sku, multiplier FROM listings;

-- A listing's overrides of its channel's stock policy, as JSON; NULL when it has none.
ALTER TABLE listings ADD COLUMN policy_override TEXT;

-- Whether refunded or returned units go back on hand (the channel's `restock_returns`).
ALTER TABLE channels ADD COLUMN restock_returns BIGINT NOT NULL DEFAULT 1;

-- A bundle line is booked as one order line per component, each named `<line id>#<sku>` and
-- pointing at the line the platform reported.
ALTER TABLE order_lines ADD COLUMN parent_line_id TEXT;
