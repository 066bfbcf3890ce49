//! Retention: old events and old saved answers are removed in bounded
//! chunks, so a prune never holds the writer long.

use std::time::Duration;

use shared::PruneReport;

use super::{Command, Tx};
use crate::clock;

/// What a prune may remove.
#[derive(Debug, Clone, Copy)]
pub struct PrunePolicy {
    /// Events appended before this (ms since the epoch) may go…
    pub events_before_ms: i64,
    /// …and so may any but the newest this many.
    pub keep_events: u64,
    /// Saved answers made before this may go.
    pub keys_before_ms: i64,
    /// Most events, and most keys, one prune removes; it runs again at
    /// once until caught up.
    pub chunk: u64,
}

impl PrunePolicy {
    /// Retention counted back from now.
    pub fn counted_back(
        events_for: Duration,
        keep_events: u64,
        keys_for: Duration,
        chunk: u64,
    ) -> Self {
        let now = clock::now_ms();
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        PrunePolicy {
            events_before_ms: now.saturating_sub(ms(events_for)),
            keep_events,
            keys_before_ms: now.saturating_sub(ms(keys_for)),
            chunk,
        }
    }
}

/// One retention pass.
#[derive(Debug, Clone, Copy)]
pub struct Prune(pub PrunePolicy);

impl Command for Prune {
    type Output = PruneReport;

    fn apply(&self, tx: &mut Tx<'_>) -> anyhow::Result<PruneReport> {
        let policy = self.0;
        let chunk = policy.chunk.max(1);
        // The group's own head: writes before this one in the group count.
        let head = tx.head();
        let positions = tx.db().positions()?;
        let by_count = head - policy.keep_events.min(head);
        let by_age = tx.db().newest_event_before(policy.events_before_ms)?;
        let target = by_count
            .max(by_age.unwrap_or(0))
            .min(positions.pruned_through.saturating_add(chunk));
        let mut events_pruned = 0;
        if target > positions.pruned_through {
            events_pruned = tx.db().prune_events_through(target)?;
            tx.note_pruned(target);
        }
        let keys_pruned = tx.db().prune_keys_before(policy.keys_before_ms, chunk)?;
        Ok(PruneReport {
            events_pruned,
            keys_pruned,
            oldest_offset: target.max(positions.pruned_through),
            caught_up: events_pruned < chunk && keys_pruned < chunk,
        })
    }
}
