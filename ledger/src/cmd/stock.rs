//! Stocktakes: an admin sets a level to the counted figure.

use shared::{Change, SetStockRequest, SetStockResult, StockLevel};

use super::{Command, Tx, Wants};
use crate::{Refusal, backend::Target};

/// Sets what `store_id`'s shelf holds of `sku` to the count `req.on_hand`;
/// with `expected_version`, only if the level has not moved. Held units
/// are part of the count: `available` becomes the count less them, and a
/// count below the held units is a discrepancy naming the holds at risk.
#[derive(Debug, Clone)]
pub struct SetStock {
    pub store_id: String,
    pub sku: String,
    pub req: SetStockRequest,
}

impl Command for SetStock {
    type Output = Result<SetStockResult, Refusal>;

    fn wants(&self, wants: &mut Wants) {
        wants
            .targets
            .push((self.store_id.clone(), self.sku.clone()));
    }

    fn apply(&self, tx: &mut Tx<'_>) -> anyhow::Result<Self::Output> {
        let SetStock { store_id, sku, req } = self;
        let Target {
            store_exists,
            product_active,
            level,
        } = tx.db().target(store_id, sku)?;
        if !store_exists {
            return Ok(Err(Refusal::StoreNotFound {
                store_id: store_id.clone(),
            }));
        }
        if product_active.is_none() {
            return Ok(Err(Refusal::ProductNotFound { sku: sku.clone() }));
        }
        if let Some(expected) = req.expected_version
            && expected != level.version
        {
            return Ok(Err(Refusal::VersionConflict {
                current: level,
                expected,
            }));
        }
        let previous = level.available;
        let existed = level.updated_at.is_some();
        let next = StockLevel {
            available: req.on_hand - level.held,
            version: level.version + 1,
            updated_at: Some(tx.now()),
            ..level
        };
        let now_ms = tx.now_ms();
        tx.db().write_level(&next, existed, now_ms)?;
        let offset = tx.append(Change::StockSet {
            store_id: store_id.clone(),
            sku: sku.clone(),
            previous,
            available: next.available,
            held: next.held,
            version: next.version,
            reason: req.reason.clone(),
        })?;
        if next.available < 0 {
            super::adjust::discrepancy(tx, &next, "")?;
        }
        Ok(Ok(SetStockResult {
            level: next,
            offset,
        }))
    }
}
