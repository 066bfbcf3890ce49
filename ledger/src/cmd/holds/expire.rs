//! Expiry: central gives back what no one committed in time.

use shared::{HoldState, ReleaseReason};

use super::{
    Tx,
    change::{give_back, released},
};
use crate::cmd::{Command, Wants};

/// Gives back up to `limit` hold lines' units of the active holds due:
/// those whose time is up (as expired), then those of deactivated channels
/// (as released, `channel_deactivated`). A bounded chunk per command keeps
/// the writer's groups short when many holds are due at once: other writes
/// queue between the chunks. It is sized by lines, what giving back
/// writes, not by holds: one hold may have a line per store and sku. Run
/// in the writer's transaction, a hold is given back once however many
/// centrals run it at the same time.
#[derive(Debug, Clone, Copy)]
pub struct ExpireHolds {
    pub limit: u32,
}

/// What an expiry pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    pub holds: usize,
    /// The chunk was full: more may be due.
    pub more: bool,
}

impl Command for ExpireHolds {
    type Output = Expired;

    fn weight(&self) -> usize {
        self.limit.max(1) as usize
    }

    fn apply(&self, tx: &mut Tx<'_>) -> anyhow::Result<Expired> {
        let now_ms = tx.now_ms();
        let due = tx.db().due_holds(now_ms, self.limit.max(1))?;
        // Whole holds while their lines fit the chunk; the first always
        // goes, however wide, or a hold wider than a chunk would never.
        let mut lines = 0u32;
        let taken: Vec<String> = due
            .iter()
            .enumerate()
            .take_while(|(at, hold)| {
                lines = lines.saturating_add(hold.lines);
                *at == 0 || lines <= self.limit
            })
            .map(|(_, hold)| hold.hold_id.clone())
            .collect();
        let more = taken.len() < due.len() || due.len() == self.limit.max(1) as usize;
        let mut holds = tx.db().holds(&taken)?;
        let wants = Wants {
            keys: Vec::new(),
            targets: holds
                .iter()
                .flat_map(|hold| hold.lines.iter())
                .filter(|line| line.state == HoldState::Active)
                .map(|line| (line.store_id.clone(), line.sku.clone()))
                .collect(),
            holds: Vec::new(),
        };
        tx.db().prefetch(&wants)?;
        let mut expired = 0u32;
        let mut lag = None;
        for hold in &mut holds {
            let lines: Vec<usize> = (0..hold.lines.len())
                .filter(|&at| hold.lines[at].state == HoldState::Active)
                .collect();
            let due_ms = crate::clock::millis(hold.expires_at);
            let (state, reason) = if due_ms <= now_ms {
                expired += 1;
                lag = lag.max(Some(now_ms - due_ms));
                (HoldState::Expired, ReleaseReason::Expired)
            } else {
                (HoldState::Released, ReleaseReason::ChannelDeactivated)
            };
            let moved = give_back(tx, hold, &lines, state)?;
            released(tx, &hold.hold_id, moved, reason, None)?;
        }
        tx.db().write_holds(&holds.iter().collect::<Vec<_>>())?;
        let tally = tx.holds();
        tally.expired += expired;
        tally.released += u32::try_from(holds.len()).unwrap_or(u32::MAX) - expired;
        tally.expiry_lag_ms = tally.expiry_lag_ms.max(lag);
        Ok(Expired {
            holds: holds.len(),
            more,
        })
    }
}
