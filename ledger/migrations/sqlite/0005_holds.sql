-- Holds: units set aside for a sales channel's order while it pays.
-- `available` stays what can be sold (on hand less held), so every level
-- written before holds existed reads the same: it holds nothing.
ALTER TABLE stock_levels ADD COLUMN held INTEGER NOT NULL DEFAULT 0;

CREATE TABLE holds (
    hold_id    TEXT PRIMARY KEY,
    channel    TEXT NOT NULL,
    reference  TEXT NOT NULL,
    state      TEXT NOT NULL,             -- active | committed | released | expired
    created_at INTEGER NOT NULL,          -- unix milliseconds
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- What expires next, without walking the table: only active holds.
CREATE INDEX holds_by_expiry ON holds (expires_at) WHERE state = 'active';

-- One store's part of one sku in a hold.
CREATE TABLE hold_lines (
    hold_id   TEXT NOT NULL REFERENCES holds (hold_id),
    store_id  TEXT NOT NULL REFERENCES stores (store_id),
    sku       TEXT NOT NULL REFERENCES products (sku),
    quantity  INTEGER NOT NULL,
    committed INTEGER NOT NULL DEFAULT 0,
    state     TEXT NOT NULL,
    PRIMARY KEY (hold_id, store_id, sku)
) STRICT, WITHOUT ROWID;

-- A store's active holds (its pick-ups), and a level's (holds at risk).
CREATE INDEX hold_lines_active ON hold_lines (store_id, sku) WHERE state = 'active';

-- Sales channels (the web shop): they sign in like stores, with a hashed
-- secret and a generation that deactivation bumps, and may only hold.
CREATE TABLE channels (
    channel_id            TEXT PRIMARY KEY,
    name                  TEXT NOT NULL,
    active                INTEGER NOT NULL DEFAULT 1,
    created_at            INTEGER NOT NULL,
    secret_hash           TEXT NOT NULL,
    credential_generation INTEGER NOT NULL DEFAULT 1
) STRICT;
