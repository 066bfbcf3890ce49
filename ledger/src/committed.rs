//! What the ledger tells the layers above after each commit.
//!
//! The ledger depends on none of them: replication's tail and wake-ups, the
//! access cache and metrics each implement [`Subscriber`] and are handed to
//! the writer at start. They hear a group after it is durable and before
//! any caller in it is answered, so once a caller has its answer, every
//! reader of those caches already sees it.

use std::time::Duration;

use serde_json::value::RawValue;

/// One appended event: its offset, its store (`None`: catalogue-wide,
/// which every store follows) and its JSON exactly as stored and served.
#[derive(Debug, Clone)]
pub struct CommittedEvent {
    pub offset: u64,
    pub store_id: Option<String>,
    pub json: Box<RawValue>,
}

/// A credential's state changed: tokens are checked against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessChange {
    /// A store was created, activated or deactivated, or its secret was
    /// rotated: tokens of an older `generation` stop working.
    Store {
        store_id: String,
        active: bool,
        generation: u64,
    },
    /// A sales channel was registered, activated or deactivated.
    Channel {
        channel_id: String,
        active: bool,
        generation: u64,
    },
    /// A device was enrolled at a store, or revoked.
    Device {
        device_id: String,
        store_id: String,
        revoked: bool,
    },
}

/// How the writer's group went, for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupStats {
    /// Commands in the group.
    pub commands: usize,
    /// Commands still queued behind it.
    pub queued: usize,
    /// From the group's first statement to its commit.
    pub duration: Duration,
}

/// The hold transitions a group made, for metrics. Counted where they
/// were written: a group another central wrote (heard through the
/// follower) carries none, so a cluster's centrals never count one twice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HoldTally {
    pub placed: u32,
    pub extended: u32,
    pub committed: u32,
    pub released: u32,
    pub expired: u32,
    /// The longest an expired hold of the group outlived its `expires_at`.
    pub expiry_lag_ms: Option<i64>,
}

/// One committed group.
#[derive(Debug, Clone, Default)]
pub struct Committed {
    /// The newest offset after this group.
    pub head: u64,
    /// The events it appended, in offset order.
    pub events: Vec<CommittedEvent>,
    /// Credential changes, in the order they were made.
    pub access: Vec<AccessChange>,
    /// The earliest time (unix ms) a hold placed or extended in the group
    /// is due, for whoever expires holds.
    pub holds_due: Option<i64>,
    pub holds: HoldTally,
    /// Set when retention removed the log up to this offset.
    pub pruned_through: Option<u64>,
    pub stats: GroupStats,
}

/// Whoever wants to hear about commits. Called on the writer's thread:
/// keep it short and never block on the ledger.
pub trait Subscriber: Send + Sync {
    /// The writer has opened the ledger at `head`, its log retained after
    /// `pruned_through`; nothing was committed yet.
    fn opened(&self, head: u64, pruned_through: u64) {
        let _ = (head, pruned_through);
    }

    fn committed(&self, committed: &Committed);
}
