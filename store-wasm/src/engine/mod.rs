//! The store node's sync engine: plain Rust over three ports (storage,
//! transport, clock), so it is tested natively; the browser bindings drive it.
//!
//! - Reads (`view`, `list`, `status`) answer from memory, never the network.
//! - A sale or restock is stored as an intent first, then forwarded with its
//!   id as the idempotency key, retried with the same key until central
//!   answers. A refusal is final for that intent and never blocks the rest.
//! - Replication: a snapshot when there is no offset (or central says 410),
//!   then one page of changes at a time, each written with its offset in one
//!   storage transaction.

mod backoff;
mod model;
mod ports;
#[cfg(test)]
mod tests;

use std::cell::{Cell, RefCell};

use shared::{
    AdjustKind, AdjustRequest, Change, ChangesPage, ErrorCode, Event, Problem, Snapshot, StockLevel,
};

pub use backoff::Backoff;
pub use model::{Intent, IntentStatus, Level, Replica, StockView};
pub use ports::{Clock, PageWrite, Storage, StorageError, Transport, TransportError};

#[derive(Debug, Clone)]
pub struct Config {
    pub store_id: String,
    pub client_secret: String,
    /// Central not heard from for this long: reads say `stale`.
    pub stale_after_ms: i64,
    /// Tokens are renewed this long before they expire.
    pub refresh_margin_ms: i64,
}

impl Config {
    pub fn new(store_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Config {
            store_id: store_id.into(),
            client_secret: client_secret.into(),
            stale_after_ms: 30_000,
            refresh_margin_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// Central cannot be reached now; the work stays queued.
    Offline(String),
    /// Central refused a request of the engine's own (not an intent).
    Refused(Box<Problem>),
    /// The device refused to store (e.g. quota exceeded).
    Storage(StorageError),
    /// The till asked for something that cannot be done.
    Invalid(String),
}

impl From<StorageError> for EngineError {
    fn from(e: StorageError) -> Self {
        EngineError::Storage(e)
    }
}

impl From<TransportError> for EngineError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Network(reason) => EngineError::Offline(reason),
            TransportError::Problem(p) if p.status >= 500 || p.status == 429 => {
                EngineError::Offline(format!("central answered {}", p.status))
            }
            TransportError::Problem(p) => EngineError::Refused(p),
        }
    }
}

/// What one replication step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synced {
    Bootstrapped { offset: u64 },
    Applied { events: usize, offset: u64 },
}

/// What forwarding the queue did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flushed {
    pub applied: usize,
    pub rejected: usize,
    /// Still pending: central could not be reached (the round stopped).
    pub pending: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub online: bool,
    pub stale: bool,
    pub offset: Option<u64>,
    /// Events behind central's head, as of the last page.
    pub lag: u64,
    pub queued: usize,
    pub last_contact_ms: Option<i64>,
}

/// What the engine knows; borrowed only between awaits, never across one,
/// so reads answer at once even while a long-poll is in flight.
struct State {
    replica: Replica,
    token: Option<(String, i64)>,
    online: bool,
    head: u64,
    backoff: Backoff,
}

pub struct Engine<S, T, C> {
    storage: S,
    transport: T,
    clock: C,
    config: Config,
    state: RefCell<State>,
    /// One forwarding round at a time: two would send the same intent twice
    /// (harmless with its key, but wasteful).
    flushing: Cell<bool>,
}

impl<S: Storage, T: Transport, C: Clock> Engine<S, T, C> {
    pub async fn open(
        storage: S,
        transport: T,
        clock: C,
        config: Config,
    ) -> Result<Self, EngineError> {
        let replica = storage.load().await?;
        Ok(Engine {
            storage,
            transport,
            clock,
            config,
            state: RefCell::new(State {
                head: replica.offset.unwrap_or(0),
                replica,
                token: None,
                online: false,
                backoff: Backoff::default(),
            }),
            flushing: Cell::new(false),
        })
    }

    /// Re-reads the replica from storage: how a tab that does not sync
    /// follows the one that does.
    pub async fn reload(&self) -> Result<(), EngineError> {
        let replica = self.storage.load().await?;
        let mut state = self.state.borrow_mut();
        state.head = state.head.max(replica.offset.unwrap_or(0));
        state.replica = replica;
        Ok(())
    }

    pub fn replica(&self) -> Replica {
        self.state.borrow().replica.clone()
    }

    pub fn intents(&self) -> Vec<Intent> {
        self.state.borrow().replica.intents.clone()
    }

    fn age_ms(&self, state: &State) -> Option<i64> {
        state
            .replica
            .last_contact_ms
            .map(|at| (self.clock.now_ms() - at).max(0))
    }

    fn is_stale(&self, state: &State) -> bool {
        self.age_ms(state)
            .is_none_or(|age| age > self.config.stale_after_ms)
    }

    pub fn status(&self) -> Status {
        let state = self.state.borrow();
        Status {
            online: state.online,
            stale: self.is_stale(&state),
            offset: state.replica.offset,
            lag: state.head.saturating_sub(state.replica.offset.unwrap_or(0)),
            queued: state
                .replica
                .intents
                .iter()
                .filter(|i| i.is_pending())
                .count(),
            last_contact_ms: state.replica.last_contact_ms,
        }
    }

    /// What the till shows for `sku`: central's figure plus this till's
    /// intents central's figure does not include yet.
    pub fn view(&self, sku: &str) -> Option<StockView> {
        self.view_in(&self.state.borrow(), sku)
    }

    fn view_in(&self, state: &State, sku: &str) -> Option<StockView> {
        let product = state.replica.products.get(sku);
        let level = state.replica.levels.get(sku);
        if product.is_none() && level.is_none() {
            return None;
        }
        let counted: Vec<_> = state
            .replica
            .intents
            .iter()
            .filter(|i| i.sku == sku && i.counts_above(level))
            .collect();
        let central = level.map_or(0, |l| l.available);
        let pending_delta = counted.iter().map(|i| i.delta).sum();
        Some(StockView {
            sku: sku.to_owned(),
            name: product.map(|p| p.name.clone()),
            price_cents: product.map(|p| p.price_cents),
            central_available: central,
            pending_delta,
            shown: central + pending_delta,
            pending_intents: counted.len(),
            stale: self.is_stale(state),
            age_ms: self.age_ms(state),
        })
    }

    /// Active products whose sku or name contains `filter` (any case).
    pub fn list(&self, filter: &str) -> Vec<StockView> {
        let filter = filter.to_lowercase();
        let state = self.state.borrow();
        state
            .replica
            .products
            .values()
            .filter(|p| p.active)
            .filter(|p| {
                p.sku.to_lowercase().contains(&filter) || p.name.to_lowercase().contains(&filter)
            })
            .filter_map(|p| self.view_in(&state, &p.sku))
            .collect()
    }

    /// A sale. Offline it is a recorded fact (the goods left the shop);
    /// online it is guarded, so central can refuse what the shelf lacks.
    pub async fn sell(&self, sku: &str, quantity: i64, id: String) -> Result<Intent, EngineError> {
        positive(quantity)?;
        let kind = if self.state.borrow().online {
            AdjustKind::Guarded
        } else {
            AdjustKind::Recorded
        };
        self.record(sku, -quantity, kind, id).await
    }

    /// A restock: always guarded (it cannot go below zero anyway).
    pub async fn restock(
        &self,
        sku: &str,
        quantity: i64,
        id: String,
    ) -> Result<Intent, EngineError> {
        positive(quantity)?;
        self.record(sku, quantity, AdjustKind::Guarded, id).await
    }

    async fn record(
        &self,
        sku: &str,
        delta: i64,
        kind: AdjustKind,
        id: String,
    ) -> Result<Intent, EngineError> {
        if delta == 0 || delta.abs() > shared::validate::MAX_QUANTITY {
            return Err(EngineError::Invalid("the quantity must be positive".into()));
        }
        if !self.state.borrow().replica.products.contains_key(sku) {
            return Err(EngineError::Invalid(format!("unknown sku {sku}")));
        }
        let intent = Intent {
            id,
            sku: sku.to_owned(),
            delta,
            kind,
            created_at_ms: self.clock.now_ms(),
            attempts: 0,
            last_error: None,
            status: IntentStatus::Pending,
        };
        // Stored before anything else: an acknowledged intent is never lost.
        self.storage.put_intent(&intent, None, None).await?;
        self.state.borrow_mut().replica.intents.push(intent.clone());
        Ok(intent)
    }

    /// A valid token, signing in when there is none or it is about to expire.
    async fn token(&self) -> Result<String, TransportError> {
        let now = self.clock.now_ms();
        if let Some((token, expires)) = &self.state.borrow().token
            && now + self.config.refresh_margin_ms < *expires
        {
            return Ok(token.clone());
        }
        let answer = self
            .transport
            .sign_in(&self.config.store_id, &self.config.client_secret)
            .await?;
        let expires = now + answer.expires_in as i64 * 1000;
        self.state.borrow_mut().token = Some((answer.access_token.clone(), expires));
        Ok(answer.access_token)
    }

    /// Runs a call with a token; a 401 means one fresh sign-in and one more
    /// try, never a loop.
    async fn authed<R>(
        &self,
        call: impl AsyncFn(&T, &str) -> Result<R, TransportError>,
    ) -> Result<R, TransportError> {
        let token = self.token().await?;
        match call(&self.transport, &token).await {
            Err(e) if e.status() == Some(401) => {
                self.state.borrow_mut().token = None;
                let token = self.token().await?;
                call(&self.transport, &token).await
            }
            other => other,
        }
    }

    fn heard_from_central(&self) {
        let mut state = self.state.borrow_mut();
        state.online = true;
        state.replica.last_contact_ms = Some(self.clock.now_ms());
        state.backoff.reset();
    }

    fn note_failure(&self, error: &TransportError) {
        if error.is_transient() {
            self.state.borrow_mut().online = false;
        }
    }

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
            intents: Vec::new(),
        };
        self.storage.replace(&next).await?;
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
            let mut latest = std::collections::BTreeMap::new();
            for Event { change, .. } in page.events {
                if let Some((store_id, sku, available, version)) = change.level() {
                    if store_id != self.config.store_id {
                        continue;
                    }
                    let known = latest
                        .get(sku)
                        .or_else(|| state.replica.levels.get(sku))
                        .map(|l: &Level| l.version);
                    if known.is_none_or(|v| version > v) {
                        latest.insert(sku.to_owned(), Level { available, version });
                    }
                    continue;
                }
                match change {
                    Change::ProductCreated { product }
                    | Change::ProductUpdated { product }
                    | Change::ProductDeleted { product } => write.products.push(product),
                    _ => {}
                }
            }
            write.levels = latest.into_iter().collect();
        }
        self.storage.apply(&write).await?;
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
                let newer = state
                    .replica
                    .levels
                    .get(sku)
                    .is_none_or(|l| level.version > l.version);
                if newer {
                    state.replica.levels.insert(sku.clone(), *level);
                }
            }
            for product in write.products {
                state.replica.products.insert(product.sku.clone(), product);
            }
            state.replica.offset = Some(write.offset);
            state.head = page.head.max(write.offset);
        }
        self.heard_from_central();
        Ok(Synced::Applied {
            events,
            offset: write.offset,
        })
    }

    /// Forwards pending intents in order. A refusal is final for its intent
    /// and the round goes on; no answer stops the round (the rest would fail
    /// too) and everything stays pending, to be sent again with its key.
    pub async fn flush(&self) -> Result<Flushed, EngineError> {
        if self.flushing.replace(true) {
            return Ok(Flushed::default());
        }
        let result = self.flush_round().await;
        self.flushing.set(false);
        result
    }

    async fn flush_round(&self) -> Result<Flushed, EngineError> {
        let mut flushed = Flushed::default();
        let store = &self.config.store_id;
        let mut after = 0;
        loop {
            let next = {
                let state = self.state.borrow();
                state.replica.intents[after.min(state.replica.intents.len())..]
                    .iter()
                    .position(Intent::is_pending)
                    .map(|i| (after + i, state.replica.intents[after + i].clone()))
            };
            let Some((index, mut intent)) = next else {
                break;
            };
            after = index + 1;
            let request = AdjustRequest {
                sku: intent.sku.clone(),
                delta: intent.delta,
                kind: intent.kind,
                expected_version: None,
                reason: None,
            };
            let key = intent.id.clone();
            let answer = self
                .authed(async |t: &T, token: &str| t.adjust(token, store, &key, &request).await)
                .await;
            intent.attempts += 1;
            let mut level = None;
            let transient = match answer {
                Ok(result) => {
                    level = Some(Level {
                        available: result.available,
                        version: result.version,
                    });
                    intent.status = IntentStatus::Applied { result };
                    intent.last_error = None;
                    flushed.applied += 1;
                    false
                }
                Err(e) if e.is_transient() => {
                    intent.last_error = Some(match &e {
                        TransportError::Network(reason) => reason.clone(),
                        TransportError::Problem(p) => format!("central answered {}", p.status),
                    });
                    self.note_failure(&e);
                    true
                }
                Err(TransportError::Problem(problem)) => {
                    intent.last_error = problem.detail.clone();
                    intent.status = IntentStatus::Rejected { problem: *problem };
                    flushed.rejected += 1;
                    false
                }
                Err(TransportError::Network(_)) => unreachable!("a network error is transient"),
            };
            // Only a level newer than the replica's is worth storing.
            let level = level.filter(|new| {
                let state = self.state.borrow();
                state
                    .replica
                    .levels
                    .get(&intent.sku)
                    .is_none_or(|l| new.version > l.version)
            });
            let contact = (!transient).then(|| self.clock.now_ms());
            self.storage
                .put_intent(&intent, level.map(|l| (intent.sku.as_str(), l)), contact)
                .await?;
            {
                let mut state = self.state.borrow_mut();
                if let Some(level) = level {
                    state.replica.levels.insert(intent.sku.clone(), level);
                }
                if let Some(slot) = state.replica.intents.iter_mut().find(|i| i.id == intent.id) {
                    *slot = intent;
                }
            }
            if transient {
                flushed.pending = self.status().queued;
                return Ok(flushed);
            }
            self.heard_from_central();
        }
        Ok(flushed)
    }

    /// How long to wait before trying central again (exponential, jittered).
    pub fn retry_delay_ms(&self) -> u64 {
        let random = self.clock.random();
        self.state.borrow_mut().backoff.next_delay_ms(random)
    }
}

/// A sale or restock counts a positive number of items.
fn positive(quantity: i64) -> Result<(), EngineError> {
    if quantity > 0 {
        Ok(())
    } else {
        Err(EngineError::Invalid("the quantity must be positive".into()))
    }
}

/// Problems a refused intent may carry, named for the till's wording.
pub fn is_out_of_stock(problem: &Problem) -> bool {
    problem.code == ErrorCode::InsufficientStock
}
