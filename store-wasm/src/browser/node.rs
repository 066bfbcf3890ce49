//! The store node in a tab: [`Node`] for Rust callers (the POS page), and
//! the `StoreNode` class for JavaScript, a thin layer over it. Reads answer
//! at once from memory; writes are stored, then forwarded.

use std::rc::Rc;

use serde::Deserialize;

use super::{BrowserEngine, HttpTransport, IdbStorage, JsClock, runtime::Runtime};
use crate::engine::{BasketLine, Config, Engine, EngineError, Intent, Nearby, Status};

/// How to open a node (`camelCase` from JS).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Options {
    /// Central's base URL; "" when the page is served from central's origin
    /// (or through trunk's proxy).
    pub central_url: String,
    pub store_id: String,
    pub client_secret: String,
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

impl Node {
    /// Opens the store's IndexedDB replica; no network needed.
    pub async fn open(options: Options) -> Result<Node, EngineError> {
        let name = options
            .db_name
            .clone()
            .unwrap_or_else(|| format!("stockline:{}:{}", options.central_url, options.store_id));
        let storage = IdbStorage::open(&name).await?;
        let mut config = Config::new(options.store_id, options.client_secret);
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

    pub async fn sell(&self, sku: &str, quantity: i64) -> Result<Intent, EngineError> {
        let intent = self.engine.sell(sku, quantity, new_key()).await;
        self.forward(intent).await
    }

    pub async fn restock(&self, sku: &str, quantity: i64) -> Result<Intent, EngineError> {
        let intent = self.engine.restock(sku, quantity, new_key()).await;
        self.forward(intent).await
    }

    /// A basket of `(sku, quantity)` lines, sold all or nothing.
    pub async fn sell_basket(&self, lines: &[(String, i64)]) -> Result<Vec<Intent>, EngineError> {
        let lines = lines
            .iter()
            .map(|(sku, quantity)| BasketLine {
                sku: sku.clone(),
                quantity: *quantity,
                id: new_key(),
            })
            .collect();
        let intents = self.engine.sell_basket(new_key(), lines).await;
        self.forward(intents).await
    }

    /// After recording: tell the tabs, forward the queue at once, tell them
    /// again, and answer with the intents as they stand then.
    async fn forward<T: Recorded>(
        &self,
        recorded: Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let recorded = recorded?;
        self.runtime.changed(true);
        self.engine.flush().await;
        self.runtime.changed(true);
        Ok(recorded.refreshed(&self.engine.intents()))
    }

    /// Catches up with central and forwards the queue.
    pub async fn sync_now(&self) -> Result<Status, EngineError> {
        self.runtime.request_sync();
        if self.runtime.is_following() {
            // The syncing tab catches up; this one reads what it stored.
            self.engine.reload().await?;
        } else {
            loop {
                self.engine.sync(0).await?;
                if self.engine.status().lag == 0 {
                    break;
                }
            }
        }
        self.engine.flush().await;
        self.runtime.changed(true);
        Ok(self.engine.status())
    }

    /// Every store's figure for `sku`, asked of central now.
    pub async fn nearby(&self, sku: &str) -> Result<Vec<Nearby>, EngineError> {
        let nearby = self.engine.nearby(sku).await;
        self.runtime.changed(false);
        nearby
    }

    /// Takes a finished intent off the panel, in every tab.
    pub async fn dismiss(&self, id: &str) -> Result<(), EngineError> {
        self.engine.dismiss(id).await?;
        self.runtime.changed(true);
        Ok(())
    }
}

/// What a write returns, brought up to date after the forwarding round.
trait Recorded {
    fn refreshed(self, now: &[Intent]) -> Self;
}

impl Recorded for Intent {
    fn refreshed(self, now: &[Intent]) -> Self {
        now.iter()
            .find(|i| i.id == self.id)
            .cloned()
            .unwrap_or(self)
    }
}

impl Recorded for Vec<Intent> {
    fn refreshed(self, now: &[Intent]) -> Self {
        self.into_iter().map(|i| i.refreshed(now)).collect()
    }
}
