//! Catalogue and store writes, and retention: the admin side of the ledger.

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

async fn product(tx: &mut Tx<'_>, sku: &str) -> anyhow::Result<Option<Product>> {
    let row: Option<ProductRow> = sqlx::query_as(&format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE sku = ?"
    ))
    .bind(sku)
    .fetch_optional(&mut *tx.conn)
    .await?;
    Ok(row.map(Product::from))
}

async fn write_product(tx: &mut Tx<'_>, p: &Product) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO products (sku, name, price_cents, active, version, updated_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (sku) DO UPDATE
         SET name = excluded.name, price_cents = excluded.price_cents,
             active = excluded.active, version = excluded.version,
             updated_at = excluded.updated_at",
    )
    .bind(&p.sku)
    .bind(&p.name)
    .bind(p.price_cents)
    .bind(p.active)
    .bind(p.version as i64)
    .bind(tx.now_ms)
    .execute(&mut *tx.conn)
    .await?;
    Ok(())
}

pub(super) async fn create_product(
    tx: &mut Tx<'_>,
    new: NewProduct,
) -> anyhow::Result<Result<Product, Refusal>> {
    if product(tx, &new.sku).await?.is_some() {
        return Ok(Err(Refusal::ProductExists { sku: new.sku }));
    }
    let created = Product {
        sku: new.sku,
        name: new.name,
        price_cents: new.price_cents,
        active: true,
        version: 1,
        updated_at: tx.now(),
    };
    write_product(tx, &created).await?;
    tx.append(Change::ProductCreated {
        product: created.clone(),
    })
    .await?;
    Ok(Ok(created))
}

pub(super) async fn update_product(
    tx: &mut Tx<'_>,
    sku: &str,
    update: ProductUpdate,
) -> anyhow::Result<Result<Product, Refusal>> {
    let Some(current) = product(tx, sku).await? else {
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
        name: update.name.unwrap_or(current.name),
        price_cents: update.price_cents.unwrap_or(current.price_cents),
        version: current.version + 1,
        updated_at: tx.now(),
        ..current
    };
    write_product(tx, &updated).await?;
    tx.append(Change::ProductUpdated {
        product: updated.clone(),
    })
    .await?;
    Ok(Ok(updated))
}

/// Deleting keeps the product, inactive: its levels and history stay
/// readable. Deleting a deleted product changes nothing.
pub(super) async fn delete_product(
    tx: &mut Tx<'_>,
    sku: &str,
) -> anyhow::Result<Result<Product, Refusal>> {
    let Some(current) = product(tx, sku).await? else {
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
    write_product(tx, &deleted).await?;
    tx.append(Change::ProductDeleted {
        product: deleted.clone(),
    })
    .await?;
    Ok(Ok(deleted))
}

pub(super) async fn create_store(
    tx: &mut Tx<'_>,
    new: NewStore,
    secret_hash: &str,
) -> anyhow::Result<Result<Store, Refusal>> {
    let inserted = sqlx::query(
        "INSERT INTO stores (store_id, name, active, created_at, secret_hash, credential_generation)
         VALUES (?, ?, 1, ?, ?, 1)
         ON CONFLICT (store_id) DO NOTHING",
    )
    .bind(&new.store_id)
    .bind(&new.name)
    .bind(tx.now_ms)
    .bind(secret_hash)
    .execute(&mut *tx.conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(Err(Refusal::StoreExists {
            store_id: new.store_id,
        }));
    }
    let store = Store {
        store_id: new.store_id,
        name: new.name,
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
    })
    .await?;
    Ok(Ok(store))
}

/// Bumps a store's credential generation (revoking its tokens) and applies
/// `set` to its row; `None` if there is no such store.
async fn change_store(
    tx: &mut Tx<'_>,
    store_id: &str,
    set: &'static str,
    value: &str,
) -> anyhow::Result<Option<(Store, u64)>> {
    let row: Option<(String, String, bool, i64, i64)> = sqlx::query_as(&format!(
        "UPDATE stores SET {set} = ?, credential_generation = credential_generation + 1
         WHERE store_id = ?
         RETURNING store_id, name, active, created_at, credential_generation"
    ))
    .bind(value)
    .bind(store_id)
    .fetch_optional(&mut *tx.conn)
    .await?;
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

pub(super) async fn set_store_active(
    tx: &mut Tx<'_>,
    store_id: &str,
    active: bool,
) -> anyhow::Result<Result<Store, Refusal>> {
    let value = if active { "1" } else { "0" };
    let Some((store, generation)) = change_store(tx, store_id, "active", value).await? else {
        return Ok(Err(Refusal::StoreNotFound {
            store_id: store_id.to_owned(),
        }));
    };
    tx.note_access(store_id, Access { active, generation });
    tx.append(Change::StoreUpdated {
        store: store.clone(),
    })
    .await?;
    Ok(Ok(store))
}

pub(super) async fn rotate_secret(
    tx: &mut Tx<'_>,
    store_id: &str,
    secret_hash: &str,
) -> anyhow::Result<Result<Store, Refusal>> {
    let Some((store, generation)) = change_store(tx, store_id, "secret_hash", secret_hash).await?
    else {
        return Ok(Err(Refusal::StoreNotFound {
            store_id: store_id.to_owned(),
        }));
    };
    let active = store.active;
    tx.note_access(store_id, Access { active, generation });
    Ok(Ok(store))
}

/// Most events one prune removes, so retention never holds the writer long;
/// the next run takes the rest.
const PRUNE_CHUNK: i64 = 50_000;

pub(super) async fn prune(tx: &mut Tx<'_>, policy: PrunePolicy) -> anyhow::Result<PruneReport> {
    let (head, pruned_through): (i64, i64) =
        sqlx::query_as("SELECT head_offset, pruned_through FROM ledger_meta WHERE id = 1")
            .fetch_one(&mut *tx.conn)
            .await?;
    let by_count = head - policy.keep_events.min(head as u64) as i64;
    let (by_age,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM events WHERE at < ?")
        .bind(policy.events_before_ms)
        .fetch_one(&mut *tx.conn)
        .await?;
    let target = by_count
        .max(by_age.unwrap_or(0))
        .min(pruned_through + PRUNE_CHUNK);
    let mut events_pruned = 0;
    if target > pruned_through {
        events_pruned = sqlx::query("DELETE FROM events WHERE seq <= ?")
            .bind(target)
            .execute(&mut *tx.conn)
            .await?
            .rows_affected();
        sqlx::query("UPDATE ledger_meta SET pruned_through = ? WHERE id = 1")
            .bind(target)
            .execute(&mut *tx.conn)
            .await?;
    }
    let keys_pruned = sqlx::query(
        "DELETE FROM idempotency WHERE key IN
         (SELECT key FROM idempotency WHERE created_at < ? LIMIT ?)",
    )
    .bind(policy.keys_before_ms)
    .bind(PRUNE_CHUNK)
    .execute(&mut *tx.conn)
    .await?
    .rows_affected();
    Ok(PruneReport {
        events_pruned,
        keys_pruned,
        oldest_offset: target.max(pruned_through) as u64,
    })
}
