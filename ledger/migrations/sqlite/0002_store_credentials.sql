-- Store credentials: a salted argon2 hash of the secret (never the secret),
-- and a generation bumped on rotation or deactivation, which revokes the
-- tokens issued before.
ALTER TABLE stores ADD COLUMN secret_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE stores ADD COLUMN credential_generation INTEGER NOT NULL DEFAULT 1;
