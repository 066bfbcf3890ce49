//! Following central: a snapshot when the node has no offset (or central
//! pruned it: 410), then one page of changes at a time. Each is stored with
//! its offset in one transaction before memory moves, so a crash or reload
//! never applies half a page or skips one.

use std::collections::BTreeMap;

use shared::{Change, ChangesPage, Event, Snapshot, StockLevel};

use super::{Clock, Engine, EngineError, Level, PageWrite, Replica, Storage, Transport};

/// What one replication step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synced {
    Bootstrapped { offset: u64 },
    Applied { events: usize, offset: u64 },
}

impl<S: Storage, T: Transport, C: Clock> Engine<S, T, C> {
    /// One replication step: a snapshot if there is no offset, else one
    /// page of changes (long-polled up to `wait_s`).
    pub async fn sync(&self, wait_s: u32) -> Result<Synced, EngineError> {
        let Some(from) = self.state.borrow().replica.offset else {
            return self.bootstrap().await;
        };
        let store = &self.config.store_id;
        let page = self
            .authed(async |t: &T, token: &str| t.changes(token, store, from, wait_s).await)
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
        let store = &self.config.store_id;
        let snapshot = self
            .authed(async |t: &T, token: &str| t.snapshot(token, store).await)
            .await
            .inspect_err(|e| self.note_failure(e))?;
        let Snapshot {
            offset,
            products,
            levels,
            stores,
            ..
        } = snapshot;
        let next = Replica {
            offset: Some(offset),
            last_contact_ms: Some(self.clock.now_ms()),
            levels: levels
                .into_iter()
                .filter(|l| l.store_id == self.config.store_id)
                .map(
                    |StockLevel {
                         sku,
                         available,
                         version,
                         ..
                     }| (sku, Level { available, version }),
                )
                .collect(),
            products: products.into_iter().map(|p| (p.sku.clone(), p)).collect(),
            stores: stores
                .into_iter()
                .map(|s| (s.store_id.clone(), s))
                .collect(),
            intents: Vec::new(),
        };
        self.stored(self.storage.replace(&next).await)?;
        {
            let mut state = self.state.borrow_mut();
            let intents = std::mem::take(&mut state.replica.intents);
            state.replica = Replica { intents, ..next };
            state.head = state.head.max(offset);
        }
        self.heard_from_central();
        Ok(Synced::Bootstrapped { offset })
    }

    /// Applies one page fetched from `from`: what it changes and the new
    /// offset are stored in one transaction, then taken into memory.
    async fn apply(&self, from: u64, page: ChangesPage) -> Result<Synced, EngineError> {
        let mut write = PageWrite {
            offset: page.next_offset,
            contact_ms: self.clock.now_ms(),
            ..PageWrite::default()
        };
        let events = page.events.len();
        {
            let state = self.state.borrow();
            let mut latest = BTreeMap::new();
            for Event { change, .. } in page.events {
                if let Some((store_id, sku, available, version)) = change.level() {
                    if store_id != self.config.store_id {
                        continue;
                    }
                    let known = latest
                        .get(sku)
                        .map(|l: &Level| l.version)
                        .or_else(|| state.replica.version(sku));
                    if known.is_none_or(|v| version > v) {
                        latest.insert(sku.to_owned(), Level { available, version });
                    }
                    continue;
                }
                match change {
                    Change::ProductCreated { product }
                    | Change::ProductUpdated { product }
                    | Change::ProductDeleted { product } => write.products.push(product),
                    Change::StoreCreated { store } | Change::StoreUpdated { store } => {
                        write.stores.push(store)
                    }
                    _ => {}
                }
            }
            write.levels = latest.into_iter().collect();
        }
        self.stored(self.storage.apply(&write).await)?;
        {
            let mut state = self.state.borrow_mut();
            if state.replica.offset != Some(from) {
                // Another step moved the replica meanwhile; its state stands.
                return Ok(Synced::Applied {
                    events: 0,
                    offset: state.replica.offset.unwrap_or(from),
                });
            }
            for (sku, level) in &write.levels {
                state.replica.take_level(sku, *level);
            }
            for product in write.products {
                state.replica.products.insert(product.sku.clone(), product);
            }
            for store in write.stores {
                state.replica.stores.insert(store.store_id.clone(), store);
            }
            state.replica.offset = Some(write.offset);
            state.head = page.head.max(write.offset);
        }
        self.heard_from_central();
        if events > 0 {
            self.prune().await;
        }
        Ok(Synced::Applied {
            events,
            offset: write.offset,
        })
    }
}
