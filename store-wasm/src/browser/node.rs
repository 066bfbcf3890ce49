//! The JS API: a `StoreNode` class over the engine. Every method that may
//! touch the network returns a Promise; reads answer at once.

use std::rc::Rc;

use js_sys::{Promise, Reflect};
use serde::{Deserialize, Serialize};
use serde_wasm_bindgen::Serializer;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{BrowserEngine, HttpTransport, IdbStorage, JsClock, runtime::Runtime};
use crate::engine::{Config, Engine, EngineError};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NodeConfig {
    /// Central's base URL; "" when the page is served from central's origin.
    central_url: String,
    store_id: String,
    client_secret: String,
    /// Defaults to one database per central and store.
    db_name: Option<String>,
    stale_after_ms: Option<i64>,
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&Serializer::json_compatible())
        .map_err(|e| JsValue::from(e.to_string()))
}

/// A JS `Error` with a stable `code` the page can branch on.
fn js_error(error: EngineError) -> JsValue {
    let (code, message) = match &error {
        EngineError::Offline(reason) => ("offline".to_owned(), reason.clone()),
        EngineError::Refused(problem) => (
            problem.code.as_str().to_owned(),
            problem
                .detail
                .clone()
                .unwrap_or_else(|| problem.title.clone()),
        ),
        EngineError::Storage(e) => ("storage".to_owned(), e.to_string()),
        EngineError::Invalid(reason) => ("invalid".to_owned(), reason.clone()),
    };
    let js = js_sys::Error::new(&message);
    let _ = Reflect::set(&js, &"code".into(), &code.into());
    js.into()
}

#[wasm_bindgen]
pub struct StoreNode {
    engine: Rc<BrowserEngine>,
    runtime: Rc<Runtime>,
}

#[wasm_bindgen]
impl StoreNode {
    /// `open({centralUrl, storeId, clientSecret, dbName?, staleAfterMs?})`.
    pub async fn open(config: JsValue) -> Result<StoreNode, JsValue> {
        let config: NodeConfig =
            serde_wasm_bindgen::from_value(config).map_err(|e| JsValue::from(e.to_string()))?;
        let name = config
            .db_name
            .clone()
            .unwrap_or_else(|| format!("stockline:{}:{}", config.central_url, config.store_id));
        let storage = IdbStorage::open(&name)
            .await
            .map_err(|e| js_error(EngineError::Storage(e)))?;
        let mut engine_config = Config::new(config.store_id, config.client_secret);
        if let Some(ms) = config.stale_after_ms {
            engine_config.stale_after_ms = ms;
        }
        let engine = Engine::open(
            storage,
            HttpTransport::new(&config.central_url),
            JsClock,
            engine_config,
        )
        .await
        .map_err(js_error)?;
        let engine = Rc::new(engine);
        Ok(StoreNode {
            runtime: Runtime::new(engine.clone(), format!("{name}:sync")),
            engine,
        })
    }

    /// Starts syncing in the background (one tab per store syncs; the
    /// others follow it). Call once.
    pub fn start(&self) -> Result<(), JsValue> {
        self.runtime.start()
    }

    /// `callback()` runs whenever what `get`/`list`/`intents` answer changed.
    pub fn subscribe(&self, callback: js_sys::Function) {
        self.runtime.subscribe(callback);
    }

    /// The till's view of a sku, or `undefined`.
    pub fn get(&self, sku: &str) -> Result<JsValue, JsValue> {
        match self.engine.view(sku) {
            Some(view) => to_js(&view),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// Products whose sku or name contains `filter`.
    pub fn list(&self, filter: &str) -> Result<JsValue, JsValue> {
        to_js(&self.engine.list(filter))
    }

    pub fn intents(&self) -> Result<JsValue, JsValue> {
        to_js(&self.engine.intents())
    }

    /// `{online, stale, offset, lag, queued, lastContactMs}`.
    pub fn status(&self) -> Result<JsValue, JsValue> {
        let s = self.engine.status();
        to_js(&serde_json::json!({
            "online": s.online, "stale": s.stale, "offset": s.offset, "lag": s.lag,
            "queued": s.queued, "lastContactMs": s.last_contact_ms,
        }))
    }

    /// Records a sale (stored first, then forwarded); resolves to the intent.
    pub fn sell(&self, sku: String, quantity: i32) -> Promise {
        self.record(sku, i64::from(quantity), true)
    }

    /// Records a restock, likewise.
    pub fn restock(&self, sku: String, quantity: i32) -> Promise {
        self.record(sku, i64::from(quantity), false)
    }

    /// Catches up with central and forwards the queue; resolves to status.
    #[wasm_bindgen(js_name = syncNow)]
    pub fn sync_now(&self) -> Promise {
        let (engine, runtime) = (self.engine.clone(), self.runtime.clone());
        runtime.wake();
        future_to_promise(async move {
            loop {
                engine.sync(0).await.map_err(js_error)?;
                if engine.status().lag == 0 {
                    break;
                }
            }
            engine.flush().await.map_err(js_error)?;
            runtime.changed(true);
            let s = engine.status();
            to_js(&serde_json::json!({"online": s.online, "offset": s.offset, "queued": s.queued}))
        })
    }
}

impl StoreNode {
    /// Stores the intent, tells the tabs, forwards the queue, tells them again.
    fn record(&self, sku: String, quantity: i64, sale: bool) -> Promise {
        let (engine, runtime) = (self.engine.clone(), self.runtime.clone());
        future_to_promise(async move {
            let id = uuid::Uuid::new_v4().to_string();
            let intent = if sale {
                engine.sell(&sku, quantity, id).await
            } else {
                engine.restock(&sku, quantity, id).await
            }
            .map_err(js_error)?;
            runtime.changed(true);
            let _ = engine.flush().await;
            runtime.changed(true);
            to_js(&intent)
        })
    }
}
