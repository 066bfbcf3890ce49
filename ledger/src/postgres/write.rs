//! The writer's statements on PostgreSQL.
//!
//! Each group starts by locking the head row (`SELECT … FOR UPDATE`): the
//! groups of every central sharing the database then run one after
//! another, each continuing from the head the last one committed. That
//! keeps offsets gapless and in commit order, makes a guarded decrement
//! read the newest level (no oversell across centrals) and a second
//! central's copy of a key wait for the first and replay its answer.
//! Before COMMIT the group notifies the other centrals' followers.
//!
//! The group's events and saved answers are pure inserts: they are kept
//! in memory as commands append them and written with one statement each
//! just before COMMIT (a round trip per statement is what a group spends
//! its time on while it holds the head row). A saved answer looked up
//! later in the same group is found among them; a savepoint rolled back
//! drops what was kept after it.

use std::collections::HashMap;

use shared::{Device, NewStore, Product, StockLevel, Store};

use super::{
    conn::{Conn, signed, unsigned},
    rows::{self, device_columns, product_columns},
};
use crate::{
    backend::{Positions, Result, SavedKey, StoreChange, Target, WriteBackend, WriteStatements},
    clock::timestamp,
    cmd::NewDevice,
    publish::StoredEvent,
};

/// The channel every central's follower listens on.
pub(super) const CHANNEL: &str = "stockline_log";

pub(super) struct PostgresWriter {
    url: String,
    conn: Conn,
    events: Vec<PendingEvent>,
    keys: Vec<PendingKey>,
    /// Where each kept answer is in `keys`.
    key_index: HashMap<(String, String), usize>,
    /// Open savepoints: name, and how much was kept when it was set.
    marks: Vec<(&'static str, usize, usize)>,
}

struct PendingEvent {
    seq: i64,
    at: i64,
    kind: String,
    store_id: Option<String>,
    json: String,
}

struct PendingKey {
    store_id: String,
    key: String,
    saved: SavedKey,
    created_at: i64,
}

impl PostgresWriter {
    pub(super) fn new(url: String, conn: Conn) -> anyhow::Result<Self> {
        let mut writer = PostgresWriter {
            url,
            conn,
            events: Vec::new(),
            keys: Vec::new(),
            key_index: HashMap::new(),
            marks: Vec::new(),
        };
        writer.bound()?;
        Ok(writer)
    }

    /// Bounds on the session: a group waits at most 10 s for the head row
    /// (then it is refused, and retried by its callers), and a central that
    /// stops in the middle of a group (frozen, not killed) has its
    /// transaction ended by the server after 30 s, so it cannot hold the
    /// head row, and every other central, for ever.
    fn bound(&mut self) -> Result<()> {
        self.conn.batch(
            "SET lock_timeout = '10s';
             SET idle_in_transaction_session_timeout = '30s'",
        )
    }

    /// A connection the server closed (a restart, a fail-over) is replaced
    /// before the next group, rather than failing every group after it.
    fn reconnect_if_closed(&mut self) -> Result<()> {
        if self.conn.client.is_closed() {
            tracing::warn!("the writer's connection to PostgreSQL closed; reconnecting");
            self.conn = Conn::connect(&self.url)?;
            self.bound()?;
        }
        Ok(())
    }

    fn forget_kept(&mut self) {
        self.events.clear();
        self.keys.clear();
        self.key_index.clear();
        self.marks.clear();
    }

    /// Writes what the group kept: one INSERT for its events, one for its
    /// saved answers.
    fn write_kept(&mut self) -> Result<()> {
        if !self.events.is_empty() {
            let events = std::mem::take(&mut self.events);
            let seq: Vec<i64> = events.iter().map(|e| e.seq).collect();
            let at: Vec<i64> = events.iter().map(|e| e.at).collect();
            let kind: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
            let store: Vec<Option<&str>> = events.iter().map(|e| e.store_id.as_deref()).collect();
            let json: Vec<&str> = events.iter().map(|e| e.json.as_str()).collect();
            self.conn.execute(
                "INSERT INTO events (seq, at, kind, store_id, data)
                 SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[])",
                &[&seq, &at, &kind, &store, &json],
            )?;
        }
        if !self.keys.is_empty() {
            let keys = std::mem::take(&mut self.keys);
            self.key_index.clear();
            let store: Vec<&str> = keys.iter().map(|k| k.store_id.as_str()).collect();
            let key: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
            let fingerprint: Vec<&[u8]> = keys
                .iter()
                .map(|k| k.saved.fingerprint.as_slice())
                .collect();
            let outcome: Vec<&str> = keys.iter().map(|k| k.saved.outcome.as_str()).collect();
            let created: Vec<i64> = keys.iter().map(|k| k.created_at).collect();
            self.conn.execute(
                "INSERT INTO idempotency (store_id, key, fingerprint, outcome, created_at)
                 SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BYTEA[], $4::TEXT[], $5::BIGINT[])",
                &[&store, &key, &fingerprint, &outcome, &created],
            )?;
        }
        Ok(())
    }
}

impl WriteStatements for PostgresWriter {
    fn target(&mut self, store_id: &str, sku: &str) -> Result<Target> {
        let row = self.conn.query_one(
            "SELECT
                 CASE WHEN l.version IS NULL
                     THEN EXISTS (SELECT 1 FROM stores WHERE store_id = $1) ELSE TRUE END,
                 (SELECT active FROM products WHERE sku = $2),
                 l.available, l.version, l.updated_at
             FROM (SELECT 1) AS one
             LEFT JOIN stock_levels l ON l.store_id = $1 AND l.sku = $2",
            &[&store_id, &sku],
        )?;
        Ok(Target {
            store_exists: row.try_get(0)?,
            product_active: row.try_get(1)?,
            level: StockLevel {
                store_id: store_id.to_owned(),
                sku: sku.to_owned(),
                available: row.try_get::<_, Option<i64>>(2)?.unwrap_or(0),
                version: row.try_get::<_, Option<i64>>(3)?.map_or(0, unsigned),
                updated_at: row.try_get::<_, Option<i64>>(4)?.map(timestamp),
            },
        })
    }

    fn write_level(&mut self, level: &StockLevel, existed: bool, now_ms: i64) -> Result<()> {
        let version = signed(level.version);
        let values: [&(dyn postgres::types::ToSql + Sync); 5] = [
            &level.store_id,
            &level.sku,
            &level.available,
            &version,
            &now_ms,
        ];
        if existed {
            self.conn.execute(
                "UPDATE stock_levels SET available = $3, version = $4, updated_at = $5
                 WHERE store_id = $1 AND sku = $2",
                &values,
            )?;
        } else {
            self.conn.execute(
                "INSERT INTO stock_levels (store_id, sku, available, version, updated_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &values,
            )?;
        }
        Ok(())
    }

    fn saved_key(&mut self, store_id: &str, key: &str) -> Result<Option<SavedKey>> {
        if let Some(&at) = self.key_index.get(&(store_id.to_owned(), key.to_owned())) {
            return Ok(Some(self.keys[at].saved.clone()));
        }
        let row = self.conn.query_opt(
            "SELECT fingerprint, outcome FROM idempotency WHERE store_id = $1 AND key = $2",
            &[&store_id, &key],
        )?;
        row.map(|r| {
            Ok(SavedKey {
                fingerprint: r.try_get(0)?,
                outcome: r.try_get(1)?,
            })
        })
        .transpose()
    }

    fn save_key(&mut self, store_id: &str, key: &str, saved: &SavedKey, now_ms: i64) -> Result<()> {
        let at = self.keys.len();
        self.key_index
            .insert((store_id.to_owned(), key.to_owned()), at);
        self.keys.push(PendingKey {
            store_id: store_id.to_owned(),
            key: key.to_owned(),
            saved: saved.clone(),
            created_at: now_ms,
        });
        Ok(())
    }

    fn append_event(
        &mut self,
        offset: u64,
        at_ms: i64,
        kind: &str,
        store_id: Option<&str>,
        json: &str,
    ) -> Result<()> {
        self.events.push(PendingEvent {
            seq: signed(offset),
            at: at_ms,
            kind: kind.to_owned(),
            store_id: store_id.map(str::to_owned),
            json: json.to_owned(),
        });
        Ok(())
    }

    fn product(&mut self, sku: &str) -> Result<Option<Product>> {
        let row = self.conn.query_opt(
            concat!(
                "SELECT ",
                product_columns!(),
                " FROM products WHERE sku = $1"
            ),
            &[&sku],
        )?;
        row.as_ref().map(rows::product).transpose()
    }

    fn write_product(&mut self, p: &Product, now_ms: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO products (sku, name, price_cents, active, version, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (sku) DO UPDATE
             SET name = EXCLUDED.name, price_cents = EXCLUDED.price_cents,
                 active = EXCLUDED.active, version = EXCLUDED.version,
                 updated_at = EXCLUDED.updated_at",
            &[
                &p.sku,
                &p.name,
                &p.price_cents,
                &p.active,
                &signed(p.version),
                &now_ms,
            ],
        )?;
        Ok(())
    }

    fn insert_store(&mut self, new: &NewStore, secret_hash: &str, now_ms: i64) -> Result<bool> {
        let inserted = self.conn.execute(
            "INSERT INTO stores (store_id, name, active, created_at, secret_hash, credential_generation)
             VALUES ($1, $2, TRUE, $3, $4, 1)
             ON CONFLICT (store_id) DO NOTHING",
            &[&new.store_id, &new.name, &now_ms, &secret_hash],
        )?;
        Ok(inserted == 1)
    }

    fn change_store(
        &mut self,
        store_id: &str,
        change: StoreChange<'_>,
    ) -> Result<Option<(Store, u64)>> {
        let row = match change {
            StoreChange::Active(active) => self.conn.query_opt(
                "UPDATE stores SET active = $1, credential_generation = credential_generation + 1
                 WHERE store_id = $2
                 RETURNING store_id, name, active, created_at, credential_generation",
                &[&active, &store_id],
            )?,
            StoreChange::Secret(hash) => self.conn.query_opt(
                "UPDATE stores SET secret_hash = $1, credential_generation = credential_generation + 1
                 WHERE store_id = $2
                 RETURNING store_id, name, active, created_at, credential_generation",
                &[&hash, &store_id],
            )?,
        };
        row.map(|r| Ok((rows::store(&r)?, unsigned(r.try_get(4)?))))
            .transpose()
    }

    fn device_room(&mut self, store_id: &str) -> Result<(bool, u64)> {
        let row = self.conn.query_one(
            "SELECT EXISTS (SELECT 1 FROM stores WHERE store_id = $1),
                 (SELECT COUNT(*) FROM devices WHERE store_id = $1 AND revoked_at IS NULL)",
            &[&store_id],
        )?;
        Ok((row.try_get(0)?, unsigned(row.try_get(1)?)))
    }

    fn insert_device(&mut self, new: &NewDevice, secret_hash: &str, now_ms: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO devices (device_id, store_id, name, secret_hash, enrolled_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &new.device_id,
                &new.store_id,
                &new.name,
                &secret_hash,
                &now_ms,
            ],
        )?;
        Ok(())
    }

    fn revoke_device(&mut self, device_id: &str, now_ms: i64) -> Result<Option<(Device, bool)>> {
        let revoked = self.conn.query_opt(
            concat!(
                "UPDATE devices SET revoked_at = $1 WHERE device_id = $2 AND revoked_at IS NULL
                 RETURNING ",
                device_columns!()
            ),
            &[&now_ms, &device_id],
        )?;
        if let Some(row) = revoked {
            return Ok(Some((rows::device(&row)?, true)));
        }
        let already = self.conn.query_opt(
            concat!(
                "SELECT ",
                device_columns!(),
                " FROM devices WHERE device_id = $1"
            ),
            &[&device_id],
        )?;
        already
            .map(|row| Ok((rows::device(&row)?, false)))
            .transpose()
    }

    fn positions(&mut self) -> Result<Positions> {
        rows::positions(&mut self.conn)
    }

    fn newest_event_before(&mut self, at_ms: i64) -> Result<Option<u64>> {
        // Retention sees the group's own events as written.
        self.write_kept()?;
        let row = self
            .conn
            .query_one("SELECT MAX(seq) FROM events WHERE at < $1", &[&at_ms])?;
        Ok(row.try_get::<_, Option<i64>>(0)?.map(unsigned))
    }

    fn prune_events_through(&mut self, offset: u64) -> Result<u64> {
        self.write_kept()?;
        let offset = signed(offset);
        let pruned = self
            .conn
            .execute("DELETE FROM events WHERE seq <= $1", &[&offset])?;
        self.conn.execute(
            "UPDATE ledger_meta SET pruned_through = $1 WHERE id = 1",
            &[&offset],
        )?;
        Ok(pruned)
    }

    fn prune_keys_before(&mut self, at_ms: i64, limit: u64) -> Result<u64> {
        self.write_kept()?;
        let limit = signed(limit);
        self.conn.execute(
            "DELETE FROM idempotency WHERE (store_id, key) IN
             (SELECT store_id, key FROM idempotency WHERE created_at < $1 LIMIT $2)",
            &[&at_ms, &limit],
        )
    }

    // Names come from the ledger's own code, never from a request.
    fn savepoint(&mut self, name: &'static str) -> Result<()> {
        self.conn.batch(&format!("SAVEPOINT {name}"))?;
        self.marks.push((name, self.events.len(), self.keys.len()));
        Ok(())
    }

    /// Drops what was kept after the savepoint, which stays set.
    fn rollback_to(&mut self, name: &'static str) -> Result<()> {
        self.conn.batch(&format!("ROLLBACK TO SAVEPOINT {name}"))?;
        let Some(at) = self.marks.iter().rposition(|m| m.0 == name) else {
            anyhow::bail!("no savepoint {name}");
        };
        self.marks.truncate(at + 1);
        let (_, events, keys) = self.marks[at];
        if events > self.events.len() || keys > self.keys.len() {
            // Kept things were written meanwhile (retention): the database
            // rolled them back, and memory cannot; fail the command whole.
            anyhow::bail!("a savepoint rolled back over written events");
        }
        self.events.truncate(events);
        for dropped in self.keys.drain(keys..) {
            self.key_index.remove(&(dropped.store_id, dropped.key));
        }
        Ok(())
    }

    fn release(&mut self, name: &'static str) -> Result<()> {
        self.conn.batch(&format!("RELEASE SAVEPOINT {name}"))?;
        if let Some(at) = self.marks.iter().rposition(|m| m.0 == name) {
            self.marks.truncate(at);
        }
        Ok(())
    }
}

impl WriteBackend for PostgresWriter {
    /// Locks the head row: from here to COMMIT this central's group is the
    /// only one; the head it reads is the last committed by any central.
    fn begin(&mut self) -> Result<u64> {
        self.forget_kept();
        self.reconnect_if_closed()?;
        self.conn.batch("BEGIN")?;
        let row = self.conn.query_one(
            "SELECT head_offset FROM ledger_meta WHERE id = 1 FOR UPDATE",
            &[],
        )?;
        Ok(unsigned(row.try_get(0)?))
    }

    fn commit(&mut self, head: Option<u64>) -> Result<()> {
        self.write_kept()?;
        if let Some(head) = head {
            let head = signed(head);
            self.conn.execute(
                "UPDATE ledger_meta SET head_offset = $1 WHERE id = 1",
                &[&head],
            )?;
            // Delivered to every listener when, and only if, this commits.
            let payload = head.to_string();
            self.conn
                .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])?;
        }
        self.conn.batch("COMMIT")
    }

    fn rollback(&mut self) -> Result<()> {
        self.forget_kept();
        self.conn.batch("ROLLBACK")
    }

    fn events_between(&mut self, from: u64, through: u64) -> Result<Vec<StoredEvent>> {
        rows::events_between(&mut self.conn, from, through)
    }
}
