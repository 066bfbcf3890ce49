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

pub struct Engine<S, T, C> {
    storage: S,
    transport: T,
    clock: C,
    config: Config,
    replica: Replica,
    token: Option<(String, i64)>,
    online: bool,
    head: u64,
    pub backoff: Backoff,
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
            head: replica.offset.unwrap_or(0),
            replica,
            token: None,
            online: false,
            backoff: Backoff::default(),
        })
    }

    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    pub fn intents(&self) -> &[Intent] {
        &self.replica.intents
    }

    fn age_ms(&self) -> Option<i64> {
        self.replica
            .last_contact_ms
            .map(|at| (self.clock.now_ms() - at).max(0))
    }

    fn is_stale(&self) -> bool {
        self.age_ms()
            .is_none_or(|age| age > self.config.stale_after_ms)
    }

    pub fn status(&self) -> Status {
        Status {
            online: self.online,
            stale: self.is_stale(),
            offset: self.replica.offset,
            lag: self.head.saturating_sub(self.replica.offset.unwrap_or(0)),
            queued: self
                .replica
                .intents
                .iter()
                .filter(|i| i.is_pending())
                .count(),
            last_contact_ms: self.replica.last_contact_ms,
        }
    }

    /// What the till shows for `sku`: central's figure plus this till's
    /// intents central's figure does not include yet.
    pub fn view(&self, sku: &str) -> Option<StockView> {
        let product = self.replica.products.get(sku);
        let level = self.replica.levels.get(sku);
        if product.is_none() && level.is_none() {
            return None;
        }
        let counted: Vec<_> = self
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
            stale: self.is_stale(),
            age_ms: self.age_ms(),
        })
    }

    /// Active products whose sku or name contains `filter` (any case).
    pub fn list(&self, filter: &str) -> Vec<StockView> {
        let filter = filter.to_lowercase();
        self.replica
            .products
            .values()
            .filter(|p| p.active)
            .filter(|p| {
                p.sku.to_lowercase().contains(&filter) || p.name.to_lowercase().contains(&filter)
            })
            .filter_map(|p| self.view(&p.sku))
            .collect()
    }

    /// A sale. Offline it is a recorded fact (the goods left the shop);
    /// online it is guarded, so central can refuse what the shelf lacks.
    pub async fn sell(
        &mut self,
        sku: &str,
        quantity: i64,
        id: String,
    ) -> Result<Intent, EngineError> {
        let kind = if self.online {
            AdjustKind::Guarded
        } else {
            AdjustKind::Recorded
        };
        self.record(sku, -quantity, kind, id).await
    }

    /// A restock: always guarded (it cannot go below zero anyway).
    pub async fn restock(
        &mut self,
        sku: &str,
        quantity: i64,
        id: String,
    ) -> Result<Intent, EngineError> {
        self.record(sku, quantity, AdjustKind::Guarded, id).await
    }

    async fn record(
        &mut self,
        sku: &str,
        delta: i64,
        kind: AdjustKind,
        id: String,
    ) -> Result<Intent, EngineError> {
        if delta == 0 || delta.abs() > shared::validate::MAX_QUANTITY {
            return Err(EngineError::Invalid("quantity must be positive".into()));
        }
        if !self.replica.products.contains_key(sku) {
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
        self.replica.intents.push(intent.clone());
        Ok(intent)
    }

    /// A valid token, signing in when there is none or it is about to expire.
    async fn token(&mut self) -> Result<String, TransportError> {
        let now = self.clock.now_ms();
        if let Some((token, expires)) = &self.token
            && now + self.config.refresh_margin_ms < *expires
        {
            return Ok(token.clone());
        }
        let answer = self
            .transport
            .sign_in(&self.config.store_id, &self.config.client_secret)
            .await?;
        let expires = now + answer.expires_in as i64 * 1000;
        self.token = Some((answer.access_token.clone(), expires));
        Ok(answer.access_token)
    }

    /// Runs a call with a token; a 401 means one fresh sign-in and one more
    /// try, never a loop.
    async fn authed<R>(
        &mut self,
        call: impl AsyncFn(&T, &str) -> Result<R, TransportError>,
    ) -> Result<R, TransportError> {
        let token = self.token().await?;
        match call(&self.transport, &token).await {
            Err(e) if e.status() == Some(401) => {
                self.token = None;
                let token = self.token().await?;
                call(&self.transport, &token).await
            }
            other => other,
        }
    }

    fn heard_from_central(&mut self) {
        self.online = true;
        self.replica.last_contact_ms = Some(self.clock.now_ms());
        self.backoff.reset();
    }

    fn note_failure(&mut self, error: &TransportError) {
        if error.is_transient() {
            self.online = false;
        }
    }

    /// One replication step: a snapshot if there is no offset, else one
    /// page of changes (long-polled up to `wait_s`).
    pub async fn sync(&mut self, wait_s: u32) -> Result<Synced, EngineError> {
        let Some(from) = self.replica.offset else {
            return self.bootstrap().await;
        };
        let store = self.config.store_id.clone();
        let page = self
            .authed(async |t: &T, token: &str| t.changes(token, &store, from, wait_s).await)
            .await;
        match page {
            Ok(page) => self.apply(page).await,
            Err(e) if e.status() == Some(410) => self.bootstrap().await,
            Err(e) => {
                self.note_failure(&e);
                Err(e.into())
            }
        }
    }

    async fn bootstrap(&mut self) -> Result<Synced, EngineError> {
        let store = self.config.store_id.clone();
        let snapshot = self
            .authed(async |t: &T, token: &str| t.snapshot(token, &store).await)
            .await
            .inspect_err(|e| self.note_failure(e))?;
        let Snapshot {
            offset,
            products,
            levels,
            ..
        } = snapshot;
        let mut next = Replica {
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
        next.intents = std::mem::take(&mut self.replica.intents);
        self.replica = next;
        self.head = self.head.max(offset);
        self.heard_from_central();
        Ok(Synced::Bootstrapped { offset })
    }

    /// Applies one page: what it changes and the new offset are stored in
    /// one transaction, then taken into memory.
    async fn apply(&mut self, page: ChangesPage) -> Result<Synced, EngineError> {
        let mut write = PageWrite {
            offset: page.next_offset,
            contact_ms: self.clock.now_ms(),
            ..PageWrite::default()
        };
        let mut levels = self.replica.levels.clone();
        let events = page.events.len();
        for Event { change, .. } in page.events {
            match change {
                Change::StockAdjusted {
                    store_id,
                    sku,
                    available,
                    version,
                    ..
                }
                | Change::StockSet {
                    store_id,
                    sku,
                    available,
                    version,
                    ..
                } if store_id == self.config.store_id => {
                    let newer = levels.get(&sku).is_none_or(|l| version > l.version);
                    if newer {
                        let level = Level { available, version };
                        levels.insert(sku.clone(), level);
                        write.levels.push((sku, level));
                    }
                }
                Change::ProductCreated { product }
                | Change::ProductUpdated { product }
                | Change::ProductDeleted { product } => write.products.push(product),
                _ => {}
            }
        }
        self.storage.apply(&write).await?;
        self.replica.levels = levels;
        for product in write.products {
            self.replica.products.insert(product.sku.clone(), product);
        }
        self.replica.offset = Some(write.offset);
        self.head = page.head.max(write.offset);
        self.heard_from_central();
        Ok(Synced::Applied {
            events,
            offset: write.offset,
        })
    }

    /// Forwards pending intents in order. A refusal is final for its intent
    /// and the round goes on; no answer stops the round (the rest would fail
    /// too) and everything stays pending, to be sent again with its key.
    pub async fn flush(&mut self) -> Result<Flushed, EngineError> {
        let mut flushed = Flushed::default();
        let store = self.config.store_id.clone();
        let mut index = 0;
        while index < self.replica.intents.len() {
            let intent = &self.replica.intents[index];
            if !intent.is_pending() {
                index += 1;
                continue;
            }
            let key = intent.id.clone();
            let request = AdjustRequest {
                sku: intent.sku.clone(),
                delta: intent.delta,
                kind: intent.kind,
                expected_version: None,
                reason: None,
            };
            let answer = self
                .authed(async |t: &T, token: &str| t.adjust(token, &store, &key, &request).await)
                .await;
            let now = self.clock.now_ms();
            let mut intent = self.replica.intents[index].clone();
            intent.attempts += 1;
            let mut level = None;
            let transient = match answer {
                Ok(result) => {
                    let current = self.replica.levels.get(&result.sku);
                    if current.is_none_or(|l| result.version > l.version) {
                        level = Some(Level {
                            available: result.available,
                            version: result.version,
                        });
                    }
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
            let contact = (!transient).then_some(now);
            self.storage
                .put_intent(&intent, level.map(|l| (intent.sku.as_str(), l)), contact)
                .await?;
            if let Some(level) = level {
                self.replica.levels.insert(intent.sku.clone(), level);
            }
            self.replica.intents[index] = intent;
            if transient {
                flushed.pending = self.status().queued;
                return Ok(flushed);
            }
            self.heard_from_central();
            index += 1;
        }
        Ok(flushed)
    }

    /// How long to wait before trying central again (exponential, jittered).
    pub fn retry_delay_ms(&mut self) -> u64 {
        let random = self.clock.random();
        self.backoff.next_delay_ms(random)
    }
}

/// Problems a refused intent may carry, named for the till's wording.
pub fn is_out_of_stock(problem: &Problem) -> bool {
    problem.code == ErrorCode::InsufficientStock
}
