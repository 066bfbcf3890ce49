//! Hands committed groups to the subscribers: each offset once, in offset
//! order, whichever central committed it.
//!
//! On one SQLite file only this central's writer commits, and each group
//! follows the last. On a shared PostgreSQL other centrals commit too: a
//! group of ours may follow offsets this central has not published yet.
//! Those are read from the database first (the writer's own connection
//! after its commit, or the follower woken by a notification), so the
//! tail, the wake-ups and the access cache always see the whole log in
//! order, and credential changes made elsewhere reach this central's
//! token checks through the log, not through its own writer.

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::value::RawValue;
use shared::{Change, ChangeKind};

use crate::{AccessChange, Committed, CommittedEvent, Subscriber};

/// An event as stored: offset, store, kind and JSON.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub offset: u64,
    pub store_id: Option<String>,
    pub kind: String,
    pub json: String,
}

/// The credential change an event makes, if it makes one.
pub(crate) fn access_change(change: &Change) -> Option<AccessChange> {
    match change {
        Change::StoreAccess {
            store_id,
            active,
            generation,
        } => Some(AccessChange::Store {
            store_id: store_id.clone(),
            active: *active,
            generation: *generation,
        }),
        Change::ChannelAccess {
            channel_id,
            active,
            generation,
        } => Some(AccessChange::Channel {
            channel_id: channel_id.clone(),
            active: *active,
            generation: *generation,
        }),
        Change::DeviceEnrolled {
            store_id,
            device_id,
        } => Some(AccessChange::Device {
            device_id: device_id.clone(),
            store_id: store_id.clone(),
            revoked: false,
        }),
        Change::DeviceRevoked {
            store_id,
            device_id,
        } => Some(AccessChange::Device {
            device_id: device_id.clone(),
            store_id: store_id.clone(),
            revoked: true,
        }),
        Change::StockAdjusted { .. }
        | Change::StockSet { .. }
        | Change::Discrepancy { .. }
        | Change::ProductCreated { .. }
        | Change::ProductUpdated { .. }
        | Change::ProductDeleted { .. }
        | Change::StoreCreated { .. }
        | Change::StoreUpdated { .. }
        | Change::HoldPlaced { .. }
        | Change::HoldExtended { .. }
        | Change::HoldCommitted { .. }
        | Change::HoldReleased { .. } => None,
    }
}

/// When a hold this event placed or extended is due, in ms.
pub(crate) fn hold_due(change: &Change) -> Option<i64> {
    match change {
        Change::HoldPlaced { expires_at, .. } | Change::HoldExtended { expires_at, .. } => {
            Some(crate::clock::millis(*expires_at))
        }
        // A deactivated channel's holds are due at once.
        Change::ChannelAccess { active: false, .. } => Some(0),
        Change::ChannelAccess { active: true, .. }
        | Change::StockAdjusted { .. }
        | Change::StockSet { .. }
        | Change::Discrepancy { .. }
        | Change::ProductCreated { .. }
        | Change::ProductUpdated { .. }
        | Change::ProductDeleted { .. }
        | Change::StoreCreated { .. }
        | Change::StoreUpdated { .. }
        | Change::StoreAccess { .. }
        | Change::DeviceEnrolled { .. }
        | Change::DeviceRevoked { .. }
        | Change::HoldCommitted { .. }
        | Change::HoldReleased { .. } => None,
    }
}

pub(crate) fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Whether publishing reads an event of `kind`: it may change a credential
/// ([`access_change`]) or when a hold is due ([`hold_due`]).
fn read_on_publish(kind: ChangeKind) -> bool {
    match kind {
        ChangeKind::StoreAccess
        | ChangeKind::ChannelAccess
        | ChangeKind::DeviceEnrolled
        | ChangeKind::DeviceRevoked
        | ChangeKind::HoldPlaced
        | ChangeKind::HoldExtended => true,
        ChangeKind::StockAdjusted
        | ChangeKind::StockSet
        | ChangeKind::Discrepancy
        | ChangeKind::ProductCreated
        | ChangeKind::ProductUpdated
        | ChangeKind::ProductDeleted
        | ChangeKind::StoreCreated
        | ChangeKind::StoreUpdated
        | ChangeKind::HoldCommitted
        | ChangeKind::HoldReleased => false,
    }
}

/// Stored events as a group to publish; only credential and hold timing
/// events are parsed.
fn group(events: Vec<StoredEvent>, head: u64) -> anyhow::Result<Committed> {
    let mut committed = Committed {
        head,
        ..Committed::default()
    };
    for event in events {
        // A kind this build does not know (written by a newer central)
        // changes nothing it keeps.
        if event.kind.parse().is_ok_and(read_on_publish) {
            let parsed: shared::Event = serde_json::from_str(&event.json)?;
            committed.access.extend(access_change(&parsed.change));
            committed.holds_due = earliest(committed.holds_due, hold_due(&parsed.change));
        }
        committed.events.push(CommittedEvent {
            offset: event.offset,
            store_id: event.store_id,
            json: RawValue::from_string(event.json)?,
        });
    }
    Ok(committed)
}

/// How far publication has got.
#[derive(Debug, Clone, Copy, Default)]
struct Published {
    /// The writer has opened the subscribers: until then nothing is
    /// published (the follower may start first, and must not publish from
    /// offset 0, nor ahead of where the subscribers' state was read).
    opened: bool,
    head: u64,
    pruned_through: u64,
}

pub(crate) struct Publisher {
    subscribers: Vec<Arc<dyn Subscriber>>,
    published: Mutex<Published>,
}

impl Publisher {
    pub(crate) fn new(subscribers: Vec<Arc<dyn Subscriber>>) -> Publisher {
        Publisher {
            subscribers,
            published: Mutex::default(),
        }
    }

    /// The ledger is open at `head`; nothing after it is published yet.
    pub(crate) fn opened(&self, head: u64, pruned_through: u64) {
        let mut published = self.lock();
        *published = Published {
            opened: true,
            head,
            pruned_through,
        };
        for subscriber in &self.subscribers {
            subscriber.opened(head, pruned_through);
        }
    }

    /// A group this central committed, continuing from `base`. What other
    /// centrals committed between the last published offset and `base` is
    /// read with `read_between` and published first.
    pub(crate) fn local(
        &self,
        committed: &Committed,
        base: u64,
        read_between: impl FnOnce(u64, u64) -> anyhow::Result<Vec<StoredEvent>>,
    ) -> anyhow::Result<()> {
        let mut published = self.lock();
        if !committed.events.is_empty() && published.head >= committed.head {
            // The follower got there first, from the database.
            return Ok(());
        }
        if published.head < base {
            let missed = group(read_between(published.head, base)?, base)?;
            self.send(&mut published, &missed);
        }
        self.send(&mut published, committed);
        Ok(())
    }

    /// What the database holds committed: publishes everything after the
    /// last published offset up to `head`, read with `read_between`.
    /// Nothing before the writer has opened the subscribers.
    pub(crate) fn follow(
        &self,
        head: u64,
        pruned_through: u64,
        read_between: impl FnOnce(u64, u64) -> anyhow::Result<Vec<StoredEvent>>,
    ) -> anyhow::Result<()> {
        let mut published = self.lock();
        if !published.opened {
            return Ok(());
        }
        let newly_pruned = pruned_through > published.pruned_through;
        if head <= published.head && !newly_pruned {
            return Ok(());
        }
        let mut committed = if head > published.head {
            group(read_between(published.head, head)?, head)?
        } else {
            Committed {
                head: published.head,
                ..Committed::default()
            }
        };
        if newly_pruned {
            committed.pruned_through = Some(pruned_through);
        }
        self.send(&mut published, &committed);
        Ok(())
    }

    /// The newest offset published.
    pub(crate) fn head(&self) -> u64 {
        self.lock().head
    }

    /// Whether the writer has opened the subscribers.
    pub(crate) fn is_opened(&self) -> bool {
        self.lock().opened
    }

    fn send(&self, published: &mut Published, committed: &Committed) {
        for subscriber in &self.subscribers {
            subscriber.committed(committed);
        }
        published.head = published.head.max(committed.head);
        if let Some(pruned) = committed.pruned_through {
            published.pruned_through = published.pruned_through.max(pruned);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Published> {
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
