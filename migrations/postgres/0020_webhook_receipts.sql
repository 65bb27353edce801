-- Webhooks that name orders without their state (TikTok Shop), kept from the moment they are
-- verified until the orders they name are fetched and booked: the webhook is answered once its
-- receipt is here, and the sync leader fetches and books what is pending, deleting a receipt
-- only after its booking is durable. A redelivery (same channel and delivery id) adds nothing.
CREATE TABLE webhook_receipts (
    id              BIGSERIAL PRIMARY KEY,
    channel_id      TEXT NOT NULL,
    delivery_id     TEXT NOT NULL,
    order_refs      TEXT NOT NULL,
    received_at     BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at BIGINT NOT NULL,
    UNIQUE (channel_id, delivery_id)
);
CREATE INDEX webhook_receipts_due ON webhook_receipts (next_attempt_at);
