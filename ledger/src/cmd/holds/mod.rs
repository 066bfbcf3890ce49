//! Holds: a sales channel sets units aside while its customer pays
//! ([`PlaceHold`]), keeps them longer ([`ExtendHold`]), hands them over
//! ([`CommitHold`], perhaps fewer than held) or gives them back
//! ([`ReleaseHold`]); central gives back what nobody committed in time
//! ([`ExpireHolds`]).
//!
//! Invariants, kept by every command here and by no other:
//! - a level's `held` is the sum of its active hold lines' quantities, and
//!   a channel's `held_units` the sum of its active holds' (both move in
//!   [`move_units`], together);
//! - `available` = on hand − held, and a hold only takes what is available,
//!   so holds never oversell what tills may sell, nor tills what is held;
//! - a hold's time is up at `expires_at`, to the millisecond, whether or
//!   not expiry has run yet: nothing extends or commits it after that.
//!
//! Every transition is an event per store it touches, carrying the levels
//! as they stand after it, so a store's replica follows its own holds.

mod change;
mod expire;
mod place;

pub use change::{CommitHold, ExtendHold, HoldActor, ReleaseHold};
pub use expire::{ExpireHolds, Expired};
pub use place::PlaceHold;

use serde::{Deserialize, Serialize};
use shared::{HeldLevel, Hold, HoldState, StockLevel};

use super::Tx;
use crate::{
    Refusal,
    idempotency::{self, Fingerprint, KeyScope, Keyed, Saved},
};

/// What a hold transition's key keeps of its answer: the hold's id and
/// state, not its lines — one hold may have a line per store and sku, and
/// a key is kept for a day. A replay reads the hold back as it stands.
/// (Answers saved whole before this read as this too.)
#[derive(Debug, Serialize, Deserialize)]
struct SavedHold {
    hold_id: String,
    state: HoldState,
}

/// Runs a keyed hold transition once, as [`idempotency::once`] does, but
/// keeps only [`SavedHold`]: a replay answers the hold as it stands now.
fn once_hold(
    tx: &mut Tx<'_>,
    scope: KeyScope<'_>,
    key: &str,
    fingerprint: &Fingerprint,
    decide: impl FnOnce(&mut Tx<'_>) -> anyhow::Result<Result<Hold, Refusal>>,
) -> anyhow::Result<Keyed<Hold>> {
    let outcome = match idempotency::lookup::<SavedHold>(tx, scope, key, fingerprint)? {
        Some(Saved::Replay(Ok(saved))) => tx
            .db()
            .holds(std::slice::from_ref(&saved.hold_id))?
            .pop()
            .ok_or(Refusal::HoldNotFound {
                hold_id: saved.hold_id,
            }),
        Some(Saved::Replay(Err(refusal))) => Err(refusal),
        Some(Saved::Conflict) => {
            return Ok(Keyed {
                outcome: Err(Refusal::IdempotencyKeyReused),
                replayed: false,
            });
        }
        None => {
            let outcome = decide(tx)?;
            let kept = match &outcome {
                Ok(hold) => Ok(SavedHold {
                    hold_id: hold.hold_id.clone(),
                    state: hold.state,
                }),
                Err(refusal) => Err(refusal.clone()),
            };
            idempotency::save(tx, scope, key, fingerprint, &kept)?;
            return Ok(Keyed {
                outcome,
                replayed: false,
            });
        }
    };
    Ok(Keyed {
        outcome,
        replayed: true,
    })
}

/// Moves a level's figures by `available` and `held` units (one write,
/// one new version) and the held units of the hold's `channel` by `held`;
/// returns the level as it now stands.
fn move_units(
    tx: &mut Tx<'_>,
    channel: &str,
    store_id: &str,
    sku: &str,
    available: i64,
    held: i64,
) -> anyhow::Result<StockLevel> {
    tx.db().add_channel_held(channel, held)?;
    let level = tx.db().target(store_id, sku)?.level;
    let existed = level.updated_at.is_some();
    let next = StockLevel {
        available: shared::validate::level_after(level.available, available)
            .ok_or_else(|| anyhow::anyhow!("a hold took {store_id}/{sku} out of range"))?,
        held: level
            .held
            .checked_add(held)
            .filter(|held| *held >= 0)
            .ok_or_else(|| anyhow::anyhow!("held units of {store_id}/{sku} out of range"))?,
        version: level.version + 1,
        updated_at: Some(tx.now()),
        ..level
    };
    let now_ms = tx.now_ms();
    tx.db().write_level(&next, existed, now_ms)?;
    Ok(next)
}

fn held_level(level: &StockLevel, quantity: i64, released: i64) -> HeldLevel {
    HeldLevel {
        sku: level.sku.clone(),
        quantity,
        released,
        available: level.available,
        held: level.held,
        version: level.version,
    }
}

/// The hold a transition is for, if it may still change: it exists, it is
/// the caller's, its time is not up, and it has active lines the caller
/// may touch.
fn open_hold(
    tx: &mut Tx<'_>,
    hold_id: &str,
    actor: &HoldActor,
) -> anyhow::Result<Result<Hold, Refusal>> {
    let not_found = || Refusal::HoldNotFound {
        hold_id: hold_id.to_owned(),
    };
    let Some(hold) = tx.db().holds(&[hold_id.to_owned()])?.pop() else {
        return Ok(Err(not_found()));
    };
    if !hold.lines.iter().any(|line| actor.may_touch(&hold, line)) {
        // Another channel's hold, or one without lines at this store, is
        // none of the caller's business: it is not said to exist.
        return Ok(Err(not_found()));
    }
    let ended = |state| Refusal::HoldEnded {
        hold_id: hold_id.to_owned(),
        state,
    };
    if hold.state == HoldState::Active && tx.now() >= hold.expires_at {
        return Ok(Err(ended(HoldState::Expired)));
    }
    let touched: Vec<_> = hold
        .lines
        .iter()
        .filter(|line| actor.may_touch(&hold, line))
        .collect();
    if !touched.iter().any(|line| line.state == HoldState::Active) {
        // How the caller's own lines ended: a store whose line was
        // released hears "released" even if another store's was committed.
        let state = Hold::state_of(&touched.into_iter().cloned().collect::<Vec<_>>());
        return Ok(Err(ended(state)));
    }
    Ok(Ok(hold))
}

/// Appends one event per store, in store order, from the (store, level)
/// pairs a transition moved.
fn per_store(
    moved: Vec<(String, HeldLevel)>,
    mut event: impl FnMut(String, Vec<HeldLevel>) -> shared::Change,
    tx: &mut Tx<'_>,
) -> anyhow::Result<()> {
    let mut stores: std::collections::BTreeMap<String, Vec<HeldLevel>> = Default::default();
    for (store_id, level) in moved {
        stores.entry(store_id).or_default().push(level);
    }
    for (store_id, lines) in stores {
        tx.append(event(store_id, lines))?;
    }
    Ok(())
}
