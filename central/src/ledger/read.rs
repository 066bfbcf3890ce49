//! The read side: answered from the read pool, never through the writer.

use shared::{Page, Product, ProductAvailability, StockLevel, Store, StoreAvailability};
use sqlx::SqlitePool;

use super::{
    Refusal,
    catalog::{PRODUCT_COLUMNS, ProductRow, StoreRow},
    timestamp,
};
use crate::error::AppError;

#[derive(sqlx::FromRow)]
pub(crate) struct LevelRow {
    store_id: String,
    sku: String,
    available: i64,
    version: i64,
    updated_at: i64,
}

impl From<LevelRow> for StockLevel {
    fn from(row: LevelRow) -> Self {
        StockLevel {
            store_id: row.store_id,
            sku: row.sku,
            available: row.available,
            version: row.version as u64,
            updated_at: Some(timestamp(row.updated_at)),
        }
    }
}

pub(crate) const LEVEL_COLUMNS: &str = "store_id, sku, available, version, updated_at";

async fn store_exists(pool: &SqlitePool, store_id: &str) -> Result<(), AppError> {
    let found: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM stores WHERE store_id = ?")
        .bind(store_id)
        .fetch_optional(pool)
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(Refusal::StoreNotFound {
            store_id: store_id.to_owned(),
        }
        .into()),
    }
}

pub async fn product(pool: &SqlitePool, sku: &str) -> Result<Product, AppError> {
    let row: Option<ProductRow> = sqlx::query_as(&format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE sku = ?"
    ))
    .bind(sku)
    .fetch_optional(pool)
    .await?;
    row.map(Product::from).ok_or_else(|| {
        Refusal::ProductNotFound {
            sku: sku.to_owned(),
        }
        .into()
    })
}

/// One level; a level never written reads as zero at version 0. One query
/// answers it and tells an unknown store from an unknown product.
pub async fn level(pool: &SqlitePool, store_id: &str, sku: &str) -> Result<StockLevel, AppError> {
    let (store_exists, product_exists, available, version, updated_at): (
        bool,
        bool,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    ) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM stores WHERE store_id = ?1),
                EXISTS (SELECT 1 FROM products WHERE sku = ?2),
                l.available, l.version, l.updated_at
         FROM (SELECT 1) LEFT JOIN stock_levels l ON l.store_id = ?1 AND l.sku = ?2",
    )
    .bind(store_id)
    .bind(sku)
    .fetch_one(pool)
    .await?;
    if !store_exists {
        return Err(Refusal::StoreNotFound {
            store_id: store_id.to_owned(),
        }
        .into());
    }
    if !product_exists {
        return Err(Refusal::ProductNotFound {
            sku: sku.to_owned(),
        }
        .into());
    }
    Ok(StockLevel {
        store_id: store_id.to_owned(),
        sku: sku.to_owned(),
        available: available.unwrap_or(0),
        version: version.unwrap_or(0) as u64,
        updated_at: updated_at.map(timestamp),
    })
}

/// Cursor pagination: fetch one row more than asked to know if a page follows.
fn paginate<T>(mut items: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> String) -> Page<T> {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if more {
        items.last().map(cursor_of)
    } else {
        None
    };
    Page { items, next_cursor }
}

pub async fn levels(
    pool: &SqlitePool,
    store_id: &str,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<StockLevel>, AppError> {
    store_exists(pool, store_id).await?;
    let rows: Vec<LevelRow> = sqlx::query_as(&format!(
        "SELECT {LEVEL_COLUMNS} FROM stock_levels
         WHERE store_id = ? AND sku > ? ORDER BY sku LIMIT ?"
    ))
    .bind(store_id)
    .bind(cursor.unwrap_or(""))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await?;
    let levels = rows.into_iter().map(StockLevel::from).collect();
    Ok(paginate(levels, limit, |l: &StockLevel| l.sku.clone()))
}

pub async fn products(
    pool: &SqlitePool,
    cursor: Option<&str>,
    limit: u32,
    include_deleted: bool,
) -> Result<Page<Product>, AppError> {
    let rows: Vec<ProductRow> = sqlx::query_as(&format!(
        "SELECT {PRODUCT_COLUMNS} FROM products
         WHERE sku > ? AND (active OR ?) ORDER BY sku LIMIT ?"
    ))
    .bind(cursor.unwrap_or(""))
    .bind(include_deleted)
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await?;
    let products = rows.into_iter().map(Product::from).collect();
    Ok(paginate(products, limit, |p: &Product| p.sku.clone()))
}

/// A product with its availability: the total and each store's level, read
/// in one transaction so the total is the sum of the breakdown.
pub async fn availability(pool: &SqlitePool, sku: &str) -> Result<ProductAvailability, AppError> {
    let mut tx = pool.begin().await?;
    let row: Option<ProductRow> = sqlx::query_as(&format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE sku = ?"
    ))
    .bind(sku)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(Refusal::ProductNotFound {
            sku: sku.to_owned(),
        }
        .into());
    };
    let stores: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT store_id, available, version FROM stock_levels WHERE sku = ? ORDER BY store_id",
    )
    .bind(sku)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let stores: Vec<StoreAvailability> = stores
        .into_iter()
        .map(|(store_id, available, version)| StoreAvailability {
            store_id,
            available,
            version: version as u64,
        })
        .collect();
    Ok(ProductAvailability {
        product: row.into(),
        // Levels are bounded, but a sum over many stores saturates rather
        // than wrap, whatever the chain's size.
        total: stores.iter().fold(0, |t, s| t.saturating_add(s.available)),
        stores,
    })
}

pub async fn stores(pool: &SqlitePool) -> Result<Vec<Store>, AppError> {
    let rows: Vec<StoreRow> =
        sqlx::query_as("SELECT store_id, name, active, created_at FROM stores ORDER BY store_id")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(Store::from).collect())
}

/// What signing a store in is checked against.
pub struct StoreSecret {
    pub secret_hash: String,
    pub active: bool,
    pub generation: u64,
}

pub async fn store_credentials(
    pool: &SqlitePool,
    store_id: &str,
) -> Result<Option<StoreSecret>, AppError> {
    let row: Option<(String, bool, i64)> = sqlx::query_as(
        "SELECT secret_hash, active, credential_generation FROM stores WHERE store_id = ?",
    )
    .bind(store_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(secret_hash, active, generation)| StoreSecret {
        secret_hash,
        active,
        generation: generation as u64,
    }))
}
