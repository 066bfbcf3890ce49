//! The store node in a tab: [`Node`] for Rust callers (the POS page), and
//! the `StoreNode` class for JavaScript, a thin layer over it. Reads answer
//! at once from memory; writes are stored, then forwarded.

use std::rc::Rc;

use serde::Deserialize;

use super::{BrowserEngine, HttpTransport, IdbStorage, JsClock, runtime::Runtime};
use crate::engine::{
    BasketLine, Config, Credential, Engine, EngineError, Intent, Nearby, PickupIntent, Status,
    Synced,
};

/// How to open a node (`camelCase` from JS).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Options {
    /// Central's base URL; "" when the page is served from central's origin
    /// (or through trunk's proxy).
    pub central_url: String,
    pub store_id: String,
    /// `{kind: "device", deviceId, deviceSecret}` for an enrolled till, or
    /// `{kind: "store", clientSecret}`.
    pub credential: Credential,
    /// Defaults to one database per central and store.
    pub db_name: Option<String>,
    pub stale_after_ms: Option<i64>,
}

/// A store node in this tab. Cloning is cheap: clones share one engine.
#[derive(Clone)]
pub struct Node {
    engine: Rc<BrowserEngine>,
    runtime: Rc<Runtime>,
}

fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Asks the browser to keep this origin's data under storage pressure: the
/// queue holds sales not yet sent. (Browsers may say no; the till still
/// works, with the usual eviction risk, and says so in the console.)
fn persist_storage() {
    let Some(storage) = web_sys::window().map(|w| w.navigator().storage()) else {
        return;
    };
    let Ok(asked) = storage.persist() else {
        return;
    };
    wasm_bindgen_futures::spawn_local(async move {
        let granted = wasm_bindgen_futures::JsFuture::from(asked).await;
        if granted.ok().and_then(|g| g.as_bool()) != Some(true) {
            web_sys::console::info_1(
                &"storage is not persistent: the browser may evict queued sales under pressure"
                    .into(),
            );
        }
    });
}

/// Enrols this device (a till) at `central_url` with its store's secret,
/// which is used for this call only. Needs central.
pub async fn enrol(
    central_url: &str,
    request: &shared::EnrolRequest,
) -> Result<shared::DeviceCredentials, crate::engine::TransportError> {
    HttpTransport::new(central_url).enrol(request).await
}

impl Node {
    /// Opens the store's IndexedDB replica; no network needed.
    pub async fn open(options: Options) -> Result<Node, EngineError> {
        persist_storage();
        let name = options
            .db_name
            .clone()
            .unwrap_or_else(|| format!("stockline:{}:{}", options.central_url, options.store_id));
        let storage = IdbStorage::open(&name).await?;
        let mut config = Config::new(options.store_id, options.credential);
        if let Some(ms) = options.stale_after_ms {
            config.stale_after_ms = ms;
        }
        let transport = HttpTransport::new(&options.central_url);
        let engine = Rc::new(Engine::open(storage, transport, JsClock, config).await?);
        Ok(Node {
            runtime: Runtime::new(engine.clone(), format!("{name}:sync")),
            engine,
        })
    }

    /// The engine, for reads: `view`, `list`, `intents`, `status`.
    pub fn engine(&self) -> &BrowserEngine {
        &self.engine
    }

    /// Starts syncing in the background (one tab per store syncs; the
    /// others follow it). Call once.
    pub fn start(&self) -> Result<(), wasm_bindgen::JsValue> {
        self.runtime.start()
    }

    /// `callback` runs whenever what the reads answer changed.
    pub fn subscribe(&self, callback: impl Fn() + 'static) {
        self.runtime.subscribe(Rc::new(callback));
    }

    /// Signs in afresh: checks the store's credentials with central.
    pub async fn sign_in(&self) -> Result<(), EngineError> {
        let signed_in = self.engine.sign_in().await;
        self.runtime.changed(false);
        signed_in
    }

    /// A sale, acknowledged once stored on this device (the intent, still
    /// pending): forwarding goes on in the background, and subscribers hear
    /// of central's answer.
    pub async fn sell(&self, sku: &str, quantity: i64) -> Result<Intent, EngineError> {
        let intent = self.engine.sell(sku, quantity, new_key()).await?;
        self.runtime.forward();
        Ok(intent)
    }

    /// A restock, likewise.
    pub async fn restock(&self, sku: &str, quantity: i64) -> Result<Intent, EngineError> {
        let intent = self.engine.restock(sku, quantity, new_key()).await?;
        self.runtime.forward();
        Ok(intent)
    }

    /// Goods brought back onto the shelf, with why; likewise.
    pub async fn return_item(
        &self,
        sku: &str,
        quantity: i64,
        reason: &str,
    ) -> Result<Intent, EngineError> {
        let intent = self
            .engine
            .return_item(sku, quantity, reason, new_key())
            .await?;
        self.runtime.forward();
        Ok(intent)
    }

    /// Voids this till's last sale: its lines put back, as one batch.
    pub async fn void_last_sale(&self) -> Result<Vec<Intent>, EngineError> {
        let sale = self
            .engine
            .last_sale()
            .ok_or_else(|| EngineError::Invalid("no sale on this till to void".into()))?;
        let ids: Vec<String> = sale.into_iter().map(|i| i.id).collect();
        let corrections = self.engine.void(&ids, new_key()).await?;
        self.runtime.forward();
        Ok(corrections)
    }

    /// A shelf count of `sku`: the difference is recorded; likewise.
    pub async fn count(&self, sku: &str, counted: i64) -> Result<Intent, EngineError> {
        let intent = self.engine.count(sku, counted, new_key()).await?;
        self.runtime.forward();
        Ok(intent)
    }

    /// A basket of `(sku, quantity)` lines, sold all or nothing; likewise.
    pub async fn sell_basket(&self, lines: &[(String, i64)]) -> Result<Vec<Intent>, EngineError> {
        let basket = new_key();
        let lines = lines
            .iter()
            .enumerate()
            .map(|(n, (sku, quantity))| BasketLine {
                sku: sku.clone(),
                quantity: *quantity,
                // Sorts in line order wherever the lines are listed.
                id: format!("{basket}.{n:03}"),
            })
            .collect();
        let intents = self.engine.sell_basket(basket, lines).await?;
        self.runtime.forward();
        Ok(intents)
    }

    /// Catches up with central and forwards the queue.
    pub async fn sync_now(&self) -> Result<Status, EngineError> {
        self.runtime.request_sync();
        if self.runtime.is_following() {
            // The syncing tab catches up; this one reads what it stored.
            self.engine.reload().await?;
        } else {
            // Until caught up, or another step (a long-poll) is running,
            // which answers as soon as there is anything new.
            while !matches!(self.engine.sync(0).await?, Synced::Busy)
                && self.engine.status().lag > 0
            {}
            self.engine.flush().await;
        }
        self.runtime.changed(true);
        Ok(self.engine.status())
    }

    /// Every store's figure for `sku`, asked of central now.
    pub async fn nearby(&self, sku: &str) -> Result<Vec<Nearby>, EngineError> {
        let nearby = self.engine.nearby(sku).await;
        self.runtime.changed(false);
        self.runtime.wake_if_answered();
        nearby
    }

    /// An online order handed over at the counter: acknowledged once
    /// stored, forwarded in the background (offline, once central answers).
    pub async fn hand_over(&self, hold_id: &str) -> Result<PickupIntent, EngineError> {
        let intent = self.engine.hand_over(hold_id, new_key()).await?;
        self.runtime.forward();
        Ok(intent)
    }

    /// An online order that will not be collected here; likewise.
    pub async fn cancel_pickup(&self, hold_id: &str) -> Result<PickupIntent, EngineError> {
        let intent = self.engine.cancel_pickup(hold_id, new_key()).await?;
        self.runtime.forward();
        Ok(intent)
    }

    /// Takes an answered hand-over or cancel off the panel, in every tab.
    pub async fn dismiss_pickup(&self, id: &str) -> Result<(), EngineError> {
        self.engine.dismiss_pickup(id).await?;
        self.runtime.changed(true);
        Ok(())
    }

    /// Takes a finished intent off the panel, in every tab.
    pub async fn dismiss(&self, id: &str) -> Result<(), EngineError> {
        self.engine.dismiss(id).await?;
        self.runtime.changed(true);
        Ok(())
    }
}
