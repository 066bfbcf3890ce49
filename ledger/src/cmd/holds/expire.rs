//! Expiry: central gives back what no one committed in time.

use shared::{Change, HoldState, ReleaseReason};

use super::{Tx, change::give_back, per_store};
use crate::cmd::{Command, Wants};

/// Releases, as expired, up to `limit` active holds whose time is up. A
/// bounded chunk per command keeps the writer's groups short when many
/// holds expire at once: other writes queue between the chunks. Run in the
/// writer's transaction, a hold is expired once however many centrals run
/// it at the same time.
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
        let due = tx.db().due_holds(now_ms, self.limit)?;
        let mut holds = tx.db().holds(&due)?;
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
        for hold in &mut holds {
            let lines: Vec<usize> = (0..hold.lines.len())
                .filter(|&at| hold.lines[at].state == HoldState::Active)
                .collect();
            let moved = give_back(tx, hold, &lines, HoldState::Expired)?;
            let hold_id = hold.hold_id.clone();
            per_store(
                moved,
                |store_id, lines| Change::HoldReleased {
                    hold_id: hold_id.clone(),
                    store_id,
                    reason: ReleaseReason::Expired,
                    lines,
                },
                tx,
            )?;
        }
        tx.db().write_holds(&holds.iter().collect::<Vec<_>>())?;
        let tally = tx.holds();
        tally.expired += u32::try_from(holds.len()).unwrap_or(u32::MAX);
        let lag = holds
            .iter()
            .map(|hold| now_ms - crate::clock::millis(hold.expires_at))
            .max();
        tally.expiry_lag_ms = tally.expiry_lag_ms.max(lag);
        Ok(Expired {
            holds: holds.len(),
            more: due.len() == self.limit as usize,
        })
    }
}
