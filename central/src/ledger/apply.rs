//! Applying stock writes inside the writer's transaction.

use rusqlite::params;
use shared::{
    AdjustKind, AdjustRequest, AdjustResult, BatchAdjustRequest, Change, SetStockRequest,
    SetStockResult, StockLevel, validate,
};

use super::{
    Adjusted, BatchOutcome, Refusal, Writer,
    idempotency::{self, Fingerprint, Outcome, Saved},
    timestamp,
    writer::Tx,
};

/// A single keyed adjustment: replayed if the key is known, else decided,
/// applied and saved with its outcome.
pub(super) fn adjust(
    tx: &mut Tx<'_, '_>,
    writer: &Writer,
    key: &str,
    req: &AdjustRequest,
    fingerprint: &Fingerprint,
) -> anyhow::Result<Adjusted> {
    let store_id = writer.store_id.as_str();
    match idempotency::lookup(tx, store_id, key, fingerprint)? {
        Some(Saved::Replay(outcome)) => Ok(Adjusted {
            outcome,
            replayed: true,
        }),
        Some(Saved::Conflict) => Ok(Adjusted {
            outcome: Err(Refusal::IdempotencyKeyReused),
            replayed: false,
        }),
        None => {
            let outcome = decide(tx, writer, key, req)?;
            idempotency::save(tx, store_id, key, fingerprint, &outcome)?;
            Ok(Adjusted {
                outcome,
                replayed: false,
            })
        }
    }
}

pub(super) fn batch(
    tx: &mut Tx<'_, '_>,
    writer: &Writer,
    req: &BatchAdjustRequest,
    fingerprints: &[Fingerprint],
) -> anyhow::Result<BatchOutcome> {
    let store_id = writer.store_id.as_str();
    anyhow::ensure!(
        fingerprints.len() == req.items.len(),
        "a fingerprint per batch item"
    );
    let mut items = Vec::with_capacity(req.items.len());
    if !req.atomic {
        // Independent lines: exactly as if each had been sent alone.
        for (item, fingerprint) in req.items.iter().zip(fingerprints) {
            let key = &item.idempotency_key;
            let adjusted = adjust(tx, writer, key, &item.request(), fingerprint)?;
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
    for (item, fingerprint) in req.items.iter().zip(fingerprints) {
        let request = item.request();
        known.push(idempotency::lookup(
            tx,
            store_id,
            &item.idempotency_key,
            fingerprint,
        )?);
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

    tx.exec("SAVEPOINT basket")?;
    let mark = tx.mark();
    let mut outcomes = Vec::with_capacity(lines.len());
    for (item, request, _) in &lines {
        outcomes.push(decide(tx, writer, &item.idempotency_key, request)?);
    }
    let committed = outcomes.iter().all(Result::is_ok);
    if !committed {
        tx.exec("ROLLBACK TO basket")?;
        tx.reset(mark);
        for outcome in &mut outcomes {
            match outcome {
                Ok(_) => *outcome = Err(Refusal::BatchAborted),
                // Report the level as it stands, not as earlier lines of
                // the rolled-back basket had left it.
                Err(refusal) => {
                    if let Some(current) = refusal.current_mut() {
                        *current = level(tx, &current.store_id.clone(), &current.sku.clone())?;
                    }
                }
            }
        }
    }
    tx.exec("RELEASE basket")?;
    for ((item, _, fingerprint), outcome) in lines.iter().zip(outcomes) {
        idempotency::save(tx, store_id, &item.idempotency_key, fingerprint, &outcome)?;
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

/// A level's row proves its store exists (foreign key), so the stores
/// table is only searched when there is no row: one index search less for
/// nearly every adjustment.
pub(super) const TARGET: &str = "SELECT
        CASE WHEN l.version IS NULL
            THEN EXISTS (SELECT 1 FROM stores WHERE store_id = ?1) ELSE 1 END,
        (SELECT active FROM products WHERE sku = ?2),
        l.available, l.version, l.updated_at
    FROM (SELECT 1) LEFT JOIN stock_levels l ON l.store_id = ?1 AND l.sku = ?2";

pub(super) const UPDATE_LEVEL: &str =
    "UPDATE stock_levels SET available = ?3, version = ?4, updated_at = ?5
    WHERE store_id = ?1 AND sku = ?2";

/// What the writer knows about a (store, sku) before changing it.
struct Target {
    store_exists: bool,
    product_active: Option<bool>,
    level: StockLevel,
}

fn target(tx: &Tx<'_, '_>, store_id: &str, sku: &str) -> anyhow::Result<Target> {
    let (store_exists, product_active, available, version, updated_at) = tx
        .prepared
        .target
        .borrow_mut()
        .query_row(params![store_id, sku], |r| {
            Ok((
                r.get::<_, bool>(0)?,
                r.get::<_, Option<bool>>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<i64>>(4)?,
            ))
        })?;
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

fn level(tx: &mut Tx<'_, '_>, store_id: &str, sku: &str) -> anyhow::Result<StockLevel> {
    Ok(target(tx, store_id, sku)?.level)
}

/// Writes a level's new state; `existed` says whether it was read from a
/// row (a plain UPDATE costs less than an UPSERT's failed insert first).
fn write_level(tx: &Tx<'_, '_>, level: &StockLevel, existed: bool) -> anyhow::Result<()> {
    let values = params![
        level.store_id,
        level.sku,
        level.available,
        level.version as i64,
        tx.now_ms
    ];
    if existed {
        tx.prepared.update_level.borrow_mut().execute(values)?;
    } else {
        tx.conn
            .prepare_cached(
                "INSERT INTO stock_levels (store_id, sku, available, version, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(values)?;
    }
    Ok(())
}

/// Decides an adjustment against the current level and applies it if it
/// stands. Refusals change nothing.
fn decide(
    tx: &mut Tx<'_, '_>,
    writer: &Writer,
    key: &str,
    req: &AdjustRequest,
) -> anyhow::Result<Outcome> {
    let store_id = writer.store_id.as_str();
    let Target {
        store_exists,
        product_active,
        level,
    } = target(tx, store_id, &req.sku)?;
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
    // Checked: not even a recorded fact may take a level past the bound,
    // so no level, and no sum of a chain's levels, can wrap.
    let Some(available) = validate::level_after(level.available, req.delta) else {
        return Ok(Err(Refusal::LevelOutOfRange {
            current: level,
            delta: req.delta,
        }));
    };
    // Only a decrement can be refused: a restock of a level that a recorded
    // fact took below zero moves it back towards zero and must pass.
    if guarded && req.delta < 0 && available < 0 {
        return Ok(Err(Refusal::InsufficientStock {
            current: level,
            delta: req.delta,
        }));
    }
    // A level read from a row has its time; one never written has none.
    let existed = level.updated_at.is_some();
    let next = StockLevel {
        available,
        version: level.version + 1,
        updated_at: Some(tx.now()),
        ..level
    };
    write_level(tx, &next, existed)?;
    let offset = tx.append(Change::StockAdjusted {
        store_id: store_id.to_owned(),
        sku: req.sku.clone(),
        delta: req.delta,
        adjust_kind: req.kind,
        available,
        version: next.version,
        idempotency_key: key.to_owned(),
        reason: req.reason.clone(),
        device_id: writer.device_id.clone(),
    })?;
    let discrepancy_offset = if available < 0 && !guarded {
        Some(tx.append(Change::Discrepancy {
            store_id: store_id.to_owned(),
            sku: req.sku.clone(),
            available,
            version: next.version,
            idempotency_key: key.to_owned(),
        })?)
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
pub(super) fn set_stock(
    tx: &mut Tx<'_, '_>,
    store_id: &str,
    sku: &str,
    req: &SetStockRequest,
) -> anyhow::Result<Result<SetStockResult, Refusal>> {
    let Target {
        store_exists,
        product_active,
        level,
    } = target(tx, store_id, sku)?;
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
    let existed = level.updated_at.is_some();
    let next = StockLevel {
        available: req.available,
        version: level.version + 1,
        updated_at: Some(tx.now()),
        ..level
    };
    write_level(tx, &next, existed)?;
    let offset = tx.append(Change::StockSet {
        store_id: store_id.to_owned(),
        sku: sku.to_owned(),
        previous,
        available: next.available,
        version: next.version,
        reason: req.reason.clone(),
    })?;
    Ok(Ok(SetStockResult {
        level: next,
        offset,
    }))
}
