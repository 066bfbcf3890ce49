-- Idempotency keys belong to the store that made them: two stores may use
-- the same key, and one store can no longer probe another's keys. Saved
-- answers name their store (an applied answer, or a refusal that carries
-- the level or the store); an old answer that names none keeps an empty
-- store, matches no request again and ages out with retention.
CREATE TABLE idempotency_by_store (
    store_id    TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    outcome     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (store_id, key)
) STRICT, WITHOUT ROWID;

INSERT OR IGNORE INTO idempotency_by_store (store_id, key, fingerprint, outcome, created_at)
SELECT COALESCE(
           json_extract(outcome, '$.Ok.store_id'),
           json_extract(outcome, '$.Err.current.store_id'),
           json_extract(outcome, '$.Err.store_id'),
           ''),
       key, fingerprint, outcome, created_at
FROM idempotency;

DROP TABLE idempotency;
ALTER TABLE idempotency_by_store RENAME TO idempotency;
CREATE INDEX idempotency_by_created ON idempotency (created_at);

-- Set by `serve --demo` / `seed --demo`: the demo stores' secrets are
-- published, so a start without --demo refuses this database.
ALTER TABLE ledger_meta ADD COLUMN demo INTEGER NOT NULL DEFAULT 0;
