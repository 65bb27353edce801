-- Per-location listings (a TikTok Shop channel with `warehouses` mapped: one listing per SKU per
-- warehouse).
--
-- listings.location: the ledger location the listing sells from, as its connector says
-- (`Connector::listing_location`), written when the listing is bound and refreshed for all of a
-- channel's listings at start; NULL when the channel's stock policy decides. The listing's
-- policy then reads only this location's stock unless its own override names `locations`.
ALTER TABLE listings ADD COLUMN location TEXT;
