-- The ledger on PostgreSQL: the same tables as on SQLite, as they stand
-- after SQLite's migrations 0001-0004. Times are unix milliseconds.
-- Identifiers compare byte by byte (COLLATE "C"), as on SQLite, so pages
-- come in the same order on either backend.

CREATE TABLE stores (
    store_id              TEXT COLLATE "C" PRIMARY KEY,
    name                  TEXT NOT NULL,
    active                BOOLEAN NOT NULL DEFAULT TRUE,
    created_at            BIGINT NOT NULL,
    -- A salted hash of the secret (never the secret), and a generation
    -- bumped on rotation or deactivation, which revokes older tokens.
    secret_hash           TEXT NOT NULL DEFAULT '',
    credential_generation BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE products (
    sku         TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL,
    price_cents BIGINT NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    version     BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE stock_levels (
    store_id   TEXT COLLATE "C" NOT NULL REFERENCES stores (store_id),
    sku        TEXT COLLATE "C" NOT NULL REFERENCES products (sku),
    available  BIGINT NOT NULL,
    version    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (store_id, sku)
);

CREATE INDEX stock_levels_by_sku ON stock_levels (sku);

-- The change log. `seq` is the event's offset: assigned by whichever
-- central's writer holds the head row, in commit order, with no gaps.
CREATE TABLE events (
    seq      BIGINT PRIMARY KEY,
    at       BIGINT NOT NULL,
    kind     TEXT NOT NULL,
    store_id TEXT COLLATE "C",              -- NULL: catalogue-wide event
    data     TEXT NOT NULL
);

CREATE INDEX events_by_at ON events (at);

-- Saved answers of keyed writes, per store.
CREATE TABLE idempotency (
    store_id    TEXT COLLATE "C" NOT NULL,
    key         TEXT COLLATE "C" NOT NULL,
    fingerprint BYTEA NOT NULL,
    outcome     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (store_id, key)
);

CREATE INDEX idempotency_by_created ON idempotency (created_at);

-- One row: the newest offset committed and the newest pruned away. A
-- writer locks it first in each group, which orders every central's groups.
CREATE TABLE ledger_meta (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    head_offset    BIGINT NOT NULL,
    pruned_through BIGINT NOT NULL,
    demo           BOOLEAN NOT NULL DEFAULT FALSE
);

INSERT INTO ledger_meta (id, head_offset, pruned_through) VALUES (1, 0, 0);

CREATE TABLE devices (
    device_id   TEXT COLLATE "C" PRIMARY KEY,
    store_id    TEXT COLLATE "C" NOT NULL REFERENCES stores (store_id),
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    enrolled_at BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE INDEX devices_by_store ON devices (store_id, revoked_at);
