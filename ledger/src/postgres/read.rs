//! The read side's statements on PostgreSQL, each read inside one
//! REPEATABLE READ, READ ONLY transaction: one snapshot of the database for
//! all its statements, as SQLite's read transaction gives.

use shared::{Channel, Device, Hold, Product, StockLevel, Store, StoreAvailability};

use super::{
    conn::{Conn, Sql, signed, unsigned},
    rows::{self, device_columns, level_columns, product_columns, store_columns},
};
use crate::{
    DeviceSecret, ReadError, StoreSecret,
    backend::{ChannelHeld, Positions, ReadStatements, Result},
    pool::Connector,
};

/// Rows read at a time when a snapshot walks a table (by key, inside the
/// read's one snapshot, so the walk is consistent and never holds a whole
/// table).
const WALK: i64 = 1000;

pub(crate) struct PostgresReads {
    pub url: String,
}

/// A read connection, and whether it can still serve reads.
pub(crate) struct ReadConn {
    conn: Conn,
    broken: bool,
}

impl Connector for PostgresReads {
    type Conn = ReadConn;

    /// A read statement runs at most 30 s: a snapshot walks its tables in
    /// small steps, and nothing else reads much.
    fn connect(&self) -> anyhow::Result<ReadConn> {
        let mut conn = Conn::connect(&self.url)?;
        conn.batch("SET statement_timeout = '30s'")?;
        Ok(ReadConn {
            conn,
            broken: false,
        })
    }

    fn read<T>(
        &self,
        conn: &mut ReadConn,
        read: impl FnOnce(&mut dyn ReadStatements) -> std::result::Result<T, ReadError>,
    ) -> std::result::Result<T, ReadError> {
        if conn
            .conn
            .batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .is_err()
        {
            conn.broken = true;
            return Err(ReadError::Unavailable);
        }
        let answer = read(&mut PgRead(&mut conn.conn));
        let ended = conn
            .conn
            .batch(if answer.is_ok() { "COMMIT" } else { "ROLLBACK" });
        if ended.is_err() {
            conn.broken = true;
        }
        if conn.conn.client.is_closed() {
            conn.broken = true;
            return Err(ReadError::Unavailable);
        }
        let answer = answer?;
        ended?;
        Ok(answer)
    }

    fn reusable(&self, conn: &ReadConn) -> bool {
        !conn.broken && !conn.conn.client.is_closed()
    }
}

struct PgRead<'c>(&'c mut Conn);

impl ReadStatements for PgRead<'_> {
    fn positions(&mut self) -> Result<Positions> {
        rows::positions(self.0)
    }

    fn store_exists(&mut self, store_id: &str) -> Result<bool> {
        let row = self.0.query_one(
            "SELECT EXISTS (SELECT 1 FROM stores WHERE store_id = $1)",
            &[&store_id],
        )?;
        Ok(row.try_get(0)?)
    }

    fn product_exists(&mut self, sku: &str) -> Result<bool> {
        let row = self.0.query_one(
            "SELECT EXISTS (SELECT 1 FROM products WHERE sku = $1)",
            &[&sku],
        )?;
        Ok(row.try_get(0)?)
    }

    fn product(&mut self, sku: &str) -> Result<Option<Product>> {
        let row = self.0.query_opt(
            concat!(
                "SELECT ",
                product_columns!(),
                " FROM products WHERE sku = $1"
            ),
            &[&sku],
        )?;
        row.as_ref().map(rows::product).transpose()
    }

    fn level(&mut self, store_id: &str, sku: &str) -> Result<Option<StockLevel>> {
        let row = self.0.query_opt(
            concat!(
                "SELECT ",
                level_columns!(),
                " FROM stock_levels WHERE store_id = $1 AND sku = $2"
            ),
            &[&store_id, &sku],
        )?;
        row.as_ref().map(rows::level).transpose()
    }

    fn levels(&mut self, store_id: &str, after: &str, limit: u32) -> Result<Vec<StockLevel>> {
        let limit = i64::from(limit);
        self.0
            .query(
                concat!(
                    "SELECT ",
                    level_columns!(),
                    " FROM stock_levels WHERE store_id = $1 AND sku > $2 ORDER BY sku LIMIT $3"
                ),
                &[&store_id, &after, &limit],
            )?
            .iter()
            .map(rows::level)
            .collect()
    }

    fn products(&mut self, after: &str, limit: u32, include_deleted: bool) -> Result<Vec<Product>> {
        let limit = i64::from(limit);
        self.0
            .query(
                concat!(
                    "SELECT ",
                    product_columns!(),
                    " FROM products WHERE sku > $1 AND (active OR $2) ORDER BY sku LIMIT $3"
                ),
                &[&after, &include_deleted, &limit],
            )?
            .iter()
            .map(rows::product)
            .collect()
    }

    fn products_of(&mut self, skus: &[String]) -> Result<Vec<Product>> {
        self.0
            .query(
                concat!(
                    "SELECT ",
                    product_columns!(),
                    " FROM products WHERE sku = ANY($1)"
                ),
                &[&skus],
            )?
            .iter()
            .map(rows::product)
            .collect()
    }

    fn levels_of(&mut self, skus: &[String]) -> Result<Vec<(String, StoreAvailability)>> {
        self.0
            .query(
                "SELECT sku, store_id, available, held, version FROM stock_levels
                 WHERE sku = ANY($1) ORDER BY sku, store_id",
                &[&skus],
            )?
            .iter()
            .map(|r| {
                let level = StoreAvailability {
                    store_id: r.try_get(1)?,
                    available: r.try_get(2)?,
                    held: r.try_get(3)?,
                    version: unsigned(r.try_get(4)?),
                };
                Ok((r.try_get(0)?, level))
            })
            .collect()
    }

    fn channel_access(&mut self) -> Result<Vec<(String, bool, u64)>> {
        super::holds::channel_access(self.0)
    }

    fn channel_secret(&mut self, channel_id: &str) -> Result<Option<StoreSecret>> {
        super::holds::channel_secret(self.0, channel_id)
    }

    fn channels(&mut self) -> Result<Vec<Channel>> {
        super::holds::channels(self.0)
    }

    fn channel(&mut self, channel_id: &str) -> Result<Option<Channel>> {
        super::holds::channel_by_id(self.0, channel_id)
    }

    fn channel_holds(&mut self, channel_id: &str, limit: u32) -> Result<(ChannelHeld, Vec<Hold>)> {
        super::holds::channel_holds(self.0, channel_id, limit)
    }

    fn hold(&mut self, hold_id: &str) -> Result<Option<Hold>> {
        Ok(super::holds::holds(self.0, &[hold_id.to_owned()])?.pop())
    }

    fn holds_at(&mut self, store_id: &str, limit: u32) -> Result<Vec<Hold>> {
        super::holds::at_store(self.0, store_id, limit)
    }

    fn next_expiry(&mut self) -> Result<Option<i64>> {
        super::holds::next_expiry(self.0)
    }

    fn stores(&mut self) -> Result<Vec<Store>> {
        self.0
            .query(
                concat!(
                    "SELECT ",
                    store_columns!(),
                    " FROM stores ORDER BY store_id"
                ),
                &[],
            )?
            .iter()
            .map(rows::store)
            .collect()
    }

    fn store_secret(&mut self, store_id: &str) -> Result<Option<StoreSecret>> {
        let row = self.0.query_opt(
            "SELECT secret_hash, active, credential_generation FROM stores WHERE store_id = $1",
            &[&store_id],
        )?;
        row.map(|r| {
            Ok(StoreSecret {
                secret_hash: r.try_get(0)?,
                active: r.try_get(1)?,
                generation: unsigned(r.try_get(2)?),
            })
        })
        .transpose()
    }

    fn device_secret(&mut self, device_id: &str) -> Result<Option<DeviceSecret>> {
        let row = self.0.query_opt(
            "SELECT store_id, secret_hash, revoked_at IS NOT NULL FROM devices WHERE device_id = $1",
            &[&device_id],
        )?;
        row.map(|r| {
            Ok(DeviceSecret {
                store_id: r.try_get(0)?,
                secret_hash: r.try_get(1)?,
                revoked: r.try_get(2)?,
            })
        })
        .transpose()
    }

    fn devices_of(&mut self, store_id: &str) -> Result<Vec<Device>> {
        self.0
            .query(
                concat!(
                    "SELECT ",
                    device_columns!(),
                    " FROM devices WHERE store_id = $1 ORDER BY enrolled_at, device_id"
                ),
                &[&store_id],
            )?
            .iter()
            .map(rows::device)
            .collect()
    }

    fn enrolled_devices(&mut self) -> Result<Vec<(String, String)>> {
        self.0
            .query(
                "SELECT device_id, store_id FROM devices WHERE revoked_at IS NULL",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    fn store_access(&mut self) -> Result<Vec<(String, bool, u64)>> {
        self.0
            .query(
                "SELECT store_id, active, credential_generation FROM stores",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, unsigned(r.try_get(2)?))))
            .collect()
    }

    fn events(
        &mut self,
        from: u64,
        through: u64,
        store: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(u64, String)>> {
        let (from, through, limit) = (signed(from), signed(through), i64::from(limit));
        self.0
            .query(
                "SELECT seq, data FROM events
                 WHERE seq > $1 AND seq <= $2
                   AND ($3::TEXT IS NULL OR store_id = $3 OR store_id IS NULL)
                 ORDER BY seq LIMIT $4",
                &[&from, &through, &store, &limit],
            )?
            .iter()
            .map(|r| Ok((unsigned(r.try_get(0)?), r.try_get(1)?)))
            .collect()
    }

    fn each_product(&mut self, each: &mut dyn FnMut(Product) -> Result<()>) -> Result<()> {
        let mut after = String::new();
        loop {
            let rows = self.0.query(
                concat!(
                    "SELECT ",
                    product_columns!(),
                    " FROM products WHERE sku > $1 ORDER BY sku LIMIT $2"
                ),
                &[&after, &WALK],
            )?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            after = last.try_get(0)?;
            for row in &rows {
                each(rows::product(row)?)?;
            }
        }
    }

    fn each_level(
        &mut self,
        store: Option<&str>,
        each: &mut dyn FnMut(StockLevel) -> Result<()>,
    ) -> Result<()> {
        let (mut after_store, mut after_sku) = (String::new(), String::new());
        loop {
            let rows = self.0.query(
                concat!(
                    "SELECT ",
                    level_columns!(),
                    " FROM stock_levels
                     WHERE ($1::TEXT IS NULL OR store_id = $1) AND (store_id, sku) > ($2, $3)
                     ORDER BY store_id, sku LIMIT $4"
                ),
                &[&store, &after_store, &after_sku, &WALK],
            )?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            (after_store, after_sku) = (last.try_get(0)?, last.try_get(1)?);
            for row in &rows {
                each(rows::level(row)?)?;
            }
        }
    }
}
