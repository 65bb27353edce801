-- Go-live: each channel's cut-over instant (unix milliseconds UTC). An order placed before it
-- is booked as a baseline the first time it is seen (what it had shipped leaves on hand
-- alone), and the first poll reads nothing updated before it. A channel connected before this
-- migration went live when it was first connected.
ALTER TABLE channels ADD COLUMN cut_over_at BIGINT;
UPDATE channels SET cut_over_at = created_at;

-- An order event the ledger refuses for good (the database refuses one of its values, an id
-- too long to index, colliding line ids), kept with its error so that it does not hold up its
-- channel's polling; an operator retries or discards it. `order_key` is a digest of the
-- platform's order id (the id itself may be what was refused); `order_label` is the id as
-- shown, shortened and escaped; `event` is the whole normalized event as JSON.
CREATE TABLE quarantined_orders (
    id                  BIGSERIAL PRIMARY KEY,
    channel_id          TEXT NOT NULL,
    order_key           TEXT NOT NULL,
    order_label         TEXT NOT NULL,
    platform_updated_at BIGINT NOT NULL,
    event               TEXT NOT NULL,
    error               TEXT NOT NULL,
    attempts            BIGINT NOT NULL DEFAULT 1,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    UNIQUE (channel_id, order_key)
);
