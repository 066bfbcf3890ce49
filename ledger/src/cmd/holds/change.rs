//! What happens to a hold after it is placed: extended while the customer
//! pays, committed when the goods leave, released when the order is
//! cancelled. Each is keyed: a retry replays its first answer.

use shared::{
    Change, CommitHoldRequest, ExtendHoldRequest, Hold, HoldLine, HoldState, ReleaseReason,
};

use super::{Tx, held_level, move_units, once_hold, open_hold, per_store};
use crate::{
    Refusal, WriteError,
    cmd::{Command, Wants},
    idempotency::{self, Fingerprint, KeyScope, Keyed},
};

/// Who changes a hold: the sales channel that placed it (every line), a
/// store at its counter (its own lines only), or an admin undoing what a
/// channel did (every line; only releases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldActor {
    Channel(String),
    Store(String),
    /// The admin's subject, named in the events it causes.
    Admin(String),
}

impl HoldActor {
    /// Where the actor's idempotency keys live.
    fn scope(&self) -> KeyScope<'_> {
        match self {
            HoldActor::Channel(channel) => KeyScope::Channel(channel),
            HoldActor::Store(store_id) => KeyScope::Store(store_id),
            HoldActor::Admin(admin) => KeyScope::Admin(admin),
        }
    }

    pub(super) fn may_touch(&self, hold: &Hold, line: &HoldLine) -> bool {
        match self {
            HoldActor::Channel(channel) => hold.channel == *channel,
            HoldActor::Store(store_id) => line.store_id == *store_id,
            HoldActor::Admin(_) => true,
        }
    }
}

/// The hold now ends `ttl_ms` from now, if that is within its channel's
/// `max_hold_life_seconds` of when it was placed. Only its channel
/// extends it.
#[derive(Debug, Clone)]
pub struct ExtendHold {
    channel: String,
    key: String,
    hold_id: String,
    ttl_ms: i64,
    fingerprint: Fingerprint,
}

impl ExtendHold {
    pub fn new(
        channel: String,
        key: String,
        hold_id: String,
        req: &ExtendHoldRequest,
        ttl_ms: i64,
    ) -> Result<ExtendHold, WriteError> {
        let fingerprint =
            idempotency::fingerprint_of("extend", KeyScope::Channel(&channel), &(&hold_id, req))?;
        Ok(ExtendHold {
            channel,
            key,
            hold_id,
            ttl_ms,
            fingerprint,
        })
    }
}

impl Command for ExtendHold {
    type Output = Keyed<Hold>;

    fn wants(&self, wants: &mut Wants) {
        wants
            .keys
            .push(KeyScope::Channel(&self.channel).pair(&self.key));
        wants.holds.push(self.hold_id.clone());
    }

    fn apply(&self, tx: &mut Tx<'_>) -> anyhow::Result<Keyed<Hold>> {
        let actor = HoldActor::Channel(self.channel.clone());
        once_hold(tx, actor.scope(), &self.key, &self.fingerprint, |tx| {
            let mut hold = match open_hold(tx, &self.hold_id, &actor)? {
                Ok(hold) => hold,
                Err(refusal) => return Ok(Err(refusal)),
            };
            let Some(terms) = tx.db().channel_terms(&self.channel)? else {
                return Ok(Err(Refusal::ChannelNotFound {
                    channel_id: self.channel.clone(),
                }));
            };
            let latest = hold.created_at
                + time::Duration::seconds(i64::from(terms.limits.max_hold_life_seconds));
            let expires_at = tx.now() + time::Duration::milliseconds(self.ttl_ms);
            if expires_at > latest {
                return Ok(Err(Refusal::HoldLifeExceeded {
                    max_hold_life_seconds: terms.limits.max_hold_life_seconds,
                    latest_expires_at: latest,
                }));
            }
            hold.expires_at = expires_at;
            tx.db().write_holds(&[&hold])?;
            let mut stores: Vec<&str> = hold
                .lines
                .iter()
                .filter(|line| line.state == HoldState::Active)
                .map(|line| line.store_id.as_str())
                .collect();
            stores.dedup();
            for store_id in stores {
                tx.append(Change::HoldExtended {
                    hold_id: hold.hold_id.clone(),
                    store_id: store_id.to_owned(),
                    expires_at: hold.expires_at,
                })?;
            }
            tx.holds().extended += 1;
            Ok(Ok(hold))
        })
    }
}

/// The goods left the shop: each active line the actor may touch takes
/// what the request says (all of it, without lines), on hand and held both
/// drop by that, and what is left of the line goes back to available.
#[derive(Debug, Clone)]
pub struct CommitHold {
    actor: HoldActor,
    key: String,
    hold_id: String,
    req: CommitHoldRequest,
    fingerprint: Fingerprint,
}

impl CommitHold {
    pub fn new(
        actor: HoldActor,
        key: String,
        hold_id: String,
        req: CommitHoldRequest,
    ) -> Result<CommitHold, WriteError> {
        let fingerprint = idempotency::fingerprint_of("commit", actor.scope(), &(&hold_id, &req))?;
        Ok(CommitHold {
            actor,
            key,
            hold_id,
            req,
            fingerprint,
        })
    }
}

impl Command for CommitHold {
    type Output = Keyed<Hold>;

    fn wants(&self, wants: &mut Wants) {
        wants.keys.push(self.actor.scope().pair(&self.key));
        wants.holds.push(self.hold_id.clone());
    }

    fn apply(&self, tx: &mut Tx<'_>) -> anyhow::Result<Keyed<Hold>> {
        once_hold(tx, self.actor.scope(), &self.key, &self.fingerprint, |tx| {
            commit(tx, self)
        })
    }
}

fn commit(tx: &mut Tx<'_>, cmd: &CommitHold) -> anyhow::Result<Result<Hold, Refusal>> {
    let mut hold = match open_hold(tx, &cmd.hold_id, &cmd.actor)? {
        Ok(hold) => hold,
        Err(refusal) => return Ok(Err(refusal)),
    };
    // What each touched active line hands over; checked whole before any
    // level moves, so a refused commit changes nothing.
    let mut takes = Vec::new();
    for (at, line) in hold.lines.iter().enumerate() {
        if line.state == HoldState::Active && cmd.actor.may_touch(&hold, line) {
            // Lines naming the same store and sku add up; quantities
            // and lines are bounded at the edge, so the sum cannot wrap.
            let named = cmd.req.lines.as_ref().map(|named| {
                named
                    .iter()
                    .filter(|n| n.store_id == line.store_id && n.sku == line.sku)
                    .map(|n| n.quantity)
                    .sum::<i64>()
            });
            takes.push((at, named.unwrap_or(line.quantity)));
        }
    }
    for named in cmd.req.lines.iter().flatten() {
        let Some(&(at, _)) = takes.iter().find(|(at, _)| {
            let line = &hold.lines[*at];
            line.store_id == named.store_id && line.sku == named.sku
        }) else {
            return Ok(Err(Refusal::HoldLineNotFound {
                hold_id: hold.hold_id.clone(),
                store_id: named.store_id.clone(),
                sku: named.sku.clone(),
            }));
        };
        let held = hold.lines[at].quantity;
        let taken = takes
            .iter()
            .find(|(line, _)| *line == at)
            .map_or(0, |(_, taken)| *taken);
        if taken > held {
            return Ok(Err(Refusal::CommitExceedsHeld {
                store_id: named.store_id.clone(),
                sku: named.sku.clone(),
                held,
                quantity: taken,
            }));
        }
    }
    let mut moved = Vec::with_capacity(takes.len());
    for (at, taken) in takes {
        let line = &mut hold.lines[at];
        let released = line.quantity - taken;
        let level = move_units(
            tx,
            &hold.channel,
            &line.store_id,
            &line.sku,
            released,
            -line.quantity,
        )?;
        moved.push((line.store_id.clone(), held_level(&level, taken, released)));
        line.committed = taken;
        line.state = if taken > 0 {
            HoldState::Committed
        } else {
            HoldState::Released
        };
    }
    hold.state = Hold::state_of(&hold.lines);
    tx.db().write_holds(&[&hold])?;
    let hold_id = hold.hold_id.clone();
    per_store(
        moved,
        |store_id, lines| Change::HoldCommitted {
            hold_id: hold_id.clone(),
            store_id,
            lines,
        },
        tx,
    )?;
    tx.holds().committed += 1;
    Ok(Ok(hold))
}

/// The order was cancelled: each active line the actor may touch gives its
/// units back to available.
#[derive(Debug, Clone)]
pub struct ReleaseHold {
    actor: HoldActor,
    key: String,
    hold_id: String,
    fingerprint: Fingerprint,
}

impl ReleaseHold {
    pub fn new(actor: HoldActor, key: String, hold_id: String) -> Result<ReleaseHold, WriteError> {
        let fingerprint = idempotency::fingerprint_of("release", actor.scope(), &hold_id)?;
        Ok(ReleaseHold {
            actor,
            key,
            hold_id,
            fingerprint,
        })
    }
}

impl Command for ReleaseHold {
    type Output = Keyed<Hold>;

    fn wants(&self, wants: &mut Wants) {
        wants.keys.push(self.actor.scope().pair(&self.key));
        wants.holds.push(self.hold_id.clone());
    }

    fn apply(&self, tx: &mut Tx<'_>) -> anyhow::Result<Keyed<Hold>> {
        once_hold(tx, self.actor.scope(), &self.key, &self.fingerprint, |tx| {
            let mut hold = match open_hold(tx, &self.hold_id, &self.actor)? {
                Ok(hold) => hold,
                Err(refusal) => return Ok(Err(refusal)),
            };
            let actor = self.actor.clone();
            let touched = |hold: &Hold, line: &HoldLine| {
                line.state == HoldState::Active && actor.may_touch(hold, line)
            };
            let lines: Vec<usize> = (0..hold.lines.len())
                .filter(|&at| touched(&hold, &hold.lines[at]))
                .collect();
            let moved = give_back(tx, &mut hold, &lines, HoldState::Released)?;
            tx.db().write_holds(&[&hold])?;
            let (reason, admin) = match &self.actor {
                HoldActor::Admin(admin) => (ReleaseReason::Admin, Some(admin.clone())),
                HoldActor::Channel(_) | HoldActor::Store(_) => (ReleaseReason::Released, None),
            };
            released(tx, &hold.hold_id, moved, reason, admin)?;
            tx.holds().released += 1;
            Ok(Ok(hold))
        })
    }
}

/// A `hold_released` event per store whose lines `moved`, for `reason`
/// (and the admin who released it, if one did).
pub(super) fn released(
    tx: &mut Tx<'_>,
    hold_id: &str,
    moved: Vec<(String, shared::HeldLevel)>,
    reason: ReleaseReason,
    admin: Option<String>,
) -> anyhow::Result<()> {
    per_store(
        moved,
        |store_id, lines| Change::HoldReleased {
            hold_id: hold_id.to_owned(),
            store_id,
            reason,
            admin: admin.clone(),
            lines,
        },
        tx,
    )
}

/// Gives the units of `hold`'s lines at `lines` back to available and ends
/// them in `state`; the levels moved, per store.
pub(super) fn give_back(
    tx: &mut Tx<'_>,
    hold: &mut Hold,
    lines: &[usize],
    state: HoldState,
) -> anyhow::Result<Vec<(String, shared::HeldLevel)>> {
    let mut moved = Vec::with_capacity(lines.len());
    for &at in lines {
        let line = &mut hold.lines[at];
        let (store_id, sku, units) = (&line.store_id, &line.sku, line.quantity);
        let level = move_units(tx, &hold.channel, store_id, sku, units, -units)?;
        moved.push((line.store_id.clone(), held_level(&level, line.quantity, 0)));
        line.state = state;
    }
    hold.state = Hold::state_of(&hold.lines);
    Ok(moved)
}
