//! The read side's statements on SQLite, on a read-only connection inside
//! one read transaction (WAL: readers never wait for the writer).

use rusqlite::{Connection, OptionalExtension, params};
use shared::{Channel, Device, Hold, Product, StockLevel, Store, StoreAvailability};

use super::holds;
use super::rows::{self, DEVICE_COLUMNS, LEVEL_COLUMNS, PRODUCT_COLUMNS, STORE_COLUMNS};
use crate::{
    DeviceSecret, StoreSecret,
    backend::{ChannelHeld, Positions, ReadStatements, Result},
};

pub(super) struct SqliteRead<'c>(pub &'c Connection);

impl ReadStatements for SqliteRead<'_> {
    fn positions(&mut self) -> Result<Positions> {
        Ok(rows::positions(self.0)?)
    }

    fn store_exists(&mut self, store_id: &str) -> Result<bool> {
        Ok(self
            .0
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM stores WHERE store_id = ?)")?
            .query_row([store_id], |r| r.get(0))?)
    }

    fn product_exists(&mut self, sku: &str) -> Result<bool> {
        Ok(self
            .0
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM products WHERE sku = ?)")?
            .query_row([sku], |r| r.get(0))?)
    }

    fn product(&mut self, sku: &str) -> Result<Option<Product>> {
        Ok(self
            .0
            .prepare_cached(&format!(
                "SELECT {PRODUCT_COLUMNS} FROM products WHERE sku = ?"
            ))?
            .query_row([sku], rows::product)
            .optional()?)
    }

    fn level(&mut self, store_id: &str, sku: &str) -> Result<Option<StockLevel>> {
        Ok(self
            .0
            .prepare_cached(&format!(
                "SELECT {LEVEL_COLUMNS} FROM stock_levels WHERE store_id = ? AND sku = ?"
            ))?
            .query_row([store_id, sku], rows::level)
            .optional()?)
    }

    fn levels(&mut self, store_id: &str, after: &str, limit: u32) -> Result<Vec<StockLevel>> {
        let mut statement = self.0.prepare_cached(&format!(
            "SELECT {LEVEL_COLUMNS} FROM stock_levels
             WHERE store_id = ? AND sku > ? ORDER BY sku LIMIT ?"
        ))?;
        let levels = statement.query_map(params![store_id, after, limit], rows::level)?;
        Ok(levels.collect::<rusqlite::Result<_>>()?)
    }

    fn products(&mut self, after: &str, limit: u32, include_deleted: bool) -> Result<Vec<Product>> {
        let mut statement = self.0.prepare_cached(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM products
             WHERE sku > ? AND (active OR ?) ORDER BY sku LIMIT ?"
        ))?;
        let products =
            statement.query_map(params![after, include_deleted, limit], rows::product)?;
        Ok(products.collect::<rusqlite::Result<_>>()?)
    }

    fn products_of(&mut self, skus: &[String]) -> Result<Vec<Product>> {
        // The skus go in as one JSON array, so the statement is the same
        // (and prepared once) however many are asked.
        let mut statement = self.0.prepare_cached(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM products
             WHERE sku IN (SELECT value FROM json_each(?))"
        ))?;
        let products = statement.query_map([serde_json::to_string(skus)?], rows::product)?;
        Ok(products.collect::<rusqlite::Result<_>>()?)
    }

    fn levels_of(&mut self, skus: &[String]) -> Result<Vec<(String, StoreAvailability)>> {
        let mut statement = self.0.prepare_cached(
            "SELECT sku, store_id, available, held, version FROM stock_levels
             WHERE sku IN (SELECT value FROM json_each(?)) ORDER BY sku, store_id",
        )?;
        let levels = statement.query_map([serde_json::to_string(skus)?], |r| {
            let level = StoreAvailability {
                store_id: r.get(1)?,
                available: r.get(2)?,
                held: r.get(3)?,
                version: r.get::<_, i64>(4)? as u64,
            };
            Ok((r.get(0)?, level))
        })?;
        Ok(levels.collect::<rusqlite::Result<_>>()?)
    }

    fn hold(&mut self, hold_id: &str) -> Result<Option<Hold>> {
        holds::hold(self.0, hold_id)
    }

    fn holds_at(&mut self, store_id: &str, limit: u32) -> Result<Vec<Hold>> {
        holds::at_store(self.0, store_id, limit)
    }

    fn next_expiry(&mut self) -> Result<Option<i64>> {
        holds::next_expiry(self.0)
    }

    fn stores(&mut self) -> Result<Vec<Store>> {
        let mut statement = self.0.prepare_cached(&format!(
            "SELECT {STORE_COLUMNS} FROM stores ORDER BY store_id"
        ))?;
        let stores = statement.query_map([], rows::store)?;
        Ok(stores.collect::<rusqlite::Result<_>>()?)
    }

    fn store_secret(&mut self, store_id: &str) -> Result<Option<StoreSecret>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT secret_hash, active, credential_generation FROM stores WHERE store_id = ?",
            )?
            .query_row([store_id], |r| {
                Ok(StoreSecret {
                    secret_hash: r.get(0)?,
                    active: r.get(1)?,
                    generation: r.get::<_, i64>(2)? as u64,
                })
            })
            .optional()?)
    }

    fn device_secret(&mut self, device_id: &str) -> Result<Option<DeviceSecret>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT store_id, secret_hash, revoked_at IS NOT NULL FROM devices WHERE device_id = ?",
            )?
            .query_row([device_id], |r| {
                Ok(DeviceSecret {
                    store_id: r.get(0)?,
                    secret_hash: r.get(1)?,
                    revoked: r.get(2)?,
                })
            })
            .optional()?)
    }

    fn devices_of(&mut self, store_id: &str) -> Result<Vec<Device>> {
        let mut statement = self.0.prepare_cached(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE store_id = ? ORDER BY enrolled_at, device_id"
        ))?;
        let devices = statement.query_map([store_id], rows::device)?;
        Ok(devices.collect::<rusqlite::Result<_>>()?)
    }

    fn enrolled_devices(&mut self) -> Result<Vec<(String, String)>> {
        let mut statement = self
            .0
            .prepare_cached("SELECT device_id, store_id FROM devices WHERE revoked_at IS NULL")?;
        let devices = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(devices.collect::<rusqlite::Result<_>>()?)
    }

    fn store_access(&mut self) -> Result<Vec<(String, bool, u64)>> {
        let mut statement = self
            .0
            .prepare_cached("SELECT store_id, active, credential_generation FROM stores")?;
        let stores = statement.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
        })?;
        Ok(stores.collect::<rusqlite::Result<_>>()?)
    }

    fn channel_access(&mut self) -> Result<Vec<(String, bool, u64)>> {
        holds::channel_access(self.0)
    }

    fn channel_secret(&mut self, channel_id: &str) -> Result<Option<StoreSecret>> {
        holds::channel_secret(self.0, channel_id)
    }

    fn channels(&mut self) -> Result<Vec<Channel>> {
        holds::channels(self.0)
    }

    fn channel(&mut self, channel_id: &str) -> Result<Option<Channel>> {
        holds::channel_by_id(self.0, channel_id)
    }

    fn channel_holds(&mut self, channel_id: &str, limit: u32) -> Result<(ChannelHeld, Vec<Hold>)> {
        holds::channel_holds(self.0, channel_id, limit)
    }

    fn events(
        &mut self,
        from: u64,
        through: u64,
        store: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(u64, String)>> {
        let mut statement = self.0.prepare_cached(
            "SELECT seq, data FROM events
             WHERE seq > ?1 AND seq <= ?2 AND (?3 IS NULL OR store_id = ?3 OR store_id IS NULL)
             ORDER BY seq LIMIT ?4",
        )?;
        let events = statement
            .query_map(params![from as i64, through as i64, store, limit], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
            })?;
        Ok(events.collect::<rusqlite::Result<_>>()?)
    }

    fn each_product(&mut self, each: &mut dyn FnMut(Product) -> Result<()>) -> Result<()> {
        let mut statement = self.0.prepare_cached(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM products ORDER BY sku"
        ))?;
        let mut found = statement.query([])?;
        while let Some(row) = found.next()? {
            each(rows::product(row)?)?;
        }
        Ok(())
    }

    fn each_level(
        &mut self,
        store: Option<&str>,
        each: &mut dyn FnMut(StockLevel) -> Result<()>,
    ) -> Result<()> {
        let mut statement = self.0.prepare_cached(&format!(
            "SELECT {LEVEL_COLUMNS} FROM stock_levels
             WHERE ?1 IS NULL OR store_id = ?1 ORDER BY store_id, sku"
        ))?;
        let mut found = statement.query([store])?;
        while let Some(row) = found.next()? {
            each(rows::level(row)?)?;
        }
        Ok(())
    }
}
