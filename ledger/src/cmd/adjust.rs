//! Adjustments, alone or in a batch: guarded sales and restocks, recorded
//! facts (a sale that already happened offline), and baskets that apply
//! whole or not at all. Every keyed adjustment is saved with its answer.

use shared::{
    AdjustKind, AdjustRequest, AdjustResult, BatchAdjustRequest, Change, StockLevel, validate,
};

use super::{Command, Tx, Wants, Writer};
use crate::{
    Refusal, WriteError,
    idempotency::{self, Fingerprint, KeyScope, Keyed, Outcome, Saved},
};

/// An applied adjustment, or the refusal, and whether it was a replay.
pub type Adjusted = Keyed<AdjustResult>;

#[derive(Debug, Clone)]
pub struct BatchOutcome {
    pub atomic: bool,
    pub committed: bool,
    /// Each line's key and answer, in order.
    pub items: Vec<(String, Adjusted)>,
}

/// One keyed adjustment: replayed if the key is known, else decided,
/// applied and saved with its outcome.
#[derive(Debug, Clone)]
pub struct Adjust {
    writer: Writer,
    key: String,
    req: AdjustRequest,
    fingerprint: Fingerprint,
}

impl Adjust {
    /// The device is not part of the fingerprint: the same write retried
    /// by another tab of the till, or after re-enrolment, is the same.
    pub fn new(writer: Writer, key: String, req: AdjustRequest) -> Result<Adjust, WriteError> {
        let fingerprint = idempotency::fingerprint(&writer.store_id, &req)?;
        Ok(Adjust {
            writer,
            key,
            req,
            fingerprint,
        })
    }
}

impl Command for Adjust {
    type Output = Adjusted;

    fn wants(&self, wants: &mut Wants) {
        let store_id = &self.writer.store_id;
        wants.keys.push(KeyScope::Store(store_id).pair(&self.key));
        wants.targets.push((store_id.clone(), self.req.sku.clone()));
    }

    fn apply(&self, tx: &mut Tx<'_>) -> anyhow::Result<Adjusted> {
        adjust(tx, &self.writer, &self.key, &self.req, &self.fingerprint)
    }
}

/// Many adjustments of one store, each with its own key: independent lines,
/// or (`atomic`) a basket that applies whole or not at all.
#[derive(Debug, Clone)]
pub struct Batch {
    writer: Writer,
    req: BatchAdjustRequest,
    /// One per item, in order.
    fingerprints: Vec<Fingerprint>,
}

impl Batch {
    pub fn new(writer: Writer, req: BatchAdjustRequest) -> Result<Batch, WriteError> {
        let fingerprints = req
            .items
            .iter()
            .map(|item| idempotency::fingerprint(&writer.store_id, &item.request()))
            .collect::<Result<_, _>>()?;
        Ok(Batch {
            writer,
            req,
            fingerprints,
        })
    }
}

impl Command for Batch {
    type Output = BatchOutcome;

    fn weight(&self) -> usize {
        self.req.items.len().max(1)
    }

    fn wants(&self, wants: &mut Wants) {
        let store_id = &self.writer.store_id;
        for item in &self.req.items {
            wants
                .keys
                .push(KeyScope::Store(store_id).pair(&item.idempotency_key));
            wants.targets.push((store_id.clone(), item.sku.clone()));
        }
    }

    fn apply(&self, tx: &mut Tx<'_>) -> anyhow::Result<BatchOutcome> {
        batch(tx, &self.writer, &self.req, &self.fingerprints)
    }
}

fn adjust(
    tx: &mut Tx<'_>,
    writer: &Writer,
    key: &str,
    req: &AdjustRequest,
    fingerprint: &Fingerprint,
) -> anyhow::Result<Adjusted> {
    idempotency::once(
        tx,
        KeyScope::Store(&writer.store_id),
        key,
        fingerprint,
        |tx| decide(tx, writer, key, req),
    )
}

fn batch(
    tx: &mut Tx<'_>,
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
            KeyScope::Store(store_id),
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

    tx.db().savepoint("basket")?;
    let mark = tx.mark();
    let mut outcomes = Vec::with_capacity(lines.len());
    for (item, request, _) in &lines {
        outcomes.push(decide(tx, writer, &item.idempotency_key, request)?);
    }
    let committed = outcomes.iter().all(Result::is_ok);
    if !committed {
        tx.db().rollback_to("basket")?;
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
    tx.db().release("basket")?;
    for ((item, _, fingerprint), outcome) in lines.iter().zip(outcomes) {
        idempotency::save(
            tx,
            KeyScope::Store(store_id),
            &item.idempotency_key,
            fingerprint,
            &outcome,
        )?;
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

fn level(tx: &mut Tx<'_>, store_id: &str, sku: &str) -> anyhow::Result<StockLevel> {
    Ok(tx.db().target(store_id, sku)?.level)
}

/// Decides an adjustment against the current level and applies it if it
/// stands. Refusals change nothing.
fn decide(
    tx: &mut Tx<'_>,
    writer: &Writer,
    key: &str,
    req: &AdjustRequest,
) -> anyhow::Result<Outcome> {
    let store_id = writer.store_id.as_str();
    let crate::backend::Target {
        store_exists,
        product_active,
        level,
    } = tx.db().target(store_id, &req.sku)?;
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
    let now_ms = tx.now_ms();
    tx.db().write_level(&next, existed, now_ms)?;
    let offset = tx.append(Change::StockAdjusted {
        store_id: store_id.to_owned(),
        sku: req.sku.clone(),
        delta: req.delta,
        adjust_kind: req.kind,
        available,
        held: next.held,
        version: next.version,
        idempotency_key: key.to_owned(),
        reason: req.reason.clone(),
        device_id: writer.device_id.clone(),
    })?;
    // A fact that eats into held units may have sold goods a hold counts
    // on: the discrepancy names those holds.
    let discrepancy_offset = if available < 0 && !guarded {
        Some(discrepancy(tx, &next, key)?)
    } else {
        None
    };
    Ok(Ok(AdjustResult {
        store_id: store_id.to_owned(),
        sku: req.sku.clone(),
        available,
        held: next.held,
        version: next.version,
        offset,
        discrepancy_offset,
    }))
}

/// Records that a level went below zero available, naming the active holds
/// on it when some of its units are held.
pub(crate) fn discrepancy(tx: &mut Tx<'_>, level: &StockLevel, key: &str) -> anyhow::Result<u64> {
    let holds_at_risk = if level.held > 0 {
        tx.db().holds_on(&level.store_id, &level.sku)?
    } else {
        Vec::new()
    };
    tx.append(Change::Discrepancy {
        store_id: level.store_id.clone(),
        sku: level.sku.clone(),
        available: level.available,
        held: level.held,
        version: level.version,
        idempotency_key: key.to_owned(),
        holds_at_risk,
    })
}
