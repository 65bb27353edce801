-- The in-process (memory://) bus: durable through this database, so a restart loses nothing.

-- One row per channel queue; a publish fans out to every queue registered here.
CREATE TABLE bus_queues (
    queue      TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- One row per (channel queue, message); deleted on ack.
CREATE TABLE bus_messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    queue         TEXT NOT NULL,
    sku           TEXT NOT NULL,
    outbox_id     BIGINT NOT NULL,
    changed_at_ms BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    -- Deliveries so far; at bus.delivery_limit the message is dead-lettered.
    attempts      BIGINT NOT NULL DEFAULT 0,
    -- Set when dead-lettered (rejected or over the delivery limit); such rows are not delivered.
    dead_at       BIGINT
);

CREATE INDEX bus_messages_live ON bus_messages (queue, id) WHERE dead_at IS NULL;
