//! How the ledger's types are stored in PostgreSQL's rows.

use postgres::Row;
use shared::{Device, Product, StockLevel, Store};

use super::conn::{Sql, unsigned};
use crate::{backend::Positions, clock::timestamp, publish::StoredEvent};

/// The columns each row reader below takes, in its order (macros, so
/// statements stay `&'static str` literals for the statement cache).
macro_rules! product_columns {
    () => {
        "sku, name, price_cents, active, version, updated_at"
    };
}
macro_rules! level_columns {
    () => {
        "store_id, sku, available, held, version, updated_at"
    };
}
macro_rules! store_columns {
    () => {
        "store_id, name, active, created_at, safety_stock"
    };
}
macro_rules! device_columns {
    () => {
        "device_id, store_id, name, enrolled_at, revoked_at"
    };
}
pub(super) use {device_columns, level_columns, product_columns, store_columns};

pub(super) fn product(r: &Row) -> anyhow::Result<Product> {
    Ok(Product {
        sku: r.try_get(0)?,
        name: r.try_get(1)?,
        price_cents: r.try_get(2)?,
        active: r.try_get(3)?,
        version: unsigned(r.try_get(4)?),
        updated_at: timestamp(r.try_get(5)?),
    })
}

pub(super) fn level(r: &Row) -> anyhow::Result<StockLevel> {
    Ok(StockLevel {
        store_id: r.try_get(0)?,
        sku: r.try_get(1)?,
        available: r.try_get(2)?,
        held: r.try_get(3)?,
        version: unsigned(r.try_get(4)?),
        updated_at: Some(timestamp(r.try_get(5)?)),
    })
}

pub(super) fn store(r: &Row) -> anyhow::Result<Store> {
    Ok(Store {
        store_id: r.try_get(0)?,
        name: r.try_get(1)?,
        active: r.try_get(2)?,
        created_at: timestamp(r.try_get(3)?),
        safety_stock: r.try_get(4)?,
    })
}

pub(super) fn device(r: &Row) -> anyhow::Result<Device> {
    Ok(Device {
        device_id: r.try_get(0)?,
        store_id: r.try_get(1)?,
        name: r.try_get(2)?,
        enrolled_at: timestamp(r.try_get(3)?),
        revoked_at: r.try_get::<_, Option<i64>>(4)?.map(timestamp),
    })
}

pub(super) fn positions(conn: &mut impl Sql) -> anyhow::Result<Positions> {
    let row = conn.query_one(
        "SELECT head_offset, pruned_through FROM ledger_meta WHERE id = 1",
        &[],
    )?;
    Ok(Positions {
        head: unsigned(row.try_get(0)?),
        pruned_through: unsigned(row.try_get(1)?),
    })
}

/// Events after `from` through `through`, as stored, in offset order.
pub(super) fn events_between(
    conn: &mut impl Sql,
    from: u64,
    through: u64,
) -> anyhow::Result<Vec<StoredEvent>> {
    let (from, through) = (super::conn::signed(from), super::conn::signed(through));
    conn.query(
        "SELECT seq, store_id, kind, data FROM events WHERE seq > $1 AND seq <= $2 ORDER BY seq",
        &[&from, &through],
    )?
    .iter()
    .map(|r| {
        Ok(StoredEvent {
            offset: unsigned(r.try_get(0)?),
            store_id: r.try_get(1)?,
            kind: r.try_get(2)?,
            json: r.try_get(3)?,
        })
    })
    .collect()
}
