//! The store node's sync engine: plain Rust over three ports (storage,
//! transport, clock), so it is tested natively; the browser bindings drive it.
//!
//! - Reads (`view`, `list`, `status`) answer from memory, never the network.
//! - [`intents`]: a sale, restock or basket is stored as intents first, then
//!   forwarded with each intent's id as its idempotency key, retried with the
//!   same key until central answers. A refusal is final for that intent and
//!   never blocks the rest.
//! - [`replicate`]: a snapshot when there is no offset (or central says
//!   410), then one page of changes at a time, each written with its offset
//!   in one storage transaction.
//! - [`session`]: the store's token, and what the node knows of its contact
//!   with central.

mod backoff;
mod intents;
mod model;
mod ports;
mod replicate;
mod session;
#[cfg(test)]
mod tests;

use std::cell::{Cell, RefCell};

use shared::Problem;

pub use backoff::Backoff;
pub use intents::{BasketLine, Flushed, MAX_BASKET_LINES, is_out_of_stock};
pub use model::{Intent, IntentStatus, Level, Nearby, Replica, StockView};
pub use ports::{Clock, PageWrite, Storage, StorageError, Transport, TransportError};
pub use replicate::Synced;

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub online: bool,
    pub stale: bool,
    pub offset: Option<u64>,
    /// Events behind central's head, as of the last page.
    pub lag: u64,
    /// Intents central has not answered yet.
    pub queued: usize,
    pub last_contact_ms: Option<i64>,
    /// Why the device last refused to store, until a write succeeds again.
    pub storage_error: Option<String>,
    /// Central refused the store's credentials (wrong secret, store
    /// deactivated): the till must sign in again; sales stay queued.
    pub signed_out: Option<Problem>,
}

/// What the engine knows; borrowed only between awaits, never across one,
/// so reads answer at once even while a long-poll is in flight.
struct State {
    replica: Replica,
    token: Option<(String, i64)>,
    online: bool,
    head: u64,
    backoff: Backoff,
    storage_error: Option<String>,
    signed_out: Option<Problem>,
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
                storage_error: None,
                signed_out: None,
            }),
            flushing: Cell::new(false),
        })
    }

    pub fn store_id(&self) -> &str {
        &self.config.store_id
    }

    /// Re-reads the replica from storage: how a tab that does not sync
    /// follows the one that does.
    pub async fn reload(&self) -> Result<(), EngineError> {
        let replica = self.storage.load().await?;
        let mut state = self.state.borrow_mut();
        state.head = state.head.max(replica.offset.unwrap_or(0));
        // Intents only this tab holds (the device refused to store them)
        // stay until central has answered them.
        let unstored: Vec<_> = state
            .replica
            .intents
            .iter()
            .filter(|i| i.is_unanswered() && !replica.intents.iter().any(|s| s.id == i.id))
            .cloned()
            .collect();
        state.replica = replica;
        state.replica.intents.extend(unstored);
        Ok(())
    }

    pub fn replica(&self) -> Replica {
        self.state.borrow().replica.clone()
    }

    /// Every intent the node keeps, oldest first.
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
                .filter(|i| i.is_unanswered())
                .count(),
            last_contact_ms: state.replica.last_contact_ms,
            storage_error: state.storage_error.clone(),
            signed_out: state.signed_out.clone(),
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
        let (mut pending_delta, mut pending_intents) = (0, 0);
        for intent in &state.replica.intents {
            if intent.sku == sku && intent.counts_above(level) {
                pending_delta += intent.delta;
                pending_intents += 1;
            }
        }
        let central = level.map_or(0, |l| l.available);
        Some(StockView {
            sku: sku.to_owned(),
            name: product.map(|p| p.name.clone()),
            price_cents: product.map(|p| p.price_cents),
            central_available: central,
            pending_delta,
            shown: central + pending_delta,
            pending_intents,
            stale: self.is_stale(state),
            age_ms: self.age_ms(state),
        })
    }

    /// At most `limit` active products whose sku or name contains `filter`
    /// (any case): an exact sku first (a scanner typed it), then sku order.
    pub fn list(&self, filter: &str, limit: usize) -> Vec<StockView> {
        let filter = filter.trim();
        let needle = filter.to_lowercase();
        let state = self.state.borrow();
        let products = &state.replica.products;
        let exact = products
            .get(filter)
            .or_else(|| products.get(&filter.to_uppercase()))
            .filter(|p| p.active);
        let others = products.values().filter(|p| {
            p.active
                && exact.is_none_or(|e| e.sku != p.sku)
                && (contains_folded(&p.sku, &needle) || contains_folded(&p.name, &needle))
        });
        exact
            .into_iter()
            .chain(others)
            .take(limit)
            .filter_map(|p| self.view_in(&state, &p.sku))
            .collect()
    }

    /// Notes how a storage write went: the page says plainly when the device
    /// refuses to store, until a write succeeds again.
    fn stored(&self, result: Result<(), StorageError>) -> Result<(), StorageError> {
        self.state.borrow_mut().storage_error = result.as_ref().err().map(ToString::to_string);
        result
    }

    /// A store's display name, when the replica knows the store.
    pub fn store_name(&self, store_id: &str) -> Option<String> {
        let state = self.state.borrow();
        state.replica.stores.get(store_id).map(|s| s.name.clone())
    }
}

/// Whether `haystack` contains `needle` (already lower-cased), ignoring
/// case; without allocating for ASCII text, since a search runs over the
/// whole catalogue at every keystroke.
fn contains_folded(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if haystack.is_ascii() && needle.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(needle)
}
