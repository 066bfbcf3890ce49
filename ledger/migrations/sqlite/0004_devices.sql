-- Enrolled devices (tills). A device is enrolled once, online, with its
-- store's secret, and signs in afterwards with a credential of its own:
-- revoking it (revoked_at) ends its tokens without touching the store's
-- secret or the store's other devices. Revoked rows stay, so the events
-- that name a device keep naming one that existed.
CREATE TABLE devices (
    device_id   TEXT PRIMARY KEY,
    store_id    TEXT NOT NULL REFERENCES stores (store_id),
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    enrolled_at INTEGER NOT NULL,          -- unix milliseconds
    revoked_at  INTEGER                    -- NULL while enrolled
) STRICT;

CREATE INDEX devices_by_store ON devices (store_id, revoked_at);
