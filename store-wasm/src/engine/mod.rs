//! The store node's sync engine: plain Rust over three ports (storage,
//! transport, clock), so it is tested natively; the browser bindings drive it.
//!
//! - Reads (`view`, `search`, `status`) answer from memory, never the network;
//!   [`search`] finds products by the words of a query, a page at a time.
//! - [`intents`]: a sale, restock or basket is stored as intents first, then
//!   forwarded with each intent's id as its idempotency key, retried with the
//!   same key until central answers. A refusal is final for that intent and
//!   never blocks the rest.
//! - [`replicate`]: a snapshot when there is no offset (or central says
//!   410), then one page of changes at a time, each written with its offset
//!   in one storage transaction.
//! - [`pickups`]: online orders held at this store, handed over or
//!   cancelled at the counter; queued and forwarded as sales are.
//! - [`session`]: the store's token, and what the node knows of its contact
//!   with central.

mod backoff;
mod intents;
mod memory;
mod model;
mod pickups;
mod ports;
mod replicate;
mod search;
mod session;
#[cfg(test)]
mod tests;

use std::cell::{Cell, RefCell};

use shared::Problem;

pub use backoff::Backoff;
pub use intents::{BasketLine, Flushed, MAX_BASKET_LINES};
pub use memory::MemoryStorage;
pub use model::{
    Intent, IntentStatus, Level, Nearby, Pickup, PickupAction, PickupIntent, PickupLine, Purpose,
    Queued, Recent, Replica, StockView, unix_ms,
};
pub use pickups::PickupView;
pub use ports::{Clock, PageWrite, Storage, StorageError, Transport, TransportError};
pub use replicate::Synced;
pub use search::Listing;

/// What the node signs in with. A till is an enrolled device with its own
/// credential, which central can revoke; other store systems may use the
/// store's secret.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Credential {
    #[serde(rename_all = "camelCase")]
    Store { client_secret: String },
    #[serde(rename_all = "camelCase")]
    Device {
        device_id: String,
        device_secret: String,
    },
}

impl Credential {
    pub fn store(secret: impl Into<String>) -> Credential {
        Credential::Store {
            client_secret: secret.into(),
        }
    }

    pub fn device(id: impl Into<String>, secret: impl Into<String>) -> Credential {
        Credential::Device {
            device_id: id.into(),
            device_secret: secret.into(),
        }
    }

    /// The device this credential is, if it is one.
    pub fn device_id(&self) -> Option<&str> {
        match self {
            Credential::Device { device_id, .. } => Some(device_id),
            Credential::Store { .. } => None,
        }
    }

    /// The sign-in request for `store_id`.
    pub fn token_request(&self, store_id: &str) -> shared::TokenRequest {
        match self.clone() {
            Credential::Store { client_secret } => shared::TokenRequest::Store {
                client_id: store_id.to_owned(),
                client_secret,
            },
            Credential::Device {
                device_id,
                device_secret,
            } => shared::TokenRequest::Device {
                device_id,
                device_secret,
            },
        }
    }
}

/// Never prints the secret.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Store { .. } => f.write_str("Store(..)"),
            Credential::Device { device_id, .. } => write!(f, "Device({device_id}, ..)"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub store_id: String,
    pub credential: Credential,
    /// Central not heard from for this long: reads say `stale`.
    pub stale_after_ms: i64,
    /// Tokens are renewed this long before they expire.
    pub refresh_margin_ms: i64,
}

impl Config {
    pub fn new(store_id: impl Into<String>, credential: Credential) -> Self {
        Config {
            store_id: store_id.into(),
            credential,
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
    /// No call to central has ended in this tab yet (an answer or a
    /// failure), nor has the syncing tab said how central is: neither
    /// online nor offline is known, so the page says it is connecting.
    pub connecting: bool,
    pub stale: bool,
    pub offset: Option<u64>,
    /// Events behind central's head, as of the last page.
    pub lag: u64,
    /// Intents (sales, hand-overs) central has not answered yet.
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
    /// A replication step ended, or the syncing tab told how central is:
    /// from then on, not `online` means offline (see [`Status::connecting`]).
    contact_tried: bool,
    head: u64,
    backoff: Backoff,
    storage_error: Option<String>,
    /// The device refused a page or snapshot: memory is ahead of storage,
    /// which gets the whole replica again once it takes writes.
    unstored: bool,
    signed_out: Option<Problem>,
    /// What searches run over, built from the replica's products when a
    /// search needs it; `None` wherever those products change (a snapshot,
    /// a page with product events, what another tab stored).
    search_keys: Option<search::SearchKeys>,
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
    /// One replication step at a time: an older page landing after a newer
    /// one would move the stored offset back.
    syncing: Cell<bool>,
    /// Who waits for the running step to end ([`Engine::until_synced`]).
    sync_waiters: RefCell<Vec<futures::channel::oneshot::Sender<()>>>,
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
                contact_tried: false,
                backoff: Backoff::default(),
                storage_error: None,
                unstored: false,
                signed_out: None,
                search_keys: None,
            }),
            flushing: Cell::new(false),
            syncing: Cell::new(false),
            sync_waiters: RefCell::new(Vec::new()),
        })
    }

    pub fn store_id(&self) -> &str {
        &self.config.store_id
    }

    /// Catches up with what the syncing tab stored: how a tab that does not
    /// sync follows. The base (the whole catalogue) is re-read only when the
    /// syncing tab stored a new snapshot; otherwise just what changed since.
    pub async fn reload(&self) -> Result<(), EngineError> {
        let recent = self.storage.load_recent().await?;
        if recent.offset.is_none() && self.state.borrow().replica.offset.is_some() {
            // Storage lost its replica (the database deleted under the
            // tabs) and the syncing tab has not stored it again yet: this
            // tab keeps what it shows, and takes what is stored of the queue.
            let mut state = self.state.borrow_mut();
            state.replica.take_intents(recent.intents);
            state.replica.take_pickup_intents(recent.pickup_intents);
            return Ok(());
        }
        if recent.base != self.state.borrow().replica.base {
            let mut whole = self.storage.load().await?;
            let mut state = self.state.borrow_mut();
            let stored = std::mem::replace(&mut whole.intents, state.replica.intents.clone());
            whole.follow_intents(stored);
            let stored = std::mem::replace(
                &mut whole.pickup_intents,
                state.replica.pickup_intents.clone(),
            );
            whole.follow_pickup_intents(stored);
            state.replica = whole;
            state.search_keys = None;
            state.head = state.head.max(state.replica.offset.unwrap_or(0));
            return Ok(());
        }
        let mut state = self.state.borrow_mut();
        let State {
            replica,
            search_keys,
            ..
        } = &mut *state;
        for (sku, level) in recent.levels {
            replica.take_level(&sku, level);
        }
        for product in recent.products {
            if replica.take_product(product) {
                *search_keys = None;
            }
        }
        for store in recent.stores {
            replica.stores.insert(store.store_id.clone(), store);
        }
        replica.offset = replica.offset.max(recent.offset);
        replica.last_contact_ms = replica.last_contact_ms.max(recent.last_contact_ms);
        replica.follow_intents(recent.intents);
        replica.follow_pickup_intents(recent.pickup_intents);
        replica.pickups = recent
            .pickups
            .into_iter()
            .map(|p| (p.hold_id.clone(), p))
            .collect();
        state.head = state.head.max(state.replica.offset.unwrap_or(0));
        Ok(())
    }

    /// What the syncing tab says of central: a tab that follows sells as it
    /// would (guarded while central answers) and ages its figures alike.
    pub fn follow_status(&self, online: bool, last_contact_ms: Option<i64>) {
        let mut state = self.state.borrow_mut();
        state.online = online;
        state.contact_tried = true;
        state.replica.last_contact_ms = state.replica.last_contact_ms.max(last_contact_ms);
    }

    pub fn replica(&self) -> Replica {
        self.state.borrow().replica.clone()
    }

    /// Products whose figure on this till is below zero: a sale recorded
    /// offline took more than the shelf held, or a count is due. Whoever
    /// may resolve it (a manager, with a count) sees these.
    /// Asked at every redraw, over a replica of 50,000 levels: only a level
    /// below zero, or one this till's intents move, can show below zero.
    pub fn below_zero(&self) -> Vec<StockView> {
        let state = self.state.borrow();
        let replica = &state.replica;
        let candidates: std::collections::BTreeSet<&str> = replica
            .levels
            .iter()
            .filter(|(_, level)| level.available < 0)
            .map(|(sku, _)| sku.as_str())
            .chain(replica.intents.iter().map(|i| i.sku.as_str()))
            .collect();
        candidates
            .into_iter()
            .filter_map(|sku| self.view_in(&state, sku))
            .filter(|v| v.shown < 0)
            .collect()
    }

    /// The newest sale this till made (one line, or a basket's lines), if
    /// head office has not refused it: what "void last sale" undoes.
    pub fn last_sale(&self) -> Option<Vec<Intent>> {
        let state = self.state.borrow();
        let intents = &state.replica.intents;
        let last = intents
            .iter()
            .rev()
            .find(|i| i.purpose() == Purpose::Sale)?;
        let lines: Vec<Intent> = match &last.basket {
            Some(basket) => intents
                .iter()
                .filter(|i| i.basket.as_ref() == Some(basket))
                .cloned()
                .collect(),
            None => vec![last.clone()],
        };
        let refused = lines
            .iter()
            .any(|l| matches!(l.status, IntentStatus::Rejected { .. }));
        (!refused).then_some(lines)
    }

    /// What prices count in (the chain's currency, from central).
    pub fn currency(&self) -> shared::Currency {
        self.state
            .borrow()
            .replica
            .currency
            .clone()
            .unwrap_or_default()
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
            connecting: !state.online && !state.contact_tried,
            stale: self.is_stale(&state),
            offset: state.replica.offset,
            lag: state.head.saturating_sub(state.replica.offset.unwrap_or(0)),
            queued: state
                .replica
                .intents
                .iter()
                .filter(|i| i.is_unanswered())
                .count()
                + state
                    .replica
                    .pickup_intents
                    .iter()
                    .filter(|i| i.status.is_unanswered())
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
            held: level.map_or(0, |l| l.held),
            pending_intents,
            stale: self.is_stale(state),
            age_ms: self.age_ms(state),
        })
    }

    /// Notes how a storage write went: the page says plainly when the device
    /// refuses to store, until writes succeed again and the replica is
    /// stored whole.
    fn stored(&self, result: Result<(), StorageError>) -> Result<(), StorageError> {
        let mut state = self.state.borrow_mut();
        match &result {
            Err(e) => state.storage_error = Some(e.to_string()),
            Ok(()) if !state.unstored => state.storage_error = None,
            Ok(()) => {}
        }
        result
    }

    /// After the device lost everything stored (the database deleted under
    /// the node): the intents are stored again at once — they hold sales
    /// the till acknowledged —, and the replica is stored whole with the
    /// next page, as after a refused write. Only the tab that applies pages
    /// stores the replica, so storage never gets a page without the base it
    /// follows, nor an older tab's base under a newer tab's pages.
    async fn restore_lost(&self) {
        if !self.storage.take_lost() {
            return;
        }
        let (intents, pickup_intents) = {
            let mut state = self.state.borrow_mut();
            state.unstored = true;
            (
                state.replica.intents.clone(),
                state.replica.pickup_intents.clone(),
            )
        };
        if !intents.is_empty() {
            let _ = self.stored(self.storage.put_intents(&intents, &[], None).await);
        }
        if !pickup_intents.is_empty() {
            let _ = self.stored(self.storage.put_pickup_intents(&pickup_intents, &[]).await);
        }
    }

    /// A store's display name, when the replica knows the store.
    pub fn store_name(&self, store_id: &str) -> Option<String> {
        let state = self.state.borrow();
        state.replica.stores.get(store_id).map(|s| s.name.clone())
    }
}
