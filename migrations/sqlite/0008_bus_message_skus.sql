-- A bus message names every SKU of one relayed outbox batch: `skus` holds them as a JSON array.
-- `sku` keeps the first, for operators reading the table; rows written before have no `skus`
-- and name their one `sku`.
ALTER TABLE bus_messages ADD COLUMN skus TEXT;
