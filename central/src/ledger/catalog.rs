//! Catalogue and store writes, and retention: the admin side of the ledger.

use rusqlite::{OptionalExtension, params};
use shared::{Change, NewProduct, NewStore, Product, ProductUpdate, Store};
use sqlx::FromRow;

use super::{PrunePolicy, PruneReport, Refusal, timestamp, writer::Tx};
use crate::auth::Access;

#[derive(FromRow)]
pub(crate) struct ProductRow {
    pub sku: String,
    pub name: String,
    pub price_cents: i64,
    pub active: bool,
    pub version: i64,
    pub updated_at: i64,
}

impl From<ProductRow> for Product {
    fn from(row: ProductRow) -> Self {
        Product {
            sku: row.sku,
            name: row.name,
            price_cents: row.price_cents,
            active: row.active,
            version: row.version as u64,
            updated_at: timestamp(row.updated_at),
        }
    }
}

#[derive(FromRow)]
pub(crate) struct StoreRow {
    pub store_id: String,
    pub name: String,
    pub active: bool,
    pub created_at: i64,
}

impl From<StoreRow> for Store {
    fn from(row: StoreRow) -> Self {
        Store {
            store_id: row.store_id,
            name: row.name,
            active: row.active,
            created_at: timestamp(row.created_at),
        }
    }
}

pub(crate) const PRODUCT_COLUMNS: &str = "sku, name, price_cents, active, version, updated_at";

fn product(tx: &Tx<'_, '_>, sku: &str) -> anyhow::Result<Option<Product>> {
    let row = tx
        .conn
        .prepare_cached(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE sku = ?"
        ))?
        .query_row([sku], |r| {
            Ok(ProductRow {
                sku: r.get(0)?,
                name: r.get(1)?,
                price_cents: r.get(2)?,
                active: r.get(3)?,
                version: r.get(4)?,
                updated_at: r.get(5)?,
            })
        })
        .optional()?;
    Ok(row.map(Product::from))
}

fn write_product(tx: &Tx<'_, '_>, p: &Product) -> anyhow::Result<()> {
    tx.conn
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
            tx.now_ms
        ])?;
    Ok(())
}

pub(super) fn create_product(
    tx: &mut Tx<'_, '_>,
    new: &NewProduct,
) -> anyhow::Result<Result<Product, Refusal>> {
    if product(tx, &new.sku)?.is_some() {
        return Ok(Err(Refusal::ProductExists {
            sku: new.sku.clone(),
        }));
    }
    let created = Product {
        sku: new.sku.clone(),
        name: new.name.clone(),
        price_cents: new.price_cents,
        active: true,
        version: 1,
        updated_at: tx.now(),
    };
    write_product(tx, &created)?;
    tx.append(Change::ProductCreated {
        product: created.clone(),
    })?;
    Ok(Ok(created))
}

pub(super) fn update_product(
    tx: &mut Tx<'_, '_>,
    sku: &str,
    update: &ProductUpdate,
) -> anyhow::Result<Result<Product, Refusal>> {
    let Some(current) = product(tx, sku)? else {
        return Ok(Err(Refusal::ProductNotFound {
            sku: sku.to_owned(),
        }));
    };
    if !current.active {
        return Ok(Err(Refusal::ProductInactive {
            sku: sku.to_owned(),
        }));
    }
    if let Some(expected) = update.expected_version
        && expected != current.version
    {
        return Ok(Err(Refusal::ProductVersionConflict { current, expected }));
    }
    let updated = Product {
        name: update.name.clone().unwrap_or(current.name),
        price_cents: update.price_cents.unwrap_or(current.price_cents),
        version: current.version + 1,
        updated_at: tx.now(),
        ..current
    };
    write_product(tx, &updated)?;
    tx.append(Change::ProductUpdated {
        product: updated.clone(),
    })?;
    Ok(Ok(updated))
}

/// Deleting keeps the product, inactive: its levels and history stay
/// readable. Deleting a deleted product changes nothing.
pub(super) fn delete_product(
    tx: &mut Tx<'_, '_>,
    sku: &str,
) -> anyhow::Result<Result<Product, Refusal>> {
    let Some(current) = product(tx, sku)? else {
        return Ok(Err(Refusal::ProductNotFound {
            sku: sku.to_owned(),
        }));
    };
    if !current.active {
        return Ok(Ok(current));
    }
    let deleted = Product {
        active: false,
        version: current.version + 1,
        updated_at: tx.now(),
        ..current
    };
    write_product(tx, &deleted)?;
    tx.append(Change::ProductDeleted {
        product: deleted.clone(),
    })?;
    Ok(Ok(deleted))
}

pub(super) fn create_store(
    tx: &mut Tx<'_, '_>,
    new: &NewStore,
    secret_hash: &str,
) -> anyhow::Result<Result<Store, Refusal>> {
    let inserted = tx
        .conn
        .prepare_cached(
            "INSERT INTO stores (store_id, name, active, created_at, secret_hash, credential_generation)
             VALUES (?, ?, 1, ?, ?, 1)
             ON CONFLICT (store_id) DO NOTHING",
        )?
        .execute(params![new.store_id, new.name, tx.now_ms, secret_hash])?;
    if inserted == 0 {
        return Ok(Err(Refusal::StoreExists {
            store_id: new.store_id.clone(),
        }));
    }
    let store = Store {
        store_id: new.store_id.clone(),
        name: new.name.clone(),
        active: true,
        created_at: tx.now(),
    };
    tx.note_access(
        &store.store_id,
        Access {
            active: true,
            generation: 1,
        },
    );
    tx.append(Change::StoreCreated {
        store: store.clone(),
    })?;
    Ok(Ok(store))
}

/// Bumps a store's credential generation (revoking its tokens) and applies
/// `set` to its row; `None` if there is no such store.
fn change_store(
    tx: &mut Tx<'_, '_>,
    store_id: &str,
    set: &'static str,
    value: &str,
) -> anyhow::Result<Option<(Store, u64)>> {
    let row: Option<(String, String, bool, i64, i64)> = tx
        .conn
        .prepare_cached(&format!(
            "UPDATE stores SET {set} = ?, credential_generation = credential_generation + 1
             WHERE store_id = ?
             RETURNING store_id, name, active, created_at, credential_generation"
        ))?
        .query_row(params![value, store_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    Ok(row.map(|(store_id, name, active, created_at, generation)| {
        let store = Store::from(StoreRow {
            store_id,
            name,
            active,
            created_at,
        });
        (store, generation as u64)
    }))
}

pub(super) fn set_store_active(
    tx: &mut Tx<'_, '_>,
    store_id: &str,
    active: bool,
) -> anyhow::Result<Result<Store, Refusal>> {
    let value = if active { "1" } else { "0" };
    let Some((store, generation)) = change_store(tx, store_id, "active", value)? else {
        return Ok(Err(Refusal::StoreNotFound {
            store_id: store_id.to_owned(),
        }));
    };
    tx.note_access(store_id, Access { active, generation });
    tx.append(Change::StoreUpdated {
        store: store.clone(),
    })?;
    Ok(Ok(store))
}

pub(super) fn rotate_secret(
    tx: &mut Tx<'_, '_>,
    store_id: &str,
    secret_hash: &str,
) -> anyhow::Result<Result<Store, Refusal>> {
    let Some((store, generation)) = change_store(tx, store_id, "secret_hash", secret_hash)? else {
        return Ok(Err(Refusal::StoreNotFound {
            store_id: store_id.to_owned(),
        }));
    };
    let active = store.active;
    tx.note_access(store_id, Access { active, generation });
    Ok(Ok(store))
}

pub(super) fn prune(tx: &mut Tx<'_, '_>, policy: PrunePolicy) -> anyhow::Result<PruneReport> {
    let chunk = i64::try_from(policy.chunk.max(1)).unwrap_or(i64::MAX);
    let (head, pruned_through): (i64, i64) = tx.conn.query_row(
        "SELECT head_offset, pruned_through FROM ledger_meta WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let by_count = head - policy.keep_events.min(head as u64) as i64;
    let by_age: Option<i64> = tx.conn.query_row(
        "SELECT MAX(seq) FROM events WHERE at < ?",
        [policy.events_before_ms],
        |r| r.get(0),
    )?;
    let target = by_count
        .max(by_age.unwrap_or(0))
        .min(pruned_through + chunk);
    let mut events_pruned = 0;
    if target > pruned_through {
        events_pruned = tx
            .conn
            .execute("DELETE FROM events WHERE seq <= ?", [target])? as u64;
        tx.conn.execute(
            "UPDATE ledger_meta SET pruned_through = ? WHERE id = 1",
            [target],
        )?;
        tx.note_pruned(target as u64);
    }
    let keys_pruned = tx.conn.execute(
        "DELETE FROM idempotency WHERE (store_id, key) IN
         (SELECT store_id, key FROM idempotency WHERE created_at < ? LIMIT ?)",
        [policy.keys_before_ms, chunk],
    )? as u64;
    Ok(PruneReport {
        events_pruned,
        keys_pruned,
        oldest_offset: target.max(pruned_through) as u64,
        caught_up: events_pruned < chunk as u64 && keys_pruned < chunk as u64,
    })
}
