//! The catalogue: products are created, renamed or repriced, and deleted
//! (kept, inactive, so their levels and history stay readable).

use shared::{Change, NewProduct, Product, ProductUpdate};

use super::{Command, Tx};
use crate::Refusal;

type Answer = anyhow::Result<Result<Product, Refusal>>;

/// A new product, active at version 1.
#[derive(Debug, Clone)]
pub struct CreateProduct(pub NewProduct);

impl Command for CreateProduct {
    type Output = Result<Product, Refusal>;

    fn apply(&self, tx: &mut Tx<'_>) -> Answer {
        let new = &self.0;
        if tx.db().product(&new.sku)?.is_some() {
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
        write(tx, &created)?;
        tx.append(Change::ProductCreated {
            product: created.clone(),
        })?;
        Ok(Ok(created))
    }
}

/// A new name or price; with `expected_version`, only if it did not move.
#[derive(Debug, Clone)]
pub struct UpdateProduct {
    pub sku: String,
    pub update: ProductUpdate,
}

impl Command for UpdateProduct {
    type Output = Result<Product, Refusal>;

    fn apply(&self, tx: &mut Tx<'_>) -> Answer {
        let UpdateProduct { sku, update } = self;
        let Some(current) = tx.db().product(sku)? else {
            return Ok(Err(Refusal::ProductNotFound { sku: sku.clone() }));
        };
        if !current.active {
            return Ok(Err(Refusal::ProductInactive { sku: sku.clone() }));
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
        write(tx, &updated)?;
        tx.append(Change::ProductUpdated {
            product: updated.clone(),
        })?;
        Ok(Ok(updated))
    }
}

/// Deletes a product: it stays, inactive. Deleting a deleted product
/// changes nothing and answers it as it is.
#[derive(Debug, Clone)]
pub struct DeleteProduct(pub String);

impl Command for DeleteProduct {
    type Output = Result<Product, Refusal>;

    fn apply(&self, tx: &mut Tx<'_>) -> Answer {
        let sku = &self.0;
        let Some(current) = tx.db().product(sku)? else {
            return Ok(Err(Refusal::ProductNotFound { sku: sku.clone() }));
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
        write(tx, &deleted)?;
        tx.append(Change::ProductDeleted {
            product: deleted.clone(),
        })?;
        Ok(Ok(deleted))
    }
}

fn write(tx: &mut Tx<'_>, product: &Product) -> anyhow::Result<()> {
    let now_ms = tx.now_ms();
    tx.db().write_product(product, now_ms)
}
