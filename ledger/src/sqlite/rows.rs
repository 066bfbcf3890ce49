//! How the ledger's types are stored in SQLite's rows.

use rusqlite::{Connection, Row};
use shared::{Device, Product, StockLevel, Store};

use crate::{backend::Positions, clock::timestamp};

pub(super) const PRODUCT_COLUMNS: &str = "sku, name, price_cents, active, version, updated_at";
pub(super) const LEVEL_COLUMNS: &str = "store_id, sku, available, held, version, updated_at";
pub(super) const STORE_COLUMNS: &str = "store_id, name, active, created_at, safety_stock";
pub(super) const DEVICE_COLUMNS: &str = "device_id, store_id, name, enrolled_at, revoked_at";

pub(super) fn product(r: &Row<'_>) -> rusqlite::Result<Product> {
    Ok(Product {
        sku: r.get(0)?,
        name: r.get(1)?,
        price_cents: r.get(2)?,
        active: r.get(3)?,
        version: r.get::<_, i64>(4)? as u64,
        updated_at: timestamp(r.get(5)?),
    })
}

pub(super) fn level(r: &Row<'_>) -> rusqlite::Result<StockLevel> {
    Ok(StockLevel {
        store_id: r.get(0)?,
        sku: r.get(1)?,
        available: r.get(2)?,
        held: r.get(3)?,
        version: r.get::<_, i64>(4)? as u64,
        updated_at: Some(timestamp(r.get(5)?)),
    })
}

pub(super) fn store(r: &Row<'_>) -> rusqlite::Result<Store> {
    Ok(Store {
        store_id: r.get(0)?,
        name: r.get(1)?,
        active: r.get(2)?,
        created_at: timestamp(r.get(3)?),
        safety_stock: r.get(4)?,
    })
}

pub(super) fn device(r: &Row<'_>) -> rusqlite::Result<Device> {
    Ok(Device {
        device_id: r.get(0)?,
        store_id: r.get(1)?,
        name: r.get(2)?,
        enrolled_at: timestamp(r.get(3)?),
        revoked_at: r.get::<_, Option<i64>>(4)?.map(timestamp),
    })
}

pub(super) fn positions(conn: &Connection) -> rusqlite::Result<Positions> {
    conn.prepare_cached("SELECT head_offset, pruned_through FROM ledger_meta WHERE id = 1")?
        .query_row([], |r| {
            Ok(Positions {
                head: r.get::<_, i64>(0)? as u64,
                pruned_through: r.get::<_, i64>(1)? as u64,
            })
        })
}
