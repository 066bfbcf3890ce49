//! Applying stock writes inside the writer's transaction.

use shared::{
    AdjustKind, AdjustRequest, AdjustResult, BatchAdjustRequest, Change, SetStockRequest,
    SetStockResult, StockLevel,
};

use super::{
    Adjusted, BatchOutcome, Refusal,
    idempotency::{self, Outcome, Saved},
    timestamp,
    writer::Tx,
};

/// A single keyed adjustment: replayed if the key is known, else decided,
/// applied and saved with its outcome.
pub(super) async fn adjust(
    tx: &mut Tx<'_>,
    store_id: &str,
    key: &str,
    req: &AdjustRequest,
) -> anyhow::Result<Adjusted> {
    let fingerprint = idempotency::fingerprint(store_id, req)?;
    match idempotency::lookup(tx, key, &fingerprint).await? {
        Some(Saved::Replay(outcome)) => Ok(Adjusted {
            outcome,
            replayed: true,
        }),
        Some(Saved::Conflict) => Ok(Adjusted {
            outcome: Err(Refusal::IdempotencyKeyReused),
            replayed: false,
        }),
        None => {
            let outcome = decide(tx, store_id, key, req).await?;
            idempotency::save(tx, key, &fingerprint, &outcome).await?;
            Ok(Adjusted {
                outcome,
                replayed: false,
            })
        }
    }
}

pub(super) async fn batch(
    tx: &mut Tx<'_>,
    store_id: &str,
    req: BatchAdjustRequest,
) -> anyhow::Result<BatchOutcome> {
    let mut items = Vec::with_capacity(req.items.len());
    if !req.atomic {
        // Independent lines: exactly as if each had been sent alone.
        for item in &req.items {
            let adjusted = adjust(tx, store_id, &item.idempotency_key, &item.request()).await?;
            items.push((item.idempotency_key.clone(), adjusted));
        }
        return Ok(BatchOutcome {
            atomic: false,
            committed: true,
            items,
        });
    }

    // A basket: its keys are saved together, so either all are known (a
    // replay of the whole basket) or none is.
    let mut lines = Vec::with_capacity(req.items.len());
    let mut known = Vec::with_capacity(req.items.len());
    for item in &req.items {
        let request = item.request();
        let fingerprint = idempotency::fingerprint(store_id, &request)?;
        known.push(idempotency::lookup(tx, &item.idempotency_key, &fingerprint).await?);
        lines.push((item, request, fingerprint));
    }
    if known.iter().all(|k| matches!(k, Some(Saved::Replay(_)))) {
        for ((item, ..), saved) in lines.iter().zip(known) {
            if let Some(Saved::Replay(outcome)) = saved {
                items.push((
                    item.idempotency_key.clone(),
                    Adjusted {
                        outcome,
                        replayed: true,
                    },
                ));
            }
        }
        let committed = items.iter().all(|(_, a)| a.outcome.is_ok());
        return Ok(BatchOutcome {
            atomic: true,
            committed,
            items,
        });
    }
    if known.iter().any(Option::is_some) {
        // Part of the basket was seen before with other lines: refuse it all
        // and save nothing, so the earlier answers stay as they were.
        for ((item, ..), saved) in lines.iter().zip(known) {
            let outcome = Err(match saved {
                Some(_) => Refusal::IdempotencyKeyReused,
                None => Refusal::BatchAborted,
            });
            items.push((
                item.idempotency_key.clone(),
                Adjusted {
                    outcome,
                    replayed: false,
                },
            ));
        }
        return Ok(BatchOutcome {
            atomic: true,
            committed: false,
            items,
        });
    }

    tx.exec("SAVEPOINT basket").await?;
    let mark = tx.mark();
    let mut outcomes = Vec::with_capacity(lines.len());
    for (item, request, _) in &lines {
        outcomes.push(decide(tx, store_id, &item.idempotency_key, request).await?);
    }
    let committed = outcomes.iter().all(Result::is_ok);
    if !committed {
        tx.exec("ROLLBACK TO basket").await?;
        tx.reset(mark);
        for outcome in &mut outcomes {
            match outcome {
                Ok(_) => *outcome = Err(Refusal::BatchAborted),
                // Report the level as it stands, not as earlier lines of
                // the rolled-back basket had left it.
                Err(refusal) => {
                    if let Some(current) = refusal.current_mut() {
                        *current =
                            level(tx, &current.store_id.clone(), &current.sku.clone()).await?;
                    }
                }
            }
        }
    }
    tx.exec("RELEASE basket").await?;
    for ((item, _, fingerprint), outcome) in lines.iter().zip(outcomes) {
        idempotency::save(tx, &item.idempotency_key, fingerprint, &outcome).await?;
        items.push((
            item.idempotency_key.clone(),
            Adjusted {
                outcome,
                replayed: false,
            },
        ));
    }
    Ok(BatchOutcome {
        atomic: true,
        committed,
        items,
    })
}

/// What the writer knows about a (store, sku) before changing it.
struct Target {
    store_exists: bool,
    product_active: Option<bool>,
    level: StockLevel,
}

async fn target(tx: &mut Tx<'_>, store_id: &str, sku: &str) -> anyhow::Result<Target> {
    let (store_exists, product_active, available, version, updated_at): (
        bool,
        Option<bool>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    ) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM stores WHERE store_id = ?1),
                (SELECT active FROM products WHERE sku = ?2),
                l.available, l.version, l.updated_at
         FROM (SELECT 1) LEFT JOIN stock_levels l ON l.store_id = ?1 AND l.sku = ?2",
    )
    .bind(store_id)
    .bind(sku)
    .fetch_one(&mut *tx.conn)
    .await?;
    Ok(Target {
        store_exists,
        product_active,
        level: StockLevel {
            store_id: store_id.to_owned(),
            sku: sku.to_owned(),
            available: available.unwrap_or(0),
            version: version.unwrap_or(0) as u64,
            updated_at: updated_at.map(timestamp),
        },
    })
}

async fn level(tx: &mut Tx<'_>, store_id: &str, sku: &str) -> anyhow::Result<StockLevel> {
    Ok(target(tx, store_id, sku).await?.level)
}

async fn write_level(tx: &mut Tx<'_>, level: &StockLevel) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO stock_levels (store_id, sku, available, version, updated_at)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (store_id, sku) DO UPDATE
         SET available = excluded.available, version = excluded.version,
             updated_at = excluded.updated_at",
    )
    .bind(&level.store_id)
    .bind(&level.sku)
    .bind(level.available)
    .bind(level.version as i64)
    .bind(tx.now_ms)
    .execute(&mut *tx.conn)
    .await?;
    Ok(())
}

/// Decides an adjustment against the current level and applies it if it
/// stands. Refusals change nothing.
async fn decide(
    tx: &mut Tx<'_>,
    store_id: &str,
    key: &str,
    req: &AdjustRequest,
) -> anyhow::Result<Outcome> {
    let Target {
        store_exists,
        product_active,
        level,
    } = target(tx, store_id, &req.sku).await?;
    if !store_exists {
        return Ok(Err(Refusal::StoreNotFound {
            store_id: store_id.to_owned(),
        }));
    }
    let guarded = req.kind == AdjustKind::Guarded;
    match product_active {
        None => {
            return Ok(Err(Refusal::ProductNotFound {
                sku: req.sku.clone(),
            }));
        }
        // A sale that already happened stands even if the product was
        // deleted meanwhile; a request for a deleted product does not.
        Some(false) if guarded => {
            return Ok(Err(Refusal::ProductInactive {
                sku: req.sku.clone(),
            }));
        }
        Some(_) => {}
    }
    if let Some(expected) = req.expected_version
        && expected != level.version
    {
        return Ok(Err(Refusal::VersionConflict {
            current: level,
            expected,
        }));
    }
    let available = level.available + req.delta;
    // Only a decrement can be refused: a restock of a level that a recorded
    // fact took below zero moves it back towards zero and must pass.
    if guarded && req.delta < 0 && available < 0 {
        return Ok(Err(Refusal::InsufficientStock {
            current: level,
            delta: req.delta,
        }));
    }
    let next = StockLevel {
        available,
        version: level.version + 1,
        updated_at: Some(tx.now()),
        ..level
    };
    write_level(tx, &next).await?;
    let offset = tx
        .append(Change::StockAdjusted {
            store_id: store_id.to_owned(),
            sku: req.sku.clone(),
            delta: req.delta,
            adjust_kind: req.kind,
            available,
            version: next.version,
            idempotency_key: key.to_owned(),
            reason: req.reason.clone(),
        })
        .await?;
    let discrepancy_offset = if available < 0 && !guarded {
        Some(
            tx.append(Change::Discrepancy {
                store_id: store_id.to_owned(),
                sku: req.sku.clone(),
                available,
                version: next.version,
                idempotency_key: key.to_owned(),
            })
            .await?,
        )
    } else {
        None
    };
    Ok(Ok(AdjustResult {
        store_id: store_id.to_owned(),
        sku: req.sku.clone(),
        available,
        version: next.version,
        offset,
        discrepancy_offset,
    }))
}

/// A stocktake: the level becomes the counted figure.
pub(super) async fn set_stock(
    tx: &mut Tx<'_>,
    store_id: &str,
    sku: &str,
    req: &SetStockRequest,
) -> anyhow::Result<Result<SetStockResult, Refusal>> {
    let Target {
        store_exists,
        product_active,
        level,
    } = target(tx, store_id, sku).await?;
    if !store_exists {
        return Ok(Err(Refusal::StoreNotFound {
            store_id: store_id.to_owned(),
        }));
    }
    if product_active.is_none() {
        return Ok(Err(Refusal::ProductNotFound {
            sku: sku.to_owned(),
        }));
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
    let next = StockLevel {
        available: req.available,
        version: level.version + 1,
        updated_at: Some(tx.now()),
        ..level
    };
    write_level(tx, &next).await?;
    let offset = tx
        .append(Change::StockSet {
            store_id: store_id.to_owned(),
            sku: sku.to_owned(),
            previous,
            available: next.available,
            version: next.version,
            reason: req.reason.clone(),
        })
        .await?;
    Ok(Ok(SetStockResult {
        level: next,
        offset,
    }))
}
