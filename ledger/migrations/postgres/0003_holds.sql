-- Holds, as SQLite's migration 0005: units set aside for a sales
-- channel's order while it pays. `available` stays what can be sold (on
-- hand less held), so every level written before holds reads the same.
ALTER TABLE stock_levels ADD COLUMN held BIGINT NOT NULL DEFAULT 0;

CREATE TABLE holds (
    hold_id    TEXT COLLATE "C" PRIMARY KEY,
    channel    TEXT COLLATE "C" NOT NULL,
    reference  TEXT NOT NULL,
    state      TEXT NOT NULL,             -- active | committed | released | expired
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX holds_by_expiry ON holds (expires_at) WHERE state = 'active';

CREATE TABLE hold_lines (
    hold_id   TEXT COLLATE "C" NOT NULL REFERENCES holds (hold_id),
    store_id  TEXT COLLATE "C" NOT NULL REFERENCES stores (store_id),
    sku       TEXT COLLATE "C" NOT NULL REFERENCES products (sku),
    quantity  BIGINT NOT NULL,
    committed BIGINT NOT NULL DEFAULT 0,
    state     TEXT NOT NULL,
    PRIMARY KEY (hold_id, store_id, sku)
);

CREATE INDEX hold_lines_active ON hold_lines (store_id, sku) WHERE state = 'active';

CREATE TABLE channels (
    channel_id            TEXT COLLATE "C" PRIMARY KEY,
    name                  TEXT NOT NULL,
    active                BOOLEAN NOT NULL DEFAULT TRUE,
    created_at            BIGINT NOT NULL,
    secret_hash           TEXT NOT NULL,
    credential_generation BIGINT NOT NULL DEFAULT 1
);
