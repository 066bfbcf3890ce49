//! The `StoreNode` class for JavaScript: every method that may touch the
//! network returns a Promise; reads answer at once. Errors are JS `Error`s
//! with a stable `code`.

use js_sys::{Function, Promise, Reflect};
use serde::Serialize;
use serde_wasm_bindgen::Serializer;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::node::{Node, Options};
use crate::engine::{EngineError, Status};

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&Serializer::json_compatible())
        .map_err(|e| JsValue::from(e.to_string()))
}

/// A JS `Error` with a stable `code` the page can branch on.
pub fn js_error(error: EngineError) -> JsValue {
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

fn status_js(s: &Status) -> Result<JsValue, JsValue> {
    to_js(&serde_json::json!({
        "online": s.online, "stale": s.stale, "offset": s.offset, "lag": s.lag,
        "queued": s.queued, "lastContactMs": s.last_contact_ms,
        "storageError": s.storage_error,
        "signedOut": s.signed_out.as_ref().map(|p| p.code.as_str()),
    }))
}

#[wasm_bindgen]
pub struct StoreNode {
    node: Node,
}

#[wasm_bindgen]
impl StoreNode {
    /// `open({centralUrl, storeId, credential, dbName?, staleAfterMs?})`, the
    /// credential `{kind: "device", deviceId, deviceSecret}` or `{kind:
    /// "store", clientSecret}`.
    pub async fn open(options: JsValue) -> Result<StoreNode, JsValue> {
        let options: Options =
            serde_wasm_bindgen::from_value(options).map_err(|e| JsValue::from(e.to_string()))?;
        let node = Node::open(options).await.map_err(js_error)?;
        Ok(StoreNode { node })
    }

    /// Starts syncing in the background (one tab per store syncs; the
    /// others follow it). Call once.
    pub fn start(&self) -> Result<(), JsValue> {
        self.node.start()
    }

    /// `callback()` runs whenever what `get`/`list`/`intents` answer changed.
    pub fn subscribe(&self, callback: Function) {
        self.node.subscribe(move || {
            let _ = callback.call0(&JsValue::NULL);
        });
    }

    /// The till's view of a sku, or `undefined`.
    pub fn get(&self, sku: &str) -> Result<JsValue, JsValue> {
        match self.node.engine().view(sku) {
            Some(view) => to_js(&view),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// The first `limit` (default 50) products matching every word of
    /// `filter` (in the sku or the name, any order, any case), an exact sku
    /// first.
    pub fn list(&self, filter: &str, limit: Option<u32>) -> Result<JsValue, JsValue> {
        let limit = limit.unwrap_or(50) as usize;
        to_js(&self.node.engine().list(filter, limit))
    }

    pub fn intents(&self) -> Result<JsValue, JsValue> {
        to_js(&self.node.engine().intents())
    }

    /// `{online, stale, offset, lag, queued, lastContactMs, storageError,
    /// signedOut}`.
    pub fn status(&self) -> Result<JsValue, JsValue> {
        status_js(&self.node.engine().status())
    }

    /// Records a sale (stored first, then forwarded); resolves to the intent.
    pub fn sell(&self, sku: String, quantity: i32) -> Promise {
        let node = self.node.clone();
        future_to_promise(async move {
            to_js(
                &node
                    .sell(&sku, i64::from(quantity))
                    .await
                    .map_err(js_error)?,
            )
        })
    }

    /// Records a restock, likewise.
    pub fn restock(&self, sku: String, quantity: i32) -> Promise {
        let node = self.node.clone();
        future_to_promise(async move {
            to_js(
                &node
                    .restock(&sku, i64::from(quantity))
                    .await
                    .map_err(js_error)?,
            )
        })
    }

    /// `sellBasket([{sku, quantity}, …])`: all lines or none; resolves to
    /// the lines' intents.
    #[wasm_bindgen(js_name = sellBasket)]
    pub fn sell_basket(&self, lines: JsValue) -> Promise {
        #[derive(serde::Deserialize)]
        struct Line {
            sku: String,
            quantity: i64,
        }
        let node = self.node.clone();
        future_to_promise(async move {
            let lines: Vec<Line> = serde_wasm_bindgen::from_value(lines)
                .map_err(|e| js_error(EngineError::Invalid(e.to_string())))?;
            let lines: Vec<_> = lines.into_iter().map(|l| (l.sku, l.quantity)).collect();
            to_js(&node.sell_basket(&lines).await.map_err(js_error)?)
        })
    }

    /// Catches up with central and forwards the queue; resolves to status.
    #[wasm_bindgen(js_name = syncNow)]
    pub fn sync_now(&self) -> Promise {
        let node = self.node.clone();
        future_to_promise(async move { status_js(&node.sync_now().await.map_err(js_error)?) })
    }

    /// Every store's figure for a sku, from central: `[{store_id, name,
    /// available}]`.
    pub fn nearby(&self, sku: String) -> Promise {
        let node = self.node.clone();
        future_to_promise(async move { to_js(&node.nearby(&sku).await.map_err(js_error)?) })
    }

    /// This store's online orders to hand over, soonest to run out first:
    /// `[{pickup: {hold_id, reference, lines, expires_at_ms, …},
    /// expires_in_ms, pending}]`.
    pub fn pickups(&self) -> Result<JsValue, JsValue> {
        to_js(&self.node.engine().pickups())
    }

    /// Hand-overs and cancels this till made, with how central answered.
    #[wasm_bindgen(js_name = pickupIntents)]
    pub fn pickup_intents(&self) -> Result<JsValue, JsValue> {
        to_js(&self.node.engine().pickup_intents())
    }

    /// The order's goods left the shop (stored first, then forwarded, as a
    /// sale); resolves to the hand-over.
    #[wasm_bindgen(js_name = handOver)]
    pub fn hand_over(&self, hold_id: String) -> Promise {
        let node = self.node.clone();
        future_to_promise(async move { to_js(&node.hand_over(&hold_id).await.map_err(js_error)?) })
    }

    /// The order will not be collected here; likewise.
    #[wasm_bindgen(js_name = cancelPickup)]
    pub fn cancel_pickup(&self, hold_id: String) -> Promise {
        let node = self.node.clone();
        future_to_promise(
            async move { to_js(&node.cancel_pickup(&hold_id).await.map_err(js_error)?) },
        )
    }

    /// Takes a refused or applied intent off the list.
    pub fn dismiss(&self, id: String) -> Promise {
        let node = self.node.clone();
        future_to_promise(async move {
            node.dismiss(&id).await.map_err(js_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }
}
