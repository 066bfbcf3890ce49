//! Placing a hold: every line is held, or none is.

use std::collections::{BTreeMap, HashMap};

use shared::{Allocation, Change, Hold, HoldLine, HoldState, PlaceHoldRequest, Shortfall};

use super::{Tx, channel_scope, held_level, move_units, per_store};
use crate::{
    Refusal, WriteError,
    backend::Target,
    cmd::{Command, Wants},
    idempotency::{self, Fingerprint, Keyed},
};

/// Holds a channel's lines for `ttl_ms`. The demand is summed per level
/// before anything is checked, so a basket whose lines are each fine but
/// whose sum is not is refused whole. Lines naming a store (click and
/// collect) are taken from it first; the rest are allocated by the
/// request's policy and may be split across stores.
#[derive(Debug, Clone)]
pub struct PlaceHold {
    channel: String,
    key: String,
    /// Made before the writer sees the command, so applying a group again
    /// after a rollback makes the same hold.
    hold_id: String,
    req: PlaceHoldRequest,
    ttl_ms: i64,
    fingerprint: Fingerprint,
}

impl PlaceHold {
    /// `ttl_ms` is the hold's life: the request's, or central's default.
    pub fn new(
        channel: String,
        key: String,
        hold_id: String,
        req: PlaceHoldRequest,
        ttl_ms: i64,
    ) -> Result<PlaceHold, WriteError> {
        let fingerprint = idempotency::fingerprint_of("hold", &channel_scope(&channel), &req)?;
        Ok(PlaceHold {
            channel,
            key,
            hold_id,
            req,
            ttl_ms,
            fingerprint,
        })
    }
}

impl Command for PlaceHold {
    type Output = Keyed<Hold>;

    fn weight(&self) -> usize {
        self.req.lines.len().max(1)
    }

    fn wants(&self, wants: &mut Wants) {
        wants
            .keys
            .push((channel_scope(&self.channel), self.key.clone()));
        for line in &self.req.lines {
            if let Some(store_id) = &line.store_id {
                wants.targets.push((store_id.clone(), line.sku.clone()));
            }
        }
    }

    fn apply(&self, tx: &mut Tx<'_>) -> anyhow::Result<Keyed<Hold>> {
        let scope = channel_scope(&self.channel);
        idempotency::once(tx, &scope, &self.key, &self.fingerprint, |tx| {
            place(tx, self)
        })
    }
}

/// What is still available of each level to this hold, as lines take it.
struct Room {
    levels: HashMap<(String, String), i64>,
    /// Units taken per (store, sku), in that order.
    taken: BTreeMap<(String, String), i64>,
}

impl Room {
    fn left(&self, store_id: &str, sku: &str) -> i64 {
        let pair = (store_id.to_owned(), sku.to_owned());
        let available = self.levels.get(&pair).copied().unwrap_or(0);
        available - self.taken.get(&pair).copied().unwrap_or(0)
    }

    fn take(&mut self, store_id: &str, sku: &str, units: i64) {
        *self
            .taken
            .entry((store_id.to_owned(), sku.to_owned()))
            .or_default() += units;
    }
}

fn place(tx: &mut Tx<'_>, cmd: &PlaceHold) -> anyhow::Result<Result<Hold, Refusal>> {
    // The demand, summed: per (store, sku) for click and collect, per sku
    // for the rest. Quantities are bounded at the edge, lines too: no sum
    // can overflow.
    let mut collect: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut allocate: BTreeMap<String, i64> = BTreeMap::new();
    for line in &cmd.req.lines {
        match &line.store_id {
            Some(store_id) => {
                *collect
                    .entry((store_id.clone(), line.sku.clone()))
                    .or_default() += line.quantity;
            }
            None => *allocate.entry(line.sku.clone()).or_default() += line.quantity,
        }
    }

    let mut room = Room {
        levels: HashMap::new(),
        taken: BTreeMap::new(),
    };
    let mut shortfalls = Vec::new();
    for ((store_id, sku), quantity) in &collect {
        let target = tx.db().target(store_id, sku)?;
        if let Err(refusal) = sellable(&target) {
            return Ok(Err(refusal));
        }
        // A deactivated store cannot hand the goods over.
        if tx.db().store_active(store_id)? == Some(false) {
            return Ok(Err(Refusal::StoreInactive {
                store_id: store_id.clone(),
            }));
        }
        room.levels
            .insert((store_id.clone(), sku.clone()), target.level.available);
        let left = room.left(store_id, sku);
        if left < *quantity {
            shortfalls.push(Shortfall {
                sku: sku.clone(),
                store_id: Some(store_id.clone()),
                requested: *quantity,
                available: left.max(0),
            });
        } else {
            room.take(store_id, sku, *quantity);
        }
    }
    for (sku, quantity) in &allocate {
        let stores = match candidates(tx, &cmd.req.allocation, sku, &mut room)? {
            Ok(stores) => stores,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let mut wanted = *quantity;
        let mut offered = 0;
        for store_id in &stores {
            let left = room.left(store_id, sku).max(0);
            offered += left;
            let units = left.min(wanted);
            if units > 0 {
                room.take(store_id, sku, units);
                wanted -= units;
            }
        }
        if wanted > 0 {
            shortfalls.push(Shortfall {
                sku: sku.clone(),
                store_id: None,
                requested: *quantity,
                available: offered,
            });
        }
    }
    if !shortfalls.is_empty() {
        return Ok(Err(Refusal::HoldUnavailable { shortfalls }));
    }

    let expires_at = tx.now() + time::Duration::milliseconds(cmd.ttl_ms);
    let mut lines = Vec::with_capacity(room.taken.len());
    let mut moved = Vec::with_capacity(room.taken.len());
    for ((store_id, sku), units) in &room.taken {
        let level = move_units(tx, store_id, sku, -units, *units)?;
        moved.push((store_id.clone(), held_level(&level, *units, 0)));
        lines.push(HoldLine {
            store_id: store_id.clone(),
            sku: sku.clone(),
            quantity: *units,
            committed: 0,
            state: HoldState::Active,
        });
    }
    let hold = Hold {
        hold_id: cmd.hold_id.clone(),
        channel: cmd.channel.clone(),
        reference: cmd.req.reference.clone(),
        state: HoldState::Active,
        created_at: tx.now(),
        expires_at,
        lines,
    };
    tx.db().write_holds(&[&hold])?;
    per_store(
        moved,
        |store_id, lines| Change::HoldPlaced {
            hold_id: hold.hold_id.clone(),
            store_id,
            channel: hold.channel.clone(),
            reference: hold.reference.clone(),
            expires_at,
            lines,
        },
        tx,
    )?;
    tx.holds().placed += 1;
    Ok(Ok(hold))
}

/// A level a hold may take from: its store exists and its product is
/// still sold.
fn sellable(target: &Target) -> Result<(), Refusal> {
    let level = &target.level;
    if !target.store_exists {
        return Err(Refusal::StoreNotFound {
            store_id: level.store_id.clone(),
        });
    }
    match target.product_active {
        None => Err(Refusal::ProductNotFound {
            sku: level.sku.clone(),
        }),
        Some(false) => Err(Refusal::ProductInactive {
            sku: level.sku.clone(),
        }),
        Some(true) => Ok(()),
    }
}

/// The stores an allocated sku is taken from, in the order the policy
/// takes them: a priority list as given, or the most available first
/// (ties by store id). Each store's level is read into `room`.
fn candidates(
    tx: &mut Tx<'_>,
    allocation: &Allocation,
    sku: &str,
    room: &mut Room,
) -> anyhow::Result<Result<Vec<String>, Refusal>> {
    let mut stores: Vec<String> = match allocation {
        // A store named twice counts once; a deactivated one is passed
        // over, as "most available" passes it over; an unknown one is said.
        Allocation::Priority { stores } => {
            let mut seen = std::collections::HashSet::new();
            let mut open = Vec::with_capacity(stores.len());
            for store_id in stores.iter().filter(|s| seen.insert(s.as_str())) {
                match tx.db().store_active(store_id)? {
                    None => {
                        return Ok(Err(Refusal::StoreNotFound {
                            store_id: store_id.clone(),
                        }));
                    }
                    Some(false) => {}
                    Some(true) => open.push(store_id.clone()),
                }
            }
            open
        }
        Allocation::MostAvailable {} => tx.db().stores_stocking(sku)?,
    };
    if stores.is_empty() {
        // Nowhere to take it from; still, an unknown or deleted product is
        // said so, not "none available".
        return Ok(match tx.db().product(sku)? {
            None => Err(Refusal::ProductNotFound {
                sku: sku.to_owned(),
            }),
            Some(product) if !product.active => Err(Refusal::ProductInactive {
                sku: sku.to_owned(),
            }),
            Some(_) => Ok(stores),
        });
    }
    let wants = Wants {
        keys: Vec::new(),
        targets: stores
            .iter()
            .map(|store_id| (store_id.clone(), sku.to_owned()))
            .collect(),
        holds: Vec::new(),
    };
    tx.db().prefetch(&wants)?;
    for store_id in &stores {
        let target = tx.db().target(store_id, sku)?;
        if let Err(refusal) = sellable(&target) {
            return Ok(Err(refusal));
        }
        room.levels
            .entry((store_id.clone(), sku.to_owned()))
            .or_insert(target.level.available);
    }
    if matches!(allocation, Allocation::MostAvailable {}) {
        stores.sort_by(|a, b| room.left(b, sku).cmp(&room.left(a, sku)).then(a.cmp(b)));
    }
    Ok(Ok(stores))
}
