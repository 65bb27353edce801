-- The inventory ledger (SQLite dialect), the same tables and columns as the PostgreSQL one. Ids are
-- INTEGER PRIMARY KEY AUTOINCREMENT (rowid aliases); booleans are 0/1; times are unix milliseconds UTC.

CREATE TABLE items (
    sku        TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE locations (
    code       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

INSERT INTO locations (code, name, created_at) VALUES ('default', 'Default', 0);

-- available = on_hand - reserved; reserved equals the open quantity of the order lines here.
CREATE TABLE balances (
    sku        TEXT NOT NULL REFERENCES items (sku),
    location   TEXT NOT NULL REFERENCES locations (code),
    on_hand    BIGINT NOT NULL DEFAULT 0,
    reserved   BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (sku, location)
);

-- Append-only journal: every balance change is one row, written in the same transaction.
CREATE TABLE movements (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    sku             TEXT NOT NULL REFERENCES items (sku),
    location        TEXT NOT NULL REFERENCES locations (code),
    on_hand_delta   BIGINT NOT NULL,
    reserved_delta  BIGINT NOT NULL,
    reason          TEXT NOT NULL,
    reference       TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    actor           TEXT,
    note            TEXT,
    created_at      BIGINT NOT NULL
);

CREATE INDEX movements_sku_location ON movements (sku, location, id);

CREATE TABLE channels (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    paused     BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE listings (
    channel_id           TEXT NOT NULL REFERENCES channels (id),
    listing_id           TEXT NOT NULL,
    sku                  TEXT NOT NULL REFERENCES items (sku),
    multiplier           BIGINT NOT NULL DEFAULT 1,
    sync_enabled         BIGINT NOT NULL DEFAULT 1,
    last_pushed_quantity BIGINT,
    last_pushed_at       BIGINT,
    PRIMARY KEY (channel_id, listing_id)
);

CREATE INDEX listings_sku ON listings (sku);

CREATE TABLE orders (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id          TEXT NOT NULL REFERENCES channels (id),
    external_order_id   TEXT NOT NULL,
    status              TEXT NOT NULL,
    location            TEXT NOT NULL REFERENCES locations (code),
    platform_updated_at BIGINT NOT NULL,
    revision            BIGINT NOT NULL DEFAULT 0,
    oversold            BIGINT NOT NULL DEFAULT 0,
    currency            TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    UNIQUE (channel_id, external_order_id)
);

-- Quantities other than `quantity` are in stock units (platform units times `multiplier`) and
-- say what is booked in the ledger; a line with a NULL sku is unknown and books nothing.
CREATE TABLE order_lines (
    order_id           BIGINT NOT NULL REFERENCES orders (id),
    line_id            TEXT NOT NULL,
    listing_id         TEXT,
    sku                TEXT REFERENCES items (sku),
    location           TEXT NOT NULL REFERENCES locations (code),
    multiplier         BIGINT NOT NULL DEFAULT 1,
    quantity           BIGINT NOT NULL,
    open_quantity      BIGINT NOT NULL DEFAULT 0,
    committed_quantity BIGINT NOT NULL DEFAULT 0,
    returned_quantity  BIGINT NOT NULL DEFAULT 0,
    unit_price_minor   BIGINT,
    PRIMARY KEY (order_id, line_id)
);

CREATE INDEX order_lines_sku_location ON order_lines (sku, location);

-- One row per SKU whose availability changed, written in the same transaction as the change.
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    sku        TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE channel_cursors (
    channel_id TEXT PRIMARY KEY,
    cursor     TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    channel_id  TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, delivery_id)
);
