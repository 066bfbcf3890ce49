//! Following central: a snapshot when the node has no offset (or central
//! pruned it: 410), then one page of changes at a time. Each is stored with
//! its offset in one transaction, so a crash or reload never applies half a
//! page or skips one. If the device refuses to store, memory follows anyway
//! (the till's figures stay live) and storage gets the whole replica once
//! it takes writes again; likewise when it lost everything (the database
//! deleted under the node). A snapshot never moves a level back.

use std::collections::{BTreeMap, HashMap};

use shared::{
    AdjustResult, Change, ChangesPage, Event, Snapshot, StockLevel,
    api::{self, Call},
};

use super::{
    Clock, Engine, EngineError, IntentStatus, Level, PageWrite, Pickup, PickupLine, Replica, State,
    Storage, StorageError, Transport, session::id, unix_ms,
};

/// Keeps, over a snapshot's levels, the newer ones the node already has: a
/// snapshot taken before an answer the node got meanwhile (a drain while it
/// was on its way) is older than that answer, and a level's version never
/// moves back. The intent stays applied with its version, so it does not
/// count on top of the level that has it.
fn keep_newer(levels: &mut BTreeMap<String, Level>, known: &BTreeMap<String, Level>) {
    for (sku, level) in levels.iter_mut() {
        if let Some(known) = known.get(sku)
            && known.version > level.version
        {
            *level = *known;
        }
    }
}

/// What a page's hold events do to the store's pick-ups: placed and
/// extended ones (whole, as they now stand), and the holds whose lines here
/// ended.
struct PickupChanges<'r> {
    known: &'r BTreeMap<String, Pickup>,
    changed: BTreeMap<String, Pickup>,
    ended: Vec<String>,
}

impl PickupChanges<'_> {
    fn follow(&mut self, change: Change, store: &str) {
        match change {
            Change::HoldPlaced {
                hold_id,
                store_id,
                channel,
                reference,
                expires_at,
                lines,
            } => {
                if store_id != store {
                    return;
                }
                let pickup = Pickup {
                    hold_id: hold_id.clone(),
                    channel,
                    reference,
                    expires_at_ms: unix_ms(expires_at),
                    lines: lines
                        .into_iter()
                        .map(|l| PickupLine {
                            sku: l.sku,
                            quantity: l.quantity,
                        })
                        .collect(),
                };
                self.ended.retain(|h| *h != hold_id);
                self.changed.insert(hold_id, pickup);
            }
            Change::HoldExtended {
                hold_id,
                store_id,
                expires_at,
            } => {
                if store_id != store {
                    return;
                }
                let known = self.changed.get(&hold_id).or(self.known.get(&hold_id));
                if let Some(mut pickup) = known.cloned() {
                    pickup.expires_at_ms = unix_ms(expires_at);
                    self.changed.insert(hold_id, pickup);
                }
            }
            // Every line of the store ends with either: a store's commit or
            // release takes all its lines, a channel's commit ends the
            // lines it does not name.
            Change::HoldCommitted {
                hold_id, store_id, ..
            }
            | Change::HoldReleased {
                hold_id, store_id, ..
            } => {
                if store_id == store {
                    self.changed.remove(&hold_id);
                    self.ended.push(hold_id);
                }
            }
            // Not a hold's: the page's other events are applied elsewhere.
            Change::StockAdjusted { .. }
            | Change::StockSet { .. }
            | Change::Discrepancy { .. }
            | Change::ProductCreated { .. }
            | Change::ProductUpdated { .. }
            | Change::ProductDeleted { .. }
            | Change::StoreCreated { .. }
            | Change::StoreUpdated { .. }
            | Change::StoreAccess { .. }
            | Change::ChannelAccess { .. }
            | Change::DeviceEnrolled { .. }
            | Change::DeviceRevoked { .. } => {}
        }
    }

    fn done(self) -> (Vec<Pickup>, Vec<String>) {
        (self.changed.into_values().collect(), self.ended)
    }
}

/// The running replication step: when it ends, the next may start, and
/// whoever waits for it is told.
struct Step<'e, S: Storage, T: Transport, C: Clock>(&'e Engine<S, T, C>);

impl<S: Storage, T: Transport, C: Clock> Drop for Step<'_, S, T, C> {
    fn drop(&mut self) {
        self.0.syncing.set(false);
        for waiter in self.0.sync_waiters.take() {
            let _ = waiter.send(());
        }
    }
}

/// What one replication step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synced {
    Bootstrapped {
        offset: u64,
    },
    Applied {
        events: usize,
        offset: u64,
    },
    /// Another step was running; this one did nothing. Wait for it with
    /// [`Engine::until_synced`] before asking again.
    Busy,
}

impl<S: Storage, T: Transport, C: Clock> Engine<S, T, C> {
    /// One replication step: a snapshot if there is no offset, else one
    /// page of changes (long-polled up to `wait_s`). One at a time.
    pub async fn sync(&self, wait_s: u32) -> Result<Synced, EngineError> {
        if self.syncing.replace(true) {
            return Ok(Synced::Busy);
        }
        // Freed however the step ends, dropped mid-way included.
        let _step = Step(self);
        let synced = self.step(wait_s).await;
        // Answered or failed: the till knows whether central answers.
        self.state.borrow_mut().contact_tried = true;
        synced
    }

    /// Resolves once no replication step is running. A caller told `Busy`
    /// waits here: asking again at once would spin without ever letting the
    /// running step's request finish (in a tab, that froze the page).
    pub async fn until_synced(&self) {
        if !self.syncing.get() {
            return;
        }
        let (done, ended) = futures::channel::oneshot::channel();
        self.sync_waiters.borrow_mut().push(done);
        let _ = ended.await;
    }

    async fn step(&self, wait_s: u32) -> Result<Synced, EngineError> {
        let Some(from) = self.state.borrow().replica.offset else {
            return self.bootstrap().await;
        };
        let query = api::ChangesQuery {
            from,
            wait: Some(f64::from(wait_s)),
            store: Some(id(&self.config.store_id)?),
            limit: None,
        };
        let page = self
            .authed(Call::<api::GetChanges> {
                params: &(),
                query: &query,
                key: None,
                body: &(),
            })
            .await;
        match page {
            Ok(page) => self.apply(from, page).await,
            Err(e) if e.status() == Some(410) => self.bootstrap().await,
            Err(e) => {
                self.note_failure(&e);
                Err(e.into())
            }
        }
    }

    async fn bootstrap(&self) -> Result<Synced, EngineError> {
        let query = api::SnapshotQuery {
            store: Some(id(&self.config.store_id)?),
        };
        let snapshot = self
            .authed(Call::<api::GetSnapshot> {
                params: &(),
                query: &query,
                key: None,
                body: &(),
            })
            .await
            .inspect_err(|e| self.note_failure(e))?;
        self.heard_from_central();
        let Snapshot {
            offset,
            products,
            levels,
            stores,
            currency,
            holds,
            ..
        } = snapshot;
        let mut next = Replica {
            offset: Some(offset),
            base: Some(offset),
            last_contact_ms: Some(self.clock.now_ms()),
            levels: levels
                .into_iter()
                .filter(|l| l.store_id == self.config.store_id)
                .map(
                    |StockLevel {
                         sku,
                         available,
                         held,
                         version,
                         ..
                     }| {
                        (
                            sku,
                            Level {
                                available,
                                held,
                                version,
                            },
                        )
                    },
                )
                .collect(),
            products: products.into_iter().map(|p| (p.sku.clone(), p)).collect(),
            stores: stores
                .into_iter()
                .map(|s| (s.store_id.clone(), s))
                .collect(),
            currency: Some(currency),
            pickups: holds
                .iter()
                .filter_map(|hold| Pickup::of(hold, &self.config.store_id))
                .map(|p| (p.hold_id.clone(), p))
                .collect(),
            intents: Vec::new(),
            pickup_intents: Vec::new(),
        };
        self.restore_lost().await;
        keep_newer(&mut next.levels, &self.state.borrow().replica.levels);
        let stored = self.storage.replace(&next).await;
        {
            let mut state = self.state.borrow_mut();
            let intents = std::mem::take(&mut state.replica.intents);
            let pickup_intents = std::mem::take(&mut state.replica.pickup_intents);
            // Answers may have come in while the snapshot was stored.
            keep_newer(&mut next.levels, &state.replica.levels);
            let pickups = std::mem::take(&mut next.pickups);
            state.replica = Replica {
                intents,
                pickup_intents,
                ..next
            };
            state.replica.take_pickups(pickups.into_values(), &[]);
            state.search_keys = None;
            state.head = state.head.max(offset);
            state.unstored = stored.is_err();
        }
        // A refusal shows in the status; the replica still follows in memory.
        let _ = self.stored(stored);
        Ok(Synced::Bootstrapped { offset })
    }

    /// Applies one page fetched from `from`: what it changes and the new
    /// offset are stored in one transaction, then taken into memory.
    async fn apply(&self, from: u64, page: ChangesPage) -> Result<Synced, EngineError> {
        self.heard_from_central();
        let events = page.events.len();
        let write = {
            let state = self.state.borrow();
            if state.replica.offset != Some(from) {
                // A snapshot moved the replica meanwhile; its state stands.
                return Ok(Synced::Busy);
            }
            self.page_write(&state.replica, page.events, page.next_offset)
        };
        self.restore_lost().await;
        let unstored = self.state.borrow().unstored;
        let stored = if unstored {
            Ok(())
        } else {
            self.storage.apply(&write).await
        };
        {
            let mut state = self.state.borrow_mut();
            let State {
                replica,
                search_keys,
                ..
            } = &mut *state;
            for (sku, level) in &write.levels {
                replica.take_level(sku, *level);
            }
            for product in write.products {
                if replica.take_product(product) {
                    *search_keys = None;
                }
            }
            for store in write.stores {
                replica.stores.insert(store.store_id.clone(), store);
            }
            replica.take_intents(write.intents);
            replica.take_pickups(write.pickups, &write.pickups_ended);
            replica.offset = Some(write.offset);
            replica.last_contact_ms = Some(write.contact_ms);
            state.head = page.head.max(write.offset);
            state.unstored |= stored.is_err();
        }
        // A refusal shows in the status; the replica still follows in memory.
        let _ = self.stored(stored);
        if unstored {
            let _ = self.store_whole().await;
        }
        if events > 0 {
            self.prune().await;
        }
        Ok(Synced::Applied {
            events,
            offset: write.offset,
        })
    }

    /// What a page does to the replica: the newest level per sku of this
    /// store, catalogue and store changes, and this till's unanswered
    /// intents the page shows applied (so they stop counting on top of the
    /// level that now has them, even if their answer never comes).
    fn page_write(&self, replica: &Replica, events: Vec<Event>, offset: u64) -> PageWrite {
        let mut write = PageWrite {
            offset,
            contact_ms: self.clock.now_ms(),
            ..PageWrite::default()
        };
        let unanswered: HashMap<&str, _> = replica
            .intents
            .iter()
            .filter(|i| i.is_unanswered())
            .map(|i| (i.id.as_str(), i))
            .collect();
        let mut latest = BTreeMap::new();
        let mut pickups = PickupChanges {
            known: &replica.pickups,
            changed: BTreeMap::new(),
            ended: Vec::new(),
        };
        for Event { offset, change, .. } in events {
            for figures in change.levels() {
                if figures.store_id != self.config.store_id {
                    continue;
                }
                let known = latest
                    .get(figures.sku)
                    .map(|l: &Level| l.version)
                    .or_else(|| replica.version(figures.sku));
                if known.is_none_or(|v| figures.version > v) {
                    let level = Level {
                        available: figures.available,
                        held: figures.held,
                        version: figures.version,
                    };
                    latest.insert(figures.sku.to_owned(), level);
                }
            }
            match change {
                Change::StockAdjusted {
                    store_id,
                    sku,
                    available,
                    held,
                    version,
                    idempotency_key,
                    ..
                } => {
                    if let Some(intent) = unanswered.get(idempotency_key.as_str()) {
                        let mut answered = (*intent).clone();
                        answered.status = IntentStatus::Applied {
                            result: AdjustResult {
                                store_id,
                                sku,
                                available,
                                held,
                                version,
                                offset,
                                discrepancy_offset: None,
                            },
                        };
                        answered.last_error = None;
                        write.intents.push(answered);
                    }
                }
                Change::ProductCreated { product }
                | Change::ProductUpdated { product }
                | Change::ProductDeleted { product } => write.products.push(product),
                Change::StoreCreated { store } | Change::StoreUpdated { store } => {
                    write.stores.push(store)
                }
                hold @ (Change::HoldPlaced { .. }
                | Change::HoldExtended { .. }
                | Change::HoldCommitted { .. }
                | Change::HoldReleased { .. }) => pickups.follow(hold, &self.config.store_id),
                // A count's and a discrepancy's levels are taken above;
                // credentials and devices are central's to follow.
                Change::StockSet { .. }
                | Change::Discrepancy { .. }
                | Change::StoreAccess { .. }
                | Change::ChannelAccess { .. }
                | Change::DeviceEnrolled { .. }
                | Change::DeviceRevoked { .. } => {}
            }
        }
        write.levels = latest.into_iter().collect();
        (write.pickups, write.pickups_ended) = pickups.done();
        write
    }

    /// Stores the whole replica after the device refused pages: storage is
    /// consistent again (as a snapshot at the current offset, with the
    /// intents' answers) once this succeeds.
    async fn store_whole(&self) -> Result<(), StorageError> {
        let replica = self.state.borrow().replica.clone();
        let replica = Replica {
            base: replica.offset,
            ..replica
        };
        let stored = match self.storage.replace(&replica).await {
            Ok(()) => self.storage.put_intents(&replica.intents, &[], None).await,
            refused => refused,
        };
        let stored = match stored {
            Ok(()) => {
                let pickups = &replica.pickup_intents;
                self.storage.put_pickup_intents(pickups, &[]).await
            }
            refused => refused,
        };
        if let Err(e) = stored {
            self.state.borrow_mut().storage_error = Some(e.to_string());
            return Err(e);
        }
        let mut state = self.state.borrow_mut();
        state.unstored = false;
        state.storage_error = None;
        state.replica.base = replica.base;
        Ok(())
    }
}
