-- The stock push finds a channel's listings by component SKU: (channel_id, sku, listing_id) lets
-- it look up a chunk of SKUs, and page through a channel's SKUs in order, from the index alone
-- instead of scanning every listing of the channel for each chunk.
CREATE INDEX listing_components_channel_sku ON listing_components (channel_id, sku, listing_id);
