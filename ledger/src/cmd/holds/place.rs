//! Placing a hold: every line is held, or none is.

use std::collections::{BTreeMap, HashMap};

use shared::{
    Allocation, Change, ChannelLimits, Hold, HoldLine, HoldState, PlaceHoldRequest, Shortfall,
};

use super::{Tx, held_level, move_units, once_hold, per_store};
use crate::{
    Refusal, WriteError,
    backend::Target,
    cmd::{Command, Wants},
    idempotency::{self, Fingerprint, KeyScope, Keyed},
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
        let fingerprint = idempotency::fingerprint_of("hold", KeyScope::Channel(&channel), &req)?;
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
            .push(KeyScope::Channel(&self.channel).pair(&self.key));
        for line in &self.req.lines {
            if let Some(store_id) = &line.store_id {
                wants.targets.push((store_id.clone(), line.sku.clone()));
            }
        }
    }

    fn apply(&self, tx: &mut Tx<'_>) -> anyhow::Result<Keyed<Hold>> {
        let scope = KeyScope::Channel(&self.channel);
        once_hold(tx, scope, &self.key, &self.fingerprint, |tx| {
            place(tx, self)
        })
    }
}

/// What each level may still give this hold: what is available, less
/// what the channel's limits keep back, less what earlier lines took.
struct Room {
    /// Per (store, sku): what the channel may take, and what its limits
    /// keep from it.
    levels: HashMap<(String, String), (i64, i64)>,
    /// Units taken per (store, sku), in that order.
    taken: BTreeMap<(String, String), i64>,
    limits: ChannelLimits,
}

impl Room {
    /// Reads a level in: a channel may take what is available down to the
    /// store's safety stock, and only while the level's held units stay
    /// within the channel's share of its on hand.
    fn read(&mut self, target: &Target, safety_stock: i64) {
        let level = &target.level;
        let available = level.available.max(0);
        let on_hand = level.available + level.held;
        let by_safety = available - safety_stock;
        let by_share = self.limits.level_share(on_hand) - level.held;
        let room = by_safety.min(by_share).clamp(0, available);
        self.levels
            .entry((level.store_id.clone(), level.sku.clone()))
            .or_insert((room, available - room));
    }

    fn left(&self, store_id: &str, sku: &str) -> i64 {
        let pair = (store_id.to_owned(), sku.to_owned());
        let room = self.levels.get(&pair).map_or(0, |(room, _)| *room);
        room - self.taken.get(&pair).copied().unwrap_or(0)
    }

    fn withheld(&self, store_id: &str, sku: &str) -> i64 {
        let pair = (store_id.to_owned(), sku.to_owned());
        self.levels.get(&pair).map_or(0, |(_, withheld)| *withheld)
    }

    fn take(&mut self, store_id: &str, sku: &str, units: i64) {
        *self
            .taken
            .entry((store_id.to_owned(), sku.to_owned()))
            .or_default() += units;
    }
}

fn place(tx: &mut Tx<'_>, cmd: &PlaceHold) -> anyhow::Result<Result<Hold, Refusal>> {
    let Some(terms) = tx.db().channel_terms(&cmd.channel)? else {
        return Ok(Err(Refusal::ChannelNotFound {
            channel_id: cmd.channel.clone(),
        }));
    };
    if !terms.active {
        // Its tokens end with the deactivation; a request already past
        // them must not hold what the deactivation gives back.
        return Ok(Err(Refusal::ChannelInactive {
            channel_id: cmd.channel.clone(),
        }));
    }
    let life = time::Duration::seconds(i64::from(terms.limits.max_hold_life_seconds));
    let mut ttl = time::Duration::milliseconds(cmd.ttl_ms);
    if ttl > life {
        if cmd.req.ttl_seconds.is_some() {
            return Ok(Err(Refusal::HoldLifeExceeded {
                max_hold_life_seconds: terms.limits.max_hold_life_seconds,
                latest_expires_at: tx.now() + life,
            }));
        }
        // Central's default is only a default: the channel's life bounds it.
        ttl = life;
    }

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
        limits: terms.limits,
    };
    let mut shortfalls = Vec::new();
    for ((store_id, sku), quantity) in &collect {
        let target = tx.db().target(store_id, sku)?;
        if let Err(refusal) = sellable(&target) {
            return Ok(Err(refusal));
        }
        let store = tx.db().store_terms(store_id)?;
        // A deactivated store cannot hand the goods over.
        if store.is_some_and(|s| !s.active) {
            return Ok(Err(Refusal::StoreInactive {
                store_id: store_id.clone(),
            }));
        }
        room.read(&target, store.map_or(0, |s| s.safety_stock));
        let left = room.left(store_id, sku);
        if left < *quantity {
            shortfalls.push(Shortfall {
                sku: sku.clone(),
                store_id: Some(store_id.clone()),
                requested: *quantity,
                available: left.max(0),
                withheld: room.withheld(store_id, sku),
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
        let mut withheld = 0;
        for store_id in &stores {
            let left = room.left(store_id, sku).max(0);
            offered += left;
            withheld += room.withheld(store_id, sku);
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
                withheld,
            });
        }
    }
    if !shortfalls.is_empty() {
        return Ok(Err(Refusal::HoldUnavailable { shortfalls }));
    }
    let requested: i64 = room.taken.values().sum();
    if terms.held_units + requested > terms.limits.max_held_units {
        return Ok(Err(Refusal::ChannelHoldLimit {
            channel_id: cmd.channel.clone(),
            max_held_units: terms.limits.max_held_units,
            held_units: terms.held_units,
            requested,
        }));
    }

    let expires_at = tx.now() + ttl;
    let mut lines = Vec::with_capacity(room.taken.len());
    let mut moved = Vec::with_capacity(room.taken.len());
    for ((store_id, sku), units) in &room.taken {
        let level = move_units(tx, &cmd.channel, store_id, sku, -units, *units)?;
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
    let stores: Vec<(String, i64)> = match allocation {
        // A store named twice counts once; a deactivated one is passed
        // over, as "most available" passes it over; an unknown one is said.
        Allocation::Priority { stores } => {
            let mut seen = std::collections::HashSet::new();
            let mut open = Vec::with_capacity(stores.len());
            for store_id in stores.iter().filter(|s| seen.insert(s.as_str())) {
                match tx.db().store_terms(store_id)? {
                    None => {
                        return Ok(Err(Refusal::StoreNotFound {
                            store_id: store_id.clone(),
                        }));
                    }
                    Some(terms) if !terms.active => {}
                    Some(terms) => open.push((store_id.clone(), terms.safety_stock)),
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
            Some(_) => Ok(Vec::new()),
        });
    }
    let wants = Wants {
        keys: Vec::new(),
        targets: stores
            .iter()
            .map(|(store_id, _)| (store_id.clone(), sku.to_owned()))
            .collect(),
        holds: Vec::new(),
    };
    tx.db().prefetch(&wants)?;
    for (store_id, safety_stock) in &stores {
        let target = tx.db().target(store_id, sku)?;
        if let Err(refusal) = sellable(&target) {
            return Ok(Err(refusal));
        }
        room.read(&target, *safety_stock);
    }
    let mut stores: Vec<String> = stores.into_iter().map(|(store_id, _)| store_id).collect();
    if matches!(allocation, Allocation::MostAvailable {}) {
        stores.sort_by(|a, b| room.left(b, sku).cmp(&room.left(a, sku)).then(a.cmp(b)));
    }
    Ok(Ok(stores))
}
