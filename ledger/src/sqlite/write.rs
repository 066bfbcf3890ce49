//! The writer's statements on SQLite. The writer's thread owns the one
//! write connection and talks to SQLite directly, so a group costs one
//! hand-off between threads, not one per statement.

use rusqlite::{Connection, OptionalExtension, Statement, params};
use shared::{
    Channel, ChannelLimits, Device, Hold, NewChannel, NewStore, Product, StockLevel, Store,
};

use super::{holds, rows, rows::STORE_COLUMNS};
use crate::{
    backend::{
        ChannelChange, ChannelTerms, DueHold, Positions, Result, SavedKey, StoreChange, StoreTerms,
        Target, Wants, WriteBackend, WriteStatements,
    },
    clock::timestamp,
    cmd::NewDevice,
    publish::StoredEvent,
};

/// The statements every adjustment runs, prepared once for the writer's
/// life (`prepare_cached` hashes a statement's SQL and takes it out of and
/// back into its cache on every use); the rest are cached.
pub(super) struct SqliteWriter<'c> {
    conn: &'c Connection,
    saved_key: Statement<'c>,
    save_key: Statement<'c>,
    target: Statement<'c>,
    update_level: Statement<'c>,
    append: Statement<'c>,
}

/// A level's row proves its store exists (foreign key), so the stores
/// table is only searched when there is no row: one index search less for
/// nearly every adjustment.
const TARGET: &str = "SELECT
        CASE WHEN l.version IS NULL
            THEN EXISTS (SELECT 1 FROM stores WHERE store_id = ?1) ELSE 1 END,
        (SELECT active FROM products WHERE sku = ?2),
        l.available, l.held, l.version, l.updated_at
    FROM (SELECT 1) LEFT JOIN stock_levels l ON l.store_id = ?1 AND l.sku = ?2";

impl<'c> SqliteWriter<'c> {
    pub(super) fn new(conn: &'c Connection) -> rusqlite::Result<Self> {
        Ok(SqliteWriter {
            conn,
            saved_key: conn.prepare(
                "SELECT fingerprint, outcome FROM idempotency WHERE store_id = ? AND key = ?",
            )?,
            save_key: conn.prepare(
                "INSERT INTO idempotency (store_id, key, fingerprint, outcome, created_at)
                 VALUES (?, ?, ?, ?, ?)",
            )?,
            target: conn.prepare(TARGET)?,
            update_level: conn.prepare(
                "UPDATE stock_levels SET available = ?3, held = ?4, version = ?5, updated_at = ?6
                 WHERE store_id = ?1 AND sku = ?2",
            )?,
            append: conn.prepare(
                "INSERT INTO events (seq, at, kind, store_id, data) VALUES (?, ?, ?, ?, ?)",
            )?,
        })
    }

    fn exec(&self, sql: &'static str) -> Result<()> {
        self.conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    }
}

impl WriteStatements for SqliteWriter<'_> {
    fn target(&mut self, store_id: &str, sku: &str) -> Result<Target> {
        let (store_exists, product_active, available, held, version, updated_at) =
            self.target.query_row(params![store_id, sku], |r| {
                Ok((
                    r.get::<_, bool>(0)?,
                    r.get::<_, Option<bool>>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                ))
            })?;
        Ok(Target {
            store_exists,
            product_active,
            level: StockLevel {
                store_id: store_id.to_owned(),
                sku: sku.to_owned(),
                available: available.unwrap_or(0),
                held: held.unwrap_or(0),
                version: version.unwrap_or(0) as u64,
                updated_at: updated_at.map(timestamp),
            },
        })
    }

    /// A plain UPDATE costs less than an UPSERT's failed insert first.
    fn write_level(&mut self, level: &StockLevel, existed: bool, now_ms: i64) -> Result<()> {
        let values = params![
            level.store_id,
            level.sku,
            level.available,
            level.held,
            level.version as i64,
            now_ms
        ];
        if existed {
            self.update_level.execute(values)?;
        } else {
            self.conn
                .prepare_cached(
                    "INSERT INTO stock_levels (store_id, sku, available, held, version, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(values)?;
        }
        Ok(())
    }

    fn saved_key(&mut self, store_id: &str, key: &str) -> Result<Option<SavedKey>> {
        Ok(self
            .saved_key
            .query_row([store_id, key], |r| {
                Ok(SavedKey {
                    fingerprint: r.get(0)?,
                    outcome: r.get(1)?,
                })
            })
            .optional()?)
    }

    fn save_key(&mut self, store_id: &str, key: &str, saved: &SavedKey, now_ms: i64) -> Result<()> {
        self.save_key.execute(params![
            store_id,
            key,
            saved.fingerprint,
            saved.outcome,
            now_ms
        ])?;
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
        self.append
            .execute(params![offset as i64, at_ms, kind, store_id, json])?;
        Ok(())
    }

    fn product(&mut self, sku: &str) -> Result<Option<Product>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {} FROM products WHERE sku = ?",
                rows::PRODUCT_COLUMNS
            ))?
            .query_row([sku], rows::product)
            .optional()?)
    }

    fn write_product(&mut self, p: &Product, now_ms: i64) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO products (sku, name, price_cents, active, version, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (sku) DO UPDATE
                 SET name = excluded.name, price_cents = excluded.price_cents,
                     active = excluded.active, version = excluded.version,
                     updated_at = excluded.updated_at",
            )?
            .execute(params![
                p.sku,
                p.name,
                p.price_cents,
                p.active,
                p.version as i64,
                now_ms
            ])?;
        Ok(())
    }

    fn insert_store(&mut self, new: &NewStore, secret_hash: &str, now_ms: i64) -> Result<bool> {
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO stores (store_id, name, active, created_at, secret_hash, credential_generation)
                 VALUES (?, ?, 1, ?, ?, 1)
                 ON CONFLICT (store_id) DO NOTHING",
            )?
            .execute(params![new.store_id, new.name, now_ms, secret_hash])?;
        Ok(inserted == 1)
    }

    fn change_store(
        &mut self,
        store_id: &str,
        change: StoreChange<'_>,
    ) -> Result<Option<(Store, u64)>> {
        const RETURNING: &str =
            "RETURNING store_id, name, active, created_at, safety_stock, credential_generation";
        let row = |r: &rusqlite::Row<'_>| Ok((rows::store(r)?, r.get::<_, i64>(5)? as u64));
        let changed = match change {
            StoreChange::Active(active) => self
                .conn
                .prepare_cached(&format!(
                    "UPDATE stores SET active = ?, credential_generation = credential_generation + 1
                     WHERE store_id = ? {RETURNING}"
                ))?
                .query_row(params![active, store_id], row),
            StoreChange::Secret(hash) => self
                .conn
                .prepare_cached(&format!(
                    "UPDATE stores SET secret_hash = ?, credential_generation = credential_generation + 1
                     WHERE store_id = ? {RETURNING}"
                ))?
                .query_row(params![hash, store_id], row),
        };
        Ok(changed.optional()?)
    }

    fn insert_channel(&mut self, new: &NewChannel, secret_hash: &str, now_ms: i64) -> Result<bool> {
        holds::insert_channel(self.conn, new, secret_hash, now_ms)
    }

    fn change_channel(
        &mut self,
        channel_id: &str,
        change: ChannelChange<'_>,
    ) -> Result<Option<(Channel, u64)>> {
        holds::change_channel(self.conn, channel_id, change)
    }

    fn set_channel_limits(
        &mut self,
        channel_id: &str,
        limits: &ChannelLimits,
    ) -> Result<Option<Channel>> {
        holds::set_channel_limits(self.conn, channel_id, limits)
    }

    fn channel_terms(&mut self, channel_id: &str) -> Result<Option<ChannelTerms>> {
        holds::channel_terms(self.conn, channel_id)
    }

    fn add_channel_held(&mut self, channel_id: &str, units: i64) -> Result<()> {
        holds::add_channel_held(self.conn, channel_id, units)
    }

    fn set_safety_stock(&mut self, store_id: &str, units: i64) -> Result<Option<Store>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "UPDATE stores SET safety_stock = ? WHERE store_id = ? RETURNING {STORE_COLUMNS}"
            ))?
            .query_row(params![units, store_id], rows::store)
            .optional()?)
    }

    fn device_room(&mut self, store_id: &str) -> Result<(bool, u64)> {
        let (exists, enrolled): (bool, i64) = self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM stores WHERE store_id = ?1),
                    (SELECT COUNT(*) FROM devices WHERE store_id = ?1 AND revoked_at IS NULL)",
            )?
            .query_row([store_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok((exists, enrolled as u64))
    }

    fn insert_device(&mut self, new: &NewDevice, secret_hash: &str, now_ms: i64) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO devices (device_id, store_id, name, secret_hash, enrolled_at)
                 VALUES (?, ?, ?, ?, ?)",
            )?
            .execute(params![
                new.device_id,
                new.store_id,
                new.name,
                secret_hash,
                now_ms
            ])?;
        Ok(())
    }

    fn revoke_device(&mut self, device_id: &str, now_ms: i64) -> Result<Option<(Device, bool)>> {
        let revoked = self
            .conn
            .prepare_cached(&format!(
                "UPDATE devices SET revoked_at = ? WHERE device_id = ? AND revoked_at IS NULL
                 RETURNING {}",
                rows::DEVICE_COLUMNS
            ))?
            .query_row(params![now_ms, device_id], rows::device)
            .optional()?;
        if let Some(device) = revoked {
            return Ok(Some((device, true)));
        }
        let already = self
            .conn
            .prepare_cached(&format!(
                "SELECT {} FROM devices WHERE device_id = ?",
                rows::DEVICE_COLUMNS
            ))?
            .query_row([device_id], rows::device)
            .optional()?;
        Ok(already.map(|device| (device, false)))
    }

    fn positions(&mut self) -> Result<Positions> {
        Ok(rows::positions(self.conn)?)
    }

    fn newest_event_before(&mut self, at_ms: i64) -> Result<Option<u64>> {
        let seq: Option<i64> = self
            .conn
            .prepare_cached("SELECT MAX(seq) FROM events WHERE at < ?")?
            .query_row([at_ms], |r| r.get(0))?;
        Ok(seq.map(|s| s as u64))
    }

    fn prune_events_through(&mut self, offset: u64) -> Result<u64> {
        let offset = offset as i64;
        let pruned = self
            .conn
            .prepare_cached("DELETE FROM events WHERE seq <= ?")?
            .execute([offset])?;
        self.conn
            .prepare_cached("UPDATE ledger_meta SET pruned_through = ? WHERE id = 1")?
            .execute([offset])?;
        Ok(pruned as u64)
    }

    fn prune_keys_before(&mut self, at_ms: i64, limit: u64) -> Result<u64> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let pruned = self
            .conn
            .prepare_cached(
                "DELETE FROM idempotency WHERE (store_id, key) IN
                 (SELECT store_id, key FROM idempotency WHERE created_at < ? LIMIT ?)",
            )?
            .execute([at_ms, limit])?;
        Ok(pruned as u64)
    }

    fn store_terms(&mut self, store_id: &str) -> Result<Option<StoreTerms>> {
        Ok(self
            .conn
            .prepare_cached("SELECT active, safety_stock FROM stores WHERE store_id = ?")?
            .query_row([store_id], |r| {
                Ok(StoreTerms {
                    active: r.get(0)?,
                    safety_stock: r.get(1)?,
                })
            })
            .optional()?)
    }

    fn stores_stocking(&mut self, sku: &str) -> Result<Vec<(String, i64)>> {
        holds::stores_stocking(self.conn, sku)
    }

    fn holds(&mut self, hold_ids: &[String]) -> Result<Vec<Hold>> {
        holds::holds(self.conn, hold_ids)
    }

    fn write_holds(&mut self, written: &[&Hold]) -> Result<()> {
        holds::write(self.conn, written)
    }

    fn due_holds(&mut self, now_ms: i64, limit: u32) -> Result<Vec<DueHold>> {
        holds::due(self.conn, now_ms, limit)
    }

    fn holds_on(&mut self, store_id: &str, sku: &str) -> Result<Vec<String>> {
        holds::on_level(self.conn, store_id, sku)
    }

    // Names come from the ledger's own code, never from a request.
    fn savepoint(&mut self, name: &'static str) -> Result<()> {
        Ok(self.conn.execute_batch(&format!("SAVEPOINT {name}"))?)
    }

    fn rollback_to(&mut self, name: &'static str) -> Result<()> {
        Ok(self.conn.execute_batch(&format!("ROLLBACK TO {name}"))?)
    }

    fn release(&mut self, name: &'static str) -> Result<()> {
        Ok(self.conn.execute_batch(&format!("RELEASE {name}"))?)
    }
}

impl WriteBackend for SqliteWriter<'_> {
    /// IMMEDIATE: the write lock is taken at once, so a group never fails
    /// half-way for want of it. Nothing is read ahead: each read is a
    /// call, not a round trip.
    fn begin(&mut self, wants: &Wants) -> Result<u64> {
        self.exec("BEGIN IMMEDIATE")?;
        self.prefetch(wants)?;
        Ok(rows::positions(self.conn)?.head)
    }

    fn commit(&mut self, head: Option<u64>) -> Result<()> {
        if let Some(head) = head {
            self.conn
                .prepare_cached("UPDATE ledger_meta SET head_offset = ? WHERE id = 1")?
                .execute([head as i64])?;
        }
        self.exec("COMMIT")
    }

    fn rollback(&mut self) -> Result<()> {
        if !self.conn.is_autocommit() {
            self.exec("ROLLBACK")?;
        }
        Ok(())
    }

    fn events_between(&mut self, from: u64, through: u64) -> Result<Vec<StoredEvent>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT seq, store_id, kind, data FROM events WHERE seq > ? AND seq <= ? ORDER BY seq",
        )?;
        let events = statement.query_map([from as i64, through as i64], |r| {
            Ok(StoredEvent {
                offset: r.get::<_, i64>(0)? as u64,
                store_id: r.get(1)?,
                kind: r.get(2)?,
                json: r.get(3)?,
            })
        })?;
        Ok(events.collect::<rusqlite::Result<_>>()?)
    }
}
