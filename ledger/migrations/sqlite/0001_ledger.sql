-- The authoritative ledger. Only central's writer task writes these tables.

CREATE TABLE stores (
    store_id   TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    active     INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL            -- unix milliseconds
) STRICT;

CREATE TABLE products (
    sku         TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1,
    version     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE stock_levels (
    store_id   TEXT NOT NULL REFERENCES stores (store_id),
    sku        TEXT NOT NULL REFERENCES products (sku),
    available  INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (store_id, sku)
) STRICT, WITHOUT ROWID;

CREATE INDEX stock_levels_by_sku ON stock_levels (sku);

-- The change log. `seq` is the event's offset: assigned by the writer in
-- commit order, with no gaps. `data` is the event exactly as served.
CREATE TABLE events (
    seq      INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    store_id TEXT,                          -- NULL: catalogue-wide event
    data     TEXT NOT NULL
) STRICT;

CREATE INDEX events_by_at ON events (at);

-- Saved answers of keyed writes: a replay gets the same answer, applied once.
CREATE TABLE idempotency (
    key         TEXT PRIMARY KEY,
    fingerprint BLOB NOT NULL,
    outcome     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX idempotency_by_created ON idempotency (created_at);

-- One row: the newest offset committed, and the newest one pruned away.
CREATE TABLE ledger_meta (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    head_offset    INTEGER NOT NULL,
    pruned_through INTEGER NOT NULL
) STRICT;

INSERT INTO ledger_meta (id, head_offset, pruned_through) VALUES (1, 0, 0);
